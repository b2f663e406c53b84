"""Sample submission: a true convolution, with the kernel flipped, instead of a cross-correlation.

Bug: the student follows the textbook definition of convolution and reverses the kernel before sliding
it, in `forward` and consistently in `backward` (`dx` goes back through the reversed kernel, and the
window is reversed for `grad_weight`). Invisible with a kernel of size one (handout case 3).
`get_conv1d_output_size` and `grad_bias` are right.
expected: q1=partial q2=partial hint=kernel_flipped
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

    def forward(self, x):
        self.x = x
        batch_size, _, input_size = x.shape
        self.output_size = get_conv1d_output_size(input_size, self.kernel_size, self.stride)

        # convolution = flip the kernel, then slide it
        kernel = self.weight[:, :, ::-1]
        out = np.zeros((batch_size, self.out_channels, self.output_size))
        for i in range(self.output_size):
            b = i * self.stride
            e = b + self.kernel_size
            out[:, :, i] = np.tensordot(x[:, :, b:e], kernel, axes=([1, 2], [1, 2])) + self.bias
        return out

    def backward(self, delta):
        kernel = self.weight[:, :, ::-1]
        dx = np.zeros(self.x.shape)
        for i in range(self.output_size):
            b = i * self.stride
            e = b + self.kernel_size
            dx[:, :, b:e] += np.tensordot(delta[:, :, i], kernel, axes=(1))
            # the kernel was flipped, so its gradient sees the window flipped
            self.grad_weight += np.tensordot(delta[:, :, i].T, self.x[:, :, b:e][:, :, ::-1], axes=(1))
        self.grad_bias = np.sum(delta, axis=(0, 2))
        return dx
