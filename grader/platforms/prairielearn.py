"""PrairieLearn: the external grader's entry point, ``conv1d-grader prairielearn``.

PrairieLearn mounts the job at ``/grade`` (``$GRADE_ROOT`` here, so tests can lay one out anywhere): the
student's files in ``student/``, the question's ``tests/`` folder (where a course config ``course.toml`` and a
``hidden.key`` may be shipped: students never see it), and the question's data in ``data/data.json``. This
writes ``results/results.json`` once, atomically, in PrairieLearn's format: ``score`` in 0..1, ``gradable``,
``message``, ``output`` and ``tests`` (``name``, ``points``, ``max_points``, ``message``, ``output``).

A hand-in that cannot be graded (no ``nn.py``, not UTF-8, a syntax error, a module that does not load) is
``gradable: false`` with the reason in ``format_errors`` and ``message``: PrairieLearn then neither scores it
nor counts it as an attempt. Instructor notes (isolation, warnings, the key) go to stdout, the job's log.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import Any

from grader.engine import grade
from grader.models import Result
from grader.platforms.common import course_config, course_key, find_handin, write_json_atomically
from grader.report import format_points
from grader.submission import FILENAME, Submission

ROOT_ENVIRONMENT = "GRADE_ROOT"
DEFAULT_ROOT = Path("/grade")


def grade_root() -> Path:
    """``$GRADE_ROOT``, else ``/grade``."""
    return Path(os.environ.get(ROOT_ENVIRONMENT) or DEFAULT_ROOT)


def _from_data(data_path: Path) -> bytes | None:
    """``nn.py`` from ``data.json``'s ``submitted_answers._files`` (base64), for a question whose element did
    not also copy it into ``student/``."""
    try:
        data = json.loads(data_path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    files = ((data.get("submitted_answers") or {}).get("_files")) or []
    for item in files if isinstance(files, list) else []:
        if isinstance(item, dict) and str(item.get("name", "")).lower() == FILENAME:
            try:
                return base64.b64decode(str(item.get("contents", "")), validate=True)
            except (binascii.Error, ValueError):
                return None
    return None


def not_gradable(reasons: list[str]) -> dict[str, Any]:
    """A hand-in PrairieLearn should neither score nor count as an attempt, with the reasons."""
    return {"gradable": False, "score": 0.0, "format_errors": reasons, "message": "\n".join(reasons), "output": ""}


def results_for(result: Result) -> dict[str, Any]:
    """PrairieLearn's results for a verdict: the student view only (hidden tests' prints and diagnostics are
    dropped by :meth:`Result.public`)."""
    public = result.public()
    if public.status == "rejected":
        return not_gradable(list(public.messages))
    total = public.max_score or 1.0
    summary = f"{format_points(public.score)} / {format_points(public.max_score)} points."
    return {
        "gradable": True,
        "score": round(min(1.0, max(0.0, public.score / total)), 6),
        "message": "\n".join([summary, *public.messages]),
        "output": "",
        "tests": [
            {
                "name": f"{question.id.upper()} {question.title}: {test.name}",
                "points": test.score,
                "max_points": test.max_score,
                "message": test.feedback,
                "output": test.output,
            }
            for question in public.questions
            for test in question.tests
        ],
    }


def run(root: Path | None = None) -> int:
    """Grade the job at ``root`` and write its results; the exit status (2 for a grader fault, which writes no
    results so that PrairieLearn reports a grading failure rather than a score)."""
    root = root or grade_root()
    tests, results_path = root / "tests", root / "results" / "results.json"
    config = course_config(tests)
    handin, why_not = find_handin(root / "student") if (root / "student").is_dir() else (None, "")
    data = handin.read_bytes() if handin is not None else _from_data(root / "data" / "data.json")
    if data is None:
        reason = why_not or f"No file was handed in. Hand in {FILENAME}."
        print(f"instructor note: nothing graded: {reason}")
        write_json_atomically(results_path, not_gradable([reason]))
        return 0
    key, key_note = course_key(tests, config)
    result = grade(Submission(name=FILENAME, data=data), config, key=key)
    write_json_atomically(results_path, results_for(result))
    print(f"instructor note: {result.status}, {result.score:g}/{result.max_score:g}")
    print(f"instructor note: isolation: {result.isolation or 'none reported'}")
    for warning in result.warnings:
        print(f"instructor note: WARNING: {warning}")
    print(f"instructor note: {key_note}")
    return 0
