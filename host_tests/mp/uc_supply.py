# Both runtimes: the GBCS supply / load-limit / ALCS use cases (cosem.py group
# 3, firmware/gbcs/uc_supply.py) through Meter.gbcs_message. The host
# (test_uc_supply.py) gives the keystore and the RTDS commands as JSON in
# argv[2]; an ALCS variant with five switches. Printed per command: the
# response (hex; signed ones with the deterministic nonce, so the same on
# both runtimes) and the state the command changes; then the future-dated
# ECS28a's activation with its alerts, and the state after a restart.
import binascii
import gc
import json
import sys

from common import make_meter


def unhex(s):
    return binascii.unhexlify(s)


def hexs(b):
    return binascii.hexlify(b).decode()


def show(m):
    from firmware.commands import supplier as S
    su, p = m.supply, m.account.p
    print("  supply", su.state, su.cause, "ll", su.ll_state, su.ll_pend, su.ll_at,
          "limits", p[6], p[7], p[8], "counter", m.metering.stored(0x0606),
          "aux", m.aux.closed, "alcs", S.alcs(m))


with open(sys.argv[2]) as f:
    inp = json.load(f)
m, out, clock, met, backend = make_meter(sys.argv[1], config=inp["config"])
clock.set(inp["utc"])
from firmware.platform.hw import AuxSwitches
m.aux = AuxSwitches(5)
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
m.aux.set(0, False)
while msgs:
    name, h = msgs.pop(0)
    gc.collect()
    m._gctr[1].clear()
    r = m.gbcs_message(unhex(h))
    del h
    print(name, hexs(r) if r is not None else "none")
    show(m)
due = m.gbcs_due
print("due", due)
clock.set(due - 1)
for i in range(3):
    n = len(sent)
    clock.advance(1)
    m.tick()
    for a in sent[n:]:
        print("tick", i, "alert", hexs(a))
show(m)
print("due", m.gbcs_due)
cfg = m.cfg
del m, out, met, backend
gc.collect()
m = make_meter(sys.argv[1], config=cfg)[0]           # a restart: what was saved comes back
m.aux = AuxSwitches(5)
print("restart")
show(m)
