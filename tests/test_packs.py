"""Packs from elsewhere: a pack defined here, registered through the entry-point lookup, graded end to end.

A course ships its own pack as a distribution with an entry point in the ``conv1d_grader.packs`` group; the
lookup is replaced here so that the test needs no installed distribution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

from grader import grade, load_config, registry
from grader.config import Config, LimitsConfig
from grader.errors import ConfigError
from grader.models import QuestionResult
from grader.pack import AssignmentPack, QuestionSpec
from grader.runner import Call, CallOutcome, Input, Step
from grader.scoring import Scorer, ValueCheck, even, question


class SquareRubric(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    title: str = "square"
    points: float = 10


class SquarePack(AssignmentPack):
    """``square(x)`` returns ``x * x``: the smallest assignment, one question, one call per case."""

    name = "square"
    title = "Squares"
    required_names = ("square",)

    def default_rubric(self) -> dict[str, Any]:
        return {"title": "square", "points": 10}

    def parse_rubric(self, data: Mapping[str, Any]) -> SquareRubric:
        return SquareRubric.model_validate(data)

    def questions(self, rubric: BaseModel) -> tuple[QuestionSpec, ...]:
        assert isinstance(rubric, SquareRubric)
        return (QuestionSpec("squares", rubric.title, rubric.points),)

    def build_cases(self, seed: int) -> tuple[np.ndarray, ...]:
        rng = np.random.default_rng(seed)
        return (np.arange(4.0), rng.integers(-9, 10, size=5) / 4)

    def plan_calls(self, cases: tuple[np.ndarray, ...], limits: LimitsConfig) -> tuple[Call, ...]:
        return tuple(
            Call(f"square/{i}", "square", (Step("call", "square", (Input("x"),), save="y"),), {"x": x})
            for i, x in enumerate(cases)
        )

    def expected_bytes(self, cases: tuple[np.ndarray, ...]) -> int:
        return 8 * sum(x.size for x in cases)

    def score(
        self,
        cases: tuple[np.ndarray, ...],
        config: Config,
        outcomes: Sequence[CallOutcome],
        not_run: str,
        *,
        diagnose: bool = True,
    ) -> tuple[QuestionResult, ...]:
        rubric = config.rubric
        assert isinstance(rubric, SquareRubric)
        scorer = Scorer(config, {o.key: o for o in outcomes}, not_run)
        tests = [
            scorer.value_test(ValueCheck(f"square_{i}", "squares", f"square/{i}", "y", x * x, pts, i == 0, "square(x)"))
            for i, (x, pts) in enumerate(zip(cases, even(rubric.points, len(cases)), strict=True))
        ]
        return (question("squares", rubric.title, tests),)


SQUARE = SquarePack()


@pytest.fixture
def square_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = registry._entry_points()
    extra = EntryPoint(name="square", value=f"{__name__}:SQUARE", group=registry.GROUP)
    monkeypatch.setattr(registry, "_entry_points", lambda: (*installed, extra))


def test_a_pack_from_elsewhere_is_listed_and_graded_through_the_sandbox(square_installed: None, tmp_path: Path):
    assert registry.available() == ("conv1d", "linear", "square")
    config = load_config(None, "square")
    right, wrong = tmp_path / "right.py", tmp_path / "wrong.py"
    right.write_text("def square(x):\n    return x * x\n")
    wrong.write_text("def square(x):\n    return x + x\n")
    result = grade(right, config)
    assert result.status == "graded" and result.score == result.max_score == 10
    assert [q.id for q in result.questions] == ["squares"]
    graded = grade(wrong, config)
    assert graded.score == 0 and all(t.status == "failed" for t in graded.tests())


def test_a_config_names_its_pack(square_installed: None, tmp_path: Path) -> None:
    path = tmp_path / "square.toml"
    path.write_text('assignment = "square"\n[rubric]\npoints = 4\n')
    config = load_config(path)
    assert config.assignment == "square" and config.rubric == SquareRubric(points=4)


def test_an_entry_point_that_is_no_pack_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    bogus = EntryPoint(name="bogus", value="grader.runner:Call", group=registry.GROUP)
    monkeypatch.setattr(registry, "_entry_points", lambda: (bogus,))
    with pytest.raises(ConfigError, match="not an AssignmentPack"):
        registry.get_pack("bogus")


def test_without_a_name_the_only_pack_is_used_and_several_need_one(monkeypatch: pytest.MonkeyPatch) -> None:
    only = EntryPoint(name="square", value=f"{__name__}:SQUARE", group=registry.GROUP)
    monkeypatch.setattr(registry, "_entry_points", lambda: (only,))
    assert registry.get_pack() is SQUARE
    monkeypatch.setattr(registry, "_entry_points", lambda: (only, only.__class__("x", "y:z", registry.GROUP)))
    with pytest.raises(ConfigError, match="say which assignment"):
        registry.get_pack()


def test_a_batch_gradebook_has_a_column_per_question_of_the_pack(square_installed: None, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from grader.cli import main

    folder = tmp_path / "handins"
    folder.mkdir()
    (folder / "alice.py").write_text("def square(x):\n    return x * x\n")
    (folder / "bob.py").write_text("def square(x):\n    return x\n")
    out = tmp_path / "grades.csv"
    ran = CliRunner().invoke(main, ["batch", str(folder), "--assignment", "square", "--out", str(out), "--no-progress"])
    assert ran.exit_code == 0, ran.output
    assert "mean squares 5.00/10" in ran.output
    lines = out.read_text().splitlines()
    assert lines[0] == "submission,source,squares,score,max_score,status"
    assert lines[1].startswith("alice,alice.py,10,10,10,graded")


def test_a_call_program_is_checked_where_it_is_made_and_sent_as_json() -> None:
    report = Step("report")
    with pytest.raises(ValueError, match="forward_key"):
        Call("k", "op", (Step("method", "f", save="a"), report))  # a report step without a key to report under
    with pytest.raises(ValueError, match="forward_key"):
        Call("k", "op", (Step("method", "f", save="a"),), forward_key="first")
    with pytest.raises(ValueError, match="distinct"):
        Call("k", "op", (Step("call", "f", save="a"), Step("call", "g", save="a")))
    with pytest.raises(ValueError, match="characters"):
        Call("k", "op", (Step("call", "f", save="x" * 65),))
    call = Call(
        "second",
        "op",
        (Step("new", "Layer", (2,)), Step("set", "w", (Input("w"),)), Step("method", "f", save="a"), report,
         Step("get", "grad", save="g")),
        forward_key="first",
    )  # fmt: skip
    first, second = call.stages()
    assert (first.key, first.outputs, first.where) == ("first", ("a",), "f")
    assert (second.key, second.outputs, second.where) == ("second", ("g",), "op")
    assert call.steps[1].to_wire() == {
        "action": "set", "name": "w", "args": [{"input": "w"}], "save": None, "where": None
    }  # fmt: skip
    assert call.steps[0].to_wire()["where"] == "__init__"
