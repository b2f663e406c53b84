"""The code that runs inside a sandbox: loads the submission as ``nn`` and answers the grader's calls.

This module is imported by file path in the zygote and must only use the standard library and NumPy:
importing anything from the ``grader`` package would put the grader's secrets into a process that runs
untrusted code. It trusts nothing the submission does and is trusted by no one: the grader validates
every reply, so a submission that tampers with this module can at worst break its own results.

Wire format (both directions): a 4-byte big-endian header length, a UTF-8 JSON header, then the binary
blobs the header declares, in order. An array is its raw C-order bytes, described in the header by a
dtype string and a shape (never a pickle, never an object dtype). The grader-side twin of this format
is ``grader.sandbox._protocol``.

The one request a sandbox gets carries what it needs: the source, and the calls to run on it with their
inputs (each call its own copy, so writing into an input changes no later call). The replies follow one
another without waiting for the grader; a marker written to the output before each reply tells the grader
which printed text belongs to which reply. The zygote holds no inputs: a sandbox sees the inputs of its own
submission's grading, drawn for that submission alone, and nothing of anyone else's.
"""

from __future__ import annotations

import contextlib
import json
import linecache
import math
import os
import resource
import socket
import struct
import sys
import time
import traceback
import types
from collections.abc import Callable
from typing import Any, Literal, cast

import numpy as np

# Captured at import, before any submission runs, so that rebinding these names in numpy, json or
# builtins changes nothing here (the submission can still break this process; it cannot fool the grader).
_ndarray = np.ndarray
_asarray = np.asarray
_np_bool = np.bool_
_np_integer = np.integer
_np_floating = np.floating
_float64 = np.float64
_dumps = json.dumps
_loads = json.loads
_frombuffer = np.frombuffer
_write = os.write
_clock = time.perf_counter

_LENGTH = struct.Struct(">I")
_NUMERIC_KINDS = "biuf"
_MESSAGE_CHARS = 2000
_TRACEBACK_CHARS = 6000
_TYPE_NAME_CHARS = 200
_MAX_NAMES = 200
_CHUNK_BYTES = 16 << 20
_ONE_SEND_BYTES = 1 << 20
_HOLD_SECONDS = 0.005
"""Only the reply of a call quicker than this waits for the next one: a slow call's reply goes out at once."""
_COMPILED = (lambda body: _LENGTH.pack(len(body)) + body)(_dumps({"op": "compiled", "blobs": []}).encode())
"""The notice sent once the file has compiled, before its top level runs."""
_INT64_MIN = -(1 << 63)
_UINT64_MAX = (1 << 64) - 1


class _Phase:
    """Which part of the submission is running, so a failure says where it happened."""

    def __init__(self) -> None:
        self.where = "import"
        self.forward_reported = False
        """Whether a combined call's forward stage has had its own reply."""


def _recv_exact(sock: socket.socket, size: int) -> bytearray:
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            raise EOFError
        got += n
    return buf


def _recv_message(sock: socket.socket) -> tuple[dict[str, Any], list[bytearray]]:
    (length,) = _LENGTH.unpack(_recv_exact(sock, _LENGTH.size))
    header = _loads(_recv_exact(sock, length))
    return header, [_recv_exact(sock, size) for size in header["blobs"]]


PlannedCall = tuple[dict[str, Any], dict[str, np.ndarray]]
"""A call's header and its input arrays."""


def decode_calls(header: dict[str, Any], blobs: list[bytearray]) -> list[PlannedCall]:
    """The calls of a load request (``_protocol.load_request``) with their inputs, one blob per array. The
    request comes from the grader; each array is a view of its own blob, so no two calls share an input."""
    sizes = iter(blobs)
    plan = []
    for call in header["calls"]:
        arrays = {}
        for spec in call["arrays"]:
            count = math.prod(spec["shape"])
            arrays[spec["name"]] = _frombuffer(next(sizes), spec["dtype"], count).reshape(spec["shape"])
        plan.append((call, arrays))
    return plan


def _safe_str(obj: object, limit: int) -> str:
    """``str(obj)`` that survives hostile ``__str__`` methods and enormous messages."""
    try:
        text = str(obj)
    except BaseException:
        text = f"<unprintable {_type_name(type(obj))}>"
    if not isinstance(text, str):
        return "<__str__ did not return a str>"
    return text if len(text) <= limit else text[:limit] + " [...]"


def _type_name(cls: type) -> str:
    try:
        module = cls.__module__
        name = cls.__qualname__
        text = f"{module}.{name}" if isinstance(module, str) and isinstance(name, str) else "<unnamed type>"
    except BaseException:
        text = "<unnamed type>"
    return text[:_TYPE_NAME_CHARS]


def _failure(where: str, exc: BaseException, filename: str) -> dict[str, Any]:
    """Describe an exception from the submission, keeping only frames from the submission's own file."""
    try:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    except BaseException:
        frames = []
    line = frames[-1].lineno if frames else None
    if line is None and isinstance(exc, SyntaxError) and exc.filename == filename:
        line = exc.lineno if isinstance(exc.lineno, int) else None
    try:
        text = "".join(traceback.format_list(frames)) + "".join(traceback.format_exception_only(exc))
    except BaseException:
        text = f"{_type_name(type(exc))}: {_safe_str(exc, _MESSAGE_CHARS)}\n"
    if frames:
        text = "Traceback (most recent call last):\n" + text
    module = None
    if isinstance(exc, ImportError) and isinstance(exc.name, str):
        module = exc.name[:_TYPE_NAME_CHARS]
    try:
        type_name = type(exc).__name__[:_TYPE_NAME_CHARS]
    except BaseException:
        type_name = "<unnamed exception>"
    message = _safe_str(exc, _MESSAGE_CHARS)
    if isinstance(exc, SyntaxError) and isinstance(exc.msg, str):
        message = exc.msg[:_MESSAGE_CHARS]  # without the "(nn.py, line N)" that str() adds
    return {
        "where": where,
        "type": type_name,
        "message": message,
        "line": line,
        "traceback": text[-_TRACEBACK_CHARS:],
        "module": module,
    }


def _numeric_or_note(array: np.ndarray) -> tuple[np.ndarray | None, str]:
    dtype = array.dtype
    # Up to 8 bytes: the grader reads only the portable dtypes (longdouble differs from machine to machine).
    if dtype.kind in _NUMERIC_KINDS and dtype.fields is None and dtype.subdtype is None and dtype.itemsize <= 8:
        return array, ""
    if dtype.kind == "f" and dtype.fields is None and dtype.subdtype is None:
        # np.longdouble: a float like any other to the course's np.allclose, so computing in it must not cost
        # a point. Sent as float64, converted here at the submission's expense, never in the grader.
        return _ndarray.astype(array, _float64), ""
    refused = _safe_str(dtype, 80)
    return None, f"dtype {refused} refused: only bool, int, uint and float arrays of up to 64 bits come back"


def _describe(name: str, value: object) -> tuple[dict[str, Any], np.ndarray | None]:
    """The wire description of one returned value and the plain array to send with it, if any."""
    cls = type(value)
    entry: dict[str, Any] = {"name": name, "type_name": _type_name(cls), "scalar": None, "note": ""}
    array: np.ndarray | None = None
    if cls is _ndarray:
        entry["kind"] = "ndarray"
        array, entry["note"] = _numeric_or_note(value)  # type: ignore[arg-type]
    elif isinstance(value, _ndarray):
        # An unbound view drops every override the subclass has (dtype properties, __array_finalize__).
        entry["kind"] = "ndarray_subclass"
        array, entry["note"] = _numeric_or_note(_ndarray.view(value, _ndarray))
    elif isinstance(value, list | tuple):
        entry["kind"] = "list" if isinstance(value, list) else "tuple"
        try:
            converted = _asarray(value)
        except BaseException as exc:
            entry["note"] = f"np.asarray failed: {_safe_str(exc, 200)}"
        else:
            if type(converted) is _ndarray:
                array, entry["note"] = _numeric_or_note(converted)
            else:
                entry["note"] = "np.asarray did not return a plain ndarray"
    elif isinstance(value, bool | _np_bool):
        entry["kind"], entry["scalar"] = "bool", bool(value)
    elif isinstance(value, int | _np_integer):
        entry["kind"] = "int"
        number = int(value)
        if _INT64_MIN <= number <= _UINT64_MAX:
            entry["scalar"] = number
        else:
            entry["note"] = "integer outside the 64-bit range"
    elif isinstance(value, float | _np_floating):
        entry["kind"], entry["scalar"] = "float", float(value)
    elif value is None:
        entry["kind"] = "none"
    else:
        entry["kind"] = "other"
    return entry, array


def _send_array(sock: socket.socket, array: np.ndarray) -> None:
    """Stream the raw bytes in C order without building them in memory: a broadcast view may be huge."""
    if array.flags.c_contiguous:
        sock.sendall(array.reshape(-1).data.cast("B"))
        return
    buffersize = max(_CHUNK_BYTES // max(array.itemsize, 1), 1)
    flags: list[Literal["external_loop", "buffered", "zerosize_ok"]] = ["external_loop", "buffered", "zerosize_ok"]
    for chunk in np.nditer(array, flags=flags, buffersize=buffersize, order="C"):
        # With external_loop each item is one 1-d chunk, not the tuple NumPy's stubs describe.
        sock.sendall(cast(np.ndarray, chunk).tobytes("C"))


def _frame(header: dict[str, Any], arrays: list[np.ndarray]) -> bytes | None:
    """A reply as one piece of bytes, or None if its arrays are too large to copy (they are streamed)."""
    header["blobs"] = [a.nbytes for a in arrays]
    if sum(header["blobs"]) > _ONE_SEND_BYTES:
        return None
    body = _dumps(header).encode()
    return b"".join([_LENGTH.pack(len(body)), body, *(a.tobytes("C") for a in arrays)])


def _stream_reply(sock: socket.socket, header: dict[str, Any], arrays: list[np.ndarray]) -> None:
    """A reply whose arrays are too large to copy into one piece: the header, then each array streamed."""
    body = _dumps(header).encode()
    sock.sendall(_LENGTH.pack(len(body)) + body)
    for array in arrays:
        _send_array(sock, array)


class Harness:
    """Runs the submission's module and answers one request at a time over ``sock``."""

    def __init__(self, sock: socket.socket, cpu_seconds: float, load_cpu_seconds: float) -> None:
        self._sock = sock
        self._cpu_seconds = cpu_seconds
        """A call's CPU allowance when the call does not carry its own."""
        self._load_cpu_seconds = load_cpu_seconds
        self._module: types.ModuleType | None = None
        self._filename = "nn.py"
        self._streams = (sys.stdout, sys.stderr)
        self._marker = b""
        self._held: list[bytes] = []
        """Replies waiting to be sent with the next one."""
        self._started = _clock()

    def serve(self) -> None:
        """Load the module and run the calls the load request carries (one reply per stage, without waiting for
        the grader in between). A sandbox serves one request: returning ends it, so its teardown overlaps
        the grader's reading of the last replies instead of waiting for the grader to ask for it."""
        try:
            header, blobs = _recv_message(self._sock)
        except EOFError:
            return
        self._marker = header["marker"].encode()
        plan = decode_calls(header, blobs)
        reply = self._load(header["source"], header["filename"])
        self._answer(reply, [])
        if reply["status"] != "ok":
            return
        for position, (call, inputs) in enumerate(plan):
            reply, arrays = self._call(call, inputs)
            following = plan[position + 1][0] if position + 1 < len(plan) else None
            hold = (
                header.get("group", False)
                and call.get("group", False)
                and reply["seconds"] < _HOLD_SECONDS
                and following is not None
                and following.get("group", False)
            )
            self._answer(reply, arrays, hold=hold)

    def _answer(self, reply: dict[str, Any], arrays: list[np.ndarray], *, hold: bool = False) -> None:
        """Send a reply, after marking in the output stream where this reply's printed text ends.

        With ``hold``, a small reply waits to go out in one send with the next: the grader, which asked for
        grouping, re-runs a group one reply at a time if it is cut short (a crash or hang loses what was held).
        """
        self._flush()
        with contextlib.suppress(BaseException):
            _write(1, self._marker)
        framed = _frame(reply, arrays)
        if framed is not None and hold:
            self._held.append(framed)
            return
        # One send for what is held and this reply, so the grader wakes once rather than once per piece.
        pending = b"".join([*self._held, framed or b""])
        self._held.clear()
        if pending:
            self._sock.sendall(pending)
        if framed is None:
            _stream_reply(self._sock, reply, arrays)

    def _flush(self) -> None:
        for stream in (*self._streams, sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()

    def _arm_cpu_limit(self, allowance: float | None) -> None:
        """Backstop for the grader's own CPU watch: SIGXCPU shortly after this stage's allowance."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        seconds = self._cpu_seconds if allowance is None else allowance
        soft = math.ceil(usage.ru_utime + usage.ru_stime + seconds) + 1
        current, hard = resource.getrlimit(resource.RLIMIT_CPU)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        if soft != current:  # quick calls leave it where it was: no system call for them
            resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))

    def _load(self, source: str, filename: str) -> dict[str, Any]:
        """Compile the file, say so, then run its top level. Compiling happens here, in the sandbox, under its
        limits: a file built to be slow or huge to compile costs its own sandbox, never the grader."""
        self._filename = filename
        module = types.ModuleType("nn")
        module.__file__ = filename
        sys.modules["nn"] = module
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        self._module = module
        reply: dict[str, Any] = {"op": "load", "status": "ok", "failure": None}
        self._arm_cpu_limit(self._load_cpu_seconds)
        try:
            code = compile(source, filename, "exec", dont_inherit=True)
        except BaseException as exc:  # SyntaxError, or nesting too deep for the parser (MemoryError, ...)
            reply["status"], reply["failure"], reply["names"] = "error", _failure("compile", exc, filename), []
            return reply
        # The grader learns the file compiled, so that a load cut short from here on is blamed on the top level.
        self._sock.sendall(_COMPILED)
        try:
            exec(code, module.__dict__)
        except BaseException as exc:
            reply["status"], reply["failure"] = "error", _failure("import", exc, filename)
        reply["names"] = self._names(module)
        return reply

    @staticmethod
    def _names(module: types.ModuleType) -> list[str]:
        names = []
        for name, obj in list(vars(module).items()):
            try:
                # Defined here, not imported (``from numpy import *`` would drown the real names).
                if isinstance(obj, type | types.FunctionType) and obj.__module__ == "nn":
                    names.append(str(name)[:_TYPE_NAME_CHARS])
            except BaseException:
                continue
        return names[:_MAX_NAMES]

    def _call(self, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> tuple[dict[str, Any], list[np.ndarray]]:
        phase = _Phase()
        forward_key = header.get("forward_key")
        values: dict[str, object] = {}
        failure = None
        self._started = _clock()
        self._arm_cpu_limit(header.get("forward_cpu") if forward_key is not None else header.get("cpu"))
        try:
            values = self._invoke(header, arrays, phase)
        except BaseException as exc:
            failure = _failure(phase.where, exc, self._filename)
            if forward_key is not None and not phase.forward_reported:
                # The forward stage failed: its own reply first, then the call's (backward never ran).
                self._send(forward_key, {}, failure)
        return self._reply(header["key"], values, failure)

    def _send(self, key: str, values: dict[str, object], failure: dict[str, Any] | None) -> None:
        self._answer(*self._reply(key, values, failure))

    def _reply(
        self, key: str, values: dict[str, object], failure: dict[str, Any] | None
    ) -> tuple[dict[str, Any], list[np.ndarray]]:
        reply: dict[str, Any] = {"op": "call", "key": key, "status": "ok" if failure is None else "error"}
        reply["failure"] = failure
        # Informational only (the time a test shows); the grader's limits are measured from outside.
        reply["seconds"] = max(0.0, _clock() - self._started)
        entries, payload = [], []
        for name, value in values.items():
            try:
                entry, array = _describe(name, value)
            except BaseException:
                # e.g. an object whose __class__ property lies to isinstance
                entry, array = (
                    {
                        "name": name,
                        "kind": "other",
                        "type_name": "<uninspectable>",
                        "scalar": None,
                        "note": "the value could not be inspected",
                    },
                    None,
                )
            entry["array"] = None
            if array is not None:
                payload.append(array)
                entry["array"] = {"dtype": array.dtype.str, "shape": list(array.shape)}
            entries.append(entry)
        reply["values"] = entries
        return reply, payload

    def _invoke(self, header: dict[str, Any], arrays: dict[str, np.ndarray], phase: _Phase) -> dict[str, object]:
        """Run the call's steps (``grader.runner.Step``, as JSON): the program the grader declared, the only
        thing that says which names of the module are called and how. Nothing here knows an assignment."""
        module: Any = self._module
        target: Any = None
        values: dict[str, object] = {}
        for step in header["steps"]:
            action, name = step["action"], step["name"]
            if step.get("where") is not None:
                phase.where = step["where"]
            if action == "report":
                # The first stage's own reply, before the rest can hang or crash; a fresh CPU allowance after it.
                self._send(header["forward_key"], values, None)
                phase.forward_reported = True
                values = {}
                self._started = _clock()
                self._arm_cpu_limit(header.get("cpu"))
                continue
            args = [arrays[a["input"]] if "input" in a else a["value"] for a in step["args"]]
            result: object = None
            if action == "call":
                function: Callable[..., object] = getattr(module, name)
                result = function(*args)
            elif action == "new":
                target = result = getattr(module, name)(*args)
            elif action == "set":
                setattr(target, name, args[0])
            elif action == "method":
                result = getattr(target, name)(*args)
            elif action == "get":
                result = getattr(target, name)
            else:
                raise ValueError(f"unknown step {action!r}")  # a grader bug: blamed on the step, seen in tests
            if step.get("save") is not None:
                values[step["save"]] = result
        return values
