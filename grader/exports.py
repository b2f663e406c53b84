"""What a batch grades in a folder of hand-ins, whatever layout an LMS or a TA gave it.

Layouts found in one folder, side by side:

* loose files: ``alice.py``, ``frank.PY`` (any case of the extension), named by the stem;
* a folder per student: ``bob/NN.py``, ``carol/hw2/nn.py``, ``alice/mytorch/nn.py`` (``nn.py`` in any case,
  at any depth: the shallowest wins, and a note names the others), named by the folder;
* a zip per student: ``carol.zip`` holding ``nn.py`` somewhere (or one zip inside it), named by the stem;
* a Gradescope "export submissions" zip: one folder, ``submission_metadata.yml`` in it and a
  ``submission_<id>/`` folder per submission, named by the submitters in the metadata;
* a Canvas "download submissions" zip: flat files named ``<name>[_LATE]_<user id>_<file id>_<file name>``,
  where Canvas renames a re-uploaded ``nn.py`` to ``nn-1.py``, ``nn-2.py``...: the latest upload wins (the
  highest file id, which Canvas hands out in order).

Every file that is not graded comes back as a :class:`Skipped` with the reason, so that nobody's work
vanishes without a word. Zips are read in memory within caps (:mod:`grader.archive`); one that breaks a cap
is a skipped entry with the reason.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from grader.archive import DEFAULT_LIMITS, SafeZip, ZipLimits, is_zip_name, open_nested
from grader.errors import GraderError, UnsafeArchive
from grader.submission import FILENAME

NOTEBOOK_REASON = "a notebook, not nn.py: export it as a .py (File > Download as > Python) and hand that in"


@dataclass(frozen=True)
class Student:
    """Who a hand-in belongs to, as far as its export says (empty where it says nothing)."""

    name: str = ""
    """As the export shows it: Canvas's sortable-name slug (``smithbob``), Gradescope's submitter names."""
    canvas_id: str = ""
    """Canvas's user id, from a Canvas export's file names."""
    sis_id: str = ""
    """The institution's student id (Gradescope's ``:sid:``)."""
    email: str = ""
    """Gradescope's submitter email."""


@dataclass(frozen=True)
class Handin:
    """One file to grade and where it came from."""

    name: str
    """The submission's name in the gradebook and the reports' file names; unique within a batch."""
    source: str
    """Where it is, for people: a path inside the batch folder, ``!`` stepping into a zip
    (``carol.zip!hw2/nn.py``)."""
    path: Path | None = None
    """The file on disk; None for a member of a zip."""
    data: bytes | None = None
    """The bytes of a zip member (read when found: zips are never extracted)."""
    student: Student = field(default_factory=Student)
    """Who handed it in, when the export says."""
    note: str = ""
    """What a TA should know about how it was picked (another ``nn.py`` beside it, a late upload)."""

    def read(self) -> bytes:
        """The bytes to grade."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()


@dataclass(frozen=True)
class Skipped:
    """A file (or folder, or zip) the batch did not grade, and why."""

    source: str
    reason: str
    beside: bool = False
    """True for the other files of a hand-in whose ``nn.py`` was graded: listed, but only counted on screen."""


@dataclass(frozen=True)
class Discovery:
    """Everything found in a batch folder."""

    handins: tuple[Handin, ...]
    skipped: tuple[Skipped, ...]
    notes: tuple[str, ...] = ()
    """Name clashes and choices between several candidates."""


def readable(name: str) -> str:
    """A file name as text that can be shown and written anywhere: bytes that are not UTF-8 (which Python
    keeps as lone surrogates, which no UTF-8 file, JSON or terminal accepts) become ``\\xff`` escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def is_nn(name: str) -> bool:
    """``nn.py`` in any case."""
    return name.lower() == FILENAME


def _safe_name(name: str) -> str:
    """A submission name usable as a report's file name: no path separators (an export's submitter name may
    hold one). Anything else stays as it was: the reports and gradebook escape it where it is shown."""
    cleaned = readable(re.sub(r"[/\x00]+", "_", name))
    return cleaned if cleaned.strip(". ") else "unnamed"


def _shallowest(paths: Iterable[PurePosixPath]) -> list[PurePosixPath]:
    """``paths`` from the shallowest, then by path: the first is the one graded."""
    return sorted(paths, key=lambda p: (len(p.parts), p.as_posix().lower(), p.as_posix()))


def _ignored(path: PurePosixPath) -> bool:
    """macOS's resource-fork shadows: never a student's file, always noise."""
    return "__MACOSX" in path.parts or path.name == ".DS_Store"


@dataclass
class _Collector:
    found: list[Handin] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def skip(self, source: str, reason: str, *, beside: bool = False) -> None:
        self.skipped.append(Skipped(readable(source), reason, beside))


def discover_exports(folder: str | Path, limits: ZipLimits = DEFAULT_LIMITS) -> Discovery:
    """Every hand-in in ``folder`` in any of the module's layouts, with each skipped file and why."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GraderError(f"{folder} is not a folder")
    out = _Collector()
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        source = entry.name
        if entry.is_symlink():
            out.skip(source, "a symbolic link: not followed (copy the file itself into the folder)")
        elif entry.is_dir():
            _student_folder(entry, out)
        elif not entry.is_file():
            out.skip(source, "not a regular file")
        elif entry.suffix.lower() == ".py":
            out.found.append(Handin(_safe_name(entry.stem), source, path=entry))
        elif entry.suffix.lower() == ".ipynb":
            out.skip(source, NOTEBOOK_REASON)
        elif is_zip_name(entry.name):
            _zip_file(entry, out, limits)
        elif not _ignored(PurePosixPath(entry.name)):
            out.skip(
                source,
                f"not a submission ({entry.suffix or 'no extension'}): only .py files, student folders "
                "and zips are graded",
            )
    handins, clash_notes = _unique_names(out.found)
    return Discovery(tuple(handins), tuple(out.skipped), tuple(out.notes + clash_notes))


def _student_folder(folder: Path, out: _Collector) -> None:
    """``<student>/**/nn.py``: the shallowest ``nn.py`` in any case; else a zip inside; else why not."""
    files: list[PurePosixPath] = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        rel = PurePosixPath(Path(root).relative_to(folder.parent).as_posix())
        files += [rel / n for n in sorted(names) if not _ignored(rel / n)]
    name = _safe_name(folder.name)
    candidates = _shallowest(p for p in files if is_nn(p.name))
    if candidates:
        chosen = candidates[0]
        note = _several_note(chosen.as_posix(), [c.as_posix() for c in candidates[1:]])
        if note:
            out.notes.append(note)
        out.found.append(Handin(name, chosen.as_posix(), path=folder.parent / chosen, note=note))
        for other in files:
            if other != chosen:
                reason = (
                    f"another nn.py: {chosen.as_posix()} is graded (the shallowest)"
                    if is_nn(other.name)
                    else f"not nn.py ({chosen.as_posix()} is the hand-in)"
                )
                out.skip(other.as_posix(), reason, beside=not is_nn(other.name))
        return
    if not files:
        out.skip(f"{folder.name}/", "an empty folder: no nn.py in it")
        return
    zips = [p for p in files if is_zip_name(p.name)]
    for zipped in zips:
        before = len(out.found)
        _zip_file(folder.parent / zipped, out, DEFAULT_LIMITS, name=name, source=zipped.as_posix())
        if len(out.found) > before:
            for other in files:
                if other != zipped:
                    out.skip(other.as_posix(), f"not nn.py ({zipped.as_posix()} holds the hand-in)", beside=True)
            return
    for path in files:
        if path in zips:
            continue
        out.skip(path.as_posix(), _why_not(path.name))


def _why_not(name: str) -> str:
    """Why a file in a hand-in is not graded, said so that the student knows what to do."""
    lower = name.lower()
    if lower.endswith(".ipynb"):
        return NOTEBOOK_REASON
    if lower.endswith(".py"):
        return f"a .py file not named {FILENAME}: rename it {FILENAME}"
    if lower.endswith(".pyc"):
        return f"compiled Python, not source: hand in {FILENAME}"
    return f"not {FILENAME}"


def _several_note(chosen: str, others: Sequence[str]) -> str:
    if not others:
        return ""
    return f"{len(others) + 1} files named nn.py: graded {chosen} (the shallowest), not {', '.join(others)}"


# Canvas: "<sortable name slug>[_LATE]_<user id or anon_id>_<attachment id>_<display name>"; the slug has no
# "_<digits>_" in it (Canvas strips that so that its own re-upload can find the ids), so the first match is right.
_CANVAS_FILE = re.compile(r"^(?P<name>.+?)(?P<late>_LATE)?_(?P<uid>\d+|anon_[A-Za-z0-9]+)_(?P<fid>\d+)_(?P<file>.+)$")
_CANVAS_TEXT = re.compile(r"^(?P<name>.+?)(?:_LATE)?_(?P<uid>\d+|anon_[A-Za-z0-9]+)_(?:text|link)\.html$")
# A re-uploaded nn.py: Canvas's "nn-1.py", a browser's "nn (1).py".
_NN_NUMBERED = re.compile(r"^nn(?:-(?P<n>\d+)| ?\((?P<m>\d+)\))?\.py$", re.IGNORECASE)


def _zip_file(
    path: Path, out: _Collector, limits: ZipLimits, *, name: str | None = None, source: str | None = None
) -> None:
    """A zip in the batch folder: a Gradescope export, a Canvas export or one student's zip."""
    source = source or path.name
    try:
        with SafeZip(path, limits) as archive:
            paths = [p for p in archive.paths if not _ignored(p)]
            if name is None and _gradescope_metadata(paths) is not None:
                _gradescope_export(archive, paths, source, out, limits)
            elif name is None and any(len(p.parts) == 1 and _CANVAS_FILE.match(p.name) for p in paths):
                _canvas_export(archive, paths, source, out, limits)
            else:
                _student_zip(archive, paths, name or _safe_name(path.stem), source, out, limits, depth=0)
    except UnsafeArchive as exc:
        out.skip(source, f"a zip that cannot be read safely: {exc.message}")
    except OSError as exc:
        out.skip(source, f"cannot be read: {exc.strerror}")


def _student_zip(
    archive: SafeZip,
    paths: list[PurePosixPath],
    name: str,
    source: str,
    out: _Collector,
    limits: ZipLimits,
    *,
    depth: int,
    student: Student | None = None,
    note: str = "",
) -> bool:
    """One student's zip (or a folder of an export): its shallowest ``nn.py``, else one inside a zip in it.

    Returns whether a hand-in was found; when not, every file in it is skipped with the reason.
    """
    candidates = _shallowest(p for p in paths if is_nn(p.name))
    if candidates:
        chosen = candidates[0]
        several = _several_note(f"{source}!{chosen}", [f"{source}!{c}" for c in candidates[1:]])
        if several:
            out.notes.append(several)
        notes = "; ".join(n for n in (note, several) if n)
        out.found.append(
            Handin(name, f"{source}!{chosen}", data=archive.read(chosen), student=student or Student(), note=notes)
        )
        for other in paths:
            if other != chosen:
                out.skip(f"{source}!{other}", f"not the hand-in ({source}!{chosen} is)", beside=not is_nn(other.name))
        return True
    for zipped in (p for p in paths if is_zip_name(p.name)):
        inner_source = f"{source}!{zipped}"
        try:
            with open_nested(archive.read(zipped), depth + 1, limits) as inner:
                inner_paths = [p for p in inner.paths if not _ignored(p)]
                if _student_zip(
                    inner, inner_paths, name, inner_source, out, limits, depth=depth + 1, student=student, note=note
                ):
                    return True
        except UnsafeArchive as exc:
            out.skip(inner_source, f"a zip that cannot be read safely: {exc.message}")
            return False
    if not paths:
        out.skip(source, "an empty zip: no nn.py in it")
    for path in paths:
        if not is_zip_name(path.name):
            out.skip(f"{source}!{path}", _why_not(path.name))
    return False


def _gradescope_metadata(paths: list[PurePosixPath]) -> PurePosixPath | None:
    for path in paths:
        if path.name == "submission_metadata.yml" and len(path.parts) <= 2:
            return path
    return None


def _gradescope_export(
    archive: SafeZip, paths: list[PurePosixPath], source: str, out: _Collector, limits: ZipLimits
) -> None:
    """Gradescope's export: ``<root>/submission_metadata.yml`` and a ``<root>/submission_<id>/`` per submission."""
    metadata_path = _gradescope_metadata(paths)
    assert metadata_path is not None
    root = metadata_path.parent
    submitters = parse_gradescope_metadata(archive.read(metadata_path).decode("utf-8", "replace"))
    folders: dict[str, list[PurePosixPath]] = {}
    for path in paths:
        if path == metadata_path:
            continue
        inner = PurePosixPath(*path.parts[len(root.parts) :])
        if len(inner.parts) < 2:
            out.skip(f"{source}!{path}", "not inside a submission folder")
            continue
        folders.setdefault(inner.parts[0], []).append(path)
    for folder in sorted(set(folders) | set(submitters)):
        people = submitters.get(folder, [])
        student = Student(
            name=" + ".join(p.get("name", "") for p in people if p.get("name")),
            sis_id=" + ".join(p.get("sid", "") for p in people if p.get("sid")),
            email=" + ".join(p.get("email", "") for p in people if p.get("email")),
        )
        name = _safe_name(student.name or student.sis_id or folder)
        members = folders.get(folder, [])
        folder_source = f"{source}!{(root / folder).as_posix()}"
        if not members:
            out.skip(folder_source + "/", f"{student.name or folder}: the submission has no files")
            continue
        _student_zip(archive, members, name, source, out, limits, depth=0, student=student)


def parse_gradescope_metadata(text: str) -> dict[str, list[dict[str, str]]]:
    """The submitters of each submission folder in Gradescope's ``submission_metadata.yml``.

    Only the shape Gradescope writes is read (``submission_<id>:`` at the left margin, a ``:submitters:`` list
    of ``- :name:``, ``:sid:``, ``:email:``), which spares the project a YAML library for one file. Anything
    else in the file is ignored; a file it cannot make sense of gives no names, and folders keep their own.
    """
    result: dict[str, list[dict[str, str]]] = {}
    current: str | None = None
    list_indent: int | None = None
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        line = raw.strip()
        if indent == 0:
            current = line[:-1].strip().strip("'\"") if line.endswith(":") else None
            list_indent = None
            if current is not None:
                result[current] = []
            continue
        if current is None:
            continue
        if line == ":submitters:":
            list_indent = indent
            continue
        if list_indent is None:
            continue
        if indent <= list_indent and not line.startswith("- "):
            list_indent = None  # the next key of the submission: the list is over
            continue
        if line.startswith("- "):
            result[current].append({})
            line = line[2:].strip()
        match = re.match(r"^:(\w+):\s*(.*)$", line)
        if match and result[current]:
            result[current][-1][match.group(1)] = _yaml_scalar(match.group(2))
    return result


def _yaml_scalar(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value


def _canvas_export(
    archive: SafeZip, paths: list[PurePosixPath], source: str, out: _Collector, limits: ZipLimits
) -> None:
    """Canvas's "download submissions": per student, the latest ``nn.py`` (or zip with one inside)."""
    by_student: dict[str, list[tuple[re.Match[str], PurePosixPath]]] = {}
    for path in paths:
        match = _CANVAS_FILE.match(path.name) if len(path.parts) == 1 else None
        if match is None:
            text = _CANVAS_TEXT.match(path.name) if len(path.parts) == 1 else None
            reason = (
                "a text entry or link submitted on Canvas, not a file: ask for nn.py as a file upload"
                if text
                else "not named as Canvas names submission files (<name>_<user id>_<file id>_<file name>)"
            )
            out.skip(f"{source}!{path}", reason)
            continue
        by_student.setdefault(match.group("uid"), []).append((match, path))
    for uid, uploads in sorted(by_student.items()):
        # Latest first: Canvas's attachment ids grow with time; the -N suffix breaks a tie.
        uploads.sort(key=lambda mp: (int(mp[0].group("fid")), _upload_number(mp[0].group("file"))), reverse=True)
        slug = uploads[0][0].group("name")
        late = any(m.group("late") for m, _ in uploads)
        student = Student(name=slug, canvas_id=uid if uid.isdigit() else "")
        note = "submitted late (Canvas)" if late else ""
        nns = [(m, p) for m, p in uploads if _NN_NUMBERED.match(m.group("file"))]
        zips = [(m, p) for m, p in uploads if is_zip_name(m.group("file"))]
        chosen: PurePosixPath | None = None
        if nns:
            chosen = nns[0][1]
            out.found.append(
                Handin(_safe_name(slug), f"{source}!{chosen}", data=archive.read(chosen), student=student, note=note)
            )
        else:
            for _, zipped in zips:
                inner_source = f"{source}!{zipped}"
                try:
                    with open_nested(archive.read(zipped), 1, limits) as inner:
                        inner_paths = [p for p in inner.paths if not _ignored(p)]
                        if _student_zip(
                            inner,
                            inner_paths,
                            _safe_name(slug),
                            inner_source,
                            out,
                            limits,
                            depth=1,
                            student=student,
                            note=note,
                        ):
                            chosen = zipped
                            break
                except UnsafeArchive as exc:
                    out.skip(inner_source, f"a zip that cannot be read safely: {exc.message}")
        for match, path in uploads:
            if path == chosen or (chosen is None and path in [z for _, z in zips]):
                continue
            if chosen is not None:
                graded = f"{source}!{chosen}"
                reason = (
                    f"an earlier upload by the same student ({graded} is the latest)"
                    if _NN_NUMBERED.match(match.group("file"))
                    else f"not the hand-in ({graded} is)"
                )
                out.skip(f"{source}!{path}", reason, beside=not _NN_NUMBERED.match(match.group("file")))
            else:
                out.skip(f"{source}!{path}", _why_not(match.group("file")))


def _upload_number(display_name: str) -> int:
    match = _NN_NUMBERED.match(display_name)
    if match is None:
        return -1
    return int(match.group("n") or match.group("m") or 0)


def _unique_names(found: list[Handin]) -> tuple[list[Handin], list[str]]:
    """Hand-ins sorted by name, each name unique: where several share one, each is named after its source
    (``/`` and ``!`` written ``~``) and a note names them all."""
    by_name: dict[str, list[Handin]] = {}
    found = [replace(h, source=readable(h.source)) for h in found]
    for handin in sorted(found, key=lambda h: h.source):
        by_name.setdefault(handin.name, []).append(handin)
    taken = {name for name, group in by_name.items() if len(group) == 1}
    named = [group[0] for group in by_name.values() if len(group) == 1]
    notes = []
    for name, group in by_name.items():
        if len(group) == 1:
            continue
        renamed = [replace(h, name=unique_name(re.sub(r"[/!]", "~", h.source), taken)) for h in group]
        named += renamed
        files = ", ".join(f"{h.source} as {h.name}" for h in renamed)
        notes.append(f'{len(renamed)} submissions are named "{name}": graded {files}')
    return sorted(named, key=lambda h: h.name), notes


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name~2``, ``name~3``... if a submission of that very name is also in the folder."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}~{n}"
    taken.add(candidate)
    return candidate
