"""The CLI and batch layer over grade(), with the scripted runner standing in for the sandbox."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import grader.sandbox
from grader import engine
from grader.batch import discover, grade_folder
from grader.cli import main
from grader.config import load_config
from tests.fakes import ScriptedRunner, correct, raising

GOOD = "import numpy as np\n# scripted: the runner decides the outcome\n"



@pytest.fixture
def handins(tmp_path: Path) -> Path:
    folder = tmp_path / "handins"
    folder.mkdir()
    (folder / "alice.py").write_text(GOOD)
    (folder / "bob").mkdir()
    (folder / "bob" / "nn.py").write_text(GOOD)
    (folder / "carol.py").write_text("def broken(:\n")
    (folder / "dave.py").write_bytes(b"\x00\x01binary")
    (folder / "notes.txt").write_text("not a submission")
    return folder


def test_discover_finds_loose_files_and_handin_folders(handins: Path):
    (handins / "alice").mkdir()
    (handins / "alice" / "nn.py").write_text(GOOD)
    clashes = []
    found = discover(handins, on_clash=lambda name, renamed: clashes.append((name, renamed)))
    names = [name for name, _ in found]
    assert names == ["alice.py", "alice~nn.py", "bob", "carol", "dave"]  # a clash: each named after its path
    assert clashes == [("alice", [("alice.py", handins / "alice.py"), ("alice~nn.py", handins / "alice" / "nn.py")])]


def test_grade_prints_a_table(scripted: ScriptedRunner, tmp_path: Path):
    path = tmp_path / "nn.py"
    path.write_text(GOOD)
    out = CliRunner().invoke(main, ["grade", str(path)], terminal_width=160)
    assert out.exit_code == 0, out.output
    assert "100 / 100" in out.output and "Q1 Conv1d.forward: 50 / 50" in out.output


@pytest.mark.parametrize("flags", [["--json"], ["--format", "json"]], ids=["--json", "--format-json"])
def test_grade_json_is_the_public_view(scripted: ScriptedRunner, tmp_path: Path, flags: list[str]):
    path = tmp_path / "alice.py"
    path.write_text(GOOD)
    out = CliRunner().invoke(main, ["grade", str(path), *flags])
    data = json.loads(out.stdout)  # the isolation line goes to stderr, for the operator
    assert data["submission"] == "alice" and data["score"] == 100 and data["status"] == "graded"
    assert all(t["diagnostics"] is None for q in data["questions"] for t in q["tests"])


def test_grade_gradescope_format(scripted: ScriptedRunner, tmp_path: Path):
    path = tmp_path / "nn.py"
    path.write_text(GOOD)
    out = CliRunner().invoke(main, ["grade", str(path), "--format", "gradescope"])
    data = json.loads(out.stdout)
    assert data["score"] == 100 and len(data["tests"]) == 1 + 13 + 13 * 3
    assert data["extra_data"]["isolation"]["level"] == "full" and out.stderr.startswith("isolation full")


def test_a_bad_config_is_a_grader_fault_with_exit_code_2(scripted: ScriptedRunner, tmp_path: Path):
    path, config = tmp_path / "nn.py", tmp_path / "bad.toml"
    path.write_text(GOOD)
    config.write_text("[limits]\ncpu_seconds = -1\n")
    out = CliRunner().invoke(main, ["grade", str(path), "--config", str(config)])
    assert out.exit_code == 2
    assert "cpu_seconds" in out.output


def test_batch_writes_gradebook_reports_and_summary(scripted: ScriptedRunner, handins: Path, tmp_path: Path):
    grades, reports = tmp_path / "grades.csv", tmp_path / "reports"
    out = CliRunner().invoke(
        main, ["batch", str(handins), "--out", str(grades), "--reports", str(reports), "--jobs", "2", "--no-progress"]
    )
    assert out.exit_code == 0, out.output
    rows = {row["submission"]: row for row in csv.DictReader(grades.open())}
    assert set(rows) == {"alice", "bob", "carol", "dave"}
    assert rows["alice"] == {
        "submission": "alice",
        "source": "alice.py",
        "q1": "50",
        "q2": "50",
        "score": "100",
        "max_score": "100",
        "status": "graded",
    }
    assert rows["carol"]["status"] == rows["dave"]["status"] == "rejected"
    assert rows["bob"]["source"] == "bob/nn.py"
    assert "graded 4 submissions" in out.output and "mean q1 25.00/50" in out.output
    assert "graded 2, rejected 2" in out.output
    for audience in ("student", "instructor"):
        assert json.loads((reports / audience / "carol.json").read_text())["status"] == "rejected"
        assert "line 1" in (reports / audience / "carol.md").read_text()
    assert sorted(p.name for p in reports.iterdir()) == ["instructor", "student"]


def test_one_grader_failure_does_not_stop_the_batch(handins: Path, tmp_path: Path):
    class Flaky(ScriptedRunner):
        def run(self, source, filename, calls, limits):
            if "bob" in source:
                raise RuntimeError("sandbox fell over")
            return super().run(source, filename, calls, limits)

    (handins / "bob" / "nn.py").write_text(GOOD + "# bob\n")
    entries = grade_folder(discover(handins), load_config(), jobs=2, runner=Flaky())
    by_name = {e.name: e for e in entries}
    assert by_name["bob"].result is None and "sandbox fell over" in (by_name["bob"].error or "")
    assert by_name["bob"].row()["status"] == "grader-error"
    assert by_name["alice"].result is not None and by_name["alice"].result.score == 100


def test_batch_exits_1_when_the_grader_failed_on_a_file(monkeypatch: pytest.MonkeyPatch, handins: Path, tmp_path):
    class Broken(ScriptedRunner):
        def run(self, source, filename, calls, limits):
            raise RuntimeError("boom")

    monkeypatch.setattr(engine, "default_runner", lambda: Broken())

    monkeypatch.setattr(grader.sandbox, "prestart", lambda: None)  # no zygote for a scripted runner
    out = CliRunner().invoke(main, ["batch", str(handins), "--out", str(tmp_path / "g.csv"), "--no-progress"])
    assert out.exit_code == 1
    assert "grader error on" in out.output


def test_batch_keeps_input_order_and_statuses(scripted: ScriptedRunner, handins: Path):
    scripted.respond = lambda call: raising(call, "ValueError") if call.op == "backward" else correct(call)
    entries = grade_folder(discover(handins), load_config(), jobs=3)
    assert [e.name for e in entries] == ["alice", "bob", "carol", "dave"]
    alice = entries[0].result
    assert alice is not None and alice.question("q2").score == 0 and alice.question("q1").score == 50


def test_python_dash_m_grader_is_the_same_cli():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "grader", "--help"], capture_output=True, text=True, check=True)
    assert "batch" in done.stdout and "grade" in done.stdout and "serve" in done.stdout


def test_a_sandbox_that_cannot_start_is_a_grader_fault_not_a_verdict(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from grader.errors import SandboxUnavailable

    class NoSandbox(ScriptedRunner):
        def run(self, source, filename, calls, limits):
            raise SandboxUnavailable("the sandbox could not be set up (see the grader's stderr) before import")

    monkeypatch.setattr(engine, "default_runner", lambda: NoSandbox())

    monkeypatch.setattr(grader.sandbox, "prestart", lambda: None)  # no zygote for a scripted runner
    path = tmp_path / "alice.py"
    path.write_text(GOOD)
    out = CliRunner().invoke(main, ["grade", str(path), "--json"])
    assert out.exit_code == 2
    assert "could not be set up" in out.output and '"status"' not in out.output
