"""Returns an 800 MB array from forward (a broadcast view: cheap to make, 800 MB to send)."""

import numpy as np


def get_conv1d_output_size(input_size, kernel_size, stride):
    return (input_size - kernel_size) // stride + 1


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        return np.broadcast_to(np.float64(1.0), (100_000_000,))
