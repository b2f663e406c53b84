"""The database (SQLAlchemy 2.0, SQLite by default): each submission's bytes, metadata and result; the roster of
students and their personal tokens (hashed); and the schema version.

The schema is upgraded in place on start (:func:`migrate`): new tables come from ``create_all``, new columns of
existing tables from explicit, idempotent ``ALTER TABLE`` steps recorded in ``schema_version``. Alembic would do
the same with a migrations folder, an ini file and its own version table for one column; the service has no
other schema history yet, so a numbered list of steps here is the smaller moving part (and is tested on a
database made with the previous schema).

Every write is a single statement in its own short transaction, so SQLite's writer lock is held for
microseconds and a read never has to be upgraded to a write (which SQLite would refuse with "database is
locked" instead of waiting). A row's ``generation`` goes up on every re-grade; a worker only writes a result
for the generation it claimed, so a grade started under the old rubric can never overwrite a newer one.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import CursorResult, Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, deferred, mapped_column, sessionmaker, undefer

from grader.models import Result

State = Literal["queued", "running", "graded", "rejected", "error"]
"""``queued`` and ``running`` while pending; then the verdict's status, or ``error`` for a grader fault."""

PENDING: tuple[State, ...] = ("queued", "running")

ID_BYTES = 16
"""128 random bits: ids are the only thing standing between a student and another student's result."""


def new_id() -> str:
    return secrets.token_urlsafe(ID_BYTES)


def _now() -> datetime:
    return datetime.now(UTC)


class _Base(DeclarativeBase):
    pass


class SubmissionRow(_Base):
    __tablename__ = "submissions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    student: Mapped[str | None] = mapped_column(String(64))
    """The gradebook's name: the roster id of the token's student, or (development mode) the form's field."""
    student_id: Mapped[str | None] = mapped_column(String(64))
    """The roster student whose token made the upload; None for development-mode uploads and older rows."""
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    # Deferred: listings and the gradebook never need the bytes.
    data: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    generation: Mapped[int] = mapped_column(Integer, default=0)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    score: Mapped[float | None]
    max_score: Mapped[float | None]
    q1: Mapped[float | None]
    q2: Mapped[float | None]
    """Before assignment packs: the two questions' scores. No longer written; :func:`migrate` copies them into
    ``scores``."""
    assignment: Mapped[str | None] = mapped_column(String(64))
    """The assignment pack the file was handed in for; None only on rows from before packs, until
    :func:`migrate` gives them the service's default assignment."""
    scores: Mapped[str | None] = mapped_column(Text)
    """Per-question scores as JSON (``{"q1": 45.0, ...}``): any pack's questions, with no column per question."""
    config_digest: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    """The grader fault's message, for the operator."""
    result: Mapped[str | None] = deferred(mapped_column(Text))
    """The full (instructor) result as JSON."""

    __table_args__ = (
        Index("ix_submissions_student", "student", "submitted_at"),
        Index("ix_submissions_state", "state"),
        Index("ix_submissions_student_id", "student_id", "submitted_at"),
        Index("ix_submissions_assignment", "assignment", "student", "submitted_at"),
    )


class StudentRow(_Base):
    """One roster entry. ``id`` is normalised (NFKC, casefolded): see :mod:`grader.service.roster`."""

    __tablename__ = "students"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    extension_due: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """This student's own due date, replacing the config's; None: the config's."""
    extension_late_due: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """This student's own late due date; None: the config's (or, with an extension, none)."""


class TokenRow(_Base):
    """A student's personal token, by its SHA-256: the database never holds a usable token."""

    __tablename__ = "tokens"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    student_id: Mapped[str] = mapped_column(ForeignKey("students.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class SchemaVersionRow(_Base):
    """One row: the number of the last migration step applied."""

    __tablename__ = "schema_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


class HealthRow(_Base):
    """One row, rewritten by every health check: proof that the database takes (and commits) a write."""

    __tablename__ = "health"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class Record:
    """A submission as the routes see it, detached from any session."""

    id: str
    student: str | None
    filename: str
    size: int
    state: State
    submitted_at: datetime
    finished_at: datetime | None
    score: float | None
    max_score: float | None
    config_digest: str | None
    error: str | None
    result: Result | None = None
    student_id: str | None = None
    assignment: str | None = None
    """The assignment pack graded; None on a row from before packs that no migration has named yet."""
    scores: Mapping[str, float] | None = None
    """Per-question scores by question id; None until graded (or after a grader fault)."""

    def question_score(self, question_id: str) -> float | None:
        """The score of one question, None when there is none."""
        return None if self.scores is None else self.scores.get(question_id)

    def summary(self) -> dict[str, Any]:
        """Metadata and totals, without the tests (instructor listings)."""
        return {
            "id": self.id,
            "student": self.student,
            "student_id": self.student_id,
            "filename": self.filename,
            "size": self.size,
            "status": self.state,
            "submitted_at": self.submitted_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "score": self.score,
            "max_score": self.max_score,
            "assignment": self.assignment,
            "scores": dict(self.scores) if self.scores is not None else None,
            "config_digest": self.config_digest,
            "error": self.error,
        }


@dataclass(frozen=True)
class Claim:
    """What a worker needs to grade one submission."""

    id: str
    generation: int
    name: str
    data: bytes
    assignment: str | None = None
    """The assignment pack to grade against; None: the service's default."""


def _record(row: Any, *, with_result: bool, result: Result | None = None) -> Record:
    """A record from a row (or a RETURNING tuple with the same names); ``result`` when the caller holds it."""
    submitted = row.submitted_at if row.submitted_at.tzinfo else row.submitted_at.replace(tzinfo=UTC)
    finished = row.finished_at
    if finished is not None and finished.tzinfo is None:
        finished = finished.replace(tzinfo=UTC)  # SQLite stores naive datetimes
    if result is None and with_result and row.result:
        result = Result.model_validate_json(row.result)
    return Record(
        id=row.id,
        student=row.student,
        filename=row.filename,
        size=row.size,
        state=row.state,
        submitted_at=submitted,
        finished_at=finished,
        score=row.score,
        max_score=row.max_score,
        config_digest=row.config_digest,
        error=row.error,
        result=result,
        student_id=row.student_id,
        assignment=row.assignment,
        scores=json.loads(row.scores) if row.scores else None,
    )


_RECORD_COLUMNS = (
    SubmissionRow.id,
    SubmissionRow.student,
    SubmissionRow.filename,
    SubmissionRow.size,
    SubmissionRow.state,
    SubmissionRow.submitted_at,
    SubmissionRow.finished_at,
    SubmissionRow.score,
    SubmissionRow.max_score,
    SubmissionRow.config_digest,
    SubmissionRow.error,
    SubmissionRow.student_id,
    SubmissionRow.assignment,
    SubmissionRow.scores,
)
"""What a :class:`Record` is made of, but the result (returned by a settling update)."""


@dataclass(frozen=True)
class Student:
    """A roster entry as the routes see it."""

    id: str
    name: str
    email: str
    extension_due: datetime | None = None
    extension_late_due: datetime | None = None
    has_token: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "extension_due": self.extension_due.isoformat() if self.extension_due else None,
            "extension_late_due": self.extension_late_due.isoformat() if self.extension_late_due else None,
            "has_token": self.has_token,
        }


def _aware(value: datetime | None) -> datetime | None:
    """SQLite gives datetimes back naive; every one the store writes is UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _student(row: StudentRow, has_token: bool = False) -> Student:
    return Student(
        id=row.id,
        name=row.name,
        email=row.email,
        extension_due=_aware(row.extension_due),
        extension_late_due=_aware(row.extension_late_due),
        has_token=has_token,
    )


def token_digest(token: str) -> str:
    """How a token is stored and looked up. A plain SHA-256 suffices (no salt, no slow hash): the token is 256
    random bits, so there is nothing to guess from a leaked digest."""
    return hashlib.sha256(token.encode()).hexdigest()


TOKEN_BYTES = 32


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


SCHEMA_VERSION = 2
"""The number of the last step in :data:`_STEPS`."""


def _step_1_student_id(connection: Any) -> None:
    """Databases made before the roster: submissions get ``student_id`` and its index."""
    columns = {c["name"] for c in inspect(connection).get_columns("submissions")}
    if "student_id" not in columns:
        connection.execute(text("ALTER TABLE submissions ADD COLUMN student_id VARCHAR(64)"))
    connection.execute(
        text("CREATE INDEX IF NOT EXISTS ix_submissions_student_id ON submissions (student_id, submitted_at)")
    )


def _step_2_assignment_scores(connection: Any) -> None:
    """Databases made before assignment packs: submissions get ``assignment`` and ``scores`` (per-question scores
    as JSON, for any pack), and the scores kept in the old ``q1``/``q2`` columns move there."""
    columns = {c["name"] for c in inspect(connection).get_columns("submissions")}
    if "assignment" not in columns:
        connection.execute(text("ALTER TABLE submissions ADD COLUMN assignment VARCHAR(64)"))
    if "scores" not in columns:
        connection.execute(text("ALTER TABLE submissions ADD COLUMN scores TEXT"))
    connection.execute(
        text("CREATE INDEX IF NOT EXISTS ix_submissions_assignment ON submissions (assignment, student, submitted_at)")
    )
    legacy = connection.execute(
        text("SELECT id, q1, q2 FROM submissions WHERE scores IS NULL AND (q1 IS NOT NULL OR q2 IS NOT NULL)")
    ).all()
    for submission_id, q1, q2 in legacy:
        scores = {qid: value for qid, value in (("q1", q1), ("q2", q2)) if value is not None}
        connection.execute(
            text("UPDATE submissions SET scores = :scores WHERE id = :id"),
            {"scores": json.dumps(scores), "id": submission_id},
        )


_STEPS: tuple[Callable[[Any], None], ...] = (_step_1_student_id, _step_2_assignment_scores)


def migrate(engine: Engine, default_assignment: str | None = None) -> int:
    """Bring the database to :data:`SCHEMA_VERSION` in place; the version it is at afterwards.

    ``create_all`` makes the tables that do not exist (all of them on a new database, the roster's on an old
    one) but never changes an existing table; each step does that, checking before it alters, so a step
    interrupted before its version was recorded is safe to run again. All in one transaction: SQLite's DDL is
    transactional, so a failed upgrade leaves the database as it was.

    With ``default_assignment``, rows from before assignment packs (no ``assignment``) are given it: the service
    passes its default, which is what those files were graded as. (Data, not schema: it runs at every start, so a
    store first opened without one, by ``roster import``, still gets its rows named.)
    """
    with engine.begin() as connection:
        _Base.metadata.create_all(connection)
        current = connection.execute(select(SchemaVersionRow.version).where(SchemaVersionRow.id == 1)).scalar()
        current = current or 0
        for number, step in enumerate(_STEPS, start=1):
            if number > current:
                step(connection)
        if current < SCHEMA_VERSION:
            connection.execute(delete(SchemaVersionRow))
            connection.execute(insert(SchemaVersionRow).values(id=1, version=SCHEMA_VERSION))
        if default_assignment is not None:
            connection.execute(
                update(SubmissionRow).where(SubmissionRow.assignment.is_(None)).values(assignment=default_assignment)
            )
        return max(current, SCHEMA_VERSION)


def _sqlite_pragmas(synchronous: str) -> Callable[[Any, Any], None]:
    def pragmas(dbapi_connection: Any, _connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL: readers never block the writer.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return pragmas


def make_engine(url: str, *, durable: bool = True) -> Engine:
    """An engine; SQLite files get WAL mode and a busy timeout, and their folder is created.

    ``durable``: every commit survives a power cut (``synchronous=FULL``, an fsync per commit), for what cannot
    be made again: an upload acknowledged to a student. Otherwise ``synchronous=NORMAL``: in WAL mode a commit
    survives a killed process and may be lost with a power cut, which only ever leaves a row ``queued`` or
    ``running`` for the next start to grade again (a verdict can always be computed again from the bytes)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    event.listen(engine, "connect", _sqlite_pragmas("FULL" if durable else "NORMAL"))
    return engine


class Store:
    """Submissions in the database. Thread-safe: every method opens its own short session."""

    def __init__(self, url: str, default_assignment: str | None = None) -> None:
        """``default_assignment``: what rows from before assignment packs were graded as (see :func:`migrate`)."""
        self.engine = make_engine(url)
        migrate(self.engine, default_assignment)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._relaxed_engine = make_engine(url, durable=False)
        self._relaxed_sessions = sessionmaker(self._relaxed_engine, expire_on_commit=False)

    @contextmanager
    def _session(self, *, durable: bool = True) -> Iterator[Session]:
        """A transaction; ``durable=False`` for the state changes a restart redoes (see :func:`make_engine`)."""
        with (self._sessions if durable else self._relaxed_sessions)() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()
        self._relaxed_engine.dispose()

    def ping(self) -> None:
        with self._session() as session:
            session.execute(select(1))

    def check_write(self) -> None:
        """Commit a write (one row, overwritten each time): a read-only or full database fails here, before an
        upload would."""
        with self._session() as session:
            session.merge(HealthRow(id=1, checked_at=_now()))

    def add(
        self,
        *,
        student: str | None,
        filename: str,
        data: bytes,
        student_id: str | None = None,
        assignment: str | None = None,
    ) -> str:
        """Store a new submission as ``queued`` and return its id; committed (durable) on return."""
        submission_id = new_id()
        with self._session() as session:
            session.add(
                SubmissionRow(
                    id=submission_id,
                    student=student,
                    student_id=student_id,
                    assignment=assignment,
                    filename=filename,
                    size=len(data),
                    sha256=hashlib.sha256(data).hexdigest(),
                    data=data,
                    state="queued",
                    generation=0,
                    submitted_at=_now(),
                )
            )
        return submission_id

    def get(self, submission_id: str, *, with_result: bool = True) -> Record | None:
        with self._session() as session:
            query = select(SubmissionRow).where(SubmissionRow.id == submission_id)
            if with_result:
                query = query.options(undefer(SubmissionRow.result))
            row = session.scalars(query).first()
            return None if row is None else _record(row, with_result=with_result)

    def recent(
        self,
        *,
        student: str | None = None,
        limit: int = 1000,
        with_results: bool = False,
        assignment: str | None = None,
    ) -> list[Record]:
        """Newest first (of one assignment, when given), without results unless asked (the instructor's class
        overview reads them)."""
        with self._session() as session:
            query = select(SubmissionRow).order_by(SubmissionRow.submitted_at.desc()).limit(limit)
            if student is not None:
                query = query.where(SubmissionRow.student == student)
            if assignment is not None:
                query = query.where(SubmissionRow.assignment == assignment)
            if with_results:
                query = query.options(undefer(SubmissionRow.result))
            return [_record(row, with_result=with_results) for row in session.scalars(query)]

    def data(self, submission_id: str) -> bytes | None:
        """The stored file's bytes."""
        with self._session() as session:
            return session.scalar(select(SubmissionRow.data).where(SubmissionRow.id == submission_id))

    def stored_bytes(self, student_id: str) -> int:
        """What this student's uploads take in the database (their quota)."""
        with self._session() as session:
            total = session.scalar(select(func.sum(SubmissionRow.size)).where(SubmissionRow.student_id == student_id))
            return int(total or 0)

    # --- the roster -------------------------------------------------------------------------------------

    def import_students(self, entries: Sequence[tuple[str, str, str]]) -> list[tuple[Student, str | None]]:
        """Add or update ``(id, name, email)`` entries (already normalised and checked); each student with the
        token issued now: a new student gets one, a known student keeps theirs (None) unless it was revoked."""
        issued: list[tuple[Student, str | None]] = []
        with self._session() as session:
            for student_id, name, email in entries:
                row = session.get(StudentRow, student_id)
                if row is None:
                    row = StudentRow(id=student_id, name=name, email=email, created_at=_now())
                    session.add(row)
                else:
                    row.name, row.email = name, email
                session.flush()
                active = session.scalar(
                    select(func.count()).where(TokenRow.student_id == student_id, TokenRow.revoked.is_(False))
                )
                token = None
                if not active:
                    token = new_token()
                    session.add(TokenRow(sha256=token_digest(token), student_id=student_id, created_at=_now()))
                issued.append((_student(row, has_token=True), token))
        return issued

    def reissue_token(self, student_id: str) -> str | None:
        """Revoke every token of the student and issue a new one; None for an unknown student."""
        token = new_token()
        with self._session() as session:
            if session.get(StudentRow, student_id) is None:
                return None
            session.execute(update(TokenRow).where(TokenRow.student_id == student_id).values(revoked=True))
            session.add(TokenRow(sha256=token_digest(token), student_id=student_id, created_at=_now()))
        return token

    def revoke_tokens(self, student_id: str) -> bool:
        """Revoke every token of the student (their link stops working); False for an unknown student."""
        with self._session() as session:
            if session.get(StudentRow, student_id) is None:
                return False
            session.execute(update(TokenRow).where(TokenRow.student_id == student_id).values(revoked=True))
        return True

    def student_for_token(self, token: str) -> Student | None:
        """The student holding this (unrevoked) token, or None."""
        with self._session() as session:
            row = session.execute(
                select(StudentRow)
                .join(TokenRow, TokenRow.student_id == StudentRow.id)
                .where(TokenRow.sha256 == token_digest(token), TokenRow.revoked.is_(False))
            ).scalar()
            return None if row is None else _student(row, has_token=True)

    def student(self, student_id: str) -> Student | None:
        with self._session() as session:
            row = session.get(StudentRow, student_id)
            return None if row is None else _student(row)

    def students(self) -> list[Student]:
        """The roster by id, each saying whether it has a working token."""
        with self._session() as session:
            holders = set(session.scalars(select(TokenRow.student_id).where(TokenRow.revoked.is_(False))))
            rows = session.scalars(select(StudentRow).order_by(StudentRow.id))
            return [_student(row, has_token=row.id in holders) for row in rows]

    def set_extension(self, student_id: str, due: datetime | None, late_due: datetime | None) -> Student | None:
        """Give (or, with None, take back) a student's own due dates; None for an unknown student."""
        with self._session() as session:
            row = session.get(StudentRow, student_id)
            if row is None:
                return None
            row.extension_due, row.extension_late_due = due, late_due
            session.flush()
            return _student(row)

    def claim(self, submission_id: str) -> Claim | None:
        """Mark a queued submission ``running`` and return its bytes; None if it is not queued (any more)."""
        with self._session(durable=False) as session:
            claimed = session.execute(
                update(SubmissionRow)
                .where(SubmissionRow.id == submission_id, SubmissionRow.state == "queued")
                .values(state="running", started_at=_now())
                .returning(
                    SubmissionRow.generation,
                    SubmissionRow.student,
                    SubmissionRow.filename,
                    SubmissionRow.data,
                    SubmissionRow.assignment,
                )
            ).first()
        if claimed is None:
            return None
        generation, student, filename, data, assignment = claimed
        return Claim(submission_id, generation, student or Path(filename).stem or "nn", data, assignment)

    def finish(self, claim: Claim, result: Result, config_digest: str) -> Record | None:
        """Store the verdict and return the record; None when a re-grade superseded this claim (the result is
        then dropped)."""
        return self._settle(
            claim,
            state=result.status,
            score=result.score,
            max_score=result.max_score,
            scores=json.dumps({q.id: q.score for q in result.questions}),
            config_digest=config_digest,
            error=None,
            result=result.model_dump_json(),
            held=result,
        )

    def fail(self, claim: Claim, message: str) -> Record | None:
        """Record a grader fault; the bytes stay, so a re-grade can retry."""
        return self._settle(
            claim, state="error", score=None, max_score=None, scores=None, error=message, result=None
        )

    def _settle(self, claim: Claim, *, held: Result | None = None, **values: Any) -> Record | None:
        with self._session(durable=False) as session:
            row = session.execute(
                update(SubmissionRow)
                .where(
                    SubmissionRow.id == claim.id,
                    SubmissionRow.generation == claim.generation,
                    SubmissionRow.state == "running",
                )
                .values(finished_at=_now(), **values)
                .returning(*_RECORD_COLUMNS)
            ).first()
            return None if row is None else _record(row, with_result=False, result=held)

    def requeue_pending(self) -> list[str]:
        """After a restart: every ``running`` row goes back to ``queued``; ids of all queued rows, oldest first."""
        with self._session() as session:
            session.execute(update(SubmissionRow).where(SubmissionRow.state == "running").values(state="queued"))
        return self._ids_in(("queued",))

    def requeue_one(self, submission_id: str) -> bool:
        """For a re-grade of one submission: back to ``queued`` under a new generation; False if unknown."""
        with self._session() as session:
            done = session.execute(
                update(SubmissionRow)
                .where(SubmissionRow.id == submission_id)
                .values(state="queued", generation=SubmissionRow.generation + 1, started_at=None)
            )
            return bool(cast(CursorResult[Any], done).rowcount)

    def requeue_all(self) -> list[str]:
        """For a re-grade: every row back to ``queued`` under a new generation; ids oldest first."""
        with self._session() as session:
            session.execute(
                update(SubmissionRow).values(state="queued", generation=SubmissionRow.generation + 1, started_at=None)
            )
        return self._ids_in(("queued",))

    def _ids_in(self, states: Sequence[str]) -> list[str]:
        with self._session() as session:
            query = select(SubmissionRow.id).where(SubmissionRow.state.in_(states)).order_by(SubmissionRow.submitted_at)
            return list(session.scalars(query))

    def named(self, assignment: str | None = None) -> list[Record]:
        """Every submission that names a student (of one assignment, when given), by student then oldest first,
        without results."""
        with self._session() as session:
            query = (
                select(SubmissionRow)
                .where(SubmissionRow.student.is_not(None))
                .order_by(SubmissionRow.student, SubmissionRow.submitted_at)
            )
            if assignment is not None:
                query = query.where(SubmissionRow.assignment == assignment)
            return [_record(row, with_result=False) for row in session.scalars(query)]
