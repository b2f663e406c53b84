"""What ``batch`` says and writes beyond grading: the skipped files, the gradebook in the format asked for,
written so that a failed or empty batch never replaces a gradebook that was there.

Kept out of :mod:`grader.cli` so that the CLI's start-up pays for none of it unless ``batch`` runs.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import click

from grader.batch import Entry
from grader.config import Config
from grader.errors import GraderError
from grader.exports import Discovery, Skipped
from grader.registry import get_pack
from grader.report import escape_controls, gradebook_columns, gradebook_csv


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``: a reader (or a crash
    half-way) sees the old file or the new one, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def echo_skipped(skipped: Sequence[Skipped]) -> None:
    """Each skipped file with its reason, on stderr; the other files of a graded hand-in (a student's whole
    mytorch/ folder) are counted per folder rather than listed one per line, and so is what an operating
    system, git or an export adds by itself (``__MACOSX/``, ``.DS_Store``, ``.git/``)."""
    beside: Counter[str] = Counter()
    noise = 0
    for item in skipped:
        if item.noise:
            noise += 1
            continue
        if item.beside:
            beside[item.source.split("/")[0].split("!")[0]] += 1
            continue
        click.secho(escape_controls(f"not graded: {item.source}: {item.reason}"), fg="yellow", err=True)
    for top, count in sorted(beside.items()):
        files = "file" if count == 1 else "files"
        click.echo(escape_controls(f"not graded: {count} other {files} in {top} beside its nn.py"), err=True)
    if noise:
        entries = "entry" if noise == 1 else "entries"
        click.echo(f"not graded: {noise} system {entries} (macOS, Windows, git, the export's own index)", err=True)


def refuse_empty(folder: Path, discovery: Discovery) -> None:
    """Stop (exit 3) before grading when nothing can be graded, saying why; the gradebook is left alone."""
    if discovery.handins:
        return
    echo_skipped(discovery.skipped)
    if discovery.skipped:
        message = f"nothing to grade in {folder}: every file was skipped (see above)"
    else:
        message = f"nothing to grade in {folder}: it is empty"
    click.secho(f"conv1d-grader: {message}; no gradebook written", fg="red", err=True)
    raise SystemExit(3)


def write_gradebook(
    out: Path,
    entries: Sequence[Entry],
    folder: Path,
    config: Config,
    *,
    fmt: str,
    roster: Path | None,
    assignment: str,
) -> None:
    """The gradebook at ``out``: ours (``gradebook``), Canvas's import CSV (``canvas``) or Moodle's grading
    worksheet (``moodle``)."""
    if fmt == "gradebook":
        questions = [q.id for q in get_pack(config.assignment).questions(config.rubric)]
        write_atomically(out, gradebook_csv((e.row(folder) for e in entries), gradebook_columns(questions)))
        return
    if fmt == "moodle":
        from grader.moodle import moodle_worksheet

        sheet = moodle_worksheet(entries, get_pack(config.assignment).max_score(config.rubric))
        if len(sheet.unmatched) == len(entries):
            raise GraderError("no submission could be written to Moodle's worksheet: none came from a Moodle export")
        write_atomically(out, sheet.csv)
        for name, why in sheet.unmatched:
            click.secho(
                escape_controls(f"WARNING: {name} is not in the Moodle worksheet: {why}"), fg="yellow", err=True
            )
        return
    from grader.canvas import canvas_gradebook, read_roster

    points = get_pack(config.assignment).max_score(config.rubric)
    book = canvas_gradebook(entries, assignment, points, read_roster(roster) if roster is not None else None)
    if len(book.unmatched) == len(entries):
        raise GraderError(
            "no submission could be matched to a Canvas student: the file names carry no Canvas ID (grade a Canvas "
            "export) and no --roster was given, or none of its students matched"
        )
    write_atomically(out, book.csv)
    why = "no roster student matches it" if roster is not None else "it carries no Canvas ID (give --roster)"
    for name in book.unmatched:
        click.secho(escape_controls(f"WARNING: {name} is not in the Canvas CSV: {why}"), fg="yellow", err=True)
