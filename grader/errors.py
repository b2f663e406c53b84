"""One exception tree for the grader.

:class:`SubmissionError` and its subclasses are faults of the submitted file: each carries the sentence a
student should read, and :func:`grader.grade` turns them into a ``rejected`` result. :class:`GraderFault`
and its subclasses are faults of the grader itself (a broken config, a sandbox that cannot start); they
are never the student's fault and surface as an operator error at each boundary (CLI exit code 2, HTTP 500).
"""

from __future__ import annotations


class GraderError(Exception):
    """Base of every error the grader raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SubmissionError(GraderError):
    """The submitted file cannot be graded. ``message`` is written for the student."""


class EmptySubmission(SubmissionError):
    """The file has no content."""


class BinarySubmission(SubmissionError):
    """The file holds NUL bytes or is not UTF-8 text."""


class OversizedSubmission(SubmissionError):
    """The file is larger than the configured limit."""

    def __init__(self, message: str, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class SubmissionSyntaxError(SubmissionError):
    """The file is not valid Python; found without running it."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


class UnsafeArchive(SubmissionError):
    """A zip that cannot be read safely: over a cap (members, sizes, compression ratio, nesting), a path that
    leaves the archive, a link, encryption, or not a zip at all. The batch skips it with this reason."""


class NothingToGrade(GraderError):
    """A batch found no file it could grade: an empty folder, or only files it had to skip. Never a
    verdict for anyone, so no gradebook is written."""


class GraderFault(GraderError):
    """Something is wrong with the grader, not with the submission."""


class ConfigError(GraderFault):
    """The grading config could not be read or does not validate."""


class SandboxUnavailable(GraderFault):
    """The sandbox could not be started."""


class IsolationTooWeak(GraderFault):
    """The sandbox gives less isolation than the config's ``[sandbox] require_isolation``: the deployment asked
    to refuse to grade rather than run a submission with less."""
