"""Reading zips and tars that students and LMS exports hand us, in memory, within caps.

An archive is untrusted bytes: its directory can name ``../../etc/cron.d/x`` or ``/root/.ssh/authorized_keys``,
declare a symlink, claim one size and inflate to another, hold a 10 GB member that compresses to 10 MB, or
nest archives inside archives; a tar can also hold devices, hard links and pax headers of any size, and a
compressed tar can inflate without end. Nothing here ever writes a member to a path: :class:`SafeZip` checks
the whole central directory (:class:`SafeTar` every header) against :class:`ZipLimits` first and refuses the
whole archive (:class:`~grader.errors.UnsafeArchive`, with the reason) at the first broken rule; then it reads
only the members asked for, into memory, with a bounded read. A compressed tar is inflated, within the same
caps, into an anonymous temporary file (a tar has no directory to read first), never extracted.
A refused archive is one skipped entry of a batch, never a crash and never a partial grade.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import stat
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Protocol

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


TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_META_HEADER_BYTES = 1 << 20
"""The largest pax or GNU long-name header read: tarfile reads such a header whole into memory."""


def is_zip_name(name: str) -> bool:
    """Whether a file name says zip (any case)."""
    return name.lower().endswith(".zip")


def is_tar_name(name: str) -> bool:
    """Whether a file name says tar, compressed or not (any case)."""
    return name.lower().endswith(TAR_SUFFIXES)


def is_archive_name(name: str) -> bool:
    """A zip or a tar, by its name."""
    return is_zip_name(name) or is_tar_name(name)


def archive_stem(name: str) -> str:
    """``carol`` for ``carol.zip``, ``carol.tar.gz``, ``carol.TGZ``."""
    lower = name.lower()
    for suffix in (".zip", *TAR_SUFFIXES):
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


class Archive(Protocol):
    """What the batch needs of an archive, zip or tar: its regular files' paths and a bounded read of one."""

    @property
    def paths(self) -> list[PurePosixPath]: ...

    def read(self, path: PurePosixPath) -> bytes: ...

    def close(self) -> None: ...

    def __enter__(self) -> Archive: ...

    def __exit__(self, *exc: object) -> None: ...


def _checked_name(raw: str) -> PurePosixPath:
    """A member's path, or :class:`UnsafeArchive` if it could land outside a folder it were extracted to."""
    name = raw
    if "\\" in name:
        # Windows tools write backslashes; a path with both kinds could mean anything on some other reader.
        name = name.replace("\\", "/")
    path = PurePosixPath(name)
    if path.is_absolute() or (path.parts and ":" in path.parts[0]) or ".." in path.parts:
        raise UnsafeArchive(f'it has a member whose path leaves the archive ("{raw}")')
    if "\x00" in name:
        raise UnsafeArchive("it has a member whose name holds a NUL byte")
    return path


def _checked_path(info: zipfile.ZipInfo) -> PurePosixPath:
    return _checked_name(info.filename)


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

    def close(self) -> None:
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


def open_nested(data: bytes, depth: int, limits: ZipLimits = DEFAULT_LIMITS, name: str = ".zip") -> Archive:
    """An archive found inside another, ``depth`` levels down (1: a student's zip inside an export), a zip or a
    tar by its ``name``.

    Beyond ``limits.max_depth`` it is refused: nesting is how a small file becomes an enormous one (each level
    multiplies what the caps allow), and no export we read needs more than one level.
    """
    if depth > limits.max_depth:
        raise UnsafeArchive(f"it nests archives more than {limits.max_depth} level deep")
    return open_archive(data, name, limits)


def open_archive(source: bytes | Path, name: str, limits: ZipLimits = DEFAULT_LIMITS) -> Archive:
    """A :class:`SafeZip` or a :class:`SafeTar`, by the file's ``name``."""
    if is_tar_name(name):
        return SafeTar(source, limits)
    return SafeZip(source, limits)


class _CappedTarInfo(tarfile.TarInfo):
    """A header whose pax or GNU long-name data is read only when it is small: tarfile reads that data whole,
    so a header claiming gigabytes would otherwise cost gigabytes of memory before any cap is checked."""

    def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _META_TYPES and self.size > _META_HEADER_BYTES:
            raise UnsafeArchive(f"it has a {self.size:,}-byte extended header (a tar bomb?)")
        return super()._proc_member(tar)  # type: ignore[misc]


_META_TYPES = (
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
    tarfile.GNUTYPE_SPARSE,
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
)


def _inflate(source: IO[bytes], compressed_size: int, limits: ZipLimits) -> IO[bytes]:
    """A compressed tar's stream, inflated into an anonymous temporary file within the caps (a tar has no
    central directory: its headers can only be read from the inflated stream)."""
    head = source.read(6)
    source.seek(0)
    inflated: gzip.GzipFile | bz2.BZ2File | lzma.LZMAFile
    if head[:2] == b"\x1f\x8b":
        inflated = gzip.GzipFile(fileobj=source, mode="rb")
    elif head[:3] == b"BZh":
        inflated = bz2.BZ2File(source, "rb")
    elif head == b"\xfd7zXZ\x00":
        inflated = lzma.LZMAFile(source, "rb")  # noqa: SIM115
    else:
        return source
    # Headers and padding come on top of the members' bytes: one 512-byte header and up to 511 bytes of padding
    # a member, and the end-of-archive blocks.
    cap = limits.max_total_bytes + limits.max_members * 1024 + 10240
    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115 (the SafeTar closes it)
    total = 0
    try:
        with inflated as stream:
            while chunk := stream.read(1 << 20):
                total += len(chunk)
                if total > cap:
                    raise UnsafeArchive(f"it inflates to more than {cap:,} bytes (the limit)")
                if total >= _RATIO_FROM_BYTES and total / max(compressed_size, 1) > limits.max_ratio:
                    raise UnsafeArchive(
                        f"it inflates more than {limits.max_ratio:g} times (a tar bomb?); the limit is "
                        f"{limits.max_ratio:g}"
                    )
                out.write(chunk)
    except (OSError, EOFError, lzma.LZMAError, ValueError) as exc:
        out.close()
        raise UnsafeArchive(f"it is not a readable compressed tar ({exc})") from None
    except UnsafeArchive:
        out.close()
        raise
    out.seek(0)
    return out


class SafeTar:
    """A tar (plain, gzip, bzip2 or xz) whose every header passed the checks of :class:`ZipLimits`, read as
    :class:`SafeZip` is: regular files only, one bounded read at a time. Links (symbolic or hard), devices,
    pipes and sparse files refuse the whole archive: no hand-in needs one, and each is a way to make a reader
    reach outside the archive or read more than it holds."""

    def __init__(self, source: bytes | Path, limits: ZipLimits = DEFAULT_LIMITS) -> None:
        raw: IO[bytes]
        if isinstance(source, bytes):
            raw, size = io.BytesIO(source), len(source)
        else:
            try:
                raw = source.open("rb")
                size = source.stat().st_size
            except OSError as exc:
                raise UnsafeArchive(f"it cannot be read ({exc.strerror})") from None
        self._files: list[IO[bytes]] = [raw]
        try:
            stream = _inflate(raw, size, limits)
            if stream is not raw:
                self._files.append(stream)
            self._tar = tarfile.open(fileobj=stream, mode="r:", tarinfo=_CappedTarInfo)  # noqa: SIM115 (closed by close())
            self._infos = _checked_tar(self._tar, limits)
        except UnsafeArchive:
            self.close()
            raise
        except (tarfile.TarError, OSError, EOFError, ValueError, UnicodeError) as exc:
            self.close()
            raise UnsafeArchive(f"it is not a readable tar ({exc})") from None

    def __enter__(self) -> SafeTar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        tar = getattr(self, "_tar", None)
        if tar is not None:
            tar.close()
        for handle in self._files:
            handle.close()

    @property
    def paths(self) -> list[PurePosixPath]:
        """Every regular file's path, in archive order."""
        return list(self._infos)

    def read(self, path: PurePosixPath) -> bytes:
        """The bytes of the member at ``path``."""
        info = self._infos[path]
        try:
            handle = self._tar.extractfile(info)
            data = handle.read(info.size + 1) if handle is not None else b""
        except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
            raise UnsafeArchive(f'its member "{info.name}" cannot be read ({exc})') from None
        if len(data) != info.size:
            raise UnsafeArchive(f'its member "{info.name}" is not the size its header says')
        return data


def _checked_tar(tar: tarfile.TarFile, limits: ZipLimits) -> dict[PurePosixPath, tarfile.TarInfo]:
    """The regular files by path, once every header obeys ``limits`` (else :class:`UnsafeArchive`). Headers are
    read one at a time and checked before the next, so a cap stops the read where it is broken."""
    files: dict[PurePosixPath, tarfile.TarInfo] = {}
    total = count = 0
    while (info := tar.next()) is not None:
        count += 1
        if count > limits.max_members:
            raise UnsafeArchive(f"it has more than {limits.max_members:,} members (the limit)")
        path = _checked_name(info.name)
        if info.issym() or info.islnk():
            kind = "symbolic" if info.issym() else "hard"
            raise UnsafeArchive(f'it has a {kind} link ("{info.name}" to "{info.linkname}")')
        if info.isdir():
            continue
        if info.issparse():
            raise UnsafeArchive(f'it has a sparse file ("{info.name}")')
        if not info.isreg():
            raise UnsafeArchive(f'it has a device or pipe ("{info.name}")')
        if info.size > limits.max_member_bytes:
            raise UnsafeArchive(
                f'its member "{info.name}" is {info.size:,} bytes; the limit is {limits.max_member_bytes:,}'
            )
        total += info.size
        if total > limits.max_total_bytes:
            raise UnsafeArchive(f"it holds more than {limits.max_total_bytes:,} bytes (the limit)")
        if path in files:
            raise UnsafeArchive(f'it has two members named "{info.name}"')
        files[path] = info
    return files
