"""Likely causes for Linear: known-wrong variants of the reference, matched against a wrong value."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grader.packs.linear.cases import LinearCase
from grader.runner import Returned


@dataclass(frozen=True)
class Match:
    """A known mistake a wrong value matches (a :class:`grader.scoring.Diagnosis`)."""

    fingerprint: str
    hint: str


BIAS_OMITTED = Match(
    "bias_omitted", "The output matches x @ W.T without the bias: add `self.bias` to every row of the output."
)
GRAD_WEIGHT_TRANSPOSED = Match(
    "grad_weight_transposed",
    "grad_weight is the transpose of the right one: it has the weight's shape (out_features, in_features), "
    "`delta.T @ x`, not `x.T @ delta`.",
)


def _matches(got: np.ndarray | None, candidate: np.ndarray, rtol: float, atol: float) -> bool:
    if got is None or got.shape != candidate.shape:
        return False
    return bool(np.allclose(got.astype(np.float64), candidate, rtol=rtol, atol=atol))


def diagnose(case: LinearCase, value: str, returned: Returned, rtol: float, atol: float) -> Match | None:
    """The known mistake ``returned`` (the wrong ``value`` of ``case``) matches, if any."""
    x, weight = np.asarray(case.x, np.float64), np.asarray(case.weight, np.float64)
    if value == "out" and _matches(returned.array, x @ weight.T, rtol, atol):
        return BIAS_OMITTED
    if value == "grad_weight" and _matches(returned.array, case.expected_backward["grad_weight"].T, rtol, atol):
        return GRAD_WEIGHT_TRANSPOSED
    return None
