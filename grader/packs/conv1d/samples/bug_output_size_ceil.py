"""Sample submission: the output size is rounded up instead of down.

Bug: `get_conv1d_output_size` uses `math.ceil`; `forward` then pads the input with zeros so that the
last, partial window fits (the handout mentions zero padding). Invisible when the stride divides
input_size - kernel_size, as in all six handout cases; hidden cases with other strides and the
output-size test catch it. `backward` sizes its loop from `delta`, so it stays right.
expected: q1=partial q2=all hint=output_size_ceil
"""

import math

import numpy as np


def get_conv1d_output_size(input_size, kernel_size, stride):
    # round up so the end of the input is not thrown away
    return math.ceil((input_size - kernel_size) / stride) + 1


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

        # pad with zeros at the end if the last window sticks out
        needed = (self.output_size - 1) * self.stride + self.kernel_size
        if needed > input_size:
            x = np.concatenate([x, np.zeros((batch_size, in_channels, needed - input_size))], axis=2)

        out = np.zeros((batch_size, self.out_channels, self.output_size))
        for i in range(self.output_size):
            beg_index = i * self.stride
            end_index = beg_index + self.kernel_size
            out[:, :, i] = np.tensordot(x[:, :, beg_index:end_index], self.weight, axes=([1, 2], [1, 2]))
            out[:, :, i] += self.bias
        return out

    def backward(self, delta):
        dx = np.zeros(self.x.shape)
        for i in range(delta.shape[2]):
            beg_index = i * self.stride
            end_index = beg_index + self.kernel_size
            dx[:, :, beg_index:end_index] += np.tensordot(delta[:, :, i], self.weight, axes=(1))
            self.grad_weight += np.tensordot(delta[:, :, i].T, self.x[:, :, beg_index:end_index], axes=(1))
        self.grad_bias = delta.sum(axis=(0, 2))
        return dx
