# The meter's due table on both runtimes (printed, compared byte for byte by
# test_scheduler.py): the tick second by second through future-dated work
# (a tariff activation, a DRLC event), half hours, a clock set forwards and
# back across midnight; every due action the tick runs is printed with the
# wakeup the meter announced the second before. A board sleeping until
# next_wakeup() would have missed an action that ran earlier ("EARLY").
import struct

from common import make_meter, store_dir, tariff_load, T0

m, out, clock, met, _ = make_meter(store_dir(), T0 + 60)
ran = []
slot = m._slot


def spy(s, now, mono, wh):
    if wh >= 0 and s != 1:              # 1: the second's metering, every second
        ran.append(s)
    return slot(s, now, mono, wh)


m._slot = spy
early = 0
wakeups = 0


def run(n):
    global early, wakeups
    for _ in range(n):
        w = m.next_wakeup()
        clock.advance(1)
        m.tick()
        now = clock.now()
        if ran:
            if now < w:
                early += 1
            if now == w:
                wakeups += 1
            print("t", now - T0, "slots", ",".join(str(s) for s in ran), "announced", w - T0,
                  "EARLY" if now < w else "")
            del ran[:]


print("boot wakeup", m.next_wakeup() - T0)
run(2)
# a tariff to activate at T0 + 600 (the tick of 601 meters its first second)
tariff_load(m, {"tariff_id": 20, "provider_id": 1, "currency": 826, "price_scaler": -5,
              "tou": [20000], "standing_charge": {"amount": 86400, "period_s": 86400},
              "calendar": {"seasons": [["*-01-01", 1]], "weeks": {"1": [1] * 7},
                           "days": {"1": [["00:00", 1], ["07:00", 1]]}},
              "special_days": []}, T0 + 600)
# a DRLC event from the hub: 900 s on, one minute, no randomisation
m.drlc.values[0x0001] = 0
p = struct.pack("<BBB", 0x09, 0x40, 0x00) + struct.pack(
    "<IHBIHBBBhhbBB", 7, 0x0080, 0, T0 + 900, 1, 1, 0xFF, 0xFF, -0x8000, -0x8000, -0x80, 0xFF, 0)
from firmware.zcl import aps as A
m.on_aps(A.Aps(0, 1, 0x4E21, 1, 0x0109, 0x0701, p, True))
print("after commands wakeup", m.next_wakeup() - T0)
run(2000)
print("wakeup", m.next_wakeup() - T0, "tariff", m.tariff.tariff_id, "aux", m.aux.closed)
# the hub sets the clock forward to 23:59:00, then back to 22:00
m.set_clock(T0 + 86400 - 60)
print("set forward wakeup", m.next_wakeup() - T0)
run(120)
m.set_clock(T0 + 86400 - 7200)
print("set back wakeup", m.next_wakeup() - T0)
run(1900)
print("early", early, "at announced", wakeups, "profile day", m.profile.day - T0 // 86400,
      "final wakeup", m.next_wakeup() - T0)
