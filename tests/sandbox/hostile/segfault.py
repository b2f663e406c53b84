"""Segfaults through ctypes, but only on the forward call whose input has batch size 1."""

import ctypes

import numpy as np


def get_conv1d_output_size(input_size, kernel_size, stride):
    return (input_size - kernel_size) // stride + 1


class Conv1d:
    def __init__(self, in_channel, out_channel, kernel_size, stride):
        self.out_channel = out_channel

    def forward(self, x):
        if x.shape[0] == 1:
            print("about to dereference NULL")
            ctypes.string_at(0)
        return np.zeros(3)
