# The credit/debt account of an ESME (GBCS §7.3.9, §18.2.1.2-3, Tbl 9.2.2.7;
# notes/gbcs-esme-functional §3). It implements the tariff's debit()
# interface (tariff/account.py) and owns the top-up path (§14).
#
# Money is an integer count of ACCOUNT units, 10^-5 of the currency (a
# thousandth of a penny). Tariff debits in 10^scaler units are converted
# with the remainder carried, never rounded, so no conversion creates or
# destroys money. Top-up values (pence or pounds, §14.3.2) are exact.
#
# Credit objects: mb (MeterBalance, signed), ecb (EmergencyCreditBalance),
# ad (AccumulatedDebt). Charges: energy (TariffBlockPriceMatrixTOU),
# standing charge, time debts 1 and 2, payment debt. Who pays what follows
# the pairing table of §18.2.1.3 (the five credit_charge_configurations):
#   credit mode      energy and standing charge from mb (a running bill)
#   prepayment       from mb while it is positive, then from ecb while EC is
#                    in use ("the value of MeterBalance decides"), then mb
#                    goes negative; with Suspend Debt Emergency (SDE) the
#                    standing charge and time debts accrue to ad instead
#                    while EC is in use; with Suspend Debt Disabled (SDD)
#                    time debts are not collected while the supply is
#                    disabled for lack of credit (the C0 pairings).
# Ledger identity (tests check it after every step):
#   mb + (ecb - ec_granted if EC in use) - ad == credited - charged
# A top-up V (§14, SMETS order): the payment-debt share (pct of V, capped by
# the outstanding payment debt) is collected first, the rest credits mb;
# then EC used is repaid from positive mb (EC ends when fully repaid), then
# ad. Persistence: pack()/unpack() go into the meter's register record, so
# a top-up, its UTRN cache entry and the registers are one atomic write.
import struct

from ..compat import collect
from ..platform.clock import NEVER, civil, weekday
from . import utrn as U

_DAY = const(86400)              # = platform.clock.DAY

# other modules' constants, folded here (host_tests/test_const_copies.py keeps them equal)
_BAD_FORMAT = const(1)          # = prepay.utrn.BAD_FORMAT
_CACHE_SLOTS = const(100)       # = prepay.utrn.CACHE_SLOTS
_CLASS_POUNDS = const(1)        # = prepay.utrn.CLASS_POUNDS
_DUPLICATE = const(2)           # = prepay.utrn.DUPLICATE
_FLAG_NETWORK = const(1)        # = prepay.utrn.FLAG_NETWORK
_LATER = const(0)               # = prepay.utrn.LATER
_NOT_AUTHENTIC = const(3)       # = prepay.utrn.NOT_AUTHENTIC
_NOT_FOR_DEVICE = const(6)      # = prepay.utrn.NOT_FOR_DEVICE
_OVER_MAX_BALANCE = const(5)    # = prepay.utrn.OVER_MAX_BALANCE
_OVER_MAX_CREDIT = const(4)     # = prepay.utrn.OVER_MAX_CREDIT
_SRC_STANDING = const(1)        # = tariff.account.SRC_STANDING
_V081 = const(1)                # = prepay.utrn.V081

UNIT_SCALER = const(-5)
PER_PENNY = const(1000)
PER_POUND = const(100000)
CREDIT = const(1)              # payment_mode (Account class 111 attr 2)
PREPAY = const(2)
IMMEDIATE = const(0)

# charges
_K_ENERGY = const(0)
_K_STANDING = const(1)
_K_DEBT = const(2)

# future-datable parameters (Tbl 9.2.2.7), index into Account.p
P_DISABLE = const(0)           # DisablementThreshold (account units)
P_EC_LIMIT = const(1)          # EmergencyCreditLimit
P_EC_THRESHOLD = const(2)      # EmergencyCreditThreshold
P_LOW_CREDIT = const(3)        # LowCreditThreshold
P_CAP = const(4)               # DebtRecoveryRateCap amount
_P_CAP_PERIOD = const(5)        # DebtRecoveryRateCap period (s)
P_LL_POWER = const(6)          # LoadLimitPowerThreshold (W, 0 = off)
P_LL_PERIOD = const(7)         # LoadLimitPeriod (s)
P_LL_RESTORE = const(8)        # LoadLimitRestorationPeriod (s)
P_ACCOUNT = const(9)           # passive account: mode | SDE<<2 | SDD<<3 (§9.2.2.7)
P_FRIENDLY = const(10)         # non-disablement calendar (blob in friendly_passive)
_N_PARAMS = const(11)
PARAM_NAMES = ("disablement_threshold", "ec_limit", "ec_threshold", "low_credit_threshold",
               "debt_cap", "debt_cap_period", "load_limit_w", "load_limit_period",
               "load_limit_restore", "account", "friendly")
# A list, built at import: as a constant tuple 500000 and 86400 freeze as long ints and
# the per-second debt cap arithmetic on them allocates (host_tests/test_freeze_rule.py).
DEFAULTS = [0, 500000, 100000, 300000, 0, 86400, 0, 300, 30, CREDIT, 0]

# Alerts (later GBCS numbering; v0.8.1 used 0x00xx for the 0x81xx ones)
_AL_LOW_CREDIT = const(0x810D)
AL_CREDIT_ADDED_LOCALLY = const(0x810E)
_AL_EC_AVAILABLE = const(0x8119)
_AL_EC_ACTIVATED = const(0x81AB)
_AL_EC_EXHAUSTED = const(0x81AA)
_AL_DEBT_DONE = const(0x81A7)    # + debt index: time debt 1, time debt 2, payment debt
# (the rejected-UTRN alerts 0x8F51/63/5B/47/64 are raised by commands.top_up)
_AL_FUTURE_OK = const(0x8F66)

# friendly (non-disablement) calendar: up to 8 weekly periods
# (weekday mask bit0 = Monday, start minute, end minute) and 20 special days
_FRIENDLY_PERIODS = const(8)
_FRIENDLY_DAYS = const(20)



class Account:
    # What the account uses of the meter, and nothing else: alert(code),
    # scaler() (the tariff's price scaler, for debits in tariff units) and
    # keys() (the top-up keys, §14.3.4: own KA private key, the supplier's
    # top-up KA public key, supplier and own entity ids; None when not
    # configured). It reports a future-dated change taking effect through
    # changed(2), changed(3) if it switched the payment mode (the meter:
    # commands.engine_event).
    def __init__(self, alert, scaler, keys=None, changed=None):
        self._alert = alert
        self._scaler = scaler
        self.keys = keys
        self.changed = changed
        self.mode = CREDIT
        self.sde = False
        self.sdd = False
        self.max_credit = 150         # Maximum Credit Threshold, whole currency units (§14.3.8.1)
        self.max_balance = 500        # Maximum Meter Balance Threshold (§14.3.8.2)
        # (a change to these defaults must follow in _field_defaults)
        self.pay_pct = 0              # payment debt share of a top-up, 0.01 %
        self.p = list(DEFAULTS)
        self.pend_val = [0] * _N_PARAMS
        self.pend_at = [NEVER] * _N_PARAMS
        self.friendly = b""
        self.friendly_passive = b""
        self._fp = []                 # decoded periods: mask, start minute, end minute, ...
        self._fd = []                 # special days: year << 9 | month << 5 | day
        self._fday = -1
        self._fkey = 0
        self._fwd = 0
        # time debts 1, 2 then the payment debt: outstanding, rate, period, residue
        self.debt = [0, 0, 0]
        self.rate = [0, 0, 0]
        self.period = [86400, 86400, 0]
        self.res = [0, 0, 0]
        self.collected = [0, 0, 0]    # since installation, per debt (Publish Debt Log)
        self.energy = 0               # tariff-unit totals (the RunningCost view)
        self.standing = 0
        self.mb = 0
        self.ecb = 0
        self.ad = 0
        self.ec_in_use = False
        self.ec_granted = 0
        self.credited = 0             # all credit added (top-ups, adjustments)
        self.charged = 0              # all charges collected or accrued
        self.cap_used = 0
        self.cap_pid = -1
        self._conv = 0                # tariff units not yet a whole account unit
        self.flags = 0                # latched conditions (alerts fire once per crossing)
        self.cache = U.Cache()
        self.disabled_for_credit = False   # set by the supply state machine
        self.z = None                 # ECDH(device KA, supplier top-up KA), computed once
        self.last_topup = None        # (result, value, source, time) for the display
        self._next_at = NEVER
        self.share = 0                # payment-debt share of the last top-up

    # -- the tariff's interface ------------------------------------------------------------
    def debit(self, amount, source):
        if source == _SRC_STANDING:        # what the tariff charged, in its own units
            self.standing += amount
        else:
            self.energy += amount
        s = self._scaler()
        if s >= UNIT_SCALER:
            amount *= 10 ** (s - UNIT_SCALER)
        else:
            d = 10 ** (UNIT_SCALER - s)
            c = self._conv + amount
            amount = c // d
            self._conv = c - amount * d
            if not amount:
                return
        self._take(amount, _K_STANDING if source == _SRC_STANDING else _K_ENERGY)

    def _take(self, a, kind):
        self.charged += a
        if self.mode == PREPAY and self.ec_in_use:
            if self.sde and kind != _K_ENERGY:
                self.ad += a                # §18.2.1.3: accrues to AccumulatedDebt only during EC
                return
            if self.mb > 0:
                t = min(self.mb, a)
                self.mb -= t
                a -= t
            if a and self.ecb > 0:
                t = min(self.ecb, a)
                self.ecb -= t
                a -= t
                if not self.ecb:
                    self._alert(_AL_EC_EXHAUSTED)
        self.mb -= a

    # -- views ---------------------------------------------------------------------------------
    def combined(self):
        """Combined credit: meter balance plus emergency credit in use."""
        return self.mb + (self.ecb if self.ec_in_use else 0)

    def ec_available(self):
        return (self.mode == PREPAY and not self.ec_in_use and self.p[P_EC_LIMIT] > 0
                and self.mb <= self.p[P_EC_THRESHOLD])

    def ledger_ok(self):
        return (self.mb + (self.ecb - self.ec_granted if self.ec_in_use else 0) - self.ad
                == self.credited - self.charged)

    def is_friendly(self, t):
        """Inside a non-disablement period (friendly credit) at UTC t.
        Allocation-free: the calendar is decoded when set, and the date's
        special-day key once a day."""
        day = t // _DAY
        if day != self._fday:
            self._fday = day
            y, mo, d = civil(day)
            self._fkey = (y << 9) | (mo << 5) | d
            self._fwd = 1 << weekday(day)        # Monday = bit 0
        p = self._fp
        minute = (t - day * _DAY) // 60
        for i in range(0, len(p), 3):
            if p[i] & self._fwd and p[i + 1] <= minute < p[i + 2]:
                return True
        k = self._fkey
        for x in self._fd:
            if x == k or x == (0xFFFF << 9) | (k & 0x1FF):
                return True
        return False

    def _decode_friendly(self):
        f = self.friendly
        p = []
        d = []
        if f:
            off = 1
            for _ in range(f[0]):
                p.extend(struct.unpack_from("<BHH", f, off))
                off += 5
            for i in range(f[off]):
                y, mo, dd = struct.unpack_from("<HBB", f, off + 1 + 4 * i)
                d.append((y << 9) | (mo << 5) | dd)
        self._fp = p
        self._fd = d

    # -- per second ---------------------------------------------------------------------------
    def tick(self, now):
        """Pending activations, time-debt recovery; allocation-free."""
        if now >= self._next_at and self._next_at != NEVER:
            self._activate(now)
        if self.mode != PREPAY:
            return
        for i in (0, 1):
            if self.debt[i] and self.rate[i]:
                if self.sdd and self.disabled_for_credit:
                    continue                     # the C0 pairing (§18.2.1.3)
                r = self.res[i] + self.rate[i]
                per = self.period[i]
                if r >= per:
                    n = r // per
                    r -= n * per
                    self._collect(i, n, now)
                self.res[i] = r
        self._conditions()

    def catch_up(self, elapsed, now):
        """Time debts for the elapsed seconds before now that the meter was
        off (by RTC, like the standing charge). A future-dated payment mode
        (with SDE/SDD: account_activation_time, GBCS v0.8.1 §9.2.2.7) or debt
        recovery cap and its period (Table 9.2.2.6) whose activation
        instant fell inside the outage counts from that instant: the seconds
        before it are collected under the old rules, those from it under the
        new (issue #15.3, as the tariff's standing charge). Here the values
        are only looked at; the activation itself, with its 0x8F66 alert and
        a mode change's snapshots, happens at the next tick as usual."""
        if elapsed <= 0:
            return
        t = now - elapsed
        p = self.p
        keep = (self.mode, self.sde, self.sdd, p[P_CAP], p[_P_CAP_PERIOD])
        pend = self.pend_at
        while True:
            nxt = now
            for i in (P_ACCOUNT, P_CAP, _P_CAP_PERIOD):
                a = pend[i]
                if a <= t:
                    if i == P_ACCOUNT:
                        v = self.pend_val[i]
                        self.mode, self.sde, self.sdd = v & 3, bool(v & 4), bool(v & 8)
                    else:
                        p[i] = self.pend_val[i]
                elif a < nxt:
                    nxt = a
            if self.mode == PREPAY:
                for i in (0, 1):
                    if self.debt[i] and self.rate[i] and not (self.sdd and
                                                              self.disabled_for_credit):
                        r = self.res[i] + self.rate[i] * (nxt - t)
                        n = r // self.period[i]
                        self.res[i] = r - n * self.period[i]
                        if n:
                            self._collect(i, n, nxt)
            if nxt >= now:
                break
            t = nxt
        self.mode, self.sde, self.sdd, p[P_CAP], p[_P_CAP_PERIOD] = keep

    def _collect(self, i, n, now):
        cap = self.p[P_CAP]
        if cap:
            pid = now // max(1, self.p[_P_CAP_PERIOD])
            if pid != self.cap_pid:
                self.cap_pid = pid
                self.cap_used = 0
            n = min(n, cap - self.cap_used)
            if n <= 0:
                return
            self.cap_used += n
        n = min(n, self.debt[i])
        self.debt[i] -= n
        self.collected[i] += n
        self._take(n, _K_DEBT)
        if not self.debt[i]:
            self._alert(_AL_DEBT_DONE + i)

    def _conditions(self):
        """Low credit and EC availability alerts, once per crossing."""
        low = self.combined() <= self.p[P_LOW_CREDIT]
        if low != bool(self.flags & 1):
            self.flags ^= 1
            if low:
                self._alert(_AL_LOW_CREDIT)
        av = self.ec_available()
        if av != bool(self.flags & 2):
            self.flags ^= 2
            if av:
                self._alert(_AL_EC_AVAILABLE)

    # -- emergency credit (§3.6: consumer UI, PPMID, remote) -------------------------------
    def activate_ec(self):
        """True if EC is in use afterwards (GBCS: success also when it
        already was)."""
        if self.ec_in_use:
            return True
        if not self.ec_available():
            return False
        self.ec_in_use = True
        self.ecb = self.ec_granted = self.p[P_EC_LIMIT]
        self._alert(_AL_EC_ACTIVATED)
        self._conditions()
        return True

    # -- top-up (§14.6 keyed in, §14.7 from a PPMID, §14.4 network) -------------------------
    def top_up_code(self, code, flag, verify_check=True):
        """Validate and apply a 20-digit UTRN; returns the value credited
        in account units or raises UtrnError(reason). The caller persists
        (commands.top_up) before answering anyone."""
        return self._top_up(U.parse(code, verify_check), -1, flag)

    def top_up_ptut(self, ptut, counter, flag=_FLAG_NETWORK):
        """CS01a entry point (network route): PTUT and the UTRN counter from
        the command's originator counter (§14.4.4)."""
        return self._top_up(ptut, counter, flag)

    def _reading(self, ptut, layout, oc):
        """One reading of a PTUT: (reason of the first check of §14.6.4.1.3-6
        (§14.4.4.1-2 on the network route) it fails, 0 if none; its value
        in pence; its UTRN counter, -1 if it cannot be the command's)."""
        lead, vc, value, trunc, _ = U.fields(ptut, layout)
        if oc < 0:                           # keyed in: §14.6.4.1.5
            counter = U.reconstruct(self.cache.highest(), trunc)
        else:                                # CS01a: the OC's counter; the PTUT's must agree
            counter = oc if (oc & 0x3FF) == trunc else -1
        if lead or vc > _CLASS_POUNDS:      # §14.3.9; classes 10, 11 undefined
            return _BAD_FORMAT, 0, counter
        pence = value * 100 if vc == _CLASS_POUNDS else value
        if pence > self.max_credit * 100:                               # §14.3.8.1
            return _OVER_MAX_CREDIT, pence, counter
        if self.combined() + pence * PER_PENNY > self.max_balance * PER_POUND:   # §14.3.8.2
            return _OVER_MAX_BALANCE, pence, counter
        if not self.cache.accepts(oc if oc >= 0 else counter):         # §14.3.6
            return _DUPLICATE, pence, counter
        return 0, pence, counter

    def _top_up(self, ptut, oc, flag):
        # Two readings of the PTUT (utrn.py): LATER, the layout of later GBCS
        # and of what deployed head-ends issue (DCC RTDS 4.5.0 2.2_CS01a,
        # gbcs-parser), first; GBCS v0.8.1 Table 14.3.2 / 14.6.4.1.2 only as
        # a fallback for codes LATER cannot authenticate. The UTRN counter
        # goes into the MAC's KDF and AAD (§14.3.5, §14.6.4.1.7) and the
        # rest of the input is the same raw high word, so a code
        # authenticates in at most one reading unless both give the same
        # counter (then LATER wins). On the CS01a route both carry the
        # command's counter: the reading whose truncated counter agrees with
        # it is the one that can be the command's. The MAC is what tells the
        # layout, so it is computed for a reading even when an earlier check
        # of that reading failed; the outcome is then that reading's in the
        # order of §14.6.4.1 / §14.4.4 (a replay stays a duplicate, an
        # over-limit code over the limit, in either layout). A code no
        # reading authenticates fails at the last check either reading got
        # through to (a forgery that reaches the MAC in one reading is not
        # authentic even if the other reading is badly formed).
        r0, p0, c0 = self._reading(ptut, _LATER, oc)
        r1, p1, c1 = self._reading(ptut, _V081, oc)
        if r0 and r0 == r1:
            raise U.UtrnError(r0)            # fails the same check in both: no MAC needed
        keys = self.keys() if self.keys is not None else None
        if keys is None:
            raise U.UtrnError(U.later_stage(r0 or _NOT_FOR_DEVICE, r1 or _NOT_FOR_DEVICE))
        if self.z is None:
            from .. import crypto
            z = crypto.ecdh(keys[0], keys[1])
            # Z lives as long as the meter: a copy made right after a
            # collection goes into the lowest hole, not where the ECDH's
            # garbage left the original (in the middle of the free heap,
            # splitting it once that garbage is collected; issue #18)
            collect()
            self.z = bytes(memoryview(z))
        if c0 >= 0 and U.mac_ok(self.z, keys[2], keys[3], c0, ptut):
            r, pence, counter = r0, p0, c0
        elif c1 >= 0 and c1 != c0 and U.mac_ok(self.z, keys[2], keys[3], c1, ptut):
            r, pence, counter = r1, p1, c1
        else:
            raise U.UtrnError(U.later_stage(r0 or _NOT_AUTHENTIC, r1 or _NOT_AUTHENTIC))
        if r:
            raise U.UtrnError(r)
        self.cache.add(counter, flag)        # §14.3.7: cache first, then credit
        value = pence * PER_PENNY
        self.credit(value, True)
        return value

    def credit(self, value, topup):
        """Add value to the account; a top-up first pays its payment-debt
        share, then EC used and accumulated debt are repaid from positive mb."""
        self.credited += value
        self.share = 0
        if topup and self.debt[2] and self.pay_pct:
            share = min(value * self.pay_pct // 10000, self.debt[2])
            if share:
                self.share = share
                self.debt[2] -= share
                self.collected[2] += share
                self.charged += share
                value -= share
                if not self.debt[2]:
                    self._alert(_AL_DEBT_DONE + 2)
        self.mb += value
        if self.ec_in_use and self.mb > 0:
            r = min(self.ec_granted - self.ecb, self.mb)
            self.mb -= r
            self.ecb += r
            if self.ecb >= self.ec_granted:
                self.ec_in_use = False       # repaid in full: EC ends
                self.ecb = self.ec_granted = 0
        if self.ad and self.mb > 0:
            r = min(self.ad, self.mb)
            self.mb -= r
            self.ad -= r
        self._conditions()

    def adjust(self, value):
        """Credit adjustment (ECS04a / ZSE Credit Adjustment incremental):
        adds a signed amount to the meter balance; never overwrites it."""
        self.credited += value
        self.mb += value
        self._conditions()

    def set_balance(self, value):
        """ZSE Credit Adjustment absolute / ECS04b reset: an explicit,
        recorded adjustment by the difference (the ledger keeps balancing)."""
        self.adjust(value - self.mb)

    # -- configuration -------------------------------------------------------------------------
    def set_debt(self, i, amount, rate=None, period=None):
        self.debt[i] = amount
        if rate is not None:
            self.rate[i] = rate
        if period:
            self.period[i] = period
        self.res[i] = 0

    def stage(self, idx, value, at, now):
        """Future-datable parameter (Tbl 9.2.2.7): IMMEDIATE (or a past
        time) applies now; NEVER cancels a pending change; else pending.
        True if the payment mode changed (the caller records it)."""
        mode = False
        if at == NEVER:
            self.pend_at[idx] = NEVER
        elif at <= now:
            self.pend_at[idx] = NEVER
            mode = self._set(idx, value)
        else:
            self.pend_at[idx] = at
            if idx == P_FRIENDLY:
                self.friendly_passive = bytes(value)
            else:
                self.pend_val[idx] = value
        self._reschedule()
        return mode

    def _set(self, idx, value):
        """Apply a parameter; True if it changed the payment mode."""
        if idx == P_FRIENDLY:
            self.friendly = bytes(value)
            self._decode_friendly()
        elif idx == P_ACCOUNT:
            old = self.mode
            self.mode, self.sde, self.sdd = value & 3, bool(value & 4), bool(value & 8)
            self.p[idx] = value
            if self.mode != PREPAY and self.ec_in_use:
                self.ec_in_use = False       # leaving prepayment: EC used stays owed in mb
                self.mb -= self.ec_granted - self.ecb
                self.ecb = self.ec_granted = 0
            return old != self.mode
        else:
            self.p[idx] = value
        return False

    def _reschedule(self):
        self._next_at = min(self.pend_at)

    def _activate(self, now):
        mode = False
        for i in range(_N_PARAMS):
            if self.pend_at[i] <= now and self.pend_at[i] != NEVER:
                self.pend_at[i] = NEVER
                if self._set(i, self.friendly_passive if i == P_FRIENDLY else self.pend_val[i]):
                    mode = True
                self._alert(_AL_FUTURE_OK)
        self._reschedule()
        if self.changed is not None:
            self.changed(3 if mode else 2)

    def pending(self):
        return [(PARAM_NAMES[i], self.pend_at[i]) for i in range(_N_PARAMS)
                if self.pend_at[i] != NEVER]

    # -- persistence ---------------------------------------------------------------------------
    # Sparse, because it goes into the register record every half hour:
    # a bitmap of the fields that differ from a new meter's, their values as
    # zig-zag varints, the two friendly calendars, then the UTRN cache
    # (lowest counter, varint offsets, 2-bit flags). A credit-mode meter
    # costs ~10 octets, a full cache ~250.
    def _fields(self):
        return ([self.mode, self.sde, self.sdd, self.max_credit, self.max_balance, self.pay_pct,
                 self.ec_granted, self.mb, self.ecb, self.ad, self.credited, self.charged,
                 self.cap_used, self.cap_pid, self._conv,
                 self.flags | (self.ec_in_use << 8) | (self.disabled_for_credit << 9)] +
                self.p + self.pend_val + self.pend_at + self.debt + self.rate + self.period +
                self.res + self.collected)

    def pack(self):
        vals = self._fields()
        base = _field_defaults()
        bitmap = bytearray((len(vals) + 7) // 8)
        body = bytearray()
        for i in range(len(vals)):
            v = int(vals[i])
            if v != base[i]:
                bitmap[i >> 3] |= 1 << (i & 7)
                _put_varint(body, (v << 1) ^ (v >> 63) if v < 0 else v << 1)
        out = bitmap + body
        for blob in (self.friendly, self.friendly_passive):
            out.append(len(blob))
            out += blob
        c = self.cache
        out.append(c.n)
        if c.n:
            lo = c.lowest()
            out += struct.pack("<I", lo)
            fl = bytearray((c.n + 3) // 4)
            for i in range(c.n):
                _put_varint(out, c.counters[i] - lo)
                fl[i >> 2] |= c.flags[i] << (2 * (i & 3))
            out += fl
        return out

    def unpack(self, b, off):
        base = _field_defaults()
        n = len(base)
        vals = list(base)
        k = off + (n + 7) // 8
        for i in range(n):
            if b[off + (i >> 3)] & (1 << (i & 7)):
                z, k = _get_varint(b, k)
                vals[i] = (z >> 1) ^ -(z & 1)
        (self.mode, sde, sdd, self.max_credit, self.max_balance, self.pay_pct, self.ec_granted,
         self.mb, self.ecb, self.ad, self.credited, self.charged, self.cap_used, self.cap_pid,
         self._conv, fl) = vals[:16]
        self.sde, self.sdd = bool(sde), bool(sdd)
        self.flags = fl & 0xFF
        self.ec_in_use = bool(fl & 0x100)
        self.disabled_for_credit = bool(fl & 0x200)
        i = 16
        self.p = vals[i:i + _N_PARAMS]
        self.pend_val = vals[i + _N_PARAMS:i + 2 * _N_PARAMS]
        self.pend_at = vals[i + 2 * _N_PARAMS:i + 3 * _N_PARAMS]
        i += 3 * _N_PARAMS
        self.debt, self.rate, self.period, self.res, self.collected = \
            (vals[i:i + 3], vals[i + 3:i + 6], vals[i + 6:i + 9], vals[i + 9:i + 12],
             vals[i + 12:i + 15])
        blobs = []
        for _ in range(2):
            m = b[k]
            blobs.append(bytes(b[k + 1:k + 1 + m]))
            k += 1 + m
        self.friendly, self.friendly_passive = blobs
        self._decode_friendly()
        c = self.cache
        m = b[k]
        k += 1
        if m > _CACHE_SLOTS:
            raise ValueError("utrn cache")
        if m:
            lo = struct.unpack_from("<I", b, k)[0]
            k += 4
            for j in range(m):
                d, k = _get_varint(b, k)
                c.counters[j] = lo + d
            for j in range(m):
                c.flags[j] = (b[k + (j >> 2)] >> (2 * (j & 3))) & 3
            k += (m + 3) // 4
        c.n = m
        self._reschedule()
        return k


_DEFAULTS = []


def _field_defaults():
    """The _fields() of a new meter (computed once)."""
    if not _DEFAULTS:
        _DEFAULTS.extend([CREDIT, 0, 0, 150, 500, 0, 0, 0, 0, 0, 0, 0, 0, -1, 0, 0] +
                         list(DEFAULTS) + [0] * _N_PARAMS + [NEVER] * _N_PARAMS +
                         [0, 0, 0] + [0, 0, 0] + [86400, 86400, 0] + [0, 0, 0] + [0, 0, 0])
    return _DEFAULTS


def _put_varint(out, v):
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def _get_varint(b, k):
    v = 0
    s = 0
    while True:
        x = b[k]
        k += 1
        v |= (x & 0x7F) << s
        if x < 0x80:
            return v, k
        s += 7


def friendly_blob(periods, days):
    """Build the non-disablement calendar: periods [(weekday mask, start
    minute, end minute)], days [(year or 0xFFFF for every year, month, day)]."""
    if len(periods) > _FRIENDLY_PERIODS or len(days) > _FRIENDLY_DAYS:
        raise ValueError("friendly calendar too long")
    out = bytearray([len(periods)])
    for mask, a, b in periods:
        if not (0 < mask < 128 and 0 <= a < b <= 1440):
            raise ValueError("friendly period")
        out += struct.pack("<BHH", mask, a, b)
    out.append(len(days))
    for y, m, d in days:
        if not (1 <= m <= 12 and 1 <= d <= 31):
            raise ValueError("friendly day")
        out += struct.pack("<HBB", y, m, d)
    return bytes(out)


# credit_charge_configuration (Account attr 11), §18.2.1.2 Tbls 18.2.1.2a/b:
# array of {credit OBIS, charge OBIS, collection bits}; only the five
# canonical values (x single/twin) are accepted.
_MB = const(0)
_EC = const(1)
_AD = const(2)


def _element(credit, charge, bits):
    return (b"\x02\x03\x09\x06\x00\x00\x13\x0a" + bytes((credit, 0xFF)) +
            b"\x09\x06\x00\x00\x13\x02" + bytes((charge, 0xFF)) + b"\x04\x03" + bytes((bits,)))


def ccc(mode, sde=False, sdd=False, twin=False):
    """The canonical credit_charge_configuration for a payment mode."""
    dis = 0xC0 if sdd else 0xE0        # bit 0 clear: not while disabled for lack of credit
    if mode == CREDIT:
        els = [(_MB, 0, 0xE0), (_MB, 4, 0xE0)] + ([(_MB, 5, 0xE0)] if twin else [])
    else:
        els = [(_MB, 0, 0xE0), (_MB, 4, 0xE0), (_MB, 1, dis), (_MB, 2, dis), (_MB, 3, 0xE0),
               (_EC, 3, 0xE0), (_EC, 0, 0xE0), (_EC, 4, 0xE0), (_EC, 1, dis), (_EC, 2, dis)]
        if sde:
            els += [(_AD, 4, 0xE0), (_AD, 1, 0xE0), (_AD, 2, 0xE0)]
        if twin:
            els += [(_MB, 5, 0xE0), (_EC, 5, 0xE0)]
    out = bytearray(b"\x01") + bytes((len(els),))
    for c, ch, bits in els:
        out += _element(c, ch, bits)
    return bytes(out)


def parse_ccc(value, twin=False):
    """(mode, sde, sdd) of one of the five canonical values; ValueError
    for anything else (§18.2.1.2: only these are accepted)."""
    value = bytes(value)
    for mode, sde, sdd in ((CREDIT, False, False), (PREPAY, True, True), (PREPAY, True, False),
                           (PREPAY, False, True), (PREPAY, False, False)):
        if value == ccc(mode, sde, sdd, twin):
            return mode, sde, sdd
    raise ValueError("credit_charge_configuration")


# The names above that only the host's tests and tools read: public there,
# folded private constants on a board, no global each in this module's dict
# on its heap (issue #18).
if __import__("sys").implementation.name != "micropython":
    P_CAP_PERIOD = _P_CAP_PERIOD
    AL_EC_AVAILABLE = _AL_EC_AVAILABLE
    AL_EC_ACTIVATED = _AL_EC_ACTIVATED
    AL_EC_EXHAUSTED = _AL_EC_EXHAUSTED
    AL_DEBT_DONE = _AL_DEBT_DONE
    AL_FUTURE_OK = _AL_FUTURE_OK
