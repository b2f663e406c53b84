"""The verdict is a function of the submission alone: the samples graded in a batch with more jobs than cores,
beside two busy loops per core, get exactly the scores their docstrings promise (as on a quiet machine).

Limits count CPU time and idle time measured from outside a sandbox, never the wall clock, so a busy machine
makes grading slower but never changes a score: a correct file keeps full marks, and a backward that hangs
keeps every forward point.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from grader import load_config
from grader.batch import discover, grade_folder
from tests.test_submissions import SAMPLES, check_expectation

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the namespace sandbox needs root (as in CI)")

CORES = os.cpu_count() or 1


@pytest.fixture
def busy_machine() -> Iterator[None]:
    loops = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(2 * CORES)]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def test_every_sample_keeps_its_verdict_beside_busy_loops_with_more_jobs_than_cores(busy_machine: None) -> None:
    entries = grade_folder(discover(SAMPLES), load_config(), jobs=4 * CORES)
    assert len(entries) >= 20
    for entry in entries:
        assert entry.result is not None, (entry.name, entry.error)
        check_expectation(entry.path, entry.result)
