"""The reference solution to Assignment 2 Part A: a vectorised NumPy ``Conv1d``.

The grader computes every expected value with this package, in its own process. It is never
visible to a submission.
"""

from reference.conv1d import Conv1d, conv1d_backward, conv1d_forward, get_conv1d_output_size

__all__ = ["Conv1d", "conv1d_backward", "conv1d_forward", "get_conv1d_output_size"]
