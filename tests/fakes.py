"""A scripted runner: scoring and reporting tests run without starting a process or executing any code."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from grader.packs.conv1d.calls import layer_call
from grader.runner import (
    Call,
    CallOutcome,
    CgroupLayer,
    Failure,
    Isolation,
    LoadOutcome,
    Returned,
    RunReport,
    SeccompLayer,
)
from reference import conv1d_backward, conv1d_forward, get_conv1d_output_size

NAMES = ("get_conv1d_output_size", "Conv1d")

FULL = Isolation(
    level="full",
    namespaces=("pid", "mount", "net", "ipc", "uts"),
    filesystem="pivot_root",
    uid="dedicated",
    seccomp=SeccompLayer("bpf", ("x86_64",)),
    rlimits=("AS", "NPROC"),
    no_new_privs=True,
    cgroups=CgroupLayer(1, ("memory", "cpuacct")),
)
"""What a scripted run claims to have run under, unless a test says otherwise."""

MINIMAL = Isolation(
    level="minimal",
    seccomp=SeccompLayer("bpf", ("x86_64",)),
    rlimits=("AS", "NPROC"),
    no_new_privs=True,
    missing=("no PID/mount/network/IPC/UTS namespaces and no private filesystem view: scripted: sysctl -w fix=1",),
)


def array(value: np.ndarray) -> Returned:
    return Returned(kind="ndarray", type_name="numpy.ndarray", array=np.asarray(value))


def call_args(call: Call) -> tuple:
    """The arguments of a Conv1d call's first step: the size triple, or the layer's parameters."""
    return call.steps[0].args


def right_values(call: Call) -> dict[str, Returned]:
    """What a correct submission returns for the call (or stage: its outputs say which)."""
    if call.op == "output_size":
        sizes = call_args(call)
        return {"size": Returned(kind="int", type_name="builtins.int", scalar=get_conv1d_output_size(*sizes))}
    a, stride = call.arrays, call_args(call)[3]
    if call.op == "forward":
        return {"out": array(conv1d_forward(a["x"], a["weight"], a["bias"], stride))}
    dx, grad_weight, grad_bias = conv1d_backward(a["x"], a["weight"], a["delta"], stride)
    return {"dx": array(dx), "grad_weight": array(grad_weight), "grad_bias": array(grad_bias)}


def correct(call: Call) -> CallOutcome:
    return CallOutcome(key=call.key, status="ok", values=right_values(call), seconds=0.001)


def raising(call: Call, exc_type: str, message: str = "", where: str | None = None) -> CallOutcome:
    where = where or call.where
    failure = Failure(where=where, type=exc_type, message=message, line=7)  # type: ignore[arg-type]
    return CallOutcome(key=call.key, status="error", failure=failure)


@dataclass
class ScriptedRunner:
    """Answers each call with ``respond(call)``; records what it was asked."""

    respond: Callable[[Call], CallOutcome] = correct
    load: LoadOutcome = field(default_factory=lambda: LoadOutcome(status="ok", names=NAMES))
    runs: list[tuple[str, list[Call]]] = field(default_factory=list)
    isolated: Isolation = FULL

    def run(self, source: str, filename: str, calls: Sequence[Call], limits: object) -> RunReport:
        self.runs.append((source, list(calls)))
        try:
            compile(source, filename, "exec", dont_inherit=True)  # as the sandbox does, before anything runs
        except (SyntaxError, MemoryError, RecursionError) as exc:
            message, line = (str(exc.msg), exc.lineno) if isinstance(exc, SyntaxError) else (str(exc), None)
            failure = Failure(where="compile", type=type(exc).__name__, message=message, line=line)
            return RunReport(load=LoadOutcome(status="error", failure=failure, compiled=False), isolation=self.isolated)
        if self.load.status != "ok":
            return RunReport(load=self.load, isolation=self.isolated)
        outcomes = tuple(o for c in calls for o in self._outcomes(c))
        return RunReport(load=self.load, calls=outcomes, isolation=self.isolated)

    def isolation(self) -> Isolation:
        return self.isolated

    def _outcomes(self, call: Call) -> list[CallOutcome]:
        """The call's outcome, preceded by its forward stage's where it reports one (as the sandbox does)."""
        if call.forward_key is None:
            return [self.respond(call)]
        inputs = {k: v for k, v in call.arrays.items() if k != "delta"}
        stage = layer_call(call.forward_key, "forward", call_args(call), inputs)
        return [self.respond(stage), self.respond(call)]
