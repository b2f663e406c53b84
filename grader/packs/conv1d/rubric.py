"""Conv1d's rubric: q1 (forward, with the output-size test) and q2 (backward, shared between the gradients)."""

from __future__ import annotations

from pydantic import Field, model_validator

from grader.scoring import GradientShares, GradientsQuestion, RubricModel

Q2Components = GradientShares
"""q2's shares (the shape every layer pack's backward question has: :mod:`grader.scoring`)."""
Q2Rubric = GradientsQuestion


class Q1Rubric(RubricModel):
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


class Rubric(RubricModel):
    q1: Q1Rubric
    """Q1, ``Conv1d.forward`` with the output-size checks."""
    q2: GradientsQuestion
    """Q2, ``Conv1d.backward``: ``dx``, ``grad_weight`` and ``grad_bias``."""
