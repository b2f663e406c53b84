"""GitHub Classroom: a clone per student, ``<assignment>-<username>/`` with its ``.git``, side by side (as
``gh classroom clone student-repos`` lays them out in ``<assignment>-submissions/``). The username is the
folder's name after the prefix the clones share."""

from __future__ import annotations

from pathlib import PurePosixPath

from grader.exports.core import Child, Context, Group, items_under
from grader.exports.model import Student, safe_name
from grader.exports.trees import Tree


def repos(tree: Tree, kids: dict[str, Child]) -> list[Child]:
    """The entries that are git clones (their ``.git``, a folder or a file, is pruned as noise)."""
    clones = {left.parent for left, *_ in tree.listing.left_out if left.name == ".git"}
    return [child for child in kids.values() if child.is_dir and child.path in clones]


def is_export(tree: Tree, kids: dict[str, Child], folder: PurePosixPath) -> bool:
    """Clones side by side: two or more, or one in a ``*submissions`` folder."""
    found = repos(tree, kids)
    return len(found) >= 2 or (len(found) == 1 and folder.name.lower().endswith("submissions"))


def claim(tree: Tree, kids: dict[str, Child], folder: PurePosixPath, ctx: Context) -> list[Group]:
    if not is_export(tree, kids, folder):
        return []
    found = repos(tree, kids)
    prefix = _shared_prefix([c.name for c in found], folder.name)
    groups = []
    for child in found:
        del kids[child.name]
        username = child.name[len(prefix) :] or child.name
        student = Student(name=username, platform="github-classroom", username=username)
        groups.append(
            Group(
                safe_name(username), items_under(tree, child.path), student, source=tree.where(child.path, folder=True)
            )
        )
    return groups


def _shared_prefix(names: list[str], folder: str) -> str:
    """``a2-`` for ``a2-alice``, ``a2-bob``: the common start up to its last ``-``; with one clone, the
    assignment named by its ``<assignment>-submissions`` folder."""
    if len(names) == 1:
        lower = folder.lower()
        assignment = folder[: -len("submissions")] if lower.endswith("-submissions") else ""
        return assignment if names[0].startswith(assignment) else ""
    common = names[0]
    for name in names[1:]:
        while not name.startswith(common):
            common = common[:-1]
    return common[: common.rfind("-") + 1]
