# Profile data: half-hourly import profile, daily read log, consumption
# periods and maximum demand. GBCS §7.3.4 captures: half-hour boundaries and
# midnight UTC. Pure logic over two SlotRings; call tick(now, wh) every
# second (or less often: it closes whatever boundaries were crossed).
#
# Record layouts (little-endian, CRC-8 after them, see ringlog.py):
#   half-hour i (start = i * 1800 s): Wh u16, flags u8            4 octets
#   day d (midnight = d * 86400 s):   import register Wh u48, flags u8  8 octets
#   daily register read, day d:       version u8 (1), import register Wh u48,
#     the 80 tariff registers u32 (TOU 1-48, then blocks 1-4 x TOU 1-8 as
#     tariff/matrix.py slots 0-79), CRC-32              331 octets
# The daily register read is the Daily Read Log of GBCS ECS21a (0-0:98.1.9,
# Tbl 18.2.1.1 entry_registerReadLogEntry; captured at midnight UTC, §7.3.4,
# GSME analogue §10.4.2.1): 31 days (SMETS sets the depth, v0.8.1 does not;
# 31 as the GPF's daily read logs), 10,261 octets of flash.
# Flags: a value is never silently wrong or missing after a clock change or
# a power cut -- the interval says so.
import struct

from ..compat import collect
from .ringlog import SlotRing
from ..platform.clock import civil, weekday

_DAY = const(86400)              # = platform.clock.DAY

HALF_HOUR = const(1800)           # GBCS §7.3.4 half-hourly capture (UTC :00 and :30)

_PROFILE_SLOTS = const(19200)      # 400 days of half-hours (> 13 months): 76.8 KB
_DAILY_SLOTS = const(731)          # two years of midnight reads: 5.8 KB
_DREG_SLOTS = const(31)            # daily register reads (ECS21a): 31 x 331 octets
_DREG_LEN = const(327)             # the record before its CRC-32
_DREG_V = const(1)                 # its layout version (first octet)
_F_PARTIAL = const(0x01)           # the meter was not running for all of it (power cut, boot)
_F_CLOCK = const(0x02)             # the clock was set during the interval
_F_OVERFLOW = const(0x04)          # more than 65535 Wh: value clipped
_F_MERGED = const(0x08)            # written again after a backward clock step (values added)
PERIOD_30MIN = const(2)           # ZSE ProfileIntervalPeriod enumeration
STATE_KEY = "profile"
_STATE = "<iIIIIIIIIi"            # day, day/week/month start and previous, max demand W, time, last idx
# then (GBCS ECS18b/ECS37/ECS57): the configurable-period maximum demand W
# and its time, the reset times of both, the period's start and end
# (seconds of the UTC day; start == end: no period)
_STATE2 = "<iIIIIIIIIiIIIIii"


class Profile:
    def __init__(self, store):
        self.store = store
        be = store.backend
        self.hh = SlotRing(be, "prof_hh.bin", _PROFILE_SLOTS, 3)
        self.daily = SlotRing(be, "prof_day.bin", _DAILY_SLOTS, 7)
        self.dregs = SlotRing(be, "prof_dreg.bin", _DREG_SLOTS, _DREG_LEN, True)
        self.tariff = None       # the tariff engine (its registers), set by the meter
        self._rec = bytearray(7)
        self.idx = -1            # current half-hour index
        self.start_wh = 0
        self.flags = 0
        self.last_idx = -1       # newest closed interval
        self.day = -1
        self.day_start = self.prev_day = 0
        self.week_start = self.prev_week = 0
        self.month_start = self.prev_month = 0
        self.max_demand_w = 0
        self.max_demand_t = 0
        self.md_p_w = self.md_p_t = 0     # maximum demand in the configurable period
        self.md_reset_t = self.md_p_reset_t = 0
        self.md_ws = self.md_we = 0       # the period, seconds of the UTC day

    # -- start-up -----------------------------------------------------------------
    def boot(self, now, wh):
        d = self.store.load(STATE_KEY)
        if d and len(d) == struct.calcsize(_STATE2):
            (self.md_p_w, self.md_p_t, self.md_reset_t, self.md_p_reset_t, self.md_ws,
             self.md_we) = struct.unpack(_STATE2, d)[10:]
            d = d[:struct.calcsize(_STATE)]
        if d and len(d) == struct.calcsize(_STATE):
            (self.day, self.day_start, self.prev_day, self.week_start, self.prev_week,
             self.month_start, self.prev_month, self.max_demand_w, self.max_demand_t,
             self.last_idx) = struct.unpack(_STATE, d)
        self.idx = now // HALF_HOUR
        self.start_wh = wh
        # partial unless we start exactly on its boundary
        self.flags = _F_PARTIAL if now % HALF_HOUR else 0
        if self.day < 0:
            self.day = now // _DAY
            self.day_start = self.week_start = self.month_start = wh
            self._save()
        else:
            self._roll_days(now // _DAY, wh)

    def _save(self):
        self.store.save(STATE_KEY, self.state())

    def state(self):
        """The state record (key STATE_KEY, untyped): a command that changes
        the state saves it inside its atomic operation (Meter.save_record)."""
        return struct.pack(
            _STATE2, self.day, self.day_start, self.prev_day, self.week_start, self.prev_week,
            self.month_start, self.prev_month, self.max_demand_w, self.max_demand_t,
            self.last_idx, self.md_p_w, self.md_p_t, self.md_reset_t, self.md_p_reset_t,
            self.md_ws, self.md_we)

    def reset_max_demand(self, which, now):
        """ECS57: maximum demand 0 (all time) or 1 (configurable period)
        back to zero at `now`; 2 (export) is not measured: nothing to do.
        The caller saves state()."""
        if which == 0:
            self.max_demand_w = self.max_demand_t = 0
            self.md_reset_t = now
        elif which == 1:
            self.md_p_w = self.md_p_t = 0
            self.md_p_reset_t = now

    def set_md_period(self, start, end):
        """ECS37: the configurable period, seconds of the UTC day (start ==
        end: none); a half hour counts when it starts inside it. The caller
        saves state()."""
        self.md_ws = start
        self.md_we = end

    # -- per second -----------------------------------------------------------------
    def tick(self, now, wh):
        """Allocation-free unless a boundary is crossed."""
        i = now // HALF_HOUR
        if i != self.idx:
            self._close(i, wh)
            # the half hour's garbage (this record, the register save just
            # before it in the due table, the frames of the half hour) is
            # freed now, so what the meter keeps from the next half hour goes
            # into the lowest holes, not wherever MicroPython's first-fit
            # allocator has got to: without it a simulated day split a
            # 32-bit board's largest free block (issue #18; compat.pack_heap)
            collect()
        d = now // _DAY
        if d != self.day:
            self._roll_days(d, wh)

    def clock_changed(self, now, wh):
        """Called before the clock is set: the interval is marked, and the
        next tick closes it under its own index."""
        self.flags |= _F_CLOCK

    def current_interval(self, wh):
        """(start UTC, Wh so far) of the running half-hour."""
        return self.idx * HALF_HOUR, wh - self.start_wh

    # -- boundaries --------------------------------------------------------------------
    def _close(self, new_idx, wh):
        value = wh - self.start_wh
        flags = self.flags
        old = self.hh.get(self.idx)
        if old is not None and self.idx <= self.last_idx:
            # the clock went back over an interval already written: add, flag
            value += old[0] | (old[1] << 8)
            flags |= old[2] | _F_MERGED
        if value > 0xFFFF:
            value = 0xFFFF
            flags |= _F_OVERFLOW
        r = self._rec
        r[0] = value & 0xFF
        r[1] = value >> 8
        r[2] = flags
        self.hh.put(self.idx, memoryview(r)[:3])
        if self.idx > self.last_idx:
            self.last_idx = self.idx
        demand = value * 2            # W averaged over the half hour
        if not flags & (_F_PARTIAL | _F_CLOCK) and demand > self.max_demand_w:
            self.max_demand_w = demand
            self.max_demand_t = (self.idx + 1) * HALF_HOUR
            self._save()
        s = self.idx * HALF_HOUR % _DAY
        ws = self.md_ws
        we = self.md_we
        if not flags & (_F_PARTIAL | _F_CLOCK) and demand > self.md_p_w and ws != we and \
                (ws <= s < we if ws < we else s >= ws or s < we):
            self.md_p_w = demand
            self.md_p_t = (self.idx + 1) * HALF_HOUR
            self._save()
        self.idx = new_idx
        self.start_wh = wh
        self.flags = 0

    def _roll_days(self, d, wh):
        if d == self.day:
            return
        if d > self.day:
            # midnight read for the new day (GBCS daily read log)
            r = self._rec
            struct.pack_into("<IHB", r, 0, wh & 0xFFFFFFFF, wh >> 32, 0)
            self.daily.put(d, r)
            self._day_regs(d, wh)
            gap = d - self.day          # > 1 if days passed with the meter off
            self.prev_day = (wh - self.day_start) if gap == 1 else 0
            if weekday(d) == 0 or gap >= 7 or weekday(d) <= weekday(self.day):
                self.prev_week = wh - self.week_start
                self.week_start = wh
            y0, m0, _ = civil(self.day)
            y1, m1, _ = civil(d)
            if (y0, m0) != (y1, m1):
                self.prev_month = wh - self.month_start
                self.month_start = wh
        self.day = d
        self.day_start = wh
        self._save()

    def _day_regs(self, d, wh):
        """The daily register read of day d: one record, one write, before
        the state that says day d was rolled (_save): a cut before that
        leaves the state on the old day and the roll (and this write, the
        same slot again) happens at boot, from the registers the meter
        restarts with. Midnight only: it allocates its record."""
        t = self.tariff
        if t is None:
            return
        r = bytearray(_DREG_LEN)
        struct.pack_into("<BIH", r, 0, _DREG_V, wh & 0xFFFFFFFF, (wh >> 32) & 0xFFFF)
        reg = t.reg
        for i in range(80):
            struct.pack_into("<I", r, 7 + 4 * i, reg[i] & 0xFFFFFFFF)
        self.dregs.put(d, r)

    # -- reads ---------------------------------------------------------------------------
    def interval(self, i):
        """(Wh, flags) of half-hour i, or None if there is no good record."""
        rec = self.hh.get(i)
        if rec is None:
            return None
        return rec[0] | (rec[1] << 8), rec[2]

    def daily_read(self, d):
        rec = self.daily.get(d)
        if rec is None:
            return None
        lo, hi, flags = struct.unpack("<IHB", rec)
        return lo | (hi << 32)

    def day_regs(self, d):
        """The daily register read of day d: (import Wh, the record, whose
        80 registers are u32 from octet 7), or None when missing, torn,
        from an earlier lap or of another layout version."""
        rec = self.dregs.get(d)
        if rec is None or rec[0] != _DREG_V:
            return None
        _, lo, hi = struct.unpack_from("<BIH", rec, 0)
        return lo | (hi << 32), rec

    def intervals_before(self, end_time, n, now):
        """Newest-first (index, Wh or None) of up to n closed intervals ending
        at or before end_time (0 = the most recent), within what the ring
        holds. Returns (end index, list)."""
        last = self.last_idx
        if end_time:
            last = min(last, end_time // HALF_HOUR - 1)
        first_kept = self.idx - _PROFILE_SLOTS
        out = []
        i = last
        while i >= 0 and i > first_kept and len(out) < n:
            v = self.interval(i)
            out.append((i, None if v is None else v[0]))
            i -= 1
        return last, out


# The names above that only the host's tests and tools read: public there,
# folded private constants on a board, no global each in this module's dict
# on its heap (issue #18).
if __import__("sys").implementation.name != "micropython":
    PROFILE_SLOTS = _PROFILE_SLOTS
    DAILY_SLOTS = _DAILY_SLOTS
    DREG_SLOTS = _DREG_SLOTS
    F_PARTIAL = _F_PARTIAL
    F_CLOCK = _F_CLOCK
    F_MERGED = _F_MERGED
