"""The reference ``Linear`` layer, computed in the grader's process (never visible to a submission).

``y = x @ W.T + b`` with ``W`` of shape ``(out_features, in_features)``, as the course (and ``torch.nn.Linear``)
defines it; backward returns ``dx = delta @ W`` and the gradients summed over the batch.
"""

from __future__ import annotations

import numpy as np


def linear_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``(batch, in_features) -> (batch, out_features)``, in float64 whatever the inputs' dtypes."""
    return np.asarray(x, np.float64) @ np.asarray(weight, np.float64).T + np.asarray(bias, np.float64)


def linear_backward(
    x: np.ndarray, weight: np.ndarray, delta: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dx, grad_weight, grad_bias)`` for the loss gradient ``delta`` with respect to the output."""
    x64, w64, d64 = (np.asarray(a, np.float64) for a in (x, weight, delta))
    return d64 @ w64, d64.T @ x64, d64.sum(axis=0)
