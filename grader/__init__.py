"""Conv1d autograder: grade students' ``nn.py`` for Assignment 2 Part A, safely and fast.

The whole public surface is here; everything else is an implementation detail.
"""

from grader.config import Config, load_config
from grader.engine import grade
from grader.errors import GraderError, GraderFault, SubmissionError
from grader.models import Comparison, QuestionResult, Result, TestResult
from grader.runner import Runner
from grader.submission import Submission

__all__ = [
    "Comparison",
    "Config",
    "GraderError",
    "GraderFault",
    "QuestionResult",
    "Result",
    "Runner",
    "Submission",
    "SubmissionError",
    "TestResult",
    "grade",
    "load_config",
]
