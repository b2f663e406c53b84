"""Where this host's cgroup hierarchies are, read from the kernel rather than assumed.

``/proc/self/mountinfo`` says which v1 controllers are mounted where (separately as ``cpu`` and
``cpuacct``, or co-mounted as ``cpu,cpuacct`` with symlinks: the mount point is the real folder either
way) and whether ``/sys/fs/cgroup`` itself is cgroup2. Checking for a file such as ``memory.limit_in_bytes``
instead would mistake a cgroup2 folder named ``memory`` for a v1 hierarchy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
# The kernel's fixed inode number of the initial cgroup namespace (PROC_CGROUP_INIT_INO).
_INIT_CGROUP_NS_INODE = 0xEFFFFFFB


@dataclass(frozen=True)
class Mount:
    """One line of mountinfo: which folder of the hierarchy (``root``) is mounted at ``point``."""

    root: str
    point: Path
    fstype: str
    options: frozenset[str]


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash in paths as octal escapes.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mounts(text: str | None = None) -> list[Mount]:
    """Every mount this process sees, in mount order (``text``: a mountinfo to read instead, for tests)."""
    if text is None:
        try:
            text = Path("/proc/self/mountinfo").read_text()
        except OSError:
            return []
    found = []
    for line in text.splitlines():
        before, sep, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        options = frozenset(tail[2].split(","))
        found.append(Mount(_unescape(fields[3]), Path(_unescape(fields[4])), tail[0], options))
    return found


def v1_mounts(controllers: tuple[str, ...], text: str | None = None) -> dict[str, Mount]:
    """The v1 hierarchy of each of ``controllers`` that is mounted (preferring one under /sys/fs/cgroup)."""
    found: dict[str, Mount] = {}
    for mount in mounts(text):
        if mount.fstype != "cgroup":
            continue
        for name in controllers:
            if name in mount.options and (name not in found or _preferred(mount, found[name])):
                found[name] = mount
    return found


def _preferred(mount: Mount, current: Mount) -> bool:
    return mount.point.is_relative_to(CGROUP_ROOT) and not current.point.is_relative_to(CGROUP_ROOT)


def cgroup2_root(text: str | None = None) -> Mount | None:
    """The cgroup2 mount on /sys/fs/cgroup itself, if that is what is there: not a hybrid host's
    ``/sys/fs/cgroup/unified``, whose controllers are all bound to v1 hierarchies."""
    top = None
    for mount in mounts(text):
        if mount.point == CGROUP_ROOT:
            top = mount  # stacked mounts: the last one is the one seen
    return top if top is not None and top.fstype == "cgroup2" else None


def own_cgroup_v2(text: str | None = None) -> str | None:
    """This process's cgroup2 path (``0::/path`` in /proc/self/cgroup), relative to its cgroup namespace."""
    if text is None:
        try:
            text = Path("/proc/self/cgroup").read_text()
        except OSError:
            return None
    for line in text.splitlines():
        if line.startswith("0::"):
            return line[3:]
    return None


def in_initial_cgroup_namespace() -> bool:
    """Whether this process sees the whole cgroup tree (the host's), not a container's own namespace."""
    try:
        return os.stat("/proc/self/ns/cgroup").st_ino == _INIT_CGROUP_NS_INODE
    except OSError:
        # No cgroup namespaces in this kernel: there is only the initial view.
        return not Path("/proc/self/ns").is_dir() or not Path("/proc/self/ns/cgroup").exists()


def own_cgroup_dir(mount: Mount, text: str | None = None) -> Path | None:
    """The folder of this process's own cgroup under ``mount``, or None if the mount does not show it.

    The path in /proc/self/cgroup is relative to the cgroup namespace; a mount made in that namespace has
    ``root`` "/", while a bind mount of a subtree shows only what lies under its ``root``.
    """
    own = own_cgroup_v2(text)
    if own is None or not own.startswith("/"):
        return None
    root = mount.root.rstrip("/")
    if own != root and not own.startswith(root + "/"):
        return None
    return mount.point / own[len(root) :].lstrip("/")
