"""Through ``grader.grade`` with the real sandbox: the engine's own cases, the engine's own scoring."""

from __future__ import annotations

import os
import resource
from concurrent.futures import ThreadPoolExecutor
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


def _slow_to_compile(depth: int = 95, names: int = 500) -> str:
    """Nested functions whose innermost one uses every name of every outer one: each name is a free variable
    of every scope in between, so compiling it takes seconds of CPU from under a megabyte of text."""
    lines, indent = [], ""
    for level in range(depth):
        lines.append(f"{indent}def f{level}():")
        indent += " "
        values = ", ".join(f"v{level}_{i}" for i in range(names))
        lines.append(f"{indent}{values} = {', '.join('0' for _ in range(names))}")
    every = ",".join(f"v{level}_{i}" for level in range(depth) for i in range(names))
    lines.append(f"{indent}return ({every})")
    return "\n".join(lines) + "\n"


def test_a_compile_bomb_costs_only_its_author(runner: SandboxRunner, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb" / "nn.py"
    bomb.parent.mkdir()
    bomb.write_text(_slow_to_compile())
    assert bomb.stat().st_size < 1 << 20  # under the upload limit
    good = _write(tmp_path, GOOD_SOURCE)
    before = resource.getrusage(resource.RUSAGE_SELF)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda path: grade(path, runner=runner), [bomb, good]))
    after = resource.getrusage(resource.RUSAGE_SELF)
    rejected, correct = results
    assert rejected.status == "rejected" and "took too long to compile" in rejected.messages[0]
    assert correct.score == correct.max_score
    # The compiling happened in the bomb's sandbox: the grader's own CPU is a fraction of what it takes.
    assert (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime) < 1.0
