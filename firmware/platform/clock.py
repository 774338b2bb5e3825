# Clock interface. ZigBee UTCTime: seconds since 2000-01-01T00:00:00Z (ZCL rev 6
# §2.6.2, type 0xE2; GBCS §9.1.3), plus a monotonic second count for intervals
# (reporting, retries) that a clock set by the hub must not disturb.
UTC_INVALID = 0xFFFFFFFF


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
