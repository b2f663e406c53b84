"""Sample submission: correct, following the handout's tensordot pseudocode, in a whole nn.py that also
holds other layers from earlier assignments (one of them broken), its own parameter names and a helper class.

expected: q1=all q2=all
"""

import math

import numpy as np


class Linear:
    def __init__(self, in_features, out_features):
        self.weight = np.random.randn(out_features, in_features)
        self.bias = np.zeros(out_features)

    def forward(self, x):
        self.x = x
        return x @ self.weight.T + self.bias

    def backward(self, delta):
        raise NotImplementedError  # never finished; must not matter for Conv1d


class ReLU:
    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, delta):
        return delta * self.mask


class _Window:
    """Start and end of the slice the kernel sees at one output position."""

    def __init__(self, position, kernel, step):
        self.start = position * step
        self.end = self.start + kernel


def get_conv1d_output_size(input_size, kernel_size, stride):
    return math.floor((input_size - kernel_size) / stride) + 1


class Conv1d:
    def __init__(self, in_ch, out_ch, k, s=1):
        self.in_channels, self.out_channels, self.kernel_size, self.stride = in_ch, out_ch, k, s
        self.weight = np.random.normal(0, 1, (out_ch, in_ch, k))
        self.bias = np.random.normal(0, 1, (out_ch,))
        self.grad_weight = np.zeros((out_ch, in_ch, k))
        self.grad_bias = np.zeros(out_ch)

    def forward(self, inputs):
        self.x = inputs
        self.output_size = get_conv1d_output_size(inputs.shape[2], self.kernel_size, self.stride)
        out = np.zeros((inputs.shape[0], self.out_channels, self.output_size))
        for i in range(self.output_size):
            w = _Window(i, self.kernel_size, self.stride)
            out[:, :, i] = np.tensordot(inputs[:, :, w.start:w.end], self.weight, axes=([1, 2], [1, 2])) + self.bias
        return out

    def backward(self, grad_out):
        dx = np.zeros(self.x.shape)
        for i in range(self.output_size):
            w = _Window(i, self.kernel_size, self.stride)
            dx[:, :, w.start:w.end] += np.tensordot(grad_out[:, :, i], self.weight, axes=1)
            self.grad_weight += np.tensordot(grad_out[:, :, i].T, self.x[:, :, w.start:w.end], axes=1)
        self.grad_bias = np.sum(grad_out, axis=(0, 2))
        return dx
