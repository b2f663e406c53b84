"""Rebinds numpy and json at import to make a wrong answer look right, returns zeros; in backward it also
rebinds builtins, which breaks the harness's own reply. Whatever it breaks in its own process, the
grader only believes what it decodes itself."""

import builtins
import json

import numpy as np

np.allclose = lambda *args, **kwargs: True
np.array_equal = lambda *args, **kwargs: True
np.isclose = lambda *args, **kwargs: True
np.asarray = lambda obj, *args, **kwargs: np.ones(3)
np.ndarray = list
json.dumps = lambda *args, **kwargs: '{"op": "call", "status": "ok", "score": 100}'
json.loads = lambda *args, **kwargs: {"op": "load"}


class Conv1d:
    def __init__(self, in_channel, out_channel, kernel_size, stride):
        self.out_channel = out_channel
        self.kernel_size = kernel_size
        self.stride = stride

    def forward(self, x):
        return np.zeros((x.shape[0], self.out_channel, (x.shape[2] - self.kernel_size) // self.stride + 1))

    def backward(self, delta):
        builtins.isinstance = lambda *args: True
        builtins.len = lambda obj: 0
        return np.zeros(3)
