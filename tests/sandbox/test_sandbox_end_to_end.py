"""Through ``grader.grade`` with the real sandbox: the engine's own cases, the engine's own scoring."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sandbox_support import GOOD_SOURCE

from grader.engine import grade
from grader.sandbox import SandboxRunner

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the namespace sandbox needs root (as in CI)")

HOSTILE = Path(__file__).parent / "hostile"


def _write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "nn.py"
    path.write_text(source)
    return path


def test_correct_submission_gets_full_marks(runner: SandboxRunner, tmp_path: Path) -> None:
    result = grade(_write(tmp_path, GOOD_SOURCE), runner=runner)
    assert result.status == "graded"
    assert result.max_score > 0 and result.score == result.max_score


@pytest.mark.parametrize("name", ["forge_valid_reply", "monkeypatch_everything", "ndarray_subclass", "custom_objects"])
def test_forgers_gain_nothing(name: str, runner: SandboxRunner, tmp_path: Path) -> None:
    result = grade(_write(tmp_path, (HOSTILE / f"{name}.py").read_text()), runner=runner)
    earned = [test.name for question in result.questions for test in question.tests if test.score > 0]
    # Some of them implement get_conv1d_output_size honestly; no Conv1d test may be won by forging.
    assert all("output_size" in test for test in earned), earned
