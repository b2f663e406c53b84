"""Raises SystemExit in forward (batch size 1) and KeyboardInterrupt in backward: neither may end the
harness, and the calls after them still run."""

import sys


def get_conv1d_output_size(input_size, kernel_size, stride):
    return (input_size - kernel_size) // stride + 1


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        if x.shape[0] == 1:
            sys.exit("leaving from forward")
        return x

    def backward(self, delta):
        raise KeyboardInterrupt
