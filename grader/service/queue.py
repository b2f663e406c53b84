"""The grading pool: a fixed number of threads calling :func:`grader.grade`, fed from a priority queue.

Uploads are admitted only while fewer than ``workers + max_queue`` of them are outstanding, so the service
sheds load with a 503 instead of piling up work it cannot finish. Submissions re-queued by a restart or a
re-grade bypass that limit (they are already accepted) but wait behind students' uploads.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from grader.config import Config, for_assignment
from grader.engine import grade
from grader.errors import GraderError
from grader.keys import load_key
from grader.runner import Runner
from grader.service.fairuse import trim_result
from grader.service.store import Claim, Record, Store
from grader.submission import Submission

log = logging.getLogger("grader.service")

UPLOAD, BACKLOG = 0, 1
"""Priorities: a student waiting on a page goes before a re-grade or a restart's backlog."""
_STOP = -1
"""Sorts before any work, so a stopping pool does not finish the queue first (the rows stay queued)."""


class QueueFull(Exception):
    """The pool is at capacity; ``retry_after`` is a guess in whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("The grader is busy. Try again shortly.")
        self.message = str(self)
        self.retry_after = retry_after


def config_digest(config: Config) -> str:
    """Identifies the rubric a result was graded under."""
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()


class GradingPool:
    """Grades stored submissions in worker threads and tells waiting requests when a verdict is stored."""

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        workers: int,
        max_queue: int,
        runner: Runner | None = None,
        key_file: Path | None = None,
        max_result_bytes: int | None = None,
        on_settled: Callable[[str], None] | None = None,
    ) -> None:
        """``key_file``: where the hidden-case key is kept when the config names none (the service's data
        folder); ``on_settled`` is called with an upload's id once it leaves the queue and its worker."""
        self.store = store
        self._key_file = key_file
        self._max_result_bytes = max_result_bytes
        self._on_settled = on_settled
        self.workers = workers
        self.capacity = workers + max_queue
        self._runner = runner
        self._config = config
        self._digest = config_digest(config)
        self._queue: queue.PriorityQueue[tuple[int, int, str]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._uploads = 0  # admitted uploads not yet settled
        self._queued: set[str] = set()  # ids in the queue and not yet taken by a worker
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Record | None]]]] = {}
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._mean_seconds = 1.0  # moving average of grading time, for Retry-After

    # --- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the workers and re-queue what a previous run left queued or running."""
        for n in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"grade-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        recovered = self.store.requeue_pending()
        if recovered:
            log.warning("re-queued %d submission(s) left pending by the previous run", len(recovered))
        self._enqueue(recovered, BACKLOG)

    def stop(self, timeout: float = 10.0) -> None:
        """Let running grades finish (up to ``timeout``); queued rows stay queued for the next start."""
        for _ in self._threads:
            self._queue.put((_STOP, next(self._order), ""))
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    @property
    def digest(self) -> str:
        return self._digest

    def alive(self) -> bool:
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    # --- admission --------------------------------------------------------------------------------------

    def reserve(self) -> None:
        """Take a slot for one upload, or raise :class:`QueueFull`. Pair with :meth:`submit` or :meth:`release`."""
        with self._lock:
            if self._uploads >= self.capacity:
                raise QueueFull(self._retry_after_locked())
            self._uploads += 1

    def release(self) -> None:
        """Give back a reserved slot that will not be used (the upload was not stored)."""
        with self._lock:
            self._uploads -= 1

    def submit(self, submission_id: str) -> None:
        """Queue a stored upload whose slot was reserved."""
        with self._lock:
            self._queued.add(submission_id)  # before put: a worker may take it at once and discard it
        self._queue.put((UPLOAD, next(self._order), submission_id))

    def regrade(self, config: Config) -> int:
        """Grade every stored submission again under ``config``; returns how many were queued."""
        with self._lock:
            # Swap first, then bump generations: a worker reads the config after claiming, so a claim on the
            # new generation always grades under the new config.
            self._config, self._digest = config, config_digest(config)
        ids = self.store.requeue_all()
        self._enqueue(ids, BACKLOG)
        return len(ids)

    def regrade_one(self, submission_id: str) -> bool:
        """Grade one stored submission again under the current config; False if there is none with this id."""
        if not self.store.requeue_one(submission_id):
            return False
        self._enqueue([submission_id], BACKLOG)
        return True

    def _enqueue(self, ids: Iterable[str], priority: int) -> None:
        for submission_id in ids:
            with self._lock:
                if submission_id in self._queued:
                    continue  # already waiting: a second copy would only grade it twice
                self._queued.add(submission_id)
            self._queue.put((priority, next(self._order), submission_id))

    def _retry_after_locked(self) -> int:
        backlog = len(self._queued) + self._busy
        return max(1, min(60, math.ceil(backlog * self._mean_seconds / self.workers)))

    def stats(self) -> dict[str, int | float]:
        with self._lock:
            return {
                "workers": self.workers,
                "busy": self._busy,
                "queued": len(self._queued),
                "outstanding_uploads": self._uploads,
                "capacity": self.capacity,
                "mean_grade_seconds": round(self._mean_seconds, 3),
            }

    # --- waiting for a verdict -------------------------------------------------------------------------

    async def wait(self, submission_id: str, timeout: float) -> Record | None:
        """Return when the submission is settled or after ``timeout`` seconds, whichever comes first: the record
        the worker stored, when it hands it over (saving a read of the store); else None, and the caller looks.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Record | None] = loop.create_future()
        with self._lock:
            self._waiters.setdefault(submission_id, []).append((loop, future))
        try:
            # Registered before looking, so a verdict stored in between still wakes us.
            record = await asyncio.to_thread(self.store.get, submission_id, with_result=False)
            if record is not None and record.state not in ("queued", "running"):
                return None
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            with self._lock:
                waiters = self._waiters.get(submission_id, [])
                if (loop, future) in waiters:
                    waiters.remove((loop, future))
                if not waiters:
                    self._waiters.pop(submission_id, None)

    def _notify(self, submission_id: str, record: Record | None) -> None:
        with self._lock:
            waiters = self._waiters.pop(submission_id, [])
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                loop.call_soon_threadsafe(_resolve, future, record)

    # --- workers ---------------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            priority, _, submission_id = self._queue.get()
            if priority == _STOP:
                return
            with self._lock:
                self._queued.discard(submission_id)
                self._busy += 1
            record = None
            try:
                record = self._grade_one(submission_id)
            except Exception:  # a store failure must not kill the worker; the row stays pending for a restart
                log.exception("could not grade submission %s", submission_id)
            finally:
                with self._lock:
                    self._busy -= 1
                    if priority == UPLOAD:
                        self._uploads -= 1
                if self._on_settled is not None:
                    self._on_settled(submission_id)
                self._notify(submission_id, record)

    def _grade_one(self, submission_id: str) -> Record | None:
        """Grade and store; the stored record, or None when there is none to hand over."""
        claim = self.store.claim(submission_id)
        if claim is None:
            return None  # deleted, or already graded by a worker that got an earlier copy
        with self._lock:
            config, digest = self._config, self._digest
        started = time.monotonic()
        if claim.assignment is not None and claim.assignment != config.assignment:
            try:
                config = for_assignment(config, claim.assignment)
            except GraderError as exc:  # a pack uninstalled since the upload: the bytes stay for a re-grade
                return self._settle_fault(claim, exc)
            digest = config_digest(config)
        try:
            # The config's key file, else the service's own (beside its database), never the CLI user's default.
            key = load_key(config.cases.key_file or self._key_file)
            result = grade(Submission(claim.name, claim.data), config, runner=self._runner, key=key)
            if self._max_result_bytes is not None:
                result = trim_result(result, self._max_result_bytes)
        except Exception as exc:  # GraderFault or a grader bug: the student's bytes stay stored for a re-grade
            log.exception("grader fault on submission %s", submission_id)
            return self._settle_fault(claim, exc)
        self._observe(time.monotonic() - started)
        record = self.store.finish(claim, result, digest)
        if record is None:
            log.info("dropped a superseded result for %s (re-graded meanwhile)", submission_id)
        return record

    def _settle_fault(self, claim: Claim, exc: Exception) -> Record | None:
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        return self.store.fail(claim, message)

    def _observe(self, seconds: float) -> None:
        with self._lock:
            self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * seconds


def _resolve(future: asyncio.Future[Record | None], record: Record | None) -> None:
    if not future.done():
        future.set_result(record)
