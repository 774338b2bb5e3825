# GBCS ESME use cases on the read objects (cosem.py group 4): the energy
# registers (class 3; ECS17a), the logs and profiles (class 7 Profile
# Generic, attribute 2 by date range; ECS20a, ECS21c, ECS22a, ECS35a/b/e;
# ECS15a clears the Event Log) and the Data Protection objects (class 30,
# method 1 get_protected_attributes: the encrypted reads ECS17b, ECS19,
# ECS20b, ECS21a, ECS22b, ECS66; GBCS v0.8.1 §8). Handlers: h(x, spec, (start,
# end)) -> result | (result, Data) (cosem.py). Everything is read from the
# engines and logs as they are; the only change is ECS15a's, through the
# command surface (commands/supplier.clear_event_log).
#
# Profile entries (notes/gbcs-esme-functional §7.2, Tbl 18.2.1.1) go out as
# one compact-array (tag 13: type description, then the entries' contents
# without tags). Timestamps are UTC seconds since 2000 (§9.1.5); an entry is
# stamped with its capture time: a half hour's at its end, a day's at the
# midnight that closes it. A missing record is left out, never invented.
# The Daily Read Log 0-0:98.1.9 (ECS21a) is the profile's daily register
# read (metering/profile.py, 31 days): single-element entries (Tbl 18.2.1.1
# entry_registerReadLogEntry, 7 elements), also to the TWIN command, which
# is the SINGLE one octet for octet. Not served (object-undefined): the
# voltage profile 1-0:32.24.0 (no voltage metrology), the polyphase and
# secondary-element objects of a single-phase, single-element meter, and
# attribute 3 (capture_objects) of every profile: v0.8.1 names no capture
# object for the register-array columns.
import struct

from ..compat import const
from . import dlms as D

_DAY = const(86400)
_HH = const(1800)
_NEVER = 0xFFFFFFFF
_MAX_DATA = const(4000)        # GBT carries MAX_OUT_BLOCKS (4) blocks: 4596 octets a response
# Event Log cleared (later GBCS; notes §8.4 ECS15a), in the event and security logs;
# an alert's event log entry (its value: the alert code)
_CLEARED = const(0x8F52)       # = commands.supplier.LOG_CLEARED
_EV_ALERT = const(0x0001)      # = meter.EV_ALERT
_PROFILE_SLOTS = const(19200)  # = metering.profile.PROFILE_SLOTS
_DAILY_SLOTS = const(731)      # = metering.profile.DAILY_SLOTS
_DREG_SLOTS = const(31)        # metering.profile DREG_SLOTS (test_uc_read checks they agree)
_PAY_DEBT = const(2)           # the prepayment debt log's type of the payment-based debt
# Profile objects: OBIS C, D, E -> kind. Kinds < 3 are sensitive (§8.1):
# readable only encrypted, through their Data Protection object.
_OBJ = (b"\x62\x01\x02"        # 0 0-0:98.1.2 Billing Data Log, mode/tariff change (ECS20b)
        b"\x63\x01\x00"        # 1 0-0:99.1.0 half-hour profile, active import (ECS22b)
        b"\x63\x01\x03"        # 2 0-0:99.1.3 daily consumption log (ECS66)
        b"\x62\x01\x01"        # 3 0-0:98.1.1 Billing Data Log, billing calendar (ECS20c; assumed)
        b"\x62\x01\x09"        # 4 0-0:98.1.9 Daily Read Log, registers (ECS21a)
        b"\x62\x01\x04"        # 5 0-0:98.1.4 Billing Data Log, payment-based debt payments (ECS20a)
        b"\x62\x01\x0a"        # 6 0-0:98.1.10 daily read log, export (ECS21c)
        b"\x63\x01\x01"        # 7 0-0:99.1.1 half-hour profile, active export (ECS22a)
        b"\x63\x01\x02"        # 8 0-0:99.1.2 half-hour profile, reactive import (ECS22c; assumed)
        b"\x62\x01\x03"        # 9 0-0:98.1.3 Billing Data Log, prepayment credits (ECS20d; assumed)
        b"\x63\x62\x00"        # 10 0-0:99.98.0 Event Log (ECS35a; cleared by ECS15a)
        b"\x63\x62\x01"        # 11 0-0:99.98.1 Security Log (ECS35b)
        b"\x63\x62\x04")       # 12 0-0:99.98.4 Power Event Log (ECS35e)
_K_BILL = const(0)
_K_HH_IMPORT = const(1)
_K_DAY_CONS = const(2)
_K_BILL_PERIOD = const(3)
_K_DAY_REGS = const(4)
_K_CLEAR = const(5)            # kinds from here on are read in clear
_K_DEBT = const(5)
_K_DAY_EXPORT = const(6)
_K_HH_EXPORT = const(7)
_K_HH_REACTIVE = const(8)
_K_CREDITS = const(9)
_K_EVENT = const(10)
_K_SECURITY = const(11)
_K_POWER = const(12)
_DL = b"\x02\x02\x06\x06"      # dlValueLogEntry / activeImportLogEntry: time, value
_BILL = b"\x06\x06\x01\x00\x30\x06\x01\x00\x08\x06\x01\x00\x08\x06\x01\x00\x08\x06\x01\x00\x08\x06"
_TYPES = (b"\x02\x0d" + _BILL + b"\x05\x05\x05\x05\x05\x05",   # billingCalendarOnSetModeOrTariff
          _DL, _DL,
          b"\x02\x07" + _BILL,                            # billingCalendarLogEntry
          b"\x02\x07" + _BILL,                            # registerReadLogEntry (the same)
          _DL, _DL, _DL, _DL, _DL,
          b"\x02\x03\x06\x12\x09",                         # eventLogEntry
          b"\x02\x02\x06\x12",                             # securityLogEntry
          b"\x02\x03\x06\x12\x06")                         # powerLogEntry
# capture_period (attribute 4) by kind, in half hours (0: asynchronous, the logs)
_PERIOD = b"\x00\x01\x30\x00\x30\x00\x30\x01\x01\x00\x00\x00\x00"
# The range descriptor's restricting object (selector 1, §9.1.5): the UTC
# seconds Data object 0-0:94.44.100.255, attribute 2, data index 0
_RESTRICT = b"\x02\x04\x02\x04\x12\x00\x01\x09\x06\x00\x00\x5e\x2c\x64\xff\x0f\x02\x12\x00\x00"
# Data Protection 0-0:43.2.E.255 (class 30) -> the protected object: E,
# class(2), OBIS(6), attribute, is a log (from/to dates required, §8.2)
_DP = (b"\x01\x00\x01\x00\x00\x5e\x2c\x22\x1e\x02\x00"   # prepayment registers (ECS19)
       b"\x02\x00\x07\x00\x00\x62\x01\x01\xff\x02\x01"   # Billing Data Log, billing calendar (ECS20c; assumed)
       b"\x03\x00\x07\x00\x00\x62\x01\x02\xff\x02\x01"   # Billing Data Log, mode/tariff change (ECS20b)
       b"\x04\x00\x07\x00\x00\x63\x01\x03\xff\x02\x01"   # daily consumption log (ECS66)
       b"\x05\x00\x07\x00\x00\x62\x01\x09\xff\x02\x01"   # Daily Read Log (ECS21a)
       b"\x07\x00\x07\x00\x00\x63\x01\x00\xff\x02\x01"   # half-hour import profile (ECS22b)
       b"\x08\x00\x01\x00\x00\x5e\x2c\x22\x0a\x02\x00")  # import register collection (ECS17b)
_DPROW = const(11)
# protection_parameters (Tbl 8.5.2a/b) after transaction id and titles:
# other_information empty, key_info agreed_key (02 as RTDS), C(0e, 2s ECC CDH)
_PP_TAIL = b"\x09\x00\x02\x02\x16\x02\x02\x02\x09\x01\x02\x09\x00"


def _supplier():
    from ..commands import supplier
    return supplier


# -- registers (class 3) ------------------------------------------------------------------
def _register(x, s, d):
    """Registers 1-0:1.8.0 (active import), 1-0:2.8.0 (active export),
    1-0:4.8.0 (reactive import): logical_name (1), value (2) in Wh / varh,
    scaler_unit (3).
    This meter's metrology measures active import only: the export and
    reactive registers never advance (they read 0). Read-only (§7.3.4)."""
    if s[0] != 1 and s[0] != 4:
        return D.DENIED if s[0] == 2 and s[3] in (1, 2, 3) else D.UNDEFINED
    if s[3] == 1:
        return D.SUCCESS, D.octets(s[2])     # logical_name
    c = s[2][2]
    if s[3] == 2:
        return D.SUCCESS, D.u32(x.m.import_wh if c == 1 else 0)
    if s[3] == 3:
        return D.SUCCESS, D.scaler_unit(0, 0x20 if c == 4 else 0x1E)   # varh 32, Wh 30
    return D.UNDEFINED


# -- profiles and logs (class 7) -------------------------------------------------------------
def _kind(obis):
    t = _OBJ
    for i in range(0, len(t), 3):
        if t[i:i + 3] == obis[2:5]:
            return i // 3
    return -1


def _add(out, v):
    """Append v, or raise OverflowError when the response would not fit."""
    out += v
    if len(out) > _MAX_DATA:
        raise OverflowError


def _log_entries(m, k, t0, t1, out):
    """Event, security or power log entries with t0 <= time <= t1, oldest
    first. The Event Log reads from after its newest 'cleared' entry."""
    lg = m.event_log if k == _K_EVENT else m.security_log if k == _K_SECURITY else m.power_log
    got = lg.newest(lg.slots)
    n = len(got)
    if k == _K_EVENT:
        for i in range(n):
            if struct.unpack_from("<H", got[i][1], 0)[0] == _CLEARED:
                n = i
                break
    for i in range(n - 1, -1, -1):
        code, t, v = struct.unpack("<HII", got[i][1])
        if t0 <= t <= t1:
            if k == _K_EVENT and code == _EV_ALERT:
                code, v = v, -1
            e = struct.pack(">IH", t, code)
            if k == _K_POWER:
                e += struct.pack(">I", v)
            elif k == _K_EVENT:
                # §16.4: HAN / WAN command entries carry the message code, UI
                # ones the UI command code (0x8154/55, 0x8161/62)
                e += b"\x02" + struct.pack(">H", v) if code - 0x8154 in (0, 1, 13, 14) else b"\x00"
            _add(out, e)


def _hh_entries(m, k, t0, t1, out):
    pr = m.profile
    i = max((t0 + _HH - 1) // _HH - 1, pr.idx - _PROFILE_SLOTS + 1, 0)
    last = min(t1 // _HH - 1, pr.last_idx)
    while i <= last:
        v = pr.interval(i)
        if v is not None:
            _add(out, struct.pack(">II", (i + 1) * _HH, v[0] if k == _K_HH_IMPORT else 0))
        i += 1


def _day_entries(m, k, t0, t1, out):
    pr = m.profile
    d = max((t0 + _DAY - 1) // _DAY, pr.day - _DAILY_SLOTS + 2)
    last = min(t1 // _DAY, pr.day)
    prev = pr.daily_read(d - 1) if k == _K_DAY_CONS else None
    while d <= last:
        r = pr.daily_read(d)
        if k != _K_DAY_CONS:
            if r is not None:
                _add(out, struct.pack(">II", d * _DAY, 0))      # export: never advances
        elif r is not None and prev is not None:
            _add(out, struct.pack(">II", d * _DAY, (r - prev) & 0xFFFFFFFF))
        prev = r
        d += 1


def _dreg_entries(m, t0, t1, out):
    """Daily Read Log entries (profile.py daily register reads), oldest
    first: the midnight d * 86400 that opened the day, the import register,
    TOU[48], Block[4][8] (Wh); a day the meter did not see begin is left
    out."""
    pr = m.profile
    d = max((t0 + _DAY - 1) // _DAY, pr.day - _DREG_SLOTS + 1)
    last = min(t1 // _DAY, pr.day)
    while d <= last:
        r = pr.day_regs(d)
        if r is not None:
            _add(out, struct.pack(">II", d * _DAY, r[0] & 0xFFFFFFFF))
            _add(out, struct.pack(">80I", *struct.unpack_from("<80I", r[1], 7)))
        d += 1


def _money_entries(m, k, t0, t1, out):
    """Debt payments (the payment-based debt's share of each top-up) or
    prepayment credits (top-ups): time, amount as on the HAN."""
    pp = m.prepayment
    lg = pp.debts if k == _K_DEBT else pp.topups
    got = lg.newest(lg.slots)
    for i in range(len(got) - 1, -1, -1):
        r = got[i][1]
        t, amount, typ = struct.unpack_from("<IiB", r, 0)
        if (typ == _PAY_DEBT or k != _K_DEBT) and t0 <= t <= t1:
            _add(out, struct.pack(">Ii", t, pp.money(amount)))


def _bill_entries(m, k, t0, t1, out):
    """Billing Data Log entries (snapshots.py record): time, import,
    TOU[48], Block[4][8] (registers in Wh); a change entry then the
    balances (EC, meter balance, payment debt, time debts 1 and 2,
    accumulated debt)."""
    lg = m.snapshots.logs[2 if k == _K_BILL else 1]
    money = m.prepayment.money
    got = lg.newest(lg.slots)
    for i in range(len(got) - 1, -1, -1):
        r = got[i][1]
        t, _, lo, hi = struct.unpack_from("<IIIH", r, 0)
        if t0 <= t <= t1:
            _add(out, struct.pack(">II", t, lo))
            _add(out, struct.pack(">80I", *struct.unpack_from("<80I", r, 22)))
            if k == _K_BILL:
                for n in struct.unpack_from("<6i", r, 358):
                    _add(out, struct.pack(">i", money(n)))


def profile_data(m, k, t0, t1):
    """The compact-array of the entries of profile kind k with capture
    times in [t0, t1]; OverflowError if it exceeds what one response can
    carry (ask for a narrower range)."""
    out = bytearray()
    if k >= _K_EVENT:
        _log_entries(m, k, t0, t1, out)
    elif k == _K_HH_IMPORT or k == _K_HH_EXPORT or k == _K_HH_REACTIVE:
        _hh_entries(m, k, t0, t1, out)
    elif k == _K_DEBT or k == _K_CREDITS:
        _money_entries(m, k, t0, t1, out)
    elif k == _K_BILL or k == _K_BILL_PERIOD:
        _bill_entries(m, k, t0, t1, out)
    elif k == _K_DAY_REGS:
        _dreg_entries(m, t0, t1, out)
    else:
        _day_entries(m, k, t0, t1, out)
    return b"\x13" + _TYPES[k] + D.enc_len(len(out)) + out


def _range(pl, s):
    """(from, to) of a Get's access selector 1 (range_descriptor with the
    UTC restricting object, all columns); ValueError otherwise."""
    i, j = s[5], s[6]
    if s[4] != 1 or pl[i:i + 20] != _RESTRICT or pl[i + 20] != 6 or pl[i + 25] != 6 or \
            pl[i + 30:j] != b"\x01\x00":
        raise ValueError("selector")
    return struct.unpack_from(">I", pl, i + 21)[0], struct.unpack_from(">I", pl, i + 26)[0]


def _profile(x, s, d):
    """Profile Generic: attribute 1 logical_name, 2 buffer (all, or by
    date range), 4 capture_period; method 1 (reset) clears the Event Log
    only (§16.3: clear use cases exist for event logs only)."""
    k = _kind(s[2])
    m = x.m
    if k < 0:
        return D.UNDEFINED
    if s[0] == 3:
        if s[3] != 1:
            return D.UNDEFINED
        if k != _K_EVENT:
            return D.DENIED
        if x.pl[d[0]:d[1]] != b"\x0f\x00":
            return D.TYPE
        x.stage(_supplier().clear_event_log, x.mc)
        return D.SUCCESS
    if s[0] != 1 and s[0] != 4:
        return D.DENIED
    a = s[3]
    if s[0] == 1 and a == 1:
        return D.SUCCESS, D.octets(s[2])     # logical_name
    if s[0] == 1 and a == 4:
        return D.SUCCESS, D.u32(_PERIOD[k] * _HH)
    if a != 2:
        return D.UNDEFINED
    if k < _K_CLEAR:
        return D.DENIED            # §8.2: only through its Data Protection object, encrypted
    t0, t1 = _range(x.pl, s) if s[0] == 4 else (0, _NEVER)
    try:
        return D.SUCCESS, profile_data(m, k, t0, t1)
    except OverflowError:
        return D.OTHER


# -- Data Protection (class 30, §8.5) ---------------------------------------------------
def _utc(dt):
    """UTC of a restriction date-time (§8.2: all 00 = oldest, all FF =
    newest, the 3 least significant octets aside); -1 if malformed."""
    if dt[:9] == bytes(9):
        return 0
    if dt[:9] == b"\xff" * 9:
        return _NEVER
    return D.to_utc(dt)


def _party(x):
    """(Encryption Remote Party, Encryption Originator Counter) (§8.3): the
    Supplementary Remote Party and its counter when present, else the
    Grouping Header's originator and counter."""
    b, p = x.b, x.p
    if p[8] >= 18:
        return bytes(b[p[7] + 2:p[7] + 10]), bytes(b[p[7] + 10:p[7] + 18])
    return bytes(b[p[2]:p[2] + 8]), x.oc()


def _protected(x, s, d):
    """Data Protection 0-0:43.2.E.255 method 1 get_protected_attributes:
    the request checked against Tbl 8.5.2a (its object definition is this
    object's, a log read carries from/to dates, a non-log read none, the
    protection parameters name this device and the encryption party and
    counter), the response per Tbl 8.5.2b with the protected attribute
    encrypted (§8.2-8.4; core.encrypt_item)."""
    if s[0] != 3:
        return D.DENIED if s[0] in (1, 4) else D.UNDEFINED
    t = _DP
    e = s[2][4]
    for r in range(0, len(t), _DPROW):
        if t[r] == e:
            break
    else:
        return D.UNDEFINED
    if s[3] != 1:
        return D.DENIED
    pl = x.pl
    i, j = d
    row = t[r + 1:r + _DPROW]
    log = row[9]
    if pl[i:i + 6] != b"\x02\x02\x01\x01\x02\x05" or pl[i + 6] != 0x12 or \
            pl[i + 7:i + 9] != row[:2] or pl[i + 9:i + 11] != b"\x09\x06" or \
            pl[i + 11:i + 17] != row[2:8] or pl[i + 17] != 0x0F or pl[i + 18] != row[8] or \
            pl[i + 19:i + 25] != b"\x12\x00\x00\x02\x02\x16" or pl[i + 25] != log:
        return D.TYPE
    i += 26
    t0, t1 = 0, _NEVER
    if log:
        if pl[i:i + 4] != b"\x02\x02\x09\x0c" or pl[i + 16:i + 18] != b"\x09\x0c":
            return D.TYPE
        t0 = _utc(bytes(pl[i + 4:i + 16]))
        t1 = _utc(bytes(pl[i + 18:i + 30]))
        if t0 < 0 or t1 < 0:
            return D.TYPE
        i += 30
    elif pl[i] != 0:
        return D.TYPE
    else:
        i += 1
    party, ctr = _party(x)
    from . import keystore as K
    dev = K.get(x.m)[1]
    if bytes(pl[i:j]) != b"\x01\x01\x02\x02\x16\x02\x02\x05\x09\x09\x04" + ctr + b"\x09\x08" + \
            party + b"\x09\x08" + dev + _PP_TAIL:
        return D.TYPE
    m = x.m
    if log:
        try:
            v = profile_data(m, _kind(row[2:8]), t0, t1)
        except OverflowError:
            return D.OTHER
    elif e == 1:
        # prepayment registers: meter balance, EC balance, accumulated debt,
        # payment debt, time debts 1 and 2 (notes §8.2 ECS19), as on the HAN
        a = m.account
        money = m.prepayment.money
        v = b"\x02\x06"
        for n in (a.mb, a.ecb if a.ec_in_use else 0, a.ad, a.debt[2], a.debt[0], a.debt[1]):
            v += D.u32(money(n), 0x05)
    else:
        # import register collection (RTDS ECS17b): active import and the
        # reactive import register (which this meter does not advance)
        v = b"\x02\x04" + D.u32(m.import_wh) + D.scaler_unit(0, 0x1E) + D.u32(0) + \
            D.scaler_unit(0, 0x20)
    from .core import encrypt_item
    c = encrypt_item(m, x.b, x.p, b"\x02\x01" + v)
    if c is None:
        return D.TEMP_FAIL
    return D.SUCCESS, (b"\x02\x02\x01\x01\x02\x02\x16\x02\x02\x05\x09\x09\x04" + ctr +
                       b"\x09\x08" + dev + b"\x09\x08" + party + _PP_TAIL +
                       D.octets(c))


H = (_register, _profile, _protected)
