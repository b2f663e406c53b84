"""Sample submission: correct and fully vectorised with stride tricks and einsum.

It keeps the input's float dtype (float32 in, float32 out), which must not cost a point.
expected: q1=all q2=all
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided


def get_conv1d_output_size(input_size, kernel_size, stride):
    return int(np.floor((input_size - kernel_size) / stride)) + 1


class Conv1d:
    def __init__(self, in_channels, out_channels, kernel_size, stride=1):
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.weight = np.random.randn(out_channels, in_channels, kernel_size) * 0.1
        self.bias = np.zeros(out_channels)
        self.grad_weight = np.zeros_like(self.weight)
        self.grad_bias = np.zeros_like(self.bias)

    def _windows(self, x):
        b, c, _ = x.shape
        sb, sc, sl = x.strides
        shape = (b, c, self.output_size, self.kernel_size)
        return as_strided(x, shape=shape, strides=(sb, sc, sl * self.stride, sl), writeable=False)

    def forward(self, x):
        x = np.ascontiguousarray(x)
        if x.dtype.kind != "f":
            x = x.astype(np.float64)
        self.x = x
        self.output_size = get_conv1d_output_size(x.shape[2], self.kernel_size, self.stride)
        out = np.einsum("bcok,fck->bfo", self._windows(x), self.weight.astype(x.dtype))
        return out + self.bias.astype(x.dtype)[None, :, None]

    def backward(self, delta):
        windows = self._windows(self.x)
        self.grad_weight = self.grad_weight + np.einsum("bfo,bcok->fck", delta, windows)
        self.grad_bias = self.grad_bias + delta.sum(axis=(0, 2))
        contrib = np.einsum("bfo,fck->bcok", delta, self.weight)
        dx = np.zeros(self.x.shape, dtype=np.result_type(contrib, self.x))
        for k in range(self.kernel_size):
            end = k + self.stride * (self.output_size - 1) + 1
            dx[:, :, k:end:self.stride] += contrib[:, :, :, k]
        return dx
