"""Which cgroup version the sandboxes use here: decided once per process.

cgroup v1 wins where its ``memory`` and ``cpuacct`` hierarchies are mounted (this keeps v1 hosts, hybrid
ones included, exactly as they were); otherwise a cgroup2 ``/sys/fs/cgroup``. Once per process because
setting up a delegated v2 subtree moves processes, which is to be done once, not per uid.
"""

from __future__ import annotations

import functools
import threading

from grader.sandbox._cgroup._v1 import V1Hierarchy, detect_v1
from grader.sandbox._cgroup._v2 import SubtreeUnavailable, V2Hierarchy, detect_v2

Hierarchy = V1Hierarchy | V2Hierarchy
# functools.cache alone may run a first call twice when two threads make it: setting up moves processes.
_lock = threading.Lock()


def detect() -> Hierarchy | None:
    """The hierarchy the sandboxes' groups are made in, or None (``unavailable()`` says why)."""
    with _lock:
        return _detected()[0]


def unavailable() -> str | None:
    """Why ``detect()`` found no usable cgroup here, or None if it did."""
    with _lock:
        return _detected()[1]


@functools.cache
def _detected() -> tuple[Hierarchy | None, str | None]:
    v1 = detect_v1()
    if v1 is not None:
        return v1, None
    try:
        return detect_v2(), None
    except SubtreeUnavailable as exc:
        return None, f"no cgroup v1 memory and cpuacct hierarchies, and no usable cgroup v2 subtree: {exc}"
