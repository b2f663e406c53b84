"""Whatever a sandbox sends is a verdict against that call, never a grader fault.

Property-based: arbitrary bytes and arbitrary JSON-ish reply headers (valid-looking structures with random
dtypes, shapes and scalars, and junk in any field) go through the decoding layer, which may raise
``ProtocolError`` and nothing else and must return only values the scorer can use; arbitrary returned values
go through ``grade()``, which must score them without raising or warning. Plain regression tests pin the
red team's reproducers (issue 11 item 2).
"""

from __future__ import annotations

import contextlib
import json
import math
import typing
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import hypothesis.extra.numpy as npst
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from grader import Submission, grade, load_config
from grader.compare import compare_array, scalar_value, usable
from grader.models import Result
from grader.packs.conv1d.cases import build_cases
from grader.report import to_json
from grader.runner import Call, CallOutcome, CallStatus, Failure, Returned, Step, ValueKind
from grader.sandbox._protocol import (
    LENGTH,
    CallReply,
    ProtocolError,
    WireArray,
    check_call_reply,
    decode_array,
    parse_header_length,
    parse_reply,
    scalar_for,
)
from tests.fakes import ScriptedRunner, right_values

DECODER = settings(max_examples=200, deadline=None)
SCORER = settings(
    max_examples=50,
    deadline=None,
    # Arrays of up to 6,000 elements (the largest expected shapes, drawn on purpose so that values get compared)
    # are slow and large to generate by Hypothesis's measure, and that is the point of drawing them.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

HUGE_INTS = (10**400, -(10**400), -(2**70), 2**64, 2**64 - 1, 2**63, -(2**63), -(2**63) - 1, 2**1024, 10**4000)
KINDS: tuple[str, ...] = typing.get_args(ValueKind)
VALUE_NAMES = {"output_size": ("size",), "forward": ("out",), "backward": ("dx", "grad_weight", "grad_bias")}
"""What Conv1d's calls declare (the protocol itself takes whatever a call declares)."""
OPS = tuple(VALUE_NAMES)


def declaring(op: str) -> Call:
    """A call of ``op`` that declares Conv1d's values for it."""
    return Call(key=f"{op}/1", op=op, steps=tuple(Step("call", "f", save=name) for name in VALUE_NAMES[op]))


# --- strategies for what a sandbox may send -------------------------------------------------------------------

numbers = st.one_of(
    st.integers(),
    st.sampled_from(HUGE_INTS),
    st.floats(allow_nan=True, allow_infinity=True),
)
junk = st.recursive(
    st.none() | st.booleans() | numbers | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)

T = typing.TypeVar("T")


def _now_and_then(draw: st.DrawFn, percent: int = 10) -> bool:
    """True about ``percent`` times in a hundred. A window in the middle of the range, not ``== 0``: Hypothesis
    draws a range's ends far more often than their share, and shrinks towards 0, here towards the valid value."""
    return 40 <= draw(st.integers(0, 99)) < 40 + percent


def mostly(valid: st.SearchStrategy[T], invalid: st.SearchStrategy[Any] = junk) -> st.SearchStrategy[Any]:
    """``valid`` about nine times in ten, ``invalid`` otherwise: a reply with a dozen fields is then well-formed
    often enough for the checks behind the schema (``check_call_reply``, ``decode_array``) to be reached."""

    @st.composite
    def pick(draw: st.DrawFn) -> Any:
        return draw(invalid) if _now_and_then(draw) else draw(valid)

    return pick()


WHITELIST = ["|b1", "|i1", "|u1"] + [f"{o}{k}{n}" for o in "<>=" for k in "iuf" for n in (2, 4, 8)]
"""Written out here rather than imported: the test checks the decoder's whitelist, it does not share it."""
dtypes = mostly(
    st.sampled_from(WHITELIST),
    st.sampled_from(["<i16", "<u16", "|b2", "<f16", ">f16", "|f8", "<b1", "<c16", "|O8", "|V8", "<M8[s]", "<U1"])
    | st.builds(
        "".join,
        st.tuples(
            st.sampled_from("<>|=!"),
            st.sampled_from("biufcOSUVMmq?"),
            st.sampled_from(["1", "2", "4", "8", "16", "12", "3", "0", ""]),
        ),
    )
    | st.text(max_size=6)
    | junk,
)
absurd_dimensions = st.sampled_from([2**16, 2**20, 2**31, 2**32, 2**32 + 1, 2**40, 2**63, -1, 10**400])
shapes = mostly(
    st.lists(st.integers(0, 4), max_size=4),
    st.lists(st.integers(0, 3) | absurd_dimensions, max_size=6)  # an empty array with huge dimensions
    | st.lists(st.just(1), min_size=30, max_size=40)
    | junk,
)


def fields_of(strategy: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    """A dict from ``strategy``, now and then with a field dropped or one added."""

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        value = dict(draw(strategy))
        if _now_and_then(draw, 5):
            value.pop(draw(st.sampled_from(sorted(value))), None)
        if _now_and_then(draw, 5):
            value[draw(st.text(max_size=8))] = draw(junk)
        return value

    return mostly(build())


wire_arrays = fields_of(st.fixed_dictionaries({"dtype": dtypes, "shape": shapes}))


def wire_value(name: str) -> st.SearchStrategy[Any]:
    return fields_of(
        st.fixed_dictionaries(
            {
                "name": mostly(st.just(name)),
                "kind": mostly(st.sampled_from(KINDS), st.text(max_size=8) | junk),
                "type_name": mostly(st.text(max_size=20), st.just("x" * 400) | junk),
                # Every number JSON can carry is a valid scalar for the schema: 10**400, NaN, 1e400 (inf) too.
                "scalar": mostly(st.none() | st.booleans() | numbers),
                "note": mostly(st.text(max_size=20), st.just("x" * 600) | junk),
                "array": st.one_of(wire_arrays, st.none()),
            }
        )
    )


failures = fields_of(
    st.fixed_dictionaries(
        {
            "where": mostly(st.sampled_from(["forward", "backward", "runner"]), st.just("nowhere")),
            "type": mostly(st.text(max_size=10)),
            "message": mostly(st.text(max_size=10)),
            "line": mostly(st.none() | st.integers(0, 10**6), st.integers(max_value=-1) | st.sampled_from(HUGE_INTS)),
            "traceback": mostly(st.text(max_size=10)),
            "module": mostly(st.none() | st.text(max_size=10)),
        }
    )
)


def _declared_bytes(spec: Any) -> int | None:
    """The blob size an honest sender would declare for ``spec``, if NumPy knows its dtype."""
    try:
        size = math.prod(spec["shape"]) * np.dtype(spec["dtype"]).itemsize
    except Exception:
        return None
    return size if type(size) is int else None  # math.prod of a list of strings is a string


@st.composite
def call_headers(draw: st.DrawFn) -> tuple[str, Any]:
    """A call reply for an op: its values named for the op (in any order, sometimes one too few or too many)."""
    op = draw(st.sampled_from(OPS))
    names = draw(st.permutations(list(VALUE_NAMES[op])))
    if _now_and_then(draw):
        names = names[1:] if draw(st.booleans()) else [*names, draw(st.sampled_from(["out", "size", "bogus"]))]
    values = [draw(wire_value(n)) for n in names]
    specs = [v.get("array") for v in values if isinstance(v, dict) and v.get("array") is not None]
    honest = [_declared_bytes(spec) for spec in specs]
    blobs = mostly(
        st.just([0 if b is None else b for b in honest]),
        st.lists(st.integers(0, 64) | st.sampled_from([-1, 2**63 - 1, 2**63, 10**400]), max_size=4) | junk,
    )
    header = {
        "op": mostly(st.just("call"), st.just("load") | junk),
        "key": mostly(st.just(f"{op}/1"), st.sampled_from([f"{op}/2", "x" * 300]) | junk),
        "status": mostly(st.sampled_from(["ok", "error"]), st.just("timeout") | junk),
        "values": mostly(st.just(values)),
        "failure": mostly(st.none(), failures),
        "blobs": blobs,
        "seconds": mostly(st.floats(0, 1e6), st.floats(allow_nan=True, allow_infinity=True) | st.just(10**400)),
    }
    return op, draw(fields_of(st.fixed_dictionaries(header)))


load_headers = fields_of(
    st.fixed_dictionaries(
        {
            "op": mostly(st.just("load")),
            "status": mostly(st.sampled_from(["ok", "error"])),
            "names": mostly(st.lists(st.text(max_size=10), max_size=4), st.just(["x" * 300]) | junk),
            "failure": mostly(st.none(), failures),
            "blobs": mostly(st.just([]), st.lists(st.integers(), max_size=2) | junk),
        }
    )
)


# --- what the decoding layer promises -----------------------------------------------------------------------


def assert_usable_scalar(kind: str, scalar: object) -> None:
    """What ``scalar_for`` returns is None or a number whose every use in the scorer works."""
    if scalar is None:
        return
    assert type(scalar) in (bool, int, float)
    float(scalar)  # type: ignore[arg-type]  # no OverflowError
    repr(scalar)  # no ValueError from an over-long int
    assert np.asarray(scalar).dtype.kind in "biuf"
    if kind == "int":
        assert -(2**63) <= scalar <= 2**64 - 1  # type: ignore[operator]


def assert_plain_array(array: np.ndarray, spec: WireArray, blob: bytearray) -> None:
    assert type(array) is np.ndarray
    assert array.dtype.kind in "biuf" and array.dtype.fields is None and array.dtype.itemsize in (1, 2, 4, 8)
    assert array.shape == tuple(spec.shape) and array.ndim <= 32
    assert array.size * array.dtype.itemsize == array.nbytes == len(blob)


@DECODER
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_protocol_errors(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        assert 0 <= parse_header_length(data[:4]) <= 256 * 1024
    with contextlib.suppress(ProtocolError):
        parse_reply(data)


@DECODER
@given(st.binary(max_size=80), st.sampled_from([b'{"op": "call", ', b'{"op": "load", ', b"[", b'{"values": [{']))
def test_json_cut_short_or_spliced_raises_only_protocol_errors(tail: bytes, head: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_reply(head + tail)


@DECODER
@given(load_headers)
def test_any_load_header_parses_or_raises_a_protocol_error(header: Any) -> None:
    try:
        reply = parse_reply(json.dumps(header).encode())
    except ProtocolError:
        return
    assert reply.op == "load" and reply.blobs == []


@DECODER
@given(call_headers(), st.data())
def test_any_call_reply_decodes_to_safe_values_or_raises_a_protocol_error(
    op_header: tuple[str, Any], data: st.DataObject
) -> None:
    op, header = op_header
    raw = json.dumps(header).encode()  # NaN and infinities go out as NaN/Infinity, as Python's json writes them
    try:
        parse_header_length(LENGTH.pack(len(raw)))
        reply = check_call_reply(parse_reply(raw), declaring(op))
    except ProtocolError:
        event("refused")
        return
    event("accepted")
    assert isinstance(reply, CallReply) and reply.key == f"{op}/1"
    assert len(reply.key) <= 200 and all(len(v.type_name) <= 300 and len(v.note) <= 500 for v in reply.values)
    for value in reply.values:
        assert_usable_scalar(value.kind, scalar_for(value.kind, value.scalar))
        if value.array is None:
            continue
        honest = _declared_bytes(value.array.model_dump())
        if honest is not None and honest <= 4096 and not _now_and_then(data.draw, 25):
            blob = bytearray(data.draw(st.binary(min_size=honest, max_size=honest), label="blob"))
        else:
            blob = bytearray(data.draw(st.binary(max_size=64), label="blob"))
        try:
            array = decode_array(value.array, blob)
        except ProtocolError:
            event("array refused")
            continue
        event("array decoded" if array.size else "empty array decoded")
        assert_plain_array(array, value.array, blob)


@DECODER
@given(dtypes, shapes, st.data())
def test_decode_array_takes_any_spec_and_blob(dtype: Any, shape: Any, data: st.DataObject) -> None:
    # Specs the schema would refuse too (model_construct skips it): decode_array checks again on its own.
    spec = WireArray.model_construct(dtype=dtype, shape=shape)
    honest = _declared_bytes({"dtype": dtype, "shape": shape})
    if honest is not None and 0 <= honest <= 4096 and not _now_and_then(data.draw, 25):
        blob = bytearray(data.draw(st.binary(min_size=honest, max_size=honest), label="blob"))
    else:
        blob = bytearray(data.draw(st.binary(max_size=64), label="blob"))
    try:
        array = decode_array(spec, blob)
    except ProtocolError:
        event("refused")
        return
    event("decoded" if array.size else "empty array decoded")
    assert_plain_array(array, spec, blob)


@DECODER
@given(st.sampled_from([k for k in KINDS]), st.none() | st.booleans() | numbers | st.text(max_size=5) | junk)
def test_scalar_for_never_raises_and_gives_only_usable_numbers(kind: ValueKind, scalar: Any) -> None:
    assert_usable_scalar(kind, scalar_for(kind, scalar))


# --- the red team's reproducers ---------------------------------------------------------------------------------


def call_reply(values: list[dict[str, Any]], blobs: list[int], key: str = "forward/1") -> bytes:
    header = {"op": "call", "key": key, "status": "ok", "values": values, "failure": None, "blobs": blobs}
    return json.dumps({**header, "seconds": 0.01}).encode()


def out_value(**fields: Any) -> dict[str, Any]:
    base = {"name": "out", "kind": "ndarray", "type_name": "numpy.ndarray", "scalar": None, "note": "", "array": None}
    return base | fields


@pytest.mark.parametrize("dtype", ["<i16", "<u16", "|b2", "<f16", ">f16", "|f8", "<c16", "|O8", "<b1", "<i3"])
def test_a_dtype_outside_the_whitelist_is_a_protocol_error(dtype: str) -> None:
    raw = call_reply([out_value(array={"dtype": dtype, "shape": [2]})], [32])
    with pytest.raises(ProtocolError, match="dtype"):
        parse_reply(raw)


@pytest.mark.parametrize("dtype", ["|b1", "|i1", "|u1", "<i2", ">u4", "=i8", "<f2", ">f4", "=f8", "<u8"])
def test_every_portable_dtype_decodes(dtype: str) -> None:
    reply = parse_reply(
        call_reply([out_value(array={"dtype": dtype, "shape": [2, 2]})], [4 * np.dtype(dtype).itemsize])
    )
    assert isinstance(reply, CallReply)
    spec = reply.values[0].array
    assert spec is not None
    array = decode_array(spec, bytearray(4 * np.dtype(dtype).itemsize))
    assert array.shape == (2, 2) and array.dtype == np.dtype(dtype)


def test_a_dtype_this_numpy_lacks_is_a_protocol_error_even_past_the_schema() -> None:
    # model_construct skips validation: decode_array still says ProtocolError, not NumPy's TypeError.
    for dtype in ("<i16", "<f16", "|b2", "<c8"):
        with pytest.raises(ProtocolError, match="dtype"):
            decode_array(WireArray.model_construct(dtype=dtype, shape=[1]), bytearray(16))


@pytest.mark.parametrize("kind", ["int", "float"])
@pytest.mark.parametrize("scalar", [10**400, -(10**400)], ids=["1e400", "-1e400"])
def test_a_scalar_of_ten_to_the_400_is_dropped_not_raised(kind: ValueKind, scalar: int) -> None:
    reply = parse_reply(call_reply([out_value(name="size", kind=kind, scalar=scalar)], [], key="output_size/0"))
    assert isinstance(reply, CallReply)
    value = reply.values[0]
    assert scalar_for(value.kind, value.scalar) is None
    assert scalar_value(Returned(kind, "builtins.int", scalar=scalar)) is None


@pytest.mark.parametrize(
    ("token", "expected"), [("1e400", math.inf), ("-1e400", -math.inf), ("Infinity", math.inf), ("NaN", math.nan)]
)
def test_json_infinities_and_nan_come_through_as_floats(token: str, expected: float) -> None:
    # pydantic's strict mode reads 1e400 as inf and accepts NaN/Infinity: a submission may return them.
    raw = call_reply([out_value(name="size", kind="float", scalar=0.5)], [], key="output_size/0")
    reply = parse_reply(raw.replace(b"0.5", token.encode()))
    assert isinstance(reply, CallReply)
    got = scalar_for("float", reply.values[0].scalar)
    assert type(got) is float and (got == expected or (math.isnan(got) and math.isnan(expected)))


def test_an_int_too_long_for_python_to_print_is_a_protocol_error() -> None:
    raw = call_reply([out_value(name="size", kind="int", scalar=7)], [], key="output_size/0")
    with pytest.raises(ProtocolError):
        parse_reply(raw.replace(b"7", b"9" * 5000, 1))


@pytest.mark.parametrize(
    "shape",
    [[0, 2**40, 2**40, 2**40], [0, 2**32 + 1], [2**63, 0], [0, 2**31, 2**31], [0, 2**20, 2**20, 2**20], [1] * 33],
)
def test_an_empty_array_with_an_absurd_shape_is_a_protocol_error(shape: list[int]) -> None:
    raw = call_reply([out_value(array={"dtype": "<f8", "shape": shape})], [0])
    try:
        reply = parse_reply(raw)
    except ProtocolError:
        pass  # a dimension over the cap, or too many dimensions: the schema refuses it
    else:
        assert isinstance(reply, CallReply)
        spec = reply.values[0].array
        assert spec is not None
        with pytest.raises(ProtocolError, match="elements"):
            decode_array(spec, bytearray())
    with pytest.raises(ProtocolError):
        decode_array(WireArray.model_construct(dtype="<f8", shape=shape), bytearray())


def test_an_empty_array_with_a_sane_shape_decodes() -> None:
    array = decode_array(WireArray(dtype="<f8", shape=[0, 3, 1000]), bytearray())
    assert array.shape == (0, 3, 1000) and array.size == 0


def test_a_short_length_prefix_and_a_made_up_key_are_protocol_errors_with_bounded_messages() -> None:
    with pytest.raises(ProtocolError):
        parse_header_length(b"\x00\x01")
    with pytest.raises(ProtocolError) as raised:
        parse_reply(json.dumps({"op": "call", "k" * 100_000: 1}).encode())
    assert len(str(raised.value)) < 400


# --- the scorer takes anything ------------------------------------------------------------------------------------

CONFIG = load_config()
CASES = build_cases(0)  # hidden cases are drawn per file, but their shapes are fixed
EXPECTED_SHAPES = sorted(
    {c.expected_forward().shape for c in CASES.forward}
    | {v.shape for c in CASES.backward for v in c.expected_backward().values()}
)
SOURCE = b"import numpy as np\n# the scripted runner never executes this\n"

numeric_dtypes = st.one_of(
    npst.boolean_dtypes(),
    npst.integer_dtypes(endianness="?"),
    npst.unsigned_integer_dtypes(endianness="?"),
    npst.floating_dtypes(endianness="?", sizes=(16, 32, 64)),
    st.just(np.dtype(np.longdouble)),
)
odd_dtypes = st.one_of(npst.complex_number_dtypes(), npst.unicode_string_dtypes(max_len=3), npst.datetime64_dtypes())
array_shapes = st.one_of(
    st.sampled_from(EXPECTED_SHAPES),
    npst.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=3),
    npst.array_shapes(min_dims=8, max_dims=32, min_side=1, max_side=1),
)
returned_arrays = npst.arrays(st.one_of(numeric_dtypes, numeric_dtypes, odd_dtypes), array_shapes)
scalars = st.one_of(st.none(), st.booleans(), st.sampled_from(HUGE_INTS), st.integers(), st.floats())
returned_values = st.builds(
    Returned,
    kind=st.sampled_from(KINDS),
    type_name=st.text(max_size=20),
    array=st.none() | returned_arrays,
    scalar=scalars,
    note=st.text(max_size=20),
)
statuses: st.SearchStrategy[CallStatus] = mostly(
    st.just("ok"), st.sampled_from(["error", "timeout", "crashed", "skipped"])
)
failures_returned = st.none() | st.builds(
    Failure,
    where=st.sampled_from(["forward", "backward", "get_conv1d_output_size"]),
    type=st.text(max_size=8),
    message=st.text(max_size=8),
    line=st.none() | st.integers(0, 10**6),
)
same_values = st.fixed_dictionaries(
    {name: returned_values for name in ("size", "out", "dx", "grad_weight", "grad_bias")}
)
"""The same value for every call that asks for that name."""
spiked = st.tuples(
    numeric_dtypes,
    st.sampled_from([1.0, -1.0, 1e300, 1e-300, 3.0]),
    st.sampled_from(
        [np.nan, np.inf, -np.inf, 1e308, -1e308, 2.0**64, -(2.0**63), 1e-308, 0.0, 65504.0, np.longdouble("1e4000")]
    ),
    st.sampled_from(KINDS),
)
"""Each call's right values cast to a dtype after scaling, the first element replaced by an extreme, under a
kind: shapes that match, so that the values themselves are compared and the hints try their variants."""


def responder(
    values: dict[str, Returned] | tuple[np.dtype, float, float, ValueKind], status: CallStatus, failure: Failure | None
) -> Callable[[Call], CallOutcome]:
    def respond(call: Call) -> CallOutcome:
        if isinstance(values, dict):
            chosen = {name: values[name] for name in VALUE_NAMES[call.op]}
        else:
            chosen = {name: spike(right, *values) for name, right in right_values(call).items()}
        return CallOutcome(key=call.key, status=status, values=chosen, failure=failure)

    return respond


def spike(right: Returned, dtype: np.dtype, scale: float, extreme: float, kind: ValueKind) -> Returned:
    if right.array is None:
        return right
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the test's own casts overflow on purpose
        array = (right.array * scale).astype(dtype)
        if array.size:
            array.flat[0] = np.asarray(extreme).astype(dtype)
    return replace(right, kind=kind, array=array)


@SCORER
@given(st.one_of(same_values, spiked), statuses, failures_returned)
# Hypothesis's own notice that an example of thousands of elements has a long repr: not the grader's warning.
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
def test_grade_scores_any_returned_values_without_raising_or_warning(
    values: dict[str, Returned] | tuple[np.dtype, float, float, ValueKind], status: CallStatus, failure: Failure | None
) -> None:
    runner = ScriptedRunner(respond=responder(values, status, failure))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would reach the grader's console: fail on it instead
        result = grade(Submission("student", SOURCE), CONFIG, runner=runner)
    assert isinstance(result, Result) and result.status == "graded"
    for test in result.tests():
        assert 0 <= test.score <= test.max_score, test
    assert 0 <= result.score <= result.max_score
    json.loads(to_json(result, public=False))  # and it reports: NaN or inf in diagnostics do not break the JSON


@SCORER
@given(returned_values, st.sampled_from(EXPECTED_SHAPES))
def test_compare_array_takes_any_value(returned: Returned, shape: tuple[int, ...]) -> None:
    expected = np.linspace(-2.0, 2.0, math.prod(shape)).reshape(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        comparison = compare_array(returned, expected, 1e-6, 1e-8)
        kept = usable(returned)
    assert comparison.verdict in ("match", "type", "shape", "values")
    assert kept.array is None or (type(kept.array) is np.ndarray and kept.array.dtype.kind in "biuf")
    assert_usable_scalar(kept.kind, kept.scalar)
