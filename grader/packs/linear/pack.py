"""Linear as an :class:`~grader.pack.AssignmentPack`, written only against the pack API.

q1 is one test per case on ``forward``; q2 one test per case and gradient (``dx`` returned by ``backward``,
``grad_weight`` and ``grad_bias`` set by it), each gradient's share of q2 split evenly over the cases.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, Field

from grader.config import Config, LimitsConfig
from grader.models import QuestionResult
from grader.pack import AssignmentPack, Handout, QuestionSpec
from grader.packs.linear.cases import LinearCase, build_cases
from grader.runner import Call, CallOutcome, Input, Returned, Step
from grader.scoring import (
    GRADIENTS,
    LAYER_LABELS,
    Diagnose,
    Diagnosis,
    GradientsQuestion,
    RubricModel,
    Scorer,
    ValueCheck,
    even,
    gradient_points,
    missing_advice,
    question,
)


class ForwardRubric(RubricModel):
    title: str
    """Question title shown to students."""
    points: float = Field(ge=0)
    """Points for the question, split evenly over the cases."""


class LinearRubric(RubricModel):
    q1: ForwardRubric
    q2: GradientsQuestion


def _call(case: LinearCase, limits: LimitsConfig) -> Call:
    """Build the layer, set its parameters, run forward (reported on its own), then backward."""
    steps = (
        Step("new", "Linear", case.features),
        Step("set", "weight", (Input("weight"),)),
        Step("set", "bias", (Input("bias"),)),
        Step("method", "forward", (Input("x"),), save="out"),
        Step("report"),
        Step("method", "backward", (Input("delta"),), save="dx"),
        Step("get", "grad_weight", save="grad_weight"),
        Step("get", "grad_bias", save="grad_bias"),
    )
    allowance = limits.cpu_allowance(case.seconds)
    return Call(
        f"backward/{case.name}",
        "backward",
        steps,
        case.inputs,
        forward_key=f"forward/{case.name}",
        cpu_seconds=allowance,
        forward_cpu_seconds=allowance,
    )


def _diagnose(case: LinearCase, value: str) -> Diagnose:
    def diagnose(returned: Returned, rtol: float, atol: float) -> Diagnosis | None:
        from grader.packs.linear.hints import diagnose  # loaded on the first wrong value

        return diagnose(case, value, returned, rtol, atol)

    return diagnose


class LinearPack(AssignmentPack):
    """The course's ``Linear(in_features, out_features)`` layer: forward, and backward with its gradients."""

    name = "linear"
    title = "Linear layer"
    required_names = ("Linear",)
    handout = Handout(filename="nn.py", summary="a Linear layer (forward, backward)", gradebook_name="Linear layer")
    labels = MappingProxyType(
        {"__init__": "Linear.__init__", "forward": "Linear.forward", "backward": "Linear.backward"}
    )

    def default_rubric(self) -> dict[str, Any]:
        rubric: dict[str, Any] = tomllib.loads(
            resources.files(__package__).joinpath("defaults.toml").read_text("utf-8")
        )["rubric"]
        return rubric

    def parse_rubric(self, data: Mapping[str, Any]) -> LinearRubric:
        return LinearRubric.model_validate(data)

    def questions(self, rubric: BaseModel) -> tuple[QuestionSpec, ...]:
        assert isinstance(rubric, LinearRubric)
        return (
            QuestionSpec("q1", rubric.q1.title, rubric.q1.points),
            QuestionSpec("q2", rubric.q2.title, rubric.q2.points, rubric.q2.components.model_dump()),
        )

    def build_cases(self, seed: int) -> tuple[LinearCase, ...]:
        return build_cases(seed)

    def plan_calls(self, cases: tuple[LinearCase, ...], limits: LimitsConfig) -> tuple[Call, ...]:
        # Visible cases come first (build_cases's order): prints made on them come before any hidden input.
        return tuple(_call(case, limits) for case in cases)

    def expected_bytes(self, cases: tuple[LinearCase, ...]) -> int:
        sizes = (c.expected_forward.size + sum(a.size for a in c.expected_backward.values()) for c in cases)
        return 8 * sum(sizes)

    def score(
        self,
        cases: tuple[LinearCase, ...],
        config: Config,
        outcomes: Sequence[CallOutcome],
        not_run: str,
        *,
        diagnose: bool = True,
    ) -> tuple[QuestionResult, ...]:
        rubric = config.rubric
        assert isinstance(rubric, LinearRubric), "a Linear config carries the Linear rubric"
        scorer = Scorer(config, {o.key: o for o in outcomes}, not_run, self.label, diagnose=diagnose)

        def check(case: LinearCase, qid: str, name: str, key: str, value: str, expected: Any, points: float) -> Any:
            return scorer.value_test(
                ValueCheck(
                    name=name,
                    question=qid,
                    key=key,
                    value=value,
                    expected=expected,
                    points=points,
                    visible=case.visible,
                    label=LAYER_LABELS[value],
                    context=f"\nCase: {case.title}; {case.description}.",
                    when_missing=missing_advice(value),
                    diagnose=_diagnose(case, value),
                )
            )

        forward_points = even(rubric.q1.points, len(cases))
        q1 = [
            check(case, "q1", case.test_name("forward"), f"forward/{case.name}", "out", case.expected_forward, pts)
            for case, pts in zip(cases, forward_points, strict=True)
        ]
        case_points = gradient_points(rubric.q2, len(cases))
        q2 = [
            check(
                case,
                "q2",
                f"{case.test_name('backward')} ({g})",
                f"backward/{case.name}",
                g,
                case.expected_backward[g],
                case_points[g][i],
            )
            for i, case in enumerate(cases)
            for g in GRADIENTS
        ]
        return (question("q1", rubric.q1.title, q1), question("q2", rubric.q2.title, q2))

    def samples(self) -> Path | None:
        return Path(__file__).resolve().parent / "samples"


PACK = LinearPack()
