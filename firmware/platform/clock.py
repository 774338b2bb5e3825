# Clock interface and the one home of the meter's time rules. ZigBee UTCTime:
# seconds since 2000-01-01T00:00:00Z (ZCL rev 6 §2.6.2, type 0xE2; GBCS
# §9.1.3), plus a monotonic second count for intervals (reporting, retries)
# that a clock set by the hub must not disturb.
#
# Every date rule of the firmware is here (and nowhere else): day numbers
# <-> civil dates (proleptic Gregorian), weekdays, months, the block and
# billing period ids and bounds, the NEVER sentinel and the plausible
# window. The meter keeps UTC throughout: GBCS captures (half hours,
# midnight reads, billing periods, §7.3.4), switching tables, friendly
# periods and block periods all run on UTC; there is no local time or DST
# offset anywhere in the firmware.
#
# 0xFFFFFFFF is not a time: ZCL's "invalid UTCTime", and the firmware's NEVER
# (an activation or due time that never comes). The meter's clock must never
# reach it, and a time from outside (the hub's Time attribute, a Supplier Set
# Clock, the RTC at power-on) is taken only inside a plausible window:
#   _UTC_MIN  2020-01-01T00:00:00Z  no meter running this firmware saw an earlier day
#   _UTC_MAX  2100-01-01T00:00:00Z  (excluded) 36 years short of the sentinel (2136-02-07),
#            so no schedule or period arithmetic near it wraps 32 bits
# Outside it a hub time is treated like the hub's 0xFFFFFFFF (no valid time,
# GBCS §9.1.3: retry, status unchanged), and an RTC is not trusted (see
# rtc_check).

UTC_INVALID = 0xFFFFFFFF
NEVER = 0xFFFFFFFF              # an activation or due time that never comes (the same value)
DAY = const(86400)
# Block period codes: ZSE's Block Period Duration Type timebase (0 minutes
# -- here "none" --, 1 days, 2 weeks, 3 months; control nibble 0, start of
# timebase), also the tariff's thresholds part (tariff/loader.py BP_NAMES)
BP_NONE = const(0)
_BP_DAY = const(1)
_BP_WEEK = const(2)
BP_MONTH = const(3)
_UTC_MIN = const(631152000)      # 7305 days after 2000-01-01
_UTC_MAX = const(3155760000)     # 36525 days after 2000-01-01
# Longest power cut whose standing charge and time debts are caught up from
# the RTC difference: a year and a day. A longer gap, or an RTC outside the
# window, is an RTC that lost its time (battery, crystal, corruption), not an
# outage: charging for it could bill a consumer for decades.
_MAX_OUTAGE = const(31622400)    # 366 days


def plausible(utc):
    """True if utc can be a real time for this meter (never the sentinel)."""
    return _UTC_MIN <= utc < _UTC_MAX


def rtc_check(rtc, last_on):
    """The RTC at power-on against the last time the meter saved (0: none).

    Returns (elapsed, resume): elapsed is the outage to catch up (0 when
    there is none to trust), resume is the time the clock must restart from
    when the RTC cannot be trusted (else -1). An RTC outside the plausible
    window resumes from last_on (the last time known good) or, with none
    plausible, from _UTC_MIN; one more than _MAX_OUTAGE ahead of a plausible
    last_on resumes from last_on; nothing is caught up then. An RTC behind
    last_on (a clock set backwards since the last save) catches nothing up
    and keeps running."""
    if not plausible(rtc):
        return 0, (last_on if plausible(last_on) else _UTC_MIN)
    if not last_on:
        return 0, -1
    el = rtc - last_on
    if el > _MAX_OUTAGE:
        # a last_on outside the window was saved before the meter ever had a
        # valid time: nothing better to go back to, keep the RTC
        return 0, (last_on if plausible(last_on) else -1)
    return (el if el > 0 else 0), -1


# -- calendar -------------------------------------------------------------------
# Day numbers count days since 2000-01-01 (a Saturday); t // DAY is the day
# of UTC t. Closed forms after H. Hinnant's days_from_civil / civil_from_days
# (eras of 400 years, years starting 1 March), exact for every day the
# plausible window and the 32-bit sentinel can reach.

def civil(days):
    """(year, month, day) of a day number."""
    z = days + 730425                 # days since 0000-03-01
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if m <= 2 else 0), m, d


def days_from_civil(y, m, d):
    """Day number of a proleptic Gregorian date."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 730425


def weekday(days):
    """Monday 0 .. Sunday 6 of a day number."""
    return (days + 5) % 7


def add_months(t, k):
    """UTC t moved k calendar months on (k < 0: back), the day clamped to
    the month's end, the time of day kept."""
    day, tod = divmod(t, DAY)
    y, m, d = civil(day)
    m += k
    y += (m - 1) // 12
    m = (m - 1) % 12 + 1
    first = days_from_civil(y, m, 1)
    last = days_from_civil(y + (m == 12), m % 12 + 1, 1) - first
    return (first + min(d, last) - 1) * DAY + tod


def billing_period(t):
    """Id of the billing period (calendar month, GBCS §7.3.4) holding UTC t:
    year * 12 + month (persisted in the snapshot schedules record)."""
    y, m, _ = civil(t // DAY)
    return y * 12 + m


def period_id(bp, t):
    """Id of the block period of kind bp (BP_* codes) holding UTC t, increasing
    with time (persisted in the register record): day number, week number
    (weeks start on Monday, 2000-01-03 was one), year * 12 + month - 1; 0
    for none."""
    day = t // DAY
    if bp == _BP_DAY:
        return day
    if bp == _BP_WEEK:
        return (day + 5) // 7
    if bp == BP_MONTH:
        return billing_period(t) - 1
    return 0


def period_bounds(bp, t):
    """(start, end) UTC of the block period of kind bp holding t: days and
    weeks (from Monday) and calendar months start at 00:00 UTC; (0, 0) for
    none (ZSE D.4.2.2.3 Start of Block Period, Block Period Duration)."""
    day = t // DAY
    if bp == _BP_DAY:
        return day * DAY, (day + 1) * DAY
    if bp == _BP_WEEK:
        s = day - (day + 5) % 7
        return s * DAY, (s + 7) * DAY
    if bp == BP_MONTH:
        y, m, d = civil(day)
        return (day - d + 1) * DAY, days_from_civil(y + (m == 12), m % 12 + 1, 1) * DAY
    return 0, 0


# The names above that only the host's tests and tools read: public there,
# folded private constants on a board, no global each in this module's dict
# on its heap (issue #18).
if __import__("sys").implementation.name != "micropython":
    UTC_MIN = _UTC_MIN
    UTC_MAX = _UTC_MAX
    MAX_OUTAGE = _MAX_OUTAGE
