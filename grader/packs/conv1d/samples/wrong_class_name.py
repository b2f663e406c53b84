"""Sample submission: the class is called Conv1D instead of Conv1d; the output size is right.

expected: q1=partial q2=0 message=Conv1D
"""

import numpy as np


def get_conv1d_output_size(input_size, kernel_size, stride):
    return (input_size - kernel_size) // stride + 1


class Conv1D:
    def __init__(self, in_channels, out_channels, kernel_size, stride=1):
        self.stride = stride
        self.kernel_size = kernel_size
        self.weight = np.zeros((out_channels, in_channels, kernel_size))
        self.bias = np.zeros(out_channels)

    def forward(self, x):
        n = get_conv1d_output_size(x.shape[2], self.kernel_size, self.stride)
        windows = np.stack([x[:, :, i * self.stride:i * self.stride + self.kernel_size] for i in range(n)], axis=2)
        return np.einsum("bcok,fck->bfo", windows, self.weight) + self.bias[None, :, None]
