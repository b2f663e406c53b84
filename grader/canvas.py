"""Canvas's gradebook import CSV, from a batch's entries.

Canvas's Grades > Import takes a CSV whose first columns identify the student (``Student``, ``ID``,
``SIS User ID``, ``SIS Login ID``, ``Section``, as its own export writes them) followed by one column per
assignment; a header Canvas does not know creates a new assignment, so ``Name (id)`` as in Canvas's export
updates the existing one. A second row, ``Points Possible``, is what Canvas's export writes there and what its
import accepts. Canvas matches rows by ``ID`` first: a row without one needs a roster (Canvas's own gradebook
export is one) to be imported.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.batch import Entry
from grader.errors import GraderError
from grader.report import csv_cell, format_points

IDENTITY_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


@dataclass(frozen=True)
class RosterRow:
    """A student as Canvas knows them: the identity columns of its gradebook export."""

    student: str
    id: str
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""


def read_roster(path: Path) -> list[RosterRow]:
    """The students of a Canvas gradebook export (or any CSV with its identity columns; only ``Student`` and
    ``ID`` are required). Canvas's ``Points Possible`` row and rows without an ID are left out."""
    try:
        text = path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise GraderError(f"cannot read the roster {path}: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("Student", "ID") if c not in (reader.fieldnames or [])]
    if missing:
        raise GraderError(f"the roster {path} has no {' or '.join(missing)} column (export Canvas's gradebook)")
    rows = []
    for row in reader:
        student, canvas_id = (row.get("Student") or "").strip(), (row.get("ID") or "").strip()
        if not canvas_id or student.lower() == "points possible":
            continue
        rows.append(
            RosterRow(
                student=student,
                id=canvas_id,
                sis_user_id=(row.get("SIS User ID") or "").strip(),
                sis_login_id=(row.get("SIS Login ID") or "").strip(),
                section=(row.get("Section") or "").strip(),
            )
        )
    return rows


def slug(name: str) -> str:
    """A name as Canvas writes it into its download's file names: lower case, letters and digits only
    ("Smith, Bob" -> ``smithbob``)."""
    return re.sub(r"[\W_]+", "", name).lower()


def _keys(entry: Entry) -> list[str]:
    """What may identify the entry's student in a roster, most specific first."""
    student = entry.student
    keys = [student.canvas_id, student.sis_id, student.username]
    if student.email:
        keys += [student.email, student.email.split("@")[0]]
    keys += [entry.name, slug(student.name or entry.name)]
    return [k.lower() for k in keys if k]


@dataclass(frozen=True)
class CanvasGradebook:
    """The CSV, and the entries no row could be written for (no Canvas ID, none in the roster)."""

    csv: str
    unmatched: tuple[str, ...]


def canvas_gradebook(
    entries: Sequence[Entry], assignment: str, points_possible: float, roster: Sequence[RosterRow] | None = None
) -> CanvasGradebook:
    """Canvas's import CSV: one row per roster student (a blank score for one who handed nothing in, which
    Canvas leaves as it was), or without a roster one per entry that carries a Canvas ID.

    Scores are the batch's totals; a grader error is a blank cell (nothing to import until it is re-graded),
    a rejected file its 0.
    """
    scores: dict[str, str] = {}
    lookup: dict[str, RosterRow] = {}
    for row in roster or ():
        for key in (row.id, row.sis_user_id, row.sis_login_id, slug(row.student)):
            if key:
                lookup.setdefault(key.lower(), row)
    rows: list[RosterRow] = list(roster or ())
    unmatched = []
    for entry in entries:
        score = format_points(entry.result.score) if entry.result is not None else ""
        if roster is not None:
            match = next((lookup[k] for k in _keys(entry) if k in lookup), None)
        elif entry.student.canvas_id:
            match = RosterRow(student=entry.student.name or entry.name, id=entry.student.canvas_id)
            rows.append(match)
        else:
            match = None
        if match is None:
            unmatched.append(entry.name)
            continue
        scores[match.id] = score
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*IDENTITY_COLUMNS, assignment])
    writer.writerow(["Points Possible", "", "", "", "", format_points(points_possible)])
    for row in rows:
        cells = [row.student, row.id, row.sis_user_id, row.sis_login_id, row.section, scores.get(row.id, "")]
        writer.writerow([csv_cell(c) for c in cells])
    return CanvasGradebook(buffer.getvalue(), tuple(unmatched))
