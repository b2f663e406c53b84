"""Sample submission: correct, but prints debugging output in every call (a lot of it in backward).

Prints must not change the score; they are captured per test, truncated, and shown for visible tests only.
expected: q1=all q2=all
"""

import numpy as np


def get_conv1d_output_size(input_size, kernel_size, stride):
    print(f"output size for {input_size}, {kernel_size}, {stride}")
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
        self.grad_bias = np.zeros(out_channels)

    def forward(self, x):
        print("forward: x.shape =", x.shape)
        self.x = x
        self.output_size = get_conv1d_output_size(x.shape[2], self.kernel_size, self.stride)
        out = np.zeros((x.shape[0], self.out_channels, self.output_size))
        for i in range(self.output_size):
            s = i * self.stride
            out[:, :, i] = np.tensordot(x[:, :, s:s + self.kernel_size], self.weight, axes=([1, 2], [1, 2]))
        return out + self.bias[None, :, None]

    def backward(self, delta):
        print("backward: " + "#" * 100_000)
        dx = np.zeros(self.x.shape)
        for i in range(self.output_size):
            s = i * self.stride
            dx[:, :, s:s + self.kernel_size] += np.tensordot(delta[:, :, i], self.weight, axes=1)
            self.grad_weight += np.tensordot(delta[:, :, i].T, self.x[:, :, s:s + self.kernel_size], axes=1)
        self.grad_bias += delta.sum(axis=(0, 2))
        return dx
