"""``grade(submission, config) -> Result``: the one function the CLI and the web service call."""

from __future__ import annotations

import difflib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from grader.config import Config, load_config
from grader.errors import GraderFault, IsolationTooWeak, SubmissionError
from grader.keys import HiddenKey, load_key
from grader.models import Isolation, QuestionResult, Result
from grader.pack import AssignmentPack
from grader.registry import get_pack
from grader.runner import Isolation as RunnerIsolation
from grader.runner import IsolationLevel, LoadOutcome, Runner, RunReport
from grader.scoring import failure_text
from grader.submission import FILENAME, Submission, checked_source, syntax_error_message

NOT_GRADED = "nn.py could not be graded (the reason is at the top)"
"""What each test of a rejected file says: the reason itself is the result's message, said once."""


def default_runner() -> Runner:
    """The process-wide sandbox runner, started on first use and shared by every thread."""
    from grader.sandbox import default_runner as sandbox_runner  # deferred: importing it must not start anything

    return sandbox_runner()


def grade(
    submission: Submission | str | Path,
    config: Config | None = None,
    *,
    runner: Runner | None = None,
    key: HiddenKey | None = None,
    pack: AssignmentPack | None = None,
) -> Result:
    """Grade one submission.

    Faults of the submission (not Python, a syntax error, a file that does not load) come back as a
    ``rejected`` result with a message for the student; only faults of the grader itself raise
    (:class:`~grader.errors.GraderFault`). The hidden inputs are drawn from ``key`` (default: the config's
    key file, see :func:`grader.keys.load_key`) and the file's bytes, so the verdict depends on nothing else.
    The assignment is ``pack``, by default the one the config names (:mod:`grader.registry`).
    """
    started = time.perf_counter()
    if not isinstance(submission, Submission):
        submission = Submission.from_path(submission)
    config = config or load_config()
    pack = pack or get_pack(config.assignment)
    seed, draw = (key or load_key(config.cases.key_file or None)).draw(submission.data)
    cases = pack.build_cases(seed)
    question_ids = [q.id for q in pack.questions(config.rubric)]

    def scored(report: RunReport | None, not_run: str) -> tuple[QuestionResult, ...]:
        questions = pack.score(cases, config, report.calls if report else (), not_run, diagnose=report is not None)
        if [q.id for q in questions] != question_ids:
            raise GraderFault(f"pack {pack.name!r} scored questions {[q.id for q in questions]}, not {question_ids}")
        return questions

    def result(
        status: Literal["graded", "rejected"],
        messages: Sequence[str],
        questions: tuple[QuestionResult, ...],
        report: RunReport | None = None,
    ) -> Result:
        return Result(
            submission=submission.name,
            status=status,
            score=round(sum(q.score for q in questions), 6),
            max_score=round(sum(q.max_score for q in questions), 6),
            questions=questions,
            messages=tuple(messages),
            execution_time=round(time.perf_counter() - started, 6),
            isolation=Isolation.of(report.isolation) if report else None,
            warnings=report.warnings if report else (),
            hidden_draw=draw,
        )

    def rejected(messages: Sequence[str], report: RunReport | None = None) -> Result:
        # Every test scores zero; the reason is said once, in the messages, not again in each of 53 tests.
        return result("rejected", messages, scored(None, NOT_GRADED), report)

    try:
        source = checked_source(submission, config.limits.max_upload_bytes)
    except SubmissionError as exc:
        return rejected([exc.message])

    limits = config.limits.runner_limits(int(config.limits.return_factor * pack.expected_bytes(cases)) + (64 << 10))
    runner = runner or default_runner()
    required = config.sandbox.require_isolation
    if required != "any":
        # Before any submission code runs: refusing afterwards would be too late for what it did meanwhile.
        describe = getattr(runner, "isolation", None)  # test doubles may not say; their reports are checked
        if describe is not None:
            require_isolation(describe(), required)
    report = runner.run(source, FILENAME, pack.plan_calls(cases, config.limits), limits)
    if required != "any":
        # Per run too: a run's cgroups can fail to be set up when the runner's description said they would be.
        require_isolation(report.isolation, required)
    if report.load.status != "ok":
        return rejected([load_failure_message(report.load, source, config, pack)], report)
    messages = missing_name_messages(report.load.names, pack.required_names)
    if len(messages) == len(pack.required_names):
        return rejected(messages, report)
    questions = scored(report, "the grader did not get to this test")
    return result("graded", messages + starter_messages(report, pack), questions, report)


def require_isolation(isolation: RunnerIsolation | None, required: IsolationLevel | Literal["any"]) -> None:
    """Raise :class:`~grader.errors.IsolationTooWeak` unless ``isolation`` is at least ``required``."""
    if isolation is None:
        raise IsolationTooWeak(f"the runner does not say how it isolates submissions; the config requires {required}")
    if not isolation.meets(required):
        gaps = "; ".join(isolation.missing) or "no gap named"
        raise IsolationTooWeak(
            f"the sandbox's isolation is {isolation.level}, below the {required} that [sandbox] require_isolation "
            f"asks for, so nothing was graded: {gaps}"
        )


def load_failure_message(load: LoadOutcome, source: str, config: Config, pack: AssignmentPack | None = None) -> str:
    """Why the module did not load, for the student."""
    failure = load.failure
    if failure is not None and failure.where == "compile":
        return syntax_error_message(source, failure.type, failure.message, failure.line)
    if not load.compiled:
        limits = config.limits
        if load.status == "timeout":
            return (
                f"nn.py took too long to compile: more than {limits.load_cpu_seconds:g} s of CPU time before a line "
                "of it ran. Hand in the nn.py you wrote, not generated code."
            )
        return (
            f"nn.py could not be compiled within the sandbox's limits ({limits.memory_mb} MiB of memory): "
            f"{load.detail or 'the process died'}. Hand in the nn.py you wrote, not generated code."
        )
    if load.status == "timeout":
        return (
            f"nn.py did not finish loading ({load.detail or 'time limit'}). Code at the top level of the file "
            "runs when it is imported: move experiments, training loops and input() calls under "
            "`if __name__ == '__main__':`."
        )
    if load.status == "crashed" or failure is None:
        return f"The process running nn.py died while loading it: {load.detail or 'no reason given'}."
    line = f" (line {failure.line})" if failure.line else ""
    if failure.module is not None and failure.type in ("ModuleNotFoundError", "ImportError"):
        top = failure.module.split(".")[0]
        if top == "mytorch":
            return (
                f"nn.py imports `{failure.module}`{line}, but the grader runs nn.py on its own, without the rest "
                "of your mytorch package. Copy what you need into nn.py, or remove the import."
            )
        return (
            f"nn.py imports `{failure.module}`{line}, which the grader does not provide: only numpy and the Python "
            "standard library are available. Remove the import and use numpy."
        )
    return f"nn.py could not be loaded: {failure_text(failure, pack.label if pack else lambda where: where)}"


def missing_name_messages(names: tuple[str, ...], required_names: Sequence[str]) -> list[str]:
    """One message per required name the module does not define, suggesting what it has instead."""
    lowered = {name.lower(): name for name in names}
    messages = []
    for required in required_names:
        if required in names:
            continue
        near = [lowered[n] for n in difflib.get_close_matches(required.lower(), list(lowered), n=3, cutoff=0.7)]
        found = f" It defines {', '.join(f'`{n}`' for n in near)}: names are case-sensitive." if near else ""
        messages.append(f"nn.py defines no `{required}`.{found}")
    return messages


def starter_messages(report: RunReport, pack: AssignmentPack) -> list[str]:
    """A note when the starter's ``NotImplementedError`` is still in place somewhere."""
    where = sorted(
        {
            c.failure.where
            for c in report.calls
            if c.failure is not None and c.failure.type == "NotImplementedError" and c.failure.where != "__init__"
        }
    )
    if not where:
        return []
    names = ", ".join(f"`{pack.label(w)}`" for w in where)
    return [f"The starter's NotImplementedError is still in place in {names}: those tests score zero."]
