"""The grader's side of the zygote: starting it, restarting it, and asking it for sandboxes."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.errors import SandboxUnavailable
from grader.sandbox._host import Mode, sandbox_mode
from grader.sandbox._layout import numpy_site_dir, pyseccomp_file, sandbox_layout

if TYPE_CHECKING:
    from grader.sandbox._process import Sandbox

_ZYGOTE_SCRIPT = Path(__file__).with_name("_zygote.py")
_HARNESS = Path(__file__).with_name("_harness.py")
_START_SECONDS = 30.0
_SPAWN_SECONDS = 10.0
# What NumPy needs and nothing else: one BLAS thread keeps each sandbox's threads and address space small.
_ENVIRONMENT = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "LC_ALL": "C.UTF-8",
}


class SandboxStartError(SandboxUnavailable):
    """No sandbox could be started: the grader's fault, never the submission's, so it is raised (CLI exit 2,
    HTTP 500, a ``grader-error`` row in a batch) rather than turned into a verdict."""


@dataclass(frozen=True)
class ZygoteInfo:
    """What the zygote set itself up with: read once per zygote, it decides every report's isolation."""

    namespaces: bool
    """Whether sandboxes get PID/mount/net/IPC/UTS namespaces and the private filesystem view."""
    reason: str
    """Why namespaces are not in force (empty when they are)."""
    started_seconds: float
    mode: Mode = "root"
    """How namespaces were to be had (see :data:`grader.sandbox._host.Mode`)."""
    user_namespace: bool = False
    """Whether the zygote and each sandbox are in user namespaces of their own (``userns`` mode)."""
    seccomp_how: str = "none"
    """``libseccomp``, ``bpf`` or ``none``: how the sandboxes' seccomp filter was built."""
    seccomp_arch: tuple[str, ...] = ()
    """The architectures the filter covers."""
    seccomp_note: str = ""
    """Why the filter is not libseccomp's, when it is not."""


class Zygote:
    """A warm process with NumPy imported that forks sandboxes on request; shared by all threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._workdir: str | None = None
        self._launched = 0.0
        self._mode: Mode = "root"
        self._settings_sent = False
        self.info: ZygoteInfo | None = None

    def spawn(self, request: dict[str, Any], output_cap: int, *, restart: bool = False) -> Sandbox:
        """A new sandbox, returned as soon as the zygote has the request: the caller may write its load request
        to it at once. The zygote is (re)started first if it is not running, or if ``restart``.
        If the zygote then cannot start it, the sandbox's first wait raises ``SandboxNotStarted``."""
        for attempt in range(2):
            channel, channel_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            status, status_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            output_fd, output_child = os.pipe()
            fds = [channel_child.fileno(), output_child, status_child.fileno()]
            try:
                sent = self._send(request, fds, restart or attempt > 0)
            except BaseException:
                channel.close()
                status.close()
                os.close(output_fd)
                raise
            finally:
                channel_child.close()
                status_child.close()
                os.close(output_child)
            if sent:
                from grader.sandbox._process import Sandbox  # deferred: launching a zygote must stay light

                return Sandbox(channel, output_fd, status, output_cap)
            channel.close()
            status.close()
            os.close(output_fd)
        raise SandboxStartError("the zygote did not take the request for a sandbox")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def ensure_started(self) -> ZygoteInfo:
        with self._lock:
            return self._ensure_started()

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _send(self, request: dict[str, Any], fds: list[int], restart: bool) -> bool:
        with self._lock:
            if restart:
                self._stop()
            self._ensure_started()
            assert self._control is not None
            try:
                socket.send_fds(self._control, [json.dumps({**request, "op": "spawn"}).encode()], fds)
            except OSError:
                self._stop()  # dead zygote: the caller's retry starts a new one
                return False
            return True

    def launch(self) -> None:
        """Start the zygote's process now without waiting for it to be ready: it imports NumPy and warms up
        while the caller imports what it needs (the CLI calls this first thing). A no-op if it is running."""
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._launch()

    def _ensure_started(self) -> ZygoteInfo:
        if self._process is not None and self._process.poll() is None and self.info is not None:
            return self.info
        if self._process is None or self._process.poll() is not None or self._control is None:
            self._launch()
        assert self._control is not None
        if not self._settings_sent:
            # Computed once the zygote is on its way (walking the library folders takes a while): it reads
            # them after its own start and warm-up, which ran meanwhile.
            settings = {"workdir": self._workdir, "layout": sandbox_layout()}
            with contextlib.suppress(OSError):  # it died already: waiting for its hello says so
                self._control.send(json.dumps(settings).encode())
            self._settings_sent = True
        ready, _, _ = select.select([self._control], [], [], _START_SECONDS)
        hello = self._control.recv(4096) if ready else b""
        if not hello:
            self._stop()
            raise SandboxStartError("the zygote did not start (see the grader's stderr)")
        message = json.loads(hello)
        if "error" in message:
            self._stop()
            raise SandboxStartError(f"the sandbox could not be set up: {message['error']}")
        seccomp = message.get("seccomp", {})
        self.info = ZygoteInfo(
            bool(message["namespaces"]),
            str(message["reason"]),
            time.perf_counter() - self._launched,
            mode=self._mode,
            user_namespace=bool(message.get("userns")),
            seccomp_how=str(seccomp.get("how", "none")),
            seccomp_arch=tuple(seccomp.get("arch", ())),
            seccomp_note=str(seccomp.get("note", "")),
        )
        return self.info

    def _launch(self) -> None:
        self._stop()
        self._launched = time.perf_counter()
        # One per zygote: it removes it when it exits, which covers a grader killed without cleanup.
        self._workdir = tempfile.mkdtemp(prefix="conv1d-sandbox-")
        control, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._mode = sandbox_mode()
        start = {"control_fd": child.fileno(), "harness": str(_HARNESS), "site_dir": numpy_site_dir()}
        start["mode"] = self._mode
        start["pyseccomp"] = pyseccomp_file()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(_ZYGOTE_SCRIPT), json.dumps(start)],
                env=_ENVIRONMENT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                cwd=self._workdir,
                pass_fds=(child.fileno(),),
            )
        finally:
            child.close()
        control.settimeout(_SPAWN_SECONDS)  # a wedged zygote must not block a grader thread forever
        self._control = control
        self._settings_sent = False

    def _stop(self) -> None:
        if self._control is not None:
            self._control.close()  # the zygote exits when its control socket closes
            self._control = None
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)  # in case the zygote could not
            self._workdir = None
        self.info = None
