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


def _as_nobody(tmp_path: Path) -> str:
    """Shell commands that run the probe as nobody. Whatever the probe needs under /root (mode 0700: a
    pyenv interpreter, a checkout, a virtualenv) is re-exposed, alone, on a world-readable tmpfs over
    /root in a private mount namespace; then every privilege is dropped for good."""
    needed = {Path(p).resolve() for p in (sys.base_prefix, sys.prefix, HERE.parents[1])}
    under_root = sorted(p for p in needed if p.is_relative_to("/root"))
    keeps = [tmp_path / f"keep{i}" for i in range(len(under_root))]
    steps = [f"mkdir -p {keep} && mount --bind {path} {keep}" for keep, path in zip(keeps, under_root, strict=True)]
    if under_root:
        steps.append("mount -t tmpfs -o mode=0755 tmpfs /root")
    steps += [f"mkdir -p {path} && mount --bind {keep} {path}" for keep, path in zip(keeps, under_root, strict=True)]
    steps.append(
        f"exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups --inh-caps=-all --bounding-set=-all "
        f"-- {sys.executable} {HERE / 'fallback_probe.py'}"
    )
    return " && ".join(steps)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to become nobody")
def test_unprivileged_grader_falls_back_loudly_and_still_limits(tmp_path: Path) -> None:
    script = _as_nobody(tmp_path)
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
    assert seen["hog"] == ["timeout", "used up its 0.5 s of CPU time in backward"]
