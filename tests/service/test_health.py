"""``/healthz`` proves the service can grade: the database commits a write, the workers run, and a sandbox runs a
trivial call (cached a few seconds); and a service below ``require_isolation`` refuses to grade (HTTP 500)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from grader.errors import SandboxUnavailable
from grader.runner import Isolation
from tests.fakes import MINIMAL
from tests.service.conftest import AUTH, ContentRunner, MakeClient, upload
from tests.service.solutions import CORRECT


class SelfTestingRunner(ContentRunner):
    """A fake sandbox with the real runner's ``self_test`` and ``isolation``: counts self-tests, or fails them."""

    def __init__(self) -> None:
        super().__init__()
        self.self_tests = 0
        self.broken = False

    def self_test(self) -> Isolation:
        self.self_tests += 1
        if self.broken:
            raise SandboxUnavailable("the zygote did not start a sandbox")
        return self.isolated

    def isolation(self) -> Isolation:
        return self.isolated


@pytest.fixture
def runner() -> SelfTestingRunner:
    return SelfTestingRunner()


def test_health_runs_a_sandbox_says_its_isolation_and_caches_it(client: TestClient, runner: SelfTestingRunner):
    for _ in range(3):
        health = client.get("/healthz")
        assert health.status_code == 200, health.text
    body = health.json()
    assert body["status"] == "ok" and body["sandbox"] == "ok" and body["isolation"]["level"] == "full"
    assert runner.self_tests == 1  # a probe every second must not cost a sandbox every second


def test_health_fails_when_no_sandbox_starts(client: TestClient, runner: SelfTestingRunner):
    runner.broken = True
    response = client.get("/healthz")
    assert response.status_code == 500 and "did not start a sandbox" in response.json()["detail"]


def test_health_fails_when_the_database_refuses_writes(client: TestClient):
    backend = client.app.state.backend  # type: ignore[attr-defined]
    with backend.store.engine.begin() as connection:
        for when in ("INSERT", "UPDATE"):
            connection.exec_driver_sql(
                f"CREATE TRIGGER no_{when.lower()} BEFORE {when} ON health BEGIN SELECT RAISE(ABORT, 'full'); END"
            )
    assert client.get("/healthz").status_code == 500


def test_a_service_below_the_required_isolation_refuses_to_grade(
    make_client: MakeClient, runner: SelfTestingRunner, tmp_path: Path
):
    runner.isolated = MINIMAL
    config = tmp_path / "config.toml"
    config.write_text('[sandbox]\nrequire_isolation = "partial"\n')
    client = make_client(config=config)
    response = upload(client, CORRECT, student="eve")
    assert response.status_code == 500
    full = client.get(f"/submissions/{response.json()['id']}", headers=AUTH).json()
    assert "below the partial" in full["error"] and MINIMAL.missing[0] in full["error"]
    assert runner.runs == 0  # refused before the submission ran
