"""Moodle's grading worksheet, from a batch's entries, to upload back (assignment > "Upload grading worksheet").

Moodle's offline grading import (``assignfeedback_offline``) finds three columns by their English headers:
``Identifier`` (``Participant <id>``, the very id Moodle puts in its "Download all submissions" file names),
``Grade`` and ``Last modified (grade)``; any other column is shown, not imported. ``Last modified (grade)`` is
``-``, as Moodle writes it for a student not graded yet; a grade already set in Moodle is kept unless the upload's
"Allow updating records that have been modified more recently in Moodle" box is ticked.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from grader.batch import Entry
from grader.report import csv_cell, format_points

COLUMNS = ("Identifier", "Full name", "Grade", "Maximum Grade", "Last modified (grade)")


@dataclass(frozen=True)
class MoodleWorksheet:
    """The CSV, and the entries no row could be written for (not from a Moodle export, or not graded)."""

    csv: str
    unmatched: tuple[tuple[str, str], ...]
    """``(entry name, why it has no row)``."""


def moodle_worksheet(entries: Sequence[Entry], points_possible: float) -> MoodleWorksheet:
    """One row per entry from a Moodle export with a result (a rejected file is its 0); a grader error has no
    row (nothing to upload until it is re-graded)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    unmatched = []
    points = format_points(points_possible)
    for entry in entries:
        student = entry.student
        if student.platform != "moodle" or not student.lms_id:
            unmatched.append((entry.name, "it did not come from a Moodle export"))
            continue
        if entry.result is None:
            unmatched.append((entry.name, "a grader error: re-grade it"))
            continue
        # Only the export's text is neutralised for spreadsheets: "-" is Moodle's own "never graded".
        name = csv_cell(student.name)
        writer.writerow([f"Participant {student.lms_id}", name, format_points(entry.result.score), points, "-"])
    return MoodleWorksheet(buffer.getvalue(), tuple(unmatched))
