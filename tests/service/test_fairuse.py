"""Issue 16, part 3: one upload in flight per student (409), a token-bucket rate limit (429 with an honest
Retry-After), a storage quota (507), a cap on a stored result, and time limits for slow clients (408)."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from grader.runner import Call, RunReport
from grader.service.errors import RateLimited
from grader.service.fairuse import TokenBuckets, trim_result
from tests.fakes import ScriptedRunner, correct
from tests.service.conftest import AUTH, ContentRunner, MakeClient, wait_settled
from tests.service.liveserver import LiveServer, start_server
from tests.service.solutions import CORRECT

CHATTY = "# CHATTY\n" + CORRECT


class ChattyRunner(ContentRunner):
    """Right answers; a source saying CHATTY prints 4000 characters in every call."""

    def run(self, source: str, filename: str, calls: Sequence[Call], limits: object) -> RunReport:
        if "CHATTY" not in source:
            return super().run(source, filename, calls, limits)
        self.started.release()
        if self.gate is not None:
            assert self.gate.wait(20)
        respond = lambda call: dataclasses.replace(correct(call), output="x" * 4000)  # noqa: E731
        return ScriptedRunner(respond=respond).run(source, filename, calls, limits)


@pytest.fixture
def runner() -> ChattyRunner:
    return ChattyRunner()


def _course(client: TestClient) -> dict[str, str]:
    roster = "id,name,email\nalice,Alice,alice@example.edu\nbob,Bob,bob@example.edu\n"
    students = client.post("/roster", files={"file": ("r.csv", roster.encode())}, headers=AUTH).json()["students"]
    return {s["id"]: s["token"] for s in students}


def _post(client: TestClient, token: str, source: str = CORRECT, wait: float | None = None) -> Any:
    return client.post(
        "/submissions",
        files={"file": ("nn.py", source.encode(), "text/x-python")},
        headers={"Authorization": f"Bearer {token}"},
        params={} if wait is None else {"wait": wait},
    )


def test_one_upload_in_flight_per_student(make_client: MakeClient, runner: ChattyRunner) -> None:
    runner.gate = threading.Event()
    client = make_client(dev=False)
    tokens = _course(client)
    first = _post(client, tokens["alice"], wait=0)  # ?wait=0: 202 with the id at once
    assert first.status_code == 202 and first.json()["status"] in ("queued", "running")
    second = _post(client, tokens["alice"])
    assert second.status_code == 409
    body = second.json()
    assert body["in_flight"] == first.json()["id"] and "still being graded" in body["detail"]
    assert _post(client, tokens["bob"], wait=0).status_code == 202  # others are not held up
    runner.gate.set()
    wait_settled(client, first.json()["id"], headers=AUTH)
    deadline = time.monotonic() + 5
    while (third := _post(client, tokens["alice"])).status_code == 409:  # the worker clears it just after storing
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert third.status_code == 200


def test_the_rate_limit_answers_429_with_an_honest_retry_after(make_client: MakeClient) -> None:
    client = make_client(dev=False, upload_burst=2, uploads_per_hour=36)  # then one every 100 s
    tokens = _course(client)
    assert [_post(client, tokens["alice"]).status_code for _ in range(2)] == [200, 200]
    refused = _post(client, tokens["alice"])
    assert refused.status_code == 429
    assert 95 <= int(refused.headers["Retry-After"]) <= 100
    assert "Too many uploads" in refused.json()["detail"]
    assert _post(client, tokens["bob"]).status_code == 200  # a bucket per student
    # A refused upload costs nothing: bad bytes are refused before the bucket is touched.
    assert _post(client, tokens["bob"], source="").status_code == 400
    assert _post(client, tokens["bob"]).status_code == 200


def test_retry_after_is_when_the_bucket_holds_a_token_again() -> None:
    now = [0.0]
    buckets = TokenBuckets(burst=1, per_hour=7, clock=lambda: now[0])
    buckets.take("s")
    with pytest.raises(RateLimited) as refused:
        buckets.take("s")
    wait = refused.value.retry_after
    assert wait == 515  # ceil(3600 / 7)
    now[0] = wait - 1.0
    with pytest.raises(RateLimited):
        buckets.take("s")
    now[0] = float(wait)
    buckets.take("s")  # exactly when it said


def test_the_storage_quota_answers_507_and_stores_nothing(make_client: MakeClient) -> None:
    client = make_client(dev=False, quota_bytes=int(len(CORRECT) * 1.5))
    tokens = _course(client)
    assert _post(client, tokens["alice"]).status_code == 200
    refused = _post(client, tokens["alice"])
    assert refused.status_code == 507 and "quota" in refused.json()["detail"]
    assert len(client.get("/submissions", headers=AUTH).json()["submissions"]) == 1
    assert _post(client, tokens["bob"]).status_code == 200


def test_a_result_over_the_cap_is_stored_with_its_outputs_trimmed(make_client: MakeClient) -> None:
    client = make_client(max_result_bytes=64 << 10)
    response = client.post("/submissions", files={"file": ("nn.py", CHATTY.encode(), "text/x-python")})
    assert response.status_code == 200 and response.json()["score"] == 100
    full = client.get(f"/submissions/{response.json()['id']}", headers=AUTH).json()["result"]
    assert len(json.dumps(full)) <= 64 << 10
    assert any("captured output trimmed" in w for w in full["warnings"])
    outputs = [t["output"] for q in full["questions"] for t in q["tests"]]
    assert all(len(o) < 4000 for o in outputs) and any("trimmed" in o for o in outputs)


def test_trimming_leaves_a_small_result_alone(runner: ChattyRunner) -> None:
    from grader import Submission, grade

    result = grade(Submission("s", CORRECT.encode()), runner=runner)
    assert trim_result(result, 1 << 20) is result


# --- slow clients, against the real server -------------------------------------------------------------------


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("impatient")
    server = start_server(
        folder / "data", folder / "server.log", CONV1D_BODY_TIMEOUT_SECONDS="1.5", CONV1D_HEADER_TIMEOUT_SECONDS="1.5"
    )
    yield server
    server.stop()


def _trickle(server: LiveServer, head: bytes, drip: bytes, budget: float = 10.0) -> tuple[bytes, float]:
    """Send ``head``, then ``drip`` a byte every 0.2 s until the server answers or closes; what it said and when.
    Bounded: ``budget`` seconds at most, whatever the server does."""
    host, port = server.url.removeprefix("http://").split(":")
    started = time.monotonic()
    answer = b""
    with socket.create_connection((host, int(port)), timeout=budget) as sock:
        sock.sendall(head)
        sock.settimeout(0.2)
        for byte in drip:
            if time.monotonic() - started > budget:
                break
            try:
                sock.sendall(bytes([byte]))
            except OSError:  # the server closed on us
                break
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            answer += chunk
            if not chunk or answer:
                break
        sock.settimeout(2)
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
    return answer, time.monotonic() - started


def test_a_client_trickling_its_body_gets_408(impatient: LiveServer) -> None:
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="nn.py"\r\n\r\n{CORRECT}\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    head = (
        f"POST /submissions HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
    ).encode()
    answer, seconds = _trickle(impatient, head, body)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"did not arrive within 1.5 seconds" in answer
    assert 1.4 <= seconds < 6
    assert httpx.get(f"{impatient.url}/healthz", timeout=10).status_code == 200


def test_a_client_trickling_its_headers_gets_408(impatient: LiveServer) -> None:
    answer, seconds = _trickle(impatient, b"GET /healthz HTTP/1.1\r\n", b"X-Slow: " + b"a" * 200)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert 1.4 <= seconds < 6


def test_settings_reach_uvicorn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import importlib

    from grader.service.slowclients import HeaderTimeoutProtocol

    serving = importlib.import_module("grader.service.serve")  # the module: the package exports its function

    seen: dict[str, Any] = {}
    monkeypatch.setattr(serving.uvicorn, "run", lambda app, **options: seen.update(options))
    monkeypatch.setattr(serving, "default_runner", lambda: ContentRunner())
    for name, value in {"KEEP_ALIVE_SECONDS": "3", "MAX_HEADER_BYTES": "8192", "HEADER_TIMEOUT_SECONDS": "2.5"}.items():
        monkeypatch.setenv(f"CONV1D_{name}", value)
    monkeypatch.setenv("CONV1D_TOKEN", "t" * 32)
    serving.serve(data=tmp_path / "data", forwarded_allow_ips="10.0.0.2")
    assert issubclass(seen["http"], HeaderTimeoutProtocol) and seen["http"].header_timeout == 2.5
    assert seen["timeout_keep_alive"] == 3 and seen["h11_max_incomplete_event_size"] == 8192
    assert seen["proxy_headers"] is True and seen["forwarded_allow_ips"] == "10.0.0.2"
