"""Gradescope and PrairieLearn, end to end in each platform's own layout (issue 15).

The Gradescope zip is built with the CLI, unpacked into a tmp ``/autograder``-shaped tree and its
``run_autograder`` run as Gradescope runs it (with this venv's Python instead of setup.sh's apt steps), on the
sample submissions through the real sandbox; results.json is validated against a pydantic model of
Gradescope's documented schema. PrairieLearn likewise, with a tmp ``/grade``. Policies (late days, the
submission limit) are tested through the same ``run`` with the scripted runner.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Literal

import pytest
from click.testing import CliRunner
from pydantic import BaseModel, ConfigDict, Field

from grader.cli import main
from grader.platforms import gradescope, prairielearn
from tests.fakes import ScriptedRunner

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "submissions"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the namespace sandbox needs root (as in CI)")

Visibility = Literal["hidden", "after_due_date", "after_published", "visible"]
OutputFormat = Literal["text", "html", "simple_format", "md", "ansi"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GradescopeTest(_Strict):
    """One test of Gradescope's results.json (gradescope-autograders.readthedocs.io/en/latest/specs/)."""

    score: float
    max_score: float
    name: str
    number: str
    status: Literal["passed", "failed"]
    visibility: Visibility
    output: str
    output_format: OutputFormat
    tags: list[str] = Field(default_factory=list)


class GradescopeResults(_Strict):
    score: float
    execution_time: float
    output: str
    output_format: OutputFormat = "text"
    visibility: Visibility
    stdout_visibility: Visibility
    tests: list[GradescopeTest]
    extra_data: dict[str, Any] | None = None
    """Gradescope keeps it with the submission and shows it to no student: the isolation goes here."""


class PrairieLearnTest(_Strict):
    """One test of PrairieLearn's external grading results (docs/externalGrading.md, "Grading results")."""

    name: str
    points: float
    max_points: float
    message: str
    output: str


class PrairieLearnResults(_Strict):
    gradable: bool
    score: float = Field(ge=0, le=1)
    message: str
    output: str
    tests: list[PrairieLearnTest] = Field(default_factory=list)
    format_errors: list[str] = Field(default_factory=list)


# --- Gradescope, end to end --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build") / "autograder.zip"
    config = out.parent / "course.toml"
    config.write_text('[visibility]\nhidden = "after_due_date"\n')
    done = CliRunner().invoke(
        main, ["gradescope", "build", "--out", str(out), "--config", str(config), "--include-key"]
    )
    assert done.exit_code == 0, done.output
    return out


def test_the_zip_has_setup_and_run_autograder_at_its_root_and_setup_uses_only_its_files(autograder_zip: Path):
    with zipfile.ZipFile(autograder_zip) as archive:
        names = set(archive.namelist())
        setup = archive.read("setup.sh").decode()
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in archive.infolist()}
    assert {"setup.sh", "run_autograder", "course.toml", "hidden.key"} <= names
    wheel = next(n for n in names if n.endswith("-py3-none-any.whl"))
    assert modes["run_autograder"] == modes["setup.sh"] == 0o755 and modes["hidden.key"] == 0o600
    assert subprocess.run(["bash", "-n", "-c", setup], check=False).returncode == 0
    assert "apt-get install -y --no-install-recommends python3 python3-venv python3-pip" in setup
    # Every file setup.sh names in its own folder is in the zip.
    referenced = set(re.findall(r"\./([\w.\-]+)", setup)) | set(re.findall(r"/autograder/source/([\w.\-]+)", setup))
    assert referenced == {wheel, "run_autograder", "hidden.key"}
    assert referenced <= names


def test_the_wheel_in_the_zip_holds_the_package_and_a_valid_record(autograder_zip: Path, tmp_path: Path):
    with zipfile.ZipFile(autograder_zip) as archive:
        wheel_name = next(n for n in archive.namelist() if n.endswith(".whl"))
        (tmp_path / wheel_name).write_bytes(archive.read(wheel_name))
    with zipfile.ZipFile(tmp_path / wheel_name) as wheel:
        names = set(wheel.namelist())
        record = wheel.read(next(n for n in names if n.endswith("RECORD"))).decode()
    assert {
        "grader/engine.py",
        "grader/defaults.toml",
        "reference/conv1d.py",
        "grader/service/static/index.html",
    } <= names
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)
    assert {line.split(",")[0] for line in record.splitlines()} == names


def unpack(autograder_zip: Path, root: Path, submission: dict[str, bytes], meta: dict | None = None) -> Path:
    """A Gradescope container's /autograder, as its harness lays it out."""
    source = root / "source"
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(source)  # our own zip, just built: trusted
    shutil.copy(source / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    (root / "submission").mkdir()
    for name, data in submission.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / name).write_bytes(data)
    (root / "results").mkdir()
    if meta is not None:
        (root / "submission_metadata.json").write_text(json.dumps(meta))
    return root


def run_autograder(root: Path) -> tuple[GradescopeResults, str]:
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "CONV1D_PYTHON": sys.executable}
    env.pop("CONV1D_HIDDEN_KEY", None)  # the shipped key must be the one used
    done = subprocess.run(
        [str(root / "run_autograder")], cwd=root, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert [p.name for p in (root / "results").iterdir()] == ["results.json"]  # no temp file left behind
    return GradescopeResults.model_validate_json((root / "results" / "results.json").read_text()), done.stdout


ON_TIME = {
    "created_at": "2024-02-01T10:00:00.000000-08:00",
    "assignment": {"due_date": "2024-02-02T23:59:00.000000-08:00", "late_due_date": None},
    "users": [{"name": "Ada Lovelace", "email": "ada@example.edu", "id": 1}],
    "previous_submissions": [],
}


@needs_root
@pytest.mark.parametrize(
    ("files", "expect"),
    [
        ({"nn.py": (SAMPLES / "correct_vectorised.py").read_bytes()}, "full"),
        ({"hw2/mytorch/NN.py": (SAMPLES / "bug_no_bias.py").read_bytes()}, "partial"),
        ({"nn.py": (SAMPLES / "syntax_error.py").read_bytes()}, "syntax"),
        ({"notes.txt": b"I forgot the code"}, "missing"),
    ],
    ids=["correct", "buggy-in-a-subfolder", "syntax-error", "missing-file"],
)
def test_run_autograder_grades_samples_in_gradescopes_layout(autograder_zip: Path, tmp_path: Path, files, expect):
    results, stdout = run_autograder(unpack(autograder_zip, tmp_path / "autograder", files, ON_TIME))
    if expect == "full":
        assert results.score == 100 and all(t.status == "passed" for t in results.tests)
        assert {t.visibility for t in results.tests} == {"visible", "after_due_date"}  # the shipped course.toml
    elif expect == "partial":
        assert 0 < results.score < 100 and "Graded hw2/mytorch/NN.py." in results.output
    elif expect == "syntax":
        assert results.score == 0 and "line 12" in results.output
    else:
        assert results.score == 0 and results.tests == [] and "No nn.py was found" in results.output
    if expect != "missing":
        assert "isolation:" in stdout and "shipped key" in stdout  # instructor-only: stdout is hidden
        assert "isolation" not in results.output


# --- Gradescope policies, with the scripted runner ---------------------------------------------------------



def policy_tree(tmp_path: Path, config: str, meta: dict) -> Path:
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "source" / "course.toml").write_text(config)
    (root / "submission").mkdir()
    (root / "submission" / "nn.py").write_text("import numpy as np\n")
    (root / "submission_metadata.json").write_text(json.dumps(meta))
    return root


def read_results(root: Path) -> GradescopeResults:
    return GradescopeResults.model_validate_json((root / "results" / "results.json").read_text())


@pytest.mark.parametrize(
    ("created", "score", "note"),
    [
        ("2024-02-02T23:00:00-08:00", 100, ""),
        ("2024-02-03T01:00:00-08:00", 90, "Submitted 1 day late"),
        ("2024-02-05T00:30:00-08:00", 70, "Submitted 3 days late"),
        ("2024-02-10T00:00:00-08:00", 0, "after the late due date"),
    ],
    ids=["on-time", "one-day", "three-days", "after-late-due"],
)
def test_the_late_policy_comes_from_the_config_and_the_dates_from_the_metadata(
    scripted: ScriptedRunner, tmp_path: Path, created: str, score: float, note: str
):
    meta = {
        "created_at": created,
        "assignment": {"due_date": "2024-02-02T23:59:00-08:00", "late_due_date": "2024-02-06T23:59:00-08:00"},
        "previous_submissions": [],
    }
    root = policy_tree(tmp_path, "[policy]\nlate_penalty_per_day = 0.1\n", meta)
    assert gradescope.run(root) == 0
    results = read_results(root)
    assert results.score == pytest.approx(score)
    assert sum(t.score for t in results.tests) == pytest.approx(100)  # the tests keep their own points
    assert note in results.output


def test_past_the_submission_limit_the_latest_result_stands_ungraded(scripted: ScriptedRunner, tmp_path: Path):
    earlier = {"score": 42.0, "output": "", "tests": [], "visibility": "visible"}
    meta = {
        "created_at": "2024-02-01T10:00:00-08:00",
        "assignment": {"due_date": "2024-02-02T23:59:00-08:00"},
        "previous_submissions": [
            {"submission_time": "2024-01-30T10:00:00-08:00", "score": 10.0, "results": {"score": 10.0}},
            {"submission_time": "2024-01-31T10:00:00-08:00", "score": 42.0, "results": earlier},
        ],
    }
    root = policy_tree(tmp_path, "[policy]\nmax_submissions = 2\n", meta)
    assert gradescope.run(root) == 0
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 42.0 and "used all 2 graded submissions" in results["output"]
    assert scripted.runs == []


def test_a_broken_course_config_writes_no_results_and_exits_2(tmp_path: Path):
    root = policy_tree(tmp_path, "[policy]\nlate_penalty_per_day = 5\n", {})
    env = {**os.environ, "AUTOGRADER_ROOT": str(root)}
    done = subprocess.run(
        [sys.executable, "-m", "grader", "gradescope", "run"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and "late_penalty_per_day" in done.stderr
    assert not (root / "results" / "results.json").exists()


# --- PrairieLearn ------------------------------------------------------------------------------------------


def grade_tree(tmp_path: Path, files: dict[str, bytes], data: dict | None = None) -> Path:
    root = tmp_path / "grade"
    for name, content in files.items():
        (root / "student" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "student" / name).write_bytes(content)
    (root / "student").mkdir(parents=True, exist_ok=True)
    (root / "tests").mkdir()
    (root / "tests" / "hidden.key").write_text("prairielearn-question-key-0123456789\n")
    (root / "data").mkdir()
    (root / "data" / "data.json").write_text(json.dumps(data or {"params": {}, "submitted_answers": {}}))
    return root


def run_prairielearn(root: Path) -> PrairieLearnResults:
    env = {**os.environ, "GRADE_ROOT": str(root)}
    done = subprocess.run(
        [sys.executable, "-m", "grader", "prairielearn"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "isolation:" in done.stdout or "nothing graded" in done.stdout
    return PrairieLearnResults.model_validate_json((root / "results" / "results.json").read_text())


@needs_root
@pytest.mark.parametrize(
    ("files", "expect"),
    [
        ({"nn.py": (SAMPLES / "correct_loops.py").read_bytes()}, "full"),
        ({"nn.py": (SAMPLES / "bug_stride_ignored_forward.py").read_bytes()}, "partial"),
        ({"nn.py": (SAMPLES / "syntax_error.py").read_bytes()}, "syntax"),
        ({"nn.py": b"\xff\xfe not utf-8"}, "binary"),
        ({}, "missing"),
    ],
    ids=["correct", "buggy", "syntax-error", "not-utf8", "missing-file"],
)
def test_prairielearn_grades_samples_in_its_layout(tmp_path: Path, files, expect):
    results = run_prairielearn(grade_tree(tmp_path, files))
    if expect == "full":
        assert results.gradable and results.score == 1.0 and all(t.points == t.max_points for t in results.tests)
    elif expect == "partial":
        assert results.gradable and 0 < results.score < 1
        assert sum(t.points for t in results.tests) == pytest.approx(results.score * 100, abs=1e-3)
    else:
        assert not results.gradable and results.format_errors and results.tests == []
        word = {"syntax": "line 12", "binary": "UTF-8", "missing": "No file was handed in"}[expect]
        assert word in results.message


def test_prairielearn_reads_nn_py_from_data_json_when_student_is_empty(scripted: ScriptedRunner, tmp_path: Path):
    import base64

    contents = base64.b64encode(b"import numpy as np\n").decode()
    root = grade_tree(tmp_path, {}, {"submitted_answers": {"_files": [{"name": "nn.py", "contents": contents}]}})
    assert prairielearn.run(root) == 0
    results = PrairieLearnResults.model_validate_json((root / "results" / "results.json").read_text())
    assert results.gradable and results.score == 1.0
