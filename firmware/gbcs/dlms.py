# DLMS/COSEM A-XDR for the GBCS payloads (GBCS v0.8.1 §7.2.9, Tbl 7.2.9a/b;
# notes/gbcs-esme-functional §1.4; DLMS Green Book A-XDR): the
# access-request parsed in place (offsets into the payload, nothing copied
# but the 6-octet OBIS codes), the access-response built, and the Data
# encoders and readers the use-case modules (uc_*.py) share. Hostile input
# raises ValueError or IndexError, never anything else.
#
# Data types used by GBCS (tag: octets after it; 0xFF = length-prefixed or
# nested): null 00, array 01, structure 02, boolean 03, bit-string 04,
# double-long 05, double-long-unsigned 06, octet-string 09, visible-string
# 0A, utf8-string 0C, integer 0F, long 10, unsigned 11, long-unsigned 12,
# compact-array 13, long64 14, long64-unsigned 15, enum 16, float32 17,
# float64 18, date-time 19, date 1A, time 1B (GBCS sends date-time as
# octet-string(12), §9.1.5).
import struct

from ..compat import const

NULL = b"\x00"
_FIXED = (b"\x00\xff\xff\x01\xff\x04\x04\xff\xff\xff\xff\xff\xff\xff\xff\x01\x02\x01\x02"
          b"\xff\x08\x08\x01\x04\x08\x0c\x05\x04")
_DEPTH = const(12)
# Data-Access-Result / Action-Result codes (Green Book; GBCS §7.2.4)
SUCCESS = const(0)
HW_FAULT = const(1)
TEMP_FAIL = const(2)
DENIED = const(3)
UNDEFINED = const(4)
UNAVAILABLE = const(11)
TYPE = const(12)
OTHER = const(250)


def length(b, i):
    """(n, offset after the length) of a BER length (xx, 81 xx, 82 xx xx)."""
    n = b[i]
    if n < 0x80:
        return n, i + 1
    if n == 0x81:
        return b[i + 1], i + 2
    if n == 0x82:
        return (b[i + 1] << 8) | b[i + 2], i + 3
    raise ValueError("length")


def enc_len(n):
    return bytes((n,)) if n < 0x80 else b"\x81" + bytes((n,)) if n < 0x100 else \
        b"\x82" + struct.pack(">H", n)


def _type_desc(b, i, depth):
    t = b[i]
    if depth > _DEPTH:
        raise ValueError("depth")
    if t == 2:
        n, i = length(b, i + 1)
        for _ in range(n):
            i = _type_desc(b, i, depth + 1)
        return i
    if t == 1:
        return _type_desc(b, i + 3, depth + 1)
    if t >= len(_FIXED):
        raise ValueError("type")
    return i + 1


def skip(b, i, depth=0):
    """Offset after the Data item at b[i]; ValueError if malformed or too
    deep, IndexError if it runs past the end."""
    t = b[i]
    if depth > _DEPTH:
        raise ValueError("depth")
    if t == 0x13:                       # compact-array: type description, contents
        j = _type_desc(b, i + 1, depth)
        n, j = length(b, j)
        j += n
    elif t >= len(_FIXED):
        raise ValueError("type")
    else:
        n = _FIXED[t]
        if n != 0xFF:
            j = i + 1 + n
        elif t == 1 or t == 2:          # array, structure
            n, j = length(b, i + 1)
            for _ in range(n):
                j = skip(b, j, depth + 1)
        else:
            n, j = length(b, i + 1)
            if t == 4:                  # bit-string: length in bits
                n = (n + 7) >> 3
            elif t not in (9, 10, 12, 13):
                raise ValueError("type")
            j += n
    if j > len(b):
        raise IndexError("data")
    return j


# -- access-request / access-response (Tbl 7.2.9a/b) ------------------------
# A spec: (kind, class, OBIS(6), attribute or method, selector, sel_start,
# sel_end). kind: 1 get, 2 set, 3 action, 4 get with selective access, 5 set
# with selective access; selector 0 when none, else the access-selector with
# its parameters at payload[sel_start:sel_end].

def parse_request(pl):
    """(invoke id (4 octets), [spec], [(start, end) of each data item]) of
    an access-request; ValueError or IndexError on any fault."""
    if pl[0] != 0xD9:
        raise ValueError("tag")
    i = 6 + pl[5]                       # date-time, normally absent
    n, i = length(pl, i)
    specs = []
    for _ in range(n):
        k = pl[i]
        if k < 1 or k > 5:
            raise ValueError("kind")
        cls = (pl[i + 1] << 8) | pl[i + 2]
        obis = bytes(pl[i + 3:i + 9])
        a = pl[i + 9]
        i += 10
        sel = ss = se = 0
        if k > 3:                       # access-selector, then its parameters
            sel = pl[i]
            ss = i + 1
            se = i = skip(pl, ss)
        specs.append((k, cls, obis, a, sel, ss, se))
    c, i = length(pl, i)
    if c != n:
        raise ValueError("data count")
    data = []
    for _ in range(n):
        j = skip(pl, i)
        data.append((i, j))
        i = j
    if i != len(pl):
        raise ValueError("length")
    return bytes(pl[1:5]), specs, data


def response(inv, specs, datas, results):
    """The access-response: invoke id, no date-time, no request
    specification, one data item and one (kind, result) per instruction.
    Built in one buffer of its exact size (an ECS24 response is 1.2 KB: a
    growing buffer needs twice that in one block on the board's heap)."""
    ln = enc_len(len(specs))
    n = 7 + 2 * len(ln) + 2 * len(specs)
    for d in datas:
        n += len(d)
    out = bytearray(n)
    out[0] = 0xDA
    out[1:5] = inv
    k = 7
    out[k:k + len(ln)] = ln
    k += len(ln)
    for d in datas:
        out[k:k + len(d)] = d
        k += len(d)
    out[k:k + len(ln)] = ln
    k += len(ln)
    for s, r in zip(specs, results):
        c = s[0]
        out[k] = 3 if c == 3 else 2 if c in (2, 5) else 1
        out[k + 1] = r
        k += 2
    return out


# -- Data encoders ------------------------------------------------------------

def u8(t, v):
    """A one-octet item: boolean 03, integer 0F, unsigned 11, enum 16."""
    return bytes((t, v & 0xFF))


def u16(v, t=0x12):
    """long-unsigned (12) or long (10)."""
    return bytes((t,)) + struct.pack(">H", v & 0xFFFF)


def u32(v, t=0x06):
    """double-long-unsigned (06) or double-long (05)."""
    return bytes((t,)) + struct.pack(">i" if v < 0 else ">I", v)


def octets(v, t=0x09):
    """octet-string (09) or visible-string (0A) of v."""
    return bytes((t,)) + enc_len(len(v)) + v


def struct_of(*items):
    return b"\x02" + enc_len(len(items)) + b"".join(items)


def array_of(items):
    return b"\x01" + enc_len(len(items)) + b"".join(items)


def scaler_unit(scaler, unit):
    """The scaler_unit structure of a Register (class 3 attribute 3)."""
    return b"\x02\x02\x0f" + bytes((scaler & 0xFF,)) + b"\x16" + bytes((unit,))


# -- Data readers (raise ValueError on a type mismatch) ----------------------

def uint(b, i, j):
    """The integer value of the unsigned / signed numeric item b[i:j]."""
    t = b[i]
    n = j - i - 1
    if t not in (3, 5, 6, 0x0F, 0x10, 0x11, 0x12, 0x14, 0x15, 0x16) or n not in (1, 2, 4, 8):
        raise ValueError("type")
    v = int.from_bytes(bytes(b[i + 1:j]), "big")
    if t in (5, 0x0F, 0x10, 0x14) and v >> (8 * n - 1):
        v -= 1 << (8 * n)
    return v


def string(b, i, j, t=0x09):
    """The content of the octet-string (or visible-string) item b[i:j]."""
    if b[i] != t:
        raise ValueError("type")
    n, k = length(b, i + 1)
    if k + n != j:
        raise ValueError("length")
    return bytes(b[k:j])


def items(b, i, j, t=0x02):
    """[(start, end)] of the elements of the structure (02) or array (01)
    item b[i:j]."""
    if b[i] != t:
        raise ValueError("type")
    n, k = length(b, i + 1)
    out = []
    for _ in range(n):
        e = skip(b, k)
        out.append((k, e))
        k = e
    if k != j:
        raise ValueError("length")
    return out


def to_utc(d):
    """ZigBee UTC of a DLMS date-time(12) (deviation applied when given),
    0 for 'immediate' (§9.2.2.4: nine zero octets), -1 when malformed or
    'never' (nine FF octets, §9.2.2.5)."""
    from ..platform.clock import days_from_civil, DAY
    y = (d[0] << 8) | d[1]
    if y == 0 and d[2] == 0 and d[3] == 0:
        return 0
    if not (2000 <= y < 2136 and 1 <= d[2] <= 12 and 1 <= d[3] <= 31 and d[5] < 24 and
            d[6] < 60 and d[7] < 60):
        return -1
    t = days_from_civil(y, d[2], d[3]) * DAY + d[5] * 3600 + d[6] * 60 + d[7]
    dev = (d[9] << 8) | d[10]
    if dev != 0x8000:
        if dev >= 0x8000:
            dev -= 0x10000
        t += dev * 60              # deviation: minutes local time is behind UTC (Blue Book)
    return t if t >= 0 else -1


def is_never(d):
    return d[:9] == b"\xff" * 9


def date_time(b, i, j):
    """The 12 octets of the date-time (octet-string(12)) item b[i:j]."""
    if j - i != 14 or b[i] != 9 or b[i + 1] != 12:
        raise ValueError("type")
    return bytes(b[i + 2:j])
