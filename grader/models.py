"""The grader's results: frozen, typed, serialisable.

A :class:`Result` is the whole verdict for one submission. It holds instructor-only material (numeric
diagnostics with expected values, captured prints of hidden tests, operator warnings); :meth:`Result.public`
returns the view a student may see.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from grader import runner
from grader.config import Visibility
from grader.keys import HiddenDraw

TestStatus = Literal["passed", "failed", "error", "timeout", "crashed"]
QuestionId = str
"""A question id of the graded assignment's pack (:meth:`grader.pack.AssignmentPack.questions`), e.g. ``q1``."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Seccomp(_Frozen):
    """How the sandbox's system calls are filtered."""

    how: Literal["libseccomp", "bpf", "none"]
    """``libseccomp``: built by libseccomp from syscall names; ``bpf``: the grader's hand-assembled filter;
    ``none``: no filter."""
    arch: tuple[str, ...] = ()
    """Architectures the filter covers; a call from any other architecture is refused."""


class Cgroups(_Frozen):
    """The cgroups the sandbox was put in."""

    version: int | None = None
    """1 or 2; None when there were none."""
    controllers: tuple[str, ...] = ()
    """What they enforced or measured, e.g. ``memory`` and ``cpuacct``."""


class Isolation(_Frozen):
    """What a submission ran under, layer by layer. Instructor-only: it tells an attacker what is missing."""

    level: runner.IsolationLevel
    """``full``: every layer of SECURITY.md; ``partial``: namespaces and the private filesystem view, with gaps
    listed in ``missing``; ``minimal``: no namespaces (rlimits, seccomp and an empty environment only)."""
    namespaces: tuple[runner.Namespace, ...] = ()
    """Namespaces of the sandbox's own: ``user``, ``pid``, ``mount``, ``net``, ``ipc``, ``uts``."""
    filesystem: Literal["pivot_root", "none"] = "none"
    """``pivot_root``: a minimal read-only root with only what Python and NumPy need; ``none``: the host's."""
    uid: Literal["dedicated", "grader"] = "grader"
    """``dedicated``: an unprivileged uid per sandbox; ``grader``: the grader's own uid."""
    capabilities: Literal["none", "held"] = "none"
    """``none``: the sandbox held no capability; ``held``: it may have (a grader running as root without
    namespaces)."""
    seccomp: Seccomp = Seccomp(how="none")
    """The system-call filter."""
    rlimits: tuple[str, ...] = ()
    """Resource limits set, by ``RLIMIT_`` name without the prefix."""
    no_new_privs: bool = False
    """Whether ``PR_SET_NO_NEW_PRIVS`` was set."""
    cgroups: Cgroups = Cgroups()
    """The cgroups enforcing memory and measuring CPU across processes."""
    missing: tuple[str, ...] = ()
    """Each gap in words, with the exact fix; empty when ``level`` is ``full``."""

    @classmethod
    def of(cls, isolation: runner.Isolation | None) -> Isolation | None:
        """The runner's plain description as a model (None stays None)."""
        return None if isolation is None else cls.model_validate(isolation, from_attributes=True)

    def summary(self) -> str:
        """One line: the level, the layers in force, then each gap (see :meth:`grader.runner.Isolation.summary`)."""
        return runner.Isolation(
            level=self.level,
            namespaces=self.namespaces,
            filesystem=self.filesystem,
            uid=self.uid,
            capabilities=self.capabilities,
            seccomp=runner.SeccompLayer(self.seccomp.how, self.seccomp.arch),
            rlimits=self.rlimits,
            no_new_privs=self.no_new_privs,
            cgroups=runner.CgroupLayer(self.cgroups.version, self.cgroups.controllers),
            missing=self.missing,
        ).summary()


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
    """One of the pack's question ids, e.g. ``q1``."""
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
    isolation: Isolation | None = None
    """What the submission ran under, with every gap and its fix; None when it did not run (refused before
    the sandbox) or the runner could not say. Instructor-only."""
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
        return self.model_copy(update={"questions": questions, "isolation": None, "warnings": (), "hidden_draw": None})
