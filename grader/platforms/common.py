"""What the platform shells share: finding the hand-in, the key, the config, writing results atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from grader.config import Config, load_config
from grader.errors import ConfigError
from grader.exports import NOTEBOOK_REASON, is_nn
from grader.keys import HiddenKey, load_key
from grader.submission import FILENAME

KEY_FILE = "hidden.key"
"""The hidden-case key's name beside the course config, when the instructor ships one."""
CONFIG_FILE = "course.toml"
"""The course config's name in the platform's folder (Gradescope's source/, PrairieLearn's tests/)."""


def find_handin(folder: Path) -> tuple[Path | None, str]:
    """The shallowest ``nn.py`` (any case) under ``folder``, links not followed; else None and what to tell
    the student (what was found instead)."""
    found: list[Path] = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        found += [Path(root, n) for n in sorted(names)]
    candidates = sorted(
        (p for p in found if is_nn(p.name)), key=lambda p: (len(p.relative_to(folder).parts), p.as_posix())
    )
    if candidates:
        return candidates[0], ""
    names = [p.relative_to(folder).as_posix() for p in found]
    if not names:
        return None, f"No file was handed in. Hand in {FILENAME}."
    notebooks = [n for n in names if n.lower().endswith(".ipynb")]
    if notebooks:
        return None, f"{notebooks[0]} is {NOTEBOOK_REASON}, named {FILENAME}."
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    return None, f"No {FILENAME} was found in your submission (it holds {shown}). Hand in {FILENAME}."


def course_config(folder: Path) -> Config:
    """The course config shipped in ``folder`` (merged over the defaults), or the defaults."""
    path = folder / CONFIG_FILE
    return load_config(path if path.is_file() else None)


def course_key(folder: Path, config: Config) -> tuple[HiddenKey, str]:
    """The key shipped in ``folder``, else the deployment's (made in this container on first use), and a note
    saying which, for the instructor."""
    shipped = folder / KEY_FILE
    if shipped.is_file():
        try:
            text = shipped.read_text("ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the shipped hidden-case key {shipped}: {exc}") from None
        return HiddenKey(text.encode()), f"hidden inputs drawn with the shipped key ({shipped})"
    return load_key(config.cases.key_file or None), "hidden inputs drawn with a key made in this container"


def write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    """``data`` as JSON at ``path``, written once: to a temporary file in the same folder, then renamed, so the
    platform never uploads a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
