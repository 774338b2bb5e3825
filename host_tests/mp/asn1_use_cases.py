# Both runtimes: the ASN.1 use cases (firmware/gbcs/asn1.py, creds.py) on
# the RTDS 4.5.0 vectors (read from /work/shared/vectors/rtds; keystore from
# its keys.json, the meter's test DS key as tools/gbcs_host.py derives it).
# Printed: per command the response (hex: the device signatures use the
# deterministic nonce, so they are the same on both runtimes), whether it
# equals the RTDS file (MACed) or its payload (signed), the trust anchor
# SKIs after it, security log entries and alerts; then a future-dated CS06
# run to its activation through the _S_GBCS slot (the future.py wiring of
# asn1.py's header, installed here as in test_asn1_use_cases.py).
import binascii
import gc
import hashlib
import json
import sys

from common import make_meter

RT = "/work/shared/vectors/rtds/"


def unhex(s):
    return binascii.unhexlify(s)


def hexs(b):
    return binascii.hexlify(b).decode()


def msg(name):
    """The message of an RTDS file, read in chunks into one buffer of its
    size (a 1.9 KB CS02b on a board-sized, fragmented heap)."""
    import os
    gc.collect()
    p = RT + "messages/" + name
    out = bytearray(os.stat(p)[6] // 2)
    with open(p, "rb") as f:
        i = 0
        while True:
            c = f.read(256)
            if not c:
                break
            c = unhex(c)
            out[i:i + len(c)] = c
            i += len(c)
    return out


try:
    with open(RT + "keystore/keys.json") as f:
        keys = json.load(f)
except OSError:
    keys = None
if keys is None:
    print("no RTDS vectors")
    sys.exit(0)

m, out, clock, met, backend = make_meter(sys.argv[1], config={"firmware_version": "0123ABCD"})
clock.set(473385600)            # 2015-01-01, the RTDS response date-time
sent = []
m.tunnel_send = sent.append
from firmware.gbcs import keystore as K
from firmware.gbcs import core, asn1 as A, cosem, future

CELLS = ((2, 0, 0, "90b3d51f30010000-ds"), (2, 4, 0, "90b3d51f30010000-ka"),
         (2, 4, 1, "90b3d51f30010000-pp-ka"), (3, 0, 0, "90b3d51f30020000-ds"),
         (3, 4, 0, "90b3d51f30020000-ka"), (4, 4, 0, "90b3d51f30000002-ka"),
         (5, 0, 0, "90b3d51f30000004-ds"), (1, 0, 0, "90b3d51f30000001-ds"),
         (8, 0, 0, "90b3d51f30010008-ds"), (8, 4, 0, "90b3d51f30010008-ka"))
cells = []
for role, usage, cu, name in CELLS:
    e = keys["keys"][name]
    cells.append((role, usage, cu, unhex(e["entity_id"]), unhex(e["public_key"])[1:],
                  unhex(e["subject_key_identifier"])))
zs = {}
for name, e in keys["Z_with_00DB1234567890A0"].items():
    zs[unhex(e["remote_party"]) + bytes((1 if "-pp-" in name else 0,))] = unhex(e["Z"])
del keys
K.install(m, unhex("00DB1234567890A0"), bytes(32),
          hashlib.sha256(b"OpenESME GBCS test device DS key").digest(), cells, zs, {3: 1, 8: 1})
core.set_device_counter(m, 1999)


def skis():
    return " ".join(hexs(c[5])[:4] for c in sorted(K.get(m)[0]))


def send(name, d, f, ref=None):
    gc.collect()
    n = len(sent)
    sec = m.security_log.seq
    r = m.gbcs_message(msg(d + "/" + f + "_COMMAND_GBCS.HEX"))
    print(name, hexs(r) if r is not None else "none")
    if ref:
        want = msg(d + "/" + f + "_RESPONSE_GBCS.HEX")
        if ref == "exact":
            print("  rtds", r == want)
        else:                          # signed: the same octets up to the signature
            print("  rtds", r is not None and r[:-64] == want[:-64] and len(r) == len(want))
    if m.security_log.seq != sec:
        e = m.log_between(m.security_log, 0, 0xFFFFFFFF)[-1]
        print("  security", "%04x" % e[1], "%04x" % e[3])
    for a in sent[n:]:
        print("  alert", hexs(a))
    print("  cells", skis(), "seq", K.get(m)[6].get(2, 0))


send("cs02a", "6.24.1_CS02aMAC", "CS02aMAC_6.24.1_SUCCESS", "exact")
send("cs02b-error", "6.15.1_CS02bSupplierBySupplier",
     "CS02bSupplierBySupplier_6.15.1_IMMEDIATE_ERROR", "signed")
send("cs02b-replay", "6.15.1_CS02bSupplierBySupplier",
     "CS02bSupplierBySupplier_6.15.1_IMMEDIATE_ERROR")

# back to the RTDS keystore: the commands below are signed with the old supplier key
K.install(m, unhex("00DB1234567890A0"), bytes(32),
          hashlib.sha256(b"OpenESME GBCS test device DS key").digest(), cells, zs, {3: 1, 8: 1})
del cells, zs
send("cs02e-none", "6.24.2_CS02e", "CS02e_6.24.2_SUCCESS")
# CS02c: a fresh key (random: only what does not depend on it is printed)
gc.collect()
r = m.gbcs_message(msg("6.17_CS02c/CS02c_6.17_SUCCESS_COMMAND_GBCS.HEX"))
from firmware import crypto
pend = K.get(m)[8]
print("cs02c", len(r) > 300, list(pend), crypto.pubkey(pend[0]) in r)
del r
send("cs02d-rtds", "6.15.2_CS02d", "CS02d_6.15.2_SUCCESS")        # another key: wrongPublicKey
send("cs03a1", "8.7.1_CS03A1", "CS03A1_8.7.1_SUCCESS", "signed")
send("cs03a1-error", "8.7.1_CS03A1", "CS03A1_8.7.1_ERROR", "signed")
send("cs04ac-error", "8.8.1_CS04ACCritical", "CS04ACCritical_8.8.1_ERROR", "signed")
send("cs06", "11.3_CS06", "CS06_11.3_IMMEDIATE_ERROR")        # (RTDS: another version)

# future-dated CS06 (2030-01-01, no image held: 8F67 noImageHeld at its time)
orig = cosem.module
cosem.module = lambda g: A if g == 5 else orig(g)


def due(m, now):
    t = future.table(m)
    done = [e for e in t if e[0] <= now]
    if not done:
        return
    h = m.begin()
    t[:] = [e for e in t if e[0] > now]
    future._save(m, t)
    m.end(h)
    for e in done:
        cosem.module(e[2] >> 5).took(m, e[2] & 0x1F, e[5], e[0])


future.due = due
send("cs06-future", "11.3_CS06", "CS06_11.3_FUTURE_DATED_ERROR", "signed")
at = m.gbcs_due
print("due", at)
clock.set(at - 2)
for i in range(4):
    n = len(sent)
    clock.advance(1)
    m.tick()
    for a in sent[n:]:
        print("tick", i, "alert", hexs(a))
print("due", m.gbcs_due, "devices", [(hexs(e), t) for e, t in A.state(m)[0]])
