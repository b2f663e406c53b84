"""The grader's handle on one live sandbox: its channel, its output pipe, its status socket to the zygote.

Every read and write here is watched. While waiting, the output pipe is drained (so a chatty submission
never blocks or fills memory), the status socket is watched (so a crash is seen at once), and the sandbox's
CPU time and idle time are read from outside it (its cgroup, ``/proc``): a call is stopped for what it did,
never for how long the machine or the grader took. A reply that is already waiting is on time.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import socket
import struct
import termios
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from grader.errors import SandboxUnavailable
from grader.sandbox._protocol import LENGTH, Reply, parse_header_length, parse_reply

_CHECK_MS = 20
"""How often a wait looks at the limits: a hang is caught within this of its allowance."""
_EXIT_REPORT_SECONDS = 5.0
START_SECONDS = 60.0
"""How long the zygote may take to activate a sandbox (its pid unknown until then). Only a stuck zygote or an
overloaded machine reaches it, so running out is the grader's fault, never the submission's."""
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_READ_CHUNK = 1 << 16
_DRAIN_CHUNKS = 16

LimitKind = Literal["cpu", "idle", "cap", "output", "start"]
"""``cpu``: the stage used its CPU allowance; ``idle``: it sat asleep or blocked past the idle limit; ``cap``: the
submission's total CPU cap is spent; ``output``: it printed more than ``MAX_STAGE_OUTPUT`` without replying;
``start``: the zygote did not activate the sandbox (a grader fault)."""
MAX_STAGE_OUTPUT = 16 << 20
"""Printed bytes a stage may produce (all but ``output_bytes`` of them dropped unread by anyone): past this, the
stage is a flood, stopped rather than drained for as long as its CPU allowance lasts."""
_PIPE_BYTES = 1 << 20
"""The output pipe's capacity asked for: prints rarely fill it, so a writer is rarely blocked on the grader."""


class LimitExceeded(Exception):
    """The current call ran past one of its limits."""

    def __init__(self, kind: LimitKind) -> None:
        super().__init__(kind)
        self.kind = kind


class SandboxDied(Exception):
    """The sandbox process ended (or closed its channel) before answering."""

    def __init__(self, wait_status: int | None, how: str, *, ready: bool = True) -> None:
        super().__init__(how)
        self.wait_status = wait_status
        self.how = how
        self.ready = ready
        """Whether the sandbox had finished its setup (the zygote's word, on a channel the submission cannot
        write): a sandbox that died before that failed in trusted code, which is the grader's fault."""

    @property
    def signal_name(self) -> str | None:
        if self.wait_status is None or not os.WIFSIGNALED(self.wait_status):
            return None
        number = os.WTERMSIG(self.wait_status)
        try:
            return signal.Signals(number).name
        except ValueError:
            return f"signal {number}"


def cpu_seconds_of(pid: int) -> float | None:
    """User+system CPU time of every thread of ``pid``, from outside; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses (the submission can set it): skip past it.
    fields = data[data.rfind(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


@dataclass(frozen=True)
class Tasks:
    """A look at every thread of a sandbox (:func:`sample_tasks`)."""

    progress: dict[int, float]
    """Seconds each thread has spent running or waiting for a CPU (its ``schedstat``)."""
    runnable: bool
    """Whether a thread is running or waiting for a CPU right now. The kernel adds a wait to ``schedstat`` only
    when the thread gets the CPU, so on a crowded machine a thread can have waited longer than its figures
    show: a runnable thread means the sandbox is not idle, whatever they say."""


def sample_tasks(pids: Iterable[int]) -> Tasks:
    """Every thread of these processes: its progress, and whether any is runnable. The rest of a thread's life
    it was asleep or blocked: that is what the idle limit counts."""
    progress: dict[int, float] = {}
    runnable = False
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue  # gone meanwhile
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as stat:
                    run, wait, _ = stat.read().split()
                with open(f"/proc/{pid}/task/{tid}/stat", "rb") as stat:
                    state = stat.read().rpartition(b")")[2].split(maxsplit=1)[0]
            except (OSError, ValueError, IndexError):
                continue
            progress[int(tid)] = (int(run) + int(wait)) / 1e9
            runnable = runnable or state == b"R"
    return Tasks(progress, runnable)


@dataclass
class Watch:
    """The limits of one stage (the load, or one call's forward or backward), measured from outside.

    ``cpu`` reads the sandbox's CPU seconds (its cgroup's, or its process's), None until its pid is known; the
    stage's allowance counts from the first reading. ``tasks`` reads, per thread of the sandbox, the time it
    ran or waited for a CPU. The sandbox is idle when no thread of it did either: the wall time not covered
    by the busiest thread's progress (nor by the CPU the sandbox used, for threads that ended). A loaded
    machine, where threads wait for a CPU, never makes a call idle. ``cap`` is the ``cpu`` reading at which
    the submission's total CPU is spent, if any.
    """

    cpu: Callable[[], float | None]
    cpu_limit: float
    tasks: Callable[[], Tasks | None]
    idle_limit: float
    cap: float | None = None
    started: float = field(default_factory=time.monotonic)
    cpu_start: float | None = None
    _idle_base: tuple[float, float, dict[int, float]] | None = field(default=None, init=False)
    """When idleness is counted from: the wall clock, the CPU reading and each thread's progress."""
    _waited_on_grader: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self.cpu_start = self.cpu()

    def grader_was_behind(self, seconds: float) -> None:
        """The sandbox may have been blocked on the grader (its output pipe was full) for ``seconds``: that is
        the grader's time, never idleness of the submission's."""
        self._waited_on_grader += seconds

    def check(self) -> None:
        used = self.cpu()
        if used is None:
            if time.monotonic() - self.started >= START_SECONDS:
                raise LimitExceeded("start")
            return
        if self.cpu_start is None:
            self.cpu_start = used
        if self.cap is not None and used >= self.cap:
            raise LimitExceeded("cap")
        if used - self.cpu_start >= self.cpu_limit:
            raise LimitExceeded("cpu")
        self._check_idle(used)

    def _check_idle(self, used: float) -> None:
        now = time.monotonic()
        if self._idle_base is None:
            tasks = self.tasks()
            if tasks is not None:
                # From the first look on (one check interval into the stage at most): lenient by that much.
                self._idle_base = (now, used, tasks.progress)
            return
        wall0, cpu0, progress0 = self._idle_base
        elapsed, ran = now - wall0, used - cpu0
        if elapsed - ran < self.idle_limit:
            return  # the sandbox was on a CPU for most of it: no need to look closer
        tasks = self.tasks()
        if tasks is None or tasks.runnable:
            return
        progress = max([ran, *(seconds - progress0.get(tid, 0.0) for tid, seconds in tasks.progress.items())])
        if elapsed - progress - self._waited_on_grader >= self.idle_limit:
            raise LimitExceeded("idle")


class _Output:
    """Output of the sandbox (stdout and stderr share a pipe), cut into one segment per reply.

    The harness writes ``marker`` to the pipe before each reply, so the bytes before the n-th marker are
    what was printed up to the n-th reply, even when replies come faster than the grader reads them. Each
    segment keeps ``cap`` bytes and counts the rest. A submission that prints the marker itself (or closes
    its stdout) can only shift its own printed text between its own tests.
    """

    def __init__(self, fd: int, cap: int) -> None:
        self.fd = fd
        self._cap = cap
        self._marker = b""
        self._tail = b""
        """Unscanned bytes at the end of the stream that may be the start of a marker."""
        self._kept = bytearray()
        self._dropped = 0
        self._done: list[str] = []
        self.unclaimed = 0
        """Bytes read since the last reply was taken: a stage's whole output, kept or dropped."""

    def expect(self, marker: bytes) -> None:
        self._marker = marker

    def drain(self) -> bool:
        """Read what is available, up to a bound (a fast writer must not keep the caller from its
        deadlines); False once every writer has gone."""
        for _ in range(_DRAIN_CHUNKS):
            try:
                chunk = os.read(self.fd, _READ_CHUNK)
            except BlockingIOError:
                return True
            if not chunk:
                return False
            self.unclaimed += len(chunk)
            self._feed(chunk)
            if len(chunk) < _READ_CHUNK:
                return True  # the pipe was emptied: what comes later is read on the next wake-up
        return True

    def has_segment(self) -> bool:
        """Whether the text up to the next marker is in already."""
        return bool(self._done)

    def take(self) -> str:
        """What was printed up to the next marker, or (with no marker in) everything printed so far."""
        self.unclaimed = 0
        if self._done:
            return self._done.pop(0)
        self._keep(self._tail)
        self._tail = b""
        return self._close()

    def _feed(self, chunk: bytes) -> None:
        if not self._marker:
            self._keep(chunk)
            return
        data = self._tail + chunk
        while (at := data.find(self._marker)) >= 0:
            self._keep(data[:at])
            self._done.append(self._close())
            data = data[at + len(self._marker) :]
        split = max(0, len(data) - len(self._marker) + 1)
        self._keep(data[:split])
        self._tail = data[split:]

    def _keep(self, data: bytes) -> None:
        room = max(0, self._cap - len(self._kept))
        self._kept += data[:room]
        self._dropped += max(0, len(data) - room)

    def _close(self) -> str:
        text = self._kept.decode(errors="replace")
        if self._dropped:
            text += f"\n[... {self._dropped:,} more bytes of output dropped]"
        self._kept = bytearray()
        self._dropped = 0
        return text


def _unread_bytes(fd: int) -> int:
    try:
        return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return 0


class SandboxNotStarted(SandboxUnavailable):
    """The zygote closed the sandbox's status socket without starting it (it could not fork, or it died)."""


class ZygoteLost(SandboxUnavailable):
    """The zygote went away while the sandbox ran, so nothing says how it ended: the grader's fault (the
    sandbox died with the zygote, and a submission cannot reach the zygote)."""


class Sandbox:
    """One sandbox process, seen from the grader.

    It is usable as soon as the zygote has been asked for it: what is sent on its channel waits in the socket
    until the sandbox is activated, so no round trip to the zygote is on the path of a grading. The zygote's
    reports come on the status socket: the sandbox's pid once it is activated, then how it ended.
    """

    def __init__(self, channel: socket.socket, output_fd: int, status: socket.socket, output_cap: int) -> None:
        self._pid: int | None = None
        self._channel = channel
        self._status = status
        self._output = _Output(output_fd, output_cap)
        with contextlib.suppress(OSError):  # the default 64 KiB holds too: the grader just drains more often
            fcntl.fcntl(output_fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        self._pipe_full = fcntl.fcntl(output_fd, fcntl.F_GETPIPE_SZ) - select.PIPE_BUF
        self._last_wake = time.monotonic()
        self._exit: int | None = None
        self._ready = True
        self._exited = False
        self._buffer = bytearray()
        channel.setblocking(False)
        os.set_blocking(output_fd, False)
        self._poller = select.poll()
        self._poller.register(channel, select.POLLIN)
        self._poller.register(output_fd, select.POLLIN)
        self._poller.register(status, select.POLLIN)
        status.setblocking(False)

    @property
    def pid(self) -> int | None:
        """The sandbox's host pid, once the zygote has reported it."""
        if self._pid is None and not self._exited:
            self._read_status()
        return self._pid

    def send(self, data: bytes, watch: Watch) -> None:
        view = memoryview(data)
        while view:
            try:
                sent = self._channel.send(view)
            except BlockingIOError:
                self._wait(watch, select.POLLOUT)
                continue
            except OSError:
                raise self._died("the sandbox closed its channel") from None
            view = view[sent:]

    def recv_exact(self, size: int, watch: Watch) -> bytearray:
        """The next ``size`` bytes of the channel. Small reads are served from a buffer filled by large ones,
        so a reply (length, header, arrays) costs one system call, not one per piece."""
        if size <= len(self._buffer):
            data = self._buffer[:size]
            del self._buffer[:size]
            return data
        buf = bytearray(size)
        view = memoryview(buf)
        got = len(self._buffer)
        view[:got] = self._buffer
        self._buffer.clear()
        while got < size:
            try:
                if size - got < _READ_CHUNK:
                    chunk = self._channel.recv(_READ_CHUNK)
                    n = min(len(chunk), size - got)
                    view[got : got + n] = chunk[:n]
                    self._buffer += chunk[n:]
                else:
                    n = self._channel.recv_into(view[got:])
            except BlockingIOError:
                self._wait(watch, select.POLLIN)
                continue
            except OSError:
                n = 0
            if n == 0:
                raise self._died("the sandbox closed its channel")
            got += n
        return buf

    def recv_reply(self, watch: Watch) -> Reply:
        length = parse_header_length(bytes(self.recv_exact(LENGTH.size, watch)))
        return parse_reply(bytes(self.recv_exact(length, watch)))

    def take_output(self) -> str:
        """What the sandbox printed up to the reply just read (see :class:`_Output`)."""
        if not self._output.has_segment():
            self._output.drain()  # the marker was written before the reply was sent: it is in the pipe
        return self._output.take()

    def expect_marker(self, marker: bytes) -> None:
        """The marker the harness writes to the output before each reply."""
        self._output.expect(marker)

    def close(self) -> int | None:
        """Have the zygote kill the sandbox (and with it its PID namespace); wait until it is gone."""
        if not self._exited:
            with contextlib.suppress(OSError):
                self._status.shutdown(socket.SHUT_WR)
            self._read_exit(time.monotonic() + _EXIT_REPORT_SECONDS)
        self._channel.close()
        self._status.close()
        os.close(self._output.fd)
        return self._exit

    def _wait(self, watch: Watch, event: int) -> None:
        self._poller.modify(self._channel, event)
        ready = dict(self._poller.poll(_CHECK_MS))
        now = time.monotonic()
        if self._output.fd in ready:
            if _unread_bytes(self._output.fd) >= self._pipe_full:
                watch.grader_was_behind(now - self._last_wake)  # a writer may have been blocked on us since
            if not self._output.drain():
                self._poller.unregister(self._output.fd)
        self._last_wake = now
        if self._status.fileno() in ready:
            self._read_status()
            # A sandbox ends itself after its last reply, and a crash may follow a reply at once: the exit
            # report can arrive with replies still unread. It comes once the sandbox is gone, so whatever it
            # sent is in the channel by then (and may have arrived after this poll): that is read first.
            if self._exited and not self._unread():
                raise self._died("the sandbox died")
        if self._channel.fileno() in ready:
            return  # the reply (or room to write) is there: on time, however late the grader looks
        try:
            if self._output.unclaimed > MAX_STAGE_OUTPUT:
                raise LimitExceeded("output")
            watch.check()
        except LimitExceeded:
            # CPU read after the reply was sent may belong to the next call: a reply that is in is on time.
            if event == select.POLLIN and self._unread():
                return
            raise

    def _unread(self) -> bool:
        """Whether the channel holds bytes not yet read (an end of stream is not one)."""
        try:
            return bool(self._channel.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except OSError:  # BlockingIOError (nothing there) or a reset
            return False

    def _died(self, how: str) -> Exception:
        if not self._exited:
            self._read_exit(time.monotonic() + 1.0)
        if self._pid is None and self._exited:
            return SandboxNotStarted("the zygote did not start the sandbox")
        if self._exited and self._exit is None:
            return ZygoteLost("the zygote died while the sandbox ran")
        return SandboxDied(self._exit, how, ready=self._ready)

    def _read_exit(self, deadline: float) -> None:
        """Wait for the zygote's exit report; it comes once every process of the sandbox is gone."""
        while not self._exited and time.monotonic() < deadline:
            if not self._read_status():
                select.select([self._status], [], [], max(0.0, deadline - time.monotonic()))

    def _read_status(self) -> bool:
        """Take in the zygote's reports that have arrived (the zygote is trusted: they need no validation);
        False if there was none."""
        got = False
        while not self._exited:
            try:
                message = self._status.recv(256)
            except BlockingIOError:
                return got
            except OSError:
                message = b""
            got = True
            if not message:
                self._exited = True  # no report: the zygote is gone, or it never started the sandbox
            elif "pid" in (report := json.loads(message)):
                self._pid = int(report["pid"])
            else:
                self._exit = int(report["exit"])
                self._ready = bool(report.get("ready", False))
                self._exited = True
        return got
