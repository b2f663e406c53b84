"""Sample submission: a syntax error (an unclosed bracket); rejected without being run.

expected: status=rejected line=12
"""

import numpy as np


def get_conv1d_output_size(input_size, kernel_size, stride):
    return (input_size - kernel_size) // stride + 1

def broken(x:
    return x


class Conv1d:
    pass
