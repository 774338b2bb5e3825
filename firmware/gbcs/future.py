# Future-dated GBCS commands (GBCS v0.8.1 §9.2.2; notes/gbcs-messages-security
# §16). The engines hold the passive values and activate them at their time
# (the account's future-datable parameters, Tbl 9.2.2.7: Account.stage,
# persisted with the registers, activated by the tick's account slot); this
# table remembers, per stored command, what its alert needs: activation
# time, message code, originator counter, the engine parameter and the
# cosem-attribute-descriptor of the activation-time instruction. The
# meter's _S_GBCS slot (Meter.gbcs_due: the earliest time here) calls due()
# once the account slot of that second has run: one Future Dated Execution
# Of Instruction Alert (message code 0x00CC, signed) per command, 0x8F66
# when the parameter took effect, 0x8F67 when it did not (later GBCS codes,
# vectors/README.md point 5; v0.8.1: 0x8066 / 0x8067), additional content
# `09 13 ‖ MC ‖ OC ‖ descriptor` (§9.2.2.6).
#
# A newer command with the same message code replaces the stored one, and
# an immediate or cancelling one removes it (§9.2.2.3). Bounded: _MAX
# entries; a command that would need one more is refused before anything is
# staged. Record "gbcs_fd" (schema 8 version 1): earliest activation u32 LE
# (Meter.boot reads only this, without importing this package), count u8,
# entries {at u32 LE, MC u16, parameter u8, staged value i32, OC(8),
# descriptor(9)}.
import struct

from ..compat import const
from ..platform.clock import NEVER

KEY = "gbcs_fd"
_SCHEMA = const(8)
_MAX = const(8)
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


def room(m, mc):
    t = table(m)
    return len(t) < _MAX or any(e[1] == mc for e in t)


def store(m, at, mc, idx, oc, desc):
    """Remember a stored command (inside the command's atomic operation);
    at NEVER or 0: only drop what was stored for mc."""
    t = table(m)
    n = len(t)
    t[:] = [e for e in t if e[1] != mc]
    if at and at != NEVER:
        t.append([at, mc, idx, bytes(oc), bytes(desc), m.account.pend_val[idx]])
    elif len(t) == n:
        return
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
    acc = m.account
    for at, mc, idx, oc, desc, v in done:
        # the engine took the staged value (not cancelled or replaced by
        # another route since)
        ok = acc.pend_at[idx] != at and acc.p[idx] == v
        core.alert(m, 0x8F66 if ok else 0x8F67, _MC_ALERT,
                   b"\x09\x13" + struct.pack(">H", mc) + oc + desc, at)
