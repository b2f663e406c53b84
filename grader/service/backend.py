"""What the routes ask for, in plain Python: accept an upload, look up a verdict, re-grade, the gradebook.

Grading itself is :func:`grader.grade`, called by the pool; this module only stores, queues and shapes views.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import Any, Literal

from grader.config import Config, for_assignment, load_config
from grader.errors import SubmissionSyntaxError
from grader.models import Isolation
from grader.registry import available, get_pack
from grader.runner import Runner
from grader.service.deadlines import Deadline, before_due_view, counted, standing
from grader.service.errors import (
    Forbidden,
    InFlight,
    InvalidField,
    NotFound,
    QuotaExceeded,
    Unauthorized,
    Unavailable,
)
from grader.service.fairuse import TokenBuckets
from grader.service.gradebook import gradebook_csv
from grader.service.queue import GradingPool
from grader.service.roster import check_id, parse_roster
from grader.service.settings import ServiceSettings
from grader.service.store import PENDING, Record, Store, Student
from grader.submission import Submission, checked_source

_STUDENT = re.compile(r"\w[\w.@+-]{0,63}")
"""Letters or digits first: a name starting with ``=``, ``+``, ``-`` or ``@`` would be a formula in a spreadsheet."""

GRADER_FAILED = (
    "The grader itself failed on this submission; this is not a fault of your code. Your file is stored, so "
    "your instructor can have it graded again: tell them."
)


def _default_runner() -> Runner:
    from grader.sandbox import default_runner  # deferred: the same process-wide runner the pool grades with

    return default_runner()


def student_name(value: str | None) -> str | None:
    """The student field as stored: None when blank, else validated."""
    value = (value or "").strip()
    if not value:
        return None
    if not _STUDENT.fullmatch(value):
        raise InvalidField(
            "student: use 1 to 64 letters, digits, '.', '_', '@', '+' or '-', starting with a letter or digit"
        )
    return value


def refuse_bad_bytes(data: bytes, limit: int) -> None:
    """Raise the :class:`~grader.errors.SubmissionError` for bytes that are not worth storing.

    A syntax error is not refused: like the CLI, the service stores it and answers with a ``rejected`` verdict
    that shows the line.
    """
    with contextlib.suppress(SubmissionSyntaxError):
        checked_source(Submission("upload", data), limit)


def public_view(record: Record, *, before_due: bool = False) -> dict[str, Any]:
    """What a student sees: the same JSON as ``grade --json`` plus the id, or the pending status. ``before_due``:
    the tests shown ``after_due_date`` are left out (and the totals recomputed without them)."""
    if record.state in PENDING:
        return {"id": record.id, "status": record.state}
    if record.result is None:
        return {"id": record.id, "status": "error", "detail": GRADER_FAILED}
    result = record.result.public()
    if before_due:
        result = before_due_view(result)
    return {"id": record.id, **result.model_dump(mode="json")}


@dataclass(frozen=True)
class Caller:
    """Who made a request: the instructor (their token), a student (their personal token, from the header or the
    link's cookie), or nobody in particular."""

    role: Literal["instructor", "student", "anonymous"]
    student: Student | None = None


def instructor_view(record: Record) -> dict[str, Any]:
    """Metadata plus the full result, diagnostics and operator warnings included."""
    view = record.summary()
    view["result"] = record.result.model_dump(mode="json") if record.result is not None else None
    return view


class Backend:
    """The store, the grading pool, the roster and the tokens, behind the few operations the routes need."""

    def __init__(self, settings: ServiceSettings, config: Config, runner: Runner | None) -> None:
        self.settings = settings
        self.config = config
        self.store = Store(settings.database(), default_assignment=config.assignment)
        self.pool = GradingPool(
            self.store,
            config,
            workers=settings.workers,
            max_queue=settings.max_queue,
            runner=runner,
            key_file=settings.key_file(),
            max_result_bytes=settings.max_result_bytes,
            on_settled=self._settled,
        )
        self.buckets = TokenBuckets(settings.upload_burst, settings.uploads_per_hour)
        self._token = settings.instructor_token()
        self._runner = runner
        self._sandbox_lock = threading.Lock()
        self._sandbox_checked: tuple[float, Isolation | None] | None = None
        self._flight_lock = threading.Lock()
        self._in_flight: dict[str, str] = {}  # student id -> their upload's id ("" while it is being stored)

    def start(self) -> None:
        self.pool.start()

    def stop(self) -> None:
        self.pool.stop()
        self.store.close()

    # --- who is asking ----------------------------------------------------------------------------------

    async def identify(self, authorization: str | None, cookie: str | None = None) -> Caller:
        """The caller from ``Authorization: Bearer`` (the instructor's or a student's token) or else the student
        link's cookie. A token that is sent but wrong (or revoked) is refused, never taken as anonymous."""
        if authorization is not None:
            scheme, _, presented = authorization.partition(" ")
            presented = presented.strip()
            if scheme.lower() != "bearer" or not presented:
                raise Unauthorized("Send the token as `Authorization: Bearer <token>`.")
            if self._token is not None and hmac.compare_digest(presented.encode(), self._token.encode()):
                return Caller("instructor")
            student = await asyncio.to_thread(self.store.student_for_token, presented)
            if student is None:
                raise Unauthorized("Wrong or revoked token.")
            return Caller("student", student)
        if cookie:
            student = await asyncio.to_thread(self.store.student_for_token, cookie)
            if student is None:
                raise Unauthorized("This personal link is no longer valid: ask your instructor for a new one.")
            return Caller("student", student)
        return Caller("anonymous")

    def is_instructor(self, authorization: str | None) -> bool:
        """True for the right bearer token; False when none is sent; Unauthorized for a wrong one.

        Without a configured token (development mode only) nobody is an instructor by token.
        """
        if authorization is None:
            return False
        scheme, _, presented = authorization.partition(" ")
        if self._token is None or scheme.lower() != "bearer":
            raise Unauthorized("Send the instructor token as `Authorization: Bearer <token>`.")
        if not hmac.compare_digest(presented.strip().encode(), self._token.encode()):
            raise Unauthorized("Wrong instructor token.")
        return True

    def require_instructor(self, authorization: str | None) -> None:
        if self._token is None:
            return  # development mode without a token (settings refuse to start so in production)
        if not self.is_instructor(authorization):
            raise Unauthorized("This needs the instructor token: `Authorization: Bearer <token>`.")

    # --- students ---------------------------------------------------------------------------------------

    def assignment(self, name: str | None) -> str:
        """The installed assignment ``name`` (None: the service's default, the config's); 404 for another."""
        if name is None:
            return self.config.assignment
        if name not in available():
            raise NotFound(f"No assignment {name!r} here: see GET /assignments.")
        return name

    def assignments(self) -> list[dict[str, Any]]:
        """What students may hand in for: each installed pack, its questions and points (the default first)."""
        names = sorted(available(), key=lambda name: name != self.config.assignment)
        listed = []
        for name in names:
            pack, config = get_pack(name), for_assignment(self.config, name)
            questions = pack.questions(config.rubric)
            listed.append(
                {
                    "name": name,
                    "title": pack.title,
                    "default": name == self.config.assignment,
                    "filename": pack.handout.filename,
                    "questions": [{"id": q.id, "title": q.title, "points": q.points} for q in questions],
                    "max_score": sum(q.points for q in questions),
                }
            )
        return listed

    async def accept(
        self,
        *,
        data: bytes,
        filename: str | None,
        student: str | None,
        caller: Caller | None = None,
        assignment: str | None = None,
    ) -> str:
        """Check, store (durably) and queue an upload; its id. Raises before storing anything it refuses.

        A student's upload is theirs whatever the form says; outside development mode nobody else may upload.
        Then, in this order: one upload in flight (409), the storage quota (507), the bytes (400/413), the rate
        limit (429, checked last so that a refused upload never costs a token), the pool's capacity (503).
        """
        caller = caller or Caller("anonymous")
        assignment = self.assignment(assignment)
        if caller.student is not None:
            student_id: str | None = caller.student.id
            student = caller.student.id
        elif self.settings.dev:
            student_id, student = None, student_name(student)
        elif caller.role == "instructor":
            raise Forbidden("Uploads belong to a student: use the student's personal token, not the instructor's.")
        else:
            raise Unauthorized(
                "Uploads need your personal link (or `Authorization: Bearer <your token>`): ask your instructor."
            )
        if student_id is not None:
            self._enter_flight(student_id)
        try:
            if student_id is not None:
                await asyncio.to_thread(self._check_quota, student_id, len(data))
            await asyncio.to_thread(refuse_bad_bytes, data, self.config.limits.max_upload_bytes)
            if student_id is not None:
                self.buckets.take(student_id)
            submission_id = await self._store(data, filename, student, student_id, assignment)
        except BaseException:
            if student_id is not None:
                self._leave_flight(student_id, "")
            raise
        if student_id is not None:
            with self._flight_lock:
                self._in_flight[student_id] = submission_id
        self.pool.submit(submission_id)
        return submission_id

    async def _store(
        self, data: bytes, filename: str | None, student: str | None, student_id: str | None, assignment: str
    ) -> str:
        self.pool.reserve()
        try:
            name = PurePath((filename or "nn.py").replace("\\", "/")).name[:255] or "nn.py"
            return await asyncio.to_thread(
                self.store.add, student=student, filename=name, data=data, student_id=student_id, assignment=assignment
            )
        except BaseException:
            self.pool.release()
            if student_id is not None:
                self.buckets.refund(student_id)
            raise

    def _enter_flight(self, student_id: str) -> None:
        with self._flight_lock:
            current = self._in_flight.get(student_id)
            if current is not None:
                if current:
                    raise InFlight(
                        f"Your upload {current} is still being graded: wait for its verdict, then upload again.",
                        in_flight=current,
                    )
                raise InFlight("Your previous upload is still being stored: wait a moment, then try again.")
            self._in_flight[student_id] = ""

    def _leave_flight(self, student_id: str, submission_id: str) -> None:
        with self._flight_lock:
            if self._in_flight.get(student_id) == submission_id:
                del self._in_flight[student_id]

    def _settled(self, submission_id: str) -> None:
        """Called by a worker once an upload is graded (or failed): its student may upload again."""
        with self._flight_lock:
            for student_id, current in list(self._in_flight.items()):
                if current == submission_id:
                    del self._in_flight[student_id]

    def _check_quota(self, student_id: str, size: int) -> None:
        used = self.store.stored_bytes(student_id)
        if used + size > self.settings.quota_bytes:
            raise QuotaExceeded(
                f"Your stored uploads take {used:,} bytes and this one {size:,} more, over your quota of "
                f"{self.settings.quota_bytes:,} bytes: ask your instructor."
            )

    async def settled(self, submission_id: str, timeout: float) -> Record:
        """The record once graded (as the worker hands it over, or from the store), or as it stands after
        ``timeout`` seconds."""
        record = await self.pool.wait(submission_id, timeout) if timeout > 0 else None
        return record if record is not None else await self.record(submission_id)

    async def record(self, submission_id: str) -> Record:
        record = await asyncio.to_thread(self.store.get, submission_id)
        if record is None:
            raise NotFound("No submission has this id.")
        return record

    async def record_for(self, caller: Caller, submission_id: str) -> Record:
        """A submission the caller may read: any for the instructor, their own for a student, any (by its
        unguessable id) for anyone in development mode."""
        if caller.role == "anonymous" and not self.settings.dev:
            raise Unauthorized("Open your personal link (or send `Authorization: Bearer <your token>`).")
        record = await self.record(submission_id)
        if caller.student is not None and record.student_id != caller.student.id:
            raise NotFound("No submission has this id.")  # not 403: whose ids exist is nobody else's business
        return record

    def deadline(self, student: Student | None) -> Deadline:
        return Deadline.of(self.config.policy, student)

    def student_view(self, record: Record, student: Student | None) -> dict[str, Any]:
        """The public view, without the ``after_due_date`` tests before the student's due date, and with how the
        submission counts when it is a roster student's."""
        deadline = self.deadline(student)
        view = public_view(record, before_due=deadline.due is not None and not deadline.passed())
        if record.student_id is not None:
            view["standing"] = standing(record.submitted_at, deadline, self.config.policy).summary()
        return view

    async def view_for(self, caller: Caller, record: Record) -> dict[str, Any]:
        student = caller.student
        if student is None and record.student_id is not None:
            student = await asyncio.to_thread(self.store.student, record.student_id)
        return self.student_view(record, student)

    async def me(self, caller: Caller, assignment: str | None = None) -> dict[str, Any]:
        """The page's start: who the student is, their deadline, their history and the score that counts, for one
        assignment (default: the service's)."""
        assignment = self.assignment(assignment)
        if caller.student is None:
            if self.settings.dev:
                return {"student": None, "dev": True, "history": [], "counted": None}
            raise Unauthorized("Open your personal link: your instructor sent it to you.")
        student = caller.student
        records = await asyncio.to_thread(self._history, student.id, assignment)
        deadline = self.deadline(student)
        before_due = deadline.due is not None and not deadline.passed()
        shown = [self._as_shown(r, before_due) for r in records]
        best = counted(shown, deadline, self.config.policy)
        history = []
        for record in shown:
            where = standing(record.submitted_at, deadline, self.config.policy)
            item = record.summary() | {"standing": where.summary()}
            item["counts"] = best is not None and best.record.id == record.id
            history.append(item)
        return {
            "student": {"id": student.id, "name": student.name},
            "assignment": assignment,
            "dev": self.settings.dev,
            "deadline": deadline.summary(),
            "before_due": before_due,
            "history": history,
            "counted": None if best is None else {"id": best.record.id, "score": best.score, **best.standing.summary()},
        }

    def _history(self, student_id: str, assignment: str) -> list[Record]:
        summaries = [
            r for r in self.store.recent(limit=10000, assignment=assignment) if r.student_id == student_id
        ]
        return [self.store.get(r.id) or r for r in summaries]

    @staticmethod
    def _as_shown(record: Record, before_due: bool) -> Record:
        """The record with the totals the student may see (without after_due_date tests before the due date)."""
        if not before_due or record.result is None:
            return record
        shown = before_due_view(record.result)
        return dataclasses.replace(record, score=shown.score, max_score=shown.max_score)

    # --- instructors ------------------------------------------------------------------------------------

    async def listing(self, student: str | None, limit: int, assignment: str | None = None) -> list[dict[str, Any]]:
        if assignment is not None:
            assignment = self.assignment(assignment)
        records = await asyncio.to_thread(self.store.recent, student=student, limit=limit, assignment=assignment)
        students = {s.id: s for s in await asyncio.to_thread(self.store.students)}
        views = []
        for record in records:
            view = record.summary()
            if record.student_id is not None:
                deadline = self.deadline(students.get(record.student_id))
                view["standing"] = standing(record.submitted_at, deadline, self.config.policy).summary()
            views.append(view)
        return views

    async def gradebook(self, assignment: str | None = None) -> str:
        """One assignment's gradebook (default: the service's), a column per question of its pack."""
        assignment = self.assignment(assignment)
        records = await asyncio.to_thread(self.store.named, assignment)
        students = await asyncio.to_thread(self.store.students)
        config = for_assignment(self.config, assignment)
        questions = [q.id for q in get_pack(assignment).questions(config.rubric)]
        return gradebook_csv(records, self.config.policy, students, questions)

    async def regrade(self) -> dict[str, Any]:
        """Re-read the grading config (the rubric may have changed) and grade every submission again."""
        config = load_config(self.settings.config) if self.settings.config is not None else self.config
        self.config = config
        queued = await asyncio.to_thread(self.pool.regrade, config)
        return {"queued": queued, "config_digest": self.pool.digest}

    async def regrade_one(self, submission_id: str) -> dict[str, Any]:
        """Grade one submission again (under the config in force); its score before, for the page's diff."""
        before = await self.record(submission_id)
        if not await asyncio.to_thread(self.pool.regrade_one, submission_id):
            raise NotFound("No submission has this id.")
        return {"id": submission_id, "queued": 1, "score_before": before.score}

    async def file(self, submission_id: str) -> tuple[Record, bytes]:
        record = await self.record(submission_id)
        data = await asyncio.to_thread(self.store.data, submission_id)
        return record, data or b""

    async def import_roster(self, data: bytes) -> list[dict[str, Any]]:
        """Add or update the roster's students; every new student's token, shown this once."""
        entries = parse_roster(data)
        issued = await asyncio.to_thread(self.store.import_students, [(e.id, e.name, e.email) for e in entries])
        return [student.summary() | _link(token) for student, token in issued]

    async def roster(self) -> list[dict[str, Any]]:
        return [s.summary() for s in await asyncio.to_thread(self.store.students)]

    async def reissue(self, student_id: str) -> dict[str, Any]:
        """A new token for the student (their old link stops working), shown this once."""
        student_id = _known_id(student_id)
        token = await asyncio.to_thread(self.store.reissue_token, student_id)
        if token is None:
            raise NotFound("No student has this id.")
        student = await asyncio.to_thread(self.store.student, student_id)
        assert student is not None
        return dataclasses.replace(student, has_token=True).summary() | _link(token)

    async def revoke(self, student_id: str) -> dict[str, Any]:
        student_id = _known_id(student_id)
        if not await asyncio.to_thread(self.store.revoke_tokens, student_id):
            raise NotFound("No student has this id.")
        return {"id": student_id, "has_token": False}

    async def extend(self, student_id: str, due: datetime | None, late_due: datetime | None) -> dict[str, Any]:
        """Give a student their own due dates (None, None: back to the config's)."""
        for name, value in (("due", due), ("late_due", late_due)):
            if value is not None and value.utcoffset() is None:
                raise InvalidField(f"{name}: give a timezone, e.g. 2025-03-01T23:59:00+01:00")
        if late_due is not None and (due is None or late_due < due):
            raise InvalidField("late_due: needs a due date, and may not be before it")
        student = await asyncio.to_thread(self.store.set_extension, _known_id(student_id), due, late_due)
        if student is None:
            raise NotFound("No student has this id.")
        return student.summary() | {"deadline": self.deadline(student).summary()}

    async def overview(self, assignment: str | None = None) -> dict[str, Any]:
        """The class at a glance, for one assignment (default: the service's): each roster student's counted
        score, and across the class (each student's latest graded submission) the pass rate per test and the most
        common mistakes."""
        return await asyncio.to_thread(self._overview, self.assignment(assignment))

    def _overview(self, assignment: str) -> dict[str, Any]:
        students = self.store.students()
        records = self.store.recent(limit=100000, assignment=assignment)
        by_student: dict[str, list[Record]] = {}
        for record in records:
            if record.student_id is not None:
                by_student.setdefault(record.student_id, []).append(record)
        policy = self.config.policy
        rows = []
        latest_ids = []
        for student in students:
            own = by_student.get(student.id, [])
            deadline = self.deadline(student)
            best = counted(own, deadline, self.config.policy)
            graded = [r for r in own if r.state in ("graded", "rejected")]
            if graded:
                latest_ids.append(graded[0].id)  # newest first
            rows.append(
                student.summary()
                | {
                    "deadline": deadline.summary(),
                    "submissions": len(own),
                    "late": sum(standing(r.submitted_at, deadline, policy).timing != "on_time" for r in own),
                    "latest": own[0].summary() if own else None,
                    "counted": None
                    if best is None
                    else {"id": best.record.id, "score": best.score, **best.standing.summary()},
                }
            )
        passed: Counter[str] = Counter()
        total: Counter[str] = Counter()
        question: dict[str, str] = {}
        mistakes: Counter[str] = Counter()
        hints: dict[str, str] = {}
        for submission_id in latest_ids:
            latest = self.store.get(submission_id)
            if latest is None or latest.result is None:
                continue
            seen: set[str] = set()
            for test in latest.result.tests():
                total[test.name] += 1
                passed[test.name] += test.status == "passed"
                question[test.name] = test.question
                if test.mistake and test.mistake not in seen:
                    seen.add(test.mistake)
                    mistakes[test.mistake] += 1
                    hints.setdefault(test.mistake, test.hint or "")
        return {
            "assignment": assignment,
            "max_score": get_pack(assignment).max_score(for_assignment(self.config, assignment).rubric),
            "policy": {
                "due": self.config.policy.due.isoformat() if self.config.policy.due else None,
                "late_due": self.config.policy.late_due.isoformat() if self.config.policy.late_due else None,
                "late_penalty_per_day": self.config.policy.late_penalty_per_day,
                "after_late_due_date": self.config.policy.after_late_due_date,
            },
            "students": rows,
            "tests": [
                {"name": name, "question": question[name], "passed": passed[name], "total": total[name]}
                for name in total
            ],
            "mistakes": [
                {"mistake": name, "students": count, "hint": hints[name]} for name, count in mistakes.most_common()
            ],
        }

    async def health(self) -> dict[str, Any]:
        """Raises (503, or 500 for a database or sandbox fault) unless the service can take and grade uploads:
        the database commits a write, the workers run, and a real sandbox runs a trivial call (at most once per
        ``SANDBOX_CHECK_SECONDS``: a probe every second must not cost a sandbox every second)."""
        await asyncio.to_thread(self.store.check_write)
        if not self.pool.alive():
            raise Unavailable("the grading workers are not running")
        sandbox = await asyncio.to_thread(self._sandbox_check)
        return {"status": "ok", **self.pool.stats(), **sandbox}

    SANDBOX_CHECK_SECONDS = 5.0

    def _sandbox_check(self) -> dict[str, Any]:
        """The isolation a real sandbox ran a trivial call under, cached; a fault raises (and is not cached)."""
        with self._sandbox_lock:
            now = time.monotonic()
            if self._sandbox_checked is None or now - self._sandbox_checked[0] > self.SANDBOX_CHECK_SECONDS:
                runner = self._runner if self._runner is not None else _default_runner()
                self_test = getattr(runner, "self_test", None)  # a test double may have none
                isolation = Isolation.of(self_test()) if self_test is not None else None
                self._sandbox_checked = (now, isolation)
            isolation = self._sandbox_checked[1]
        if isolation is None:
            return {"sandbox": "not checked: this runner has no self-test"}
        return {"sandbox": "ok", "isolation": isolation.model_dump(mode="json")}


def _link(token: str | None) -> dict[str, Any]:
    """The token and the student's personal link (a path: the page makes it absolute), or neither."""
    return {"token": token, "link": f"/s/{token}" if token else None}


def _known_id(raw: str) -> str:
    """A student id from a URL, normalised as the roster's are."""
    try:
        return check_id(raw)
    except ValueError as exc:
        raise NotFound("No student has this id.") from exc
