# MicroPython only: prove the steady-state one-second tick allocates nothing,
# with reporting configured, under micropython.heap_lock().
import sys

from common import make_meter, store_dir, T0
from firmware.zcl import aps as A

try:
    import micropython
    micropython.heap_lock
except (ImportError, AttributeError):
    print("SKIP")
    sys.exit(0)

m, out, clock, met, _ = make_meter(store_dir(), T0 + 60)
# demand and summation reporting, long max and large change: none due below
m.on_aps(A.Aps(0, 1, 0x4E21, 1, 0x0109, 0x0702,
               bytes.fromhex("0001060000000025100e100e10000000000000" +
                             "000004002a100e100e10a08601"), True))
met.load_w = 1500
m.import_wh = 5000000         # 5 MWh: beyond MicroPython's small ints if multiplied
for i in range(30):           # warm-up: time request, first reports
    clock.advance(1)
    m.tick()
del out[:]
n = 1200
micropython.heap_lock()
try:
    for i in range(n):
        clock.advance(1)
        m.tick()
    ok = True
except MemoryError:
    ok = False
micropython.heap_unlock()
print("heap_lock ticks", n, "ok" if ok else "ALLOCATED", "frames", len(out), "wh", m.import_wh - 5000000)
