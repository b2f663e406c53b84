"""The instructor's gradebook: one row per student with their latest and their best submission."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from grader.service.store import Record

COLUMNS = (
    "student",
    "submissions",
    "latest_id",
    "latest_submitted_at",
    "latest_status",
    "latest_q1",
    "latest_q2",
    "latest_score",
    "best_id",
    "best_submitted_at",
    "best_q1",
    "best_q2",
    "best_score",
    "max_score",
)


def _points(value: float | None) -> str:
    # Same format as the CLI's gradebook: at most two decimals, no trailing zeros.
    return "" if value is None else f"{value:.2f}".rstrip("0").rstrip(".")


def _row(student: str, records: list[Record]) -> dict[str, str]:
    latest = records[-1]
    scored = [r for r in records if r.score is not None]
    # max() keeps the first of equal scores: ties go to the earliest submission that reached the best.
    best = max(scored, key=lambda r: r.score or 0.0) if scored else None
    row = {
        "student": student,
        "submissions": str(len(records)),
        "latest_id": latest.id,
        "latest_submitted_at": latest.submitted_at.isoformat(),
        "latest_status": latest.state,
        "latest_q1": _points(latest.q1),
        "latest_q2": _points(latest.q2),
        "latest_score": _points(latest.score),
        "max_score": _points((best or latest).max_score),
    }
    if best is not None:
        row |= {
            "best_id": best.id,
            "best_submitted_at": best.submitted_at.isoformat(),
            "best_q1": _points(best.q1),
            "best_q2": _points(best.q2),
            "best_score": _points(best.score),
        }
    return row


def gradebook_csv(records: Iterable[Record]) -> str:
    """CSV with a header; ``records`` sorted by student, then oldest first (as :meth:`Store.named` gives them)."""
    by_student: dict[str, list[Record]] = {}
    for record in records:
        by_student.setdefault(record.student or "", []).append(record)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(_row(student, rows) for student, rows in sorted(by_student.items()))
    return buffer.getvalue()
