# Future-dated GBCS commands (GBCS v0.8.1 §9.2.2; notes/gbcs-messages-security
# §16). The engines hold the passive values and activate them at their time
# (the account's future-datable parameters, Tbl 9.2.2.7: Account.stage,
# persisted with the registers, activated by the tick's account slot; the
# tariff's and load limiter's passive values likewise); this table
# remembers, per future-dated value of a stored command, what its alert
# needs: activation time, message code, originator counter, the owner and
# parameter, the staged value and the cosem-attribute-descriptor of the
# activation-time instruction. The meter's _S_GBCS slot (Meter.gbcs_due:
# the earliest time here) calls due() once the engines' slots of that
# second have run: one Future Dated Execution Of Instruction Alert (message
# code 0x00CC, signed) per value (RTDS: ECS08 sends one per parameter),
# 0x8F66 when the engine took the value, 0x8F67 when it did not (later GBCS
# codes, vectors/README.md point 5; v0.8.1: 0x8066 / 0x8067), additional
# content `09 13 ‖ MC ‖ OC ‖ descriptor` (§9.2.2.6).
#
# Who decides "took": the owner, a cosem.py group (the high three bits of
# the parameter byte; 0 stands for the account, group 1, as in version-1
# records; 5 the ASN.1 use cases): its module's took(m, param, value, at)
# -> bool, or None when the owner has sent its own alert (CS06 0x00CA,
# CS02b 0x00CB).
#
# A newer command with the same message code replaces what is stored for
# it, and an immediate or cancelling one removes it (§9.2.2.3): drop(),
# then add() per value, in the command's atomic operation. Bounded: _MAX
# entries; a command that would need more is refused (room()) before
# anything is staged. Record "gbcs_fd" (schema 8 version 1): earliest
# activation u32 LE (Meter.boot reads only this, without importing this
# package), count u8, entries {at u32 LE, MC u16, owner/parameter u8,
# staged value i32, OC(8), descriptor(9)}.
import struct

from ..compat import const
from ..platform.clock import NEVER

KEY = "gbcs_fd"
_SCHEMA = const(8)
_MAX = const(24)
_E = const(28)
_MC_ALERT = const(0x00CC)


def _decode(b):
    if len(b) < 5 or len(b) != 5 + b[4] * _E:
        raise ValueError("gbcs fd")
    out = []
    for i in range(5, len(b), _E):
        at, mc, idx, v = struct.unpack_from("<IHBi", b, i)
        out.append([at, mc, idx, bytes(b[i + 11:i + 19]), bytes(b[i + 19:i + 28]), v])
    return out


def table(m):
    t = getattr(m, "_gfd", None)
    if t is None:
        t = m.store.load_rec(KEY, _SCHEMA, 1, _decode) or []
        m._gfd = t
    return t


def _save(m, t):
    first = NEVER
    out = bytearray(5)
    for e in t:
        out += struct.pack("<IHBi", e[0], e[1], e[2], e[5]) + e[3] + e[4]
        if e[0] < first:
            first = e[0]
    struct.pack_into("<IB", out, 0, first, len(t))
    m.save_record(KEY, ((bytes(out),), _SCHEMA, 1, True))
    m.gbcs_due = first


def room(m, mc, n=1):
    """True when n values of a command with message code mc fit (what is
    stored for mc is replaced)."""
    t = table(m)
    return len([e for e in t if e[1] != mc]) + n <= _MAX


def drop(m, mc):
    """Forget what is stored for mc (inside the command's atomic operation)."""
    t = table(m)
    n = len(t)
    t[:] = [e for e in t if e[1] != mc]
    if len(t) != n:
        _save(m, t)


def add(m, at, mc, key, oc, desc, v):
    """Remember one future-dated value: key = owner group << 5 | parameter,
    v its staged value (int32), desc the 9-octet descriptor of its
    activation-time attribute. Nothing is kept for 0 (immediate), a past
    time or NEVER (§9.2.2.4)."""
    if at and at != NEVER and at > m.clock.now():
        t = table(m)
        t.append([at, mc, key, bytes(oc), bytes(desc), v])
        _save(m, t)


def due(m, now):
    """The _S_GBCS slot: alerts for the commands whose time has come."""
    from . import core
    t = table(m)
    done = [e for e in t if e[0] <= now]
    if not done:
        return
    h = m.begin()
    try:
        t[:] = [e for e in t if e[0] > now]
        _save(m, t)
    finally:
        m.end(h)
    from . import cosem
    for at, mc, key, oc, desc, v in done:
        g = key >> 5
        ok = cosem.module(g or 1).took(m, key & 0x1F, v, at)
        if ok is None:          # the owner sent its own alert (asn1: CS06, CS02b)
            continue
        core.alert(m, 0x8F66 if ok else 0x8F67, _MC_ALERT,
                   b"\x09\x13" + struct.pack(">H", mc) + oc + desc, at)
    cosem.drop()                # the owners' modules, as after a command
