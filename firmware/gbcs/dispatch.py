# From a verified GBCS command to the command surface (firmware/commands):
# the DLMS COSEM access-request (GBCS §7.2.9, notes/gbcs-messages-security
# §6) decoded into its instructions, the use case's handler run, the
# access-response built with one data item and one result per instruction
# in order (Break-On-Error, §7.2.4: after the first failure the rest are
# other-reason, 0xFA, not attempted).
#
# Shipped use cases: CS01a network top-up (0x0007: Token Gateway, class
# 115 0-0:19.40.0.255 method 1, octet-string(20) of the UTRN digits; RTDS
# 2.2_CS01a, vectors/README.md point 8), ECS04b reset meter balance (0x00B3:
# class 112 0-0:19.10.{0,1,2}.255 method 2 with double-long 0, §18.4.1),
# ECS12 change of tenancy (0x0022: class 1 0-0:94.44.3.2 attribute 2, a DLMS
# date-time, §18.4.3), ECS52 read firmware version (0x0059: class 1
# 0-0:0.2.1.255 attribute 2), ECS02 set payment mode to credit (0x001A,
# future-datable: future.py). Every other known code (core._MC) is
# authenticated and answered: object-undefined (4) for its first
# instruction, other-reason for the rest; nothing is executed. ASN.1
# payloads (CS02a/c/d/e/f, CS03A1, CS04AC, CS06) get their use case's
# failure response (_asn1); CS02b (0x0102/0x0103) gets none yet.
from ..compat import const
from . import keystore as K

_SUCCESS = const(0)
_HW_FAULT = const(1)
_TEMP = const(2)
_DENIED = const(3)
_UNDEFINED = const(4)
_TYPE = const(12)
_OTHER = const(250)
_NEVER = 0xFFFFFFFF
# commands result codes (firmware/commands/__init__.py) -> DLMS result
_RESULT = b"\x00\x0c\xfa\x02\x03"
# A-XDR data type -> octets after the tag (0xFF: length-prefixed or nested)
_FIXED = (b"\x00\xff\xff\x01\xff\x04\x04\xff\xff\xff\xff\xff\xff\xff\xff\x01\x02\x01\x02"
          b"\xff\x08\x08\x01\x04\x08\x0c\x05\x04")


def _skip(b, i, depth=0):
    """Offset after the A-XDR Data item at b[i]; ValueError if malformed."""
    t = b[i]
    if t >= len(_FIXED) or depth > 8:
        raise ValueError("data")
    n = _FIXED[t]
    if n != 0xFF:
        return i + 1 + n
    if t in (1, 2):                    # array, structure
        n, i = _len(b, i + 1)
        for _ in range(n):
            i = _skip(b, i, depth + 1)
        return i
    n, i = _len(b, i + 1)
    if t == 4:                         # bit-string: length in bits
        n = (n + 7) >> 3
    elif t not in (9, 10, 12, 13):
        raise ValueError("data")
    return i + n


def _len(b, i):
    n = b[i]
    if n < 0x80:
        return n, i + 1
    if n == 0x81:
        return b[i + 1], i + 2
    if n == 0x82:
        return (b[i + 1] << 8) | b[i + 2], i + 3
    raise ValueError("length")


def parse_request(pl):
    """(invoke id (4 octets), [(kind, class, obis6, id)], [data (start,
    end)]) of an access-request; ValueError on any fault."""
    if pl[0] != 0xD9:
        raise ValueError("tag")
    i = 6 + pl[5]                      # date-time, normally absent
    n = pl[i]
    i += 1
    specs = []
    for _ in range(n):
        k = pl[i]
        if k < 1 or k > 5:
            raise ValueError("kind")
        specs.append((k, (pl[i + 1] << 8) | pl[i + 2], bytes(pl[i + 3:i + 9]), pl[i + 9]))
        i += 10
        if k > 3:                      # with selection: access-selector, parameters
            i = _skip(pl, i + 1)
    if pl[i] != n:
        raise ValueError("data count")
    i += 1
    data = []
    for _ in range(n):
        j = _skip(pl, i)
        data.append((i, j))
        i = j
    if i != len(pl):
        raise ValueError("length")
    return bytes(pl[1:5]), specs, data


def _response(inv, specs, datas, results):
    out = bytearray(b"\xda")
    out += inv
    out += b"\x00\x00"
    out.append(len(specs))
    for d in datas:
        out += d
    out.append(len(specs))
    for s, r in zip(specs, results):
        out.append(3 if s[0] == 3 else 2 if s[0] in (2, 5) else 1)
        out.append(r)
    return bytes(out)


def _one(specs, kind, cls, obis, aid):
    return len(specs) == 1 and specs[0][:3] == (kind, cls, obis) and specs[0][3] == aid


def run(m, b, p, role):
    """The response payload of a verified command (core.receive), or None."""
    pl = b[p[9]:p[9] + p[10]]
    if pl[0] != 0xD9:
        return _asn1(m, p[6], pl)
    try:
        inv, specs, data = parse_request(pl)
    except (ValueError, IndexError):
        return b"\xda" + bytes(pl[1:5]) + b"\x00\x00\x00\x00"   # no instruction understood
    n = len(specs)
    datas = [b"\x00"] * n
    results = [_UNDEFINED] + [_OTHER] * (n - 1) if n else []
    h = _HANDLERS.get(p[6])
    if h is not None:
        try:
            h(m, b, p, pl, specs, data, datas, results)
        except Exception:              # never let a handler's fault take the meter down
            results[:] = [_HW_FAULT] + [_OTHER] * (n - 1) if n else []
            datas[:] = [b"\x00"] * n
    return _response(inv, specs, datas, results)


# ASN.1 use cases not supported: message code -> the failure value of their
# response's INTEGER code (DER `02 01 xx`): CS02c issueCredentialsResponseCode
# cRProductionFailed (3, §13.4.6), CS02d updateDeviceCertResponseCode
# certificateStorageFailed (6, §13.5.6), CS02e provideDeviceCertResponseCode
# certificateRetrievalFailure (3, §13.6.6), CS03A1 joinResponseCode
# writeFailure (5, §13.7.4.5.1), CS04AC unjoinResponseCode otherFailure (2,
# §13.7.4.6.1). The RTDS ERROR responses have the same form (`020103`).
_ASN1_RC = b"\x00\x0a\x03\x00\x0b\x06\x00\x0c\x03\x00\x0d\x05\x00\x0f\x02"


def _tlv(b, i):
    """(tag, content start, end) of the DER item at b[i]; IndexError/ValueError
    when it does not fit."""
    n, j = _len(b, i + 1)
    if j + n > len(b):
        raise ValueError("der")
    return b[i], j, j + n


def _asn1(m, mc, pl):
    """The failure response of an ASN.1 use case this meter does not run
    (nothing executed), or None (CS02b: its ExecutionOutcome needs the
    replacements' certificates, not done)."""
    t = _ASN1_RC
    for k in range(0, len(t), 3):
        if (t[k] << 8) | t[k + 1] == mc:
            return b"\x02\x01" + t[k + 2:k + 3]
    if mc == 0x0012:
        # CS06 (§11.2.6): the CHOICE's executionOutcome SEQUENCE {
        # activateImageResponseCode activationFailure (3), firmwareVersion }
        v = m.cfg.get("firmware_version", "")
        fw = bytes(int(v[i:i + 2], 16) for i in range(0, len(v) - 1, 2))
        return b"\x30" + bytes((5 + len(fw),)) + b"\x02\x01\x03\x04" + bytes((len(fw),)) + fw
    if mc == 0x0008 or mc == 0x011B:
        # CS02a / CS02f (§13.2.6): SEQUENCE OF RemotePartyDetails { role,
        # statusCode other (127) }, one per role asked for (the command's
        # SEQUENCE { TrustAnchorCellIdentifier, SEQUENCE OF RemotePartyRole })
        out = bytearray()
        try:
            _, i, end = _tlv(pl, 0)
            i = _tlv(pl, i)[2]
            tg, i, end = _tlv(pl, i)
            while i < end and len(out) < 119:       # short-form length (<= 127)
                tg, j, e = _tlv(pl, i)
                if tg != 2 or e - i > 4:
                    break
                out += b"\x30" + bytes((e - i + 3,)) + pl[i:e] + b"\x0a\x01\x7f"
                i = e
        except (ValueError, IndexError):
            pass
        return b"\x30" + bytes((len(out),)) + out
    return None


def _supplier():
    from ..commands import supplier
    return supplier


def _ecs52(m, b, p, pl, specs, data, datas, results):
    """Read ESME firmware version: octet-string of the version (config
    "firmware_version", hex)."""
    if _one(specs, 1, 1, b"\x00\x00\x00\x02\x01\xff", 2):
        v = m.cfg.get("firmware_version", "")
        fw = bytes(int(v[i:i + 2], 16) for i in range(0, len(v), 2))
        datas[0] = b"\x09" + bytes((len(fw),)) + fw
        results[0] = _SUCCESS


def _cs01a(m, b, p, pl, specs, data, datas, results):
    """Network top-up (§14.4.4): the UTRN counter is the command OC's high
    32 bits; the PTUT MAC key is Z with the supplier's prepayment top-up
    cell (§14.3.5)."""
    if not _one(specs, 3, 115, b"\x00\x00\x13\x28\x00\xff", 1):
        return
    i, j = data[0]
    if j - i != 22 or pl[i] != 9 or pl[i + 1] != 20:
        results[0] = _TYPE
        return
    from ..prepay import utrn as U
    code = bytes(pl[i + 2:j]).decode()
    try:
        ptut = U.parse(code)
    except (U.UtrnError, ValueError):
        results[0] = _TYPE
        return
    acc = m.account
    if acc.z is None:
        acc.z = K.z(K.get(m), bytes(b[p[2]:p[2] + 8]), 1)
    counter = int.from_bytes(b[p[1]:p[1] + 8], "big") >> 32
    results[0] = _RESULT[_supplier().top_up_ptut(m, ptut, counter)]


def _ecs04b(m, b, p, pl, specs, data, datas, results):
    """Reset meter balance: three Credit actions, each with 0 (§18.4.1)."""
    if len(specs) != 3:
        return
    for k in range(3):
        s = specs[k]
        i, j = data[k]
        if s[:3] != (3, 112, b"\x00\x00\x13\x0a" + bytes((k,)) + b"\xff") or s[3] != 2:
            results[:] = [_OTHER] * 3
            results[k] = _UNDEFINED
            return
        if pl[i:j] != b"\x05\x00\x00\x00\x00":
            results[:] = [_OTHER] * 3
            results[k] = _TYPE
            return
    r = _RESULT[_supplier().set_balance(m, 0)]
    results[:] = [r] * 3 if r == _SUCCESS else [r, _OTHER, _OTHER]


def _ecs12(m, b, p, pl, specs, data, datas, results):
    """Change of tenancy (§18.4.3): the date-time it takes effect."""
    if not _one(specs, 2, 1, b"\x00\x00\x5e\x2c\x03\x02", 2):
        return
    i, j = data[0]
    if j - i != 14 or pl[i] != 9 or pl[i + 1] != 12:
        results[0] = _TYPE
        return
    t = dlms_to_utc(pl[i + 2:j])
    if t < 0:
        results[0] = _TYPE
        return
    results[0] = _RESULT[_supplier().change_of_tenancy(m, t)]


def dlms_to_utc(d):
    """ZigBee UTC of a DLMS date-time(12) (deviation applied when given),
    0 for 'immediate' (all zero, §9.2.2.4), -1 when malformed or 'never'."""
    from ..platform.clock import days_from_civil, DAY
    y = (d[0] << 8) | d[1]
    if y == 0 and d[2] == 0 and d[3] == 0:
        return 0
    if not (2000 <= y < 2136 and 1 <= d[2] <= 12 and 1 <= d[3] <= 31 and d[5] < 24 and
            d[6] < 60 and d[7] < 60):
        return -1
    t = (days_from_civil(y, d[2], d[3])) * DAY + d[5] * 3600 + d[6] * 60 + d[7]
    dev = (d[9] << 8) | d[10]
    if dev != 0x8000:
        if dev >= 0x8000:
            dev -= 0x10000
        t += dev * 60              # deviation: minutes local time is behind UTC (Blue Book)
    return t if t >= 0 else -1


_ACCOUNT_P = b"\x00\x01\x13\x00\x00\xff"     # 0-1:19.0.0.255, the passive Account (class 111)


def _ecs02(m, b, p, pl, specs, data, datas, results):
    """Set payment mode to credit (§9.2.2.7, Table 9.2.2.7: the passive
    Account's account_mode_and_status (2), credit_reference_list (11) and
    account_activation_time (13) -> the account's future-datable payment
    mode). Immediate (all-zero date-time) or past: now; 'never' (all FF):
    cancels; later: stored, alert at activation (future.py)."""
    if len(specs) != 3:
        return
    for k in range(3):
        if specs[k] != (2, 111, _ACCOUNT_P, (2, 11, 13)[k]):
            results[:] = [_OTHER] * 3
            results[k] = _UNDEFINED
            return
    i, j = data[0]
    i2 = data[1][0]
    i3, j3 = data[2]
    d = pl[i3 + 2:j3]
    if (pl[i:j] != b"\x02\x02\x16\x01\x16\x01" or pl[i2] != 1 or j3 - i3 != 14 or
            pl[i3] != 9 or pl[i3 + 1] != 12):
        results[:] = [_TYPE, _OTHER, _OTHER]
        return
    if d[:9] == b"\xff" * 9:
        at = _NEVER
    else:
        at = dlms_to_utc(d)
        if at < 0:
            results[:] = [_OTHER, _OTHER, _TYPE]
            return
    from . import future
    mc = p[6]
    if not future.room(m, mc):
        results[:] = [_TEMP, _OTHER, _OTHER]
        return
    from ..prepay import account as AC
    acc = m.account
    r = _RESULT[_supplier().set_payment_mode(m, AC.CREDIT, acc.sde, acc.sdd, at)]
    if r == _SUCCESS:
        # §9.2.2.3: replaces what is stored for this code; stored only if ahead
        future.store(m, at if at > m.clock.now() else 0, mc, AC.P_ACCOUNT, b[p[1]:p[1] + 8],
                     b"\x00\x6f" + _ACCOUNT_P + b"\x0d")
        results[:] = [_SUCCESS] * 3
    else:
        results[:] = [r, _OTHER, _OTHER]


_HANDLERS = {0x0059: _ecs52, 0x0007: _cs01a, 0x00B3: _ecs04b, 0x0022: _ecs12, 0x001A: _ecs02}
