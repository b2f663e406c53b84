"""cgroup v2: the subtree found and set up, and what each sandbox group enforces, with real processes.

The tests marked ``cgroup_v2`` need root on a host whose /sys/fs/cgroup is cgroup2; this repository's CI
machines are cgroup v1, so ``test_cgroup_v2_vm.py`` boots a cgroup2 kernel under qemu and runs them there.
The mountinfo tests at the top run anywhere.

Emulated, everything is ~30x slower than on hardware: sizes and times here are chosen to hold either way.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cgroup_support import GroupedChild, busy, fork_until_refused
from sandbox_support import SECCOMP_PROFILE, as_in_the_container

import grader
from grader.runner import Limits
from grader.sandbox._cgroup import CgroupV2, SandboxCgroup, V2Hierarchy, detect, memory_limit_bytes, probe
from grader.sandbox._cgroup._mounts import CGROUP_ROOT, cgroup2_root, own_cgroup_dir
from grader.sandbox._cgroup._v2 import LEAF, WEIGHT, _delegated

REPO = Path(__file__).resolve().parents[2]

PURE_V2 = """\
25 1 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
"""
BIND_OF_A_SUBTREE = """\
30 25 0:26 /system.slice/grader.service /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw
"""


def test_cgroup2_on_sys_fs_cgroup_is_found_from_mountinfo() -> None:
    mount = cgroup2_root(PURE_V2)
    assert mount is not None and mount.root == "/" and "nsdelegate" in mount.options
    # A tmpfs mounted over it hides it.
    hidden = PURE_V2 + "40 30 0:40 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
    assert cgroup2_root(hidden) is None


def test_own_cgroup_is_found_relative_to_what_the_mount_shows() -> None:
    mount = cgroup2_root(BIND_OF_A_SUBTREE)
    assert mount is not None
    own = own_cgroup_dir(mount, "0::/system.slice/grader.service/grader\n")
    assert own == CGROUP_ROOT / "grader"
    assert own_cgroup_dir(mount, "0::/user.slice\n") is None


# Real groups from here on.

_V2_MARKS = [
    pytest.mark.cgroup_v2,
    pytest.mark.skipif(
        os.geteuid() != 0 or cgroup2_root() is None,
        reason="needs root on a host whose /sys/fs/cgroup is cgroup2 (test_cgroup_v2_vm.py boots one)",
    ),
]

# High uids, clear of the runner's leases (only the end-to-end test grades, and it leases as usual).
_uids = iter(range(1_994_000, 1_994_100))


def v2(test: Callable[..., None]) -> Callable[..., None]:
    """Marks a test that needs a real cgroup2 hierarchy."""
    for mark in _V2_MARKS:
        test = mark(test)
    return test


@pytest.fixture
def group() -> Iterator[CgroupV2]:
    yield from _fresh_group()


@pytest.fixture
def other_group() -> Iterator[CgroupV2]:
    yield from _fresh_group()


def _fresh_group() -> Iterator[CgroupV2]:
    made = SandboxCgroup.create(next(_uids))
    assert isinstance(made, CgroupV2), f"not a v2 group: {made!r}"
    try:
        yield made
    finally:
        made.kill_leftovers()
        _wait_empty(made)


def _wait_empty(group: CgroupV2, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "populated 0" in (group.path / "cgroup.events").read_text():
            return True
        time.sleep(0.05)
    return False


def _child(group: SandboxCgroup, work: Callable[[], int]) -> GroupedChild:
    # Emulation is some thirty times slower than the host: more patience than the v1 tests need.
    return GroupedChild(group.procs_files, work, patience=120.0)


def _burn(cpu: float) -> Callable[[], int]:
    """Work that uses ``cpu`` seconds of its own CPU time."""

    def work() -> int:
        while time.process_time() < cpu:
            pass
        return 0

    return work


def _hold(megabytes: int) -> Callable[[], int]:
    """Work that makes ``megabytes`` its own (every page written), then waits to be killed."""

    def work() -> int:
        blob = b"\x01" * (megabytes << 20)
        time.sleep(120)
        return len(blob) & 0

    return work


def _fork_until_refused() -> int:
    return fork_until_refused(linger=120.0)


@v2
def test_the_subtree_is_made_at_the_root_with_every_controller(group: CgroupV2) -> None:
    hierarchy = detect()
    assert isinstance(hierarchy, V2Hierarchy)
    assert hierarchy.mode == "root" and hierarchy.parent == CGROUP_ROOT / "conv1d-grader"
    assert {"cpu", "memory", "pids"} <= set((CGROUP_ROOT / "cgroup.subtree_control").read_text().split())
    assert {"cpu", "memory", "pids"} <= set((hierarchy.parent / "cgroup.subtree_control").read_text().split())
    assert group.path.parent == hierarchy.parent and group.path.name.startswith("sandbox-")
    assert group.procs_files == [str(group.path / "cgroup.procs")]
    described = group.describe()
    assert described == {
        "version": 2,
        "controllers": ["cpu", "memory", "pids"],
        "missing": [],
        "path": str(group.path),
        "reasons": {},
    }
    report = probe()
    assert report["version"] == 2 and report["mode"] == "v2-root" and report["missing"] == []


@v2
def test_memory_is_capped_across_the_groups_processes(group: CgroupV2) -> None:
    limits = Limits(memory_mb=32, max_file_mb=0)  # 96 MiB with the slack
    group.configure(limits)
    assert int((group.path / "memory.max").read_text()) == memory_limit_bytes(limits) == 96 << 20
    assert (group.path / "memory.swap.max").read_text().strip() == "0"
    before = group.oom_kills()
    # Each fits alone; together they do not.
    children = [_child(group, _hold(60)), _child(group, _hold(60))]
    deadline = time.monotonic() + 120
    while group.oom_kills() == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert group.oom_kills() > before
    group.kill_leftovers()
    statuses = [child.wait() for child in children]
    assert all(os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL for status in statuses)


@v2
def test_pids_max_caps_the_group(group: CgroupV2) -> None:
    group.configure(Limits(max_processes=5))
    assert (group.path / "pids.max").read_text().strip() == "5"
    # As root, RLIMIT_NPROC does not apply: only the group stops the fifth process.
    status = _child(group, _fork_until_refused).wait()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 4
    assert len((group.path / "cgroup.procs").read_text().split()) == 4  # the forks, left sleeping


@v2
def test_cpu_time_counts_every_process_in_the_group(group: CgroupV2) -> None:
    start = group.cpu_seconds()
    children = [_child(group, _burn(0.6)), _child(group, _burn(0.6))]
    assert [child.wait() for child in children] == [0, 0]
    assert group.cpu_seconds() - start >= 1.1


@v2
def test_many_busy_processes_in_one_group_do_not_starve_another(group: CgroupV2, other_group: CgroupV2) -> None:
    # Group A keeps 8 processes busy, group B one: without cpu weights B would get ~1/9 of the CPU time;
    # with equal weights the two groups get about the same, and B's one process a whole CPU.
    for each in (group, other_group):
        assert (each.path / "cpu.weight").read_text().strip() == str(WEIGHT)
    children = [_child(group, busy(12.0)) for _ in range(8)]
    children.append(_child(other_group, busy(12.0)))
    time.sleep(2.0)  # every child started and in its group, even emulated
    start_a, start_b = group.cpu_seconds(), other_group.cpu_seconds()
    time.sleep(3.0)
    used_a, used_b = group.cpu_seconds() - start_a, other_group.cpu_seconds() - start_b
    group.kill_leftovers()
    other_group.kill_leftovers()
    for child in children:
        child.wait()
    print(f"cpu over 3 s: group A (8 busy) {used_a:.2f} s, group B (1 busy) {used_b:.2f} s")
    assert used_b / (used_a + used_b) >= 0.3, (used_a, used_b)


@v2
def test_kill_leftovers_leaves_nothing_behind(group: CgroupV2) -> None:
    status = _child(group, _fork_until_refused).wait()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 30  # the group has no pids.max yet
    assert "populated 1" in (group.path / "cgroup.events").read_text()
    assert (group.path / "cgroup.kill").exists()
    group.kill_leftovers()
    assert _wait_empty(group)
    assert (group.path / "cgroup.procs").read_text() == ""


@v2
def test_without_cgroup_kill_leftovers_are_killed_one_by_one(group: CgroupV2, monkeypatch: pytest.MonkeyPatch) -> None:
    # Kernels before 5.14 have no cgroup.kill.
    monkeypatch.setattr(group, "_kill", False)
    sleepers = [_child(group, lambda: time.sleep(120) or 0) for _ in range(3)]
    group.kill_leftovers()
    assert all(os.WTERMSIG(child.wait()) == signal.SIGKILL for child in sleepers)
    assert _wait_empty(group)


@v2
def test_with_only_some_controllers_delegated_the_group_uses_those_and_names_the_rest() -> None:
    # A delegated cgroup whose parent hands down pids only (as a systemd unit with Delegate=pids would).
    assert isinstance(detect(), V2Hierarchy)
    outer = CGROUP_ROOT / "conv1d-partial-test"
    own = outer / "unit"
    own.mkdir(parents=True, exist_ok=True)
    try:
        (outer / "cgroup.subtree_control").write_text("+pids")
        hierarchy = _delegated(own)
        assert hierarchy.enabled == {"pids"} and (own / LEAF).is_dir()
        group = hierarchy.group(1994998)
        assert group is not None
        described = group.describe()
        assert described["controllers"] == ["pids"] and described["missing"] == ["cpu", "memory"]
        assert "does not delegate it" in described["reasons"]["memory"]
        group.configure(Limits(max_processes=3))
        assert (group.path / "pids.max").read_text().strip() == "3"
        assert not (group.path / "memory.max").exists() and group.oom_kills() == 0
        # CPU time is counted without the cpu controller.
        assert _child(group, _burn(0.3)).wait() == 0 and group.cpu_seconds() >= 0.25
    finally:
        for folder in (own / "sandbox-1994998", own / LEAF, own, outer):
            _rmdir_when_empty(folder)


@v2
def test_a_delegated_subtree_moves_its_processes_into_a_leaf_first(tmp_path: Path) -> None:
    # A container with its own cgroup namespace: a grader in the namespace's root cgroup, with /sys/fs/cgroup
    # mounted in the namespace. Its cgroup here is conv1d-delegated-test, under the real root.
    if shutil.which("unshare") is None:
        pytest.skip("needs util-linux's unshare")
    assert isinstance(detect(), V2Hierarchy)  # the root delegates cpu, memory and pids to its children
    outer = CGROUP_ROOT / "conv1d-delegated-test"
    outer.mkdir(exist_ok=True)
    script = tmp_path / "inside.py"
    script.write_text(_INSIDE)
    try:
        inside = subprocess.run(
            ["unshare", "--cgroup", "--mount", "--propagation", "private", "sh", "-c",
             f"umount /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec {sys.executable} {script}"],
            preexec_fn=lambda: (outer / "cgroup.procs").write_text(str(os.getpid())),
            capture_output=True, text=True, timeout=300, cwd=REPO, check=False,
        )  # fmt: skip
        assert inside.returncode == 0, inside.stderr
        first, second = (json.loads(line) for line in inside.stdout.splitlines())
        # Seen from inside, the namespace's root is "/": the grader moved into its leaf, the sandboxes beside it.
        assert first["own"] == "/grader" and first["mode"] == "delegated" and first["parent"] == "/sys/fs/cgroup"
        assert first["described"]["controllers"] == ["cpu", "memory", "pids"]
        assert first["cpu"] > 0.2
        # A second grader started in the leaf uses the subtree as it is.
        assert second["own"] == "/grader" and second["parent"] == "/sys/fs/cgroup"
        assert (outer / "cgroup.procs").read_text() == ""
        assert {"cpu", "memory", "pids"} <= set((outer / "cgroup.subtree_control").read_text().split())
        assert (outer / "sandbox-1994999" / "cpu.weight").read_text().strip() == str(WEIGHT)
    finally:
        for folder in sorted(outer.glob("*/"), reverse=True):
            if folder.is_dir():
                (folder / "cgroup.kill").write_text("1")
                _rmdir_when_empty(folder)
        _rmdir_when_empty(outer)


_INSIDE = """
import json, os, subprocess, sys, time
from grader.sandbox._cgroup import SandboxCgroup, detect
from grader.sandbox._cgroup._mounts import own_cgroup_v2

group = SandboxCgroup.create(1994999)
hierarchy = detect()
result = {"own": own_cgroup_v2().strip(), "mode": hierarchy.mode, "parent": str(hierarchy.parent),
          "described": group.describe()}
pid = os.fork()
if pid == 0:
    while time.process_time() < 0.3:
        pass
    os._exit(0)
for procs in group.procs_files:
    with open(procs, "w") as f:
        f.write(str(pid))
os.waitpid(pid, 0)
result["cpu"] = group.cpu_seconds()
print(json.dumps(result), flush=True)
if len(sys.argv) == 1:
    subprocess.run([sys.executable, __file__, "again"], check=True)
"""


@v2
def test_the_documented_container_flags_grade_in_full_with_the_containers_own_cgroups(tmp_path: Path) -> None:
    """SECURITY.md's docker run, reproduced on cgroup v2 (test_container_conditions.py does it on v1): a private
    cgroup namespace whose /sys/fs/cgroup is mounted read-only, as Docker mounts it without --privileged; the
    image's entrypoint remounts it read-write under the documented capabilities, no_new_privs and seccomp
    profile; then a correct file grades in full, with the container's own subtree delegated to the sandboxes."""
    if shutil.which("unshare") is None or shutil.which("setpriv") is None:
        pytest.skip("needs util-linux's unshare and setpriv")
    assert isinstance(detect(), V2Hierarchy)  # the root delegates cpu, memory and pids to its children
    outer = CGROUP_ROOT / "conv1d-container-test"
    outer.mkdir(exist_ok=True)
    script = tmp_path / "grade.py"
    script.write_text(_GRADE_IN_CONTAINER)
    inside = as_in_the_container(SECCOMP_PROFILE, str(REPO / "deploy" / "entrypoint.sh"), sys.executable, str(script))
    try:
        result = subprocess.run(
            ["unshare", "--cgroup", "--mount", "--propagation", "private", "sh", "-c",
             "umount /sys/fs/cgroup && mount -t cgroup2 -o ro cgroup2 /sys/fs/cgroup && exec \"$@\"", "sh", *inside],
            preexec_fn=lambda: (outer / "cgroup.procs").write_text(str(os.getpid())),
            capture_output=True, text=True, timeout=400, cwd=REPO, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        seen = json.loads(result.stdout.splitlines()[-1])
        assert seen["score"] == seen["max_score"], seen
        isolation = seen["isolation"]
        assert (isolation["level"], isolation["missing"]) == ("full", []), isolation
        assert isolation["cgroups"] == {"version": 2, "controllers": ["cpu", "memory", "pids"]}
        assert isolation["seccomp"]["how"] == "libseccomp" and isolation["uid"] == "dedicated"
        assert seen["writable"]  # the entrypoint's remount, seen from inside
    finally:
        for folder in sorted(outer.glob("**/"), reverse=True):
            if folder.is_dir() and folder != outer:
                (folder / "cgroup.kill").write_text("1")
                _rmdir_when_empty(folder)
        _rmdir_when_empty(outer)


_GRADE_IN_CONTAINER = """
import json, os
import grader
result = grader.grade("submissions/correct_vectorised.py")
print(json.dumps({"score": result.score, "max_score": result.max_score,
                  "isolation": result.isolation.model_dump(mode="json"),
                  "writable": os.access("/sys/fs/cgroup/cgroup.procs", os.W_OK)}))
"""


def _rmdir_when_empty(folder: Path) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            folder.rmdir()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@v2
def test_a_correct_submission_scores_full_marks_through_the_real_sandbox() -> None:
    # With the default limits. Emulated, this took ~36 s end to end, mostly the zygote's cold start (NumPy's
    # import, the template) and the engine's own work: the 30 s budget of the submission starts once the
    # zygote is up.
    result = grader.grade(REPO / "submissions" / "correct_vectorised.py")
    print(f"graded in {result.execution_time:.1f} s under {result.isolation}")
    assert result.status == "graded", result.messages
    assert result.score == result.max_score, [t for q in result.questions for t in q.tests if t.status != "passed"]
    # The runner used the v2 groups: some sandbox's group counted CPU time.
    used = [
        int(stat.read_text().split()[1])
        for stat in (CGROUP_ROOT / "conv1d-grader").glob("sandbox-199[0-3]*/cpu.stat")
    ]
    assert any(usec > 0 for usec in used), used
