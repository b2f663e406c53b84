"""Gradescope: build the autograder zip, and grade inside Gradescope's container.

``conv1d-grader gradescope build`` writes a zip with ``setup.sh`` and ``run_autograder`` at its root, a wheel
of this project, the course config and (with ``--include-key``) the hidden-case key. The project goes in as a
**wheel**, built here from the installed package: installing a wheel runs no build step (an sdist would need
setuptools fetched into an isolated build environment) and carries only the package (a copied source tree
would drag tests, ``.venv`` and caches along). Its dependencies come from PyPI when Gradescope builds the
image (that step has the network); nothing is fetched while a submission is graded.

``run_autograder`` calls ``conv1d-grader gradescope run``, which grades ``<root>/submission`` through the
sandbox, applies the course's late policy and submission limit from ``<root>/submission_metadata.json``, and
writes ``<root>/results/results.json`` once, atomically. ``<root>`` is ``$AUTOGRADER_ROOT``, default
``/autograder``, so that tests can lay out a Gradescope-shaped tree anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import os
import sys
import zipfile
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from grader.config import Config, PolicyConfig, load_config
from grader.engine import grade
from grader.keys import load_key
from grader.models import Result
from grader.platforms.common import CONFIG_FILE, KEY_FILE, course_config, course_key, find_handin, write_json_atomically
from grader.report import to_gradescope
from grader.submission import Submission

DISTRIBUTION = "conv1d-autograder"
ROOT_ENVIRONMENT = "AUTOGRADER_ROOT"
DEFAULT_ROOT = Path("/autograder")
_PACKAGES = ("grader", "reference")
_EPOCH = (2020, 1, 1, 0, 0, 0)  # fixed member times: the same inputs build the same zip


def autograder_root() -> Path:
    """``$AUTOGRADER_ROOT``, else ``/autograder``."""
    return Path(os.environ.get(ROOT_ENVIRONMENT) or DEFAULT_ROOT)


# --- build -------------------------------------------------------------------------------------------------


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel() -> tuple[str, bytes]:
    """A pure-Python wheel of the installed project: its file name and bytes.

    Built from the installed package files rather than from a checkout, so ``gradescope build`` works the same
    from an editable install and from a wheel install, and needs no build tool.
    """
    import grader

    dist = metadata.distribution(DISTRIBUTION)
    version = dist.version
    base = f"{DISTRIBUTION.replace('-', '_')}-{version}"
    files: dict[str, bytes] = {}
    site = Path(grader.__file__).resolve().parent.parent
    for package in _PACKAGES:
        for path in sorted((site / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files[path.relative_to(site).as_posix()] = path.read_bytes()
    requires = [r for r in (dist.requires or []) if "extra ==" not in r]
    meta = [
        "Metadata-Version: 2.1",
        f"Name: {DISTRIBUTION}",
        f"Version: {version}",
        f"Requires-Python: {(dist.metadata.get_all('Requires-Python') or ['>=3.11'])[0]}",
        *(f"Requires-Dist: {r}" for r in requires),
    ]
    info = f"{base}.dist-info"
    files[f"{info}/METADATA"] = ("\n".join(meta) + "\n").encode()
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: conv1d-grader\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{info}/entry_points.txt"] = b"[console_scripts]\nconv1d-grader = grader.cli:main\n"
    record = [f"{name},{_record_hash(data)},{len(data)}" for name, data in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in files.items():
            wheel.writestr(zipfile.ZipInfo(name, _EPOCH), data)
    return f"{base}-py3-none-any.whl", buffer.getvalue()


SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, in /autograder/source, when it builds the autograder's image.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip
# The grader needs Python 3.11 or later; Ubuntu 22.04's python3 is 3.10, so take its python3.11 there.
PYTHON=python3
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    apt-get install -y --no-install-recommends python3.11 python3.11-venv
    PYTHON=python3.11
fi
"$PYTHON" -m venv /autograder/venv
/autograder/venv/bin/pip install --no-cache-dir ./{wheel}
chmod 755 /autograder/source/run_autograder
{key_line}# Check the install now, at image build, rather than on the first student's submission.
/autograder/venv/bin/python -m grader --version
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this as root in /autograder for every submission: it grades /autograder/submission and
# writes /autograder/results/results.json. AUTOGRADER_ROOT and CONV1D_PYTHON exist for testing it elsewhere.
set -uo pipefail
export AUTOGRADER_ROOT="${AUTOGRADER_ROOT:-/autograder}"
exec "${CONV1D_PYTHON:-/autograder/venv/bin/python}" -m grader gradescope run
"""


def _member(name: str, mode: int = 0o644) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, _EPOCH)
    info.create_system = 3  # Unix, so that the modes below are honoured by unzip
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def build(out: Path, config_path: Path | None, include_key: bool) -> list[str]:
    """Write the autograder zip to ``out``; returns the names of its members."""
    config = load_config(config_path)  # refuse a broken config here, not in Gradescope's container
    wheel_name, wheel = build_wheel()
    key_line = f"chmod 600 /autograder/source/{KEY_FILE}\n" if include_key else ""
    members: dict[str, tuple[bytes, int]] = {
        "setup.sh": (SETUP_SH.format(wheel=wheel_name, key_line=key_line).encode(), 0o755),
        "run_autograder": (RUN_AUTOGRADER.encode(), 0o755),
        wheel_name: (wheel, 0o644),
        CONFIG_FILE: (
            config_path.read_bytes() if config_path else b"# The shipped defaults (grader/defaults.toml) apply.\n",
            0o644,
        ),
    }
    if include_key:
        secret = load_key(config.cases.key_file or None).secret
        members[KEY_FILE] = (secret + b"\n", 0o600)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as archive:
        for name, (data, mode) in members.items():
            archive.writestr(_member(name, mode), data)
    return list(members)


# --- run ---------------------------------------------------------------------------------------------------


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def late_factor(policy: PolicyConfig, metadata_: dict[str, Any]) -> tuple[float, str]:
    """The fraction of the score kept under the late policy, and the sentence that says why (empty: on time)."""
    assignment = metadata_.get("assignment") or {}
    created, due = _when(metadata_.get("created_at")), _when(assignment.get("due_date"))
    if created is None or due is None or created <= due:
        return 1.0, ""
    days = math.ceil((created - due).total_seconds() / 86400)
    late_due = _when(assignment.get("late_due_date"))
    if late_due is not None and created > late_due and policy.after_late_due_date == "zero":
        return 0.0, "Submitted after the late due date: this submission scores 0."
    kept = max(0.0, 1.0 - policy.late_penalty_per_day * days)
    if policy.late_penalty_per_day == 0:
        return 1.0, ""
    day_word = "day" if days == 1 else "days"
    return kept, (
        f"Submitted {days} {day_word} late: {policy.late_penalty_per_day:.0%} off per day, "
        f"so {kept:.0%} of the tests' score counts."
    )


def results_for(result: Result, factor: float, late_note: str, graded_file: str) -> dict[str, Any]:
    """Gradescope's ``results.json`` for a verdict: every test with ``status`` and ``output_format``, the total
    after the late policy, the late note on top of the submission-level output."""
    results = to_gradescope(result)
    for test in results["tests"]:
        test["output_format"] = "text"  # student text: never rendered as Markdown or HTML
    lines = [f"Graded {graded_file}.", late_note, results["output"]]
    results["output"] = "\n".join(line for line in lines if line)
    results["output_format"] = "text"
    if factor != 1.0:
        results["score"] = round(result.score * factor, 4)
    return results


def _no_handin_results(message: str) -> dict[str, Any]:
    return {
        "score": 0.0,
        "execution_time": 0.0,
        "output": message,
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
    }


def _limit_results(policy: PolicyConfig, previous: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The result that stands when the submission limit is reached (the latest previous one), else None."""
    if not policy.max_submissions or len(previous) < policy.max_submissions:
        return None
    latest = max(previous, key=lambda p: p.get("submission_time") or "")
    note = (
        f"You have used all {policy.max_submissions} graded submissions: this one was not graded, and your "
        "latest graded result stands."
    )
    kept = dict(latest.get("results") or {})
    if not kept:
        return _no_handin_results(note) | {"score": float(latest.get("score") or 0.0)}
    kept["output"] = "\n".join(x for x in (note, kept.get("output", "")) if x)
    return kept


def run(root: Path | None = None) -> int:
    """Grade the submission in Gradescope's tree at ``root`` and write its results; the exit status.

    Everything for the instructor (isolation, warnings, the key, the raw score) goes to stdout, which Gradescope
    shows to instructors only (``stdout_visibility`` hidden). A fault of the grader itself writes no results
    (Gradescope then reports the autograder failed, and the instructor can re-run it) rather than a zero.
    """
    root = root or autograder_root()
    source, submission_dir = root / "source", root / "submission"
    results_path = root / "results" / "results.json"
    config: Config = course_config(source)
    meta: dict[str, Any] = {}
    meta_path = root / "submission_metadata.json"
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            print(f"instructor note: cannot read {meta_path} ({exc}); no late policy or limit applied")

    standing = _limit_results(config.policy, list(meta.get("previous_submissions") or []))
    if standing is not None:
        print("instructor note: submission limit reached; the latest previous result stands")
        write_json_atomically(results_path, standing)
        return 0

    handin, why_not = find_handin(submission_dir)
    if handin is None:
        print(f"instructor note: no nn.py in {submission_dir}: {why_not}")
        write_json_atomically(results_path, _no_handin_results(why_not))
        return 0

    key, key_note = course_key(source, config)
    names = [u.get("name") for u in meta.get("users") or [] if u.get("name")]
    submission = Submission(name=", ".join(names) or "submission", data=handin.read_bytes())
    result = grade(submission, config, key=key)
    factor, late_note = late_factor(config.policy, meta)
    graded_file = handin.relative_to(submission_dir).as_posix()
    write_json_atomically(results_path, results_for(result, factor, late_note, graded_file))
    print(
        f"instructor note: graded {graded_file}: {result.status}, {result.score:g}/{result.max_score:g} before "
        f"the late policy, x{factor:g} after it"
    )
    print(f"instructor note: isolation: {result.isolation or 'none reported'}")
    for warning in result.warnings:
        print(f"instructor note: WARNING: {warning}")
    draw = result.hidden_draw
    print(f"instructor note: {key_note}" + (f" (key id {draw.key_id})" if draw else ""))
    sys.stdout.flush()
    return 0
