# Both runtimes: the GBCS core (firmware/gbcs/core.py, firmware/crypto):
# GMAC over a message buffer in place (core.gmac_in, against the plain
# crypto.gmac of the joined AAD), §8 encryption of response items
# (core.encrypt_item with RTDS commands), and commands with the message
# codes beyond the visible RTDS set through Meter.gbcs_message. The host
# (test_gbcs_core.py) gives the keystore and the inputs as JSON in argv[2].
# Printed: each result in hex, so the two runtimes compare byte for byte.
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
from firmware import crypto
from firmware.gbcs import keystore as K
from firmware.gbcs import core

ks = inp["keystore"]
from common import keystore_args  # noqa: E402
K.install(m, *keystore_args(ks))
del ks
for key, iv, pre, buf, s, e in inp["gmac"]:
    key, iv, pre, buf = unhex(key), unhex(iv), unhex(pre), bytearray(unhex(buf))
    t = core.gmac_in(key, iv, pre, buf, s, e)
    print("gmac", hexs(t), t == crypto.gmac(key, iv, pre + bytes(buf[s:e])))
for name, cmd, plain in inp["encrypt"]:
    b = unhex(cmd)
    print("encrypt", name, hexs(core.encrypt_item(m, b, core.parse(b), unhex(plain))))
msgs = inp["messages"]
del inp
while msgs:
    name, h = msgs.pop(0)
    gc.collect()
    sec = m.security_log.seq
    n = len(sent)
    r = m.gbcs_message(unhex(h))
    del h
    print(name, hexs(r) if r is not None else "none")
    if m.security_log.seq != sec:
        ent = m.log_between(m.security_log, 0, 0xFFFFFFFF)[-1]
        print("  security", "%04x" % ent[1], "%04x" % ent[3])
    print("  alerts", len(sent) - n)
