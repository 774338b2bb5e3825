# Crypto fallback timings on this runtime (make bench): prints one JSON line.
import json
import time

from firmware.crypto import pure as core

try:
    _us, _diff = time.ticks_us, time.ticks_diff
except AttributeError:
    def _us():
        return int(time.perf_counter() * 1000000)

    def _diff(a, b):
        return a - b

KEY = bytes(range(16))
IV = bytes(12)
PRIV = bytes.fromhex("FC9BB773E6C8350ADB4051AC913CA470CF422D8A53DE8C881DBFFEB40BA47051")
PEER = bytes.fromhex("292F97FEC1B30C3849B806D90446E4A037D6D178019796E76E5255BDC3A08E34"
                     "6F9F6E6E7E8F6A4D55962D2F2D0E16CFF27BF3F925FA7DBAFD15A8B1DC695894")
DIGEST = bytes(range(32))
K = bytes(range(1, 33))


def per_call(fn, n):
    t0 = _us()
    for _ in range(n):
        fn()
    return _diff(_us(), t0) / n / 1000000


out = {}
for size, n in ((64, 20), (1024, 3), (16384, 1)):
    msg = bytes(size)
    out["gcm %d B" % size] = size / per_call(lambda: core.gcm_encrypt(KEY, IV, b"", msg), n) / 1e6
pub = core.pubkey(PRIV)
sig = core.ecdsa_sign(PRIV, DIGEST, K)
out["verify"] = per_call(lambda: core.ecdsa_verify(pub, DIGEST, sig), 3) * 1000
out["sign"] = per_call(lambda: core.ecdsa_sign(PRIV, DIGEST, K), 3) * 1000
out["ecdh"] = per_call(lambda: core.ecdh(PRIV, PEER), 3) * 1000
print(json.dumps(out))
