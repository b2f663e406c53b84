"""The roster: a CSV of ``id, name, email`` read into checked, normalised entries.

Ids and emails are compared as people read them, so they are normalised (NFKC, then casefolded): ``Ａlice``
(fullwidth) and ``ALICE`` are both ``alice``, and two rows that normalise to the same id are refused rather than
merged. Look-alikes are refused too: an id that mixes scripts (a Cyrillic ``а`` among Latin letters reads as
``alice`` but is another string) would let one student pass for another in the gradebook. The check is a small
one on :func:`unicodedata.name` (the script is the first word of a letter's name: LATIN, CYRILLIC, GREEK...)
rather than the ``confusable_homoglyphs`` package: that package's tables date from 2017-era Unicode data and
its last release is from early 2024, while ``unicodedata`` follows the interpreter's Unicode version and
mixed scripts is exactly the rule wanted here (an all-Cyrillic or all-Greek id is fine).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass

from grader.service.errors import InvalidField

ID_PATTERN = re.compile(r"\w[\w.@+-]{0,63}")
"""Letters or digits first (a leading ``=``, ``+``, ``-`` or ``@`` would be a formula in a spreadsheet)."""
EMAIL_PATTERN = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s.]{1,63}")
MAX_NAME = 200
MAX_ROWS = 5000


class RosterError(InvalidField):
    """A roster that cannot be imported: every bad line is named in the message, and nothing is imported."""


@dataclass(frozen=True)
class RosterEntry:
    """One checked, normalised roster line."""

    id: str
    name: str
    email: str


def normalise(value: str) -> str:
    """NFKC then casefold, trimmed: the form ids and emails are stored and compared in."""
    return unicodedata.normalize("NFKC", value).casefold().strip()


def _script(char: str) -> str | None:
    """The script of a letter (from its Unicode name), None for anything else (digits, punctuation)."""
    if not char.isalpha():
        return None
    name = unicodedata.name(char, "")
    return name.split(" ", 1)[0] if name else "UNKNOWN"


def scripts(value: str) -> set[str]:
    return {s for s in map(_script, value) if s is not None}


def mixed_scripts(value: str) -> bool:
    """True when the letters come from more than one script (CJK ideographs and kana count as one, Han)."""
    found = {"CJK" if s in ("HIRAGANA", "KATAKANA") else s for s in scripts(value)}
    return len(found) > 1


def check_id(raw: str) -> str:
    """The normalised id, or ValueError with the reason."""
    value = normalise(raw)
    if not ID_PATTERN.fullmatch(value):
        raise ValueError(
            f"id {raw!r}: use 1 to 64 letters, digits, '.', '_', '@', '+' or '-', starting with a letter or digit"
        )
    if mixed_scripts(value):
        raise ValueError(f"id {raw!r} mixes scripts ({', '.join(sorted(scripts(value)))}): a look-alike of another id")
    return value


def check_name(raw: str) -> str:
    """The name (NFKC, case kept: it is shown, not compared), or ValueError. Each word must be of one script."""
    value = " ".join(unicodedata.normalize("NFKC", raw).split())
    if not value or len(value) > MAX_NAME or any(unicodedata.category(c).startswith("C") for c in value):
        raise ValueError(f"name {raw!r}: 1 to {MAX_NAME} printable characters")
    for word in value.split(" "):
        if mixed_scripts(word):
            raise ValueError(f"name {raw!r}: the word {word!r} mixes scripts ({', '.join(sorted(scripts(word)))})")
    return value


def check_email(raw: str) -> str:
    value = normalise(raw)
    if not EMAIL_PATTERN.fullmatch(value) or mixed_scripts(value.split("@", 1)[0]):
        raise ValueError(f"email {raw!r} is not an address")
    return value


def parse_roster(data: bytes) -> list[RosterEntry]:
    """The entries of a roster CSV (UTF-8, a BOM allowed; a header naming ``id``, ``name`` and ``email`` in any
    order and case; other columns ignored). Raises :class:`RosterError` listing every bad line."""
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RosterError(f"the roster is not UTF-8 text (byte {exc.start})") from exc
    reader = csv.reader(io.StringIO(content, newline=""))
    header = [normalise(h) for h in next(reader, [])]
    missing = [c for c in ("id", "name", "email") if c not in header]
    if missing:
        raise RosterError(
            f"the roster's first line must name the columns id, name, email (missing: {', '.join(missing)})"
        )
    where = {c: header.index(c) for c in ("id", "name", "email")}
    entries: list[RosterEntry] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(entries) + len(problems) >= MAX_ROWS:
            problems.append(f"more than {MAX_ROWS} students")
            break
        try:
            cells = {c: row[i] if i < len(row) else "" for c, i in where.items()}
            entry = RosterEntry(check_id(cells["id"]), check_name(cells["name"]), check_email(cells["email"]))
        except ValueError as exc:
            problems.append(f"line {line}: {exc}")
            continue
        if entry.id in seen:
            problems.append(f"line {line}: id {entry.id!r} is already on line {seen[entry.id]} (ids are compared "
                            "after normalisation: case and width do not count)")
            continue
        seen[entry.id] = line
        entries.append(entry)
    if problems:
        raise RosterError("the roster was not imported: " + "; ".join(problems))
    if not entries:
        raise RosterError("the roster has no students")
    return entries
