"""Sample submission: correct, written as plain nested Python loops (no tensordot, no vectorisation).

A slow correct style (tests/fixtures/styles/ holds slower ones): it must score full marks within the default
limits.
expected: q1=all q2=all
"""

import numpy as np


def get_conv1d_output_size(input_size, kernel_size, stride):
    return (input_size - kernel_size) // stride + 1


class Conv1d:
    def __init__(self, in_channels, out_channels, kernel_size, stride=1):
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.weight = np.random.normal(0.0, 1.0, (out_channels, in_channels, kernel_size))
        self.bias = np.zeros(out_channels)
        self.grad_weight = np.zeros(self.weight.shape)
        self.grad_bias = np.zeros(self.bias.shape)

    def forward(self, x):
        self.x = x
        batch_size, _, input_size = x.shape
        self.output_size = get_conv1d_output_size(input_size, self.kernel_size, self.stride)
        out = np.zeros((batch_size, self.out_channels, self.output_size))
        for b in range(batch_size):
            for o in range(self.out_channels):
                for i in range(self.output_size):
                    total = self.bias[o]
                    for c in range(self.in_channels):
                        for k in range(self.kernel_size):
                            total += self.weight[o, c, k] * x[b, c, i * self.stride + k]
                    out[b, o, i] = total
        return out

    def backward(self, delta):
        x = self.x
        batch_size = x.shape[0]
        dx = np.zeros(x.shape)
        for b in range(batch_size):
            for o in range(self.out_channels):
                for i in range(self.output_size):
                    d = delta[b, o, i]
                    self.grad_bias[o] += d
                    for c in range(self.in_channels):
                        for k in range(self.kernel_size):
                            dx[b, c, i * self.stride + k] += d * self.weight[o, c, k]
                            self.grad_weight[o, c, k] += d * x[b, c, i * self.stride + k]
        return dx
