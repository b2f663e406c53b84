"""The test cases: the handout's six visible ones and hidden ones drawn for each submission.

Cases are data: layer parameters and input arrays. Expected values come from :mod:`reference`, computed
here in the grader's process; backward deltas are shaped from the reference's output size, never from
anything a submission sets. The hidden inputs are drawn from a seed the engine derives from a secret key
and the submission's bytes (:mod:`grader.keys`): their shapes and purposes are fixed, their values are not.

Hidden values are dyadic rationals (multiples of 1/32 with seven-bit numerators) small enough that every
partial sum is exact in float32 and float64. A correct solution therefore matches to the last bit whatever
its style (loops, ``tensordot``, ``einsum``, float32 arithmetic), and the course's tight ``np.allclose``
defaults stay fair. Their products need fourteen significant bits, more than float16's eleven, so code
that computes in half precision fails them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from typing import Literal

import numpy as np

from reference import conv1d_backward, conv1d_forward, get_conv1d_output_size

OUTPUT_SIZE_TEST = "test_get_conv1d_output_size"

Op = Literal["output_size", "forward", "backward"]
"""``output_size`` calls ``get_conv1d_output_size(*sizes)``; ``forward`` builds a layer, assigns
``weight``/``bias`` and calls ``forward(x)``; ``backward`` does the same and then ``backward(delta)``."""

FORWARD_SECONDS_PER_MAC = 3.5e-6
"""CPU seconds the slowest correct style needs per multiply-add of a forward pass on the reference machine (2
cores, Python 3.11, NumPy 2), rounded up: five nested Python loops that call a NumPy function on every single
product (``out[b, o, i] += np.sum(x[...] * w[...])``, ``tests/fixtures/styles/correct_np_sum_per_term.py``),
measured at 2.7 to 3.0 µs. One ufunc call per term (``np.add.at`` on one element) needs 1.3 µs, plain element
indexing (``out[b, o, i] += x[...] * w[...]``) 0.25 µs. ``limits.cpu_factor`` is the margin on top, for
slower machines: the slowest style already uses most of this."""
BACKWARD_SECONDS_PER_MAC = 7e-6
"""The same for a backward pass (two NumPy calls per multiply-add, for dx and grad_weight): measured at 5.6 to
5.8 µs; ``np.add.at`` per term needs 2.5 µs, plain element indexing 0.5 µs."""


@dataclass(frozen=True)
class SizeCase:
    """One ``(input_size, kernel_size, stride)`` triple for ``get_conv1d_output_size``."""

    input_size: int
    kernel_size: int
    stride: int

    @property
    def args(self) -> tuple[int, int, int]:
        return (self.input_size, self.kernel_size, self.stride)

    @property
    def expected(self) -> int:
        return get_conv1d_output_size(*self.args)


@dataclass(frozen=True, eq=False)
class LayerCase:
    """A layer and its inputs, used by a forward or a backward test."""

    name: str
    """``1``..``3`` for the handout's cases, a descriptive slug for hidden ones."""
    title: str
    """What the case is for, in a few words (shown to students, even for hidden cases)."""
    visible: bool
    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int
    weight: np.ndarray
    bias: np.ndarray
    x: np.ndarray
    delta: np.ndarray | None = None
    """Gradient of the loss with respect to the output, for backward cases."""

    @property
    def layer(self) -> tuple[int, int, int, int]:
        return (self.in_channels, self.out_channels, self.kernel_size, self.stride)

    @property
    def inputs(self) -> dict[str, np.ndarray]:
        arrays = {"weight": self.weight, "bias": self.bias, "x": self.x}
        if self.delta is not None:
            arrays["delta"] = self.delta
        return arrays

    @property
    def macs(self) -> int:
        """Multiply-adds of one forward pass: the size of the case for the CPU allowance of its tests."""
        batch, _, input_size = self.x.shape
        output_size = (input_size - self.kernel_size) // self.stride + 1
        return batch * self.out_channels * output_size * self.in_channels * self.kernel_size

    @property
    def forward_seconds(self) -> float:
        """What the slowest correct style needs for this case's forward pass on the reference machine."""
        return self.macs * FORWARD_SECONDS_PER_MAC

    @property
    def backward_seconds(self) -> float:
        """What the slowest correct style needs for this case's backward pass on the reference machine."""
        return self.macs * BACKWARD_SECONDS_PER_MAC

    def test_name(self, op: str) -> str:
        """``test_conv1d_forward_1`` for the handout's cases (as the handout names them), else
        ``hidden_forward_<slug>``."""
        return f"test_conv1d_{op}_{self.name}" if self.visible else f"hidden_{op}_{self.name}"

    @cached_property
    def description(self) -> str:
        """Layer parameters and input shapes: safe to show for hidden cases."""
        return (
            f"Conv1d(in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"kernel_size={self.kernel_size}, stride={self.stride}) on x of shape {self.x.shape} "
            f"({self.x.dtype}), weight {self.weight.dtype}"
        )

    def expected_forward(self) -> np.ndarray:
        return self._forward

    def expected_backward(self) -> dict[str, np.ndarray]:
        return self._backward

    # Kept with the case (computed once, freed with it): hidden cases are made per submission.
    @cached_property
    def _forward(self) -> np.ndarray:
        out = conv1d_forward(self.x, self.weight, self.bias, self.stride)
        out.flags.writeable = False
        return out

    @cached_property
    def _backward(self) -> dict[str, np.ndarray]:
        assert self.delta is not None, f"case {self.name} has no delta"
        grads = dict(
            zip(
                ("dx", "grad_weight", "grad_bias"),
                conv1d_backward(self.x, self.weight, self.delta, self.stride),
                strict=True,
            )
        )
        for array in grads.values():
            array.flags.writeable = False
        return grads


@dataclass(frozen=True)
class CaseSet:
    """Every case one grading run uses, in the order tests are reported."""

    output_size: tuple[SizeCase, ...]
    forward: tuple[LayerCase, ...]
    backward: tuple[LayerCase, ...]


# --- the handout's cases (parameters from the course's own tests) ---------------------------------------

_W1 = [[[0, 1], [2, 3]], [[4, 2], [-2, -4]], [[3, -4], [5, 2]]]
_X1 = [[[0, 1, -3, -1], [-2, 3, -2, 1]], [[4, 5, -2, 3], [2, -1, -4, 7]]]
_DELTA1 = [[[2, -1, -1], [2, -2, 3], [2, 2, 1]], [[0, 0, -3], [2, 7, -1], [8, 7, 2]]]


def _handout(
    name: str,
    title: str,
    layer: tuple[int, int, int, int],
    *,
    weight: np.ndarray,
    bias: np.ndarray,
    x: np.ndarray,
    delta: np.ndarray | None = None,
) -> LayerCase:
    return LayerCase(name, title, True, *layer, weight=weight, bias=bias, x=x, delta=delta)


def _handout_cases() -> tuple[tuple[LayerCase, ...], tuple[LayerCase, ...]]:
    w1, b1, x1 = np.array(_W1), np.array([0, 1, 2]), np.array(_X1)
    w2, b2, x2 = np.arange(120).reshape(5, 3, 8), np.arange(5), np.arange(72).reshape(3, 3, 8)
    w3, b3, x3 = np.arange(-7.5, 7.5, 1).reshape(3, 5, 1), np.arange(3), np.arange(100).reshape(4, 5, 5)
    f32 = np.float32
    forward = (
        _handout("1", "the handout's introduction example", (2, 3, 2, 1), weight=w1, bias=b1, x=x1),
        _handout("2", "kernel as long as the input", (3, 5, 8, 1), weight=w2, bias=b2, x=x2),
        _handout("3", "kernel of size 1 with half-integer weights", (5, 3, 1, 1), weight=w3, bias=b3, x=x3),
    )
    backward = (
        _handout(
            "1", "the handout's introduction example", (2, 3, 2, 1), weight=w1, bias=b1, x=x1, delta=np.array(_DELTA1)
        ),
        _handout(
            "2",
            "kernel as long as the input, float32",
            (3, 5, 8, 1),
            weight=w2.astype(f32),
            bias=b2.astype(f32),
            x=x2.astype(f32),
            delta=np.arange(15).reshape(3, 5, 1).astype(f32),
        ),
        _handout(
            "3",
            "kernel of size 1, float32 input",
            (5, 3, 1, 1),
            weight=w3,
            bias=b3,
            x=x3.astype(f32),
            delta=np.arange(60).reshape(4, 3, 5).astype(f32),
        ),
    )
    return forward, backward


# --- hidden cases ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    name: str
    title: str
    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int
    batch: int
    input_size: int
    dtype: str = "float64"
    """``float64``, ``float32``, or ``int`` (integer x and delta with fractional weights and bias)."""


# The two longer cases are long in input (a wrong loop bound shows) but narrow in channels and batch: a hang
# costs the sum of the backward allowances, and these two dominate it (about 2.7 s of CPU in all, at ten times
# what the np.sum-per-term style needs).
_HIDDEN = (
    _Spec("stride_not_dividing", "a stride that does not divide input_size - kernel_size", 3, 4, 3, 2, 2, 10),
    _Spec("stride_above_kernel", "a stride larger than the kernel (some inputs are skipped)", 2, 3, 2, 3, 2, 13),
    _Spec("kernel_equals_input", "a kernel as long as the input, with stride 2", 3, 2, 6, 2, 2, 6),
    _Spec("batch_one", "a batch of one", 2, 3, 3, 1, 1, 9),
    _Spec("single_in_channel", "a single input channel", 1, 4, 3, 2, 3, 11),
    _Spec("single_out_channel", "a single output channel", 4, 1, 2, 1, 2, 7),
    _Spec("float32", "float32 weights, bias and input", 3, 2, 4, 2, 2, 12, dtype="float32"),
    _Spec("integer_input", "integer input with fractional weights", 2, 3, 3, 2, 2, 11, dtype="int"),
    _Spec("large_stride_three", "a longer input with stride 3", 3, 2, 7, 3, 2, 250),
    _Spec("large_stride_one", "a longer input with stride 1", 4, 3, 5, 1, 2, 128),
)

_NUMERATOR = 127
_DENOMINATOR = 32
"""Values are k/32 with |k| <= 127: a product is a multiple of 1/1024 below 16 in size, so the largest sum a
case makes (a few hundred products, under 2**13) stays under 2**23 units of 1/1024: exact in float32. Seven
significant bits per value make products of fourteen: more than float16 holds."""


def _dyadic(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    values = rng.integers(-_NUMERATOR, _NUMERATOR + 1, size=shape) / _DENOMINATOR
    if values.size > 1 and np.all(values == np.round(values)):
        values.flat[0] = 1 / _DENOMINATOR  # guarantee a fractional value so integer truncation shows
    return values


def _hidden_case(spec: _Spec, rng: np.random.Generator) -> LayerCase:
    shape_w = (spec.out_channels, spec.in_channels, spec.kernel_size)
    shape_x = (spec.batch, spec.in_channels, spec.input_size)
    output_size = get_conv1d_output_size(spec.input_size, spec.kernel_size, spec.stride)
    shape_delta = (spec.batch, spec.out_channels, output_size)
    weight = _dyadic(rng, shape_w)
    bias = _dyadic(rng, (spec.out_channels,))
    if spec.dtype == "int":
        # Two-digit integers times seven-bit weights: products of fourteen bits, too many for float16 too.
        x: np.ndarray = rng.integers(-99, 100, size=shape_x)
        delta: np.ndarray = rng.integers(-9, 10, size=shape_delta)
    else:
        x = _dyadic(rng, shape_x)
        delta = _dyadic(rng, shape_delta)
    if spec.dtype == "float32":
        weight, bias, x, delta = (a.astype(np.float32) for a in (weight, bias, x, delta))
    return LayerCase(
        spec.name,
        spec.title,
        False,
        spec.in_channels,
        spec.out_channels,
        spec.kernel_size,
        spec.stride,
        weight=weight,
        bias=bias,
        x=x,
        delta=delta,
    )


_SIZE_CASES = (
    SizeCase(4, 2, 1),
    SizeCase(10, 3, 2),
    SizeCase(13, 2, 3),
    SizeCase(6, 6, 1),
    SizeCase(6, 6, 4),
    SizeCase(100, 5, 7),
    SizeCase(250, 7, 3),
    SizeCase(9, 4, 5),
)


def _freeze(array: np.ndarray | None) -> None:
    """Read-only, and so is every array it is a view of (``np.arange(...).reshape(...)`` is one): a case's
    inputs and expected values are computed once and must not change under anyone who holds them."""
    while isinstance(array, np.ndarray):
        array.flags.writeable = False
        array = array.base


@cache
def _visible() -> tuple[tuple[LayerCase, ...], tuple[LayerCase, ...]]:
    forward, backward = _handout_cases()
    for array in (a for case in (*forward, *backward) for a in case.inputs.values()):
        _freeze(array)
    return forward, backward


@lru_cache(maxsize=256)
def build_cases(seed: int) -> CaseSet:
    """The full set of cases for a hidden-input seed (:meth:`grader.keys.HiddenKey.draw`). Cached, so that
    grading the same file again (a regrade, a re-upload) computes its expected values once."""
    forward, backward = _visible()
    rng = np.random.default_rng(seed)
    hidden = tuple(_hidden_case(spec, rng) for spec in _HIDDEN)
    for array in (a for case in hidden for a in case.inputs.values()):
        _freeze(array)
    return CaseSet(output_size=_SIZE_CASES, forward=forward + hidden, backward=backward + hidden)
