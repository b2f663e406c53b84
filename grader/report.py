"""Ways to show a :class:`~grader.models.Result`: terminal table, JSON, Gradescope, CSV and Markdown.

Much of a result is written by the student: what their code printed, exception messages inside the
feedback, the submission's name (a file name). Every renderer here that shows such text to a person passes
it through :func:`escape_controls` (and Markdown through its own quoting on top), and every CSV cell
through :func:`csv_cell`. JSON and Gradescope output stay faithful: programs read them, and JSON escapes
control characters itself.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from grader.models import Isolation, QuestionResult, Result, TestResult

if TYPE_CHECKING:
    from rich.console import Console

def gradebook_columns(questions: Sequence[str] = ("q1", "q2")) -> tuple[str, ...]:
    """The batch gradebook's columns for an assignment with these question ids. ``source`` is the submission's
    path inside the batch folder (see :meth:`grader.batch.Entry.row`)."""
    return ("submission", "source", *questions, "score", "max_score", "status")


GRADEBOOK_COLUMNS = gradebook_columns()
"""Conv1d's columns, as the gradebook had them before assignment packs."""

_STATUS_STYLE = {
    "passed": "green",
    "failed": "red",
    "error": "red",
    "timeout": "yellow",
    "crashed": "magenta",
}


# C0 controls but newline and tab, DEL, C1 controls: a terminal acts on them (clear the screen, set the
# window title, write the clipboard with OSC 52, move the cursor back over a score). The bidi embeddings,
# overrides and isolates reorder the text around them, so "0/100" can be made to read "100/0". Lone
# surrogates (a file name that is not UTF-8) cannot be written to a UTF-8 file or terminal at all.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every character that could act on a terminal or reorder what is shown written as a
    Python-style escape (``\\x1b``, ``\\u202e``), so a reader sees that it was there and it does nothing.

    Backslashes are left alone: a student who prints a literal ``\\x1b`` fools nobody, and doubling every
    backslash would garble paths and regular expressions in ordinary messages.
    """
    return _CONTROLS.sub(_escaped, text)


# What a spreadsheet reads as the start of a formula (OWASP's CSV injection list).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str) -> str:
    """A CSV cell a spreadsheet shows as text: a leading ``'`` when it would otherwise start a formula.

    Scores never need it (they are never negative), so numbers stay numbers; a name such as
    ``=HYPERLINK(...)`` or ``@SUM(1+1)`` becomes inert text instead of a live formula or link.
    """
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def format_points(value: float | None) -> str:
    """Points as gradebooks show them: at most two decimals, no trailing zeros; empty for no score."""
    return "" if value is None else f"{value:.2f}".rstrip("0").rstrip(".")


def _out_of(score: float, max_score: float) -> str:
    return f"{format_points(score)} / {format_points(max_score)}"


def isolation_line(isolation: Isolation | None) -> str:
    """One line for the operator: the isolation level, the layers in force and each gap with its fix."""
    if isolation is None:
        return "isolation: not reported (the submission did not run, or the runner cannot say)"
    return isolation.summary()


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
    """Gradescope's ``results.json``: one entry per test, visibility carried over from the config.

    Gradescope stores the top-level ``extra_data`` without showing it to students: the isolation goes there
    (it tells an attacker what is missing). The CLI also prints :func:`isolation_line` on stderr, which
    Gradescope keeps in the autograder's output, shown to instructors only (``stdout_visibility: hidden``)."""
    public = result.public()
    isolation = result.isolation.model_dump(mode="json") if result.isolation is not None else None
    return {
        "score": public.score,
        "execution_time": round(public.execution_time, 3),
        "output": "\n".join(public.messages),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {"isolation": isolation},
        "tests": [
            {
                "name": f"{question.id.upper()} {question.title}: {test.name}",
                "number": f"{question.id[1:]}.{i}",
                # Already 4-decimal values that sum exactly to each question's points (grader.scoring):
                # rounding here again would only risk breaking those sums.
                "score": test.score,
                "max_score": test.max_score,
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
        **{question.id: format_points(question.score) for question in result.questions},
        "score": format_points(result.score),
        "max_score": format_points(result.max_score),
        "status": result.status,
    }


def gradebook_csv(rows: Iterable[dict[str, str]], columns: Sequence[str] = GRADEBOOK_COLUMNS) -> str:
    """Rows (see :func:`gradebook_row`) as CSV text with a header; missing cells are empty.

    Every gradebook we write (the batch's and the service's) goes through here, so every cell is passed
    through :func:`csv_cell`: names come from file names and upload fields, and instructors open these
    files in spreadsheets.
    """
    buffer = io.StringIO()
    # RFC 4180's CRLF: the csv module quotes a cell holding a character of the line terminator only, so with a
    # bare "\n" a "\r" in a file name would end the row early in whatever reads the file.
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows({key: csv_cell(value) for key, value in row.items()} for row in rows)
    return buffer.getvalue()


def _not_run_line(question: QuestionResult) -> str:
    return (
        f"{question.id.upper()} {question.title}: {_out_of(question.score, question.max_score)} "
        f"({len(question.tests)} tests not run)"
    )


def render(result: Result, console: Console, *, public: bool = True) -> None:
    """A compact table per question, then a paragraph of feedback for each test that did not pass.

    Feedback sits below the table rather than in a column so that it stays readable in an 80-column terminal.
    """
    # Rich loads here, not with the module: JSON, CSV and Markdown output do not need it.
    from rich import box
    from rich.console import Group
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    view = result.public() if public else result
    # Text, never markup, for anything the student wrote; escape_controls for what Rich would pass through
    # to the terminal as is (it drops a few controls itself, which would hide that they were there).
    header = Text.assemble(
        (escape_controls(view.submission), "bold"),
        f"  {_out_of(view.score, view.max_score)}  ",
        (view.status, "green" if view.status == "graded" else "red"),
        f"  ({view.execution_time * 1000:.0f} ms)",
    )
    body: list[Any] = [header]
    body += [Text(f"! {escape_controls(m)}", style="yellow") for m in view.messages]
    body += [Text(f"warning: {escape_controls(w)}", style="bold red") for w in view.warnings]
    if view.isolation is not None:  # instructor views only: the public one has none
        full = view.isolation.level == "full"
        body.append(Text(isolation_line(view.isolation), style="dim" if full else "bold red"))
    if view.status == "rejected":
        # Nothing ran: one line per question instead of a table of identical "not run" rows.
        body += [Text(_not_run_line(question)) for question in view.questions]
        console.print(Panel(Group(*body), expand=False))
        return
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
                escape(escape_controls(test.name)),
                f"[{style}]{test.status}[/]",
                f"{format_points(test.score)}/{format_points(test.max_score)}",
            )
            if test.status == "passed":
                continue
            # A backward error fails dx, grad_weight and grad_bias alike: say it once.
            feedback = "same as above" if test.feedback == previous else escape_controls(test.feedback)
            previous = test.feedback
            if test.output:
                feedback += f"\nprinted: {escape_controls(test.output[:300])}"
            notes.append(Text.assemble("\n", (f"{escape_controls(test.name)}: ", style), feedback))
        body.append(table)
        body += notes
    console.print(Panel(Group(*body), expand=False))


# What starts Markdown or HTML anywhere in a line: code, emphasis, links and images (an escaped "[" leaves
# "]" and "(" harmless), raw HTML and autolinks, entities (one can spell a control character), tables,
# strikethrough, math, and the escape itself. An "_" inside a word emphasises nothing, so identifiers such as
# grad_weight stay readable in the file.
_MD_INLINE = re.compile(r"[\\`*\[<&|~$]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
# What starts a block only at the beginning of a line: headings, quotes, lists, setext underlines, breaks.
_MD_LINE_START = re.compile(r"^([ \t]*)(?:([#>+=-])|(\d+)(?=[.)]))", re.MULTILINE)


def _line_start_escaped(match: re.Match[str]) -> str:
    indent, marker, number = match.groups()
    # "\-" for a bullet or underline; "1\." for a numbered item (a backslash before a digit escapes nothing).
    return f"{indent}\\{marker}" if marker else f"{indent}{number}\\"


def _md_text(text: str) -> str:
    """Student text as Markdown that renders as exactly that text: controls escaped, markup characters
    backslash-escaped, each line break kept (two trailing spaces), so a printed heading, fence, link or
    ``<img onerror=...>`` shows as typed instead of becoming one."""
    text = _MD_INLINE.sub(r"\\\g<0>", escape_controls(text))
    text = _MD_LINE_START.sub(_line_start_escaped, text)
    return text.replace("\n", "  \n")


def _md_fenced(text: str) -> list[str]:
    """Student text as a fenced code block, its fence longer than any run of backticks in the text: a
    printed ``` line can then never close the block early and let what follows render as Markdown."""
    text = escape_controls(text.rstrip("\n"))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, text, fence]


def to_markdown(result: Result, *, public: bool = False) -> str:
    """A report on one submission: the student's (``public=True``: what :meth:`Result.public` keeps), or the
    instructor's, which adds hidden tests' prints and the numeric diagnostics (hidden expected values among
    them) and says at the top that it is not for the student."""
    view = result.public() if public else result
    lines = [
        f"# {_md_text(view.submission)}: {_out_of(view.score, view.max_score)} ({view.status})",
        "",
    ]
    if not public:
        lines += [
            "**Instructor report: do not send it to the student.** It holds hidden tests' expected values and"
            " prints; the student's report is the one under `student/`.",
            "",
        ]
    lines += [_md_quote(_md_text(m)) for m in view.messages]
    lines += [_md_quote(f"**warning:** {_md_text(w)}") for w in view.warnings]
    if not public:
        lines += ["", f"Sandbox {_md_text(isolation_line(view.isolation))}"]
    if view.status == "rejected":
        lines += ["", *(f"- {_not_run_line(question)}" for question in view.questions)]
        return "\n".join(lines) + "\n"
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
            lines += [
                "",
                f"### `{test.name}` ({test.status}, {test.seconds * 1000:.1f} ms)",
                "",
                _md_text(test.feedback),
            ]
            if test.output:
                lines += ["", "Printed:", "", *_md_fenced(test.output)]
            if test.diagnostics is not None and not public:
                diagnostics = json.dumps(test.diagnostics.model_dump(exclude_defaults=True))
                lines += ["", f"Diagnostics (instructor only): `{diagnostics}`"]
    return "\n".join(lines) + "\n"


def _md_quote(markdown: str) -> str:
    """A block quote with every line quoted: a message of several lines stays in one quote."""
    return "\n".join(f"> {line}" for line in markdown.split("\n"))
