"""What an assignment is to the grader: the :class:`AssignmentPack` interface.

The engine, the sandbox, the wire protocol, the scorer's helpers, the reports and the shells know no
assignment. Everything a particular assignment decides lives in a pack: which names the file must define,
its cases (visible and hidden, the hidden ones drawn from a per-submission seed), the calls that run them
(declared as data, :class:`grader.runner.Step`, executed by the sandbox's generic harness), its rubric and
how outcomes score against it, its likely-cause hints and its sample submissions.

Packs are found by name through entry points (group ``conv1d_grader.packs``, see :mod:`grader.registry`), so
a course can ship its own without forking the grader; the built-in ones are registered the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from grader.runner import Call, CallOutcome

if TYPE_CHECKING:
    from grader.config import Config, LimitsConfig
    from grader.models import QuestionResult


@dataclass(frozen=True)
class QuestionSpec:
    """One question of an assignment as its rubric makes it: shown in reports and gradebooks."""

    id: str
    """Stable id, e.g. ``q1``; a :class:`~grader.models.QuestionResult` must carry one of these."""
    title: str
    points: float
    components: Mapping[str, float] = field(default_factory=dict)
    """Relative weight of each value the question checks (``dx``, ``grad_weight``...), when it has several."""


@dataclass(frozen=True)
class Handout:
    """Facts about the assignment the grader tells students (messages, the service's page)."""

    filename: str = "nn.py"
    """The file students hand in (the sandbox loads it as module ``nn``)."""
    summary: str = ""
    """One line on what the file must implement."""
    gradebook_name: str = "Assignment"
    """The assignment's column in an LMS gradebook (Canvas), e.g. ``Assignment 2 Part A``."""


class AssignmentPack(ABC):
    """An assignment, as the engine grades it. Subclass and register under ``conv1d_grader.packs``.

    Cases are whatever the pack likes (they go back to the pack's own :meth:`plan_calls`, :meth:`score` and
    :meth:`expected_bytes`); the engine only passes them along. Everything crossing into the sandbox is a
    :class:`~grader.runner.Call`: plain data.
    """

    name: str
    """Registry name, e.g. ``conv1d``: the ``--assignment`` option and the ``assignment`` config key."""
    title: str
    """For people, e.g. ``Assignment 2 Part A: Conv1d``."""
    required_names: tuple[str, ...]
    """Top-level names the file must define; missing them all rejects it, missing some costs those tests."""
    handout: ClassVar[Handout] = Handout()
    labels: ClassVar[Mapping[str, str]] = MappingProxyType({})
    """What a failure's ``where`` (a step's label) is called for students, e.g. ``forward`` →
    ``Conv1d.forward``. ``import`` and ``runner`` have the grader's own wording."""

    @abstractmethod
    def default_rubric(self) -> dict[str, Any]:
        """The rubric's defaults, as the ``[rubric]`` table of a config holds them (a user's config is merged over
        them key by key)."""

    @abstractmethod
    def parse_rubric(self, data: Mapping[str, Any]) -> BaseModel:
        """The rubric, validated (pydantic's ``ValidationError`` on a bad one: the config names it)."""

    @abstractmethod
    def questions(self, rubric: BaseModel) -> tuple[QuestionSpec, ...]:
        """The questions with their titles and points under this rubric, in report order."""

    @abstractmethod
    def build_cases(self, seed: int) -> object:
        """Every case one grading uses, hidden inputs drawn from ``seed`` (:meth:`grader.keys.HiddenKey.draw`)."""

    @abstractmethod
    def plan_calls(self, cases: Any, limits: LimitsConfig) -> tuple[Call, ...]:
        """The calls that run the cases, in report order, each with the CPU time it may use."""

    @abstractmethod
    def expected_bytes(self, cases: Any) -> int:
        """Bytes of every right answer as float64: sizes the cap on what a submission may send back."""

    @abstractmethod
    def score(
        self,
        cases: Any,
        config: Config,
        outcomes: Sequence[CallOutcome],
        not_run: str,
        *,
        diagnose: bool = True,
    ) -> tuple[QuestionResult, ...]:
        """Every question, scored from the outcome of each planned call; a call without an outcome scores zero
        with ``not_run`` as the reason. With ``diagnose``, wrong values are matched against likely causes."""

    def samples(self) -> Path | None:
        """The folder of sample submissions, each declaring its expected score on an ``expected:`` line of its
        docstring (see ``tests/test_submissions.py``); None when the pack ships none."""
        return None

    def label(self, where: str) -> str:
        """What ``where`` is called for students."""
        return self.labels.get(where, where)

    def max_score(self, rubric: BaseModel) -> float:
        """The points of every question together."""
        return sum(q.points for q in self.questions(rubric))
