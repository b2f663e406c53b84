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

This file is the entry (start-up, warm-up, the filter built once); the rest is one module per concern, loaded
as plain modules from this folder:

* ``_constants``: numbers the grader shares (it imports that module alone, never the zygote's code);
* ``_libc``: ctypes bindings (mount, unshare, setns, pivot_root, prctl, capset, seccomp);
* ``_fs``: the template, each sandbox's copy of it, the scratch /tmp, the namespace probe;
* ``_userns``: the uid drop, and user namespaces and capabilities for a grader that is not root;
* ``_limits``: rlimits, the SIGXCPU exit, no_new_privs;
* ``_seccomp``: the filter, by libseccomp or hand-assembled;
* ``_sandbox``: the sandbox process's body, its setup as ordered, named steps;
* ``_supervisor``: standbys, activation, and the end of every sandbox.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import linecache
import os
import resource
import socket
import struct
import sys
from types import ModuleType
from typing import TYPE_CHECKING

# Siblings as plain modules, from this script's folder (``-I`` leaves it off sys.path): never the ``grader``
# package, whose code every sandbox would inherit. The folder comes off sys.path again at once, so that
# nothing the sandboxes import later resolves there (they cannot see it anyway).
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
try:
    # Siblings by bare name at run time (where the grader package must not be importable); by their
    # package names for the type checker only.
    if TYPE_CHECKING:
        from grader.sandbox import _fs, _seccomp, _userns
        from grader.sandbox._supervisor import Supervisor
    else:
        import _fs
        import _seccomp
        import _userns
        from _supervisor import Supervisor
finally:
    sys.path.remove(_HERE)


# Runs in the zygote to exercise the harness's own paths before any fork. It computes nothing right: no
# solution may be in the memory every sandbox inherits.
_STUB_SUBMISSION = """
import numpy as np
def size(n):
    return 0
class Layer:
    def __init__(self, n):
        pass
    def forward(self, x):
        return np.zeros(1)
    def backward(self, delta):
        self.grad = np.zeros(1)
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
    def step(action: str, name: str, args: list[dict[str, object]], save: str | None = None) -> dict[str, object]:
        where = "__init__" if action == "new" else name if action in ("call", "method") else None
        return {"action": action, "name": name, "args": args, "save": save, "where": where}

    layer = [step("new", "Layer", [{"value": 1}]), step("set", "weight", [{"input": "weight"}])]
    forward = step("method", "forward", [{"input": "x"}], "out")
    backward = [step("method", "backward", [{"input": "delta"}], "dx"), step("get", "grad", [], "grad")]
    report = step("report", "", [])
    calls = [
        {"key": "size", "steps": [step("call", "size", [{"value": 4}], "size")], "arrays": [], "cpu": 1.0},
        {"key": "forward", "steps": [*layer, forward], "arrays": specs[:3], "cpu": 1.0},
        {"key": "backward", "steps": [*layer, forward, report, *backward], "arrays": specs, "forward_key": "forward/"},
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
    leaked = grader_modules()
    if leaked:
        raise RuntimeError(f"the zygote loaded grader code, which every sandbox would inherit: {leaked}")
    gc.collect()
    gc.freeze()


def _import_harness(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("_conv1d_harness", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def grader_modules() -> list[str]:
    """Modules of the ``grader`` package loaded in this process: there must be none (see the module's
    docstring); the warm-up refuses to go on otherwise, and a test lists them."""
    return sorted(name for name in sys.modules if name == "grader" or name.startswith("grader."))


def main() -> None:
    config = json.loads(sys.argv[1])
    # Not root in the host's user namespace: a user namespace of our own gives the capabilities the
    # namespaces, mounts and pivot_root below need, over those namespaces only.
    reason = _userns.own_user_namespace() if config["mode"] == "userns" else ""
    if config["mode"] == "userns" and not reason:
        reason = _userns.own_pid_namespace()
    config["userns"] = config["mode"] == "userns" and not reason
    with open("/proc/sys/kernel/cap_last_cap") as last_cap:
        config["last_cap"] = int(last_cap.read())
    sys.path.append(config["site_dir"])
    harness = _import_harness(config["harness"])
    # Built once here, before the warm-up freezes the heap: a sandbox only installs the bytes (no libseccomp
    # work, nor its binding, per sandbox).
    seccomp = _seccomp.build(config.get("pyseccomp"))
    config["seccomp"] = seccomp.program if seccomp is not None else b""
    _warm_up(harness)
    control = socket.socket(fileno=config["control_fd"])
    # The rest of the config (the filesystem policy, the work folder) comes once the grader has computed it:
    # it does that while this process imports NumPy and warms up, instead of before starting it.
    settings = control.recv(1 << 20)
    if not settings:
        return
    config.update(json.loads(settings))
    reason = reason or _fs.probe(config["workdir"])
    config["namespaces"] = not reason
    if config["namespaces"]:
        try:
            config["template"] = _fs.template(config)
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
        "seccomp": (
            {"how": seccomp.how, "arch": list(seccomp.arch), "note": seccomp.note}
            if seccomp is not None
            else {"how": "none", "arch": [], "note": "no libseccomp and no built-in filter for this architecture"}
        ),
    }
    control.send(json.dumps(hello).encode())
    Supervisor(config, harness, control).serve()
    os.close(alive)


if __name__ == "__main__":
    main()
