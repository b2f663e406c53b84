"""``batch`` over real hand-in layouts and LMS exports (issue 15), with the scripted runner (no sandbox).

Each layout a TA meets is laid out for real in a tmp folder (zips built with zipfile, as Canvas and Gradescope
build theirs); hostile zips really attempt traversal, links, bombs and deep nesting.
"""

from __future__ import annotations

import csv
import io
import stat
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.archive import SafeZip, ZipLimits
from grader.cli import main
from grader.errors import UnsafeArchive
from grader.exports import discover_exports, parse_gradescope_metadata
from tests.fakes import ScriptedRunner

GOOD = "import numpy as np\n# scripted: the runner decides the outcome\n"


def zip_bytes(members: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()



@pytest.fixture
def new_user_folder(tmp_path: Path) -> Path:
    """The folder of issue 15: every layout that batch used to skip in silence."""
    folder = tmp_path / "handins"
    for rel, text in {
        "bob/NN.py": GOOD + "# bob\n",
        "carol/hw2/nn.py": GOOD + "# carol\n",
        "alice/mytorch/nn.py": GOOD + "# alice\n",
        "alice/mytorch/activation.py": "# not graded\n",
        "alice/mytorch/old/nn.py": GOOD + "# alice's old one\n",
        "dave/nn.ipynb": '{"nbformat": 4}',
        "frank.PY": GOOD + "# frank\n",
        "notes.txt": "not a submission",
    }.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    (folder / "erin.zip").write_bytes(zip_bytes({"erin/hw2/NN.py": GOOD + "# erin\n", "erin/README.md": "hi"}))
    return folder


def test_every_layout_of_the_issue_is_found_and_every_other_file_is_listed_with_its_reason(new_user_folder: Path):
    found = discover_exports(new_user_folder)
    assert {h.name: h.source for h in found.handins} == {
        "alice": "alice/mytorch/nn.py",  # the shallowest of two
        "bob": "bob/NN.py",
        "carol": "carol/hw2/nn.py",
        "erin": "erin.zip!erin/hw2/NN.py",
        "frank": "frank.PY",
    }
    reasons = {s.source: s.reason for s in found.skipped}
    assert reasons["dave/nn.ipynb"].startswith("a notebook, not nn.py: export it as a .py")
    assert "not a submission (.txt)" in reasons["notes.txt"]
    assert "alice/mytorch/nn.py is graded" in reasons["alice/mytorch/old/nn.py"]
    assert "alice/mytorch/activation.py" in reasons and "erin.zip!erin/README.md" in reasons
    assert any("alice/mytorch/old/nn.py" in note for note in found.notes)
    assert next(h for h in found.handins if h.name == "erin").read() == (GOOD + "# erin\n").encode()


def test_batch_grades_them_all_and_says_what_it_skipped(scripted: ScriptedRunner, new_user_folder: Path, tmp_path):
    grades = tmp_path / "grades.csv"
    out = CliRunner().invoke(main, ["batch", str(new_user_folder), "--out", str(grades), "--no-progress"])
    assert out.exit_code == 0, out.output
    assert "graded 5 submissions" in out.output
    assert "not graded: dave/nn.ipynb: a notebook, not nn.py: export it as a .py" in out.output
    assert "not graded: 1 other file in alice beside its nn.py" in out.output
    rows = {r["submission"]: r for r in csv.DictReader(grades.open(newline=""))}
    assert rows["erin"]["source"] == "erin.zip!erin/hw2/NN.py" and rows["erin"]["score"] == "100"
    assert rows["frank"]["source"] == "frank.PY"


@pytest.mark.parametrize("content", ["empty", "only-skipped"])
def test_nothing_to_grade_exits_3_and_keeps_the_gradebook(scripted: ScriptedRunner, tmp_path: Path, content: str):
    folder = tmp_path / "handins"
    folder.mkdir()
    if content == "only-skipped":
        (folder / "dave.ipynb").write_text("{}")
    grades = tmp_path / "grades.csv"
    grades.write_bytes(b"submission,score\r\nalice,100\r\n")
    out = CliRunner().invoke(main, ["batch", str(folder), "--out", str(grades), "--no-progress"])
    assert out.exit_code == 3
    assert "nothing to grade" in out.output and "no gradebook written" in out.output
    assert grades.read_bytes() == b"submission,score\r\nalice,100\r\n"
    assert scripted.runs == []


GRADESCOPE_METADATA = """\
submission_101:
  :submitters:
  - :name: Ada Lovelace
    :sid: '1815'
    :email: ada@example.edu
  :created_at: 2024-02-01 10:00:00.000000000 -08:00
  :score: 0.0
submission_102:
  :submitters:
  - :name: Pair One
    :sid: '200'
    :email: one@example.edu
  - :name: "Pair Two"
    :sid: '201'
submission_103:
  :submitters:
  - :name: No Code
    :sid: '300'
"""


def gradescope_export() -> bytes:
    root = "assignment_4242_export/"
    return zip_bytes(
        {
            root + "submission_metadata.yml": GRADESCOPE_METADATA,
            root + "submission_101/nn.py": GOOD + "# ada\n",
            root + "submission_102/mytorch/NN.py": GOOD + "# pair\n",
            root + "submission_103/answers.pdf": b"%PDF-1.4",
            "__MACOSX/" + root + "._submission_metadata.yml": b"\0",
        }
    )


def test_gradescope_metadata_is_read_without_a_yaml_library():
    people = parse_gradescope_metadata(GRADESCOPE_METADATA)
    assert people["submission_101"] == [{"name": "Ada Lovelace", "sid": "1815", "email": "ada@example.edu"}]
    assert [p["name"] for p in people["submission_102"]] == ["Pair One", "Pair Two"]


def test_a_gradescope_export_zip_is_graded_per_submission(tmp_path: Path):
    (tmp_path / "export.zip").write_bytes(gradescope_export())
    found = discover_exports(tmp_path)
    by_name = {h.name: h for h in found.handins}
    assert set(by_name) == {"Ada Lovelace", "Pair One + Pair Two"}
    assert by_name["Ada Lovelace"].source == "export.zip!assignment_4242_export/submission_101/nn.py"
    assert by_name["Ada Lovelace"].student.sis_id == "1815"
    assert by_name["Pair One + Pair Two"].student.sis_id == "200 + 201"
    reasons = {s.source: s.reason for s in found.skipped}
    assert reasons["export.zip!assignment_4242_export/submission_103/answers.pdf"] == "not nn.py"


def canvas_export() -> bytes:
    return zip_bytes(
        {
            "smithbob_340934_208490284_nn.py": GOOD + "# bob first\n",
            "smithbob_340934_208490299_nn-1.py": GOOD + "# bob latest\n",
            "wellslane_LATE_334244_394803489_NN.py": GOOD + "# lane\n",
            "leeann_555_777_hw2.zip": zip_bytes({"hw2/mytorch/nn.py": GOOD + "# ann\n"}),
            "doejohn_666_text.html": "<p>my code is below</p>",
            "roejane_777_888_nn.ipynb": "{}",
        }
    )


def test_a_canvas_export_zip_grades_each_students_latest_upload(tmp_path: Path):
    (tmp_path / "submissions.zip").write_bytes(canvas_export())
    found = discover_exports(tmp_path)
    by_name = {h.name: h for h in found.handins}
    assert set(by_name) == {"smithbob", "wellslane", "leeann"}
    assert by_name["smithbob"].source == "submissions.zip!smithbob_340934_208490299_nn-1.py"
    assert by_name["smithbob"].read().endswith(b"# bob latest\n")
    assert by_name["smithbob"].student.canvas_id == "340934"
    assert by_name["wellslane"].note == "submitted late (Canvas)"
    assert by_name["leeann"].source == "submissions.zip!leeann_555_777_hw2.zip!hw2/mytorch/nn.py"
    reasons = {s.source: s.reason for s in found.skipped}
    assert "earlier upload" in reasons["submissions.zip!smithbob_340934_208490284_nn.py"]
    assert "text entry" in reasons["submissions.zip!doejohn_666_text.html"]
    assert reasons["submissions.zip!roejane_777_888_nn.ipynb"].startswith("a notebook")


def test_format_canvas_writes_canvas_import_csv_from_the_exports_ids(scripted: ScriptedRunner, tmp_path: Path):
    folder = tmp_path / "handins"
    folder.mkdir()
    (folder / "submissions.zip").write_bytes(canvas_export())
    out_csv = tmp_path / "canvas.csv"
    out = CliRunner().invoke(
        main,
        [
            "batch",
            str(folder),
            "--format",
            "canvas",
            "--canvas-assignment",
            "A2 Part A (991)",
            "--out",
            str(out_csv),
            "--no-progress",
        ],
    )
    assert out.exit_code == 0, out.output
    rows = list(csv.reader(out_csv.open(newline="")))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "A2 Part A (991)"]
    assert rows[1] == ["Points Possible", "", "", "", "", "100"]
    assert sorted(rows[2:]) == [
        ["leeann", "555", "", "", "", "100"],
        ["smithbob", "340934", "", "", "", "100"],
        ["wellslane", "334244", "", "", "", "100"],
    ]


def test_format_canvas_with_a_roster_matches_folder_names_and_leaves_absent_students_blank(
    scripted: ScriptedRunner, tmp_path: Path
):
    folder = tmp_path / "handins"
    (folder / "bsmith").mkdir(parents=True)
    (folder / "bsmith" / "nn.py").write_text(GOOD)
    (folder / "stranger.py").write_text(GOOD)
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section,Assignment 2 Part A (991)\n"
        "    Points Possible,,,,,100\n"
        '"Smith, Bob",340934,S1,bsmith,Sec 1,\n'
        '"Lee, Ann",555,S2,alee,Sec 1,\n'
    )
    out_csv = tmp_path / "canvas.csv"
    out = CliRunner().invoke(
        main,
        ["batch", str(folder), "--format", "canvas", "--roster", str(roster), "--out", str(out_csv), "--no-progress"],
    )
    assert out.exit_code == 0, out.output
    rows = list(csv.reader(out_csv.open(newline="")))
    assert rows[2:] == [
        ["Smith, Bob", "340934", "S1", "bsmith", "Sec 1", "100"],
        ["Lee, Ann", "555", "S2", "alee", "Sec 1", ""],
    ]
    assert "stranger is not in the Canvas CSV: no roster student matches it" in out.output


# --- hostile zips ------------------------------------------------------------------------------------------


def raw_zip(entries: list[tuple[zipfile.ZipInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return buffer.getvalue()


def symlink_zip() -> bytes:
    info = zipfile.ZipInfo("nn.py")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return raw_zip([(info, b"/etc/shadow")])


def bomb_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("nn.py", b"\0" * (8 << 20))  # 8 MiB of zeros: ~1000 times smaller compressed
    return buffer.getvalue()


def deep_zip() -> bytes:
    innermost = zip_bytes({"nn.py": GOOD})
    return zip_bytes({"level1.zip": zip_bytes({"level2.zip": innermost})})


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (zip_bytes({"../../escape/nn.py": GOOD}), "leaves the archive"),
        (zip_bytes({"/abs/nn.py": GOOD}), "leaves the archive"),
        (zip_bytes({"..\\..\\nn.py": GOOD}), "leaves the archive"),
        (symlink_zip(), "symbolic link"),
        (bomb_zip(), "zip bomb"),
        (zip_bytes({f"f{i}.txt": "x" for i in range(30)}), "members; the limit is 20"),
        (zip_bytes({"nn.py": GOOD, "big.bin": b"x" * 3000}), "uncompressed; the limit is 2,048"),
        (deep_zip(), "nests archives more than 1 level deep"),
        (b"PK\x03\x04 not really a zip", "not a readable zip"),
    ],
    ids=["traversal", "absolute", "backslashes", "symlink", "bomb", "members", "member-size", "nesting", "garbage"],
)
def test_a_hostile_zip_is_a_skipped_entry_with_its_reason_never_a_crash(tmp_path: Path, data: bytes, reason: str):
    (tmp_path / "mallory.zip").write_bytes(data)
    (tmp_path / "alice.py").write_text(GOOD)
    limits = ZipLimits(max_members=20, max_member_bytes=2048 if "big.bin" in str(data) else 64 << 20)
    found = discover_exports(tmp_path, limits)
    assert [h.name for h in found.handins] == ["alice"]
    mallory = [s for s in found.skipped if s.source.startswith("mallory.zip")]
    assert mallory and reason in mallory[0].reason, [s.reason for s in mallory]
    assert not (tmp_path / "escape").exists() and not (tmp_path.parent / "escape").exists()


def test_a_member_larger_than_its_header_says_is_refused():
    data = bytearray(zip_bytes({"nn.py": "x" * 100}))
    # Shrink the declared size in the central directory (and the local header) to 10 bytes.
    for signature, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        at = data.find(signature)
        data[at + offset : at + offset + 4] = (10).to_bytes(4, "little")
    with SafeZip(bytes(data)) as archive, pytest.raises(UnsafeArchive):
        archive.read(archive.paths[0])
