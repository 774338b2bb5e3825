# Benchmark (both runtimes): ZCL frames decoded + dispatched + answered per
# second, heap after boot, bytes allocated per steady-state tick. Prints JSON.
import json

from common import make_meter, store_dir, T0, time_ticks, mem, us as _us, us_diff as _diff
from firmware.zcl import aps as A
import firmware.meter  # noqa: F401  (modules in before the baseline: "meter objects" is data only)

def main():
    base = mem()
    m, out, clock, met, _ = make_meter(store_dir())
    boot = mem()
    frames = (
        A.Aps(0, 1, 0x4E21, 1, 0x0109, 0x0702, bytes.fromhex("0001000000000004"), True),
        A.Aps(0, 1, 0x4E21, 1, 0x0109, 0x0000, bytes.fromhex("00020004000500"), True),
        A.Aps(0, 1, 0x4E21, 1, 0x0109, 0x0003, bytes.fromhex("010300"), True),
    )
    n = 3000
    t0 = _us()
    for i in range(n):
        m.on_aps(frames[i % 3])
        del out[:]
    dt = _diff(_us(), t0)
    met.load_w = 1234
    for i in range(40):
        clock.advance(1)
        m.tick()
    del out[:]
    tick_us, per_tick = time_ticks(m, clock)
    print(json.dumps({
        "frames_per_s": int(n * 1000000 / dt) if dt else None,
        "tick_us": int(tick_us),
        "heap_imports": base, "heap_after_boot": boot,
        "meter_objects": (boot - base) if base is not None else None,
        "alloc_per_tick": per_tick,
    }))


main()
