"""Every sample of every installed pack (Conv1d's in ``submissions/``) gets the score its docstring promises,
through the real sandbox.

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

from grader import Config, Result, grade, load_config
from grader.models import QuestionResult
from grader.packs.conv1d.hints import CAUSE_FIXES
from grader.registry import available, get_pack

SAMPLES = Path(__file__).resolve().parent.parent / "submissions"
"""Conv1d's samples (a link to its pack's folder), which other tests use by name."""


def expectation(path: Path) -> dict[str, str]:
    """The ``expected:`` line of the sample's docstring, read as text: some samples do not parse."""
    docstring = path.read_text("utf-8").split('"""')[1]
    line = next((li for li in docstring.splitlines() if li.startswith("expected:")), None)
    assert line is not None, f"{path.name} has no 'expected:' line in its docstring"
    return dict(item.split("=", 1) for item in line.removeprefix("expected:").split())


SCENARIOS = sorted(SAMPLES.glob("*.py"))


def _pack_samples(pattern: str) -> list[tuple[str, Path]]:
    """``(pack name, sample)`` for every installed pack's samples matching ``pattern``."""
    found = []
    for name in available():
        folder = get_pack(name).samples()
        if folder is not None:
            found += [(name, path) for path in sorted(folder.glob(pattern))]
    return found


PACK_SAMPLES = _pack_samples("*.py")
BUG_SAMPLES = _pack_samples("bug_*.py")


def _check_question(question: QuestionResult, want: str) -> None:
    if want == "all":
        failing = [(t.name, t.feedback) for t in question.tests if t.status != "passed"]
        assert question.score == pytest.approx(question.max_score), failing
    elif want == "0":
        assert question.score == 0, [t.name for t in question.tests if t.status == "passed"]
    else:
        assert want == "partial"
        assert 0 < question.score < question.max_score


_CONFIGS: dict[str, Config] = {}


def config_for(pack: str) -> Config:
    """The default config of the pack (made once per pack)."""
    if pack not in _CONFIGS:
        _CONFIGS[pack] = load_config(None, pack)
    return _CONFIGS[pack]


@pytest.mark.parametrize(("pack", "path"), PACK_SAMPLES, ids=[f"{n}/{p.stem}" for n, p in PACK_SAMPLES])
def test_sample_gets_its_expected_score(pack: str, path: Path) -> None:
    check_expectation(path, grade(path, config_for(pack)))


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
    for question in result.questions:
        if question.id in want:
            _check_question(question, want[question.id])


def test_every_sample_declares_an_expectation() -> None:
    assert len(SCENARIOS) >= 10
    assert {"conv1d", "linear"} <= {name for name, _ in PACK_SAMPLES}
    for _, path in PACK_SAMPLES:
        assert expectation(path)


@pytest.mark.parametrize(("pack", "path"), BUG_SAMPLES, ids=[f"{n}/{p.stem}" for n, p in BUG_SAMPLES])
def test_each_sample_bug_gets_its_own_hint_wherever_it_loses_points(pack: str, path: Path) -> None:
    fingerprint = expectation(path)["hint"]
    result = grade(path, config_for(pack))
    failed = [t for t in result.tests() if t.status != "passed"]
    assert failed
    assert {t.mistake for t in failed} == {fingerprint}, [(t.name, t.mistake) for t in failed]
    assert all(t.hint and t.hint in t.feedback for t in failed if t.name != "test_get_conv1d_output_size")
    cause = expectation(path).get("cause")
    if cause is not None:
        fix = CAUSE_FIXES[cause]
        assert all(fix in (t.hint or "") for t in failed), [t.name for t in failed if fix not in (t.hint or "")]
