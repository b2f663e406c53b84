"""cgroup v2: one group per sandbox uid, ``sandbox-<uid>``, under a subtree this grader may manage.

Where the subtree is:

* **root of the host** (uid 0 in the initial cgroup namespace): ``/sys/fs/cgroup/conv1d-grader``, with
  ``+cpu +memory +pids`` enabled in the root's and its own ``cgroup.subtree_control``. The root cgroup is
  exempt from the no-internal-processes rule, so the grader can stay wherever it is.
* **delegated** (a container with its own cgroup namespace, or a systemd unit with ``Delegate=yes``): this
  process's own cgroup (``0::/path`` in /proc/self/cgroup), if its folder is writable. A cgroup that
  enables controllers for its children may hold no processes itself, so every process in it (the grader,
  its zygote, whatever else the container or unit runs) first moves into the leaf ``<own>/grader``; then
  the controllers are enabled in ``<own>/cgroup.subtree_control`` and the sandboxes' groups are made
  beside that leaf. A grader that starts in such a leaf (a second worker of the same service) uses the
  leaf's parent as it is.

Per group: ``memory.max`` (the v1 size), ``memory.swap.max`` 0, ``pids.max``, ``cpu.weight`` (equal for
every sandbox), CPU time from ``cpu.stat`` (kept on every cgroup, controller or not), OOM kills from
``memory.events``, and leftovers killed with ``cgroup.kill`` (one pid at a time from ``cgroup.procs`` on
kernels before 5.14, which lack it). A controller that cannot be had is left out and named in ``describe()``.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from grader.runner import Limits
from grader.sandbox._cgroup._base import GROUP, SandboxCgroup, kill_listed, memory_limit_bytes
from grader.sandbox._cgroup._mounts import cgroup2_root, in_initial_cgroup_namespace, own_cgroup_dir

WANTED = ("cpu", "memory", "pids")
WEIGHT = 100
"""Every sandbox's ``cpu.weight`` (v2's default): equal, so that each sandbox is one equal competitor."""
LEAF = "grader"
"""The leaf a delegated subtree's own processes move into (see the module's docstring)."""
_MIGRATION_ROUNDS = 100

Mode = Literal["root", "delegated"]


@dataclass(frozen=True)
class V2Hierarchy:
    """The folder the sandboxes' groups are made in, and which of the wanted controllers they get."""

    parent: Path
    mode: Mode
    enabled: frozenset[str]
    reasons: dict[str, str] = field(default_factory=dict)
    """Why each of WANTED (or a file such as memory.swap.max) that is not enforced is missing."""

    def group(self, uid: int) -> CgroupV2 | None:
        try:
            return CgroupV2(self.parent / f"sandbox-{uid}", self)
        except OSError:
            return None


class SubtreeUnavailable(Exception):
    """No cgroup2 subtree can be managed by this process; the message says why."""


def detect_v2() -> V2Hierarchy:
    """Find (and on first use set up) the subtree to make the sandboxes' groups in.

    Raises SubtreeUnavailable where /sys/fs/cgroup is not cgroup2 or no part of it is ours to manage.
    """
    mount = cgroup2_root()
    if mount is None:
        raise SubtreeUnavailable("/sys/fs/cgroup is not a cgroup2 mount")
    if os.geteuid() == 0 and in_initial_cgroup_namespace() and mount.root == "/":
        return _at_root(mount.point)
    own = own_cgroup_dir(mount)
    if own is None:
        raise SubtreeUnavailable("this process's own cgroup is not visible under /sys/fs/cgroup")
    return _delegated(own)


def _at_root(root: Path) -> V2Hierarchy:
    reasons: dict[str, str] = {}
    _enable(root, reasons)
    parent = root / GROUP
    try:
        parent.mkdir(exist_ok=True)
    except OSError as exc:
        raise SubtreeUnavailable(f"cannot create {parent}: {exc.strerror}") from exc
    return V2Hierarchy(parent, "root", _enable(parent, reasons), reasons)


def _delegated(own: Path) -> V2Hierarchy:
    if own.name == LEAF and _writable(own.parent):
        # Started inside the leaf an earlier grader of this service moved everything into: already set up.
        own = own.parent
    elif not _writable(own):
        raise SubtreeUnavailable(
            f"this process's cgroup {own} is not delegated to it ({own}/cgroup.procs or "
            "cgroup.subtree_control is not writable)"
        )
    else:
        _vacate(own)
    reasons: dict[str, str] = {}
    return V2Hierarchy(own, "delegated", _enable(own, reasons), reasons)


def _writable(folder: Path) -> bool:
    return all(os.access(folder / name, os.W_OK) for name in ("cgroup.procs", "cgroup.subtree_control"))


def _vacate(own: Path) -> None:
    """Move every process of ``own`` into ``own/grader``, so that ``own`` may enable controllers."""
    leaf = own / LEAF
    try:
        leaf.mkdir(exist_ok=True)
        # Processes forked while this runs land in ``own``: go round until it is empty.
        for _ in range(_MIGRATION_ROUNDS):
            pids = (own / "cgroup.procs").read_text().split()
            if not pids:
                return
            for pid in pids:
                # One write per process: a process that exits meanwhile fails alone (ESRCH).
                with contextlib.suppress(ProcessLookupError), open(leaf / "cgroup.procs", "w") as procs:
                    procs.write(pid)
    except OSError as exc:
        raise SubtreeUnavailable(f"cannot move this cgroup's processes into {leaf}: {exc.strerror}") from exc
    raise SubtreeUnavailable(f"processes kept appearing in {own} while moving them into {leaf}")


def _enable(folder: Path, reasons: dict[str, str]) -> frozenset[str]:
    """Enable each wanted controller for ``folder``'s children, one at a time (one write enabling several
    fails whole if one is refused); note in ``reasons`` why any is missing. Returns those enabled."""
    available = _words(folder / "cgroup.controllers")
    for name in WANTED:
        if name in reasons or name in _words(folder / "cgroup.subtree_control"):
            continue
        if name not in available:
            reasons[name] = f"not available in {folder}/cgroup.controllers ({_absent(folder, name)})"
            continue
        try:
            (folder / "cgroup.subtree_control").write_text(f"+{name}")
        except OSError as exc:
            reasons[name] = f"cannot be enabled in {folder}/cgroup.subtree_control: {exc.strerror}"
    return frozenset(_words(folder / "cgroup.subtree_control") & set(WANTED))


def _absent(folder: Path, name: str) -> str:
    root = cgroup2_root()
    if root is not None and name not in _words(root.point / "cgroup.controllers"):
        return "the kernel lacks it, or it is bound to a cgroup v1 hierarchy"
    return "the parent cgroup does not delegate it"


def _words(path: Path) -> set[str]:
    try:
        return set(path.read_text().split())
    except OSError:
        return set()


class CgroupV2(SandboxCgroup):
    """The v2 group of one sandbox uid."""

    def __init__(self, folder: Path, hierarchy: V2Hierarchy) -> None:
        self._dir = folder
        self._enabled = hierarchy.enabled
        self._reasons = dict(hierarchy.reasons)
        folder.mkdir(exist_ok=True)
        if "cpu" in self._enabled:
            (folder / "cpu.weight").write_text(str(WEIGHT))
        self._swap = "memory" in self._enabled and (folder / "memory.swap.max").exists()
        if "memory" in self._enabled and not self._swap:
            self._reasons["memory.swap.max"] = "swap is not accounted by this kernel: the group may swap"
        self._kill = (folder / "cgroup.kill").exists()
        # Kept open: the usage is read on every wake-up of every call, and one pread is a single syscall.
        self._stat_fd = os.open(folder / "cpu.stat", os.O_RDONLY | os.O_CLOEXEC)
        self._events_fd = -1
        if "memory" in self._enabled:
            # Read at the start of every run and after every death: also one pread.
            self._events_fd = os.open(folder / "memory.events", os.O_RDONLY | os.O_CLOEXEC)

    def configure(self, limits: Limits) -> None:
        if "memory" in self._enabled:
            (self._dir / "memory.max").write_text(str(memory_limit_bytes(limits)))
            if self._swap:
                (self._dir / "memory.swap.max").write_text("0")
        if "pids" in self._enabled:
            (self._dir / "pids.max").write_text(str(limits.max_processes))

    @property
    def procs_files(self) -> list[str]:
        return [str(self._dir / "cgroup.procs")]

    def kill_leftovers(self) -> None:
        if self._kill:
            # One write kills the whole group, a fork bomb's children forked meanwhile included.
            with contextlib.suppress(OSError):
                (self._dir / "cgroup.kill").write_text("1")
            return
        kill_listed(self._dir / "cgroup.procs")

    def cpu_seconds(self) -> float:
        # The first line is "usage_usec N".
        return int(os.pread(self._stat_fd, 64, 0).split(None, 2)[1]) / 1e6

    def oom_kills(self) -> int:
        if self._events_fd < 0:
            return 0
        for line in os.pread(self._events_fd, 512, 0).splitlines():
            key, _, value = line.partition(b" ")
            if key == b"oom_kill":
                return int(value)
        return 0

    @property
    def path(self) -> Path:
        """The group's folder (for tests and diagnostics)."""
        return self._dir

    def describe(self) -> dict[str, Any]:
        return {
            "version": 2,
            "controllers": sorted(self._enabled),
            "missing": sorted(self._reasons),
            "path": str(self._dir),
            "reasons": dict(self._reasons),
        }
