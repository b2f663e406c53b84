"""Students' styles, right and wrong, through the real sandbox: every correct one gets full marks, every wrong
one loses points with feedback that names what went wrong.

The files are in ``tests/fixtures/styles/``, each with an ``expected:`` line in its docstring in the format
of the pack's samples (:func:`tests.test_submissions.expectation`), plus:

    hint=<fingerprint>      every test failed on a wrong value names this mistake (tests that raised are
                            judged by their exception's own message and ``error=``)
    error=<fingerprint>     every test whose call raised names this mistake
    feedback=<text>         some failing test's feedback says this

They are not samples: the samples document the pack; these check that no style a student may write is
penalised (einsum, stride tricks, im2col, np.correlate per channel pair, FFT, pure Python lists, np.add.at or
np.sum on every term, float32 or longdouble inside, integer outputs for integer inputs, dataclasses,
``__slots__``, a base class, a heavy ``__main__`` block, inputs overwritten after use) and that the common
mistakes read well.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import Result, grade, load_config
from grader.config import Config
from tests.test_submissions import SAMPLES, check_expectation, expectation

STYLES = sorted((Path(__file__).resolve().parent / "fixtures" / "styles").glob("*.py"))

_SLOW = ("correct_np_sum_per_term", "correct_element_add_at", "correct_pure_python_lists")
SLOWEST = [STYLES[0].parent / f"{name}.py" for name in _SLOW] + [SAMPLES / "correct_loops.py"]
"""The styles with the most CPU time per multiply-add: a NumPy function or ufunc call per term, pure Python
over lists, and element indexing (the pack's own sample)."""


def _check_mistakes(path: Path, result: Result) -> None:
    want = expectation(path)
    failed = [t for t in result.tests() if t.status == "failed"]
    raised = [t for t in result.tests() if t.status == "error"]
    if "hint" in want:
        assert failed, "a value should have come back wrong"
        assert {t.mistake for t in failed} == {want["hint"]}, [(t.name, t.mistake) for t in failed]
        assert all(t.hint and f"Likely cause: {t.hint}" in t.feedback for t in failed)
    if "error" in want:
        assert raised, "a call should have raised"
        assert {t.mistake for t in raised} == {want["error"]}, [(t.name, t.mistake) for t in raised]
        assert all(t.hint and t.hint in t.feedback for t in raised)
    if "feedback" in want:
        assert any(want["feedback"] in t.feedback for t in failed + raised), [t.feedback for t in failed + raised]


@pytest.mark.parametrize("path", STYLES, ids=[p.stem for p in STYLES])
def test_style_gets_its_verdict_and_feedback(path: Path) -> None:
    result = grade(path, load_config())
    check_expectation(path, result)
    _check_mistakes(path, result)
    if path.stem.startswith("correct_"):
        assert result.score == result.max_score
        assert all(t.status == "passed" for t in result.tests())


@pytest.fixture(scope="module")
def three_times_slower(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The default config with every CPU allowance cut to a third: what a machine three times slower than the
    reference one leaves of the margin."""
    default = load_config().limits.cpu_factor
    path = tmp_path_factory.mktemp("slow") / "slow.toml"
    path.write_text(f"[limits]\ncpu_factor = {default / 3!r}\n")
    return load_config(path)


@pytest.mark.parametrize("path", SLOWEST, ids=[p.stem for p in SLOWEST])
def test_slowest_styles_keep_full_marks_with_a_third_of_the_cpu_allowance(
    path: Path, three_times_slower: Config
) -> None:
    result = grade(path, three_times_slower)
    assert result.score == result.max_score, [(t.name, t.feedback) for t in result.tests() if t.status != "passed"]
