"""What the runner sees of a sandbox's cgroup, whichever cgroup version is underneath.

The runner and the zygote only need five things from a group: set this run's limits, the ``cgroup.procs``
files the zygote writes the sandbox's pid to, a kill of whatever a crashed run left behind, the CPU time of
everything in the group and how often the OOM killer acted in it. Keeping that interface free of versions
lets the runner stay ignorant of v1 and v2 (and of which controllers a host lacks).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from grader.runner import Limits

GROUP = "conv1d-grader"
"""The folder the sandboxes' groups live in (v1: under each controller's mount; v2: see ``_v2``)."""
# Copy-on-write copies of the warm interpreter's pages are charged to the sandbox as it touches them.
_SLACK_MB = 64


def kill_listed(procs_file: Path) -> None:
    """SIGKILL every process a ``cgroup.procs`` file lists (nothing if the group is gone)."""
    try:
        pids = procs_file.read_text().split()
    except OSError:
        return
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


def memory_limit_bytes(limits: Limits) -> int:
    """The memory cap of a sandbox's group: the same size whichever version enforces it."""
    # Scratch files on the sandbox's tmpfs are charged to the group too.
    return (limits.memory_mb + limits.max_file_mb + _SLACK_MB) << 20


class SandboxCgroup(ABC):
    """The cgroup(s) of one sandbox uid: ``create(uid)`` picks the version this host has."""

    _groups: ClassVar[dict[int, SandboxCgroup]] = {}
    _groups_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def create(cls, uid: int) -> SandboxCgroup | None:
        """The group for ``uid``, or None where no cgroup can be used here (``probe()`` says why).

        Made once per uid and process, then reused: every sandbox that leases the uid shares its group.
        """
        # Imported here: the implementations subclass this class, so their modules import this one.
        from grader.sandbox._cgroup._detect import detect

        with SandboxCgroup._groups_lock:
            group = SandboxCgroup._groups.get(uid)
            if group is None:
                hierarchy = detect()
                group = hierarchy.group(uid) if hierarchy is not None else None
                if group is not None:
                    SandboxCgroup._groups[uid] = group
            return group

    @abstractmethod
    def configure(self, limits: Limits) -> None:
        """Apply this run's limits to the group (raises OSError if the kernel refuses, e.g. EBUSY)."""

    @property
    @abstractmethod
    def procs_files(self) -> list[str]:
        """The ``cgroup.procs`` files the zygote writes the sandbox's pid to, in order, to put it in the group."""

    @abstractmethod
    def kill_leftovers(self) -> None:
        """SIGKILL whatever is still in the group. Nothing should be: a sandbox is gone before its run ends,
        and it dies with its zygote. This is the backstop for a zygote killed under a sandbox that somehow
        survived it, which would otherwise be charged to the next run on this uid."""

    @abstractmethod
    def cpu_seconds(self) -> float:
        """CPU time used by every process that has been in the group, children and threads included."""

    @abstractmethod
    def oom_kills(self) -> int:
        """How many processes the OOM killer has killed in the group (0 where memory is not controlled)."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """``{"version", "controllers", "missing", "path", "reasons"}`` for the run's isolation report:
        ``missing`` names what is not enforced here and ``reasons`` says why, per missing name."""
