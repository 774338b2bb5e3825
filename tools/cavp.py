"""NIST CAVP response files from the PyPI package cryptography-vectors,
reduced to the cases this project uses (AES-128-GCM, P-256 with SHA-256)."""
import hashlib
import os

import cryptography_vectors

BASE = os.path.dirname(cryptography_vectors.__file__)


def _path(*p):
    return os.path.join(BASE, *p)


def _records(path, section=None):
    """Yield dicts of KEY = value blocks; section limits to a [..] header."""
    cur, active = {}, section is None
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if line.startswith("["):
                if cur:
                    if active:
                        yield cur
                    cur = {}
                if "=" not in line:
                    active = section is None or line == section
                continue
            if not line or line.startswith("#"):
                if cur and "=" not in line and line == "":
                    if active:
                        yield cur
                    cur = {}
                continue
            if line == "FAIL":
                cur["FAIL"] = True
            elif "=" in line:
                k, v = line.split("=", 1)
                cur[k.strip()] = v.strip()
    if cur and active:
        yield cur


def _hex(v):
    return bytes.fromhex(v) if v else b""


def gcm(kind):
    """AES-128-GCM: kind 'encrypt' or 'decrypt'. (key, iv, aad, pt, ct, tag, ok)."""
    name = "gcmEncryptExtIV128.rsp" if kind == "encrypt" else "gcmDecrypt128.rsp"
    for r in _records(_path("ciphers", "AES", "GCM", name)):
        if "Key" not in r or len(r["Key"]) != 32:
            continue
        yield (_hex(r["Key"]), _hex(r["IV"]), _hex(r["AAD"]), _hex(r.get("PT", "")),
               _hex(r["CT"]), _hex(r["Tag"]), not r.get("FAIL"))


def ecdsa_sigver():
    """(pub64, digest, sig64, valid) for [P-256,SHA-256]."""
    for r in _records(_path("asymmetric", "ECDSA", "FIPS_186-3", "SigVer.rsp"), "[P-256,SHA-256]"):
        if "Msg" in r:
            yield (_hex(r["Qx"]) + _hex(r["Qy"]), hashlib.sha256(_hex(r["Msg"])).digest(),
                   _hex(r["R"]) + _hex(r["S"]), r["Result"].startswith("P"))


def ecdsa_siggen():
    """(priv, pub64, digest, k, sig64) for [P-256,SHA-256]."""
    for r in _records(_path("asymmetric", "ECDSA", "FIPS_186-3", "SigGen.txt"), "[P-256,SHA-256]"):
        if "Msg" in r:
            yield (_hex(r["d"]), _hex(r["Qx"]) + _hex(r["Qy"]),
                   hashlib.sha256(_hex(r["Msg"])).digest(), _hex(r["k"]), _hex(r["R"]) + _hex(r["S"]))


def pkv():
    """(pub64-ish bytes, valid) for [P-256]; out-of-range coordinates keep their length."""
    for r in _records(_path("asymmetric", "ECDSA", "FIPS_186-3", "PKV.rsp"), "[P-256]"):
        if "Qx" in r:
            x, y = r["Qx"].rjust(64, "0"), r["Qy"].rjust(64, "0")
            yield x, y, r["Result"].startswith("P")


def ecdh():
    """(priv, peer pub64, Z, valid) for the P-256 static unified ZZ-only cases."""
    path = _path("asymmetric", "ECDH", "KASValidityTest_ECCStaticUnified_NOKC_ZZOnly_init.fax")
    for r in _records(path, "[EC - SHA256]"):
        if "dsIUT" in r:
            yield (_hex(r["dsIUT"]), _hex(r["QsCAVSx"]) + _hex(r["QsCAVSy"]), _hex(r["Z"]),
                   r["Result"].startswith("P"))
