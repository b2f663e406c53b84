"""Shared pieces of the sandbox tests: small limits, call builders, a healthy control, leak search."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from grader.packs.conv1d.calls import layer_call, output_size_call
from grader.runner import Call, CallOutcome, Limits, RunReport
from grader.sandbox import SandboxRunner
from grader.sandbox._layout import sandbox_layout
from grader.sandbox._runner import UID_BASE
from reference.conv1d import conv1d_backward, conv1d_forward, get_conv1d_output_size

HERE = Path(__file__).parent
GOOD_SOURCE = (HERE / "fixtures" / "vectorised_nn.py").read_text()
SECCOMP_PROFILE = HERE.parents[1] / "deploy" / "seccomp-grader.json"
CONTAINER_CAPABILITIES = ("SYS_ADMIN", "SYS_CHROOT", "SETUID", "SETGID", "KILL")
"""What the grader's root path needs, and all SECURITY.md's container gets (``--cap-drop ALL``, these added)."""

# In the grader's environment before the first sandbox starts, so that a leak would be a real one.
FAKE_TOKEN = "grader-api-token-7c0ffee5ca1ab1e"
os.environ["CONV1D_GRADER_API_TOKEN"] = FAKE_TOKEN

LIMITS = Limits(
    cpu_seconds=1.0,
    load_cpu_seconds=1.0,
    idle_seconds=0.5,
    memory_mb=256,
    max_processes=16,
    max_file_mb=8,
    max_open_files=32,
    output_bytes=2048,
    max_return_mb=16,
)


def make_calls(seed: int = 0, rounds: int = 2, prefix: str = "") -> list[Call]:
    """``rounds`` each of output_size, forward and backward, with varied geometry."""
    rng = np.random.default_rng(seed)
    calls = []
    for i in range(rounds):
        batch, cin, cout, kernel, stride = 1 + i % 3, 2 + i % 2, 3, 2 + i % 3, 1 + i % 2
        size = kernel + 5 + i
        out_size = (size - kernel) // stride + 1
        arrays = {
            "x": rng.normal(size=(batch, cin, size)),
            "weight": rng.normal(size=(cout, cin, kernel)),
            "bias": rng.normal(size=cout),
        }
        layer = (cin, cout, kernel, stride)
        calls.append(output_size_call(f"{prefix}output_size/{i}", (size, kernel, stride)))
        calls.append(layer_call(f"{prefix}forward/{i}", "forward", layer, arrays))
        delta = rng.normal(size=(batch, cout, out_size))
        calls.append(layer_call(f"{prefix}backward/{i}", "backward", layer, {**arrays, "delta": delta}))
    return calls


def expected(call: Call) -> dict[str, object]:
    if call.op == "output_size":
        assert call.steps[0].args is not None
        return {"size": get_conv1d_output_size(*call.steps[0].args)}
    assert call.steps[0].args is not None
    x, w, b = call.arrays["x"], call.arrays["weight"], call.arrays["bias"]
    stride = call.steps[0].args[3]
    if call.op == "forward":
        return {"out": conv1d_forward(x, w, b, stride)}
    dx, grad_weight, grad_bias = conv1d_backward(x, w, call.arrays["delta"], stride)
    return {"dx": dx, "grad_weight": grad_weight, "grad_bias": grad_bias}


def matches(outcome: CallOutcome, call: Call) -> bool:
    """True if the outcome carries the right value for every expected name."""
    if outcome.status != "ok":
        return False
    for name, want in expected(call).items():
        got = outcome.values[name]
        if isinstance(want, int):
            if got.scalar != want:
                return False
        elif got.array is None or got.array.shape != want.shape or not np.allclose(got.array, want):  # type: ignore[union-attr]
            return False
    return True


def _status(pid: str) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status") as status:
            return dict(line.split(":", 1) for line in status if ":" in line)
    except OSError:
        return {}


def sandbox_processes(runner: SandboxRunner) -> list[int]:
    """Host pids of processes forked (at any depth) from this runner's zygote that are not root: its
    sandboxes and everything they started. Other runners on the host (a benchmark, a second worker)
    are left out, so the check holds on a shared machine."""
    parents: dict[int, int] = {}
    sandboxed = []
    for entry in os.listdir("/proc"):
        status = _status(entry) if entry.isdigit() else {}
        if "PPid" in status:
            parents[int(entry)] = int(status["PPid"])
            if int(status["Uid"].split()[0]) >= UID_BASE:
                sandboxed.append(int(entry))
    found = []
    for pid in sandboxed:
        ancestor = parents.get(pid, 0)
        while ancestor not in (0, runner.zygote_pid):
            ancestor = parents.get(ancestor, 0)
        if ancestor and ancestor == runner.zygote_pid:
            found.append(pid)
    return found


def assert_grader_healthy(runner: SandboxRunner) -> None:
    """The same runner still grades a correct submission, and no sandbox process is left anywhere."""
    calls = make_calls(seed=99, rounds=1, prefix="health/")
    report = runner.run(GOOD_SOURCE, "nn.py", calls, LIMITS)
    assert report.load.status == "ok", report.load
    assert all(matches(o, c) for o, c in zip(report.calls, calls, strict=True)), report.calls
    assert sandbox_processes(runner) == []


def report_bytes(report: RunReport) -> bytes:
    """Everything a report carries (texts and array bytes), to search for leaked secrets."""
    parts = [repr(report.load).encode()]
    for outcome in report.calls:
        parts.append(repr(outcome).encode())
        parts.extend(v.array.tobytes() for v in outcome.values.values() if v.array is not None)
    return b"\n".join(parts)


def layout_children(path: Path, layout: list[dict[str, Any]] | None = None) -> set[str]:
    """Names directly under ``path`` that exist in a sandbox's root because the layout puts something
    at or below them."""
    steps = [Path(step["path"]) for step in (layout if layout is not None else sandbox_layout())]
    return {step.relative_to(path).parts[0] for step in steps if step != path and step.is_relative_to(path)}


def as_in_the_container(profile: Path, *command: str) -> list[str]:
    """``command`` run as SECURITY.md's container runs the grader (Docker does not run on the test machines):
    no capability but ``CONTAINER_CAPABILITIES`` (``--cap-drop ALL --cap-add ...``), no_new_privs
    (``--security-opt no-new-privileges``) and the seccomp ``profile`` applied as Docker's runtime applies it
    (``--security-opt seccomp=...``). The caller adds the cgroup namespace. Root only."""
    bounding = ",".join(["-all", *(f"+{cap.lower()}" for cap in CONTAINER_CAPABILITIES)])
    caps = ",".join(f"CAP_{cap}" for cap in CONTAINER_CAPABILITIES)
    return [
        "setpriv", f"--bounding-set={bounding}", "--no-new-privs", "--",
        sys.executable, str(HERE / "docker_seccomp.py"), str(profile), caps, "--", *command,
    ]  # fmt: skip
