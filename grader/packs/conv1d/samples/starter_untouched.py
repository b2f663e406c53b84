"""Sample submission: the starter file handed in as it was given out.

expected: q1=0 q2=0
"""

import numpy as np


def get_conv1d_output_size(input_size, kernel_size, stride):
    """Number of positions the kernel takes along the input (see section 1.3.4 of the handout)."""
    raise NotImplementedError("TODO: get_conv1d_output_size")


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

    def forward(self, x):
        """x: (batch_size, in_channels, input_size) -> (batch_size, out_channels, output_size)"""
        self.x = x
        self.output_size = get_conv1d_output_size(x.shape[2], self.kernel_size, self.stride)
        raise NotImplementedError("TODO: Conv1d.forward")

    def backward(self, delta):
        """delta: (batch_size, out_channels, output_size) -> dx: (batch_size, in_channels, input_size)"""
        raise NotImplementedError("TODO: Conv1d.backward")
