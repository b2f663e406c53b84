"""A correct Linear, vectorised.

expected: q1=all q2=all
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
        self.grad_weight = delta.T @ self.x
        self.grad_bias = delta.sum(axis=0)
        return delta @ self.weight
