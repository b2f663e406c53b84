"""Every result says what it ran under: the instructor JSON, Gradescope, the table, the batch summary, the
refusal below ``[sandbox] require_isolation``, and ``doctor``; all with a scripted runner (no process)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

import grader.sandbox
from grader import doctor, engine
from grader.batch import discover, grade_folder
from grader.cli import main
from grader.config import load_config
from grader.engine import grade
from grader.errors import IsolationTooWeak
from grader.report import render, to_gradescope, to_json, to_markdown
from tests.fakes import FULL, MINIMAL, ScriptedRunner

GOOD = "import numpy as np\n# scripted: the runner decides the outcome\n"
GAP = MINIMAL.missing[0]


@pytest.fixture
def minimal(monkeypatch: pytest.MonkeyPatch) -> ScriptedRunner:
    runner = ScriptedRunner(isolated=MINIMAL)
    monkeypatch.setattr(engine, "default_runner", lambda: runner)
    monkeypatch.setattr(grader.sandbox, "prestart", lambda: None)  # no zygote for a scripted runner
    return runner


def _config(tmp_path: Path, required: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[sandbox]\nrequire_isolation = "{required}"\n')
    return path


def test_the_instructor_json_has_the_isolation_and_the_student_json_does_not(minimal: ScriptedRunner, tmp_path: Path):
    result = grade(tmp_path.joinpath("nn.py").write_text(GOOD) and tmp_path / "nn.py")
    instructor = json.loads(to_json(result, public=False))["isolation"]
    assert instructor["level"] == "minimal" and instructor["missing"] == [GAP]
    assert instructor["seccomp"] == {"how": "bpf", "arch": ["x86_64"]} and instructor["namespaces"] == []
    assert json.loads(to_json(result))["isolation"] is None
    assert "scripted: sysctl" not in to_markdown(result, public=True)
    assert "isolation minimal" in to_markdown(result) and "sysctl -w fix=1" in to_markdown(result)


def test_gradescope_keeps_the_isolation_in_extra_data_only(minimal: ScriptedRunner, tmp_path: Path):
    (tmp_path / "nn.py").write_text(GOOD)
    results = to_gradescope(grade(tmp_path / "nn.py"))
    assert results["extra_data"]["isolation"]["level"] == "minimal"
    assert results["extra_data"]["isolation"]["missing"] == [GAP]
    shown = results["output"] + "".join(t["output"] + t["name"] for t in results["tests"])
    assert "sysctl" not in shown and "isolation" not in shown  # nothing in what students see


def test_the_table_shows_the_isolation_to_instructors_only(minimal: ScriptedRunner, tmp_path: Path):
    (tmp_path / "nn.py").write_text(GOOD)
    result = grade(tmp_path / "nn.py")
    console = Console(record=True, width=400)
    render(result, console, public=False)
    text = console.export_text()
    assert "isolation minimal: no namespaces" in text and GAP in text
    console = Console(record=True, width=400)
    render(result, console)
    assert "isolation" not in console.export_text()


@pytest.mark.parametrize("fmt", ["table", "json", "gradescope"])
def test_every_grade_format_says_the_isolation_on_stderr(minimal: ScriptedRunner, tmp_path: Path, fmt: str):
    (tmp_path / "nn.py").write_text(GOOD)
    out = CliRunner().invoke(main, ["grade", str(tmp_path / "nn.py"), "--format", fmt], terminal_width=400)
    assert out.exit_code == 0, out.output
    assert f"isolation minimal: no namespaces + grader's uid + seccomp(bpf: x86_64); missing: {GAP}" in out.stderr
    if fmt != "table":
        assert "isolation minimal" not in out.stdout  # programs and students read stdout


def test_the_batch_summary_says_the_level_and_each_gap_once(minimal: ScriptedRunner, tmp_path: Path):
    folder = tmp_path / "handins"
    folder.mkdir()
    for name in ("alice", "bob", "carol"):
        (folder / f"{name}.py").write_text(GOOD)
    out = CliRunner().invoke(main, ["batch", str(folder), "--out", str(tmp_path / "g.csv"), "--no-progress"])
    assert out.exit_code == 0, out.output
    assert out.stderr.count("isolation minimal") == 1 and out.stderr.count(GAP) == 1


def test_below_the_required_level_nothing_runs_and_it_is_a_grader_fault(minimal: ScriptedRunner, tmp_path: Path):
    (tmp_path / "nn.py").write_text(GOOD)
    with pytest.raises(IsolationTooWeak, match="isolation is minimal, below the partial"):
        grade(tmp_path / "nn.py", load_config(_config(tmp_path, "partial")))
    assert minimal.runs == []  # refused before any submission code ran
    out = CliRunner().invoke(main, ["grade", str(tmp_path / "nn.py"), "--config", str(_config(tmp_path, "full"))])
    assert out.exit_code == 2 and "below the full" in out.stderr and GAP in out.stderr
    entries = grade_folder(discover(tmp_path), load_config(_config(tmp_path, "partial")), runner=minimal)
    assert [e.row()["status"] for e in entries] == ["grader-error"]
    assert minimal.runs == []


def test_the_required_level_is_checked_on_each_run_too(tmp_path: Path):
    """A runner that promised full but ran with less (its cgroups failed): refused, though after the run."""
    runner = ScriptedRunner(isolated=replace(FULL, level="partial", missing=("no cgroups: mount them",)))
    runner.isolation = lambda: FULL  # type: ignore[method-assign]
    (tmp_path / "nn.py").write_text(GOOD)
    with pytest.raises(IsolationTooWeak, match="no cgroups: mount them"):
        grade(tmp_path / "nn.py", load_config(_config(tmp_path, "full")), runner=runner)
    assert grade(tmp_path / "nn.py", load_config(_config(tmp_path, "partial")), runner=runner).score == 100


def test_the_default_requires_nothing_and_full_meets_everything(tmp_path: Path):
    assert load_config().sandbox.require_isolation == "any"
    assert FULL.meets("full") and FULL.meets("partial") and MINIMAL.meets("any") and not MINIMAL.meets("partial")


def _host(**changes: object) -> doctor.HostFacts:
    facts = doctor.HostFacts(
        arch="x86_64",
        root=True,
        initial_user_namespace=True,
        user_namespaces="allowed",
        cgroups={"version": 1, "controllers": ["memory", "cpuacct"]},
        seccomp="available",
    )
    return replace(facts, **changes)


def test_doctor_exits_0_on_full_isolation(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(doctor, "host_facts", _host)
    monkeypatch.setattr(doctor, "sandbox_isolation", lambda: FULL)
    out = CliRunner().invoke(main, ["doctor"])
    assert out.exit_code == 0, out.output
    assert "unprivileged user namespaces: allowed" in out.output and "full isolation" in out.output


def test_doctor_names_each_gap_and_its_fix_and_exits_1(monkeypatch: pytest.MonkeyPatch):
    blocked = "refused (Operation not permitted)"
    fix = "user namespaces: disabled: sysctl -w kernel.unprivileged_userns_clone=1"
    monkeypatch.setattr(doctor, "host_facts", lambda: _host(root=False, user_namespaces=blocked, fixes=(fix,)))
    monkeypatch.setattr(doctor, "sandbox_isolation", lambda: MINIMAL)
    out = CliRunner().invoke(main, ["doctor"])
    assert out.exit_code == 1
    assert f"unprivileged user namespaces: {blocked}" in out.output and f"fix: {fix}" in out.output
    assert f"missing: {GAP}" in out.output and "minimal isolation" in out.output
    out = CliRunner().invoke(main, ["doctor", "--json"])
    assert out.exit_code == 1
    found = json.loads(out.output)
    assert found["isolation"]["level"] == "minimal" and found["host"]["fixes"] == [fix]
