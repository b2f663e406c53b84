"""Several assignments in one service: uploads per assignment, per-assignment views, and the store's migration
of rows from before assignment packs."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from grader.packs.linear.reference import linear_backward, linear_forward
from grader.runner import Call, CallOutcome, LoadOutcome, Returned, RunReport
from grader.service.store import SCHEMA_VERSION, Store
from tests.fakes import FULL
from tests.service.conftest import AUTH, ContentRunner, MakeClient, upload, wait_settled
from tests.service.solutions import CORRECT
from tests.service.test_identity import OLD_SCHEMA


def _linear_values(stage: Call, call: Call) -> dict[str, Returned]:
    """Right answers for one stage of a Linear call, from its inputs."""
    a = call.arrays
    right = {"out": linear_forward(a["x"], a["weight"], a["bias"])}
    gradients = linear_backward(a["x"], a["weight"], a["delta"])
    right |= dict(zip(("dx", "grad_weight", "grad_bias"), gradients, strict=True))
    return {name: Returned(kind="ndarray", type_name="numpy.ndarray", array=right[name]) for name in stage.outputs}


class RoutingRunner(ContentRunner):
    """Conv1d as the service's other tests script it; Linear's calls answered right from its reference."""

    def run(self, source: str, filename: str, calls: Sequence[Call], limits: object) -> RunReport:
        if not calls or calls[0].steps[0].name != "Linear":
            return super().run(source, filename, calls, limits)
        outcomes = tuple(
            CallOutcome(stage.key, "ok", _linear_values(stage, call)) for call in calls for stage in call.stages()
        )
        return RunReport(load=LoadOutcome(status="ok", names=("Linear",)), calls=outcomes, isolation=FULL)


@pytest.fixture
def runner() -> ContentRunner:
    return RoutingRunner()


def test_uploads_go_to_their_assignment_and_views_keep_them_apart(make_client: MakeClient) -> None:
    client = make_client()
    listed = client.get("/assignments").json()["assignments"]
    assert [a["name"] for a in listed] == ["conv1d", "linear"] and listed[0]["default"]
    assert listed[1]["questions"][1] == {"id": "q2", "title": "Linear.backward", "points": 60}

    conv1d = upload(client, CORRECT, student="alice").json()
    files = {"file": ("nn.py", b"class Linear:\n    pass\n", "text/x-python")}
    linear = client.post("/assignments/linear/submissions", files=files, data={"student": "alice"}).json()
    assert wait_settled(client, conv1d["id"])["score"] == 100
    body = wait_settled(client, linear["id"])
    assert body["score"] == 100 and [q["title"] for q in body["questions"]] == ["Linear.forward", "Linear.backward"]

    everything = client.get("/submissions", headers=AUTH).json()["submissions"]
    assert {(s["assignment"], s["scores"]["q2"]) for s in everything} == {("conv1d", 50), ("linear", 60)}
    only = client.get("/submissions", params={"assignment": "linear"}, headers=AUTH).json()["submissions"]
    assert [s["id"] for s in only] == [linear["id"]]
    rows = list(csv.DictReader(io.StringIO(client.get("/gradebook.csv?assignment=linear", headers=AUTH).text)))
    assert [(r["student"], r["latest_q1"], r["latest_q2"], r["max_score"]) for r in rows] == [
        ("alice", "40", "60", "100")
    ]
    assert client.get("/overview", params={"assignment": "linear"}, headers=AUTH).json()["assignment"] == "linear"

    missing = client.post("/assignments/nope/submissions", files=files, data={"student": "alice"})
    assert missing.status_code == 404 and "GET /assignments" in missing.json()["detail"]


def test_rows_from_before_packs_get_the_default_assignment_and_their_scores(tmp_path: Path) -> None:
    database = tmp_path / "grader.db"
    with sqlite3.connect(database) as connection:
        connection.executescript(OLD_SCHEMA)
        connection.execute(
            "INSERT INTO submissions (id, student, filename, size, sha256, data, state, generation, submitted_at,"
            " score, max_score, q1, q2) VALUES ('graded', 'olga', 'nn.py', 1, 'x', x'00', 'graded', 0,"
            " '2024-01-01 10:00:00.000000', 80, 100, 45, 35)"
        )
    store = Store(f"sqlite:///{database}", default_assignment="conv1d")
    record = store.get("graded")
    store.close()
    assert record is not None and record.assignment == "conv1d" and record.scores == {"q1": 45, "q2": 35}
    assert record.question_score("q2") == 35 and record.question_score("q9") is None
    with sqlite3.connect(database) as connection:
        columns = {row[1] for row in connection.execute("PRAGMA table_info(submissions)")}
        indexes = {row[1] for row in connection.execute("PRAGMA index_list(submissions)")}
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)] == [(2,)]
        assert json.loads(connection.execute("SELECT scores FROM submissions").fetchone()[0]) == {"q1": 45, "q2": 35}
    assert {"assignment", "scores"} <= columns and "ix_submissions_assignment" in indexes
    Store(f"sqlite:///{database}", default_assignment="conv1d").close()  # idempotent
