# Supply control and the load limiter (SMETS supply states; GBCS §13.7.3,
# Tbl 9.2.2.7; notes/gbcs-esme-functional §4.1-4.2).
#
# States, numbered as ZSE Metering SupplyStatus: _DISABLED 0 (off),
# ARMED 1 (off, the consumer may switch it on), ENABLED 2 (on). The relay is
# closed only when ENABLED. Why the supply is off is kept as the cause:
#   REMOTE      supplier disabled it (ECS43 / ZSE ChangeSupply): only a
#               remote arm or enable ends it
#   CREDIT      prepayment: combined credit at or below the disablement
#               threshold outside a non-disablement (friendly) period; armed
#               again as soon as credit is above the threshold
#   LOAD_LIMIT  the load limiter interrupted it; enabled again after the
#               restoration period
# Transitions:
#   ENABLED/ARMED --credit exhausted, not friendly--> _DISABLED(CREDIT)  0x8F0F
#   _DISABLED(CREDIT) --credit above threshold--> ARMED                 0x8F32
#   ARMED --consumer button / PPMID "Supply ON" (§13.7.3)--> ENABLED
#   any --remote disable--> _DISABLED(REMOTE); --remote arm--> ARMED;
#   --remote enable--> ENABLED (credit rules apply again next second)
#   ENABLED --power above threshold for the load-limit period, supply
#   state on a load-limit event not ON--> _DISABLED(LOAD_LIMIT) 0x8F33
#   --restoration period over--> ENABLED 0x8F34
# Every change is reported through changed(0) (the meter saves its register
# record: commands.engine_event), a load-limit event through changed(1).
# What the supply uses: the relay driver, the account (credit, thresholds,
# non-disablement calendar) and alert(code); nothing else of the meter.
import struct

from ..platform.clock import NEVER as _NEVER

# other modules' constants, folded here (host_tests/test_const_copies.py keeps them equal)
_PREPAY = const(2)          # = prepay.account.PREPAY
_P_DISABLE = const(0)       # = prepay.account.P_DISABLE
_P_LL_PERIOD = const(7)     # = prepay.account.P_LL_PERIOD
_P_LL_POWER = const(6)      # = prepay.account.P_LL_POWER
_P_LL_RESTORE = const(8)    # = prepay.account.P_LL_RESTORE


_DISABLED = const(0)
ARMED = const(1)
ENABLED = const(2)
NAMES = ("Disabled", "Armed", "Enabled")
_C_NONE = const(0)
_C_REMOTE = const(1)
_C_CREDIT = const(2)
_C_LOAD_LIMIT = const(3)
CAUSES = ("", "remote", "credit", "load limit")

_AL_DISABLED_CREDIT = const(0x8F0F)
_AL_SUSPENDED = const(0x8F83)       # disablement suspended (friendly period)
_AL_ARMED = const(0x8F32)
_AL_ARMED_EC = const(0x8168)        # supply disabled then armed: EC activated
_AL_LL_ABOVE = const(0x8F01)
_AL_LL_DISABLED = const(0x8F33)
_AL_LL_RESTORED = const(0x8F34)

_FMT = "<BBBIH"                    # state, cause, load-limit supply state, restore at, over
_FMT_PEND = "<BI"                  # only while one is pending: passive ll_state, its activation


_CH_STATE = const(0)
_CH_LL_EVENT = const(1)


class Supply:
    aux_at = _NEVER                    # the earliest end of a timed ALCS state (ECS47)

    def __init__(self, relay, account, alert, changed=None):
        self.relay = relay
        self.acc = account
        self._alert = alert
        self.changed = changed         # changed(kind)
        self.state = ENABLED
        self.cause = _C_NONE
        self.ll_state = ENABLED        # ZSE LoadLimitSupplyState: ENABLED = do not interrupt
        self.restore_at = 0
        self.over = 0                  # seconds above the load-limit threshold
        self.suspended = False         # a friendly period is holding the supply on
        self.ll_pend = ENABLED         # passive LoadLimitSupplyState (GBCS Tbl 9.2.2.7, ECS28a)
        self.ll_at = _NEVER            # ... and its activation time (NEVER: none pending)

    def _go(self, state, cause, alert=0):
        self.state = state
        self.cause = cause
        self.relay.set(state == ENABLED)
        self.acc.disabled_for_credit = state == _DISABLED and cause == _C_CREDIT
        if alert:
            self._alert(alert)
        if self.changed is not None:
            self.changed(_CH_STATE)

    # -- per second -------------------------------------------------------------------------
    def tick(self, now, power_w):
        if now >= self.ll_at:          # a future-dated load-limit supply state falls due
            self.ll_state = self.ll_pend
            self.ll_at = _NEVER
            if self.changed is not None:
                self.changed(_CH_STATE)
        self.credit_rule(now)
        self._limiter(now, power_w)
        if now >= self.aux_at:
            self._aux_due(now)

    def credit_rule(self, now):
        """Disable or arm by credit; also called straight after a top-up or
        EC activation, so a sufficient top-up arms the supply at once."""
        acc = self.acc
        p = acc.p
        if acc.mode == _PREPAY:
            if acc.combined() <= p[_P_DISABLE]:
                if self.state != _DISABLED:
                    if acc.is_friendly(now):
                        if not self.suspended:
                            self.suspended = True
                            self._alert(_AL_SUSPENDED)
                    else:
                        self.suspended = False
                        self._go(_DISABLED, _C_CREDIT, _AL_DISABLED_CREDIT)
            else:
                self.suspended = False
                if self.state == _DISABLED and self.cause == _C_CREDIT:
                    self._go(ARMED, _C_NONE, _AL_ARMED)
        elif self.state == _DISABLED and self.cause == _C_CREDIT:
            self._go(ARMED, _C_NONE, _AL_ARMED)    # credit mode never disables for credit

    def _limiter(self, now, power_w):
        p = self.acc.p
        if self.cause == _C_LOAD_LIMIT:
            if now >= self.restore_at:
                self._go(ENABLED, _C_NONE, _AL_LL_RESTORED)
            return
        thr = p[_P_LL_POWER]
        if thr and power_w > thr:
            self.over += 1
            if self.over >= max(1, p[_P_LL_PERIOD]):
                self.over = 0
                self._alert(_AL_LL_ABOVE)
                if self.changed is not None:
                    self.changed(_CH_LL_EVENT)
                if self.ll_state != ENABLED and self.state == ENABLED:
                    self.restore_at = now + p[_P_LL_RESTORE]
                    self._go(_DISABLED, _C_LOAD_LIMIT, _AL_LL_DISABLED)
        else:
            self.over = 0

    # -- requests -----------------------------------------------------------------------------
    def consumer_enable(self):
        """Button, UI 'Enable Supply' or PPMID Supply ON: only ARMED -> ENABLED."""
        if self.state == ARMED:
            self._go(ENABLED, _C_NONE)
            return True
        return self.state == ENABLED

    def remote(self, state):
        """Supplier request (ECS42/43/44, ZSE ChangeSupply from the ESI)."""
        if state == _DISABLED:
            self._go(_DISABLED, _C_REMOTE)
        elif state == ARMED:
            if self.state != ENABLED:
                self._go(ARMED, _C_NONE, _AL_ARMED)
        else:
            self._go(ENABLED, _C_NONE)
        return self.state

    def stage_ll_state(self, state, at, now):
        """The load-limit supply state, future-datable like the limiter's
        other parameters (ECS28a, §9.2.2): IMMEDIATE (0) or a past time
        applies now, NEVER cancels a pending change, later is kept passive."""
        if at != _NEVER and at <= now:
            self.ll_state = state
        elif at != _NEVER:
            self.ll_pend = state
        self.ll_at = at if at > now else _NEVER

    def alcs(self, aux, i, closed, until):
        """Auxiliary load-control switch i (the aux switches driver) to
        closed; until a UTC time (NEVER: for good) after which it returns
        to the state it had (ECS47 with a duration, §18.1.1: 1..1440
        minutes). Not persisted: the switches restart closed."""
        n = len(aux.closed)
        if self.aux_at == _NEVER:
            self._aux = aux
            self._until = [_NEVER] * n
            self._prev = [True] * n
        self._prev[i] = aux.closed[i]
        self._until[i] = until
        aux.set(i, closed)
        self.aux_at = min(self._until)

    def _aux_due(self, now):
        u = self._until
        for i in range(len(u)):
            if u[i] <= now:
                u[i] = _NEVER
                self._aux.set(i, self._prev[i])
        self.aux_at = min(u)

    def ec_activated(self):
        if self.state == _DISABLED and self.cause == _C_CREDIT:
            self._go(ARMED, _C_NONE, _AL_ARMED_EC)

    # -- persistence --------------------------------------------------------------------------
    def pack(self):
        b = struct.pack(_FMT, self.state, self.cause, self.ll_state, self.restore_at,
                        min(self.over, 0xFFFF))
        if self.ll_at != _NEVER:       # a record without it reads as "none pending"
            b += struct.pack(_FMT_PEND, self.ll_pend, self.ll_at)
        return b

    def unpack(self, b, off):
        self.state, self.cause, self.ll_state, self.restore_at, self.over = \
            struct.unpack_from(_FMT, b, off)
        if self.state > ENABLED or self.cause > _C_LOAD_LIMIT:
            raise ValueError("supply state")
        self.relay.set(self.state == ENABLED)
        self.acc.disabled_for_credit = self.state == _DISABLED and self.cause == _C_CREDIT
        off += struct.calcsize(_FMT)
        self.ll_pend, self.ll_at = ENABLED, _NEVER
        if len(b) == off + 5:          # the supply is the record's last part (bootrec.decode)
            self.ll_pend, self.ll_at = struct.unpack_from(_FMT_PEND, b, off)
            if self.ll_pend > ENABLED:
                raise ValueError("supply state")
            off += 5
        return off


# The names above that only the host's tests and tools read: public there,
# folded private constants on a board, no global each in this module's dict
# on its heap (issue #18).
if __import__("sys").implementation.name != "micropython":
    DISABLED = _DISABLED
    C_REMOTE = _C_REMOTE
    AL_DISABLED_CREDIT = _AL_DISABLED_CREDIT
    AL_SUSPENDED = _AL_SUSPENDED
    AL_ARMED_EC = _AL_ARMED_EC
    AL_LL_RESTORED = _AL_LL_RESTORED
