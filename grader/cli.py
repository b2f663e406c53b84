"""``conv1d-grader``: grade one file, batch-grade a folder, or serve the web service.

The commands only parse arguments, call :func:`grader.grade` (or the batch and service layers built on it)
and print; every grader fault is translated here, once, into a message and exit code 2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

# Before NumPy and pydantic load: the grader's own process computes little (the sandboxes run the code), so
# it needs no BLAS thread pool, and it uses no pydantic plugin, whose search through every installed
# package's metadata costs a one-file `grade` tens of milliseconds.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from grader.errors import GraderError

if TYPE_CHECKING:
    from grader.batch import Entry

# Each command imports what it needs when it runs: a one-file `grade` must not pay for the batch layer, the
# service or the terminal table it does not use, and the sandbox's zygote starts before any of it loads.

_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML file with rubric, tolerances and limits (merged over the shipped defaults).",
)
_assignment_option = click.option(
    "--assignment",
    "pack_name",
    default=None,
    metavar="NAME",
    help="The assignment pack to grade against (`assignments` lists them); default: the config's `assignment`.",
)


def _translating_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except GraderError as exc:
            click.echo(f"conv1d-grader: {exc.message}", err=True)
            sys.exit(2)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="conv1d-autograder")
def main() -> None:
    """Autograder for the course's NumPy assignments (Conv1d, Linear, and any installed pack)."""


@main.command("assignments")
@_translating_errors
def assignments_command() -> None:
    """List the installed assignment packs: name, title and questions."""
    from grader.config import load_config
    from grader.registry import available, get_pack

    for name in available():
        pack = get_pack(name)
        rubric = load_config(None, name).rubric
        questions = ", ".join(f"{q.id} {q.title} ({q.points:g})" for q in pack.questions(rubric))
        click.echo(f"{name}\t{pack.title}\t{questions}")


@main.command("grade")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "gradescope"]),
    default="table",
    show_default=True,
    help="table for people, json for programs (the student view), gradescope for results.json.",
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@_config_option
@_assignment_option
@_translating_errors
def grade_command(file: Path, fmt: str, as_json: bool, config_path: Path | None, pack_name: str | None) -> None:
    """Grade one nn.py and print the verdict."""
    _prestart_sandbox()
    from grader.config import load_config
    from grader.engine import grade
    from grader.report import escape_controls, isolation_line, to_gradescope, to_json

    result = grade(file, load_config(config_path, pack_name))
    # On stderr in every format: the operator's (Gradescope shows it to instructors only), never in what students get.
    full = result.isolation is not None and result.isolation.level == "full"
    click.secho(escape_controls(isolation_line(result.isolation)), err=True, fg=None if full else "red", bold=not full)
    if as_json:
        fmt = "json"
    if fmt == "json":
        click.echo(to_json(result))
    elif fmt == "gradescope":
        import json

        click.echo(json.dumps(to_gradescope(result), indent=2))
    else:
        from rich.console import Console

        from grader.report import render

        console = Console()
        render(result, console)
        for warning in result.warnings:
            console.print(f"[bold red]WARNING:[/] {warning}")


def _prestart_sandbox() -> None:
    """Launch the sandbox's zygote first: its start (an interpreter, NumPy, a warm-up) then overlaps the
    imports the command makes next instead of following them."""
    from grader.sandbox import prestart

    prestart()


def _write_reports(folder: Path, entry: Entry) -> None:
    """``student/<name>.md`` and ``.json``: the public view, safe to send; ``instructor/<name>.md`` and
    ``.json``: everything, hidden tests' expected values included. Two folders rather than two suffixes, so
    that mailing a whole folder to students can never send an instructor report."""
    from grader.report import escape_controls, to_json, to_markdown

    student, instructor = folder / "student", folder / "instructor"
    student.mkdir(parents=True, exist_ok=True)
    instructor.mkdir(parents=True, exist_ok=True)
    if entry.result is None:  # the grader's own fault: nothing for the student until it is re-graded
        (instructor / f"{entry.name}.error.txt").write_text(f"{escape_controls(entry.error or '')}\n", "utf-8")
        return
    (student / f"{entry.name}.json").write_text(to_json(entry.result, public=True), "utf-8")
    (student / f"{entry.name}.md").write_text(to_markdown(entry.result, public=True), "utf-8")
    (instructor / f"{entry.name}.json").write_text(to_json(entry.result, public=False), "utf-8")
    (instructor / f"{entry.name}.md").write_text(to_markdown(entry.result, public=False), "utf-8")


@main.command("batch")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Submissions graded at once [default: twice the cores].",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("grades.csv"),
    show_default=True,
    help="Gradebook CSV to write.",
)
@click.option(
    "--reports",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the reports: student/<name>.md and .json to send, instructor/<name>.md and .json to keep.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["gradebook", "canvas", "moodle"]),
    default="gradebook",
    show_default=True,
    help="gradebook: ours (submission, source, q1, q2, score...); canvas: Canvas's gradebook import CSV; "
    "moodle: Moodle's grading worksheet (from a Moodle export's participant ids).",
)
@click.option(
    "--roster",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="With --format canvas: Canvas's gradebook export, to match students (else the export's Canvas IDs).",
)
@click.option(
    "--canvas-assignment",
    "assignment",
    default=None,
    help='With --format canvas: the assignment column, as Canvas heads it ("Name (id)" updates that assignment); '
    "default: the pack's gradebook name, e.g. Assignment 2 Part A.",
)
@click.option("--no-progress", is_flag=True, help="No progress bar (for logs).")
@_config_option
@_assignment_option
@_translating_errors
def batch_command(
    folder: Path,
    jobs: int | None,
    out: Path,
    reports: Path | None,
    fmt: str,
    roster: Path | None,
    assignment: str | None,
    no_progress: bool,
    config_path: Path | None,
    pack_name: str | None,
) -> None:
    """Grade every hand-in in FOLDER: *.py files, <student>/**/nn.py, a zip or tar per student, and the exports
    of Gradescope, Canvas, Moodle, Blackboard, Brightspace and GitHub Classroom, zipped or not. Write a
    gradebook, list what was not graded and why, and print a summary."""
    _prestart_sandbox()
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from grader.batch import Summary, grade_folder, readable
    from grader.batch_output import echo_skipped, refuse_empty, write_gradebook
    from grader.config import load_config
    from grader.exports import Wanted, discover_exports
    from grader.registry import get_pack
    from grader.report import escape_controls, isolation_line

    config = load_config(config_path, pack_name)
    pack = get_pack(config.assignment)
    assignment = assignment or pack.handout.gradebook_name
    discovery = discover_exports(folder, wanted=Wanted(pack.handout.filename, tuple(pack.required_names)))
    refuse_empty(folder, discovery)
    submissions = list(discovery.handins)
    console = Console(stderr=True)
    if reports is not None:
        reports.mkdir(parents=True, exist_ok=True)

    with Progress(
        TextColumn("grading"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[last]}", markup=False),  # a file name, not Rich markup
        console=console,
        disable=no_progress,
        transient=False,
    ) as progress:
        task = progress.add_task("grading", total=len(submissions), last="")

        def done(entry: Entry) -> None:
            if reports is not None:
                _write_reports(reports, entry)
            progress.update(task, advance=1, last=escape_controls(entry.name))

        entries = grade_folder(submissions, config, jobs=jobs, on_done=done)

    write_gradebook(out, entries, folder, config, fmt=fmt, roster=roster, assignment=assignment)
    summary = Summary.of(entries)
    questions = get_pack(config.assignment).questions(config.rubric)
    means = "".join(f"mean {q.id} {summary.means.get(q.id, 0.0):.2f}/{q.points:g}, " for q in questions)
    total = sum(q.points for q in questions)
    click.echo(
        f"graded {summary.count} submissions from {folder}: {means}mean total {summary.mean_score:.2f}/{total:g}"
    )
    click.echo("status: " + ", ".join(f"{status} {n}" for status, n in sorted(summary.by_status.items())))
    if reports is not None:
        click.echo(f"gradebook: {out}; reports to send in {reports / 'student'}, to keep in {reports / 'instructor'}")
    else:
        click.echo(f"gradebook: {out}")
    for line in sorted({isolation_line(e.result.isolation) for e in entries if e.result is not None}):
        full = line.startswith("isolation full")
        click.secho(escape_controls(line), err=True, fg=None if full else "red", bold=not full)  # once per kind
    warnings = {w for e in entries if e.result is not None for w in e.result.warnings}
    for warning in sorted(warnings):
        click.secho(f"WARNING: {escape_controls(warning)}", fg="red", bold=True, err=True)
    echo_skipped(discovery.skipped)  # at the end, where the progress bar cannot push them out of sight
    for note in discovery.notes:
        click.secho(escape_controls(f"WARNING: {note}"), fg="yellow", err=True)
    for entry in entries:
        if entry.error is not None:
            text = escape_controls(f"grader error on {readable(str(entry.path))}: {entry.error}")
            click.secho(text, fg="red", err=True)
    if any(e.error is not None for e in entries):
        sys.exit(1)


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=None, help="Data folder.")
@click.option(
    "--forwarded-allow-ips",
    default=None,
    help="Addresses of the reverse proxy whose X-Forwarded-For/-Proto headers are trusted (default: loopback).",
)
@_config_option
@_translating_errors
def serve_command(
    host: str, port: int, data: Path | None, config_path: Path | None, forwarded_allow_ips: str | None
) -> None:
    """Run the grading web service under uvicorn."""
    from grader.service import serve  # deferred: the CLI should not pay for FastAPI unless serving

    serve(host=host, port=port, data=data, config_path=config_path, forwarded_allow_ips=forwarded_allow_ips)


@main.group("roster")
def roster_group() -> None:
    """The web service's roster of students and their personal links."""


@roster_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--data", type=click.Path(file_okay=False, path_type=Path), default=None, help="The service's data folder."
)
@click.option("--base-url", default="", help="Prefix for the links, e.g. https://grader.example.edu")
@_translating_errors
def roster_import_command(file: Path, data: Path | None, base_url: str) -> None:
    """Add or update the students of a CSV (columns id, name, email) and print each new student's personal link.

    The links are shown this once (the database keeps only their hashes): send each student theirs. A student
    already on the roster keeps their link; `POST /roster/{id}/token` issues a new one.
    """
    import csv

    from grader.service.errors import ServiceError
    from grader.service.roster import parse_roster
    from grader.service.settings import ServiceSettings
    from grader.service.store import Store

    settings = ServiceSettings() if data is None else ServiceSettings(data=data)
    try:
        entries = parse_roster(file.read_bytes())
    except ServiceError as exc:
        click.echo(f"conv1d-grader: {exc.message}", err=True)
        sys.exit(2)
    store = Store(settings.database())
    try:
        issued = store.import_students([(e.id, e.name, e.email) for e in entries])
    finally:
        store.close()
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["id", "name", "email", "link"])
    prefix = base_url.rstrip("/")
    for student, token in issued:
        writer.writerow([student.id, student.name, student.email, f"{prefix}/s/{token}" if token else ""])
    kept = sum(token is None for _, token in issued)
    summary = f"{len(issued)} students; {len(issued) - kept} new links" + (f", {kept} kept theirs" if kept else "")
    click.echo(summary, err=True)


@main.group("gradescope")
def gradescope_group() -> None:
    """Gradescope: build the autograder zip; `run` is what its run_autograder calls in the container."""


@gradescope_group.command("build")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default="autograder.zip", show_default=True)
@_config_option
@click.option("--include-key", is_flag=True, help="Ship the hidden-case key (else each container makes its own).")
@_translating_errors
def gradescope_build_command(out: Path, config_path: Path | None, include_key: bool) -> None:
    """Write the zip to upload as a Gradescope programming assignment's autograder."""
    from grader.platforms.gradescope import build

    click.echo(f"wrote {out}: {', '.join(build(out, config_path, include_key))}")


@gradescope_group.command("run")
@_translating_errors
def gradescope_run_command() -> None:
    """Grade $AUTOGRADER_ROOT/submission (default /autograder) and write results/results.json."""
    from grader.platforms.gradescope import run

    sys.exit(run())


@main.command("prairielearn")
@_translating_errors
def prairielearn_command() -> None:
    """PrairieLearn external grader: grade $GRADE_ROOT/student (default /grade), write results/results.json."""
    from grader.platforms.prairielearn import run

    sys.exit(run())


@main.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="The findings as JSON.")
@_translating_errors
def doctor_command(as_json: bool) -> None:
    """Say what this host supports, what the sandbox will enforce here, and the fix for each gap. Exit 0 when
    the isolation is full, 1 otherwise (2: the sandbox could not start at all)."""
    from grader.doctor import run_doctor

    sys.exit(run_doctor(as_json=as_json))
