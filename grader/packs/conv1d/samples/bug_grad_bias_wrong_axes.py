"""Sample submission: grad_bias is summed over the batch and channel axes.

Bug: `backward` (vectorised) sets `self.grad_bias = delta.sum(axis=(0, 1))`, one value per output
position instead of per output channel. `dx` and `grad_weight` are right.
expected: q1=all q2=partial hint=grad_bias_wrong_axes
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def get_conv1d_output_size(input_size, kernel_size, stride):
    return (input_size - kernel_size) // stride + 1


class Conv1d:
    def __init__(self, in_channels, out_channels, kernel_size, stride=1):
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride

        self.weight = np.random.normal(0.0, 1.0, (out_channels, in_channels, kernel_size))
        self.bias = np.random.normal(0.0, 1.0, (out_channels,))

        self.grad_weight = np.zeros(self.weight.shape)
        self.grad_bias = np.zeros(self.bias.shape)

        self.x = None
        self.output_size = None

    def _windows(self, x):
        # (batch, in_channels, output_size, kernel_size)
        return sliding_window_view(x, self.kernel_size, axis=2)[:, :, ::self.stride, :]

    def forward(self, x):
        self.x = x
        self.output_size = get_conv1d_output_size(x.shape[2], self.kernel_size, self.stride)
        out = np.einsum("bcik,ock->boi", self._windows(x), self.weight)
        return out + self.bias.reshape(1, -1, 1)

    def backward(self, delta):
        self.grad_weight += np.einsum("boi,bcik->ock", delta, self._windows(self.x))
        self.grad_bias = delta.sum(axis=(0, 1))

        dx = np.zeros(self.x.shape)
        per_window = np.einsum("boi,ock->bcik", delta, self.weight)
        for i in range(delta.shape[2]):
            start = i * self.stride
            dx[:, :, start:start + self.kernel_size] += per_window[:, :, i, :]
        return dx
