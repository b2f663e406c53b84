"""``discover_exports``: every hand-in in a batch folder, whatever mix of layouts it holds."""

from __future__ import annotations

import hashlib
import re
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path, PurePosixPath

from grader.archive import DEFAULT_LIMITS, ZipLimits, is_archive_name
from grader.errors import GraderError
from grader.exports import blackboard, brightspace, canvas, classroom, gradescope, moodle
from grader.exports.choose import name_rank
from grader.exports.core import (
    TOP,
    Child,
    Claim,
    Context,
    Group,
    archive_name,
    children,
    items_under,
    loose_file,
    open_tree,
    settle,
)
from grader.exports.model import Discovery, Handin, Wanted, readable, safe_name, unique_name
from grader.exports.trees import Tree

CLAIMS: tuple[Claim, ...] = (
    gradescope.claim,
    classroom.claim,
    moodle.claim,
    blackboard.claim,
    brightspace.claim,
    canvas.claim,
)
"""Each platform, most specific naming first (Canvas's pattern is the loosest)."""
ANY_NN = Wanted()
"""Without an assignment's names, only files named like ``nn.py`` are picked in a student's folder."""


def discover_exports(folder: str | Path, limits: ZipLimits = DEFAULT_LIMITS, wanted: Wanted = ANY_NN) -> Discovery:
    """Every hand-in in ``folder`` in any of the package's layouts, with each skipped file and why."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GraderError(f"{folder} is not a folder")
    with ExitStack() as stack:
        ctx = Context(wanted, limits, stack)
        tree = Tree.of_folder(folder, limits.max_member_bytes)
        for path, reason, noise, is_dir in tree.listing.left_out:
            ctx.skip(tree.where(path, folder=is_dir), reason, noise=noise)
        scan_level(tree, TOP, ctx)
        handins = _deduplicated(ctx)
    named, clash_notes = _unique_names(handins)
    return Discovery(tuple(named), tuple(ctx.skipped), tuple(ctx.notes + clash_notes))


def scan_level(tree: Tree, folder: PurePosixPath, ctx: Context) -> None:
    """One folder level: the platforms' groups, then each other entry as a student's folder, archive or file
    (or, for a folder or archive that is itself an export, its own level)."""
    kids = children(tree, folder)
    sole = len(kids) == 1
    groups: list[Group] = []
    for claim in CLAIMS:
        groups += claim(tree, kids, folder, ctx)
    for child in kids.values():
        if child.is_dir:
            if looks_like_export(tree, child.path, ctx) or class_folder(tree, child.path, ctx, sole=sole):
                scan_level(tree, child.path, ctx)
                continue
            source = tree.where(child.path, folder=True)
            groups.append(Group(safe_name(child.name), items_under(tree, child.path), source=source))
        elif is_archive_name(child.name):
            sub = open_tree(tree, child.path, ctx)
            if sub is None:
                continue
            if looks_like_export(sub, TOP, ctx) or class_folder(sub, TOP, ctx, sole=True):
                scan_level(sub, TOP, ctx)
                continue
            groups.append(Group(archive_name(child.name), items_under(sub, TOP), source=sub.source))
        else:
            group = loose_file(tree, child, ctx)
            if group is not None:
                groups.append(group)
    for group in groups:
        settle(group, ctx)


def looks_like_export(tree: Tree, folder: PurePosixPath, ctx: Context) -> bool:
    """Whether ``folder`` holds many students' hand-ins rather than one's: an export's metadata, entries named
    the way a platform names them, git clones side by side, or (in a folder on disk) an archive that is an
    export; looked for through one folder wrapping it all."""
    kids = children(tree, folder)
    if gradescope.is_export(kids) or classroom.is_export(tree, kids, folder):
        return True
    if any(_platform_named(child) for child in kids.values()):
        return True
    if tree.archive is None:  # an export's zip put in a folder of its own (``canvas/submissions.zip``)
        for child in kids.values():
            if not child.is_dir and is_archive_name(child.name):
                sub = open_tree(tree, child.path, ctx)
                if sub is not None and looks_like_export(sub, TOP, ctx):
                    return True
    only = list(kids.values())
    return len(only) == 1 and only[0].is_dir and looks_like_export(tree, only[0].path, ctx)


def class_folder(tree: Tree, folder: PurePosixPath, ctx: Context, *, sole: bool) -> bool:
    """Whether ``folder`` is a plain folder of student folders (``A2/alice/nn.py``, ``A2/bob/nn.py``) rather than
    one student's folder holding versions (``carol/v1/nn.py``, ``carol/v2/nn.py``): it must be the only entry
    where it is (a class's folder put in the batch folder, or a class's zip), or be named as a folder of
    hand-ins is (``submissions``, ``handins``, ``late``...), hold no file named like the hand-in itself, and
    have two or more folders that each hold one."""
    if not (sole or _CLASS_FOLDER.search(folder.name)):
        return False
    kids = children(tree, folder)
    only = list(kids.values())
    if len(only) == 1 and only[0].is_dir:  # a folder wrapping it all (``class.zip!A2/...``)
        return class_folder(tree, only[0].path, ctx, sole=True)
    if any(not c.is_dir and name_rank(c.name, ctx.wanted) in (0, 1) for c in kids.values()):
        return False
    holding = [
        c
        for c in kids.values()
        if c.is_dir and any(name_rank(p.name, ctx.wanted) in (0, 1) for p in tree.under(c.path))
    ]
    return len(holding) >= 2


_CLASS_FOLDER = re.compile(r"submission|hand-?ins|students|exports?$|downloads?|late", re.IGNORECASE)


def _platform_named(child: Child) -> bool:
    name = child.name
    if child.is_dir:
        return bool(moodle.FOLDER.match(name) or brightspace.FOLDER.match(name))
    return bool(
        moodle.FILE.match(name)
        or blackboard.FILE.match(name)
        or brightspace.FILE.match(name)
        or canvas.FILE.match(name)
    )


def _identity(handin: Handin) -> str | None:
    """The student as the export identifies them, or None where only a name does (two plain hand-ins under one
    name are two hand-ins, however alike)."""
    student = handin.student
    for key in (student.canvas_id, student.lms_id, student.username, student.sis_id, student.email):
        if key:
            return f"{student.platform}:{key}"
    return None


def _deduplicated(ctx: Context) -> list[Handin]:
    """The hand-ins, each exported student's identical file once (an export in the folder both zipped and
    unzipped)."""
    seen: dict[tuple[str, str], Handin] = {}
    kept = []
    for handin in sorted(ctx.found, key=lambda h: (len(h.source), h.source)):
        identity = _identity(handin)
        try:
            digest = hashlib.sha256(handin.read()).hexdigest() if identity is not None else ""
        except OSError:
            identity = None
        if identity is None:
            kept.append(handin)
            continue
        key = (identity, digest)
        if key in seen:
            ctx.skip(handin.source, f"the same file as {readable(seen[key].source)}, which is graded", beside=True)
            continue
        seen[key] = handin
        kept.append(handin)
    return kept


def _distinct(handin: Handin) -> str:
    """A name for one of several hand-ins sharing a name: the student's id where the export gives one
    (``Ada Lovelace (4711)``), else the file's path (``/`` and ``!`` written ``~``)."""
    student = handin.student
    key = student.canvas_id or student.lms_id or student.username or student.sis_id
    return f"{handin.name} ({key})" if key else re.sub(r"[/!]", "~", handin.source)


def _unique_names(found: list[Handin]) -> tuple[list[Handin], list[str]]:
    """Hand-ins sorted by name, each name unique: where several share one, each is named after its student's id
    or its source (:func:`_distinct`) and a note names them all."""
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
        renamed = [replace(h, name=unique_name(_distinct(h), taken)) for h in group]
        named += renamed
        files = ", ".join(f"{h.source} as {h.name}" for h in renamed)
        notes.append(f'{len(renamed)} submissions are named "{name}": graded {files}')
    return sorted(named, key=lambda h: h.name), notes
