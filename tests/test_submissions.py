"""Every sample in ``submissions/`` gets the score its docstring promises, through the real sandbox.

Each sample declares its expectation on a line of its module docstring::

    expected: q1=all q2=partial            (all / partial / 0 per question; status=graded implied)
    expected: status=rejected line=12      (rejected, and the message names line 12)
    expected: status=rejected module=torch (rejected, and the message names the module)
    expected: q1=partial q2=0 message=Conv1D
    expected: q1=all q2=partial hint=dx_overwritten cause=dx_fancy_index_add

``hint`` (``bug_*`` samples) is the fingerprint every failing test must name, and nothing else. ``cause``
is for a sample whose values other mistakes give too, so that the fingerprint names the symptom: every
failing test's hint must then include the fix for that cause (``grader.packs.conv1d.hints.CAUSE_FIXES``), the one
that repairs this sample.

Forward bugs must lose points in q1 only and backward bugs in q2 only: that is what "all" on the other
question checks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import Result, grade, load_config
from grader.models import QuestionResult
from grader.packs.conv1d.hints import CAUSE_FIXES

SAMPLES = Path(__file__).resolve().parent.parent / "submissions"


def expectation(path: Path) -> dict[str, str]:
    """The ``expected:`` line of the sample's docstring, read as text: some samples do not parse."""
    docstring = path.read_text("utf-8").split('"""')[1]
    line = next((li for li in docstring.splitlines() if li.startswith("expected:")), None)
    assert line is not None, f"{path.name} has no 'expected:' line in its docstring"
    return dict(item.split("=", 1) for item in line.removeprefix("expected:").split())


SCENARIOS = sorted(SAMPLES.glob("*.py"))


def _check_question(question: QuestionResult, want: str) -> None:
    if want == "all":
        failing = [(t.name, t.feedback) for t in question.tests if t.status != "passed"]
        assert question.score == pytest.approx(question.max_score), failing
    elif want == "0":
        assert question.score == 0, [t.name for t in question.tests if t.status == "passed"]
    else:
        assert want == "partial"
        assert 0 < question.score < question.max_score


@pytest.fixture(scope="module")
def config():
    return load_config()


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_sample_gets_its_expected_score(path: Path, config) -> None:
    check_expectation(path, grade(path, config))


def check_expectation(path: Path, result: Result) -> None:
    """The result is what the sample's docstring promises (also used by the test under load)."""
    want = expectation(path)
    assert result.status == want.get("status", "graded"), result.messages
    messages = " ".join(result.messages)
    if "line" in want:
        assert f"line {want['line']}" in messages
    if "module" in want:
        assert f"`{want['module']}`" in messages
    if "message" in want:
        assert want["message"] in messages
    for qid in ("q1", "q2"):
        if qid in want:
            _check_question(result.question(qid), want[qid])


def test_every_sample_declares_an_expectation() -> None:
    assert len(SCENARIOS) >= 10
    for path in SCENARIOS:
        assert expectation(path)


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("bug_*.py")), ids=lambda p: p.stem)
def test_each_sample_bug_gets_its_own_hint_wherever_it_loses_points(path: Path, config) -> None:
    fingerprint = expectation(path)["hint"]
    result = grade(path, config)
    failed = [t for t in result.tests() if t.status != "passed"]
    assert failed
    assert {t.mistake for t in failed} == {fingerprint}, [(t.name, t.mistake) for t in failed]
    assert all(t.hint and t.hint in t.feedback for t in failed if t.name != "test_get_conv1d_output_size")
    cause = expectation(path).get("cause")
    if cause is not None:
        fix = CAUSE_FIXES[cause]
        assert all(fix in (t.hint or "") for t in failed), [t.name for t in failed if fix not in (t.hint or "")]
