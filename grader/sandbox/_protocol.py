"""Grader side of the wire format spoken with ``_harness.py`` inside the sandbox.

A message is a 4-byte big-endian header length, a UTF-8 JSON header and the binary blobs the header
lists. An array is its raw C-order bytes, described in the header by a dtype string and a shape.
Everything that comes back is untrusted: headers are size-capped and validated by strict pydantic
models, a dtype must be a plain bool/int/uint/float type, and the byte count must match the shape.
There is no unpickling anywhere: a raw buffer plus ``np.frombuffer`` cannot carry objects. (``.npy``
was measured at ~25 µs per array each way for its ``ast``-parsed header: a quarter of a call.)
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from grader.runner import Call, Failure, Limits, ValueKind, Where

LENGTH = struct.Struct(">I")
MAX_HEADER_BYTES = 256 * 1024
_MAX_DIMENSION = 1 << 40

VALUE_NAMES: Mapping[str, frozenset[str]] = {
    "output_size": frozenset({"size"}),
    "forward": frozenset({"out"}),
    "backward": frozenset({"dx", "grad_weight", "grad_bias"}),
}


class ProtocolError(Exception):
    """The sandbox sent something that is not a well-formed reply."""


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class WireFailure(_Strict):
    where: Where
    type: Annotated[str, Field(max_length=200)]
    message: Annotated[str, Field(max_length=2100)]
    line: Annotated[int, Field(ge=0)] | None
    traceback: Annotated[str, Field(max_length=8000)]
    module: Annotated[str, Field(max_length=200)] | None

    def to_failure(self) -> Failure:
        return Failure(**self.model_dump())


class WireArray(_Strict):
    dtype: Annotated[str, Field(pattern=r"^[<>|=][biuf](1|2|4|8|16)$")]
    """Only byte order, numeric kind and size: no structured, object, string or complex dtypes."""
    shape: Annotated[list[Annotated[int, Field(ge=0, le=_MAX_DIMENSION)]], Field(max_length=32)]


class WireValue(_Strict):
    name: Literal["size", "out", "dx", "grad_weight", "grad_bias"]
    kind: Literal["ndarray", "ndarray_subclass", "list", "tuple", "int", "float", "bool", "none", "other"]
    type_name: Annotated[str, Field(max_length=300)]
    scalar: bool | int | float | None
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
    key: str
    status: Literal["ok", "error"]
    values: Annotated[list[WireValue], Field(max_length=3)]
    failure: WireFailure | None
    blobs: Annotated[list[Annotated[int, Field(ge=0)]], Field(max_length=3)]
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
                "call": call.op,
                "arrays": specs,
                "layer": list(call.layer) if call.layer is not None else None,
                "sizes": list(call.sizes) if call.sizes is not None else None,
                "forward_key": call.forward_key,
                "cpu": call.cpu_seconds if call.cpu_seconds is not None else limits.cpu_seconds,
                "forward_cpu": call.forward_cpu_seconds if call.forward_cpu_seconds is not None else limits.cpu_seconds,
            }
        )
        blobs.append(tuple(a.tobytes() for a in arrays))
    return EncodedCalls(tuple(headers), tuple(blobs))


def load_request(source: str, filename: str, marker: str, calls: EncodedCalls, first: int, *, group: bool) -> bytes:
    """Compile and load ``source`` as module ``nn``; if that works, run the calls from index ``first`` on. The
    harness writes ``marker`` to its output before each reply. With ``group``, the replies of consecutive
    output-size calls (a single test, each call a trivial one) go out together, in one send."""
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
    (length,) = LENGTH.unpack(data)
    if length > MAX_HEADER_BYTES:
        raise ProtocolError(f"reply header of {length:,} bytes is over the {MAX_HEADER_BYTES:,}-byte cap")
    return int(length)


def parse_reply(data: bytes) -> Reply:
    try:
        return _REPLY.validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProtocolError(f"invalid reply header ({where}: {first['msg']})") from None


def check_call_reply(reply: Reply, call: Call) -> CallReply:
    """The semantic checks a schema cannot express: the right key, the right values, blobs that match."""
    if not isinstance(reply, CallReply):
        raise ProtocolError(f"expected a reply to {call.key!r}, got a {reply.op!r} reply")
    if reply.key != call.key:
        raise ProtocolError(f"reply is for {reply.key[:80]!r}, not {call.key!r}")
    names = [v.name for v in reply.values]
    if len(set(names)) != len(names) or not set(names) <= VALUE_NAMES[call.op]:
        raise ProtocolError(f"unexpected values {names} for a {call.op} call")
    if reply.status == "ok" and set(names) != VALUE_NAMES[call.op]:
        raise ProtocolError(f"values {names} incomplete for a {call.op} call")
    if sum(v.array is not None for v in reply.values) != len(reply.blobs):
        raise ProtocolError("the number of array blobs does not match the values")
    return reply


def decode_array(spec: WireArray, data: bytearray) -> np.ndarray:
    """The array a validated spec and its blob describe (the blob's own buffer: writable, unshared)."""
    dtype = np.dtype(spec.dtype)
    if dtype.kind not in "biuf" or dtype.fields is not None:
        raise ProtocolError(f"dtype {spec.dtype} is not a plain numeric type")
    if math.prod(spec.shape) * dtype.itemsize != len(data):
        raise ProtocolError(f"{len(data):,} bytes do not hold an array of shape {tuple(spec.shape)} and {dtype}")
    return np.frombuffer(data, dtype=dtype).reshape(spec.shape)


def scalar_for(kind: ValueKind, scalar: bool | int | float | None) -> bool | int | float | None:
    """The scalar only when it has the type its kind promises (a lying header gets nothing)."""
    if kind == "bool" and type(scalar) is bool:
        return scalar
    if kind == "int" and type(scalar) is int:
        return scalar
    if kind == "float" and type(scalar) in (int, float):
        return float(scalar)  # type: ignore[arg-type]
    return None
