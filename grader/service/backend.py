"""What the routes ask for, in plain Python: accept an upload, look up a verdict, re-grade, the gradebook.

Grading itself is :func:`grader.grade`, called by the pool; this module only stores, queues and shapes views.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import re
import threading
import time
from pathlib import PurePath
from typing import Any

from grader.config import Config, load_config
from grader.errors import SubmissionSyntaxError
from grader.models import Isolation
from grader.runner import Runner
from grader.service.errors import InvalidField, NotFound, Unauthorized, Unavailable
from grader.service.gradebook import gradebook_csv
from grader.service.queue import GradingPool
from grader.service.settings import ServiceSettings
from grader.service.store import PENDING, Record, Store
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


def public_view(record: Record) -> dict[str, Any]:
    """What a student sees: the same JSON as ``grade --json`` plus the id, or the pending status."""
    if record.state in PENDING:
        return {"id": record.id, "status": record.state}
    if record.result is None:
        return {"id": record.id, "status": "error", "detail": GRADER_FAILED}
    return {"id": record.id, **record.result.public().model_dump(mode="json")}


def instructor_view(record: Record) -> dict[str, Any]:
    """Metadata plus the full result, diagnostics and operator warnings included."""
    view = record.summary()
    view["result"] = record.result.model_dump(mode="json") if record.result is not None else None
    return view


class Backend:
    """The store, the grading pool and the instructor token, behind the few operations the routes need."""

    def __init__(self, settings: ServiceSettings, config: Config, runner: Runner | None) -> None:
        self.settings = settings
        self.config = config
        self.store = Store(settings.database())
        self.pool = GradingPool(
            self.store, config, workers=settings.workers, max_queue=settings.max_queue, runner=runner
        )
        self._token = settings.instructor_token()
        self._runner = runner
        self._sandbox_lock = threading.Lock()
        self._sandbox_checked: tuple[float, Isolation | None] | None = None

    def start(self) -> None:
        self.pool.start()

    def stop(self) -> None:
        self.pool.stop()
        self.store.close()

    # --- students ---------------------------------------------------------------------------------------

    async def accept(self, *, data: bytes, filename: str | None, student: str | None) -> str:
        """Check, store (durably) and queue an upload; its id. Raises before storing anything it refuses."""
        student = student_name(student)
        await asyncio.to_thread(refuse_bad_bytes, data, self.config.limits.max_upload_bytes)
        self.pool.reserve()
        try:
            name = PurePath((filename or "nn.py").replace("\\", "/")).name[:255] or "nn.py"
            submission_id = await asyncio.to_thread(self.store.add, student=student, filename=name, data=data)
        except BaseException:
            self.pool.release()
            raise
        self.pool.submit(submission_id)
        return submission_id

    async def settled(self, submission_id: str, timeout: float) -> Record:
        """The record once graded (as the worker hands it over, or from the store), or as it stands after
        ``timeout`` seconds."""
        record = await self.pool.wait(submission_id, timeout)
        return record if record is not None else await self.record(submission_id)

    async def record(self, submission_id: str) -> Record:
        record = await asyncio.to_thread(self.store.get, submission_id)
        if record is None:
            raise NotFound("No submission has this id.")
        return record

    # --- instructors ------------------------------------------------------------------------------------

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

    async def listing(self, student: str | None, limit: int) -> list[dict[str, Any]]:
        records = await asyncio.to_thread(self.store.recent, student=student, limit=limit)
        return [r.summary() for r in records]

    async def gradebook(self) -> str:
        return gradebook_csv(await asyncio.to_thread(self.store.named))

    async def regrade(self) -> dict[str, Any]:
        """Re-read the grading config (the rubric may have changed) and grade every submission again."""
        config = load_config(self.settings.config) if self.settings.config is not None else self.config
        self.config = config
        queued = await asyncio.to_thread(self.pool.regrade, config)
        return {"queued": queued, "config_digest": self.pool.digest}

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
