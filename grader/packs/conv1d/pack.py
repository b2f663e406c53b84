"""Conv1d as an :class:`~grader.pack.AssignmentPack`: graded exactly as before packs existed."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from grader.config import Config, LimitsConfig
from grader.models import QuestionResult
from grader.pack import AssignmentPack, Handout, QuestionSpec
from grader.packs.conv1d import calls, scoring
from grader.packs.conv1d.cases import CaseSet, build_cases
from grader.packs.conv1d.rubric import Rubric
from grader.runner import Call, CallOutcome


def _diagnose(*args: Any) -> Any:
    """:func:`grader.packs.conv1d.hints.diagnose`, loaded on the first wrong value: a right answer never
    needs it."""
    from grader.packs.conv1d.hints import diagnose

    return diagnose(*args)


class Conv1dPack(AssignmentPack):
    """Assignment 2 Part A: q1 ``Conv1d.forward`` (with ``get_conv1d_output_size``), q2 ``Conv1d.backward``."""

    name = "conv1d"
    title = "Assignment 2 Part A: Conv1d"
    required_names = ("get_conv1d_output_size", "Conv1d")
    handout = Handout(
        filename="nn.py",
        summary="get_conv1d_output_size and a Conv1d layer (forward, backward)",
        gradebook_name="Assignment 2 Part A",
    )
    labels = scoring.LABELS

    def default_rubric(self) -> dict[str, Any]:
        text = resources.files(__package__).joinpath("defaults.toml").read_text("utf-8")
        rubric: dict[str, Any] = tomllib.loads(text)["rubric"]
        return rubric

    def parse_rubric(self, data: Mapping[str, Any]) -> Rubric:
        return Rubric.model_validate(data)

    def questions(self, rubric: BaseModel) -> tuple[QuestionSpec, ...]:
        assert isinstance(rubric, Rubric)
        return (
            QuestionSpec("q1", rubric.q1.title, rubric.q1.points, {"output_size": rubric.q1.output_size_points}),
            QuestionSpec("q2", rubric.q2.title, rubric.q2.points, rubric.q2.components.model_dump()),
        )

    def build_cases(self, seed: int) -> CaseSet:
        return build_cases(seed)

    def plan_calls(self, cases: CaseSet, limits: LimitsConfig) -> tuple[Call, ...]:
        return calls.plan_calls(cases, limits)

    def expected_bytes(self, cases: CaseSet) -> int:
        return calls.expected_bytes(cases)

    def score(
        self,
        cases: CaseSet,
        config: Config,
        outcomes: Sequence[CallOutcome],
        not_run: str,
        *,
        diagnose: bool = True,
    ) -> tuple[QuestionResult, ...]:
        return scoring.score(cases, config, outcomes, _diagnose if diagnose else None, not_run)

    def samples(self) -> Path | None:
        return Path(__file__).resolve().parent / "samples"


PACK = Conv1dPack()
