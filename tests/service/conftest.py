"""Fixtures for the service: an app on a temp database with a fake runner, and helpers to wait for verdicts."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from grader.errors import SandboxUnavailable
from grader.runner import Call, CallOutcome, RunReport
from grader.service import create_app
from grader.service.settings import ServiceSettings
from tests.fakes import FULL, ScriptedRunner, correct

TOKEN = "instructor-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _forward_without_bias(call: Call) -> CallOutcome:
    outcome = correct(call)
    if call.op != "forward":
        return outcome
    out = outcome.values["out"].array
    assert out is not None
    bias = call.arrays["bias"].astype(float)
    values = dict(outcome.values)
    values["out"] = type(outcome.values["out"])(kind="ndarray", type_name="numpy.ndarray", array=out - bias[:, None])
    return CallOutcome(key=call.key, status="ok", values=values)


class ContentRunner:
    """A fake sandbox: right answers, except forward without bias when the source says ``BUG``.

    ``gate`` (when set) holds every run until it is opened, to keep submissions queued or running; ``fail``
    makes the next runs raise a grader fault.
    """

    def __init__(self) -> None:
        self.gate: threading.Event | None = None
        self.started = threading.Semaphore(0)
        self.fail = 0
        self.runs = 0
        self.isolated = FULL
        self._lock = threading.Lock()

    def run(self, source: str, filename: str, calls: Sequence[Call], limits: object) -> RunReport:
        with self._lock:
            self.runs += 1
            failing = self.fail > 0
            self.fail -= failing
        self.started.release()
        if self.gate is not None:
            assert self.gate.wait(20), "test gate never opened"
        if failing:
            raise SandboxUnavailable("sandbox went away (simulated)")
        respond = _forward_without_bias if "BUG" in source else correct
        return ScriptedRunner(respond=respond, isolated=self.isolated).run(source, filename, calls, limits)


@pytest.fixture
def runner() -> ContentRunner:
    return ContentRunner()


MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(tmp_path: Path, runner: ContentRunner) -> Iterator[MakeClient]:
    """``make_client(**settings)`` starts the app (lifespan included) on a database in ``tmp_path``."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        # Development mode: anonymous uploads with a student field, as these tests were written; the roster's
        # tests pass dev=False.
        values: dict[str, Any] = {
            "data": tmp_path / "data", "token": TOKEN, "workers": 2, "wait_seconds": 5.0, "dev": True
        }
        values |= overrides
        client = TestClient(create_app(ServiceSettings(**values), runner=runner), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    if runner.gate is not None:
        runner.gate.set()
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()


def upload(client: TestClient, source: str | bytes, student: str | None = None, name: str = "nn.py") -> Any:
    data = source.encode() if isinstance(source, str) else source
    form = {"student": student} if student is not None else {}
    return client.post("/submissions", files={"file": (name, data, "text/x-python")}, data=form)


def wait_settled(
    client: TestClient, submission_id: str, timeout: float = 20.0, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """Poll as the page does until the submission leaves queued/running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/submissions/{submission_id}", headers=headers).json()
        if body["status"] not in ("queued", "running"):
            return body  # type: ignore[no-any-return]
        time.sleep(0.02)
    raise AssertionError(f"{submission_id} still pending after {timeout} s")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One real server for the session: real sandbox, temp data folder, loopback only."""
    from tests.service.liveserver import start_server

    folder = tmp_path_factory.mktemp("live")
    # Development mode (anonymous uploads), as the tests of the page's grading and escaping were written.
    server = start_server(folder / "data", folder / "server.log", CONV1D_DEV="1")
    yield server
    server.stop()


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",  # this machine's network is closed: no phoning home
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by playwright; the browser tests skip where either is missing.
    One per module: playwright's sync API keeps an event loop on the thread while it runs, which the other
    modules' asyncio.run() must not find."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium binary (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
