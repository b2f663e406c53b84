"""The degraded mode for real: the runner constructed by an unprivileged user (uid 65534)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sandbox_support import LIMITS

HERE = Path(__file__).parent
NOBODY = 65534


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to become nobody")
def test_unprivileged_grader_falls_back_loudly_and_still_limits(tmp_path: Path) -> None:
    # The interpreter lives under /root (mode 0700 here): in a private mount namespace, cover /root with
    # a world-readable tmpfs that holds only the interpreter, then drop every privilege for good.
    keep = tmp_path / "pyenv"
    keep.mkdir()
    script = (
        f"mount --bind /root/.pyenv {keep} && mount -t tmpfs -o mode=0755 tmpfs /root && "
        f"mkdir /root/.pyenv && mount --bind {keep} /root/.pyenv && "
        f"exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups --inh-caps=-all --bounding-set=-all "
        f"-- {sys.executable} {HERE / 'fallback_probe.py'}"
    )
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=HERE.parents[1],
        check=False,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["uid"] == NOBODY
    assert seen["all_correct"]
    assert seen["isolation"].startswith("DEGRADED")
    (warning,) = seen["warnings"]
    assert warning.startswith("SANDBOX DEGRADED: the grader is not running as root")
    assert seen["token_in_env"]  # the grader had the token...
    env_line = next(line for line in seen["snoop_output"].splitlines() if line.startswith("ENV"))
    assert "CONV1D_GRADER_API_TOKEN" not in env_line  # ...the submission did not
    cwd_line = next(line for line in seen["snoop_output"].splitlines() if line.startswith("CWD"))
    assert cwd_line.endswith("[]") and "/sandbox-" in cwd_line  # an empty scratch directory of its own
    assert f"NPROC {LIMITS.max_processes}" in seen["snoop_output"]
    assert seen["hog"] == ["timeout", "exceeded the 0.5 s CPU limit in backward"]
