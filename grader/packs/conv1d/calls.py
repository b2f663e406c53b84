"""Conv1d's calls: the programs (:class:`grader.runner.Step`) that run each case in the sandbox, sized in CPU time
to their cases."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from grader.config import LimitsConfig
from grader.packs.conv1d.cases import CaseSet, Op
from grader.runner import Call, Input, Step


def output_size_call(key: str, sizes: tuple[int, int, int], cpu_seconds: float | None = None) -> Call:
    """``get_conv1d_output_size(*sizes)``, its answer reported as ``size``; trivial, so grouped."""
    step = Step("call", "get_conv1d_output_size", sizes, save="size")
    return Call(key, "output_size", (step,), cpu_seconds=cpu_seconds, group=True)


def layer_call(
    key: str,
    op: Op,
    layer: tuple[int, int, int, int],
    arrays: Mapping[str, np.ndarray],
    *,
    forward_key: str | None = None,
    cpu_seconds: float | None = None,
    forward_cpu_seconds: float | None = None,
) -> Call:
    """Build ``Conv1d(*layer)``, assign ``weight`` and ``bias``, call ``forward(x)`` (reported as ``out`` for a
    forward call, or as a stage of its own under ``forward_key``); for a backward call, then ``backward(delta)``
    reported as ``dx`` with the layer's ``grad_weight`` and ``grad_bias``."""
    steps = [
        Step("new", "Conv1d", layer),
        Step("set", "weight", (Input("weight"),)),
        Step("set", "bias", (Input("bias"),)),
        Step("method", "forward", (Input("x"),), save="out" if op == "forward" or forward_key else None),
    ]
    if op == "backward":
        if forward_key is not None:
            steps.append(Step("report"))
        steps += [
            Step("method", "backward", (Input("delta"),), save="dx"),
            Step("get", "grad_weight", save="grad_weight"),
            Step("get", "grad_bias", save="grad_bias"),
        ]
    return Call(
        key,
        op,
        tuple(steps),
        arrays,
        forward_key=forward_key if op == "backward" else None,
        cpu_seconds=cpu_seconds,
        forward_cpu_seconds=forward_cpu_seconds,
    )


def plan_calls(cases: CaseSet, limits: LimitsConfig) -> tuple[Call, ...]:
    """One call per output-size triple, per forward case and per backward case, in report order, each with the
    CPU time it may use, sized to its case (``limits.cpu_allowance`` of what the slowest correct style needs).

    A case used by both questions (every hidden case) is one backward call that also reports its forward
    pass: the same inputs, one round trip fewer, and the forward result survives a backward that hangs.
    Visible cases come first, so whatever a submission prints during them is printed before it has seen a
    hidden input.
    """
    calls = [
        output_size_call(f"output_size/{i}", case.args, cpu_seconds=limits.cpu_min_seconds)
        for i, case in enumerate(cases.output_size)
    ]
    shared = {id(case) for case in cases.backward}
    for case in cases.forward:
        if id(case) in shared:
            continue
        inputs = {k: v for k, v in case.inputs.items() if k != "delta"}
        calls.append(
            layer_call(
                f"forward/{case.name}",
                "forward",
                case.layer,
                inputs,
                cpu_seconds=limits.cpu_allowance(case.forward_seconds),
            )
        )
    forward_keys = {id(case): f"forward/{case.name}" for case in cases.forward}
    calls.extend(
        layer_call(
            f"backward/{case.name}",
            "backward",
            case.layer,
            case.inputs,
            forward_key=forward_keys.get(id(case)),
            cpu_seconds=limits.cpu_allowance(case.backward_seconds),
            forward_cpu_seconds=limits.cpu_allowance(case.forward_seconds),
        )
        for case in sorted(cases.backward, key=lambda case: not case.visible)
    )
    return tuple(calls)


def expected_bytes(cases: CaseSet) -> int:
    """Bytes of every right answer as float64: what a correct submission sends back, give or take a dtype."""
    forward = sum(case.expected_forward().size for case in cases.forward)
    backward = sum(array.size for case in cases.backward for array in case.expected_backward().values())
    return 8 * (forward + backward)
