"""Sample submission: a loop-free backward that scatters into dx with one fancy-indexed `+=`.

Bug: `backward` builds the input index of every (window, kernel offset) pair and does
`dx[:, :, idx] += contributions`. Where windows overlap an index repeats, and a fancy-indexed `+=` adds
only once per distinct index (`np.add.at` adds for every repeat), so `dx` keeps one window's contribution
there: the same values as assigning with `=` in a loop, though there is no loop to fix. Invisible when
windows do not overlap (handout cases 2 and 3, any stride at least as large as the kernel).
`grad_weight` and `grad_bias` are right.
expected: q1=all q2=partial hint=dx_overwritten cause=dx_fancy_index_add
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
        self.bias = np.random.normal(0.0, 1.0, (out_channels,))

        self.grad_weight = np.zeros(self.weight.shape)
        self.grad_bias = np.zeros(self.bias.shape)

        self.x = None
        self.output_size = None

    def _index(self):
        # idx[i, j] = position in x of kernel offset j in window i
        starts = np.arange(self.output_size) * self.stride
        return starts[:, None] + np.arange(self.kernel_size)[None, :]

    def forward(self, x):
        self.x = x
        self.output_size = get_conv1d_output_size(x.shape[2], self.kernel_size, self.stride)
        windows = x[:, :, self._index()]  # (batch, in, output_size, kernel)
        return np.einsum("bcik,ock->boi", windows, self.weight) + self.bias[None, :, None]

    def backward(self, delta):
        idx = self._index()
        windows = self.x[:, :, idx]
        self.grad_weight += np.einsum("boi,bcik->ock", delta, windows)
        self.grad_bias = delta.sum(axis=(0, 2))

        contributions = np.einsum("boi,ock->bcik", delta, self.weight)
        dx = np.zeros(self.x.shape)
        dx[:, :, idx] += contributions
        return dx
