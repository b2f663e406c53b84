"""Warm parent of every sandbox. Run as ``python -I -S _zygote.py CONFIG_JSON`` by ``_zygote_client``, which
sends the rest of its settings on the control socket.

It imports NumPy and the harness once, then forks per submission so that no sandbox pays for an
interpreter start. It never imports the ``grader`` package or ``reference``: whatever is in this
process's memory is inherited by untrusted code.

Process tree::

    zygote (host PID namespace, root, runs no untrusted code)
      ├── sandbox (PID 1 of a fresh PID/mount/net/IPC/UTS namespace, then an unprivileged uid)
      └── ...

A few sandboxes wait as standbys, forked with their filesystem view built, so that a grading does not
wait for namespaces and mounts. A run's request (uid, limits, cgroups) and descriptors activate
one: the zygote puts it in the run's cgroups, it drops to the uid and its limits, and only then loads the
submission. The zygote reports the sandbox's host pid and, later, how it ended on a status socket only
the grader holds; when the grader closes that socket, the zygote kills the sandbox. Because the sandbox
is PID 1 of its namespace, its death makes the kernel kill every process it started, daemons included.
The zygote supervises every sandbox from one poll loop, so a sandbox costs one fork.

The zygote holds no grading's inputs: each sandbox gets its calls and their inputs from the grader, in its
one request, so a sandbox sees nothing of another submission's grading. The expected values never leave
the grader.

Whether a sandbox's setup succeeded travels on its activation socket, which the sandbox closes before any
submission code runs: a submission cannot fake a setup failure (the grader's fault) with an exit status.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import importlib.util
import json
import linecache
import math
import os
import platform
import resource
import select
import shutil
import signal
import socket
import struct
import sys
import tempfile
import traceback
from types import ModuleType
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
# The zygote makes the PID namespace (its next child is that namespace's PID 1); the sandbox, still root,
# unshares the rest itself. (Its mount namespace is a copy of the template's: ``_enter_template``.)
_SANDBOX_NAMESPACES = CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET

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
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
# NOROOT, NO_SETUID_FIXUP, NO_CAP_AMBIENT_RAISE, each with its lock, and KEEP_CAPS locked off: uid 0 in a
# user namespace gains nothing, and nothing can be raised again.
_SECUREBITS_LOCKED_DOWN = 0b11101111
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}

CHANNEL_FD = 3
_STANDBY_SANDBOXES = 2
"""Sandboxes kept forked and set up ahead of need: enough for a grading thread per core to find one ready."""
HARNESS_FAILED = 70
SETUP_FAILED = 71
CPU_LIMIT_EXIT = signal.SIGXCPU.value
"""Exit status of a sandbox stopped by its RLIMIT_CPU soft limit (see ``_exit_on_sigxcpu``)."""

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
_libc.signal.restype = ctypes.c_void_p


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32))


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    _check(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def _unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def _setns(fd: int, kind: int) -> None:
    _check(_libc.setns(fd, kind), "setns")


def _pivot_root(new_root: str, put_old: str) -> None:
    number = _PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(f"pivot_root syscall number unknown on {platform.machine()}")
    _check(_libc.syscall(number, new_root.encode(), put_old.encode()), "pivot_root")


def _bind(source: str, target: str, flags: int, inherit: bool = False) -> None:
    """Bind ``source`` at ``target`` (creating the mount point) and apply ``flags`` to the bind; with
    ``inherit``, also the source mount's read-only, nosuid, nodev and noexec flags."""
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "a"):
            pass
    _mount(source, target, None, MS_BIND)
    if inherit:
        # In a user namespace the kernel locks those flags on every mount it copied from outside: a remount
        # that would clear one is refused (EPERM). statvfs's ST_* bits are the MS_* bits.
        flags |= os.statvfs(source).f_flag & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    # Flags given with the first MS_BIND are ignored by the kernel; only a remount applies them.
    _mount(None, target, None, MS_BIND | MS_REMOUNT | flags)


_SCRATCH = "/tmp"
_STASH = "/.stash"
"""Where the template keeps what the layout puts under the scratch /tmp, for each sandbox to bind again into
its own scratch (a virtualenv under /tmp, as in a CI checkout there, holds NumPy)."""


def _in_scratch(path: str) -> bool:
    return path == _SCRATCH or path.startswith(_SCRATCH + "/")


def _build_template(config: dict[str, Any]) -> None:
    """Make this process's mount namespace the view every sandbox starts from: a read-only tmpfs root holding
    only what Python and NumPy need, with mount points for each sandbox's own /proc and scratch /tmp.

    Built once per zygote, in a helper whose namespace the zygote keeps (:func:`_template`); a sandbox enters a
    copy of it (:func:`_enter_template`), which costs a fraction of building it with a few dozen mounts."""
    _unshare(CLONE_NEWNS)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    root = config["workdir"]
    _mount("sandbox-root", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for mount_point in (_SCRATCH, "/proc"):
        os.makedirs(root + mount_point)
    stash = [(step, root + f"{_STASH}/{i}") for i, step in enumerate(config["layout"]) if _in_scratch(step["path"])]
    if stash:
        # Root's only: a sandbox binds from the stash before it drops its uid, and then cannot look in. (The
        # hide steps apply to the sandbox's own copy under /tmp, not to the stash.)
        os.makedirs(root + _STASH, mode=0o700)
    others = [(step, root + step["path"]) for step in config["layout"] if not _in_scratch(step["path"])]
    _apply_layout(
        others + [(step, target) for step, target in stash if step["kind"] in ("bind", "device")], config["userns"]
    )
    if config["userns"]:
        # In a user namespace the kernel lets a sandbox mount its own /proc only where a proc is already fully
        # visible in its mount namespace (mount_too_revealing): this one is of the helper's own PID namespace,
        # empty once the helper is gone, and each sandbox mounts its own over it.
        _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chdir(root)
    # pivot_root(".", ".") stacks the old root under the new one; detaching it leaves no way back.
    _pivot_root(".", ".")
    _check(_libc.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")
    _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _enter_template(template: int, layout: list[dict[str, Any]], inherit: bool) -> None:
    """Move into a private copy of the template's mount namespace and mount this sandbox's own /proc (of its
    PID namespace) and scratch /tmp, which gets its run's size when the sandbox is activated
    (:func:`_size_scratch`)."""
    _setns(template, CLONE_NEWNS)  # also moves the root and working directory to the template's root
    _unshare(CLONE_NEWNS)  # a copy: nothing mounted below reaches the template or another sandbox
    _mount("scratch", _SCRATCH, "tmpfs", MS_NOSUID | MS_NODEV, _scratch_options(0))
    stashed = [
        (step if step["kind"] not in ("bind", "device") else {**step, "path": f"{_STASH}/{i}"}, step["path"])
        for i, step in enumerate(layout)
        if _in_scratch(step["path"])
    ]
    _apply_layout(stashed, inherit)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chdir(_SCRATCH)


def _apply_layout(steps: list[tuple[dict[str, Any], str]], inherit: bool = False) -> None:
    """Carry out layout steps, each at its target path: binds from the step's path, and the rest in place.
    ``inherit``: in a user namespace, where binds keep their source's locked flags (:func:`_bind`)."""
    # In order: a later bind may re-expose something inside a directory an earlier step hid (NumPy in a
    # hidden site-packages), so hiding tmpfs stay writable for mount points until every step is done.
    hidden = []
    for step, target in steps:
        kind, path = step["kind"], step["path"]
        if kind == "bind":
            _bind(path, target, MS_RDONLY | MS_NOSUID | MS_NODEV, inherit)
        elif kind == "device":
            _bind(path, target, MS_NOSUID | MS_NOEXEC, inherit)
        elif kind == "hide":
            _mount("hidden", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0755")
            hidden.append(target)
        elif kind == "link":
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.symlink(step["target"], target)
        else:
            raise ValueError(f"unknown layout step {kind!r}")
    for target in hidden:
        _mount(None, target, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _template(config: dict[str, Any]) -> int:
    """A descriptor on a mount namespace built by :func:`_build_template`, which it keeps alive."""
    built, built_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    own_pid_ns = -1
    if config["userns"]:
        # The helper is PID 1 of a PID namespace of its own, owned by our user namespace, so that it may mount
        # a proc of it into the template (see _build_template).
        own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        _unshare(CLONE_NEWPID)
    pid = os.fork()
    if own_pid_ns >= 0 and pid != 0:
        _setns(own_pid_ns, CLONE_NEWPID)
        os.close(own_pid_ns)
    if pid == 0:
        try:  # a forked copy of the zygote: whatever happens, it never returns into the zygote's code
            built.close()
            try:
                _build_template(config)
                built_child.send(b"ok")
            except BaseException as exc:
                built_child.send(f"the sandbox filesystem view could not be built: {exc}".encode()[:500])
            built_child.recv(1)  # held until the zygote has opened the namespace
        finally:
            os._exit(0)
    built_child.close()
    try:
        answer = built.recv(512)
        if answer != b"ok":
            raise OSError(answer.decode(errors="replace") or "the template helper died")
        seen_as = pid
        if config["userns"]:
            # /proc numbers processes as the host sees them; in a PID namespace of our own (userns), ``pid`` is ours.
            pidfd = os.pidfd_open(pid)
            try:
                seen_as = _host_pid(pidfd)
            finally:
                os.close(pidfd)
        return os.open(f"/proc/{seen_as}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        built.close()
        os.waitpid(pid, 0)


def _scratch_options(size_mb: int) -> str:
    return f"size={size_mb}m,nr_inodes=4096,mode=1777" if size_mb else "size=4k,nr_inodes=16,mode=1777"


def _size_scratch(limits: dict[str, Any]) -> None:
    # A tmpfs's size can change on remount; its root's mode and the empty content stay.
    _mount(None, "/tmp", None, MS_REMOUNT | MS_NOSUID | MS_NODEV, _scratch_options(limits["max_file_mb"]))


def _die_with_the_zygote() -> None:
    """SIGKILL this process when the zygote dies: the zygote is what ends a sandbox, so a sandbox must not
    outlive it (a killed zygote cannot kill its sandboxes, and as PID 1 of its namespace a sandbox takes
    every process it started with it)."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")


def _drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def _enter_user_namespace() -> None:
    """Move into a new user namespace that maps this process's uid and gid to themselves, and nothing else.

    The zygote does it once at start-up when the grader is not root in the host's user namespace: it then
    holds every capability over the namespaces it makes next, and none outside. Each such sandbox does it again
    on activation: RLIMIT_NPROC counts per user namespace first (kernel ucounts), so its process limit is its
    own rather than shared with every sandbox of the same uid."""
    uid, gid = os.geteuid(), os.getegid()
    _unshare(CLONE_NEWUSER)
    # setgroups must be denied before an unprivileged gid_map may be written (so no group can be dropped to
    # get past a group-denied permission).
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as map_file:
            map_file.write(text)


def _drop_capabilities(last_cap: int) -> None:
    """Give up every capability for good, where there is no other uid to change to (a user namespace): the
    bounding set, the ambient set, then the effective, permitted and inheritable sets, with securebits locked
    so that uid 0 in the namespace would bring none back."""
    for cap in range(last_cap + 1):
        _check(_libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), f"prctl(CAPBSET_DROP, {cap})")
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "prctl(CAP_AMBIENT_CLEAR_ALL)")
    _check(_libc.prctl(PR_SET_SECUREBITS, _SECUREBITS_LOCKED_DOWN, 0, 0, 0), "prctl(SET_SECUREBITS)")
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    empty = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), empty), "capset")


def _limit_resources(limits: dict[str, Any]) -> None:
    """Limits that hold for the sandbox and everything it starts; the last step before its code runs."""
    with open("/proc/self/statm") as statm:
        baseline = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    cpu_hard = math.ceil(limits["total_cpu_seconds"]) + 2
    for name, value in (
        (resource.RLIMIT_AS, baseline + (limits["memory_mb"] << 20)),
        (resource.RLIMIT_NPROC, limits["max_processes"]),
        (resource.RLIMIT_FSIZE, limits["max_file_mb"] << 20),
        (resource.RLIMIT_NOFILE, limits["max_open_files"]),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_MEMLOCK, 0),
        (resource.RLIMIT_MSGQUEUE, 0),
        (resource.RLIMIT_CPU, cpu_hard),
    ):
        resource.setrlimit(name, (value, value))
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    _exit_on_sigxcpu()
    if seccomp_supported():
        _deny_syscalls()


def _exit_on_sigxcpu() -> None:
    """Make RLIMIT_CPU's SIGXCPU end the process at once, with status ``CPU_LIMIT_EXIT``.

    The sandbox is PID 1 of its namespace, and the kernel drops signals whose action is the default
    for such a process, SIGXCPU included. A C-level handler is delivered, and ``_exit`` is
    async-signal-safe and takes the signal number as its status: no Python code has to run, so it
    works in the middle of a long NumPy call too.
    """
    _libc.signal(signal.SIGXCPU, ctypes.cast(_libc._exit, ctypes.c_void_p))


# Syscalls a submission never needs whose kernel code is a frequent source of privilege escalations
# (x86_64 numbers): new namespaces (a user namespace hands out capabilities over fresh ones), mounts,
# keyrings, eBPF, userfaultfd, perf, io_uring, modules, kexec, file handles.
# fmt: off
_DENIED_SYSCALLS = (
    272, 308, 250, 248, 249, 321, 323, 298, 425, 426, 427, 165, 166, 155, 161, 175, 313, 176, 304, 303,
    246, 320, 430, 431, 432, 433, 428, 429, 442,
)
# fmt: on
_SYS_CLONE = 56
_SYS_PRCTL = 157
_SYS_CLONE3 = 435
_CLONE_NEWTIME, _CLONE_NEWCGROUP, _CLONE_NEWUSER = 0x80, 0x02000000, 0x10000000
_CLONE_NEW_ANY = _CLONE_NEWTIME | _CLONE_NEWCGROUP | _CLONE_NEWUSER | _SANDBOX_NAMESPACES | CLONE_NEWPID | CLONE_NEWNS
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
_RET_ALLOW = 0x7FFF0000
_RET_EPERM = 0x00050000 | 1
_RET_ENOSYS = 0x00050000 | 38
_RET_KILL_PROCESS = 0x80000000


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def seccomp_supported() -> bool:
    return platform.machine() == "x86_64"


def _deny_syscalls() -> None:
    """Install the seccomp deny-list built by :func:`_seccomp_program`."""
    raw = _seccomp_program()
    buffer = ctypes.create_string_buffer(raw)
    fprog = _SockFprog(len(raw) // 8, ctypes.addressof(buffer))
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")


@functools.cache
def _seccomp_program() -> bytes:
    """The deny-list as classic BPF, assembled once in the zygote rather than in every sandbox.

    clone3 gets ENOSYS so that libc falls back to clone, whose flags a filter can read; clone with any
    CLONE_NEW* flag gets EPERM like unshare, and so does prctl(PR_SET_PDEATHSIG). Every denied number is at
    least ``min(_DENIED_SYSCALLS)``, so the frequent low-numbered calls leave early."""
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    # (code, jump-if-true label, jump-if-false label, k); a None label means the next instruction.
    program: list[tuple[int, str | None, str | None, int]] = [
        (ld, None, None, 4),  # seccomp_data.arch
        (jeq, None, "kill", _AUDIT_ARCH_X86_64),
        (ld, None, None, 0),  # seccomp_data.nr
        (jge, "eperm", None, _X32_SYSCALL_BIT),
        (jeq, "clone", None, _SYS_CLONE),
        (jeq, "prctl", None, _SYS_PRCTL),
        (jge, None, "allow", min(_DENIED_SYSCALLS)),
        (jeq, "enosys", None, _SYS_CLONE3),
        *((jeq, "eperm", None, number) for number in _DENIED_SYSCALLS),
        (ret, None, None, _RET_ALLOW),
    ]
    labels = {"allow": len(program) - 1}
    labels["clone"] = len(program)
    # clone's flags: args[0], low 32 bits. (BPF only jumps forward, hence a second "allow".)
    program += [(ld, None, None, 16), (jset, "eperm", None, _CLONE_NEW_ANY), (ret, None, None, _RET_ALLOW)]
    # prctl's option, args[0]: a sandbox may not take back the signal that ends it with the zygote.
    labels["prctl"] = len(program)
    program += [(ld, None, None, 16), (jeq, "eperm", None, PR_SET_PDEATHSIG), (ret, None, None, _RET_ALLOW)]
    for label, action in (("eperm", _RET_EPERM), ("enosys", _RET_ENOSYS), ("kill", _RET_KILL_PROCESS)):
        labels[label] = len(program)
        program.append((ret, None, None, action))

    def offset(label: str | None, at: int) -> int:
        return 0 if label is None else labels[label] - at - 1

    return b"".join(
        struct.pack("HBBI", code, offset(true, at), offset(false, at), k)
        for at, (code, true, false, k) in enumerate(program)
    )


def _wire_descriptors(channel_fd: int, output_fd: int) -> None:
    """stdin from /dev/null, stdout and stderr into the output pipe, the channel at fd 3, nothing else."""
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.dup2(channel_fd, CHANNEL_FD)
    os.closerange(CHANNEL_FD + 1, 1 << 20)


_READY = b"ready"
"""What a sandbox sends on its activation socket when its setup is done, just before the submission loads."""


def _sandbox(config: dict[str, Any], activation: socket.socket, harness: ModuleType) -> None:
    """Body of the sandbox process: enter its filesystem view ahead of need, wait to be activated with a
    run's request and descriptors, confine itself, say it is ready, then serve the harness's one request."""
    try:
        _die_with_the_zygote()
        if config["namespaces"]:
            _unshare(_SANDBOX_NAMESPACES)
            _enter_template(config["template"], config["layout"], config["userns"])
            os.close(config["template"])
        else:
            os.setsid()  # from the start: the zygote kills the session's process group
        message, fds, _, _ = socket.recv_fds(activation, 1 << 16, 2)
        if not message or len(fds) != 2:
            os._exit(0)  # dropped from the standby pool before any use
        request = json.loads(message)
        limits = request["limits"]
        if config["namespaces"]:
            # The zygote has put this process in the run's cgroups before forwarding the request.
            _size_scratch(limits)
            if config["userns"]:
                # No other uid to change to (the namespace maps one): a namespace and no capabilities instead.
                _enter_user_namespace()
                _drop_capabilities(config["last_cap"])
            else:
                _drop_privileges(request["uid"])
            _die_with_the_zygote()  # a change of uid cleared it
        else:
            os.chdir(request["scratch"])
        if select.select([config["alive"]], [], [], 0)[0]:
            os._exit(0)  # the zygote died before the line above: nobody would ever end this sandbox
        os.close(config["alive"])
        _limit_resources(limits)
        activation.send(_READY)
        _wire_descriptors(fds[0], fds[1])  # closes the activation socket: the submission cannot write to it
        # Line by line, so what a student printed before a hang or a crash still reaches their report.
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    except BaseException:
        traceback.print_exc()
        os._exit(SETUP_FAILED)
    try:
        harness.Harness(socket.socket(fileno=CHANNEL_FD), limits["cpu_seconds"], limits["load_cpu_seconds"]).serve()
    except BaseException:
        # The submission broke the harness's own code (it shares the process): say so, distinctly,
        # even if it broke the traceback module too.
        with contextlib.suppress(BaseException):
            traceback.print_exc()
        os._exit(HARNESS_FAILED)


def _host_pid(pidfd: int) -> int:
    """The pid of a pidfd's process as the host's /proc (the grader's) numbers it: a pidfd's fdinfo gives it in
    the PID namespace of the proc mount it is read through, and this process never mounted another."""
    with open(f"/proc/self/fdinfo/{pidfd}") as info:
        for line in info:
            if line.startswith("Pid:"):
                return int(line.split()[1])
    raise OSError(f"no pid in the fdinfo of pidfd {pidfd}")


class _Child:
    """A sandbox as the zygote sees it: a standby until a run activates it, then supervised until it ends."""

    def __init__(self, pid: int, activation: socket.socket, scratch: str | None, own_pid_ns: bool) -> None:
        self.pid = pid
        self.pidfd = os.pidfd_open(pid)
        self.host_pid = _host_pid(self.pidfd) if own_pid_ns else pid
        """The pid the grader knows it by (it reads the sandbox's CPU time in /proc): the zygote's own differs
        when the zygote is in a PID namespace of its own (``userns`` mode)."""
        self.activation = activation
        """The zygote's end of the sandbox's activation socket: the request goes out on it, and the sandbox's
        word that its setup is done comes back on it. Closed when the sandbox ends or is retired."""
        self.scratch = scratch
        self.status: socket.socket | None = None


class _Supervisor:
    """Forks sandboxes, keeps a few as standbys, activates them for runs, and ends them.

    Setting up namespaces and mounts takes milliseconds; done ahead in a standby, it is off the path of
    every grading. A run's sandbox is killed when the grader closes (or shuts down) its status socket, and its end is
    reported there once every process of it is gone; the zygote never waits on a sandbox otherwise.
    """

    def __init__(self, config: dict[str, Any], harness: ModuleType, control: socket.socket) -> None:
        self._config = config
        self._harness = harness
        self._control = control
        self._standbys: list[_Child] = []
        self._running: dict[int, _Child] = {}
        """By status socket and by pidfd."""
        self._poller = select.poll()
        self._poller.register(control, select.POLLIN)
        # Where the PID namespace of the zygote's next child goes back to after each sandbox got its own.
        self._own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC) if config["namespaces"] else -1

    def serve(self) -> None:
        """Handle the grader's requests and the sandboxes' ends until the grader goes away."""
        while True:
            # Requests and ends first; a standby is forked only when nothing else is waiting.
            short = len(self._standbys) < _STANDBY_SANDBOXES
            events = self._poller.poll(0 if short else None)
            if not events and short:
                if not self._fork():
                    self._poller.poll(100)  # no fork possible now (out of processes?): do not spin
                continue
            for fd, _ in events:
                if fd == self._control.fileno():
                    if not self._request():
                        return
                elif fd in self._running:
                    self._event(self._running[fd], fd)

    def _request(self) -> bool:
        message, fds, _, _ = socket.recv_fds(self._control, 1 << 16, 3)
        if not message:
            # The grader is gone (closed, or killed with no chance to clean up): leave nothing behind.
            self.retire()
            running = {child.pid: child for child in self._running.values()}  # each is there twice
            for child in running.values():
                self._kill(child)
            for pid in running:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
            shutil.rmtree(self._config["workdir"], ignore_errors=True)
            return False
        request = json.loads(message)
        if request["op"] == "spawn" and len(fds) == 3:
            self._activate(request, fds)
            fds = []
        for fd in fds:
            os.close(fd)
        return True

    def _activate(self, request: dict[str, Any], fds: list[int]) -> None:
        """Hand a run to the oldest standby (forking one if there is none); the loop refills the pool."""
        if not self._standbys and not self._fork():
            for fd in fds:
                os.close(fd)  # the grader sees the status socket close and retries
            return
        child = self._standbys.pop(0)
        channel, output, status = fds
        child.status = socket.socket(fileno=status)
        request["scratch"] = child.scratch
        try:
            for procs in request["cgroups"]:
                with open(procs, "w") as group:
                    group.write(str(child.pid))
        except OSError:
            # Trusted setup failed before any submission code ran: the grader's fault, reported as such.
            traceback.print_exc()
            self._kill(child)
            setup_failed = True
        else:
            setup_failed = False
            with contextlib.suppress(OSError):  # a sandbox that died in setup says so through its exit status
                socket.send_fds(child.activation, [json.dumps(request).encode()], [channel, output])
        os.close(channel)
        os.close(output)
        self._tell(child, {"pid": child.host_pid})
        if setup_failed:
            os.waitpid(child.pid, 0)
            self._finish(child, SETUP_FAILED << 8)
        else:
            self._running[child.status.fileno()] = child
            self._running[child.pidfd] = child
            self._poller.register(child.status, select.POLLIN)
            self._poller.register(child.pidfd, select.POLLIN)

    def _event(self, child: _Child, fd: int) -> None:
        if fd == child.pidfd:
            # Readable once the sandbox has exited; with a PID namespace, once all of its processes have.
            _, wait_status = os.waitpid(child.pid, 0)
            if not self._config["namespaces"]:
                self._kill(child)  # what it started is still in its process group
            self._poller.unregister(child.pidfd)
            del self._running[child.pidfd]
            assert child.status is not None
            if child.status.fileno() in self._running:
                self._poller.unregister(child.status)
                del self._running[child.status.fileno()]
            self._finish(child, wait_status)
        else:
            # The grader closed or shut down its end: the run is over; its end comes through the pidfd.
            assert child.status is not None
            self._poller.unregister(child.status)
            del self._running[fd]
            self._kill(child)

    def _finish(self, child: _Child, wait_status: int) -> None:
        os.close(child.pidfd)
        if child.scratch is not None:
            shutil.rmtree(child.scratch, ignore_errors=True)
        # The sandbox is gone, so whatever it sent on its activation socket is there to read now.
        try:
            ready = child.activation.recv(16, socket.MSG_DONTWAIT) == _READY
        except OSError:
            ready = False
        child.activation.close()
        self._tell(child, {"exit": wait_status, "ready": ready})
        if child.status is not None:
            child.status.close()

    def _kill(self, child: _Child) -> None:
        """With a PID namespace, killing its PID 1 makes the kernel kill everything in it."""
        if not self._config["namespaces"]:
            # No PID namespace: the best available is the session's process group (daemons escape it).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(child.pidfd, signal.SIGKILL)

    @staticmethod
    def _tell(child: _Child, message: dict[str, int]) -> None:
        if child.status is None:
            return  # a standby: nobody is waiting for it
        with contextlib.suppress(OSError):  # the grader may be gone already
            child.status.send(json.dumps(message).encode())

    def retire(self) -> None:
        """End every standby (the grader left)."""
        for child in self._standbys:
            self._kill(child)
            os.waitpid(child.pid, 0)  # trusted code, alone in its namespace: quick to die
            self._finish(child, 0)
        self._standbys.clear()

    def _fork(self) -> bool:
        activation, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        namespaces = self._config["namespaces"]
        scratch = None if namespaces else tempfile.mkdtemp(prefix="sandbox-", dir=self._config["workdir"])
        if namespaces:
            _unshare(CLONE_NEWPID)  # for the next child only: it is PID 1 of a new namespace
        try:
            pid = os.fork()
        except OSError:
            pid = -1
        if pid == 0:
            # Nothing of the zygote's: not the control socket, other sandboxes' sockets and pidfds. (The
            # template's descriptor and the zygote-alive pipe are closed before any submission code runs.)
            keep = sorted({child_end.fileno(), self._config["alive"], self._config.get("template", child_end.fileno())})
            for low, high in zip([2, *keep], [*keep, 1 << 20], strict=True):
                os.closerange(low + 1, high)
            try:
                _sandbox(self._config, child_end, self._harness)
            finally:
                os._exit(0)
        if namespaces:
            _setns(self._own_pid_ns, CLONE_NEWPID)  # the children after this one are not in that namespace
        child_end.close()
        if pid < 0:
            activation.close()
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
            return False
        self._standbys.append(_Child(pid, activation, scratch, self._config["userns"]))
        return True


def _probe(config: dict[str, Any]) -> str:
    """Empty if namespaces and mounts work here, else the reason they do not."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            _unshare(_SANDBOX_NAMESPACES | CLONE_NEWPID | CLONE_NEWNS)
            _mount(None, "/", None, MS_REC | MS_PRIVATE)
            _mount("probe", config["workdir"], "tmpfs", 0, "size=4k")
        except BaseException as exc:
            os.write(write_end, f"namespaces or mounts are refused ({exc})".encode()[:500])
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        reason = pipe.read().decode(errors="replace")
    os.waitpid(pid, 0)
    return reason


# Runs in the zygote to exercise the harness's own paths before any fork. It computes nothing right: no
# solution may be in the memory every sandbox inherits.
_STUB_SUBMISSION = """
import numpy as np
def get_conv1d_output_size(input_size, kernel_size, stride):
    return 0
class Conv1d:
    def __init__(self, in_channels, out_channels, kernel_size, stride):
        pass
    def forward(self, x):
        return np.zeros(1)
    def backward(self, delta):
        self.grad_weight = self.grad_bias = np.zeros(1)
        return np.zeros(1)
"""


def _warm_up(harness: ModuleType) -> None:
    """Do once here what every sandbox would otherwise do itself after fork: lazy imports (numpy.random
    is loaded on first use), first-call caches, and the interpreter's specialisation of the harness's hot
    code, which rewrites code objects in place (each rewrite in a sandbox would copy a page). Then freeze the
    heap so that the children's garbage collector never walks, and so never copies, the pages they share
    with this process."""
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    x = np.random.default_rng(0).normal(size=(2, 3, 8))
    windows = sliding_window_view(x, 3, axis=2)[:, :, ::2, :]
    np.tensordot(windows, np.ones((4, 3, 3)), axes=([1, 3], [1, 2]))
    np.einsum("bcok,fck->bfo", windows, np.ones((4, 3, 3)), optimize=True)
    np.random.normal(0, 1, (2, 2))

    arrays = {"weight": np.ones((2, 1, 2)), "bias": np.ones(2), "x": np.ones((1, 1, 4)), "delta": np.ones((1, 2, 3))}
    specs = [{"name": name, "dtype": array.dtype.str, "shape": list(array.shape)} for name, array in arrays.items()]
    calls = [
        {"key": "size", "call": "output_size", "sizes": [4, 2, 1], "arrays": [], "cpu": 1.0},
        {"key": "forward", "call": "forward", "layer": [1, 2, 2, 1], "arrays": specs[:3], "cpu": 1.0},
        {"key": "backward", "call": "backward", "layer": [1, 2, 2, 1], "arrays": specs, "forward_key": "forward/"},
    ]
    blobs = [array.tobytes() for array in arrays.values()]
    blobs = blobs[:3] + blobs
    header = {"source": _STUB_SUBMISSION, "filename": "nn.py", "marker": "", "calls": calls}
    request = json.dumps({**header, "blobs": [len(blob) for blob in blobs]}).encode()
    cpu_limit = resource.getrlimit(resource.RLIMIT_CPU)
    for _ in range(10):  # past the interpreter's warm-up counters
        ours, theirs = socket.socketpair()
        with ours, theirs:
            ours.sendall(struct.pack(">I", len(request)) + request + b"".join(blobs))
            harness.Harness(theirs, 1.0, 1.0).serve()
    resource.setrlimit(resource.RLIMIT_CPU, cpu_limit)  # each call armed the limit on this process
    sys.modules.pop("nn", None)
    linecache.cache.pop("nn.py", None)
    gc.collect()
    gc.freeze()


def _import_harness(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("_conv1d_harness", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _own_user_namespace() -> str:
    """Empty once this process is in a user namespace of its own (see :func:`_enter_user_namespace`), else why
    it could not make one. First thing, while the process has a single thread (unshare requires it)."""
    try:
        _enter_user_namespace()
    except OSError as exc:
        return f"no user namespace could be created ({exc})"
    return ""


def _own_pid_namespace() -> str:
    """Carry on as PID 1 of a new PID namespace, owned by this process's user namespace; empty once done, else
    why not. The zygote moves back into its own PID namespace after forking each sandbox into a new one
    (``setns``), which needs capabilities over that namespace's owner: in ``userns`` mode, only a PID
    namespace made in our own user namespace gives them.

    The process the grader started stays outside, holding nothing, and exits with the zygote's status; the
    zygote dies with it (and, as PID 1, takes every sandbox with it)."""
    try:
        _unshare(CLONE_NEWPID)
        pid = os.fork()
    except OSError as exc:
        return f"no PID namespace could be created ({exc})"
    if pid == 0:
        _die_with_the_zygote()  # here: with the process the grader started
        return ""
    os.closerange(3, 1 << 20)  # the control socket stays with the zygote alone: the grader sees it close
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def main() -> None:
    config = json.loads(sys.argv[1])
    # Not root in the host's user namespace: a user namespace of our own gives the capabilities the
    # namespaces, mounts and pivot_root below need, over those namespaces only.
    reason = _own_user_namespace() if config["mode"] == "userns" else ""
    if config["mode"] == "userns" and not reason:
        reason = _own_pid_namespace()
    config["userns"] = config["mode"] == "userns" and not reason
    with open("/proc/sys/kernel/cap_last_cap") as last_cap:
        config["last_cap"] = int(last_cap.read())
    sys.path.append(config["site_dir"])
    harness = _import_harness(config["harness"])
    _warm_up(harness)
    if seccomp_supported():
        _seccomp_program()
    control = socket.socket(fileno=config["control_fd"])
    # The rest of the config (the filesystem policy, the work folder) comes once the grader has computed it:
    # it does that while this process imports NumPy and warms up, instead of before starting it.
    settings = control.recv(1 << 20)
    if not settings:
        return
    config.update(json.loads(settings))
    reason = reason or _probe(config)
    config["namespaces"] = not reason
    if config["namespaces"]:
        try:
            config["template"] = _template(config)
        except OSError as exc:
            # Namespaces work here, so running with less would be a silent downgrade: the grader's fault.
            control.send(json.dumps({"error": str(exc)}).encode())
            return
    # Only the zygote holds the write end: its sandboxes see the read end at end-of-file once it is gone.
    config["alive"], alive = os.pipe()
    hello = {
        "namespaces": config["namespaces"],
        "userns": config["userns"] and config["namespaces"],
        "reason": reason,
        "seccomp": {"how": "bpf", "arch": ["x86_64"]} if seccomp_supported() else {"how": "none", "arch": []},
    }
    control.send(json.dumps(hello).encode())
    _Supervisor(config, harness, control).serve()
    os.close(alive)


if __name__ == "__main__":
    main()
