# Tariff engine: active and passive tariff parts, their activation, and the
# accumulation of every Wh into the registers and of its cost into the
# account (GBCS §7.3.7, §9.2.2, Table 9.2.2.7).
#
# Parts, each an active copy, an optional passive copy and the passive's
# activation date-time (Tbl 9.2.2.7 keeps one per object; a new load
# replaces the whole pending part, §9.2.2.3):
#   cal  switching table (seasons, week and day profiles)   0-0:13.0.0.255
#   spd  its special days                                    0-0:11.0.0.255
#   prc  price matrix, currency, scaler, tier labels         0-0:19.2.0.255
#   thr  block thresholds and block period                   0-0:16.0.12.255
#   stc  standing charge and its period                      0-0:19.2.4.255 attr 8
# All five live in one store record, so a load or an activation is one
# atomic write: after a power cut the meter has the old tariff or the new,
# never a mix. Activation is a copy (passive stays as it was loaded into
# active), done at the first tick whose second starts at or after the
# activation time; on restart the meter catches up before metering again.
#
# Time: tick(now, wh) meters the second [now-1, now). Its Wh go to the
# register the calendar names at now-1: a switch point at 07:00:00 sends
# the Wh of 06:59:59 to the old register and of 07:00:00 to the new. A Wh
# is attributed to the register in force when it completes (registers are
# whole Wh; the fraction carried over a switch belongs to the new one).
#
# Clock steps (hub or supplier set): the selector is looked up again at
# once. Forwards, activations whose time was skipped happen immediately;
# backwards, nothing already activated is undone and the block counters are
# not reset a second time (the block period only moves forwards). The
# standing charge accrues per metered second, not over a step, and over a
# power cut by the RTC's elapsed time, split at any activation that fell
# inside the outage.
#
# Money: cost = Wh x price(per kWh) / 1000 in price units. The remainder
# below one price unit is carried, never rounded, so the account is debited
# floor(exact cost so far): no rounding ever creates or destroys money.
import struct

from ..compat import pack_heap
from . import matrix as M
from . import calendar as C
from ..platform.clock import NEVER, period_id

# other modules' constants, folded here (host_tests/test_const_copies.py keeps them equal)
_BP_MONTH = const(3)        # = platform.clock.BP_MONTH
_N_BANDS = const(8)         # = tariff.matrix.N_BANDS
_N_SLOTS = const(84)        # = tariff.matrix.N_SLOTS
_N_TOU = const(48)          # = tariff.matrix.N_TOU
_SLOT_BLOCK = const(48)     # = tariff.matrix.SLOT_BLOCK
_SRC_ENERGY = const(0)      # = tariff.account.SRC_ENERGY
_SRC_STANDING = const(1)    # = tariff.account.SRC_STANDING

KINDS = ("cal", "spd", "prc", "thr", "stc")
IMMEDIATE = const(0)
STORE_KEY = "tariff"
_SCHEMA = const(2)                     # the record (store.py load_rec; layout at _pack_parts)
_VERSION = const(1)
_ALERT_FUTURE_OK = const(0x8F66)        # GBCS §9.2.2.6 (0x8066 in v0.8.1)
_ALERT_FUTURE_FAIL = const(0x8F67)      # (0x8067 in v0.8.1)
_EV_TARIFF_ACTIVATED = const(0x0010)    # event log: value = part bit mask
_N_REG = const(84)
_BITMAP = const(12)                    # state bitmap: ceil((84 + 8) / 8) octets
_TAIL = "<iIIQQ"                       # period id, residues, account
_TAIL_LEN = const(28)
_PACK_STEP = const(2048)               # compat.pack_heap: a load packs its objects low


# what a stored part that passed its CRC but not our decoder raises
_BAD = (ValueError, KeyError, IndexError, TypeError, getattr(struct, "error", ValueError))


def _default_parts():
    """Before any tariff is loaded: one rate, all prices zero, every Wh in
    TOU register 1."""
    # C.ANY16 read, not copied: 0xFFFF in a constant tuple freezes as a long int
    cal = C.build("default", [(C.ANY16, 1, 1, 1)], [(1, [1] * 7)], [(1, [(0, 1)])])
    prc = M.pack_prices(0, 0, 826, -5, [0] * _N_SLOTS, {})
    thr = M.pack_thresholds(_BP_MONTH, [()] * _N_BANDS)
    stc = M.pack_standing(0, 86400)
    return {"cal": cal, "spd": C.EMPTY_SPECIAL, "prc": prc, "thr": thr, "stc": stc}


class Part:
    def __init__(self, active):
        self.active = active
        self.since = 0           # when the active copy took effect (0: factory default)
        self.passive = None
        self.at = NEVER


class TariffEngine:
    def __init__(self, app, store, account):
        self.app = app
        self.store = store
        self.account = account
        self.parts = {}
        for k, blob in _default_parts().items():
            self.parts[k] = Part(blob)
        self.reg = [0] * _N_REG            # slots as matrix.py: TOU, block matrix, secondary
        self.counters = [0] * _N_BANDS   # block counters (Wh since the block period began)
        self.period_id = -1
        self._cost = 0                    # price units x Wh/kWh not yet debited (< 1000)
        self._sc = 0                      # standing charge x seconds not yet debited (< period)
        # the next second at which the selector or a part may change (a
        # switch point, an activation, midnight; 0: look again): the tick of
        # next_change + 1 runs advance (meter.py's due table)
        self.next_change = 0
        self.sel = 1
        self.sel_start = 0
        self._slot = 0
        self._band = 0                    # 0: TOU selector; 1..8: block time band
        self.on_change = None             # callback(engine) when the price in force changes
        self.on_activate = None           # callback(part mask) when parts take effect
        self.block_period = _BP_MONTH    # the default tariff's, until a part says otherwise
        self._apply_all()

    # -- parts --------------------------------------------------------------------------------
    def _apply_all(self):
        p = self.parts
        self._set(_derive(p["cal"].active, p["spd"].active, p["prc"].active, p["thr"].active,
                          p["stc"].active))

    def _set(self, d):
        """Take the decoded views of the active parts (_derive) into force;
        assignments only, so it cannot fail half way (out of memory)."""
        (self.calendar, pr, bp, bands, self._th, self._thn, sc) = d
        (self.tariff_id, self.provider_id, self.currency, self.scaler, self.prices,
         self.labels) = pr
        if bp != self.block_period:
            self.period_id = -1           # a new kind of period starts now, without a reset
        self.block_period = bp
        self.thresholds = bands
        self.sc_amount, self.sc_period = sc
        self.next_change = 0

    def load(self):
        got = self.store.load_rec(STORE_KEY, _SCHEMA, _VERSION, self._decode)
        if got is None and STORE_KEY in self.store.unreadable:   # undo half-decoded slots
            for k, blob in _default_parts().items():
                self.parts[k] = Part(blob)
            self._apply_all()

    def _decode(self, rec):
        """Strict decoder for Store.load_rec: every part must apply."""
        parts = _unpack_parts(rec)
        for k in KINDS:
            p = self.parts[k]
            p.active, p.passive, p.at, p.since = parts[k]
        self._apply_all()
        return True

    def _save(self):
        # an external record of the meter's atomic operations (meter.py): too
        # large for the journal, saved first; if it does not land, the
        # operation did not happen (its activation is done again at boot)
        self.app.save_record(STORE_KEY, (_pack_parts(self.parts), _SCHEMA, _VERSION, False))

    def stage(self, blobs, at, now):
        """Load parts (kind -> blob, already validated) with one activation
        time: IMMEDIATE or a time not after now executes now without an
        alert; NEVER cancels the pending part; a future time makes them
        passive (GBCS §9.2.2.3-9.2.2.6). Returns the kinds activated now.

        All or nothing, also when the heap runs out (MemoryError) or the
        record cannot be written: the new parts are decoded and saved
        before anything in force changes, and on any failure the parts go
        back to what they were (the old record stays the newest on flash:
        a torn or unwritten slot is never read) and the error propagates."""
        gct = pack_heap(_PACK_STEP)     # the new views low in the heap, not amid its garbage
        try:
            if at != NEVER:
                # the parts as copies of their own, made right after that
                # collection: they live as long as the tariff, so they go
                # into the lowest holes, not wherever the caller's parsing
                # left the originals (a full calendar is 3 KB; issue #18)
                blobs = {k: bytes(memoryview(blobs[k])) for k in KINDS if k in blobs}
            return self._stage(blobs, at, now)
        finally:
            pack_heap(gct)

    def _stage(self, blobs, at, now):
        parts = self.parts
        old = [(parts[k].active, parts[k].passive, parts[k].at, parts[k].since) for k in KINDS]
        h = self.app.begin()          # record, event-log entry, change entry: one operation
        done = []
        try:
            for k in KINDS:
                if k not in blobs:
                    continue
                p = parts[k]
                if at == NEVER:
                    p.passive, p.at = None, NEVER
                elif at == IMMEDIATE or at <= now:
                    p.active, p.passive, p.at, p.since = blobs[k], None, NEVER, now
                    done.append(k)
                else:
                    p.passive, p.at = blobs[k], at
            new = None
            if done:
                new = _derive(parts["cal"].active, parts["spd"].active, parts["prc"].active,
                              parts["thr"].active, parts["stc"].active)
            self._save()
        except Exception:
            for i in range(len(KINDS)):
                p = parts[KINDS[i]]
                p.active, p.passive, p.at, p.since = old[i]
            self.app.abort(h, STORE_KEY)      # the record queued for this load is dropped
            raise
        old = None
        if new is not None:
            self._set(new)
            new = None
            self.app.log(self.app.event_log, _EV_TARIFF_ACTIVATED, _mask(done))
            if self.on_activate is not None:
                self.on_activate(_mask(done))
        self.next_change = 0
        self.app.end(h)
        return done

    def pending(self):
        """[(kind, activation time)] of passive parts."""
        return [(k, self.parts[k].at) for k in KINDS if self.parts[k].passive is not None]

    def _activate_due(self, t):
        due = [k for k in KINDS if self.parts[k].passive is not None and
               self.parts[k].at <= t and self.parts[k].at != NEVER]
        if not due:
            return
        at = min(self.parts[k].at for k in due)
        due = [k for k in due if self.parts[k].at == at]   # in time order, one time at a time
        old = {}
        for k in due:
            p = self.parts[k]
            old[k] = (p.active, p.since)
            p.active, p.passive, p.at, p.since = p.passive, None, NEVER, at
        try:
            self._apply_all()
            ok = True
        except MemoryError:
            # no heap for the new views even after the collection the
            # allocator makes (_derive fails before anything changes): the
            # old parts stay in force and the activation is tried again the
            # next second, taking effect (since) when it does; the tick goes on
            for k in due:
                p = self.parts[k]
                p.passive, p.at = p.active, t + 1
                p.active, p.since = old[k]
            return
        except _BAD:
            for k in due:                  # a passive copy that does not decode: keep the old
                self.parts[k].active, self.parts[k].since = old[k]
            self._apply_all()
            ok = False
        self._save()
        self.app.log(self.app.event_log, _EV_TARIFF_ACTIVATED, _mask(due) | (0 if ok else 0x80))
        if ok and self.on_activate is not None:
            self.on_activate(_mask(due))
        for k in due:                      # one alert per instruction (§9.2.2.6)
            self.app.alert(_ALERT_FUTURE_OK if ok else _ALERT_FUTURE_FAIL)

    # -- time ------------------------------------------------------------------------------------
    def clock_changed(self):
        self.next_change = 0

    def advance(self, t):
        """What falls due at second t: activations, block period, selector."""
        for _ in range(len(KINDS)):
            self._activate_due(t)
        pid = period_id(self.block_period, t)
        if pid > self.period_id:
            if self.period_id >= 0:
                self.reset_block_counters()
            self.period_id = pid
        sel, start, nxt = self.calendar.resolve(t)
        # a price period starts no earlier than the tariff that defines it
        start = max(start, self.parts["cal"].since, self.parts["prc"].since)
        for k in KINDS:
            p = self.parts[k]
            if p.passive is not None and t < p.at < nxt:
                nxt = p.at
        before = (self.sel, self.price_now())
        self.sel, self.sel_start, self.next_change = sel, start, nxt
        if sel <= _N_TOU:
            self._band, self._slot = 0, sel - 1
        else:
            self._band, self._slot = sel - 100, 0
        if before != (sel, self.price_now()) and self.on_change is not None:
            self.on_change(self)

    def reset_block_counters(self):
        """End of block period, change of supplier (§13.3.5.10) or command."""
        c = self.counters
        for i in range(_N_BANDS):
            c[i] = 0
        self.next_change = 0

    # -- metering -----------------------------------------------------------------------------
    def tick(self, now, wh):
        """Meter one second [now-1, now) with wh whole Wh. Allocation-free
        unless a switch point, activation or midnight is crossed (the meter
        runs advance(now - 1) from its due table first, so the check here
        only serves engine-only use)."""
        t = now - 1
        if t >= self.next_change:
            self.advance(t)
        if wh:
            self._add(wh)
        sc = self._sc + self.sc_amount
        per = self.sc_period
        if sc >= per:
            n = sc // per
            sc -= n * per
            self.account.debit(n, _SRC_STANDING)
        self._sc = sc

    def _add(self, wh):
        r = self.reg
        pr = self.prices
        cost = self._cost
        band = self._band
        if band == 0:
            s = self._slot
            r[s] += wh
            cost += wh * pr[s]
        else:
            # the block comes from the band's counter against its thresholds;
            # an increment crossing a threshold is split (GBCS §7.3.7.2 Tbl 7.3.7.2)
            b = band - 1
            c = self.counters[b]
            th = self._th
            n = self._thn[b]
            while wh > 0:
                k = 0
                while k < n and c >= th[3 * b + k]:
                    k += 1
                take = wh
                if k < n and th[3 * b + k] - c < take:
                    take = th[3 * b + k] - c
                s = _SLOT_BLOCK + k * _N_BANDS + b
                r[s] += take
                cost += take * pr[s]
                c += take
                wh -= take
            self.counters[b] = c
        if cost >= 1000:
            n = cost // 1000
            cost -= n * 1000
            self.account.debit(n, _SRC_ENERGY)
        self._cost = cost

    def catch_up(self, elapsed, now):
        """Standing charge for the elapsed seconds before now that the meter
        was off (RTC difference). A passive standing charge or price part
        (its price scaler) whose activation instant fell inside the outage
        counts from that instant: the seconds before it at the old charge,
        those from it at the new (GBCS v0.8.1 §9.2.2.7, Table 9.2.2.6: the
        active value is set when the clock reaches the activation date-time;
        issue #15.3). The activation itself, with its 0x8F66 alert, happens
        at the next tick as for any due part; a passive copy that will not
        decode is charged as the old, which is what that activation keeps."""
        if elapsed <= 0:
            return
        t = now - elapsed
        stc = self.parts["stc"]
        prc = self.parts["prc"]
        keep = (self.sc_amount, self.sc_period, self.scaler)
        pend = 0                          # bit 0: stc, bit 1: prc not yet in force here
        if stc.passive is not None and stc.at < now:
            pend |= 1
        if prc.passive is not None and prc.at < now:
            pend |= 2
        while True:
            if pend & 1 and stc.at <= t:
                pend &= ~1
                try:
                    self.sc_amount, self.sc_period = M.unpack_standing(stc.passive)
                except _BAD:
                    pass
            if pend & 2 and prc.at <= t:
                pend &= ~2
                try:
                    self.scaler = M.unpack_prices(prc.passive)[3]
                except _BAD:
                    pass
            nxt = now
            if pend & 1 and stc.at < nxt:
                nxt = stc.at
            if pend & 2 and prc.at < nxt:
                nxt = prc.at
            sc = self._sc + self.sc_amount * (nxt - t)
            n = sc // self.sc_period
            self._sc = sc - n * self.sc_period
            if n:
                self.account.debit(n, _SRC_STANDING)
            if nxt >= now:
                break
            t = nxt
        self.sc_amount, self.sc_period, self.scaler = keep

    # -- views ------------------------------------------------------------------------------------
    def current_block(self, band):
        """Block 1..4 the band's next Wh goes to."""
        b = band - 1
        c = self.counters[b]
        k = 0
        while k < self._thn[b] and c >= self._th[3 * b + k]:
            k += 1
        return k + 1

    def register_slot(self):
        """Slot of the register the next Wh goes to."""
        if self._band == 0:
            return self._slot
        return M.block_slot(self.current_block(self._band), self._band)

    def price_now(self):
        return self.prices[self.register_slot()]

    def tier_now(self):
        """ZSE price tier: the TOU index, or the time band in block mode."""
        return self._slot + 1 if self._band == 0 else self._band

    def block_mode(self):
        return self._band != 0

    def uses_blocks(self):
        return self.bands_in_use() > 0

    def tou_in_use(self):
        """Highest TOU index the calendar names (0: none)."""
        return self.calendar.top_tou

    def bands_in_use(self):
        """Highest block time band the calendar names (0: none)."""
        return self.calendar.top_band

    def tiers_in_use(self):
        """ZSE number of price tiers: highest TOU index or time band."""
        return max(self.tou_in_use(), self.bands_in_use())

    # -- persistence (part of the meter's register record) ----------------------------------
    # Sparse, because it is written every half hour: a bitmap of the 84
    # registers and 8 block counters that are not zero, their values (u32),
    # then block period id, cost and standing-charge residues and the
    # account (flash wear: a three-rate tariff costs ~50 octets a save).
    def pack_state(self):
        """The registers and block counters (bitmap of the non-zero ones,
        then their values) and the residues: one buffer of the exact size,
        no intermediate list (a save must not need a large block)."""
        n = 0
        for src in (self.reg, self.counters):
            for v in src:
                if v:
                    n += 1
        out = bytearray(_BITMAP + 4 * n + _TAIL_LEN)
        i = 0
        off = _BITMAP
        for src in (self.reg, self.counters):
            for v in src:
                if v:
                    out[i >> 3] |= 1 << (i & 7)
                    struct.pack_into("<I", out, off, v)
                    off += 4
                i += 1
        a = self.account
        struct.pack_into(_TAIL, out, off, self.period_id, self._cost, self._sc, a.energy,
                         a.standing)
        return out

    def unpack_state(self, b):
        vals = [0] * (_N_REG + _N_BANDS)
        off = _BITMAP
        for i in range(len(vals)):
            if b[i >> 3] & (1 << (i & 7)):
                vals[i] = struct.unpack_from("<I", b, off)[0]
                off += 4
        if len(b) - off != _TAIL_LEN:
            raise ValueError("tariff state")
        self.reg = vals[:_N_REG]
        self.counters = vals[_N_REG:]
        (self.period_id, self._cost, self._sc, self.account.energy,
         self.account.standing) = struct.unpack_from(_TAIL, b, off)
        self.next_change = 0



def _derive(cal, spd, prc, thr, stc):
    """The decoded views of active parts, built whole before any is taken
    into force (TariffEngine._set): calendar, prices, block period and
    thresholds (as tuples and flat for the tick), standing charge."""
    calendar = C.Calendar(cal, spd)
    pr = M.unpack_prices(prc)
    bp, bands = M.unpack_thresholds(thr)
    th = [0] * (3 * _N_BANDS)
    thn = [0] * _N_BANDS
    for b in range(_N_BANDS):
        thn[b] = len(bands[b])
        for i in range(thn[b]):
            th[3 * b + i] = bands[b][i]
    return calendar, pr, bp, bands, th, thn, M.unpack_standing(stc)


def _mask(kinds):
    m = 0
    for k in kinds:
        m |= 1 << KINDS.index(k)
    return m


# record (store.py load_rec: schema 2, version 1; version 0, the format-1
# store record before schemas, has the same layout): per kind in KINDS
# order: at u32, since u32, active len u16, passive len u16 (0xFFFF: none),
# active, passive; nothing after the last part.


def _pack_parts(parts):
    """The record as a list of pieces (headers and the blobs themselves),
    which Store.save_parts writes without joining them."""
    out = []
    for k in KINDS:
        p = parts[k]
        ps = p.passive
        out.append(struct.pack("<IIHH", p.at, p.since, len(p.active),
                               0xFFFF if ps is None else len(ps)))
        out.append(p.active)
        if ps is not None:
            out.append(ps)
    return out


def _unpack_parts(rec):
    out = {}
    off = 0
    for k in KINDS:
        at, since, la, lp = struct.unpack_from("<IIHH", rec, off)
        off += 12
        a = bytes(rec[off:off + la])
        off += la
        ps = None
        if lp != 0xFFFF:
            ps = bytes(rec[off:off + lp])
            off += lp
        if len(a) != la or (ps is not None and len(ps) != lp):
            raise ValueError("tariff record")
        out[k] = (a, ps, at, since)
    if off != len(rec):
        raise ValueError("tariff record length")
    return out


# The names above that only the host's tests and tools read: public there,
# folded private constants on a board, no global each in this module's dict
# on its heap (issue #18).
if __import__("sys").implementation.name != "micropython":
    ALERT_FUTURE_OK = _ALERT_FUTURE_OK
    EV_TARIFF_ACTIVATED = _EV_TARIFF_ACTIVATED
