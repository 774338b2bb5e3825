# ASN.1 (DER) use cases (GBCS v0.8.1 §11-§13; notes/gbcs-messages-
# security §14, §20): a verified command's payload in, its response payload
# out (core.receive protects it and holds the atomic operation around it).
#
#   0x0008 CS02a, 0x011B CS02f  the trust anchor cells' details (§13.2)
#   0x0100-0x0108 CS02b         replace trust anchor cells (creds.py, §13.3)
#   0x000A CS02c, 0x000B CS02d, 0x000C CS02e  own key pairs and certificates
#                               (creds.py, §13.4-§13.6)
#   0x000D CS03A1, 0x000F CS04AC the device log: join / unjoin (§13.7.4)
#   0x0012 CS06                 activate firmware (ota/client.activate, §11.5)
#
# DER here: a reader that never reads past the item that holds it (every
# length checked against its parent's end; long lengths 81/82/83 only, no
# indefinite form) and a writer with RTDS's length forms (`xx` below 128,
# `82 xx xx` from 128: the RTDS responses use 82 also for 128-255).
#
# Future-dated CS06 and CS02b (§9.2.2, §11.5.3, §13.3.4.2): the command is
# kept in this module's record (below) and future.add() remembers it with
# owner group 5 (parameter 0 CS06, 1 + (mc & 0xF) CS02b), so Meter.gbcs_due
# wakes the tick's _S_GBCS slot at its time. future.due() calls
# cosem.module(5).took(m, param, v, at): took() runs the stored command and
# sends the use case's own ASN.1 alert (CS06 0x00CA, CS02b 0x00CB; alert
# codes 0x8F66 / 0x8F67 as RTDS) and returns None, which tells future.due
# not to send its DLMS 0x00CC alert (the coordinator's wiring).
#
# Record "gbcs_a1" (schema 12, version 1): ndev(1) {entity(8) type(1)}*
# | CS06: flag(1) [at(4) oc(8) hash(32)] | CS02b: len(2) [creds.py blob].
import struct
from binascii import unhexlify

from ..compat import const
from ..platform.clock import civil, days_from_civil, DAY, NEVER
from . import keystore as K

KEY = "gbcs_a1"
_SCHEMA = const(12)
_MAX_DEV = const(8)          # device log entries (GBCS §13.7.2: ESME's own HAN devices)
_G = const(5)                # future.py owner group of this module
_SUPPLIER = const(2)

# -- DER ------------------------------------------------------------------------------
def tlv(b, i, end):
    """(tag, content start, content end) of the item at b[i], inside [i, end);
    ValueError when it does not fit or uses a form DER does not have."""
    if i + 2 > end:
        raise ValueError("der")
    n = b[i + 1]
    j = i + 2
    if n & 0x80:
        k = n & 0x7F
        if k < 1 or k > 3 or j + k > end:
            raise ValueError("der len")
        n = 0
        for q in range(j, j + k):
            n = (n << 8) | b[q]
        j += k
    if j + n > end:
        raise ValueError("der")
    return b[i], j, j + n


def take(b, i, end, tag):
    """(content start, content end) of the item at b[i], which must carry tag."""
    t, j, e = tlv(b, i, end)
    if t != tag:
        raise ValueError("der tag")
    return j, e


def uint(b, j, e, n=8):
    """A non-negative INTEGER's value from its content [j, e), at most n
    octets (a leading zero octet allowed beyond them)."""
    if e <= j or b[j] & 0x80 or e - j > n + (b[j] == 0):
        raise ValueError("der int")
    v = 0
    for q in range(j, e):
        v = (v << 8) | b[q]
    return v


def item(tag, content):
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    return bytes((tag, 0x82, n >> 8, n & 0xFF)) + content


def integer(v, tag=2):
    """A non-negative INTEGER (or ENUMERATED, tag 0x0A), minimal octets."""
    n = 1
    while v >> (8 * n - 1):
        n += 1
    return item(tag, v.to_bytes(n, "big"))


def gtime(b, j, e):
    """GeneralizedTime YYYYMMDDHHMMSSZ -> ZigBee UTC (99991231235959Z and any
    time past 2135: NEVER)."""
    if e - j != 15 or b[e - 1] != 0x5A:
        raise ValueError("time")
    d = []
    for q in range(j, j + 14, 2):
        x, y = b[q] - 48, b[q + 1] - 48
        if not (0 <= x <= 9 and 0 <= y <= 9):
            raise ValueError("time")
        d.append(x * 10 + y)
    y = d[0] * 100 + d[1]
    if not (1 <= d[2] <= 12 and 1 <= d[3] <= 31 and d[4] < 24 and d[5] < 60 and d[6] < 60) \
            or y < 2000:
        raise ValueError("time")
    if y > 2135:
        return NEVER
    return days_from_civil(y, d[2], d[3]) * DAY + d[4] * 3600 + d[5] * 60 + d[6]


def gtime_enc(t):
    y, mo, d = civil(t // DAY)
    s = t % DAY
    return item(0x18, ("%04d%02d%02d%02d%02d%02dZ" % (y, mo, d, s // 3600, s // 60 % 60,
                                                       s % 60)).encode())


def usage_bits(u):
    """KeyUsage BIT STRING of a cell usage bit: 0 digitalSignature, 4 keyAgreement."""
    return b"\x03\x02\x07\x80" if u == 0 else b"\x03\x02\x03\x08"


def usage_of(b, j, e):
    """The one KeyUsage bit a BIT STRING content names (0 or 4), else -1."""
    if e - j == 2 and b[j] == 7 and b[j + 1] == 0x80:
        return 0
    if e - j == 2 and b[j] == 3 and b[j + 1] == 0x08:
        return 4
    return -1


def cell_id(b, j, e):
    """TrustAnchorCellIdentifier content -> (role, usage, cell usage)."""
    a, z = take(b, j, e, 2)
    role = uint(b, a, z, 1)
    a, i = take(b, z, e, 3)
    u = usage_of(b, a, i)
    cu = 0
    if i < e:
        a, i = take(b, i, e, 2)
        cu = uint(b, a, i, 1)
    if i != e or u < 0 or cu > 1:
        raise ValueError("cell id")
    return role, u, cu


def cell_id_enc(role, u, cu):
    return item(0x30, integer(role) + usage_bits(u) + (integer(cu) if cu else b""))


# -- the record -------------------------------------------------------------------------
def _decode(b):
    n = b[0]
    i = 1 + 9 * n
    dev = [(bytes(b[k:k + 8]), b[k + 8]) for k in range(1, i, 9)]
    cs06 = None
    if b[i]:
        cs06 = (struct.unpack_from("<I", b, i + 1)[0], bytes(b[i + 5:i + 13]), bytes(b[i + 13:i + 45]))
        i += 44
    i += 1
    ln = struct.unpack_from("<H", b, i)[0]
    if len(b) != i + 2 + ln:
        raise ValueError("gbcs a1")
    return [dev, cs06, bytes(b[i + 2:]) if ln else None]


def state(m):
    s = getattr(m, "_ga1", None)
    if s is None:
        s = m.store.load_rec(KEY, _SCHEMA, 1, _decode) or [[], None, None]
        m._ga1 = s
    return s


def save(m, s):
    """Queue the record (inside the caller's atomic operation)."""
    out = bytearray((len(s[0]),))
    for e, t in s[0]:
        out += e + bytes((t,))
    c = s[1]
    if c:
        out += b"\x01" + struct.pack("<I", c[0]) + c[1] + c[2]
    else:
        out += b"\x00"
    b = s[2] or b""
    out += struct.pack("<H", len(b)) + b
    m.save_record(KEY, ((bytes(out),), _SCHEMA, 1, True))
    m._ga1 = s


def alert(m, mc, pl):
    """A signed ASN.1 alert (CRA 03) to the supplier with the next Device
    Originator Counter, saved before it leaves (core.next_counter)."""
    from . import core
    ks = K.get(m)
    sup = K.cell(ks, _SUPPLIER, K.DS)
    if sup is None or ks[3] == bytes(32):
        return None
    return core.send_alert(m, core.next_counter(m), sup[3], mc, pl, True)


# -- the use cases ---------------------------------------------------------------------
def run(m, mc, pl):
    """The response payload of ASN.1 command mc (payload pl), or None."""
    try:
        if mc == 0x0012:
            return cs06(m, pl)
        if mc == 0x0008 or mc == 0x011B:
            return cs02a(m, pl)
        if mc == 0x000D:
            return join(m, pl)
        if mc == 0x000F:
            return unjoin(m, pl)
        if mc & 0xFFF0 == 0x0100 or 0x000A <= mc <= 0x000C:
            from .cosem import module
            creds = module(6)
            if mc == 0x000A:
                return creds.cs02c(m, pl)
            if mc == 0x000B:
                return creds.cs02d(m, pl)
            if mc == 0x000C:
                return creds.cs02e(m, pl)
            return creds.run(m, mc, pl)
    except (ValueError, IndexError):
        pass
    except MemoryError:     # nothing was written (every save comes after the parse):
        return None         # no response; the command may come again
    # a payload this meter cannot read: the use case's failure
    if mc == 0x0012:
        return _outcome(m, 3)
    if mc == 0x000D or mc == 0x000F:
        return b"\x02\x01\x02"         # invalidJoinMethodAndRole / otherFailure (§13.7.4)
    if 0x000A <= mc <= 0x000C:
        return b"\x02\x01\x01"         # CS02c/e invalidKeyUsage, CS02d invalidCertificate
    if mc & 0xFFF0 == 0x0100:
        from .cosem import module
        creds = module(6)
        return creds.refused(m, mc)
    return b"\x30\x00"


def cs02a(m, pl):
    """CS02a / CS02f (§13.2.6): per role asked for, SEQUENCE { role,
    statusCode, currentSeqNumber, SEQUENCE OF { keyUsage, [cellUsage],
    entity, SKI } } with the role's cells (DS before KA, management before
    prepayment); a role without a cell: statusCode other (127), as RTDS
    6.24.1 CS02fMAC ERROR answers for a role the meter cannot report."""
    n = len(pl)
    j, e = take(pl, 0, n, 0x30)
    i = take(pl, j, e, 0x30)[1]          # the authorising cell: checked by core (§6.2.4)
    j, e = take(pl, i, e, 0x30)
    ks = K.get(m)
    out = b""
    while j < e:
        a, z = take(pl, j, e, 2)
        role = uint(pl, a, z, 1)
        j = z
        det = b""
        for u in (0, 4):
            for cu in (0, 1):
                c = K.cell(ks, role, u, cu)
                if c is not None:
                    det += item(0x30, usage_bits(u) + (integer(cu) if cu else b"") +
                                item(4, c[3]) + item(4, c[5]))
        if det:
            out += item(0x30, integer(role) + b"\x0a\x01\x00" + integer(ks[6].get(role, 0)) +
                        item(0x30, det))
        else:
            out += item(0x30, integer(role) + b"\x0a\x01\x7f")
        if len(out) > 1000:
            raise ValueError("too many roles")
    return item(0x30, out)


# device log (§13.7.2-§13.7.4): Entity ID and device type of each HAN device
# this ESME is joined with (CS03A1 adds an HCALCS (4) or PPMID (5) as the
# Method A initiator; CS04AC removes one).
def join(m, pl):
    n = len(pl)
    j, e = take(pl, 0, n, 0x30)
    a, z = take(pl, j, e, 2)
    meth = uint(pl, a, z, 1)
    a, z = take(pl, z, e, 4)
    ent = bytes(pl[a:z])
    a, z = take(pl, z, e, 2)
    typ = uint(pl, a, z, 1)
    if z < e:
        take(pl, z, e, 0x30)             # otherDeviceCertificate: not used by Method A
    if meth > 3 or len(ent) != 8:
        return b"\x02\x01\x02"           # invalidJoinMethodAndRole
    if meth != 0 or typ not in (4, 5):
        return b"\x02\x01\x01"           # invalidMessageCodeForJoinMethodAndRole
    s = state(m)
    for d, t in s[0]:
        if d == ent:
            return b"\x02\x01\x00" if t == typ else b"\x02\x01\x03"  # incompatibleWithExistingEntry
    if len(s[0]) >= _MAX_DEV:
        return b"\x02\x01\x04"           # deviceLogFull
    save(m, [s[0] + [(ent, typ)], s[1], s[2]])
    return b"\x02\x01\x00"


def unjoin(m, pl):
    a, z = take(pl, 0, len(pl), 4)
    ent = bytes(pl[a:z])
    s = state(m)
    rest = [d for d in s[0] if d[0] != ent]
    if len(rest) == len(s[0]):
        return b"\x02\x01\x01"           # otherDeviceNotInDeviceLog
    save(m, [rest, s[1], s[2]])
    return b"\x02\x01\x00"


# CS06 (§11.5): SEQUENCE { manufacturerImageHash OCTET STRING (32),
# originatorCounter INTEGER, executionDateTime GeneralizedTime OPTIONAL }.
# Immediate (absent or past): activate now, answer the ExecutionOutcome;
# 99991231235959Z: cancel the stored one, answer commandAccepted (NULL);
# later: store it (a newer one replaces it, §9.2.2.3), commandAccepted.
def _fw(m):
    v = m.cfg.get("firmware_version", "")
    if v:
        try:
            return unhexlify(v)
        except ValueError:
            pass
    o = getattr(m, "ota", None)
    return struct.pack(">I", o.rt[3] if o is not None else 0)


def _outcome(m, code):
    """ExecutionOutcome { activateImageResponseCode, firmwareVersion }."""
    fw = _fw(m)
    return item(0x30, integer(code) + item(4, fw))


def _activate(m, h):
    if getattr(m, "ota", None) is None:
        return 1                        # noImageHeld: no OTA client on this meter
    from ..ota import client
    return client.activate(m, h)[0]


def cs06(m, pl):
    n = len(pl)
    j, e = take(pl, 0, n, 0x30)
    a, z = take(pl, j, e, 4)
    if z - a != 32:
        raise ValueError("hash")
    h = bytes(pl[a:z])
    a, z = take(pl, z, e, 2)
    oc = uint(pl, a, z)
    at = 0
    if z < e:
        a, z = take(pl, z, e, 0x18)
        at = gtime(pl, a, z)
    if z != e:
        raise ValueError("cs06")
    from . import future
    s = state(m)
    if at == NEVER or at > m.clock.now():
        if at != NEVER and not future.room(m, 0x0012):
            return _outcome(m, 3)
        future.drop(m, 0x0012)
        if at == NEVER:
            save(m, [s[0], None, s[2]])
        else:
            save(m, [s[0], (at, oc.to_bytes(8, "big"), h), s[2]])
            future.add(m, at, 0x0012, _G << 5, oc.to_bytes(8, "big"), bytes(9), 0)
        return b"\x05\x00"              # commandAccepted
    if s[1] is not None:                 # an immediate one replaces a stored one
        future.drop(m, 0x0012)
        save(m, [s[0], None, s[2]])
    return _outcome(m, _activate(m, h))


def took(m, param, v, at):
    """future.py (owner group 5): run the stored command whose time has come
    and send its alert; None: the alert is sent (no DLMS 0x00CC alert)."""
    s = state(m)
    if param == 0:
        c = s[1]
        if c is None or c[0] != at:
            return None
        h = m.begin()
        try:
            save(m, [s[0], None, s[2]])
        finally:
            m.end(h)
        code = _activate(m, c[2])
        # AlertPayload (§11.5.3): alertCode, executionDateTime,
        # originatorCounter, executionOutcome; 0x8F66 / 0x8F67 (RTDS 11.3)
        alert(m, 0x00CA, item(0x30, integer(0x8F67 if code else 0x8F66) + gtime_enc(at) +
                              integer(int.from_bytes(c[1], "big")) + _outcome(m, code)))
        m.alert(0x8F67 if code else 0x8F66)
        return None
    from .cosem import module
    creds = module(6)
    return creds.took(m, param, at)
