"""Linear's cases: the handout's two and hidden ones drawn per submission.

Hidden values are dyadic, k/32 with |k| <= 127 (as Conv1d's, see ``grader/packs/conv1d/cases.py``): with at most
16 products per sum, every partial sum is exact in float32 and float64, so a correct answer matches to the
last bit whatever its style, and the course's tight ``np.allclose`` tolerances stay fair.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from grader.packs.linear.reference import linear_backward, linear_forward

SECONDS_PER_MAC = 2e-6
"""CPU seconds the slowest correct style (three nested Python loops) needs per multiply-add of a backward
pass, generously rounded up; ``limits.cpu_factor`` is the margin on top (every case here is tiny)."""


@dataclass(frozen=True, eq=False)
class LinearCase:
    """A layer and its inputs, used by one forward test and the backward tests on the same inputs."""

    name: str
    title: str
    visible: bool
    weight: np.ndarray
    bias: np.ndarray
    x: np.ndarray
    delta: np.ndarray

    @property
    def features(self) -> tuple[int, int]:
        """``(in_features, out_features)``, as ``Linear`` takes them."""
        out_features, in_features = self.weight.shape
        return in_features, out_features

    @property
    def inputs(self) -> dict[str, np.ndarray]:
        return {"weight": self.weight, "bias": self.bias, "x": self.x, "delta": self.delta}

    @property
    def seconds(self) -> float:
        """What the slowest correct style needs for this case's forward and backward passes."""
        return 3 * self.x.shape[0] * self.weight.size * SECONDS_PER_MAC

    def test_name(self, op: str) -> str:
        return f"test_linear_{op}_{self.name}" if self.visible else f"hidden_{op}_{self.name}"

    @property
    def description(self) -> str:
        """Parameters and shapes: safe to show for hidden cases."""
        in_features, out_features = self.features
        return f"Linear({in_features}, {out_features}) on x of shape {self.x.shape} ({self.x.dtype})"

    @cached_property
    def expected_forward(self) -> np.ndarray:
        return _frozen(linear_forward(self.x, self.weight, self.bias))

    @cached_property
    def expected_backward(self) -> dict[str, np.ndarray]:
        grads = linear_backward(self.x, self.weight, self.delta)
        return {name: _frozen(a) for name, a in zip(("dx", "grad_weight", "grad_bias"), grads, strict=True)}


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


_HANDOUT = (
    # name, title, (in, out, batch)
    ("1", "the handout's example", (3, 2, 4)),
    ("2", "a single output feature", (5, 1, 2)),
)

_HIDDEN = (
    ("batch_one", "a batch of one", (4, 3, 1), "float64"),
    ("square", "as many outputs as inputs (a transposed weight has the right shape)", (4, 4, 3), "float64"),
    ("wide", "more outputs than inputs", (2, 7, 3), "float64"),
    ("float32", "float32 weights, bias and input", (6, 3, 2), "float32"),
    ("longer", "sixteen inputs, a larger batch", (16, 5, 8), "float64"),
)


def _handout_case(name: str, title: str, shape: tuple[int, int, int]) -> LinearCase:
    in_features, out_features, batch = shape
    weight = (np.arange(out_features * in_features).reshape(out_features, in_features) - 2) / 4
    bias = np.arange(1, out_features + 1) / 2
    x = np.arange(batch * in_features).reshape(batch, in_features) - 3.0
    delta = np.arange(batch * out_features).reshape(batch, out_features) % 5 - 2.0
    return LinearCase(name, title, True, weight, bias, x, delta)


def _dyadic(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    values = rng.integers(-127, 128, size=shape) / 32
    values[values == 0] = 1 / 32  # no zero: a left-out bias or a skipped term always shows
    return values


@lru_cache(maxsize=256)
def build_cases(seed: int) -> tuple[LinearCase, ...]:
    """The handout's cases, then the hidden ones drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    cases = [_handout_case(*spec) for spec in _HANDOUT]
    for name, title, (in_features, out_features, batch), dtype in _HIDDEN:
        arrays = [_dyadic(rng, s) for s in ((out_features, in_features), (out_features,), (batch, in_features))]
        delta = _dyadic(rng, (batch, out_features))
        weight, bias, x, delta = (a.astype(dtype) for a in (*arrays, delta))
        cases.append(LinearCase(name, title, False, weight, bias, x, delta))
    for case in cases:
        for array in case.inputs.values():
            array.flags.writeable = False
    return tuple(cases)
