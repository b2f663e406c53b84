"""The zygote's and the sandboxes' system calls that Python's ``os`` module lacks, bound once through ctypes.

Each wrapper raises ``OSError`` with the call's name, so that a failing setup step says which call failed.
Loaded as a plain module by ``_zygote.py`` (never as ``grader.sandbox._libc``: the zygote imports nothing of
the ``grader`` package).
"""

from __future__ import annotations

import ctypes
import os
import platform
import signal

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWTIME = 0x00000080
CLONE_NEW_ANY = (
    CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUSER | CLONE_NEWCGROUP
    | CLONE_NEWTIME
)  # fmt: skip
"""Every flag with which ``clone`` or ``unshare`` makes a new namespace: what the seccomp filter refuses."""

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MNT_DETACH = 0x2

PR_SET_PDEATHSIG = 1
PR_SET_SECCOMP = 22
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SECCOMP_MODE_FILTER = 2

# glibc has no pivot_root wrapper: the number, per architecture.
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.unshare.argtypes = [ctypes.c_int]
libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.signal.restype = ctypes.c_void_p


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32))


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def check(result: int, what: str) -> None:
    """Turn a libc call's -1 into an ``OSError`` naming ``what`` (ctypes does not raise by itself)."""
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    check(libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def umount2(target: str, flags: int) -> None:
    check(libc.umount2(target.encode(), flags), f"umount {target}")


def unshare(flags: int) -> None:
    check(libc.unshare(flags), "unshare")


def setns(fd: int, kind: int) -> None:
    check(libc.setns(fd, kind), "setns")


def pivot_root(new_root: str, put_old: str) -> None:
    number = _PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(f"pivot_root syscall number unknown on {platform.machine()}")
    check(libc.syscall(number, new_root.encode(), put_old.encode()), "pivot_root")


def prctl(option: int, arg2: int, what: str) -> None:
    check(libc.prctl(option, arg2, 0, 0, 0), what)


def capset_nothing() -> None:
    """Empty this process's effective, permitted and inheritable capability sets."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    empty = (_CapData * 2)()
    check(libc.capset(ctypes.byref(header), empty), "capset")


def seccomp_filter(program: bytes) -> None:
    """Install a classic-BPF seccomp program (``struct sock_filter`` records, 8 bytes each) on this process.
    Needs ``no_new_privs`` (or CAP_SYS_ADMIN) first."""
    buffer = ctypes.create_string_buffer(program)
    fprog = _SockFprog(len(program) // 8, ctypes.addressof(buffer))
    check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")


def on_signal_exit(signum: int) -> None:
    """Make ``signum`` call libc's ``_exit`` with the signal's number as status, from C: no Python code has to
    run, so it works in the middle of a long NumPy call too (``_exit`` is async-signal-safe)."""
    libc.signal(signum, ctypes.cast(libc._exit, ctypes.c_void_p))


def die_with_the_zygote() -> None:
    """SIGKILL this process when its parent (the zygote) dies: the zygote is what ends a sandbox, so a sandbox
    must not outlive it (a killed zygote cannot kill its sandboxes, and as PID 1 of its namespace a sandbox takes
    every process it started with it). A change of uid clears it: set it again after one."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL, "prctl(PDEATHSIG)")


def host_pid(pidfd: int) -> int:
    """The pid of a pidfd's process as the host's /proc (the grader's) numbers it: a pidfd's fdinfo gives it in
    the PID namespace of the proc mount it is read through, and the zygote never mounted another."""
    with open(f"/proc/self/fdinfo/{pidfd}") as info:
        for line in info:
            if line.startswith("Pid:"):
                return int(line.split()[1])
    raise OSError(f"no pid in the fdinfo of pidfd {pidfd}")
