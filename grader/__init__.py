"""Autograder for the course's NumPy assignments: grade students' ``nn.py`` safely and fast. Each assignment
is a pack (:class:`AssignmentPack`; Conv1d, Assignment 2 Part A, is the default one).

The whole public surface is here; everything else is an implementation detail. Names load on first use, so
that ``import grader.cli`` (and a one-file ``grade``) pays for NumPy and pydantic only when it needs them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.config import Config, load_config
    from grader.engine import grade
    from grader.errors import GraderError, GraderFault, SubmissionError
    from grader.keys import HiddenKey, load_key
    from grader.models import Comparison, QuestionResult, Result, TestResult
    from grader.pack import AssignmentPack, QuestionSpec
    from grader.registry import available, get_pack
    from grader.runner import Runner
    from grader.submission import Submission

_HOMES = {
    "AssignmentPack": "grader.pack",
    "QuestionSpec": "grader.pack",
    "available": "grader.registry",
    "get_pack": "grader.registry",
    "Comparison": "grader.models",
    "Config": "grader.config",
    "GraderError": "grader.errors",
    "GraderFault": "grader.errors",
    "HiddenKey": "grader.keys",
    "QuestionResult": "grader.models",
    "Result": "grader.models",
    "Runner": "grader.runner",
    "Submission": "grader.submission",
    "SubmissionError": "grader.errors",
    "TestResult": "grader.models",
    "grade": "grader.engine",
    "load_config": "grader.config",
    "load_key": "grader.keys",
}

__all__ = [
    "AssignmentPack",
    "Comparison",
    "Config",
    "GraderError",
    "GraderFault",
    "HiddenKey",
    "QuestionResult",
    "QuestionSpec",
    "Result",
    "Runner",
    "Submission",
    "SubmissionError",
    "TestResult",
    "available",
    "get_pack",
    "grade",
    "load_config",
    "load_key",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value
