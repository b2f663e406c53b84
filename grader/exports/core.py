"""The discovery core: walk a batch folder (and the archives in it) one folder level at a time, let each
platform claim the entries named its way, treat the rest as plain student folders, files and archives, and
settle each student's files into one hand-in (or skipped files with reasons)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from grader.archive import ZipLimits, archive_stem, is_archive_name, open_archive, open_nested
from grader.errors import UnsafeArchive
from grader.exports.choose import PEEK_BYTES, UNREAD_ARCHIVES, Choice, Item, choose, defines, name_rank, why_not
from grader.exports.model import Handin, Skipped, Student, Wanted, readable, safe_name
from grader.exports.trees import Tree

TOP = PurePosixPath(".")


@dataclass
class Child:
    """An entry of one folder level of a tree."""

    path: PurePosixPath
    is_dir: bool

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class Group:
    """One student's files, as a platform (or a plain folder) groups them, before one is chosen."""

    name: str
    items: list[Item]
    student: Student = field(default_factory=Student)
    note: str = ""
    """What the export says that a TA should know (a late submission)."""
    source: str = ""
    """Where the hand-in is, for saying it is empty."""


@dataclass
class Context:
    """One discovery's settings and what it has found so far."""

    wanted: Wanted
    limits: ZipLimits
    stack: ExitStack
    found: list[Handin] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    opened: dict[tuple[int, PurePosixPath], Tree | None] = field(default_factory=dict)
    """Each archive opened so far (None: skipped), so that looking into one twice neither reads it twice nor
    lists its skipped entries twice."""

    def skip(self, source: str, reason: str, *, beside: bool = False, noise: bool = False) -> None:
        self.skipped.append(Skipped(readable(source), reason, beside, noise))


Claim = Callable[[Tree, dict[str, Child], PurePosixPath, Context], list[Group]]
"""A platform's claim on a folder level: the groups of the entries named its way, which it removes from the
level's entries (and skips the ones it knows are not hand-ins, such as Blackboard's receipts)."""


def children(tree: Tree, folder: PurePosixPath) -> dict[str, Child]:
    """The entries directly inside ``folder`` of ``tree``, by name."""
    depth = 0 if folder == TOP else len(folder.parts)
    kids: dict[str, Child] = {}
    for path in tree.under(folder):
        name = path.parts[depth]
        kids.setdefault(name, Child(path if len(path.parts) == depth + 1 else _join(folder, name), False))
        if len(path.parts) > depth + 1:
            kids[name] = Child(_join(folder, name), True)
    for path in tree.folders_in(folder):
        kids.setdefault(path.name, Child(path, True))
    return dict(sorted(kids.items()))


def _join(folder: PurePosixPath, name: str) -> PurePosixPath:
    return PurePosixPath(name) if folder == TOP else folder / name


def items_under(
    tree: Tree, folder: PurePosixPath, attempt: tuple[object, ...] = (), attempt_label: str = ""
) -> list[Item]:
    """Every file inside ``folder`` as an item of one hand-in (of one attempt), its depth counted from
    ``folder``."""
    base = 0 if folder == TOP else len(folder.parts)
    return [Item(tree, p, p.name, len(p.parts) - base - 1, attempt, attempt_label) for p in tree.under(folder)]


def open_tree(tree: Tree, path: PurePosixPath, ctx: Context) -> Tree | None:
    """The archive at ``path`` as a tree (kept open until discovery ends), or None once skipped with why."""
    key = (id(tree), path)
    if key not in ctx.opened:
        ctx.opened[key] = _open_tree(tree, path, ctx)
    return ctx.opened[key]


def _open_tree(tree: Tree, path: PurePosixPath, ctx: Context) -> Tree | None:
    source = tree.where(path)
    try:
        disk = tree.disk_path(path)
        if disk is not None:
            archive = open_archive(disk, path.name, ctx.limits)
            depth = 0
        else:
            archive = open_nested(tree.read(path), tree.depth + 1, ctx.limits, path.name)
            depth = tree.depth + 1
    except UnsafeArchive as exc:
        ctx.skip(source, f"an archive that cannot be read safely: {exc.message}")
        return None
    except OSError as exc:
        ctx.skip(source, f"cannot be read: {exc.strerror or exc}")
        return None
    ctx.stack.callback(archive.close)
    sub = Tree.of_archive(archive, source, depth)
    for left, reason, noise, is_dir in sub.listing.left_out:
        ctx.skip(sub.where(left, folder=is_dir), reason, noise=noise)
    return sub


def settle(group: Group, ctx: Context) -> None:
    """The hand-in of ``group``: the chosen file, else one inside an archive among its files, else every file
    skipped with why."""
    choice = _choose_deep(group.items, ctx)
    if choice.chosen is None:
        if not group.items:
            ctx.skip(group.source, f"{_who(group)}nothing in it: no {ctx.wanted.filename}")
        return
    chosen = choice.chosen
    if choice.note:
        ctx.notes.append(f"{group.name}: {choice.note}")
    note = "; ".join(n for n in (group.note, choice.note) if n)
    disk = chosen.tree.disk_path(chosen.path)
    if disk is not None:
        handin = Handin(
            group.name,
            chosen.source,
            path=disk,
            student=group.student,
            note=note,
            max_bytes=ctx.limits.max_member_bytes,
        )
    else:
        try:
            data = chosen.tree.read(chosen.path)
        except UnsafeArchive as exc:
            ctx.skip(chosen.source, f"an archive that cannot be read safely: {exc.message}")
            return
        handin = Handin(group.name, chosen.source, data=data, student=group.student, note=note)
    ctx.found.append(handin)
    for item, reason, beside in choice.others:
        ctx.skip(item.source, reason, beside=beside)


def _choose_deep(items: list[Item], ctx: Context) -> Choice:
    """:func:`choose` among ``items``; failing that, among the files of each archive in them (the latest
    first, archives in archives as deep as the caps allow). Without a choice, every file is skipped here."""
    choice = choose(items, ctx.wanted)
    if choice.chosen is not None:
        return choice
    archives = sorted((i for i in items if is_archive_name(i.name)), key=lambda i: i.attempt, reverse=True)
    for archive in archives:
        sub = open_tree(archive.tree, archive.path, ctx)
        if sub is None:
            continue
        inner = items_under(sub, TOP, archive.attempt, archive.attempt_label)
        if not inner:
            ctx.skip(archive.source, f"an empty archive: no {ctx.wanted.filename} in it")
        inner_choice = _choose_deep(inner, ctx)
        if inner_choice.chosen is not None:
            others = [(i, f"not the hand-in ({archive.source} holds it)", True) for i in items if i is not archive]
            return Choice(inner_choice.chosen, inner_choice.others + tuple(others), inner_choice.note)
    for item in items:
        if not is_archive_name(item.name):
            ctx.skip(item.source, why_not(item.name, ctx.wanted, name_rank(item.name, ctx.wanted)))
    return Choice(None, ())


def _who(group: Group) -> str:
    return f"{group.student.name}: " if group.student.name and group.student.name != group.name else ""


def loose_file(tree: Tree, child: Child, ctx: Context) -> Group | None:
    """A file directly in a folder level: a ``.py`` is one student's hand-in (named by its stem), and so is a
    text file that defines the assignment's names (``alice.py.txt``); anything else is skipped with why."""
    name = child.name
    lower = name.lower()
    if lower.endswith(".py"):
        # The file is the hand-in whatever it is called: ranked as if it had the wanted name.
        item = Item(tree, child.path, ctx.wanted.filename)
        return Group(safe_name(name[:-3]), [item], source=tree.where(child.path))
    if name_rank(name, ctx.wanted) is not None:  # a text file
        try:
            found = defines(tree.read(child.path, PEEK_BYTES), ctx.wanted)
        except (OSError, UnsafeArchive):
            found = False
        if found:
            stem = name[: -len(".py.txt")] if lower.endswith(".py.txt") else name.rsplit(".", 1)[0]
            return Group(safe_name(stem), [Item(tree, child.path, name)], source=tree.where(child.path))
    if lower.endswith(".ipynb") or lower.endswith(UNREAD_ARCHIVES):
        ctx.skip(tree.where(child.path), why_not(name, ctx.wanted))
        return None
    suffix = "." + name.rsplit(".", 1)[1] if "." in name.strip(".") else "no extension"
    ctx.skip(
        tree.where(child.path),
        f"not a submission ({suffix}): only .py files, student folders, archives and LMS exports are graded",
    )
    return None


def archive_name(name: str) -> str:
    return safe_name(archive_stem(name))
