# Register snapshots: the Metering cluster's snapshots (taken on request or
# on a schedule, ZSE D.3.2.3.1.5-7) and the GBCS Billing Data Log (register
# part at the end of each billing period; register part plus balances on a
# change of tariff or payment mode; notes/gbcs-esme-functional §7.1, 12
# entries each). All three are flash ring logs of one record format:
#
#   time u32, cause u32 (ZSE snapshot cause bits), import Wh u48,
#   cost u64 (tariff units of energy + standing charge since installation),
#   84 registers u32 (48 TOU, 32 block, 4 secondary; Tbl 7.3.7.2),
#   6 x i32 balances (EC, meter balance, payment debt, time debts 1 and 2,
#   accumulated debt; zero in the period and on-request logs)
#
# SnapshotID carries the log in its top nibble: on request 0x0, billing
# period 0x1, billing change 0x2, then the record's sequence number.
#
# Billing period: calendar months from 00:00 UTC on the 1st (the Price
# cluster publishes the same, clusters/price.py period_bounds). Bill to date
# is the cost since the newest billing-period record (or installation).
#
# Schedules (Schedule Snapshot): up to 4, each a start time and a
# frequency in days, weeks or months (SnapshotSchedule bits 0-19, type bits
# 20-21, wild card bits 22-23 as Wireshark decodes them); frequency 0 is a
# single snapshot. A start time of 0xFFFFFFFF cancels the schedule with that
# id (our convention; ZSE leaves cancellation open). Schedules and the
# billing period last seen are one store record, written when they change.
#
# Power cuts: a billing-period entry and the period id, and a scheduled
# snapshot and its schedule's next due time, are each one atomic operation
# with the register record the entry is built from (Meter.begin/end and the
# journal, meter.py): after a cut the meter has recorded it once or not at
# all (then it is recorded at boot / the next tick, from the registers the
# meter restarts with), never twice and never ahead of the registers.
import struct

from ..compat import STRUCT_ERRORS
from .ringlog import SeqLog
from ..platform.clock import NEVER, add_months, billing_period

_DAY = const(86400)              # = platform.clock.DAY

_REC = const(382)
_HEAD = "<IIIHQ"                  # time, cause, Wh low, Wh high, cost
_N_REG = const(84)
_BAL_OFF = const(358)              # 22 + 4 * 84
_MANUAL_SLOTS = const(16)
_BILL_SLOTS = const(12)
_MAX_SCHEDULES = const(4)
_CAUSE_GENERAL = const(0x00000001)
_CAUSE_END_OF_BILLING = const(0x00000002)
CAUSE_TARIFF_INFO = const(0x00000008)
CAUSE_PRICE_MATRIX = const(0x00000010)
CAUSE_THRESHOLDS = const(0x00000020)
CAUSE_CALENDAR = const(0x00000100)
_CAUSE_MANUAL = const(0x00000400)
CAUSE_MODE = const(0x00004000)
_CAUSE_SCHEDULED = const(0x00010000)
# Schedule Snapshot confirmations (ZSE D.3.2.4.5)
_SS_ACCEPTED = const(0x00)
_SS_TYPE_NOT_SUPPORTED = const(0x01)
_SS_NOT_AVAILABLE = const(0x03)
_SS_NO_SPACE = const(0x05)
_STORE_KEY = "snapsched"
_SCHED = "<BIIBII"                # id, start, schedule u24 (in a u32), payload type, cause, next due
# The record (store.py load_rec): schema 3, version 1 = billing period id
# i32, count u8, count x _SCHED. Version 0 (format-1 store records, before
# schemas) has the same layout.
_SCHEMA = const(3)
_VERSION = const(1)
_LOG_SNAPSHOTS = const(3)         # intent log id of logs[0] (meter.py Meter._logs)


class Snapshots:
    def __init__(self, app, backend):
        self.app = app
        self.logs = (SeqLog(backend, "snapshots.bin", _MANUAL_SLOTS, _REC),
                     SeqLog(backend, "bill_period.bin", _BILL_SLOTS, _REC),
                     SeqLog(backend, "bill_change.bin", _BILL_SLOTS, _REC))
        self.schedules = []       # [id, start, schedule, payload type, cause, next due]
        self.next_due = NEVER
        self.bill_pid = -1
        self.bill_base = 0        # cost at the start of the billing period
        self._rec = bytearray(_REC)

    # -- records -------------------------------------------------------------------------
    def take(self, log, cause, balances=False):
        """Snapshot of the registers now into logs[log]; its SnapshotID. The
        entry is an intent (time, cause, balances) the meter commits in one
        operation with the register record it is built from (meter.py,
        atomic operations), so it is never ahead of the registers the meter
        restarts with, and never recorded twice."""
        seq = self.app.intend(_LOG_SNAPSHOTS + log,
                              struct.pack("<IIB", self.app.clock.now(), cause, balances))
        return (log << 28) | seq

    def record(self, t, cause, balances):
        """The 382-octet record of the registers as they are, stamped t."""
        m = self.app
        r = self._rec
        a = m.account
        wh = m.import_wh
        struct.pack_into(_HEAD, r, 0, t, cause, wh & 0xFFFFFFFF, wh >> 32,
                         a.energy + a.standing)
        reg = m.tariff.reg
        for i in range(_N_REG):
            struct.pack_into("<I", r, 22 + 4 * i, reg[i] & 0xFFFFFFFF)
        if balances:
            struct.pack_into("<6i", r, _BAL_OFF, a.ecb if a.ec_in_use else 0, a.mb, a.debt[2],
                             a.debt[0], a.debt[1], a.ad)
        else:
            struct.pack_into("<6i", r, _BAL_OFF, 0, 0, 0, 0, 0, 0)
        return r

    def get(self, sid):
        """The record of a SnapshotID, or None."""
        log = sid >> 28
        if log >= len(self.logs):
            return None
        return self.logs[log].get(sid & 0x0FFFFFFF)

    def find(self, t0, t1, cause):
        """[(time, SnapshotID)] with t0 <= time <= t1 and a cause bit in
        cause (0xFFFFFFFF: any), newest first across the three logs."""
        out = []
        for log in range(len(self.logs)):
            lg = self.logs[log]
            for seq, rec in lg.newest(lg.slots):
                t, c = struct.unpack_from("<II", rec, 0)
                if t0 <= t <= t1 and (cause == 0xFFFFFFFF or c & cause):
                    out.append((t, (log << 28) | seq))
        out.sort()
        out.reverse()
        return out

    # -- billing --------------------------------------------------------------------------
    def bill_to_date(self):
        a = self.app.account
        return a.energy + a.standing - self.bill_base

    def boot(self, now):
        """Schedules and the billing period; a period end passed while the
        mains was off is recorded now (the registers did not move meanwhile)."""
        got = self.app.store.load_rec(_STORE_KEY, _SCHEMA, _VERSION, self._decode)
        if got is None and _STORE_KEY in self.app.store.unreadable:
            self.schedules = []
            self.bill_pid = -1
        got = self.logs[1].newest(1)
        if got:
            self.bill_base = struct.unpack_from("<Q", got[0][1], 14)[0]
        pid = billing_period(now)
        if self.bill_pid < 0:
            self.bill_pid = pid
            self._save()
        elif pid > self.bill_pid:
            self.period_end()
        self._due()          # a snapshot due while the mains was off is taken at the next tick

    def _decode(self, d):
        """Strict: exactly the schedules the count says (store.py load_rec)."""
        pid, n = struct.unpack_from("<iB", d, 0)
        sz = struct.calcsize(_SCHED)
        if n > _MAX_SCHEDULES or len(d) != 5 + n * sz:
            raise ValueError("snapshot schedules")
        sch = []
        for i in range(n):
            sch.append(list(struct.unpack_from(_SCHED, d, 5 + i * sz)))
        self.bill_pid = pid
        self.schedules = sch
        return True

    def day_changed(self, now):
        """A new billing period (a clock stepped back into an earlier month
        does not end the current one a second time)."""
        if billing_period(now) > self.bill_pid:
            self.period_end()

    def period_end(self):
        """End of billing period: the register part of the Billing Data Log.
        One atomic operation (meter.py): the entry, the register record it is
        built from and the period id are committed together, so a power cut
        neither records the period twice nor leaves it ahead of the registers."""
        h = self.app.begin()
        self.take(1, _CAUSE_END_OF_BILLING)
        a = self.app.account
        self.bill_base = a.energy + a.standing
        self.bill_pid = billing_period(self.app.clock.now())
        self._save()
        self.app.end(h)

    def change(self, cause):
        """Change of tariff or payment mode: registers and balances."""
        return self.take(2, cause, True)

    # -- schedules ------------------------------------------------------------------------
    def schedule(self, recs, now, room):
        """One Schedule Snapshot command (ZSE D.3.2.3.1.5): recs are
        (id, start, SnapshotSchedule, payload type, cause) tuples. Returns
        the confirmations (id, code), one per record, in order.

        Everything is validated before anything changes: the confirmations
        are worked out against the schedules as they would be, then the
        accepted records are applied and saved in one write. A record that
        is refused changes nothing (a refused replacement keeps the schedule
        it would have replaced). A command with more records than room (the
        confirmations one response can carry) is refused whole: nothing
        changes and the first room records are confirmed "insufficient
        space" (0x05), so no schedule exists that the requester was not
        told of."""
        if len(recs) > room:
            return [(r[0], _SS_NO_SPACE) for r in recs[:room]]
        ids = [x[0] for x in self.schedules]
        out = []
        for sid, start, sch, ptype, cause in recs:
            if start == NEVER:
                c = _SS_ACCEPTED                     # cancel (present or not)
                if sid in ids:
                    ids.remove(sid)
            elif ptype != 0:
                c = _SS_TYPE_NOT_SUPPORTED           # TOU Information Set Delivered only
            elif sch >> 22 or (sch >> 20) & 3 == 3:
                c = _SS_NOT_AVAILABLE                # wild cards, reserved frequency type
            elif sid not in ids and len(ids) >= _MAX_SCHEDULES:
                c = _SS_NO_SPACE
            else:
                c = _SS_ACCEPTED
                if sid not in ids:
                    ids.append(sid)
            out.append((sid, c))
        changed = False
        for i in range(len(recs)):
            if out[i][1] != _SS_ACCEPTED:
                continue
            sid, start, sch, ptype, cause = recs[i]
            for k in range(len(self.schedules)):
                if self.schedules[k][0] == sid:
                    del self.schedules[k]
                    break
            if start != NEVER:
                x = [sid, start, sch, ptype, cause, 0]
                x[5] = self._next(x, now)
                self.schedules.append(x)
            changed = True
        if changed:
            self._save()
            self._due()
        return out

    def _next(self, s, now):
        """The first due time of schedule s at or after now, or NEVER."""
        start, sch = s[1], s[2]
        if now <= start:
            return start
        f = sch & 0xFFFFF
        if not f:
            return NEVER                        # a single snapshot, already taken
        kind = (sch >> 20) & 3
        if kind < 2:
            step = f * _DAY * (7 if kind else 1)
            t = start + ((now - start + step - 1) // step) * step
        else:
            k = f
            t = add_months(start, k)
            while t < now:
                k += f
                t = add_months(start, k)
        return t if t < NEVER else NEVER      # beyond 2106: never

    def _due(self):
        nd = NEVER
        for s in self.schedules:
            if s[5] < nd:
                nd = s[5]
        self.next_due = nd

    def tick(self, now):
        """Scheduled snapshots falling due: one per schedule (also after a
        clock step forward or a power cut that skipped several), then the
        next after now. Each due time is persisted, so none is taken twice."""
        if now < self.next_due or self.next_due == NEVER:
            return                              # NEVER is no time, even to a clock past it
        h = self.app.begin()          # the snapshots and their next due times: one operation
        for s in list(self.schedules):
            if s[5] <= now and s[5] != NEVER:
                self.take(0, s[4] | _CAUSE_SCHEDULED)
                s[5] = self._next(s, now + 1)
                if s[5] == NEVER:
                    self.schedules.remove(s)
        self._save()
        self._due()
        self.app.end(h)

    def clock_changed(self, old, now):
        """Forwards, due times stay: the skipped ones give one snapshot per
        schedule at the next tick. Backwards, each schedule continues from
        the new time (a time already passed comes again; every snapshot
        carries the time it was taken)."""
        if now >= old:
            return
        for s in self.schedules:
            s[5] = self._next(s, now)
        self._save()
        self._due()

    def _save(self):
        out = bytearray(struct.pack("<iB", self.bill_pid, len(self.schedules)))
        for s in self.schedules:
            out += struct.pack(_SCHED, s[0], s[1], s[2], s[3], s[4], s[5])
        self.app.save_record(_STORE_KEY, ((out,), _SCHEMA, _VERSION, True))

    # -- ZSE payload ------------------------------------------------------------------------
    def bill_of(self, sid, rec):
        """(bill, time) of a billing-period record: its period's cost (the
        cost at its end less at the end of the period before); (0, 0) for
        the other logs."""
        if sid >> 28 != 1:
            return 0, 0
        t, _, _, _, cost = struct.unpack_from(_HEAD, rec, 0)
        prev = self.logs[1].get((sid & 0x0FFFFFFF) - 1)
        base = struct.unpack_from("<Q", prev, 14)[0] if prev is not None else 0
        return cost - base, t

    def payload(self, rec, wire, tiers, digit, bill):
        """Snapshot payload type 0, TOU Information Set Delivered Registers
        (ZSE D.3.2.4.6): summation, bill to date and its time, projected
        bill and its time (a closed period's projection is its bill), the
        bill trailing digit, tiers in use and each tier's summation (u48)."""
        t, _, lo, hi, cost = struct.unpack_from(_HEAD, rec, 0)
        out = bytearray(24 + 6 * tiers)
        v = wire(lo | (hi << 32))
        struct.pack_into("<IH", out, 0, v & 0xFFFFFFFF, (v >> 32) & 0xFFFF)
        amount = min(bill[0], 0xFFFFFFFF)
        struct.pack_into("<IIII", out, 6, amount, bill[1], amount, bill[1])
        out[22] = digit
        out[23] = tiers
        for i in range(tiers):
            v = wire(struct.unpack_from("<I", rec, 22 + 4 * i)[0])
            struct.pack_into("<IH", out, 24 + 6 * i, v & 0xFFFFFFFF, (v >> 32) & 0xFFFF)
        return out


# The names above that only the host's tests and tools read: public there,
# folded private constants on a board, no global each in this module's dict
# on its heap (issue #18).
if __import__("sys").implementation.name != "micropython":
    BAL_OFF = _BAL_OFF
    MAX_SCHEDULES = _MAX_SCHEDULES
    CAUSE_GENERAL = _CAUSE_GENERAL
    CAUSE_END_OF_BILLING = _CAUSE_END_OF_BILLING
    CAUSE_SCHEDULED = _CAUSE_SCHEDULED
    SS_ACCEPTED = _SS_ACCEPTED
    SS_TYPE_NOT_SUPPORTED = _SS_TYPE_NOT_SUPPORTED
    SS_NOT_AVAILABLE = _SS_NOT_AVAILABLE
    SS_NO_SPACE = _SS_NO_SPACE
