"""Fair use: a per-student rate limit (token buckets) and a cap on what one stored result holds.

One submission in flight per student and the storage quota are checks against the store (see
:class:`~grader.service.backend.Backend`); the buckets live in memory, so a restart forgives everyone (the
in-flight rule still holds, being read from the database).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from grader.models import Result
from grader.service.errors import RateLimited


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """One bucket per key: ``burst`` uploads at once, refilled at ``per_hour`` an hour."""

    def __init__(self, burst: int, per_hour: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.rate = per_hour / 3600.0
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def _fill(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.setdefault(key, _Bucket(float(self.burst), now))
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        return bucket

    def take(self, key: str) -> None:
        """Spend one token or raise :class:`RateLimited` with an honest ``Retry-After`` (whole seconds, rounded
        up: retrying then succeeds unless another upload took the token first)."""
        with self._lock:
            bucket = self._fill(key)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return
            wait = math.ceil((1.0 - bucket.tokens) / self.rate) if self.rate > 0 else 86400
        raise RateLimited(
            f"Too many uploads: {self.burst} at once, then {self.rate * 3600:g} an hour. Try again in {wait} s.",
            wait,
        )

    def refund(self, key: str) -> None:
        """Give back a token spent on an upload that was not stored after all."""
        with self._lock:
            bucket = self._fill(key)
            bucket.tokens = min(float(self.burst), bucket.tokens + 1.0)


def trim_result(result: Result, max_bytes: int) -> Result:
    """The result, with captured outputs shortened until its JSON fits ``max_bytes``: a submission that prints
    a megabyte per test must not make a row (and every page that reads it) that large. Outputs go first since
    they are the only part whose size the student controls; halved each round, then dropped."""
    if len(result.model_dump_json()) <= max_bytes:
        return result
    keep = max((len(t.output) for t in result.tests()), default=0)
    while True:
        keep //= 2
        questions = tuple(
            q.model_copy(
                update={
                    "tests": tuple(
                        t.model_copy(update={"output": _cut(t.output, keep)}) if len(t.output) > keep else t
                        for t in q.tests
                    )
                }
            )
            for q in result.questions
        )
        note = f"captured output trimmed to {keep} characters per test: the result was over {max_bytes:,} bytes"
        trimmed = result.model_copy(update={"questions": questions, "warnings": (*result.warnings, note)})
        if keep == 0 or len(trimmed.model_dump_json()) <= max_bytes:
            return trimmed


def _cut(text: str, keep: int) -> str:
    return text[:keep] + ("\n[... output trimmed]" if keep else "[output trimmed]")
