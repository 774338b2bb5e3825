"""ZCL data-type codec: known encodings, range checks, round trips and
decoder robustness (ZCL rev 6 §2.6.2)."""
import struct

import pytest
from hypothesis import given, settings, strategies as st

from firmware.zcl import types as T
from firmware.zcl.status import DecodeError, MALFORMED_COMMAND


def enc(t, v):
    buf = bytearray(300)
    n = T.encode(t, v, buf, 0)
    return bytes(buf[:n])


def dec(t, data):
    v, off = T.decode(t, data, 0)
    assert off == len(data)
    return v


@pytest.mark.parametrize("t,v,wire", [
    (T.BOOL, 1, b"\x01"),
    (T.UINT8, 0xFE, b"\xfe"),
    (T.UINT16, 0x1234, b"\x34\x12"),
    (T.UINT24, 0x123456, b"\x56\x34\x12"),
    (T.UINT32, 0xDEADBEEF, b"\xef\xbe\xad\xde"),
    (T.UINT40, 0x0102030405, b"\x05\x04\x03\x02\x01"),
    (T.UINT48, 0x0000FFFFFFFFFFFF & 123456789012, struct.pack("<Q", 123456789012)[:6]),
    (T.UINT56, (1 << 56) - 1, b"\xff" * 7),
    (T.UINT64, 1 << 63, struct.pack("<Q", 1 << 63)),
    (T.INT8, -1, b"\xff"),
    (T.INT16, -2, b"\xfe\xff"),
    (T.INT24, -8388608, b"\x00\x00\x80"),
    (T.INT24, 3000, b"\xb8\x0b\x00"),
    (T.INT32, -123456, struct.pack("<i", -123456)),
    (0x2C, -(1 << 39), b"\x00\x00\x00\x00\x80"),        # int40
    (T.INT48, -1, b"\xff" * 6),
    (0x2E, (1 << 55) - 1, b"\xff" * 6 + b"\x7f"),        # int56
    (T.INT64, -(1 << 63), struct.pack("<q", -(1 << 63))),
    (T.ENUM8, 3, b"\x03"),
    (T.ENUM16, 0x0102, b"\x02\x01"),
    (T.MAP8, 0xBB, b"\xbb"),
    (T.MAP24, 0x010203, b"\x03\x02\x01"),
    (T.DATA8, 0x7F, b"\x7f"),
    (T.OCTSTR, b"\x01\x02", b"\x02\x01\x02"),
    (T.CHARSTR, b"ESME", b"\x04ESME"),
    (T.LOCTSTR, b"ab", b"\x02\x00ab"),
    (T.LCHARSTR, b"", b"\x00\x00"),
    (T.CHARSTR, None, b"\xff"),                          # invalid string
    (T.UTC, 820454400, struct.pack("<I", 820454400)),
    (T.DATE, (126, 1, 5, 1), bytes((126, 1, 5, 1))),
    (T.TOD, (23, 59, 59, 99), bytes((23, 59, 59, 99))),
    (T.CLUSTER_ID, 0x0702, b"\x02\x07"),
    (T.ATTR_ID, 0x0400, b"\x00\x04"),
    (T.EUI64, 0x0022A3000000E5E1, struct.pack("<Q", 0x0022A3000000E5E1)),
    (T.KEY128, bytes(range(16)), bytes(range(16))),
    (T.ARRAY, (T.UINT16, [1, 2]), b"\x21\x02\x00\x01\x00\x02\x00"),
    (T.STRUCT, [(T.UINT8, 5), (T.CHARSTR, b"x")], b"\x02\x00\x20\x05\x42\x01x"),
])
def test_known_encodings(t, v, wire):
    assert enc(t, v) == wire
    assert dec(t, wire) == v


@pytest.mark.parametrize("t,v", [
    (T.UINT8, 256), (T.UINT8, -1), (T.UINT24, 1 << 24), (T.INT8, 128), (T.INT8, -129),
    (T.INT24, 1 << 23), (T.UINT48, 1 << 48), (T.BOOL, 2), (T.KEY128, b"short"),
    (T.CHARSTR, b"x" * 255), (T.DATE, (1, 2, 3)),
])
def test_out_of_range_refused(t, v):
    with pytest.raises(ValueError):
        enc(t, v)
    assert not T.check(t, v)


@pytest.mark.parametrize("t,wire", [
    (T.UINT16, b"\x01"), (T.UINT48, b"\x00" * 5), (T.CHARSTR, b"\x05ab"),
    (T.LOCTSTR, b"\x03"), (T.KEY128, b"\x00" * 15), (T.ARRAY, b"\x20\x02\x00\x01"),
    (T.STRUCT, b"\x01\x00"), (T.DATE, b"\x01\x02"), (0x99, b"\x00"),
])
def test_truncated_raises_decode_error(t, wire):
    with pytest.raises(DecodeError) as e:
        T.decode(t, wire, 0)
    assert e.value.status == MALFORMED_COMMAND


def test_end_bound_is_respected():
    # A value may not run into bytes beyond the frame's end.
    with pytest.raises(DecodeError):
        T.decode(T.UINT32, b"\x01\x02\x03\x04", 0, 3)


FIXED = [t for t in list(range(0x08, 0x10)) + list(range(0x18, 0x30)) + [0x30, 0x31, 0xE2, 0xE8, 0xE9, 0xEA, 0xF0]]


@st.composite
def typed_value(draw):
    t = draw(st.sampled_from(FIXED + [T.OCTSTR, T.CHARSTR, T.LOCTSTR, T.BOOL, T.DATE, T.KEY128]))
    kind, n = T.info(t)
    if t == T.BOOL:
        v = draw(st.sampled_from([0, 1, 0xFF]))
    elif kind == T.K_UNSIGNED:
        v = draw(st.integers(0, (1 << (8 * n)) - 1))
    elif kind == T.K_SIGNED:
        v = draw(st.integers(-(1 << (8 * n - 1)), (1 << (8 * n - 1)) - 1))
    elif kind == T.K_STRING:
        v = draw(st.binary(max_size=254 if t < T.LOCTSTR else 400))
    elif kind == T.K_BYTES:
        v = draw(st.binary(min_size=16, max_size=16))
    else:
        v = tuple(draw(st.lists(st.integers(0, 255), min_size=4, max_size=4)))
    return t, v


@given(typed_value())
@settings(max_examples=400)
def test_round_trip(tv):
    t, v = tv
    buf = bytearray(500)
    n = T.encode(t, v, buf, 0)
    got, off = T.decode(t, buf, 0, n)
    assert off == n
    assert got == v


@given(st.integers(0, 255), st.binary(max_size=64))
@settings(max_examples=600)
def test_decoder_never_raises_anything_but_decode_error(t, data):
    try:
        v, off = T.decode(t, data, 0)
    except DecodeError:
        return
    assert 0 <= off <= len(data)


# -- command fields: by name or by position (zcl/frame.encode_fields) -----------
_SCHEMA = (("Id", T.UINT32), ("Status", T.ENUM8), ("Sig", 0x100),)
_OPT = (("Start", T.UTC), ("N", T.UINT8), ("Id?", T.UINT32))
_GROUP = (("Count", T.UINT8), ("Items", (("a", T.UINT8), ("b", T.UINT16))))


@pytest.mark.parametrize("schema, named, pos", [
    (_SCHEMA, {"Id": 0x01020304, "Status": 7, "Sig": b"\xAA\xBB"}, (0x01020304, 7, b"\xAA\xBB")),
    (_OPT, {"Start": 5, "N": 0}, (5, 0)),                          # optional field left out
    (_OPT, {"Start": 5, "N": 0, "Id": 9}, (5, 0, 9)),
    (_GROUP, {"Count": 2, "Items": [{"a": 1, "b": 0x0302}, {"a": 4, "b": 5}]},
     (2, [(1, 0x0302), (4, 5)])),
])
def test_fields_by_position_encode_as_by_name(schema, named, pos):
    from firmware.zcl.frame import encode_fields, REST
    assert REST == 0x100
    a, b = bytearray(32), bytearray(32)
    n = encode_fields(schema, named, a, 0)
    assert encode_fields(schema, pos, b, 0) == n
    assert a[:n] == b[:n]
    want = {id(_SCHEMA): "04030201" "07" "aabb", id(_OPT): None, id(_GROUP): "02" "010203" "040500"}
    if want[id(schema)]:
        assert bytes(a[:n]).hex() == want[id(schema)]
    if schema is _OPT:
        assert n == (9 if len(pos) == 3 else 5)
