"""Canvas's "Download Submissions" (a zip, or the folder it unzips to): flat files named
``<name>[_LATE]_<user id>_<file id>_<file name>``. Canvas renames a re-uploaded ``nn.py`` to ``nn-1.py``,
``nn-2.py``...: the latest upload wins (the highest file id, which Canvas hands out in order)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from grader.exports.choose import Item
from grader.exports.core import Child, Context, Group
from grader.exports.model import Student, safe_name
from grader.exports.trees import Tree

# "<sortable name slug>[_LATE]_<user id or anon_id>_<attachment id>_<display name>"; the slug has no "_<digits>_"
# in it (Canvas strips that so that its own re-upload can find the ids), so the first match is right. The file's
# own name is the student's: DOTALL, since it may hold a newline.
FILE = re.compile(
    r"^(?P<name>.+?)(?P<late>_LATE)?_(?P<uid>\d+|anon_[A-Za-z0-9]+)_(?P<fid>\d+)_(?P<file>.+)\Z", re.DOTALL
)
TEXT = re.compile(r"^(?P<name>.+?)(?:_LATE)?_(?P<uid>\d+|anon_[A-Za-z0-9]+)_(?:text|link)\.html$")
_UPLOAD_NUMBER = re.compile(r"(?:-(\d+)| ?\((\d+)\))\.[^.]+$")


def claim(tree: Tree, kids: dict[str, Child], folder: PurePosixPath, ctx: Context) -> list[Group]:
    by_student: dict[str, list[tuple[re.Match[str], Child]]] = {}
    for name, child in list(kids.items()):
        if child.is_dir:
            continue
        text = TEXT.match(name)
        if text:
            del kids[name]
            ctx.skip(
                tree.where(child.path),
                "a text entry or link submitted on Canvas, not a file: ask for nn.py as a file upload",
            )
            continue
        match = FILE.match(name)
        if match:
            del kids[name]
            by_student.setdefault(match.group("uid"), []).append((match, child))
    groups = []
    for uid, uploads in sorted(by_student.items()):
        slug = max(uploads, key=lambda mc: int(mc[0].group("fid")))[0].group("name")
        items = [
            Item(
                tree,
                child.path,
                match.group("file"),
                attempt=(int(match.group("fid")), _upload_number(match.group("file"))),
                attempt_label=f"Canvas file {match.group('fid')}",
            )
            for match, child in uploads
        ]
        late = any(m.group("late") for m, _ in uploads)
        student = Student(name=slug, canvas_id=uid if uid.isdigit() else "", platform="canvas")
        groups.append(
            Group(safe_name(slug), items, student, note="submitted late (Canvas)" if late else "", source=slug)
        )
    return groups


def _upload_number(display_name: str) -> int:
    match = _UPLOAD_NUMBER.search(display_name)
    return int(match.group(1) or match.group(2)) if match else 0
