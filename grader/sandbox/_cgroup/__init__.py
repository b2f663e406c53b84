"""Per-sandbox cgroups: what rlimits cannot see across processes (memory, CPU time, CPU share, processes).

One group per leased sandbox uid, reused by every sandbox that holds the lease; the zygote puts the sandbox
in it (writing its pid to each of ``procs_files``) before any submission code runs.

Entry points:

* ``SandboxCgroup.create(uid)``: the group for a uid on whatever this host has (v1 or v2), or None;
* ``detect()`` / ``unavailable()``: the hierarchy chosen for this process, or why there is none;
* ``probe()``: what this host offers and the exact fix for each gap, creating nothing (for ``doctor``).

``_v1`` and ``_v2`` say what each version enforces; ``_detect`` how the version is chosen.
"""

from grader.sandbox._cgroup._base import GROUP, SandboxCgroup, memory_limit_bytes
from grader.sandbox._cgroup._detect import Hierarchy, detect, unavailable
from grader.sandbox._cgroup._mounts import CGROUP_ROOT
from grader.sandbox._cgroup._probe import probe
from grader.sandbox._cgroup._v1 import CgroupV1, V1Hierarchy
from grader.sandbox._cgroup._v2 import CgroupV2, V2Hierarchy

MEMORY_GROUPS = CGROUP_ROOT / "memory" / GROUP
"""The folder holding one v1 memory group per sandbox uid (read by the benchmark for its memory figure)."""

__all__ = [
    "MEMORY_GROUPS",
    "CgroupV1",
    "CgroupV2",
    "Hierarchy",
    "SandboxCgroup",
    "V1Hierarchy",
    "V2Hierarchy",
    "detect",
    "memory_limit_bytes",
    "probe",
    "unavailable",
]
