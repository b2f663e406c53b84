"""What this host offers the sandboxes in cgroups, and the exact fix for each gap (for a ``doctor`` command).

Read-only: it looks at mounts, namespaces and permissions and creates, enables or moves nothing, so it can
run before (or instead of) a grading, as any user.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from grader.sandbox._cgroup._base import GROUP
from grader.sandbox._cgroup._mounts import (
    CGROUP_ROOT,
    cgroup2_root,
    in_initial_cgroup_namespace,
    own_cgroup_dir,
    v1_mounts,
)
from grader.sandbox._cgroup._v1 import OPTIONAL, REQUIRED
from grader.sandbox._cgroup._v2 import LEAF, WANTED
from grader.sandbox._cgroup._v2 import _writable as _delegated_to_us

_MOUNT_CGROUP2 = (
    "mount cgroup2 with nsdelegate: `mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup` (on a systemd host, "
    "boot with systemd.unified_cgroup_hierarchy=1 instead)"
)
_CONTAINER = (
    "run the container with --cgroupns=private and a writable /sys/fs/cgroup (docker/podman: "
    "`--cgroupns=private --privileged`, or `--cgroupns=private -v /sys/fs/cgroup:/sys/fs/cgroup:rw`)"
)
_SYSTEMD = (
    "run the grader in a delegated systemd scope or service: `systemd-run --scope -p Delegate=yes -- "
    "conv1d-grader ...` (as a user: `systemd-run --user --scope -p Delegate=yes -- conv1d-grader ...`), or "
    "Delegate=yes in its unit; as root in the host's cgroup namespace none is needed"
)
_KILL = (
    "a kernel 5.14 or later: before it there is no cgroup.kill, and leftovers are killed one pid at a time "
    "from cgroup.procs, which a fork bomb can outrun"
)


def probe() -> dict[str, Any]:
    """What the sandboxes would get here: ``{"version": 1 | 2 | None, "mode", "path", "controllers",
    "missing", "fixes"}``, ``fixes`` giving, for each name in ``missing``, what to do about it."""
    v1 = {name: mount.point for name, mount in v1_mounts(REQUIRED + OPTIONAL).items()}
    mount = cgroup2_root()
    if all(name in v1 for name in REQUIRED) or (mount is None and v1):
        return _v1_report(v1)
    if mount is None:
        return _report(None, None, None, [], {"cgroup": _MOUNT_CGROUP2})
    if os.geteuid() == 0 and in_initial_cgroup_namespace() and mount.root == "/":
        available = _words(mount.point / "cgroup.controllers")
        fixes = {name: _not_in_kernel(name) for name in WANTED if name not in available}
        return _v2_report("v2-root", mount.point / GROUP, available, fixes)
    own = own_cgroup_dir(mount)
    if own is not None and own.name == LEAF and _delegated_to_us(own.parent):
        own = own.parent
    if own is None or not _delegated_to_us(own):
        fix = _SYSTEMD if in_initial_cgroup_namespace() else _CONTAINER
        return _report(2, None, None, [], {"cgroup": fix})
    available = _words(own / "cgroup.controllers")
    fixes = {
        name: f"delegate it: Delegate=yes in the systemd unit, or `echo +{name} > "
        f"{own.parent}/cgroup.subtree_control` (and so in every ancestor)"
        for name in WANTED
        if name not in available
    }
    return _v2_report("v2-delegated", own, available, fixes)


def _v1_report(mounts: dict[str, Path]) -> dict[str, Any]:
    # Without memory or cpuacct there is no group at all (see _v1); cpu and pids are used where mounted.
    fixes = {}
    for name in REQUIRED + OPTIONAL:
        if name not in mounts:
            fix = f"mount its v1 hierarchy: `mkdir -p {CGROUP_ROOT / name} && mount -t cgroup -o {name} cgroup "
            fix += f"{CGROUP_ROOT / name}`"
            if name in REQUIRED:
                fix += f" (without it no group is made at all), or move the host to cgroup v2: {_MOUNT_CGROUP2}"
            fixes[name] = fix
    if not all(os.access(folder, os.W_OK) for folder in mounts.values()):
        fixes["cgroup"] = (
            "make /sys/fs/cgroup writable: run as root, in a container with --privileged or "
            "`-v /sys/fs/cgroup:/sys/fs/cgroup:rw`"
        )
    folder = mounts.get("memory") or next(iter(mounts.values()))
    usable = not any(name in fixes for name in ("cgroup", *REQUIRED))
    return _report(1, "v1", folder / GROUP, sorted(mounts) if usable else [], fixes)


def _v2_report(mode: str, path: Path, available: set[str], fixes: dict[str, str]) -> dict[str, Any]:
    if _kernel() < (5, 14):
        fixes["cgroup.kill"] = _KILL
    return _report(2, mode, path, sorted(set(WANTED) & available), fixes)


def _report(
    version: int | None, mode: str | None, path: Path | None, controllers: list[str], fixes: dict[str, str]
) -> dict[str, Any]:
    return {
        "version": version,
        "mode": mode,
        "path": str(path) if path is not None else None,
        "controllers": controllers,
        "missing": list(fixes),
        "fixes": fixes,
    }


def _not_in_kernel(name: str) -> str:
    # A controller is in one version at a time: mounted as v1, it is missing from cgroup2.
    if name in v1_mounts((name,)):
        return f"it is bound to a cgroup v1 hierarchy: unmount that, or boot with cgroup_no_v1={name}"
    return f"a kernel built with the {name} controller"


def _kernel() -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return (int(match[1]), int(match[2])) if match else (0, 0)


def _words(path: Path) -> set[str]:
    try:
        return set(path.read_text().split())
    except OSError:
        return set()
