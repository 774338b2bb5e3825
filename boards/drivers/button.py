# The consumer button (platform/hw.py's Button: pending, take()) on a GPIO,
# debounced by sampling: poll() is called from the board's idle hook (every
# few ms while the link is quiet, never from the tick); a level counts once
# it has held for _DEBOUNCE_MS; a press is the settled change to pressed.
# held() at boot is the safe-mode test (docs/bench-guide.md): the button
# held down from reset for `ms`.
from firmware.compat import const, ticks_ms, ticks_diff
from . import sleep_ms

_DEBOUNCE_MS = const(30)


class Button:
    def __init__(self, pin, active=0):
        self.pin = pin
        self.active = active          # the level of a pressed button (0: to ground)
        self.pending = 0
        self._state = False           # settled: pressed
        self._raw = False
        self._since = ticks_ms()

    def poll(self):
        raw = self.pin.value() == self.active
        t = ticks_ms()
        if raw != self._raw:          # moved: settle again from now
            self._raw = raw
            self._since = t
        elif raw != self._state and ticks_diff(t, self._since) >= _DEBOUNCE_MS:
            self._state = raw
            if raw:
                self.pending += 1

    def press(self):                  # the bench's "button" op
        self.pending += 1

    def take(self):
        n = self.pending
        self.pending = 0
        return n


def held(pin, ms, active=0, step=10):
    """True if the button is pressed now and stays pressed for ms (a
    release longer than the debounce time ends it; shorter is bounce)."""
    if pin.value() != active:
        return False
    t0 = ticks_ms()
    up = None                     # when it was last seen released
    while ticks_diff(ticks_ms(), t0) < ms:
        sleep_ms(step)
        if pin.value() == active:
            up = None
        elif up is None:
            up = ticks_ms()
        elif ticks_diff(ticks_ms(), up) >= _DEBOUNCE_MS:
            return False
    return up is None
