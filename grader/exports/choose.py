"""Which file of a student's hand-in is graded, when it holds several.

Each file is ranked by its own name (``nn.py``; then one named like it: ``nn (1).py``, ``nn-1.py``,
``nn_final.py``; then any other ``.py``; then a text file such as ``nn.py.txt`` or ``nn.txt``, which Windows
makes of a file saved with a hidden extension) and by whether it defines the assignment's names (``class
Conv1d``). The latest attempt that holds an eligible file wins; within it, a file that defines the names beats
one that does not, then the name's rank, then the shallowest. A file named like ``nn.py`` is always eligible;
any other file only if it defines one of the names.

The content is searched as bytes for ``class Conv1d`` / ``def get_conv1d_output_size`` at the start of a line:
nothing here parses, compiles or runs a student's file (that happens in the sandbox).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import PurePosixPath

from grader.exports.model import NOTEBOOK_REASON, Wanted
from grader.exports.trees import Tree

PEEK_BYTES = 4 << 20
"""How much of a file is searched for the names it defines (far more than any hand-written nn.py)."""
_TEXT_SUFFIXES = (".txt", ".text")
UNREAD_ARCHIVES = (".rar", ".7z", ".gz", ".bz2", ".xz")
"""Archives read by no module of the standard library (rar, 7z), or a compressed file that is not a tar."""


@dataclass(frozen=True)
class Item:
    """One file of a student's hand-in, in the tree it lives in."""

    tree: Tree
    path: PurePosixPath
    name: str
    """The file's own name, without an export's prefix (``nn.py`` for Canvas's ``smithbob_1_2_nn.py``)."""
    depth: int = 0
    """Folders between the hand-in's top and the file."""
    attempt: tuple[object, ...] = ()
    """Sorts later attempts after earlier ones (an upload's id, a submission's date); empty when there is one."""
    attempt_label: str = ""

    @property
    def source(self) -> str:
        return self.tree.where(self.path)


def name_rank(name: str, wanted: Wanted) -> int | None:
    """0 for ``nn.py`` (any case), 1 for a name like it, 2 for any other ``.py``, 3 for a text file named like
    it, 4 for another text file; None for a file that cannot be the hand-in (a PDF, a zip, a notebook)."""
    lower, target = name.lower(), wanted.filename.lower()
    stem = target.rsplit(".", 1)[0]
    like = re.compile(rf"{re.escape(stem)}(?:$|[^a-z0-9])")
    if lower == target:
        return 0
    if lower.endswith(".py"):
        return 1 if like.match(lower) else 2
    if lower.endswith(_TEXT_SUFFIXES):
        return 3 if like.match(lower) else 4
    return None


@cache
def _definition(names: tuple[str, ...]) -> re.Pattern[bytes]:
    alternatives = b"|".join(re.escape(n.encode()) for n in names)
    return re.compile(
        rb"^[ \t]*(?:(?:async[ \t]+)?def|class)[ \t]+(?:" + alternatives + rb")\b|^(?:" + alternatives + rb")[ \t]*=",
        re.MULTILINE,
    )


def defines(data: bytes, wanted: Wanted) -> bool:
    """Whether ``data`` defines one of the wanted names at the start of a line (in UTF-8, a legacy 8-bit
    encoding, or UTF-16 as Windows's Notepad saves "Unicode")."""
    if not wanted.defines:
        return False
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        data = data.decode("utf-16", "replace").encode("utf-8", "replace")
    return _definition(wanted.defines).search(data) is not None


@dataclass(frozen=True)
class Choice:
    chosen: Item | None
    others: tuple[tuple[Item, str, bool], ...]
    """Every other file with the reason it is not graded and whether it is only counted (beside)."""
    note: str = ""


def choose(items: Sequence[Item], wanted: Wanted) -> Choice:
    """The file to grade among ``items`` (None if no file is eligible), and why each other one is not."""
    looked: dict[Item, tuple[int | None, bool]] = {}
    for item in items:
        rank = name_rank(item.name, wanted)
        found = False
        if rank is not None and wanted.defines:
            try:
                found = defines(item.tree.read(item.path, PEEK_BYTES), wanted)
            except Exception:  # an unreadable file is simply not picked for its content; grading says why
                found = False
        looked[item] = (rank, found)
    eligible = [i for i in items if looked[i][0] in (0, 1) or (looked[i][0] is not None and looked[i][1])]
    if not eligible:
        return Choice(None, tuple((i, why_not(i.name, wanted, looked[i][0]), False) for i in items))
    eligible.sort(key=lambda i: (not looked[i][1], looked[i][0] or 0, i.depth, i.path.as_posix()))
    eligible.sort(key=lambda i: i.attempt, reverse=True)  # stable: the latest attempt first, each in the order above
    chosen = eligible[0]
    why = _why_chosen(chosen, looked[chosen], wanted)
    others = []
    rivals = []
    for item in items:
        if item == chosen:
            continue
        rank, found = looked[item]
        if item.attempt < chosen.attempt:
            label = f" ({item.attempt_label})" if item.attempt_label else ""
            others.append((item, f"an earlier upload{label}: {chosen.source} is the latest", False))
        elif item in eligible:
            rivals.append(item.source)
            others.append((item, f"another candidate: {chosen.source} is graded ({why})", False))
        else:
            others.append((item, f"not the hand-in ({chosen.source} is)", True))
    note = ""
    if rivals:
        note = f"{len(rivals) + 1} candidate files: graded {chosen.source} ({why}), not {', '.join(rivals)}"
    rank = looked[chosen][0]
    if rank != 0:
        what = f"defines {' or '.join(wanted.defines)}" if looked[chosen][1] else "named like it"
        renamed = f"graded {chosen.source} as {wanted.filename}: it {what}"
        note = "; ".join(n for n in (renamed, note) if n)
    return Choice(chosen, tuple(others), note)


def _why_chosen(chosen: Item, looked: tuple[int | None, bool], wanted: Wanted) -> str:
    rank, found = looked
    parts = [f"named {wanted.filename}" if rank == 0 else f"named like {wanted.filename}" if rank == 1 else ""]
    if found:
        parts.append(f"defines {' or '.join(wanted.defines)}")
    parts.append("the latest" if chosen.attempt else "the shallowest")
    return ", ".join(p for p in parts if p)


def why_not(name: str, wanted: Wanted, rank: int | None = None) -> str:
    """Why a file in a hand-in is not graded, said so that the student knows what to do."""
    lower = name.lower()
    target = wanted.filename
    marks = f" and defines none of {', '.join(wanted.defines)}" if wanted.defines else ""
    if lower.endswith(".ipynb"):
        return NOTEBOOK_REASON
    if rank == 2:
        return f"a .py file not named {target}{marks}: rename it {target}"
    if rank in (3, 4):
        return f"a text file{marks}: hand in {target} itself"
    if lower.endswith(".pyc"):
        return f"compiled Python, not source: hand in {target}"
    if lower.endswith(UNREAD_ARCHIVES):
        return f"an archive the grader does not open ({lower.rsplit('.', 1)[1]}): hand in {target} or a zip"
    return f"not {target}"
