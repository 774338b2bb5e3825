# The meter's clock over machine.RTC (platform/clock.py's interface: now(),
# mono(), set()). The GBCS time rules (plausible window, RTC check at
# power-on, GBCS §9.1.3 / clock.rtc_check) stay in firmware/platform/clock.py:
# this driver only reads and sets the RTC.
#
# now() and mono() run in the per-second tick and allocate nothing: the RTC
# is read (a tuple) only at start; after that the time is that reading plus
# the monotonic seconds since, and it steps only through set() (the meter's
# set_clock, which saves registers and tells the profile, tariff, snapshots
# and DRLC of the step): a silent re-read of the RTC while running would
# step the time behind those rules' back. set() writes the RTC too, and the
# hub's time sync (GBCS §9.1.3, daily) sets the clock, so the tick
# oscillator and the RTC drift apart for a day at most (both crystals, some
# tens of ppm: seconds a day). mono() counts time.ticks_ms with ticks_diff,
# so the 2^30 ms wrap of ticks_ms (12.4 days) is invisible as long as it is
# called at least once per wrap period (the link loop calls it every pass).
from firmware.compat import ticks_ms, ticks_diff
from firmware.platform.clock import DAY, civil, days_from_civil, weekday


def to_utc(dt):
    """ZigBee UTCTime from an RTC tuple (y, m, d, wd, hh, mm, ss, sub)."""
    return days_from_civil(dt[0], dt[1], dt[2]) * DAY + dt[4] * 3600 + dt[5] * 60 + dt[6]


def to_rtc(utc):
    """RTC tuple for ZigBee UTCTime utc (weekday 1 = Monday)."""
    d, s = divmod(utc, DAY)
    y, m, day = civil(d)
    return (y, m, day, weekday(d) + 1, s // 3600, s // 60 % 60, s % 60, 0)


class RtcClock:
    def __init__(self, rtc):
        self.rtc = rtc
        self._last = ticks_ms()
        self._ms = 0                 # milliseconds not yet counted as a second
        self.up = 0                  # monotonic seconds since start
        self._base = to_utc(rtc.datetime())   # the RTC at power-on (clock.rtc_check judges it)
        self._at = 0

    def mono(self):
        t = ticks_ms()
        self._ms += ticks_diff(t, self._last)
        self._last = t
        while self._ms >= 1000:
            self._ms -= 1000
            self.up += 1
        return self.up

    def now(self):
        return self._base + (self.mono() - self._at)

    def set(self, utc):
        """Set the RTC (a hub or supplier time, or clock.rtc_check's resume)."""
        self.rtc.datetime(to_rtc(utc))
        self._base = utc
        self._at = self.mono()
