"""The runner for real as a grader that is not root in the host's user namespace: as an unprivileged user
(uid 65534), as root inside a user namespace (a rootless container), and where no user namespace may be made.
Each runs ``fallback_probe.py`` and checks what it reports."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sandbox_support import LIMITS, layout_children

HERE = Path(__file__).parent
NOBODY = 65534
PROBE = f"{sys.executable} {HERE / 'fallback_probe.py'}"

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or shutil.which("unshare") is None,
    reason="needs root to become nobody or to make a user namespace",
)


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
        f"-- {PROBE}"
    )
    return " && ".join(steps)


def _probe(command: list[str]) -> dict[str, Any]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=HERE.parents[1], check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _lines(seen: dict[str, Any], name: str, prefix: str) -> list[str]:
    return [line for line in seen["hostile"][name] if line.startswith(prefix)]


def _assert_namespaced_without_root(seen: dict[str, Any], uid: int) -> None:
    """What both ways of running without root in the host's user namespace must give: everything but a uid of
    the sandbox's own and cgroups, each named in ``missing``."""
    assert seen["all_correct"] and seen["still_correct"]
    isolation = seen["isolation"]
    assert isolation["level"] == "partial"
    assert isolation["namespaces"] == ["user", "pid", "mount", "net", "ipc", "uts"]
    assert (isolation["filesystem"], isolation["uid"], isolation["capabilities"]) == ("pivot_root", "grader", "none")
    assert isolation["seccomp"] == {"how": "libseccomp", "arch": ["x86_64", "aarch64"]} and isolation["no_new_privs"]
    assert isolation["cgroups"] == {"version": None, "controllers": []}
    uid_gap, *process_gap, cgroup_gap = isolation["missing"]
    assert uid_gap.startswith("no uid of its own per sandbox") and "run the grader as root" in uid_gap
    assert cgroup_gap.startswith("no cgroups") and "run the grader as root" in cgroup_gap
    assert seen["warnings"] == []

    snoop = seen["snoop_output"].splitlines()
    env_line = next(line for line in snoop if line.startswith("ENV"))
    assert seen["token_in_env"] and "CONV1D_GRADER_API_TOKEN" not in env_line
    # An empty scratch of its own, but for the way to what the layout binds under /tmp (NumPy in a checkout's
    # virtualenv there, as in CI's clone).
    assert next(line for line in snoop if line.startswith("CWD")) == f"CWD /tmp {sorted(layout_children(Path('/tmp')))}"
    root = next(line for line in snoop if line.startswith("ROOT"))
    # The minimal root (directories on the way to what the layout binds, e.g. a virtualenv's NumPy), not the host's.
    assert "'etc'" not in root and "'home'" not in root and "'var'" not in root
    status = {line.split()[1]: line.split()[2:] for line in snoop if line.startswith("STATUS")}
    assert status["Uid:"] == [str(uid)] * 4
    for capabilities in ("CapEff:", "CapPrm:", "CapInh:", "CapBnd:", "CapAmb:"):
        assert status[capabilities] == ["0000000000000000"], (capabilities, status)
    assert status["NoNewPrivs:"] == ["1"] and status["Seccomp:"] == ["2"]
    assert f"NPROC {LIMITS.max_processes}" in snoop
    assert "FORKED 8" in snoop  # the process limit counts this sandbox's own processes only
    assert seen["hog"] == ["timeout", "used up its 0.5 s of CPU time in backward"]

    assert "BLOCKED loopback OSError" in seen["hostile"]["network"]
    assert "BLOCKED interfaces OSError" in seen["hostile"]["network"]  # netlink: refused by seccomp
    assert _lines(seen, "network", "GOT proc interfaces") == ["GOT proc interfaces ['lo']"]
    signals = seen["hostile"]["signal_grader"]
    # Where the grader is uid 0 of its namespace, so is the sandbox: setuid(0) then changes nothing (it holds no
    # capability either way, checked above), so only an unprivileged grader's sandbox must be refused it.
    changes = ("setuid 0", "setgid 0") if uid != 0 else ()
    for attempt in ("SIGUSR1 grader", "SIGKILL grader", "ptrace grader", *changes, "setgroups"):
        assert any(line.startswith(f"BLOCKED {attempt} ") for line in signals), (attempt, signals)
    assert _lines(seen, "environment", "PIDS") == ["PIDS [1]"]
    assert not any("GOT grader" in line for line in seen["hostile"]["environment"])
    if uid != 0:
        assert process_gap == []
        (stopped,) = _lines(seen, "fork_bomb", "FORK STOPPED")
        assert int(stopped.split()[2]) < LIMITS.max_processes
    else:
        # uid 0 here is the host's root, which RLIMIT_NPROC never applies to: the report says so (the probe
        # runs no fork bomb then: only its CPU time would stop it, and this machine is shared).
        (gap,) = process_gap
        assert gap.startswith("no process limit: the grader's uid is the host's root")
        assert "fork_bomb" not in seen["hostile"]
    results = {line.split()[1]: line.split()[2:] for line in _lines(seen, "kernel_attack_surface", "SYSCALL")}
    assert results["clone3"] == ["-1", str(errno.ENOSYS)]
    assert all(r == ["-1", str(errno.EPERM)] for name, r in results.items() if name != "clone3"), results
    assert _lines(seen, "kernel_attack_surface", "FORK") == ["FORK 7"]


@needs_root
def test_an_unprivileged_grader_gets_namespaces_through_a_user_namespace(tmp_path: Path) -> None:
    seen = _probe(["unshare", "--mount", "--propagation", "private", "sh", "-c", _as_nobody(tmp_path)])
    assert seen["uid"] == NOBODY
    _assert_namespaced_without_root(seen, NOBODY)


@needs_root
def test_root_inside_a_user_namespace_gets_the_same(tmp_path: Path) -> None:
    """A rootless container: root, but only in a user namespace mapping one uid, so no uid to change to and no
    cgroups to write; before, the zygote failed to start any sandbox."""
    seen = _probe(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", f"exec {PROBE}"])
    assert seen["uid"] == 0
    _assert_namespaced_without_root(seen, 0)


@needs_root
def test_without_user_namespaces_the_grader_falls_back_loudly_and_still_limits(tmp_path: Path) -> None:
    """user.max_user_namespaces=0 inside a user namespace of the test's own (the host's setting is untouched)."""
    script = f"echo 0 > /proc/sys/user/max_user_namespaces && exec {PROBE}"
    seen = _probe(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script])
    assert seen["all_correct"]
    isolation = seen["isolation"]
    assert (isolation["level"], isolation["namespaces"], isolation["filesystem"]) == ("minimal", [], "none")
    (gap,) = isolation["missing"]
    assert gap.startswith("no PID/mount/network/IPC/UTS namespaces and no private filesystem view: no user namespace")
    assert "sysctl -w user.max_user_namespaces=15000" in gap
    snoop = seen["snoop_output"]
    env_line = next(line for line in snoop.splitlines() if line.startswith("ENV"))
    assert "CONV1D_GRADER_API_TOKEN" not in env_line
    cwd_line = next(line for line in snoop.splitlines() if line.startswith("CWD"))
    assert cwd_line.endswith("[]") and "/sandbox-" in cwd_line  # an empty scratch directory of its own
    assert f"NPROC {LIMITS.max_processes}" in snoop
    assert seen["hog"] == ["timeout", "used up its 0.5 s of CPU time in backward"]
