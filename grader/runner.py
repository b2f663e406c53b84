"""The contract between the grading engine and whatever runs a submission's code.

The engine describes each test as a :class:`Call` (plain data: layer parameters and input arrays), hands the
whole list to a :class:`Runner`, and gets back a :class:`RunReport` holding only plain data: decoded arrays,
type names and error descriptions. Nothing in a report is trusted beyond its shape: the engine compares the
arrays with values it computed itself. The real runner is :class:`grader.sandbox.SandboxRunner`; tests inject
fakes so scoring and reporting run without processes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

CallStatus = Literal["ok", "error", "timeout", "crashed", "skipped"]
"""``ok``: the call returned; ``error``: it raised; ``timeout``: it used up its CPU time or sat idle (asleep or
blocked) past the idle limit and was killed; ``crashed``: the process died (signal, ``os._exit``, memory);
``skipped``: not run (the submission's CPU cap was spent, e.g. by a module that is slow to load again after
every crash)."""

ValueKind = Literal[
    "ndarray", "ndarray_subclass", "list", "tuple", "int", "float", "bool", "none", "other", "too_large"
]
"""What a returned value was in the submission's process, before any conversion."""

Where = str
"""Which part of the submission was running when something happened: ``compile``, ``import`` and ``runner``
are the runner's own; every other label is a :class:`Step`'s ``where`` (e.g. ``forward``), chosen by the
assignment pack that planned the call."""

MAX_VALUE_NAME = 64
"""Longest value name a call may declare (and a reply may carry)."""
MAX_VALUES = 16
"""Most values one stage of a call may report."""


@dataclass(frozen=True)
class Input:
    """A step argument taken from the call's input arrays, by name (each call gets its own copy)."""

    name: str


Arg = int | float | bool | str | None | Input
"""A step argument: a JSON literal, or one of the call's input arrays."""

StepAction = Literal["call", "new", "set", "method", "get", "report"]


@dataclass(frozen=True)
class Step:
    """One thing the harness does inside the sandbox, declared as data by the assignment pack.

    The harness knows no assignment: a pack says "construct ``Conv1d(2, 3, 2, 1)``, set ``weight``, call
    ``forward(x)``, collect the result as ``out``" as a tuple of these, and it is sent to the sandbox as JSON.
    """

    action: StepAction
    """``call``: the module's function ``name``; ``new``: construct the module's class ``name`` (the object
    the later steps act on); ``set``: assign ``args[0]`` to the object's attribute ``name``; ``method``: call
    the object's method ``name``; ``get``: read the object's attribute ``name``; ``report``: end the call's
    first stage, replying under :attr:`Call.forward_key` with the values saved so far."""
    name: str = ""
    args: tuple[Arg, ...] = ()
    save: str | None = None
    """Report what the step returned (or read) under this value name."""
    where: Where | None = None
    """What a failure from here on is said to be in; None: ``__init__`` for ``new``, ``name`` for ``call``
    and ``method``, unchanged for ``set`` and ``get``."""

    @property
    def label(self) -> Where | None:
        """The ``where`` in force from this step on, or None when the step keeps the previous one."""
        if self.where is not None:
            return self.where
        if self.action == "new":
            return "__init__"
        if self.action in ("call", "method"):
            return self.name
        return None

    def to_wire(self) -> dict[str, object]:
        """The JSON form the harness reads."""
        args = [{"input": a.name} if isinstance(a, Input) else {"value": a} for a in self.args]
        return {"action": self.action, "name": self.name, "args": args, "save": self.save, "where": self.label}


@dataclass(frozen=True)
class Call:
    """One request to the submission: a single test's worth of work, as a program of :class:`Step`."""

    key: str
    """Unique within a run, e.g. ``forward/test_conv1d_forward_1``."""
    op: str
    """What kind of call this is (``forward``, ``output_size``): for the pack's own bookkeeping and logs."""
    steps: tuple[Step, ...] = ()
    """What the harness does, in order; the values the steps ``save`` are the call's outputs."""
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)
    """The input arrays the steps refer to with :class:`Input`."""
    forward_key: str | None = None
    """With a ``report`` step: the key its first stage's values are reported under, as an outcome of their
    own finished before the rest starts. One process round trip then serves two tests on the same inputs, and
    a second stage that hangs or crashes still leaves the first stage's result."""
    cpu_seconds: float | None = None
    """CPU time this call may use, sized to its case by the engine; None: ``Limits.cpu_seconds``."""
    forward_cpu_seconds: float | None = None
    """CPU time the first stage of a call with a ``forward_key`` may use; None: ``Limits.cpu_seconds``."""
    group: bool = False
    """A trivial call: its reply may go out with the next grouped call's, in one send."""

    def __post_init__(self) -> None:
        # A pack's mistake, caught where it is made rather than as a malformed reply from every sandbox.
        reports = sum(step.action == "report" for step in self.steps)
        if reports > 1 or (reports == 1) != (self.forward_key is not None):
            raise ValueError(f"{self.key}: a call has a forward_key exactly when it has one report step")
        for stage in self.stages():
            names = stage.outputs
            if len(names) > MAX_VALUES or len(set(names)) != len(names):
                raise ValueError(f"{stage.key}: at most {MAX_VALUES} distinct values per stage, not {names}")
            if any(not 0 < len(name) <= MAX_VALUE_NAME for name in names):
                raise ValueError(f"{stage.key}: value names are 1 to {MAX_VALUE_NAME} characters: {names}")

    @property
    def outputs(self) -> tuple[str, ...]:
        """The value names this call (this stage, once split by :meth:`stages`) reports when it returns."""
        return tuple(s.save for s in self.steps if s.save is not None)

    @property
    def where(self) -> Where:
        """What the last step that names a part of the submission runs: blamed for a timeout or a crash."""
        return next((s.label for s in reversed(self.steps) if s.label is not None), self.op)

    def stages(self) -> tuple[Call, ...]:
        """What the call answers, in order: its first stage under ``forward_key`` (the steps before
        ``report``, with ``forward_cpu_seconds``), then the rest under its own key; or just itself."""
        split = next((i for i, s in enumerate(self.steps) if s.action == "report"), None)
        if self.forward_key is None or split is None:
            return (self,)
        first = Call(
            self.forward_key, self.op, self.steps[:split], self.arrays, cpu_seconds=self.forward_cpu_seconds
        )
        # The second stage carries the whole program's setup for where-labels: only its own saves count.
        rest = Call(self.key, self.op, self.steps[split + 1 :], self.arrays, cpu_seconds=self.cpu_seconds)
        return (first, rest)


@dataclass(frozen=True)
class Returned:
    """One value the submission returned (or left in an attribute), as the grader received it."""

    kind: ValueKind
    type_name: str
    """Qualified type name in the submission's process, e.g. ``numpy.ndarray`` or ``builtins.list``."""
    array: np.ndarray | None = None
    """A plain numeric ndarray the grader decoded from raw bytes (bool/int/uint/float only, never an object):
    the value itself for arrays, the value converted with ``np.asarray`` for lists and tuples when that
    worked, ``None`` otherwise."""
    scalar: float | int | bool | None = None
    """The value for ``int``, ``float`` and ``bool`` kinds."""
    note: str = ""
    """Why no array came back, e.g. ``declared 800,000,128 bytes, over the 64 MiB limit``."""


@dataclass(frozen=True)
class Failure:
    """An exception raised by the submission, described in plain text."""

    where: Where
    type: str
    """Exception class name, e.g. ``NotImplementedError`` or ``ModuleNotFoundError``."""
    message: str
    line: int | None = None
    """Line in the submission of the innermost frame that belongs to it."""
    traceback: str = ""
    """Traceback limited to the submission's own frames, truncated."""
    module: str | None = None
    """For an import failure, the module that could not be imported (``torch``, ``mytorch.nn``)."""


@dataclass(frozen=True)
class CallOutcome:
    """What happened to one :class:`Call`."""

    key: str
    status: CallStatus
    values: Mapping[str, Returned] = field(default_factory=dict)
    """What the call's steps saved, by value name (``out``, ``dx``...)."""
    failure: Failure | None = None
    output: str = ""
    """What the submission printed during the call (stdout and stderr), truncated."""
    seconds: float = 0.0
    """Wall time of the call, as the submission's process measured it (shown to students, never a limit)."""
    cpu_seconds: float | None = None
    """CPU time the call used, measured from outside the sandbox where it could be (instructor diagnostics)."""
    detail: str = ""
    """The runner's own account for timeouts and crashes, e.g. ``killed by SIGSEGV`` or
    ``exceeded the 2 s CPU limit in backward``."""


@dataclass(frozen=True)
class LoadOutcome:
    """What happened when the submission's module was executed."""

    status: Literal["ok", "error", "timeout", "crashed"]
    names: tuple[str, ...] = ()
    """Top-level names the module defines (used to suggest a required name when a near miss was found)."""
    failure: Failure | None = None
    output: str = ""
    detail: str = ""
    compiled: bool = True
    """Whether the file compiled before the load ended: False when compiling it failed (a ``SyntaxError``) or
    ran out of time or memory (a file built to be slow or huge to compile)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits for running one submission.

    Every time limit is decided by what the submission did, measured from outside its process: CPU time, and
    idle time (time it was neither running nor waiting for a CPU). Neither depends on how busy the machine or
    the grader is, so the same file gets the same verdict on a quiet machine and on a loaded one.
    """

    cpu_seconds: float = 2.0
    """CPU time a call may use when the call does not say (``Call.cpu_seconds``)."""
    load_cpu_seconds: float = 2.0
    """CPU time compiling the file and running its top level may take."""
    idle_seconds: float = 0.25
    """Time a call may spend neither running nor waiting for a CPU (asleep, or blocked on a read): correct
    code never idles, so this catches sleeps and blocking reads quickly."""
    total_cpu_seconds: float | None = None
    """CPU time for the whole submission, loads after crashes included; calls past it are ``skipped``. None:
    the sum of every call's allowance plus three loads, which only a module that is slow to load again after
    each crash can reach (a hang costs its own call's allowance, never a later call's)."""
    memory_mb: int = 512
    """Memory the submission may allocate on top of the warm interpreter."""
    max_processes: int = 16
    max_file_mb: int = 16
    max_open_files: int = 64
    output_bytes: int = 4096
    """Captured prints kept per call."""
    max_return_mb: int = 64
    """Largest array accepted back from one call."""
    max_return_bytes: int | None = None
    """Bytes of arrays accepted back from the whole submission, counted while reading; an array past it is
    refused unread. None: no cap beyond ``max_return_mb`` per array. Bounds the grader's memory per grading."""


IsolationLevel = Literal["full", "partial", "minimal"]
"""``full``: every layer of SECURITY.md is in force. ``partial``: the namespaces and the private filesystem view
are (a submission cannot see the grader's files, processes or network) but something else is missing, e.g.
cgroups or a dedicated uid. ``minimal``: no namespaces: rlimits, seccomp and an empty environment only."""

LEVELS: tuple[IsolationLevel, ...] = ("minimal", "partial", "full")
"""Weakest first, so that ``LEVELS.index`` orders them."""

Namespace = Literal["pid", "mount", "net", "ipc", "uts", "user"]


@dataclass(frozen=True)
class SeccompLayer:
    """How system calls are filtered."""

    how: Literal["libseccomp", "bpf", "none"]
    """``libseccomp``: built by libseccomp from syscall names; ``bpf``: the grader's own hand-assembled
    filter; ``none``: no filter."""
    arch: tuple[str, ...] = ()
    """Architectures the filter covers (a call from any other is refused), e.g. ``("x86_64",)``."""


@dataclass(frozen=True)
class CgroupLayer:
    """The cgroups a sandbox is put in."""

    version: int | None = None
    """1 or 2; None when there are none."""
    controllers: tuple[str, ...] = ()
    """What they enforce or measure, e.g. ``("memory", "cpuacct")``."""


@dataclass(frozen=True)
class Isolation:
    """What a submission ran under, layer by layer, and what is missing with the fix for each gap."""

    level: IsolationLevel
    namespaces: tuple[Namespace, ...] = ()
    """Namespaces the sandbox has of its own."""
    filesystem: Literal["pivot_root", "none"] = "none"
    """``pivot_root``: a minimal read-only root holding only what Python and NumPy need; ``none``: the host's
    filesystem, as far as the grader's user can read it."""
    uid: Literal["dedicated", "grader"] = "grader"
    """``dedicated``: an unprivileged uid of the sandbox's own; ``grader``: the grader's own uid."""
    capabilities: Literal["none", "held"] = "none"
    """``none``: the sandbox holds no capability in any namespace; ``held``: it may hold some."""
    seccomp: SeccompLayer = SeccompLayer("none")
    rlimits: tuple[str, ...] = ()
    """The resource limits set, e.g. ``("AS", "NPROC", ...)``."""
    no_new_privs: bool = False
    """Whether ``PR_SET_NO_NEW_PRIVS`` is set (no setuid gain through exec)."""
    cgroups: CgroupLayer = CgroupLayer()
    missing: tuple[str, ...] = ()
    """Each gap, in words, with the exact fix; empty when the level is ``full``."""

    def meets(self, required: IsolationLevel | Literal["any"]) -> bool:
        """Whether this is at least ``required`` (``any`` is met by everything)."""
        return required == "any" or LEVELS.index(self.level) >= LEVELS.index(required)

    def summary(self) -> str:
        """One line for a terminal or a log: the level, the layers in force, then each gap."""
        layers = [f"namespaces({','.join(self.namespaces)})" if self.namespaces else "no namespaces"]
        if self.filesystem != "none":
            layers.append(self.filesystem)
        layers.append("dedicated uid" if self.uid == "dedicated" else "grader's uid")
        if self.seccomp.how != "none":
            layers.append(f"seccomp({self.seccomp.how}: {','.join(self.seccomp.arch)})")
        if self.cgroups.version is not None:
            layers.append(f"cgroups v{self.cgroups.version}({','.join(self.cgroups.controllers)})")
        text = f"isolation {self.level}: {' + '.join(layers)}"
        return text + "".join(f"; missing: {gap}" for gap in self.missing)


@dataclass(frozen=True)
class RunReport:
    """Everything a runner found out about one submission."""

    load: LoadOutcome
    calls: tuple[CallOutcome, ...] = ()
    """One outcome per call (preceded by its forward stage's outcome where the call has a ``forward_key``),
    in order; empty when the module did not load."""
    isolation: Isolation | None = None
    """The isolation that was in force; None from a runner that cannot say (a test double)."""
    warnings: tuple[str, ...] = ()
    """Loud notices for the operator, e.g. that isolation is degraded because the grader is not root."""


class Runner(Protocol):
    """Runs untrusted code somewhere other than the grader's process."""

    def run(self, source: str, filename: str, calls: Sequence[Call], limits: Limits) -> RunReport: ...

    def isolation(self) -> Isolation:
        """What a run would be isolated by, found before any submission code runs (starting the runner if it
        must): so that a deployment can refuse to grade rather than grade with less."""
        ...
