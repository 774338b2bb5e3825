# Both runtimes: the GBCS message and security layer through
# Meter.gbcs_message (firmware/gbcs). The host (test_gbcs_layer.py) gives the
# keystore (RTDS cells, the RTDS Z values, a test DS key) and the messages as
# JSON in argv[2]: RTDS commands, forged and replayed ones, a future-dated
# ECS02 (then the clock runs to its activation: the due slot's alert). Printed per
# message: the response (hex, or none), the security log's newest entry,
# the alerts sent (hex: signed with the deterministic nonce, so the same on
# both runtimes), and the heap the first message took on MicroPython is
# left out (runtime-specific).
import binascii
import gc
import json
import sys

from common import make_meter


def unhex(s):
    return binascii.unhexlify(s)


def hexs(b):           # one allocation (the board heap is tight with the JSON input)
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
    name, h, fresh = msgs.pop(0)
    gc.collect()
    if fresh:
        m._gctr[1].clear()
    n = len(sent)
    sec = m.security_log.seq
    r = m.gbcs_message(unhex(h))
    del h
    print(name, hexs(r) if r is not None else "none")
    if m.security_log.seq != sec:
        e = m.log_between(m.security_log, 0, 0xFFFFFFFF)[-1]
        print("  security", e[0], "%04x" % e[1], "%04x" % e[3])
    for a in sent[n:]:
        print("  alert", hexs(a))
    print("  balance", m.account.mb, "counters", len(m._gctr[1]), m._gctr[0])
# the future-dated command's activation: the meter's _S_GBCS slot after the account's
due = m.gbcs_due
print("due", due, "mode", m.account.mode)
if due != 0xFFFFFFFF:
    clock.set(due - 2)
    for i in range(4):
        n = len(sent)
        clock.advance(1)
        m.tick()
        for a in sent[n:]:
            print("tick", i, "alert", hexs(a))
    print("due", m.gbcs_due, "mode", m.account.mode)

