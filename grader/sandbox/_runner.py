"""``SandboxRunner``: runs a submission's calls in a sandbox, restarting it after timeouts and crashes."""

from __future__ import annotations

import contextlib
import fcntl
import os
import platform
import secrets
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import asdict
from functools import partial
from pathlib import Path

from grader.errors import SandboxUnavailable
from grader.runner import (
    Call,
    CallOutcome,
    CallStatus,
    CgroupLayer,
    Isolation,
    Limits,
    LoadOutcome,
    Namespace,
    Returned,
    RunReport,
    SeccompLayer,
    Step,
)
from grader.sandbox._cgroup import SandboxCgroup
from grader.sandbox._constants import CPU_LIMIT_EXIT, HARNESS_FAILED
from grader.sandbox._host import host_uid, namespace_fix
from grader.sandbox._process import (
    MAX_STAGE_OUTPUT,
    LimitExceeded,
    Sandbox,
    SandboxDied,
    SandboxNotStarted,
    Tasks,
    Watch,
    ZygoteLost,
    cpu_seconds_of,
    sample_tasks,
)
from grader.sandbox._protocol import (
    CallReply,
    CompiledReply,
    LoadReply,
    ProtocolError,
    check_call_reply,
    decode_array,
    encode_calls,
    load_request,
    scalar_for,
)
from grader.sandbox._zygote_client import SandboxStartError, Zygote, ZygoteInfo

UID_BASE = 1_990_000
"""Sandboxes run as uids from ``UID_BASE`` up, one per concurrent sandbox on the host, so that
RLIMIT_NPROC (which counts per uid) is a per-sandbox limit."""
_UID_COUNT = 4096
_LEASE_DIR = Path("/run/conv1d-grader/uid-leases")

class _UidLease:
    """A uid no other sandbox on this host is using, held by an flock on a file under /run.

    flock conflicts between separate opens even within one process, so one mechanism covers the
    threads of this grader and any other grader process (a second worker, a benchmark). The kernel
    drops the lock if the holder dies, so a crash never leaks a uid.
    """

    def __init__(self) -> None:
        _LEASE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
        for offset in range(_UID_COUNT):
            fd = os.open(_LEASE_DIR / str(offset), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.uid = UID_BASE + offset
            self.cgroup = SandboxCgroup.create(self.uid)
            if self.cgroup is not None:
                self.cgroup.kill_leftovers()
            self._fd = fd
            return
        raise SandboxStartError(f"all {_UID_COUNT} sandbox uids are in use")

    def release(self) -> None:
        os.close(self._fd)


_SELF_TEST = "def answer(a, b):\n    return a + b\n"
"""What :meth:`SandboxRunner.self_test` runs: the smallest file the harness loads and calls."""


class SandboxRunner:
    """Runs submissions in namespaced, unprivileged, resource-limited processes forked from a warm zygote.

    Safe to share between threads. The zygote starts on first use and is restarted if it dies;
    :meth:`close` (or garbage collection) stops it.
    """

    def __init__(self, zygote: Zygote | None = None) -> None:
        self._zygote = zygote if zygote is not None else Zygote()
        self._finalizer = weakref.finalize(self, self._zygote.close)

    def run(self, source: str, filename: str, calls: Sequence[Call], limits: Limits) -> RunReport:
        """Run ``calls`` against ``source`` loaded as module ``nn``. Whatever the submission does is a
        verdict in the report; only a fault of the machinery itself (the zygote cannot start, a sandbox
        cannot be set up) raises :class:`SandboxStartError`, a :class:`~grader.errors.GraderFault`."""
        info = self._zygote.ensure_started()
        lease = _lease(info)
        uid, cgroup = (lease.uid, lease.cgroup) if lease is not None else (os.getuid(), None)
        try:
            return _Submission(self._zygote, info, uid, cgroup, source, filename, limits, calls).run()
        finally:
            if lease is not None:
                lease.release()

    def isolation(self) -> Isolation:
        """What a run would get now: starts the zygote (a grader fault if it cannot) and looks at a uid's
        cgroups the way a run does, without running anything."""
        info = self._zygote.ensure_started()
        lease = _lease(info)
        try:
            return _isolation(info, lease.cgroup if lease is not None else None)
        finally:
            if lease is not None:
                lease.release()

    def self_test(self) -> Isolation:
        """Start a real sandbox and run a trivial call in it: the isolation it ran under when that worked, a
        :class:`SandboxStartError` (a grader fault) when it did not. For health checks and ``doctor``."""
        call = Call("self-test", "call", (Step("call", "answer", (1, 2), save="size"),))
        report = self.run(_SELF_TEST, "self_test.py", [call], Limits())
        outcome = report.calls[0] if report.calls else None
        answered = outcome is not None and outcome.status == "ok" and outcome.values["size"].scalar == 3
        if report.load.status != "ok" or not answered:
            raise SandboxStartError(f"a sandbox did not run a trivial call: {report.load.detail or report.load.status}")
        assert report.isolation is not None
        return report.isolation

    @property
    def zygote_pid(self) -> int | None:
        """The warm process every sandbox is forked from (for tests and diagnostics)."""
        return self._zygote.pid

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> SandboxRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _lease(info: ZygoteInfo) -> _UidLease | None:
    """A uid of its own for the next sandbox, where there is a uid change at all: as root with namespaces. (In
    a user namespace it keeps the grader's uid; without namespaces there is nothing to change it with.)"""
    return _UidLease() if info.namespaces and not info.user_namespace else None


_RLIMITS = ("AS", "NPROC", "FSIZE", "NOFILE", "CORE", "MEMLOCK", "MSGQUEUE", "CPU")
"""What ``_limit_resources`` in the zygote sets, in every mode."""

_NO_CGROUPS = (
    "a submission's memory is capped per process only (RLIMIT_AS: up to max_processes times memory_mb in all) "
    "and the CPU time of its child processes by the wall limit only"
)


def cgroup_layer(cgroup: SandboxCgroup | None) -> tuple[CgroupLayer, tuple[str, ...]]:
    """The cgroups a run's sandbox is in, and any controller they lack with why. The one place that asks: a
    cgroup object that can ``describe()`` itself (``{"version", "controllers", "missing", "reasons"}``) says;
    today's v1 groups are memory and cpuacct whenever they exist."""
    if cgroup is None:
        return CgroupLayer(), ()
    describe = getattr(cgroup, "describe", None)
    if callable(describe):
        described = describe()
        reasons = described.get("reasons") or {}
        gaps = tuple(
            f"cgroup controller {name} is not in force: {reasons.get(name, 'not available here')}"
            for name in described.get("missing") or ()
        )
        version = described.get("version")
        return CgroupLayer(int(version) if version else None, tuple(described.get("controllers") or ())), gaps
    return CgroupLayer(1, ("memory", "cpuacct")), ()


def _isolation(info: ZygoteInfo, cgroup: SandboxCgroup | None) -> Isolation:
    """What a run under this zygote and these cgroups is isolated by, with each gap and its exact fix."""
    missing: list[str] = []
    seccomp = SeccompLayer(info.seccomp_how, info.seccomp_arch)  # type: ignore[arg-type]
    if seccomp.how == "none":
        missing.append(
            f"no seccomp filter: {info.seccomp_note or 'libseccomp could not be used'}, and the built-in filter is "
            f"for x86_64 only (this machine is {platform.machine()}): install libseccomp2 (apt) and pyseccomp (pip)"
        )
    if not info.namespaces:
        missing.append(
            f"no PID/mount/network/IPC/UTS namespaces and no private filesystem view: {info.reason}, so submissions "
            "can read every file the grader's user can, reach the network and leave daemons behind (no cgroups, no "
            f"uid of their own: RLIMIT_NPROC counts every process of the grader's user): {namespace_fix(info.mode)}"
        )
        return Isolation(
            level="minimal",
            uid="grader",
            capabilities="none" if os.geteuid() != 0 else "held",
            seccomp=seccomp,
            rlimits=_RLIMITS,
            no_new_privs=True,
            missing=tuple(missing),
        )
    namespaces: tuple[Namespace, ...] = ("pid", "mount", "net", "ipc", "uts")
    layer, gaps = cgroup_layer(cgroup)
    if info.user_namespace:
        namespaces = ("user", *namespaces)
        missing.append(
            f"no uid of its own per sandbox: the grader is not root in the host's user namespace, so sandboxes run "
            f"as its uid {os.getuid()} (each in a user namespace of its own, every capability dropped; RLIMIT_NPROC "
            "counts each sandbox's processes in that namespace): run the grader as root for a dedicated uid"
        )
        if host_uid(os.geteuid()) == 0:
            missing.append(
                "no process limit: the grader's uid is the host's root (uid 0 outside its user namespace), which the "
                "kernel never holds to RLIMIT_NPROC, so a fork bomb runs until its CPU time is spent (then dies with "
                "its PID namespace): run the grader as root in the host's user namespace, or as an ordinary user"
            )
        missing.append(
            f"no cgroups: only root can create them here, so {_NO_CGROUPS}: run the grader as root with cgroup v1 "
            "memory and cpuacct mounted writable at /sys/fs/cgroup"
        )
    elif cgroup is None:
        missing.append(
            f"no memory/cpuacct cgroups could be used: {_NO_CGROUPS}: mount the cgroup v1 memory and cpuacct "
            "controllers writable at /sys/fs/cgroup/memory and /sys/fs/cgroup/cpuacct (in a container: "
            "-v /sys/fs/cgroup:/sys/fs/cgroup:rw)"
        )
    missing += gaps
    return Isolation(
        level="partial" if missing else "full",
        namespaces=namespaces,
        filesystem="pivot_root",
        uid="grader" if info.user_namespace else "dedicated",
        capabilities="none",
        seccomp=seccomp,
        rlimits=_RLIMITS,
        no_new_privs=True,
        cgroups=layer,
        missing=tuple(missing),
    )


class _Submission:
    """One ``run()``: a sandbox (replaced after any timeout or crash), the calls, the submission's CPU cap."""

    def __init__(
        self,
        zygote: Zygote,
        info: ZygoteInfo,
        uid: int,
        cgroup: SandboxCgroup | None,
        source: str,
        filename: str,
        limits: Limits,
        calls: Sequence[Call],
    ) -> None:
        self._zygote = zygote
        self._calls = calls
        self._info = info
        self._cgroup = _configured(cgroup, limits)
        self._oom_kills = self._cgroup.oom_kills() if self._cgroup is not None else 0
        self._source = source
        self._filename = filename
        self._limits = limits
        self._encoded = encode_calls(calls, limits)
        cap = limits.total_cpu_seconds
        self._total_cpu = cap if cap is not None else _default_cap(calls, limits)
        cgroups = self._cgroup.procs_files if self._cgroup is not None else []
        request_limits = {**asdict(limits), "total_cpu_seconds": self._total_cpu}
        self._request = {"uid": uid, "limits": request_limits, "cgroups": cgroups}
        self._cpu_base = self._cgroup.cpu_seconds() if self._cgroup is not None else 0.0
        """The group's CPU reading at the start: with cgroups, the cap is this plus the submission's total."""
        self._cpu_spent = 0.0
        """Without cgroups: the CPU of the sandboxes already ended (each process counts from zero)."""
        self._received = 0
        self._sandbox: Sandbox | None = None
        self._grouped = True
        """Whether sandboxes send the replies of consecutive grouped calls together; off for the rest of
        the run once such a group is cut short, so that the calls are then answered (and blamed) one by one."""

    def run(self) -> RunReport:
        isolation = _isolation(self._info, self._cgroup)
        try:
            load = self._start(0)
            outcomes = tuple(self._run_calls()) if load.status == "ok" else ()
        except ZygoteLost as exc:
            raise SandboxUnavailable(f"the grading was cut short: {exc}") from exc
        finally:
            self._stop()
        return RunReport(load=load, calls=outcomes, isolation=isolation)

    def _run_calls(self) -> list[CallOutcome]:
        calls = self._calls
        outcomes: list[CallOutcome] = []
        reload_failure = ""
        index = 0
        while index < len(calls):
            keys = [stage.key for stage in _stages(calls[index])]
            if self._sandbox is None and not reload_failure and self._cap_spent():
                detail = (
                    f"not run: this submission used up its {self._total_cpu:.3g} s of CPU time (every test's "
                    "allowance plus three loads); nn.py's top level runs again after every crash, so keep it quick"
                )
                outcomes.extend(CallOutcome(key, "skipped", detail=detail) for key in keys)
                index += 1
                continue
            if self._sandbox is None and not reload_failure:
                reload = self._start(index)
                if reload.status != "ok":
                    self._stop()
                    if self._cap_spent():
                        continue  # the cap, not the module, stopped it: the calls left are skipped as such
                    # Once is enough: a module that loads only the first time fails every later call alike.
                    reload_failure = f"the module did not load again after a restart: {_load_account(reload)}"
            if reload_failure:
                outcomes.extend(CallOutcome(key, "crashed", detail=reload_failure) for key in keys)
                index += 1
                continue
            done, count = self._collect(index)
            outcomes.extend(done)
            index += count
        return outcomes

    def _start(self, first: int) -> LoadOutcome:
        """Start a fresh sandbox, load the module into it and, if that works, have it run every call from
        ``first`` on: its replies then follow one another with no round trip in between. If the zygote could
        not start one, it is restarted once."""
        for restart in (False, True):
            try:
                return self._try_start(first, restart)
            except SandboxNotStarted:
                self._stop()
        raise SandboxStartError("the zygote did not start a sandbox")

    def _try_start(self, first: int, restart: bool) -> LoadOutcome:
        try:
            self._sandbox = self._zygote.spawn(self._request, self._limits.output_bytes, restart=restart)
        except OSError as exc:
            raise SandboxStartError(f"no sandbox could be started: {exc}") from exc
        sandbox = self._sandbox
        marker = f"\0{secrets.token_hex(16)}\0"
        sandbox.expect_marker(marker.encode())
        watch = self._watch(sandbox, self._limits.load_cpu_seconds)
        compiled = False
        try:
            request = load_request(self._source, self._filename, marker, self._encoded, first, group=self._grouped)
            sandbox.send(request, watch)
            reply = sandbox.recv_reply(watch)
            if isinstance(reply, CompiledReply):
                compiled = True
                reply = sandbox.recv_reply(watch)
            if not isinstance(reply, LoadReply):
                raise ProtocolError(f"expected a load reply, got a {reply.op!r} reply")
        except (LimitExceeded, SandboxDied, ProtocolError) as exc:
            status, detail = self._trouble(exc, "import" if compiled else "compile")
            output = sandbox.take_output()
            self._stop()
            return LoadOutcome(
                status="timeout" if status == "timeout" else "crashed", output=output, detail=detail, compiled=compiled
            )
        failure = reply.failure.to_failure() if reply.failure else None
        return LoadOutcome(
            status=reply.status,
            names=tuple(reply.names),
            failure=failure,
            output=sandbox.take_output(),
            compiled=failure is None or failure.where != "compile",
        )

    def _collect(self, first: int) -> tuple[list[CallOutcome], int]:
        """The outcome of each stage (a call's forward stage where it reports one, then the call) of the calls
        the live sandbox is running from ``first`` on, and how many calls that covers. It stops after a call
        that times out or crashes, which costs the sandbox; the calls after it are left for a fresh one.

        Each stage's limits count from the previous reply's arrival. When replies wait unread, a stage may
        have started before that, so a late reading only ever gives a stage more room, never less; and a
        reply that is in is on time however late it is read."""
        sandbox = self._sandbox
        assert sandbox is not None
        outcomes: list[CallOutcome] = []
        count, at = 0, 0
        stages: tuple[Call, ...] = ()
        started = time.monotonic()
        try:
            for count, index in enumerate(range(first, len(self._calls)), start=1):
                stages = _stages(self._calls[index])
                for at, stage in enumerate(stages):
                    watch = self._watch(sandbox, _allowance(stage, self._limits))
                    reply = check_call_reply(sandbox.recv_reply(watch), stage)
                    values, intact = self._receive_values(sandbox, reply, watch)
                    outcomes.append(
                        CallOutcome(
                            key=stage.key,
                            status=reply.status,
                            values=values,
                            failure=reply.failure.to_failure() if reply.failure else None,
                            output=sandbox.take_output(),
                            seconds=min(reply.seconds, time.monotonic() - started),
                            cpu_seconds=_used(watch),
                        )
                    )
                    if not intact:
                        self._stop()
                        detail = "not run: an earlier value of this call was too large to receive"
                        outcomes += [CallOutcome(s.key, "crashed", detail=detail) for s in stages[at + 1 :]]
                        return outcomes, count
                    started = time.monotonic()
        except (LimitExceeded, SandboxDied, ProtocolError) as exc:
            pending = stages[at:]
            stage = pending[0]
            if self._lost_held_replies(first + count - 1, exc):
                # Replies held for a group were lost with the sandbox, so this call may not be the culprit:
                # run it again, and what follows, one reply at a time.
                self._grouped = False
                self._stop()
                return outcomes, count - 1
            status, detail = self._trouble(exc, stage.where, _allowance(stage, self._limits))
            output = sandbox.take_output()
            self._stop()
            # The stage that was running gets the verdict; a backward stage that never started shares it.
            seconds = time.monotonic() - started
            outcomes += [
                CallOutcome(s.key, status, output=output if s is stage else "", seconds=seconds, detail=detail)
                for s in pending
            ]
            return outcomes, count
        return outcomes, count

    def _lost_held_replies(self, index: int, exc: Exception) -> bool:
        """Whether the sandbox may have been holding this call's reply (and later ones) when it failed: only
        a grouped call followed by another holds its reply, and only a crash or a hang loses it (a spent
        CPU cap is final either way)."""
        following = self._calls[index + 1] if index + 1 < len(self._calls) else None
        return (
            self._grouped
            and self._calls[index].group
            and following is not None
            and following.group
            and not isinstance(exc, ProtocolError)
            and not (isinstance(exc, LimitExceeded) and exc.kind == "cap")
        )

    def _receive_values(self, sandbox: Sandbox, reply: CallReply, watch: Watch) -> tuple[dict[str, Returned], bool]:
        """Decode the reply's values; False if an array was refused unread (the stream is then lost). An array
        is refused when it is over the per-array limit or would take the submission past its total."""
        cap = self._limits.max_return_mb << 20
        total = self._limits.max_return_bytes
        sizes = iter(reply.blobs)
        values: dict[str, Returned] = {}
        intact = True
        for value in reply.values:
            scalar = scalar_for(value.kind, value.scalar)
            if value.array is None:
                values[value.name] = Returned(value.kind, value.type_name, scalar=scalar, note=value.note)
                continue
            size = next(sizes)
            if not intact:
                note = "not received: an earlier value was too large"
                values[value.name] = Returned(value.kind, value.type_name, note=note)
            elif size > cap:
                note = f"declared {size:,} bytes, over the {self._limits.max_return_mb} MiB limit"
                values[value.name] = Returned("too_large", value.type_name, note=note)
                intact = False
            elif total is not None and self._received + size > total:
                note = (
                    f"declared {size:,} bytes, past the {total:,} bytes this submission may return in all "
                    "(a few times the size of the right answers)"
                )
                values[value.name] = Returned("too_large", value.type_name, note=note)
                intact = False
            else:
                self._received += size
                array = decode_array(value.array, sandbox.recv_exact(size, watch))
                values[value.name] = Returned(value.kind, value.type_name, array=array, note=value.note)
        return values, intact

    def _watch(self, sandbox: Sandbox, cpu_limit: float) -> Watch:
        cpu: Callable[[], float | None]
        if self._cgroup is not None:
            cpu, cap = partial(_group_cpu_seconds, sandbox, self._cgroup), self._cpu_base + self._total_cpu
        else:
            cpu, cap = partial(_process_cpu_seconds, sandbox), self._total_cpu - self._cpu_spent
        return Watch(cpu, cpu_limit, partial(_tasks, sandbox, self._cgroup), self._limits.idle_seconds, cap)

    def _cap_spent(self) -> bool:
        if self._cgroup is not None:
            return self._cgroup.cpu_seconds() - self._cpu_base >= self._total_cpu
        return self._cpu_spent >= self._total_cpu

    def _out_of_memory(self) -> bool:
        """Whether the kernel's OOM killer has acted in this sandbox's group since the run began."""
        return self._cgroup is not None and self._cgroup.oom_kills() > self._oom_kills

    def _trouble(self, exc: Exception, phase: str, allowance: float | None = None) -> tuple[CallStatus, str]:
        """Status and the runner's account for a stage that did not produce a reply. The one place that
        decides "the grader's fault" (raised) or "a verdict on the submission" (returned)."""
        if isinstance(exc, LimitExceeded) and exc.kind == "start":
            raise SandboxStartError("the zygote did not start a sandbox in time")
        if isinstance(exc, SandboxDied) and not exc.ready:
            # Setup runs before any submission code, and only it can leave the sandbox not ready.
            raise SandboxStartError(f"the sandbox could not be set up (see the grader's stderr) before {phase}")
        limits = self._limits
        seconds = limits.load_cpu_seconds if allowance is None else allowance
        if isinstance(exc, LimitExceeded):
            account = {
                "cpu": f"used up its {seconds:.3g} s of CPU time",
                "idle": f"sat idle (asleep or blocked) for {limits.idle_seconds:g} s",
                "cap": f"ran out of the submission's {self._total_cpu:.3g} s of CPU time",
                "output": f"printed more than {MAX_STAGE_OUTPUT >> 20} MiB without returning",
            }[exc.kind]
            return "timeout", f"{account} in {phase}"
        if isinstance(exc, SandboxDied):
            signal_name = exc.signal_name
            if signal_name == "SIGKILL" and self._out_of_memory():
                return "crashed", f"killed for going over the {limits.memory_mb} MiB memory limit in {phase}"
            if signal_name is not None:
                return "crashed", f"killed by {signal_name} in {phase}"
            if exc.wait_status is not None and os.WIFEXITED(exc.wait_status):
                code = os.WEXITSTATUS(exc.wait_status)
                if code == HARNESS_FAILED:
                    return "crashed", f"the sandbox's harness failed in {phase}"
                if code == CPU_LIMIT_EXIT:
                    return "timeout", f"used up its {seconds:.3g} s of CPU time in {phase} (RLIMIT_CPU)"
                return "crashed", f"the process exited with status {code} in {phase}"
            return "crashed", f"{exc.how} in {phase}"
        return "crashed", f"the sandbox sent a malformed reply in {phase}: {exc}"

    def _stop(self) -> None:
        if self._sandbox is not None:
            if self._cgroup is None:
                self._cpu_spent += _process_cpu_seconds(self._sandbox) or 0.0
            self._sandbox.close()
            self._sandbox = None


def _allowance(stage: Call, limits: Limits) -> float:
    """The CPU time a stage may use: its own, sized to its case by the engine, or the default."""
    return stage.cpu_seconds if stage.cpu_seconds is not None else limits.cpu_seconds


def _default_cap(calls: Sequence[Call], limits: Limits) -> float:
    """Every stage's allowance plus three loads: hangs alone never reach it (each costs its own allowance)."""
    stages = sum(_allowance(stage, limits) for call in calls for stage in _stages(call))
    return stages + 3 * limits.load_cpu_seconds


def _used(watch: Watch) -> float | None:
    """The CPU a stage used, as far as the grader saw (later calls' CPU may be in it when it read late)."""
    if watch.cpu_start is None:
        return None
    now = watch.cpu()
    return None if now is None else round(max(0.0, now - watch.cpu_start), 6)


def _group_cpu_seconds(sandbox: Sandbox, cgroup: SandboxCgroup) -> float | None:
    """The group's CPU reading once the sandbox is in it (its pid is reported after the zygote put it there)."""
    return cgroup.cpu_seconds() if sandbox.pid is not None else None


def _tasks(sandbox: Sandbox, cgroup: SandboxCgroup | None) -> Tasks | None:
    """Every thread of every process of the sandbox (:func:`sample_tasks`): its group's, or its own process's
    where there is no group. None until the sandbox's pid is known."""
    pid = sandbox.pid
    if pid is None:
        return None
    pids: list[str] = [str(pid)]
    if cgroup is not None:
        with contextlib.suppress(OSError):
            pids = Path(cgroup.procs_files[0]).read_text().split()
    return sample_tasks(int(p) for p in pids)


def _process_cpu_seconds(sandbox: Sandbox) -> float | None:
    """Without cgroups: the CPU time of the sandbox's own process, once the zygote has said which it is."""
    pid = sandbox.pid
    return cpu_seconds_of(pid) if pid is not None else None


def _stages(call: Call) -> tuple[Call, ...]:
    """What a call answers, in order: the first stage it reports under ``forward_key``, then itself."""
    return call.stages()


def _configured(cgroup: SandboxCgroup | None, limits: Limits) -> SandboxCgroup | None:
    """The cgroup with this run's memory limit, or None if the limit cannot be set (e.g. EBUSY)."""
    if cgroup is None:
        return None
    try:
        cgroup.configure(limits)
    except OSError:
        return None
    return cgroup


def _load_account(load: LoadOutcome) -> str:
    if load.failure is not None:
        return f"{load.failure.type}: {load.failure.message}"
    return load.detail or load.status
