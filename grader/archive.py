"""Reading zips that students and LMS exports hand us, in memory, within caps.

A zip is untrusted bytes: its directory can name ``../../etc/cron.d/x`` or ``/root/.ssh/authorized_keys``,
declare a symlink, claim one size and inflate to another, hold a 10 GB member that compresses to 10 MB, or
nest zips inside zips. Nothing here ever writes a member to disk: :class:`SafeZip` checks the whole central
directory against :class:`ZipLimits` first and refuses the whole archive (:class:`~grader.errors.UnsafeArchive`,
with the reason) at the first broken rule; then it reads only the members asked for, into memory, with a
bounded read.
A refused archive is one skipped entry of a batch, never a crash and never a partial grade.
"""

from __future__ import annotations

import io
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.errors import UnsafeArchive


@dataclass(frozen=True)
class ZipLimits:
    """What an archive may hold. The defaults fit a whole class's Canvas or Gradescope export of a
    one-file assignment with room to spare, and stop a zip bomb long before it costs real memory."""

    max_members: int = 5000
    """Entries in one archive (folders included)."""
    max_member_bytes: int = 64 << 20
    """Uncompressed size of one member: a student's zip inside a Canvas export is one member."""
    max_total_bytes: int = 1 << 30
    """Uncompressed size of all members of one archive together (only the members needed are ever read)."""
    max_ratio: float = 200.0
    """Uncompressed / compressed size of a member, checked from 1 MiB up (small text compresses well;
    a bomb needs both a big size and a big ratio)."""
    max_depth: int = 1
    """Zips inside a zip that are opened: 1 reads a student's zip inside an export, and refuses a zip inside
    that."""


DEFAULT_LIMITS = ZipLimits()
_RATIO_FROM_BYTES = 1 << 20


def is_zip_name(name: str) -> bool:
    """Whether a file name says zip (any case)."""
    return name.lower().endswith(".zip")


def _checked_path(info: zipfile.ZipInfo) -> PurePosixPath:
    """The member's path, or :class:`UnsafeArchive` if it could land outside a folder it were extracted to."""
    name = info.filename
    if "\\" in name:
        # Windows tools write backslashes; a path with both kinds could mean anything on some other reader.
        name = name.replace("\\", "/")
    path = PurePosixPath(name)
    if path.is_absolute() or (path.parts and ":" in path.parts[0]) or ".." in path.parts:
        raise UnsafeArchive(f'it has a member whose path leaves the archive ("{info.filename}")')
    if "\x00" in name:
        raise UnsafeArchive("it has a member whose name holds a NUL byte")
    return path


def _is_link(info: zipfile.ZipInfo) -> bool:
    # Unix tools keep the file mode in the high 16 bits of the external attributes.
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


class SafeZip:
    """A zip whose central directory passed every check of :class:`ZipLimits`; members are read one at a time,
    on demand, so memory holds only what the caller asks for (an export's PDFs are never read)."""

    def __init__(self, source: bytes | Path, limits: ZipLimits = DEFAULT_LIMITS) -> None:
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise UnsafeArchive(f"it is not a readable zip ({exc})") from None
        try:
            self._infos = _checked(self._zip.infolist(), limits)
        except UnsafeArchive:
            self._zip.close()
            raise

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self._zip.close()

    @property
    def paths(self) -> list[PurePosixPath]:
        """Every regular file's path, in archive order."""
        return list(self._infos)

    def read(self, path: PurePosixPath) -> bytes:
        """The bytes of the member at ``path``."""
        info = self._infos[path]
        try:
            with self._zip.open(info) as handle:
                # zipfile stops at the declared size and checks the CRC at the end, so a member whose data
                # disagrees with its header fails here; the bounded read is the last word on memory.
                data = handle.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
            raise UnsafeArchive(f'its member "{info.filename}" cannot be read ({exc})') from None
        if len(data) > info.file_size:
            raise UnsafeArchive(f'its member "{info.filename}" is larger than its header says')
        return data


def _checked(infos: list[zipfile.ZipInfo], limits: ZipLimits) -> dict[PurePosixPath, zipfile.ZipInfo]:
    """The regular files by path, once the whole directory obeys ``limits`` (else :class:`UnsafeArchive`)."""
    if len(infos) > limits.max_members:
        raise UnsafeArchive(f"it has {len(infos):,} members; the limit is {limits.max_members:,}")
    total = 0
    files: dict[PurePosixPath, zipfile.ZipInfo] = {}
    for info in infos:
        path = _checked_path(info)
        if _is_link(info):
            raise UnsafeArchive(f'it has a symbolic link ("{info.filename}")')
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise UnsafeArchive(f'it has an encrypted member ("{info.filename}")')
        if info.file_size > limits.max_member_bytes:
            raise UnsafeArchive(
                f'its member "{info.filename}" is {info.file_size:,} bytes uncompressed; the limit is '
                f"{limits.max_member_bytes:,}"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size >= _RATIO_FROM_BYTES and ratio > limits.max_ratio:
            raise UnsafeArchive(
                f'its member "{info.filename}" inflates {ratio:,.0f} times (a zip bomb?); the limit is '
                f"{limits.max_ratio:g}"
            )
        total += info.file_size
        if total > limits.max_total_bytes:
            raise UnsafeArchive(f"it holds more than {limits.max_total_bytes:,} bytes uncompressed (the limit)")
        if path in files:
            raise UnsafeArchive(f'it has two members named "{info.filename}"')
        files[path] = info
    return files


def open_nested(data: bytes, depth: int, limits: ZipLimits = DEFAULT_LIMITS) -> SafeZip:
    """A zip found inside another, ``depth`` levels down (1: a student's zip inside an export).

    Beyond ``limits.max_depth`` it is refused: nesting is how a small file becomes an enormous one (each level
    multiplies what the caps allow), and no export we read needs more than one level.
    """
    if depth > limits.max_depth:
        raise UnsafeArchive(f"it nests zips more than {limits.max_depth} level deep")
    return SafeZip(data, limits)
