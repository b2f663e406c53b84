"""Blackboard Learn's "Assignment File Download" (Grade Centre).

Every file of every attempt is flat: ``<assignment>_<username>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file name>``,
with a receipt per attempt, ``<assignment>_<username>_attempt_<date>.txt``, whose ``Name:`` line gives the
student's name (``Name: Ada Lovelace (alovelace)``). Several attempts: the latest one with code wins.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from grader.exports.choose import Item
from grader.exports.core import Child, Context, Group
from grader.exports.model import Student, safe_name
from grader.exports.trees import Tree

FILE = re.compile(
    r"^(?P<assignment>.+)_(?P<user>[^_]+)_attempt_(?P<when>\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})"
    r"(?:_(?P<file>.+)|(?P<receipt>\.txt))$"
)
_NAME_LINE = re.compile(r"^Name:\s*(?P<name>.+?)\s*(?:\((?P<user>[^()]*)\))?\s*$", re.MULTILINE)
RECEIPT_BYTES = 64 << 10


def claim(tree: Tree, kids: dict[str, Child], folder: PurePosixPath, ctx: Context) -> list[Group]:
    by_user: dict[str, list[Item]] = {}
    names: dict[str, tuple[str, str]] = {}
    """The name on each user's latest receipt, with its date."""
    for name, child in list(kids.items()):
        match = None if child.is_dir else FILE.match(name)
        if match is None:
            continue
        del kids[name]
        user, when = match.group("user"), match.group("when")
        if match.group("receipt"):
            ctx.skip(tree.where(child.path), "Blackboard's receipt of the attempt (read for the name)", noise=True)
            found = _receipt_name(tree, child.path)
            if found and when >= names.get(user, ("", ""))[0]:
                names[user] = (when, found)
            continue
        by_user.setdefault(user, []).append(
            Item(tree, child.path, match.group("file"), attempt=(when,), attempt_label=f"attempt of {when}")
        )
    for user in sorted(set(names) - set(by_user)):
        ctx.skip(f"{names[user][1]} ({user})", "a Blackboard attempt with no file (only its receipt)")
    groups = []
    for user, items in sorted(by_user.items()):
        full_name = names.get(user, ("", ""))[1]
        student = Student(name=full_name or user, platform="blackboard", username=user)
        groups.append(Group(safe_name(full_name or user), items, student, source=user))
    return groups


def _receipt_name(tree: Tree, path: PurePosixPath) -> str:
    try:
        text = tree.read(path, RECEIPT_BYTES)[:RECEIPT_BYTES].decode("utf-8", "replace")
    except Exception:  # a receipt that cannot be read: the username stands in for the name
        return ""
    match = _NAME_LINE.search(text)
    return match.group("name").strip() if match else ""
