"""Every hand-in layout of every platform we know, laid out for real, and what the gradebook makes of it.

Each scenario builds a batch folder in a tmp dir exactly as the platform (or a student) leaves it, zipped,
tarred or unzipped, and states the rows it must give (name -> source), the student fields of some, and the
reason some files are skipped. Discovery is checked directly (no grading) and, for one scenario per archive
kind, through ``batch`` with the scripted runner; one mixed folder is graded end to end through the sandbox.
"""

from __future__ import annotations

import csv
import io
import os
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.archive import ZipLimits
from grader.batch import grade_folder
from grader.cli import main
from grader.config import load_config
from grader.exports import Discovery, Wanted, discover_exports
from tests.fakes import ScriptedRunner

ROOT = Path(__file__).resolve().parent.parent
CONV = Wanted("nn.py", ("get_conv1d_output_size", "Conv1d"))
CODE = "import numpy as np\n\n\nclass Conv1d:\n    pass\n"
OTHER = "import numpy as np\n\n\ndef helper():\n    return 1\n"


def code(tag: str) -> str:
    return f"{CODE}# {tag}\n"


def zip_bytes(members: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_bytes(members: dict[str, bytes | str], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:  # type: ignore[call-overload]
        for name, data in members.items():
            raw = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))
    return buffer.getvalue()


def lay_out(folder: Path, files: dict[str, bytes | str]) -> None:
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)


@dataclass
class Scenario:
    files: dict[str, bytes | str]
    rows: dict[str, str]
    """submission name -> source."""
    students: dict[str, dict[str, str]] = field(default_factory=dict)
    """submission name -> Student fields that must hold."""
    skipped: dict[str, str] = field(default_factory=dict)
    """source -> a phrase its reason must hold."""
    reads: dict[str, str] = field(default_factory=dict)
    """submission name -> a tag its graded bytes must end with."""
    setup: Callable[[Path], None] | None = None


MOODLE = {
    "Ada Lovelace_4711_assignsubmission_file/nn.py": code("ada"),
    "Ada Lovelace_4711_assignsubmission_file/notes.pdf": b"%PDF",
    "Alan Turing_4712_assignsubmission_file_/hw2/mytorch/NN.py": code("alan"),
    "Grace Hopper_4713_assignsubmission_onlinetext/onlinetext.html": "<p>see attached</p>",
    "Grace Hopper_4713_assignsubmission_file/Conv1d.py": code("grace"),
}
MOODLE_FLAT = {
    "Ada Lovelace_4711_assignsubmission_file_nn.py": code("ada"),
    "Alan Turing_4712_assignsubmission_file_nn (1).py": code("alan"),
    "Alan Turing_4712_assignsubmission_file_README.txt": "hello",
}
BLACKBOARD = {
    "A2 Part A_alove_attempt_2024-02-01-10-00-00_nn.py": code("ada first"),
    "A2 Part A_alove_attempt_2024-02-01-10-00-00.txt": "Name: Ada Lovelace (alove)\nAssignment: A2 Part A\n",
    "A2 Part A_alove_attempt_2024-02-03-09-30-00_nn.py": code("ada latest"),
    "A2 Part A_alove_attempt_2024-02-03-09-30-00.txt": "Name: Ada Lovelace (alove)\nAssignment: A2 Part A\n",
    "A2 Part A_aturing_attempt_2024-02-02-11-00-00_hw2.zip": zip_bytes({"hw2/nn.py": code("alan")}),
    "A2 Part A_aturing_attempt_2024-02-02-11-00-00.txt": "Name: Alan Turing (aturing)\n",
    "A2 Part A_ghopper_attempt_2024-02-02-12-00-00_nn.py": code("grace latest, no receipt"),
    "A2 Part A_ghopper_attempt_2024-02-04-12-00-00_report.pdf": b"%PDF",
}
BRIGHTSPACE = {
    "123456-789 - Ada Lovelace - Feb 1, 2024 1004 AM - nn.py": code("ada first"),
    "123999-789 - Ada Lovelace - Feb 1, 2024 104 PM - nn.py": code("ada latest"),
    "123457-790 - Alan Turing - Feb 2, 2024 1159 PM - NN.PY": code("alan"),
    "index.html": "<html>index</html>",
}
CANVAS = {
    "smithbob_340934_208490284_nn.py": code("bob first"),
    "smithbob_340934_208490299_nn-1.py": code("bob latest"),
    "wellslane_LATE_334244_394803489_nn.py": code("lane"),
}
CLASSROOM = {
    "a2-conv1d-submissions/a2-conv1d-octocat/.git/HEAD": "ref: refs/heads/main\n",
    "a2-conv1d-submissions/a2-conv1d-octocat/.git/config": "[core]\n",
    "a2-conv1d-submissions/a2-conv1d-octocat/mytorch/nn.py": code("octocat"),
    "a2-conv1d-submissions/a2-conv1d-octocat/README.md": "# A2",
    "a2-conv1d-submissions/a2-conv1d-hubot/.git/HEAD": "ref: refs/heads/main\n",
    "a2-conv1d-submissions/a2-conv1d-hubot/nn.py": code("hubot"),
}

SCENARIOS = {
    "moodle-folders": Scenario(
        MOODLE,
        {
            "Ada Lovelace": "Ada Lovelace_4711_assignsubmission_file/nn.py",
            "Alan Turing": "Alan Turing_4712_assignsubmission_file_/hw2/mytorch/NN.py",
            "Grace Hopper": "Grace Hopper_4713_assignsubmission_file/Conv1d.py",
        },
        students={"Ada Lovelace": {"platform": "moodle", "lms_id": "4711", "name": "Ada Lovelace"}},
        skipped={
            "Grace Hopper_4713_assignsubmission_onlinetext/": "Moodle's onlinetext submission",
            "Ada Lovelace_4711_assignsubmission_file/notes.pdf": "not the hand-in",
        },
    ),
    "moodle-zip": Scenario(
        {"A2-Conv1d-1234.zip": zip_bytes(MOODLE)},
        {
            "Ada Lovelace": "A2-Conv1d-1234.zip!Ada Lovelace_4711_assignsubmission_file/nn.py",
            "Alan Turing": "A2-Conv1d-1234.zip!Alan Turing_4712_assignsubmission_file_/hw2/mytorch/NN.py",
            "Grace Hopper": "A2-Conv1d-1234.zip!Grace Hopper_4713_assignsubmission_file/Conv1d.py",
        },
        reads={"Grace Hopper": "grace"},
    ),
    "moodle-flat": Scenario(
        MOODLE_FLAT,
        {
            "Ada Lovelace": "Ada Lovelace_4711_assignsubmission_file_nn.py",
            "Alan Turing": "Alan Turing_4712_assignsubmission_file_nn (1).py",
        },
        skipped={"Alan Turing_4712_assignsubmission_file_README.txt": "not the hand-in"},
    ),
    "blackboard-attempts": Scenario(
        BLACKBOARD,
        {
            "Ada Lovelace": "A2 Part A_alove_attempt_2024-02-03-09-30-00_nn.py",
            "Alan Turing": "A2 Part A_aturing_attempt_2024-02-02-11-00-00_hw2.zip!hw2/nn.py",
            "ghopper": "A2 Part A_ghopper_attempt_2024-02-02-12-00-00_nn.py",
        },
        students={"Ada Lovelace": {"platform": "blackboard", "username": "alove"}},
        skipped={
            "A2 Part A_alove_attempt_2024-02-01-10-00-00_nn.py": "an earlier upload (attempt of 2024-02-01-10-00-00)",
            "A2 Part A_alove_attempt_2024-02-01-10-00-00.txt": "Blackboard's receipt",
            "A2 Part A_ghopper_attempt_2024-02-04-12-00-00_report.pdf": "not the hand-in",
        },
        reads={"Ada Lovelace": "ada latest"},
    ),
    "blackboard-usernames-with-underscores": Scenario(
        {
            "Lab_2_j_doe_attempt_2024-02-01-10-00-00_nn.py": code("j_doe"),
            "Lab_2_j_doe_attempt_2024-02-01-10-00-00.txt": "Name: Jane Doe (j_doe)\nAssignment: Lab_2\n",
            "Lab_2_k_doe_attempt_2024-02-01-11-00-00_nn.py": code("k_doe"),
            "Lab_2_k_doe_attempt_2024-02-01-11-00-00.txt": "Name: Kim Doe (k_doe)\r\nAssignment: Lab_2\r\n",
        },
        {
            "Jane Doe": "Lab_2_j_doe_attempt_2024-02-01-10-00-00_nn.py",
            "Kim Doe": "Lab_2_k_doe_attempt_2024-02-01-11-00-00_nn.py",
        },
        students={"Kim Doe": {"username": "k_doe", "name": "Kim Doe"}},
    ),
    "moodle-blind-marking": Scenario(
        {
            "Participant_901_assignsubmission_file/nn.py": code("p901"),
            "Participant_902_assignsubmission_file/nn.py": code("p902"),
        },
        {
            "Participant 901": "Participant_901_assignsubmission_file/nn.py",
            "Participant 902": "Participant_902_assignsubmission_file/nn.py",
        },
        students={"Participant 902": {"lms_id": "902"}},
    ),
    "gradescope-unzipped": Scenario(
        {
            "assignment_4242_export/submission_metadata.yml": (
                "submission_101:\n  :submitters:\n  - :name: Ada Lovelace\n    :sid: '1815'\n"
            ),
            "assignment_4242_export/submission_101/mytorch/nn.py": code("ada"),
            "assignment_4242_export/submission_101/mytorch/__pycache__/nn.cpython-311.pyc": b"\x00",
        },
        {"Ada Lovelace": "assignment_4242_export/submission_101/mytorch/nn.py"},
        students={"Ada Lovelace": {"platform": "gradescope", "sis_id": "1815"}},
        skipped={
            "assignment_4242_export/submission_metadata.yml": "Gradescope's list",
            "assignment_4242_export/submission_101/mytorch/__pycache__/": "Python's cache",
        },
    ),
    "brightspace-zip": Scenario(
        {"A2 Download Feb 5, 2024 900 AM.zip": zip_bytes(BRIGHTSPACE)},
        {
            "Ada Lovelace": "A2 Download Feb 5, 2024 900 AM.zip!123999-789 - Ada Lovelace - Feb 1, 2024 104 PM - nn.py",
            "Alan Turing": "A2 Download Feb 5, 2024 900 AM.zip!123457-790 - Alan Turing - Feb 2, 2024 1159 PM - NN.PY",
        },
        students={"Ada Lovelace": {"platform": "brightspace", "lms_id": "123999-789"}},
        skipped={"A2 Download Feb 5, 2024 900 AM.zip!index.html": "Brightspace's index"},
        reads={"Ada Lovelace": "ada latest"},
    ),
    "brightspace-folders": Scenario(
        {
            "123456-789 - Ada Lovelace - Feb 1, 2024 1004 AM/mytorch/nn.py": code("ada"),
            "123456-789 - Ada Lovelace - Feb 1, 2024 1004 AM/mytorch/loss.py": OTHER,
            "index.html": "<html></html>",
        },
        {"Ada Lovelace": "123456-789 - Ada Lovelace - Feb 1, 2024 1004 AM/mytorch/nn.py"},
        skipped={"index.html": "Brightspace's index"},
    ),
    "canvas-unzipped-in-a-folder": Scenario(
        {f"submissions/{name}": data for name, data in CANVAS.items()},
        {
            "smithbob": "submissions/smithbob_340934_208490299_nn-1.py",
            "wellslane": "submissions/wellslane_LATE_334244_394803489_nn.py",
        },
        students={"smithbob": {"platform": "canvas", "canvas_id": "340934"}},
        skipped={"submissions/smithbob_340934_208490284_nn.py": "an earlier upload"},
        reads={"smithbob": "bob latest"},
    ),
    "canvas-loose-in-the-batch-folder": Scenario(
        CANVAS,
        {"smithbob": "smithbob_340934_208490299_nn-1.py", "wellslane": "wellslane_LATE_334244_394803489_nn.py"},
    ),
    "github-classroom": Scenario(
        CLASSROOM,
        {
            "hubot": "a2-conv1d-submissions/a2-conv1d-hubot/nn.py",
            "octocat": "a2-conv1d-submissions/a2-conv1d-octocat/mytorch/nn.py",
        },
        students={"octocat": {"platform": "github-classroom", "username": "octocat"}},
        skipped={"a2-conv1d-submissions/a2-conv1d-octocat/.git/": "git's own data"},
    ),
    "github-classroom-tarred": Scenario(
        {"classroom.tar.gz": tar_bytes(CLASSROOM)},
        {
            "hubot": "classroom.tar.gz!a2-conv1d-submissions/a2-conv1d-hubot/nn.py",
            "octocat": "classroom.tar.gz!a2-conv1d-submissions/a2-conv1d-octocat/mytorch/nn.py",
        },
    ),
    "a-tar-per-student": Scenario(
        {
            "alice.tar.gz": tar_bytes({"alice/mytorch/nn.py": code("alice"), "alice/mytorch/loss.py": OTHER}),
            "bob.tgz": tar_bytes({"nn.py": code("bob")}),
            "carol.tar": tar_bytes({"hw2/nn.py": code("carol")}, "w"),
            "dave.tar.bz2": tar_bytes({"nn.py": code("dave")}, "w:bz2"),
            "erin.tar.xz": tar_bytes({"nn.py": code("erin")}, "w:xz"),
        },
        {
            "alice": "alice.tar.gz!alice/mytorch/nn.py",
            "bob": "bob.tgz!nn.py",
            "carol": "carol.tar!hw2/nn.py",
            "dave": "dave.tar.bz2!nn.py",
            "erin": "erin.tar.xz!nn.py",
        },
        reads={"erin": "erin"},
    ),
    "exports-in-folders-of-their-own": Scenario(
        {
            "canvas/submissions.zip": zip_bytes(CANVAS),
            "moodle/A2-Conv1d-1234.zip": zip_bytes(MOODLE_FLAT),
            "moodle/notes.txt": "graded on Monday",
        },
        {
            "Ada Lovelace": "moodle/A2-Conv1d-1234.zip!Ada Lovelace_4711_assignsubmission_file_nn.py",
            "Alan Turing": "moodle/A2-Conv1d-1234.zip!Alan Turing_4712_assignsubmission_file_nn (1).py",
            "smithbob": "canvas/submissions.zip!smithbob_340934_208490299_nn-1.py",
            "wellslane": "canvas/submissions.zip!wellslane_LATE_334244_394803489_nn.py",
        },
        skipped={"moodle/notes.txt": "not a submission (.txt)"},
    ),
    "a-class-folder-put-in-the-batch-folder": Scenario(
        {"A2 hand-ins/alice/nn.py": code("alice"), "A2 hand-ins/bob/mytorch/nn.py": code("bob")},
        {"alice": "A2 hand-ins/alice/nn.py", "bob": "A2 hand-ins/bob/mytorch/nn.py"},
    ),
    "a-class-zip": Scenario(
        {"class.zip": zip_bytes({"A2/alice/nn.py": code("alice"), "A2/bob/NN.py": code("bob"), "A2/roster.csv": "x"})},
        {"alice": "class.zip!A2/alice/nn.py", "bob": "class.zip!A2/bob/NN.py"},
        skipped={"class.zip!A2/roster.csv": "not a submission (.csv)"},
    ),
    "a-late-folder-beside-students-and-versions-kept-together": Scenario(
        {
            "late/dave/nn.py": code("dave"),
            "late/erin/nn.py": code("erin"),
            "carol/v1/nn.py": code("carol v1"),
            "carol/v2/nn.py": code("carol v2"),
        },
        {"carol": "carol/v1/nn.py", "dave": "late/dave/nn.py", "erin": "late/erin/nn.py"},
        skipped={"carol/v2/nn.py": "another candidate: carol/v1/nn.py is graded"},
    ),
    "nested-zip-in-a-folder": Scenario(
        {"frank/handin.zip": zip_bytes({"hw2/mytorch/nn.py": code("frank")}), "frank/readme.txt": "hi"},
        {"frank": "frank/handin.zip!hw2/mytorch/nn.py"},
        skipped={"frank/readme.txt": "not the hand-in (frank/handin.zip holds it)"},
    ),
    "mac-zip-with-junk": Scenario(
        {
            "gina.zip": zip_bytes(
                {
                    "gina/nn.py": code("gina"),
                    "__MACOSX/gina/._nn.py": b"\0\5\x16\7",
                    "gina/.DS_Store": b"\0\0\0\1Bud1",
                    "gina/._nn.py": b"\0\5\x16\7",
                }
            ),
            "henry/Thumbs.db": b"\xd0\xcf\x11\xe0",
            "henry/nn.py": code("henry"),
            ".DS_Store": b"\0\0\0\1Bud1",
        },
        {"gina": "gina.zip!gina/nn.py", "henry": "henry/nn.py"},
        skipped={
            "gina.zip!__MACOSX/": "macOS's resource forks",
            "gina.zip!gina/._nn.py": "AppleDouble",
            "henry/Thumbs.db": "Windows's thumbnail cache",
            ".DS_Store": "macOS's folder settings",
        },
    ),
    "odd-file-names": Scenario(
        {
            "ivan/NN.PY": code("ivan"),
            "judy/nn (1).py": code("judy"),
            "ken/nn.py.txt": code("ken"),
            "lena/nn.txt": code("lena"),
            "mike/nn_final.py": code("mike"),
            "nora/Conv1d.py": code("nora"),
            "oscar/nn.py.txt": "my code is in the pdf",
            "oscar/answers.pdf": b"%PDF",
            "pia.rar": b"Rar!\x1a\x07\x00",
            "quentin/handin.7z": b"7z\xbc\xaf\x27\x1c",
        },
        {
            "ivan": "ivan/NN.PY",
            "judy": "judy/nn (1).py",
            "ken": "ken/nn.py.txt",
            "lena": "lena/nn.txt",
            "mike": "mike/nn_final.py",
            "nora": "nora/Conv1d.py",
        },
        skipped={
            "oscar/nn.py.txt": "a text file and defines none of",
            "oscar/answers.pdf": "not nn.py",
            "pia.rar": "an archive the grader does not open (rar)",
            "quentin/handin.7z": "an archive the grader does not open (7z)",
        },
    ),
    "several-candidates-picked-by-content": Scenario(
        {
            "pat/utils.py": OTHER,
            "pat/conv.py": code("pat"),
            "pat/test_conv.py": "import conv\n",
            "quinn/nn.py": "from layers import *\n",
            "quinn/layers.py": code("quinn"),
            "rosa/nn.py": code("rosa"),
            "rosa/nn_old.py": code("rosa old"),
        },
        {"pat": "pat/conv.py", "quinn": "quinn/layers.py", "rosa": "rosa/nn.py"},
        skipped={
            "pat/utils.py": "not the hand-in",
            "quinn/nn.py": "another candidate: quinn/layers.py is graded",
            "rosa/nn_old.py": "another candidate: rosa/nn.py is graded (named nn.py",
        },
    ),
    "empty-and-non-utf8-files": Scenario(
        {
            "sam/nn.py": b"",
            "tina/nn.py": CODE.encode("utf-16"),
            "uma/nn.py": "# café\n".encode("latin-1") + CODE.encode(),
            "vic/": b"",
        },
        {"sam": "sam/nn.py", "tina": "tina/nn.py", "uma": "uma/nn.py"},
    ),
    "the-same-export-zipped-and-unzipped": Scenario(
        {"canvas.zip": zip_bytes(CANVAS), **{f"canvas/{n}": d for n, d in CANVAS.items()}},
        {
            "smithbob": "canvas/smithbob_340934_208490299_nn-1.py",
            "wellslane": "canvas/wellslane_LATE_334244_394803489_nn.py",
        },
        skipped={
            "canvas.zip!smithbob_340934_208490299_nn-1.py": "the same file as canvas/smithbob_340934_208490299_nn-1.py"
        },
    ),
    "two-students-with-one-name": Scenario(
        {
            "Ann Lee_4711_assignsubmission_file/nn.py": code("ann 1"),
            "Ann Lee_4799_assignsubmission_file/nn.py": code("ann 2"),
            "leeann_555_777_nn.py": code("ann 3"),
            "leeann_556_778_nn.py": code("ann 4"),
        },
        {
            "Ann Lee (4711)": "Ann Lee_4711_assignsubmission_file/nn.py",
            "Ann Lee (4799)": "Ann Lee_4799_assignsubmission_file/nn.py",
            "leeann (555)": "leeann_555_777_nn.py",
            "leeann (556)": "leeann_556_778_nn.py",
        },
    ),
    "control-characters-in-an-exports-file-names": Scenario(
        {"zoe_901_902_nn\n.py": code("zoe"), "Zed Ray_77_assignsubmission_file_\x1b[2Jnn.py": code("zed")},
        {"zoe": "zoe_901_902_nn\n.py", "Zed Ray": "Zed Ray_77_assignsubmission_file_\x1b[2Jnn.py"},
    ),
    "the-same-name-in-two-layouts": Scenario(
        {"walt.py": code("walt loose"), "walt/nn.py": code("walt folder"), "walt.zip": zip_bytes({"nn.py": code("z")})},
        {"walt.py": "walt.py", "walt~nn.py": "walt/nn.py", "walt.zip~nn.py": "walt.zip!nn.py"},
    ),
}


def _vic_empty_folder(folder: Path) -> None:
    (folder / "vic").mkdir(exist_ok=True)


SCENARIOS["empty-and-non-utf8-files"].files.pop("vic/")
SCENARIOS["empty-and-non-utf8-files"].setup = _vic_empty_folder
SCENARIOS["empty-and-non-utf8-files"].skipped["vic/"] = "nothing in it"


def build(tmp_path: Path, scenario: Scenario) -> Path:
    folder = tmp_path / "handins"
    folder.mkdir()
    lay_out(folder, scenario.files)
    if scenario.setup is not None:
        scenario.setup(folder)
    return folder


def check(found: Discovery, scenario: Scenario) -> None:
    assert {h.name: h.source for h in found.handins} == scenario.rows
    by_name = {h.name: h for h in found.handins}
    for name, fields in scenario.students.items():
        student = by_name[name].student
        assert {k: getattr(student, k) for k in fields} == fields
    reasons = {s.source: s.reason for s in found.skipped}
    for source, phrase in scenario.skipped.items():
        assert source in reasons, sorted(reasons)
        assert phrase in reasons[source], reasons[source]
    for name, tag in scenario.reads.items():
        assert by_name[name].read().decode().rstrip().endswith(tag)


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_each_layout_gives_one_row_per_student_with_the_chosen_file(tmp_path: Path, scenario: Scenario):
    check(discover_exports(build(tmp_path, scenario), wanted=CONV), scenario)


def test_every_file_of_a_layout_is_graded_or_listed_with_a_reason(tmp_path: Path):
    folder = build(tmp_path, SCENARIOS["moodle-folders"])
    found = discover_exports(folder, wanted=CONV)
    accounted = {h.source for h in found.handins} | {s.source for s in found.skipped}
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    # A file is listed itself, or with the whole folder it is in (Moodle's online text folder).
    assert {f for f in on_disk if f not in accounted and f.split("/")[0] + "/" not in accounted} == set()
    assert "Grace Hopper_4713_assignsubmission_onlinetext/" in accounted


# --- hostile folders ---------------------------------------------------------------------------------------


def test_a_link_out_of_the_batch_folder_is_listed_and_never_read(tmp_path: Path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "nn.py").write_text(code("the grader's own file"))
    folder = tmp_path / "handins"
    lay_out(folder, {"alice/nn.py": code("alice")})
    (folder / "mallory").mkdir()
    (folder / "mallory" / "nn.py").symlink_to(secret / "nn.py")
    (folder / "eve").symlink_to(secret, target_is_directory=True)
    (folder / "zed.py").symlink_to(secret / "nn.py")
    found = discover_exports(folder, wanted=CONV)
    assert {h.name: h.source for h in found.handins} == {"alice": "alice/nn.py"}
    reasons = {s.source: s.reason for s in found.skipped}
    for link in ("mallory/nn.py", "eve", "zed.py"):
        assert reasons[link].startswith("a symbolic link (to ") and "never followed" in reasons[link]
    assert "mallory/" in reasons and "nothing in it" in reasons["mallory/"]


def test_a_file_swapped_for_a_link_after_discovery_is_not_followed(tmp_path: Path):
    folder = tmp_path / "handins"
    lay_out(folder, {"alice/nn.py": code("alice")})
    (tmp_path / "outside.py").write_text("secret")
    handin = discover_exports(folder, wanted=CONV).handins[0]
    (folder / "alice" / "nn.py").unlink()
    (folder / "alice" / "nn.py").symlink_to(tmp_path / "outside.py")
    with pytest.raises(OSError):
        handin.read()


def test_a_file_too_large_to_read_says_so(tmp_path: Path):
    folder = tmp_path / "handins"
    lay_out(folder, {"alice/nn.py": code("alice") + "#" * 5000})
    handin = discover_exports(folder, ZipLimits(max_member_bytes=4096), wanted=CONV).handins[0]
    with pytest.raises(OSError, match=r"5,\d{3} bytes, more than the 4,096 a hand-in is read to"):
        handin.read()


def test_a_file_too_large_to_read_is_rejected_as_too_large_not_a_grader_error(scripted: ScriptedRunner, tmp_path: Path):
    folder = tmp_path / "handins"
    lay_out(folder, {"alice/nn.py": code("alice") + "#" * 5000, "bob/nn.py": code("bob")})
    handins = discover_exports(folder, ZipLimits(max_member_bytes=4096), wanted=CONV).handins
    config = load_config(None)
    # As shipped, the grader reads up to 64 MiB of a hand-in and grades up to 1 MiB; both scaled down here.
    config = config.model_copy(update={"limits": config.limits.model_copy(update={"max_upload_bytes": 2048})})
    entries = {e.name: e for e in grade_folder(handins, config)}
    alice = entries["alice"]
    assert alice.error is None and alice.result is not None
    assert alice.result.status == "rejected"
    size = (folder / "alice" / "nn.py").stat().st_size
    assert f"The file is {size:,} bytes" in alice.result.messages[0]
    assert entries["bob"].result is not None and entries["bob"].result.status == "graded"


def test_names_with_newlines_controls_and_bad_bytes_are_found_and_shown_escaped(tmp_path: Path):
    folder = tmp_path / "handins"
    folder.mkdir()
    os.makedirs(os.fsencode(folder) + b"/bad\xffname")
    (Path(os.fsdecode(os.fsencode(folder) + b"/bad\xffname")) / "nn.py").write_text(code("bad"))
    lay_out(folder, {"new\nline/nn.py": code("nl"), "\x1b[31mred/nn.py": code("red"), "café/nn.py": code("cafe")})
    found = discover_exports(folder, wanted=CONV)
    assert sorted(h.name for h in found.handins) == sorted(["bad\\xffname", "new\nline", "\x1b[31mred", "café"])
    assert all(h.read().startswith(b"import numpy") for h in found.handins)


def hostile_tar(kind: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("nn.py")
        if kind == "traversal":
            info.name = "../../escape/nn.py"
        elif kind == "absolute":
            info.name = "/tmp/escape/nn.py"
        elif kind == "symlink":
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/shadow"
        elif kind == "hardlink":
            info.type, info.linkname = tarfile.LNKTYPE, "/etc/shadow"
        elif kind == "device":
            info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
        elif kind == "fifo":
            info.type = tarfile.FIFOTYPE
        data = b"x" * 3000 if kind == "member-size" else CODE.encode()
        info.size = len(data) if info.type == tarfile.REGTYPE else 0
        archive.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
        if kind == "members":
            for i in range(30):
                extra = tarfile.TarInfo(f"f{i}.txt")
                archive.addfile(extra, io.BytesIO(b""))
    raw = buffer.getvalue()
    if kind == "pax-header":
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
            info = tarfile.TarInfo("nn.py")
            info.pax_headers = {"comment": "x" * (2 << 20)}
            archive.addfile(info, io.BytesIO(b""))
        raw = buffer.getvalue()
    if kind == "bomb":
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            info = tarfile.TarInfo("nn.py")
            info.size = 8 << 20
            archive.addfile(info, io.BytesIO(b"\0" * info.size))
        raw = buffer.getvalue()
    if kind == "garbage":
        raw = b"\x1f\x8b not really gzip"
    return raw


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("traversal", "leaves the archive"),
        ("absolute", "leaves the archive"),
        ("symlink", "symbolic link"),
        ("hardlink", "hard link"),
        ("device", "device or pipe"),
        ("fifo", "device or pipe"),
        ("bomb", "a tar bomb?"),
        ("pax-header", "extended header"),
        ("members", "the limit"),
        ("member-size", "the limit is 2,048"),
        ("garbage", "not a readable"),
    ],
)
def test_a_hostile_tar_is_a_skipped_entry_with_its_reason_never_a_crash(tmp_path: Path, kind: str, reason: str):
    folder = tmp_path / "handins"
    lay_out(folder, {"mallory.tar.gz" if kind in ("bomb", "garbage") else "mallory.tar": hostile_tar(kind)})
    lay_out(folder, {"alice.py": CODE})
    limits = ZipLimits(max_members=20, max_member_bytes=2048 if kind == "member-size" else 64 << 20)
    found = discover_exports(folder, limits, wanted=CONV)
    assert [h.name for h in found.handins] == ["alice"]
    mallory = [s for s in found.skipped if s.source.startswith("mallory.tar")]
    assert mallory and reason in mallory[0].reason, [s.reason for s in mallory]
    assert not (tmp_path / "escape").exists() and not Path("/tmp/escape").exists()


# --- through batch -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["moodle-zip", "blackboard-attempts", "github-classroom-tarred", "odd-file-names", "mac-zip-with-junk"]
)
def test_batch_writes_one_row_per_student_and_lists_the_rest(scripted: ScriptedRunner, tmp_path: Path, name: str):
    scenario = SCENARIOS[name]
    folder = build(tmp_path, scenario)
    grades = tmp_path / "grades.csv"
    out = CliRunner().invoke(main, ["batch", str(folder), "--out", str(grades), "--no-progress"])
    assert out.exit_code == 0, out.output
    rows = {r["submission"]: r["source"] for r in csv.DictReader(grades.open(newline="", encoding="utf-8"))}
    assert rows == scenario.rows
    skipped = discover_exports(folder, wanted=CONV).skipped
    for source in scenario.skipped:
        reason = next(s for s in skipped if s.source == source)
        if not (reason.beside or reason.noise):
            assert f"not graded: {source}: " in out.output
    noise = sum(s.noise for s in skipped)
    if noise:
        assert f"not graded: {noise} system entr" in out.output


def test_format_moodle_writes_the_grading_worksheet_moodle_uploads(scripted: ScriptedRunner, tmp_path: Path):
    folder = build(tmp_path, SCENARIOS["moodle-zip"])
    lay_out(folder, {"stray.py": CODE})
    sheet = tmp_path / "worksheet.csv"
    out = CliRunner().invoke(main, ["batch", str(folder), "--format", "moodle", "--out", str(sheet), "--no-progress"])
    assert out.exit_code == 0, out.output
    rows = list(csv.reader(sheet.open(newline="", encoding="utf-8")))
    assert rows[0] == ["Identifier", "Full name", "Grade", "Maximum Grade", "Last modified (grade)"]
    assert sorted(rows[1:]) == [
        ["Participant 4711", "Ada Lovelace", "100", "100", "-"],
        ["Participant 4712", "Alan Turing", "100", "100", "-"],
        ["Participant 4713", "Grace Hopper", "100", "100", "-"],
    ]
    assert "WARNING: stray is not in the Moodle worksheet: it did not come from a Moodle export" in out.output


def test_format_moodle_without_a_moodle_export_writes_nothing(scripted: ScriptedRunner, tmp_path: Path):
    folder = build(tmp_path, SCENARIOS["blackboard-attempts"])
    sheet = tmp_path / "worksheet.csv"
    out = CliRunner().invoke(main, ["batch", str(folder), "--format", "moodle", "--out", str(sheet), "--no-progress"])
    assert out.exit_code == 2 and "none came from a Moodle export" in out.output
    assert not sheet.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="the namespace sandbox needs root (as in CI)")
def test_a_mixed_folder_of_exports_is_graded_end_to_end_through_the_sandbox(tmp_path: Path):
    samples = ROOT / "submissions"
    correct = (samples / "correct_vectorised.py").read_bytes()
    buggy = (samples / "bug_no_bias.py").read_bytes()
    folder = tmp_path / "handins"
    lay_out(
        folder,
        {
            "moodle.zip": zip_bytes({"Ada Lovelace_4711_assignsubmission_file/mytorch/nn.py": correct}),
            "A2_aturing_attempt_2024-02-01-10-00-00_nn.py": buggy,
            "A2_aturing_attempt_2024-02-02-10-00-00_nn.py": correct,
            "grace.tar.gz": tar_bytes({"grace/Conv1d.py": buggy, "grace/._Conv1d.py": b"\0"}),
        },
    )
    grades = tmp_path / "grades.csv"
    out = CliRunner().invoke(main, ["batch", str(folder), "--out", str(grades), "--no-progress", "-j", "2"])
    assert out.exit_code == 0, out.output
    rows = {r["submission"]: r for r in csv.DictReader(grades.open(newline="", encoding="utf-8"))}
    assert {n: (r["source"], r["status"]) for n, r in rows.items()} == {
        "Ada Lovelace": ("moodle.zip!Ada Lovelace_4711_assignsubmission_file/mytorch/nn.py", "graded"),
        "aturing": ("A2_aturing_attempt_2024-02-02-10-00-00_nn.py", "graded"),
        "grace": ("grace.tar.gz!grace/Conv1d.py", "graded"),
    }
    assert rows["Ada Lovelace"]["score"] == rows["aturing"]["score"] == "100"
    assert 0 < float(rows["grace"]["score"]) < 100
