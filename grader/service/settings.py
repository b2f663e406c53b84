"""The service's settings, read from ``CONV1D_*`` environment variables (pydantic-settings).

Command-line flags of ``conv1d-grader serve`` override the environment; the environment overrides the
defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from grader.errors import ConfigError

MIN_TOKEN_LENGTH = 16
"""Shorter instructor tokens are refused outside development mode: the token guards every grade."""


class ServiceSettings(BaseSettings):
    """Everything about running the service; everything about grading is in the grading config."""

    model_config = SettingsConfigDict(env_prefix="CONV1D_", extra="ignore")

    token: SecretStr | None = None
    """Bearer token for the instructor endpoints (``CONV1D_TOKEN``)."""
    dev: bool = False
    """Development mode: the service may start without a token, and then leaves instructor endpoints open."""
    data: Path = Path("data")
    """Folder for the SQLite database (created when missing)."""
    database_url: str | None = None
    """SQLAlchemy URL of the database; defaults to ``sqlite:///<data>/grader.db``."""
    config: Path | None = None
    """Grading config TOML (rubric, limits); the shipped defaults when unset."""
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    """Submissions graded at once."""
    max_queue: int = Field(default=64, ge=0)
    """Uploads that may wait for a worker; past ``workers + max_queue`` outstanding uploads the answer is 503."""
    wait_seconds: float = Field(default=10.0, ge=0)
    """How long ``POST /submissions`` waits for the verdict before answering 202 with the id."""
    upload_burst: int = Field(default=5, ge=1)
    """Uploads a student may make back to back (the token bucket's size)."""
    uploads_per_hour: float = Field(default=30.0, gt=0)
    """How fast the bucket refills; past it the answer is 429 with ``Retry-After``."""
    quota_bytes: int = Field(default=20 << 20, ge=0)
    """Bytes of stored uploads per student; past it the answer is 507."""
    max_result_bytes: int = Field(default=512 << 10, ge=4096)
    """Largest stored result (JSON); captured outputs are trimmed to fit."""
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    """A request body (an upload, a roster) must arrive within this; a client trickling it gets 408."""
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    """A request's headers must arrive within this after its first byte (or the connection); else 408."""
    keep_alive_seconds: float = Field(default=5.0, gt=0)
    """An idle kept-alive connection is closed after this (uvicorn's ``timeout_keep_alive``)."""
    max_header_bytes: int = Field(default=16 << 10, ge=1024)
    """Largest request head (uvicorn's ``h11_max_incomplete_event_size``)."""

    def key_file(self) -> Path:
        """Where the service keeps its hidden-case key when the config names none: beside its database."""
        return self.data / "hidden.key"

    def database(self) -> str:
        """The database URL, defaulting to a file in the data folder."""
        return self.database_url or f"sqlite:///{self.data / 'grader.db'}"

    def instructor_token(self) -> str | None:
        return self.token.get_secret_value() if self.token is not None else None

    def check_startable(self) -> None:
        """Refuse to run in production without a usable instructor token (raises ConfigError)."""
        if self.dev:
            return
        token = self.instructor_token()
        if not token:
            raise ConfigError(
                "no instructor token: set CONV1D_TOKEN (e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'`), or CONV1D_DEV=1 for development"
            )
        if len(token) < MIN_TOKEN_LENGTH:
            raise ConfigError(f"CONV1D_TOKEN is shorter than {MIN_TOKEN_LENGTH} characters; use a random token")
