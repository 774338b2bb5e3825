# Demand Response and Load Control (0x0701) client, ZSE Annex D.2.
# The hub (ESI) schedules load-control events; the event table
# (drlc/events.py) decides when each starts and stops; this module decodes,
# reports every state change (Report Event Status) and calls the
# application back (start / stop) so it can shed or restore load.
from ..zcl.cluster import Cluster, check_range
from ..drlc import events as E

STORE_KEY = "drlc"
# The table's record (store.py load_rec): schema 4, version 1 = n u8, n
# events (drlc/events.py), m u8, m finished issuer ids u32. Version 0 (the
# format-1 store record before schemas) has the same layout.
_SCHEMA = const(4)
_VERSION = const(1)
_SIG_NONE = const(0x00)
_SIG_LEN = const(42)                # ZSE D.2.3.3.1: signature field is 42 octets
_NO_SIGNATURE = bytes(_SIG_LEN)
_GET_ALL = const(0)                  # Get Scheduled Events: 0 = all events

class DrlcClient(Cluster):
    ID = 0x0701
    NAME = "DRLC"
    SERVER = False
    SECURE = True
    ATTRS = (
        "0000 UtilityEnrollmentGroup 20 RWN 0;"
        "0001 StartRandomizationMinutes 20 RWN 30;"
        "0002 DurationRandomizationMinutes 20 RWN 0;"
        # bit 7 "simple misc. (residential on/off) loads": what an ESME's
        # auxiliary load-control switches carry (GBCS §18.1.1)
        "0003 DeviceClassValue 19 RWN 0x80;"
    )
    RX = (
        "00 LoadControlEvent IssuerEventID:23 DeviceClass:19"
        "  UtilityEnrollmentGroup:20 StartTime:E2 DurationInMinutes:21"
        "  CriticalityLevel:20 CoolingTemperatureOffset:20"
        "  HeatingTemperatureOffset:20 CoolingTemperatureSetPoint:29"
        "  HeatingTemperatureSetPoint:29 AverageLoadAdjustmentPercentage:28"
        "  DutyCycle:20 EventControl:18;"
        "01 CancelLoadControlEvent IssuerEventID:23 DeviceClass:19"
        "  UtilityEnrollmentGroup:20 CancelControl:18 EffectiveTime:E2;"
        "02 CancelAllLoadControlEvents CancelControl:18;"
    )
    TX = (
        "00 ReportEventStatus IssuerEventID:23 EventStatus:30 EventStatusTime:E2"
        "  CriticalityLevelApplied:20 CoolingTemperatureSetPointApplied:29"
        "  HeatingTemperatureSetPointApplied:29"
        "  AverageLoadAdjustmentPercentageApplied:28 DutyCycleApplied:20"
        "  EventControl:18 SignatureType:30 Signature:REST;"
        "01 GetScheduledEvents StartTime:E2 NumberOfEvents:20 IssuerEventID?:23;"
    )

    def __init__(self, app, hub_addr, hub_ep, ep, seed):
        Cluster.__init__(self, app)
        self.hub_addr = hub_addr
        self.hub_ep = hub_ep
        self.ep = ep
        self.table = E.EventTable(E.Rng(seed))
        self.next_due = 0
        self.reports = 0
        # Application callbacks: fn(event, reason). reason is one of
        # started, resume, opt_in (start) / completed, cancelled,
        # superseded, opt_out (stop). Times are UTC seconds, durations minutes.
        self.on_start = None
        self.on_stop = None

    def validate(self, aid, value):
        if aid in (0x0001, 0x0002):
            check_range(value, 0, 60)          # ZSE D.2.3.2: 0..0x3C minutes
        return 0

    # -- received commands ---------------------------------------------------------
    def on_LoadControlEvent(self, req, f):
        v = self.stored           # UEG, start and duration randomisation, device class
        if self.table.add(f, self.app.clock.now(), (v(0x0000), v(0x0001), v(0x0002), v(0x0003)),
                          req.aps.src, req.aps.src_ep):
            self._run(req)

    def on_CancelLoadControlEvent(self, req, f):
        dclass, ueg = self.stored(0x0003), self.stored(0x0000)
        if not f["DeviceClass"] & dclass or f["UtilityEnrollmentGroup"] not in (0, ueg):
            return
        now = self.app.clock.now()
        st = self.table.cancel(f["IssuerEventID"], f["CancelControl"], f["EffectiveTime"],
                               now, f["DeviceClass"], f["UtilityEnrollmentGroup"])
        if st is not None:
            self.app.store.save(STORE_KEY, self.table.pack(), _SCHEMA, _VERSION)   # then reported
            e = self.table.find(f["IssuerEventID"])
            self._report(e, st, now, req, f["IssuerEventID"])
        self._run(req, st is None)      # an accepted cancel is state even when it lies ahead

    def on_CancelAllLoadControlEvents(self, req, f):
        self.table.cancel_all(f["CancelControl"], self.app.clock.now())
        self._run(req, True)

    # -- consumer ------------------------------------------------------------------
    def opt(self, out, eid=None):
        """Consumer opt-out (out=True) or opt-in, one event or all."""
        self.table.opt(out, self.app.clock.now(), eid)
        self._run(None)

    # -- time: next_due is this client's slot in the meter's due table (meter.py) ----
    def tick(self, now):
        """Start, end and cancel what fell due at next_due (UTC; NEVER: none)."""
        if now >= self.next_due:
            self._run(None)

    def on_clock_set(self):
        """A clock step re-evaluates every event once and asks the hub for
        what the meter may have missed."""
        self._run(None)
        self.get_scheduled_events()

    def boot(self):
        if self.app.store.load_rec(STORE_KEY, _SCHEMA, _VERSION, self._decode) is None:
            self.table.load(None)
        now = self.app.clock.now()
        for e in self.table.events:
            if e.state == E.S_RUNNING and now < e.eff_end and not e.flags & E.F_OPTED_OUT:
                if self.on_start is not None:
                    self.on_start(e, "resume")
        self._run(None)
        self.get_scheduled_events()

    def get_scheduled_events(self):
        self.send(self.hub_addr, self.hub_ep, self.ep, "GetScheduledEvents",
                  (0, _GET_ALL))           # StartTime 0 (now), NumberOfEvents

    def _decode(self, d):
        """Strict decoder (store.py load_rec): n events, then m finished ids."""
        n = d[0]
        m = d[1 + E.EVENT_LEN * n] if 1 + E.EVENT_LEN * n < len(d) else -1
        if n > E.EVENT_SLOTS or m < 0 or m > E.DONE_SLOTS or len(d) != 2 + E.EVENT_LEN * n + 4 * m:
            raise ValueError("drlc table")
        self.table.load(d)
        return True

    # -- plumbing ------------------------------------------------------------------
    def _run(self, req, dirty=False):
        """Apply what is due now; dirty: the table changed already (a cancel
        scheduled for later), so it is saved even if nothing is due."""
        t = self.table
        changed = t.tick(self.app.clock.now()) or bool(t.out) or dirty
        out, t.out = t.out, []
        if changed:         # saved before anything is reported or switched: a report
            self.app.store.save(STORE_KEY, t.pack(), _SCHEMA, _VERSION)   # must not outlive a cut
        for d in out:
            if d[0] == "report":
                self._report(d[1], d[2], d[3], req)
                req = None      # only the first report answers the command
            else:
                fn = self.on_start if d[0] == "start" else self.on_stop
                if fn is not None:
                    fn(d[1], d[2])
        self.next_due = t.next_change()

    def _report(self, e, st, now, req, eid=None):
        # Report Event Status (ZSE D.2.3.3.1), fields in TX schema order
        if e:
            f = (e.id, st, now, e.criticality, e.cool_setpoint, e.heat_setpoint,
                 e.load_adjust, e.duty_cycle, e.control, _SIG_NONE, _NO_SIGNATURE)
        else:   # no such event: the "not used" value of each applied field
            f = (eid, st, now, 0, -0x8000, -0x8000, -0x80, 0xFF, 0, _SIG_NONE, _NO_SIGNATURE)
        self.reports += 1
        if req is not None:
            self.reply(req, "ReportEventStatus", f)
        else:
            dst, dep = (e.src, e.src_ep) if e else (self.hub_addr, self.hub_ep)
            self.send(dst, dep, self.ep, "ReportEventStatus", f)
