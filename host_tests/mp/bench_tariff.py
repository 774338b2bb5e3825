# Benchmark (both runtimes): the one-second tick with the busiest tariff (TOU
# with blocks, block chosen and split every second), bytes allocated per
# tick, and the heap a tariff at full capacity takes (48 TOU + 32 block
# prices, 4 seasons, 4 weeks, 16 day profiles of 48 switch points, 50
# special days, 8 x 3 thresholds, 48 labels): what the engine holds once
# it is active, less what the default tariff held. Prints JSON.
import json
import sys

from common import make_meter, store_dir, time_ticks, mem
from full_tariff import full_parts
from common import tariff_load


def stored_size(m):
    """Octets of the tariff record (its pieces, not read back: a 4.4 KB
    read would be one more large block in the unix port's heap)."""
    from firmware.tariff.engine import _pack_parts
    n = 0
    for p in _pack_parts(m.tariff.parts):
        n += len(p)
    return n


def main():
    m, out, clock, met, _ = make_meter(store_dir())
    if sys.argv[-1] == "full":
        # a fresh meter (its heap not yet churned by hours of ticks), as after
        # the boot that precedes a tariff load from the head-end
        try:
            parts = full_parts()
            before = mem()
            m.tariff.stage(parts, 0, m.clock.now())
            parts = None
            after = mem()
            heap = (after - before) if before is not None else None
        except MemoryError:
            heap = "MemoryError"     # measured, not hidden
        print(json.dumps({"full_tariff_heap": heap, "stored_record": stored_size(m)}))
        return
    with open("../../tariffs/tou-blocks.json") as f:
        doc = json.load(f)
    tariff_load(m, doc)
    met.load_w = 7200               # 2 Wh a second: thresholds crossed as it runs
    for i in range(40):
        clock.advance(1)
        m.tick()
    tick_us, per_tick = time_ticks(m, clock)
    print(json.dumps({"tick_us": int(tick_us), "alloc_per_tick": per_tick,
                      "stored_record": stored_size(m)}))


main()
