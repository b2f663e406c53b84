"""Start the real service (``python -m grader serve``, real sandbox) on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.service.conftest import TOKEN


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL the server, as a crash would; then end what it left behind (the sandbox's zygote)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._end_group()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._end_group()

    def _end_group(self) -> None:
        # The server was started in a session of its own; its pid is the group id.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


def start_server(data: Path, log: Path, **env: str) -> LiveServer:
    port = free_port()
    environment = {**os.environ, "CONV1D_TOKEN": TOKEN}
    environment.pop("CONV1D_DEV", None)
    environment |= env
    command = [sys.executable, "-m", "grader", "serve", "--port", str(port), "--data", str(data)]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, env=environment, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = LiveServer(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not answer /healthz within 30 s:\n{log.read_text()[-3000:]}")


def settle(url: str, submission_id: str, timeout: float = 30.0) -> dict:
    """Poll ``GET /submissions/{id}`` until it leaves queued/running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = httpx.get(f"{url}/submissions/{submission_id}", timeout=5).json()
        if body["status"] not in ("queued", "running"):
            return body  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"{submission_id} still pending after {timeout} s")
