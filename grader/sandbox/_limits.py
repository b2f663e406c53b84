"""Limits a sandbox sets on itself, last before its code runs: rlimits, the SIGXCPU exit and no_new_privs."""

from __future__ import annotations

import math
import os
import resource
import signal
from typing import TYPE_CHECKING, Any

# Siblings by bare name at run time (where the grader package must not be importable); by their
# package names for the type checker only.
if TYPE_CHECKING:
    from grader.sandbox import _libc
else:
    import _libc


def limit_resources(limits: dict[str, Any]) -> None:
    """Limits that hold for the sandbox and everything it starts (rlimits are inherited across fork).

    RLIMIT_AS counts from the warm interpreter's size, which every sandbox inherits, so ``memory_mb`` is what
    the submission may add; the CPU hard limit is a backstop above the harness's per-call soft limit."""
    with open("/proc/self/statm") as statm:
        baseline = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    cpu_hard = math.ceil(limits["total_cpu_seconds"]) + 2
    for name, value in (
        (resource.RLIMIT_AS, baseline + (limits["memory_mb"] << 20)),
        (resource.RLIMIT_NPROC, limits["max_processes"]),
        (resource.RLIMIT_FSIZE, limits["max_file_mb"] << 20),
        (resource.RLIMIT_NOFILE, limits["max_open_files"]),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_MEMLOCK, 0),
        (resource.RLIMIT_MSGQUEUE, 0),
        (resource.RLIMIT_CPU, cpu_hard),
    ):
        resource.setrlimit(name, (value, value))
    exit_on_sigxcpu()


def exit_on_sigxcpu() -> None:
    """Make RLIMIT_CPU's SIGXCPU end the process at once, with status ``CPU_LIMIT_EXIT``.

    The sandbox is PID 1 of its namespace, and the kernel drops signals whose action is the default
    for such a process, SIGXCPU included. A C-level handler is delivered (see ``_libc.on_signal_exit``)."""
    _libc.on_signal_exit(signal.SIGXCPU)


def no_new_privs() -> None:
    """Nothing this process executes can gain privileges (setuid bits, file capabilities); also what lets an
    unprivileged process install a seccomp filter."""
    _libc.prctl(_libc.PR_SET_NO_NEW_PRIVS, 1, "prctl(NO_NEW_PRIVS)")
