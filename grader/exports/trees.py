"""A folder on disk and an archive, seen the same way: regular files by path, read within a cap.

Listing a folder never follows a symbolic link (a link is listed as skipped, with where it points), so nothing
outside the batch folder is ever read; what an operating system, an editor, git or an export adds by itself
is pruned as noise, one skipped entry per folder of it rather than one per file.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.archive import Archive
from grader.exports.model import read_regular, readable

NOISE_DIRS = {
    "__macosx": "macOS's resource forks (__MACOSX/), added by the Finder's Compress: not the student's files",
    ".git": "git's own data (.git/): the files beside it are the hand-in",
    ".svn": "a version control system's own data",
    ".hg": "a version control system's own data",
    "__pycache__": "Python's cache of compiled files",
    ".ipynb_checkpoints": "Jupyter's autosaves",
    ".idea": "an editor's settings",
    ".vscode": "an editor's settings",
    ".venv": "a Python environment, not the hand-in",
    "venv": "a Python environment, not the hand-in",
    "site-packages": "installed packages, not the hand-in",
    "node_modules": "installed packages, not the hand-in",
}
NOISE_FILES = {
    ".ds_store": "macOS's folder settings (.DS_Store)",
    "thumbs.db": "Windows's thumbnail cache (Thumbs.db)",
    "desktop.ini": "Windows's folder settings (desktop.ini)",
    ".gitignore": "git's settings",
    ".gitattributes": "git's settings",
    ".gitkeep": "git's placeholder",
}
APPLEDOUBLE_REASON = "a macOS AppleDouble file (._name): the Finder's metadata of another file, not code"
MAX_LISTED = 200_000
"""Entries listed in one batch folder at most: a folder with more is not a class's hand-ins."""


def noise_reason(path: PurePosixPath, is_dir: bool) -> str | None:
    """Why ``path`` (its last part) is noise, or None if it may be a student's file."""
    name = path.name
    if is_dir:
        return NOISE_DIRS.get(name.lower())
    if name.startswith("._"):
        return APPLEDOUBLE_REASON
    if name.startswith("~$"):
        return "an Office lock file"
    return NOISE_FILES.get(name.lower())


@dataclass
class Listing:
    """What a tree holds: its regular files, its folders, and what was left out while listing it."""

    files: list[PurePosixPath] = field(default_factory=list)
    dirs: set[PurePosixPath] = field(default_factory=set)
    left_out: list[tuple[PurePosixPath, str, bool, bool]] = field(default_factory=list)
    """``(path, reason, noise, is_dir)``: links, devices, noise folders and files."""


class Tree:
    """A batch folder on disk, or an archive (with where it is for people, ``export.zip``)."""

    def __init__(
        self,
        listing: Listing,
        *,
        root: Path | None = None,
        archive: Archive | None = None,
        source: str = "",
        depth: int = 0,
        max_bytes: int = 64 << 20,
    ) -> None:
        self.listing = listing
        self.root = root
        self.archive = archive
        self.source = source
        self.depth = depth
        """Archives this one is inside (0: on disk, or the batch folder itself)."""
        self.max_bytes = max_bytes
        self._under: dict[tuple[str, ...], list[PurePosixPath]] | None = None
        self._folders: dict[tuple[str, ...], list[PurePosixPath]] | None = None

    @classmethod
    def of_folder(cls, folder: Path, max_bytes: int) -> Tree:
        return cls(_list_folder(folder), root=folder, max_bytes=max_bytes)

    @classmethod
    def of_archive(cls, archive: Archive, source: str, depth: int) -> Tree:
        listing = Listing()
        pruned: set[PurePosixPath] = set()
        for path in archive.paths:
            for n in range(1, len(path.parts) + 1):
                part = PurePosixPath(*path.parts[:n])
                is_dir = n < len(path.parts)
                reason = noise_reason(part, is_dir)
                if reason is not None:
                    if part not in pruned:
                        pruned.add(part)
                        listing.left_out.append((part, reason, True, is_dir))
                    break
                if is_dir:
                    listing.dirs.add(part)
            else:
                listing.files.append(path)
        return cls(listing, archive=archive, source=source, depth=depth)

    def where(self, path: PurePosixPath, *, folder: bool = False) -> str:
        """``path`` for people: relative to the batch folder, or ``archive!member``."""
        text = path.as_posix() + ("/" if folder else "")
        return f"{self.source}!{text}" if self.archive is not None else text

    def read(self, path: PurePosixPath, limit: int | None = None) -> bytes:
        """The file's bytes (at most ``limit`` of a file on disk, for a look at its content)."""
        if self.archive is not None:
            return self.archive.read(path)
        assert self.root is not None
        full = self.root / path
        if limit is not None:
            flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
            with os.fdopen(os.open(full, flags), "rb") as handle:
                return handle.read(limit)
        return read_regular(full, self.max_bytes)

    def disk_path(self, path: PurePosixPath) -> Path | None:
        return self.root / path if self.root is not None and self.archive is None else None

    def under(self, folder: PurePosixPath) -> Iterator[PurePosixPath]:
        """Every file inside ``folder`` (the whole tree for ``.``), from an index made once: a level-by-level
        walk asks this of every folder, which a scan of every file each time would make quadratic."""
        if self._under is None:
            self._under = {}
            for path in self.listing.files:
                for n in range(len(path.parts)):
                    self._under.setdefault(path.parts[:n], []).append(path)
        key = () if folder == PurePosixPath(".") else folder.parts
        return iter(self._under.get(key, []))

    def folders_in(self, folder: PurePosixPath) -> list[PurePosixPath]:
        """The folders directly inside ``folder`` (an empty one included), from an index made once."""
        if self._folders is None:
            self._folders = {}
            for path in self.listing.dirs:
                self._folders.setdefault(path.parts[:-1], []).append(path)
        return self._folders.get(() if folder == PurePosixPath(".") else folder.parts, [])


def _list_folder(folder: Path) -> Listing:
    """Every regular file under ``folder`` by relative path; links, devices and noise left out with why."""
    listing = Listing()
    pending = [PurePosixPath(".")]
    seen = 0
    while pending:
        rel = pending.pop()
        try:
            with os.scandir(folder / rel) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            listing.left_out.append((rel, f"cannot be listed: {exc.strerror}", False, True))
            continue
        for entry in entries:
            seen += 1
            if seen > MAX_LISTED:
                listing.left_out.append((rel, f"more than {MAX_LISTED:,} entries: the rest is not read", False, True))
                return listing
            path = rel / entry.name if rel != PurePosixPath(".") else PurePosixPath(entry.name)
            if entry.is_symlink():
                listing.left_out.append((path, _link_reason(folder / path), False, False))
                continue
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as exc:
                listing.left_out.append((path, f"cannot be read: {exc.strerror}", False, False))
                continue
            if stat.S_ISDIR(mode):
                reason = noise_reason(path, True)
                if reason is not None:
                    listing.left_out.append((path, reason, True, True))
                else:
                    listing.dirs.add(path)
                    pending.append(path)
            elif stat.S_ISREG(mode):
                reason = noise_reason(path, False)
                if reason is not None:
                    listing.left_out.append((path, reason, True, False))
                else:
                    listing.files.append(path)
            else:
                listing.left_out.append((path, "not a regular file (a device, pipe or socket)", False, False))
    listing.files.sort()
    return listing


def _link_reason(path: Path) -> str:
    try:
        target = readable(os.readlink(path))
    except OSError:
        target = "?"
    target = re.sub(r"[\x00-\x1f\x7f]", "?", target)
    return f'a symbolic link (to "{target}"): never followed (copy the file itself into the folder)'
