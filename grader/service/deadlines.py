"""Deadlines in the service: when a submission was made relative to its student's due dates, the score that
counts, and which tests a student may see yet.

Lateness is worked out when a submission is read, never stored: an extension granted after an upload (a
student was ill) then applies to it at once, and the gradebook follows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from grader.config import PolicyConfig
from grader.models import Result
from grader.service.store import Record, Student

Timing = Literal["on_time", "late", "after_late_due"]


@dataclass(frozen=True)
class Deadline:
    """One student's due dates: the config's, or their extension's."""

    due: datetime | None
    late_due: datetime | None

    @classmethod
    def of(cls, policy: PolicyConfig, student: Student | None) -> Deadline:
        if student is not None and student.extension_due is not None:
            # An extension moves the due date; the late window keeps its length unless it is given too.
            late = student.extension_late_due
            if late is None and policy.due is not None and policy.late_due is not None:
                late = student.extension_due + (policy.late_due - policy.due)
            return cls(student.extension_due, late)
        return cls(policy.due, policy.late_due)

    def passed(self, now: datetime | None = None) -> bool:
        """True once the due date is behind us (tests shown ``after_due_date`` are then shown)."""
        return self.due is not None and (now or datetime.now(UTC)) > self.due

    def summary(self) -> dict[str, Any]:
        return {
            "due": self.due.isoformat() if self.due else None,
            "late_due": self.late_due.isoformat() if self.late_due else None,
        }


@dataclass(frozen=True)
class Standing:
    """How one submission counts."""

    timing: Timing
    days_late: int
    factor: float
    """The fraction of the score that counts (1 on time; 0 when it does not count at all)."""
    counts: bool

    def summary(self) -> dict[str, Any]:
        return {"timing": self.timing, "days_late": self.days_late, "factor": self.factor, "counts": self.counts}


def standing(submitted_at: datetime, deadline: Deadline, policy: PolicyConfig) -> Standing:
    """On time, late (per-day penalty, days started count whole) or after the late due date (counts only with
    ``after_late_due_date = "penalty"``, at the same per-day penalty)."""
    if deadline.due is None or submitted_at <= deadline.due:
        return Standing("on_time", 0, 1.0, True)
    days = math.ceil((submitted_at - deadline.due).total_seconds() / 86400)
    factor = max(0.0, 1.0 - policy.late_penalty_per_day * days)
    if deadline.late_due is not None and submitted_at > deadline.late_due:
        counts = policy.after_late_due_date == "penalty"
        return Standing("after_late_due", days, factor if counts else 0.0, counts)
    return Standing("late", days, factor, True)


@dataclass(frozen=True)
class Counted:
    """The submission whose score counts for a student, and that score after the late penalty."""

    record: Record
    standing: Standing
    score: float


def counted(records: Iterable[Record], deadline: Deadline, policy: PolicyConfig) -> Counted | None:
    """The best score after penalties over the submissions that count (the earliest of equal ones)."""
    best: Counted | None = None
    for record in sorted(records, key=lambda r: r.submitted_at):
        if record.score is None:
            continue
        where = standing(record.submitted_at, deadline, policy)
        if not where.counts:
            continue
        score = round(record.score * where.factor, 4)
        if best is None or score > best.score:
            best = Counted(record, where, score)
    return best


def before_due_view(result: Result) -> Result:
    """The result without its ``after_due_date`` tests, totals recomputed over what is shown, and a message
    saying how much is held back: the totals must not leak how the held-back tests went."""
    held = [t for t in result.tests() if t.visibility == "after_due_date"]
    if not held:
        return result
    questions = []
    for question in result.questions:
        tests = tuple(t for t in question.tests if t.visibility != "after_due_date")
        questions.append(
            question.model_copy(
                update={
                    "tests": tests,
                    "score": round(sum(t.score for t in tests), 4),
                    "max_score": round(sum(t.max_score for t in tests), 4),
                }
            )
        )
    points = round(sum(t.max_score for t in held), 4)
    note = f"{len(held)} more tests ({points:g} points) are shown after the due date."
    return result.model_copy(
        update={
            "questions": tuple(questions),
            "score": round(sum(q.score for q in questions), 4),
            "max_score": round(sum(q.max_score for q in questions), 4),
            "messages": (*result.messages, note),
        }
    )
