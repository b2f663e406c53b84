"""Sample submission: grad_weight is assigned in the loop instead of accumulated.

Bug: `backward` does `self.grad_weight = ...` for each output position, so only the last position's
contribution survives. Invisible when there is a single output position (handout case 2).
expected: q1=all q2=partial hint=grad_weight_overwritten
"""

import numpy as np


def get_conv1d_output_size(input_size, kernel_size, stride):
    return ((input_size - kernel_size) // stride) + 1


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

    def forward(self, x):
        self.x = x
        batch_size, in_channels, input_size = x.shape
        self.output_size = get_conv1d_output_size(input_size, self.kernel_size, self.stride)

        out = np.zeros((batch_size, self.out_channels, self.output_size))
        for i in range(self.output_size):
            b = i * self.stride
            e = b + self.kernel_size
            out[:, :, i] = np.tensordot(x[:, :, b:e], self.weight, axes=([1, 2], [1, 2])) + self.bias
        return out

    def backward(self, delta):
        dx = np.zeros(self.x.shape)
        for i in range(self.output_size):
            b = i * self.stride
            e = b + self.kernel_size
            dx[:, :, b:e] += np.tensordot(delta[:, :, i], self.weight, axes=(1))
            self.grad_weight = np.tensordot(delta[:, :, i].T, self.x[:, :, b:e], axes=(1))
        self.grad_bias = np.sum(delta, axis=(0, 2))
        return dx
