"""Sample submission: the output size forgets the `+ 1`.

Bug: `get_conv1d_output_size` returns `(input_size - kernel_size) // stride`, one position too few, so
every forward output is one column short (empty when the kernel is as long as the input).
`backward` loops over `delta`'s own length, so it stays right.
expected: q1=0 q2=all hint=output_size_too_few
"""

import numpy as np


def get_conv1d_output_size(input_size, kernel_size, stride):
    return (input_size - kernel_size) // stride


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
            start = i * self.stride
            window = x[:, :, start:start + self.kernel_size]
            out[:, :, i] = np.einsum("bck,ock->bo", window, self.weight) + self.bias
        return out

    def backward(self, delta):
        n_out = delta.shape[-1]
        dx = np.zeros(self.x.shape)
        for i in range(n_out):
            start = i * self.stride
            end = start + self.kernel_size
            dx[:, :, start:end] += np.einsum("bo,ock->bck", delta[:, :, i], self.weight)
            self.grad_weight += np.einsum("bo,bck->ock", delta[:, :, i], self.x[:, :, start:end])
        self.grad_bias = delta.sum(axis=(0, 2))
        return dx
