"""The grading config: rubric, tolerances, limits, hidden-case seed and visibility, in one TOML file.

The defaults ship in ``grader/defaults.toml``. A user file passed with ``--config`` is merged over them key
by key, so it only needs the values it changes; unknown keys are errors, so a typo never silently keeps a
default.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grader.errors import ConfigError
from grader.runner import Limits

Visibility = Literal["visible", "hidden", "after_due_date"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Q1Rubric(_Frozen):
    title: str
    """Question title shown to students."""
    points: float = Field(ge=0)
    """Points for the whole question."""
    output_size_points: float = Field(ge=0)
    """Points for the ``get_conv1d_output_size`` test; the rest is split over the forward cases."""

    @model_validator(mode="after")
    def _output_size_fits(self) -> Q1Rubric:
        if self.output_size_points > self.points:
            raise ValueError("output_size_points is larger than the question's points")
        return self


class Q2Components(_Frozen):
    dx: float = Field(ge=0)
    """Share of q2 for the returned gradient with respect to the input."""
    grad_weight: float = Field(ge=0)
    """Share of q2 for ``layer.grad_weight``."""
    grad_bias: float = Field(ge=0)
    """Share of q2 for ``layer.grad_bias``."""


class Q2Rubric(_Frozen):
    title: str
    """Question title shown to students."""
    points: float = Field(ge=0)
    """Points for the whole question, shared between the components in proportion."""
    components: Q2Components
    """Relative weight of each gradient."""


class Rubric(_Frozen):
    q1: Q1Rubric
    """Q1, ``Conv1d.forward`` with the output-size checks."""
    q2: Q2Rubric
    """Q2, ``Conv1d.backward``: ``dx``, ``grad_weight`` and ``grad_bias``."""


class Tolerance(_Frozen):
    rtol: float = Field(ge=0)
    """Relative tolerance, as in ``np.allclose``."""
    atol: float = Field(ge=0)
    """Absolute tolerance, as in ``np.allclose``."""


class LimitsConfig(_Frozen):
    cpu_seconds: float = Field(gt=0)
    """CPU time one test may use."""
    wall_seconds: float = Field(gt=0)
    """Wall time one test may take."""
    total_wall_seconds: float = Field(gt=0)
    """Wall time for a whole submission."""
    memory_mb: int = Field(gt=0)
    """Memory a submission may allocate on top of the interpreter."""
    max_processes: int = Field(gt=0)
    """Processes and threads a submission may have at once."""
    max_file_mb: int = Field(gt=0)
    """Largest file a submission may write in its scratch folder."""
    max_open_files: int = Field(gt=0)
    """Open file descriptors a submission may hold."""
    output_bytes: int = Field(ge=0)
    """Captured prints kept per test."""
    max_return_mb: int = Field(gt=0)
    """Largest array accepted back from one call."""
    max_upload_bytes: int = Field(gt=0)
    """Largest ``nn.py`` accepted."""

    def runner_limits(self) -> Limits:
        """The subset the runner enforces (everything but the upload limit, which is checked before any run)."""
        return Limits(**self.model_dump(exclude={"max_upload_bytes"}))


class CasesConfig(_Frozen):
    seed: int
    """Seed of the hidden cases; change it to draw a new set of hidden values."""


class VisibilityConfig(_Frozen):
    hidden: Visibility
    """Visibility of every hidden case (the handout's cases are always visible)."""
    overrides: dict[str, Visibility] = Field(default_factory=dict)
    """Per-test overrides, keyed by test name."""


class Config(_Frozen):
    """Everything that decides a grade, apart from the submission."""

    rubric: Rubric
    """Points per question and per component."""
    tolerance: Tolerance
    """How close a value must be to count as right."""
    limits: LimitsConfig
    """Time, memory and size limits."""
    cases: CasesConfig
    """How the hidden cases are drawn."""
    visibility: VisibilityConfig
    """Which tests students see."""


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _defaults() -> dict[str, Any]:
    return tomllib.loads(resources.files("grader").joinpath("defaults.toml").read_text("utf-8"))


def load_config(path: str | Path | None = None) -> Config:
    """The shipped defaults, with the TOML file at ``path`` merged over them when given."""
    data = _defaults()
    if path is not None:
        try:
            data = _merge(data, tomllib.loads(Path(path).read_text("utf-8")))
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config {path} is not valid TOML: {exc}") from exc
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"config {path or 'defaults'} is invalid:\n{exc}") from exc
