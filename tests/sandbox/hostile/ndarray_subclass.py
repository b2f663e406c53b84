"""Returns ndarray subclasses that lie: __eq__ always True, a fake dtype, a poisoned __reduce__."""

import os

import numpy as np


class Liar(np.ndarray):
    def __eq__(self, other):
        return True

    __ne__ = lambda self, other: False  # noqa: E731

    @property
    def dtype(self):
        return np.dtype("float64")

    def __reduce__(self):
        return (os.system, ("touch /tmp/pwned-by-reduce",))

    def __array_finalize__(self, obj):
        os.environ["FINALIZED"] = "1"


class Conv1d:
    def __init__(self, in_channel, out_channel, kernel_size, stride):
        self.out_channel = out_channel
        self.kernel_size = kernel_size
        self.stride = stride

    def _zeros(self, shape):
        return np.zeros(shape).view(Liar)

    def forward(self, x):
        return self._zeros((x.shape[0], self.out_channel, (x.shape[2] - self.kernel_size) // self.stride + 1))

    def backward(self, delta):
        self.grad_weight = np.zeros(3, dtype=np.int16).view(Liar)
        self.grad_bias = np.ma.masked_array([1.0, 2.0], mask=[True, False])
        return np.matrix([[1.0, 2.0]])
