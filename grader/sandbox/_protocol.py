"""Grader side of the wire format spoken with ``_harness.py`` inside the sandbox.

A message is a 4-byte big-endian header length, a UTF-8 JSON header and the binary blobs the header
lists. An array is its raw C-order bytes, described in the header by a dtype string and a shape.
Everything that comes back is untrusted: headers are size-capped and validated by strict pydantic
models, a dtype must be a plain bool/int/uint/float type, and the byte count must match the shape.
There is no unpickling anywhere: a raw buffer plus ``np.frombuffer`` cannot carry objects. (``.npy``
was measured at ~25 µs per array each way for its ``ast``-parsed header: a quarter of a call.)

Whatever a sandbox sends is a verdict against that call, never a fault of the grader: the decoding
functions here raise :class:`ProtocolError` and nothing else (the runner turns it into a malformed-reply
verdict), and what they return is safe for the scorer (a plain numeric array of bounded shape, a scalar
that converts to a float).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from grader.compare import usable_scalar
from grader.runner import MAX_VALUE_NAME, MAX_VALUES, Call, Failure, Limits, ValueKind

LENGTH = struct.Struct(">I")
MAX_HEADER_BYTES = 256 * 1024
_MAX_ELEMENTS = 1 << 32
"""Cap on every dimension and on the product of the non-zero ones. The byte count already bounds a non-empty
array; this bounds an empty one too, whose zero-length blob matches any shape with a 0 in it (NumPy itself
refuses ``(0, 2**31, 2**31)`` of float64 with a ValueError). 4 Gi elements is far beyond any answer."""
_MAX_BLOB_BYTES = (1 << 63) - 1
"""Declared blob sizes up to ``intp``'s maximum: the harness declares ``nbytes``, which a broadcast view can
make huge, and the runner refuses anything over its own cap from the declaration without reading it."""
_MAX_LINE = (1 << 31) - 1
"""A line number the student reads; no file under the upload cap comes near it."""

_DTYPES = frozenset(
    ["|b1", "|i1", "|u1"] + [f"{order}{kind}{size}" for order in "<>=" for kind in "iuf" for size in (2, 4, 8)]
)
"""Exactly the portable plain dtypes, spelled as ``dtype.str`` spells them: ``|b1``, ``|i1``, ``|u1`` (one
byte, no byte order) and 2-, 4- and 8-byte ints, uints and floats in an explicit (``<``, ``>``) or native
(``=``: the sandbox runs on the grader's host) byte order. No ``f16``: ``np.longdouble`` is x87 80-bit
extended padded to 16 bytes on x86-64 Linux, IEEE binary128 on aarch64 Linux and absent (8 bytes) on
Windows and macOS arm64, where ``np.dtype('<f16')`` raises TypeError; no answer needs it, and a whitelist
must mean the same on every host. ``i16``, ``u16`` and ``b2`` exist nowhere."""


def _known_dtype(dtype: str) -> str:
    # A validator rather than a regex pattern: its message, which the student may read, says what is allowed.
    if dtype not in _DTYPES:
        raise ValueError(f"dtype {dtype!r} is not bool or a 1/2/4/8-byte int, 1/2/4/8-byte uint or 2/4/8-byte float")
    return dtype


class ProtocolError(Exception):
    """The sandbox sent something that is not a well-formed reply."""


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class WireFailure(_Strict):
    where: Annotated[str, Field(max_length=200)]
    """A step's label as the call declared it, or the harness's own (``compile``, ``import``)."""
    type: Annotated[str, Field(max_length=200)]
    message: Annotated[str, Field(max_length=2100)]
    line: Annotated[int, Field(ge=0, le=_MAX_LINE)] | None
    traceback: Annotated[str, Field(max_length=8000)]
    module: Annotated[str, Field(max_length=200)] | None

    def to_failure(self) -> Failure:
        return Failure(**self.model_dump())


class WireArray(_Strict):
    dtype: Annotated[str, Field(max_length=8), AfterValidator(_known_dtype)]
    """Only byte order, numeric kind and size: no structured, object, string, complex or platform-dependent
    dtypes."""
    shape: Annotated[list[Annotated[int, Field(ge=0, le=_MAX_ELEMENTS)]], Field(max_length=32)]
    """At most 32 dimensions (NumPy allows 64), each capped; :func:`decode_array` caps their product."""


class WireValue(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=MAX_VALUE_NAME)]
    """One of the value names the call declared (checked against it in :func:`check_call_reply`)."""
    kind: Literal["ndarray", "ndarray_subclass", "list", "tuple", "int", "float", "bool", "none", "other"]
    type_name: Annotated[str, Field(max_length=300)]
    scalar: bool | int | float | None
    """As JSON carries it: ``1e400``, ``NaN`` and ``Infinity`` parse as floats, ints of up to 4,300 digits as
    ints (longer numbers fail to parse). :func:`scalar_for` keeps only what the scorer can use."""
    note: Annotated[str, Field(max_length=500)]
    array: WireArray | None
    """Present when a blob with the array's bytes follows; blobs come in the order of the values."""


class CompiledReply(_Strict):
    """The file compiled; its top level runs next."""

    op: Literal["compiled"]
    blobs: Annotated[list[int], Field(max_length=0)]


class LoadReply(_Strict):
    op: Literal["load"]
    status: Literal["ok", "error"]
    names: Annotated[list[Annotated[str, Field(max_length=200)]], Field(max_length=500)]
    failure: WireFailure | None
    blobs: Annotated[list[int], Field(max_length=0)]


class CallReply(_Strict):
    op: Literal["call"]
    key: Annotated[str, Field(max_length=200)]
    status: Literal["ok", "error"]
    values: Annotated[list[WireValue], Field(max_length=MAX_VALUES)]
    failure: WireFailure | None
    blobs: Annotated[list[Annotated[int, Field(ge=0, le=_MAX_BLOB_BYTES)]], Field(max_length=MAX_VALUES)]
    seconds: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    """The harness's own timing of the stage: shown to the student, never used for a limit."""


Reply = CompiledReply | LoadReply | CallReply
_REPLY = TypeAdapter[Reply](Annotated[Reply, Field(discriminator="op")])


def frame(header: Mapping[str, Any], blobs: list[bytes]) -> bytes:
    """One request: length-prefixed JSON header declaring the blob sizes, then the blobs."""
    body = json.dumps({**header, "blobs": [len(b) for b in blobs]}).encode()
    return b"".join([LENGTH.pack(len(body)), body, *blobs])


@dataclass(frozen=True)
class EncodedCalls:
    """A run's calls as the load request carries them: one JSON header each and their input arrays' bytes,
    encoded once per grading and reused by every sandbox a restart needs."""

    headers: tuple[dict[str, Any], ...]
    blobs: tuple[tuple[bytes, ...], ...]
    """Per call, its arrays' raw bytes in the order of its header's ``arrays``."""


def encode_calls(calls: Sequence[Call], limits: Limits) -> EncodedCalls:
    """The header and input bytes of every call; only plain numeric arrays are ever sent."""
    headers: list[dict[str, Any]] = []
    blobs: list[tuple[bytes, ...]] = []
    for call in calls:
        names = sorted(call.arrays)
        arrays = [np.ascontiguousarray(call.arrays[name]) for name in names]
        for name, array in zip(names, arrays, strict=True):
            # The raw bytes of an object array are pointers into the grader: never send those.
            if array.dtype.kind not in "biuf" or array.dtype.fields is not None:
                raise ValueError(f"{call.key}: input {name!r} has non-numeric dtype {array.dtype}")
        specs = [{"name": n, "dtype": a.dtype.str, "shape": list(a.shape)} for n, a in zip(names, arrays, strict=True)]
        headers.append(
            {
                "key": call.key,
                "steps": [step.to_wire() for step in call.steps],
                "arrays": specs,
                "forward_key": call.forward_key,
                "group": call.group,
                "cpu": call.cpu_seconds if call.cpu_seconds is not None else limits.cpu_seconds,
                "forward_cpu": call.forward_cpu_seconds if call.forward_cpu_seconds is not None else limits.cpu_seconds,
            }
        )
        blobs.append(tuple(a.tobytes() for a in arrays))
    return EncodedCalls(tuple(headers), tuple(blobs))


def load_request(source: str, filename: str, marker: str, calls: EncodedCalls, first: int, *, group: bool) -> bytes:
    """Compile and load ``source`` as module ``nn``; if that works, run the calls from index ``first`` on. The
    harness writes ``marker`` to its output before each reply. With ``group``, the replies of consecutive
    calls marked :attr:`~grader.runner.Call.group` (trivial calls) go out together, in one send."""
    header = {
        "op": "load",
        "source": source,
        "filename": filename,
        "marker": marker,
        "group": group,
        "calls": list(calls.headers[first:]),
    }
    return frame(header, [blob for blobs in calls.blobs[first:] for blob in blobs])


def parse_header_length(data: bytes) -> int:
    """The length of the header that follows, from the 4 bytes before it; capped before anything is read."""
    try:
        (length,) = LENGTH.unpack(data)
    except struct.error:
        raise ProtocolError(f"a reply's length prefix is 4 bytes, not {len(data)}") from None
    if length > MAX_HEADER_BYTES:
        raise ProtocolError(f"reply header of {length:,} bytes is over the {MAX_HEADER_BYTES:,}-byte cap")
    return int(length)


def parse_reply(data: bytes) -> Reply:
    """The header, validated against the strict schema. The error names the first problem only, truncated:
    a location can hold a key the sandbox made up, and the message reaches the student."""
    try:
        return _REPLY.validate_json(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        first = errors[0] if errors else {"loc": (), "msg": "rejected"}
        where = ".".join(str(p)[:40] for p in first["loc"][:6])[:120]
        raise ProtocolError(f"invalid reply header ({where}: {str(first['msg'])[:200]})") from None


def check_call_reply(reply: Reply, call: Call) -> CallReply:
    """The semantic checks a schema cannot express: the right key, the right values, blobs that match."""
    if not isinstance(reply, CallReply):
        raise ProtocolError(f"expected a reply to {call.key!r}, got a {reply.op!r} reply")
    if reply.key != call.key:
        raise ProtocolError(f"reply is for {reply.key[:80]!r}, not {call.key!r}")
    names = [v.name for v in reply.values]
    declared = set(call.outputs)
    if len(set(names)) != len(names) or not set(names) <= declared:
        raise ProtocolError(f"unexpected values {names} for {call.key!r}")
    if reply.status == "ok" and set(names) != declared:
        raise ProtocolError(f"values {names} incomplete for {call.key!r}")
    if sum(v.array is not None for v in reply.values) != len(reply.blobs):
        raise ProtocolError("the number of array blobs does not match the values")
    return reply


def decode_array(spec: WireArray, data: bytearray) -> np.ndarray:
    """The array a validated spec and its blob describe (the blob's own buffer: writable, unshared).

    Checked again here rather than trusted to the schema alone (a spec may come from ``model_construct``, and
    the cost is a set lookup and a loop over at most 32 numbers): whatever NumPy would refuse (a dtype this
    platform lacks, a shape it cannot make) is a :class:`ProtocolError`, never its TypeError or ValueError.
    """
    if type(spec.dtype) is not str or spec.dtype not in _DTYPES:  # np.dtype(None) would be float64
        raise ProtocolError(f"dtype {str(spec.dtype)[:20]!r} is not one this grader accepts")
    try:
        dtype = np.dtype(spec.dtype)
    except (TypeError, ValueError):  # a whitelisted dtype this NumPy lacks: none today, but not a grader fault
        raise ProtocolError(f"dtype {spec.dtype!r} is not one this NumPy knows") from None
    shape = spec.shape
    if type(shape) is not list or len(shape) > 32 or not all(type(n) is int and 0 <= n <= _MAX_ELEMENTS for n in shape):
        raise ProtocolError(f"shape {_short(shape)} has a dimension over {_MAX_ELEMENTS:,} or is not a shape")
    if math.prod(n for n in shape if n) > _MAX_ELEMENTS:
        raise ProtocolError(f"shape {_short(shape)} has more than {_MAX_ELEMENTS:,} elements")
    if math.prod(shape) * dtype.itemsize != len(data):
        raise ProtocolError(f"{len(data):,} bytes do not hold an array of shape {_short(shape)} and {dtype}")
    try:
        return np.frombuffer(data, dtype=dtype).reshape(shape)
    except (TypeError, ValueError) as exc:  # nothing left should get here; if it does, it is still a reply's fault
        raise ProtocolError(f"shape {_short(shape)} and {dtype} do not make an array: {str(exc)[:120]}") from None


def _short(shape: object) -> str:
    """A shape for an error message, cut short: 32 dimensions of 2**32 are a long line for a student."""
    text = str(tuple(shape)) if isinstance(shape, list) else type(shape).__name__
    return text if len(text) <= 80 else text[:77] + "..."


def scalar_for(kind: ValueKind, scalar: bool | int | float | None) -> bool | int | float | None:
    """The scalar only when it has the type its kind promises and the scorer can use it; None otherwise
    (a lying header gets nothing). Never raises: see :func:`grader.compare.usable_scalar`."""
    return usable_scalar(kind, scalar)
