"""Supplier side of GBCS prepayment top-up (§14): make UTRNs for a meter.

    python -m tools.utrn --pounds 10 --counter 1000           (the demo meter's test keys)
    python -m tools.utrn --pence 250 --counter 1001 --legacy-aad
    python -m tools.utrn --pounds 5 --counter 1002 --v081-layout

PTUT high word (bits 63-32): by default the later-GBCS layout that the DCC
RTDS CS01a vectors and deployed head-ends use, 7 zero bits | truncated
counter (10) | value class (2) | value (13); with --v081-layout the GBCS
v0.8.1 Table 14.3.2 one, lead 000 | sub-class 0000 | value class (2) |
value (13) | truncated counter (10).

Written independently of the firmware (OpenSSL through `cryptography` for
ECDH and GMAC), so tests of the meter's validation are not circular. The
test keys are the GBCS §18.4 example entities: SupplierA's KA key stands in
for its prepayment top-up key (cell {supplier, keyAgreement,
prePaymentTopUp}) and DeviceA is the meter. Never use them in the field.
"""
import argparse
import hashlib
import json
import os
import struct

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PPTD_OFFSET = 7394156990786306048
_ALG = bytes.fromhex("60857406080300")          # AES-GCM-128 AlgorithmID (§4.3.3.3)

# §14.8 tables (Table 14.8a rows 0-7, 14.8b, 14.8c), as printed in the spec
_P = ["0123456789", "1576283094", "5803796142", "8916043527", "9453126870",
      "4286573901", "2793806415", "7046913258"]
_D = ["0123456789", "1234067895", "2340178956", "3401289567", "4012395678",
      "5987604321", "6598710432", "7659821043", "8765932104", "9876543210"]
_I = "1267583094"


def test_keys():
    v = json.load(open(os.path.join(ROOT, "host_tests", "vectors", "gbcs-18.4.json")))
    sup, dev = v["entities"]["SupplierA"], v["entities"]["DeviceA"]
    return {"supplier_id": sup["entity_id"], "supplier_topup_priv": sup["ka_priv"],
            "supplier_topup_pub": sup["ka_pub"][2:], "entity_id": dev["entity_id"],
            "ka_priv": dev["ka_priv"], "ka_pub": dev["ka_pub"][2:]}


def meter_config(keys=None):
    """The meter configuration entries that hold its side of the keys."""
    k = keys or test_keys()
    return {n: k[n] for n in ("entity_id", "ka_priv", "supplier_id", "supplier_topup_pub")}


def check_digit(digits19):
    c, k = 0, 4
    for ch in digits19:
        lv = int(_P[k][int(ch)])
        k = (k + 1) % 8
        c = int(_D[c][lv])
    return int(_I[c])


def _z(priv_hex, pub_hex):
    priv = ec.derive_private_key(int(priv_hex, 16), ec.SECP256R1())
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(),
                                                       bytes.fromhex("04" + pub_hex))
    return priv.exchange(ec.ECDH(), pub)


def ptut_mac(keys, counter, ptut_high, legacy=False):
    """32 least significant bits of the GMAC over 0x11 [|| 00 x5] ||
    Message Identifier || PTUT[63:32] (§14.3.5; the five zero octets are
    the later-GBCS form)."""
    sup = bytes.fromhex(keys["supplier_id"])
    dev = bytes.fromhex(keys["entity_id"])
    oc = struct.pack(">Q", counter << 32)
    z = _z(keys["supplier_topup_priv"], keys["ka_pub"])
    info = _ALG + sup + b"\x09" + b"\x01" + oc + dev
    key = hashlib.sha256(b"\x00\x00\x00\x01" + z + info).digest()[:16]
    aad = b"\x11" + (b"" if legacy else bytes(5)) + sup + dev + b"\x01" + oc + \
        struct.pack(">I", ptut_high)
    tag = AESGCM(key).encrypt(sup + bytes(4), b"", aad)
    return struct.unpack(">I", tag[12:16])[0]


def ptut_high(counter, vc, value, sub_class=0, v081_layout=False):
    """The PTUT's 32 most significant bits. sub_class sets bits 60-57
    (zero in both layouts; non-zero only to make bad codes)."""
    if v081_layout:                                   # GBCS v0.8.1 Tbl 14.3.2
        return (sub_class << 25) | (vc << 23) | (value << 10) | (counter & 0x3FF)
    return (sub_class << 25) | ((counter & 0x3FF) << 15) | (vc << 13) | value


def make_utrn(counter, pence=None, pounds=None, keys=None, legacy=False, sub_class=0,
              value_class=None, v081_layout=False):
    """The 20-digit UTRN for a top-up of pence (class 00) or pounds (01)
    with UTRN counter `counter` (the originator counter's 32 MS bits), in
    the later-GBCS PTUT layout unless v081_layout."""
    keys = keys or test_keys()
    if pounds is not None:
        vc, value = 1, pounds
    else:
        vc, value = 0, pence
    if value_class is not None:
        vc = value_class
    if not 0 <= value < 8192:
        raise ValueError("value out of range (13 bits)")
    high = ptut_high(counter, vc, value, sub_class, v081_layout)
    ptut = (high << 32) | ptut_mac(keys, counter, high, legacy)
    digits = "%019d" % (ptut + PPTD_OFFSET)
    return digits + str(check_digit(digits))


def describe(keys, code, counter, pence=None, pounds=None, v081_layout=False, legacy=False):
    """What a code is for, in words (tools/utrn.py prints it on stderr)."""
    demo = keys == test_keys()
    amount = "£%d.00" % pounds if pounds is not None else "%dp" % pence
    lines = [
        "UTRN for a %s top-up, UTRN counter %d (%s PTUT layout%s)" % (
            amount, counter, "GBCS v0.8.1" if v081_layout else "later-GBCS",
            ", v0.8.1 MAC input" if legacy else ""),
        "  meter (device) entity id %s%s" % (
            keys["entity_id"], ": GBCS §18.4 example DeviceA, the demo meter of make run / "
            "make play" if demo else ""),
        "  supplier entity id %s, top-up key %s...%s" % (
            keys["supplier_id"], keys["supplier_topup_pub"][:8], " (SupplierA's KA key: "
            "test keys, never in the field)" if demo else ""),
        "  %s" % " ".join(code[i:i + 4] for i in range(0, 20, 4)),
        "  key it in on the virtual board (make play):  topup %s" % code,
        "  each counter works once (GBCS §14.1 UTRN Counter Cache): next time --counter %d"
        % (counter + 1),
    ]
    return "\n".join(lines)


def main():
    import sys
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] + " The code goes to stdout, what it is for to "
        "stderr.")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--pence", type=int)
    g.add_argument("--pounds", type=int)
    ap.add_argument("--counter", type=int, default=1000,
                    help="UTRN counter (32 bits; each is accepted once; default 1000)")
    ap.add_argument("--keys", help="JSON file of a meter's key set (keys of test_keys()); "
                    "default: the demo meter's test keys (GBCS §18.4 DeviceA / SupplierA)")
    ap.add_argument("--legacy-aad", action="store_true", help="GBCS v0.8.1 AAD (no zero octets)")
    ap.add_argument("--v081-layout", action="store_true",
                    help="GBCS v0.8.1 PTUT bit layout (class 56-55, value 54-42, counter 41-32)")
    ap.add_argument("-q", "--quiet", action="store_true", help="the code only")
    a = ap.parse_args()
    keys = test_keys()
    if a.keys:
        with open(a.keys) as f:
            keys = json.load(f)
    code = make_utrn(a.counter, a.pence, a.pounds, keys=keys, legacy=a.legacy_aad,
                     v081_layout=a.v081_layout)
    print(code)
    if not a.quiet:
        sys.stdout.flush()
        print(describe(keys, code, a.counter, a.pence, a.pounds, a.v081_layout, a.legacy_aad),
              file=sys.stderr)


if __name__ == "__main__":
    main()
