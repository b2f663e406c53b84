"""cgroup v1: a ``memory``, ``cpuacct``, ``cpu`` and ``pids`` group per sandbox uid, one per hierarchy.

``RLIMIT_AS`` caps each process, so a submission that forks could still use ``max_processes`` times its
memory; the memory group caps the sandbox as a whole. The CPU time read from ``/proc/<pid>/stat`` covers
the sandbox process's threads but not its children; ``cpuacct.usage`` covers everything in the group.
The ``cpu`` group gives every sandbox the same ``cpu.shares``, so a submission that keeps many processes or
threads busy competes as one: it slows itself, not the sandboxes beside it. ``pids.max`` caps the group's
tasks whatever uid they run as (``RLIMIT_NPROC`` counts per uid; both apply).

memory and cpuacct are required, as they always were: without them there is no group at all. cpu and pids
are used where they are mounted, and ``describe()`` names the ones that are not.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.runner import Limits
from grader.sandbox._cgroup._base import GROUP, SandboxCgroup, kill_listed, memory_limit_bytes
from grader.sandbox._cgroup._mounts import v1_mounts

REQUIRED = ("memory", "cpuacct")
OPTIONAL = ("cpu", "pids")
SHARES = 1024
"""Every sandbox's ``cpu.shares`` (v1's default): equal, so that each sandbox is one equal competitor."""


@dataclass(frozen=True)
class V1Hierarchy:
    """The v1 hierarchies of the controllers this host mounts: ``mounts`` maps a controller to its folder."""

    mounts: dict[str, Path]
    reasons: dict[str, str] = field(default_factory=dict)
    """Why each controller missing from ``mounts`` is missing."""

    def group(self, uid: int) -> CgroupV1 | None:
        try:
            self._prepare()
            return CgroupV1(uid, self)
        except OSError:
            return None

    def _prepare(self) -> None:
        for folder in set(self.mounts.values()):
            (folder / GROUP).mkdir(exist_ok=True)
        cpu = self.mounts.get("cpu")
        if cpu is not None:
            # Against the host's other tasks (each weighing SHARES), all sandboxes together weigh as much as
            # one busy process per CPU, as they did before they had a group: not as one process.
            shares = SHARES * (os.cpu_count() or 1)
            (cpu / GROUP / "cpu.shares").write_text(str(shares))


def detect_v1(text: str | None = None) -> V1Hierarchy | None:
    """The v1 hierarchies to use, or None if memory or cpuacct is not mounted as v1."""
    found = v1_mounts(REQUIRED + OPTIONAL, text)
    if any(name not in found for name in REQUIRED):
        return None
    reasons = {
        name: f"no cgroup v1 hierarchy with the {name} controller is mounted ({_LOSS[name]})"
        for name in OPTIONAL
        if name not in found
    }
    return V1Hierarchy({name: mount.point for name, mount in found.items()}, reasons)


_LOSS = {
    "cpu": "no fair CPU share: a submission's busy processes compete with other sandboxes one by one",
    "pids": "processes are capped by RLIMIT_NPROC on the sandbox's uid only",
}


class CgroupV1(SandboxCgroup):
    """The v1 groups of one sandbox uid (one folder per mounted hierarchy, shared where co-mounted)."""

    def __init__(self, uid: int, hierarchy: V1Hierarchy) -> None:
        self._hierarchy = hierarchy
        self._dirs = {name: folder / GROUP / str(uid) for name, folder in hierarchy.mounts.items()}
        # memory first: a process in any of the groups is in the memory group (the zygote writes in this
        # order and gives up at the first failure), so kill_leftovers reads that one only.
        order = ["memory", "cpuacct", "cpu", "pids"]
        self._procs = list(dict.fromkeys(str(self._dirs[n] / "cgroup.procs") for n in order if n in self._dirs))
        for folder in set(self._dirs.values()):
            folder.mkdir(exist_ok=True)
        if "cpu" in self._dirs:
            (self._dirs["cpu"] / "cpu.shares").write_text(str(SHARES))
        # Kept open: the usage is read on every wake-up of every call, and one pread is a single syscall.
        self._usage_fd = os.open(self._dirs["cpuacct"] / "cpuacct.usage", os.O_RDONLY | os.O_CLOEXEC)

    def configure(self, limits: Limits) -> None:
        (self._dirs["memory"] / "memory.limit_in_bytes").write_text(str(memory_limit_bytes(limits)))
        if "pids" in self._dirs:
            (self._dirs["pids"] / "pids.max").write_text(str(limits.max_processes))

    @property
    def procs_files(self) -> list[str]:
        return self._procs

    def kill_leftovers(self) -> None:
        kill_listed(self._dirs["memory"] / "cgroup.procs")

    def cpu_seconds(self) -> float:
        return int(os.pread(self._usage_fd, 32, 0)) / 1e9

    def oom_kills(self) -> int:
        for line in (self._dirs["memory"] / "memory.oom_control").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def describe(self) -> dict[str, Any]:
        return {
            "version": 1,
            "controllers": sorted(self._dirs),
            "missing": sorted(self._hierarchy.reasons),
            "path": str(self._dirs["memory"]),
            "reasons": dict(self._hierarchy.reasons),
        }
