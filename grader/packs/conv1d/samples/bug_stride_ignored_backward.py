"""Sample submission: backward slides the window one step at a time whatever the stride.

Bug: `forward` is right (vectorised over windows), but `backward` takes window `i` at `i` instead of
`i * stride`, so `dx` and `grad_weight` are wrong whenever the stride is above one (never in the six
handout cases). `grad_bias` does not depend on the windows and stays right.
expected: q1=all q2=partial hint=stride_ignored_backward
"""

import numpy as np


def get_conv1d_output_size(input_size, kernel_size, stride):
    return int(np.floor((input_size - kernel_size) / stride)) + 1


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
        # windows[b, c, i, k] = x[b, c, i * stride + k]
        starts = np.arange(self.output_size) * self.stride
        windows = x[:, :, starts[:, None] + np.arange(self.kernel_size)[None, :]]
        out = np.einsum("bcik,ock->boi", windows, self.weight)
        return out + self.bias[None, :, None]

    def backward(self, delta):
        dx = np.zeros(self.x.shape)
        for i in range(self.output_size):
            dx[:, :, i:i + self.kernel_size] += np.tensordot(delta[:, :, i], self.weight, axes=(1))
            self.grad_weight += np.tensordot(delta[:, :, i].T, self.x[:, :, i:i + self.kernel_size], axes=(1))
        self.grad_bias = np.sum(delta, axis=(0, 2))
        return dx
