"""Conv1d's rubric: q1 (forward, with the output-size test) and q2 (backward, shared between the gradients)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
