# Crypto fallback timings on this runtime (make bench): prints one JSON line.
import json

from firmware.crypto import pure as core
from common import us as _us, us_diff as _diff

from crypto_inputs import KEY, IV, PRIV, PEER, DIGEST, K


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
