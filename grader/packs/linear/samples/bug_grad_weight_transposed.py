"""backward computes grad_weight as x.T @ delta: the transpose of the right one.

expected: q1=all q2=partial hint=grad_weight_transposed
"""

import numpy as np


class Linear:
    def __init__(self, in_features, out_features):
        self.weight = np.zeros((out_features, in_features))
        self.bias = np.zeros(out_features)

    def forward(self, x):
        self.x = x
        return x @ self.weight.T + self.bias

    def backward(self, delta):
        self.grad_weight = self.x.T @ delta
        self.grad_bias = delta.sum(axis=0)
        return delta @ self.weight
