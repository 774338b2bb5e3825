# Pulse-input metrology (platform/metrology.py's interface): a machine.Pin
# interrupt counts the impulses of a metrology front end's energy output
# (an S0 / LED pulse at `imp_kwh` impulses per kWh, e.g. the STPM3x's own
# LED output or a certified sub-meter's), the fallback when the IC does not
# answer over its UART. Impulses closer than `min_ms` are contact bounce.
#
# The interrupt handler only counts and timestamps (no allocation, as an
# ISR must); take_ws() converts the count with the remainder carried, so
# 1 kWh of impulses is 3,600,000 Ws whatever imp_kwh is. power_w() is the
# energy of one impulse over the interval between the last two, falling off
# as 1/t when the impulses stop (no impulse for longer than the last
# interval means less power than that interval implies).
from firmware.compat import const, ticks_ms, ticks_diff

_WS_KWH = const(3600000)


class PulseMetrology:
    def __init__(self, pin, imp_kwh, min_ms=20, trigger=None):
        self.pin = pin
        self.imp_kwh = imp_kwh
        self.min_ms = min_ms
        self._taken = 0             # impulses converted (seen: the ISR's count)
        self._rem = 0               # Ws x imp_kwh not yet a whole Ws
        self._last = 0              # ticks_ms of the last impulse
        self._gap = 0               # ms between the last two impulses (0: fewer than two)
        self.seen = 0               # impulses counted since start
        self._mws = _WS_KWH * 1000 // imp_kwh    # one impulse in W x ms
        if trigger is not None:
            pin.irq(handler=self._irq, trigger=trigger)

    def _irq(self, pin):
        t = ticks_ms()
        if self.seen:
            g = ticks_diff(t, self._last)
            if g < self.min_ms:
                return
            self._gap = g
        self._last = t
        self.seen += 1

    def take_ws(self):
        # only the ISR writes seen, only this _taken: an impulse during
        # these lines is taken next second, never lost
        n = self.seen - self._taken
        self._taken += n
        self._rem += n * _WS_KWH
        ws = self._rem // self.imp_kwh
        self._rem -= ws * self.imp_kwh
        return ws

    def power_w(self):
        g = self._gap
        if not g:
            return 0
        since = ticks_diff(ticks_ms(), self._last)
        return self._mws // (since if since > g else g)

    def power_factor(self):
        return 100                  # an energy pulse carries no power factor
