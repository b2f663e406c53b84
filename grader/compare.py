"""Compare what a submission returned with what the reference expects.

Everything here works on plain arrays the grader decoded itself; nothing the submission's process said
about its own values is believed beyond the bytes of the array. Any value a runner can hand over is
scored, never raised on: :func:`usable` keeps only what the scorer (and the hints) can compute with, and
NumPy's floating-point warnings are silenced where a submission's values can trigger them (an overflow
in a student's array is a wrong answer, not something for the grader's console).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from grader.models import Comparison
from grader.runner import Returned, ValueKind

_ARRAY_KINDS = ("ndarray", "ndarray_subclass")
"""Kinds that pass the course's ``isinstance(answer, np.ndarray)`` check."""

_KINDS_WITH_ARRAYS = (*_ARRAY_KINDS, "list", "tuple")
"""Kinds for which the runner may bring an array back (a list or tuple converted with ``np.asarray``)."""

_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1
"""What an int64 or a uint64 holds: all the harness sends for an ``int`` (it notes anything larger), and
what ``np.asarray`` turns into a numeric array rather than an object one."""


def usable_scalar(kind: ValueKind, scalar: object) -> bool | int | float | None:
    """The scalar only when it has the type its kind promises and every use the scorer makes of it works
    (``float()``, ``math.isfinite``, ``np.asarray`` to a numeric dtype, ``repr``); None otherwise.

    Never raises: an ``int`` beyond 64 bits, or a ``float`` kind carrying an int beyond float range (JSON
    allows ``10**400``), is dropped rather than raising OverflowError later. NaN and infinities stay: they
    are floats a submission can return, and the scorer names them.
    """
    if kind == "bool":
        return scalar if type(scalar) is bool else None
    if kind == "int":
        return scalar if type(scalar) is int and _INT_MIN <= scalar <= _INT_MAX else None
    if kind == "float":
        if type(scalar) is float:
            return scalar
        if type(scalar) is int:
            try:
                return float(scalar)
            except OverflowError:
                return None
    return None


def usable(returned: Returned) -> Returned:
    """The value as the scorer may use it: a plain numeric array only where the kind brings one, a scalar
    only as :func:`usable_scalar` allows. The sandbox runner already sends nothing else; this holds for
    any runner, so no odd value reaches the comparisons or the hints as an exception waiting to happen."""
    array = returned.array
    if array is not None and not (
        returned.kind in _KINDS_WITH_ARRAYS
        and type(array) is np.ndarray
        and array.dtype.kind in "biuf"
        and array.dtype.fields is None
    ):
        array = None
    scalar = usable_scalar(returned.kind, returned.scalar)
    if array is returned.array and scalar is returned.scalar:
        return returned
    note = returned.note
    if array is None and returned.array is not None:
        note = note or "the grader could not use the array that came back"
    return dataclasses.replace(returned, array=array, scalar=scalar, note=note)


_DTYPE_NAMES: dict[np.dtype, str] = {}


def _dtype_name(dtype: np.dtype) -> str:
    # str(dtype) is surprisingly slow and a grade asks for it a hundred times over a handful of dtypes.
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = str(dtype)
    return name


def compare_array(returned: Returned, expected: np.ndarray, rtol: float, atol: float) -> Comparison:
    """Type, then shape, then values with ``np.allclose`` semantics; NaN and inf never match a number."""
    returned = usable(returned)
    common: dict[str, Any] = {
        "expected_shape": expected.shape,
        "expected_dtype": _dtype_name(expected.dtype),
        "actual_type": returned.type_name,
    }
    actual = returned.array
    if actual is not None:
        common |= {"actual_shape": actual.shape, "actual_dtype": _dtype_name(actual.dtype)}
    if returned.kind not in _ARRAY_KINDS or actual is None:
        return Comparison(verdict="type", **common)
    if actual.shape != expected.shape:
        return Comparison(verdict="shape", **common)
    with np.errstate(all="ignore"):  # huge values overflow on the way to float64 and in the differences
        # Equal values are within any tolerance; the hidden cases are exact, so this is the usual path.
        if (actual == expected).all():
            return Comparison(verdict="match", total=int(expected.size), **common)
        return _compare_values(actual, expected, rtol, atol, common)


def _compare_values(
    actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float, common: dict[str, Any]
) -> Comparison:
    # Called under compare_array's np.errstate: a NaN, an infinity or 1e308 in ``actual`` warns nowhere.
    actual = actual.astype(np.float64)
    close = np.isclose(actual, expected, rtol=rtol, atol=atol)
    total = int(expected.size)
    mismatched = int(total - np.count_nonzero(close))
    if mismatched == 0:
        return Comparison(verdict="match", total=total, **common)

    finite = np.isfinite(actual)
    nan_count = int(np.count_nonzero(np.isnan(actual)))
    inf_count = int(np.count_nonzero(np.isinf(actual)))
    abs_error = np.where(finite, np.abs(actual - expected), -1.0)
    rel_error = np.where(finite & (expected != 0), abs_error / np.abs(expected), -1.0)
    if finite.any():
        flat = int(np.argmax(np.where(close, -1.0, abs_error)))
        max_abs, max_rel = float(abs_error.max()), float(rel_error.max())
    else:
        flat, max_abs, max_rel = 0, None, None
    if not finite.flat[flat] or close.flat[flat]:
        flat = int(np.flatnonzero(~close)[0])  # every mismatch is NaN/inf: point at the first one
    index = tuple(int(i) for i in np.unravel_index(flat, expected.shape))
    return Comparison(
        verdict="values",
        mismatched=mismatched,
        total=total,
        max_abs_error=max_abs,
        max_rel_error=max_rel if max_rel is not None and max_rel >= 0 else None,
        worst_index=index,
        worst_expected=float(expected[index]),
        worst_actual=float(actual[index]),
        nan_count=nan_count,
        inf_count=inf_count,
        **common,
    )


def scalar_value(returned: Returned) -> int | None:
    """The integer a ``get_conv1d_output_size`` call returned, or None if it was not a whole number.

    Python and NumPy integers count, and so do integral floats (``np.floor(...) + 1`` is a correct
    formula); booleans, fractional floats and containers do not.
    """
    value = usable_scalar(returned.kind, returned.scalar)
    if returned.kind == "int" and type(value) is int:
        return value
    if returned.kind == "float" and type(value) is float and value.is_integer():
        return int(value)
    return None


def describe(comparison: Comparison, name: str, *, visible: bool) -> str:
    """What differs, for the student. Hidden tests get shapes and counts, never expected numbers."""
    c = comparison
    if c.verdict == "match":
        return f"{name} is right."
    if c.verdict == "type":
        got = c.actual_type or "nothing"
        extra = f" (it converts to shape {c.actual_shape})" if c.actual_shape is not None else ""
        return f"{name} should be a numpy.ndarray but is a {got}{extra}."
    if c.verdict == "shape":
        return f"{name} has shape {c.actual_shape} but should have shape {c.expected_shape}."
    share = c.mismatched / c.total if c.total else 0.0
    parts = [
        f"{name} has the right shape {c.expected_shape} but {c.mismatched} of {c.total} values "
        f"({share:.0%}) are wrong"
    ]
    if c.nan_count or c.inf_count:
        parts.append(f"; it holds {c.nan_count} NaN and {c.inf_count} infinite values")
    # Error sizes are shown for visible tests only: absolute and relative error together give away
    # the magnitude of an expected value.
    if visible and c.max_abs_error is not None:
        rel = f", largest relative error {c.max_rel_error:.3g}" if c.max_rel_error is not None else ""
        parts.append(f"; largest absolute error {c.max_abs_error:.6g}{rel}")
    parts.append(".")
    if visible and c.worst_index is not None:
        parts.append(
            f" Worst at index {list(c.worst_index)}: expected {c.worst_expected:.6g}, got {c.worst_actual:.6g}."
        )
    if c.actual_dtype is not None and c.actual_dtype.startswith(("int", "uint")):
        parts.append(f" Your array has integer dtype {c.actual_dtype}.")
    return "".join(parts)
