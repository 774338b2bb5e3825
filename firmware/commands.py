# The meter's command surface (issue #14.1): every supplier, network
# operator and consumer action the meter carries out, one function each,
# name(m, ...) -> result code, m the Meter. The ZSE cluster handlers, the
# bench's control ops (control.py, prepay/config.py) and, next, the GBCS use
# cases call these; none of them reaches into an engine to change it.
#
# Each command validates every argument first (a refused command changes
# nothing: no state, no record, no log entry), then changes state as one
# atomic operation (Meter.begin ... end: the register record and the log
# entries commit through one journal write, bootrec.py replays it after a
# power cut), then alerts and logs (inside the same operation). Commands
# nest: one inside another's begin/end joins its operation (prepay/config.py
# applies a whole supplier document that way, after validating all of it).
#
# Result codes (the small table below; NAMES for the bench, ZCL_STATUS for
# the clusters). The GBCS column is the proposal for the WAN use cases (DLMS
# Data-Access-Result / Action-Result, IEC 62056-5-3 §9.3; GBCS v0.8.1 §7.2.4
# carries them in the response):
#   0 OK         done                        ZCL SUCCESS 0x00           success (0)
#   1 BAD_VALUE  an argument out of range,   ZCL INVALID_FIELD 0x85     type-unmatched (12)
#                malformed or unknown
#   2 REFUSED    valid, but not in the       ZCL FAILURE 0x01           other-reason (250)
#                meter's present state (EC
#                not available, supply not
#                armed, a UTRN rejected: the
#                reason in account.last_topup)
#   3 NO_ROOM    no heap for it (a tariff)   ZCL INSUFFICIENT_SPACE 0x89 temporary-failure (2)
#   4 DENIED     not from a device allowed   ZCL NOT_AUTHORIZED 0x7E    read-write-denied (3)
#                to ask (GBCS §13.7.3)
# `detail` holds what the last command has to say beyond its code: the
# reason text of a BAD_VALUE, the parts a tariff load activated. (Codes and
# names are private constants: on the unix port every module-level name
# costs heap; the bench reports the codes, test_commands.py names them.)
#
# The meter's service interface (what clusters and commands may use of the
# Meter, written down once): clock, store, zcl, reporting, snapshots,
# profile, time, drlc, prepayment, metering; the engines' state for reads
# (account, supply, tariff: attribute reads, never changes from a cluster);
# begin()/end()/abort(), intend(), save_record(), save_registers(), log()
# with event_log/security_log/power_log, alert(), nv_dirty(), send_aps(),
# set_clock() (the time client's low-level step), device_type(), cfg.
# Engines (prepay/account.py, prepay/supply.py) get none of it: the account
# gets alert() and the tariff's price scaler as callbacks, the supply the
# relay, the account and alert(); both report what the meter must record
# through their `changed` callback (account_activated / supply_event here).
from .compat import const
from .prepay import account as AC
from .prepay import utrn as U
from .metering.snapshots import CAUSE_MODE

_OK = const(0)
_BAD_VALUE = const(1)
_REFUSED = const(2)
_NO_ROOM = const(3)
_DENIED = const(4)
ZCL_STATUS = (0x00, 0x85, 0x01, 0x89, 0x7E)
detail = None

# ZSE OriginatingDevice / SourceOfTopUp (ZCL8 §10.8.2.4.2): ESI 0, meter 1,
# IHD 2 (a PPMID keys codes in as an IHD, §14.7)
_SRC_ESI = const(0x00)
_SRC_METER = const(0x01)
_SRC_IHD = const(0x02)
# consumer UI command codes (GBCS Tbl 16.4; meter.py UI_*)
_UI_ACTIVATE_EC = const(0x0002)
_UI_ADD_CREDIT = const(0x0005)
_UI_ENABLE_SUPPLY = const(0x000E)
_EV_UI_ACTIONED = const(0x8161)       # §16.4: value = UI command code (0x0061 in v0.8.1)
_EV_UI_NOT_ACTIONED = const(0x8162)
_EV_HAN_ACTIONED = const(0x8154)      # value = the command (0x0054 in v0.8.1)
_EV_HAN_NOT_ACTIONED = const(0x8155)
_SEC_TOPUP_REJECTED = const(0x0102)   # value: reason << 24 (§6.2.4.2)
_HAN_TOPUP = const(0x070504)          # Prepayment cluster, Consumer Top Up
# intent log ids (meter.py Meter._logs) and prepayment snapshot causes (ZSE)
_LOG_TOPUPS = const(6)
_LOG_DEBTS = const(7)
_SNAP_MODE = const(0x00004000)
_SNAP_DEBT_PAYMENT = const(0x00008000)
_NEVER = 0xFFFFFFFF
_I32 = 0x7FFFFFFF


def _bad(why):
    global detail
    detail = why
    return _BAD_VALUE


def _int(v, lo, hi):
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


# -- validation (shared with prepay/config.py, which checks a whole document first) -----
def param_ok(i, v):
    """A future-datable account parameter (Tbl 9.2.2.7) and its value."""
    if not _int(i, 0, AC.P_FRIENDLY):
        return False
    if i == AC.P_FRIENDLY:
        return isinstance(v, (bytes, bytearray)) and len(v) < 256
    if i == AC.P_ACCOUNT:
        return _int(v, 0, 15) and v & 3 in (AC.CREDIT, AC.PREPAY)
    if i == AC.P_DISABLE:                 # a cut-off below zero lets the balance go into debt
        return _int(v, -_I32 - 1, _I32)
    return _int(v, 0, _I32)


def at_ok(at):
    """IMMEDIATE (0), a UTC activation time, or NEVER (cancel pending)."""
    return _int(at, 0, _NEVER)


def debt_ok(i, amount, rate, period):
    return (_int(i, 0, 2) and _int(amount, 0, _I32) and (rate is None or _int(rate, 0, _I32))
            and (period is None or _int(period, 1, _I32)))


# -- account configuration (ECS02/03 payment mode, ECS08, ECS09, ZSE Prepayment) ----------
def set_params(m, at, *kv):
    """Future-datable parameters as (index, value) pairs, all with one
    activation time (IMMEDIATE applies now, NEVER cancels what is pending):
    thresholds, caps, load limiter, non-disablement calendar, payment mode.
    A payment-mode change takes a prepayment snapshot and a Billing Data
    Log entry, cause 'change of meter mode' (GBCS §10.4.2.4, §18.2.1.3)."""
    if not at_ok(at) or len(kv) & 1:
        return _bad("at")
    for i in range(0, len(kv), 2):
        if not param_ok(kv[i], kv[i + 1]):
            return _bad("parameter")
    h = m.begin()
    acc = m.account
    now = m.clock.now()
    for i in range(0, len(kv), 2):
        if acc.stage(kv[i], kv[i + 1], at, now):
            account_activated(m, True)           # the mode changed: its snapshots
    m.save_registers()
    m.end(h)
    return _OK


def set_payment_mode(m, mode, sde, sdd, at):
    """ECS02/ECS03 (with SDE/SDD, §18.2.1.3): the account parameter."""
    if mode not in (AC.CREDIT, AC.PREPAY):
        return _bad("mode")
    return set_params(m, at, AC.P_ACCOUNT, mode | (bool(sde) << 2) | (bool(sdd) << 3))


def setup_ec(m, limit, threshold, at):
    """Emergency credit limit and threshold (ECS09 set-up, ZSE
    EmergencyCreditSetup), one activation time."""
    return set_params(m, at, AC.P_EC_LIMIT, limit, AC.P_EC_THRESHOLD, threshold)


def set_debt(m, i, amount, rate=None, period=None, incremental=False):
    """Time debt 1/2 (i 0/1: amount, recovery rate per period s) or the
    payment debt (i 2: amount); incremental adds to what is outstanding
    (ZSE ChangeDebt DebtAmountType, ECS07)."""
    if not _int(i, 0, 2) or not _int(amount, -_I32 - 1, _I32):
        return _bad("debt")
    acc = m.account
    if incremental:
        amount += acc.debt[i]
    if not debt_ok(i, amount, rate, period):
        return _bad("debt")
    h = m.begin()
    acc.set_debt(i, amount, rate, period)
    m.save_registers()
    m.end(h)
    return _OK


def set_debt_share(m, pct):
    """The payment debt's share of each top-up, 0.01 % (ECS07)."""
    if not _int(pct, 0, 10000):
        return _bad("payment_debt_pct")
    h = m.begin()
    m.account.pay_pct = pct
    m.save_registers()
    m.end(h)
    return _OK


def set_credit_limits(m, max_credit, max_balance):
    """Maximum credit per top-up and maximum meter balance, whole currency
    units (GBCS §14.3.8.1-2; ECS08, ZSE SetMaximumCreditLimit); None keeps."""
    for v in (max_credit, max_balance):
        if v is not None and not _int(v, 0, 0xFFFFFF):
            return _bad("credit limit")
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
    if not _int(value, -_I32 - 1, _I32):
        return _bad("adjust")
    h = m.begin()
    m.account.adjust(value)
    m.save_registers()
    m.end(h)
    return _OK


def set_balance(m, value):
    """ECS04b reset (value 0) / ZSE Credit Adjustment absolute: an explicit
    adjustment by the difference, so the ledger keeps balancing."""
    if not _int(value, -_I32 - 1, _I32):
        return _bad("balance")
    return adjust_balance(m, value - m.account.mb)


# -- supply (ECS42/43/44, ZSE ChangeSupply / SetSupplyStatus, GBCS §13.7.3) -------------
def set_supply(m, state):
    """Remote enable (2), arm (1) or disable (0); the supply's change is
    saved with the register record (supply_event)."""
    if not _int(state, 0, 2):
        return _bad("supply")
    h = m.begin()
    m.supply.remote(state)
    m.end(h)
    return _OK


def set_load_limit_state(m, state):
    """The supply state a load-limit event leaves (ZSE LoadLimitSupplyState)."""
    if not _int(state, 0, 2):
        return _bad("load_limit_supply_state")
    h = m.begin()
    m.supply.ll_state = state
    m.save_registers()
    m.end(h)
    return _OK


def set_load_limit(m, power_w, period, restore, at):
    """Load limiter: threshold W (0 off), period and restoration period s
    (Tbl 9.2.2.7, future-datable; ECS27's set counterpart)."""
    return set_params(m, at, AC.P_LL_POWER, power_w, AC.P_LL_PERIOD, period,
                      AC.P_LL_RESTORE, restore)


def han_supply_on(m, allowed):
    """PPMID Supply ON (PECS03, ZSE LocalChangeSupply): only from a PPMID
    asking for ON (allowed), only an armed supply is enabled (§13.7.3);
    logged HAN command actioned / not actioned either way."""
    if not allowed:
        m.log(m.event_log, _EV_HAN_NOT_ACTIONED, 0x0C)
        return _DENIED
    h = m.begin()
    ok = m.supply.consumer_enable()
    m.log(m.event_log, _EV_HAN_ACTIONED if ok else _EV_HAN_NOT_ACTIONED, 0x0C)
    m.end(h)
    return _OK if ok else _REFUSED


# -- emergency credit and top-up (§14) ----------------------------------------------------
def activate_ec(m):
    """Emergency credit (SMETS 7.5.5.1: UI, PPMID, remote): OK when EC is in
    use afterwards (also when it already was), else REFUSED."""
    h = m.begin()
    ok = m.account.activate_ec()
    if ok:
        m.supply.ec_activated()
        m.save_registers()
    m.end(h)
    return _OK if ok else _REFUSED


def top_up(m, code, source=_SRC_METER):
    """A keyed-in UTRN (§14.6 on the meter, §14.7 from a PPMID: source IHD 2).
    OK when credited; REFUSED with the reason in account.last_topup =
    (reason, value, source, time). Credit, UTRN cache entry and registers
    are saved in one write before anyone is answered, with the top-up,
    debt and prepayment-snapshot entries and the alerts: one operation."""
    if not isinstance(code, (str, bytes, bytearray)) or source not in (_SRC_METER, _SRC_IHD):
        return _bad("top-up")
    return _top_up(m, code, -1, source)


def top_up_ptut(m, ptut, counter):
    """CS01a network route (§14.4.4): the PTUT and the UTRN counter from the
    command's originator counter; as top_up otherwise."""
    if not _int(counter, 0, 0xFFFFFFFFFFFFFFFF) or not isinstance(ptut, int):
        return _bad("top-up")
    return _top_up(m, ptut, counter, _SRC_ESI)


def _top_up(m, code, counter, source):
    h = m.begin()
    now = m.clock.now()
    acc = m.account
    try:
        if counter < 0:
            value = acc.top_up_code(code, U.FLAG_LOCAL, source == _SRC_METER)
        else:
            value = acc.top_up_ptut(code, counter, U.FLAG_NETWORK)
    except U.UtrnError as e:
        r = e.args[0]
        if r in AC.AL_REJECT:
            m.alert(AC.AL_REJECT[r])
            if r != U.OVER_MAX_CREDIT and r != U.OVER_MAX_BALANCE:
                m.log(m.security_log, _SEC_TOPUP_REJECTED, r << 24)
        if source == _SRC_METER:
            m.log(m.event_log, _EV_UI_NOT_ACTIONED, _UI_ADD_CREDIT)
        elif source == _SRC_IHD:
            m.log(m.event_log, _EV_HAN_NOT_ACTIONED, _HAN_TOPUP)
        acc.last_topup = (r, 0, source, now)
        m.end(h)
        return _REFUSED
    import struct
    m.supply.credit_rule(now)             # a sufficient top-up arms at once
    m.save_registers()
    acc.last_topup = (0, value, source, now)
    m.alert(AC.AL_CREDIT_ADDED_LOCALLY)
    rec = bytearray(29)                   # top-up log: time, value, source, code
    struct.pack_into("<IiB", rec, 0, now, value, source)
    c = code.encode() if isinstance(code, str) else \
        bytes(code) if not isinstance(code, int) else b""
    rec[9:9 + min(20, len(c))] = c[:20]
    m.intend(_LOG_TOPUPS, bytes(rec))
    if acc.share:
        m.intend(_LOG_DEBTS, struct.pack("<IIBI", now, acc.share, 2, acc.debt[2]))
        m.prepayment.snapshot(_SNAP_DEBT_PAYMENT)
    m.end(h)
    return _OK


def topup_keys(c):
    """Top-up keys (§14.3.4) from the configuration: own KA private key,
    the supplier's top-up KA public key, supplier and own entity ids; None
    when not configured (every UTRN is then 'not for this device'). The
    account's keys() callback."""
    if not (c["ka_priv"] and c["supplier_topup_pub"] and c["entity_id"] and c["supplier_id"]):
        return None
    import binascii
    h = binascii.unhexlify
    return h(c["ka_priv"]), h(c["supplier_topup_pub"]), h(c["supplier_id"]), h(c["entity_id"])


# -- consumer UI (Tbl 16.4) ---------------------------------------------------------------
def ui(m, code, arg=None):
    """A consumer UI command, logged 0x8161 actioned / 0x8162 not (§16.4),
    one atomic operation with what it changes. Add Credit logs through the
    top-up's own outcome."""
    if not _int(code, 0, 0xFFFF):
        return _bad("code")
    if code == _UI_ADD_CREDIT:
        return top_up(m, arg if arg is not None else "", _SRC_METER)
    h = m.begin()
    if code == _UI_ACTIVATE_EC:
        ok = activate_ec(m) == _OK
    elif code == _UI_ENABLE_SUPPLY:
        ok = m.supply.consumer_enable()
    else:
        ok = False
    m.log(m.event_log, _EV_UI_ACTIONED if ok else _EV_UI_NOT_ACTIONED, code)
    m.end(h)
    return _OK if ok else _REFUSED


# -- demand response (GBCS §18.1.1, ZSE DRLC) ----------------------------------------------
def drlc_opt(m, out, event=None):
    """Consumer opt-out (out True) or opt-in of one DRLC event (its id) or
    of all (None); the event table re-evaluates and reports at once."""
    if not (out is True or out is False) or not (event is None or _int(event, 0, _NEVER)):
        return _bad("drlc opt")
    h = m.begin()
    m.drlc.opt(out, event)
    m.end(h)
    return _OK


# -- tariff (ECS20-style price, blocks, thresholds, calendar; §13.3.5.10) -----------------
def load_tariff(m, doc, at=0):
    """A tariff document (tariffs/README.md) staged with its activation
    time: IMMEDIATE, NEVER (cancel pending) or a UTC time. BAD_VALUE (the
    reason in detail) or NO_ROOM change nothing: the old tariff stays in
    force in RAM and in flash (TariffEngine.stage is all or nothing). OK:
    detail is the parts that took effect at once. The load starts from a
    collected heap (first fit then packs its objects low) and leaves its
    garbage collected."""
    global detail
    import gc
    if not at_ok(at) or not isinstance(doc, dict):
        return _bad("at" if isinstance(doc, dict) else "doc")
    gc.collect()
    try:
        from .tariff.loader import parts_from_doc      # rare: kept out of the resident heap
        detail = m.tariff.stage(parts_from_doc(doc), at, m.clock.now())
        return _OK
    except MemoryError:
        m.tariff_refused += 1
        detail = "out of memory"
        return _NO_ROOM
    except (ValueError, KeyError, TypeError, IndexError) as e:
        return _bad(e.args[0] if e.args else type(e).__name__)
    finally:
        gc.collect()


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
    if not (_int(utc, 0, _NEVER - 1) and _int(start, 0, _NEVER) and _int(end, 0, _NEVER)):
        return _bad("utc")
    return _OK if m.time.supplier_set_clock(utc, start, end) else _REFUSED


# -- what the engines report (their `changed` callbacks; inside the tick's operation) -----
def account_activated(m, mode_changed):
    """A future-dated account change took effect: saved with the registers.
    A payment-mode change takes a prepayment snapshot and a Billing Data Log
    change entry, both cause 'change of meter mode' (GBCS §10.4.2.4); they
    are intents until the account is saved in the same operation, so mode,
    configuration and entries are one atomic operation."""
    h = m.begin()
    if mode_changed:
        m.prepayment.snapshot(_SNAP_MODE)
        m.snapshots.change(CAUSE_MODE)
    m.save_registers()
    m.end(h)


def supply_event(m, kind):
    """The supply changed state (0: saved with the registers) or the load
    limiter counted an event (1: Metering LoadLimitCounter, persisted)."""
    if kind:
        v = m.metering.values
        v[0x0606] = min(255, v[0x0606] + 1)
        m.nv_dirty(m.metering)
    else:
        m.save_registers()
