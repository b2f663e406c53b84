"""Returns objects with custom __eq__, __array__ and __reduce__, and arrays of refused dtypes."""

import os

import numpy as np


class Chameleon:
    def __eq__(self, other):
        return True

    def __array__(self, dtype=None, copy=None):
        return np.zeros(3)

    def __reduce__(self):
        return (os.system, ("touch /tmp/pwned-by-reduce",))

    def __float__(self):
        return 4.0


def get_conv1d_output_size(input_size, kernel_size, stride):
    return Chameleon()


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        return [Chameleon(), Chameleon()]

    def backward(self, delta):
        self.grad_weight = np.array([1, "two", None], dtype=object)
        self.grad_bias = np.zeros(2, dtype=[("a", "<f8"), ("b", "<i4")])
        return np.ones(3, dtype=np.complex128)
