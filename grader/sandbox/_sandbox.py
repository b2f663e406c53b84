"""The sandbox process's body: its setup as ordered, named steps, then the harness's one request.

A sandbox is forked by the zygote as a standby: the steps up to "wait for activation" run ahead of need; a
run's request and descriptors activate it, and the rest confine it. Every step is trusted code: a failing one
is reported by name on the grader's stderr and the sandbox exits before ``ready``, so the grader counts it as
its own fault, never as a verdict. After ``ready`` only the submission's own code (and the harness, which
shares its process) runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

# Siblings by bare name at run time (where the grader package must not be importable); by their
# package names for the type checker only.
if TYPE_CHECKING:
    from grader.sandbox import _fs, _libc, _limits, _seccomp, _userns
    from grader.sandbox._constants import CHANNEL_FD, HARNESS_FAILED, READY, SETUP_FAILED
else:
    import _fs
    import _libc
    import _limits
    import _seccomp
    import _userns
    from _constants import CHANNEL_FD, HARNESS_FAILED, READY, SETUP_FAILED

SANDBOX_NAMESPACES = _libc.CLONE_NEWUTS | _libc.CLONE_NEWIPC | _libc.CLONE_NEWNET
"""What the sandbox unshares itself, still root: the zygote made its PID namespace (the sandbox is PID 1 of it)
and its mount namespace is a copy of the template's."""


@dataclass
class Setup:
    """What the steps share: the zygote's settings, then the run's request and descriptors."""

    config: dict[str, Any]
    activation: socket.socket
    """The sandbox's end of its activation socket: the request comes in on it, ``ready`` goes out."""
    request: dict[str, Any] = field(default_factory=dict)
    channel: int = -1
    output: int = -1

    @property
    def namespaces(self) -> bool:
        return bool(self.config["namespaces"])


def die_with_the_zygote(setup: Setup) -> None:
    _libc.die_with_the_zygote()


def own_namespaces(setup: Setup) -> None:
    if setup.namespaces:
        _libc.unshare(SANDBOX_NAMESPACES)
    else:
        os.setsid()  # from the start: without a PID namespace the zygote kills the session's process group


def enter_the_template(setup: Setup) -> None:
    if setup.namespaces:
        _fs.enter_template(setup.config["template"], setup.config["layout"], setup.config["userns"])
        os.close(setup.config["template"])


def wait_for_activation(setup: Setup) -> None:
    """Block until a run's request comes with its channel and output pipe: the end of the standby's life."""
    message, fds, _, _ = socket.recv_fds(setup.activation, 1 << 16, 2)
    if not message or len(fds) != 2:
        os._exit(0)  # dropped from the standby pool before any use
    setup.request = json.loads(message)
    setup.channel, setup.output = fds


def cgroups_joined_by_the_zygote(setup: Setup) -> None:
    """Nothing to do here, and in the list so that the order reads right: the zygote wrote this process's pid
    into the run's cgroups before it sent the request, so every step after this one, and everything the
    submission starts, is counted and capped by them."""


def size_scratch(setup: Setup) -> None:
    if setup.namespaces:
        _fs.size_scratch(setup.request["limits"])
    else:
        os.chdir(setup.request["scratch"])  # a private directory the zygote made, in place of a private /tmp


def drop_privileges(setup: Setup) -> None:
    if not setup.namespaces:
        return  # minimal mode: the grader's uid (the report says so)
    if setup.config["userns"]:
        # No other uid to change to (the namespace maps one): a namespace and no capabilities instead.
        _userns.enter_user_namespace()
        _userns.drop_capabilities(setup.config["last_cap"])
    else:
        _userns.drop_privileges(setup.request["uid"])


def still_die_with_the_zygote(setup: Setup) -> None:
    """A change of uid cleared the parent-death signal: set it again, then make sure the zygote did not die
    before that (nobody would ever end this sandbox). Only the zygote holds the pipe's write end."""
    _libc.die_with_the_zygote()
    if select.select([setup.config["alive"]], [], [], 0)[0]:
        os._exit(0)
    os.close(setup.config["alive"])


def rlimits(setup: Setup) -> None:
    _limits.limit_resources(setup.request["limits"])


def no_new_privs_and_seccomp(setup: Setup) -> None:
    _limits.no_new_privs()
    program = setup.config.get("seccomp")
    if program:
        _seccomp.install(program)


def wire_descriptors(setup: Setup) -> None:
    """stdin from /dev/null, stdout into the output pipe, the channel at fd 3. stderr stays the grader's until
    ``ready``, so that a failing step is still reported there."""
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(setup.output, 1)
    os.dup2(setup.channel, CHANNEL_FD)  # after stdout: the output pipe may have been received as fd 3
    # Line by line, so what a student printed before a hang or a crash still reaches their report.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]


def ready(setup: Setup) -> None:
    """Say setup is done, then keep nothing but fds 0 to 3: the activation socket is closed with the rest, so
    the submission can neither fake nor take back its sandbox's ``ready``."""
    setup.activation.send(READY)
    os.dup2(1, 2)
    os.closerange(CHANNEL_FD + 1, 1 << 20)


SETUP: tuple[tuple[str, Callable[[Setup], None]], ...] = (
    ("die with the zygote", die_with_the_zygote),
    ("own namespaces", own_namespaces),
    ("enter the template", enter_the_template),
    ("wait for activation", wait_for_activation),
    ("cgroups joined by the zygote", cgroups_joined_by_the_zygote),
    ("size scratch", size_scratch),
    ("drop privileges", drop_privileges),
    ("still die with the zygote", still_die_with_the_zygote),
    ("rlimits", rlimits),
    ("no_new_privs + seccomp", no_new_privs_and_seccomp),
    ("wire descriptors", wire_descriptors),
    ("ready", ready),
)
"""The sandbox's setup, in order. Up to "wait for activation" it runs in a standby, ahead of need."""


def run(config: dict[str, Any], activation: socket.socket, harness: ModuleType) -> None:
    """Body of the sandbox process (never returns into the zygote's code: the caller ``_exit``s)."""
    setup = Setup(config, activation)
    for name, step in SETUP:
        try:
            step(setup)
        except BaseException:
            # Still before ``ready``, and stderr is still the grader's: a grader fault, named.
            with contextlib.suppress(BaseException):
                sys.stderr.write(f"sandbox setup failed at step {name!r}:\n")
                traceback.print_exc()
                sys.stderr.flush()
            os._exit(SETUP_FAILED)
    limits = setup.request["limits"]
    try:
        harness.Harness(socket.socket(fileno=CHANNEL_FD), limits["cpu_seconds"], limits["load_cpu_seconds"]).serve()
    except BaseException:
        # The submission broke the harness's own code (it shares the process): say so, distinctly,
        # even if it broke the traceback module too.
        with contextlib.suppress(BaseException):
            traceback.print_exc()
        os._exit(HARNESS_FAILED)
