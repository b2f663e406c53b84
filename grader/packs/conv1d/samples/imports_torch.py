"""Sample submission: uses PyTorch, which the grader does not provide.

expected: status=rejected module=torch
"""

import numpy as np
import torch


def get_conv1d_output_size(input_size, kernel_size, stride):
    return (input_size - kernel_size) // stride + 1


class Conv1d(torch.nn.Conv1d):
    pass
