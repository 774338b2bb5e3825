# Time cluster (0x000A) client: synchronises the meter clock from the comms
# hub's Time server and keeps the GBCS Time Status (GBCS §9.1.2-9.1.3).
#
# GBCS §9.1.3 (notes/gbcs-esme-functional §5.2):
#  - power-on of the clock: status Invalid; the first valid hub time sets the
#    clock and makes the status Unreliable;
#  - every 24 h read the hub time; 0xFFFFFFFF or no answer: retry every
#    30 min; after 3 failed retries the status becomes Unreliable (Reliable
#    only; an Invalid status stays Invalid and the retries go on every 30 min);
#  - |hub - own| > 10 s: status Unreliable, clock NOT adjusted, alert 0x8F0C
#    (0x800C in GBCS v0.8.1; renumbered 0x8Fxx in later versions) if the
#    status changed; within 10 s the clock follows the hub.
#  - Reliable only comes from a Supplier Set Clock (ECS70, GBCS §9.1.4), the
#    WAN issue's entry point supplier_set_clock().
# A hub time outside the plausible window (platform/clock.py: 2020 to 2100,
# never the 0xFFFFFFFF sentinel nor anything near it) is no valid time: it
# is handled exactly as 0xFFFFFFFF (a failed attempt, retried; an Invalid
# status stays Invalid until a plausible time arrives), and a Supplier Set
# Clock with one is refused as §9.1.4.2 step 2 refuses an invalid CH time.
import struct

from ..zcl.cluster import Cluster
from ..platform.clock import UTC_INVALID, plausible

# other modules' constants, folded here (host_tests/test_const_copies.py keeps them equal)
_READ_ATTR = const(0x00)    # = zcl.foundation.READ_ATTR
_TX_PAYLOAD = const(3)      # = zcl.engine.TX_PAYLOAD
_UTC = const(0xE2)          # = zcl.types.UTC

_RELIABLE = const(0)      # ASN.1 values of GBCS Table 9.1.2
_INVALID = const(1)
_UNRELIABLE = const(2)
NAMES = ("reliable", "invalid", "unreliable")

_SYNC_PERIOD = const(86400)
_RETRY_PERIOD = const(1800)
_MAX_RETRIES = const(3)
_MAX_STEP = const(10)
_ALERT_CLOCK_DRIFT = const(0x8F0C)   # GBCS later versions; v0.8.1: 0x800C
STORE_KEY = "timestate"

_ATTR_TIME = const(0x0000)
_ATTR_TIME_STATUS = const(0x0001)


class TimeClient(Cluster):
    ID = 0x000A
    NAME = "Time"
    SERVER = False
    SECURE = True      # ZSE §5.4.6 Table 2: Time needs the APS link key
    ATTRS = ()
    RX = ()
    TX = ()

    def __init__(self, app, hub_addr=0x0000, hub_ep=1, ep=1):
        Cluster.__init__(self, app)
        self.hub_addr = hub_addr
        self.hub_ep = hub_ep
        self.ep = ep
        self.status = _INVALID
        self.next_sync = 0       # monotonic second of the next request
        self.failures = 0        # consecutive failed attempts
        self.pending = False     # a request is out without an answer
        self.last_sync_utc = UTC_INVALID

    def load(self):
        d = self.app.store.load(STORE_KEY)
        if d and len(d) >= 5:
            self.status, self.last_sync_utc = struct.unpack("<BI", d)

    def _save(self):
        self.app.store.save(STORE_KEY, struct.pack("<BI", self.status, self.last_sync_utc))

    def _set_status(self, st):
        if st != self.status:
            self.status = st
            self._save()

    def clock_lost(self):
        """The RTC lost its time while the mains was off (meter.boot): the
        power-on state of GBCS §9.1.3, Invalid until a valid hub time."""
        self.failures = 0
        self._set_status(_INVALID)

    def request_sync(self):
        """Send Read Attributes (Time, TimeStatus) to the hub's Time server."""
        eng = self.app.zcl
        struct.pack_into("<HH", eng.tx, _TX_PAYLOAD, _ATTR_TIME, _ATTR_TIME_STATUS)
        eng.send_global(self, self.hub_addr, self.hub_ep, self.ep, _READ_ATTR, 4)
        self.pending = True

    # -- scheduling: next_sync is this client's slot in the meter's due table -------
    def due(self, mono):
        """The request (or the retry, or giving up) that fell due at the
        monotonic second next_sync."""
        if self.pending:                 # no answer within the retry period
            if self._failed():
                self.next_sync = mono + _SYNC_PERIOD
                return
        self.request_sync()
        self.next_sync = mono + _RETRY_PERIOD   # the answer is due before then

    def _failed(self):
        """One failed attempt; True when the retries are used up (the initial
        request and MAX_RETRIES retries), which falls back to the daily cycle
        unless the status is Invalid."""
        self.pending = False
        self.failures += 1
        if self.failures > _MAX_RETRIES:
            if self.status == _RELIABLE:
                self._set_status(_UNRELIABLE)
            if self.status == _INVALID:
                # no time at all yet: keep asking every 30 min (§9.1.3 asks
                # for at least 3 retries; a meter without time has no tariff)
                self.failures = _MAX_RETRIES
                return False
            self.failures = 0
            return True
        return False

    def on_attributes(self, req, recs):
        hub = UTC_INVALID
        for aid, st, t, v in recs:
            if aid == _ATTR_TIME and st == 0 and t == _UTC:
                hub = v
        if not self.pending:
            return          # unsolicited: only our own requests set the clock
        if not plausible(hub):          # 0xFFFFFFFF, or no time a meter can live in
            gave_up = self._failed()
            self.next_sync = self.app.clock.mono() + (_SYNC_PERIOD if gave_up else _RETRY_PERIOD)
            return
        self.pending = False
        self.failures = 0
        self.next_sync = self.app.clock.mono() + _SYNC_PERIOD
        self.apply_hub_time(hub)

    def apply_hub_time(self, hub):
        if not plausible(hub):
            return
        clock = self.app.clock
        own = clock.now()
        if self.status == _INVALID:
            self.app.set_clock(hub)
            self._set_status(_UNRELIABLE)
        elif abs(hub - own) > _MAX_STEP:
            if self.status != _UNRELIABLE:
                self._set_status(_UNRELIABLE)
                self.app.alert(_ALERT_CLOCK_DRIFT)
        elif hub != own:
            self.app.set_clock(hub)
        self.last_sync_utc = clock.now()
        self._save()

    def supplier_set_clock(self, hub, start, end):
        """ECS70 adjust_to_preset_time (GBCS §9.1.4.2 step 4). A CH time
        outside the plausible window counts as none (step 2): Reliable
        becomes Unreliable, any other status stays, the clock is not set."""
        if not plausible(hub):
            if self.status == _RELIABLE:
                self._set_status(_UNRELIABLE)
            return False
        if start <= hub <= end:
            self.app.set_clock(hub)
            self._set_status(_RELIABLE)
            return True
        if self.status != _INVALID:
            self._set_status(_UNRELIABLE)
        return False


# The names above that only the host's tests and tools read: public there,
# folded private constants on a board, no global each in this module's dict
# on its heap (issue #18).
if __import__("sys").implementation.name != "micropython":
    RELIABLE = _RELIABLE
    INVALID = _INVALID
    UNRELIABLE = _UNRELIABLE
    SYNC_PERIOD = _SYNC_PERIOD
    RETRY_PERIOD = _RETRY_PERIOD
    ALERT_CLOCK_DRIFT = _ALERT_CLOCK_DRIFT
