"""The real server in a subprocess with the real sandbox: crash recovery, 40 concurrent uploads, streaming."""

from __future__ import annotations

import asyncio
import select
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import AUTH
from tests.service.liveserver import LiveServer, settle, start_server
from tests.service.solutions import BUGGY, CORRECT, slow


def _post(url: str, source: str, student: str | None = None) -> httpx.Response:
    files = {"file": ("nn.py", source.encode(), "text/x-python")}
    return httpx.post(f"{url}/submissions", files=files, data={"student": student} if student else {}, timeout=30)


def test_a_submission_accepted_before_a_kill_is_graded_after_restart(tmp_path: Path) -> None:
    data, log = tmp_path / "data", tmp_path / "server.log"
    server = start_server(data, log, CONV1D_WORKERS="1", CONV1D_WAIT_SECONDS="0", CONV1D_DEV="1")
    try:
        grading = _post(server.url, slow(1.5), "kim")
        waiting = _post(server.url, CORRECT, "lee")
        assert grading.status_code == waiting.status_code == 202
        deadline = time.monotonic() + 10
        while httpx.get(f"{server.url}/submissions/{grading.json()['id']}").json()["status"] != "running":
            assert time.monotonic() < deadline, "never started grading"
            time.sleep(0.05)
        time.sleep(0.5)  # inside the submission's slow import: mid-grade
        server.kill()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{server.url}/healthz", timeout=1)
    finally:
        server.stop()

    restarted = start_server(data, log, CONV1D_DEV="1")
    try:
        for response in (grading, waiting):
            verdict = settle(restarted.url, response.json()["id"])
            assert verdict["status"] == "graded" and verdict["score"] == verdict["max_score"] == 100
        assert "re-queued 2 submission(s)" in log.read_text()
    finally:
        restarted.stop()


async def _hand_in(client: httpx.AsyncClient, source: str, student: str) -> dict:
    files = {"file": ("nn.py", source.encode(), "text/x-python")}
    response = await client.post("/submissions", files=files, data={"student": student})
    assert response.status_code in (200, 202), response.text
    body = response.json()
    deadline = time.monotonic() + 60
    while body["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"{body['id']} never settled"
        await asyncio.sleep(0.1)
        body = (await client.get(f"/submissions/{body['id']}")).json()
    return body  # type: ignore[no-any-return]


def test_forty_concurrent_uploads_are_all_graded_right(live_server: LiveServer) -> None:
    sources = [BUGGY if i % 4 == 0 else CORRECT for i in range(40)]

    async def everyone() -> list[dict]:
        async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as client:
            return await asyncio.gather(*(_hand_in(client, s, f"student{i}") for i, s in enumerate(sources)))

    verdicts = asyncio.run(everyone())
    assert len({v["id"] for v in verdicts}) == 40
    for source, verdict in zip(sources, verdicts, strict=True):
        assert verdict["status"] == "graded", verdict
        q1, q2 = (q["score"] for q in verdict["questions"])
        if source is CORRECT:
            assert verdict["score"] == 100
        else:  # forgot the bias: every forward test fails, backward is untouched
            assert q2 == 50 and q1 < 50
    listed = httpx.get(f"{live_server.url}/submissions", headers=AUTH).json()["submissions"]
    assert {v["id"] for v in verdicts} <= {s["id"] for s in listed}
    health = httpx.get(f"{live_server.url}/healthz").json()
    assert health["status"] == "ok" and health["sandbox"] == "ok"  # a real sandbox ran a trivial call
    assert health["isolation"]["level"] in ("full", "partial", "minimal")


def test_a_streamed_oversized_upload_is_refused_while_it_is_still_coming(live_server: LiveServer) -> None:
    """Chunked upload with no Content-Length: the 413 arrives soon after the limit, long before the body ends."""
    host, port = live_server.url.removeprefix("http://").split(":")
    boundary = "b0undary"
    chunk = b"#" * (1 << 18)
    sent, answer = 0, b""
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            (
                f"POST /submissions HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
            ).encode()
        )
        part = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="nn.py"\r\n\r\n'.encode()
        sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        while sent < 64 << 20 and not answer:  # 64 MiB if the server never answers
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
            if select.select([sock], [], [], 0)[0]:
                answer = sock.recv(65536)
        while answer and not answer.endswith(b"}"):  # the JSON body may come in a second packet
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"larger than the limit" in answer
    # Answered once the 1 MiB limit was passed (plus what the kernel buffers on loopback), not after 64 MiB.
    assert sent < 16 << 20
    assert httpx.get(f"{live_server.url}/healthz").status_code == 200


def test_past_capacity_the_real_server_sheds_load_with_503(tmp_path: Path) -> None:
    server = start_server(
        tmp_path / "data", tmp_path / "server.log", CONV1D_WORKERS="1", CONV1D_MAX_QUEUE="2", CONV1D_DEV="1"
    )
    try:

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                files = {"file": ("nn.py", slow(0.4).encode(), "text/x-python")}
                return await asyncio.gather(*(client.post("/submissions", files=files) for _ in range(20)))

        responses = asyncio.run(burst())
        accepted = [r for r in responses if r.status_code in (200, 202)]
        refused = [r for r in responses if r.status_code == 503]
        assert len(accepted) + len(refused) == 20
        assert 3 <= len(accepted) < 20 and refused  # 1 grading + 2 waiting at any moment
        assert all(int(r.headers["Retry-After"]) >= 1 and "busy" in r.json()["detail"] for r in refused)
        for response in accepted:
            assert settle(server.url, response.json()["id"])["score"] == 100
        assert httpx.get(f"{server.url}/healthz").status_code == 200
    finally:
        server.stop()
