"""Sample submission: forward computes in float16 to "save memory".

Bug: `forward` converts `x` and the weights to `np.float16` and allocates its output in float16, so every
output is rounded to about three significant digits, and values past float16's range become inf (handout
case 2). Small whole numbers survive (handout case 1 is right); handout case 3 has outputs float16
cannot hold exactly. `forward` keeps the original `x` for `backward`, which works in float64 and is right.
expected: q1=partial q2=all hint=reduced_precision
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

        # half precision: half the memory
        x16 = x.astype(np.float16)
        w16 = self.weight.astype(np.float16)
        out = np.zeros((batch_size, self.out_channels, self.output_size), dtype=np.float16)
        for i in range(self.output_size):
            b = i * self.stride
            e = b + self.kernel_size
            out[:, :, i] = np.tensordot(x16[:, :, b:e], w16, axes=([1, 2], [1, 2])) + self.bias
        return out

    def backward(self, delta):
        dx = np.zeros(self.x.shape)
        for i in range(self.output_size):
            b = i * self.stride
            e = b + self.kernel_size
            dx[:, :, b:e] += np.tensordot(delta[:, :, i], self.weight, axes=(1))
            self.grad_weight += np.tensordot(delta[:, :, i].T, self.x[:, :, b:e], axes=(1))
        self.grad_bias = np.sum(delta, axis=(0, 2))
        return dx
