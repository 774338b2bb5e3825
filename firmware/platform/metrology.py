# Metrology interface: what the meter core needs from the measuring element.
#
#   take_ws() -> int   active import energy in watt-seconds since the previous
#                      call (>= 0); the core calls it once per one-second tick
#   power_w() -> int   instantaneous active import power in watts
#   power_factor() -> int   -100..100 (ZSE PowerFactor); 100 = unity
#
# On a board a pulse-counter driver (1 pulse = 1 Wh -> 3600 Ws) or a
# metrology IC driver (e.g. an energy register read over SPI) implements the
# same two methods; see boards/README.md.
#
# The simulator's other stand-ins live here too, host only (a board brings
# its own drivers, boards/drivers/, and freezes none of these): the clock
# (SimClock; platform/clock.py has the time rules), the supply relay and the
# consumer button (the interfaces of platform/hw.py).


class SimMetrology:
    """Load set by the simulator in watts; each tick is one simulated second.

    load_w is the premises' base load; aux_w[i] is an appliance wired through
    auxiliary load-control switch i (an immersion heater, storage heaters),
    drawn only while that switch is closed, so DRLC shedding shows up in
    what the meter measures. With the supply contactor open (relay given
    and not closed) the premises draws nothing."""

    def __init__(self, power_w=0, aux=None, relay=None):
        self.load_w = power_w
        self.aux = aux
        self.relay = relay
        self.aux_w = [0] * (len(aux.closed) if aux is not None else 0)
        self.pf = 100                   # resistive loads

    def power_w(self):
        if self.relay is not None and not self.relay.closed:
            return 0
        p = self.load_w
        if self.aux is not None:
            closed = self.aux.closed
            for i in range(len(self.aux_w)):
                if closed[i]:
                    p += self.aux_w[i]
        return p

    def take_ws(self):
        return self.power_w()

    def power_factor(self):
        return self.pf


class SimClock:
    """Simulated clock: the bench runner, not the wall clock, moves it.

    A board clock implements the same three methods over its RTC
    (battery-backed on a real meter, so the time survives a mains cut)."""

    def __init__(self, utc=0, mono=0):
        self.utc = utc
        self.up = mono

    def now(self):
        return self.utc

    def mono(self):
        return self.up

    def set(self, utc):
        self.utc = utc

    def advance(self, s=1):
        self.utc += s
        self.up += s


class Relay:
    """Supply contactor. closed=True means supply to the premises is on."""

    def __init__(self, closed=True):
        self.closed = closed
        self.operations = 0

    def set(self, closed):
        if closed != self.closed:
            self.closed = closed
            self.operations += 1


class Button:
    """Consumer button: presses are latched until the core takes them."""

    def __init__(self):
        self.pending = 0

    def press(self):
        self.pending += 1

    def take(self):
        n = self.pending
        self.pending = 0
        return n
