"""The C core compiled with AddressSanitizer and UndefinedBehaviorSanitizer,
run over NIST CAVP, GBCS and edge-case vectors by its own C driver."""
import hashlib
import json
import os
import shutil
import subprocess

import pytest

from runtimes import ROOT
from tools import cavp
from firmware.crypto import pure

SRC = os.path.join(ROOT, "lib", "esmecrypto")
H = bytes.fromhex


def _x(b):
    return b.hex() if b else "-"


def write_vectors(path):
    lines = []
    for key, iv, aad, pt, ct, tag, ok in cavp.gcm("encrypt"):
        lines.append("G %s %s %s %s %s %s" % tuple(map(_x, (key, iv, aad, pt, ct, tag))))
    for key, iv, aad, pt, ct, tag, ok in cavp.gcm("decrypt"):
        if not ok:
            lines.append("F %s %s %s %s %s" % tuple(map(_x, (key, iv, aad, ct, tag))))
    for pub, digest, sig, valid in cavp.ecdsa_sigver():
        lines.append("V %s %s %s %d" % (pub.hex(), digest.hex(), sig.hex(), valid))
    for priv, pub, digest, k, sig in cavp.ecdsa_siggen():
        lines.append("S %s %s %s %s %s" % tuple(x.hex() for x in (priv, pub, digest, k, sig)))
    for priv, peer, z, valid in cavp.ecdh():
        if valid:
            lines.append("E %s %s %s" % (priv.hex(), peer.hex(), z.hex()))
        elif pure.validate_pub(peer):          # a wrong Z: ours must differ
            lines.append("N %s %s %s" % (priv.hex(), peer.hex(), z.hex()))
        else:                                  # an invalid peer key: refused
            lines.append("E %s %s -" % (priv.hex(), peer.hex()))
    for x, y, valid in cavp.pkv():
        if len(x) == 64 and len(y) == 64:
            lines.append("K %s%s %d" % (x, y, valid))
    g = json.load(open(os.path.join(ROOT, "host_tests", "vectors", "gbcs-18.4.json")))
    ent = g["entities"]
    lines.append("E %s %s %s" % (ent["DeviceA"]["ka_priv"], ent["ACB"]["ka_pub"][2:],
                                 g["Z"]["ACB,DeviceA"]))
    for name in ("SupplierA", "DeviceA"):
        pub = H(ent[name]["ds_pub"][2:])
        x, y = pub[:32], pub[32:]
        lines.append("D %s %s" % ((bytes([2 + (y[-1] & 1)]) + x).hex(), pub.hex()))
    x = 1                                      # an x with no point above it
    while pow((x ** 3 - 3 * x + pure.B) % pure.P, (pure.P - 1) // 2, pure.P) == 1:
        x += 1
    lines.append("D 02%s -" % x.to_bytes(32, "big").hex())
    # edge cases: zero and out-of-range scalars, point at x = p
    n = pure.N.to_bytes(32, "big")
    lines.append("E %s %s -" % (n.hex(), ent["ACB"]["ka_pub"][2:]))
    lines.append("E %s %s -" % ("00" * 32, ent["ACB"]["ka_pub"][2:]))
    lines.append("K %s%s 0" % (pure.P.to_bytes(32, "big").hex(), "00" * 32))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return len(lines)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_c_core_under_sanitizers(tmp_path):
    exe = str(tmp_path / "test_vectors")
    cmd = ["gcc", "-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror",
           "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
           os.path.join(SRC, "tests", "test_vectors.c"), os.path.join(SRC, "esme_aes.c"),
           os.path.join(SRC, "esme_gcm.c"), os.path.join(SRC, "esme_p256.c"), "-o", exe]
    subprocess.run(cmd, check=True)
    n = write_vectors(str(tmp_path / "v.txt"))
    p = subprocess.run([exe, str(tmp_path / "v.txt")], capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.strip() == "%d passed, 0 failed" % n
