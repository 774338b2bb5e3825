# The HAN link on a machine.UART: firmware/control.py's io (read, write,
# wait). The bytes are hanlink frames (firmware/hanlink.py); on a bench the
# UART goes to the host (tools.bench --port), on a product to the Zigbee
# co-processor's host interface (docs/bench-guide.md).
#
# idle: a function called on every poll slice of wait() (and so at least
# every _SLICE ms while the link is quiet): the board's housekeeping (feed
# the watchdog, sample the button, refresh the display),
# run outside the meter's tick without a change to control.py.
from firmware.compat import const, ticks_ms, ticks_diff
from . import sleep_ms

_SLICE = const(5)           # ms between polls of the UART while waiting
_RX = const(128)            # octets taken per read (small: a fragmented heap still has them)


class HanUart:
    def __init__(self, uart, idle=None):
        self.uart = uart
        self.idle = idle
        self._buf = bytearray(_RX)
        self._mv = memoryview(self._buf)

    def read(self):
        """The octets waiting (at least one: blocks until some come). A UART
        never closes, so this never returns b"" (the loop runs for ever)."""
        u = self.uart
        while True:
            self.wait(-1)
            n = u.readinto(self._buf, min(u.any(), _RX))
            if n:                    # None: the UART's timeout ran out first
                return bytes(self._mv[:n])

    def write(self, buf):
        mv = memoryview(buf)
        while len(mv):
            n = self.uart.write(mv)
            if n:                    # None or 0: the driver's timeout ran out; try again
                mv = mv[n:]

    def wait(self, ms):
        u = self.uart
        t0 = ticks_ms()
        idle = self.idle
        while True:
            if idle is not None:
                idle()
            if u.any():
                return True
            if 0 <= ms <= ticks_diff(ticks_ms(), t0):
                return False
            sleep_ms(_SLICE)
