# Both runtimes: the account use cases (firmware/gbcs/uc_account.py) through
# Meter.gbcs_message. The host (test_uc_account.py) gives the keystore (RTDS
# cells, the RTDS Z values, a test DS key) and the messages as JSON in
# argv[2]: ECS03 (prepayment), ECS04a, ECS82, ECS07, ECS09, a future-dated
# ECS08 (then the clock runs to its activation: nine alerts), ECS26a and a
# hostile ECS08. Printed per message: the response (hex; signed ones use the
# deterministic nonce, so the same on both runtimes), then the alerts at
# the activation and the account afterwards.
import binascii
import gc
import json
import sys

from common import make_meter


def unhex(s):
    return binascii.unhexlify(s)


def hexs(b):
    return binascii.hexlify(b).decode()


with open(sys.argv[2]) as f:
    inp = json.load(f)
m, out, clock, met, backend = make_meter(sys.argv[1], config=inp["config"])
clock.set(inp["utc"])
sent = []
m.tunnel_send = sent.append
from firmware.gbcs import keystore as K
from firmware.gbcs import core

ks = inp["keystore"]
from common import keystore_args  # noqa: E402
K.install(m, *keystore_args(ks))
core.set_device_counter(m, inp["device_counter"])
msgs = inp["messages"]
del inp, ks
while msgs:
    name, h = msgs.pop(0)
    gc.collect()
    m._gctr[1].clear()                 # RTDS reuses counters across message codes
    r = m.gbcs_message(unhex(h))
    del h
    print(name, hexs(r) if r is not None else "none")
    a = m.account
    print("  mode", a.mode, a.sde, a.sdd, "mb", a.mb, "ec", a.ec_in_use, a.ecb, "due", m.gbcs_due)
due = m.gbcs_due
clock.set(due - 2)
for i in range(4):
    n = len(sent)
    clock.advance(1)
    m.tick()
    for al in sent[n:]:
        print("tick", i, "alert", hexs(al))
a = m.account
print("after mode", a.mode, "ec", int(a.ec_in_use), "debts", a.debt, "max", a.max_credit,
      a.max_balance, "p", a.p[:6], "friendly", hexs(a.friendly), "due", m.gbcs_due)
