"""Brightspace (D2L)'s "Download" of an assignment folder's submissions.

Each file is named ``<id>-<id> - <First Last> - <Mon D, YYYY HMM AM> - <file name>`` (a folder without the file
name part where the download keeps folders), and ``index.html`` lists them. Several submissions by one
student: the latest date with code wins.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import PurePosixPath

from grader.exports.choose import Item
from grader.exports.core import Child, Context, Group, items_under
from grader.exports.model import Student, safe_name
from grader.exports.trees import Tree

_PREFIX = (
    r"^(?P<ids>\d+-\d+) - (?P<name>.+?) - "
    r"(?P<when>(?P<month>[A-Z][a-z]{2}) (?P<day>\d{1,2}), (?P<year>\d{4}) (?P<hm>\d{3,4}) (?P<ampm>[AP]M))"
)
FILE = re.compile(_PREFIX + r"(?: - |_)(?P<file>.+)\Z", re.DOTALL)
FOLDER = re.compile(_PREFIX + r"$")


def claim(tree: Tree, kids: dict[str, Child], folder: PurePosixPath, ctx: Context) -> list[Group]:
    by_name: dict[str, list[Item]] = {}
    ids: dict[str, tuple[datetime, str]] = {}
    for name, child in list(kids.items()):
        match = (FOLDER if child.is_dir else FILE).match(name)
        if match is None:
            continue
        del kids[name]
        when = _when(match)
        label = f"submitted {match.group('when')}"
        who = match.group("name")
        items = by_name.setdefault(who, [])
        if child.is_dir:
            items += items_under(tree, child.path, (when,), label)
        else:
            items.append(Item(tree, child.path, match.group("file"), attempt=(when,), attempt_label=label))
        if who not in ids or when > ids[who][0]:
            ids[who] = (when, match.group("ids"))
    if by_name and "index.html" in kids and not kids["index.html"].is_dir:
        ctx.skip(tree.where(kids.pop("index.html").path), "Brightspace's index of the download", noise=True)
    return [
        Group(safe_name(who), items, Student(name=who, platform="brightspace", lms_id=ids[who][1]), source=who)
        for who, items in sorted(by_name.items())
    ]


def _when(match: re.Match[str]) -> datetime:
    hm = match.group("hm")
    text = (
        f"{match.group('month')} {match.group('day')} {match.group('year')} {hm[:-2]}:{hm[-2:]} {match.group('ampm')}"
    )
    try:
        return datetime.strptime(text, "%b %d %Y %I:%M %p")
    except ValueError:  # a date Brightspace would not write: sorts first, the file is still graded
        return datetime.min
