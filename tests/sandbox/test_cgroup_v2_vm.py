"""The cgroup v2 tests, run where they can run: this machine is cgroup v1, so boot Debian's kernel (cgroup2
only) under qemu with virtme-ng and run ``pytest -m cgroup_v2`` there, over this very checkout.

qemu emulates (this machine's KVM runs no full guests): boot takes ~30-100 s and the guest runs ~30x slower.
The guest sees the host's files read-only except ``.vm-results/``, where it writes its junit XML and log;
its /tmp and /run are its own. scripts/test installs qemu, the kernel and virtme-ng.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.vm

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / ".vm-results"
_TIMEOUT = 540


def _kernel() -> Path | None:
    kernels = sorted(Path("/boot").glob("vmlinuz-*"))
    return kernels[-1] if kernels else None


def _missing() -> str | None:
    """Why the guest cannot be booted here, or None."""
    bin_dir = Path(sys.executable).parent
    if shutil.which("qemu-system-x86_64") is None:
        return "no qemu-system-x86_64 (apt-get install qemu-system-x86)"
    if not (bin_dir / "vng").exists() and shutil.which("vng") is None:
        return "no vng (pip install virtme-ng)"
    if shutil.which("busybox") is None:
        return "no busybox, which virtme-ng's initramfs needs (apt-get install busybox-static)"
    kernel = _kernel()
    if kernel is None:
        return "no /boot/vmlinuz-* kernel to boot (apt-get install linux-image-amd64)"
    if not os.access(kernel, os.R_OK):
        return f"{kernel} is not readable by this user"
    return None


def test_the_cgroup_v2_tests_pass_in_a_cgroup2_guest() -> None:
    missing = _missing()
    if missing is not None:
        pytest.skip(f"cannot boot the cgroup2 guest: {missing}")
    RESULTS.mkdir(exist_ok=True)
    report, log = RESULTS / "cgroup_v2.xml", RESULTS / "guest.log"
    report.unlink(missing_ok=True)
    # The guest's /run is the host's, read-only: the sandbox's uid leases need a writable one of its own.
    command = (
        f"mount -t tmpfs tmpfs /run && PYTHONDONTWRITEBYTECODE=1 {sys.executable} -m pytest -p no:cacheprovider "
        f"-m cgroup_v2 tests/sandbox/test_cgroup_v2.py -rA --durations=0 --junitxml={report}"
    )
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}  # vng runs virtme-run from PATH
    vng = shutil.which("vng", path=env["PATH"])
    assert vng is not None
    started = time.monotonic()
    guest = subprocess.run(
        [vng, "--run", str(_kernel()), "--disable-kvm", "--memory", "3G", "--cpus", "2",
         "--rwdir", str(RESULTS), "--", command],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=_TIMEOUT, check=False,
    )  # fmt: skip
    log.write_text(guest.stdout + guest.stderr)
    print(f"guest booted and ran the cgroup_v2 tests in {time.monotonic() - started:.0f} s (log: {log})")
    assert report.exists(), f"the guest wrote no junit report (exit {guest.returncode}); see {log}"
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    failed = [case.get("name") for case in cases if case.find("failure") is not None or case.find("error") is not None]
    ran = [case.get("name") for case in cases if case.find("skipped") is None]
    assert not failed, f"failed in the guest: {failed}; see {log}"
    assert len(ran) >= 8, f"only {ran} ran in the guest (the rest skipped): is its /sys/fs/cgroup cgroup2? see {log}"
    assert guest.returncode == 0, f"guest exit {guest.returncode}; see {log}"
