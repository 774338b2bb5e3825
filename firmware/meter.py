# The ESME application core: endpoints, the one-second tick, persistence.
# Hardware, clock and storage arrive through the Platform (platform/*), so
# tests and the virtual board inject simulated ones.
#
# Endpoint layout (GBCS §7.4: one "Electricity ESI Endpoint" for a
# single-phase ESME; ZSE device id 0x0500 Energy Service Interface):
#   ep 1  Basic, Identify, Metering servers; Time and DRLC clients
#   ep 0  ZDO (the stack's; we only announce)
# Key establishment (ep 240 by convention) belongs to the Zigbee stack.
#
# Flash writes (wear): registers every half hour (UTC :00/:30) and at a clock
# set, one 4-octet profile record a half hour, one midnight read a day, log
# entries as events happen, configuration records only when they change
# (about 1.5 KB a day). A power cut therefore loses at most the energy of the
# current half hour (< 1800 s of load) and never counts any twice: the saved
# register is absolute.
#
# Atomic operations. An operation that saves state and must leave records
# (a top-up and its top-up, debt and prepayment-snapshot entries; a billing
# period end and its Billing Data Log entry; a scheduled snapshot and its
# schedule; a tariff activation and its change entry; a payment-mode change)
# runs between begin() and end(): log entries become intents (log, the
# sequence number they will get, payload; snapshot-type entries only their
# time and cause, the record is built from the registers) and record saves
# are deferred. end() commits: first one journal record (store.py, a single
# low-level write) listing the records to save (with the sequence numbers
# they will get; small ones with their payload, large ones -- the tariff --
# as "external") and the intents; then the external records, the small
# records, and the log appends. At boot the newest journal record is
# replayed: if an external record did not land, the operation did not
# happen (the tariff activation is done again); otherwise small records
# that did not land are saved from the journal, and every intent whose
# log's sequence shows it missing is appended, built from the registers
# just restored -- the same bytes the operation would have written. So a
# cut at any write leaves the whole operation or none of it, recorded once.
# A snapshot-type entry always commits with the register record, so it is
# never ahead of the registers the meter restarts with. Operations with
# nothing to record still save directly (no journal write: the half-hour
# register save costs what it did). Reports and responses go out after the
# commit.
#
# Commands and services. Every supplier, network-operator and consumer
# action (tariff, account, debts, EC, top-up, supply, load limiter, clock,
# block counters, UI) is a function of commands/ (__init__.py resident,
# supplier.py on first use), called by the clusters, the bench's control
# ops and (next) the GBCS use cases; the services the clusters and commands
# may use of the Meter are listed in commands/__init__.py.
#
# Records (store.py load_rec): registers are schema 1 version 1 (version 0:
# the format-1 store record before schemas, the same layout); the meter's
# safe state when no slot is readable is described in bootrec.py.
import struct

from .compat import STRUCT_ERRORS, pack_heap, collect
from .zcl import aps as A
from .zcl import types as T
from .zcl.engine import Engine
from .zcl.status import DecodeError
from .zcl.reporting import Reporting
from .clusters.basic import Basic
from .clusters.identify import Identify
from .clusters.metering import Metering
from .metering.snapshots import Snapshots
from .clusters.time_client import TimeClient, NAMES as TIME_STATUS_NAMES
from .clusters.drlc_client import DrlcClient
from .clusters.price import Price
from .clusters.calendar import CalendarServer
from .clusters.tunneling import Tunneling
from .clusters.ota_client import OtaClient
from .platform.hw import AuxSwitches
from .platform.clock import plausible, rtc_check, NEVER
from .metering.profile import Profile
from .metering.ringlog import SeqLog
from .tariff.engine import TariffEngine
from .clusters.prepayment import Prepayment
from .prepay.account import Account
from .prepay.supply import Supply
from . import commands as C
# boot-time persistence (imported with the meter: its objects sit among the
# modules', not in the construction hole)
from . import bootrec
from .bootrec import REG_KEY as _REG_KEY, REG_FMT as _REG_FMT

# other modules' constants, folded here (host_tests/test_const_copies.py keeps them equal)
_CAUSE_CALENDAR = const(0x00000100)        # = metering.snapshots.CAUSE_CALENDAR
_DAY = const(86400)                        # = platform.clock.DAY
_CAUSE_PRICE_MATRIX = const(0x00000010)    # = metering.snapshots.CAUSE_PRICE_MATRIX
_CAUSE_TARIFF_INFO = const(0x00000008)     # = metering.snapshots.CAUSE_TARIFF_INFO
_CAUSE_THRESHOLDS = const(0x00000020)      # = metering.snapshots.CAUSE_THRESHOLDS
_PER_PENNY = const(1000)                   # = prepay.account.PER_PENNY
_PREPAY = const(2)                         # = prepay.account.PREPAY
_PROFILE_ZDO = const(0x0000)               # = zcl.aps.PROFILE_ZDO
_REG_SCHEMA = const(1)                     # = bootrec.REG_SCHEMA
_REG_VERSION = const(1)                    # = bootrec.REG_VERSION
_SNAP_GENERAL = const(0x00000001)          # = clusters.prepayment.SNAP_GENERAL
_REG_HDR = _REG_FMT + "H"     # the record's head: energy, time, tariff-state length

_ESI_EP = const(1)
_DEVICE_ESI = const(0x0500)
_REG_PERIOD = const(1800)          # registers and profile: every UTC half hour (profile.HALF_HOUR)
# The due table (Meter.tick walks it, Meter._slot holds it): one slot per
# action that falls due, in the order the tick runs them (ties: slot order).
# Tariff first (a switch point, an activation, a block period or midnight
# sets what the second costs), then the second is metered (slot 1, every
# second), then the rest (what records or reports the metered second). Each
# slot's due time is its engine's (tariff next_change + 1, account _next_at,
# time next_sync, DRLC next_due, reporting next_due, snapshots next_due) or
# the meter's own (day, register save, profile), in UTC, or in monotonic
# seconds for the slots in _MONO (intervals a clock set must not move). The
# order is the one the tick had before the table: the flash writes of one
# second (register save, then profile) are what a power cut finds.
_S_TARIFF = const(0)       # switch points, activations, block periods (tariff/engine.py)
_S_ACCOUNT = const(1)      # the second's metering; future-dated account parameters (Account.tick)
_S_IDENTIFY = const(2)     # Identify countdown, every second while identifying
_S_TIME = const(3)         # time sync request / retry (clusters/time_client.py), monotonic
_S_DRLC = const(4)         # DRLC event starts, ends, cancellations
_S_REPORT = const(5)       # attribute reporting (zcl/reporting.py), monotonic
_S_BUTTON = const(6)       # the button's press (an input: due when pending)
_S_SNAP = const(7)         # scheduled snapshots (metering/snapshots.py)
_S_DAY = const(8)          # midnight UTC: billing period, prepayment daily read (and profile day)
_S_REG = const(9)          # the half-hourly register save
_S_PROFILE = const(10)     # the profile: its half hour closes, then the day (metering/profile.py)
_S_GBCS = const(11)        # future-dated GBCS commands' alerts, after the account (gbcs/future.py)
_S_TUNNEL = const(12)      # tunnel expiry, GBT series discard (clusters/tunneling.py), monotonic
_S_OTA = const(13)         # OTA requests, retries and back-off (clusters/ota_client.py), monotonic
_N_SLOTS = const(14)
_MONO = const(0x3028)      # bits of the monotonic slots (_S_TIME, _S_REPORT, _S_TUNNEL, _S_OTA)
_WS_PER_WH = const(3600)
_CAPABILITY = const(0x8E)   # ZDO: FFD, mains, rx-on-when-idle, allocate addr
_ALERT_LOG = const(16)
_LOG_SLOTS = const(100)           # event, security and power event logs (GBCS: at least 100)
_PACK_STEP = const(2048)          # compat.pack_heap while the meter builds its objects
_OUTAGE_ALERT = const(180)        # an outage this long gets ECS80's alert (gbcs/uc_device.py)
_GBCS_KS = "gbcs_ks"              # gbcs/keystore.py KEY: a provisioned GBCS keystore
_SECURITY_HOLDOFF = const(60)     # one security-log entry a minute per cause, against flooding
# log record: code u16, UTC u32, value u32
_EV_ALERT = const(0x0001)
_EV_CLOCK_SET = const(0x0002)
_SEC_UNSECURED_FRAME = const(0x0101)
_PWR_UP = const(0x0201)           # value: the last time the meter is known to have been on
_UI_ACTIVATE_EC = const(0x0002)       # Tbl 16.4 UI command codes (commands.ui)
UI_ADD_CREDIT = const(0x0005)
UI_ENABLE_SUPPLY = const(0x000E)
# log ids of intents, in the order of Meter._logs: event, security, power,
# snapshots on request, billing period, billing change (snapshots.py
# _LOG_SNAPSHOTS + log), prepayment top-ups, debts (commands/), snapshots
# (prepayment.py)
_LOG_PP_SNAPS = const(8)
_SNAP_LOGS = const(0x138)          # bit per log id whose intents are built from the registers


def Platform(clock, store, metrology, relay, button, display, send, aux=None):
    """What the meter drives, as Meter takes it (a tuple: a class of its
    own cost a type object and its dict on a board's heap; issue #18)."""
    return (clock, store, metrology, relay, button, display, send,
            aux if aux is not None else AuxSwitches())


def default_config():
    """The meter's configuration unless its config says otherwise (a new
    dict: none is kept at module level, Meter keeps its own)."""
    return {
        "nwk_addr": 0x4E21,
        "ieee": 0x0022A3000000E5E1,
        "hub_addr": 0x0000,
        "hub_ep": 1,
        "aps_security_required": True,
        "serial": "MPY0000000001",   # Metering MeterSerialNumber
        "site_id": "",               # Metering SiteID: import MPAN ‖ export MPAN (GBCS §10.4.2.11)
        "han_devices": {},           # device log: {nwk address: "ppmid" | "ihd" | "cad" | "hcalcs"}
        # top-up keys (GBCS §14.3.4): own entity id and KA private key, the
        # supplier's entity id and prepayment top-up KA public key (hex); none
        # configured means every UTRN is "not for this device"
        "entity_id": "", "ka_priv": "", "supplier_id": "", "supplier_topup_pub": "",
    }


class Meter:
    esi_ep = _ESI_EP                 # the meter's application endpoint (a constant)
    _gbcs_warm = False               # a GBCS message has been handled (gbcs_message)

    def __init__(self, plat, config=None):
        # Heap layout: the meter's long-lived objects are packed low (see
        # pack_heap), leaving the free heap in one piece for the few large
        # transient buffers (a full tariff's 3-4 KB parts and record).
        gct = pack_heap(_PACK_STEP)
        cfg = default_config()
        if config:
            cfg.update(config)
        self.cfg = cfg
        (self.clock, self.store, self.metrology, self.relay, self.button, self.display,
         self._send, self.aux) = plat
        self.nwk_addr = cfg["nwk_addr"]
        self.ieee = cfg["ieee"]
        self.import_wh = 0
        self._ws = 0                 # watt-seconds not yet a whole Wh
        self.power_w = 0
        self._reg_period = -1
        self.alerts = []             # last ALERT_LOG alert codes (also in the event log)
        self.button_presses = 0
        self.tariff_refused = 0      # tariff loads refused for lack of heap (commands.load_tariff)
        self._dirty = []
        # the atomic operation under way: [held (begin/end), intents (log id,
        # sequence, payload), deferred saves [key, (parts, schema, version,
        # inline) or None: the register record]] (one attribute: heap)
        self._tx = [False, [], []]
        be = self.store.backend
        self.profile = Profile(self.store)
        self.event_log = SeqLog(be, "log_event.bin", _LOG_SLOTS, 10)
        self.security_log = SeqLog(be, "log_sec.bin", _LOG_SLOTS, 10)    # never cleared
        self.power_log = SeqLog(be, "log_power.bin", _LOG_SLOTS, 10)
        self._sec_logged = -_SECURITY_HOLDOFF
        self._log_rec = bytearray(10)
        self.zcl = Engine(self)
        self.zcl.require_aps_security = cfg["aps_security_required"]
        self.reporting = Reporting(self)
        z = self.zcl
        self.basic = _register(z, Basic(self))
        self.identify = _register(z, Identify(self))
        self.metering = _register(z, Metering(self))
        self.snapshots = Snapshots(self, be)
        self.metering.values[0x0308] = cfg["serial"].encode()
        self.metering.values[0x0307] = cfg["site_id"].encode()
        self.time = _register(z, TimeClient(self, cfg["hub_addr"], cfg["hub_ep"], _ESI_EP))
        self.drlc = _register(z, DrlcClient(self, cfg["hub_addr"], cfg["hub_ep"], _ESI_EP,
                                           cfg.get("drlc_seed", self.ieee)))
        self.drlc.on_start = self._shed
        self.drlc.on_stop = self._restore
        self._shedding = []          # events whose load the aux switches shed
        # the engines get what they use, not the meter (commands/__init__.py header)
        ev = lambda kind: C.engine_event(self, kind)      # noqa: E731
        self.account = a = Account(self.alert, lambda: self.tariff.scaler,
                                   lambda: C.topup_keys(self.cfg), ev)
        self.supply = Supply(self.relay, a, self.alert, ev)
        self.tariff = TariffEngine(self, self.store, self.account)
        self.profile.tariff = self.tariff     # its registers in the midnight read (ECS21a)
        self.prepayment = _register(z, Prepayment(
            self, SeqLog(be, "pp_topups.bin", 10, 29), SeqLog(be, "pp_debts.bin", 10, 13),
            SeqLog(be, "pp_snaps.bin", 31, 32)))
        self.devices = {}            # the device log: nwk address -> type (a dict, no method)
        for k, v in cfg["han_devices"].items():
            self.devices[int(k, 0) if isinstance(k, str) else k] = v
        self._day = -1               # the day (clock.DAY) whose change was last dispatched
        self.gbcs_due = NEVER        # the earliest future-dated GBCS command (gbcs/future.py)
        self.price = _register(z, Price(self))
        self.calendar = _register(z, CalendarServer(self))
        self.tunneling = _register(z, Tunneling(self))
        self.ota = _register(z, OtaClient(self))
        self.tariff.on_change = self.price.price_changed
        self.tariff.on_activate = self._tariff_activated
        p = self.prepayment         # the logs by intent log id
        self._logs = (self.event_log, self.security_log, self.power_log) + self.snapshots.logs + \
            (p.topups, p.debts, p.snaps)
        pack_heap(gct)

    # -- start-up ------------------------------------------------------------
    def boot(self):
        gct = pack_heap(_PACK_STEP)     # boot's long-lived objects low too (pack_heap)
        self.tariff.load()
        last_on = bootrec.registers(self)
        rtc = self.clock.now()
        # an RTC that lost its time restarts from the last saved one, with no
        # catch-up and Time Status Invalid (platform/clock.py rtc_check)
        elapsed, resume = rtc_check(rtc, last_on)
        if resume >= 0:
            self.clock.set(resume)
        now = self.clock.now()
        self._day = now // _DAY
        self.gbcs_due = _gbcs_due(self.store)
        if elapsed:
            self.tariff.catch_up(elapsed, now)      # standing charge runs while the mains is off
            self.account.catch_up(elapsed, now)
        self.profile.boot(now, self.import_wh)
        self.snapshots.boot(now)
        self.log(self.power_log, _PWR_UP, last_on)
        for _, cl in self.zcl.clusters():
            self._load_nv(cl)
        self.reporting.load()
        self.time.load()
        if resume >= 0:
            self.time.clock_lost()
            self.log(self.event_log, _EV_CLOCK_SET, rtc)     # value: the RTC time discarded
        self._reg_period = self.clock.now() // _REG_PERIOD
        # ZDO Device_annce (ZigBee PRO §2.4.3.1.11): tsn, nwk, ieee, capability
        p = struct.pack("<BHQB", self.zcl.next_seq(), self.nwk_addr, self.ieee, _CAPABILITY)
        self._send(A.Aps(self.nwk_addr, 0, 0xFFFD, 0, _PROFILE_ZDO, 0x0013, p, False))
        self.drlc.boot()
        self.ota.boot()
        bootrec.finish(self)        # alerts for records no slot of which was readable
        if elapsed >= _OUTAGE_ALERT and self.store.has(_GBCS_KS):
            # ECS80 Supply Outage Restored (0x8F36, GBCS §16, later GBCS
            # codes; RTDS NA_ECS80): critical, signed, to the network
            # operator, queued until the hub opens a tunnel
            from .gbcs import cosem
            cosem.module(0).outage_alert(self, last_on, now)
            cosem.drop()
        self.time.next_sync = self.clock.mono()     # sync at once (GBCS §9.1.3)
        self._update_display()
        # boot's records and buffers are garbage now: freed in one go, and
        # the collector back to what it was. (A collection every so many KB
        # from now on would also be counted against the frames of calls the
        # VM puts on the heap and frees at once, about 2 KB a tick on the
        # unix port: a collection every few ticks. The profile collects
        # once a half hour instead, metering/profile.py.)
        pack_heap(gct)

    # -- inputs ----------------------------------------------------------------
    def on_aps(self, msg):
        if msg.profile == _PROFILE_ZDO:
            return          # the Zigbee stack answers ZDO requests
        if msg.frag:        # an APS fragment (Tunneling TransferData): whole when complete
            msg = self.tunneling.defrag(msg)
            if msg is None:
                return
        dropped = self.zcl.dropped_unsecured
        self.zcl.receive(msg)
        if self.zcl.dropped_unsecured != dropped:
            mono = self.clock.mono()
            if mono - self._sec_logged >= _SECURITY_HOLDOFF:
                self._sec_logged = mono
                self.log(self.security_log, _SEC_UNSECURED_FRAME, (msg.src << 16) | msg.cluster)
        self._flush_nv()

    def tick(self):
        """One second of meter time. Allocation-free in steady state. One
        atomic operation (begin/end): what a second changes and records is
        committed together; the half-hour register save keeps its place.
        The tick is never inside another operation: a hold an error left
        open ends here. Beside the metering of the second (energy, tariff
        registers and standing charge, time debts, supply and load limiter)
        it runs only what is due, walking the due table (_S_*)."""
        tx = self._tx
        tx[0] = True
        ws = self._ws + self.metrology.take_ws()
        wh = 0
        if ws >= _WS_PER_WH:
            wh = ws // _WS_PER_WH
            self.import_wh += wh
            ws -= wh * _WS_PER_WH
        self._ws = ws
        self.power_w = self.metrology.power_w()
        now = self.clock.now()
        mono = self.clock.mono()
        for s in range(_N_SLOTS):
            # each slot's due time is asked of its engine as the walk
            # reaches it (an action sees what the ones before it changed)
            if s == _S_ACCOUNT:
                self._slot(s, now, mono, wh)
                continue
            d = self._slot(s, now, mono, -1)
            if d <= (mono if (_MONO >> s) & 1 else now) and d != NEVER:
                self._slot(s, now, mono, wh)
        tx[0] = False
        if tx[1] or tx[2]:
            self._commit()
        self._flush_nv()
        self._update_display()

    # -- the due table ------------------------------------------------------------------
    def next_wakeup(self):
        """UTC second at which the tick next has something due (now: due at
        once, never earlier; NEVER: nothing), so a board may sleep until its
        RTC alarm then: the earliest slot of the due table, monotonic ones
        mapped through the monotonic second now. Not in it: the metering of
        each second (a board that slept ticks the seconds it skipped: they
        accrue the standing charge and time debts) and the inputs that wake
        a board themselves (the link, the button, metrology pulses). A
        report past its minimum interval is due every second (its value is
        compared)."""
        now = self.clock.now()
        mono = self.clock.mono()
        t = NEVER
        for s in range(_N_SLOTS):
            d = self._slot(s, now, mono, -1)
            if d != NEVER:
                if (_MONO >> s) & 1:
                    d += now - mono
                if d < t:
                    t = d
        return now if t < now else t

    def _slot(self, s, now, mono, wh):
        """Slot s: its action first unless wh < 0 (wh: the Wh this second
        metered). Returns when it next needs the CPU: UTC (monotonic for
        _MONO slots), at or before now when due, NEVER for nothing. A clock
        set needs no re-arming: the day, register and profile slots compare
        the period they last handled with the period now (a step either way
        is due at once); the engines recompute theirs on the step
        (clock_changed)."""
        run = wh >= 0
        if s == _S_TARIFF:
            # the tick meters [now - 1, now): a change at t is due at t + 1
            if run:
                self.tariff.advance(now - 1)
            return self.tariff.next_change + 1
        if s == _S_ACCOUNT:
            # the second itself, every second: its Wh and standing charge
            # (the tariff), time debts and the future-dated parameters that
            # fall due (Account.tick, prepay/account.py), the supply
            if run:
                self.tariff.tick(now, wh)
                self.account.tick(now)
                self.supply.tick(now, self.power_w)
            return self.account._next_at
        if s == _S_IDENTIFY:
            if run:
                self.identify.tick(now)
            return now if self.identify.identifying else NEVER
        if s == _S_TIME:
            if run:
                self.time.due(mono)
            return self.time.next_sync
        if s == _S_DRLC:
            if run:
                self.drlc.tick(now)
            return self.drlc.next_due
        if s == _S_REPORT:
            if run:
                self.reporting.tick(mono)
            return self.reporting.next_due
        if s == _S_BUTTON:
            if run:
                self.button_presses += self.button.take()
                self.ui(UI_ENABLE_SUPPLY)        # the button arms -> enables (SMETS)
            return now if self.button.pending else NEVER
        if s == _S_SNAP:
            if run:
                self.snapshots.tick(now)
            return self.snapshots.next_due
        if s == _S_DAY:
            if run:
                # the one day change (a clock set into another day included);
                # the profile takes it at its own slot, after the register
                # save (the order of flash writes is what a power cut finds)
                self._day = now // _DAY
                self.snapshots.day_changed(now)      # end of a billing period at midnight UTC
                if self.account.mode == _PREPAY:   # prepayment daily read at midnight UTC
                    self.prepayment.snapshot(_SNAP_GENERAL)
            d = self._day
            return now if now // _DAY != d else (d + 1) * _DAY
        if s == _S_REG:
            if run:
                self.save_registers()
                self._commit()
            p = self._reg_period
            return now if now // _REG_PERIOD != p else (p + 1) * _REG_PERIOD
        if s == _S_GBCS:
            if run:
                from .gbcs.future import due
                due(self, now)
            return self.gbcs_due
        if s == _S_TUNNEL:
            if run:
                self.tunneling.due(mono)
            return self.tunneling.next_due()
        if s == _S_OTA:
            if run:
                self.ota.due(mono)
            return self.ota.next_due
        pr = self.profile                      # _S_PROFILE: its half hour, the day
        if run:
            pr.tick(now, self.import_wh)
        i = pr.idx
        return now if now // _REG_PERIOD != i or pr.day != self._day else (i + 1) * _REG_PERIOD

    def log(self, which, code, value):
        """Append code, time, value to one of the flash logs (inside an
        atomic operation: an intent, appended when it commits)."""
        struct.pack_into("<HII", self._log_rec, 0, code, self.clock.now(), value & 0xFFFFFFFF)
        if self._tx[0]:
            return self.intend(self._logs.index(which), bytes(self._log_rec))
        return which.append(self._log_rec)

    # -- atomic operations (see the module comment) -----------------------------------
    def begin(self):
        """Open an atomic operation; returns what end() needs."""
        tx = self._tx
        h = tx[0]
        tx[0] = True
        return h

    def end(self, h):
        """Close it: the outermost end commits."""
        tx = self._tx
        tx[0] = h
        if not h and (tx[1] or tx[2]):
            self._commit()

    def abort(self, h, key):
        """An operation failed before it committed (a tariff load refused for
        lack of heap): drop the record it queued under key and, when it was
        the outermost operation, everything queued since begin()."""
        tx = self._tx
        tx[0] = h
        recs = tx[2]
        for i in range(len(recs)):
            if recs[i][0] == key:
                del recs[i]
                break
        if not h:
            del tx[1][:]
            del recs[:]

    def intend(self, lid, payload):
        """Queue a log entry (log id, payload); its sequence number. Entries
        of the snapshot-type logs are built from the registers, which are
        therefore saved in the same commit."""
        tx = self._tx
        seq = self._logs[lid].seq + 1
        for e in tx[1]:
            if e[0] == lid:
                seq += 1
        tx[1].append((lid, seq, payload))
        if (_SNAP_LOGS >> lid) & 1:
            self.save_record(_REG_KEY, None)
        elif not tx[0]:
            self._commit()
        return seq

    def save_record(self, key, rec):
        """An engine's record save, rec = (parts, schema, version, inline;
        inline: small enough for the journal to carry), None for the
        register record (built when it is written): now, or when the
        operation it belongs to commits."""
        tx = self._tx
        for r in tx[2]:
            if r[0] == key:
                r[1] = rec
                break
        else:
            tx[2].append([key, rec])
        if not tx[0]:
            self._commit()

    def _commit(self):
        tx = self._tx
        pend, recs = tx[1], tx[2]
        if not recs and not pend:
            return
        if recs:
            # what the saves keep (the store's sequence entries) and what the
            # operation made to last go into the lowest holes, not amid the
            # operation's garbage (a top-up's ECDH), which would split the
            # free heap once collected (issue #18); a save is rare (the
            # tick's is half-hourly) and writes flash anyway
            collect()
        st = self.store
        saves = []
        for key, r in recs:
            if r is None:          # the register record, as it is now
                # in parts, never joined in RAM (store.save_parts)
                ts = self.tariff.pack_state()
                r = ((struct.pack(_REG_HDR, self.import_wh, self._ws, self.clock.now(),
                                  len(ts)), ts, self.account.pack(), self.supply.pack()),
                     _REG_SCHEMA, _REG_VERSION, True)
            saves.append((key,) + r)
        if saves and (pend or len(saves) > 1):
            # (more than one record, or records with log entries: journaled,
            # so a power cut keeps all or none; one record alone is atomic in
            # its two slots)
            # journal: version 1, n records: key length u8, key, seq u32,
            # schema u8, version u8, inline u8 (then length u16, payload),
            # n intents: log id u8, seq u32, length u8, payload
            out = bytearray(b"\x01")
            out.append(len(saves))
            for key, parts, schema, ver, il in saves:
                kb = key.encode()
                out.append(len(kb))
                out += kb
                out += struct.pack("<IBBB", st.next_seq(key), schema, ver, il)
                if il:
                    n = 0
                    for p in parts:
                        n += len(p)
                    out += struct.pack("<H", n)
                    for p in parts:
                        out += p
            out.append(len(pend))
            for lid, seq, payload in pend:
                out += struct.pack("<BIB", lid, seq, len(payload))
                out += payload
            st.journal_write(out)
        for inline in (False, True):             # external records first
            for key, parts, schema, ver, il in saves:
                if il == inline:
                    st.save_parts(key, parts, schema, ver)
                    if key == _REG_KEY:
                        self._reg_period = self.clock.now() // _REG_PERIOD
        logs = self._logs
        for lid, seq, payload in pend:
            lg = logs[lid]
            if lg.seq < seq:
                lg.append(self._expand(lid, payload))
        del pend[:]          # emptied in place: no new long-lived lists (heap layout)
        del recs[:]

    def _expand(self, lid, payload):
        if lid == _LOG_PP_SNAPS:
            t, c = struct.unpack_from("<II", payload, 0)
            return self.prepayment.snapshot_record(t, c)
        if (_SNAP_LOGS >> lid) & 1:
            t, c, b = struct.unpack_from("<IIB", payload, 0)
            return self.snapshots.record(t, c, b)
        return payload

    # -- the register record --------------------------------------------------------------
    def log_between(self, which, t0, t1):
        """(seq, code, time, value) of log entries with t0 <= time <= t1,
        oldest first (GBCS log reads by date range)."""
        out = []
        for seq, rec in which.newest(which.slots):
            code, t, v = struct.unpack("<HII", rec)
            if t0 <= t <= t1:
                out.append((seq, code, t, v))
        out.reverse()
        return out

    def _update_display(self):
        self.display.update(self.import_wh, self.power_w, self.time.status,
                            self.relay.closed, self.identify.identifying)

    # -- outputs and services used by clusters ------------------------------------
    def send_aps(self, msg):
        self._send(msg)

    def tunnel_send(self, buf):
        """A GBCS message (an alert) to the hub through the tunnel, queued until one is open."""
        return self.tunneling.send_message(buf)

    def set_clock(self, utc):
        """Clock set from the hub or supplier. Registers are saved first so a
        time step never moves energy across the persisted boundary. A time
        outside the plausible window (platform/clock.py) is refused: False."""
        if not plausible(utc):
            return False
        self.save_registers()
        self._commit()                       # now, even inside an operation
        self.profile.clock_changed(self.clock.now(), self.import_wh)
        old = self.clock.now()
        self.log(self.event_log, _EV_CLOCK_SET, old)
        self.clock.set(utc)
        self._reg_period = utc // _REG_PERIOD
        self.tariff.clock_changed()
        self.snapshots.clock_changed(old, utc)
        self.drlc.on_clock_set()
        return True

    # -- DRLC default application: the auxiliary load-control switches ------------
    def _shed(self, event, reason):
        """Start callback: open every aux switch (GBCS §18.1.1) while any
        event this meter takes part in runs."""
        if event.id not in self._shedding:
            self._shedding.append(event.id)
        for i in range(len(self.aux.closed)):
            self.aux.set(i, False)

    def _restore(self, event, reason):
        if event.id in self._shedding:
            self._shedding.remove(event.id)
        if not self._shedding:
            for i in range(len(self.aux.closed)):
                self.aux.set(i, True)

    def alert(self, code):
        self.log(self.event_log, _EV_ALERT, code)
        self.alerts.append(code)
        if len(self.alerts) > _ALERT_LOG:
            self.alerts.pop(0)

    def save_registers(self):
        """One atomic record: energy, tariff registers, the account (with
        the UTRN cache) and the supply state (see prepay/account.py); inside
        an atomic operation, when it commits."""
        self.save_record(_REG_KEY, None)

    def firmware_verified(self, image_hash):
        """The OTA client verified a downloaded image: with a GBCS keystore
        provisioned, the Firmware Distribution Receipt Alert over the WAN
        (FDRA-DLMS, 0x8F72, later GBCS code; v0.8.1 0x8072) with the
        manufacturer image's hash, signed, to the supplier."""
        if self.store.has(_GBCS_KS):
            from .gbcs import cosem
            cosem.module(0).firmware_alert(self, image_hash)
            cosem.drop()

    def gbcs_message(self, buf):
        # GBCS layer, imported on the first message (heap). That message is
        # run with a collection every 2 KB (compat.pack_heap), so the
        # modules, keys and counters it leaves sit low among its garbage's
        # holes, not scattered over the heap (the largest block after it:
        # 23.7 KB, 4 KB without; a 1.4 KB tariff command needs blocks).
        # Later messages leave little and run without (a pure-Python ECDSA
        # verification allocates enough for hundreds of collections).
        if self._gbcs_warm:
            from .gbcs.core import receive
            return receive(self, buf)
        gct = pack_heap(_PACK_STEP)
        try:
            from .gbcs.core import receive
            return receive(self, buf)
        finally:
            pack_heap(gct)
            self._gbcs_warm = True

    # -- prepayment (prepay/*, clusters/prepayment.py; actions in commands/) ---------------
    def ui(self, code, arg=None):
        """The button's (and the bench's) consumer UI command: commands.ui;
        True if actioned."""
        return C.ui(self, code, arg) == 0

    def _tariff_activated(self, mask):
        """A tariff part took effect: the Billing Data Log's change entry
        (registers and balances), with ZSE snapshot causes for the parts."""
        cause = 0
        for bit, c in ((0, _CAUSE_CALENDAR), (1, _CAUSE_CALENDAR),
                       (2, _CAUSE_TARIFF_INFO | _CAUSE_PRICE_MATRIX), (3, _CAUSE_THRESHOLDS),
                       (4, _CAUSE_TARIFF_INFO)):
            if mask & (1 << bit):
                cause |= c
        self.snapshots.change(cause)
        # Save the registers at the end of this tick: the parts record already
        # holds the new tariff, so a later outage's standing charge is caught
        # up from after the activation, not from an older save (issue #15.3).
        self._reg_period = -1

    # -- persisted attributes ------------------------------------------------------
    def nv_dirty(self, cl):
        if cl not in self._dirty:
            self._dirty.append(cl)

    def _flush_nv(self):
        while self._dirty:
            cl = self._dirty.pop()
            items = cl.nv_items()
            buf = bytearray(256)
            off = 0
            for aid, t, v in items:
                struct.pack_into("<HB", buf, off, aid, t)
                off = T.encode(t, v, buf, off + 3)
            self.store.save(_nv_key(cl), buf[:off])

    def _load_nv(self, cl):
        d = self.store.load(_nv_key(cl))
        if not d:
            return
        off = 0
        try:
            while off < len(d):
                aid, t = struct.unpack_from("<HB", d, off)
                v, off = T.decode(t, d, off + 3)
                a = cl.adefs.get(aid)
                if a is not None and a[2] == t:
                    cl.values[aid] = v
        except (DecodeError,) + STRUCT_ERRORS:
            pass   # a record that passed its CRC but not our decoder: keep defaults

    # -- the display (the bench's state inspection is host only: vboard.py) --
    def display_text(self):
        """The LCD line, rendered with the Metering formatting attributes;
        in prepayment mode with the combined credit and EC in use."""
        d = self.display
        a = self.account
        text = "%s kWh  %s kW  SUPPLY %s  T:%s%s" % (
            self.metering.display_summation(), self.metering.display_demand(),
            ("OFF", "ARMED", "ON")[self.supply.state],
            TIME_STATUS_NAMES[d.time_status].upper(), " *ID*" if d.identify else "")
        if a.mode == _PREPAY:
            c = a.combined() // _PER_PENNY           # floor: never shows more than there is
            text += "  CR %s%d.%02d%s" % ("-" if c < 0 else "", abs(c) // 100, abs(c) % 100,
                                          " EC" if a.ec_in_use else "")
        return text


def _gbcs_due(store):
    """The earliest activation in gbcs/future.py's record, read without
    importing the GBCS package (its first four octets)."""
    r = store.load_rec("gbcs_fd", 8, 1, lambda b: struct.unpack_from("<I", b, 0)[0])
    return NEVER if r is None else r


def _nv_key(cl):
    return "attr%04x%s" % (cl.ID, "s" if cl.SERVER else "c")


# The meter's clusters, one table (the cluster registry): cluster class,
# endpoint, ZSE device id or None, three entries a row in one flat tuple,
# in the order Meter.__init__ registers them (through _register).
# The host tools take their cluster tables from it (tools/zcl_host.py), so
# a cluster added here is known to the bench, the hub simulator and the
# captures at once. GBCS §7.4 (Table 7.4): one "Electricity ESI Endpoint"
# for a single-phase ESME, ZSE device id 0x0500 (Energy Service Interface),
# every cluster on it. (Here rather than a module of its own: on the unix
# port every module costs heap.)
CLUSTERS = (
    Basic, _ESI_EP, _DEVICE_ESI,
    Identify, _ESI_EP, None,
    Metering, _ESI_EP, None,
    TimeClient, _ESI_EP, None,
    DrlcClient, _ESI_EP, None,
    Prepayment, _ESI_EP, None,
    Price, _ESI_EP, None,
    CalendarServer, _ESI_EP, None,
    Tunneling, _ESI_EP, None,
    OtaClient, _ESI_EP, None,
)


def _register(engine, cluster):
    """Add a cluster the meter built to the ZCL engine at its CLUSTERS
    row's endpoint (with the row's device id). Returns the cluster."""
    t = CLUSTERS
    for i in range(0, len(t), 3):
        if type(cluster) is t[i]:
            return engine.add(t[i + 1], cluster, t[i + 2])
    raise ValueError("cluster not in the registry")


# The names above that only the host's tests and tools read: public there,
# folded private constants on a board, no global each in this module's dict
# on its heap (issue #18).
if __import__("sys").implementation.name != "micropython":
    EV_ALERT = _EV_ALERT
    EV_CLOCK_SET = _EV_CLOCK_SET
    UI_ACTIVATE_EC = _UI_ACTIVATE_EC
