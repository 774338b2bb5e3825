# make bench (tools/benchmarks.py dlms), on either runtime: the time the
# meter takes to authenticate, execute and answer one RTDS command per
# use-case group (firmware/gbcs/cosem.py groups), through
# Meter.gbcs_message (no tunnel: that is the gbcs section's figure).
# argv[2]: JSON {config, utc, keystore, repeats}; argv[3]: one line per
# group, "group name command-hex". Each repeat on the same meter with the
# Execution Counters cleared (the same command again). Prints one JSON
# line: {group: [name, [ms, ...], the last response (hex)]}.
import binascii
import gc
import json
import sys

from common import make_meter, us, us_diff

unhex = binascii.unhexlify
with open(sys.argv[2]) as f:
    inp = json.load(f)
m, out, clock, met, be = make_meter(sys.argv[1], config=inp["config"])
clock.set(inp["utc"])
from firmware.gbcs import keystore as K  # noqa: E402
from firmware.gbcs import core  # noqa: E402

ks = inp["keystore"]
from common import keystore_args  # noqa: E402
K.install(m, *keystore_args(ks))
m.tunnel_send = lambda b: None
reps = inp["repeats"]
del inp, ks
res = {}
lines = open(sys.argv[3])
while True:
    line = lines.readline()
    if not line:
        break
    g, name, h = line.split()
    cmd = unhex(h)
    del line, h
    t = []
    for _ in range(reps):
        core.counters(m)[1].clear()
        gc.collect()
        t0 = us()
        r = m.gbcs_message(cmd)
        t.append(us_diff(us(), t0) / 1000)
        if r is None:
            raise SystemExit("no response to " + name)
    res[g] = [name, t, binascii.hexlify(r).decode()]
print(json.dumps(res))
