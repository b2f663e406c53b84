"""forward leaves the bias out: q1 fails everywhere, backward is right.

expected: q1=0 q2=all hint=bias_omitted
"""

import numpy as np


class Linear:
    def __init__(self, in_features, out_features):
        self.weight = np.zeros((out_features, in_features))
        self.bias = np.zeros(out_features)

    def forward(self, x):
        self.x = x
        return x @ self.weight.T

    def backward(self, delta):
        self.grad_weight = delta.T @ self.x
        self.grad_bias = delta.sum(axis=0)
        return delta @ self.weight
