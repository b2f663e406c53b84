"""Issue 16, part 2: due dates from the config's ``[policy]``, per-student extensions, ``after_due_date`` tests kept
out of the student view until the due date, late uploads stored and marked, and the score that counts."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from grader.config import PolicyConfig, load_config
from grader.errors import ConfigError
from grader.service.deadlines import Deadline, counted, standing
from grader.service.store import Record, Student
from tests.service.conftest import AUTH, MakeClient
from tests.service.solutions import BUGGY, CORRECT

NOW = datetime.now(UTC)


def _config(tmp_path: Path, due: datetime, late_due: datetime | None, after: str = "zero") -> Path:
    path = tmp_path / "course.toml"
    late = f'late_due = "{late_due.isoformat()}"\n' if late_due else ""
    path.write_text(
        f'[policy]\ndue = "{due.isoformat()}"\n{late}late_penalty_per_day = 0.1\nafter_late_due_date = "{after}"\n'
        '[visibility]\nhidden = "after_due_date"\n'
    )
    return path


def _course(make_client: MakeClient, config: Path) -> tuple[TestClient, dict[str, str]]:
    client = make_client(dev=False, config=config)
    roster = "id,name,email\nalice,Alice,alice@example.edu\nbob,Bob,bob@example.edu\n"
    students = client.post("/roster", files={"file": ("r.csv", roster.encode())}, headers=AUTH).json()["students"]
    return client, {s["id"]: s["token"] for s in students}


def _hand_in(client: TestClient, token: str, source: str = CORRECT) -> dict[str, Any]:
    response = client.post(
        "/submissions",
        files={"file": ("nn.py", source.encode(), "text/x-python")},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _visibilities(view: dict[str, Any]) -> set[str]:
    return {t["visibility"] for q in view["questions"] for t in q["tests"]}


def test_policy_dates_need_a_timezone_and_an_order(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[policy]\ndue = 2025-03-01T23:59:00\n")
    with pytest.raises(ConfigError, match="needs a timezone"):
        load_config(config)
    config.write_text("[policy]\ndue = 2025-03-01T23:59:00+01:00\nlate_due = 2025-02-01T00:00:00Z\n")
    with pytest.raises(ConfigError, match=r"before policy\.due"):
        load_config(config)
    config.write_text('[policy]\ndue = 2025-03-01T23:59:00+01:00\nlate_due = "2025-03-04T23:59:00Z"\n')
    policy = load_config(config).policy
    assert policy.due == datetime(2025, 3, 1, 22, 59, tzinfo=UTC) and policy.late_due is not None


def test_an_extension_keeps_after_due_date_tests_out_of_view_and_the_upload_on_time(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client, tokens = _course(make_client, _config(tmp_path, NOW - timedelta(hours=30), NOW + timedelta(days=2)))
    extension = {"due": (NOW + timedelta(days=1)).isoformat()}
    response = client.post("/students/alice/extension", json=extension, headers=AUTH)
    assert response.status_code == 200
    assert response.json()["deadline"]["late_due"] is not None  # the late window moves with the due date

    alice = _hand_in(client, tokens["alice"])
    assert _visibilities(alice) == {"visible"}  # her due date has not passed: after_due_date tests are withheld
    assert alice["score"] == alice["max_score"] < 100 and alice["standing"]["timing"] == "on_time"
    assert any("shown after the due date" in m for m in alice["messages"])

    bob = _hand_in(client, tokens["bob"], BUGGY)  # his due date passed 30 hours ago: 2 started days late
    assert _visibilities(bob) == {"visible", "after_due_date"} and bob["max_score"] == 100
    assert bob["standing"] == {"timing": "late", "days_late": 2, "factor": 0.8, "counts": True}
    me = client.get("/students/me", headers={"Authorization": f"Bearer {tokens['bob']}"}).json()
    assert me["counted"]["score"] == pytest.approx(bob["score"] * 0.8, abs=1e-3) and me["history"][0]["counts"]

    rows = {r["student"]: r for r in csv.DictReader(io.StringIO(client.get("/gradebook.csv", headers=AUTH).text))}
    assert rows["alice"]["counted_score"] == "100" and rows["alice"]["counted_timing"] == "on_time"
    assert rows["bob"]["counted_timing"] == "late" and rows["bob"]["late_submissions"] == "1"
    assert float(rows["bob"]["counted_score"]) == pytest.approx(float(rows["bob"]["best_score"]) * 0.8, abs=1e-3)

    assert client.post("/students/nobody/extension", json=extension, headers=AUTH).status_code == 404
    naive = client.post("/students/alice/extension", json={"due": "2030-01-01T00:00:00"}, headers=AUTH)
    assert naive.status_code == 422 and "timezone" in naive.json()["detail"]
    assert client.post("/students/alice/extension", json=extension).status_code == 401


@pytest.mark.parametrize(("after", "counts"), [("zero", False), ("penalty", True)])
def test_after_the_late_due_date_an_upload_is_stored_marked_and_counts_as_configured(
    make_client: MakeClient, tmp_path: Path, after: str, counts: bool
) -> None:
    config = _config(tmp_path, NOW - timedelta(days=3, hours=1), NOW - timedelta(hours=1), after)
    client, tokens = _course(make_client, config)
    view = _hand_in(client, tokens["alice"])
    assert view["score"] == 100  # graded as ever: the policy changes what counts, not the verdict
    assert view["standing"]["timing"] == "after_late_due" and view["standing"]["counts"] is counts
    listed = client.get("/submissions", headers=AUTH).json()["submissions"]
    assert listed[0]["standing"]["timing"] == "after_late_due"
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO(client.get("/gradebook.csv", headers=AUTH).text))}
    assert rows["alice"]["latest_score"] == "100"
    assert rows["alice"]["counted_score"] == ("60" if counts else "")  # four started days at 10% a day
    assert rows["bob"]["submissions"] == "0"  # a roster student without uploads still has a row


def _record(when: datetime, score: float, name: str) -> Record:
    return Record(
        id=name, student="s", filename="nn.py", size=1, state="graded", submitted_at=when, finished_at=when,
        score=score, max_score=100, config_digest=None, error=None, student_id="s",
    )  # fmt: skip


def test_the_score_that_counts_is_the_best_after_penalties() -> None:
    due = datetime(2025, 3, 1, tzinfo=UTC)
    policy = PolicyConfig(due=due, late_due=due + timedelta(days=3), late_penalty_per_day=0.25)
    deadline = Deadline.of(policy, None)
    records = [
        _record(due - timedelta(hours=1), 70, "on-time"),
        _record(due + timedelta(hours=1), 90, "one-day-late"),  # 90 * 0.75 = 67.5 < 70
        _record(due + timedelta(days=5), 100, "too-late"),  # after the late due date: "zero"
    ]
    best = counted(records, deadline, policy)
    assert best is not None and best.record.id == "on-time" and best.score == 70
    records.append(_record(due + timedelta(hours=30), 100, "two-days-late"))  # 100 * 0.5 = 50
    assert counted(records, deadline, policy).record.id == "on-time"  # type: ignore[union-attr]
    assert standing(due + timedelta(days=5), deadline, policy).factor == 0.0
    assert standing(due, deadline, policy).timing == "on_time"  # the due instant itself is on time
    student = Student("s", "S", "s@example.edu", extension_due=due + timedelta(days=7))
    assert Deadline.of(policy, student) == Deadline(due + timedelta(days=7), due + timedelta(days=10))
    # With the extension both 100s are on time; ties go to the earliest.
    assert counted(records, Deadline.of(policy, student), policy).record.id == "two-days-late"  # type: ignore[union-attr]
