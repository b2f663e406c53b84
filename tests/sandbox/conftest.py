"""One sandbox runner (and so one zygote) for the whole session, as the grader itself would use it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sandbox_support import FAKE_TOKEN  # noqa: F401  (importing it puts the fake token in the environment)

from grader.sandbox import SandboxRunner


@pytest.fixture(scope="session")
def runner() -> Iterator[SandboxRunner]:
    with SandboxRunner() as shared:
        yield shared
