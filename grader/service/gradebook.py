"""The instructor's gradebook: one row per student with their latest, their best and the submission that counts
(the best after the late policy: see :mod:`grader.service.deadlines`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from grader.config import PolicyConfig
from grader.report import format_points
from grader.report import gradebook_csv as write_csv
from grader.service.deadlines import Deadline, counted, standing
from grader.service.store import Record, Student


def columns(questions: Sequence[str] = ("q1", "q2")) -> tuple[str, ...]:
    """The gradebook's columns for an assignment with these question ids."""
    return (
        "student",
        "name",
        "submissions",
        "late_submissions",
        "latest_id",
        "latest_submitted_at",
        "latest_status",
        *(f"latest_{q}" for q in questions),
        "latest_score",
        "best_id",
        "best_submitted_at",
        *(f"best_{q}" for q in questions),
        "best_score",
        "counted_id",
        "counted_timing",
        "counted_score",
        "max_score",
    )


COLUMNS = columns()
"""Conv1d's columns, as the gradebook had them before assignment packs."""


def _row(
    student: str, records: list[Record], policy: PolicyConfig, who: Student | None, questions: Sequence[str]
) -> dict[str, str]:
    row = {"student": student, "name": who.name if who else "", "submissions": str(len(records))}
    if not records:
        return row | {"late_submissions": "0"}
    deadline = Deadline.of(policy, who)
    latest = records[-1]
    scored = [r for r in records if r.score is not None]
    # max() keeps the first of equal scores: ties go to the earliest submission that reached the best.
    best = max(scored, key=lambda r: r.score or 0.0) if scored else None
    counts = counted(records, deadline, policy)
    late = sum(standing(r.submitted_at, deadline, policy).timing != "on_time" for r in records)
    row |= {
        "late_submissions": str(late),
        "latest_id": latest.id,
        "latest_submitted_at": latest.submitted_at.isoformat(),
        "latest_status": latest.state,
        **{f"latest_{q}": format_points(latest.question_score(q)) for q in questions},
        "latest_score": format_points(latest.score),
        "max_score": format_points((best or latest).max_score),
    }
    if best is not None:
        row |= {
            "best_id": best.id,
            "best_submitted_at": best.submitted_at.isoformat(),
            **{f"best_{q}": format_points(best.question_score(q)) for q in questions},
            "best_score": format_points(best.score),
        }
    if counts is not None:
        row |= {
            "counted_id": counts.record.id,
            "counted_timing": counts.standing.timing,
            "counted_score": format_points(counts.score),
        }
    return row


def gradebook_csv(
    records: Iterable[Record],
    policy: PolicyConfig | None = None,
    students: Sequence[Student] = (),
    questions: Sequence[str] = ("q1", "q2"),
) -> str:
    """CSV with a header; ``records`` (of one assignment, with these question ids) sorted by student, then oldest
    first (as :meth:`Store.named` gives them). Every roster student has a row, with or without submissions."""
    policy = policy or PolicyConfig()
    by_student: dict[str, list[Record]] = {s.id: [] for s in students}
    for record in records:
        by_student.setdefault(record.student or "", []).append(record)
    roster = {s.id: s for s in students}
    rows = (
        _row(student, rows, policy, roster.get(student), questions) for student, rows in sorted(by_student.items())
    )
    return write_csv(rows, columns(questions))
