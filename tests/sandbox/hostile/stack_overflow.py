"""Overflows the C stack: the recursion limit lifted, then a repr that recurses in C a million levels deep."""

import sys


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        sys.setrecursionlimit(10**8)
        nested = []
        for _ in range(1_000_000):
            nested = [nested]
        return repr(nested)
