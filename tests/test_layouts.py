"""Grading works wherever the environment lives: NumPy under /tmp, as in a CI checkout with its venv there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the namespace sandbox needs root (as in CI)")


def test_numpy_installed_under_tmp_still_grades():
    numpy_dir = Path(np.__file__).parent
    with tempfile.TemporaryDirectory(dir="/tmp") as site:
        shutil.copytree(numpy_dir, Path(site, "numpy"), symlinks=True)
        libs = numpy_dir.with_name("numpy.libs")
        if libs.is_dir():
            shutil.copytree(libs, Path(site, "numpy.libs"), symlinks=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([site, str(ROOT)])}
        done = subprocess.run(
            [sys.executable, "-m", "grader", "grade", str(ROOT / "submissions" / "correct_vectorised.py"), "--json"],
            capture_output=True,
            text=True,
            env=env,
            cwd=site,
            timeout=120,
        )
        check = subprocess.run(
            [sys.executable, "-c", "import numpy; print(numpy.__file__)"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
    assert check.stdout.startswith(site), "the copy under /tmp was not the numpy in use"
    result = json.loads(done.stdout)
    assert (result["status"], result["score"]) == ("graded", 100), done.stderr[-2000:]
