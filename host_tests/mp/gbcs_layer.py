# Both runtimes: the GBCS message and security layer through
# Meter.gbcs_message (firmware/gbcs). The host (test_gbcs_layer.py) gives the
# keystore (RTDS cells, the RTDS Z values, a test DS key) and the messages as
# JSON in argv[2]: RTDS commands, forged and replayed ones. Printed per
# message: the response (hex, or none), the security log's newest entry,
# the alerts sent (hex: signed with the deterministic nonce, so the same on
# both runtimes), and the heap the first message took on MicroPython is
# left out (runtime-specific).
import json
import sys

from common import make_meter, hexs


def unhex(s):
    return bytes(int(s[i:i + 2], 16) for i in range(0, len(s), 2))


with open(sys.argv[2]) as f:
    inp = json.load(f)
m, out, clock, met, backend = make_meter(sys.argv[1], config=inp["config"])
clock.set(inp["utc"])
sent = []
m.tunnel_send = sent.append
from firmware.gbcs import keystore as K
from firmware.gbcs import core

ks = inp["keystore"]
K.install(m, unhex(ks["entity"]), unhex(ks["ka_priv"]), unhex(ks["ds_priv"]),
          [(c[0], c[1], c[2], unhex(c[3]), unhex(c[4]), unhex(c[5])) for c in ks["cells"]],
          dict((unhex(k), unhex(v)) for k, v in ks["zs"].items()))
core.set_device_counter(m, inp["device_counter"])
for name, h, fresh in inp["messages"]:
    if fresh:
        m._gctr[1].clear()
    n = len(sent)
    sec = m.security_log.seq
    r = m.gbcs_message(unhex(h))
    print(name, hexs(r) if r is not None else "none")
    if m.security_log.seq != sec:
        e = m.log_between(m.security_log, 0, 0xFFFFFFFF)[-1]
        print("  security", e[0], "%04x" % e[1], "%04x" % e[3])
    for a in sent[n:]:
        print("  alert", hexs(a))
    print("  balance", m.account.mb, "counters", len(m._gctr[1]), m._gctr[0])
