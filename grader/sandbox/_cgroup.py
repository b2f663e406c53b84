"""Per-sandbox cgroups (v1 ``memory`` and ``cpuacct``): what rlimits cannot see across processes.

``RLIMIT_AS`` caps each process, so a submission that forks could still use ``max_processes`` times its
memory; the memory cgroup caps the sandbox as a whole. The CPU time read from ``/proc/<pid>/stat`` covers
the sandbox process's threads but not its children; ``cpuacct.usage`` covers everything in the group.
One group per leased uid, reused by every sandbox that holds the lease; the sandbox joins it itself,
before it runs any submission code.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path

from grader.runner import Limits

_ROOT = Path("/sys/fs/cgroup")
_GROUP = "conv1d-grader"
MEMORY_GROUPS = _ROOT / "memory" / _GROUP
"""The folder holding one memory group per sandbox uid (read by the benchmark for its memory figure)."""
_CPUACCT_GROUPS = _ROOT / "cpuacct" / _GROUP
# Copy-on-write copies of the warm interpreter's pages are charged to the sandbox as it touches them.
_SLACK_MB = 64
_groups: dict[int, SandboxCgroup] = {}
_groups_lock = threading.Lock()


class SandboxCgroup:
    """The memory and cpuacct groups of one sandbox uid."""

    def __init__(self, uid: int) -> None:
        self._memory = MEMORY_GROUPS / str(uid)
        self._cpuacct = _CPUACCT_GROUPS / str(uid)
        self._usage_fd = -1

    @classmethod
    def create(cls, uid: int) -> SandboxCgroup | None:
        """The groups for ``uid``, or None where cgroup v1 controllers cannot be used here.

        Made once per uid and process, then reused: every sandbox that leases the uid shares its groups.
        """
        with _groups_lock:
            group = _groups.get(uid)
            if group is None:
                group = cls._make(uid)
                if group is not None:
                    _groups[uid] = group
            return group

    @classmethod
    def _make(cls, uid: int) -> SandboxCgroup | None:
        # Only real v1 hierarchies: on a cgroup2 mount, mkdir would happily create v2 groups named "memory".
        if not (_ROOT / "memory" / "memory.limit_in_bytes").is_file():
            return None
        if not (_ROOT / "cpuacct" / "cpuacct.usage").is_file():
            return None
        group = cls(uid)
        try:
            group._memory.mkdir(parents=True, exist_ok=True)
            group._cpuacct.mkdir(parents=True, exist_ok=True)
            # Kept open: the usage is read on every wake-up of every call, and one pread is a single syscall.
            group._usage_fd = os.open(group._cpuacct / "cpuacct.usage", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        return group

    def configure(self, limits: Limits) -> None:
        # Scratch files on the sandbox's tmpfs are charged here too.
        limit = (limits.memory_mb + limits.max_file_mb + _SLACK_MB) << 20
        (self._memory / "memory.limit_in_bytes").write_text(str(limit))

    @property
    def procs_files(self) -> list[str]:
        """The files the sandbox writes its own pid to, to join the groups."""
        return [str(self._memory / "cgroup.procs"), str(self._cpuacct / "cgroup.procs")]

    def kill_leftovers(self) -> None:
        """SIGKILL whatever is still in the group. Nothing should be: a sandbox is gone before its run ends,
        and it dies with its zygote. This is the backstop for a zygote killed under a sandbox that somehow
        survived it, which would otherwise be charged to the next run on this uid."""
        try:
            pids = (self._memory / "cgroup.procs").read_text().split()
        except OSError:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)

    def cpu_seconds(self) -> float:
        return int(os.pread(self._usage_fd, 32, 0)) / 1e9

    def oom_kills(self) -> int:
        for line in (self._memory / "memory.oom_control").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0
