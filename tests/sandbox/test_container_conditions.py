"""The container flags SECURITY.md documents, reproduced without Docker (which does not run on the test
machines): the grader as root in a private cgroup namespace (``--cgroupns=private``), with no capability but
the documented ones (``--cap-drop ALL --cap-add ...``), no_new_privs (``--security-opt no-new-privileges``)
and the shipped seccomp profile applied as Docker's runtime applies it (``--security-opt
seccomp=deploy/seccomp-grader.json``). A correct file must grade in full, with full isolation.

Not reproduced: Docker's own namespaces around the grader and its AppArmor profile (the documented flag is
``apparmor=unconfined``). On a cgroup v2 host (the image's entrypoint remounting the container's read-only
/sys/fs/cgroup) the same is tested in the VM: ``test_cgroup_v2.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sandbox_support import SECCOMP_PROFILE, as_in_the_container

HERE = Path(__file__).parent
REPO = HERE.parents[1]

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="reproducing a root container's conditions needs root"),
    pytest.mark.skipif(
        shutil.which("setpriv") is None or shutil.which("unshare") is None,
        reason="needs setpriv and unshare (util-linux) to drop capabilities and make a cgroup namespace",
    ),
    pytest.mark.skipif(
        Path("/sys/fs/cgroup/cgroup.controllers").is_file(),
        reason="on a cgroup v2 host a private cgroup namespace would make the grader take over this test's own "
        "cgroup (the delegated v2 path, tested in the VM by test_cgroup_v2.py)",
    ),
]


def _graded_in(profile: Path) -> subprocess.CompletedProcess[str]:
    command = ["unshare", "--cgroup", *as_in_the_container(profile, sys.executable, str(HERE / "fallback_probe.py"))]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=REPO, check=False)


def test_the_documented_container_flags_grade_in_full_isolation() -> None:
    result = _graded_in(SECCOMP_PROFILE)
    assert result.returncode == 0, result.stderr
    seen: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["all_correct"] and seen["still_correct"]
    isolation = seen["isolation"]
    assert (isolation["level"], isolation["missing"]) == ("full", []), isolation
    assert isolation["namespaces"] == ["pid", "mount", "net", "ipc", "uts"]
    assert (isolation["filesystem"], isolation["uid"], isolation["capabilities"]) == ("pivot_root", "dedicated", "none")
    assert isolation["seccomp"]["how"] == "libseccomp" and isolation["cgroups"]["version"] is not None
    snoop = seen["snoop_output"].splitlines()
    assert "STATUS NoNewPrivs: 1" in snoop and "STATUS CapEff: 0000000000000000" in snoop
    assert seen["hog"] == ["timeout", "used up its 0.5 s of CPU time in backward"]
    attacks = [line.split()[1:] for line in seen["hostile"]["kernel_attack_surface"] if line.startswith("SYSCALL")]
    assert len(attacks) == 13 and all(result[0] == "-1" for _, *result in attacks), attacks


def test_dockers_default_profile_alone_refuses_pivot_root_hence_the_shipped_one(tmp_path: Path) -> None:
    """Without the one entry the shipped profile adds, the grader cannot build the sandbox's filesystem view:
    a grader fault that says so, never a downgrade."""
    profile = json.loads(SECCOMP_PROFILE.read_text())
    profile["syscalls"] = [entry for entry in profile["syscalls"] if entry["names"] != ["pivot_root"]]
    default = tmp_path / "docker-default.json"
    default.write_text(json.dumps(profile))
    result = _graded_in(default)
    assert result.returncode != 0
    assert "pivot_root: Operation not permitted" in result.stderr
