"""Crypto benchmark table (make bench): C core (host build), pure-Python
fallback on CPython, pure-Python fallback on MicroPython, OpenSSL via
cryptography, side by side, with ratios."""
import json
import os
import sys
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


ROWS = (("gcm 64 B", "MB/s"), ("gcm 1024 B", "MB/s"), ("gcm 16384 B", "MB/s"),
        ("verify", "ms"), ("sign", "ms"), ("ecdh", "ms"))


def _median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2.0


def _cell(v):
    if not v:
        return "-"
    lo, med = min(v), _median(v)
    f = "%.3g" if max(v) < 100 else "%.0f"
    return f % lo if len(v) == 1 else (f + " / " + f) % (lo, med)


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(prog="python -m tools.bench_crypto",
                                 description="make bench: the crypto table")
    ap.add_argument("--repeat", type=int, default=3, help="runs per column (default 3)")
    ap.add_argument("--json", help="write the figures (min / median / runs, units) here")
    a = ap.parse_args(argv)
    la = os.getloadavg()
    names = ("C core", "pure CPython", "pure MicroPython", "OpenSSL")
    runs = {n: [] for n in names}
    for i in range(a.repeat):
        print("  crypto run %d of %d ..." % (i + 1, a.repeat), flush=True)
        runs["pure MicroPython"].append(json.loads(run_script(
            "micropython", "bench_crypto.py").strip().splitlines()[-1]))
        runs["C core"].append(python_core(native))
        runs["pure CPython"].append(python_core(pure))
        runs["OpenSSL"].append(openssl())
    print("== Crypto (x86-64 host; GCM in MB/s, higher is better; ECC in ms per operation, "
          "lower is better)")
    print("machine: load average %.2f / %.2f / %.2f (1 / 5 / 15 min) on %d CPUs; %d repeat%s; "
          "cells: min / median" % (la[0], la[1], la[2], os.cpu_count() or 0, a.repeat,
                                   "" if a.repeat == 1 else "s"))
    print("%-12s %-5s" % ("operation", "unit") + "".join("%20s" % c for c in names) +
          "   C/OpenSSL  pure-MP/C")
    out = {"machine": {"load_avg": [round(x, 2) for x in la], "cpus": os.cpu_count()},
           "repeats": a.repeat, "figures": {}}
    for row, unit in ROWS:
        cols = [[r[row] for r in runs[n] if r.get(row) is not None] for n in names]
        line = "%-12s %-5s" % (row, unit) + "".join("%20s" % _cell(v) for v in cols)
        med = [_median(v) if v else None for v in cols]
        if None not in med:
            if unit == "MB/s":
                line += "   %9.2fx %9.0fx" % (med[3] / med[0], med[0] / med[2])
            else:
                line += "   %9.1fx %9.0fx" % (med[0] / med[3], med[2] / med[0])
        print(line)
        out["figures"]["crypto." + row.replace(" ", "_")] = {
            "label": row, "unit": unit, **{n: {"min": min(v), "median": _median(v),
                                              "runs": v} if v else None
                                           for n, v in zip(names, cols)}}
    print("  (ratios of the medians. C/OpenSSL: how many times slower the C core is; pure-MP/C:")
    print("   the fallback on MicroPython against the C core; the MicroPython column uses")
    print("   cryptolib for AES)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1, sort_keys=True)
        print("wrote %s" % a.json)


if __name__ == "__main__":
    main()
