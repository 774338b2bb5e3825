# GBCS ESME use cases on supply, load limiting and the auxiliary load-control
# switches (cosem.py group 3; notes/gbcs-esme-functional §4.1-4.3, §8.3):
# disconnect control (class 70, ECS45, the ALCS switches of ECS61a), the
# supply script table (ECS42/43/44), the ALCS script table and durations
# (ECS47), the limiter (class 71) with its future-datable class 9000 values
# (ECS27, ECS28a, Tbl 9.2.2.7), the load limit counter (ECS28b), ALCS labels,
# HCALCS ids, boost associations and the ALCS calendar (ECS46a, ECS61a,
# ECS62). Every change goes through commands/supplier.py. Handlers:
# h(x, spec, (start, end)) -> result | (result, Data) (cosem.py).
from ..compat import const
from ..platform.clock import NEVER as _NEVER
from . import dlms as D

_G = const(3)                  # this module's cosem.py group
_ENABLED = const(2)            # = prepay.supply.ENABLED
_MAX_MIN = const(1440)         # ALCS duration, minutes (§18.1.1: 1..1440)
# supply script table 0-0:10.0.106.255: (message code, script id, supply
# state): ECS42 0x004F 51 enable, ECS43 0x0050 52 disable, ECS44 0x0051 54 arm
_SUPPLY = b"\x4f\x33\x02\x50\x34\x00\x51\x36\x01"
# class 9000 0-0:94.44.128.6/7/8 -> account parameter (P_LL_PERIOD, P_LL_POWER,
# P_LL_RESTORE); 0-0:94.44.0.3, the load-limit supply state, is parameter 0
_LL = b"\x07\x06\x08"
_DT_NEVER = b"\xff" * 9 + b"\x80\x00\xff"


def _s():
    from ..commands import supplier
    return supplier


def _u(x, d, t):
    """The unsigned value of the data item d, which must be of type t."""
    if x.pl[d[0]] != t:
        raise ValueError("type")
    return D.uint(x.pl, d[0], d[1])


def _bool(x, d):
    if d[1] - d[0] != 2 or x.pl[d[0]] != 3:
        raise ValueError("type")
    return x.pl[d[0] + 1] != 0


def _disconnect(x, s, d):
    """Disconnect control (class 70): 0-0:96.3.10.255 the supply (ECS45),
    0-n:96.3.10.255 auxiliary switch n (ECS61a). Get 2 output_state, 3
    control_state (Blue Book 0 disconnected, 1 connected, 2
    ready_for_reconnection = SMETS Disabled, Enabled, Armed). Its methods are
    not exposed: the supply changes only through the script table's
    critical use cases (§7.3.2)."""
    if s[0] != 1:
        return D.DENIED
    m = x.m
    n = s[2][1]
    if n:
        if n > len(m.aux.closed):
            return D.UNAVAILABLE       # this meter has fewer switches
        st = 1 if m.aux.closed[n - 1] else 0
    else:
        st = b"\x00\x02\x01"[m.supply.state]
    if s[3] == 2:
        return D.SUCCESS, D.u8(3, 0xFF if st == 1 else 0)
    if s[3] == 3:
        return D.SUCCESS, D.u8(0x16, st)
    return D.UNDEFINED


def _supply_script(x, s, d):
    """Supply script table 0-0:10.0.106.255 execute (method 1) with the
    script of the message's use case (§7.3.3: validated against it)."""
    if s[0] != 3 or s[3] != 1:
        return D.DENIED
    v = _u(x, d, 0x12)
    t = _SUPPLY
    for i in range(0, len(t), 3):
        if t[i + 1] == v:
            if x.mc != t[i]:
                return D.DENIED
            x.stage(_s().set_supply, t[i + 2])
            return D.SUCCESS
    return D.OTHER


def _alcs_script(x, s, d):
    """ALCS script table 0-0:10.0.103.255 execute (ECS47): script id
    switch << 8 | action, action 0x01 on (load supplied), 0x02 off, 0x11 /
    0x12 the same for the duration set in the same command (the ALCS
    calendar's entries, RTDS ECS61a, use 0x0101 / 0x0102 / 0x0201 / 0x0202;
    ECS47Activate 0x0111 with 30 minutes)."""
    if s[0] != 3 or s[3] != 1:
        return D.DENIED
    v = _u(x, d, 0x12)
    n = v >> 8
    a = v & 0xFF
    if a not in (0x01, 0x02, 0x11, 0x12) or not 1 <= n <= 5:
        return D.OTHER
    if n > len(x.m.aux.closed):
        return D.UNAVAILABLE
    dur = getattr(x, "dur", None)
    x.stage(_s().set_aux, n, a & 3 == 1, dur.get(n, 0) if dur and a > 0x10 else 0)
    return D.SUCCESS


def _alcs_duration(x, s, d):
    """0-0:94.44.117.n attribute 2: the duration (minutes, 1..1440; 0 until
    changed) of the state ECS47's ALCS script then sets on switch n."""
    if s[0] != 2 or s[3] != 2:
        return D.DENIED if s[3] == 2 else D.UNDEFINED
    v = _u(x, d, 0x12)
    if v > _MAX_MIN:
        return D.TYPE
    dur = getattr(x, "dur", None)
    if dur is None:
        dur = x.dur = {}
    dur[s[2][5]] = v
    return D.SUCCESS


def _ll_commit(m, i, v, at, mc, oc, desc, first):
    """One load-limit value through the command surface, then its
    future-dated alert entry (future.py; the first value of the command
    drops what is stored for its message code, §9.2.2.3)."""
    from . import future
    r = _s().set_load_limit_param(m, i, v, at)
    if r == 0:
        if first:
            future.drop(m, mc)
        future.add(m, at, mc, _G << 5 | i, oc, desc, v)
    return r


def took(m, i, v, at):
    """future.py: the engine took the value staged for `at`."""
    if i == 0:
        s = m.supply
        return s.ll_at != at and s.ll_state == v
    a = m.account
    return a.pend_at[i] != at and a.p[i] == v


def _ll(x, s, d):
    """Class 9000 (§22) 0-0:94.44.0.3 (LoadLimitSupplyState, boolean: TRUE
    = disable the supply on a load-limit event) and 0-0:94.44.128.6/7/8
    (period, power threshold, restoration period, double-long-unsigned):
    Get 2 active, 3/5 scaler_unit, 4 passive, 6 activation time; Set 4 then 6 (ECS28a, each
    value its own activation time, Tbl 9.2.2.7: immediate, future or
    never = cancel)."""
    m = x.m
    o = s[2]
    i = 0 if o[4] == 0 else _LL[o[5] - 6]
    if i:
        a = m.account
        act, pend, at = a.p[i], a.pend_val[i], a.pend_at[i]
    else:
        su = m.supply
        act, pend, at = su.ll_state, su.ll_pend, su.ll_at
    a = s[3]
    if s[0] == 1:
        if a == 2 or a == 4:
            v = act if a == 2 or at == _NEVER else pend
            return D.SUCCESS, D.u32(v) if i else D.u8(3, 0 if v == _ENABLED else 0xFF)
        if a == 3 or a == 5:           # scaler_unit: none (boolean), W, s, s
            return D.SUCCESS, D.scaler_unit(0, b"\xff\x00\x00\x00\x00\x00\x1b\x07\x07"[i])
        if a == 6:
            from .core import dlms_time
            return D.SUCCESS, D.octets(_DT_NEVER if at == _NEVER else dlms_time(at))
        return D.UNDEFINED
    if s[0] != 2 or a not in (4, 6):
        return D.DENIED
    vals = getattr(x, "ll", None)
    if vals is None:
        vals = x.ll = {}
    if a == 4:
        if i:
            v = _u(x, d, 0x06)
            if v >> 31:                # above int32 (commands.supplier.param_ok)
                return D.TYPE
        else:
            v = 0 if _bool(x, d) else _ENABLED
        vals[i] = v
        return D.SUCCESS
    dt = D.date_time(x.pl, d[0], d[1])
    t = _NEVER if D.is_never(dt) else D.to_utc(dt)
    if t < 0:
        return D.TYPE                  # partly 'not specified' is not allowed (§22.1)
    from . import future
    n = len([e for e in x.todo if e[1][0] is _ll_commit])
    if not future.room(m, x.mc, n + 1):
        return D.TEMP_FAIL
    x.stage(_ll_commit, i, vals.get(i, act if at == _NEVER else pend), t, x.mc, x.oc(),
            b"\x23\x28" + o + b"\x06", n == 0)
    return D.SUCCESS


def _counter(x, s, d):
    """Register 0-0:94.44.42.255, the Load Limit Counter (Metering
    LoadLimitCounter): Get 2 value, 3 scaler_unit (0, count); method 1
    reset(integer 0) (ECS28b)."""
    a = s[3]
    if s[0] == 1:
        if a == 2:
            return D.SUCCESS, D.u32(x.m.metering.stored(0x0606))
        return (D.SUCCESS, D.scaler_unit(0, 255)) if a == 3 else D.UNDEFINED
    if s[0] != 3 or a != 1:
        return D.DENIED
    if x.pl[d[0]:d[1]] != b"\x0f\x00":
        return D.TYPE
    x.stage(_s().reset_load_limit_counter)
    return D.SUCCESS


def _limiter(x, s, d):
    """Limiter 0-0:17.0.0.255 (class 71): Get 3 threshold_active, 4
    threshold_normal, 6 min_over_threshold_duration, 7
    min_under_threshold_duration, the active values of Tbl 9.2.2.7
    (written only through the class 9000 objects)."""
    a = s[3]
    if s[0] != 1:
        return D.DENIED
    if a < 3 or a > 7 or a == 5:
        return D.UNDEFINED
    return D.SUCCESS, D.u32(x.m.account.p[b"\x06\x06\x00\x07\x08"[a - 3]])


def _alcs_data(x, s, d):
    """Data 0-0:94.44.0.11..15, the ALCS / HCALCS n labels (visible-string;
    Set: ECS46a), and 0-0:94.44.0.21..25, the HCALCS n device ids
    (octet-string(8); none paired: zeros)."""
    f = s[2][5]
    if s[3] != 2:
        return D.UNDEFINED
    if f > 20:
        return D.DENIED if s[0] != 1 else (D.SUCCESS, D.octets(bytes(8)))
    if s[0] == 1:
        return D.SUCCESS, D.octets(_s().alcs(x.m)[f - 10], 0x0A)
    if s[0] != 2:
        return D.DENIED
    lb = D.string(x.pl, d[0], d[1], 0x0A)
    if len(lb) > 32:
        return D.TYPE
    x.stage(_s().set_alcs_label, f - 10, lb)
    return D.SUCCESS


def _boost(x, s, d):
    """Data 0-0:94.44.6.n attribute 2 (boolean): the boost button drives
    switch n (ECS62)."""
    n = s[2][5]
    if s[3] != 2:
        return D.UNDEFINED
    if s[0] == 1:
        return D.SUCCESS, D.u8(3, 0xFF if _s().alcs(x.m)[0] >> (n - 1) & 1 else 0)
    if s[0] != 2:
        return D.DENIED
    x.stage(_s().set_boost, n, _bool(x, d))
    return D.SUCCESS


def _calendar(x, s, d):
    """ALCS calendar (class 10 0-0:12.0.2.255) and its special days (class
    11 0-0:11.0.3.255), attribute 2: this meter keeps no ALCS calendar
    (ECS46c is not supported), so both are empty and cannot be set."""
    if s[3] != 2:
        return D.UNDEFINED
    if s[0] != 1:
        return D.UNAVAILABLE
    return D.SUCCESS, b"\x01\x00"


H = (_disconnect, _supply_script, _alcs_script, _alcs_duration, _ll, _counter, _limiter,
     _alcs_data, _boost, _calendar)
