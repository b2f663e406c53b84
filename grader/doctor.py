"""``conv1d-grader doctor``: what this host supports, what the sandbox will really enforce on it, and the exact
fix for each gap, before a single submission is graded.

The host facts are read without changing anything; the sandbox's part comes from a real runner (its zygote
started, a sandbox run on a trivial call), so it can only say what the grading itself would get.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click

from grader.runner import Isolation

_CLONE_NEWUSER = 0x10000000


@dataclass(frozen=True)
class HostFacts:
    """What the host offers, whatever the grader makes of it."""

    arch: str
    """``platform.machine()``: libseccomp builds the filter for x86_64 and aarch64, the built-in fallback for
    x86_64 only."""
    root: bool
    """Whether the grader runs as uid 0."""
    initial_user_namespace: bool
    """Whether it is in the host's own user namespace (root there is real root, not a container's)."""
    user_namespaces: str
    """``allowed``, or why a user namespace cannot be made here."""
    cgroups: dict[str, Any]
    """Cgroup version and controllers (from ``_cgroup.probe()`` where it exists)."""
    seccomp: str
    """Whether the kernel filters system calls for this process (``/proc/self/status``)."""
    fixes: tuple[str, ...] = field(default_factory=tuple)
    """The exact command or flag for each host-level gap."""


def _user_namespaces() -> str:
    """Try to make one as an unprivileged user, in a child process (unshare needs a single thread, and the
    grader stays as it is)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        if os.geteuid() == 0 and os.path.exists("/proc/self/uid_map"):
            # Root may always make one: ask as nobody, which is what "unprivileged" means.
            try:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            except OSError:
                pass  # root of a user namespace mapping one uid: ask as it
        libc = ctypes.CDLL(None, use_errno=True)
        error = 0 if libc.unshare(_CLONE_NEWUSER) == 0 else ctypes.get_errno()
        os.write(write_end, str(error).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        error = int(pipe.read() or b"-1")
    os.waitpid(pid, 0)
    return "allowed" if error == 0 else f"refused ({os.strerror(error) if error > 0 else 'no answer'})"


def _cgroups() -> dict[str, Any]:
    """The cgroup branch's ``probe()`` where it exists; otherwise what today's v1 groups need."""
    from grader.sandbox import _cgroup

    probe = getattr(_cgroup, "probe", None)
    if callable(probe):
        return dict(probe())
    root = Path("/sys/fs/cgroup")
    probes = {"memory": "memory/memory.limit_in_bytes", "cpuacct": "cpuacct/cpuacct.usage"}
    v1 = [name for name, path in probes.items() if (root / path).is_file()]
    if v1:
        return {"version": 1, "controllers": v1}
    if (root / "cgroup.controllers").is_file():
        return {"version": 2, "controllers": (root / "cgroup.controllers").read_text().split(), "used": False}
    return {"version": None, "controllers": []}


def _seccomp() -> str:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return "unknown"
    return "available" if "\nSeccomp:" in status else "not in this kernel"


def host_facts() -> HostFacts:
    from grader.sandbox._host import in_initial_user_namespace, userns_blocker

    fixes = []
    userns = _user_namespaces()
    blocker = userns_blocker()
    if blocker is not None:
        fixes.append(f"user namespaces: {blocker[0]}: {blocker[1]}")
    cgroups = _cgroups()
    if cgroups.get("version") is None:
        fixes.append("cgroups: none mounted: mount the v1 memory and cpuacct controllers at /sys/fs/cgroup")
    for name, fix in (cgroups.get("fixes") or {}).items():
        fixes.append(f"cgroups {name}: {fix}")
    return HostFacts(
        arch=platform.machine(),
        root=os.geteuid() == 0,
        initial_user_namespace=in_initial_user_namespace(),
        user_namespaces=userns,
        cgroups=cgroups,
        seccomp=_seccomp(),
        fixes=tuple(fixes),
    )


def sandbox_isolation() -> Isolation:
    """What a grading here gets: a real runner, a sandbox started and a trivial call run in it."""
    from grader.sandbox import SandboxRunner

    with SandboxRunner() as runner:
        return runner.self_test()


def run_doctor(*, as_json: bool = False) -> int:
    """Print the findings; 0 when the isolation is full, else 1. A sandbox that cannot start raises (exit 2)."""
    host = host_facts()
    isolation = sandbox_isolation()
    if as_json:
        click.echo(json.dumps({"host": asdict(host), "isolation": asdict(isolation)}, indent=2))
        return 0 if isolation.level == "full" else 1
    where = "in the host's user namespace" if host.initial_user_namespace else "inside a user namespace"
    click.echo("This host:")
    click.echo(f"  architecture: {host.arch} (seccomp: libseccomp covers x86_64 and aarch64, the fallback x86_64)")
    click.echo(f"  grader runs as: {'root' if host.root else f'uid {os.geteuid()}'}, {where}")
    click.echo(f"  unprivileged user namespaces: {host.user_namespaces}")
    controllers = ", ".join(host.cgroups.get("controllers") or []) or "none"
    click.echo(f"  cgroups: version {host.cgroups.get('version')}, controllers: {controllers}")
    click.echo(f"  seccomp: {host.seccomp}")
    for fix in host.fixes:
        click.echo(f"  fix: {fix}")
    click.echo("The sandbox will enforce (a real sandbox was started and ran a trivial call):")
    click.echo(f"  {isolation.summary().split('; missing: ')[0]}")
    for gap in isolation.missing:
        click.secho(f"  missing: {gap}", fg="red")
    verdict = "full isolation" if isolation.level == "full" else f"{isolation.level} isolation: see the fixes above"
    click.secho(verdict, fg="green" if isolation.level == "full" else "red", bold=True)
    return 0 if isolation.level == "full" else 1
