"""Settings every test shares.

The hidden-case key comes from the environment here, so that no test writes a key into the home folder of
whoever runs the suite; tests of the key file itself (tests/test_keys.py) unset it.
"""

import os

import pytest

import grader.sandbox
from grader import engine
from tests.fakes import ScriptedRunner

TEST_KEY = "tests-only-hidden-key-not-a-secret"
os.environ.setdefault("CONV1D_HIDDEN_KEY", TEST_KEY)


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> ScriptedRunner:
    """The process-wide runner, scripted: `grade`, `batch` and the platform entries start no process."""
    runner = ScriptedRunner()
    monkeypatch.setattr(engine, "default_runner", lambda: runner)
    monkeypatch.setattr(grader.sandbox, "prestart", lambda: None)
    return runner
