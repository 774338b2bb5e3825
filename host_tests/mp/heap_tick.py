# MicroPython only: prove the steady-state one-second tick allocates nothing,
# with reporting configured, under micropython.heap_lock().
import sys

from common import make_meter, store_dir, T0, tariff_load
from firmware.zcl import aps as A

try:
    import micropython
    micropython.heap_lock
except (ImportError, AttributeError):
    print("SKIP")
    sys.exit(0)

m, out, clock, met, _ = make_meter(store_dir(), T0 + 60)
# the busiest tariff: TOU with blocks (block selection every second)
import json
with open("../../tariffs/tou-blocks.json") as f:
    tariff_load(m, json.load(f))
# Configure Reporting: summation (min = max = 3600 s, change 0) and demand
# (min 1 s, max 3600 s, change 100 kW): demand is read and compared every
# second while nothing is due (steady load).
import struct
cfg = struct.pack("<BBB", 0x00, 0x01, 0x06)
cfg += struct.pack("<BHBHH", 0, 0x0000, 0x25, 3600, 3600) + bytes(6)
cfg += struct.pack("<BHBHH", 0, 0x0400, 0x2A, 1, 3600) + bytes((0xA0, 0x86, 0x01))
m.on_aps(A.Aps(0, 1, 0x4E21, 1, 0x0109, 0x0702, cfg, True))
assert len(m.reporting.entries) == 2, "reporting not configured"
met.load_w = 1500
m.import_wh = 5000000         # 5 MWh: beyond MicroPython's small ints if multiplied
for i in range(30):           # warm-up: time request, first reports
    clock.advance(1)
    m.tick()
del out[:]


def locked_ticks(n):
    """n ticks under heap_lock: True if none allocated."""
    ok = False                # bound before the lock: storing a new name allocates
    err = None
    micropython.heap_lock()
    try:
        for i in range(n):
            clock.advance(1)
            m.tick()
        ok = True
    except MemoryError as e:
        err = e
    micropython.heap_unlock()
    if err is not None:
        sys.print_exception(err)
    return ok


n = 1200
ok = locked_ticks(n)
print("heap_lock ticks", n, "ok" if ok else "ALLOCATED", "frames", len(out), "wh", m.import_wh - 5000000)

# Phase 2: the same in prepayment mode at its busiest: credit exhausted
# inside a friendly period (checked every second), a time debt collected
# every second with a cap, a special day in the calendar, the load limiter
# watching (below its threshold).
from firmware.commands import config as CFG
CFG.apply(m, {"mode": "prepayment", "sde": True,
              "params": {"ec_limit": 0, "low_credit_threshold": 100000, "debt_cap": 10 ** 9,
                         "load_limit_w": 20000, "load_limit_period": 60},
              "friendly": {"periods": [[127, "00:00", "01:00"]], "days": [[0, 12, 25]]},
              "debts": [{"debt": 1, "amount": 10 ** 8, "rate": 86400 * 3, "period_s": 86400}]})
for i in range(30):           # warm-up: the exhaustion and friendly-period alerts happen here
    clock.advance(1)
    m.tick()
assert m.account.is_friendly(clock.now()) and m.supply.state == 2, "not held by the friendly period"
del out[:]
n2 = 400                      # stays inside the half hour: no register save
debt0 = m.account.debt[0]
ok = locked_ticks(n2)
print("heap_lock prepay ticks", n2, "ok" if ok else "ALLOCATED", "debt collected",
      debt0 - m.account.debt[0], "balance", m.account.mb)
