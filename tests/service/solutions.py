"""Submissions the service tests upload: a correct Conv1d, a buggy one and a slow one."""

from __future__ import annotations

CORRECT = """\
import numpy as np


def get_conv1d_output_size(input_size, kernel_size, stride):
    return (input_size - kernel_size) // stride + 1


class Conv1d:
    def __init__(self, in_channels, out_channels, kernel_size, stride=1):
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = kernel_size, stride
        self.weight = np.zeros((out_channels, in_channels, kernel_size))
        self.bias = np.zeros(out_channels)
        self.grad_weight = np.zeros(self.weight.shape)
        self.grad_bias = np.zeros(self.bias.shape)

    def forward(self, x):
        self.x = x
        size = get_conv1d_output_size(x.shape[2], self.kernel_size, self.stride)
        out = np.zeros((x.shape[0], self.out_channels, size))
        for i in range(size):
            start = i * self.stride
            window = x[:, :, start:start + self.kernel_size].astype(np.float64)
            out[:, :, i] = np.tensordot(window, self.weight, axes=([1, 2], [1, 2])) + self.bias
        return out

    def backward(self, delta):
        dx = np.zeros(self.x.shape)
        self.grad_weight = np.zeros(self.weight.shape)
        for i in range(delta.shape[2]):
            start = i * self.stride
            stop = start + self.kernel_size
            dx[:, :, start:stop] += np.tensordot(delta[:, :, i], self.weight, axes=(1, 0))
            self.grad_weight += np.tensordot(delta[:, :, i], self.x[:, :, start:stop], axes=(0, 0))
        self.grad_bias = delta.sum(axis=(0, 2))
        return dx
"""

BUGGY = CORRECT.replace(") + self.bias\n", ")  # BUG: bias forgotten\n")
"""Forgets the bias in forward: q1 loses every forward test, q2 is untouched."""

assert BUGGY != CORRECT


def slow(seconds: float) -> str:
    """The correct solution, spending ``seconds`` of CPU time on import (a stand-in for a slow submission). CPU,
    not a sleep: sleeping is idleness, which the sandbox stops at once; keep it under the 2 s load limit."""
    return (
        f"import time\n_started = time.process_time()\nwhile time.process_time() - _started < {seconds}:\n"
        "    pass\n" + CORRECT
    )
