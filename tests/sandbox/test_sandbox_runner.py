"""Ordinary behaviour of ``SandboxRunner``: values, failures, output, limits, restarts, threads, speed."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy
import numpy as np
import pytest
from sandbox_support import GOOD_SOURCE, LIMITS, layout_children, make_calls, matches, sandbox_processes

from grader.errors import GraderFault
from grader.packs.conv1d.calls import layer_call, output_size_call
from grader.runner import Call
from grader.sandbox import SandboxRunner, _layout, _process, _zygote_client
from grader.sandbox._cgroup import SandboxCgroup
from grader.sandbox._process import Sandbox
from grader.sandbox._runner import _UidLease

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the namespace sandbox needs root (as in CI)")

CALLS = make_calls(rounds=2)
OUTPUT_SIZE_0, FORWARD_0, BACKWARD_0, OUTPUT_SIZE_1, FORWARD_1, BACKWARD_1 = CALLS

STARTER = """import numpy as np


def get_conv1d_output_size(input_size, kernel_size, stride):
    return (input_size - kernel_size) // stride + 1


class Conv1d:
    def __init__(self, in_channel, out_channel, kernel_size, stride):
        self.stride = stride

    def forward(self, x):
        print("forward of batch", x.shape[0])
        return self._helper(x)

    def _helper(self, x):
        raise NotImplementedError

    def backward(self, delta):
        raise NotImplementedError
"""


def test_correct_submission_gets_every_value_right(runner: SandboxRunner) -> None:
    calls = make_calls(seed=5, rounds=6)
    report = runner.run(GOOD_SOURCE, "nn.py", calls, LIMITS)
    assert report.load.status == "ok"
    assert report.load.names == ("get_conv1d_output_size", "Conv1d")
    assert [o.key for o in report.calls] == [c.key for c in calls]
    assert all(matches(o, c) for o, c in zip(report.calls, calls, strict=True))
    out = report.calls[1].values["out"]
    assert (out.kind, out.type_name, type(out.array)) == ("ndarray", "numpy.ndarray", np.ndarray)
    isolation = report.isolation
    assert isolation is not None and report.warnings == ()
    assert (isolation.level, isolation.missing) == ("full", ())
    assert isolation.namespaces == ("pid", "mount", "net", "ipc", "uts") and isolation.filesystem == "pivot_root"
    assert (isolation.uid, isolation.capabilities, isolation.no_new_privs) == ("dedicated", "none", True)
    assert (isolation.seccomp.how, isolation.seccomp.arch) == ("libseccomp", ("x86_64", "aarch64"))
    assert (isolation.cgroups.version, isolation.cgroups.controllers) == (1, ("cpu", "cpuacct", "memory", "pids"))
    assert runner.isolation() == isolation


def test_starter_not_implemented_comes_through_with_the_submissions_frames_only(runner: SandboxRunner) -> None:
    report = runner.run(STARTER, "students/bob/nn.py", [OUTPUT_SIZE_0, FORWARD_0, BACKWARD_1], LIMITS)
    size, forward, backward = report.calls
    assert matches(size, OUTPUT_SIZE_0)
    failure = forward.failure
    assert forward.status == "error" and failure is not None
    assert (failure.where, failure.type, failure.line) == ("forward", "NotImplementedError", 17)
    assert 'File "students/bob/nn.py", line 14, in forward' in failure.traceback
    assert "_harness" not in failure.traceback and "raise NotImplementedError" in failure.traceback
    assert forward.output == "forward of batch 1\n"  # its own print, and only its own
    assert backward.failure is not None and backward.failure.where == "forward"  # backward runs forward first
    assert backward.output == "forward of batch 2\n"


def test_load_failures_are_described(runner: SandboxRunner) -> None:
    syntax = runner.run("import numpy\n\ndef broken(:\n    pass\n", "nn.py", CALLS, LIMITS)
    assert syntax.load.status == "error" and syntax.calls == ()
    assert syntax.load.failure is not None
    failure = syntax.load.failure
    assert (failure.type, failure.line, failure.where) == ("SyntaxError", 3, "compile")
    assert syntax.load.compiled is False

    missing = runner.run("print('loading')\nimport torch\n", "nn.py", CALLS, LIMITS)
    assert missing.load.failure is not None
    assert (missing.load.failure.type, missing.load.failure.module) == ("ModuleNotFoundError", "torch")
    assert missing.load.output == "loading\n"

    nested = runner.run("from numpy.mytorch.nn import Conv1d\n", "nn.py", CALLS, LIMITS)
    assert nested.load.failure is not None and nested.load.failure.module == "numpy.mytorch"


def test_returned_values_are_described_by_kind(runner: SandboxRunner) -> None:
    source = """import numpy as np

VALUES = {10: np.int64(4), 11: 4.0, 12: True, 13: None, 14: [1, 2], 15: (1.5, 2.5), 16: "4",
          17: np.float32(2.5), 18: [[1], [2, 3]], 19: 2**70}


def get_conv1d_output_size(input_size, kernel_size, stride):
    return VALUES[input_size]
"""
    calls = [output_size_call(f"size/{n}", (n, 1, 1)) for n in range(10, 20)]
    report = runner.run(source, "nn.py", calls, LIMITS)
    got = {o.key: o.values["size"] for o in report.calls}
    assert (got["size/10"].kind, got["size/10"].scalar, got["size/10"].type_name) == ("int", 4, "numpy.int64")
    assert (got["size/11"].kind, got["size/11"].scalar) == ("float", 4.0)
    assert (got["size/12"].kind, got["size/12"].scalar) == ("bool", True)
    assert got["size/13"].kind == "none"
    assert got["size/14"].kind == "list" and got["size/14"].array is not None
    assert got["size/14"].array.tolist() == [1, 2]
    assert got["size/15"].kind == "tuple" and got["size/15"].array is not None
    assert got["size/15"].array.tolist() == [1.5, 2.5]
    assert (got["size/16"].kind, got["size/16"].type_name, got["size/16"].scalar) == ("other", "builtins.str", None)
    assert (got["size/17"].kind, got["size/17"].scalar) == ("float", 2.5)
    assert got["size/18"].kind == "list" and got["size/18"].array is None and got["size/18"].note
    assert (got["size/19"].kind, got["size/19"].scalar) == ("int", None)


def test_a_sleeping_backward_times_out_on_idle_time_and_keeps_forward_outcomes(runner: SandboxRunner) -> None:
    source = GOOD_SOURCE + "\n\nimport time\nConv1d.backward = lambda self, delta: time.sleep(60)\n"
    limits = dataclasses.replace(LIMITS, idle_seconds=0.3)
    report = runner.run(source, "nn.py", CALLS, limits)
    for outcome, call in zip(report.calls, CALLS, strict=True):
        if call.op == "backward":
            assert (outcome.status, outcome.detail) == ("timeout", "sat idle (asleep or blocked) for 0.3 s in backward")
            assert outcome.seconds >= 0.3
        else:
            assert matches(outcome, call)


def test_a_crash_costs_its_own_call_only(runner: SandboxRunner) -> None:
    source = GOOD_SOURCE + (
        "\n\nimport os\n_forward = Conv1d.forward\n"
        "Conv1d.forward = lambda self, x: os._exit(5) if x.shape[0] == 1 else _forward(self, x)\n"
    )
    report = runner.run(source, "nn.py", CALLS, LIMITS)
    by_key = {o.key: o for o in report.calls}
    assert (by_key[FORWARD_0.key].status, by_key[FORWARD_0.key].detail) == (
        "crashed",
        "the process exited with status 5 in forward",
    )
    assert by_key[BACKWARD_0.key].status == "crashed"
    for call in (OUTPUT_SIZE_0, OUTPUT_SIZE_1, FORWARD_1, BACKWARD_1):
        assert matches(by_key[call.key], call)


def test_calls_past_the_submissions_cpu_cap_are_skipped(runner: SandboxRunner) -> None:
    # A top level that burns CPU, re-run after every crash: the cap counts CPU, loads included, so this costs
    # its author about a second, whatever the machine's load.
    source = (
        "import os, time\nstarted = time.process_time()\nwhile time.process_time() - started < 0.3:\n    pass\n"
        "def get_conv1d_output_size(*sizes):\n    os._exit(3)\n"
    )
    calls = [output_size_call(f"size/{i}", (10, 3, 2)) for i in range(8)]
    limits = dataclasses.replace(LIMITS, total_cpu_seconds=1.0)
    report = runner.run(source, "nn.py", calls, limits)
    statuses = [o.status for o in report.calls]
    assert statuses[0] == "crashed" and statuses[-1] == "skipped"
    assert set(statuses) <= {"crashed", "skipped", "timeout"}
    skipped = next(o for o in report.calls if o.status == "skipped")
    assert "used up its 1 s of CPU time" in skipped.detail
    assert "top level runs again after every crash" in skipped.detail


@pytest.mark.parametrize(
    ("fault", "status", "detail"),
    [
        ("os._exit(3)", "crashed", "the process exited with status 3 in get_conv1d_output_size"),
        ("while True: pass", "timeout", "used up its 1 s of CPU time in get_conv1d_output_size"),
    ],
    ids=["crash", "hang"],
)
def test_a_fault_among_quick_output_size_calls_is_blamed_on_its_own_call(
    runner: SandboxRunner, fault: str, status: str, detail: str
) -> None:
    # Quick output-size replies go out together; losing them with the sandbox must not shift the blame.
    source = GOOD_SOURCE + (
        "\n\nimport os\n_size = get_conv1d_output_size\n"
        f"def get_conv1d_output_size(input_size, kernel_size, stride):\n    if input_size == 13:\n        {fault}\n"
        "    return _size(input_size, kernel_size, stride)\n"
    )
    calls = [output_size_call(f"size/{n}", (n, 3, 2)) for n in (10, 11, 13, 14, 15)]
    report = runner.run(source, "nn.py", calls, LIMITS)
    assert [o.status for o in report.calls] == ["ok", "ok", status, "ok", "ok"]
    assert report.calls[2].detail == detail
    assert [o.values["size"].scalar for o in report.calls if o.status == "ok"] == [4, 5, 6, 7]


def test_concurrent_runs_from_four_threads_give_identical_results(runner: SandboxRunner) -> None:
    calls = make_calls(seed=3, rounds=3)

    def grade(_: int) -> list[list[float]]:
        report = runner.run(GOOD_SOURCE, "nn.py", calls, LIMITS)
        assert all(matches(o, c) for o, c in zip(report.calls, calls, strict=True))
        return [v.array.tolist() for o in report.calls for v in o.values.values() if v.array is not None]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(grade, range(12)))
    assert all(result == results[0] for result in results)


def test_zygote_is_restarted_when_it_dies() -> None:
    with SandboxRunner() as own:
        report = own.run(GOOD_SOURCE, "nn.py", CALLS, LIMITS)
        assert all(matches(o, c) for o, c in zip(report.calls, CALLS, strict=True))
        first = own.zygote_pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        report = own.run(GOOD_SOURCE, "nn.py", CALLS, LIMITS)
        assert all(matches(o, c) for o, c in zip(report.calls, CALLS, strict=True))
        assert own.zygote_pid not in (None, first)


def test_without_cgroups_the_report_says_what_is_lost(runner: SandboxRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SandboxCgroup, "create", classmethod(lambda cls, uid: None))
    report = runner.run(GOOD_SOURCE, "nn.py", CALLS, LIMITS)
    assert all(matches(o, c) for o, c in zip(report.calls, CALLS, strict=True))
    isolation = report.isolation
    assert isolation is not None and isolation.level == "partial" and isolation.cgroups.version is None
    (gap,) = isolation.missing
    assert gap.startswith("no memory/cpuacct cgroups could be used") and "/sys/fs/cgroup/memory" in gap
    assert report.warnings == ()


def test_the_rlimit_backstop_is_armed_per_call_and_reads_as_a_cpu_timeout(runner: SandboxRunner) -> None:
    source = GOOD_SOURCE + (
        "\n\nimport os, resource, signal\n"
        "Conv1d.forward = lambda self, x: print('CPU', *resource.getrlimit(resource.RLIMIT_CPU))\n"
        "Conv1d.backward = lambda self, delta: os.kill(os.getpid(), signal.SIGXCPU)\n"
    )
    report = runner.run(source, "nn.py", [FORWARD_0, BACKWARD_0], LIMITS)
    _, soft, hard = report.calls[0].output.split()
    # Soft: this call's allowance (+1 s, so the grader's own watch wins the race); hard: the submission's CPU
    # cap (every stage's allowance and three loads).
    assert int(soft) <= LIMITS.cpu_seconds + 2
    assert int(hard) == math.ceil(2 * LIMITS.cpu_seconds + 3 * LIMITS.load_cpu_seconds) + 2
    assert report.calls[1].status == "timeout"
    assert report.calls[1].detail == "used up its 1 s of CPU time in backward (RLIMIT_CPU)"


def test_inputs_must_be_numeric(runner: SandboxRunner) -> None:
    bad = dataclasses.replace(FORWARD_0, arrays={**FORWARD_0.arrays, "x": np.array([object()])})
    with pytest.raises(ValueError, match="non-numeric dtype object"):
        runner.run(GOOD_SOURCE, "nn.py", [bad], LIMITS)


def test_a_module_that_never_finishes_loading_times_out(runner: SandboxRunner) -> None:
    spinning = runner.run("print('training...')\nwhile True:\n    pass\n", "nn.py", CALLS, LIMITS)
    sleeping = runner.run("import time\ntime.sleep(60)\n", "nn.py", CALLS, LIMITS)
    assert (spinning.load.status, spinning.load.detail) == ("timeout", "used up its 1 s of CPU time in import")
    assert spinning.load.output == "training...\n" and spinning.calls == ()  # printed before the hang: kept
    assert spinning.load.compiled
    idle = "sat idle (asleep or blocked) for 0.5 s in import"
    assert (sleeping.load.status, sleeping.load.detail) == ("timeout", idle)


def test_replies_sent_while_the_grader_reads_the_zygotes_reports_are_not_lost(
    runner: SandboxRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The grader wakes for the pid report; by the time it reads it, a quick sandbox may have sent every reply
    # and ended, and its exit report is there too. The replies it sent come first, not a "crash".
    read_status = Sandbox._read_status

    def lagging(self: Sandbox) -> bool:
        time.sleep(0.2)
        return read_status(self)

    monkeypatch.setattr(Sandbox, "_read_status", lagging)
    report = runner.run(GOOD_SOURCE, "nn.py", CALLS, LIMITS)
    assert report.load.status == "ok", report.load
    assert all(matches(o, c) for o, c in zip(report.calls, CALLS, strict=True))


def test_a_zygote_that_dies_holding_the_request_is_replaced_and_the_run_goes_on() -> None:
    # The grader writes to a new sandbox before the zygote has started it: if the zygote dies in between,
    # the sandbox never existed, which is retried with a fresh zygote rather than reported as a crash.
    with SandboxRunner() as own:
        own.run(GOOD_SOURCE, "nn.py", [OUTPUT_SIZE_0], LIMITS)
        first = own.zygote_pid
        assert first is not None
        os.kill(first, signal.SIGSTOP)  # it takes the next request into its socket, and no further
        killer = threading.Timer(0.3, os.kill, (first, signal.SIGKILL))
        killer.start()
        try:
            report = own.run(GOOD_SOURCE, "nn.py", CALLS, LIMITS)
        finally:
            killer.join()
        assert report.load.status == "ok"
        assert all(matches(o, c) for o, c in zip(report.calls, CALLS, strict=True))
        assert own.zygote_pid not in (None, first)


def test_a_sandbox_does_not_outlive_a_zygote_killed_under_it() -> None:
    hanging = GOOD_SOURCE + "\n\nimport time\nConv1d.forward = lambda self, x: time.sleep(60)\n"
    unhurried = dataclasses.replace(LIMITS, idle_seconds=30.0)
    with SandboxRunner() as own, ThreadPoolExecutor(1) as pool:
        own.run(GOOD_SOURCE, "nn.py", [OUTPUT_SIZE_0], LIMITS)
        zygote = own.zygote_pid
        assert zygote is not None
        grading = pool.submit(own.run, hanging, "nn.py", [FORWARD_0], unhurried)
        deadline = time.monotonic() + 10
        while not (sandboxes := sandbox_processes(own)) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sandboxes
        os.kill(zygote, signal.SIGKILL)
        # Nobody is left to say how the sandbox ended: a fault of the grader's, not a verdict.
        with pytest.raises(GraderFault, match="the zygote died while the sandbox ran"):
            grading.result(timeout=10)
        while any(_alive(pid) for pid in sandboxes) and time.monotonic() < deadline + 5:
            time.sleep(0.01)
        assert not any(_alive(pid) for pid in sandboxes)


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for the host's init to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_process_left_in_a_uids_cgroup_is_killed_when_the_uid_is_next_leased() -> None:
    # Sandboxes die with their zygote; this is the backstop should one ever survive it.
    lease = _UidLease()
    uid, cgroup = lease.uid, lease.cgroup
    lease.release()
    if cgroup is None:
        pytest.skip("no cgroup v1 memory controller here")
    leftover = subprocess.Popen(["sleep", "60"])
    try:
        Path(cgroup.procs_files[0]).write_text(str(leftover.pid))
        again = _UidLease()
        try:
            assert again.uid == uid
            assert leftover.wait(timeout=5) == -signal.SIGKILL
        finally:
            again.release()
    finally:
        leftover.kill()
        leftover.wait()


def test_a_stalled_zygote_is_a_grader_fault_not_a_timeout_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_process, "START_SECONDS", 0.5)  # the default waits a minute for a busy machine
    with SandboxRunner() as own:
        own.run(GOOD_SOURCE, "nn.py", [OUTPUT_SIZE_0], LIMITS)
        zygote = own.zygote_pid
        assert zygote is not None
        os.kill(zygote, signal.SIGSTOP)
        waker = threading.Timer(1.0, os.kill, (zygote, signal.SIGCONT))
        waker.start()
        try:
            with pytest.raises(GraderFault, match="the zygote did not start a sandbox in time"):
                own.run(GOOD_SOURCE, "nn.py", CALLS, LIMITS)
        finally:
            waker.join()
        # The run's sandbox, started late, was ended with it; the same zygote goes on grading.
        assert sandbox_processes(own) == []
        report = own.run(GOOD_SOURCE, "nn.py", CALLS, LIMITS)
        assert all(matches(o, c) for o, c in zip(report.calls, CALLS, strict=True))
        assert own.zygote_pid == zygote


def test_a_sandbox_that_cannot_be_set_up_is_a_grader_fault_not_a_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = [{"kind": "bind", "path": "/nonexistent/conv1d-grader-test"}]
    monkeypatch.setattr(_zygote_client, "sandbox_layout", lambda: broken)
    with SandboxRunner() as own, pytest.raises(GraderFault, match=r"could not be set up: .*conv1d-grader-test"):
        own.run(GOOD_SOURCE, "nn.py", CALLS, LIMITS)


def test_what_the_layout_puts_under_tmp_is_in_every_sandbox_scratch(monkeypatch: pytest.MonkeyPatch) -> None:
    # As when NumPy lives in a virtualenv under /tmp: the sandboxes' own scratch /tmp must not cover it.
    with tempfile.TemporaryDirectory(dir="/tmp") as shipped:
        Path(shipped, "data.txt").write_text("shipped\n")
        os.chmod(shipped, 0o755)
        layout = [*_layout.sandbox_layout(), {"kind": "bind", "path": shipped}]
        monkeypatch.setattr(_zygote_client, "sandbox_layout", lambda: layout)
        source = GOOD_SOURCE + (
            "\nimport os\n"
            f"print(open({shipped + '/data.txt'!r}).read().strip(), sorted(os.listdir('/tmp')), flush=True)\n"
            f"try:\n    open({shipped + '/other.txt'!r}, 'w')\nexcept OSError as exc:\n    print(type(exc).__name__)\n"
            "open('/tmp/mine.txt', 'w').write('scratch is writable')\n"
            # The template's stash of it, outside the hides the layout applies under /tmp: root's only.
            "try:\n    os.listdir('/.stash')\nexcept OSError as exc:\n    print(type(exc).__name__)\n"
        )
        with SandboxRunner() as own:
            reports = [own.run(source, "nn.py", CALLS, LIMITS) for _ in range(2)]
    for report in reports:
        assert report.load.status == "ok", report.load
        # The second sandbox sees neither the first one's scratch file nor anything else of the host's /tmp:
        # only the ways to what the layout binds there.
        listing = sorted(layout_children(Path("/tmp"), layout))
        assert report.load.output == f"shipped {listing}\nOSError\nPermissionError\n"


def test_a_module_that_loads_only_once_fails_the_calls_after_a_restart(runner: SandboxRunner) -> None:
    # Nothing survives from one sandbox to the next, so "only once" has to come from the clock
    # (CLOCK_MONOTONIC is shared with the grader): loads after the deadline fail.
    deadline = time.monotonic() + 1.0
    source = GOOD_SOURCE + (
        f"\n\nimport os, time\nif time.monotonic() > {deadline}:\n    raise RuntimeError('too late')\n"
        "_forward = Conv1d.forward\n"
        "Conv1d.forward = lambda self, x: time.sleep(1.2) or os._exit(9) if x.shape[0] == 1 else _forward(self, x)\n"
    )
    report = runner.run(source, "nn.py", CALLS, dataclasses.replace(LIMITS, idle_seconds=5.0))
    statuses = [o.status for o in report.calls]
    assert statuses[:2] == ["ok", "crashed"]
    assert report.calls[1].detail == "the process exited with status 9 in forward"
    expected = "the module did not load again after a restart: RuntimeError: too late"
    assert [o.detail for o in report.calls[2:]] == [expected] * (len(CALLS) - 2)


def test_numpy_inside_a_hidden_site_packages_is_still_reachable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The python:3.11-slim image: NumPy, grader and reference all in /usr/local/lib/.../site-packages,
    under a bound library directory. Reproduced by binding the virtualenv's lib directory."""
    venv_lib = Path(numpy.__file__).resolve().parents[3]
    monkeypatch.setattr(_layout, "_SYSTEM_LIB_DIRS", (*_layout._SYSTEM_LIB_DIRS, str(venv_lib)))
    site_packages = Path(numpy.__file__).resolve().parents[1]
    source = GOOD_SOURCE + f"\n\nimport os\nprint(sorted(os.listdir({str(site_packages)!r})))\n"
    with SandboxRunner() as own:
        report = own.run(source, "nn.py", CALLS, LIMITS)
    assert report.load.output == "['numpy', 'numpy.libs']\n"  # the rest of site-packages stays hidden
    assert all(matches(o, c) for o, c in zip(report.calls, CALLS, strict=True))


KILLED_GRADER = """
import os, signal, sys, threading, time
sys.path.insert(0, {here!r})
from sandbox_support import GOOD_SOURCE, LIMITS, make_calls, sandbox_processes
from grader.sandbox import SandboxRunner

runner = SandboxRunner()
source = GOOD_SOURCE + "\\nimport time\\nConv1d.forward = lambda self, x: time.sleep(60)\\n"
threading.Thread(target=runner.run, args=(source, "nn.py", make_calls(rounds=1)[1:2], LIMITS), daemon=True).start()
while not sandbox_processes(runner):
    time.sleep(0.01)
print(runner.zygote_pid, runner._zygote._workdir, *sandbox_processes(runner), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_grader_killed_mid_run_leaves_nothing_behind() -> None:
    script = KILLED_GRADER.format(here=str(Path(__file__).parent))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == -signal.SIGKILL, result.stderr
    zygote, workdir, *sandboxed = result.stdout.split()
    assert sandboxed  # a sandbox was mid-call when the grader died
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (Path(workdir).exists() or _alive(int(zygote), *map(int, sandboxed))):
        time.sleep(0.05)
    assert not Path(workdir).exists()
    assert not _alive(int(zygote), *map(int, sandboxed))


def _alive(*pids: int) -> bool:
    """True if any of ``pids`` still runs (zombies count as gone)."""
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] != "Z":
                    return True
        except OSError:
            continue
    return False


def _combined(call: Call) -> Call:
    return layer_call(call.key, "backward", call.steps[0].args, call.arrays, forward_key=f"stage/{call.key}")


def _forward_stage(call: Call) -> Call:
    arrays = {name: array for name, array in call.arrays.items() if name != "delta"}
    return layer_call(f"stage/{call.key}", "forward", call.steps[0].args, arrays)


def test_a_combined_call_reports_its_forward_stage_then_itself(runner: SandboxRunner) -> None:
    combined = _combined(BACKWARD_1)
    report = runner.run(GOOD_SOURCE, "nn.py", [OUTPUT_SIZE_0, combined, FORWARD_0], LIMITS)
    assert [o.key for o in report.calls] == [
        OUTPUT_SIZE_0.key,
        f"stage/{BACKWARD_1.key}",
        BACKWARD_1.key,
        FORWARD_0.key,
    ]
    stage, backward = report.calls[1:3]
    assert matches(stage, _forward_stage(BACKWARD_1)) and set(stage.values) == {"out"}
    assert matches(backward, BACKWARD_1)
    assert matches(report.calls[3], FORWARD_0)


@pytest.mark.parametrize(
    ("backward_body", "status", "detail"),
    [
        pytest.param("while True: pass", "timeout", "used up its 1 s of CPU time in backward", id="hang"),
        pytest.param("import os; os._exit(3)", "crashed", "the process exited with status 3 in backward", id="exit"),
    ],
)
def test_a_combined_call_keeps_its_forward_result_when_backward_fails(
    runner: SandboxRunner, backward_body: str, status: str, detail: str
) -> None:
    source = GOOD_SOURCE + f"\n\ndef _broken(self, delta):\n    {backward_body}\n\nConv1d.backward = _broken\n"
    combined = _combined(BACKWARD_1)
    report = runner.run(source, "nn.py", [combined, FORWARD_0], LIMITS)
    stage, backward, after = report.calls
    assert matches(stage, _forward_stage(BACKWARD_1))
    assert (backward.status, backward.detail) == (status, detail)
    assert matches(after, FORWARD_0)  # a fresh sandbox took over


def test_a_forward_failure_in_a_combined_call_fails_both_stages(runner: SandboxRunner) -> None:
    source = GOOD_SOURCE + "\n\ndef _broken(self, x):\n    raise ValueError('no')\n\nConv1d.forward = _broken\n"
    stage, backward = runner.run(source, "nn.py", [_combined(BACKWARD_1)], LIMITS).calls
    for outcome in (stage, backward):
        assert outcome.status == "error" and outcome.failure is not None
        assert (outcome.failure.where, outcome.failure.type) == ("forward", "ValueError")


def test_a_forward_hang_in_a_combined_call_costs_one_timeout_for_both_stages(runner: SandboxRunner) -> None:
    source = GOOD_SOURCE + "\n\ndef _broken(self, x):\n    while True: pass\n\nConv1d.forward = _broken\n"
    stage, backward = runner.run(source, "nn.py", [_combined(BACKWARD_1)], LIMITS).calls
    assert stage.status == backward.status == "timeout"
    assert stage.detail == backward.detail == "used up its 1 s of CPU time in forward"


TAGGED_PRINTS = """import numpy as np


def get_conv1d_output_size(input_size, kernel_size, stride):
    print("size of", input_size)
    return (input_size - kernel_size) // stride + 1


class Conv1d:
    def __init__(self, in_channel, out_channel, kernel_size, stride):
        self.stride = stride

    def forward(self, x):
        print("forward of", x.shape)
        return x

    def backward(self, delta):
        print("backward of", delta.shape)
        return delta
"""


def test_each_test_gets_exactly_what_it_printed_although_replies_stream_back(
    runner: SandboxRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_reply = Sandbox.recv_reply

    def lagging(self: Sandbox, watch: object) -> object:
        time.sleep(0.01)  # a busy grader: the sandbox runs ahead and later calls print before this is read
        return read_reply(self, watch)  # type: ignore[arg-type]

    monkeypatch.setattr(Sandbox, "recv_reply", lagging)
    calls = make_calls(seed=3, rounds=4)
    report = runner.run(TAGGED_PRINTS, "nn.py", calls, LIMITS)
    for outcome, call in zip(report.calls, calls, strict=True):
        if call.op == "output_size":
            assert call.steps[0].args is not None
            assert outcome.output == f"size of {call.steps[0].args[0]}\n"
        elif call.op == "forward":
            assert outcome.output == f"forward of {call.arrays['x'].shape}\n"
        else:  # backward runs its own forward first
            assert outcome.output == f"forward of {call.arrays['x'].shape}\nbackward of {call.arrays['delta'].shape}\n"


ZEROES_ITS_INPUTS = GOOD_SOURCE.replace(
    "class Conv1d:",
    """class Conv1d:
    def __getattribute__(self, name):
        method = object.__getattribute__(self, name)
        if name not in ("forward", "backward"):
            return method

        def vandal(array):
            result = method(array)
            array[...] = 0  # written in place after the real work: a later call must not see it
            return result

        return vandal
""",
)


def test_inputs_a_call_writes_into_do_not_reach_a_later_call_on_the_same_arrays(runner: SandboxRunner) -> None:
    forward = FORWARD_0
    again = dataclasses.replace(forward, key="forward/again")
    report = runner.run(ZEROES_ITS_INPUTS, "nn.py", [forward, again], LIMITS)
    assert [o.status for o in report.calls] == ["ok", "ok"]
    assert matches(report.calls[0], forward) and matches(report.calls[1], again)


def test_inputs_changed_between_runs_are_sent_again(runner: SandboxRunner) -> None:
    x = np.arange(12.0).reshape(1, 2, 6)
    arrays = {"x": x, "weight": np.ones((3, 2, 2)), "bias": np.zeros(3)}
    call = layer_call("forward/0", "forward", (2, 3, 2, 1), arrays)
    assert matches(runner.run(GOOD_SOURCE, "nn.py", [call], LIMITS).calls[0], call)
    x *= -3  # the caller's writable array, changed in place: its plan is stale
    assert matches(runner.run(GOOD_SOURCE, "nn.py", [call], LIMITS).calls[0], call)


def test_doctor_starts_a_real_sandbox_and_finds_full_isolation_here() -> None:
    """As root with cgroup v1 (as CI): every layer, so exit 0; the JSON names the host's facts too."""
    done = subprocess.run(
        [sys.executable, "-m", "grader", "doctor", "--json"], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads(done.stdout)
    assert found["isolation"]["level"] == "full" and found["isolation"]["missing"] == []
    assert found["host"]["root"] and found["host"]["initial_user_namespace"]
    assert found["host"]["cgroups"]["version"] == 1
