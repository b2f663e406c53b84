"""Turn what the runner brought back into scored tests and questions.

Every comparison happens here, in the grader's process, against values computed by the reference. The
rubric decides the points: q1 is the output-size test plus one test per forward case; q2 is one test per
backward case and gradient (``dx``, ``grad_weight``, ``grad_bias``), each gradient's share of q2 split evenly
over the cases, to 4 decimals, so that the tests add up exactly (see :func:`_apportion`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

import numpy as np

from grader.cases import OUTPUT_SIZE_TEST, CaseSet, LayerCase
from grader.compare import compare_array, describe, scalar_value, usable
from grader.config import Config, LimitsConfig, Visibility
from grader.models import QuestionResult, TestResult, TestStatus
from grader.runner import Call, CallOutcome, Failure, Op, Returned

if TYPE_CHECKING:
    from grader.hints import Match  # the hints load on the first wrong value, not with the scorer

GRADIENTS = ("dx", "grad_weight", "grad_bias")

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
"""Signature of :func:`grader.hints.diagnose`."""

_WHAT = {
    "get_conv1d_output_size": "get_conv1d_output_size",
    "__init__": "Conv1d.__init__",
    "forward": "Conv1d.forward",
    "backward": "Conv1d.backward",
    "import": "importing nn.py",
    "runner": "the grader",
}

_VALUE_LABEL = {
    "out": "The output of forward",
    "dx": "dx (what backward returns)",
    "grad_weight": "layer.grad_weight",
    "grad_bias": "layer.grad_bias",
}


def plan_calls(cases: CaseSet, limits: LimitsConfig) -> tuple[Call, ...]:
    """One call per output-size triple, per forward case and per backward case, in report order, each with the
    CPU time it may use, sized to its case (``limits.cpu_allowance`` of what the slowest correct style needs).

    A case used by both questions (every hidden case) is one backward call that also reports its forward
    pass: the same inputs, one round trip fewer, and the forward result survives a backward that hangs.
    Visible cases come first, so whatever a submission prints during them is printed before it has seen a
    hidden input.
    """
    calls = [
        Call(key=f"output_size/{i}", op="output_size", sizes=case.args, cpu_seconds=limits.cpu_min_seconds)
        for i, case in enumerate(cases.output_size)
    ]
    shared = {id(case) for case in cases.backward}
    for case in cases.forward:
        if id(case) in shared:
            continue
        inputs = {k: v for k, v in case.inputs.items() if k != "delta"}
        calls.append(
            Call(
                key=f"forward/{case.name}",
                op="forward",
                layer=case.layer,
                arrays=inputs,
                cpu_seconds=limits.cpu_allowance(case.forward_seconds),
            )
        )
    forward_keys = {id(case): f"forward/{case.name}" for case in cases.forward}
    calls.extend(
        Call(
            key=f"backward/{case.name}",
            op="backward",
            layer=case.layer,
            arrays=case.inputs,
            forward_key=forward_keys.get(id(case)),
            cpu_seconds=limits.cpu_allowance(case.backward_seconds),
            forward_cpu_seconds=limits.cpu_allowance(case.forward_seconds),
        )
        for case in sorted(cases.backward, key=lambda case: not case.visible)
    )
    return tuple(calls)


def expected_bytes(cases: CaseSet) -> int:
    """Bytes of every right answer as float64: what a correct submission sends back, give or take a dtype."""
    forward = sum(case.expected_forward().size for case in cases.forward)
    backward = sum(array.size for case in cases.backward for array in case.expected_backward().values())
    return 8 * (forward + backward)


def failure_text(failure: Failure) -> str:
    """One paragraph on an exception the submission raised."""
    what = _WHAT.get(failure.where, failure.where)
    line = f" (nn.py line {failure.line})" if failure.line else ""
    if failure.type == "NotImplementedError":
        return (
            f"{what} still raises NotImplementedError{line}: the starter code is still in place. "
            "Replace the `raise NotImplementedError` with your implementation."
        )
    message = f": {failure.message}" if failure.message else ""
    return f"{what} raised {failure.type}{line}{message}"


_TIMEOUT_ADVICE = {
    "CPU time": (
        "The limit is many times what five nested Python loops need on this case: look for a loop that never "
        "ends, or one whose bound is far too large."
    ),
    "idle": "Correct code never waits: remove sleeps, input() and waiting on other processes or threads.",
    "printed more than": "Remove the prints inside your loops.",
}


def _status_text(outcome: CallOutcome) -> str:
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
    return failure_text(outcome.failure)


_STATUS: dict[str, TestStatus] = {"error": "error", "timeout": "timeout", "skipped": "timeout", "crashed": "crashed"}


class _Scorer:
    def __init__(
        self,
        cases: CaseSet,
        config: Config,
        outcomes: Mapping[str, CallOutcome],
        hint: HintFn | None,
        not_run: str,
    ) -> None:
        self.cases = cases
        self.not_run = not_run
        self.config = config
        self.outcomes = outcomes
        self.hint = hint
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

    def output_size_test(self, points: float) -> TestResult:
        """One test over every triple, with credit per right answer (see :func:`_fraction`)."""
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
                wrong.append(f"{call}: {_status_text(outcome)}")
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
            kinds = {_STATUS[f.status] for f in failures}
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
            score=_fraction(points, right, n),
            max_score=points,
            feedback=feedback,
            hint=hint,
            mistake=next(iter(matches), None),
            seconds=seconds,
            output="".join(outputs),
        )

    def value_test(
        self,
        *,
        name: str,
        question: str,
        case: LayerCase,
        op: Op,
        component: str,
        expected: np.ndarray,
        points: float,
    ) -> TestResult:
        visibility = self.visibility(name, case.visible)
        key = f"{op}/{case.name}"
        outcome = self.outcome(key)
        # A hidden case's purpose helps with a wrong answer; for a test that never ran it is only noise.
        context = "" if case.visible or key not in self.outcomes else f"\nCase: {case.title}; {case.description}."
        common = {
            "name": name,
            "question": question,
            "visibility": visibility,
            "max_score": points,
            "seconds": outcome.seconds,
            "output": outcome.output,
        }
        if outcome.status != "ok":
            return TestResult(
                status=_STATUS[outcome.status],
                score=0.0,
                feedback=_status_text(outcome) + context,
                **common,
            )
        returned = usable(outcome.values.get(component, Returned(kind="none", type_name="builtins.NoneType")))
        comparison = compare_array(returned, expected, self.rtol, self.atol)
        if comparison.verdict == "match":
            return TestResult(
                status="passed",
                score=points,
                feedback=f"{_VALUE_LABEL[component]} is right.",
                diagnostics=comparison,
                **common,
            )
        match = None
        if self.hint is not None:
            match = self.hint(op, component, case.layer, None, case.inputs, returned, self.rtol, self.atol)
        hint = match.hint if match else None
        feedback = describe(comparison, _VALUE_LABEL[component], visible=visibility == "visible")
        if returned.kind == "none" and component != "dx":
            feedback += f" Set `self.{component}` in backward."
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


def _units(points: float) -> int:
    """``points`` in ten-thousandths; a rubric value with more decimals than that is rounded to them."""
    return int(Decimal(str(points)).quantize(_UNIT, rounding=ROUND_HALF_UP).scaleb(4))


def _points(units: int) -> float:
    """Ten-thousandths back to points: the float whose repr is the exact 4-decimal value."""
    return float(Decimal(units).scaleb(-4))


def _apportion(points: float, weights: Sequence[float]) -> list[float]:
    """``points`` split in proportion to ``weights``, each part to 4 decimals, the parts summing exactly to
    ``points`` (to 4 decimals).

    Largest-remainder method: every part gets the floor of its exact share in units, and the units left over
    go one each to the parts whose shares lost most to that floor (the earlier part on a tie), so no part is
    ever more than one unit from its exact share. All-zero weights (a component weighted 0) give zeros.
    """
    total = _units(points)
    scale = sum(Decimal(str(w)) for w in weights)
    if not weights or scale == 0:
        return [0.0] * len(weights)
    exact = [total * Decimal(str(w)) / scale for w in weights]
    parts = [int(share) for share in exact]  # shares are never negative: int() is the floor
    by_remainder = sorted(range(len(exact)), key=lambda i: (parts[i] - exact[i], i))
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return [_points(u) for u in parts]


def _even(points: float, count: int) -> list[float]:
    """``points`` split over ``count`` tests as evenly as 4 decimals allow (see :func:`_apportion`)."""
    return _apportion(points, [1.0] * count)


def _fraction(points: float, right: int, count: int) -> float:
    """Credit for ``right`` of ``count`` answers: rounded to a unit, half up, which never exceeds ``points``
    (the exact credit is at most ``points``, itself a whole number of units)."""
    if not count:
        return 0.0
    earned = (Decimal(_units(points)) * right / count).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return _points(int(earned))


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
    scorer = _Scorer(cases, config, {o.key: o for o in outcomes}, hint, not_run)
    q1, q2 = config.rubric.q1, config.rubric.q2

    # In units, so that the output-size points plus the forward tests' make exactly q1's points.
    output_size_points = _points(_units(q1.output_size_points))
    forward_points = _even(_points(_units(q1.points) - _units(output_size_points)), len(cases.forward))
    q1_tests = [scorer.output_size_test(output_size_points)]
    q1_tests += [
        scorer.value_test(
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

    # Two steps, so that each gradient's tests also add up to exactly its share of q2.
    shares = q2.components.model_dump()
    component_points = dict(zip(GRADIENTS, _apportion(q2.points, [shares[c] for c in GRADIENTS]), strict=True))
    case_points = {c: _even(component_points[c], len(cases.backward)) for c in GRADIENTS}
    q2_tests = [
        scorer.value_test(
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
    return (
        _question("q1", q1.title, q1_tests),
        _question("q2", q2.title, q2_tests),
    )


def _question(qid: str, title: str, tests: list[TestResult]) -> QuestionResult:
    return QuestionResult(
        id=qid,
        title=title,
        tests=tuple(tests),
        score=_exact_sum(t.score for t in tests),
        max_score=_exact_sum(t.max_score for t in tests),
    )


def _exact_sum(values: Iterable[float]) -> float:
    """The sum of 4-decimal points as decimals: a float sum of 3.4616 and friends drifts in the last digits."""
    return float(sum((Decimal(str(v)) for v in values), Decimal(0)))
