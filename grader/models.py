"""The grader's results: frozen, typed, serialisable.

A :class:`Result` is the whole verdict for one submission. It holds instructor-only material (numeric
diagnostics with expected values, captured prints of hidden tests, operator warnings); :meth:`Result.public`
returns the view a student may see.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from grader.config import Visibility
from grader.keys import HiddenDraw

TestStatus = Literal["passed", "failed", "error", "timeout", "crashed"]
QuestionId = Literal["q1", "q2"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Comparison(_Frozen):
    """How a returned value differs from the expected one. Instructor-only: it holds expected values."""

    verdict: Literal["match", "type", "shape", "values"]
    """``match``, or the first check that failed."""
    expected_shape: tuple[int, ...] | None = None
    """Shape of the expected array."""
    actual_shape: tuple[int, ...] | None = None
    """Shape of what came back, when it was array-like."""
    expected_dtype: str | None = None
    """Dtype of the expected array (always float64 for arrays)."""
    actual_dtype: str | None = None
    """Dtype of what came back."""
    actual_type: str = ""
    """Type name of what came back, e.g. ``numpy.ndarray`` or ``builtins.list``."""
    mismatched: int = 0
    """Number of elements outside the tolerance."""
    total: int = 0
    """Number of elements compared."""
    max_abs_error: float | None = None
    """Largest absolute difference (NaN and inf excluded)."""
    max_rel_error: float | None = None
    """Largest relative difference, where the expected value is not zero."""
    worst_index: tuple[int, ...] | None = None
    """Index of the element with the largest error (or of the first NaN/inf where none is finite)."""
    worst_expected: float | None = None
    """Expected value at ``worst_index``."""
    worst_actual: float | None = None
    """Returned value at ``worst_index``."""
    nan_count: int = 0
    """NaNs in what came back where a number was expected."""
    inf_count: int = 0
    """Infinities in what came back where a finite number was expected."""


class TestResult(_Frozen):
    """One graded test."""

    __test__ = False  # not a pytest test class

    name: str
    """Stable test name, e.g. ``test_conv1d_forward_1`` or ``hidden_backward_float32 (dx)``."""
    question: QuestionId
    """The question this test counts towards."""
    visibility: Visibility
    """Who may see this test's details (Gradescope semantics)."""
    status: TestStatus
    """``passed``; ``failed`` (wrong type, shape or values); ``error`` (the code raised); ``timeout``;
    ``crashed`` (the process died)."""
    score: float
    """Points earned."""
    max_score: float
    """Points available."""
    feedback: str
    """What went wrong and where to look, written for the student. Never contains hidden expected values."""
    hint: str | None = None
    """The likely mistake and where to look, when the wrong output matches a known bug."""
    mistake: str | None = None
    """Stable name of that known bug (e.g. ``bias_omitted``), for counting mistakes across a class."""
    seconds: float = 0.0
    """Wall time the submission spent on this test."""
    output: str = ""
    """What the submission printed during the test, truncated. Shown to students for visible tests only."""
    diagnostics: Comparison | None = None
    """Numeric comparison with expected values. Instructor-only."""


class QuestionResult(_Frozen):
    """The tests of one question and their total."""

    id: QuestionId
    """``q1`` (forward and output size) or ``q2`` (backward)."""
    title: str
    """Question title from the rubric."""
    score: float
    """Sum of the tests' scores."""
    max_score: float
    """Sum of the tests' maximum scores."""
    tests: tuple[TestResult, ...]
    """The tests, in a fixed order."""


class Result(_Frozen):
    """The verdict for one submission."""

    submission: str
    """Name of the submission (file name or student id)."""
    status: Literal["graded", "rejected"]
    """``rejected`` when the file could not be graded at all (not Python, syntax error, does not load)."""
    score: float
    """Total points."""
    max_score: float
    """Total points available."""
    questions: tuple[QuestionResult, ...]
    """Per-question scores with their tests."""
    messages: tuple[str, ...] = ()
    """Submission-level messages for the student (why it was rejected, what is missing)."""
    execution_time: float = 0.0
    """Seconds spent grading, end to end."""
    isolation: str = ""
    """The isolation the submission ran under. Instructor-only."""
    warnings: tuple[str, ...] = ()
    """Operator warnings (e.g. degraded isolation). Instructor-only."""
    hidden_draw: HiddenDraw | None = None
    """How this submission's hidden inputs were drawn: with the deployment's key, what a regrade needs to
    reproduce them. Instructor-only."""

    def question(self, question_id: QuestionId) -> QuestionResult:
        """The question with this id."""
        return next(q for q in self.questions if q.id == question_id)

    def tests(self) -> tuple[TestResult, ...]:
        """Every test of every question, in order."""
        return tuple(t for q in self.questions for t in q.tests)

    def public(self) -> Result:
        """The view a student may see: no expected values, no hidden tests' prints, no operator notes."""
        questions = tuple(
            q.model_copy(
                update={
                    "tests": tuple(
                        t.model_copy(
                            update={"diagnostics": None, "output": t.output if t.visibility == "visible" else ""}
                        )
                        for t in q.tests
                    )
                }
            )
            for q in self.questions
        )
        return self.model_copy(update={"questions": questions, "isolation": "", "warnings": (), "hidden_draw": None})
