"""Processes put in a cgroup the way the zygote puts a sandbox there, for the cgroup v1 and v2 tests."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path


class GroupedChild:
    """A forked process that runs ``work`` once it is in its groups (as the zygote puts a sandbox in them
    before activating it) and exits with what ``work`` returns."""

    def __init__(self, procs_files: list[str], work: Callable[[], int], *, patience: float = 30.0) -> None:
        self.patience = patience
        """Seconds :meth:`wait` waits before it kills the child and fails (longer under emulation)."""
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 100
            try:
                os.close(write)
                os.read(read, 1)
                code = work()
            finally:
                os._exit(code)
        os.close(read)
        self.pid = pid
        try:
            for procs in procs_files:
                Path(procs).write_text(str(pid))
        finally:
            os.write(write, b"g")
            os.close(write)

    def wait(self) -> int:
        """The raw wait status."""
        deadline = time.monotonic() + self.patience
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return status
            time.sleep(0.02)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError(f"child {self.pid} still running after {self.patience} s")


def busy(seconds: float) -> Callable[[], int]:
    """Work that spins for ``seconds`` of wall time."""

    def work() -> int:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
        return 0

    return work


def fork_until_refused(most: int = 30, *, linger: float = 60.0) -> int:
    """Fork children that sleep ``linger`` seconds until a fork is refused; how many were made."""
    forked = 0
    while forked < most:
        try:
            pid = os.fork()
        except BlockingIOError:
            return forked
        if pid == 0:
            time.sleep(linger)
            os._exit(0)
        forked += 1
    return forked
