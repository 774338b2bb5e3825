# Benchmark (both runtimes): keyed-in UTRN top-ups on a meter, through the
# crypto API's pure-Python path unless the native module is present: the
# first one (which also computes the static ECDH secret once), then the
# validation alone (parse, checks, counter, cache, KDF + GMAC, credit) and
# the whole meter path (with the atomic record save and the logs); the heap
# of the prepayment state with a full 100-entry UTRN cache and its stored
# size. UTRNs come from the host's supplier tool (argv[2]). Prints JSON.
import json
import sys

from common import make_meter, store_dir, us, us_diff, mem
from firmware.prepay import account as AC
from firmware.prepay import utrn as U
from firmware import crypto
from common import topup

with open(sys.argv[2]) as f:
    inp = json.load(f)
m, out, clock, met, _ = make_meter(store_dir(), 820886400, inp["config"])
m.account.max_balance = 100000
codes = inp["codes"]
t0 = us()
assert topup(m, codes[0])[0] == 0
first_ms = us_diff(us(), t0) / 1000
n = 0
t0 = us()
for c in codes[1:11]:                       # validation and credit only
    m.account.top_up_code(c, U.FLAG_LOCAL)
    n += 1
validate_ms = us_diff(us(), t0) / 1000 / n
n = 0
t0 = us()
for c in codes[11:21]:                      # the meter path: + record save, logs, alerts
    assert topup(m, c)[0] == 0
    n += 1
meter_ms = us_diff(us(), t0) / 1000 / n
before = mem()
a = AC.Account(m.alert, lambda: m.tariff.scaler)
for i in range(U.CACHE_SLOTS):
    a.cache.add(1000 + i, U.FLAG_LOCAL)
a.stage(AC.P_FRIENDLY, AC.friendly_blob([(31, 420, 540)] * 8, [(2026, 12, 25)] * 20), 0, 0)
after = mem()
print(json.dumps({"native": crypto.NATIVE, "first_ms": round(first_ms, 1),
                  "validate_ms": round(validate_ms, 2), "meter_ms": round(meter_ms, 2),
                  "state_heap": (after - before) if before is not None else None,
                  "stored_full": len(a.pack()), "stored_now": len(m.account.pack())}))
