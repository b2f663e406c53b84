"""The hostile suite: every file in ``hostile/`` really attempts an attack through ``SandboxRunner``.

Each file gets a check below that asserts the attempt failed (from what the grader observed itself
wherever possible: files on the host, a listener's backlog, its own signals, the report's bytes; from
the attacker's own prints otherwise) and, afterwards, that the same runner still grades a correct
submission, that no sandbox process survived and that the grader holds no more descriptors than before.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import signal
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from sandbox_support import (
    FAKE_TOKEN,
    GOOD_SOURCE,
    LIMITS,
    assert_grader_healthy,
    layout_children,
    make_calls,
    matches,
    report_bytes,
    sandbox_processes,
)

import grader
from grader.runner import Call, Limits, RunReport
from grader.sandbox import SandboxRunner
from grader.sandbox._process import MAX_STAGE_OUTPUT
from grader.sandbox._runner import UID_BASE

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the namespace sandbox needs root (as in CI)")

HOSTILE = Path(__file__).parent / "hostile"
REPO = Path(grader.__file__).resolve().parents[1]
CALLS = make_calls(rounds=2)
OUTPUT_SIZE_0, FORWARD_0, BACKWARD_0, OUTPUT_SIZE_1, FORWARD_1, BACKWARD_1 = CALLS

Check = Callable[[SandboxRunner, Path], None]
CHECKS: dict[str, Check] = {}


def check(function: Check) -> Check:
    CHECKS[function.__name__.removeprefix("check_")] = function
    return function


def run_hostile(
    runner: SandboxRunner, name: str, calls: list[Call], limits: Limits = LIMITS, **targets: object
) -> RunReport:
    """Run ``hostile/<name>.py`` with ``TARGETS`` (what the attack aims at) prepended to its source."""
    source = f"TARGETS = {targets!r}\n" + (HOSTILE / f"{name}.py").read_text()
    return runner.run(source, "nn.py", calls, limits)


def source_line(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def lines(report: RunReport, prefix: str) -> list[str]:
    return [line for o in report.calls for line in o.output.splitlines() if line.startswith(prefix)]


def assert_blocked(report: RunReport, *attempts: str) -> None:
    output = "\n".join(o.output for o in report.calls)
    for attempt in attempts:
        assert re.search(rf"^BLOCKED {re.escape(attempt)} \w+$", output, re.MULTILINE), (attempt, output)


@check
def check_read_files(runner: SandboxRunner, tmp_path: Path) -> None:
    secret = "other-student-secret-31415926"
    other = tmp_path / "students" / "alice" / "nn.py"
    other.parent.mkdir(parents=True)
    other.write_text(f"# {secret}\n")
    report = run_hostile(runner, "read_files", [FORWARD_0], repo=str(REPO), other_student=str(other))
    assert report.calls[0].status == "ok"
    assert_blocked(
        report, "reference", "grader package", "other student", "import reference", "import grader",
        "import torch", "/etc/passwd", "write numpy",
    )  # fmt: skip
    assert lines(report, "GOT site-packages") == ["GOT site-packages []"]  # hidden under an empty tmpfs
    # Directories are visible only on the way to what the layout binds (a checkout's .venv holding
    # NumPy, /root/.pyenv holding the interpreter), never with anything else in them.
    # Where the layout puts something under /tmp (a checkout's .venv there), the template keeps it in /.stash
    # for each sandbox to bind into its own scratch /tmp: read-only NumPy, nothing else.
    stash = {".stash"} if layout_children(Path("/tmp")) else set()
    for what, path, extra in (("root listing", Path("/"), {"proc", "tmp", *stash}), ("/root", Path("/root"), set()),
                              ("repo listing", REPO, set())):  # fmt: skip
        visible = layout_children(path) | extra
        if visible:
            (listing,) = lines(report, f"GOT {what}")
            assert set(re.findall(r"'([^']+)'", listing)) == visible, listing
        else:
            assert_blocked(report, what)
    leaked = report_bytes(report)
    assert secret.encode() not in leaked
    assert b"def conv1d_backward" not in leaked


@check
def check_environment(runner: SandboxRunner, tmp_path: Path) -> None:
    assert os.environ["CONV1D_GRADER_API_TOKEN"] == FAKE_TOKEN
    report = run_hostile(runner, "environment", [FORWARD_0], grader_pid=os.getpid())
    assert FAKE_TOKEN.encode() not in report_bytes(report)
    (env,) = lines(report, "ENV")
    allowed = {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "LC_ALL", "LC_CTYPE"}
    assert set(re.findall(r"'([^']+)'", env)) <= allowed
    assert lines(report, "PIDS") == ["PIDS [1]"]  # alone in its PID namespace
    assert lines(report, "FDS") == ["FDS [0, 1, 2, 3]"]  # stdin, output pipe twice, channel
    assert lines(report, "GOT stdin") == ["GOT stdin b''"]  # /dev/null
    assert_blocked(report, "grader environ", "grader cmdline", "parent environ")


@check
def check_network(runner: SandboxRunner, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        report = run_hostile(runner, "network", [FORWARD_0], port=listener.getsockname()[1])
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever connected
    # Refused twice over: seccomp allows no socket but AF_UNIX (netlink included, hence no if_nameindex), and
    # the network namespace has nothing but a loopback of its own.
    assert_blocked(report, "loopback", "outside", "dns", "interfaces")
    assert lines(report, "GOT proc interfaces") == ["GOT proc interfaces ['lo']"]


@check
def check_signal_grader(runner: SandboxRunner, tmp_path: Path) -> None:
    received: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda number, frame: received.append(number))
    try:
        report = run_hostile(runner, "signal_grader", [FORWARD_0], grader_pid=os.getpid())
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert received == []
    assert_blocked(
        report, "SIGUSR1 grader", "SIGKILL grader", "ptrace grader", "ptrace parent", "setuid 0", "setgid 0",
        "setgroups",
    )  # fmt: skip
    status = {line.split()[1]: line.split()[2:] for line in lines(report, "STATUS")}
    assert all(int(uid) >= UID_BASE for uid in status["Uid:"])
    assert all(int(gid) >= UID_BASE for gid in status["Gid:"])
    assert status["CapEff:"] == ["0000000000000000"]
    assert status["CapPrm:"] == ["0000000000000000"]
    assert status["NoNewPrivs:"] == ["1"]
    assert lines(report, "PPID") == ["PPID 0"]  # its parent is outside its PID namespace
    assert Path("/proc/self/status").read_text().count("TracerPid:\t0") == 1
    assert report.calls[0].status == "ok"


@check
def check_ignore_sigterm_and_hang(runner: SandboxRunner, tmp_path: Path) -> None:
    limits = dataclasses.replace(LIMITS, idle_seconds=1.0)
    report = run_hostile(runner, "ignore_sigterm_and_hang", [OUTPUT_SIZE_0, FORWARD_0, OUTPUT_SIZE_1], limits)
    first, hung, after = report.calls
    assert hung.status == "timeout"
    assert hung.detail == "sat idle (asleep or blocked) for 1 s in forward"
    assert matches(first, OUTPUT_SIZE_0) and matches(after, OUTPUT_SIZE_1)  # restarted and went on


@check
def check_fork_bomb(runner: SandboxRunner, tmp_path: Path) -> None:
    report = run_hostile(runner, "fork_bomb", [FORWARD_0])
    (stopped,) = lines(report, "FORK STOPPED")
    _, _, count, error = stopped.split()
    assert int(count) < LIMITS.max_processes and error == "BlockingIOError"
    assert report.calls[0].status == "ok"


@check
def check_thread_bomb(runner: SandboxRunner, tmp_path: Path) -> None:
    report = run_hostile(runner, "thread_bomb", [FORWARD_0])
    (stopped,) = lines(report, "THREADS STOPPED")
    _, _, count, error = stopped.split()
    assert int(count) < LIMITS.max_processes and error == "RuntimeError"


@check
def check_memory_bomb(runner: SandboxRunner, tmp_path: Path) -> None:
    report = run_hostile(runner, "memory_bomb", [FORWARD_0])
    outcome = report.calls[0]
    assert outcome.status == "error" and outcome.failure is not None
    assert outcome.failure.type == "MemoryError" and outcome.failure.where == "forward"
    assert lines(report, "REFUSED") == [f"REFUSED {10 << 30}", f"REFUSED {1 << 30}"]


@check
def check_huge_file(runner: SandboxRunner, tmp_path: Path) -> None:
    report = run_hostile(runner, "huge_file", [FORWARD_0])
    (scratch,) = lines(report, "SCRATCH")
    _, written, error, code = scratch.split()
    assert int(written) <= LIMITS.max_file_mb << 20 and error == "OSError"
    assert int(code) in (errno.EFBIG, errno.ENOSPC)
    elsewhere = lines(report, "ELSEWHERE")
    assert len(elsewhere) == 3 and all(line.split()[2] == "0" for line in elsewhere)  # read-only everywhere


@check
def check_many_files(runner: SandboxRunner, tmp_path: Path) -> None:
    report = run_hostile(runner, "many_files", [FORWARD_0])
    (stopped,) = lines(report, "OPEN STOPPED")
    _, _, count, error = stopped.split()
    assert int(count) < LIMITS.max_open_files and error == "OSError"


@check
def check_print_flood(runner: SandboxRunner, tmp_path: Path) -> None:
    # Drained, kept to output_bytes, and stopped as a flood once past MAX_STAGE_OUTPUT: a stage cannot hold
    # the grader's thread for as long as its CPU allowance lasts by printing.
    report = run_hostile(runner, "print_flood", [FORWARD_0])
    (outcome,) = report.calls
    assert (outcome.status, outcome.detail) == ("timeout", "printed more than 16 MiB without returning in forward")
    kept, marker = outcome.output.rsplit("\n[... ", 1)
    assert kept.startswith("flood flood") and len(kept.encode()) <= LIMITS.output_bytes
    dropped = int(re.fullmatch(r"([\d,]+) more bytes of output dropped]", marker)[1].replace(",", ""))  # type: ignore[index]
    assert dropped + LIMITS.output_bytes >= MAX_STAGE_OUTPUT


@check
def check_daemon_marker(runner: SandboxRunner, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    report = run_hostile(runner, "daemon_marker", [FORWARD_0], marker=str(marker))
    assert lines(report, "DAEMON STARTED")
    assert sandbox_processes(runner) == []  # gone with the PID namespace, setsid or not
    time.sleep(2.0)  # past the moment the daemon meant to write
    assert not marker.exists()
    assert not Path("/tmp/daemon-marker").exists()


@check
def check_tmp_litter(runner: SandboxRunner, tmp_path: Path) -> None:
    report = run_hostile(runner, "tmp_litter", [FORWARD_0])
    # A private /tmp: the litter, and at most the way to NumPy if it is installed under /tmp (a CI checkout).
    expected = sorted({"hostile-litter-dir", "hostile-litter-file"} | layout_children(Path("/tmp")))
    assert lines(report, "LITTERED") == [f"LITTERED {expected}"]
    assert not [name for name in os.listdir("/tmp") if name.startswith("hostile-litter")]


@check
def check_template_litter(runner: SandboxRunner, tmp_path: Path) -> None:
    # Twice: what the first sandbox could have left in the shared template, the second would find.
    for _ in range(2):
        report = run_hostile(runner, "template_litter", [FORWARD_0])
        assert not lines(report, "REMOUNTED")
        (tried,) = lines(report, "TRIED")
        count = int(tried.split()[1])
        assert count > 10 and tried.endswith("WROTE [] FOUND []"), tried


@check
def check_segfault(runner: SandboxRunner, tmp_path: Path) -> None:
    report = run_hostile(runner, "segfault", CALLS)
    by_key = {o.key: o for o in report.calls}
    assert by_key[FORWARD_0.key].status == "crashed"
    assert by_key[FORWARD_0.key].detail == "killed by SIGSEGV in forward"
    assert by_key[FORWARD_0.key].output == "about to dereference NULL\n"  # what it printed before dying
    assert by_key[BACKWARD_0.key].detail == "killed by SIGSEGV in backward"
    # Each crash cost its own call only: the calls after it ran in a fresh sandbox.
    assert matches(by_key[OUTPUT_SIZE_0.key], OUTPUT_SIZE_0) and matches(by_key[OUTPUT_SIZE_1.key], OUTPUT_SIZE_1)
    assert by_key[FORWARD_1.key].status == "ok"


@check
def check_stack_overflow(runner: SandboxRunner, tmp_path: Path) -> None:
    # A generous allowance: the verdict must be the crash, not a race between the crash and the CPU limit.
    report = run_hostile(runner, "stack_overflow", [FORWARD_0, FORWARD_1], dataclasses.replace(LIMITS, cpu_seconds=20))
    assert [o.status for o in report.calls] == ["crashed", "crashed"]
    assert report.calls[0].detail == "killed by SIGSEGV in forward"


@check
def check_exit_at_import(runner: SandboxRunner, tmp_path: Path) -> None:
    report = run_hostile(runner, "exit_at_import", CALLS)
    assert report.load.status == "crashed"
    assert report.load.detail == "the process exited with status 3 in import"
    assert report.calls == ()


@check
def check_system_exit_in_forward(runner: SandboxRunner, tmp_path: Path) -> None:
    report = run_hostile(runner, "system_exit_in_forward", CALLS)
    by_key = {o.key: o for o in report.calls}
    for key in (FORWARD_0.key, BACKWARD_0.key):
        failure = by_key[key].failure
        assert by_key[key].status == "error" and failure is not None
        assert (failure.where, failure.type, failure.message) == ("forward", "SystemExit", "leaving from forward")
        assert failure.line == 1 + source_line(HOSTILE / "system_exit_in_forward.py", "sys.exit(")  # after TARGETS
    interrupted = by_key[BACKWARD_1.key].failure
    assert interrupted is not None and (interrupted.where, interrupted.type) == ("backward", "KeyboardInterrupt")
    assert by_key[FORWARD_1.key].status == "ok"
    assert "crashed" not in {o.status for o in report.calls}  # the harness lived through all of it


@check
def check_huge_return(runner: SandboxRunner, tmp_path: Path) -> None:
    report = run_hostile(runner, "huge_return", [FORWARD_0, OUTPUT_SIZE_1])
    out = report.calls[0].values["out"]  # refused from its declared size, never read
    assert (out.kind, out.array) == ("too_large", None)
    assert out.note == f"declared 800,000,000 bytes, over the {LIMITS.max_return_mb} MiB limit"
    assert matches(report.calls[1], OUTPUT_SIZE_1)


@check
def check_many_big_returns(runner: SandboxRunner, tmp_path: Path) -> None:
    # Each 12 MiB value is under the 16 MiB per-array limit; the submission's total is capped while reading,
    # so what the grader holds for one grading is bounded whatever the number of calls.
    limits = dataclasses.replace(LIMITS, max_return_bytes=40 << 20)
    report = run_hostile(runner, "many_big_returns", [FORWARD_0] * 6, limits)
    outs = [o.values["out"] for o in report.calls]
    assert [o.kind for o in outs[:3]] == ["ndarray"] * 3 and all(o.array is not None for o in outs[:3])
    refused = outs[3]
    assert (refused.kind, refused.array) == ("too_large", None)
    assert refused.note.startswith("declared 12,582,912 bytes, past the 41,943,040 bytes this submission may return")
    assert all(o.array is None for o in outs[3:])


@check
def check_exit_with_setup_status(runner: SandboxRunner, tmp_path: Path) -> None:
    # The sandbox's own setup failure travels on a socket the submission cannot write, not in an exit status.
    report = run_hostile(runner, "exit_with_setup_status", [FORWARD_0, BACKWARD_0])
    assert [(o.status, o.detail) for o in report.calls] == [
        ("crashed", "the process exited with status 71 in forward"),
        ("crashed", "the process exited with status 71 in backward"),  # a backward call runs forward first
    ]


@check
def check_leak_everything(runner: SandboxRunner, tmp_path: Path) -> None:
    # At the runner's level the inputs are the caller's to choose: all a sandbox can reach are the inputs of
    # its own run (what the engine draws per submission is tested in test_hidden_inputs.py).
    report = run_hostile(runner, "leak_everything", [OUTPUT_SIZE_0, FORWARD_0])
    assert lines(report, "LEAK")
    assert report.calls[1].failure is not None and report.calls[1].failure.message.startswith("LEAK")
    assert FAKE_TOKEN.encode() not in report_bytes(report)


@check
def check_forge_garbage_frames(runner: SandboxRunner, tmp_path: Path) -> None:
    report = run_hostile(runner, "forge_garbage_frames", [FORWARD_0, OUTPUT_SIZE_1])
    forged = report.calls[0]
    assert forged.status == "crashed" and forged.values == {}
    assert forged.detail.startswith("the sandbox sent a malformed reply in forward: invalid reply header")
    assert matches(report.calls[1], OUTPUT_SIZE_1)


@check
def check_forge_valid_reply(runner: SandboxRunner, tmp_path: Path) -> None:
    calls = [FORWARD_0, FORWARD_1, OUTPUT_SIZE_0, OUTPUT_SIZE_1]
    report = run_hostile(runner, "forge_valid_reply", calls)
    # A forged reply is only the submission's word for what it returned: zeros gain nothing...
    for outcome, call in zip(report.calls[:2], calls[:2], strict=True):
        assert not matches(outcome, call)
        out = outcome.values.get("out")
        assert out is None or (out.array is not None and not out.array.any())
    # ...and the real reply it displaced is caught as out of step, costing that call only.
    assert report.calls[2].status == "crashed" and "reply is for 'forward/0'" in report.calls[2].detail
    assert matches(report.calls[3], OUTPUT_SIZE_1)


@check
def check_fake_json_stdout(runner: SandboxRunner, tmp_path: Path) -> None:
    report = run_hostile(runner, "fake_json_stdout", [FORWARD_0])
    outcome = report.calls[0]
    assert outcome.status == "ok" and outcome.values["out"].kind == "none"
    assert '"score": 100' in outcome.output  # it stayed what it was: output


@check
def check_monkeypatch_everything(runner: SandboxRunner, tmp_path: Path) -> None:
    report = run_hostile(runner, "monkeypatch_everything", [FORWARD_0, BACKWARD_0, FORWARD_1])
    first, patched, after = report.calls
    for outcome, call in ((first, FORWARD_0), (after, FORWARD_1)):
        out = outcome.values["out"]
        assert outcome.status == "ok" and out.kind == "ndarray" and out.array is not None
        assert not out.array.any() and not matches(outcome, call)  # the real zeros, judged by the real numpy
    # Its own reply broke (json's encoder calls the rebound isinstance): a crash of that call only.
    assert patched.status == "crashed" and patched.detail == "the sandbox's harness failed in backward"


@check
def check_ndarray_subclass(runner: SandboxRunner, tmp_path: Path) -> None:
    report = run_hostile(runner, "ndarray_subclass", [FORWARD_0, BACKWARD_0])
    out = report.calls[0].values["out"]
    assert (out.kind, out.type_name) == ("ndarray_subclass", "nn.Liar")
    assert type(out.array) is np.ndarray and not out.array.any()
    assert not matches(report.calls[0], FORWARD_0)
    values = report.calls[1].values
    assert values["grad_weight"].array is not None and values["grad_weight"].array.dtype == np.int16  # not the lie
    assert values["grad_bias"].type_name == "numpy.ma.MaskedArray"
    assert values["grad_bias"].array is not None and values["grad_bias"].array.tolist() == [1.0, 2.0]
    assert values["dx"].type_name == "numpy.matrix" and type(values["dx"].array) is np.ndarray
    assert not Path("/tmp/pwned-by-reduce").exists()


@check
def check_custom_objects(runner: SandboxRunner, tmp_path: Path) -> None:
    report = run_hostile(runner, "custom_objects", [OUTPUT_SIZE_0, FORWARD_0, BACKWARD_0])
    size = report.calls[0].values["size"]
    assert (size.kind, size.type_name, size.scalar, size.array) == ("other", "nn.Chameleon", None, None)
    assert not matches(report.calls[0], OUTPUT_SIZE_0)
    out = report.calls[1].values["out"]
    assert out.kind == "list" and out.array is not None and out.array.shape == (2, 3) and not out.array.any()
    values = report.calls[2].values
    for name, dtype in (("dx", "complex128"), ("grad_weight", "object"), ("grad_bias", "[('a', '<f8'), ('b', '<i4')]")):
        assert values[name].kind == "ndarray" and values[name].array is None
        assert values[name].note.startswith(f"dtype {dtype} refused"), values[name].note
    assert not Path("/tmp/pwned-by-reduce").exists()


@check
def check_cpu_hog_in_backward(runner: SandboxRunner, tmp_path: Path) -> None:
    report = run_hostile(runner, "cpu_hog_in_backward", CALLS)
    for outcome, call in zip(report.calls, CALLS, strict=True):
        if call.op == "backward":
            assert outcome.status == "timeout"
            assert outcome.detail == "used up its 1 s of CPU time in backward"
        else:
            assert matches(outcome, call), outcome  # forward keeps its marks, before and after the restart


@check
def check_memory_split_across_processes(runner: SandboxRunner, tmp_path: Path) -> None:
    # Its children sleep while holding their blocks: the whole sandbox idles; and a memory cgroup at its limit
    # burns CPU reclaiming before it kills. The time limits are lifted here: memory is the point.
    limits = dataclasses.replace(LIMITS, idle_seconds=10.0, cpu_seconds=20.0)
    report = run_hostile(runner, "memory_split_across_processes", [FORWARD_0], limits)
    assert report.calls[0].status == "ok"
    children = lines(report, "CHILD")
    assert len(children) == 6
    # 6 x 200 MiB would fit under RLIMIT_AS process by process; the sandbox's memory cgroup
    # (256 MiB + scratch + slack) lets at most one of them hold its block.
    assert sum(line == "CHILD exited 0" for line in children) <= 1
    assert sum(line == f"CHILD killed {signal.SIGKILL.value}" for line in children) >= 5


@check
def check_cpu_hog_in_child(runner: SandboxRunner, tmp_path: Path) -> None:
    # Caught on the group's CPU time (1 s) though the sandbox's main thread waits: a busy child is progress,
    # so it is never taken for idleness, however loaded the machine.
    report = run_hostile(runner, "cpu_hog_in_child", [FORWARD_0])
    assert report.calls[0].status == "timeout"
    assert report.calls[0].detail == "used up its 1 s of CPU time in forward"


@check
def check_oom_in_sandbox_process(runner: SandboxRunner, tmp_path: Path) -> None:
    # It sleeps while holding memory (so does its child): the idle limit is lifted, the memory limit is the point.
    limits = dataclasses.replace(LIMITS, idle_seconds=30.0, cpu_seconds=20.0)
    report = run_hostile(runner, "oom_in_sandbox_process", [FORWARD_0], limits)
    assert report.calls[0].status == "crashed"
    assert report.calls[0].detail == f"killed for going over the {LIMITS.memory_mb} MiB memory limit in forward"


@check
def check_endless_output_from_a_child(runner: SandboxRunner, tmp_path: Path) -> None:
    report = run_hostile(runner, "endless_output_from_a_child", [FORWARD_0])
    # The grader kept draining without losing sight of the limits, and a child blocked on a full pipe is the
    # grader's delay, never idleness: the flood is what stops it.
    detail = "printed more than 16 MiB without returning in forward"
    assert (report.calls[0].status, report.calls[0].detail) == ("timeout", detail)
    assert report.calls[0].output.startswith("y" * 100)


@check
def check_kernel_attack_surface(runner: SandboxRunner, tmp_path: Path) -> None:
    report = run_hostile(runner, "kernel_attack_surface", [FORWARD_0])
    results = {line.split()[1]: line.split()[2:] for line in lines(report, "SYSCALL")}
    assert len(results) == 13
    refused = {name: result for name, result in results.items() if name != "clone3"}
    assert all(result == ["-1", str(errno.EPERM)] for result in refused.values()), results
    assert results["clone3"] == ["-1", str(errno.ENOSYS)]  # so that libc falls back to a clone it can check
    assert lines(report, "FORK") == ["FORK 7"] and lines(report, "THREAD") == ["THREAD 1"]


def test_every_hostile_file_has_a_check() -> None:
    assert sorted(p.stem for p in HOSTILE.glob("*.py")) == sorted(CHECKS)


def _descriptors() -> list[str]:
    """This process's open descriptors, but the cgroup files kept open on purpose: each uid's group keeps its
    CPU counter open for one-syscall reads, and a uid first leased here (another grader on the host holding the
    usual one) opens its own."""
    kept = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the listing's own descriptor, closed by now
        if not target.startswith("/sys/fs/cgroup/"):
            kept.append(f"{fd} -> {target}")
    return sorted(kept)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_hostile_submission(name: str, runner: SandboxRunner, tmp_path: Path) -> None:
    assert_grader_healthy(runner)  # the zygote is up, so what is open now is the steady state
    descriptors = _descriptors()
    CHECKS[name](runner, tmp_path)
    assert_grader_healthy(runner)
    assert _descriptors() == descriptors  # nothing leaked by killed or crashed sandboxes


FORKS_HONESTLY = GOOD_SOURCE + """

import os
_forward = Conv1d.forward


def _forward_after_forking(self, x):
    children = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    return _forward(self, x)


Conv1d.forward = _forward_after_forking
"""


def test_attacks_alongside_honest_submissions_do_not_touch_them(runner: SandboxRunner) -> None:
    """Batch grading with several workers: bombs in some sandboxes, honest work (forking included: each
    sandbox has its own uid, so RLIMIT_NPROC is its own) in the others, all at once."""
    hostile = ["fork_bomb", "thread_bomb", "memory_split_across_processes", "cpu_hog_in_child", "print_flood"]
    jobs = [("hostile", name) for name in hostile] + [("honest", str(i)) for i in range(6)]
    calls = make_calls(seed=11, rounds=2)

    def grade(job: tuple[str, str]) -> RunReport:
        kind, name = job
        if kind == "hostile":
            return run_hostile(runner, name, [FORWARD_0])
        return runner.run(FORKS_HONESTLY, "nn.py", calls, LIMITS)

    with ThreadPoolExecutor(4) as pool:
        reports = dict(zip(jobs, pool.map(grade, jobs), strict=True))
    for (kind, _), report in reports.items():
        if kind == "honest":
            assert all(matches(o, c) for o, c in zip(report.calls, calls, strict=True)), report.calls
    assert reports[("hostile", "cpu_hog_in_child")].calls[0].status == "timeout"
    assert sandbox_processes(runner) == []
