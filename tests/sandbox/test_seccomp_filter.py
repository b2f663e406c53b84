"""The seccomp filter on its own, the zygote's modules as the zygote loads them, and a failing setup step.

The filter is exercised for real: built the way the zygote builds it (its modules loaded as plain modules
from the sandbox folder, in a ``python -I -S`` subprocess, as the zygote runs), installed in a forked child,
and every refused call tried there. Both builders: libseccomp's and the hand-assembled fallback.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sandbox_support import GOOD_SOURCE, LIMITS, make_calls, matches

from grader.sandbox import SandboxRunner
from grader.sandbox import _zygote_client as zygote_client
from grader.sandbox._layout import numpy_site_dir, pyseccomp_file
from grader.sandbox._zygote_client import SandboxStartError

SANDBOX_DIR = Path(zygote_client.__file__).parent
HOSTILE = Path(__file__).parent / "hostile"

needs_x86_64 = pytest.mark.skipif(platform.machine() != "x86_64", reason="the syscall numbers below are x86_64's")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the namespace sandbox needs root (as in CI)")

# Runs in a fresh ``python -I -S``: builds the filter with the builder asked for, forks, installs it in the child,
# tries each call there and reports the results (a child killed by the filter is reported by its signal).
_TRY_FILTER = r"""
import ctypes, json, os, socket, sys
sys.path.insert(0, SANDBOX_DIR)
import _libc, _limits, _seccomp

built = _seccomp.build(PYSECCOMP)
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def call(number, *args):
    result = libc.syscall(ctypes.c_long(number), *(ctypes.c_long(a) for a in args))
    return [result, ctypes.get_errno() if result < 0 else 0]

ATTEMPTS = {
    "socket(AF_INET)": (41, socket.AF_INET, socket.SOCK_STREAM, 0),
    "socket(AF_INET6)": (41, socket.AF_INET6, socket.SOCK_DGRAM, 0),
    "socket(AF_NETLINK)": (41, socket.AF_NETLINK, socket.SOCK_RAW, 0),
    "socket(AF_PACKET)": (41, 17, socket.SOCK_RAW, 0),
    "unshare(NEWUSER)": (272, 0x10000000),
    "unshare(0)": (272, 0),
    "clone(NEWNET)": (56, 0x40000000 | 17, 0, 0, 0, 0),
    "clone(NEWTIME)": (56, 0x80 | 17, 0, 0, 0, 0),
    "clone3": (435, 0, 0),
    "prctl(PDEATHSIG)": (157, 1, 0, 0, 0, 0),
    "prctl(PDEATHSIG, high bits)": (157, (1 << 32) | 1, 0, 0, 0, 0),
    "mount_setattr": (442, 0, 0, 0, 0, 0),
    "pivot_root": (155, 0, 0),
    "open_by_handle_at": (304, 0, 0, 0),
}

def child(write_end, attempt):
    _limits.no_new_privs()
    _seccomp.install(built.program)
    if attempt == "x32 getpid":
        call(0x40000000 | 39)
        os.write(write_end, b"{}")
        os._exit(0)
    seen = {name: call(*args) for name, args in ATTEMPTS.items()}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        seen["socket(AF_UNIX)"] = [unix.fileno(), 0]
    a, b = socket.socketpair()
    a.close(); b.close()
    seen["socketpair"] = [0, 0]
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    seen["fork"] = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), 0]
    os.write(write_end, json.dumps(seen).encode())
    os._exit(0)

def run(attempt):
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            child(write_end, attempt)
        finally:
            os._exit(99)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        seen = json.loads(pipe.read() or b"{}")
    return seen, os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

calls, _ = run("calls")
_, x32_status = run("x32 getpid")
print(json.dumps({"how": built.how, "arch": built.arch, "note": built.note, "calls": calls, "x32": x32_status}))
"""


def _try_filter(pyseccomp: str | None) -> dict[str, Any]:
    script = _TRY_FILTER.replace("SANDBOX_DIR", repr(str(SANDBOX_DIR))).replace("PYSECCOMP", repr(pyseccomp))
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@needs_x86_64
@pytest.mark.parametrize("builder", ["libseccomp", "bpf"])
def test_the_filter_refuses_what_the_policy_says_and_allows_the_rest(builder: str) -> None:
    path = pyseccomp_file() if builder == "libseccomp" else None
    if builder == "libseccomp" and path is None:
        pytest.skip("pyseccomp is not installed")
    seen = _try_filter(path)
    assert seen["how"] == builder
    assert seen["arch"] == (["x86_64", "aarch64"] if builder == "libseccomp" else ["x86_64"])
    calls = seen["calls"]
    for family in ("AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET"):
        assert calls[f"socket({family})"] == [-1, errno.EAFNOSUPPORT], (family, calls)
    assert calls["socket(AF_UNIX)"][0] >= 0 and calls["socketpair"] == [0, 0]
    for name in ("unshare(NEWUSER)", "unshare(0)", "clone(NEWNET)", "clone(NEWTIME)", "prctl(PDEATHSIG)",
                 "prctl(PDEATHSIG, high bits)", "mount_setattr", "pivot_root", "open_by_handle_at"):  # fmt: skip
        assert calls[name] == [-1, errno.EPERM], (name, calls)
    assert calls["clone3"] == [-1, errno.ENOSYS]  # so that libc falls back to clone, whose flags are checked
    assert calls["fork"] == [7, 0]
    # x32's numbers mean other calls: libseccomp kills (the filter has no x32 rules), the fallback says EPERM.
    assert seen["x32"] == (-31 if builder == "libseccomp" else 0)  # -SIGSYS


def test_without_pyseccomp_the_zygote_falls_back_to_the_hand_assembled_filter_and_says_why(tmp_path: Path) -> None:
    broken = tmp_path / "pyseccomp.py"
    broken.write_text("raise ImportError('no libseccomp here')\n")
    if platform.machine() != "x86_64":
        pytest.skip("the fallback is x86_64's")
    seen = _try_filter(str(broken))
    assert seen["how"] == "bpf" and seen["arch"] == ["x86_64"]
    assert "no libseccomp here" in seen["note"]
    assert seen["calls"]["socket(AF_INET)"] == [-1, errno.EAFNOSUPPORT]


@needs_x86_64
def test_every_denied_name_has_libseccomps_x86_64_number() -> None:
    """The fallback's numbers are x86_64's: libseccomp must agree on each, or the two filters differ."""
    path = pyseccomp_file()
    if path is None:
        pytest.skip("pyseccomp is not installed")
    script = (
        f"import sys; sys.path.insert(0, {str(SANDBOX_DIR)!r}); import _seccomp, json; "
        f"sc = _seccomp._load_pyseccomp({path!r}); "
        "print(json.dumps({name: sc.resolve_syscall(0, name) for name, _ in _seccomp.DENIED}))"
    )
    result = subprocess.run([sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, check=True)
    numbers = json.loads(result.stdout)
    sys.path.insert(0, str(SANDBOX_DIR))
    try:
        import _seccomp  # the test process's own copy, as plain a module as the zygote's
    finally:
        sys.path.remove(str(SANDBOX_DIR))
        sys.modules.pop("_seccomp", None)
    assert numbers == dict(_seccomp.DENIED)


def test_the_zygote_loads_no_grader_module() -> None:
    """The zygote's own start-up path (its sibling modules, NumPy, the harness, the filter, the warm-up) in a
    ``python -I -S`` like the real one: no ``grader`` module, and neither the pyseccomp binding nor the
    sandbox folder left behind for the sandboxes to inherit."""
    script = (
        "import json, runpy, sys\n"
        f"zygote = runpy.run_path({str(SANDBOX_DIR / '_zygote.py')!r}, run_name='not_main')\n"
        f"sys.path.append({numpy_site_dir()!r})\n"
        f"harness = zygote['_import_harness']({str(SANDBOX_DIR / '_harness.py')!r})\n"
        f"built = zygote['_seccomp'].build({pyseccomp_file()!r})\n"
        "zygote['_warm_up'](harness)\n"
        "print(json.dumps({'modules': sorted(sys.modules), 'path': sys.path, 'how': built.how}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert [m for m in seen["modules"] if m == "grader" or m.startswith("grader.")] == []
    assert "pyseccomp" not in seen["modules"]
    assert {"_libc", "_fs", "_seccomp", "_sandbox", "_supervisor", "_constants", "numpy"} <= set(seen["modules"])
    assert str(SANDBOX_DIR) not in seen["path"]
    assert seen["how"] == ("libseccomp" if pyseccomp_file() else "bpf")


@needs_root
def test_a_sandbox_cannot_import_or_see_pyseccomp(runner: SandboxRunner) -> None:
    path = pyseccomp_file()
    if path is None:
        pytest.skip("pyseccomp is not installed")
    source = (
        "import os\n"
        "class Conv1d:\n"
        "    def __init__(self, *args):\n"
        "        pass\n"
        "    def forward(self, x):\n"
        "        try:\n"
        "            import pyseccomp\n"
        "        except ImportError as exc:\n"
        "            print('IMPORT', type(exc).__name__)\n"
        f"        print('EXISTS', os.path.exists({path!r}))\n"
        "        return x\n"
    )
    report = runner.run(source, "nn.py", [make_calls(rounds=1)[1]], LIMITS)
    assert report.calls[0].output.splitlines() == ["IMPORT ModuleNotFoundError", "EXISTS False"]


@needs_root
@needs_x86_64
def test_with_pyseccomp_broken_the_sandbox_grades_under_the_fallback_filter(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:  # fmt: skip
    """The whole path with a binding that fails to import (in the zygote, a subprocess of its own): the report
    says ``bpf``, a correct file grades in full, and the kernel attack surface is refused as with libseccomp."""
    broken = tmp_path / "pyseccomp.py"
    broken.write_text("raise ImportError('no libseccomp here')\n")
    monkeypatch.setattr(zygote_client, "pyseccomp_file", lambda: str(broken))
    calls = make_calls(rounds=1)
    with SandboxRunner() as fallback:
        good = fallback.run(GOOD_SOURCE, "nn.py", calls, LIMITS)
        attack = (HOSTILE / "kernel_attack_surface.py").read_text()
        hostile = fallback.run(attack, "nn.py", [calls[1]], LIMITS)
    assert all(matches(o, c) for o, c in zip(good.calls, calls, strict=True))
    assert good.isolation is not None
    assert dataclasses.asdict(good.isolation)["seccomp"] == {"how": "bpf", "arch": ("x86_64",)}
    results = {line.split()[1]: line.split()[2:] for line in hostile.calls[0].output.splitlines() if "SYSCALL" in line}
    assert results["clone3"] == ["-1", str(errno.ENOSYS)]
    assert all(r == ["-1", str(errno.EPERM)] for name, r in results.items() if name != "clone3"), results


@needs_root
def test_a_failing_setup_step_is_named_on_the_graders_stderr_and_is_the_graders_fault(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """An open-files limit above the hard limit cannot be set once the sandbox has dropped its uid: the
    "rlimits" step fails, before ``ready``, so the run is the grader's fault, and stderr names the step."""
    too_many = dataclasses.replace(LIMITS, max_open_files=1 << 40)
    with SandboxRunner() as fresh, pytest.raises(SandboxStartError, match="could not be set up"):
        fresh.run(GOOD_SOURCE, "nn.py", make_calls(rounds=1), too_many)
    assert "sandbox setup failed at step 'rlimits':" in capfd.readouterr().err
