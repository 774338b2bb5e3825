# Both runtimes: RTDS 4.5.0 ESME vectors through Meter.gbcs_message, each on
# a fresh meter (its own store folder, the RTDS keystore and counters, the
# clock at the vectors' 2015-01-01), as host_tests/rtds.py runs them on
# CPython. argv[2]: JSON {config, utc, keystore}; argv[3]: one vector per
# line, "name state instruction result command-hex", read one at a time (the
# board heap); instruction >= 0 makes that instruction fail with result
# (dispatch.execute), as the RTDS ERROR vectors' meter did; state: the
# meter state the vector implies (host_tests/rtds.py STATE). Printed per
# vector: the response (hex: MACed, or signed with the deterministic nonce,
# so the same on both runtimes, or none) and the alerts sent.
import binascii
import gc
import json
import os
import sys

from common import keystore_args, make_meter


def unhex(s):
    return binascii.unhexlify(s)


def hexs(b):
    return binascii.hexlify(b).decode()


with open(sys.argv[2]) as f:
    inp = json.load(f)
ks = keystore_args(inp["keystore"])
cfg = inp["config"]
utc = inp["utc"]
del inp
from firmware.gbcs import keystore as K
from firmware.gbcs import dispatch

_execute = dispatch.execute
n = 0
lines = open(sys.argv[3])
while True:
    line = lines.readline()
    if not line:
        break
    name, st, fk, fr, h = line.split()
    fault = (int(fk), int(fr)) if int(fk) >= 0 else None
    del line
    d = sys.argv[1] + "/v%d" % n
    n += 1
    os.mkdir(d)
    gc.collect()
    m, out, clock, met, backend = make_meter(d, config=cfg)
    clock.set(utc)
    sent = []
    m.tunnel_send = sent.append
    K.install(m, *ks)
    if st == "prepay":
        from firmware.commands import supplier
        from firmware.prepay import account as AC
        supplier.set_payment_mode(m, AC.PREPAY, False, False, 0)
    elif st == "aux5":
        from firmware.platform.hw import AuxSwitches
        m.aux = AuxSwitches(5)
    if fault:
        def ex(x, i, s, dd, k=fault[0], r=fault[1]):
            if i == k:
                return r, b"\x00"
            return _execute(x, i, s, dd)
        dispatch.execute = ex
    r = m.gbcs_message(unhex(h))
    dispatch.execute = _execute
    del h
    print(name, hexs(r) if r is not None else "none")
    for a in sent:
        print("  alert", hexs(a))
    del m, out, clock, met, backend, sent, r
