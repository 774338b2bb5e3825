# Supplier and network-operator commands of the command surface (see
# __init__.py for the rules, the result codes and the service interface):
# the account's configuration (ECS02/03 payment mode, ECS04a/b balance,
# ECS07 debts, ECS08 prepayment configuration, ECS09 emergency credit),
# supply and load limiter (ECS42-44, ECS27), tariff (price, blocks,
# thresholds, calendar), block counters, clock (ECS70), and the consumer's
# DRLC opt-out. Rare, so imported on first use (commands/config.py, the
# cluster handlers and control ops import it when they run): on the unix
# port every resident function costs heap.
from ..compat import const
from ..prepay import account as AC
from .. import commands as C

_OK = const(0)
_SRC_ESI = const(0x00)         # ZSE OriginatingDevice: the ESI (the supplier's route)
_BAD_VALUE = const(1)
_REFUSED = const(2)
_NO_ROOM = const(3)
_NEVER = 0xFFFFFFFF
_I32 = 0x7FFFFFFF


def is_int(v, lo, hi):
    """An int (not a bool) in lo..hi."""
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


# -- validation (shared with commands/config.py, which checks a whole document first) ---
def param_ok(i, v):
    """A future-datable account parameter (Tbl 9.2.2.7) and its value."""
    if not is_int(i, 0, AC.P_FRIENDLY):
        return False
    if i == AC.P_FRIENDLY:
        return isinstance(v, (bytes, bytearray)) and len(v) < 256
    if i == AC.P_ACCOUNT:
        return is_int(v, 0, 15) and v & 3 in (AC.CREDIT, AC.PREPAY)
    if i == AC.P_DISABLE:                 # a cut-off below zero lets the balance go into debt
        return is_int(v, -_I32 - 1, _I32)
    return is_int(v, 0, _I32)


def at_ok(at):
    """IMMEDIATE (0), a UTC activation time, or NEVER (cancel pending)."""
    return is_int(at, 0, _NEVER)


def debt_ok(i, amount, rate, period):
    n = is_int
    return (n(i, 0, 2) and n(amount, 0, _I32) and (rate is None or n(rate, 0, _I32))
            and (period is None or n(period, 1, _I32)))


# -- account configuration (ECS02/03 payment mode, ECS08, ECS09, ZSE Prepayment) ----------
def set_params(m, at, *kv):
    """Future-datable parameters as (index, value) pairs, all with one
    activation time (IMMEDIATE applies now, NEVER cancels what is pending):
    thresholds, caps, load limiter, non-disablement calendar, payment mode.
    A payment-mode change takes a prepayment snapshot and a Billing Data
    Log entry, cause 'change of meter mode' (GBCS §10.4.2.4, §18.2.1.3)."""
    if not at_ok(at) or len(kv) & 1:
        return C.said(_BAD_VALUE, "at")
    for i in range(0, len(kv), 2):
        if not param_ok(kv[i], kv[i + 1]):
            return C.said(_BAD_VALUE, "parameter")
    h = m.begin()
    acc = m.account
    now = m.clock.now()
    for i in range(0, len(kv), 2):
        if acc.stage(kv[i], kv[i + 1], at, now):
            C.engine_event(m, 3)                     # the mode changed: its snapshots
    m.save_registers()
    m.end(h)
    return _OK


def set_payment_mode(m, mode, sde, sdd, at):
    """ECS02/ECS03 (with SDE/SDD, §18.2.1.3): the account parameter."""
    if mode not in (AC.CREDIT, AC.PREPAY):
        return C.said(_BAD_VALUE, "mode")
    return set_params(m, at, AC.P_ACCOUNT, mode | (bool(sde) << 2) | (bool(sdd) << 3))


def setup_ec(m, limit, threshold, at):
    """Emergency credit limit and threshold (ECS09 set-up, ZSE
    EmergencyCreditSetup), one activation time."""
    return set_params(m, at, AC.P_EC_LIMIT, limit, AC.P_EC_THRESHOLD, threshold)


def set_debt(m, i, amount, rate=None, period=None, incremental=False):
    """Time debt 1/2 (i 0/1: amount, recovery rate per period s) or the
    payment debt (i 2: amount); incremental adds to what is outstanding
    (ZSE ChangeDebt DebtAmountType, ECS07)."""
    if not is_int(i, 0, 2) or not is_int(amount, -_I32 - 1, _I32):
        return C.said(_BAD_VALUE, "debt")
    acc = m.account
    if incremental:
        amount += acc.debt[i]
    if not debt_ok(i, amount, rate, period):
        return C.said(_BAD_VALUE, "debt")
    h = m.begin()
    acc.set_debt(i, amount, rate, period)
    m.save_registers()
    m.end(h)
    return _OK


def set_debt_share(m, pct):
    """The payment debt's share of each top-up, 0.01 % (ECS07)."""
    if not is_int(pct, 0, 10000):
        return C.said(_BAD_VALUE, "payment_debt_pct")
    h = m.begin()
    m.account.pay_pct = pct
    m.save_registers()
    m.end(h)
    return _OK


def set_credit_limits(m, max_credit, max_balance):
    """Maximum credit per top-up and maximum meter balance, whole currency
    units (GBCS §14.3.8.1-2; ECS08, ZSE SetMaximumCreditLimit); None keeps."""
    for v in (max_credit, max_balance):
        if v is not None and not is_int(v, 0, 0xFFFFFF):
            return C.said(_BAD_VALUE, "credit limit")
    h = m.begin()
    acc = m.account
    if max_credit is not None:
        acc.max_credit = max_credit
    if max_balance is not None:
        acc.max_balance = max_balance
    m.save_registers()
    m.end(h)
    return _OK


def adjust_balance(m, value):
    """ECS04a / ZSE Credit Adjustment incremental: a signed amount added to
    the meter balance, recorded in the ledger (never an overwrite)."""
    if not is_int(value, -_I32 - 1, _I32):
        return C.said(_BAD_VALUE, "adjust")
    h = m.begin()
    m.account.adjust(value)
    m.save_registers()
    m.end(h)
    return _OK


def set_balance(m, value):
    """ECS04b reset (value 0) / ZSE Credit Adjustment absolute: an explicit
    adjustment by the difference, so the ledger keeps balancing."""
    if not is_int(value, -_I32 - 1, _I32):
        return C.said(_BAD_VALUE, "balance")
    return adjust_balance(m, value - m.account.mb)


# -- supply (ECS42/43/44, ZSE ChangeSupply / SetSupplyStatus, GBCS §13.7.3) -------------
def set_supply(m, state):
    """Remote enable (2), arm (1) or disable (0); the supply's change is
    saved with the register record (engine_event)."""
    if not is_int(state, 0, 2):
        return C.said(_BAD_VALUE, "supply")
    h = m.begin()
    m.supply.remote(state)
    m.end(h)
    return _OK


def set_load_limit_state(m, state):
    """The supply state a load-limit event leaves (ZSE LoadLimitSupplyState)."""
    if not is_int(state, 0, 2):
        return C.said(_BAD_VALUE, "load_limit_supply_state")
    h = m.begin()
    m.supply.stage_ll_state(state, 0, m.clock.now())    # now: also ends a future-dated one
    m.save_registers()
    m.end(h)
    return _OK


def set_load_limit(m, power_w, period, restore, at):
    """Load limiter: threshold W (0 off), period and restoration period s
    (Tbl 9.2.2.7, future-datable; ECS27's set counterpart)."""
    return set_params(m, at, AC.P_LL_POWER, power_w, AC.P_LL_PERIOD, period,
                      AC.P_LL_RESTORE, restore)


# -- network top-up (CS01a, §14.4) -------------------------------------------------------
def top_up_ptut(m, ptut, counter):
    """CS01a network route (§14.4.4): the PTUT and the UTRN counter from the
    command's originator counter; as top_up otherwise."""
    if not is_int(counter, 0, 0xFFFFFFFFFFFFFFFF) or not isinstance(ptut, int):
        return C.said(_BAD_VALUE, "top-up")
    return C._top_up(m, ptut, counter, _SRC_ESI)


# -- demand response (GBCS §18.1.1, ZSE DRLC) ----------------------------------------------
def drlc_opt(m, out, event=None):
    """Consumer opt-out (out True) or opt-in of one DRLC event (its id) or
    of all (None); the event table re-evaluates and reports at once."""
    if not (out is True or out is False) or not (event is None or is_int(event, 0, _NEVER)):
        return C.said(_BAD_VALUE, "drlc opt")
    h = m.begin()
    m.drlc.opt(out, event)
    m.end(h)
    return _OK


# -- snapshots on request (ZSE Metering TakeSnapshot / ScheduleSnapshot) ---------------
def take_snapshot(m, cause):
    """A snapshot of the registers now, with its cause (ZSE D.3.2.3.1.6),
    committed with the register record it is built from; detail: its
    SnapshotID."""
    if not is_int(cause, 0, _NEVER):
        return C.said(_BAD_VALUE, "cause")
    h = m.begin()
    sid = m.snapshots.take(0, cause)
    m.end(h)
    return C.said(_OK, sid)


def schedule_snapshots(m, recs, room):
    """Snapshot schedules (id, start, SnapshotSchedule, payload type,
    cause), all validated before any is applied and saved in one write
    (metering/snapshots.py), at most room confirmations; detail: the
    confirmations (id, code), one per record."""
    if not recs:
        return C.said(_BAD_VALUE, "schedules")
    return C.said(_OK, m.snapshots.schedule(recs, m.clock.now(), room))


# -- tariff: block counters (load_tariff is resident: __init__.py) ----------------------
def reset_block_counters(m):
    """Block counters to zero on command or change of supplier
    (§13.3.5.10); saved with the registers."""
    h = m.begin()
    m.tariff.reset_block_counters()
    m.save_registers()
    m.end(h)
    return _OK


# -- clock (ECS70, GBCS §9.1.4.2) ---------------------------------------------------------
def set_clock(m, utc, start=None, end=None):
    """Supplier Set Clock: set when the hub's time utc lies in the command's
    window [start, end] (both utc when not given): Time Status Reliable.
    REFUSED (the status drops to Unreliable where §9.1.4.2 says) otherwise;
    a time outside the plausible window is BAD_VALUE."""
    if start is None:
        start = end = utc
    n = is_int
    if not (n(utc, 0, _NEVER - 1) and n(start, 0, _NEVER) and n(end, 0, _NEVER)):
        return C.said(_BAD_VALUE, "utc")
    return _OK if m.time.supplier_set_clock(utc, start, end) else _REFUSED


# -- change of tenancy (ECS12) --------------------------------------------------------------
# GBCS ECS12 "Set Change of Tenancy date on ESME" (§18.4.3; Data object
# 0-0:94.44.3.2 "Restrict Data Date Time", notes/gbcs-esme-functional §3.8)
# sets the date-time the new tenancy starts: the supplier's reads of
# consumption data before it belong to the previous tenant. Persisted as a
# record (key "cot", schema 7 version 1: UTC u32), saved in one atomic
# operation; tenancy_date reads it back (0: never set).
_COT_KEY = "cot"
_COT_SCHEMA = const(7)


def change_of_tenancy(m, utc):
    """ECS12: the change of tenancy date-time (UTC; 0 = now)."""
    if not is_int(utc, 0, _NEVER - 1):
        return C.said(_BAD_VALUE, "tenancy")
    if utc == 0:
        utc = m.clock.now()
    h = m.begin()
    m.save_record(_COT_KEY, ((utc.to_bytes(4, "little"),), _COT_SCHEMA, 1, True))
    m.end(h)
    m._cot = utc
    return _OK


def _cot_decode(b):
    if len(b) != 4:
        raise ValueError("cot")
    return int.from_bytes(b, "little")


def tenancy_date(m):
    """The change of tenancy date-time set by ECS12 (0: none)."""
    t = getattr(m, "_cot", None)
    if t is None:
        t = m.store.load_rec(_COT_KEY, _COT_SCHEMA, 1, _cot_decode) or 0
        m._cot = t
    return t


# -- clear the Event Log (ECS15a) -------------------------------------------------------
# GBCS §16.3 (clear use cases exist for the event logs only; the Security
# Log is never cleared): one atomic operation appends an "Event Log
# cleared" entry (code 0x8F52, notes/gbcs-esme-functional §8.4; value: the
# message code) to the Event Log -- reads return only what follows it
# (gbcs/uc_read.py) -- and the same to the Security Log. One append each,
# journaled together: a power cut leaves both or neither (boot completes).
LOG_CLEARED = const(0x8F52)


def clear_event_log(m, mc):
    """ECS15a: clear the Event Log (mc: the command's message code)."""
    if not is_int(mc, 0, 0xFFFF):
        return C.said(_BAD_VALUE, "message code")
    from ..bootrec import REG_KEY
    h = m.begin()
    try:
        m.log(m.event_log, LOG_CLEARED, mc)
        m.log(m.security_log, LOG_CLEARED, mc)
        # the register record joins the operation, so one journal write
        # carries both entries (meter.py writes entries without a journal
        # when an operation saves no record: a cut between them would split)
        m.save_record(REG_KEY, None)
    finally:
        m.end(h)
    return _OK

# -- device configuration data (GBCS group 0 objects, gbcs/uc_device.py) ---------------
# The configuration objects that no engine owns (GBCS §7.3 device data:
# MPxN, supplier message and contact details, CIN, privacy PIN, supply
# tamper state, consumption thresholds, alert behaviours, power quality
# thresholds, the maximum demand period schedule): each kept as the DLMS
# Data item the supplier set (uc_device.py checks its type and size
# first), by item id 0..63. One record (key "devcfg", schema 21 version
# 1: id u8, length u8, item, repeated), saved in one atomic operation.
_DEV_KEY = "devcfg"
_DEV_SCHEMA = const(21)


def _dev_decode(b):
    d = {}
    i = 0
    while i < len(b):
        n = b[i + 1]
        if b[i] > 63 or i + 2 + n > len(b):
            raise ValueError("devcfg")
        d[b[i]] = bytes(b[i + 2:i + 2 + n])
        i += 2 + n
    return d


def dev_values(m):
    """{id: Data item} of the device configuration set so far."""
    d = getattr(m, "_dev", None)
    if d is None:
        d = m.store.load_rec(_DEV_KEY, _DEV_SCHEMA, 1, _dev_decode) or {}
        m._dev = d
    return d


def set_dev_values(m, *kv):
    """Device configuration items as (id, Data octets) pairs, all saved
    together; BAD_VALUE (nothing changed) unless every id is 0..63 and
    every item 1..255 octets."""
    if not kv or len(kv) & 1:
        return C.said(_BAD_VALUE, "items")
    for i in range(0, len(kv), 2):
        v = kv[i + 1]
        if not (is_int(kv[i], 0, 63) and isinstance(v, (bytes, bytearray)) and 0 < len(v) < 256):
            return C.said(_BAD_VALUE, "item")
    d = dict(dev_values(m))
    for i in range(0, len(kv), 2):
        d[kv[i]] = bytes(kv[i + 1])
    out = bytearray()
    for k in sorted(d):
        out.append(k)
        out.append(len(d[k]))
        out += d[k]
    h = m.begin()
    m.save_record(_DEV_KEY, ((bytes(out),), _DEV_SCHEMA, 1, False))
    m.end(h)
    m._dev = d
    return _OK


# -- maximum demand reset (ECS57) ------------------------------------------------------
def reset_max_demand(m, which):
    """Maximum demand register `which` (0 active import, 1 active import
    in the configurable period, 2 active export) back to zero, its reset
    time kept (metering/profile.py)."""
    if not is_int(which, 0, 2):
        return C.said(_BAD_VALUE, "register")
    h = m.begin()
    m.profile.reset_max_demand(which, m.clock.now())
    _save_profile(m)
    m.end(h)
    return _OK


def _save_profile(m):
    from ..metering.profile import STATE_KEY
    m.save_record(STATE_KEY, ((m.profile.state(),), 0, 0, True))


def set_md_period(m, item, start, end):
    """ECS37: the maximum demand configurable time period (seconds of the
    UTC day; start == end: none) and its schedule's Data item (device
    configuration item 18, read back by ECS18b)."""
    if not (is_int(start, 0, 86399) and is_int(end, 0, 86399)):
        return C.said(_BAD_VALUE, "period")
    h = m.begin()
    r = set_dev_values(m, 18, item)
    if r == _OK:
        m.profile.set_md_period(start, end)
        _save_profile(m)
    m.end(h)
    return r



# -- load limiter and ALCS (GBCS ECS27/28a/28b, ECS46a, ECS47, ECS62; notes §4.2-4.3) -----
def set_load_limit_param(m, i, value, at):
    """One future-datable load-limiter value (Tbl 9.2.2.7, ECS28a: each has
    its own activation time): i 0 the LoadLimitSupplyState (0 disable the
    supply on a load-limit event, 2 leave it on), else AC.P_LL_POWER /
    P_LL_PERIOD / P_LL_RESTORE; at IMMEDIATE (0), a UTC time or NEVER
    (cancel what is pending)."""
    if i == 0:
        if not (is_int(value, 0, 2) and value != 1 and at_ok(at)):
            return C.said(_BAD_VALUE, "load_limit_supply_state")
        h = m.begin()
        m.supply.stage_ll_state(value, at, m.clock.now())
        m.save_registers()
        m.end(h)
        return _OK
    if i not in (AC.P_LL_POWER, AC.P_LL_PERIOD, AC.P_LL_RESTORE):
        return C.said(_BAD_VALUE, "parameter")
    return set_params(m, at, i, value)


def reset_load_limit_counter(m):
    """ECS28b / ZSE ResetLoadLimitCounter: the Load Limit Counter (Metering
    LoadLimitCounter 0x0606, a persisted attribute: its record is written at
    once, power-safe by itself, as a ZCL write's is after the frame) to 0."""
    h = m.begin()
    m.metering.write(0x0606, 0)
    m._flush_nv()
    m.end(h)
    return _OK


def set_aux(m, n, closed, minutes=0):
    """ECS47: switch n (1-based) of the auxiliary load-control switches
    closed (its load supplied) or open, for `minutes` (1..1440, then back
    to the state it had; 0: until changed) (GBCS §18.1.1)."""
    if not (is_int(n, 1, len(m.aux.closed)) and (closed is True or closed is False)
            and is_int(minutes, 0, 1440)):
        return C.said(_BAD_VALUE, "aux")
    h = m.begin()
    m.supply.alcs(m.aux, n - 1, closed, m.clock.now() + minutes * 60 if minutes else _NEVER)
    m.end(h)
    return _OK


# ALCS configuration (ECS46a labels, ECS62 boost button associations): record
# "alcs" (schema 15 version 1): boost associations u8 (bit n-1 = switch n),
# then per switch 1..5 its label (length u8, at most 32 octets).
_ALCS_KEY = "alcs"
_ALCS_SCHEMA = const(15)
_ALCS_N = const(5)
_LABEL_MAX = const(32)


def _alcs_decode(b):
    out = [b[0]]
    k = 1
    for _ in range(_ALCS_N):
        n = b[k]
        if n > _LABEL_MAX or k + 1 + n > len(b):
            raise ValueError("alcs")
        out.append(bytes(b[k + 1:k + 1 + n]))
        k += 1 + n
    if k != len(b) or b[0] >> _ALCS_N:
        raise ValueError("alcs")
    return out


def alcs(m):
    """[boost associations, label 1, ..., label 5] (read-only: change it
    with set_alcs_label / set_boost)."""
    t = getattr(m, "_alcs", None)
    if t is None:
        t = m.store.load_rec(_ALCS_KEY, _ALCS_SCHEMA, 1, _alcs_decode) or [0] + [b""] * _ALCS_N
        m._alcs = t
    return t


def _alcs_save(m, t):
    out = bytearray((t[0],))
    for lb in t[1:]:
        out.append(len(lb))
        out += lb
    h = m.begin()
    m.save_record(_ALCS_KEY, ((bytes(out),), _ALCS_SCHEMA, 1, True))
    m.end(h)
    m._alcs = t


def set_alcs_label(m, n, label):
    """ECS46a: the description of ALCS / HCALCS n (1..5), at most 32 octets."""
    if not (is_int(n, 1, _ALCS_N) and isinstance(label, bytes) and len(label) <= _LABEL_MAX):
        return C.said(_BAD_VALUE, "alcs label")
    t = list(alcs(m))
    t[n] = label
    _alcs_save(m, t)
    return _OK


def set_boost(m, n, on):
    """ECS62: associate (on True) the boost button with switch n (1..5) or not."""
    if not (is_int(n, 1, _ALCS_N) and (on is True or on is False)):
        return C.said(_BAD_VALUE, "boost")
    t = list(alcs(m))
    t[0] = t[0] | (1 << (n - 1)) if on else t[0] & ~(1 << (n - 1))
    _alcs_save(m, t)
    return _OK
