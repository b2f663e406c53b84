"""Numbers the grader and the zygote must agree on.

A module of its own, importing nothing but the standard library, so that the grader reads these without
loading the zygote's code (which binds libc and does namespace work at import), and the zygote, which never
imports the ``grader`` package, loads it as a plain module from this folder.
"""

from __future__ import annotations

import platform
import signal

CHANNEL_FD = 3
"""The descriptor a sandbox's harness finds its channel to the grader on."""
HARNESS_FAILED = 70
"""Exit status of a sandbox whose harness's own code failed (the submission broke it: it shares the process)."""
SETUP_FAILED = 71
"""Exit status of a sandbox whose trusted setup failed. Only meaningful without ``READY`` (a submission may exit
with it too): whether setup succeeded travels on the activation socket, never in an exit status."""
CPU_LIMIT_EXIT = signal.SIGXCPU.value
"""Exit status of a sandbox stopped by its RLIMIT_CPU soft limit (a C-level SIGXCPU handler calls ``_exit``
with the signal's number: see ``_limits.exit_on_sigxcpu``)."""
READY = b"ready"
"""What a sandbox sends on its activation socket when its setup is done, just before the submission loads."""

BPF_ARCHES = ("x86_64",)
"""The architectures the hand-assembled fallback filter is written for (its syscall numbers are x86_64's)."""
LIBSECCOMP_ARCHES = ("x86_64", "aarch64")
"""The architectures a libseccomp-built filter covers, by syscall name (the native one is always among them)."""


def builtin_filter_supported(machine: str | None = None) -> bool:
    """Whether the hand-assembled filter can be used on this machine, when libseccomp cannot be had."""
    return (machine or platform.machine()) in BPF_ARCHES
