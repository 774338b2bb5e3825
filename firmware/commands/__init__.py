# The meter's command surface (issue #14.1): every supplier, network
# operator and consumer action the meter carries out, one function each,
# name(m, ...) -> result code, m the Meter. The ZSE cluster handlers, the
# bench's control ops (control.py, commands/config.py) and, next, the GBCS use
# cases call these; none of them reaches into an engine to change it. Two
# modules: this one, resident, with what the consumer, the HAN devices and
# the engines' reports need at any second (top-up, EC, UI, PPMID supply ON,
# engine events) and the tariff load (it must not import into the heap it
# needs whole); supplier.py, imported on first use, with the supplier's and
# network operator's commands (account configuration, debts, balance,
# supply, load limiter, block counters, snapshots on request, clock, CS01a
# top-up) and the consumer's DRLC opt-out. Reads (attributes, logs,
# snapshots) stay reads of the engines and logs.
#
# Each command validates every argument first (a refused command changes
# nothing: no state, no record, no log entry), then changes state as one
# atomic operation (Meter.begin ... end: the register record and the log
# entries commit through one journal write, bootrec.py replays it after a
# power cut), then alerts and logs (inside the same operation). Commands
# nest: one inside another's begin/end joins its operation (commands/config.py
# applies a whole supplier document that way, after validating all of it).
#
# Result codes (private consts; ZCL_STATUS maps them for the clusters,
# zcl_status raises it). The GBCS column is the proposal for the WAN use
# cases: GBCS v0.8.1 §7.2.4 takes result codes from ZSE / DLMS COSEM (DLMS
# Data-Access-Result / Action-Result), one per instruction:
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
# reason text of a BAD_VALUE, the parts a tariff load activated, a taken
# snapshot's id. (Private constants: on the unix port every module-level
# name costs heap; test_commands.py names the codes.)
#
# The meter's service interface (what clusters and commands may use of the
# Meter, written down once): clock, store, zcl, reporting, snapshots,
# profile, time, drlc, prepayment, metering; the engines' state for reads
# (account, supply, tariff: attribute reads, never changes from a cluster);
# begin()/end()/abort(), intend(), save_record(), save_registers(), log()
# with event_log/security_log/power_log, alert(), nv_dirty(), send_aps(),
# set_clock() (the time client's low-level step), devices, ui() (the
# button's entry), log_between(), cfg. Engines (prepay/account.py,
# prepay/supply.py) get none of it: the account gets alert(), the tariff's
# price scaler and the top-up keys as callbacks, the supply the relay, the
# account and alert(); both report what the meter must record through their
# `changed` callback (engine_event here).
from ..compat import const
from ..prepay import account as AC
from ..prepay import utrn as U
from ..metering.snapshots import CAUSE_MODE
from ..zcl.status import ZclError

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
# a rejected UTRN's alert 0x8Fxx by reason (prepay/utrn.py 1..6; §14.6.4):
# malformed none, duplicate 0x8F51, not authentic 0x8F63, over maximum
# credit 0x8F5B, over maximum balance 0x8F47, not for this device 0x8F64
_REJECT_ALERT = b"\x00\x00\x51\x63\x5b\x47\x64"


def said(code, why):
    """code, with detail = why (the reason of a refusal, what a command
    did): for the commands here and in supplier.py."""
    global detail
    detail = why
    return code


def zcl_status(r):
    """A command's result as the ZCL status of a cluster handler: SUCCESS
    (0), or ZclError with ZCL_STATUS[r]."""
    if r:
        raise ZclError(ZCL_STATUS[r])
    return 0


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
        return said(_BAD_VALUE, "top-up")
    return _top_up(m, code, -1, source)


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
        a = _REJECT_ALERT[r]
        if a:
            m.alert(0x8F00 | a)
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
    if not isinstance(code, int) or isinstance(code, bool) or not 0 <= code <= 0xFFFF:
        return said(_BAD_VALUE, "code")
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


# -- tariff (ECS20-style price, blocks, thresholds, calendar; §13.3.5.10) -----------------
def load_tariff(m, doc, at=0):
    """A tariff document (tariffs/README.md) staged with its activation
    time: IMMEDIATE, NEVER (cancel pending) or a UTC time. BAD_VALUE (the
    reason in detail) or NO_ROOM change nothing: the old tariff stays in
    force in RAM and in flash (TariffEngine.stage is all or nothing). OK:
    detail is the parts that took effect at once. The load starts from a
    collected heap (first fit then packs its objects low) and leaves its
    garbage collected. Resident (not in supplier.py): a load must not
    start by importing a module into the heap it needs whole."""
    import gc
    if not (isinstance(at, int) and 0 <= at <= 0xFFFFFFFF) or not isinstance(doc, dict):
        return said(_BAD_VALUE, "at" if isinstance(doc, dict) else "doc")
    gc.collect()
    try:
        from ..tariff.loader import parts_from_doc     # rare: kept out of the resident heap
        return said(_OK, m.tariff.stage(parts_from_doc(doc), at, m.clock.now()))
    except MemoryError:
        m.tariff_refused += 1
        return said(_NO_ROOM, "out of memory")
    except (ValueError, KeyError, TypeError, IndexError) as e:
        return said(_BAD_VALUE, e.args[0] if e.args else type(e).__name__)
    finally:
        gc.collect()


# -- what the engines report (their `changed` callback; inside the tick's operation) ------
def engine_event(m, kind):
    """What an engine reports through its changed(kind) callback:
      0 the supply changed state            saved with the registers
      1 the load limiter counted an event   Metering LoadLimitCounter, persisted
      2 a future-dated account change took effect: saved with the registers;
      3 ... and it changed the payment mode: also a prepayment snapshot and
        a Billing Data Log change entry, cause 'change of meter mode' (GBCS
        §10.4.2.4), intents until the account is saved in the same operation,
        so mode, configuration and entries are one atomic operation."""
    h = m.begin()
    if kind == 1:
        m.metering.values[0x0606] = min(255, m.metering.stored(0x0606) + 1)
        m.nv_dirty(m.metering)
    else:
        if kind == 3:
            m.prepayment.snapshot(_SNAP_MODE)
            m.snapshots.change(CAUSE_MODE)
        m.save_registers()
    m.end(h)
