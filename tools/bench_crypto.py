"""Crypto benchmark table (make bench): C core (host build), pure-Python
fallback on CPython, pure-Python fallback on MicroPython, OpenSSL via
cryptography, side by side, with ratios."""
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "host_tests"))
from runtimes import ROOT, run_script                     # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "lib", "esmecrypto", "host"))
import esmecrypto as native                               # noqa: E402
from firmware.crypto import pure                          # noqa: E402
from cryptography.hazmat.primitives import hashes         # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "host_tests", "mp"))
from crypto_inputs import KEY, IV, PRIV, PEER, DIGEST, K  # noqa: E402


def timeit(fn, budget=0.5):
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt > budget and n >= 3:
            return dt / n


def python_core(core):
    pub = core.pubkey(PRIV)
    sig = core.ecdsa_sign(PRIV, DIGEST, K)
    out = {}
    for size in (64, 1024, 16384):
        msg = bytes(size)
        out["gcm %d B" % size] = size / timeit(lambda: core.gcm_encrypt(KEY, IV, b"", msg)) / 1e6
    out["verify"] = timeit(lambda: core.ecdsa_verify(pub, DIGEST, sig)) * 1000
    out["sign"] = timeit(lambda: core.ecdsa_sign(PRIV, DIGEST, K)) * 1000
    out["ecdh"] = timeit(lambda: core.ecdh(PRIV, PEER)) * 1000
    return out


def openssl():
    sk = ec.derive_private_key(int.from_bytes(PRIV, "big"), ec.SECP256R1())
    peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + PEER)
    der = sk.sign(b"x", ec.ECDSA(hashes.SHA256()))
    g = AESGCM(KEY)
    out = {}
    for size in (64, 1024, 16384):
        msg = bytes(size)
        out["gcm %d B" % size] = size / timeit(lambda: g.encrypt(IV, msg, b"")) / 1e6
    out["verify"] = timeit(lambda: sk.public_key().verify(der, b"x", ec.ECDSA(hashes.SHA256()))) * 1000
    out["sign"] = timeit(lambda: sk.sign(b"x", ec.ECDSA(hashes.SHA256()))) * 1000
    out["ecdh"] = timeit(lambda: sk.exchange(ec.ECDH(), peer)) * 1000
    return out


def main():
    with tempfile.TemporaryDirectory() as d:
        mp = json.loads(run_script("micropython", "bench_crypto.py").strip().splitlines()[-1])
    cols = [("C core", python_core(native)), ("pure CPython", python_core(pure)),
            ("pure MicroPython", mp), ("OpenSSL", openssl())]
    print("== Crypto (x86-64 host; GCM in MB/s, higher is better; ECC in ms, lower is better)")
    print("%-12s" % "operation" + "".join("%18s" % c for c, _ in cols) + "   C/OpenSSL  pure-MP/C")
    for row in ("gcm 64 B", "gcm 1024 B", "gcm 16384 B", "verify", "sign", "ecdh"):
        vals = [c[row] for _, c in cols]
        line = "%-12s" % row + "".join("%18.3f" % v for v in vals)
        if row.startswith("gcm"):
            line += "   %9.2fx %9.0fx" % (vals[3] / vals[0], vals[0] / vals[2])
        else:
            line += "   %9.1fx %9.0fx" % (vals[0] / vals[3], vals[2] / vals[0])
        print(line)
    print("  (C/OpenSSL: how many times slower the C core is; pure-MP/C: the fallback on")
    print("   MicroPython against the C core; the MicroPython column uses cryptolib for AES)")


if __name__ == "__main__":
    main()
