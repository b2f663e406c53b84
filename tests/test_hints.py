"""Likely causes by fingerprint: each known mistake, computed the way a student would, gets its hint.

The buggy computations here are written as students write them (loops over positions with
``tensordot``), independently of the variants in :mod:`grader.packs.conv1d.hints`, so a variant that drifts from the
mistake it claims to reproduce makes these tests fail.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from grader.compare import compare_array, scalar_value
from grader.packs.conv1d.cases import build_cases
from grader.packs.conv1d.hints import CAUSE_FIXES, Match, diagnose, hint_texts
from grader.runner import Returned
from reference import conv1d_backward, conv1d_forward

RTOL, ATOL = 1e-5, 1e-8
SAMPLES = Path(__file__).resolve().parent.parent / "submissions"

# --- student-style computations, right or with one bug ----------------------------------------------------


def likely_cause(*args: Any) -> str | None:
    """The hint text alone, as the engine shows it."""
    match = diagnose(*args)
    return None if match is None else match.hint


def student_forward(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    stride: int,
    *,
    positions: int | None = None,
    allocated: int | None = None,
    step: int | None = None,
    add_bias: bool = True,
    dtype: np.dtype | type = np.float64,
    pad_last_window: bool = False,
    flip_kernel: bool = False,
) -> np.ndarray:
    """The handout's pseudocode; the keyword arguments are the knobs students get wrong."""
    kernel_size = weight.shape[2]
    weight = weight[:, :, ::-1] if flip_kernel else weight
    positions = (x.shape[2] - kernel_size) // stride + 1 if positions is None else positions
    step = stride if step is None else step
    out = np.zeros((x.shape[0], weight.shape[0], positions if allocated is None else allocated), dtype=dtype)
    for i in range(positions):
        window = x[:, :, i * step : i * step + kernel_size]
        if pad_last_window:
            window = np.pad(window, ((0, 0), (0, 0), (0, kernel_size - window.shape[2])))
        out[:, :, i] = np.tensordot(window, weight, axes=([1, 2], [1, 2])) + (bias if add_bias else 0)
    return out


def student_backward(
    x: np.ndarray,
    weight: np.ndarray,
    delta: np.ndarray,
    stride: int,
    *,
    step: int | None = None,
    positions: int | None = None,
    overwrite_dx: bool = False,
    overwrite_grad_weight: bool = False,
    zero_grad_weight_in_loop: bool = False,
    flip_kernel: bool = False,
    dtype: np.dtype | type = np.float64,
    bias_axes: tuple[int, ...] | None = (0, 2),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    step = stride if step is None else step
    positions = delta.shape[2] if positions is None else positions
    kernel_size = weight.shape[2]
    kernel = weight[:, :, ::-1] if flip_kernel else weight
    dx = np.zeros(x.shape, dtype=dtype)
    grad_weight = np.zeros(weight.shape, dtype=dtype)
    for i in range(positions):
        b, e = i * step, i * step + kernel_size
        if overwrite_dx:
            dx[:, :, b:e] = np.tensordot(delta[:, :, i], kernel, axes=1)
        else:
            dx[:, :, b:e] += np.tensordot(delta[:, :, i], kernel, axes=1)
        window = x[:, :, b:e][:, :, ::-1] if flip_kernel else x[:, :, b:e]
        contribution = np.tensordot(delta[:, :, i].T, window, axes=1)
        if zero_grad_weight_in_loop:
            grad_weight = np.zeros(weight.shape, dtype=dtype)
        if overwrite_grad_weight:
            grad_weight = contribution.astype(dtype)
        else:
            grad_weight += contribution
    return dx, grad_weight, np.sum(delta, axis=bias_axes)


def student_dx_fancy_indexed(
    weight: np.ndarray,
    delta: np.ndarray,
    stride: int,
    input_size: int,
    *,
    offset_major: bool = False,
    add_at: bool = False,
) -> np.ndarray:
    """Loop-free dx: every (window, kernel offset) pair's input position, scattered in one statement."""
    batch, _, positions = delta.shape
    kernel_size = weight.shape[2]
    idx = (np.arange(positions) * stride)[:, None] + np.arange(kernel_size)[None, :]  # (window, offset)
    contributions = np.einsum("boi,ock->bcik", delta, weight)
    if offset_major:  # the same pairs listed offset by offset
        idx, contributions = idx.T, contributions.transpose(0, 1, 3, 2)
    dx = np.zeros((batch, weight.shape[1], input_size))
    if add_at:
        np.add.at(dx, (slice(None), slice(None), idx), contributions)
    else:
        dx[:, :, idx] += contributions
    return dx


def student_forward_bias_in_inner_loop(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int, *, innermost: bool
) -> np.ndarray:
    """Loops over positions and input channels (and kernel offsets when ``innermost``), the bias added in the
    innermost loop with the product it belongs after."""
    batch, in_channels, input_size = x.shape
    out_channels, _, kernel_size = weight.shape
    positions = (input_size - kernel_size) // stride + 1
    out = np.zeros((batch, out_channels, positions))
    for i in range(positions):
        start = i * stride
        for c in range(in_channels):
            if innermost:
                for k in range(kernel_size):
                    out[:, :, i] += np.outer(x[:, c, start + k], weight[:, c, k]) + bias
            else:
                out[:, :, i] += x[:, c, start : start + kernel_size] @ weight[:, c, :].T + bias
    return out


# --- cases ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    layer: tuple[int, int, int, int]
    inputs: dict[str, np.ndarray]

    @property
    def stride(self) -> int:
        return self.layer[3]

    def args(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        return self.inputs["x"], self.inputs["weight"], self.inputs["bias"], self.stride


def _make_case(
    id: str,
    batch: int,
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int,
    input_size: int,
    seed: int,
) -> Case:
    # Integer x and delta with quarter-valued weights and bias, as the hidden integer-input case has, so
    # truncation shows; odd shapes keep axis permutations from lining up by accident.
    rng = np.random.default_rng(seed)
    output_size = (input_size - kernel_size) // stride + 1
    inputs = {
        "weight": rng.integers(-8, 9, (out_channels, in_channels, kernel_size)) / 4 + 0.25,
        "bias": rng.integers(-8, 9, out_channels) / 4,
        "x": rng.integers(-9, 10, (batch, in_channels, input_size)),
        "delta": rng.integers(-5, 6, (batch, out_channels, output_size)),
    }
    return Case(id, (in_channels, out_channels, kernel_size, stride), inputs)


def _make_float_case(
    id: str, batch: int, in_channels: int, out_channels: int, kernel_size: int, stride: int, input_size: int, seed: int
) -> Case:
    # Arbitrary float64 values, which float16 (and float32) cannot hold: reduced precision shows.
    rng = np.random.default_rng(seed)
    output_size = (input_size - kernel_size) // stride + 1
    inputs = {
        "weight": rng.normal(size=(out_channels, in_channels, kernel_size)),
        "bias": rng.normal(size=out_channels),
        "x": rng.normal(size=(batch, in_channels, input_size)) * 3,
        "delta": rng.normal(size=(batch, out_channels, output_size)),
    }
    return Case(id, (in_channels, out_channels, kernel_size, stride), inputs)


CASES = [
    _make_case("stride-1", 2, 3, 4, 3, 1, 9, seed=1),
    _make_case("stride-2-not-dividing", 2, 3, 4, 3, 2, 10, seed=2),
    _make_case("stride-above-kernel", 3, 2, 3, 2, 3, 13, seed=3),
    _make_case("square-output", 2, 2, 3, 2, 1, 4, seed=4),  # out_channels == output_size
    _make_float_case("float-stride-1", 2, 3, 4, 3, 1, 9, seed=6),
    _make_float_case("float-stride-2", 3, 2, 3, 4, 2, 12, seed=7),
]


def buggy_outputs(bug: str, case: Case) -> Iterator[tuple[str, np.ndarray | list]]:
    """(component, value) pairs a submission with ``bug`` returns on ``case``."""
    yield from _buggy_forward(bug, case)
    if "delta" in case.inputs:  # forward-only cases have no backward to get wrong
        yield from _buggy_backward(bug, case)


def _buggy_forward(bug: str, case: Case) -> Iterator[tuple[str, np.ndarray | list]]:
    x, weight, bias, stride = case.args()
    kernel_size, input_size = weight.shape[2], x.shape[2]
    right_size = (input_size - kernel_size) // stride + 1
    right = student_forward(x, weight, bias, stride)
    if bug == "bias_omitted":
        yield "out", student_forward(x, weight, bias, stride, add_bias=False)
    elif bug == "output_size_ceil":
        ceil_size = math.ceil((input_size - kernel_size) / stride) + 1
        yield "out", student_forward(x, weight, bias, stride, positions=ceil_size, pad_last_window=True)
    elif bug == "output_size_too_few":
        yield "out", student_forward(x, weight, bias, stride, positions=right_size - 1)
    elif bug == "output_size_too_many":
        yield "out", student_forward(x, weight, bias, stride, allocated=right_size + 1)
        # The bias added to the whole array after the loop also lands in the extra column.
        no_bias = student_forward(x, weight, bias, stride, allocated=right_size + 1, add_bias=False)
        yield "out", no_bias + bias[None, :, None]
    elif bug == "stride_ignored_forward":
        yield "out", student_forward(x, weight, bias, stride, step=1)
        yield "out", student_forward(x, weight, bias, stride, positions=input_size - kernel_size + 1, step=1)
    elif bug == "transposed":
        yield "out", right.transpose(0, 2, 1)
        yield "out", right.transpose(1, 0, 2)
    elif bug == "integer_truncation":
        yield "out", student_forward(x, weight, bias, stride, dtype=x.dtype)
        yield "out", np.floor(right).astype(np.int64)
    elif bug == "returns_list":
        yield "out", right.tolist()
    elif bug == "bias_added_repeatedly":
        yield "out", student_forward_bias_in_inner_loop(x, weight, bias, stride, innermost=False)
        yield "out", student_forward_bias_in_inner_loop(x, weight, bias, stride, innermost=True)
    elif bug == "bias_wrong_axis":
        no_bias = student_forward(x, weight, bias, stride, add_bias=False)
        if no_bias.shape[2] in (bias.shape[0], 1):  # elsewhere NumPy refuses to broadcast: an error, no value
            yield "out", no_bias + bias
    elif bug == "size_one_axes":
        yield "out", right[None]  # an extra axis in front
        if 1 in right.shape:
            yield "out", np.squeeze(right)
    elif bug == "kernel_flipped":
        yield "out", student_forward(x, weight, bias, stride, flip_kernel=True)
    elif bug == "last_position_skipped":
        short = {"positions": right_size - 1, "allocated": right_size}
        yield "out", student_forward(x, weight, bias, stride, **short)
        # The bias added to the whole array after the loop also lands in the skipped column.
        yield "out", student_forward(x, weight, bias, stride, **short, add_bias=False) + bias[None, :, None]
    elif bug == "returns_inside_loop":
        yield "out", student_forward(x, weight, bias, stride, positions=1, allocated=right_size)
        yield "out", student_forward(x, weight, bias, stride, positions=1, allocated=right_size, add_bias=False)
    elif bug == "reduced_precision":
        with np.errstate(over="ignore"):  # handout case two overflows float16, as it does for a student
            values = [
                student_forward(x, weight, bias, stride, dtype=np.float16),  # output allocated in float16
                student_forward(x.astype(np.float16), weight, bias, stride),  # x converted, float64 maths
                student_forward(  # everything converted: float16 tensordot, float16 output
                    x.astype(np.float16), weight.astype(np.float16), bias.astype(np.float16), stride, dtype=np.float16
                ),
            ]
        for value in values:
            yield "out", value


def _buggy_backward(bug: str, case: Case) -> Iterator[tuple[str, np.ndarray | list]]:
    x, weight, _, stride = case.args()
    delta = case.inputs["delta"]
    dx, grad_weight, _ = student_backward(x, weight, delta, stride)
    if bug == "stride_ignored_backward":
        wrong_dx, wrong_grad_weight, _ = student_backward(x, weight, delta, stride, step=1)
        yield "dx", wrong_dx
        yield "grad_weight", wrong_grad_weight
    elif bug == "dx_overwritten":
        yield "dx", student_backward(x, weight, delta, stride, overwrite_dx=True)[0]
    elif bug == "grad_weight_overwritten":
        yield "grad_weight", student_backward(x, weight, delta, stride, overwrite_grad_weight=True)[1]
    elif bug == "grad_bias_wrong_axes":
        for axes in ((0,), (2,), (0, 1), (1, 2), (), None):
            yield "grad_bias", student_backward(x, weight, delta, stride, bias_axes=axes)[2]
    elif bug == "transposed":
        yield "dx", dx.transpose(0, 2, 1)
        yield "grad_weight", grad_weight.transpose(0, 2, 1)
    elif bug == "returns_list":
        yield "dx", dx.tolist()
    elif bug == "kernel_flipped":
        flipped_dx, flipped_grad_weight, _ = student_backward(x, weight, delta, stride, flip_kernel=True)
        yield "dx", flipped_dx
        yield "grad_weight", flipped_grad_weight
    elif bug == "last_position_skipped":
        skipped_dx, skipped_grad_weight, _ = student_backward(x, weight, delta, stride, positions=delta.shape[2] - 1)
        yield "dx", skipped_dx
        yield "grad_weight", skipped_grad_weight
    elif bug == "returns_inside_loop":
        first_dx, first_grad_weight, _ = student_backward(x, weight, delta, stride, positions=1)
        yield "dx", first_dx
        yield "grad_weight", first_grad_weight
    elif bug == "gradient_averaged":
        batch, positions = delta.shape[0], delta.shape[2]
        yield "dx", dx / batch
        yield "grad_weight", grad_weight / batch
        yield "grad_weight", grad_weight / (batch * positions)
        yield "grad_bias", np.mean(delta, axis=(0, 2))
        yield "grad_bias", np.sum(delta, axis=(0, 2)) / batch
    elif bug == "grad_bias_not_updated":
        yield "grad_bias", np.zeros(weight.shape[0])
    elif bug == "size_one_axes":
        yield "grad_bias", np.sum(delta, axis=(0, 2), keepdims=True)
        yield "grad_bias", np.sum(delta, axis=(0, 2)).reshape(-1, 1)
        yield "dx", dx[:, :, None, :]
    elif bug == "returns_grad_weight":
        yield "dx", grad_weight
    elif bug == "reduced_precision":
        with np.errstate(over="ignore"):
            # Accumulated in float16 arrays, a rounding per position; and from float16 inputs in float64.
            half_dx, half_grad_weight, _ = student_backward(x, weight, delta, stride, dtype=np.float16)
            values = [
                ("dx", half_dx),
                ("grad_weight", half_grad_weight),
                ("grad_weight", student_backward(x.astype(np.float16), weight, delta, stride)[1]),
                ("dx", student_backward(x, weight.astype(np.float16), delta, stride)[0]),
                ("grad_bias", np.sum(delta.astype(np.float16), axis=(0, 2))),
            ]
        yield from values


BUGS = [
    "bias_omitted",
    "output_size_ceil",
    "output_size_too_few",
    "output_size_too_many",
    "stride_ignored_forward",
    "stride_ignored_backward",
    "dx_overwritten",
    "grad_weight_overwritten",
    "grad_bias_wrong_axes",
    "transposed",
    "integer_truncation",
    "returns_list",
    "kernel_flipped",
    "last_position_skipped",
    "returns_inside_loop",
    "gradient_averaged",
    "grad_bias_not_updated",
    "returns_grad_weight",
    "reduced_precision",
    "bias_added_repeatedly",
    "bias_wrong_axis",
    "size_one_axes",
]


def returned(value: object) -> Returned:
    """What the runner reports for a value, as the sandbox would encode it."""
    if isinstance(value, np.ndarray):
        return Returned("ndarray", "numpy.ndarray", value)
    if isinstance(value, list | tuple):
        kind = "list" if isinstance(value, list) else "tuple"
        return Returned(kind, f"builtins.{kind}", np.asarray(value, dtype=np.float64))
    if isinstance(value, bool):
        return Returned("bool", "builtins.bool", scalar=value)
    if isinstance(value, int | np.integer):
        return Returned("int", "builtins.int", scalar=int(value))
    if isinstance(value, float | np.floating):
        return Returned("float", "builtins.float", scalar=float(value))
    return Returned("other", type(value).__name__)


def op_of(component: str) -> str:
    return "forward" if component == "out" else "backward"


def right_value(case: Case, component: str) -> np.ndarray:
    x, weight, bias, stride = case.args()
    if component == "out":
        return conv1d_forward(x, weight, bias, stride)
    index = ("dx", "grad_weight", "grad_bias").index(component)
    return conv1d_backward(x, weight, case.inputs["delta"], stride)[index]


def is_wrong(value: object, right: np.ndarray) -> bool:
    return compare_array(returned(value), right, RTOL, ATOL).verdict != "match"


def hint_for(case: Case, component: str, value: object) -> str | None:
    return likely_cause(op_of(component), component, case.layer, None, case.inputs, returned(value), RTOL, ATOL)


def size_match(sizes: tuple[int, int, int], got: Returned) -> Match | None:
    return diagnose("output_size", "size", None, sizes, {}, got, RTOL, ATOL)


def size_fingerprint(sizes: tuple[int, int, int], got: Returned) -> str | None:
    match = size_match(sizes, got)
    return None if match is None else match.fingerprint


def match_for(case: Case, component: str, value: object) -> Match | None:
    return diagnose(op_of(component), component, case.layer, None, case.inputs, returned(value), RTOL, ATOL)


def fingerprint_for(case: Case, component: str, value: object) -> str | None:
    match = match_for(case, component, value)
    return None if match is None else match.fingerprint


# --- each fingerprint is recognised -----------------------------------------------------------------------


@pytest.mark.parametrize("bug", BUGS)
def test_each_bug_is_named_wherever_it_changes_the_answer(bug: str) -> None:
    seen = 0
    for case in CASES:
        for component, value in buggy_outputs(bug, case):
            if not is_wrong(value, right_value(case, component)):
                continue  # invisible on this case: nothing to explain
            seen += 1
            assert fingerprint_for(case, component, value) == bug, (case.id, component)
            hint = hint_for(case, component, value)
            assert hint is not None and 0 < len(hint) < 400
    assert seen >= 2, f"{bug} changed no answer on any case: the test cases cannot exercise it"


@pytest.mark.parametrize(
    ("bug", "words"),
    [
        ("bias_omitted", ["self.bias", "forward"]),
        ("output_size_ceil", ["rounded up", "get_conv1d_output_size"]),
        ("output_size_too_few", ["one position too few"]),
        ("output_size_too_many", ["one position too many"]),
        ("stride_ignored_forward", ["i * self.stride", "`forward`"]),
        ("stride_ignored_backward", ["i * self.stride", "`backward`"]),
        ("dx_overwritten", ["overlap", "+="]),
        ("grad_weight_overwritten", ["last output position", "+="]),
        ("grad_bias_wrong_axes", ["grad_bias", "batch and position axes"]),
        ("transposed", ["axes are in the order"]),
        ("integer_truncation", ["integer dtype", "float"]),
        ("returns_list", ["np.ndarray", "list"]),
        ("kernel_flipped", ["cross-correlation", "np.convolve"]),
        ("last_position_skipped", ["last output position", "range(output_size)"]),
        ("returns_inside_loop", ["`return` inside the loop"]),
        ("gradient_averaged", ["divided by the batch size", "sums"]),
        ("grad_bias_not_updated", ["still all zeros", "self.grad_bias"]),
        ("returns_grad_weight", ["shaped like the weights", "`dx`"]),
        ("reduced_precision", ["np.float16", "float64"]),
        ("bias_added_repeatedly", ["once per input channel", "outside the loops"]),
        ("bias_wrong_axis", ["last axis", "self.bias[None, :, None]"]),
        ("size_one_axes", ["values are right", "length-one"]),
    ],
)
def test_hint_says_what_the_mistake_is_and_where_to_look(bug: str, words: list[str]) -> None:
    # float16 holds the integer cases exactly; only a square output lets a misaligned bias broadcast.
    case = CASES[5] if bug == "reduced_precision" else CASES[3] if bug == "bias_wrong_axis" else CASES[1]
    component, value = next(buggy_outputs(bug, case))
    hint = hint_for(case, component, value)
    assert hint is not None
    for word in words:
        assert word in hint


def test_transposed_hint_names_the_axis_order_that_came_back() -> None:
    case = CASES[1]
    right = right_value(case, "out")
    assert "(batch, output_size, out_channels)" in (hint_for(case, "out", right.transpose(0, 2, 1)) or "")
    assert "(out_channels, batch, output_size)" in (hint_for(case, "out", right.transpose(1, 0, 2)) or "")


@pytest.mark.parametrize(
    ("axes", "detail"),
    [((0,), "batch axis only"), ((2,), "position axis only"), ((0, 1), "batch and channel axes"), ((), "not summed")],
)
def test_grad_bias_hint_names_the_axes_that_were_summed(axes: tuple[int, ...], detail: str) -> None:
    case = CASES[2]
    x, weight, _, stride = case.args()
    grad_bias = student_backward(x, weight, case.inputs["delta"], stride, bias_axes=axes)[2]
    assert detail in (hint_for(case, "grad_bias", grad_bias) or "")


def test_integer_truncation_with_the_bias_added_after_the_loop_is_recognised() -> None:
    # Integer bias added to the truncated integer array: differs from truncating the sum when the
    # bias moves a value across zero (-0.5 + 1 is truncated to zero, but -0 + 1 is one).
    inputs = {"weight": np.array([[[-0.5]]]), "bias": np.array([1]), "x": np.array([[[1, 3, -2]]])}
    case = Case("bias-crosses-zero", (1, 1, 1, 1), inputs)
    x, weight, bias, stride = case.args()
    value = student_forward(x, weight, bias, stride, add_bias=False, dtype=x.dtype) + bias[None, :, None]
    assert is_wrong(value, right_value(case, "out"))
    assert not is_wrong(value, np.trunc(right_value(case, "out") - 1) + 1)
    assert fingerprint_for(case, "out", value) == "integer_truncation"


def test_grad_bias_summed_to_one_scalar_is_recognised() -> None:
    case = CASES[0]
    total = float(np.sum(case.inputs["delta"]))
    assert fingerprint_for(case, "grad_bias", total) == "grad_bias_wrong_axes"


def test_a_list_holding_a_known_mistake_gets_both_hints() -> None:
    case = CASES[0]
    x, weight, bias, stride = case.args()
    value = student_forward(x, weight, bias, stride, add_bias=False).tolist()
    hint = hint_for(case, "out", value) or ""
    assert fingerprint_for(case, "out", value) == "bias_omitted"
    assert "self.bias" in hint and "not a list" in hint


# --- values more than one mistake gives -------------------------------------------------------------------


def test_grad_weight_reset_inside_the_loop_is_told_how_to_fix_that() -> None:
    # `+=` with a reset to zeros inside the loop gives the values of `=`; "use +=" alone would not fix it.
    case = CASES[1]
    x, weight, _, stride = case.args()
    delta = case.inputs["delta"]
    reset = student_backward(x, weight, delta, stride, zero_grad_weight_in_loop=True)[1]
    assigned = student_backward(x, weight, delta, stride, overwrite_grad_weight=True)[1]
    assert np.array_equal(reset, assigned) and is_wrong(reset, right_value(case, "grad_weight"))
    match = match_for(case, "grad_weight", reset)
    assert match is not None and match.fingerprint == "grad_weight_overwritten"
    assert set(match.causes) == {"grad_weight_assigned_in_loop", "grad_weight_zeroed_in_loop"}
    for cause in match.causes:
        assert CAUSE_FIXES[cause] in match.hint


@pytest.mark.parametrize("offset_major", [False, True], ids=["window-major", "offset-major"])
@pytest.mark.parametrize("case", [CASES[0], CASES[1], CASES[4]], ids=lambda c: c.id)
def test_fancy_indexed_dx_is_told_about_np_add_at(case: Case, offset_major: bool) -> None:
    x, weight, _, stride = case.args()
    delta = case.inputs["delta"]
    dx = student_dx_fancy_indexed(weight, delta, stride, x.shape[2], offset_major=offset_major)
    assert is_wrong(dx, right_value(case, "dx"))
    match = match_for(case, "dx", dx)
    assert match is not None and match.fingerprint == "dx_overwritten"
    assert "dx_fancy_index_add" in match.causes and "dx_assigned_in_loop" in match.causes
    assert CAUSE_FIXES["dx_fancy_index_add"] in match.hint and "np.add.at" in match.hint
    # The fix the hint names does repair it.
    repaired = student_dx_fancy_indexed(weight, delta, stride, x.shape[2], offset_major=offset_major, add_at=True)
    assert not is_wrong(repaired, right_value(case, "dx"))


def test_two_different_mistakes_with_the_same_values_are_both_named() -> None:
    # With two output positions, "the last one skipped" and "returned after the first" are the same values.
    case = _make_case("two-positions", 2, 3, 4, 3, 1, 4, seed=8)
    x, weight, bias, stride = case.args()
    out = student_forward(x, weight, bias, stride, positions=1, allocated=2)
    match = match_for(case, "out", out)
    assert match is not None and match.fingerprint == "last_position_skipped"
    assert match.causes == ("last_position_skipped", "returns_inside_loop")
    assert "range(output_size)" in match.hint and "`return` inside the loop" in match.hint
    assert not NUMBER.findall(match.hint)


def test_single_causes_are_listed_as_their_own_fingerprint() -> None:
    case = CASES[0]
    x, weight, bias, stride = case.args()
    match = match_for(case, "out", student_forward(x, weight, bias, stride, add_bias=False))
    assert match is not None and match.causes == ("bias_omitted",)


# --- more single causes -----------------------------------------------------------------------------------


def test_anything_shaped_like_the_weights_returned_for_dx_is_named() -> None:
    case = CASES[1]
    weight = case.inputs["weight"]
    assert fingerprint_for(case, "dx", np.asarray(weight, dtype=np.float64)) == "returns_grad_weight"
    assert fingerprint_for(case, "dx", np.zeros(weight.shape)) == "returns_grad_weight"


def test_grad_weight_returned_where_its_shape_is_the_input_shape_is_named_by_its_values() -> None:
    # batch == out_channels and input_size == kernel_size: dx and grad_weight have the same shape.
    case = _make_case("weight-shaped-input", 2, 3, 2, 5, 1, 5, seed=9)
    x, weight, _, stride = case.args()
    grad_weight = student_backward(x, weight, case.inputs["delta"], stride)[1]
    assert grad_weight.shape == x.shape
    assert fingerprint_for(case, "dx", grad_weight) == "returns_grad_weight"
    garbage = np.random.default_rng(0).normal(size=x.shape)
    assert fingerprint_for(case, "dx", garbage) is None  # the shape alone says nothing here


def test_gradient_averaged_hint_says_what_it_was_divided_by() -> None:
    case = CASES[1]
    delta = case.inputs["delta"]
    assert "divided by the batch size" in (hint_for(case, "grad_bias", delta.sum(axis=(0, 2)) / 2) or "")
    assert "a mean over both" in (hint_for(case, "grad_bias", delta.mean(axis=(0, 2))) or "")
    assert "number of output positions" in (hint_for(case, "grad_bias", delta.sum(axis=0).mean(axis=1)) or "")


# --- reduced precision ------------------------------------------------------------------------------------


def test_float32_is_named_where_it_loses_what_float64_keeps() -> None:
    # Large inputs, small differences: float32 drops digits of x that decide the answer.
    rng = np.random.default_rng(10)
    inputs = {
        "weight": np.array([[[1.0, -1.0]]]),
        "bias": np.array([0.0]),
        "x": 1e4 + rng.normal(size=(2, 1, 9)) * 1e-2,
    }
    case = Case("cancellation", (1, 1, 2, 1), inputs)
    x, weight, bias, stride = case.args()
    value = student_forward(x.astype(np.float32), weight, bias, stride)
    assert is_wrong(value, right_value(case, "out"))
    match = match_for(case, "out", value)
    assert match is not None and match.fingerprint == "reduced_precision"
    assert "`np.float32`" in match.hint and "float16" not in match.hint


def test_float16_overflow_to_inf_is_named() -> None:
    layer_case = build_cases(20261124).forward[1]  # handout case two: outputs past float16's range
    case = Case(layer_case.name, layer_case.layer, layer_case.inputs)
    x, weight, bias, stride = case.args()
    with np.errstate(over="ignore"):
        value = student_forward(x, weight, bias, stride, dtype=np.float16)
    assert np.isinf(value).any()
    assert fingerprint_for(case, "out", value) == "reduced_precision"


def test_precision_is_not_blamed_where_it_changes_nothing() -> None:
    # Integer inputs with quarter weights: float16 holds every input and output of this case exactly, so
    # a wrong float16 array is wrong for another reason.
    case = CASES[0]
    right = right_value(case, "out")
    assert np.array_equal(right.astype(np.float16), right)
    assert fingerprint_for(case, "out", (right + 1e-3).astype(np.float16)) is None


def test_precision_is_not_blamed_on_the_dtype_the_inputs_came_in() -> None:
    # float32 inputs computed on in float32: nothing was converted, so "converted to float32" would be false.
    rng = np.random.default_rng(11)
    inputs = {
        "weight": np.array([[[0.1, -0.1]]], dtype=np.float32),
        "bias": np.zeros(1, dtype=np.float32),
        "x": (1e4 + rng.normal(size=(2, 1, 9))).astype(np.float32),
    }
    case = Case("float32-given", (1, 1, 2, 1), inputs)
    x, weight, bias, _ = case.args()
    window = np.lib.stride_tricks.sliding_window_view(x, 2, axis=2)
    value = np.einsum("bcok,fck->bfo", window, weight) + bias[None, :, None]  # stays float32
    assert value.dtype == np.float32 and is_wrong(value, right_value(case, "out"))
    assert fingerprint_for(case, "out", value) is None


@pytest.mark.parametrize("component", ["out", "dx", "grad_weight", "grad_bias"])
def test_a_value_off_by_more_than_rounding_is_not_called_reduced_precision(component: str) -> None:
    case = CASES[4]
    right = right_value(case, component)
    for value in (right * (1 + 1e-2), right + 1e-2):
        assert fingerprint_for(case, component, value) is None
    # An array that is float16 itself may have added up in float16 in any order, which can cost a percent
    # or so where terms cancel; a tenth is past anything rounding does.
    assert fingerprint_for(case, component, (right * (1 + 1e-1)).astype(np.float16)) is None


# --- no false alarms --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("component", ["out", "dx", "grad_weight", "grad_bias"])
def test_right_answer_and_garbage_get_no_hint(case: Case, component: str) -> None:
    right = right_value(case, component)
    rng = np.random.default_rng(0)
    assert hint_for(case, component, right) is None
    assert hint_for(case, component, rng.normal(size=right.shape)) is None
    assert hint_for(case, component, right + rng.normal(size=right.shape)) is None  # close, but not a pattern
    assert hint_for(case, component, np.full(right.shape, np.nan)) is None
    assert hint_for(case, component, np.zeros((1, 2, 3, 4))) is None


def test_bug_invisible_on_a_case_is_never_blamed() -> None:
    # With stride one, "stride ignored" gives the right answer, so a wrong answer is not blamed on it.
    case = CASES[0]
    x, weight, bias, stride = case.args()
    wrong = student_forward(x, weight, bias, stride) + 1
    assert fingerprint_for(case, "out", wrong) is None


@pytest.mark.parametrize(
    ("layer", "inputs"),
    [
        (None, {}),
        ((3, 4, 3, 2), {}),
        ((3, 4, 3, 2), {"x": np.zeros((2, 3)), "weight": np.zeros((4, 3, 3)), "bias": np.zeros(4)}),
        ((3, 4, 3, 2), {"x": np.zeros((2, 3, 2)), "weight": np.zeros((4, 3, 3)), "bias": np.zeros(4)}),
        ((3, 4, 3, 0), {"x": np.zeros((2, 3, 9)), "weight": np.zeros((4, 3, 3)), "bias": np.zeros(4)}),
        ((3, 4, 3, 1), {"x": np.zeros((2, 3, 9)), "weight": np.zeros((4, 2, 3)), "bias": np.zeros(4)}),
    ],
    ids=["no-layer", "no-inputs", "x-two-dimensional", "kernel-longer-than-input", "stride-zero", "channel-mismatch"],
)
@pytest.mark.parametrize("component", ["out", "dx", "grad_weight", "grad_bias"])
def test_odd_inputs_give_no_hint_and_never_raise(
    layer: tuple[int, int, int, int] | None, inputs: dict[str, np.ndarray], component: str
) -> None:
    for value in (np.zeros((2, 4, 4)), np.zeros(()), np.zeros((0,)), [1.0, 2.0]):
        assert likely_cause(op_of(component), component, layer, None, inputs, returned(value), RTOL, ATOL) is None


@pytest.mark.parametrize(
    "value",
    [
        Returned("none", "builtins.NoneType"),
        Returned("too_large", "numpy.ndarray", note="over the limit"),
        Returned("other", "builtins.str"),
        Returned("list", "builtins.list"),
    ],
    ids=["none", "too-large", "string", "ragged-list"],
)
def test_values_without_an_array_give_no_hint(value: Returned) -> None:
    case = CASES[1]
    assert likely_cause("forward", "out", case.layer, None, case.inputs, value, RTOL, ATOL) is None


def test_empty_output_of_a_single_position_layer_is_one_position_too_few() -> None:
    # Kernel as long as the input: forgetting the `+ 1` leaves an empty output (handout case 2).
    case = _make_case("kernel-equals-input", 3, 3, 5, 8, 1, 8, seed=5)
    assert fingerprint_for(case, "out", np.zeros((3, 5, 0))) == "output_size_too_few"


# --- output size ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sizes", "value", "fingerprint"),
    [
        ((10, 3, 2), 5, "output_size_ceil"),
        ((100, 5, 7), 15, "output_size_ceil"),
        ((10, 3, 2), 4.5, "output_size_true_division"),
        ((4, 2, 1), 2, "output_size_too_few"),
        ((6, 6, 4), 0, "output_size_too_few"),
        ((9, 5, 2), 4, "output_size_too_many"),  # stride divides: rounding up changes nothing here
        ((13, 2, 3), 12, "stride_ignored_size"),
        ((10, 3, 2), 4.0, None),  # right, as a float: not a mistake this module explains
        ((10, 3, 2), 9, None),
        ((10, 3, 2), True, None),
        ((10, 3, 2), float("nan"), None),
        ((3, 5, 1), 0, None),  # impossible geometry: no right answer to compare with
    ],
    ids=lambda v: str(v),
)
def test_output_size_mistakes_are_named(sizes: tuple[int, int, int], value: float, fingerprint: str | None) -> None:
    assert size_fingerprint(sizes, returned(value)) == fingerprint
    hint = likely_cause("output_size", "size", None, sizes, {}, returned(value), RTOL, ATOL)
    assert (hint is None) == (fingerprint is None)


# --- nothing leaks ----------------------------------------------------------------------------------------

NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?")
"""A number standing on its own: digits inside identifiers such as ``conv1d`` do not count."""


def test_no_hint_text_contains_a_number() -> None:
    texts = list(hint_texts())
    assert len(texts) > 20
    for text in texts:
        assert not NUMBER.findall(text), text


def test_no_hint_on_the_handout_cases_contains_a_number_from_the_expected_output() -> None:
    cases = build_cases(20261124)
    checked = 0
    for layer_case in cases.forward + cases.backward:
        case = Case(layer_case.name, layer_case.layer, layer_case.inputs)
        components = ["out"] if layer_case.delta is None else ["out", "dx", "grad_weight", "grad_bias"]
        expected_numbers = {f"{v:g}" for c in components for v in np.unique(np.abs(right_value(case, c))).tolist()}
        for bug in BUGS:
            for component, value in buggy_outputs(bug, case):
                hint = hint_for(case, component, value)
                if hint is not None:
                    checked += 1
                    leaked = {f"{abs(float(n)):g}" for n in NUMBER.findall(hint)} & expected_numbers
                    assert not leaked, (bug, hint)
    assert checked > 50


# --- the sample submissions -------------------------------------------------------------------------------

SAMPLE_BUGS = {
    "bug_no_bias": {"bias_omitted"},
    "bug_output_size_ceil": {"output_size_ceil"},
    "bug_output_size_off_by_one": {"output_size_too_few"},
    "bug_stride_ignored_forward": {"stride_ignored_forward"},
    "bug_stride_ignored_backward": {"stride_ignored_backward"},
    "bug_dx_overwritten": {"dx_overwritten"},
    "bug_grad_weight_overwritten": {"grad_weight_overwritten"},
    "bug_grad_bias_wrong_axes": {"grad_bias_wrong_axes"},
    "bug_transposed_output": {"transposed"},
    "bug_integer_truncation": {"integer_truncation"},
    "bug_returns_list": {"returns_list"},
    "bug_grad_weight_zeroed_in_loop": {"grad_weight_overwritten"},
    "bug_dx_fancy_index": {"dx_overwritten"},
    "bug_kernel_flipped": {"kernel_flipped"},
    "bug_gradients_averaged": {"gradient_averaged"},
    "bug_dx_divided_by_batch": {"gradient_averaged"},
    "bug_grad_bias_not_updated": {"grad_bias_not_updated"},
    "bug_returns_grad_weight": {"returns_grad_weight"},
    "bug_last_position_skipped": {"last_position_skipped"},
    "bug_returns_inside_loop": {"returns_inside_loop"},
    "bug_float16": {"reduced_precision"},
}

SAMPLE_CAUSES = {
    "bug_grad_weight_zeroed_in_loop": "grad_weight_zeroed_in_loop",
    "bug_dx_fancy_index": "dx_fancy_index_add",
}
"""Samples whose values other mistakes give too: the cause each one has, which its hint must name."""


def load_sample(name: str) -> ModuleType:
    """Import one of our own sample submissions in this process: they are trusted code."""
    spec = importlib.util.spec_from_file_location(f"sample_{name}", SAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class SampleRun:
    """Which checks of each question a sample passes, and what its wrong values were diagnosed as."""

    passed: dict[str, list[bool]]
    matches: list[tuple[str, Match | None]]

    @property
    def fingerprints(self) -> list[tuple[str, str | None]]:
        return [(label, None if match is None else match.fingerprint) for label, match in self.matches]

    def grade(self, question: str) -> str:
        results = self.passed[question]
        return "all" if all(results) else "0" if not any(results) else "partial"


def run_sample(module: ModuleType) -> SampleRun:
    cases = build_cases(20261124)
    run = SampleRun({"q1": [], "q2": []}, [])

    def record(question: str, label: str, ok: bool, find: Callable[[], Match | None]) -> None:
        run.passed[question].append(ok)
        if not ok:
            run.matches.append((label, find()))

    for size_case in cases.output_size:
        got = returned(module.get_conv1d_output_size(*size_case.args))
        record(
            "q1",
            f"size{size_case.args}",
            scalar_value(got) == size_case.expected,
            lambda got=got, size_case=size_case: size_match(size_case.args, got),
        )
    for layer_case in cases.forward + cases.backward:
        layer = module.Conv1d(*layer_case.layer)
        layer.weight, layer.bias = layer_case.weight, layer_case.bias
        with np.errstate(over="ignore"):  # the float16 sample overflows on handout case two, as it should
            out = layer.forward(layer_case.x)
        case = Case(layer_case.name, layer_case.layer, layer_case.inputs)
        if layer_case in cases.forward:
            record(
                "q1",
                f"forward {case.id}",
                not is_wrong(out, layer_case.expected_forward()),
                lambda case=case, out=out: match_for(case, "out", out),
            )
        if layer_case in cases.backward:
            dx = layer.backward(layer_case.delta)
            values = {"dx": dx, "grad_weight": layer.grad_weight, "grad_bias": layer.grad_bias}
            for component, value in values.items():
                record(
                    "q2",
                    f"{component} {case.id}",
                    not is_wrong(value, layer_case.expected_backward()[component]),
                    lambda case=case, component=component, value=value: match_for(case, component, value),
                )
    return run


def test_every_sample_bug_is_listed_here() -> None:
    assert {p.stem for p in SAMPLES.glob("bug_*.py")} == set(SAMPLE_BUGS)


@pytest.mark.parametrize("name", sorted(SAMPLE_BUGS))
def test_sample_bug_gets_its_hint_wherever_it_is_wrong(name: str) -> None:
    module = load_sample(name)
    run = run_sample(module)
    assert run.fingerprints, f"{name} got everything right"
    for label, fingerprint in run.fingerprints:
        assert fingerprint in SAMPLE_BUGS[name], (label, fingerprint)
    claimed = re.search(r"expected: q1=(\S+) q2=(\S+)", module.__doc__ or "")
    assert claimed is not None
    assert (run.grade("q1"), run.grade("q2")) == claimed.groups()


@pytest.mark.parametrize("name", sorted(SAMPLE_CAUSES))
def test_sample_with_a_shared_symptom_is_told_its_own_fix(name: str) -> None:
    cause = SAMPLE_CAUSES[name]
    run = run_sample(load_sample(name))
    assert run.matches
    for label, match in run.matches:
        assert match is not None and cause in match.causes, (label, match)
        assert CAUSE_FIXES[cause] in match.hint, label
