# Differential: the clock never reaches the 0xFFFFFFFF sentinel (issue #16
# defect 4). Hub and supplier times outside the plausible window are refused,
# a clock past the sentinel fires no NEVER-dated activation, and an RTC that
# lost its time resumes from the last saved time with Time Status Invalid
# (test_clock_guard.py checks the values).
import struct
import sys

from common import make_meter, store_dir, T0
from common import tariff_load

FLAT = {"tariff_id": 20, "provider_id": 1, "currency": 826, "price_scaler": -5, "tou": [20000],
        "standing_charge": {"amount": 86400, "period_s": 86400},
        "calendar": {"seasons": [["*-01-01", 1]], "weeks": {"1": [1] * 7},
                     "days": {"1": [["00:00", 1]]}}, "special_days": []}
UTC = 0xE2


def status(m):
    from firmware.clusters.time_client import NAMES
    return NAMES[m.time.status]


def clock_set_values(m):
    out = []
    for _, r in m.event_log.newest(100):
        code, t, v = struct.unpack("<HII", r)
        if code == 0x0002:
            out.append(v)
    return out


def main(stage):
    # one meter per process (a power cut is a restart; two meters do not fit
    # the unix port's board-sized heap): stages a, b, c on the same store
    root = store_dir()
    if stage == "a":
        m, out, clock, met, _ = make_meter(root)
        tariff_load(m, FLAT)
        clock.advance(1)
        m.tick()                                       # the time request is out
        m.time.on_attributes(None, [(0, 0, UTC, 0xFFFFFFFE)])
        print("hub_fffffffe", clock.now(), status(m))
        m.time.status = 0                              # Reliable
        r = m.time.supplier_set_clock(0xFFFFFFFE, 0, 0xFFFFFFFF)
        print("supplier_fffffffe", r, clock.now(), status(m))
        print("set_clock_ffffffff", m.set_clock(0xFFFFFFFF))
        n = len(m.alerts)
        m.account.tick(0x100000005)
        print("past_sentinel_tick alerts", len(m.alerts) - n, "mode", m.account.mode)
        clock.advance(9)
        m.save_registers()
        print("last_on", clock.now())
        print("standing_a", m.account.standing)
    elif stage == "b":
        m, out, clock, met, _ = make_meter(root, 0x100000005)     # the RTC past the sentinel
        print("rtc_past_sentinel", clock.now(), status(m), "standing", m.account.standing,
              "logged", clock_set_values(m)[0])
        m.time.pending = True
        m.time.on_attributes(None, [(0, 0, UTC, T0 + 100000)])
        m.save_registers()
        print("standing_b", m.account.standing, clock.now())
    else:
        m, out, clock, met, _ = make_meter(root, T0 + 100000 + 3600)    # an hour off
        print("rtc_normal standing", m.account.standing, status(m))


main(sys.argv[2])
