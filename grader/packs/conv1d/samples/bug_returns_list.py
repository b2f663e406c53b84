"""Sample submission: forward returns a nested Python list.

Bug: `forward` computes the right values but returns `out.tolist()`, which fails the course's
`isinstance(answer, np.ndarray)` check. `backward` returns an ndarray and is right.
expected: q1=partial q2=all hint=returns_list
"""

import numpy as np


def get_conv1d_output_size(input_size, kernel_size, stride):
    return ((input_size - kernel_size) // stride) + 1


class ReLU:
    def forward(self, x):
        self.state = x
        return np.maximum(0, x)

    def backward(self, delta):
        return delta * (self.state > 0)


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
        self.output_size = get_conv1d_output_size(x.shape[2], self.kernel_size, self.stride)
        out = np.zeros((x.shape[0], self.out_channels, self.output_size))
        for i in range(self.output_size):
            window = x[:, :, i * self.stride:i * self.stride + self.kernel_size]
            out[:, :, i] = np.tensordot(window, self.weight, axes=([1, 2], [1, 2])) + self.bias
        return out.tolist()

    def backward(self, delta):
        dx = np.zeros(self.x.shape)
        for i in range(self.output_size):
            b = i * self.stride
            e = b + self.kernel_size
            dx[:, :, b:e] += np.tensordot(delta[:, :, i], self.weight, axes=(1))
            self.grad_weight += np.tensordot(delta[:, :, i].T, self.x[:, :, b:e], axes=(1))
        self.grad_bias = np.sum(delta, axis=(0, 2))
        return dx
