# Both runtimes: a tariff at full capacity (full_tariff.py) is loaded into a
# meter, runs an hour at 2 Wh/s across switch points, and (phase 2, a new
# process on the same store) is read back at boot and keeps metering. Prints
# what the engine holds; the two runtimes must print the same.
import sys

from common import make_meter, store_dir
from full_tariff import full_parts

T0 = 820886400 + 5 * 3600 + 1700            # 05:28:20 on a Monday: a switch point at 05:30


def show(tag, m):
    tf = m.tariff
    regs = [(i, r) for i, r in enumerate(tf.reg) if r]
    print(tag, tf.calendar.name, len(tf.calendar.days), len(tf.labels), tf.prices[0],
          tf.prices[-1], tf.sel, regs, tf.counters, m.account.energy, m.account.standing)


if sys.argv[2] == "1":
    m, out, clock, met, _ = make_meter(store_dir(), T0)
    print("activated", m.tariff.stage(full_parts(), 0, clock.now()))
    met.load_w = 7200
    for i in range(3600):
        clock.advance(1)
        m.tick()
    m.save_registers()
    show("phase1", m)
    with open(store_dir() + "/now", "w") as f:
        f.write(str(clock.now()))
else:
    with open(store_dir() + "/now") as f:
        now = int(f.read())
    m, out, clock, met, _ = make_meter(store_dir(), now)
    show("booted", m)
    met.load_w = 7200
    for i in range(600):
        clock.advance(1)
        m.tick()
    show("phase2", m)
