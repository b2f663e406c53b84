"""Gradescope's "Export Submissions": a folder holding ``submission_metadata.yml`` and one
``submission_<id>/`` folder per submission, named by the submitters in the metadata."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from grader.exports.core import Child, Context, Group, items_under
from grader.exports.model import Student, safe_name
from grader.exports.trees import Tree

METADATA = "submission_metadata.yml"


def is_export(kids: dict[str, Child]) -> bool:
    child = kids.get(METADATA)
    return child is not None and not child.is_dir


def claim(tree: Tree, kids: dict[str, Child], folder: PurePosixPath, ctx: Context) -> list[Group]:
    """Every submission folder of the export at ``folder`` (whose entries are ``kids``), each a group."""
    if not is_export(kids):
        return []
    metadata = kids.pop(METADATA)
    ctx.skip(tree.where(metadata.path), "Gradescope's list of the submissions (read for the names)", noise=True)
    try:
        submitters = parse_gradescope_metadata(tree.read(metadata.path).decode("utf-8", "replace"))
    except Exception:  # a metadata file that cannot be read gives no names: folders keep their own
        submitters = {}
    groups = []
    for name in sorted(set(kids) | set(submitters)):
        child = kids.pop(name, None)
        if child is not None and not child.is_dir:
            ctx.skip(tree.where(child.path), "not inside a submission folder")
            continue
        people = submitters.get(name, [])
        student = Student(
            name=" + ".join(p.get("name", "") for p in people if p.get("name")),
            sis_id=" + ".join(p.get("sid", "") for p in people if p.get("sid")),
            email=" + ".join(p.get("email", "") for p in people if p.get("email")),
            platform="gradescope",
        )
        path = child.path if child is not None else folder / name
        items = items_under(tree, path) if child is not None else []
        groups.append(
            Group(
                safe_name(student.name or student.sis_id or name), items, student, source=tree.where(path, folder=True)
            )
        )
    return groups


def parse_gradescope_metadata(text: str) -> dict[str, list[dict[str, str]]]:
    """The submitters of each submission folder in Gradescope's ``submission_metadata.yml``.

    Only the shape Gradescope writes is read (``submission_<id>:`` at the left margin, a ``:submitters:`` list
    of ``- :name:``, ``:sid:``, ``:email:``), which spares the project a YAML library for one file. Anything
    else in the file is ignored; a file it cannot make sense of gives no names, and folders keep their own.
    """
    result: dict[str, list[dict[str, str]]] = {}
    current: str | None = None
    list_indent: int | None = None
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        line = raw.strip()
        if indent == 0:
            current = line[:-1].strip().strip("'\"") if line.endswith(":") else None
            list_indent = None
            if current is not None:
                result[current] = []
            continue
        if current is None:
            continue
        if line == ":submitters:":
            list_indent = indent
            continue
        if list_indent is None:
            continue
        if indent <= list_indent and not line.startswith("- "):
            list_indent = None  # the next key of the submission: the list is over
            continue
        if line.startswith("- "):
            result[current].append({})
            line = line[2:].strip()
        match = re.match(r"^:(\w+):\s*(.*)$", line)
        if match and result[current]:
            result[current][-1][match.group(1)] = _yaml_scalar(match.group(2))
    return result


def _yaml_scalar(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value
