# Both runtimes: a year of ten-minute steps through 2028 for every example
# tariff (the same run test_tariff.py checks against an independent model on
# CPython); prints registers, block counters and money.
import json
import sys

from common import store_dir, EngineApp as App
from firmware.tariff.engine import TariffEngine, IMMEDIATE
from firmware.tariff.account import RunningCost
from firmware.tariff.loader import parts_from_doc
from firmware.platform.store import Store, FileBackend

T0 = 883612800                     # 2028-01-01T00:00:00Z (ZigBee epoch)


root = store_dir()
for name in ("flat", "economy7", "three-rate", "two-block", "tou-blocks"):
    with open("../../tariffs/" + name + ".json") as f:
        doc = json.load(f)
    app = App()
    e = TariffEngine(app, Store(FileBackend(root + "/" + name)), RunningCost())
    app.store = e.store
    e.stage(parts_from_doc(doc), IMMEDIATE, T0)
    for i in range(366 * 144):
        e.catch_up(599, T0 + i * 600 + 599)
        e.tick(T0 + (i + 1) * 600, (i * 7919) % 23 * 10 + (40 if (i // 6) % 24 in (7, 8, 18, 19) else 0))
    regs = [(i, v) for i, v in enumerate(e.reg) if v]
    print(name, regs, e.counters, e.account.energy, e._cost, e.account.standing, e._sc)
sys.stdout.flush()
