"""Grade a folder of submissions in parallel; one bad file never stops the batch."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from grader.config import Config
from grader.engine import grade
from grader.errors import GraderError
from grader.models import Result
from grader.report import gradebook_row
from grader.runner import Runner
from grader.submission import FILENAME, Submission


@dataclass(frozen=True)
class Entry:
    """One submission of a batch: its result, or why the grader itself failed on it."""

    name: str
    path: Path
    result: Result | None
    error: str | None = None

    def row(self) -> dict[str, str]:
        if self.result is not None:
            return gradebook_row(self.result)
        return {"submission": self.name, "q1": "", "q2": "", "score": "", "max_score": "", "status": "grader-error"}


def discover(folder: str | Path) -> list[tuple[str, Path]]:
    """``(name, path)`` for every ``*.py`` in ``folder`` and every ``folder/*/nn.py`` handin, sorted.

    Names are the file stem or the handin folder; a clash (``alice.py`` and ``alice/nn.py``) gets a suffix so
    no row of the gradebook overwrites another.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise GraderError(f"{folder} is not a folder")
    found = [(p.stem, p) for p in folder.glob("*.py") if p.is_file()]
    found += [(p.parent.name, p) for p in folder.glob(f"*/{FILENAME}") if p.is_file()]
    found.sort(key=lambda item: (item[0], str(item[1])))
    seen: Counter[str] = Counter()
    named = []
    for name, path in found:
        seen[name] += 1
        named.append((name if seen[name] == 1 else f"{name}~{seen[name]}", path))
    return named


def _grade_one(name: str, path: Path, config: Config, runner: Runner | None) -> Entry:
    try:
        submission = Submission(name=name, data=path.read_bytes())
        return Entry(name, path, grade(submission, config, runner=runner))
    except OSError as exc:
        return Entry(name, path, None, f"cannot read {path}: {exc.strerror}")
    except Exception as exc:  # a grader bug on one file must not cost the other students their grades
        return Entry(name, path, None, f"grader error: {type(exc).__name__}: {exc}")


def default_jobs() -> int:
    """Two submissions in flight per core. Each grading passes back and forth between the grader's thread, the
    zygote and its sandbox, so with one per core the cores wait on those hand-offs (measured: ~80% busy at one
    per core, ~87% at two; see the README's performance section)."""
    return 2 * (os.cpu_count() or 1)


def grade_folder(
    submissions: Sequence[tuple[str, Path]],
    config: Config,
    *,
    jobs: int | None = None,
    runner: Runner | None = None,
    on_done: Callable[[Entry], None] | None = None,
) -> list[Entry]:
    """Grade every submission with ``jobs`` workers (default: :func:`default_jobs`); entries in input order."""
    jobs = jobs or default_jobs()
    entries: dict[int, Entry] = {}
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="grade") as pool:
        futures = {
            pool.submit(_grade_one, name, path, config, runner): index for index, (name, path) in enumerate(submissions)
        }
        for future in as_completed(futures):
            entry = future.result()
            entries[futures[future]] = entry
            if on_done is not None:
                on_done(entry)
    return [entries[i] for i in range(len(submissions))]


@dataclass(frozen=True)
class Summary:
    """Totals for the end of a batch."""

    count: int
    mean_q1: float
    mean_q2: float
    mean_score: float
    max_score: float
    by_status: dict[str, int]

    @classmethod
    def of(cls, entries: Sequence[Entry]) -> Summary:
        results = [e.result for e in entries if e.result is not None]
        n = len(results) or 1
        return cls(
            count=len(entries),
            mean_q1=sum(r.question("q1").score for r in results) / n,
            mean_q2=sum(r.question("q2").score for r in results) / n,
            mean_score=sum(r.score for r in results) / n,
            max_score=results[0].max_score if results else 0.0,
            by_status=dict(Counter(e.row()["status"] for e in entries)),
        )
