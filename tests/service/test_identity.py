"""Issue 16, part 1: the roster, personal tokens, uploads and lookups tied to the token's student, and the store's
in-place upgrade from the schema before the roster."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from grader.cli import main
from grader.keys import KEY_ENVIRONMENT, load_key
from grader.service.roster import RosterError, check_id, parse_roster
from grader.service.store import SCHEMA_VERSION, Store, token_digest
from tests.service.conftest import AUTH, MakeClient, upload, wait_settled
from tests.service.solutions import BUGGY, CORRECT

ROSTER = "id,name,email\nalice,Alice Liddell,alice@example.edu\nBOB,Bob Builder,Bob@Example.edu\n"


def _import(client: TestClient, text: str = ROSTER) -> dict[str, dict[str, Any]]:
    response = client.post("/roster", files={"file": ("roster.csv", text.encode(), "text/csv")}, headers=AUTH)
    assert response.status_code == 200, response.text
    return {s["id"]: s for s in response.json()["students"]}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def course(make_client: MakeClient) -> tuple[TestClient, dict[str, dict[str, Any]]]:
    """A production-mode service (no anonymous uploads) with two students on the roster."""
    client = make_client(dev=False)
    return client, _import(client)


def test_import_normalises_and_issues_each_student_a_link_once(course: tuple[TestClient, dict]) -> None:
    client, students = course
    assert set(students) == {"alice", "bob"}  # BOB casefolded
    bob = students["bob"]
    assert bob["email"] == "bob@example.edu" and bob["name"] == "Bob Builder"
    assert len(bob["token"]) >= 43 and bob["link"] == f"/s/{bob['token']}"
    listed = client.get("/roster", headers=AUTH).json()["students"]
    assert [s["id"] for s in listed] == ["alice", "bob"]
    assert all(s["has_token"] and "token" not in s for s in listed)  # shown once, never again
    again = _import(client)  # importing again updates names, keeps links
    assert again["bob"]["token"] is None
    store: Store = client.app.state.backend.store  # type: ignore[attr-defined]
    with store.engine.connect() as connection:
        stored = [row[0] for row in connection.exec_driver_sql("SELECT sha256 FROM tokens")]
    assert token_digest(bob["token"]) in stored and bob["token"] not in stored  # hashed at rest


def test_uploads_belong_to_the_tokens_student_whatever_the_form_says(course: tuple[TestClient, dict]) -> None:
    client, students = course
    alice, bob = students["alice"]["token"], students["bob"]["token"]
    response = client.post(
        "/submissions",
        files={"file": ("nn.py", CORRECT.encode(), "text/x-python")},
        data={"student": "bob"},
        headers=_bearer(alice),
    )
    assert response.status_code == 200 and response.json()["score"] == 100
    submission_id = response.json()["id"]
    full = client.get(f"/submissions/{submission_id}", headers=AUTH).json()
    assert full["student"] == "alice" and full["student_id"] == "alice"
    assert client.get(f"/submissions/{submission_id}", headers=_bearer(alice)).json()["score"] == 100
    # Bob cannot read Alice's result, and nobody can read without a token outside development mode.
    assert client.get(f"/submissions/{submission_id}", headers=_bearer(bob)).status_code == 404
    assert client.get(f"/submissions/{submission_id}").status_code == 401
    me = client.get("/students/me", headers=_bearer(alice)).json()
    assert me["student"] == {"id": "alice", "name": "Alice Liddell"}
    assert [h["id"] for h in me["history"]] == [submission_id] and me["counted"]["score"] == 100


def test_no_anonymous_uploads_outside_development_mode(course: tuple[TestClient, dict]) -> None:
    client, _ = course
    response = upload(client, CORRECT, student="alice")
    assert response.status_code == 401 and "personal link" in response.json()["detail"]
    assert client.post(
        "/submissions", files={"file": ("nn.py", CORRECT.encode(), "text/x-python")}, headers=AUTH
    ).status_code == 403
    bad = client.post(
        "/submissions", files={"file": ("nn.py", CORRECT.encode(), "text/x-python")}, headers=_bearer("x" * 43)
    )
    assert bad.status_code == 401
    assert client.get("/submissions", headers=AUTH).json()["submissions"] == []
    assert client.get("/students/me").status_code == 401


def test_development_mode_keeps_anonymous_uploads(make_client: MakeClient) -> None:
    client = make_client(dev=True)
    response = upload(client, CORRECT, student="casey")
    assert response.status_code == 200
    assert client.get("/students/me").json()["dev"] is True


def test_reissue_revokes_the_old_token_and_revoke_ends_the_link(course: tuple[TestClient, dict]) -> None:
    client, students = course
    old = students["alice"]["token"]
    reissued = client.post("/roster/ALICE/token", headers=AUTH).json()  # ids in URLs are normalised too
    assert reissued["id"] == "alice" and reissued["token"] != old and reissued["link"].endswith(reissued["token"])
    assert client.get("/students/me", headers=_bearer(old)).status_code == 401
    assert client.get("/students/me", headers=_bearer(reissued["token"])).status_code == 200
    assert client.delete("/roster/alice/token", headers=AUTH).json() == {"id": "alice", "has_token": False}
    assert client.get("/students/me", headers=_bearer(reissued["token"])).status_code == 401
    assert client.post("/roster/nobody/token", headers=AUTH).status_code == 404
    assert client.post("/roster/alice/token").status_code == 401


def test_the_personal_link_sets_a_strict_httponly_cookie_that_uploads(course: tuple[TestClient, dict]) -> None:
    client, students = course
    page = client.get(students["bob"]["link"])
    assert page.status_code == 200 and 'type="file"' in page.text
    cookie = page.headers["set-cookie"]
    assert cookie.startswith(f"conv1d_student={students['bob']['token']};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    response = upload(client, BUGGY)  # the TestClient keeps the cookie, as a browser would
    assert response.status_code == 200
    assert client.get(f"/submissions/{response.json()['id']}", headers=AUTH).json()["student"] == "bob"
    client.cookies.clear()
    assert client.get("/s/not-a-token").status_code == 401


def test_look_alikes_and_duplicates_are_refused_and_nothing_is_imported(make_client: MakeClient) -> None:
    client = make_client(dev=False)
    cyrillic_a = "\u0430"
    cases = {
        f"id,name,email\n{cyrillic_a}lice,Alice,a@example.edu\n": "mixes scripts (CYRILLIC, LATIN)",
        "id,name,email\nalice,Alice,a@example.edu\nALICE,Other,o@example.edu\n": "already on line 2",
        "id,name,email\n\uff41lice,A,a@example.edu\nalice,B,b@example.edu\n": "already on line 2",  # fullwidth
        f"id,name,email\nok,P{cyrillic_a}ul,p@example.edu\n": "mixes scripts",
        "id,name,email\n=cmd,Eve,e@example.edu\n": "starting with a letter or digit",
        "id,name,email\nzed,Zed,not-an-address\n": "not an address",
        "name,email\nZed,z@example.edu\n": "missing: id",
    }
    for text, words in cases.items():
        response = client.post("/roster", files={"file": ("r.csv", text.encode(), "text/csv")}, headers=AUTH)
        assert response.status_code == 422, text
        assert words in response.json()["detail"], response.json()
    assert client.get("/roster", headers=AUTH).json()["students"] == []
    # One script is fine, whichever: a Greek or Cyrillic id is not a look-alike of anything by itself.
    assert check_id("\u0391\u0392\u0393") == "\u03b1\u03b2\u03b3" and check_id("Иван") == "иван"
    with pytest.raises(RosterError):
        parse_roster(b"\xff\xfe")


def test_the_cli_imports_a_roster_and_prints_the_links(tmp_path: Path, make_client: MakeClient) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER)
    data = tmp_path / "data"
    result = CliRunner().invoke(
        main, ["roster", "import", str(roster), "--data", str(data), "--base-url", "https://grader.example.edu/"]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "id,name,email,link" and len(lines) == 3
    link = lines[1].split(",")[-1]
    assert link.startswith("https://grader.example.edu/s/")
    client = make_client(dev=False, data=data)  # the service on the same data folder knows the link
    token = link.rsplit("/", 1)[1]
    assert client.get("/students/me", headers=_bearer(token)).json()["student"]["id"] == "alice"
    again = CliRunner().invoke(main, ["roster", "import", str(roster), "--data", str(data)])
    assert again.exit_code == 0 and "2 kept theirs" in again.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name,email\n\u0430lice,A,a@example.edu\n")
    refused = CliRunner().invoke(main, ["roster", "import", str(bad), "--data", str(data)])
    assert refused.exit_code == 2 and "mixes scripts" in refused.stderr


OLD_SCHEMA = """
CREATE TABLE submissions (
    id VARCHAR(32) NOT NULL, student VARCHAR(64), filename VARCHAR(255) NOT NULL, size INTEGER NOT NULL,
    sha256 VARCHAR(64) NOT NULL, data BLOB, state VARCHAR(16) NOT NULL, generation INTEGER NOT NULL,
    submitted_at DATETIME NOT NULL, started_at DATETIME, finished_at DATETIME, score DOUBLE, max_score DOUBLE,
    q1 DOUBLE, q2 DOUBLE, config_digest VARCHAR(64), error TEXT, result TEXT, PRIMARY KEY (id)
);
CREATE INDEX ix_submissions_student ON submissions (student, submitted_at);
CREATE INDEX ix_submissions_state ON submissions (state);
CREATE TABLE health (id INTEGER NOT NULL, checked_at DATETIME NOT NULL, PRIMARY KEY (id));
"""
"""The schema main's store made before the roster (``sqlite3 grader.db .schema``), as raw SQL."""


def test_a_database_from_before_the_roster_is_upgraded_in_place(make_client: MakeClient, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    database = data / "grader.db"
    with sqlite3.connect(database) as connection:
        connection.executescript(OLD_SCHEMA)
        connection.execute(
            "INSERT INTO submissions (id, student, filename, size, sha256, data, state, generation, submitted_at)"
            " VALUES ('old-one', 'olga', 'nn.py', ?, 'x', ?, 'queued', 0, '2024-01-01 10:00:00.000000')",
            (len(CORRECT), CORRECT.encode()),
        )
    client = make_client(data=data)  # starting the service upgrades the database, then grades the queued row
    assert wait_settled(client, "old-one")["score"] == 100
    with sqlite3.connect(database) as connection:
        columns = {row[1] for row in connection.execute("PRAGMA table_info(submissions)")}
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        indexes = {row[1] for row in connection.execute("PRAGMA index_list(submissions)")}
        version = connection.execute("SELECT version FROM schema_version").fetchall()
    assert "student_id" in columns and {"students", "tokens", "schema_version"} <= tables
    assert "ix_submissions_student_id" in indexes and version == [(SCHEMA_VERSION,)]
    Store(f"sqlite:///{database}").close()  # idempotent: a second start changes nothing and does not fail
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    assert client.get("/submissions", params={"student": "olga"}, headers=AUTH).json()["submissions"][0]["id"] == (
        "old-one"
    )


def test_the_service_keeps_its_hidden_key_in_its_data_folder(
    make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENVIRONMENT)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # where the CLI's default would be
    client = make_client()
    submission_id = upload(client, CORRECT).json()["id"]
    key_file = tmp_path / "data" / "hidden.key"
    assert key_file.exists() and oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert not (tmp_path / "xdg").exists()
    draw = client.get(f"/submissions/{submission_id}", headers=AUTH).json()["result"]["hidden_draw"]
    assert draw["key_id"] == load_key(key_file).key_id
