# Issue #18's heap budgets, as the unix port sees them (MicroPython only;
# prints SKIP on CPython): the meter's own heap after boot, the largest
# free block after boot, and after a full-capacity tariff load and a
# simulated day at 1.5 kW. Run with the virtual board's imports preloaded
# (preload="firmware.meter"); host_tests/test_heap.py holds the figures to
# their margins and says how they relate to a 32-bit board's.
#   heap_budget.py STORE
import gc
import sys

try:
    gc.mem_free()
except AttributeError:
    print("SKIP")
    sys.exit(0)

from common import make_meter, store_dir, T0     # noqa: E402
from full_tariff import full_parts                # noqa: E402


def largest():
    """The biggest bytearray that can be had (control.py op_mem's way)."""
    gc.collect()
    lo, hi = 0, gc.mem_free()
    while lo < hi:
        mid = (lo + hi + 1) // 2
        try:
            bytearray(mid)
            lo = mid
        except MemoryError:
            hi = mid - 1
    return lo


def load(m, clock):
    """The load in a call of its own: the parts it is handed die with this
    frame (a stale slot of main's value stack would keep them reachable)."""
    return m.tariff.stage(full_parts(), 0, clock.now())


def main():
    import firmware.platform.metrology          # noqa: F401  (make_meter's, before the baseline)
    import firmware.platform.hw                 # noqa: F401
    gc.collect()
    base = gc.mem_alloc()
    m, out, clock, met, _ = make_meter(store_dir(), T0)
    out.clear()
    gc.collect()
    print("boot_alloc", gc.mem_alloc() - base)
    print("boot_largest", largest())
    print("staged", load(m, clock))
    print("tariff_largest", largest())
    met.load_w = 1500
    for i in range(86400):
        clock.advance(1)
        m.tick()
        if len(out) > 8:
            out.clear()
    gc.collect()
    print("day_alloc", gc.mem_alloc() - base)
    print("day_largest", largest())
    print("wh", m.import_wh, sum(m.tariff.reg))


main()
