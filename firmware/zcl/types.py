# ZCL data types (ZCL rev 6 §2.6.2, Table 2-10): offset-based codec.
#
# Contract (style-anchors §5.3):
#   decode(t, buf, off, end) -> (value, new_off)   raises DecodeError
#   encode(t, value, buf, off) -> new_off           raises ValueError
# `buf` is any bytes-like object (bytes, bytearray, memoryview); `end` bounds
# the read so a frame's trailing bytes are never taken for a value.
#
# Python representation of values:
#   integers, bitmaps, enums, bool, UTC, cluster/attribute ids, EUI64 -> int
#   octet/character strings, key128                                 -> bytes
#     (an "invalid" string, length 0xFF / 0xFFFF, decodes to None)
#   time of day (h, m, s, hundredths), date (year-1900, month, day, dow)
#                                                                     -> tuple
#   array / set / bag -> (element_type, [values]); struct -> [(type, value)]
#
# Nesting: arrays, structures, sets and bags (ZCL rev 6 §2.6.2, Table 2-10)
# may contain one another. No ZCL or ZSE attribute or command the meter
# meets goes deeper than an array of structures (depth 2), so decode refuses
# a value nested deeper than MAX_NEST with DecodeError (MALFORMED_COMMAND,
# ZCL rev 6 Table 2-12: the command "appears to contain the wrong fields";
# nothing of it is carried out). Unbounded, a few hundred octets of nested
# headers would exhaust a board's stack or heap (issue #16, defect 1).
import struct

from .status import DecodeError

_NODATA = const(0x00)
_DATA8 = const(0x08)
_DATA64 = const(0x0F)
BOOL = const(0x10)
MAP8 = const(0x18)
MAP16 = const(0x19)
_MAP24 = const(0x1A)
MAP32 = const(0x1B)
_MAP64 = const(0x1F)
UINT8 = const(0x20)
UINT16 = const(0x21)
UINT24 = const(0x22)
UINT32 = const(0x23)
_UINT40 = const(0x24)
UINT48 = const(0x25)
_UINT56 = const(0x26)
_UINT64 = const(0x27)
INT8 = const(0x28)
INT16 = const(0x29)
INT24 = const(0x2A)
INT32 = const(0x2B)
_INT48 = const(0x2D)
INT64 = const(0x2F)
ENUM8 = const(0x30)
_ENUM16 = const(0x31)
OCTSTR = const(0x41)
CHARSTR = const(0x42)
LOCTSTR = const(0x43)
_LCHARSTR = const(0x44)
ARRAY = const(0x48)
STRUCT = const(0x4C)
_SET = const(0x50)
_BAG = const(0x51)
_TOD = const(0xE0)
DATE = const(0xE1)
UTC = const(0xE2)
_CLUSTER_ID = const(0xE8)
_ATTR_ID = const(0xE9)
_BACNET_OID = const(0xEA)
EUI64 = const(0xF0)
_KEY128 = const(0xF1)

# Value classes (how a type is stored and compared for reporting).
_K_UNSIGNED = const(1)   # data, bitmap, uint, enum, bool, ids, UTC, EUI64
_K_SIGNED = const(2)
_K_STRING = const(3)     # short/long octet or character string
_K_BYTES = const(4)      # key128: fixed-length bytes
_K_TUPLE4 = const(5)     # date, time of day
_K_COLLECTION = const(6)  # array, set, bag
_K_STRUCT = const(7)


def _fmt(n, signed):
    """Little-endian struct code for a width struct handles directly, else
    None (constant strings: no table in RAM, nothing allocated)."""
    if n == 1:
        return "<b" if signed else "<B"
    if n == 2:
        return "<h" if signed else "<H"
    if n == 4:
        return "<i" if signed else "<I"
    if n == 8:
        return "<q" if signed else "<Q"
    return None


def info(t):
    """(kind, size) of type code t; size 0 means variable. None if unknown."""
    if 0x08 <= t <= 0x0F:
        return _K_UNSIGNED, t - 0x07
    if t == BOOL:
        return _K_UNSIGNED, 1
    if 0x18 <= t <= 0x1F:
        return _K_UNSIGNED, t - 0x17
    if 0x20 <= t <= 0x27:
        return _K_UNSIGNED, t - 0x1F
    if 0x28 <= t <= 0x2F:
        return _K_SIGNED, t - 0x27
    if t == ENUM8:
        return _K_UNSIGNED, 1
    if t == _ENUM16:
        return _K_UNSIGNED, 2
    if 0x41 <= t <= 0x44:
        return _K_STRING, 0
    if t == ARRAY or t == _SET or t == _BAG:
        return _K_COLLECTION, 0
    if t == STRUCT:
        return _K_STRUCT, 0
    if t == _TOD or t == DATE:
        return _K_TUPLE4, 4
    if t == UTC or t == _BACNET_OID:
        return _K_UNSIGNED, 4
    if t == _CLUSTER_ID or t == _ATTR_ID:
        return _K_UNSIGNED, 2
    if t == EUI64:
        return _K_UNSIGNED, 8
    if t == _KEY128:
        return _K_BYTES, 16
    return None


def is_analog(t):
    """ZCL Table 2-10 'A' class: reportable change applies (§2.5.7.1.7)."""
    return (0x20 <= t <= 0x2F) or t == _TOD or t == DATE or t == UTC


def _int(buf, off, end, n, signed):
    if off + n > end:
        raise DecodeError()
    fmt = _fmt(n, signed)
    if fmt:
        return struct.unpack_from(fmt, buf, off)[0], off + n
    v = 0
    i = off + n - 1
    while i >= off:
        v = (v << 8) | buf[i]
        i -= 1
    if signed and v & (1 << (8 * n - 1)):
        v -= 1 << (8 * n)
    return v, off + n


MAX_NEST = const(4)     # collections inside collections, counting the outermost


def decode(t, buf, off, end=-1, depth=0):
    if end < 0:
        end = len(buf)
    ti = info(t)
    if ti is None:
        raise DecodeError("type")
    kind, n = ti
    if kind == _K_UNSIGNED:
        return _int(buf, off, end, n, False)
    if kind == _K_SIGNED:
        return _int(buf, off, end, n, True)
    if kind == _K_STRING:
        long = t >= LOCTSTR
        ln, off = _int(buf, off, end, 2 if long else 1, False)
        if ln == (0xFFFF if long else 0xFF):
            return None, off
        if off + ln > end:
            raise DecodeError()
        return bytes(buf[off:off + ln]), off + ln
    if kind == _K_BYTES:
        if off + n > end:
            raise DecodeError()
        return bytes(buf[off:off + n]), off + n
    if kind == _K_TUPLE4:
        if off + 4 > end:
            raise DecodeError()
        return (buf[off], buf[off + 1], buf[off + 2], buf[off + 3]), off + 4
    if kind >= _K_COLLECTION:
        if depth >= MAX_NEST:
            raise DecodeError("nesting")
        depth += 1
    if kind == _K_COLLECTION:
        if off + 3 > end:
            raise DecodeError()
        et = buf[off]
        cnt = buf[off + 1] | (buf[off + 2] << 8)
        off += 3
        if cnt == 0xFFFF:  # invalid collection
            return (et, None), off
        items = []
        for _ in range(cnt):
            v, off = decode(et, buf, off, end, depth)
            items.append(v)
        return (et, items), off
    # K_STRUCT
    cnt, off = _int(buf, off, end, 2, False)
    if cnt == 0xFFFF:
        return None, off
    items = []
    for _ in range(cnt):
        if off >= end:
            raise DecodeError()
        et = buf[off]
        v, off = decode(et, buf, off + 1, end, depth)
        items.append((et, v))
    return items, off


def _put_int(buf, off, v, n, signed):
    if signed:
        lim = 1 << (8 * n - 1)
        if not -lim <= v < lim:
            raise ValueError("range")
        if v < 0:
            v += lim << 1
    elif not 0 <= v < (1 << (8 * n)):
        raise ValueError("range")
    fmt = _fmt(n, False)
    if fmt and len(buf) >= off + n:
        struct.pack_into(fmt, buf, off, v)
        return off + n
    if len(buf) < off + n:
        raise ValueError("space")
    for i in range(n):
        buf[off + i] = v & 0xFF
        v >>= 8
    return off + n


def encode(t, v, buf, off):
    ti = info(t)
    if ti is None:
        raise ValueError("type")
    kind, n = ti
    if kind == _K_UNSIGNED:
        if t == BOOL and v not in (0, 1, 0xFF):
            raise ValueError("bool")
        return _put_int(buf, off, int(v), n, False)
    if kind == _K_SIGNED:
        return _put_int(buf, off, v, n, True)
    if kind == _K_STRING:
        long = t >= LOCTSTR
        if v is None:
            return _put_int(buf, off, 0xFFFF if long else 0xFF, 2 if long else 1, False)
        if isinstance(v, str):
            v = v.encode()
        ln = len(v)
        if ln >= (0xFFFF if long else 0xFF):
            raise ValueError("long")
        off = _put_int(buf, off, ln, 2 if long else 1, False)
        return _put_bytes(buf, off, v)
    if kind == _K_BYTES:
        if len(v) != n:
            raise ValueError("len")
        return _put_bytes(buf, off, v)
    if kind == _K_TUPLE4:
        if len(v) != 4:
            raise ValueError("len")
        for x in v:
            off = _put_int(buf, off, x, 1, False)
        return off
    if kind == _K_COLLECTION:
        et, items = v
        off = _put_int(buf, off, et, 1, False)
        if items is None:
            return _put_int(buf, off, 0xFFFF, 2, False)
        off = _put_int(buf, off, len(items), 2, False)
        for x in items:
            off = encode(et, x, buf, off)
        return off
    # K_STRUCT
    if v is None:
        return _put_int(buf, off, 0xFFFF, 2, False)
    off = _put_int(buf, off, len(v), 2, False)
    for et, x in v:
        off = _put_int(buf, off, et, 1, False)
        off = encode(et, x, buf, off)
    return off


def _put_bytes(buf, off, v):
    n = len(v)
    if len(buf) < off + n:
        raise ValueError("space")
    buf[off:off + n] = v
    return off + n


def check(t, v):
    """True if v is encodable as type t (range and shape)."""
    try:
        kind, n = info(t) or (0, 0)   # room to encode into
        if not n:
            n = len(v) + 2 if kind == _K_STRING and v is not None else 1024
        encode(t, v, bytearray(n), 0)
        return True
    except (ValueError, TypeError, OverflowError):
        return False


# The names above that only the host's tests and tools read: public there,
# folded private constants on a board, no global each in this module's dict
# on its heap (issue #18).
if __import__("sys").implementation.name != "micropython":
    DATA8 = _DATA8
    MAP24 = _MAP24
    UINT40 = _UINT40
    UINT56 = _UINT56
    UINT64 = _UINT64
    INT48 = _INT48
    ENUM16 = _ENUM16
    LCHARSTR = _LCHARSTR
    SET = _SET
    BAG = _BAG
    TOD = _TOD
    CLUSTER_ID = _CLUSTER_ID
    ATTR_ID = _ATTR_ID
    KEY128 = _KEY128
    K_UNSIGNED = _K_UNSIGNED
    K_SIGNED = _K_SIGNED
    K_STRING = _K_STRING
    K_BYTES = _K_BYTES
    K_TUPLE4 = _K_TUPLE4
    K_COLLECTION = _K_COLLECTION
