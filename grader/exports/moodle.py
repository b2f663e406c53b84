"""Moodle's assignment "Download all submissions".

Moodle names each student's files ``<full name>_<participant id>_assignsubmission_<plugin>``, the full name's
own ``_`` written as spaces (``mod/assign``'s ``download_submissions``): since Moodle 3.1 a folder per student
and plugin (``Ada Lovelace_4711_assignsubmission_file/nn.py``; older versions end the folder's name with
``_``), before that, or with "download as folders" off, flat files (``Ada Lovelace_4711_assignsubmission_file_
nn.py``). A team submission is named after the group and its id; blind marking names every student
``Participant``. The ``onlinetext`` plugin's ``onlinetext.html`` is typed text, not a file.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from grader.exports.choose import Item
from grader.exports.core import Child, Context, Group, items_under
from grader.exports.model import Student, safe_name
from grader.exports.trees import Tree

_PREFIX = r"^(?P<name>[^_]+)_(?P<id>\d+)_assignsubmission_(?P<plugin>[a-z]+)"
FOLDER = re.compile(_PREFIX + r"_?$")
FILE = re.compile(_PREFIX + r"_(?P<file>.+)\Z", re.DOTALL)
BLIND = "Participant"


def claim(tree: Tree, kids: dict[str, Child], folder: PurePosixPath, ctx: Context) -> list[Group]:
    by_id: dict[str, tuple[str, list[Item]]] = {}
    for name, child in list(kids.items()):
        match = (FOLDER if child.is_dir else FILE).match(name)
        if match is None:
            continue
        del kids[name]
        if match.group("plugin") != "file":
            ctx.skip(
                tree.where(child.path, folder=child.is_dir),
                f"Moodle's {match.group('plugin')} submission (typed in Moodle), not a file: ask for nn.py as a "
                "file upload",
            )
            continue
        full_name, items = by_id.setdefault(match.group("id"), (match.group("name"), []))
        if child.is_dir:
            items += items_under(tree, child.path)
        else:
            items.append(Item(tree, child.path, match.group("file")))
    groups = []
    for participant, (full_name, items) in sorted(by_id.items()):
        # Blind marking names everyone "Participant": the id is then the only name there is.
        shown = f"{full_name} {participant}" if full_name == BLIND else full_name
        student = Student(name=shown, platform="moodle", lms_id=participant)
        groups.append(Group(safe_name(shown), items, student, source=f"{full_name}_{participant}"))
    return groups
