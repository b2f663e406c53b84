"""Returns a 12 MiB array from every forward (a broadcast view: free to make), each under the per-array limit,
so that a grader keeping every returned value would hold them all at once."""

import numpy as np


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        return np.broadcast_to(np.float64(1.0), (12 << 17,))
