# ZCL frame header (ZCL rev 6 §2.4.1) and command field schemas.
#
# Header: frame control (1) [manufacturer code (2)] sequence (1) command (1).
# Frame control: b0-1 frame type (0 profile-wide, 1 cluster-specific),
# b2 manufacturer specific, b3 direction (1 = server to client),
# b4 disable default response.
from . import types as T
from .status import DecodeError

_FT_GLOBAL = const(0)
_FT_CLUSTER = const(1)
_FC_MANUF = const(0x04)
_FC_TO_CLIENT = const(0x08)
_FC_NO_DEFAULT_RSP = const(0x10)

_HDR_MAX = const(5)


class Header:
    """Decoded ZCL header; one instance is reused per dispatcher."""

    def __init__(self):
        self.fc = 0
        self.manuf = None
        self.seq = 0
        self.cmd = 0

    @property
    def cluster_specific(self):
        return (self.fc & 3) == _FT_CLUSTER

    @property
    def to_client(self):
        return bool(self.fc & _FC_TO_CLIENT)

    @property
    def no_default_rsp(self):
        return bool(self.fc & _FC_NO_DEFAULT_RSP)

    def decode(self, buf, end=-1):
        """Fill from buf; return the payload offset."""
        if end < 0:
            end = len(buf)
        if end < 3:
            raise DecodeError("hdr")
        fc = buf[0]
        if fc & 3 > 1:  # frame types 2 and 3 are reserved
            raise DecodeError("ftype")
        self.fc = fc
        off = 1
        if fc & _FC_MANUF:
            if end < 5:
                raise DecodeError("hdr")
            self.manuf = buf[1] | (buf[2] << 8)
            off = 3
        else:
            self.manuf = None
        self.seq = buf[off]
        self.cmd = buf[off + 1]
        return off + 2


def encode_header(buf, off, fc, seq, cmd, manuf=None):
    if manuf is not None:
        fc |= _FC_MANUF
    buf[off] = fc
    off += 1
    if manuf is not None:
        buf[off] = manuf & 0xFF
        buf[off + 1] = manuf >> 8
        off += 2
    buf[off] = seq & 0xFF
    buf[off + 1] = cmd
    return off + 2


# -- command field schemas -------------------------------------------------
# A schema is a tuple of (name, type) pairs. A name ending in '?' marks an
# optional trailing field (ZSE commands gained fields between revisions);
# once one optional field is absent, the rest must be absent too.
# REST takes the remaining bytes raw. A (name, schema) pair whose type is a
# tuple is a repeated group that runs to the end of the payload.
REST = const(0x100)


def decode_fields(schema, buf, off, end):
    out = {}
    for name, t in schema:
        opt = name[-1] == "?"
        if opt:
            name = name[:-1]
            if off >= end:
                break
        if t == REST:
            out[name] = bytes(buf[off:end])
            off = end
        elif isinstance(t, tuple):
            items = []
            while off < end:
                item, off = _decode_group(t, buf, off, end)
                items.append(item)
            out[name] = items
        else:
            out[name], off = T.decode(t, buf, off, end)
    return out, off


def _decode_group(schema, buf, off, end):
    item = {}
    for name, t in schema:
        item[name], off = T.decode(t, buf, off, end)
    return item, off


def encode_fields(schema, fields, buf, off):
    """Encode fields per schema at off; the new offset. fields is a dict by
    field name, or a tuple of the values in schema order (shorter when
    optional trailing fields are left out): a tuple spares the sender a
    dict and the field names (one interned name each in flash)."""
    pos = isinstance(fields, tuple)
    i = 0
    for name, t in schema:
        if name[-1] == "?":
            if (i >= len(fields)) if pos else (name[:-1] not in fields):
                break
            name = name[:-1]
        v = fields[i] if pos else fields[name]
        i += 1
        if t == REST:
            buf[off:off + len(v)] = v
            off += len(v)
        elif isinstance(t, tuple):
            for item in v:
                if isinstance(item, tuple):
                    for k in range(len(t)):
                        off = T.encode(t[k][1], item[k], buf, off)
                else:
                    for n2, t2 in t:
                        off = T.encode(t2, item[n2], buf, off)
        else:
            off = T.encode(t, v, buf, off)
    return off


# The names above that only the host's tests and tools read: public there,
# folded private constants on a board, no global each in this module's dict
# on its heap (issue #18).
if __import__("sys").implementation.name != "micropython":
    FT_CLUSTER = _FT_CLUSTER
    FC_MANUF = _FC_MANUF
    FC_TO_CLIENT = _FC_TO_CLIENT
    FC_NO_DEFAULT_RSP = _FC_NO_DEFAULT_RSP
