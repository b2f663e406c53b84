"""The sandbox's filesystem view: the template built once per zygote, each sandbox's private copy of it, and
its scratch ``/tmp``. The policy (which steps, in which order) is computed in the grader (``_layout.py``);
this module only carries it out.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING, Any

# Siblings by bare name at run time (where the grader package must not be importable); by their
# package names for the type checker only.
if TYPE_CHECKING:
    from grader.sandbox import _libc
    from grader.sandbox._libc import MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT
else:
    import _libc
    from _libc import MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT

SCRATCH = "/tmp"
_STASH = "/.stash"
"""Where the template keeps what the layout puts under the scratch /tmp, for each sandbox to bind again into
its own scratch (a virtualenv under /tmp, as in a CI checkout there, holds NumPy)."""


def _in_scratch(path: str) -> bool:
    return path == SCRATCH or path.startswith(SCRATCH + "/")


def _bind(source: str, target: str, flags: int, inherit: bool = False) -> None:
    """Bind ``source`` at ``target`` (creating the mount point) and apply ``flags`` to the bind; with
    ``inherit``, also the source mount's read-only, nosuid, nodev and noexec flags."""
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "a"):
            pass
    _libc.mount(source, target, None, MS_BIND)
    if inherit:
        # In a user namespace the kernel locks those flags on every mount it copied from outside: a remount
        # that would clear one is refused (EPERM). statvfs's ST_* bits are the MS_* bits.
        flags |= os.statvfs(source).f_flag & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    # Flags given with the first MS_BIND are ignored by the kernel; only a remount applies them.
    _libc.mount(None, target, None, MS_BIND | MS_REMOUNT | flags)


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
            _libc.mount("hidden", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0755")
            hidden.append(target)
        elif kind == "link":
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.symlink(step["target"], target)
        else:
            raise ValueError(f"unknown layout step {kind!r}")
    for target in hidden:
        _libc.mount(None, target, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _build_template(config: dict[str, Any]) -> None:
    """Make this process's mount namespace the view every sandbox starts from: a read-only tmpfs root holding
    only what Python and NumPy need, with mount points for each sandbox's own /proc and scratch /tmp.

    Built once per zygote, in a helper whose namespace the zygote keeps (:func:`template`); a sandbox enters a
    copy of it (:func:`enter_template`), which costs a fraction of building it with a few dozen mounts."""
    _libc.unshare(_libc.CLONE_NEWNS)
    _libc.mount(None, "/", None, MS_REC | MS_PRIVATE)
    root = config["workdir"]
    _libc.mount("sandbox-root", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for mount_point in (SCRATCH, "/proc"):
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
        _libc.mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chdir(root)
    # pivot_root(".", ".") stacks the old root under the new one; detaching it leaves no way back.
    _libc.pivot_root(".", ".")
    _libc.umount2(".", _libc.MNT_DETACH)
    os.chdir("/")
    _libc.mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def template(config: dict[str, Any]) -> int:
    """A descriptor on a mount namespace built by :func:`_build_template`, which it keeps alive."""
    built, built_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    own_pid_ns = -1
    if config["userns"]:
        # The helper is PID 1 of a PID namespace of its own, owned by our user namespace, so that it may mount
        # a proc of it into the template (see _build_template).
        own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        _libc.unshare(_libc.CLONE_NEWPID)
    pid = os.fork()
    if own_pid_ns >= 0 and pid != 0:
        _libc.setns(own_pid_ns, _libc.CLONE_NEWPID)
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
                seen_as = _libc.host_pid(pidfd)
            finally:
                os.close(pidfd)
        return os.open(f"/proc/{seen_as}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        built.close()
        os.waitpid(pid, 0)


def enter_template(template_fd: int, layout: list[dict[str, Any]], inherit: bool) -> None:
    """Move into a private copy of the template's mount namespace and mount this sandbox's own /proc (of its
    PID namespace) and scratch /tmp, which gets its run's size when the sandbox is activated
    (:func:`size_scratch`)."""
    _libc.setns(template_fd, _libc.CLONE_NEWNS)  # also moves the root and working directory to the template's root
    _libc.unshare(_libc.CLONE_NEWNS)  # a copy: nothing mounted below reaches the template or another sandbox
    _libc.mount("scratch", SCRATCH, "tmpfs", MS_NOSUID | MS_NODEV, _scratch_options(0))
    stashed = [
        (step if step["kind"] not in ("bind", "device") else {**step, "path": f"{_STASH}/{i}"}, step["path"])
        for i, step in enumerate(layout)
        if _in_scratch(step["path"])
    ]
    _apply_layout(stashed, inherit)
    _libc.mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chdir(SCRATCH)


def _scratch_options(size_mb: int) -> str:
    return f"size={size_mb}m,nr_inodes=4096,mode=1777" if size_mb else "size=4k,nr_inodes=16,mode=1777"


def size_scratch(limits: dict[str, Any]) -> None:
    """Give the scratch /tmp its run's size. A tmpfs's size can change on remount; its root's mode and the
    empty content stay."""
    _libc.mount(None, SCRATCH, None, MS_REMOUNT | MS_NOSUID | MS_NODEV, _scratch_options(limits["max_file_mb"]))


def probe(workdir: str) -> str:
    """Empty if namespaces and mounts work here, else the reason they do not (tried in a throwaway child)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            _libc.unshare(
                _libc.CLONE_NEWUTS | _libc.CLONE_NEWIPC | _libc.CLONE_NEWNET | _libc.CLONE_NEWPID | _libc.CLONE_NEWNS
            )
            _libc.mount(None, "/", None, MS_REC | MS_PRIVATE)
            _libc.mount("probe", workdir, "tmpfs", 0, "size=4k")
        except BaseException as exc:
            os.write(write_end, f"namespaces or mounts are refused ({exc})".encode()[:500])
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        reason = pipe.read().decode(errors="replace")
    os.waitpid(pid, 0)
    return reason
