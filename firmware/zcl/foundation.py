# Profile-wide ("general") commands, ZCL rev 6 §2.5. Each handler writes its
# response into engine.tx and returns None (answered / nothing due) or a
# status for the Default Response. One table maps command ids to handlers.
import struct

from ..compat import STRUCT_ERRORS
from . import types as T
from .cluster import cmd_rows
from .status import DecodeError, ZclError

# Command ids (ZCL rev 6 Table 2-3). Private: the host tools have their own
# table (tools/zcl_host.py); READ_ATTR is the one another firmware module
# (the Time client) names.
READ_ATTR = const(0x00)
_A_R = const(0x01)           # = zcl.cluster.A_R
_A_W = const(0x02)           # = zcl.cluster.A_W
_A_P = const(0x04)           # = zcl.cluster.A_P
_READ_ATTR_RSP = const(0x01)
_WRITE_ATTR = const(0x02)
_WRITE_ATTR_UNDIVIDED = const(0x03)
_WRITE_ATTR_RSP = const(0x04)
_WRITE_ATTR_NO_RSP = const(0x05)
_CONFIG_REPORT = const(0x06)
_CONFIG_REPORT_RSP = const(0x07)
_READ_REPORT_CFG = const(0x08)
_READ_REPORT_CFG_RSP = const(0x09)
_REPORT_ATTR = const(0x0A)
_DEFAULT_RSP = const(0x0B)
_DISCOVER_ATTR = const(0x0C)
_DISCOVER_ATTR_RSP = const(0x0D)
_DISCOVER_CMD_RX = const(0x11)
_DISCOVER_CMD_RX_RSP = const(0x12)
_DISCOVER_CMD_TX = const(0x13)
_DISCOVER_CMD_TX_RSP = const(0x14)
_DISCOVER_ATTR_EXT = const(0x15)
_DISCOVER_ATTR_EXT_RSP = const(0x16)

# Status codes (ZCL rev 6 Table 2-12, as zcl/status.py): local constants
# fold into the bytecode, status.X would be a global and an attribute load.
_SUCCESS = const(0x00)
_UNSUP_GENERAL_COMMAND = const(0x82)
_UNSUPPORTED_ATTRIBUTE = const(0x86)
_INVALID_VALUE = const(0x87)
_READ_ONLY = const(0x88)
_NOT_FOUND = const(0x8B)
_UNREPORTABLE_ATTRIBUTE = const(0x8C)
_INVALID_DATA_TYPE = const(0x8D)
_WRITE_ONLY = const(0x8F)


def _u16(buf, off, end):
    if off + 2 > end:
        raise DecodeError()
    return buf[off] | (buf[off + 1] << 8), off + 2


def _u8(buf, off, end):
    if off >= end:
        raise DecodeError()
    return buf[off], off + 1


def _send(eng, req, off):
    eng.reply(req, req.aps.cluster, off)


def _attr_record(eng, cl, aid, off):
    """Read-attribute status record (§2.5.2.1) at off; returns new offset, or
    -1 if it would not fit in one frame. eng.tx is exactly one frame long
    for the link (engine.frame_limit), so running out of it is the limit;
    the bounds are checked before packing (CPython's struct.error is no
    ValueError)."""
    tx = eng.tx
    ta = cl.adefs.ta(aid)           # type << 8 | access, -1: none
    if ta < 0 or not ta & _A_R:
        if off + 3 > len(tx):
            return -1
        struct.pack_into("<HB", tx, off, aid,
                         _UNSUPPORTED_ATTRIBUTE if ta < 0 else _WRITE_ONLY)
        return off + 3
    if off + 5 > len(tx):       # id, status, type and at least one octet of value
        return -1
    try:
        struct.pack_into("<HBB", tx, off, aid, _SUCCESS, ta >> 8)
        return T.encode(ta >> 8, cl.read(aid), tx, off + 4)
    except STRUCT_ERRORS:           # CPython: struct.error is no ValueError
        return -1


def _read_attributes(eng, cl, req, buf, off, end):
    if (end - off) & 1:
        raise DecodeError("odd")
    out = eng.response_header(req, 0, _READ_ATTR_RSP)
    while off < end:
        aid, off = _u16(buf, off, end)
        n = _attr_record(eng, cl, aid, out)
        if n < 0:
            break  # records that do not fit are left out; the client reads again
        out = n
    _send(eng, req, out)


def _write_attributes(eng, cl, req, buf, off, end):
    cmd = req.hdr.cmd
    recs = []
    while off < end:
        aid, off = _u16(buf, off, end)
        t, off = _u8(buf, off, end)
        v, off = T.decode(t, buf, off, end)
        recs.append((aid, t, v, _write_status(cl, aid, t, v)))
    failed = [r for r in recs if r[3] != _SUCCESS]
    if not (failed and cmd == _WRITE_ATTR_UNDIVIDED):
        for aid, t, v, st in recs:
            if st == _SUCCESS:
                cl.write(aid, v)
    if cmd == _WRITE_ATTR_NO_RSP:   # §2.5.6: no response of any kind
        return None
    out = eng.response_header(req, 0, _WRITE_ATTR_RSP)
    tx = eng.tx
    if not failed:
        tx[out] = _SUCCESS
        out += 1
    for aid, t, v, st in failed:
        if out + 3 > len(tx):
            break
        struct.pack_into("<BH", tx, out, st, aid)
        out += 3
    _send(eng, req, out)


def _write_status(cl, aid, t, v):
    a = cl.adefs.get(aid)
    if a is None:
        return _UNSUPPORTED_ATTRIBUTE
    if t != a[2]:
        return _INVALID_DATA_TYPE
    if not a[3] & _A_W:
        return _READ_ONLY
    if not T.check(t, v):
        return _INVALID_VALUE
    try:
        return cl.validate(aid, v)
    except ZclError as e:          # validators may raise, as handlers do
        return e.status


def _report_record(buf, off, end):
    """One attribute reporting configuration record (ZCL rev 6 §2.5.7.1):
    (direction, attribute, type, min, max, change, next offset). A reserved
    direction leaves the record's length unknown: DecodeError."""
    d, off = _u8(buf, off, end)
    aid, off = _u16(buf, off, end)
    t = mn = mx = ch = 0
    if d == 0:
        t, off = _u8(buf, off, end)
        mn, off = _u16(buf, off, end)
        mx, off = _u16(buf, off, end)
        if T.is_analog(t):
            ch, off = T.decode(t, buf, off, end)
    elif d == 1:
        mx, off = _u16(buf, off, end)    # timeout period: we receive no reports
    else:
        raise DecodeError("dir")
    return d, aid, t, mn, mx, ch, off


def _configure_reporting(eng, cl, req, buf, off, end):
    # A malformed command (truncated record, reserved direction) is "not
    # carried out" (ZCL rev 6 status MALFORMED_COMMAND, 0x80): every record
    # is decoded before the table changes, so a Default Response never hides
    # a change. A well-formed record the meter cannot take gets its own status
    # record while the others apply (§2.5.7.3 effect on receipt, §2.5.8
    # response records), and the table is saved once for the whole command
    # (a power cut keeps all of it or none).
    p = off
    while p < end:
        p = _report_record(buf, p, end)[6]
    rep = eng.app.reporting
    tx = eng.tx
    out = eng.response_header(req, 0, _CONFIG_REPORT_RSP)
    start = out
    changed = False
    while off < end:
        d, aid, t, mn, mx, ch, off = _report_record(buf, off, end)
        if d == 0:
            st = rep.configure(cl, req, aid, t, mn, mx, ch, False)
            changed = changed or st == _SUCCESS
        else:
            st = _UNSUPPORTED_ATTRIBUTE
        if st != _SUCCESS and out + 4 <= len(tx):
            struct.pack_into("<BBH", tx, out, st, d, aid)
            out += 4
    if changed:
        rep.save()
    if out == start:   # §2.5.8: all succeeded -> one SUCCESS status
        tx[out] = _SUCCESS
        out += 1
    _send(eng, req, out)


def _read_reporting_cfg(eng, cl, req, buf, off, end):
    rep = eng.app.reporting
    tx = eng.tx
    out = eng.response_header(req, 0, _READ_REPORT_CFG_RSP)
    while off < end:
        d, off = _u8(buf, off, end)
        aid, off = _u16(buf, off, end)
        a = cl.adefs.get(aid)
        e = None
        if d == 0:
            e = rep.find(cl, aid, req.aps.src, req.aps.src_ep) or rep.find(cl, aid)
        if a is None:
            st = _UNSUPPORTED_ATTRIBUTE
        elif not a[3] & _A_P:
            st = _UNREPORTABLE_ATTRIBUTE
        elif e is None:
            st = _NOT_FOUND
        else:
            st = _SUCCESS
        if out + 4 > len(tx) or (st == _SUCCESS and out + 9 > len(tx)):
            break
        struct.pack_into("<BBH", tx, out, st, d, aid)
        nxt = out + 4
        if st == _SUCCESS:
            try:
                struct.pack_into("<BHH", tx, nxt, e.type, e.min, e.max)
                nxt += 5
                if T.is_analog(e.type):
                    nxt = T.encode(e.type, e.change, tx, nxt)
            except STRUCT_ERRORS:
                break
        out = nxt
    _send(eng, req, out)


def _discover_attributes(eng, cl, req, buf, off, end):
    start, off = _u16(buf, off, end)
    mx, off = _u8(buf, off, end)
    ext = req.hdr.cmd == _DISCOVER_ATTR_EXT
    rec = 4 if ext else 3
    tx = eng.tx
    out = eng.response_header(req, 0, _DISCOVER_ATTR_EXT_RSP if ext else _DISCOVER_ATTR_RSP)
    flag = out
    out += 1
    n = 0
    complete = 1
    for aid in cl.adefs:          # AttrTable: ascending ids
        if aid < start:
            continue
        if n >= mx or out + rec > len(tx):
            complete = 0
            break
        a = cl.adefs[aid]
        struct.pack_into("<HB", tx, out, aid, a[2])
        if ext:
            tx[out + 3] = a[3] & (_A_R | _A_W | _A_P)   # §2.5.22.1 access control
        out += rec
        n += 1
    tx[flag] = complete           # discovery complete
    _send(eng, req, out)


def _discover_commands(eng, cl, req, buf, off, end):
    start, off = _u8(buf, off, end)
    mx, off = _u8(buf, off, end)
    rx = req.hdr.cmd == _DISCOVER_CMD_RX
    table = cl.RX if rx else cl.TX
    tx = eng.tx
    out = eng.response_header(req, 0, _DISCOVER_CMD_RX_RSP if rx else _DISCOVER_CMD_TX_RSP)
    flag = out
    out += 1
    ids = sorted(c[0] for c in cmd_rows(table) if c[0] >= start)
    n = 0
    for cid in ids:
        if n >= mx or out >= len(tx):
            break
        tx[out] = cid
        out += 1
        n += 1
    tx[flag] = 1 if n == len(ids) else 0
    _send(eng, req, out)


def decode_attr_records(buf, off, end, report=False):
    """Records of a Read Attributes Response (§2.5.2), or with report of a
    Report Attributes command (§2.5.11, no status field): [(aid, status,
    type, value)]."""
    recs = []
    while off < end:
        aid, off = _u16(buf, off, end)
        st = _SUCCESS
        if not report:
            st, off = _u8(buf, off, end)
        if st == _SUCCESS:
            t, off = _u8(buf, off, end)
            v, off = T.decode(t, buf, off, end)
            recs.append((aid, st, t, v))
        else:
            recs.append((aid, st, None, None))
    return recs


def _attr_response(eng, cl, req, buf, off, end):
    """Read Attributes Response / Report Attributes reaching a client cluster."""
    h = getattr(cl, "on_attributes", None)
    if cl.SERVER or h is None:
        return _UNSUP_GENERAL_COMMAND
    h(req, decode_attr_records(buf, off, end, req.hdr.cmd != _READ_ATTR_RSP))
    return _SUCCESS


def _default_response(eng, cl, req, buf, off, end):
    _u8(buf, off, end)
    _u8(buf, off + 1, end)
    return None  # never answered (§2.5.12.2)


def handle(eng, cl, req, buf, off, end):
    """Run profile-wide command req.hdr.cmd (a chain of tests: no table in
    RAM)."""
    c = req.hdr.cmd
    if c == READ_ATTR:
        h = _read_attributes
    elif _WRITE_ATTR <= c <= _WRITE_ATTR_NO_RSP and c != _WRITE_ATTR_RSP:
        h = _write_attributes
    elif c == _CONFIG_REPORT:
        h = _configure_reporting
    elif c == _READ_REPORT_CFG:
        h = _read_reporting_cfg
    elif c == _DISCOVER_ATTR or c == _DISCOVER_ATTR_EXT:
        h = _discover_attributes
    elif c == _DISCOVER_CMD_RX or c == _DISCOVER_CMD_TX:
        h = _discover_commands
    elif c == _READ_ATTR_RSP or c == _REPORT_ATTR:
        h = _attr_response
    elif c == _DEFAULT_RSP:
        h = _default_response
    else:
        return _UNSUP_GENERAL_COMMAND
    return h(eng, cl, req, buf, off, end)
