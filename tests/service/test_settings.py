"""Settings from the environment, and the refusal to start in production without a token."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.errors import ConfigError
from grader.service.settings import ServiceSettings


def test_settings_come_from_conv1d_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONV1D_DATA", str(tmp_path))
    monkeypatch.setenv("CONV1D_WORKERS", "3")
    monkeypatch.setenv("CONV1D_MAX_QUEUE", "5")
    monkeypatch.setenv("CONV1D_WAIT_SECONDS", "0.5")
    monkeypatch.setenv("CONV1D_TOKEN", "t" * 20)
    settings = ServiceSettings()
    assert (settings.workers, settings.max_queue, settings.wait_seconds) == (3, 5, 0.5)
    assert settings.database() == f"sqlite:///{tmp_path / 'grader.db'}"
    assert "t" * 20 not in repr(settings)  # the token never shows in logs or tracebacks
    monkeypatch.setenv("CONV1D_DATABASE_URL", "sqlite:////elsewhere/x.db")
    assert ServiceSettings().database() == "sqlite:////elsewhere/x.db"


def test_production_needs_a_real_token(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CONV1D_TOKEN", "CONV1D_DEV"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="no instructor token"):
        ServiceSettings().check_startable()
    with pytest.raises(ConfigError, match="shorter than 16"):
        ServiceSettings(token="short").check_startable()
    ServiceSettings(token="x" * 32).check_startable()
    ServiceSettings(dev=True).check_startable()


def test_serve_refuses_to_start_without_a_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("CONV1D_TOKEN", "CONV1D_DEV"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["serve", "--data", str(tmp_path / "data")])
    assert result.exit_code == 2
    assert "no instructor token" in result.output
    assert not (tmp_path / "data").exists()  # refused before touching anything
