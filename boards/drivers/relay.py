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
# A latching relay's position is not readable at power-up: the constructor
# drives it to `closed` (the meter's own assumption when no supply record
# exists), so the contact and `closed` agree; the meter then sets the saved
# supply state at boot (prepay/supply.py). Pulses are a few tens of ms: the
# meter's tick calls set() only on a change of supply state.
from . import sleep_ms


class LatchingRelay:
    def __init__(self, on, off=None, pulse=None, pulse_ms=50, closed=True):
        self.on = on
        self.off = off
        self.pulse = pulse
        self.pulse_ms = pulse_ms
        self.operations = 0
        self.closed = closed
        self._drive(closed)

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
        if closed != self.closed:
            self._drive(closed)
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
