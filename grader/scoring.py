"""Turn what the runner brought back into scored tests and questions: the parts every assignment shares.

Every comparison happens here, in the grader's process, against values a pack's reference computed. A pack
says what each test checks as a :class:`ValueCheck` (which outcome, which value, the expected array, the
points) and builds its questions with :func:`question`; points are kept to 4 decimals and split so that
tests add up exactly (:func:`apportion`, :func:`even`, :func:`fraction`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from grader.compare import compare_array, describe, usable
from grader.config import Config, Visibility
from grader.models import QuestionResult, TestResult, TestStatus
from grader.runner import CallOutcome, Failure, Returned


class Diagnosis(Protocol):
    """A likely cause a wrong value matched (a pack's hints make these)."""

    @property
    def fingerprint(self) -> str: ...

    @property
    def hint(self) -> str: ...


Diagnose = Callable[[Returned, float, float], "Diagnosis | None"]
"""Given the wrong value (made usable) and the tolerances, the likely cause, if a known one matches."""

_GRADER_LABELS = {"import": "importing nn.py", "runner": "the grader"}


@dataclass(frozen=True)
class ValueCheck:
    """One scored test: a value a call reported, compared with the expected one."""

    name: str
    """The test's stable name, e.g. ``test_conv1d_forward_1`` or ``hidden_backward_float32 (dx)``."""
    question: str
    key: str
    """The call (or stage) whose outcome holds the value."""
    value: str
    """The value's name in that outcome, e.g. ``out``."""
    expected: np.ndarray
    points: float
    visible: bool
    """Whether the case is the handout's (its numbers may be shown)."""
    label: str
    """What the value is, for students: ``The output of forward``."""
    context: str = ""
    """For a hidden case: its purpose and parameters, shown with a wrong answer (never with a test not run)."""
    when_missing: str = ""
    """Appended when nothing came back, e.g. `` Set `self.grad_weight` in backward.``"""
    diagnose: Diagnose | None = None


_INTEGER_CAST = re.compile(r"Cannot cast ufunc '\w+' output from dtype\('float\d*'\) to dtype\('u?int\d*'\)")
"""NumPy refusing ``int_array += float_array``: its words, whatever the exception class is called."""

INTEGER_ARRAY_UPDATED = (
    "integer_array_updated_in_place",
    "An in-place operation (`+=`, `-=`) tried to store fractional values in an integer array: the array was "
    "probably made with the input's integer dtype (`np.zeros_like(x)`, `dtype=x.dtype`) or is an integer "
    "array you were given. Allocate it as float (`np.zeros(x.shape)`), or assign a new array instead of "
    "updating one you were given in place.",
)
"""The fingerprint and hint of a NumPy casting error that a float allocation fixes."""


_BROADCAST = re.compile(r"operands could not be broadcast together with shapes ((?:\([\d,]*\) ?)+)")
_SHAPE = re.compile(r"\(([\d,]*)\)")

VECTOR_ON_LAST_AXIS = (
    "vector_on_last_axis",
    "A one-dimensional array (such as `self.bias`) was combined with a three-dimensional one whose middle axis "
    "has its length: NumPy lines a vector up with the last axis, not the middle one. Index it as "
    "`v[None, :, None]` to apply it along the middle (channels) axis.",
)
"""The fingerprint and hint of a broadcasting error that a vector meant for the channels axis makes."""


def _vector_meant_for_the_middle_axis(message: str) -> bool:
    found = _BROADCAST.search(message)
    if found is None:
        return False
    shapes = [tuple(int(n) for n in dims.split(",") if n) for dims in _SHAPE.findall(found.group(1))]
    vectors = {shape[0] for shape in shapes if len(shape) == 1}
    return any(len(shape) == 3 and shape[1] in vectors and shape[2] != shape[1] for shape in shapes)


def failure_hint(failure: Failure | None) -> tuple[str, str] | None:
    """The fingerprint and hint of a known exception's likely cause, or None. NumPy's own words are about
    casting rules and broadcast shapes, not about the line that made the integer array or the vector."""
    if failure is None:
        return None
    if _INTEGER_CAST.search(failure.message):
        return INTEGER_ARRAY_UPDATED
    if _vector_meant_for_the_middle_axis(failure.message):
        return VECTOR_ON_LAST_AXIS
    return None


def failure_text(failure: Failure, labels: Callable[[str], str] = lambda where: where) -> str:
    """One paragraph on an exception the submission raised; ``labels`` names its ``where`` for students."""
    what = _GRADER_LABELS.get(failure.where) or labels(failure.where)
    line = f" (nn.py line {failure.line})" if failure.line else ""
    if failure.type == "NotImplementedError":
        return (
            f"{what} still raises NotImplementedError{line}: the starter code is still in place. "
            "Replace the `raise NotImplementedError` with your implementation."
        )
    message = f": {failure.message}" if failure.message else ""
    known = failure_hint(failure)
    cause = f"\nLikely cause: {known[1]}" if known else ""
    return f"{what} raised {failure.type}{line}{message}{cause}"


_TIMEOUT_ADVICE = {
    "CPU time": (
        "The limit is many times what the slowest correct style needs on this case: look for a loop that never "
        "ends, or one whose bound is far too large."
    ),
    "idle": "Correct code never waits: remove sleeps, input() and waiting on other processes or threads.",
    "printed more than": "Remove the prints inside your loops.",
}

STATUS: dict[str, TestStatus] = {"error": "error", "timeout": "timeout", "skipped": "timeout", "crashed": "crashed"}
"""The test status a call's status gives when the call did not return."""


class Scorer:
    """Scores the checks of one grading against the outcomes of its calls."""

    def __init__(
        self,
        config: Config,
        outcomes: Mapping[str, CallOutcome],
        not_run: str,
        labels: Callable[[str], str] = lambda where: where,
        *,
        diagnose: bool = True,
    ) -> None:
        self.config = config
        self.outcomes = outcomes
        self.not_run = not_run
        self.labels = labels
        self.diagnose = diagnose
        self.rtol = config.tolerance.rtol
        self.atol = config.tolerance.atol

    def outcome(self, key: str) -> CallOutcome:
        """The call's outcome; a call the runner never got to counts as an error with the reason why."""
        return self.outcomes.get(key) or CallOutcome(key=key, status="error", detail=f"Not run: {self.not_run}")

    def visibility(self, name: str, visible: bool) -> Visibility:
        overrides = self.config.visibility.overrides
        if name in overrides:
            return overrides[name]
        return "visible" if visible else self.config.visibility.hidden

    def status_text(self, outcome: CallOutcome) -> str:
        """Why a call did not return, for students."""
        if outcome.status == "timeout":
            detail = outcome.detail or "it ran past its limit"
            advice = next((text for words, text in _TIMEOUT_ADVICE.items() if words in detail), "")
            return f"Stopped: {detail}. {advice}".rstrip()
        if outcome.status == "crashed":
            return (
                f"The process running your code died: {outcome.detail or 'no reason given'}. "
                "This test scored zero; the other tests ran in a fresh process."
            )
        if outcome.status == "skipped":
            return f"Not run: {outcome.detail or 'the submission used up its time budget on earlier tests'}."
        if outcome.failure is None:
            return outcome.detail
        return failure_text(outcome.failure, self.labels)

    def value_test(self, check: ValueCheck) -> TestResult:
        """The test a :class:`ValueCheck` describes."""
        visibility = self.visibility(check.name, check.visible)
        outcome = self.outcome(check.key)
        # A hidden case's purpose helps with a wrong answer; for a test that never ran it is only noise.
        context = "" if check.visible or check.key not in self.outcomes or not check.context else check.context
        common: dict[str, Any] = {
            "name": check.name,
            "question": check.question,
            "visibility": visibility,
            "max_score": check.points,
            "seconds": outcome.seconds,
            "output": outcome.output,
        }
        if outcome.status != "ok":
            feedback = self.status_text(outcome) + context
            known = failure_hint(outcome.failure) if outcome.status == "error" else None
            return TestResult(
                status=STATUS[outcome.status],
                score=0.0,
                feedback=feedback,
                hint=known[1] if known else None,
                mistake=known[0] if known else None,
                **common,
            )
        returned = usable(outcome.values.get(check.value, Returned(kind="none", type_name="builtins.NoneType")))
        comparison = compare_array(returned, check.expected, self.rtol, self.atol)
        if comparison.verdict == "match":
            right = f"{check.label} is right."
            return TestResult(status="passed", score=check.points, feedback=right, diagnostics=comparison, **common)
        match = check.diagnose(returned, self.rtol, self.atol) if self.diagnose and check.diagnose else None
        hint = match.hint if match else None
        feedback = describe(comparison, check.label, visible=visibility == "visible", note=returned.note)
        if returned.kind == "none" and check.when_missing:
            feedback += check.when_missing
        if hint:
            feedback += f"\nLikely cause: {hint}"
        return TestResult(
            status="failed",
            score=0.0,
            feedback=feedback + context,
            hint=hint,
            mistake=match.fingerprint if match else None,
            diagnostics=comparison,
            **common,
        )


# Points are kept to 4 decimals, counted here as whole ten-thousandths ("units"), because Gradescope and
# every gradebook add the per-test points up: a test worth 45/13 written as 3.4615 makes thirteen tests sum
# to 44.9995, and written with 16 digits it sums to 45 only to within float error. Splitting units instead
# gives each test a short decimal and every question exactly its points.
_UNIT = Decimal("0.0001")


def units(points: float) -> int:
    """``points`` in ten-thousandths; a rubric value with more decimals than that is rounded to them."""
    return int(Decimal(str(points)).quantize(_UNIT, rounding=ROUND_HALF_UP).scaleb(4))


def points_of(units: int) -> float:
    """Ten-thousandths back to points: the float whose repr is the exact 4-decimal value."""
    return float(Decimal(units).scaleb(-4))


def apportion(points: float, weights: Sequence[float]) -> list[float]:
    """``points`` split in proportion to ``weights``, each part to 4 decimals, the parts summing exactly to
    ``points`` (to 4 decimals).

    Largest-remainder method: every part gets the floor of its exact share in units, and the units left over
    go one each to the parts whose shares lost most to that floor (the earlier part on a tie), so no part is
    ever more than one unit from its exact share. All-zero weights (a component weighted 0) give zeros.
    """
    total = units(points)
    scale = sum(Decimal(str(w)) for w in weights)
    if not weights or scale == 0:
        return [0.0] * len(weights)
    exact = [total * Decimal(str(w)) / scale for w in weights]
    parts = [int(share) for share in exact]  # shares are never negative: int() is the floor
    by_remainder = sorted(range(len(exact)), key=lambda i: (parts[i] - exact[i], i))
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return [points_of(u) for u in parts]


def even(points: float, count: int) -> list[float]:
    """``points`` split over ``count`` tests as evenly as 4 decimals allow (see :func:`apportion`)."""
    return apportion(points, [1.0] * count)


def fraction(points: float, right: int, count: int) -> float:
    """Credit for ``right`` of ``count`` answers: rounded to a unit, half up, which never exceeds ``points``
    (the exact credit is at most ``points``, itself a whole number of units)."""
    if not count:
        return 0.0
    earned = (Decimal(units(points)) * right / count).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return points_of(int(earned))


def question(qid: str, title: str, tests: Sequence[TestResult]) -> QuestionResult:
    """A question with its tests, its score and maximum the exact sums of theirs."""
    return QuestionResult(
        id=qid,
        title=title,
        tests=tuple(tests),
        score=exact_sum(t.score for t in tests),
        max_score=exact_sum(t.max_score for t in tests),
    )


def exact_sum(values: Iterable[float]) -> float:
    """The sum of 4-decimal points as decimals: a float sum of 3.4616 and friends drifts in the last digits."""
    return float(sum((Decimal(str(v)) for v in values), Decimal(0)))


# --- the shape layer assignments share: forward's output, then backward's three gradients -----------------

GRADIENTS = ("dx", "grad_weight", "grad_bias")
"""A layer's backward values: ``dx`` (returned by ``backward``), ``grad_weight`` and ``grad_bias`` (set by it)."""

LAYER_LABELS = MappingProxyType(
    {
        "out": "The output of forward",
        "dx": "dx (what backward returns)",
        "grad_weight": "layer.grad_weight",
        "grad_bias": "layer.grad_bias",
    }
)
"""What each of a layer's values is called for students."""


def missing_advice(value: str) -> str:
    """Said when a layer's value came back as nothing: an attribute backward should set, or nothing to add."""
    return f" Set `self.{value}` in backward." if value != "dx" else ""


class RubricModel(BaseModel):
    """Base of a pack's rubric tables: frozen, and a key it does not know is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class GradientShares(RubricModel):
    """Relative weights of the gradients in a backward question."""

    dx: float = Field(ge=0)
    """Share for the returned gradient with respect to the input."""
    grad_weight: float = Field(ge=0)
    """Share for ``layer.grad_weight``."""
    grad_bias: float = Field(ge=0)
    """Share for ``layer.grad_bias``."""


class GradientsQuestion(RubricModel):
    """A backward question: its points shared between the gradients in proportion to ``components``."""

    title: str
    """Question title shown to students."""
    points: float = Field(ge=0)
    """Points for the whole question."""
    components: GradientShares
    """Relative weight of each gradient."""


def gradient_points(question: GradientsQuestion, cases: int) -> dict[str, list[float]]:
    """Each gradient's points per case: the question's points apportioned between the gradients, each share
    split evenly over the cases, so that each gradient's tests and the question's add up exactly."""
    shares = question.components.model_dump()
    per_gradient = apportion(question.points, [shares[g] for g in GRADIENTS])
    return {g: even(points, cases) for g, points in zip(GRADIENTS, per_gradient, strict=True)}
