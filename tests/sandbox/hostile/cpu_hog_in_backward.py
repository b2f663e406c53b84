"""Correct forward, CPU-bound endless loop in backward (a CPU-time timeout; forward keeps its marks)."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def get_conv1d_output_size(input_size, kernel_size, stride):
    return (input_size - kernel_size) // stride + 1


class Conv1d:
    def __init__(self, in_channel, out_channel, kernel_size, stride):
        self.kernel_size = kernel_size
        self.stride = stride

    def forward(self, x):
        windows = sliding_window_view(x, self.kernel_size, axis=2)[:, :, :: self.stride, :]
        out = np.tensordot(windows, self.weight, axes=([1, 3], [1, 2]))
        return out.transpose(0, 2, 1) + self.bias[None, :, None]

    def backward(self, delta):
        spin = 0
        while True:
            spin += 1
