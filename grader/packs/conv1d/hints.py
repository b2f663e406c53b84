"""Likely causes of a wrong answer, found by fingerprint.

When a submission's value is wrong, the grader recomputes the same call with known-wrong variants of the
reference (bias left out, stride ignored, gradients overwritten, ...) and, if the submission's value
matches one, names the mistake and where to look.

Hints are shown for hidden tests too, so no hint text contains a number (digits appear only inside
identifiers such as `get_conv1d_output_size`): it can never leak an expected value. A variant is only
tried when it differs from the right answer on the inputs at hand; a bug that changes nothing on a case
(the stride ignored when the stride is one) is never blamed for it.

Some values have more than one cause: `grad_weight` holding only the last position's contribution comes
from assigning it with `=` as surely as from re-zeroing it inside the loop. A hint must never name a fix
that would not repair the code behind it, so such a variant's fingerprint names the symptom, its hint
names every cause with its fix, and :attr:`Match.causes` lists them. Where two different variants happen
to give the same values on a case (only the first window kept and only the last one skipped are the same
thing with two output positions), the hint names both.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import combinations, permutations

import numpy as np

from grader.packs.conv1d.cases import Op
from grader.runner import Returned
from reference import conv1d_backward, conv1d_forward, get_conv1d_output_size

__all__ = ["CAUSE_FIXES", "VARIANTS", "Match", "Variant", "diagnose", "hint_texts"]

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
    """Stable name of the mistake, e.g. ``bias_omitted``; the symptom's name when several mistakes give
    the same values (``grad_weight_overwritten``)."""
    hint: str
    """One or two sentences for the student: the mistake and where to look (every cause, when several)."""
    causes: tuple[str, ...] = ()
    """Every mistake the hint names: the fingerprint alone for a single cause. Defaulted so that code
    building a ``Match`` from the first two fields keeps working."""


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
    given: frozenset[np.dtype] = frozenset()
    """The dtypes of the arrays the submission was given."""

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

    def evaluate(self, **arrays: np.ndarray) -> np.ndarray:
        """This call's component with some of its input arrays (``x``, ``weight``, ``bias``, ``delta``)
        replaced: the right answer to a slightly different question."""
        x, weight = arrays.get("x", self.x), arrays.get("weight", self.weight)
        if self.component == "out":
            return conv1d_forward(x, weight, arrays.get("bias", self.bias), self.stride)
        delta = arrays.get("delta", self.delta)
        if self.component == "grad_bias" and delta is not None:
            return delta.sum(axis=(0, 2))  # all a backward pass does for it: skip the convolutions
        assert delta is not None, "a gradient is asked of a backward call, which has a delta"
        return conv1d_backward(x, weight, delta, self.stride)[_COMPONENT_INDEX[self.component]]


Candidate = tuple[np.ndarray, str]
"""A wrong value a variant produces and the detail that fills its hint's ``{detail}``."""

Matcher = Callable[[_Call, np.ndarray, float, float], str | None]
"""Decides a match itself (call, value, rtol, atol): the ``{detail}`` when it matches, else None."""


def _close(got: np.ndarray, candidate: np.ndarray, rtol: float, atol: float) -> bool:
    """``np.allclose(got, candidate)``, without its generality: diagnosing compares dozens of candidates
    per wrong value, and allclose's own overhead was most of the time spent."""
    if got.shape != candidate.shape:
        return False
    try:
        value = got if got.dtype == np.float64 else got.astype(np.float64)
    except (TypeError, ValueError):  # a dtype that is not a number (e.g. strings)
        return False
    with np.errstate(invalid="ignore", over="ignore"):
        # Equal infinities are close, as in allclose; NaN is close to nothing.
        return bool(np.all((np.abs(value - candidate) <= atol + rtol * np.abs(candidate)) | (value == candidate)))


@dataclass(frozen=True)
class Variant:
    """A known mistake: how to reproduce it and what to tell the student when it matches."""

    fingerprint: str
    components: tuple[str, ...]
    """The components (``out``, ``dx``, ``grad_weight``, ``grad_bias``) it can explain."""
    hint: str
    """The message, with ``{detail}`` filled from the candidate that matched."""
    candidates: Callable[[_Call], Iterator[Candidate]] | None
    """The wrong values the mistake gives; None when ``matcher`` decides instead."""
    details: tuple[str, ...] = ("",)
    """Every ``{detail}`` a candidate can give, so all hint texts can be listed and checked."""
    causes: tuple[str, ...] = ()
    """The distinct mistakes behind these values when there are several (the hint names each, with its
    fix); empty when the fingerprint is the one cause."""
    matcher: Matcher | None = None
    """For a mistake no single value reproduces (a shape, a rounding): decides the match itself."""
    fallback: bool = False
    """Tried only when no other variant matched, because it accepts a band of values rather than one."""

    def match(self, call: _Call, got: np.ndarray, rtol: float, atol: float) -> str | None:
        """The ``{detail}`` for ``got`` if this mistake explains it, else None."""
        if self.matcher is not None:
            return self.matcher(call, got, rtol, atol)
        assert self.candidates is not None, self.fingerprint
        for candidate, detail in self.candidates(call):
            # A variant that gives the right answer here explains nothing about a wrong one (asked second:
            # most candidates are not the value at all, and that settles it in one comparison).
            if _close(got, candidate, rtol, atol) and not _close(candidate, call.right, rtol, atol):
                return detail
        return None


# --- forward variants -----------------------------------------------------------------------------------


def _bias_omitted(call: _Call) -> Iterator[Candidate]:
    yield call.forward(bias=np.zeros_like(call.bias)), ""


_REPEATED_BIAS_DETAILS = (
    "once per input channel",
    "once per kernel offset",
    "once per input channel and kernel offset (in the innermost loop)",
)


def _bias_added_repeatedly(call: _Call) -> Iterator[Candidate]:
    # `out[b, o, i] += x[...] * w[...] + self.bias[o]` inside the loops over channels or kernel offsets.
    in_channels, kernel_size = call.x.shape[1], call.kernel_size
    bias = call.bias[None, :, None]
    for times, detail in zip(
        (in_channels, kernel_size, in_channels * kernel_size), _REPEATED_BIAS_DETAILS, strict=True
    ):
        if times > 1:
            yield call.right + (times - 1) * bias, detail


def _bias_wrong_axis(call: _Call) -> Iterator[Candidate]:
    # `out + self.bias` on the whole (batch, out_channels, output_size) array: NumPy lines the vector up with
    # the last axis, so it runs without an error only where that axis has out_channels (or one) entries.
    yield (call.right - call.bias[None, :, None]) + call.bias, ""


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


# --- variants for the loop over output positions, forward and backward ---------------------------------


def _kernel_flipped(call: _Call) -> Iterator[Candidate]:
    # A true convolution meets window offset j with weight k - 1 - j. Its consistent backward pass sends
    # delta back through the flipped kernel (dx) and, by the same symmetry, its weight gradient is the
    # right one reversed along the kernel axis.
    if np.array_equal(call.weight, call.weight[:, :, ::-1]):
        return  # a symmetric kernel (any kernel of size one) is its own flip: nothing to see
    if call.component == "grad_weight":
        yield call.right[:, :, ::-1], ""
    elif call.component in ("out", "dx"):
        yield call.evaluate(weight=call.weight[:, :, ::-1]), ""


def _positions_kept(call: _Call, keep: slice) -> Iterator[Candidate]:
    """The values of a loop that ran only over the output positions in ``keep``."""
    if call.component == "out":
        kept = np.zeros_like(call.right)
        kept[:, :, keep] = call.right[:, :, keep]
        yield kept, ""
        # The bias added to the whole array after the loop reaches the positions the loop skipped too.
        skipped = np.ones(call.right.shape[2], dtype=bool)
        skipped[keep] = False
        yield kept + call.bias[None, :, None] * skipped, ""
    elif call.delta is not None and call.component != "grad_bias":  # grad_bias is one line, not a loop
        delta = np.zeros_like(call.delta)
        delta[:, :, keep] = call.delta[:, :, keep]
        yield call.evaluate(delta=delta), ""


def _last_position_skipped(call: _Call) -> Iterator[Candidate]:
    yield from _positions_kept(call, slice(None, -1))


def _returns_inside_loop(call: _Call) -> Iterator[Candidate]:
    yield from _positions_kept(call, slice(0, 1))
    if call.component == "out":
        # The bias added after the loop is never reached: the first position lacks it.
        first = np.zeros_like(call.right)
        first[:, :, 0] = call.right[:, :, 0] - call.bias
        yield first, ""


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
    # Assigning each window's contribution keeps, where windows overlap, only the later one's; so does a
    # fancy-indexed `+=` in NumPy as it stands, but NumPy does not promise which repeated index is
    # written last, so the earlier window's survival is reproduced as well.
    contributions = np.einsum("bfo,fck->bcok", call.delta, call.weight)
    for order in (range(call.output_size), range(call.output_size - 1, -1, -1)):
        dx = np.zeros_like(call.x)
        for i in order:
            start = i * call.stride
            dx[:, :, start : start + call.kernel_size] = contributions[:, :, i, :]
        yield dx, ""


def _grad_weight_overwritten(call: _Call) -> Iterator[Candidate]:
    if call.delta is None:
        return
    start = (call.output_size - 1) * call.stride
    yield call.backward(x=call.x[:, :, start : start + call.kernel_size], delta=call.delta[:, :, -1:], stride=1), ""


def _returns_grad_weight(call: _Call, got: np.ndarray, rtol: float, atol: float) -> str | None:
    if call.delta is None or got.shape != call.weight.shape:
        return None
    # Any array of the weight's shape is the wrong thing returned, whatever its values (the student's
    # grad_weight may have its own bug); only where the shapes coincide do the values have to say so.
    if call.weight.shape != call.x.shape:
        return ""
    grad_weight = conv1d_backward(call.x, call.weight, call.delta, call.stride)[1]
    if not _close(grad_weight, call.right, rtol, atol) and _close(got, grad_weight, rtol, atol):
        return ""
    return None


_AVERAGED_DETAILS = (
    "divided by the batch size",
    "divided by the number of output positions",
    "divided by the batch size and the number of output positions (a mean over both)",
)


def _gradient_averaged(call: _Call) -> Iterator[Candidate]:
    if call.delta is None:
        return
    batch, _, positions = call.delta.shape
    yield call.right / batch, _AVERAGED_DETAILS[0]
    if call.component != "dx":  # dx gets one contribution per position: nothing to average there
        yield call.right / positions, _AVERAGED_DETAILS[1]
        yield call.right / (batch * positions), _AVERAGED_DETAILS[2]


def _grad_bias_not_updated(call: _Call) -> Iterator[Candidate]:
    yield np.zeros_like(call.right), ""


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

_SIZE_ONE_DETAILS = (
    "lost a length-one axis (what `np.squeeze`, or indexing one element of an axis, does when the batch or a "
    "channel count is one)",
    "extra length-one axes (what `keepdims=True`, `np.matrix` or a reshape into a column gives)",
)


def _size_one_axes(call: _Call, got: np.ndarray, rtol: float, atol: float) -> str | None:
    """Right values in a shape that has lost or gained axes of length one (the same axes in another order
    are a transposition: :func:`_transposed`)."""
    right = call.right
    if got.ndim == right.ndim or got.size != right.size:
        return None
    if [n for n in got.shape if n != 1] != [n for n in right.shape if n != 1]:
        return None
    if not _close(got.reshape(right.shape), right, rtol, atol):
        return None
    return _SIZE_ONE_DETAILS[0] if got.ndim < right.ndim else _SIZE_ONE_DETAILS[1]



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


# --- reduced precision ----------------------------------------------------------------------------------

_PRECISIONS: tuple[tuple[str, type[np.floating]], ...] = (("float32", np.float32), ("float16", np.float16))
"""Narrower float types a submission may compute in, the closer to float64 first: values within float32
precision of the right answer are named float32 even though they are within float16 precision too."""


def _rounded(array: np.ndarray, dtype: type[np.floating]) -> np.ndarray:
    """``array`` stored in ``dtype`` and read back: what one conversion does to it (too large: inf)."""
    return array.astype(dtype).astype(np.float64)


def _precision_candidates(call: _Call, dtype: type[np.floating]) -> Iterator[np.ndarray]:
    # Every way of converting some inputs (`x.astype(np.float16)`, the weights, delta) and computing on in
    # float64, each also with the result stored in `dtype` (an output array allocated in it), and the right
    # answer itself stored in it. The reference is vectorised, so the handful of passes costs little.
    names = ("x", "weight", "bias") if call.component == "out" else ("x", "weight", "delta")
    yield _rounded(call.right, dtype)
    for size in range(1, len(names) + 1):
        for subset in combinations(names, size):
            value = call.evaluate(**{name: _rounded(getattr(call, name), dtype) for name in subset})
            yield value
            yield _rounded(value, dtype)
    if call.delta is not None:
        # The handout's loop adding each position's contribution to a gradient allocated in `dtype`:
        # a rounding per position, which no single conversion reproduces.
        yield _accumulated(call, dtype, call.x, call.weight, call.delta)
        rounded = (_rounded(a, dtype) for a in (call.x, call.weight, call.delta))
        yield _accumulated(call, dtype, *rounded)


def _accumulated(
    call: _Call, dtype: type[np.floating], x: np.ndarray, weight: np.ndarray, delta: np.ndarray
) -> np.ndarray:
    """This call's gradient summed position by position into an array of ``dtype``."""
    total = np.zeros(call.right.shape, dtype=dtype)
    kernel_size = call.kernel_size
    for i in range(call.output_size):
        start = i * call.stride
        if call.component == "dx":
            total[:, :, start : start + kernel_size] += np.einsum("bf,fck->bck", delta[:, :, i], weight)
        elif call.component == "grad_weight":
            total += np.einsum("bf,bck->fck", delta[:, :, i], x[:, :, start : start + kernel_size])
        else:
            total += delta[:, :, i].sum(axis=0)
    return total.astype(np.float64)


def _magnitudes(call: _Call) -> tuple[np.ndarray, int]:
    """The sum of absolute terms behind each value, and how many roundings an accumulation in a narrow
    dtype may add to it: each rounding's error is at most the unit roundoff times that sum."""
    absolute = {"x": np.abs(call.x), "weight": np.abs(call.weight), "bias": np.abs(call.bias)}
    if call.delta is not None:
        absolute["delta"] = np.abs(call.delta)
    batch, in_channels, _ = call.x.shape
    if call.component == "out":
        steps = in_channels * call.kernel_size + 1
    elif call.component == "dx":
        steps = call.weight.shape[0] * math.ceil(call.kernel_size / call.stride)
    else:
        steps = batch * call.output_size
    return call.evaluate(**absolute), steps


def _within(got: np.ndarray, candidate: np.ndarray, slack: np.ndarray) -> bool:
    """Every value within ``slack`` of the candidate; an overflow (inf) must overflow the same way."""
    finite = np.isfinite(candidate)
    if not np.array_equal(got[~finite], candidate[~finite]):
        return False
    return bool(np.all(np.abs(got[finite] - candidate[finite]) <= slack[finite]))


def _reduced_precision(call: _Call, got: np.ndarray, rtol: float, atol: float) -> str | None:
    if got.shape != call.right.shape or got.dtype.kind != "f":
        return None
    narrow = got.dtype  # the dtype it came back in: evidence of where it was computed
    got = got.astype(np.float64)
    finite = np.isfinite(got)
    error = np.abs(got - call.right)[finite]
    scale, steps = _magnitudes(call)
    bias = np.abs(call.bias)[None, :, None] if call.component == "out" else 0.0
    reach = (scale + np.abs(call.right) + bias)[finite]
    for name, dtype in _PRECISIONS:
        if np.dtype(dtype) in call.given:
            # Arrays already given in this type: a result in it need not come from any conversion of
            # the student's, so naming one could send them after a fix that changes nothing.
            continue
        unit = float(np.finfo(dtype).eps) / 2
        # A cheap screen before the candidates: farther from the right answer than this precision could
        # take it, by any route below, is not this precision (most wrong values are far off).
        if not np.all(error <= atol + rtol * np.abs(call.right[finite]) + 2 * (steps + 4) * unit * reach):
            continue
        for candidate in _precision_candidates(call, dtype):
            magnitude = np.abs(candidate)
            # The candidates reproduce narrowed inputs, a narrowed result and the handout's loop adding
            # up in the narrow type, up to a rounding or two of the value and of the bias added to it.
            slack = 4 * unit * (magnitude + bias)
            if narrow == dtype:
                # Came back in the narrow type itself: computed there, perhaps accumulated in another
                # order than the handout's loop. Rounding errors of random sign grow with the square
                # root of the steps (the worst case, linear, would excuse nearly any value here).
                slack = slack + 2 * unit * math.sqrt(steps) * scale
            with np.errstate(invalid="ignore"):
                # A rounding that changes nothing here cannot be what went wrong.
                if _within(got, candidate, atol + rtol * magnitude + slack) and not _close(
                    candidate, call.right, rtol, atol
                ):
                    return name
    return None


_TRANSPOSED_DETAILS = tuple(
    _describe_axes(component, order)
    for component in AXIS_NAMES
    for order in permutations(range(3))
    if order != (0, 1, 2)
)

CAUSE_FIXES: Mapping[str, str] = {
    "grad_weight_assigned_in_loop": "add each position's contribution with `+=` instead of assigning it with `=`",
    "grad_weight_zeroed_in_loop": "set it to zeros once, before the loop",
    "dx_assigned_in_loop": "add with `+=` instead of assigning with `=`",
    "dx_fancy_index_add": "use `np.add.at`, which adds for every repeat",
}
"""For each cause that shares its values with another, the words of the hint that say how to repair it."""

VARIANTS: tuple[Variant, ...] = (
    Variant(
        "bias_omitted",
        ("out",),
        "These values match a forward pass without the bias: add `self.bias` (broadcast over batch and "
        "positions) to every output slice in `forward`.",
        _bias_omitted,
    ),
    Variant(
        "bias_added_repeatedly",
        ("out",),
        "These values have the bias added {detail} instead of once per output value: add `self.bias[o]` "
        "after the sum over input channels and kernel offsets, outside the loops that make it.",
        _bias_added_repeatedly,
        _REPEATED_BIAS_DETAILS,
    ),
    Variant(
        "bias_wrong_axis",
        ("out",),
        "The bias was added along the positions axis: NumPy lines a vector of shape (out_channels,) up with "
        "an array's last axis, which in `forward`'s output holds the positions, not the channels. Add "
        "`self.bias[None, :, None]` to the whole output, or `self.bias` to each position's (batch, "
        "out_channels) slice.",
        _bias_wrong_axis,
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
        "kernel_flipped",
        ("out", "dx", "grad_weight"),
        "These values match a true convolution, with the kernel reversed: the handout's `Conv1d` is a "
        "cross-correlation, where each window meets `self.weight` as it is. Drop the flip (a reversing slice, "
        "`np.flip`, or `np.convolve`, which flips for you) in `forward` and wherever `backward` repeats it.",
        _kernel_flipped,
    ),
    Variant(
        "last_position_skipped",
        ("out", "dx", "grad_weight"),
        "The last output position was never computed (in `backward`: its window's contribution is "
        "missing), and every other position is right: loop over `range(output_size)`, not one fewer.",
        _last_position_skipped,
    ),
    Variant(
        "returns_inside_loop",
        ("out", "dx", "grad_weight"),
        "Only the first output position's window was done: a `return` inside the loop ends the method "
        "after the first pass. Move the `return` after the loop (dedent it) so every position is done.",
        _returns_inside_loop,
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
        "Where windows overlap, `dx` keeps only one window's contribution, not their sum. Two mistakes "
        "give these values: assigning each window's slice of `dx` with `=` in the `backward` loop "
        f"({CAUSE_FIXES['dx_assigned_in_loop']}), or one fancy-indexed `dx[:, :, idx] += ...`, which adds "
        f"only once where `idx` repeats a position ({CAUSE_FIXES['dx_fancy_index_add']}).",
        _dx_overwritten,
        causes=("dx_assigned_in_loop", "dx_fancy_index_add"),
    ),
    Variant(
        "grad_weight_overwritten",
        ("grad_weight",),
        "`grad_weight` holds only the last output position's contribution. Two mistakes give these "
        "values: assigning it in the `backward` loop with `=` "
        f"({CAUSE_FIXES['grad_weight_assigned_in_loop']}), or resetting it to zeros inside that loop "
        f"before adding with `+=` ({CAUSE_FIXES['grad_weight_zeroed_in_loop']}).",
        _grad_weight_overwritten,
        causes=("grad_weight_assigned_in_loop", "grad_weight_zeroed_in_loop"),
    ),
    Variant(
        "returns_grad_weight",
        ("dx",),
        "`backward` returned an array shaped like the weights, (out_channels, in_channels, kernel_size), "
        "where `dx` belongs: return the gradient with respect to the input, shaped like `x`, and keep the "
        "weight gradient in `self.grad_weight`.",
        None,
        matcher=_returns_grad_weight,
    ),
    Variant(
        "gradient_averaged",
        ("dx", "grad_weight", "grad_bias"),
        "These values are the right gradient {detail}: the handout's gradients are sums over the batch "
        "and the output positions, not means. Drop the division (use `np.sum`, not `np.mean`).",
        _gradient_averaged,
        _AVERAGED_DETAILS,
    ),
    Variant(
        "size_one_axes",
        ("out", "dx", "grad_weight", "grad_bias"),
        "The values are right, but the array has {detail}: return exactly the axes the handout asks for, "
        "each kept even when its length is one.",
        None,
        _SIZE_ONE_DETAILS,
        matcher=_size_one_axes,
    ),
    Variant(
        "grad_bias_not_updated",
        ("grad_bias",),
        "`grad_bias` is still all zeros, as `__init__` left it: `backward` never sets it (or returns "
        "before it gets there). Set `self.grad_bias` to `delta` summed over the batch and position axes.",
        _grad_bias_not_updated,
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
    Variant(
        "reduced_precision",
        ("out", "dx", "grad_weight", "grad_bias"),
        "These values match the right ones rounded to `np.{detail}` precision: somewhere the arrays are "
        "converted to `np.{detail}` (an `astype`, or an array allocated with that dtype), which drops "
        "digits. Compute in float64.",
        None,
        tuple(name for name, _ in _PRECISIONS),
        matcher=_reduced_precision,
        fallback=True,
    ),
)
"""Every fingerprint for layer calls, most specific first. Every variant that matches is named, the first
one's fingerprint standing for them all; a fallback variant is tried only when no other matches."""

_RETURNS_LIST = Match(
    "returns_list",
    "The values are right but came back as a Python list or tuple: return an `np.ndarray` (the array "
    "you filled), not a list.",
    ("returns_list",),
)
_ALSO_LIST = " Return an `np.ndarray`, not a list, as well."

_SEVERAL = "More than one mistake gives these values here; look for each. "
_OR = " Or: "
"""How the hints of several matching variants are joined: ``_SEVERAL + _OR.join(hints)``."""

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
    """Every hint :func:`diagnose` can return, and the words that join the hints of several variants
    that match together (such a hint is only ever these texts put together)."""
    for variant in VARIANTS:
        for detail in variant.details:
            yield variant.hint.format(detail=detail)
            yield variant.hint.format(detail=detail) + _ALSO_LIST
    yield _RETURNS_LIST.hint
    yield from _SIZE_HINTS.values()
    yield _SEVERAL
    yield _OR


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
            return Match(match.fingerprint, match.hint + _ALSO_LIST, match.causes)
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
    given = frozenset(np.asarray(array).dtype for array in inputs.values())
    return _Call(component, x, weight, bias, delta, stride, right, given)


def _as_array(returned: Returned) -> np.ndarray | None:
    if returned.array is not None:
        return returned.array
    if returned.kind in ("int", "float") and returned.scalar is not None:
        return np.asarray(returned.scalar)  # e.g. `delta.sum()` returned for grad_bias
    return None


def _match_variants(call: _Call, got: np.ndarray, rtol: float, atol: float) -> Match | None:
    if _close(got, call.right, rtol, atol):
        return None  # a right value has no mistake to name, however close a rounding comes to it
    for fallback in (False, True):
        found: list[Match] = []
        for variant in VARIANTS:
            if variant.fallback != fallback or call.component not in variant.components:
                continue
            try:
                detail = variant.match(call, got, rtol, atol)
            except (IndexError, ValueError):  # geometry a variant cannot reproduce (e.g. an empty output)
                continue
            if detail is not None:
                found.append(Match(variant.fingerprint, variant.hint.format(detail=detail), variant.causes))
        if found:
            return _together(found)
    return None


def _together(found: list[Match]) -> Match:
    """One match for every variant that gave the value: each is a possible cause, none can be ruled out."""
    causes = tuple(dict.fromkeys(cause for m in found for cause in (m.causes or (m.fingerprint,))))
    if len(found) == 1:
        return Match(found[0].fingerprint, found[0].hint, causes)
    return Match(found[0].fingerprint, _SEVERAL + _OR.join(m.hint for m in found), causes)


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
            return Match(name, _SIZE_HINTS[name], (name,))
    return None
