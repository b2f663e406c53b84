"""Likely causes of a wrong answer, found by fingerprint.

When a submission's value is wrong, the grader recomputes the same call with known-wrong variants of the
reference (bias left out, stride ignored, gradients overwritten, ...) and, if the submission's value
matches one, names the mistake and where to look.

Hints are shown for hidden tests too, so no hint text contains a number (digits appear only inside
identifiers such as `get_conv1d_output_size`): it can never leak an expected value. A variant is only
tried when it differs from the right answer on the inputs at hand; a bug that changes nothing on a case
(the stride ignored when the stride is one) is never blamed for it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import permutations

import numpy as np

from grader.runner import Op, Returned
from reference import conv1d_backward, conv1d_forward, get_conv1d_output_size

__all__ = ["VARIANTS", "Match", "Variant", "diagnose", "hint_texts"]

AXIS_NAMES: Mapping[str, tuple[str, str, str]] = {
    "out": ("batch", "out_channels", "output_size"),
    "dx": ("batch", "in_channels", "input_size"),
    "grad_weight": ("out_channels", "in_channels", "kernel_size"),
}
"""The axes of each three-dimensional component, in the order the handout asks for."""

_COMPONENT_INDEX = {"dx": 0, "grad_weight": 1, "grad_bias": 2}
"""Position of each backward component in what :func:`reference.conv1d_backward` returns."""

_COMPONENTS_BY_OP: Mapping[str, tuple[str, ...]] = {"forward": ("out",), "backward": tuple(_COMPONENT_INDEX)}

_LIST_KINDS = ("list", "tuple")


@dataclass(frozen=True)
class Match:
    """A fingerprint the submission's value matched."""

    fingerprint: str
    """Stable name of the mistake, e.g. ``bias_omitted``."""
    hint: str
    """One or two sentences for the student: the mistake and where to look."""


@dataclass(frozen=True)
class _Call:
    """One failing call's inputs, as float64, with the right answer for the component under test."""

    component: str
    x: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    delta: np.ndarray | None
    stride: int
    right: np.ndarray

    @property
    def kernel_size(self) -> int:
        return self.weight.shape[2]

    @property
    def output_size(self) -> int:
        return get_conv1d_output_size(self.x.shape[2], self.kernel_size, self.stride)

    def forward(
        self, *, x: np.ndarray | None = None, bias: np.ndarray | None = None, stride: int | None = None
    ) -> np.ndarray:
        return conv1d_forward(
            self.x if x is None else x,
            self.weight,
            self.bias if bias is None else bias,
            self.stride if stride is None else stride,
        )

    def backward(self, *, x: np.ndarray, delta: np.ndarray, stride: int) -> np.ndarray:
        """This call's component of a backward pass on other inputs."""
        return conv1d_backward(x, self.weight, delta, stride)[_COMPONENT_INDEX[self.component]]


Candidate = tuple[np.ndarray, str]
"""A wrong value a variant produces and the detail that fills its hint's ``{detail}``."""


@dataclass(frozen=True)
class Variant:
    """A known mistake: how to reproduce it and what to tell the student when it matches."""

    fingerprint: str
    components: tuple[str, ...]
    """The components (``out``, ``dx``, ``grad_weight``, ``grad_bias``) it can explain."""
    hint: str
    """The message, with ``{detail}`` filled from the candidate that matched."""
    candidates: Callable[[_Call], Iterator[Candidate]]
    details: tuple[str, ...] = ("",)
    """Every ``{detail}`` a candidate can give, so all hint texts can be listed and checked."""


# --- forward variants -----------------------------------------------------------------------------------


def _bias_omitted(call: _Call) -> Iterator[Candidate]:
    yield call.forward(bias=np.zeros_like(call.bias)), ""


def _ceil_padded(call: _Call) -> Iterator[Candidate]:
    # A rounded-up output length only runs without an error if the last, partial window is padded with
    # zeros (the handout mentions zero padding), so that is the variant worth reproducing.
    input_size = call.x.shape[2]
    ceil_size = math.ceil((input_size - call.kernel_size) / call.stride) + 1
    missing = (ceil_size - 1) * call.stride + call.kernel_size - input_size
    if missing > 0:
        yield call.forward(x=np.pad(call.x, ((0, 0), (0, 0), (0, missing)))), ""


def _one_position_too_few(call: _Call) -> Iterator[Candidate]:
    yield call.right[:, :, :-1], ""


def _one_position_too_many(call: _Call) -> Iterator[Candidate]:
    # The extra column cannot be a real window, so it holds whatever the output was initialised with:
    # zeros, or the bias when the bias is added to the whole array after the loop.
    batch, channels, _ = call.right.shape
    zeros = np.zeros((batch, channels, 1))
    yield np.concatenate([call.right, zeros], axis=2), ""
    yield np.concatenate([call.right, zeros + call.bias[None, :, None]], axis=2), ""


def _stride_ignored_forward(call: _Call) -> Iterator[Candidate]:
    if call.stride == 1:
        return
    unit = call.forward(stride=1)
    yield unit[:, :, : call.output_size], ""  # right length, windows start at i instead of i * stride
    yield unit, ""  # the length ignores the stride as well


# --- backward variants ----------------------------------------------------------------------------------


def _stride_ignored_backward(call: _Call) -> Iterator[Candidate]:
    if call.stride == 1 or call.delta is None:
        return
    # Windows at 0, 1, ..., output_size - 1 are exactly a stride-one pass over the input's first
    # output_size - 1 + kernel_size positions; the rest of dx stays zero.
    span = call.output_size - 1 + call.kernel_size
    value = call.backward(x=call.x[:, :, :span], delta=call.delta, stride=1)
    if call.component == "dx":
        value = np.pad(value, ((0, 0), (0, 0), (0, call.x.shape[2] - span)))
    yield value, ""


def _dx_overwritten(call: _Call) -> Iterator[Candidate]:
    if call.delta is None:
        return
    # Assigning each window's contribution keeps, where windows overlap, only the later one's.
    contributions = np.einsum("bfo,fck->bcok", call.delta, call.weight)
    dx = np.zeros_like(call.x)
    for i in range(call.output_size):
        start = i * call.stride
        dx[:, :, start : start + call.kernel_size] = contributions[:, :, i, :]
    yield dx, ""


def _grad_weight_overwritten(call: _Call) -> Iterator[Candidate]:
    if call.delta is None:
        return
    start = (call.output_size - 1) * call.stride
    yield call.backward(x=call.x[:, :, start : start + call.kernel_size], delta=call.delta[:, :, -1:], stride=1), ""


_WRONG_BIAS_SUMS: tuple[tuple[tuple[int, ...] | None, str], ...] = (
    ((0,), "over the batch axis only"),
    ((2,), "over the position axis only"),
    ((0, 1), "over the batch and channel axes"),
    ((1, 2), "over the channel and position axes"),
    ((), "not summed at all"),
    (None, "over every axis"),
)


def _grad_bias_wrong_axes(call: _Call) -> Iterator[Candidate]:
    if call.delta is None:
        return
    for axes, detail in _WRONG_BIAS_SUMS:
        yield np.asarray(call.delta.sum(axis=axes)), detail


# --- variants for any component -------------------------------------------------------------------------


def _describe_axes(component: str, order: tuple[int, ...]) -> str:
    names = AXIS_NAMES[component]
    return "({})".format(", ".join(names[i] for i in order))


def _transposed(call: _Call) -> Iterator[Candidate]:
    if call.component not in AXIS_NAMES:
        return
    for order in permutations(range(3)):
        if order != (0, 1, 2):
            yield call.right.transpose(order), _describe_axes(call.component, order)


def _integer_truncation(call: _Call) -> Iterator[Candidate]:
    # `out = np.zeros(shape, dtype=x.dtype)` then `out[..., i] = float_slice` truncates toward zero on
    # assignment; `.astype(int)` does the same, and `np.floor` before a cast rounds down.
    yield np.trunc(call.right), ""
    yield np.floor(call.right), ""
    if call.component == "out" and np.array_equal(call.bias, np.round(call.bias)):
        # The bias added after the loop to the already truncated integer array.
        bias = call.bias[None, :, None]
        yield np.trunc(call.right - bias) + bias, ""


_TRANSPOSED_DETAILS = tuple(
    _describe_axes(component, order)
    for component in AXIS_NAMES
    for order in permutations(range(3))
    if order != (0, 1, 2)
)

VARIANTS: tuple[Variant, ...] = (
    Variant(
        "bias_omitted",
        ("out",),
        "These values match a forward pass without the bias: add `self.bias` (broadcast over batch and "
        "positions) to every output slice in `forward`.",
        _bias_omitted,
    ),
    Variant(
        "output_size_ceil",
        ("out",),
        "These values match an output length rounded up, with the last window running past the end of "
        "the input: `get_conv1d_output_size` must round down (floor division), so the kernel stops once "
        "it no longer fits.",
        _ceil_padded,
    ),
    Variant(
        "output_size_too_few",
        ("out",),
        "The output has one position too few, and the positions it has are right: check that "
        "`get_conv1d_output_size` adds one after the floor division and that the loop in `forward` "
        "covers every output position.",
        _one_position_too_few,
    ),
    Variant(
        "output_size_too_many",
        ("out",),
        "The output has one position too many: the others are right, but the last one is not a window "
        "that fits in the input. Check the rounding and the added one in `get_conv1d_output_size` and "
        "the size of the array `forward` allocates.",
        _one_position_too_many,
    ),
    Variant(
        "stride_ignored_forward",
        ("out",),
        "These values match a kernel that moves one step at a time: in `forward` the slice for output "
        "position `i` must start at `i * self.stride`, and the output length must use the stride too.",
        _stride_ignored_forward,
    ),
    Variant(
        "stride_ignored_backward",
        ("dx", "grad_weight"),
        "These gradients match windows that move one step at a time: in `backward` the slice for output "
        "position `i` must start at `i * self.stride`, exactly as in `forward`.",
        _stride_ignored_backward,
    ),
    Variant(
        "dx_overwritten",
        ("dx",),
        "Where windows overlap, `dx` keeps only the later window's contribution: in the `backward` loop, "
        "add to the slice of `dx` with `+=` instead of assigning it with `=`.",
        _dx_overwritten,
    ),
    Variant(
        "grad_weight_overwritten",
        ("grad_weight",),
        "`grad_weight` holds only the last output position's contribution: in the `backward` loop, add "
        "each position's contribution with `+=` instead of assigning it with `=`.",
        _grad_weight_overwritten,
    ),
    Variant(
        "grad_bias_wrong_axes",
        ("grad_bias",),
        "`grad_bias` looks like `delta` summed {detail}: it must have shape (out_channels,), so sum "
        "`delta` over the batch and position axes, keeping the channel axis.",
        _grad_bias_wrong_axes,
        tuple(detail for _, detail in _WRONG_BIAS_SUMS),
    ),
    Variant(
        "transposed",
        tuple(AXIS_NAMES),
        "The values are right but the axes are in the order {detail}: allocate and fill the array in "
        "the handout's axis order instead of transposing or indexing along the wrong axis.",
        _transposed,
        _TRANSPOSED_DETAILS,
    ),
    Variant(
        "integer_truncation",
        ("out", "dx", "grad_weight", "grad_bias"),
        "These values match the right ones cut to whole numbers: the array was probably allocated with "
        "the input's integer dtype (`np.zeros_like(x)` or `dtype=x.dtype`); allocate it as float.",
        _integer_truncation,
    ),
)
"""Every fingerprint for layer calls, most specific first: the first match wins."""

_RETURNS_LIST = Match(
    "returns_list",
    "The values are right but came back as a Python list or tuple: return an `np.ndarray` (the array "
    "you filled), not a list.",
)
_ALSO_LIST = " Return an `np.ndarray`, not a list, as well."

_SIZE_HINTS: Mapping[str, str] = {
    "output_size_ceil": "This count is rounded up: `get_conv1d_output_size` must round down (floor "
    "division `//`), because the last window has to fit entirely in the input.",
    "output_size_true_division": "This count is not a whole number: use floor division `//` in "
    "`get_conv1d_output_size`, not true division `/`.",
    "output_size_too_few": "This count is one too small: `get_conv1d_output_size` must add one after the "
    "floor division, for the window at the very start.",
    "output_size_too_many": "This count is one too large: check the rounding and the added one in "
    "`get_conv1d_output_size`.",
    "stride_ignored_size": "This count ignores the stride: divide the distance the kernel can move by "
    "`stride` (floor division) before adding one.",
}


def hint_texts() -> Iterator[str]:
    """Every hint :func:`diagnose` can return."""
    for variant in VARIANTS:
        for detail in variant.details:
            yield variant.hint.format(detail=detail)
            yield variant.hint.format(detail=detail) + _ALSO_LIST
    yield _RETURNS_LIST.hint
    yield from _SIZE_HINTS.values()


def diagnose(
    op: Op,
    component: str,
    layer: tuple[int, int, int, int] | None,
    sizes: tuple[int, int, int] | None,
    inputs: Mapping[str, np.ndarray],
    returned: Returned,
    rtol: float,
    atol: float,
) -> Match | None:
    """The likely mistake behind a wrong value and its fingerprint's name, or None if nothing matches.

    Called only for values already judged wrong. ``inputs`` are the exact arrays the submission got.
    """
    with np.errstate(all="ignore"):
        if op == "output_size":
            return _diagnose_size(sizes, returned)
        call = _prepare(op, component, layer, inputs)
        got = _as_array(returned)
        if call is None or got is None:
            return None
        if returned.kind in _LIST_KINDS and _close(got, call.right, rtol, atol):
            return _RETURNS_LIST
        match = _match_variants(call, got, rtol, atol)
        if match is not None and returned.kind in _LIST_KINDS:
            return Match(match.fingerprint, match.hint + _ALSO_LIST)
        return match


def _prepare(
    op: Op, component: str, layer: tuple[int, int, int, int] | None, inputs: Mapping[str, np.ndarray]
) -> _Call | None:
    """The call in float64 with its right answer, or None when the reference cannot run on it."""
    if layer is None or component not in _COMPONENTS_BY_OP.get(op, ()):
        return None
    try:
        x, weight, bias = (np.asarray(inputs[name], dtype=np.float64) for name in ("x", "weight", "bias"))
        stride = int(layer[3])
        if op == "forward":
            delta = None
            right = conv1d_forward(x, weight, bias, stride)
        else:
            delta = np.asarray(inputs["delta"], dtype=np.float64)
            right = conv1d_backward(x, weight, delta, stride)[_COMPONENT_INDEX[component]]
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return _Call(component, x, weight, bias, delta, stride, right)


def _as_array(returned: Returned) -> np.ndarray | None:
    if returned.array is not None:
        return returned.array
    if returned.kind in ("int", "float") and returned.scalar is not None:
        return np.asarray(returned.scalar)  # e.g. `delta.sum()` returned for grad_bias
    return None


def _close(got: np.ndarray, candidate: np.ndarray, rtol: float, atol: float) -> bool:
    if got.shape != candidate.shape:
        return False
    try:
        return bool(np.allclose(got, candidate, rtol=rtol, atol=atol))
    except TypeError:  # a dtype allclose cannot compare (e.g. strings)
        return False


def _match_variants(call: _Call, got: np.ndarray, rtol: float, atol: float) -> Match | None:
    for variant in VARIANTS:
        if call.component not in variant.components:
            continue
        try:
            for candidate, detail in variant.candidates(call):
                # A variant that gives the right answer here explains nothing about a wrong one.
                if _close(candidate, call.right, rtol, atol):
                    continue
                if _close(got, candidate, rtol, atol):
                    return Match(variant.fingerprint, variant.hint.format(detail=detail))
        except (IndexError, ValueError):  # geometry a variant cannot reproduce (e.g. an empty output)
            continue
    return None


def _diagnose_size(sizes: tuple[int, int, int] | None, returned: Returned) -> Match | None:
    if sizes is None or returned.kind not in ("int", "float") or isinstance(returned.scalar, bool):
        return None
    value = returned.scalar
    if value is None or not math.isfinite(value):
        return None
    input_size, kernel_size, stride = sizes
    try:
        right = get_conv1d_output_size(input_size, kernel_size, stride)
    except ValueError:
        return None
    ratio = (input_size - kernel_size) / stride
    # Ordered so that rounding up, the likelier mistake, wins where it gives the same count as "one too
    # many" (whenever the stride does not divide the distance).
    candidates = (
        ("output_size_ceil", math.ceil(ratio) + 1),
        ("output_size_true_division", ratio + 1),
        ("output_size_too_few", right - 1),
        ("output_size_too_many", right + 1),
        ("stride_ignored_size", input_size - kernel_size + 1),
    )
    for name, candidate in candidates:
        if candidate != right and math.isclose(value, candidate, rel_tol=1e-12):
            return Match(name, _SIZE_HINTS[name])
    return None
