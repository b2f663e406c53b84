"""cgroup v1 (what this host mounts): the cpu share and pids groups beside memory and cpuacct, tested with real
groups and real processes; the mount detection (separate or co-mounted cpu and cpuacct) from mountinfo text.

Uids come from the runner's own leases, so that these groups are never a concurrent grading's.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cgroup_support import GroupedChild, busy, fork_until_refused

from grader.runner import Limits
from grader.sandbox._cgroup import CgroupV1, SandboxCgroup, V1Hierarchy, detect
from grader.sandbox._cgroup._mounts import cgroup2_root, v1_mounts
from grader.sandbox._cgroup._v1 import SHARES, detect_v1
from grader.sandbox._runner import _UidLease

SEPARATE = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
COMOUNTED = """\
31 23 0:28 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
36 31 0:33 /docker/abc /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio
"""


def test_separate_mounts_give_each_controller_its_own_hierarchy() -> None:
    found = detect_v1(SEPARATE)
    assert found is not None
    assert found.mounts == {name: Path("/sys/fs/cgroup", name) for name in ("cpu", "cpuacct", "memory", "pids")}
    assert found.reasons == {}
    # A hybrid host's unified mount is not /sys/fs/cgroup itself: v1 is what it uses.
    assert cgroup2_root(SEPARATE) is None


def test_comounted_cpu_and_cpuacct_share_one_group_and_a_missing_pids_is_named(tmp_path: Path) -> None:
    found = detect_v1(COMOUNTED)
    assert found is not None
    assert found.mounts["cpu"] == found.mounts["cpuacct"] == Path("/sys/fs/cgroup/cpu,cpuacct")
    assert "cpuset" not in v1_mounts(("cpuset",), COMOUNTED)  # "cpu" is not a prefix match
    assert set(found.reasons) == {"pids"}
    # The same layout in a scratch folder: the co-mounted folder is joined once, not twice.
    cpu, memory = tmp_path / "cpu,cpuacct", tmp_path / "memory"
    (cpu / "conv1d-grader" / "7").mkdir(parents=True)
    (cpu / "conv1d-grader" / "7" / "cpuacct.usage").write_text("0\n")
    memory.mkdir()
    group = V1Hierarchy({"cpu": cpu, "cpuacct": cpu, "memory": memory}, found.reasons).group(7)
    assert isinstance(group, CgroupV1)
    assert group.procs_files == [
        str(memory / "conv1d-grader" / "7" / "cgroup.procs"),
        str(cpu / "conv1d-grader" / "7" / "cgroup.procs"),
    ]
    assert (cpu / "conv1d-grader" / "7" / "cpu.shares").read_text() == str(SHARES)
    assert (cpu / "conv1d-grader" / "cpu.shares").read_text() == str(SHARES * (os.cpu_count() or 1))
    described = group.describe()
    assert described["version"] == 1 and described["controllers"] == ["cpu", "cpuacct", "memory"]
    assert described["missing"] == ["pids"] and "RLIMIT_NPROC" in described["reasons"]["pids"]


def test_without_memory_or_cpuacct_there_is_no_v1_group() -> None:
    assert detect_v1(COMOUNTED.replace("rw,memory", "rw,hugetlb")) is None


# Real groups from here on.

v1_host = pytest.mark.skipif(
    os.geteuid() != 0 or not isinstance(detect(), V1Hierarchy) or not {"cpu", "pids"} <= set(detect().mounts),  # type: ignore[union-attr]
    reason="needs root and cgroup v1 memory, cpuacct, cpu and pids hierarchies (as on the CI machines)",
)


@pytest.fixture
def lease() -> Iterator[_UidLease]:
    held = _UidLease()
    try:
        yield held
    finally:
        if held.cgroup is not None:
            held.cgroup.kill_leftovers()
        held.release()


def _group(lease: _UidLease) -> SandboxCgroup:
    assert isinstance(lease.cgroup, CgroupV1)
    return lease.cgroup


@v1_host
def test_a_sandbox_joins_memory_cpuacct_cpu_and_pids(lease: _UidLease) -> None:
    group = _group(lease)
    child = GroupedChild(group.procs_files, busy(30.0))
    try:
        lines = Path(f"/proc/{child.pid}/cgroup").read_text().splitlines()
        joined = {line.split(":")[1] for line in lines if line.endswith(f"/conv1d-grader/{lease.uid}")}
        assert joined == {"memory", "cpuacct", "cpu", "pids"}
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    described = group.describe()
    assert described["version"] == 1
    assert described["controllers"] == ["cpu", "cpuacct", "memory", "pids"] and described["missing"] == []
    assert described["path"] == str(Path(group.procs_files[0]).parent)


@v1_host
def test_each_sandbox_has_equal_cpu_shares(lease: _UidLease) -> None:
    cpu = Path(_group(lease).procs_files[2]).parent
    assert cpu.parent.parent == detect().mounts["cpu"]  # type: ignore[union-attr]
    assert (cpu / "cpu.shares").read_text().strip() == str(SHARES)
    assert (cpu.parent / "cpu.shares").read_text().strip() == str(SHARES * (os.cpu_count() or 1))


@v1_host
def test_pids_max_caps_the_whole_group_and_leftovers_are_killed(lease: _UidLease) -> None:
    group = _group(lease)
    group.configure(Limits(max_processes=5))
    pids = Path(group.procs_files[3]).parent
    assert (pids / "pids.max").read_text().strip() == "5"
    # As root, RLIMIT_NPROC does not apply: only the group stops the fifth process.
    child = GroupedChild(group.procs_files, fork_until_refused)
    status = child.wait()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 4
    assert len((pids / "cgroup.procs").read_text().split()) == 4  # the forks, left sleeping
    group.kill_leftovers()
    deadline = time.monotonic() + 10
    while (pids / "cgroup.procs").read_text().split() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (pids / "cgroup.procs").read_text().split() == []


@v1_host
def test_many_busy_processes_in_one_group_do_not_starve_another() -> None:
    # Group A keeps 8 processes busy, group B one: without cpu groups B would get ~1/9 of the CPU time; with
    # equal shares the two groups get about the same, and B's one process a whole CPU.
    a, b = _UidLease(), _UidLease()
    try:
        group_a, group_b = _group(a), _group(b)
        children = [GroupedChild(group_a.procs_files, busy(4.0)) for _ in range(8)]
        children.append(GroupedChild(group_b.procs_files, busy(4.0)))
        time.sleep(0.5)
        start_a, start_b = group_a.cpu_seconds(), group_b.cpu_seconds()
        time.sleep(2.5)
        used_a, used_b = group_a.cpu_seconds() - start_a, group_b.cpu_seconds() - start_b
        for child in children:
            assert child.wait() == 0
        assert used_b / (used_a + used_b) >= 0.3, (used_a, used_b)
    finally:
        for lease in (a, b):
            if lease.cgroup is not None:
                lease.cgroup.kill_leftovers()
            lease.release()
