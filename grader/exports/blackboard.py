"""Blackboard Learn's "Assignment File Download" (Grade Centre).

Every file of every attempt is flat: ``<assignment>_<username>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file name>``,
with a receipt per attempt, ``<assignment>_<username>_attempt_<date>.txt``, whose ``Name:`` line gives the
student's name and username (``Name: Ada Lovelace (alovelace)``). The username is read from the receipt where
there is one (a username may hold ``_``, and so may the assignment's name), else it is the last ``_`` part.
Several attempts: the latest one with code wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from grader.exports.choose import Item
from grader.exports.core import Child, Context, Group
from grader.exports.model import Student, safe_name
from grader.exports.trees import Tree

FILE = re.compile(
    r"^(?P<head>.+_.+)_attempt_(?P<when>\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})(?:_(?P<file>.+)|(?P<receipt>\.txt))\Z",
    re.DOTALL,
)
_NAME_LINE = re.compile(r"^Name:[ \t]*(?P<name>.+?)[ \t]*(?:\((?P<user>[^()\n]*)\))?[ \t]*\r?$", re.MULTILINE)
RECEIPT_BYTES = 64 << 10


@dataclass(frozen=True)
class _Receipt:
    when: str
    name: str
    username: str


def claim(tree: Tree, kids: dict[str, Child], folder: PurePosixPath, ctx: Context) -> list[Group]:
    files: list[tuple[re.Match[str], Child]] = []
    receipts: dict[str, _Receipt] = {}
    """The latest receipt of each ``<assignment>_<username>`` head."""
    for name, child in list(kids.items()):
        match = None if child.is_dir else FILE.match(name)
        if match is None:
            continue
        del kids[name]
        if not match.group("receipt"):
            files.append((match, child))
            continue
        ctx.skip(tree.where(child.path), "Blackboard's receipt of the attempt (read for the name)", noise=True)
        receipt = _read_receipt(tree, child.path, match.group("when"))
        head = match.group("head")
        if head not in receipts or receipt.when >= receipts[head].when:
            receipts[head] = receipt
    by_user: dict[str, list[Item]] = {}
    for match, child in files:
        when = match.group("when")
        user = _username(match.group("head"), receipts.get(match.group("head")))
        by_user.setdefault(user, []).append(
            Item(tree, child.path, match.group("file"), attempt=(when,), attempt_label=f"attempt of {when}")
        )
    names = {_username(head, r): r.name for head, r in receipts.items() if r.name}
    for head, receipt in sorted(receipts.items()):
        user = _username(head, receipt)
        if user not in by_user:
            ctx.skip(f"{receipt.name or user} ({user})", "a Blackboard attempt with no file (only its receipt)")
    groups = []
    for user, items in sorted(by_user.items()):
        full_name = names.get(user, "")
        student = Student(name=full_name or user, platform="blackboard", username=user)
        groups.append(Group(safe_name(full_name or user), items, student, source=user))
    return groups


def _username(head: str, receipt: _Receipt | None) -> str:
    if receipt is not None and receipt.username and head.endswith("_" + receipt.username):
        return receipt.username
    return head.rsplit("_", 1)[1]


def _read_receipt(tree: Tree, path: PurePosixPath, when: str) -> _Receipt:
    try:
        text = tree.read(path, RECEIPT_BYTES)[:RECEIPT_BYTES].decode("utf-8", "replace")
    except Exception:  # a receipt that cannot be read: the file names stand in for it
        return _Receipt(when, "", "")
    match = _NAME_LINE.search(text)
    if match is None:
        return _Receipt(when, "", "")
    return _Receipt(when, match.group("name").strip(), (match.group("user") or "").strip())
