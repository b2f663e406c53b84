"""Feedback through the real sandbox: prints per test, timeouts that name the call and the limit, timings."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import grade, load_config
from grader.report import to_gradescope

SAMPLES = Path(__file__).resolve().parent.parent / "submissions"


@pytest.fixture(scope="module")
def printing():
    return grade(SAMPLES / "prints_while_working.py", load_config())


def test_prints_are_captured_per_test(printing):
    forward_1 = next(t for t in printing.tests() if t.name == "test_conv1d_forward_1")
    assert "forward: x.shape = (2, 2, 4)" in forward_1.output
    size = printing.tests()[0]
    assert "output size for 10, 3, 2" in size.output


def test_prints_are_truncated_to_the_configured_cap(printing):
    limit = load_config().limits.output_bytes
    backward = next(t for t in printing.tests() if t.name == "test_conv1d_backward_1 (dx)")
    assert backward.output.startswith("forward: x.shape")
    assert len(backward.output.encode()) <= limit + 200  # the cap plus a truncation notice


def test_prints_never_change_the_score_or_leak_from_hidden_tests(printing):
    assert printing.score == printing.max_score
    public = printing.public()
    hidden = [t for t in public.tests() if t.visibility != "visible"]
    assert hidden and all(t.output == "" for t in hidden)
    assert all(
        "forward: x.shape" not in t["output"] for t in to_gradescope(printing)["tests"] if t["visibility"] != "visible"
    )


def test_each_test_reports_its_time(printing):
    assert all(t.seconds > 0 for t in printing.tests())


def test_a_timeout_names_the_call_and_the_limit(tmp_path):
    # Short limits keep the suite quick (every test gets the minimum, the large cases too); test_submissions
    # runs the same sample under the defaults.
    (tmp_path / "fast.toml").write_text("[limits]\ncpu_min_seconds = 0.2\ncpu_factor = 0.01\n")
    config = load_config(tmp_path / "fast.toml")
    result = grade(SAMPLES / "backward_hangs.py", config)
    backward = next(t for t in result.tests() if t.name == "test_conv1d_backward_1 (dx)")
    assert backward.status == "timeout"
    assert "backward" in backward.feedback
    assert "0.2 s of CPU time" in backward.feedback
