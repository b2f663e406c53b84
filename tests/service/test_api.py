"""The HTTP contract, with a fake runner: verdicts, views, bad input, auth, gradebook, re-grade, back-pressure."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

from fastapi.testclient import TestClient

from grader import Submission, grade, load_config
from grader.report import csv_cell, to_json
from tests.service.conftest import AUTH, TOKEN, ContentRunner, MakeClient, upload, wait_settled
from tests.service.solutions import BUGGY, CORRECT

LIMIT = load_config().limits.max_upload_bytes


def _without_timing(view: dict) -> dict:
    return {k: v for k, v in view.items() if k not in ("id", "execution_time")}


def test_upload_answers_the_cli_json_plus_an_unguessable_id(client: TestClient, runner: ContentRunner) -> None:
    response = upload(client, CORRECT, student="alice")
    assert response.status_code == 200
    body = response.json()
    cli = json.loads(to_json(grade(Submission("alice", CORRECT.encode()), runner=runner)))
    assert _without_timing(body) == _without_timing(cli)
    assert body["status"] == "graded" and body["score"] == body["max_score"] == 100
    assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", body["id"])  # token_urlsafe(16): 128 random bits
    assert upload(client, CORRECT).json()["id"] != body["id"]
    assert client.get(f"/submissions/{body['id']}").json() == body


def test_students_get_the_public_view_and_instructors_the_full_one(client: TestClient) -> None:
    submission_id = upload(client, BUGGY, student="bob").json()["id"]
    public = client.get(f"/submissions/{submission_id}").json()
    failed = [t for q in public["questions"] for t in q["tests"] if t["status"] == "failed"]
    assert failed and all(t["diagnostics"] is None for t in failed)
    assert public["score"] < public["max_score"]

    full = client.get(f"/submissions/{submission_id}", headers=AUTH).json()
    assert full["student"] == "bob" and full["status"] == "graded" and full["filename"] == "nn.py"
    tests = [t for q in full["result"]["questions"] for t in q["tests"] if t["status"] == "failed"]
    assert tests[0]["diagnostics"]["verdict"] == "values"
    assert full["result"]["isolation"]["level"] == "full"  # the instructor's view says what it ran under


def test_unknown_id_is_a_json_404(client: TestClient) -> None:
    response = client.get("/submissions/not-an-id")
    assert response.status_code == 404
    assert response.json() == {"detail": "No submission has this id."}


def test_a_syntax_error_is_a_stored_rejected_verdict(client: TestClient) -> None:
    response = upload(client, "def forward(self:\n    pass\n", student="carol")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "rejected" and body["score"] == 0
    assert "line 1" in body["messages"][0]
    assert client.get(f"/submissions/{body['id']}").json()["status"] == "rejected"


def _stored(client: TestClient) -> int:
    return len(client.get("/submissions", headers=AUTH).json()["submissions"])


def test_bad_bytes_are_refused_with_the_reason_and_not_stored(client: TestClient) -> None:
    cases = {
        b"": (400, "empty"),
        b"  \n\t\n": (400, "empty"),
        b"import numpy\x00\n": (400, "NUL bytes"),
        "x = 'caf\u00e9'\n".encode("latin-1"): (400, "not UTF-8"),
        b"#" * (LIMIT + 10): (413, f"{LIMIT + 10:,} bytes"),  # over the file limit, inside the multipart slack
        b"#" * (LIMIT + 200_000): (413, "larger than the limit"),  # refused on Content-Length alone
    }
    for data, (status, words) in cases.items():
        response = upload(client, data)
        assert response.status_code == status, (data[:20], response.text)
        assert words in response.json()["detail"]
    assert _stored(client) == 0
    assert upload(client, CORRECT).status_code == 200  # none of it stopped the service


def test_a_streamed_upload_without_content_length_is_cut_off(client: TestClient) -> None:
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="nn.py"\r\n'
        "Content-Type: text/x-python\r\n\r\n"
    ).encode()

    def body():  # chunked: the server cannot know the size in advance
        yield head
        for _ in range(4):
            yield b"#" * (1 << 20)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post(
        "/submissions", content=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert response.status_code == 413
    assert "larger than the limit" in response.json()["detail"]
    assert _stored(client) == 0  # (that reading stops early is checked against the real server)


def test_missing_or_malformed_fields_are_422_with_a_message(client: TestClient) -> None:
    response = client.post("/submissions", data={"student": "dave"})
    assert response.status_code == 422
    assert "`file`" in response.json()["detail"]
    response = client.post("/submissions", data={"file": "not a file upload"})
    assert response.status_code == 422 and isinstance(response.json()["detail"], str)
    response = upload(client, CORRECT, student="=HYPERLINK(1)")
    assert response.status_code == 422 and response.json()["detail"].startswith("student:")
    assert client.post("/submissions", content=b"x", headers={"Content-Type": "text/plain"}).status_code == 422
    assert _stored(client) == 0


def test_http_errors_are_json_too(client: TestClient) -> None:
    assert client.get("/nowhere").json() == {"detail": "Not Found"}
    response = client.delete("/submissions")
    assert response.status_code == 405 and response.json() == {"detail": "Method Not Allowed"}


def test_instructor_endpoints_need_the_token(client: TestClient) -> None:
    for method, path in (("GET", "/submissions"), ("GET", "/gradebook.csv"), ("POST", "/regrade")):
        response = client.request(method, path)
        assert response.status_code == 401, path
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "token" in response.json()["detail"]
        wrong = client.request(method, path, headers={"Authorization": "Bearer " + TOKEN[:-1] + "x"})
        assert wrong.status_code == 401
        assert client.request(method, path, headers=AUTH).status_code in (200, 202)
    assert client.get("/submissions/x", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_listing_filters_by_student(client: TestClient) -> None:
    first = upload(client, CORRECT, student="erin").json()["id"]
    upload(client, CORRECT, student="frank")
    second = upload(client, BUGGY, student="erin").json()["id"]
    listed = client.get("/submissions", params={"student": "erin"}, headers=AUTH).json()["submissions"]
    assert [s["id"] for s in listed] == [second, first]  # newest first
    assert {s["status"] for s in listed} == {"graded"} and listed[0]["score"] < listed[1]["score"] == 100


def test_gradebook_has_latest_and_best_per_student(client: TestClient) -> None:
    best = upload(client, CORRECT, student="gina").json()
    latest = upload(client, BUGGY, student="gina").json()
    upload(client, CORRECT)  # anonymous: not in the gradebook
    upload(client, BUGGY, student="hal")
    response = client.get("/gradebook.csv", headers=AUTH)
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.text.splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    assert [r["student"] for r in rows] == ["gina", "hal"]
    gina = rows[0]
    assert gina["submissions"] == "2"
    # An id may start with "-" (token_urlsafe), which the gradebook writes as text: csv_cell(id).
    assert gina["latest_id"] == csv_cell(latest["id"]) and gina["latest_score"] == f"{latest['score']:g}"
    assert gina["best_id"] == csv_cell(best["id"]) and gina["best_score"] == "100" and gina["max_score"] == "100"
    assert float(gina["latest_q2"]) == 50 and float(gina["latest_q1"]) < 50


def test_regrade_applies_a_changed_rubric_to_everything(make_client: MakeClient, tmp_path: Path) -> None:
    config = tmp_path / "rubric.toml"
    config.write_text("")  # the shipped defaults
    client = make_client(config=config)
    ids = [upload(client, CORRECT, student=f"s{i}").json()["id"] for i in range(3)]
    before = client.get(f"/submissions/{ids[0]}", headers=AUTH).json()["config_digest"]

    config.write_text("[rubric.q1]\npoints = 70\n")
    response = client.post("/regrade", headers=AUTH)
    assert response.status_code == 202 and response.json()["queued"] == 3
    for submission_id in ids:
        assert wait_settled(client, submission_id)["max_score"] == 120
    assert client.get(f"/submissions/{ids[0]}", headers=AUTH).json()["config_digest"] != before
    assert upload(client, CORRECT).json()["score"] == 120  # new uploads use the new rubric too


def test_a_slow_verdict_answers_202_and_the_client_polls(make_client: MakeClient, runner: ContentRunner) -> None:
    runner.gate = threading.Event()
    client = make_client(wait_seconds=0.2)
    response = upload(client, CORRECT)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] in ("queued", "running") and set(body) == {"id", "status"}
    assert response.headers["Location"] == f"/submissions/{body['id']}"
    runner.gate.set()
    assert wait_settled(client, body["id"])["score"] == 100


def test_past_capacity_the_answer_is_503_with_retry_after(make_client: MakeClient, runner: ContentRunner) -> None:
    runner.gate = threading.Event()
    client = make_client(workers=1, max_queue=1, wait_seconds=0)
    accepted = [upload(client, CORRECT) for _ in range(2)]  # one grading, one waiting
    assert [r.status_code for r in accepted] == [202, 202]
    refused = upload(client, CORRECT)
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) >= 1
    assert "busy" in refused.json()["detail"]
    assert _stored(client) == 2  # the refused upload was not stored
    assert client.get("/healthz").status_code == 200

    runner.gate.set()
    for response in accepted:
        assert wait_settled(client, response.json()["id"])["score"] == 100
    assert upload(client, CORRECT).status_code in (200, 202)  # capacity is back


def test_a_grader_fault_is_reported_and_a_regrade_recovers(client: TestClient, runner: ContentRunner) -> None:
    runner.fail = 1
    response = upload(client, CORRECT, student="ivy")
    assert response.status_code == 500
    body = response.json()
    assert body["status"] == "error" and "not a fault of your code" in body["detail"]
    assert client.get(f"/submissions/{body['id']}").json() == body  # the stored state, not an HTTP error
    full = client.get(f"/submissions/{body['id']}", headers=AUTH).json()
    assert "sandbox went away" in full["error"]

    assert client.post("/regrade", headers=AUTH).status_code == 202
    assert wait_settled(client, body["id"])["score"] == 100


def test_pending_rows_of_a_previous_run_are_graded_on_start(make_client: MakeClient, runner: ContentRunner) -> None:
    runner.gate = stuck = threading.Event()
    first = make_client(workers=1, wait_seconds=0)
    running = upload(first, CORRECT).json()["id"]
    assert runner.started.acquire(timeout=5)
    queued = upload(first, CORRECT).json()["id"]
    # A second app on the same database stands in for the process after a crash: the first never settles.
    runner.gate = None
    second = make_client(workers=1)
    assert wait_settled(second, running)["score"] == 100
    assert wait_settled(second, queued)["score"] == 100
    stuck.set()  # let the first app's worker end, so its shutdown is quick


def test_health_docs_and_page(client: TestClient) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/submissions", "/submissions/{submission_id}", "/gradebook.csv", "/regrade", "/healthz"} <= set(paths)
    page = client.get("/")
    assert page.headers["content-type"].startswith("text/html")
    assert 'type="file"' in page.text and "/submissions" in page.text


def test_a_broken_rubric_refuses_the_regrade_and_keeps_the_grades(make_client: MakeClient, tmp_path: Path) -> None:
    config = tmp_path / "rubric.toml"
    config.write_text("")
    client = make_client(config=config)
    graded = upload(client, CORRECT, student="jo").json()
    config.write_text("[rubric.q1]\npoints = -1\n")
    response = client.post("/regrade", headers=AUTH)
    assert response.status_code == 500 and "invalid" in response.json()["detail"]
    assert client.get(f"/submissions/{graded['id']}").json() == graded  # nothing was re-queued
    assert upload(client, CORRECT).json()["score"] == 100  # still grading with the last good rubric


def test_health_fails_when_the_workers_are_gone(client: TestClient) -> None:
    client.app.state.backend.pool.stop()  # type: ignore[attr-defined]
    response = client.get("/healthz")
    assert response.status_code == 503 and "workers" in response.json()["detail"]


def test_the_page_only_runs_its_own_script(client: TestClient) -> None:
    policy = client.get("/").headers["Content-Security-Policy"]
    assert "script-src 'sha256-" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
