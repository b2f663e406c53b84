"""What this host allows the sandbox, read from ``/proc`` without changing anything: whether the grader is
root in the host's user namespace, whether unprivileged user namespaces may be made, and the exact fix for
each thing that is refused. Shared by the runner (the ``missing`` list of every report) and ``doctor``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

Mode = Literal["root", "userns"]
"""``root``: root in the host's user namespace: namespaces, and a dedicated uid and cgroups per sandbox.
``userns``: anything else (an ordinary user, or root inside a user namespace such as a rootless container):
the zygote makes a user namespace of its own first, as bubblewrap does."""

_INITIAL_UID_MAP = ["0", "0", "4294967295"]

_ROOT_FIX = (
    "run the grader as root in the host's user namespace (as CI does; in a container: --cap-add SYS_ADMIN "
    "--cap-add SYS_CHROOT --security-opt seccomp=deploy/seccomp-grader.json --security-opt apparmor=unconfined, "
    "SECURITY.md's Deployment gives every flag)"
)


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def in_initial_user_namespace() -> bool:
    """Whether this process is in the host's own user namespace (its uid map is the identity on every uid)."""
    text = _read("/proc/self/uid_map")
    return text is not None and text.split() == _INITIAL_UID_MAP


def host_uid(uid: int) -> int | None:
    """The host's uid for ``uid`` of this process's user namespace (None if it maps to none)."""
    for line in (_read("/proc/self/uid_map") or "").splitlines():
        inside, outside, count = (int(field) for field in line.split())
        if inside <= uid < inside + count:
            return outside + uid - inside
    return None


def sandbox_mode() -> Mode:
    """How the zygote gets its namespaces here (see :data:`Mode`)."""
    return "root" if os.geteuid() == 0 and in_initial_user_namespace() else "userns"


def userns_blocker() -> tuple[str, str] | None:
    """Why this host refuses unprivileged user namespaces and the exact fix, from its sysctls; None when none
    of them refuses (a container's seccomp or AppArmor profile may still, see :func:`namespace_fix`)."""
    if _read("/proc/sys/kernel/unprivileged_userns_clone") == "0":
        return (
            "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0)",
            "sysctl -w kernel.unprivileged_userns_clone=1",
        )
    if _read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
        return (
            "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1)",
            "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor profile with `userns,` "
            "for this Python)",
        )
    if _read("/proc/sys/user/max_user_namespaces") == "0":
        return ("user namespaces are disabled (user.max_user_namespaces=0)", "sysctl -w user.max_user_namespaces=15000")
    return None


def namespace_fix(mode: Mode) -> str:
    """The exact fix when no namespaces could be had in ``mode``."""
    if mode == "userns":
        blocker = userns_blocker()
        if blocker is not None:
            return f"{blocker[1]}, or {_ROOT_FIX}"
        return (
            f"allow user namespaces where the grader runs (docker: --security-opt seccomp=unconfined "
            f"--security-opt apparmor=unconfined), or {_ROOT_FIX}"
        )
    return _ROOT_FIX
