# Clock interface. ZigBee UTCTime: seconds since 2000-01-01T00:00:00Z (ZCL rev 6
# §2.6.2, type 0xE2; GBCS §9.1.3), plus a monotonic second count for intervals
# (reporting, retries) that a clock set by the hub must not disturb.
#
# 0xFFFFFFFF is not a time: ZCL's "invalid UTCTime", and the firmware's NEVER
# (an activation or due time that never comes). The meter's clock must never
# reach it, and a time from outside (the hub's Time attribute, a Supplier Set
# Clock, the RTC at power-on) is taken only inside a plausible window:
#   UTC_MIN  2020-01-01T00:00:00Z  no meter running this firmware saw an earlier day
#   UTC_MAX  2100-01-01T00:00:00Z  (excluded) 36 years short of the sentinel (2136-02-07),
#            so no schedule or period arithmetic near it wraps 32 bits
# Outside it a hub time is treated like the hub's 0xFFFFFFFF (no valid time,
# GBCS §9.1.3: retry, status unchanged), and an RTC is not trusted (see
# rtc_check).
from ..compat import const

UTC_INVALID = 0xFFFFFFFF
UTC_MIN = const(631152000)      # 7305 days after 2000-01-01
UTC_MAX = const(3155760000)     # 36525 days after 2000-01-01
# Longest power cut whose standing charge and time debts are caught up from
# the RTC difference: a year and a day. A longer gap, or an RTC outside the
# window, is an RTC that lost its time (battery, crystal, corruption), not an
# outage: charging for it could bill a consumer for decades.
MAX_OUTAGE = const(31622400)    # 366 days


def plausible(utc):
    """True if utc can be a real time for this meter (never the sentinel)."""
    return UTC_MIN <= utc < UTC_MAX


def rtc_check(rtc, last_on):
    """The RTC at power-on against the last time the meter saved (0: none).

    Returns (elapsed, resume): elapsed is the outage to catch up (0 when
    there is none to trust), resume is the time the clock must restart from
    when the RTC cannot be trusted (else -1). An RTC outside the plausible
    window resumes from last_on (the last time known good) or, with none
    plausible, from UTC_MIN; one more than MAX_OUTAGE ahead of a plausible
    last_on resumes from last_on; nothing is caught up then. An RTC behind
    last_on (a clock set backwards since the last save) catches nothing up
    and keeps running."""
    if not plausible(rtc):
        return 0, (last_on if plausible(last_on) else UTC_MIN)
    if not last_on:
        return 0, -1
    el = rtc - last_on
    if el > MAX_OUTAGE:
        # a last_on outside the window was saved before the meter ever had a
        # valid time: nothing better to go back to, keep the RTC
        return 0, (last_on if plausible(last_on) else -1)
    return (el if el > 0 else 0), -1


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
