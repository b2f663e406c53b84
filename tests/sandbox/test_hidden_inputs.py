"""Hidden inputs stay hidden where it matters: what one grading shows a student is worthless for any other.

Each submission's hidden inputs are drawn from a secret key and the file's bytes (grader/keys.py). These tests
attack that through ``grader.grade`` and the real sandbox: a file that leaks every array it can reach, and the
best any leak could give, a table of every hidden input's right answer recorded from one grading.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from sandbox_support import GOOD_SOURCE

from grader import Submission, grade
from grader.keys import load_key
from grader.packs.conv1d.cases import build_cases
from grader.report import to_gradescope, to_json
from grader.sandbox import SandboxRunner

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the namespace sandbox needs root (as in CI)")

HOSTILE = Path(__file__).parent / "hostile"
SAMPLES = Path(__file__).resolve().parents[2] / "submissions"


def _hidden_cases(data: bytes) -> list:
    seed, _ = load_key().draw(data)
    return [case for case in build_cases(seed).backward if not case.visible]


def _prefix(array: np.ndarray) -> str:
    """How the leaking file writes the start of an input (``str(list)``), long enough to be unmistakable."""
    return str(array.ravel().tolist()[:6])[:-1]


def test_leaked_hidden_inputs_are_a_files_own_and_change_with_one_byte(runner: SandboxRunner) -> None:
    leaking = (HOSTILE / "leak_everything.py").read_bytes()
    changed = leaking + b"\n# one byte more, and the hidden inputs are others\n"
    views = {}
    for data in (leaking, changed):
        result = grade(Submission("leaker", data), runner=runner)
        views[data] = to_json(result) + repr(to_gradescope(result))
    for data, other in ((leaking, changed), (changed, leaking)):
        own, theirs = _hidden_cases(data), _hidden_cases(other)
        assert all(not np.array_equal(mine.x, that.x) for mine, that in zip(own, theirs, strict=True))
        # The attack works on its own grading (hidden feedback shows an exception's message, by design)...
        assert any(_prefix(case.x) in views[data] for case in own)
        # ...and never shows another file's hidden inputs.
        assert not any(_prefix(case.x) in views[data] for case in theirs)


TABLE = '''import numpy as np

ANSWERS = {answers!r}


def get_conv1d_output_size(input_size, kernel_size, stride):
    return (input_size - kernel_size) // stride + 1


class Conv1d:
    def __init__(self, *args):
        self.args = args

    def _answer(self):
        return ANSWERS.get(repr(self.x.ravel().tolist()), {{}})

    def forward(self, x):
        self.x = x
        return np.array(self._answer().get("out", 0.0))

    def backward(self, delta):
        answer = self._answer()
        self.grad_weight = np.array(answer.get("grad_weight", 0.0))
        self.grad_bias = np.array(answer.get("grad_bias", 0.0))
        return np.array(answer.get("dx", 0.0))
'''


def test_a_table_of_answers_recorded_from_one_grading_scores_nothing_on_the_next(runner: SandboxRunner) -> None:
    # The best any leak could give: every input of one grading (visible and hidden) with its right answer.
    recorded = build_cases(load_key().draw(GOOD_SOURCE.encode())[0])
    answers: dict[str, dict[str, object]] = {}
    for case in (*recorded.forward, *recorded.backward):
        entry = answers.setdefault(repr(case.x.ravel().tolist()), {})
        entry["out"] = case.expected_forward().tolist()
        if case.delta is not None:
            entry.update({name: value.tolist() for name, value in case.expected_backward().items()})
    result = grade(Submission("table", TABLE.format(answers=answers).encode()), runner=runner)
    hidden = [t for t in result.tests() if t.visibility != "visible" and t.name.startswith("hidden_")]
    visible = [t for t in result.tests() if t.name.startswith("test_conv1d_")]
    assert hidden and all(t.score == 0 for t in hidden)
    assert visible and all(t.status == "passed" for t in visible)  # the table itself works: inputs moved on


@pytest.mark.parametrize("key", ["one-deployment's-key-0123", "another-deployment-key-4567"])
def test_half_precision_fails_every_hidden_forward_case_whatever_the_draw(
    runner: SandboxRunner, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hidden values need fourteen significant bits per product: exact in float32 and float64, not in float16.
    monkeypatch.setenv("CONV1D_HIDDEN_KEY", key)
    result = grade(SAMPLES / "bug_float16.py", runner=runner)
    hidden = [t for t in result.tests() if t.name.startswith("hidden_forward_")]
    assert len(hidden) == 10 and all(t.status == "failed" for t in hidden), [(t.name, t.status) for t in hidden]
    assert {t.mistake for t in hidden} == {"reduced_precision"}
