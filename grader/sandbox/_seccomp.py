"""The sandbox's seccomp policy, built once in the zygote as classic BPF; each sandbox only installs the bytes.

The policy is a deny-list of the kernel interfaces behind most local privilege escalations, which a NumPy
submission never needs:

* ``DENIED`` (new namespaces, mounts, keyrings, eBPF, userfaultfd, perf, io_uring, modules, kexec, file
  handles, chroot) return ``EPERM``;
* ``clone`` with any ``CLONE_NEW*`` flag returns ``EPERM`` (threads and ``fork`` still work), and ``clone3``
  ``ENOSYS``, so that libc falls back to ``clone``, whose flags a filter can read (``clone3``'s are behind a
  pointer);
* ``prctl(PR_SET_PDEATHSIG)`` returns ``EPERM``: a sandbox may not take back the signal that ends it with the
  zygote;
* ``socket`` of any family but ``AF_UNIX`` returns ``EAFNOSUPPORT``: there is no network in the sandbox's
  namespace anyway, and without namespaces (minimal mode) this is what keeps a submission off the network.
  (No ``AF_NETLINK`` either: that is kernel attack surface too, and NumPy opens no socket.)
* x32 system calls, and any other architecture's, are refused too (killed, or ``EPERM``).

It is built with libseccomp (through pyseccomp, a ctypes binding loaded by file path: the zygote imports no
package) from syscall names, for x86_64 and aarch64. Where libseccomp cannot be had, a hand-assembled program
with the same policy and x86_64's numbers stands in, and the zygote says so (``how: bpf``).
"""

from __future__ import annotations

import errno
import importlib.util
import os
import platform
import socket
import struct
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

# Siblings by bare name at run time (where the grader package must not be importable); by their
# package names for the type checker only.
if TYPE_CHECKING:
    from grader.sandbox import _libc
    from grader.sandbox._constants import LIBSECCOMP_ARCHES, builtin_filter_supported
else:
    import _libc
    from _constants import LIBSECCOMP_ARCHES, builtin_filter_supported

DENIED: tuple[tuple[str, int], ...] = (
    ("unshare", 272), ("setns", 308),
    ("mount", 165), ("umount2", 166), ("pivot_root", 155), ("chroot", 161),
    ("fsopen", 430), ("fsconfig", 431), ("fsmount", 432), ("fspick", 433), ("open_tree", 428), ("move_mount", 429),
    ("mount_setattr", 442),
    ("keyctl", 250), ("add_key", 248), ("request_key", 249),
    ("bpf", 321), ("userfaultfd", 323), ("perf_event_open", 298),
    ("io_uring_setup", 425), ("io_uring_enter", 426), ("io_uring_register", 427),
    ("init_module", 175), ("finit_module", 313), ("delete_module", 176),
    ("kexec_load", 246), ("kexec_file_load", 320),
    ("open_by_handle_at", 304), ("name_to_handle_at", 303),
)  # fmt: skip
"""Each refused syscall by name, with its x86_64 number for the hand-assembled fallback (a test checks that
libseccomp agrees on every number)."""


@dataclass(frozen=True)
class Filter:
    """A seccomp program ready to install, and how it came to be (reported in every result's Isolation)."""

    program: bytes
    """Classic BPF: ``struct sock_filter`` records, as ``prctl(PR_SET_SECCOMP)`` takes them."""
    how: str
    """``libseccomp`` or ``bpf`` (the hand-assembled fallback)."""
    arch: tuple[str, ...]
    """The architectures it has rules for; a system call from any other is refused."""
    note: str = ""
    """Why libseccomp was not used, when it was not."""


def build(pyseccomp_path: str | None) -> Filter | None:
    """The sandboxes' filter: libseccomp's where it can be had, else the hand-assembled one where this is
    x86_64, else none (the grader names the gap)."""
    note = "pyseccomp is not installed"
    if pyseccomp_path:
        try:
            return Filter(*_with_libseccomp(_load_pyseccomp(pyseccomp_path)))
        except Exception as exc:  # not importable, no libseccomp.so.2, or a policy it cannot express
            note = f"libseccomp could not build the filter ({type(exc).__name__}: {exc})"
    if builtin_filter_supported():
        return Filter(hand_assembled(), "bpf", ("x86_64",), note)
    return None


def install(program: bytes) -> None:
    """Confine this process (and everything it starts) with ``program``; after ``no_new_privs``."""
    _libc.seccomp_filter(program)


def _load_pyseccomp(path: str) -> ModuleType:
    # By file path, and left out of sys.modules: the binding is needed only here, once, and a sandbox (which
    # inherits the zygote's memory) should not find it imported.
    spec = importlib.util.spec_from_file_location("pyseccomp", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _with_libseccomp(sc: ModuleType) -> tuple[bytes, str, tuple[str, ...]]:
    """The policy by syscall name; libseccomp numbers each name for each architecture in the filter."""
    tokens = {name: getattr(sc.Arch, name.upper()) for name in LIBSECCOMP_ARCHES}
    native = sc.system_arch()
    arches = [next((name for name, token in tokens.items() if token == native), platform.machine())]
    policy = sc.SyscallFilter(sc.ALLOW)
    # A system call of an architecture the filter has no rules for (x32's, i386's on x86_64) kills the process:
    # its numbers mean other calls, so a deny-list written for this one would not hold.
    policy.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
    for name, token in tokens.items():
        if token != native:
            policy.add_arch(token)
            arches.append(name)
    eperm = sc.ERRNO(errno.EPERM)
    for name, _ in DENIED:
        policy.add_rule(eperm, name)
    # One rule per flag: a rule's comparisons are ANDed, separate rules ORed, and "any of these bits" is an OR.
    for bit in range(32):
        flag = 1 << bit
        if _libc.CLONE_NEW_ANY & flag:
            policy.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    policy.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    # prctl's option is an int: compare its low 32 bits only (the kernel ignores the rest), or an option with
    # a high bit set would get past an equality on all 64.
    policy.add_rule(eperm, "prctl", sc.Arg(0, sc.MASKED_EQ, 0xFFFFFFFF, _libc.PR_SET_PDEATHSIG))
    # Any high bit makes it unequal, hence refused: the safe side.
    policy.add_rule(sc.ERRNO(errno.EAFNOSUPPORT), "socket", sc.Arg(0, sc.NE, socket.AF_UNIX))
    exported = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
    with open(exported, "w+b") as program:
        policy.export_bpf(program)
        program.seek(0)
        return program.read(), "libseccomp", tuple(arches)


_SYS_CLONE = 56
_SYS_PRCTL = 157
_SYS_CLONE3 = 435
_SYS_SOCKET = 41
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_RET_KILL_PROCESS = 0x80000000


def hand_assembled() -> bytes:
    """The same policy as classic BPF for x86_64, assembled by hand: the fallback where libseccomp cannot be
    had. Every denied number is at least the smallest of ``DENIED``, so the frequent low-numbered calls leave
    early; x32 calls get ``EPERM``, other architectures' are killed."""
    denied = [number for _, number in DENIED]
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    # (code, jump-if-true label, jump-if-false label, k); a None label means the next instruction.
    program: list[tuple[int, str | None, str | None, int]] = [
        (ld, None, None, 4),  # seccomp_data.arch
        (jeq, None, "kill", _AUDIT_ARCH_X86_64),
        (ld, None, None, 0),  # seccomp_data.nr
        (jge, "eperm", None, _X32_SYSCALL_BIT),
        (jeq, "clone", None, _SYS_CLONE),
        (jeq, "prctl", None, _SYS_PRCTL),
        (jeq, "socket", None, _SYS_SOCKET),
        (jge, None, "allow", min(denied)),
        (jeq, "enosys", None, _SYS_CLONE3),
        *((jeq, "eperm", None, number) for number in denied),
        (ret, None, None, _RET_ALLOW),
    ]
    labels = {"allow": len(program) - 1}
    # Each argument check loads args[0]'s low 32 bits (seccomp_data offset 16) and ends in its own "allow":
    # BPF only jumps forward.
    labels["clone"] = len(program)
    program += [(ld, None, None, 16), (jset, "eperm", None, _libc.CLONE_NEW_ANY), (ret, None, None, _RET_ALLOW)]
    labels["prctl"] = len(program)
    program += [(ld, None, None, 16), (jeq, "eperm", None, _libc.PR_SET_PDEATHSIG), (ret, None, None, _RET_ALLOW)]
    labels["socket"] = len(program)
    program += [(ld, None, None, 16), (jeq, None, "eafnosupport", socket.AF_UNIX), (ret, None, None, _RET_ALLOW)]
    for label, action in (
        ("eperm", _RET_ERRNO | errno.EPERM),
        ("enosys", _RET_ERRNO | errno.ENOSYS),
        ("eafnosupport", _RET_ERRNO | errno.EAFNOSUPPORT),
        ("kill", _RET_KILL_PROCESS),
    ):
        labels[label] = len(program)
        program.append((ret, None, None, action))

    def offset(label: str | None, at: int) -> int:
        return 0 if label is None else labels[label] - at - 1

    return b"".join(
        struct.pack("HBBI", code, offset(true, at), offset(false, at), k)
        for at, (code, true, false, k) in enumerate(program)
    )
