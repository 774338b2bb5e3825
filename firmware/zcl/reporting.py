# Attribute reporting, ZCL rev 6 §2.5.7 (Configure Reporting) and §2.5.11
# (Report Attributes). One configuration per attribute and per requester
# (an IHD and the hub may both ask: notes/hub-expectations-digi §11.3); each
# requester gets its reports at its own address and endpoint.
# The configuration is persisted as one store record, so a power cut during
# a change leaves either the old or the new table.
import struct

from ..compat import STRUCT_ERRORS
from . import types as T
from ..platform.clock import NEVER

_A_P = const(0x04)               # = zcl.cluster.A_P
_TX_PAYLOAD = const(3)           # = zcl.engine.TX_PAYLOAD

_REPORT_ATTR = const(0x0A)        # ZCL rev 6 Table 2-3
# statuses (ZCL rev 6 Table 2-12, as status.py), folded into the bytecode
_SUCCESS = const(0x00)
_UNSUPPORTED_ATTRIBUTE = const(0x86)
_INVALID_VALUE = const(0x87)
_INSUFFICIENT_SPACE = const(0x89)
_UNREPORTABLE_ATTRIBUTE = const(0x8C)
_INVALID_DATA_TYPE = const(0x8D)

_REPORT_SLOTS = const(16)   # table size; full table -> INSUFFICIENT_SPACE
STORE_KEY = "reporting"
_REC = "<BHBHBHHqHB"
_REC_LEN = const(22)
_NO_REPORT = const(0xFFFF)


class Entry:
    def __init__(self, ep, cl, aid, t, mn, mx, ch, dst, dst_ep, now):
        self.ep = ep
        self.cl = cl
        self.aid = aid
        self.type = t
        self.min = mn
        self.max = mx
        self.change = ch
        self.dst = dst
        self.dst_ep = dst_ep
        self.analog = T.is_analog(t)
        self.last = None       # last reported value (None: nothing reported yet)
        self.last_t = now      # when the interval clock was last started
        self.due = False


class Reporting:
    def __init__(self, app):
        self.app = app
        self.entries = []
        self.sent = 0
        # monotonic second from which tick() may send (the meter's due
        # table): worked out by tick; 0 (look at once) when entries change
        self.next_due = NEVER

    def find(self, cl, aid, dst=None, dst_ep=None):
        """The requester's entry, or with dst None the first for aid."""
        for e in self.entries:
            if e.cl is cl and e.aid == aid and (dst is None or
                                                (e.dst == dst and e.dst_ep == dst_ep)):
                return e
        return None

    def configure(self, cl, req, aid, t, mn, mx, ch, save=True):
        """One record's status (ZCL rev 6 §2.5.7.3); save False leaves the
        save to the caller (one write for a whole command)."""
        self.next_due = 0
        a = cl.adefs.get(aid)
        if a is None:
            return _UNSUPPORTED_ATTRIBUTE
        if not a[3] & _A_P:
            return _UNREPORTABLE_ATTRIBUTE
        if t != a[2]:
            return _INVALID_DATA_TYPE
        e = self.find(cl, aid, req.aps.src, req.aps.src_ep)
        # max 0xFFFF: stop reporting; min 0xFFFF with max 0: back to the
        # default configuration, which for us is "not reported" (§2.5.7.1.5-6).
        if mx == _NO_REPORT or (mn == _NO_REPORT and mx == 0):
            if e is not None:
                self.entries.remove(e)
                if save:
                    self.save()
            return _SUCCESS
        if mx != 0 and mn > mx:
            return _INVALID_VALUE
        if e is None and len(self.entries) >= _REPORT_SLOTS:
            return _INSUFFICIENT_SPACE
        if e is not None:
            self.entries.remove(e)
        self.entries.append(Entry(req.ep, cl, aid, t, mn, mx, ch, req.aps.src,
                                  req.aps.src_ep, self.app.clock.mono()))
        if save:
            self.save()
        return _SUCCESS

    # -- per-second ------------------------------------------------------------
    def tick(self, now):
        """Send due reports. Allocation-free when nothing is due."""
        any_due = False
        for e in self.entries:
            el = now - e.last_t
            if e.max and el >= e.max:
                e.due = True
            elif el >= e.min:
                v = e.cl.read(e.aid)
                last = e.last
                if last is None:
                    e.due = True
                elif v != last:
                    if not e.analog or e.change == 0:
                        e.due = True
                    else:
                        d = v - last
                        e.due = (d if d >= 0 else -d) >= e.change
            any_due = any_due or e.due
        if any_due:
            self._send_due(now)
        # next_due: an entry's minimum interval (from then on its value is
        # compared every second: a change is reported at once) or its
        # maximum, whichever is first (ZCL rev 6 §2.5.7.1.5-6); now for a
        # report still owed (no room in the frame)
        t = NEVER
        for e in self.entries:
            x = now if e.due else e.last_t + (e.max if e.max and e.max < e.min else e.min)
            if x < t:
                t = x
        self.next_due = t

    def _send_due(self, now):
        eng = self.app.zcl
        tx = eng.originate()         # sized to one secured frame (engine.py)
        for e in self.entries:
            if not e.due:
                continue
            # One Report Attributes frame per (cluster, destination), all due
            # attributes of it that fit.
            off = _TX_PAYLOAD
            for f in self.entries:
                if f.due and f.cl is e.cl and f.dst == e.dst and f.dst_ep == e.dst_ep:
                    if off + 3 >= len(tx):
                        continue   # no room for a record: stays due for the next frame
                    v = f.cl.read(f.aid)
                    try:
                        struct.pack_into("<HB", tx, off, f.aid, f.type)
                        n = T.encode(f.type, v, tx, off + 3)
                    except STRUCT_ERRORS:
                        continue   # does not fit: stays due for the next frame
                    off = n
                    f.due = False
                    f.last = v
                    f.last_t = now
            eng.send_global(e.cl, e.dst, e.dst_ep, e.ep, _REPORT_ATTR, off - _TX_PAYLOAD)
            self.sent += 1

    # -- persistence -----------------------------------------------------------
    def save(self):
        out = bytearray(1 + _REC_LEN * len(self.entries))
        out[0] = len(self.entries)
        off = 1
        for e in self.entries:
            struct.pack_into(_REC, out, off, e.ep, e.cl.ID, 1 if e.cl.SERVER else 0,
                             e.aid, e.type, e.min, e.max, e.change, e.dst, e.dst_ep)
            off += _REC_LEN
        self.app.store.save(STORE_KEY, out)

    def load(self):
        data = self.app.store.load(STORE_KEY)
        self.entries = []
        self.next_due = 0
        if not data:
            return
        now = self.app.clock.mono()
        n = min(data[0], _REPORT_SLOTS)
        for i in range(n):
            off = 1 + i * _REC_LEN
            if off + _REC_LEN > len(data):
                break
            ep, cid, srv, aid, t, mn, mx, ch, dst, dep = struct.unpack_from(_REC, data, off)
            cl = self.app.zcl.find(ep, cid, bool(srv))
            if cl is not None and aid in cl.adefs:
                self.entries.append(Entry(ep, cl, aid, t, mn, mx, ch, dst, dep, now))


# The names above that only the host's tests and tools read: public there,
# folded private constants on a board, no global each in this module's dict
# on its heap (issue #18).
if __import__("sys").implementation.name != "micropython":
    REPORT_SLOTS = _REPORT_SLOTS
