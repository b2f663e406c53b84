"""A submitted file and the checks made on it before anything runs.

The checks here are cheap and bounded by the upload limit (size, NUL bytes, UTF-8, a notebook by mistake):
they run in the grader's process. Parsing and compiling the file are not: a file can be built to take
seconds and gigabytes to compile, so that happens in the sandbox, under its limits, and a syntax error
comes back from there as the load's failure (:func:`syntax_error_message`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.errors import (
    BinarySubmission,
    EmptySubmission,
    OversizedSubmission,
    SubmissionSyntaxError,
)

FILENAME = "nn.py"
"""The name the submission's code runs under, whatever the uploaded file was called."""


@dataclass(frozen=True)
class Submission:
    """The bytes of one hand-in and the name it is reported under."""

    name: str
    data: bytes
    size: int | None = None
    """The file's whole size when only its beginning was read (a file too large to read whole); else None and
    the size is ``len(data)``."""

    @classmethod
    def from_path(cls, path: str | Path, name: str | None = None) -> Submission:
        """Read a file; its name defaults to the handin folder for ``.../<student>/nn.py``, else the stem."""
        path = Path(path)
        if name is None:
            name = path.parent.name if path.name == FILENAME and path.parent.name else path.stem
        return cls(name=name, data=path.read_bytes())


def _line_excerpt(source: str, line: int | None) -> str:
    if line is None:
        return ""
    lines = source.splitlines()
    if 1 <= line <= len(lines):
        return f"\n    {line} | {lines[line - 1].rstrip()[:120]}"
    return ""


def syntax_error_message(source: str, kind: str, message: str, line: int | None) -> str:
    """What a student reads when the sandbox's compile of ``source`` raised ``kind``."""
    if kind in ("MemoryError", "RecursionError"):
        # The parser's and the compiler's guards against nesting deep enough to overflow the C stack, or a file
        # so large that compiling it ran out of the sandbox's memory.
        return (
            "nn.py nests expressions or blocks too deeply for Python to compile it, or is far larger than a "
            "hand-written file. Split the deepest expression into several statements."
        )
    where = f"line {line}" if line else "an unknown line"
    return f"nn.py is not valid Python: {kind} at {where}: {message}.{_line_excerpt(source, line)}"


def checked_source(submission: Submission, max_bytes: int) -> str:
    """The submission's text, or a :class:`~grader.errors.SubmissionError` naming what is wrong with it.

    Nothing is parsed or executed here; see the module's docstring.
    """
    data = submission.data
    size = len(data) if submission.size is None else max(submission.size, len(data))
    if size > max_bytes:
        raise OversizedSubmission(
            f"The file is {size:,} bytes; the limit is {max_bytes:,} bytes. Hand in only nn.py, "
            "without data or outputs pasted into it.",
            size=size,
            limit=max_bytes,
        )
    if not data.strip():
        raise EmptySubmission("The file is empty. Hand in the nn.py you wrote.")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise BinarySubmission(
            f"The file contains NUL bytes (first at byte {nul}), so it is binary, not a "
            "Python source file. Hand in the text file nn.py, not an archive, notebook export or .pyc."
        )
    try:
        source = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BinarySubmission(
            f"The file is not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at position {exc.start}). "
            "Save nn.py as UTF-8."
        ) from None
    if source.lstrip().startswith("{") and '"nbformat"' in source:
        raise SubmissionSyntaxError(
            "The file is a Jupyter notebook (.ipynb), not Python. Hand in mytorch/nn.py itself.", line=None
        )
    return source
