"""Privileges: the uid drop of root mode, and the user namespaces of userns mode (a grader that is not root in
the host's user namespace), where there is no other uid to change to and capabilities are dropped instead.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

# Siblings by bare name at run time (where the grader package must not be importable); by their
# package names for the type checker only.
if TYPE_CHECKING:
    from grader.sandbox import _libc
else:
    import _libc

# NOROOT, NO_SETUID_FIXUP, NO_CAP_AMBIENT_RAISE, each with its lock, and KEEP_CAPS locked off: uid 0 in a
# user namespace gains nothing, and nothing can be raised again.
_SECUREBITS_LOCKED_DOWN = 0b11101111


def drop_privileges(uid: int) -> None:
    """Root mode: become the run's own unprivileged uid and gid, with no supplementary groups. The change from
    uid 0 clears every capability."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def enter_user_namespace() -> None:
    """Move into a new user namespace that maps this process's uid and gid to themselves, and nothing else.

    The zygote does it once at start-up when the grader is not root in the host's user namespace: it then
    holds every capability over the namespaces it makes next, and none outside. Each such sandbox does it again
    on activation: RLIMIT_NPROC counts per user namespace first (kernel ucounts), so its process limit is its
    own rather than shared with every sandbox of the same uid."""
    uid, gid = os.geteuid(), os.getegid()
    _libc.unshare(_libc.CLONE_NEWUSER)
    # setgroups must be denied before an unprivileged gid_map may be written (so no group can be dropped to
    # get past a group-denied permission).
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as map_file:
            map_file.write(text)


def drop_capabilities(last_cap: int) -> None:
    """Give up every capability for good, where there is no other uid to change to (a user namespace): the
    bounding set, the ambient set, then the effective, permitted and inheritable sets, with securebits locked
    so that uid 0 in the namespace would bring none back."""
    for cap in range(last_cap + 1):
        _libc.prctl(_libc.PR_CAPBSET_DROP, cap, f"prctl(CAPBSET_DROP, {cap})")
    _libc.prctl(_libc.PR_CAP_AMBIENT, _libc.PR_CAP_AMBIENT_CLEAR_ALL, "prctl(CAP_AMBIENT_CLEAR_ALL)")
    _libc.prctl(_libc.PR_SET_SECUREBITS, _SECUREBITS_LOCKED_DOWN, "prctl(SET_SECUREBITS)")
    _libc.capset_nothing()


def own_user_namespace() -> str:
    """Empty once this process is in a user namespace of its own (see :func:`enter_user_namespace`), else why
    it could not make one. First thing, while the process has a single thread (unshare requires it)."""
    try:
        enter_user_namespace()
    except OSError as exc:
        return f"no user namespace could be created ({exc})"
    return ""


def own_pid_namespace() -> str:
    """Carry on as PID 1 of a new PID namespace, owned by this process's user namespace; empty once done, else
    why not. The zygote moves back into its own PID namespace after forking each sandbox into a new one
    (``setns``), which needs capabilities over that namespace's owner: in ``userns`` mode, only a PID
    namespace made in our own user namespace gives them.

    The process the grader started stays outside, holding nothing, and exits with the zygote's status; the
    zygote dies with it (and, as PID 1, takes every sandbox with it)."""
    try:
        _libc.unshare(_libc.CLONE_NEWPID)
        pid = os.fork()
    except OSError as exc:
        return f"no PID namespace could be created ({exc})"
    if pid == 0:
        _libc.die_with_the_zygote()  # here: with the process the grader started
        return ""
    os.closerange(3, 1 << 20)  # the control socket stays with the zygote alone: the grader sees it close
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
