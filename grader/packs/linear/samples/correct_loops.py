"""A correct Linear in plain Python loops, in float32 where its inputs are.

expected: q1=all q2=all
"""

import numpy as np


class Linear:
    def __init__(self, in_features, out_features):
        self.in_features, self.out_features = in_features, out_features

    def forward(self, x):
        self.x = x
        out = np.zeros((x.shape[0], self.out_features), dtype=np.result_type(x, self.weight))
        for b in range(x.shape[0]):
            for o in range(self.out_features):
                total = self.bias[o]
                for i in range(self.in_features):
                    total += x[b, i] * self.weight[o, i]
                out[b, o] = total
        return out

    def backward(self, delta):
        self.grad_weight = np.zeros(self.weight.shape)
        self.grad_bias = np.zeros(self.bias.shape)
        dx = np.zeros(self.x.shape)
        for b in range(delta.shape[0]):
            for o in range(self.out_features):
                self.grad_bias[o] += delta[b, o]
                for i in range(self.in_features):
                    self.grad_weight[o, i] += delta[b, o] * self.x[b, i]
                    dx[b, i] += delta[b, o] * self.weight[o, i]
        return dx
