"""The zygote's supervisor: forks sandboxes, keeps a few as standbys, activates them for runs, and ends them.

Everything here runs in the zygote (root in its PID namespace, never running submission code). It supervises
every sandbox from one poll loop, so a sandbox costs one fork.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import tempfile
import traceback
from types import ModuleType
from typing import TYPE_CHECKING, Any

# Siblings by bare name at run time (where the grader package must not be importable); by their
# package names for the type checker only.
if TYPE_CHECKING:
    from grader.sandbox import _libc, _sandbox
    from grader.sandbox._constants import READY, SETUP_FAILED
else:
    import _libc
    import _sandbox
    from _constants import READY, SETUP_FAILED

STANDBY_SANDBOXES = 2
"""Sandboxes kept forked and set up ahead of need: enough for a grading thread per core to find one ready."""


class Child:
    """A sandbox as the zygote sees it: a standby until a run activates it, then supervised until it ends."""

    def __init__(self, pid: int, activation: socket.socket, scratch: str | None, own_pid_ns: bool) -> None:
        self.pid = pid
        self.pidfd = os.pidfd_open(pid)
        self.host_pid = _libc.host_pid(self.pidfd) if own_pid_ns else pid
        """The pid the grader knows it by (it reads the sandbox's CPU time in /proc): the zygote's own differs
        when the zygote is in a PID namespace of its own (``userns`` mode)."""
        self.activation = activation
        """The zygote's end of the sandbox's activation socket: the request goes out on it, and the sandbox's
        word that its setup is done comes back on it. Closed when the sandbox ends or is retired."""
        self.scratch = scratch
        self.status: socket.socket | None = None


class Supervisor:
    """Forks sandboxes, keeps a few as standbys, activates them for runs, and ends them.

    Setting up namespaces and mounts takes milliseconds; done ahead in a standby, it is off the path of
    every grading. A run's sandbox is killed when the grader closes (or shuts down) its status socket, and its end is
    reported there once every process of it is gone; the zygote never waits on a sandbox otherwise.
    """

    def __init__(self, config: dict[str, Any], harness: ModuleType, control: socket.socket) -> None:
        self._config = config
        self._harness = harness
        self._control = control
        self._standbys: list[Child] = []
        self._running: dict[int, Child] = {}
        """By status socket and by pidfd."""
        self._poller = select.poll()
        self._poller.register(control, select.POLLIN)
        # Where the PID namespace of the zygote's next child goes back to after each sandbox got its own.
        self._own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC) if config["namespaces"] else -1

    def serve(self) -> None:
        """Handle the grader's requests and the sandboxes' ends until the grader goes away."""
        while True:
            # Requests and ends first; a standby is forked only when nothing else is waiting.
            short = len(self._standbys) < STANDBY_SANDBOXES
            events = self._poller.poll(0 if short else None)
            if not events and short:
                if not self._fork():
                    self._poller.poll(100)  # no fork possible now (out of processes?): do not spin
                continue
            for fd, _ in events:
                if fd == self._control.fileno():
                    if not self._request():
                        return
                elif fd in self._running:
                    self._event(self._running[fd], fd)

    def _request(self) -> bool:
        message, fds, _, _ = socket.recv_fds(self._control, 1 << 16, 3)
        if not message:
            # The grader is gone (closed, or killed with no chance to clean up): leave nothing behind.
            self.retire()
            running = {child.pid: child for child in self._running.values()}  # each is there twice
            for child in running.values():
                self._kill(child)
            for pid in running:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
            shutil.rmtree(self._config["workdir"], ignore_errors=True)
            return False
        request = json.loads(message)
        if request["op"] == "spawn" and len(fds) == 3:
            self._activate(request, fds)
            fds = []
        for fd in fds:
            os.close(fd)
        return True

    def _activate(self, request: dict[str, Any], fds: list[int]) -> None:
        """Hand a run to the oldest standby (forking one if there is none); the loop refills the pool."""
        if not self._standbys and not self._fork():
            for fd in fds:
                os.close(fd)  # the grader sees the status socket close and retries
            return
        child = self._standbys.pop(0)
        channel, output, status = fds
        child.status = socket.socket(fileno=status)
        request["scratch"] = child.scratch
        try:
            for procs in request["cgroups"]:
                with open(procs, "w") as group:
                    group.write(str(child.pid))
        except OSError:
            # Trusted setup failed before any submission code ran: the grader's fault, reported as such.
            traceback.print_exc()
            self._kill(child)
            setup_failed = True
        else:
            setup_failed = False
        # Before the sandbox is activated: once it runs, the grader must already know it started, or a zygote
        # lost in between would read as a sandbox that never started.
        self._tell(child, {"pid": child.host_pid})
        if not setup_failed:
            with contextlib.suppress(OSError):  # a sandbox that died in setup says so through its exit status
                socket.send_fds(child.activation, [json.dumps(request).encode()], [channel, output])
        os.close(channel)
        os.close(output)
        if setup_failed:
            os.waitpid(child.pid, 0)
            self._finish(child, SETUP_FAILED << 8)
        else:
            self._running[child.status.fileno()] = child
            self._running[child.pidfd] = child
            self._poller.register(child.status, select.POLLIN)
            self._poller.register(child.pidfd, select.POLLIN)

    def _event(self, child: Child, fd: int) -> None:
        if fd == child.pidfd:
            # Readable once the sandbox has exited; with a PID namespace, once all of its processes have.
            _, wait_status = os.waitpid(child.pid, 0)
            if not self._config["namespaces"]:
                self._kill(child)  # what it started is still in its process group
            self._poller.unregister(child.pidfd)
            del self._running[child.pidfd]
            assert child.status is not None
            if child.status.fileno() in self._running:
                self._poller.unregister(child.status)
                del self._running[child.status.fileno()]
            self._finish(child, wait_status)
        else:
            # The grader closed or shut down its end: the run is over; its end comes through the pidfd.
            assert child.status is not None
            self._poller.unregister(child.status)
            del self._running[fd]
            self._kill(child)

    def _finish(self, child: Child, wait_status: int) -> None:
        os.close(child.pidfd)
        if child.scratch is not None:
            shutil.rmtree(child.scratch, ignore_errors=True)
        # The sandbox is gone, so whatever it sent on its activation socket is there to read now.
        try:
            ready = child.activation.recv(16, socket.MSG_DONTWAIT) == READY
        except OSError:
            ready = False
        child.activation.close()
        self._tell(child, {"exit": wait_status, "ready": ready})
        if child.status is not None:
            child.status.close()

    def _kill(self, child: Child) -> None:
        """With a PID namespace, killing its PID 1 makes the kernel kill everything in it."""
        if not self._config["namespaces"]:
            # No PID namespace: the best available is the session's process group (daemons escape it).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(child.pidfd, signal.SIGKILL)

    @staticmethod
    def _tell(child: Child, message: dict[str, int]) -> None:
        if child.status is None:
            return  # a standby: nobody is waiting for it
        with contextlib.suppress(OSError):  # the grader may be gone already
            child.status.send(json.dumps(message).encode())

    def retire(self) -> None:
        """End every standby (the grader left)."""
        for child in self._standbys:
            self._kill(child)
            os.waitpid(child.pid, 0)  # trusted code, alone in its namespace: quick to die
            self._finish(child, 0)
        self._standbys.clear()

    def _fork(self) -> bool:
        activation, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        namespaces = self._config["namespaces"]
        scratch = None if namespaces else tempfile.mkdtemp(prefix="sandbox-", dir=self._config["workdir"])
        if namespaces:
            _libc.unshare(_libc.CLONE_NEWPID)  # for the next child only: it is PID 1 of a new namespace
        try:
            pid = os.fork()
        except OSError:
            pid = -1
        if pid == 0:
            # Nothing of the zygote's: not the control socket, other sandboxes' sockets and pidfds. (The
            # template's descriptor and the zygote-alive pipe are closed before any submission code runs.)
            keep = sorted({child_end.fileno(), self._config["alive"], self._config.get("template", child_end.fileno())})
            for low, high in zip([2, *keep], [*keep, 1 << 20], strict=True):
                os.closerange(low + 1, high)
            try:
                _sandbox.run(self._config, child_end, self._harness)
            finally:
                os._exit(0)
        if namespaces:
            _libc.setns(self._own_pid_ns, _libc.CLONE_NEWPID)  # the children after this one are not in that namespace
        child_end.close()
        if pid < 0:
            activation.close()
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
            return False
        self._standbys.append(Child(pid, activation, scratch, self._config["userns"]))
        return True
