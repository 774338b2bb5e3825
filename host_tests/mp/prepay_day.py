# Both runtimes: UTRN vectors, counter reconstruction, the five payment-mode
# configurations, and a prepayment day on a meter (top-ups keyed in, EC,
# friendly period, debts, a power cut torn into a top-up's save), printing
# what the account, the supply and the logs say. Phase 1 (argv[3] "1") runs
# up to the cut, phase 2 (a new process on the same store, as after a real
# cut) restarts. The UTRNs and keys come from the supplier tool on the host
# (argv[2], JSON), since the unix port has no OpenSSL.
import json
import sys

from common import store_dir, make_meter, hexs
from firmware.prepay import utrn as U
from firmware.prepay import account as AC
from firmware.commands import config as CFG
from firmware.platform.store import PowerCut
from common import tariff_load, topup
from firmware import commands as C

T0 = 820886400
with open(sys.argv[2]) as f:
    inp = json.load(f)
with open("../vectors/utrn.json") as f:
    for v in json.load(f)["utrns"]:
        p = U.parse(v["utrn"])
        print("vector", v["utrn"], "%016X" % p, U.fields(p)[:4], U.check_digit(v["utrn"][:19]))
for h, r in ((2458896167, 812), (1003, 6), (1030, 1000), (0, 1000), (5, 1020)):
    print("reconstruct", h, r, U.reconstruct(h, r))
for mode, sde, sdd in ((1, 0, 0), (2, 1, 1), (2, 1, 0), (2, 0, 1), (2, 0, 0)):
    v = AC.ccc(mode, sde, sdd)
    print("ccc", mode, sde, sdd, len(v), hexs(v[-21:]), AC.parse_ccc(v))

cfg = inp["config"]
cfg["han_devices"] = {"0x5A5A": "ppmid"}


def show(tag):
    a = m.account
    print(tag, clock.now() - T0, a.mb, a.ecb, a.ec_in_use, a.ad, a.debt, a.collected,
          a.credited, a.charged, a.ledger_ok(), m.supply.state, m.supply.cause,
          m.relay.closed, a.cache.n, a.cache.highest())


def run(n):
    for _ in range(n):
        clock.advance(1)
        m.tick()


codes = inp["codes"]
if sys.argv[3] == "1":
    m, out, clock, met, backend = make_meter(store_dir(), T0, cfg)
    met.relay = m.relay                        # an open contactor stops the load
    tariff_load(m, inp["tariff"])
    CFG.apply(m, {"mode": "prepayment", "sde": True, "params": {"ec_limit": 300000,
                  "ec_threshold": 100000, "low_credit_threshold": 100000},
                  "friendly": {"periods": [[31, "07:00", "09:00"]]},
                  "debts": [{"debt": 1, "amount": 20000, "rate": 86400, "period_s": 86400},
                            {"debt": 3, "amount": 40000}], "payment_debt_pct": 2000})
    print("topup", topup(m, codes[0]))          # £2
    met.load_w = 3600
    run(7200)
    show("2h")
    print("ec", C.activate_ec(m) == 0)
    run(6 * 3600)
    show("8h")
    run(3600 + 60)
    show("9h")
    print("topup", topup(m, codes[1]))          # £5: payment debt, EC and accumulated debt repaid
    show("after topup")
    print("dup", topup(m, codes[1]), "forged", topup(m, codes[2]), "typo", topup(m, codes[3]))
    m.button.press()
    run(60)
    show("enabled")
    backend.cut_after(1)                    # the commit (journal) write of the top-up
    try:
        topup(m, codes[4])
        print("no cut")
    except PowerCut:
        print("cut")
    with open(store_dir() + "/now", "w") as f:
        f.write(str(clock.now()))
else:                                       # after the power cut: a new process, the same flash
    with open(store_dir() + "/now") as f:
        now = int(f.read())
    m, out, clock, met, backend = make_meter(store_dir(), now, cfg)
    met.relay = m.relay
    met.load_w = 3600
    show("restart")
    print("again", topup(m, codes[4]), "again", topup(m, codes[4]))
    print("wrap", topup(m, codes[5]))
    run(1800)
    show("end")
    print("alerts", ["%04X" % a for a in m.alerts])
    print("record", len(m.account.pack()), "supply", len(m.supply.pack()))
