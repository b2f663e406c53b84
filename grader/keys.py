"""The secret hidden inputs are drawn from, and the draw for one submission.

Hidden inputs used to come from a seed in the public config, so anyone could regenerate them, and every
sandbox saw the same ones, so inputs leaked by one file could be answered from a table by the next. Now
each submission's hidden inputs come from ``HMAC(key, sha256(file))``: nobody can know them without the
key, the same file always gets the same ones (a grade is a function of the submission alone), and a file
changed by one byte gets different ones, so a table of answers recorded from any grading is worthless.

The key is made per deployment, on first use, and kept outside the repository (a file readable by the
grader's user only), or given in the environment. A :class:`HiddenDraw` in the instructor's result records
what a regrade needs to reproduce the verdict: the key's id and the file's digest.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from grader.errors import ConfigError

KEY_ENVIRONMENT = "CONV1D_HIDDEN_KEY"
"""When set, the key itself (at least 16 characters); it wins over any key file."""
SCHEME = "hmac-sha256/v1"
"""How a draw's seed is derived; part of every recorded draw so that a change of scheme is never silent."""
_MIN_KEY_CHARS = 16


class HiddenDraw(BaseModel):
    """What a regrade needs to reproduce one submission's hidden inputs. Instructor-only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scheme: str
    """How the seed is derived from the key and the file (``hmac-sha256/v1``)."""
    key_id: str
    """Identifies the key (a digest of it, not the key): the same id means the same hidden inputs."""
    submission_sha256: str
    """SHA-256 of the submitted file's bytes."""


@dataclass(frozen=True)
class HiddenKey:
    """A deployment's secret for drawing hidden inputs."""

    secret: bytes = field(repr=False)

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"conv1d-grader key id\0" + self.secret).hexdigest()[:16]

    def draw(self, data: bytes) -> tuple[int, HiddenDraw]:
        """The seed of the hidden inputs for a file with these bytes, and the record of how it was drawn."""
        digest = hashlib.sha256(data).hexdigest()
        mac = hmac.new(self.secret, f"{SCHEME}\0{digest}".encode(), hashlib.sha256).digest()
        return int.from_bytes(mac, "big"), HiddenDraw(scheme=SCHEME, key_id=self.key_id, submission_sha256=digest)


def default_key_path() -> Path:
    """Where the CLI keeps its key when the config names none: the user's data folder."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "conv1d-grader" / "hidden.key"


_loaded: dict[Path, HiddenKey] = {}
_lock = threading.Lock()


def load_key(path: str | Path | None = None) -> HiddenKey:
    """The key from ``CONV1D_HIDDEN_KEY``, else from the file at ``path`` (default :func:`default_key_path`),
    which is made (readable by this user only) if it does not exist yet."""
    from_environment = os.environ.get(KEY_ENVIRONMENT)
    if from_environment is not None:
        if len(from_environment.strip()) < _MIN_KEY_CHARS:
            raise ConfigError(f"{KEY_ENVIRONMENT} is set but shorter than {_MIN_KEY_CHARS} characters")
        return HiddenKey(from_environment.strip().encode())
    file = Path(path) if path else default_key_path()
    with _lock:
        key = _loaded.get(file)
        if key is None:
            key = _loaded[file] = _read_or_make(file)
        return key


def _read_or_make(file: Path) -> HiddenKey:
    try:
        if not file.exists():
            file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            draft = file.with_name(f".{file.name}.{secrets.token_hex(8)}")
            fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32) + "\n")
            # A link is atomic and never replaces: two graders starting at once agree on the first key made.
            try:
                os.link(draft, file)
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        text = file.read_text("ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read or make the hidden-case key {file}: {exc}") from exc
    if len(text) < _MIN_KEY_CHARS:
        raise ConfigError(f"the hidden-case key {file} is shorter than {_MIN_KEY_CHARS} characters")
    return HiddenKey(text.encode())
