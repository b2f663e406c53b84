"""``conv1d-grader serve``: settings from flags and environment, checks, then uvicorn."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import uvicorn

from grader.config import load_config
from grader.engine import default_runner
from grader.service.app import create_app
from grader.service.settings import ServiceSettings
from grader.service.slowclients import protocol_with

log = logging.getLogger("grader.service")


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    data: Path | None = None,
    config_path: Path | None = None,
    forwarded_allow_ips: str | None = None,
) -> None:
    """Run the service until interrupted. Raises :class:`~grader.errors.ConfigError` when it must not start."""
    overrides: dict[str, Any] = {}
    if data is not None:
        overrides["data"] = data
    if config_path is not None:
        overrides["config"] = config_path
    settings = ServiceSettings(**overrides)
    settings.check_startable()
    config = load_config(settings.config)  # a broken config stops the start, not the first upload
    # Started here, not on the first upload: a sandbox that cannot start (no root, no namespaces) is an
    # operator error to see at once, raised as SandboxUnavailable.
    runner = default_runner()
    if settings.dev and settings.token is None:
        log.warning("development mode without CONV1D_TOKEN: the instructor endpoints are open")
    app = create_app(settings, config=config, runner=runner)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=15,
        http=protocol_with(settings.header_timeout_seconds),
        timeout_keep_alive=int(max(1, settings.keep_alive_seconds)),
        h11_max_incomplete_event_size=settings.max_header_bytes,
        # Behind a reverse proxy (see the README's TLS section) the client's address and scheme come from its
        # X-Forwarded-* headers, trusted from ``forwarded_allow_ips`` only (default: $FORWARDED_ALLOW_IPS, else
        # loopback).
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
    )
