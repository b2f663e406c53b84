"""Conv1d's scoring: how the outcomes of its calls (:mod:`grader.packs.conv1d.calls`) score.

The rubric decides the points: q1 is the output-size test plus one test per forward case; q2 is one test per
backward case and gradient (``dx``, ``grad_weight``, ``grad_bias``), each gradient's share of q2 split evenly
over the cases, to 4 decimals, so that the tests add up exactly (see :func:`grader.scoring.apportion`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from grader.compare import scalar_value, usable
from grader.config import Config
from grader.models import QuestionResult, TestResult, TestStatus
from grader.packs.conv1d.cases import OUTPUT_SIZE_TEST, CaseSet, LayerCase, Op
from grader.packs.conv1d.rubric import Rubric
from grader.runner import CallOutcome, Returned
from grader.scoring import (
    GRADIENTS,
    LAYER_LABELS,
    STATUS,
    Diagnose,
    Scorer,
    ValueCheck,
    even,
    fraction,
    gradient_points,
    missing_advice,
    points_of,
    question,
    units,
)

if TYPE_CHECKING:
    from grader.packs.conv1d.hints import Match  # the hints load on the first wrong value, not with the scorer

HintFn = Callable[
    [
        Op,
        str,
        tuple[int, int, int, int] | None,
        tuple[int, int, int] | None,
        Mapping[str, np.ndarray],
        Returned,
        float,
        float,
    ],
    "Match | None",
]
"""Signature of :func:`grader.packs.conv1d.hints.diagnose`."""

LABELS = MappingProxyType(
    {
        "get_conv1d_output_size": "get_conv1d_output_size",
        "__init__": "Conv1d.__init__",
        "forward": "Conv1d.forward",
        "backward": "Conv1d.backward",
    }
)
"""What each step's ``where`` is called for students."""


def _label(where: str) -> str:
    return LABELS.get(where, where)


class _Conv1dScorer(Scorer):
    def __init__(
        self, cases: CaseSet, config: Config, outcomes: Mapping[str, CallOutcome], hint: HintFn | None, not_run: str
    ) -> None:
        super().__init__(config, outcomes, not_run, _label, diagnose=hint is not None)
        self.cases = cases
        self.hint = hint

    def output_size_test(self, points: float) -> TestResult:
        """One test over every triple, with credit per right answer (see :func:`grader.scoring.fraction`)."""
        n = len(self.cases.output_size)
        right, wrong, outputs = 0, [], []
        matches: dict[str, Match] = {}
        failures: list[CallOutcome] = []
        seconds = 0.0
        for i, case in enumerate(self.cases.output_size):
            outcome = self.outcome(f"output_size/{i}")
            seconds += outcome.seconds
            if outcome.output:
                outputs.append(outcome.output)
            call = f"get_conv1d_output_size{case.args}"
            if outcome.status != "ok":
                failures.append(outcome)
                wrong.append(f"{call}: {self.status_text(outcome)}")
                continue
            # usable(): the hints and the feedback below get only values they can compute with.
            returned = usable(outcome.values.get("size", Returned(kind="none", type_name="builtins.NoneType")))
            if scalar_value(returned) == case.expected:
                right += 1
                continue
            got = repr(returned.scalar) if returned.scalar is not None else f"a {returned.type_name}"
            wrong.append(f"{call} returned {got}, expected {case.expected}")
            match = self.hint and self.hint("output_size", "size", None, case.args, {}, returned, self.rtol, self.atol)
            if match:
                matches.setdefault(match.fingerprint, match)

        if len(failures) == n and all(f.key not in self.outcomes for f in failures):
            wrong = [f"Not run: {self.not_run}"]  # not one call ran: say why once, not once per triple
        status: TestStatus = "passed"
        if len(failures) == len(wrong) and failures:  # nothing came back wrong: every miss raised or hung
            kinds = {STATUS[f.status] for f in failures}
            status = kinds.pop() if len(kinds) == 1 else "error"
        elif wrong:
            status = "failed"
        hint = " ".join(m.hint for m in matches.values()) or None
        feedback = f"All {n} output sizes are right."
        if wrong:
            feedback = f"{right} of {n} output sizes are right.\n" + "\n".join(wrong)
            feedback += f"\nLikely cause: {hint}" if hint else ""
        return TestResult(
            name=OUTPUT_SIZE_TEST,
            question="q1",
            visibility=self.visibility(OUTPUT_SIZE_TEST, True),
            status=status,
            score=fraction(points, right, n),
            max_score=points,
            feedback=feedback,
            hint=hint,
            mistake=next(iter(matches), None),
            seconds=seconds,
            output="".join(outputs),
        )

    def check(
        self, *, name: str, question: str, case: LayerCase, op: Op, component: str, expected: np.ndarray, points: float
    ) -> TestResult:
        diagnose: Diagnose | None = None
        hint = self.hint
        if hint is not None:

            def diagnose(returned: Returned, rtol: float, atol: float) -> Match | None:
                return hint(op, component, case.layer, None, case.inputs, returned, rtol, atol)

        return self.value_test(
            ValueCheck(
                name=name,
                question=question,
                key=f"{op}/{case.name}",
                value=component,
                expected=expected,
                points=points,
                visible=case.visible,
                label=LAYER_LABELS[component],
                context=f"\nCase: {case.title}; {case.description}.",
                when_missing=missing_advice(component),
                diagnose=diagnose,
            )
        )


def score(
    cases: CaseSet,
    config: Config,
    outcomes: Sequence[CallOutcome],
    hint: HintFn | None,
    not_run: str = "the grader did not get to this test",
) -> tuple[QuestionResult, QuestionResult]:
    """The two questions, scored from the outcome of each planned call.

    A planned call without an outcome (all of them for a submission that never loaded) scores zero with
    ``not_run`` as the reason.
    """
    scorer = _Conv1dScorer(cases, config, {o.key: o for o in outcomes}, hint, not_run)
    rubric = config.rubric
    assert isinstance(rubric, Rubric), "a Conv1d config carries the Conv1d rubric (grader.config.load_config)"
    q1, q2 = rubric.q1, rubric.q2

    # In units, so that the output-size points plus the forward tests' make exactly q1's points.
    output_size_points = points_of(units(q1.output_size_points))
    forward_points = even(points_of(units(q1.points) - units(output_size_points)), len(cases.forward))
    q1_tests = [scorer.output_size_test(output_size_points)]
    q1_tests += [
        scorer.check(
            name=case.test_name("forward"),
            question="q1",
            case=case,
            op="forward",
            component="out",
            expected=case.expected_forward(),
            points=points,
        )
        for case, points in zip(cases.forward, forward_points, strict=True)
    ]

    case_points = gradient_points(q2, len(cases.backward))
    q2_tests = [
        scorer.check(
            name=f"{case.test_name('backward')} ({component})",
            question="q2",
            case=case,
            op="backward",
            component=component,
            expected=case.expected_backward()[component],
            points=case_points[component][i],
        )
        for i, case in enumerate(cases.backward)
        for component in GRADIENTS
    ]
    return (question("q1", q1.title, q1_tests), question("q2", q2.title, q2_tests))
