"""The grading config: rubric, tolerances, limits, where the hidden-case key lives, and visibility, in one TOML file.

The defaults ship in ``grader/defaults.toml``. A user file passed with ``--config`` is merged over them key
by key, so it only needs the values it changes; unknown keys are errors, so a typo never silently keeps a
default.
"""

from __future__ import annotations

import tomllib
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, model_validator

from grader.errors import ConfigError
from grader.runner import Limits

Visibility = Literal["visible", "hidden", "after_due_date"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Tolerance(_Frozen):
    rtol: float = Field(ge=0)
    """Relative tolerance, as in ``np.allclose``."""
    atol: float = Field(ge=0)
    """Absolute tolerance, as in ``np.allclose``."""


_GONE = {
    "cpu_seconds": "a test's CPU allowance is now sized to its case: set `cpu_factor` and `cpu_min_seconds`",
    "wall_seconds": "wall-clock limits are gone (they depended on the machine's load): `idle_seconds` catches sleeps",
    "total_wall_seconds": "the per-submission wall budget is gone: each test has its own CPU allowance",
    "seed": "hidden inputs are drawn per submission from a secret key: see `key_file` and CONV1D_HIDDEN_KEY",
}


def _refuse_gone_keys(data: Any) -> Any:
    if isinstance(data, dict):
        for key in data:
            if key in _GONE:
                raise ValueError(f"`{key}` is no longer a setting: {_GONE[key]}")
    return data


class LimitsConfig(_Frozen):
    cpu_factor: float = Field(gt=0)
    """A test may use this many times the CPU time the slowest correct style (five nested Python loops, a
    NumPy function call per multiply-add) needs on its case, as measured on the reference machine: the margin for slower
    machines."""
    cpu_min_seconds: float = Field(gt=0)
    """The least CPU time any test may use, however small its case."""
    load_cpu_seconds: float = Field(gt=0)
    """CPU time compiling ``nn.py`` and running its top level may take."""
    idle_seconds: float = Field(gt=0)
    """Time a test may spend asleep or blocked (neither running nor waiting for a CPU)."""
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
    return_factor: float = Field(ge=1)
    """Arrays accepted back from a whole submission: this many times the bytes of the right answers (as
    float64). Bounds the grader's memory per grading, whatever the submission returns."""
    max_upload_bytes: int = Field(gt=0)
    """Largest ``nn.py`` accepted."""

    _refuse_gone = model_validator(mode="before")(_refuse_gone_keys)

    def cpu_allowance(self, reference_seconds: float) -> float:
        """The CPU time a test may use, given what the slowest correct style needs on its case."""
        return max(self.cpu_min_seconds, self.cpu_factor * reference_seconds)

    def runner_limits(self, max_return_bytes: int | None = None) -> Limits:
        """What the runner enforces (every call carries its own CPU allowance; the upload limit is checked
        before any run)."""
        return Limits(
            cpu_seconds=self.cpu_min_seconds,
            load_cpu_seconds=self.load_cpu_seconds,
            idle_seconds=self.idle_seconds,
            memory_mb=self.memory_mb,
            max_processes=self.max_processes,
            max_file_mb=self.max_file_mb,
            max_open_files=self.max_open_files,
            output_bytes=self.output_bytes,
            max_return_mb=self.max_return_mb,
            max_return_bytes=max_return_bytes,
        )


class CasesConfig(_Frozen):
    key_file: str = ""
    """File holding the secret the hidden inputs are drawn from (made on first use). Empty: the default place
    (``~/.local/share/conv1d-grader/hidden.key``; the service's ``<data>/hidden.key``). The environment
    variable ``CONV1D_HIDDEN_KEY``, when set, is the key itself and wins."""

    _refuse_gone = model_validator(mode="before")(_refuse_gone_keys)


class VisibilityConfig(_Frozen):
    hidden: Visibility
    """Visibility of every hidden case (the handout's cases are always visible)."""
    overrides: dict[str, Visibility] = Field(default_factory=dict)
    """Per-test overrides, keyed by test name."""


class PolicyConfig(_Frozen):
    """Rules the platforms apply around a verdict (Gradescope's ``run_autograder`` reads the dates and previous
    submissions from Gradescope's metadata; the web service reads ``due`` and ``late_due`` here); the grade
    itself never depends on them."""

    due: datetime | None = None
    """The due date, ISO 8601 with a timezone (TOML's offset date-time, or a string). The web service only:
    Gradescope has its own. None: no deadline."""
    late_due: datetime | None = None
    """Last moment a late upload is taken at the per-day penalty; past it ``after_late_due_date`` applies. None:
    the per-day penalty never stops."""

    late_penalty_per_day: float = Field(default=0.0, ge=0, le=1)
    """Fraction of the score taken off per started day after the due date (0.1: 10% a day)."""
    after_late_due_date: Literal["zero", "penalty"] = "zero"
    """A submission after the late due date: ``zero``, or the same per-day penalty as before it."""
    max_submissions: int = Field(default=0, ge=0)
    """Graded submissions per student; past it, the previous result stands. 0: no limit."""

    @model_validator(mode="after")
    def _dates_make_sense(self) -> PolicyConfig:
        # A naive timestamp would be read in the server's timezone: one course, two deadlines.
        for name in ("due", "late_due"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"policy.{name} needs a timezone, e.g. 2025-03-01T23:59:00+01:00 or ...Z")
        if self.late_due is not None and self.due is None:
            raise ValueError("policy.late_due needs policy.due")
        if self.due is not None and self.late_due is not None and self.late_due < self.due:
            raise ValueError("policy.late_due is before policy.due")
        return self


class SandboxConfig(_Frozen):
    require_isolation: Literal["full", "partial", "any"] = "any"
    """The least isolation a submission may run under; below it grading is refused as a grader fault (CLI exit
    2, a ``grader-error`` row in a batch, HTTP 500) rather than done with less. ``partial`` needs namespaces and
    the private filesystem view; ``full`` also a dedicated uid, seccomp and cgroups. ``any`` grades regardless,
    and every report says what was missing."""


class Config(_Frozen):
    """Everything that decides a grade, apart from the submission."""

    assignment: str
    """The assignment pack graded (:mod:`grader.registry`), e.g. ``conv1d``."""
    rubric: SerializeAsAny[BaseModel]
    """Points per question and per component, as the assignment's pack validated them
    (:meth:`grader.pack.AssignmentPack.parse_rubric`)."""
    tolerance: Tolerance
    """How close a value must be to count as right."""
    limits: LimitsConfig
    """Time, memory and size limits."""
    cases: CasesConfig
    """Where the secret the hidden cases are drawn from is kept."""
    visibility: VisibilityConfig
    """Which tests students see."""
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    """Late penalty and submission limit, for the platforms that report dates and previous submissions."""
    sandbox: SandboxConfig = SandboxConfig()
    """What the sandbox must provide before a submission runs."""


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


def for_assignment(config: Config, assignment: str) -> Config:
    """``config`` for another assignment: the same tolerances, limits, key, visibility, policy and sandbox, with
    that pack's default rubric (a service grading several assignments has one config file, for its default)."""
    if assignment == config.assignment:
        return config
    from grader.registry import get_pack

    pack = get_pack(assignment)
    return config.model_copy(update={"assignment": pack.name, "rubric": pack.parse_rubric(pack.default_rubric())})


def load_config(path: str | Path | None = None, assignment: str | None = None) -> Config:
    """The shipped defaults, the assignment pack's rubric over them, and the TOML file at ``path`` merged over
    both when given.

    The assignment is ``assignment`` when given, else the file's top-level ``assignment`` key, else the shipped
    default's (or the only pack installed when that names none).
    """
    from grader.registry import get_pack  # deferred: finding packs reads the installed distributions

    data = _defaults()
    user: dict[str, Any] = {}
    if path is not None:
        try:
            user = tomllib.loads(Path(path).read_text("utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config {path} is not valid TOML: {exc}") from exc
    name = assignment or user.get("assignment") or data.get("assignment")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"config {path or 'defaults'}: `assignment` is a pack's name, not {name!r}")
    pack = get_pack(name)
    data = _merge(_merge(data, {"rubric": pack.default_rubric()}), user)
    data["assignment"] = pack.name
    try:
        data["rubric"] = pack.parse_rubric(data.get("rubric") or {})
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"config {path or 'defaults'} is invalid:\n{exc}") from exc
