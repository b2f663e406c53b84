"""What discovery hands the batch: hand-ins, skipped files with their reasons, and who each hand-in is."""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from grader.submission import FILENAME

NOTEBOOK_REASON = "a notebook, not nn.py: export it as a .py (File > Download as > Python) and hand that in"


@dataclass(frozen=True)
class Wanted:
    """What a hand-in is, for the assignment graded: the file's name, and the names it defines (a file that
    defines none of them is not picked unless it has the file's name)."""

    filename: str = FILENAME
    defines: tuple[str, ...] = ()
    """Top-level names (classes, functions) that mark a file as the hand-in, e.g. ``Conv1d``; searched for in
    the bytes, never by parsing or compiling the file (see :mod:`grader.exports.choose`)."""


@dataclass(frozen=True)
class Student:
    """Who a hand-in belongs to, as far as its export says (empty where it says nothing)."""

    name: str = ""
    """As the export shows it: Canvas's sortable-name slug (``smithbob``), Gradescope's submitter names, Moodle's
    and Brightspace's full name, Blackboard's name from its receipt, a GitHub Classroom username."""
    canvas_id: str = ""
    """Canvas's user id, from a Canvas export's file names."""
    sis_id: str = ""
    """The institution's student id (Gradescope's ``:sid:``)."""
    email: str = ""
    """Gradescope's submitter email."""
    platform: str = ""
    """The export the hand-in came from: ``canvas``, ``gradescope``, ``moodle``, ``blackboard``, ``brightspace``,
    ``github-classroom``; empty for a plain folder, file or archive."""
    username: str = ""
    """The login: Blackboard's username, a GitHub Classroom repository's GitHub user."""
    lms_id: str = ""
    """The platform's own id for the student where it is not Canvas's: Moodle's participant id, Brightspace's
    ``<submission id>-<user id>`` pair."""


@dataclass(frozen=True)
class Handin:
    """One file to grade and where it came from."""

    name: str
    """The submission's name in the gradebook and the reports' file names; unique within a batch."""
    source: str
    """Where it is, for people: a path inside the batch folder, ``!`` stepping into an archive
    (``carol.zip!hw2/nn.py``)."""
    path: Path | None = None
    """The file on disk; None for a member of an archive."""
    data: bytes | None = None
    """The bytes of an archive member (read when found: archives are never extracted)."""
    student: Student = field(default_factory=Student)
    """Who handed it in, when the export says."""
    note: str = ""
    """What a TA should know about how it was picked (another ``nn.py`` beside it, a late upload)."""
    max_bytes: int = 64 << 20
    """The most read from ``path`` (a file on disk may be anything, a 10 GB one included)."""

    def read(self) -> bytes:
        """The bytes to grade; a file on disk is read without following a link, within ``max_bytes``."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        return read_regular(self.path, self.max_bytes)


@dataclass(frozen=True)
class Skipped:
    """A file (or folder, or archive) the batch did not grade, and why."""

    source: str
    reason: str
    beside: bool = False
    """True for the other files of a hand-in whose ``nn.py`` was graded: listed, but only counted on screen."""
    noise: bool = False
    """True for what an operating system, a version control system or an export adds by itself (``__MACOSX/``,
    ``.DS_Store``, ``Thumbs.db``, ``.git/``, Brightspace's ``index.html``): listed, only counted on screen."""


@dataclass(frozen=True)
class Discovery:
    """Everything found in a batch folder."""

    handins: tuple[Handin, ...]
    skipped: tuple[Skipped, ...]
    notes: tuple[str, ...] = ()
    """Name clashes and choices between several candidates."""


class FileTooLarge(OSError):
    """A hand-in larger than the grader reads: graded as a file of ``size`` bytes (rejected as too large),
    without reading it."""

    def __init__(self, size: int, max_bytes: int) -> None:
        super().__init__(errno.EFBIG, f"{size:,} bytes, more than the {max_bytes:,} a hand-in is read to")
        self.size = size


def read_regular(path: Path, max_bytes: int) -> bytes:
    """A regular file's bytes, opened without following a final symbolic link (a link swapped in after
    discovery must not lead the grader out of the batch folder), at most ``max_bytes`` of them."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if info.st_size > max_bytes:
            raise FileTooLarge(info.st_size, max_bytes)
        return handle.read(max_bytes + 1)


def readable(name: str) -> str:
    """A file name as text that can be shown and written anywhere: bytes that are not UTF-8 (which Python
    keeps as lone surrogates, which no UTF-8 file, JSON or terminal accepts) become ``\\xff`` escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def is_nn(name: str) -> bool:
    """``nn.py`` in any case."""
    return name.lower() == FILENAME


def safe_name(name: str) -> str:
    """A submission name usable as a report's file name: no path separators (an export's submitter name may
    hold one). Anything else stays as it was: the reports and gradebook escape it where it is shown."""
    cleaned = readable(re.sub(r"[/\x00]+", "_", name))
    return cleaned if cleaned.strip(". ") else "unnamed"


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name~2``, ``name~3``... if a submission of that very name is also in the folder."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}~{n}"
    taken.add(candidate)
    return candidate
