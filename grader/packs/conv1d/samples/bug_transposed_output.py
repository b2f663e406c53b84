"""Sample submission: forward returns (batch, output_size, out_channels).

Bug: `forward` allocates its output with the position axis before the channel axis and fills
`out[:, i, :]`, so the values are right but the axes are transposed. `backward` works from `delta`
and `self.x` and is right.
expected: q1=partial q2=all hint=transposed
"""

import numpy as np


def get_conv1d_output_size(input_size, kernel_size, stride):
    return ((input_size - kernel_size) // stride) + 1


class Linear:
    def __init__(self, in_features, out_features):
        self.W = np.random.randn(out_features, in_features) * 0.01
        self.b = np.zeros(out_features)

    def forward(self, x):
        self.x = x
        return x @ self.W.T + self.b


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
        batch_size = x.shape[0]
        self.output_size = get_conv1d_output_size(x.shape[2], self.kernel_size, self.stride)

        out = np.zeros((batch_size, self.output_size, self.out_channels))
        for i in range(self.output_size):
            beg_index = i * self.stride
            end_index = beg_index + self.kernel_size
            out[:, i, :] = np.tensordot(x[:, :, beg_index:end_index], self.weight, axes=([1, 2], [1, 2])) + self.bias
        return out

    def backward(self, delta):
        dx = np.zeros(self.x.shape)
        for i in range(delta.shape[2]):
            beg_index = i * self.stride
            end_index = beg_index + self.kernel_size
            dx[:, :, beg_index:end_index] += np.tensordot(delta[:, :, i], self.weight, axes=(1))
            self.grad_weight += np.tensordot(delta[:, :, i].T, self.x[:, :, beg_index:end_index], axes=(1))
        self.grad_bias = np.sum(delta, axis=(0, 2))
        return dx
