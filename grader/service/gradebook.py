"""The instructor's gradebook: one row per student with their latest and their best submission."""

from __future__ import annotations

from collections.abc import Iterable

from grader.report import format_points
from grader.report import gradebook_csv as write_csv
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
        "latest_q1": format_points(latest.q1),
        "latest_q2": format_points(latest.q2),
        "latest_score": format_points(latest.score),
        "max_score": format_points((best or latest).max_score),
    }
    if best is not None:
        row |= {
            "best_id": best.id,
            "best_submitted_at": best.submitted_at.isoformat(),
            "best_q1": format_points(best.q1),
            "best_q2": format_points(best.q2),
            "best_score": format_points(best.score),
        }
    return row


def gradebook_csv(records: Iterable[Record]) -> str:
    """CSV with a header; ``records`` sorted by student, then oldest first (as :meth:`Store.named` gives them)."""
    by_student: dict[str, list[Record]] = {}
    for record in records:
        by_student.setdefault(record.student or "", []).append(record)
    return write_csv((_row(student, rows) for student, rows in sorted(by_student.items())), COLUMNS)
