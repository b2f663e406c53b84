"""Ways to show a :class:`~grader.models.Result`: terminal table, JSON, Gradescope, CSV and Markdown."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from grader.models import Result, TestResult

GRADEBOOK_COLUMNS = ("submission", "q1", "q2", "score", "max_score", "status")

_STATUS_STYLE = {
    "passed": "green",
    "failed": "red",
    "error": "red",
    "timeout": "yellow",
    "crashed": "magenta",
}


def format_points(value: float | None) -> str:
    """Points as gradebooks show them: at most two decimals, no trailing zeros; empty for no score."""
    return "" if value is None else f"{value:.2f}".rstrip("0").rstrip(".")


def _out_of(score: float, max_score: float) -> str:
    return f"{format_points(score)} / {format_points(max_score)}"


def to_json(result: Result, *, public: bool = True, indent: int | None = 2) -> str:
    """The result as JSON; the public view unless ``public`` is False (instructor reports)."""
    view = result.public() if public else result
    return view.model_dump_json(indent=indent)


def _gradescope_output(test: TestResult) -> str:
    parts = [test.feedback]
    if test.visibility == "visible" and test.output:
        parts.append(f"Your code printed:\n{test.output}")
    return "\n\n".join(parts)


def to_gradescope(result: Result) -> dict[str, Any]:
    """Gradescope's ``results.json``: one entry per test, visibility carried over from the config."""
    public = result.public()
    return {
        "score": public.score,
        "execution_time": round(public.execution_time, 3),
        "output": "\n".join(public.messages),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": f"{question.id.upper()} {question.title}: {test.name}",
                "number": f"{question.id[1:]}.{i}",
                "score": round(test.score, 4),
                "max_score": round(test.max_score, 4),
                "status": "passed" if test.status == "passed" else "failed",
                "visibility": test.visibility,
                "output": _gradescope_output(test),
                "tags": [question.id, test.status],
            }
            for question in public.questions
            for i, test in enumerate(question.tests, start=1)
        ],
    }


def gradebook_row(result: Result) -> dict[str, str]:
    """The result's row in the gradebook CSV."""
    return {
        "submission": result.submission,
        "q1": format_points(result.question("q1").score),
        "q2": format_points(result.question("q2").score),
        "score": format_points(result.score),
        "max_score": format_points(result.max_score),
        "status": result.status,
    }


def gradebook_csv(rows: Iterable[dict[str, str]], columns: Sequence[str] = GRADEBOOK_COLUMNS) -> str:
    """Rows (see :func:`gradebook_row`) as CSV text with a header; missing cells are empty."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def render(result: Result, console: Console, *, public: bool = True) -> None:
    """A compact table per question, then a paragraph of feedback for each test that did not pass.

    Feedback sits below the table rather than in a column so that it stays readable in an 80-column terminal.
    """
    view = result.public() if public else result
    header = Text.assemble(
        (view.submission, "bold"),
        f"  {_out_of(view.score, view.max_score)}  ",
        (view.status, "green" if view.status == "graded" else "red"),
        f"  ({view.execution_time * 1000:.0f} ms)",
    )
    body: list[Any] = [header]
    body += [Text(f"! {m}", style="yellow") for m in view.messages]
    body += [Text(f"warning: {w}", style="bold red") for w in view.warnings]
    for question in view.questions:
        table = Table(
            title=f"{question.id.upper()} {question.title}: {_out_of(question.score, question.max_score)}",
            title_justify="left",
            title_style="bold",
            box=box.SIMPLE_HEAD,
            padding=(0, 1),
        )
        table.add_column("test", overflow="fold")
        table.add_column("status", no_wrap=True)
        table.add_column("points", justify="right", no_wrap=True)
        notes: list[Text] = []
        previous = ""
        visibility = "visible"
        for test in question.tests:
            style = _STATUS_STYLE[test.status]
            if test.visibility != visibility:
                visibility = test.visibility
                table.add_section()
                table.add_row(f"[dim]{visibility.replace('_', ' ')} tests[/]")
            table.add_row(
                escape(test.name),
                f"[{style}]{test.status}[/]",
                f"{format_points(test.score)}/{format_points(test.max_score)}",
            )
            if test.status == "passed":
                continue
            # A backward error fails dx, grad_weight and grad_bias alike: say it once.
            feedback = "same as above" if test.feedback == previous else test.feedback
            previous = test.feedback
            if test.output:
                feedback += f"\nprinted: {test.output[:300]}"
            notes.append(Text.assemble("\n", (f"{test.name}: ", style), feedback))
        body.append(table)
        body += notes
    console.print(Panel(Group(*body), expand=False))


def to_markdown(result: Result, *, public: bool = False) -> str:
    """A per-student report; the instructor's version (``public=False``) adds the numeric diagnostics."""
    view = result.public() if public else result
    lines = [
        f"# {view.submission}: {_out_of(view.score, view.max_score)} ({view.status})",
        "",
    ]
    lines += [f"> {m}" for m in view.messages]
    lines += [f"> **warning:** {w}" for w in view.warnings]
    for question in view.questions:
        lines += [
            "",
            f"## {question.id.upper()} {question.title}: {_out_of(question.score, question.max_score)}",
            "",
            "| test | visibility | status | points |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| `{t.name}` | {t.visibility} | {t.status} | {_out_of(t.score, t.max_score)} |" for t in question.tests
        ]
        for test in question.tests:
            if test.status == "passed":
                continue
            # Two trailing spaces make a Markdown line break: each sentence of the feedback keeps its line.
            feedback = test.feedback.replace("\n", "  \n")
            lines += ["", f"### `{test.name}` ({test.status}, {test.seconds * 1000:.1f} ms)", "", feedback]
            if test.output:
                lines += ["", "Printed:", "", "```", test.output, "```"]
            if test.diagnostics is not None and not public:
                diagnostics = json.dumps(test.diagnostics.model_dump(exclude_defaults=True))
                lines += ["", f"Diagnostics (instructor only): `{diagnostics}`"]
    return "\n".join(lines) + "\n"
