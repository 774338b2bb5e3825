# Supply contactor and auxiliary load-control switches on GPIOs
# (platform/hw.py's Relay and AuxSwitches interfaces: closed, operations,
# set()).
#
# The supply contactor of a meter is a latching relay (it holds its state
# with no coil current, so a meter that loses power leaves the supply as it
# was): either two coils (one pulse on `on` closes it, on `off` opens it) or
# one coil through a polarity-reversing driver, where `off` is None and the
# level of `on` before the pulse on `pulse` picks the direction. A plain
# relay or a relay driver with a hold input is `LevelSwitch`.
#
# A latching relay's position is not readable at power-up, and it must not
# move then: a meter that boots with the supply disabled must not reconnect
# it, even for a moment (GBCS: the supply state survives a power cycle). So
# the constructor drives nothing; `closed` is the core's assumption (supply
# on, as with no supply record), and the first set() the meter makes (its
# saved supply state at boot, prepay/supply.py) pulses the coil whatever
# `closed` says, so contact and state agree from then on. Pulses are a few
# tens of ms: the meter calls set() only on a change of supply state.
from . import sleep_ms


class LatchingRelay:
    def __init__(self, on, off=None, pulse=None, pulse_ms=50, closed=True):
        self.on = on
        self.off = off
        self.pulse = pulse
        self.pulse_ms = pulse_ms
        self.operations = 0
        self.closed = closed
        self._known = False                 # the contact's position since power-up

    def _drive(self, closed):
        if self.off is not None:            # two coils
            p = self.on if closed else self.off
            p.value(1)
            sleep_ms(self.pulse_ms)
            p.value(0)
        else:                               # one coil, H-bridge: direction then pulse
            self.on.value(1 if closed else 0)
            self.pulse.value(1)
            sleep_ms(self.pulse_ms)
            self.pulse.value(0)

    def set(self, closed):
        if closed != self.closed or not self._known:
            self._drive(closed)
            self._known = True
            if closed != self.closed:
                self.closed = closed
                self.operations += 1


class LevelSwitches:
    """Auxiliary switches (GBCS §18.1.1 ALCS/HCALCS outputs): one GPIO each,
    high = closed (load supplied), through a relay driver."""

    def __init__(self, pins, closed=True):
        self.pins = pins
        self.closed = [closed] * len(pins)
        self.operations = 0
        for p in pins:
            p.value(1 if closed else 0)

    def set(self, i, closed):
        if self.closed[i] != closed:
            self.pins[i].value(1 if closed else 0)
            self.closed[i] = closed
            self.operations += 1
