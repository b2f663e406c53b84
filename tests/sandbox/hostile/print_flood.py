"""Prints 100 MB to stdout and stderr, then would return a plain answer."""

import sys

import numpy as np


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        line = "flood " * 170_000 + "\n"  # ~1 MB
        for i in range(50):
            sys.stdout.write(line)
            sys.stderr.write(line)
        return np.zeros(3)
