"""Grade a folder of submissions in parallel; one bad file never stops the batch."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader.config import Config
from grader.engine import grade
from grader.errors import GraderError
from grader.exports import FileTooLarge, Handin, Student, readable, unique_name
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
    source: str | None = None
    """Where the file came from when it is not simply ``path`` (a zip member: ``carol.zip!hw2/nn.py``)."""
    student: Student = field(default_factory=Student)
    """Who handed it in, when the export says (Canvas and Gradescope exports)."""

    def row(self, folder: Path | None = None) -> dict[str, str]:
        """The gradebook row, with ``source``: the file's path inside the batch ``folder`` (the path as given
        without one), so that a row can always be traced back to the file it grades."""
        if self.source is not None:
            row = {"submission": self.name, "source": readable(self.source)}
        else:
            source = self.path
            if folder is not None and self.path.is_relative_to(folder):
                source = self.path.relative_to(folder)
            row = {"submission": self.name, "source": readable(source.as_posix())}
        if self.result is not None:
            return row | gradebook_row(self.result)
        return row | {"score": "", "max_score": "", "status": "grader-error"}  # missing cells are empty


Clashes = Callable[[str, Sequence[tuple[str, Path]]], None]
"""Told, for each name several submissions would share, the name and every ``(new name, path)``."""


def discover(folder: str | Path, on_clash: Clashes | None = None) -> list[tuple[str, Path]]:
    """``(name, path)`` for every ``*.py`` in ``folder`` and every ``folder/*/nn.py`` handin, sorted by name.

    Names are the file stem or the handin folder (see :func:`readable`). Where two submissions would share a
    name (``bob.py`` and ``bob/nn.py``), each is named after its path instead, ``/`` written ``~`` (``bob.py``
    and ``bob~nn.py``), so that no row of the gradebook or report overwrites another and the name itself says
    which file it is; ``on_clash`` hears of each such clash, so that the instructor does too.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise GraderError(f"{folder} is not a folder")
    found = [p for p in folder.glob("*.py") if p.is_file()]
    found += [p for p in folder.glob(f"*/{FILENAME}") if p.is_file()]
    by_name: dict[str, list[Path]] = {}
    for path in sorted(found, key=Path.as_posix):
        by_name.setdefault(readable(path.stem if path.parent == folder else path.parent.name), []).append(path)
    taken = {name for name, paths in by_name.items() if len(paths) == 1}
    named = [(name, paths[0]) for name, paths in by_name.items() if len(paths) == 1]
    for name, paths in by_name.items():
        if len(paths) == 1:
            continue
        renamed = [(unique_name(readable(p.relative_to(folder).as_posix()).replace("/", "~"), taken), p) for p in paths]
        named += renamed
        if on_clash is not None:
            on_clash(name, renamed)
    return sorted(named)


def _grade_one(item: tuple[str, Path] | Handin, config: Config, runner: Runner | None) -> Entry:
    if isinstance(item, Handin):
        entry = Entry(item.name, item.path or Path(item.source), None, source=item.source, student=item.student)
        read = item.read
    else:
        name, path = item
        entry = Entry(name, path, None)
        read = path.read_bytes
    try:
        try:
            submission = Submission(name=entry.name, data=read())
        except FileTooLarge as exc:  # the student's doing: a verdict (too large), not a grader error
            submission = Submission(name=entry.name, data=b"", size=exc.size)
        return replace(entry, result=grade(submission, config, runner=runner))
    except OSError as exc:
        return replace(entry, error=f"cannot read {entry.source or entry.path}: {exc.strerror}")
    except Exception as exc:  # a grader bug on one file must not cost the other students their grades
        return replace(entry, error=f"grader error: {type(exc).__name__}: {exc}")


def default_jobs() -> int:
    """Two submissions in flight per core. Each grading passes back and forth between the grader's thread, the
    zygote and its sandbox, so with one per core the cores wait on those hand-offs (measured: ~80% busy at one
    per core, ~87% at two; see the README's performance section)."""
    return 2 * (os.cpu_count() or 1)


def grade_folder(
    submissions: Sequence[tuple[str, Path] | Handin],
    config: Config,
    *,
    jobs: int | None = None,
    runner: Runner | None = None,
    on_done: Callable[[Entry], None] | None = None,
) -> list[Entry]:
    """Grade every submission (``(name, path)`` from :func:`discover`, or a :class:`~grader.exports.Handin` from
    :func:`~grader.exports.discover_exports`) with ``jobs`` workers (default: :func:`default_jobs`); entries in
    input order."""
    jobs = jobs or default_jobs()
    entries: dict[int, Entry] = {}
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="grade") as pool:
        futures = {pool.submit(_grade_one, item, config, runner): index for index, item in enumerate(submissions)}
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
    means: dict[str, float]
    """Mean score per question id, in the questions' order."""
    mean_score: float
    max_score: float
    by_status: dict[str, int]

    @classmethod
    def of(cls, entries: Sequence[Entry]) -> Summary:
        results = [e.result for e in entries if e.result is not None]
        n = len(results) or 1
        ids = [q.id for q in results[0].questions] if results else []
        return cls(
            count=len(entries),
            means={qid: sum(r.question(qid).score for r in results) / n for qid in ids},
            mean_score=sum(r.score for r in results) / n,
            max_score=results[0].max_score if results else 0.0,
            by_status=dict(Counter(e.row()["status"] for e in entries)),
        )
