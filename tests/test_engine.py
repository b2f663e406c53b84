"""grade() end to end with a scripted runner: scoring, statuses, messages and visibility, no processes."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
import pytest
from rich.console import Console

from grader import Submission, grade, load_config
from grader.engine import NOT_GRADED
from grader.keys import load_key
from grader.packs.conv1d.calls import layer_call
from grader.packs.conv1d.cases import build_cases
from grader.report import render, to_gradescope, to_json, to_markdown
from grader.runner import Call, CallOutcome, Failure, LoadOutcome, Returned
from grader.scoring import (
    GRADIENTS,
    INTEGER_ARRAY_UPDATED,
    VECTOR_ON_LAST_AXIS,
    GradientsQuestion,
    exact_sum,
    gradient_points,
)
from tests.fakes import ScriptedRunner, array, correct, raising, right_values

SOURCE = b"import numpy as np\n# the scripted runner never executes this\n"


def run(respond=correct, *, load: LoadOutcome | None = None, data: bytes = SOURCE, config=None):
    runner = ScriptedRunner(respond=respond) if load is None else ScriptedRunner(respond=respond, load=load)
    return grade(Submission("student", data), config or load_config(), runner=runner), runner


def test_correct_outcomes_earn_full_marks():
    result, _ = run()
    assert result.status == "graded"
    assert (result.score, result.max_score) == (100, 100)
    assert [q.score for q in result.questions] == [50, 50]
    assert all(t.status == "passed" for t in result.tests())
    assert result.messages == ()


def test_every_hidden_situation_the_issue_names_is_a_case():
    names = {c.name for c in build_cases(0).forward if not c.visible}
    assert {
        "stride_not_dividing",
        "stride_above_kernel",
        "kernel_equals_input",
        "batch_one",
        "single_in_channel",
        "single_out_channel",
        "float32",
        "integer_input",
    } <= names
    assert any(name.startswith("large") for name in names)


def test_tests_are_named_as_in_the_handout():
    result, _ = run()
    names = [t.name for t in result.tests()]
    assert names[:4] == [
        "test_get_conv1d_output_size",
        "test_conv1d_forward_1",
        "test_conv1d_forward_2",
        "test_conv1d_forward_3",
    ]
    assert "test_conv1d_backward_2 (grad_weight)" in names


def test_backward_timeout_keeps_forward_credit():
    def hang_in_backward(call: Call) -> CallOutcome:
        if call.op == "backward":
            return CallOutcome(key=call.key, status="timeout", detail="exceeded the 2 s CPU limit in backward")
        return correct(call)

    result, _ = run(hang_in_backward)
    assert result.question("q1").score == 50
    assert result.question("q2").score == 0
    q2 = result.question("q2").tests
    assert {t.status for t in q2} == {"timeout"}
    assert "exceeded the 2 s CPU limit in backward" in q2[0].feedback


def test_a_crash_costs_only_its_own_test():
    def crash_once(call: Call) -> CallOutcome:
        if call.key == "forward/2":
            return CallOutcome(key=call.key, status="crashed", detail="killed by SIGSEGV")
        return correct(call)

    result, _ = run(crash_once)
    crashed = [t for t in result.tests() if t.status != "passed"]
    assert [t.name for t in crashed] == ["test_conv1d_forward_2"]
    assert crashed[0].status == "crashed" and "SIGSEGV" in crashed[0].feedback
    assert result.score == pytest.approx(100 - crashed[0].max_score)


def test_forward_bug_loses_points_only_in_q1_and_names_the_likely_cause():
    def no_bias(call: Call) -> CallOutcome:
        if call.op != "forward":
            return correct(call)
        bias = np.zeros_like(call.arrays["bias"])
        return correct(replace(call, arrays={**call.arrays, "bias": bias}))

    result, _ = run(no_bias)
    assert result.question("q2").score == 50
    assert result.question("q1").score == 5  # only the output-size test survives
    failed = [t for t in result.tests() if t.status == "failed"]
    assert failed and all(t.question == "q1" for t in failed)
    assert all(t.hint and "bias" in t.hint for t in failed)


def test_q2_components_are_scored_separately():
    def bad_grad_bias(call: Call) -> CallOutcome:
        outcome = correct(call)
        if call.op != "backward":
            return outcome
        values = dict(outcome.values)
        values["grad_bias"] = array(values["grad_bias"].array + 1)
        return replace(outcome, values=values)

    result, _ = run(bad_grad_bias)
    q2 = result.question("q2")
    assert q2.score == pytest.approx(40)  # grad_bias is 10 of q2's 50
    assert {t.name.split(" ")[1] for t in q2.tests if t.status == "failed"} == {"(grad_bias)"}


def test_syntax_error_is_rejected_with_its_line_and_no_call_runs():
    # The grader does not parse the file (that is the sandbox's work, under its limits): the runner's compile
    # reports the error, and the engine words it.
    result, runner = run(data=b"import numpy as np\n\ndef f(:\n    pass\n")
    assert result.status == "rejected"
    assert result.score == 0
    assert "line 3" in result.messages[0]
    assert "def f(:" in result.messages[0]
    assert len(runner.runs) == 1
    # Said once, at the top: every test says only that it did not run.
    assert all(t.status == "error" and t.feedback == f"Not run: {NOT_GRADED}" for t in result.tests()[1:])
    assert result.tests()[0].feedback == f"0 of 8 output sizes are right.\nNot run: {NOT_GRADED}"


def test_an_ungradable_file_says_why_once_in_every_view():
    result, _ = run(data=b"import numpy as np\n\ndef f(:\n    pass\n")
    reason = result.messages[0]
    console = Console(record=True, width=80)
    render(result, console)
    table = console.export_text()
    assert table.count("line 3") == 1 and "tests not run" in table
    assert len(table.splitlines()) < 15  # not 298 lines at 80 columns
    markdown = to_markdown(result, public=True)
    assert markdown.count("line 3") == 1 and "tests not run" in markdown
    assert to_json(result).count("line 3") == 1 and len(to_json(result, indent=None)) < 16_000
    assert json.loads(to_json(result))["messages"] == [reason]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"PK\x03\x04\x00\x00zip", "NUL bytes", id="binary"),
        pytest.param("x = 'é'".encode("latin-1"), "not UTF-8", id="latin-1"),
        pytest.param(b"x = 1\n" * 300_000, "limit is 1,048,576 bytes", id="oversized"),
        pytest.param(b'{"cells": [], "nbformat": 4}', "Jupyter notebook", id="notebook"),
    ],
)
def test_bad_files_are_rejected_with_a_message_naming_the_problem(data: bytes, words: str):
    result, runner = run(data=data)
    assert result.status == "rejected"
    assert words in result.messages[0]
    assert runner.runs == []


@pytest.mark.parametrize(
    "data",
    [
        # Deep enough to overflow the parser's and the compiler's stacks: their guards raise, not crash.
        pytest.param(b"x = " + b"-" * 200_000 + b"1\n", id="nested-expression"),
        pytest.param(b"x = " + b"+".join([b"1"] * 200_000) + b"\n", id="long-sum"),
    ],
)
def test_a_file_too_deep_to_compile_is_rejected_with_a_message(data: bytes):
    result, _ = run(data=data)
    assert result.status == "rejected"
    assert "too deeply" in result.messages[0]


@pytest.mark.parametrize(
    ("load", "words"),
    [
        pytest.param(
            LoadOutcome(status="timeout", detail="used up its 2 s of CPU time in compile", compiled=False),
            "took too long to compile",
            id="slow-compile",
        ),
        pytest.param(
            LoadOutcome(status="crashed", detail="killed for going over the 512 MiB memory limit", compiled=False),
            "could not be compiled within the sandbox's limits",
            id="huge-compile",
        ),
    ],
)
def test_a_compile_cut_short_by_the_sandbox_is_a_clear_rejection(load: LoadOutcome, words: str):
    result, _ = run(load=load)
    assert result.status == "rejected"
    assert words in result.messages[0]


@pytest.mark.parametrize(
    ("module", "words"),
    [
        pytest.param("torch", "`torch`", id="torch"),
        pytest.param("mytorch.nn", "without the rest of your mytorch package", id="mytorch"),
    ],
)
def test_an_import_the_grader_lacks_is_named(module: str, words: str):
    failure = Failure(
        where="import", type="ModuleNotFoundError", message=f"No module named '{module}'", line=2, module=module
    )
    result, _ = run(load=LoadOutcome(status="error", failure=failure))
    assert result.status == "rejected"
    assert words in result.messages[0] and "line 2" in result.messages[0]


def test_a_misnamed_class_is_pointed_out():
    load = LoadOutcome(status="ok", names=("get_conv1d_output_size", "Conv1D", "Linear"))
    result, _ = run(lambda c: correct(c) if c.op == "output_size" else raising(c, "AttributeError"), load=load)
    assert result.status == "graded"
    assert result.messages == ("nn.py defines no `Conv1d`. It defines `Conv1D`: names are case-sensitive.",)
    assert result.score == 5


def test_nothing_to_grade_is_rejected():
    result, _ = run(load=LoadOutcome(status="ok", names=("helper",)))
    assert result.status == "rejected"
    assert len(result.messages) == 2


def test_the_untouched_starter_is_named():
    result, _ = run(lambda c: raising(c, "NotImplementedError", "TODO"))
    assert result.score == 0
    assert any("NotImplementedError is still in place" in m for m in result.messages)
    assert "starter code is still in place" in result.tests()[1].feedback
    assert result.tests()[0].status == "error"


def test_output_size_rounded_up_is_failed_with_its_likely_cause():
    def ceil(call: Call) -> CallOutcome:
        if call.op != "output_size":
            return correct(call)
        size, kernel, stride = call.steps[0].args
        value = -(-(size - kernel) // stride) + 1
        return CallOutcome(
            key=call.key, status="ok", values={"size": Returned(kind="int", type_name="int", scalar=value)}
        )

    test = run(ceil)[0].tests()[0]
    assert test.status == "failed" and test.mistake == "output_size_ceil"
    assert 0 < test.score < test.max_score
    assert "get_conv1d_output_size(10, 3, 2) returned 5, expected 4" in test.feedback
    assert "Likely cause:" in test.feedback


@pytest.mark.parametrize(
    ("returned", "right"),
    [
        pytest.param(Returned(kind="int", type_name="numpy.int64", scalar=4), True, id="numpy-int"),
        pytest.param(Returned(kind="float", type_name="numpy.float64", scalar=4.0), True, id="integral-float"),
        pytest.param(Returned(kind="float", type_name="builtins.float", scalar=4.5), False, id="fraction"),
        pytest.param(Returned(kind="bool", type_name="builtins.bool", scalar=True), False, id="bool"),
    ],
)
def test_output_size_accepts_whole_numbers_of_any_type(returned: Returned, right: bool):
    def answer(call: Call) -> CallOutcome:
        if call.op == "output_size" and call.steps[0].args == (10, 3, 2):
            return CallOutcome(key=call.key, status="ok", values={"size": returned})
        return correct(call)

    result, _ = run(answer)
    test = result.tests()[0]
    assert (test.status == "passed") is right
    if not right:
        assert "get_conv1d_output_size(10, 3, 2)" in test.feedback


def test_a_list_is_not_an_ndarray():
    def as_list(call: Call) -> CallOutcome:
        outcome = correct(call)
        if call.op != "forward":
            return outcome
        value = outcome.values["out"].array
        return replace(outcome, values={"out": Returned(kind="list", type_name="builtins.list", array=value)})

    result, _ = run(as_list)
    forward = result.tests()[1]
    assert forward.status == "failed"
    assert "should be a numpy.ndarray but is a builtins.list" in forward.feedback


def test_an_array_of_a_dtype_the_grader_refuses_says_so_not_that_it_is_no_array():
    # A complex result (an FFT without `.real`): the sandbox sends no bytes, only a note on the dtype.
    note = "dtype complex128 refused: only bool, int, uint and float arrays of up to 64 bits come back"

    def complex_out(call: Call) -> CallOutcome:
        outcome = correct(call)
        if call.op != "forward":
            return outcome
        return replace(outcome, values={"out": Returned(kind="ndarray", type_name="numpy.ndarray", note=note)})

    result, _ = run(complex_out)
    forward = result.tests()[1]
    assert forward.status == "failed"
    assert "should be a numpy.ndarray" not in forward.feedback
    assert "complex128" in forward.feedback and "`.real`" in forward.feedback


def test_numpy_refusing_fractions_in_an_integer_array_names_the_likely_cause():
    message = "Cannot cast ufunc 'add' output from dtype('float64') to dtype('int64') with casting rule 'same_kind'"

    def integer_dx(call: Call) -> CallOutcome:
        return raising(call, "UFuncTypeError", message, "backward") if call.op == "backward" else correct(call)

    result, _ = run(integer_dx)
    raised = [t for t in result.tests() if t.status == "error"]
    assert raised and all(t.question == "q2" for t in raised)
    assert {t.mistake for t in raised} == {"integer_array_updated_in_place"}
    assert all("Likely cause: " in t.feedback and "np.zeros_like(x)" in t.feedback for t in raised)


@pytest.mark.parametrize(
    "message",
    [
        "operands could not be broadcast together with shapes (4,3,5) (3,) ",
        "operands could not be broadcast together with shapes (3,) (2,3,7) ",
        "operands could not be broadcast together with shapes (4,3,5) (3,) (4,3,5) ",  # out += bias
    ],
)
def test_a_vector_broadcast_along_the_last_axis_names_the_likely_cause(message: str):
    def misaligned(call: Call) -> CallOutcome:
        return raising(call, "ValueError", message, "forward") if call.op == "forward" else correct(call)

    result, _ = run(misaligned)
    raised = [t for t in result.tests() if t.status == "error"]
    assert raised and {t.mistake for t in raised} == {"vector_on_last_axis"}
    assert all("v[None, :, None]" in t.feedback for t in raised)


def test_exception_hints_hold_no_number():
    # Shown on hidden tests too, as the value hints are (tests/test_hints.py checks those).
    assert not any(ch.isdigit() for _, hint in (INTEGER_ARRAY_UPDATED, VECTOR_ON_LAST_AXIS) for ch in hint)


def test_other_exceptions_get_no_likely_cause():
    def broadcast(call: Call) -> CallOutcome:
        if call.op == "output_size":
            return correct(call)
        # shapes that a vector meant for the middle axis does not explain
        return raising(call, "ValueError", "operands could not be broadcast together with shapes (4,3,5) (4,) ")

    result, _ = run(broadcast)
    raised = [t for t in result.tests() if t.status == "error"]
    assert raised and all(t.mistake is None and t.hint is None for t in raised)
    assert all("Likely cause" not in t.feedback for t in raised)


@pytest.mark.parametrize("cases", [1, 3, 13, 16])
@pytest.mark.parametrize(
    ("points", "shares"), [(50, (20, 20, 10)), (60, (20, 25, 15)), (7, (1, 1, 1)), (50, (0, 1, 0))]
)
def test_gradient_points_add_up_exactly_per_gradient_and_per_question(
    cases: int, points: float, shares: tuple[float, float, float]
) -> None:
    question = GradientsQuestion(title="backward", points=points, components=dict(zip(GRADIENTS, shares, strict=True)))
    split = gradient_points(question, cases)
    assert set(split) == set(GRADIENTS) and all(len(split[g]) == cases for g in GRADIENTS)
    assert exact_sum(p for g in GRADIENTS for p in split[g]) == points
    for g, share in zip(GRADIENTS, shares, strict=True):
        assert exact_sum(split[g]) == pytest.approx(points * share / sum(shares), abs=1e-4)


def test_nan_values_are_named():
    def nan(call: Call) -> CallOutcome:
        outcome = correct(call)
        if call.key != "forward/1":
            return outcome
        value = outcome.values["out"].array.copy()
        value[0, 0, 0] = np.nan
        return replace(outcome, values={"out": array(value)})

    result, _ = run(nan)
    test = result.tests()[1]
    assert test.status == "failed"
    assert "1 NaN" in test.feedback and "1 of 18 values" in test.feedback


def test_visible_failures_show_the_worst_element_and_hidden_ones_do_not():
    def off(call: Call) -> CallOutcome:
        outcome = correct(call)
        if call.op != "forward":
            return outcome
        value = outcome.values["out"].array.copy()
        value.flat[-1] += 1000.125
        return replace(outcome, values={"out": array(value)})

    result, _ = run(off)
    visible = result.tests()[1]
    hidden = next(t for t in result.tests() if t.name == "hidden_forward_batch_one")
    assert "Worst at index" in visible.feedback and "expected" in visible.feedback
    assert "Worst at index" not in hidden.feedback
    assert "Conv1d(in_channels=2, out_channels=3, kernel_size=3, stride=1)" in hidden.feedback
    assert "largest absolute error" not in hidden.feedback


_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def test_no_hidden_expected_value_appears_in_a_public_result():
    def wrong_everywhere(call: Call) -> CallOutcome:
        outcome = correct(call)
        if call.op == "output_size":
            return outcome
        values = {k: array(v.array * 3 + 0.5) for k, v in outcome.values.items()}
        return replace(outcome, values=values, output="print from student 12.5")

    result, _ = run(wrong_everywhere)
    public = json.loads(to_json(result))
    gradescope = {t["name"].split(": ")[-1]: t for t in to_gradescope(result)["tests"]}
    seed, _ = load_key().draw(SOURCE)
    cases = {c.test_name("backward"): c for c in build_cases(seed).backward if not c.visible}
    checked = 0
    for test in (t for q in public["questions"] for t in q["tests"] if t["visibility"] != "visible"):
        assert test["diagnostics"] is None and test["output"] == ""
        text = " ".join([test["feedback"], test["hint"] or "", gradescope[test["name"]]["output"]])
        tokens = {float(n) for n in _NUMBER.findall(text)}
        # Hidden feedback carries shapes, parameters and counts only: whole numbers, never a fraction.
        assert all(t == int(t) for t in tokens), (test["name"], text)
        name, _, component = test["name"].partition(" (")
        case = cases.get(name.replace("forward", "backward"))
        if case is None:
            continue
        expected = case.expected_forward() if not component else case.expected_backward()[component.rstrip(")")]
        assert not {float(v) for v in expected.ravel() if v != int(v)} & tokens
        checked += 1
    assert checked > 30


def test_public_view_drops_instructor_material():
    result, _ = run(lambda c: replace(correct(c), output="hello"))
    assert result.tests()[-1].output == "hello"
    public = result.public()
    assert all(t.diagnostics is None for t in public.tests())
    assert all(t.output == "" for t in public.tests() if t.visibility != "visible")
    assert all("hello" in t.output for t in public.tests() if t.visibility == "visible")
    assert public.isolation is None and public.warnings == ()


def test_rubric_points_come_from_the_config(tmp_path):
    path = tmp_path / "rubric.toml"
    path.write_text(
        "[rubric.q1]\npoints = 30\noutput_size_points = 6\n[rubric.q2]\npoints = 70\n"
        '[visibility]\nhidden = "after_due_date"\noverrides = { test_conv1d_forward_1 = "hidden" }\n'
    )
    result, _ = run(config=load_config(path))
    assert result.question("q1").max_score == pytest.approx(30)
    assert result.question("q2").max_score == pytest.approx(70)
    assert result.tests()[0].max_score == 6
    gradescope = to_gradescope(result)
    visibility = {t["name"].split(": ")[-1]: t["visibility"] for t in gradescope["tests"]}
    assert visibility["test_conv1d_forward_1"] == "hidden"
    assert visibility["hidden_forward_batch_one"] == "after_due_date"
    assert visibility["test_conv1d_forward_2"] == "visible"


def test_gradescope_results_have_the_documented_fields():
    result, _ = run()
    data = to_gradescope(result)
    assert data["score"] == 100
    assert isinstance(data["execution_time"], float)
    assert {"name", "score", "max_score", "status", "visibility", "output"} <= set(data["tests"][0])
    assert sum(t["max_score"] for t in data["tests"]) == pytest.approx(100)
    assert {t["status"] for t in data["tests"]} == {"passed"}


def test_json_output_follows_the_contract():
    result, _ = run(lambda c: raising(c, "ValueError", "bad") if c.op == "backward" else correct(c))
    data = json.loads(to_json(result))
    assert {"submission", "status", "score", "max_score", "questions", "messages"} <= set(data)
    q2 = data["questions"][1]
    assert q2["id"] == "q2" and q2["title"] == "Conv1d.backward"
    test = q2["tests"][0]
    assert {"name", "visibility", "status", "score", "max_score", "feedback"} <= set(test)
    assert test["status"] == "error" and "Conv1d.backward raised ValueError (nn.py line 7): bad" in test["feedback"]


def test_markdown_report_carries_diagnostics_for_instructors_only():
    result, _ = run(
        lambda c: replace(correct(c), values={"out": array(np.zeros((1,)))}) if c.op == "forward" else correct(c)
    )
    assert "Diagnostics (instructor only)" in to_markdown(result)
    assert "Diagnostics" not in to_markdown(result, public=True)


def test_right_values_helper_agrees_with_the_cases():
    cases = build_cases(0)
    call = layer_call("forward/1", "forward", cases.forward[0].layer, cases.forward[0].inputs)
    np.testing.assert_array_equal(right_values(call)["out"].array, cases.forward[0].expected_forward())


def _in(dtype: type, case) -> dict[str, np.ndarray]:
    return {name: array.astype(dtype) for name, array in case.inputs.items()}


@pytest.mark.parametrize("seed", range(0, 4000, 97))
def test_hidden_values_are_exact_in_float32_and_not_in_float16(seed: int):
    # Any correct style (loops, einsum, tensordot, float32 arithmetic) must match to the last bit, so that the
    # course's tight tolerance never fails a correct answer; half precision must not get through.
    from reference import conv1d_backward, conv1d_forward

    half_wrong = 0
    for case in (c for c in build_cases(seed).backward if not c.visible):
        single, half = _in(np.float32, case), _in(np.float16, case)
        out32 = conv1d_forward(single["x"], single["weight"], single["bias"], case.stride)
        assert np.array_equal(out32.astype(np.float64), case.expected_forward()), case.name
        for got, want in zip(
            conv1d_backward(single["x"], single["weight"], single["delta"], case.stride),
            case.expected_backward().values(),
            strict=True,
        ):
            assert np.array_equal(got.astype(np.float64), want), case.name
        out16 = _forward_in_half_precision(half["x"], half["weight"], half["bias"], case.stride)
        half_wrong += not np.allclose(out16.astype(np.float64), case.expected_forward(), rtol=1e-5, atol=1e-8)
    assert half_wrong == 10


def _forward_in_half_precision(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """The handout's loops with every product and sum rounded to float16, as a student's float16 code does."""
    from numpy.lib.stride_tricks import sliding_window_view

    windows = sliding_window_view(x, weight.shape[2], axis=2)[:, :, ::stride, :]
    out = np.zeros((x.shape[0], weight.shape[0], windows.shape[2]), dtype=np.float16)
    with np.errstate(all="ignore"):
        for channel in range(weight.shape[1]):
            for k in range(weight.shape[2]):
                out += windows[:, None, channel, :, k] * weight[None, :, channel, k, None]
        return out + bias[None, :, None]
