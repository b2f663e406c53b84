"""Run a command under a Docker seccomp profile, applied the way Docker's runtime (runc) applies it, for
test_container_conditions.py: Docker does not run on the test machines, but its profile is plain data.

    python docker_seccomp.py PROFILE.json CAP_A,CAP_B,... -- COMMAND...

An entry applies when its ``includes`` (capabilities, all held; architectures) match and its ``excludes`` do
not; ``minKernel`` is not checked (the test kernels are newer than any in the profile). Names this libseccomp
does not know are skipped, as runc skips them. The filter's own no_new_privs is set, as
``--security-opt no-new-privileges`` would.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
from typing import Any

import pyseccomp as sc

_OPS = {
    "SCMP_CMP_NE": sc.NE,
    "SCMP_CMP_LT": sc.LT,
    "SCMP_CMP_LE": sc.LE,
    "SCMP_CMP_EQ": sc.EQ,
    "SCMP_CMP_GE": sc.GE,
    "SCMP_CMP_GT": sc.GT,
    "SCMP_CMP_MASKED_EQ": sc.MASKED_EQ,
}
# Docker's names for the native architecture and its compat ones, and libseccomp's tokens for the latter.
_DOCKER_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
_SUB_ARCHES = {"SCMP_ARCH_X86": sc.Arch.X86, "SCMP_ARCH_X32": sc.Arch.X32, "SCMP_ARCH_ARM": sc.Arch.ARM}


def _action(name: str, errno_ret: int | None) -> int:
    if name == "SCMP_ACT_ALLOW":
        return sc.ALLOW
    if name == "SCMP_ACT_ERRNO":
        return sc.ERRNO(1 if errno_ret is None else errno_ret)
    raise ValueError(f"action {name} is not in Docker's default profile")


def _applies(entry: dict[str, Any], caps: set[str], arch: str) -> bool:
    includes, excludes = entry.get("includes") or {}, entry.get("excludes") or {}
    if not set(includes.get("caps", ())) <= caps or (includes.get("arches") and arch not in includes["arches"]):
        return False
    return not (set(excludes.get("caps", ())) & caps or arch in excludes.get("arches", ()))


def build(profile: dict[str, Any], caps: set[str]) -> sc.SyscallFilter:
    machine = platform.machine()
    arch = _DOCKER_ARCH[machine]
    policy = sc.SyscallFilter(_action(profile["defaultAction"], profile.get("defaultErrnoRet")))
    native = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64"}[arch]
    for entry in profile.get("archMap", ()):
        if entry["architecture"] == native:
            for sub in entry.get("subArchitectures", ()):
                policy.add_arch(_SUB_ARCHES[sub])
    for entry in profile["syscalls"]:
        if not _applies(entry, caps, arch):
            continue
        action = _action(entry["action"], entry.get("errnoRet"))
        args = [sc.Arg(a["index"], _OPS[a["op"]], a["value"], a.get("valueTwo", 0)) for a in entry.get("args") or ()]
        for name in entry["names"]:
            # A name this libseccomp does not know (or that this architecture lacks) is skipped.
            with contextlib.suppress(OSError):
                policy.add_rule(action, name, *args)
    return policy


def main() -> None:
    profile_path, caps, separator, *command = sys.argv[1:]
    assert separator == "--" and command, __doc__
    with open(profile_path) as profile:
        build(json.load(profile), set(caps.split(","))).load()
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
