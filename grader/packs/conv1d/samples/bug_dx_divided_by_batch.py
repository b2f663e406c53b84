"""Sample submission: dx is divided by the batch size.

Bug: `backward` returns `dx / batch_size`, as if the loss were a mean over the batch; the layer must
pass back the gradient it was given, summed, not averaged. Invisible with a batch of one.
`grad_weight` and `grad_bias` are right.
expected: q1=all q2=partial hint=gradient_averaged
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
        self.output_size = get_conv1d_output_size(x.shape[2], self.kernel_size, self.stride)
        out = np.zeros((x.shape[0], self.out_channels, self.output_size))
        for i in range(self.output_size):
            start = i * self.stride
            window = x[:, :, start:start + self.kernel_size]
            out[:, :, i] = np.einsum("bck,ock->bo", window, self.weight) + self.bias
        return out

    def backward(self, delta):
        batch_size = delta.shape[0]
        dx = np.zeros(self.x.shape)
        for i in range(self.output_size):
            start = i * self.stride
            end = start + self.kernel_size
            dx[:, :, start:end] += np.einsum("bo,ock->bck", delta[:, :, i], self.weight)
            self.grad_weight += np.einsum("bo,bck->ock", delta[:, :, i], self.x[:, :, start:end])
        self.grad_bias = delta.sum(axis=(0, 2))
        return dx / batch_size
