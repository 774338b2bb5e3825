# GBCS ESME use cases on the account objects (cosem.py group 1; GBCS v0.8.1
# §7.3.9, §9.2.2.7, §18.2.1.2-3; notes/gbcs-esme-functional §3): Account
# (class 111, active 0-0:19.0.0 read, passive 0-1:19.0.0 written: ECS02,
# ECS03, ECS26a), Credits (112 0-0:19.10.0/1/2: ECS04a/b, ECS09, ECS82,
# ECS26a), Charges (113 0-0:19.20.1/2/3, the two time debts and the payment
# debt: ECS07, ECS26a), Token Gateway (115: CS01a), the prepayment
# configuration values (9000 0-0:94.44.128.x and 94.44.2.10/20: ECS03,
# ECS08, ECS26a), the non-disablement calendar and its special days
# (10 0-x:12.0.1, 11 0-x:11.0.2: ECS08, ECS26a) and the disablement
# threshold (21 0-0:16.0.1: ECS26a). Handlers: h(x, spec, (start, end)) ->
# result | (result, Data) (cosem.py). Reads read the engine; every change is
# a commands/ function staged with x.stage (dispatch.py: all or nothing).
#
# Money: every DLMS money value of classes 111, 112, 113 and 9000 is in
# 10^-5 of the currency unit, the account engine's own unit, so it is
# copied 1:1 (RTDS: the charges' price_scale -5 in ECS26a; ECS82 meter
# balance 250000 = 2.50, ECS04a adjust 1200000 = 12.00, EC limit 2500000).
# Maximum credit and maximum meter balance (94.44.2.10 / .20) travel in the
# same scale but are whole currency units (§14.3.8.1-2): only multiples of
# 100000 are accepted. A Charge's unit_charge (rate per period) is
# charge_per_unit * 10^price_scale currency units; the payment debt's
# proportion (113 attr 13) is in 0.01 % like the engine's pay_pct.
#
# Future-dated values (§9.2.2): a passive value (9000 attr 2 or 4, passive
# Account attrs 2/11, passive calendars attr 2) is kept on the request until
# its activation-time attribute (9000 attr 6, Account attr 13) stages one
# command per value; future.py remembers each for its 8F66/8F67 alert, in
# the order of the activation-time instructions (RTDS ECS03/ECS08 alerts).
# A passive value whose activation time the same command does not set is
# refused (other-reason): the engine keeps no passive value outside a dated
# activation (Tbl 9.2.2.7 use cases always send both).
import struct

from ..compat import const
from ..platform.clock import NEVER
from . import dlms as D
from . import keystore as K

_G = const(1)                  # this module's cosem.py group
_P_ACCOUNT = const(9)          # = prepay.account.P_ACCOUNT
_P_FRIENDLY = const(10)        # = prepay.account.P_FRIENDLY
_P_MAXC = const(11)            # max credit (no engine parameter: took() applies it)
_P_MAXB = const(12)            # max meter balance
_POUND = const(100000)         # = prepay.account.PER_POUND
_START = const(0x20)           # non-disablement script selectors (0-0:10.0.106.255)
# 9000 0-0:94.44.E.F: E, F, parameter, A-XDR type of the value (notes §3.4,
# Tbl 9.2.2.7; RTDS ECS08 alert names): disablement threshold, EC limit,
# EC threshold, low credit threshold, debt recovery rate cap amount and
# period (s), non-disablement calendar and special days activation,
# maximum credit, maximum meter balance
_X9000 = (b"\x80\x16\x00\x05\x80\x02\x01\x05\x80\x03\x02\x05\x80\x09\x03\x05"
          b"\x80\x0c\x04\x12\x80\x0d\x05\x05\x80\x1c\x0a\x00\x80\x1f\x0a\x00"
          b"\x02\x0a\x0b\x05\x02\x14\x0c\x05")
_SCRIPT = b"\x09\x06\x00\x00\x0a\x00\x6a\xff"
# a debt's unit_charge {charge_per_unit_scaling {0, price_scale}, commodity
# (none), charge_table [{index "", charge_per_unit long}]} (RTDS ECS07,
# ECS26a); octet 7 the price scale, the last two the value
_UC = (b"\x02\x03\x02\x02\x0f\x00\x0f\xfb\x02\x03\x12\x00\x00\x09\x06\x00\x00\x00\x00\x00"
       b"\x00\x0f\x00\x01\x01\x02\x02\x09\x00\x10")


def _supplier():
    from ..commands import supplier
    return supplier


# (money items are double-long, tag 05, checked by the handlers: int32 by construction)
def _later(x, kind, cls, obis, a):
    """True when an instruction after the running one is (kind, cls, obis, a)."""
    sp = getattr(x, "sp", None)
    if sp is None:
        sp = x.sp = D.parse_request(x.pl)[1]
    for s in sp[x.k + 1:]:
        if s[0] == kind and s[1] == cls and s[2] == obis and s[3] == a:
            return True
    return False


def _passive(x):
    d = getattr(x, "v", None)
    if d is None:
        d = x.v = {}
    return d


# -- future-datable values ----------------------------------------------------------------------
def _act(m, first, key, v, at, mc, oc, desc):
    """Staged: apply (or date, or cancel) one value through the command
    surface and remember a dated one for its alert (future.py; the first
    value of a command replaces what is stored for its message code)."""
    from . import future
    S = _supplier()
    if first:
        future.drop(m, mc)
    if key == _P_ACCOUNT:
        r = S.set_payment_mode(m, v & 3, v & 4, v & 8, at)
    elif key >= _P_MAXC:
        r = 0
        if at != NEVER and at <= m.clock.now():
            r = took(m, key, v, at) ^ 1
    else:
        r = S.set_params(m, at, key, v)
        if key == _P_FRIENDLY:
            v = 0
    if r == 0:
        future.add(m, at, mc, _G << 5 | key, oc, desc, v)
    return r


def took(m, param, v, at):
    """future.py: the value staged for `at` took effect (not cancelled or
    replaced by another route since). Maximum credit / meter balance (whole
    currency units) are no engine parameters: applied here, at their time."""
    acc = m.account
    if param >= _P_MAXC:
        return _supplier().set_credit_limits(m, v if param == _P_MAXC else None,
                                             v if param == _P_MAXB else None) == 0
    return acc.pend_at[param] != at and acc.p[param] == v


def _activate(x, s, d, key, v):
    """An activation-time attribute (9000 attr 6, Account attr 13,
    §9.2.2.4-5: zeros immediate, all FF never): stage value key with it."""
    dt = D.date_time(x.pl, d[0], d[1])
    at = NEVER if D.is_never(dt) else D.to_utc(dt)
    if at < 0:
        return D.TYPE
    from . import future
    n = getattr(x, "acts", 0)
    if not future.room(x.m, x.mc, n + 1):
        return D.TEMP_FAIL
    x.acts = n + 1
    x.stage(_act, not n, key, v, at, x.mc, x.oc(), struct.pack(">H", s[1]) + s[2] + bytes((s[3],)))
    return D.SUCCESS


# -- Account (111) ------------------------------------------------------------------------------
def _account(x, s, d):
    """The active Account 0-0:19.0.0.255 is read only (§7.3.9):
    account_mode_and_status (2), credit_charge_configuration (11),
    low_credit_threshold (16), max_provision (18), max_provision_period
    (19). The passive Account 0-1:19.0.0.255 is written only (§9.2.2.7,
    Tbl 9.2.2.7): account_mode_and_status (2), credit_charge_configuration
    (11) and account_activation_time (13) make one future-datable
    payment-mode change (ECS02 credit, ECS03 prepayment with Suspend Debt
    Emergency and Disabled). The wire's credit_charge_configuration names
    the charges 0-0:19.20.x (RTDS, later GBCS; v0.8.1 Tbl 18.2.1.2 prints
    19.2.x, as the engine's canonical form keeps); a twin value on this
    single-element meter names the secondary charge it does not have, its
    SDE/SDD are what counts."""
    from ..prepay import account as AC
    acc = x.m.account
    a = s[3]
    if s[2][1] == 0:
        if s[0] != 1:
            return D.DENIED
        p = acc.p
        if a == 2:
            v = b"\x02\x02\x16" + bytes((acc.mode,)) + b"\x16\x01"
        elif a == 11:
            v = bytes(AC.ccc(acc.mode, acc.sde, acc.sdd)).replace(b"\x13\x02", b"\x13\x14")
        elif a == 16 or a == 19:
            v = D.u32(p[3 if a == 16 else 5], 5)  # P_LOW_CREDIT, P_CAP_PERIOD (s)
        elif a == 18:
            v = D.u16(min(p[4], 0xFFFF))          # P_CAP
        else:
            return D.UNDEFINED
        return D.SUCCESS, v
    if s[0] != 2:
        return D.DENIED if s[0] in (1, 4) else D.UNDEFINED
    pl = x.pl
    i, j = d
    p = _passive(x)
    if a == 2:
        # structure { payment mode enum 1 credit / 2 prepayment, account status enum }
        if j - i != 6 or pl[i:i + 3] != b"\x02\x02\x16" or pl[i + 4] != 0x16 or \
                pl[i + 3] not in (1, 2) or not 1 <= pl[i + 5] <= 3:
            return D.TYPE
        p[_P_ACCOUNT] = pl[i + 3] | (p.get(_P_ACCOUNT, (acc.sde << 2) | (acc.sdd << 3)) & 12)
    elif a == 11:
        v = bytes(pl[i:j]).replace(b"\x13\x14", b"\x13\x02")
        try:
            mode, sde, sdd = AC.parse_ccc(v)
        except ValueError:
            mode, sde, sdd = AC.parse_ccc(v, True)
        if p.get(_P_ACCOUNT, mode) & 3 != mode:
            return D.TYPE
        p[_P_ACCOUNT] = mode | (sde << 2) | (sdd << 3)
    elif a == 13 and _P_ACCOUNT in p:
        return _activate(x, s, d, _P_ACCOUNT, p[_P_ACCOUNT])
    else:
        return D.UNDEFINED
    return D.SUCCESS if _later(x, 2, 111, s[2], 13) else D.OTHER


# -- Credits (112) ------------------------------------------------------------------------------
def _credit(x, s, d):
    """Credit 0-0:19.10.{0,1,2}.255 (meter balance, emergency credit,
    accumulated debt; §18.2.1.3): Get current_credit_amount (2), on the EC
    credit preset_credit_amount (9, the EC limit) and
    credit_available_threshold (10, the EC threshold); method 1
    update_amount on the meter balance adds a signed amount (ECS04a);
    method 2 set_amount_to_value with 0 on all three resets the meter
    balance (ECS04b, §18.4.1); method 3 invoke_credit on the EC credit
    activates emergency credit (ECS09; other-reason when not available)."""
    e = s[2][4]
    acc = x.m.account
    a = s[3]
    if s[0] == 1:
        if a == 2:
            return D.SUCCESS, D.u32((acc.mb, acc.ecb, acc.ad)[e], 5)
        if e == 1 and a in (9, 10):
            return D.SUCCESS, D.u32(acc.p[a - 8], 5)     # P_EC_LIMIT 1, P_EC_THRESHOLD 2
        return D.UNDEFINED
    if s[0] != 3:
        return D.DENIED
    pl = x.pl
    i, j = d
    S = _supplier()
    if a == 1 and e == 0 and pl[i] == 5:
        x.stage(S.adjust_balance, D.uint(pl, i, j))
    elif a == 2 and pl[i:j] == b"\x05\x00\x00\x00\x00":
        x.stage(S.set_balance, 0)
    elif a == 3 and e == 1 and pl[i:j] == b"\x0f\x00":
        from .. import commands
        x.stage(commands.activate_ec)
    else:
        return D.UNDEFINED if a > 3 or (a != 2 and e != a - 1) else D.TYPE
    return D.SUCCESS


# -- Charges (113): the time debts and the payment debt -----------------------------------------
def _charge(x, s, d):
    """Charge 0-0:19.20.{1,2,3}.255 (time debt 1, 2, payment debt): Get
    total_amount_paid (2), unit_charge_active (5), period (8),
    total_amount_remaining (12), proportion (13, 0.01 %); ECS07: Set
    unit_charge_passive (6), period (8), proportion (13 on the payment
    debt), methods activate_passive_unit_charge (2),
    update_total_amount_remaining (4, adds a signed amount) and
    set_total_amount_remaining (5). unit_charge is charge_per_unit *
    10^price_scale currency units per period. The engine keeps no passive
    unit charge: ECS07 activates it in the same command, so a Set of attr 6
    takes effect with it (refused without method 2 after it)."""
    n = s[2][4] - 1
    acc = x.m.account
    a = s[3]
    t = n < 2
    if s[0] == 1:
        if a == 2:
            v = D.u32(acc.collected[n], 5)
        elif a == 5 and t:
            r = acc.rate[n]
            ps = -5
            while r > 0x7FFF:
                r //= 10
                ps += 1
            v = _UC[:7] + bytes((ps & 0xFF,)) + _UC[8:] + D.u16(r)[1:]
        elif a == 8 and t:
            v = D.u32(acc.period[n])
        elif a == 12:
            v = D.u32(acc.debt[n], 5)
        elif a == 13 and not t:
            v = D.u16(acc.pay_pct)
        else:
            return D.UNDEFINED
        return D.SUCCESS, v
    pl = x.pl
    i, j = d
    S = _supplier()
    v = D.uint(pl, i, j) if pl[i] != 2 else 0
    if s[0] == 2:
        if a == 6 and t:
            if j - i != 32 or pl[i:i + 7] != _UC[:7] or pl[i + 8:j - 2] != _UC[8:]:
                return D.TYPE
            e = ((pl[i + 7] + 128) & 0xFF) - 123          # price scale + 5
            v = D.uint(pl, j - 3, j)
            f = 10 ** abs(e)
            if v < 0 or abs(e) > 9 or e < 0 and v % f:
                return D.TYPE
            if not _later(x, 3, 113, s[2], 2):
                return D.OTHER
            x.stage(S.set_debt, n, 0, v * f if e >= 0 else v // f, None, True)
        elif a == 8 and t and pl[i] == 6 and v:
            x.stage(S.set_debt, n, 0, None, v, True)
        elif a == 13 and not t and pl[i] == 0x12 and v <= 10000:
            x.stage(S.set_debt_share, v)
        else:
            return D.UNDEFINED if a not in (6, 8, 13) else D.TYPE
        return D.SUCCESS
    if a == 2 and t and pl[i:j] == b"\x0f\x00":
        return D.SUCCESS                   # the Set of attr 6 staged the rate
    if a in (4, 5) and pl[i] == 5:
        v = D.uint(pl, i, j)
        if v + (acc.debt[n] if a == 4 else 0) < 0:
            return D.TYPE                  # no debt below zero
        x.stage(S.set_debt, n, v, None, None, a == 4)
        return D.SUCCESS
    return D.TYPE if a in (2, 4, 5) else D.UNDEFINED


# -- Token Gateway (115) ------------------------------------------------------------------------
def _token_gateway(x, s, d):
    """Token Gateway 0-0:19.40.0.255 method 1 (CS01a network top-up,
    §14.4.4): octet-string(20) of the UTRN digits; the UTRN counter is the
    command OC's high 32 bits; the PTUT MAC key is Z with the supplier's
    prepayment top-up cell (§14.3.5)."""
    if s[0] != 3 or s[3] != 1:
        return D.UNDEFINED
    pl = x.pl
    i, j = d
    if j - i != 22 or pl[i] != 9 or pl[i + 1] != 20:
        return D.TYPE
    from ..prepay import utrn as U
    try:
        ptut = U.parse(bytes(pl[i + 2:j]).decode())
    except (U.UtrnError, ValueError):
        return D.TYPE
    m = x.m
    acc = m.account
    if acc.z is None:
        p = x.p
        acc.z = K.z(K.get(m), bytes(x.b[p[2]:p[2] + 8]), 1)
    x.stage(_supplier().top_up_ptut, ptut, int.from_bytes(x.oc(), "big") >> 32)
    return D.SUCCESS


# -- prepayment configuration values (9000) and the disablement threshold (21) ---------------
def _extended(x, s, d):
    """Extended Data 0-0:94.44.E.F (class 9000, §22): Get value_active (2);
    Set value_active (2) or value_passive (4), then
    activate_passive_value_time (6): the future-datable prepayment
    parameters (Tbl 9.2.2.7) and the credit maxima (§14.3.8.1-2: whole
    currency units, so only multiples of 100000 on the wire)."""
    o = s[2]
    t = _X9000
    for k in range(0, len(t), 4):
        if t[k] == o[4] and t[k + 1] == o[5]:
            break
    else:
        return D.UNDEFINED
    key = t[k + 2]
    typ = t[k + 3]
    acc = x.m.account
    a = s[3]
    if key == _P_MAXC:
        v = acc.max_credit * _POUND
    elif key == _P_MAXB:
        v = acc.max_balance * _POUND
    else:
        v = acc.p[key]
    if s[0] == 1 and a == 2 and typ:
        return D.SUCCESS, (D.u16(v) if typ == 0x12 else D.u32(v, typ))
    if s[0] != 2:
        return D.UNDEFINED
    p = _passive(x)
    if a == 6:
        if key == _P_FRIENDLY:
            return _friendly_act(x, s, d, acc)
        v = p.get(key, acc.pend_val[key] if key < _P_MAXC and acc.pend_at[key] != NEVER else v)
        return _activate(x, s, d, key, v // _POUND if key >= _P_MAXC else v)
    if not typ or a not in (2, 4):
        return D.UNDEFINED
    pl = x.pl
    i, j = d
    if pl[i] != typ:
        return D.TYPE
    v = D.uint(pl, i, j)
    if key >= _P_MAXC and v % _POUND or v < 0 and key:
        return D.TYPE                      # only the disablement threshold may be negative
    p[key] = v
    return D.SUCCESS if _later(x, 2, 9000, o, 6) else D.OTHER


def _threshold(x, s, d):
    """Register Monitor 0-0:16.0.1.255 thresholds (2): the disablement
    threshold on the meter balance (Tbl 9.2.2.7); read only (ECS03 and
    ECS08 change it through 0-0:94.44.128.22)."""
    if s[0] != 1:
        return D.DENIED
    if s[3] != 2:
        return D.UNDEFINED
    return D.SUCCESS, b"\x01\x01" + D.u32(x.m.account.p[0], 5)


# -- the non-disablement calendar (10) and its special days (11) -------------------------------
# The engine holds weekly periods (weekday mask bit 0 Monday, start minute,
# end minute) and whole special days (prepay/account.py friendly_blob). A
# Schedule (class 10) write is read as its start (selector 0x20) and stop
# (0x21) events of the week, applied in time order; each day's friendly
# intervals become the engine's periods. Entries with no weekday
# (special-day entries) and the begin/end dates (seasons) are not held by
# the engine: a season's periods apply all year (RTDS ECS08: both seasons
# are the same week). Reading builds the entries back from the periods (a
# stop at midnight is 00:00 of the next days; at one instant a stop comes
# before a start).

def _schedule(pl, i, j):
    """The engine periods [[mask, start, end]] of a Schedule entries array."""
    ev = []
    for e in D.items(pl, i, j, 1):
        f = D.items(pl, *e)
        if len(f) != 10:
            raise ValueError("schedule")
        k, w = f[4][0], f[6][0]
        sel = D.uint(pl, *f[3]) - _START
        h = pl[k + 2]
        mi = pl[k + 3]
        if pl[k:k + 2] != b"\x09\x04" or pl[w:w + 2] != b"\x04\x07" or sel > 1 or h > 23 or \
                mi > 59 or pl[f[2][0]:f[2][1]] != _SCRIPT or pl[f[1][0]] != 3:
            raise ValueError("schedule")
        if pl[f[1][0] + 1]:
            for k in range(7):
                if pl[w + 2] << k & 0x80:
                    ev.append((k * 1440 + h * 60 + mi, 1 - sel))
    ev.sort()
    on = ev[-1][1] if ev else 0            # the week wraps round
    per = []
    t = 0
    w = 10080                              # the week's end (no constant tuple: freeze rule)
    ev.append((w, 0))
    for w, st in ev:
        while on and t < w:
            k = t // 1440
            b = min(w, k * 1440 + 1440)
            a = t - k * 1440
            for q in per:
                if q[1] == a and q[2] == b - k * 1440:
                    q[0] |= 1 << k
                    break
            else:
                per.append([1 << k, a, b - k * 1440])
            t = b
        t = w
        on = st
    return per


def _calendar(x, s, d):
    """Schedule 0-0:12.0.1.255 (active, read) / 0-1:12.0.1.255 (passive,
    written; the notes' 0-0:12.1.1.255), Special Days 0-0:11.0.2.255 /
    0-1:11.0.2.255 (entries {index, date, day_id}): attribute 2 (entries).
    Activated by 0-0:94.44.128.28 / .31 attribute 6 (Tbl 9.2.2.7)."""
    if s[3] != 2:
        return D.UNDEFINED
    acc = x.m.account
    cal = s[2][2] == 12
    out = []
    if s[2][1] == 0 and s[2][3] == 0:
        if s[0] != 1:
            return D.DENIED
        if cal:
            fp = acc._fp
            for k in range(0, len(fp), 3):
                for sel in (0, 1):
                    mask = fp[k]
                    mn = fp[k + 1 + sel]
                    if mn == 1440:
                        mn = 0
                        mask = mask << 1 | mask >> 6
                    b = 0
                    for q in range(7):
                        if mask >> q & 1:
                            b |= 0x80 >> q
                    # {index, enable, script, selector, switch_time, validity_window,
                    #  exec_weekdays, exec_specdays, begin_date, end_date (not specified)}
                    out.append(b"\x02\x0a" + D.u16(len(out) + 1) + b"\x03\xff" + _SCRIPT +
                               D.u16(_START + sel) + b"\x09\x04" + bytes((mn // 60, mn % 60)) +
                               b"\x00\x00\x12\xff\xff\x04\x07" + bytes((b,)) +
                               b"\x04\x00\x09\x05\xff\xff\xff\xff\xff\x09\x05\xff\xff\xff\xff\xff")
        else:
            for k in acc._fd:
                n = len(out) + 1                     # {index, date, day_id}
                out.append(struct.pack(">BBBHBBHBBBBB", 2, 3, 0x12, n, 9, 5, k >> 9, k >> 5 & 15,
                                       k & 31, 0xFF, 0x11, n))
        return D.SUCCESS, D.array_of(out)
    if s[0] != 2:
        return D.DENIED if s[0] == 1 else D.UNDEFINED
    pl = x.pl
    if cal:
        out = _schedule(pl, *d)
    else:
        for e in D.items(pl, d[0], d[1], 1):
            f = D.items(pl, *e)
            dt = D.string(pl, *f[1])
            if len(f) != 3 or len(dt) != 5 or not (1 <= dt[2] <= 12 and 1 <= dt[3] <= 31):
                raise ValueError("special day")
            out.append(((dt[0] << 8) | dt[1], dt[2], dt[3]))
    _passive(x)[cal - 2] = out
    return D.SUCCESS if _later(x, 2, 9000, b"\x00\x00\x5e\x2c\x80" + (b"\x1c" if cal else b"\x1f"),
                               6) else D.OTHER


def _friendly_act(x, s, d, acc):
    """The calendar's or its special days' activation: the engine's one
    non-disablement calendar, with what this command gave and the engine's
    current other half; both halves with one activation time (the
    engine's)."""
    from ..prepay import account as AC
    p = _passive(x)
    f = acc._fp
    fp = p.get(-1, [f[k:k + 3] for k in range(0, len(f), 3)])
    days = p.get(-2, [(k >> 9, k >> 5 & 15, k & 31) for k in acc._fd])
    try:
        v = AC.friendly_blob(fp, days)
    except ValueError:
        return D.TEMP_FAIL
    dt = bytes(x.pl[d[0]:d[1]])
    if getattr(x, "fat", dt) != dt:
        return D.OTHER
    x.fat = dt
    return _activate(x, s, d, _P_FRIENDLY, v)


H = (_account, _credit, _token_gateway, _charge, _extended, _threshold, _calendar)
