"""Host side of the GBCS message layer (CPython, `cryptography`): build,
sign and MAC commands the way a DCC head-end and ACB do, parse and verify
the meter's responses and alerts. Keys come from the RTDS keystore
(/work/shared/vectors/rtds/keystore/keys.json, or $GBCS_KEYS).

API (stable; the bench's `gbcs` scenario step calls these):

  build_command(message_code, payload, counter, *, originator=SUPPLIER,
                target=DEVICE, critical=False, date_time=b"", srp=None,
                signer=None, keys=None) -> bytes
      A complete GBCS command: MAC Header ‖ general-signing APDU ‖
      [40 ‖ KRP signature | 00] ‖ ACB MAC(12). message_code int, payload
      bytes (DLMS access-request or ASN.1), counter int (64-bit OC),
      originator/target 16 hex digits, critical: sign with the
      originator's DS private key (signer: override, 32-octet key),
      srp: (srp_id_hex, srp_counter) supplementary remote party fields.
      MAC: Z(ACB KA private, device KA public) per GBCS §4.3.3 with the
      later (RTDS) AAD `11 00 00 00 00 00 ‖ APDU`.

  parse(buf, *, keys=None, device_ds_pub=None) -> dict
      Fields of a command, response or alert: kind ("mac" | "signed"), cra
      (1 command, 2 response, 3 alert), counter, originator, recipient
      (hex), date_time (hex or ""), message_code, srp_id, srp_counter,
      supp_orig_counter, payload (hex), signature (hex or ""), mac (hex or
      ""), mac_ok / sig_ok (True/False, None when not checkable), and
      "dlms" (decoded access-response results, when the payload is one).

  pretty(fields) -> str            one field a line
  dlms_get(counter, [(class, obis6, attr)]) -> payload
  dlms_action(counter, [(class, obis6, method, data)]) -> payload
  dlms_set(counter, [(class, obis6, attr, data)]) -> payload
  cs01a_payload(counter, utrn20) / ecs52_payload(counter) /
  ecs04b_payload(counter) / ecs12_payload(counter, dlms_datetime12)
  z_value(entity_hex) -> Z shared with the device (keys.json)
  load_keys(path=None) -> dict
"""
import json
import os
import struct
import hashlib

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (encode_dss_signature,
                                                             decode_dss_signature)
from cryptography.hazmat.primitives import hashes

DEVICE = "00DB1234567890A0"
SUPPLIER = "90B3D51F30010000"
NETWORK_OPERATOR = "90B3D51F30020000"
ACB = "90B3D51F30000002"
ROLES = {1: "recovery", 2: "supplier", 3: "networkOperator", 4: "accessControlBroker",
         5: "transitionalCoS", 8: "loadController"}
KEYS_PATH = os.environ.get("GBCS_KEYS", "/work/shared/vectors/rtds/keystore/keys.json")
_AAD_PREFIX = b"\x11\x00\x00\x00\x00\x00"     # RTDS / later GBCS (vectors/README.md)
_ALG_ID = bytes.fromhex("60857406080300")
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

_keys = None


def load_keys(path=None):
    global _keys
    if path is None and _keys is not None:
        return _keys
    with open(path or KEYS_PATH) as f:
        k = json.load(f)
    if path is None:
        _keys = k
    return k


def _key(keys, entity, usage):
    for name, e in keys["keys"].items():
        if e["entity_id"] == entity.upper() and e["usage"] == usage and "-pp-" not in name:
            return e
    raise KeyError("%s %s" % (entity, usage))


def z_value(entity, keys=None):
    """Z between entity's KA key and the device KA key (keys.json)."""
    keys = keys or load_keys()
    for ent in _zs(keys):
        if ent[0] == entity.upper():
            return ent[1]
    # compute: entity KA private with the device KA public
    priv = _key(keys, entity, "keyAgreement")["private_key"]
    pub = _key(keys, DEVICE, "keyAgreement")["public_key"]
    return ecdh(bytes.fromhex(priv), bytes.fromhex(pub))


def _zs(keys):
    out = []
    for k, v in keys.items():
        if isinstance(v, dict) and k.startswith("Z_with_"):
            for name, e in v.items():
                if "-pp-" not in name:
                    out.append((e["remote_party"].upper(), bytes.fromhex(e["Z"])))
    return out


def ecdh(priv, pub):
    sk = ec.derive_private_key(int.from_bytes(priv, "big"), ec.SECP256R1())
    if len(pub) == 64:
        pub = b"\x04" + pub
    pk = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pub)
    return sk.exchange(ec.ECDH(), pk)


def kdf(z, originator, tx_id, recipient):
    """GBCS §4.3.3.3: single-step KDF, SHA-256, OtherInfo concatenation."""
    info = _ALG_ID + originator + b"\x09" + tx_id + recipient
    return hashlib.sha256(b"\x00\x00\x00\x01" + z + info).digest()[:16]


def gmac(key, iv, aad):
    return AESGCM(key).encrypt(iv, b"", aad)[:12]


def sign(priv, data):
    """ECDSA-P256-SHA256, GBCS §4.3.3.2 deterministic nonce, r ‖ s."""
    d = int.from_bytes(priv, "big")
    e = int.from_bytes(hashlib.sha256(data).digest(), "big")
    pad = b""
    while True:
        k = int.from_bytes(hashlib.sha256(data + priv + pad).digest(), "big")
        if 0 < k < _N:
            r = ec.derive_private_key(k, ec.SECP256R1()).public_key().public_numbers().x % _N
            s = pow(k, -1, _N) * (e + r * d) % _N
            if r and s:
                return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        pad += b"\x00"


def verify(pub, data, sig):
    if len(pub) == 64:
        pub = b"\x04" + pub
    pk = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pub)
    try:
        pk.verify(encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                       int.from_bytes(sig[32:], "big")),
                  data, ec.ECDSA(hashes.SHA256()))
        return True
    except Exception:
        return False


def enc_len(n):
    """Later GBCS BER lengths: xx, 81 xx, 82 xx xx."""
    if n < 0x80:
        return bytes([n])
    if n < 0x100:
        return bytes([0x81, n])
    return bytes([0x82, n >> 8, n & 0xFF])


def dec_len(b, i):
    """(length, next offset); accepts the v0.8.1 82/83 forms too."""
    n = b[i]
    if n < 0x80:
        return n, i + 1
    k = n & 0x7F
    if k < 1 or k > 3:
        raise ValueError("length form %02X" % n)
    return int.from_bytes(b[i + 1:i + 1 + k], "big"), i + 1 + k


def apdu(cra, counter, originator, recipient, message_code, payload, date_time=b"",
         srp=None, supp_counter=None):
    """The general-signing APDU up to the end of the payload (no sig octet)."""
    oi = struct.pack(">H", message_code)
    if srp:
        oi += bytes.fromhex(srp[0]) + struct.pack(">Q", srp[1])
    if supp_counter is not None:
        oi += struct.pack(">Q", supp_counter)
    return (b"\xDF\x09" + bytes([cra]) + struct.pack(">Q", counter) + b"\x08" + originator +
            b"\x08" + recipient + bytes([len(date_time)]) + date_time + enc_len(len(oi)) + oi +
            enc_len(len(payload)) + payload)


def build_command(message_code, payload, counter, *, originator=SUPPLIER, target=DEVICE,
                  critical=False, date_time=b"", srp=None, signer=None, keys=None):
    keys = keys or load_keys()
    orig = bytes.fromhex(originator)
    tgt = bytes.fromhex(target)
    gs = apdu(1, counter, orig, tgt, message_code, payload, date_time, srp)
    if critical:
        if signer is None:
            signer = bytes.fromhex(_key(keys, originator, "digitalSignature")["private_key"])
        gs += b"\x40" + sign(signer, gs[1:])
    else:
        gs += b"\x00"
    z = z_value(ACB, keys)
    k = kdf(z, orig, b"\x01" + struct.pack(">Q", counter), tgt)
    mac = gmac(k, orig + b"\x00" * 4, _AAD_PREFIX + gs)
    body = b"\x11\x00\x00\x00\x00" + gs + mac
    return b"\xDD\x00\x00\x00\x00\x00\x00" + enc_len(len(body)) + body


def parse(buf, *, keys=None, device_ds_pub=None):
    b = bytes(buf)
    f = {"kind": "signed", "mac": "", "mac_ok": None, "sig_ok": None}
    i = 0
    if b[:2] == b"\xDD\x00":
        if b[:7] != b"\xDD\x00\x00\x00\x00\x00\x00":
            raise ValueError("MAC header")
        n, i = dec_len(b, 7)
        if i + n != len(b) or b[i:i + 5] != b"\x11\x00\x00\x00\x00":
            raise ValueError("ciphered service length / security header")
        i += 5
        f["kind"] = "mac"
    gs0 = i
    if b[i:i + 3] != b"\xDF\x09" + b[i + 2:i + 3] or b[i:i + 2] != b"\xDF\x09":
        raise ValueError("general signing")
    f["cra"] = b[i + 2]
    f["counter"] = int.from_bytes(b[i + 3:i + 11], "big")
    i += 11
    if b[i] != 8 or b[i + 9] != 8:
        raise ValueError("system titles")
    f["originator"] = b[i + 1:i + 9].hex().upper()
    f["recipient"] = b[i + 10:i + 18].hex().upper()
    i += 18
    dl = b[i]
    f["date_time"] = b[i + 1:i + 1 + dl].hex().upper()
    i += 1 + dl
    ol, i = dec_len(b, i)
    oi = b[i:i + ol]
    i += ol
    f["message_code"] = int.from_bytes(oi[:2], "big")
    f["srp_id"] = oi[2:10].hex().upper() if ol >= 10 else ""
    f["srp_counter"] = int.from_bytes(oi[10:18], "big") if ol >= 18 else None
    f["supp_orig_counter"] = int.from_bytes(oi[18:26], "big") if ol >= 26 else None
    pl, i = dec_len(b, i)
    f["payload"] = b[i:i + pl].hex().upper()
    i += pl
    end_signed = i
    sl = b[i]
    f["signature"] = b[i + 1:i + 1 + sl].hex().upper()
    i += 1 + sl
    gs_end = i
    if f["kind"] == "mac":
        f["mac"] = b[i:i + 12].hex().upper()
        i += 12
    if i != len(b):
        raise ValueError("trailing octets")
    keys = keys or load_keys()
    orig = bytes.fromhex(f["originator"])
    rec = bytes.fromhex(f["recipient"])
    if f["kind"] == "mac":
        try:
            if f["cra"] == 1:
                z = z_value(ACB, keys)
            else:
                z = z_value(f["recipient"], keys)
            k = kdf(z, orig, bytes([f["cra"]]) + b[gs0 + 3:gs0 + 11], rec)
            f["mac_ok"] = gmac(k, orig + b"\x00" * 4, _AAD_PREFIX + b[gs0:gs_end]) == \
                bytes.fromhex(f["mac"])
        except KeyError:
            pass
    if sl == 64:
        pub = device_ds_pub
        if pub is None:
            try:
                pub = bytes.fromhex(_key(keys, f["originator"], "digitalSignature")["public_key"])
            except KeyError:
                pub = None
        if pub is not None:
            f["sig_ok"] = verify(pub, b[gs0 + 1:end_signed], bytes.fromhex(f["signature"]))
    if pl and b[end_signed - pl] == 0xDA:
        try:
            f["dlms"] = dlms_response(b[end_signed - pl:end_signed])
        except (IndexError, ValueError):
            pass
    return f


def _data_len(b, i):
    """Length of one A-XDR Data item at b[i] (enough for responses)."""
    t = b[i]
    fixed = {0: 0, 3: 1, 5: 4, 6: 4, 0x0D: 1, 0x0F: 1, 0x10: 2, 0x11: 1, 0x12: 2, 0x14: 8,
             0x15: 8, 0x16: 1, 0x17: 4, 0x18: 8, 0x19: 12, 0x1A: 5, 0x1B: 4}
    if t in fixed:
        return 1 + fixed[t]
    if t in (9, 10, 0x0C):
        n, j = dec_len(b, i + 1)
        return j - i + n
    if t == 4:
        n, j = dec_len(b, i + 1)
        return j - i + (n + 7) // 8
    if t == 0x13:                      # compact array: type description, contents
        j = _type_desc(b, i + 1)
        n, j = dec_len(b, j)
        return j - i + n
    if t in (1, 2):
        n, j = dec_len(b, i + 1)
        for _ in range(n):
            j += _data_len(b, j)
        return j - i
    raise ValueError("data type %02X" % t)


def _type_desc(b, i):
    t = b[i]
    if t == 2:
        n = b[i + 1]
        i += 2
        for _ in range(n):
            i = _type_desc(b, i)
        return i
    if t == 1:
        return _type_desc(b, i + 3)
    return i + 1


def dlms_response(p):
    """An access-response: {"invoke": int, "data": [hex], "results": [(kind, code)]}."""
    if p[0] != 0xDA:
        raise ValueError("not an access-response")
    inv = int.from_bytes(p[1:5], "big")
    i = 5
    dl = p[i]
    i += 1 + dl
    if p[i]:
        raise ValueError("request specification present")
    i += 1
    n = p[i]
    i += 1
    data = []
    for _ in range(n):
        k = _data_len(p, i)
        data.append(p[i:i + k].hex().upper())
        i += k
    m = p[i]
    i += 1
    res = []
    for _ in range(m):
        res.append((p[i], p[i + 1]))
        i += 2
    return {"invoke": inv, "data": data, "results": res}


def _req(counter, specs, data):
    return (b"\xD9" + bytes([0x20]) + (counter & 0xFFFFFF).to_bytes(3, "big") + b"\x00" +
            bytes([len(specs)]) + b"".join(specs) + bytes([len(data)]) + b"".join(data))


def dlms_get(counter, items):
    return _req(counter, [b"\x01" + struct.pack(">H", c) + o + bytes([a]) for c, o, a in items],
                [b"\x00"] * len(items))


def dlms_set(counter, items):
    return _req(counter, [b"\x02" + struct.pack(">H", c) + o + bytes([a]) for c, o, a, _ in items],
                [d for _, _, _, d in items])


def dlms_action(counter, items):
    return _req(counter, [b"\x03" + struct.pack(">H", c) + o + bytes([a]) for c, o, a, _ in items],
                [d for _, _, _, d in items])


def cs01a_payload(counter, utrn):
    """Token Gateway (class 115) 0-0:19.40.0.255 method 1, octet-string(20) ASCII digits."""
    u = utrn.encode() if isinstance(utrn, str) else bytes(utrn)
    return dlms_action(counter, [(115, bytes.fromhex("0000132800FF"), 1, b"\x09\x14" + u)])


def ecs52_payload(counter):
    return dlms_get(counter, [(1, bytes.fromhex("00000002 01FF".replace(" ", "")), 2)])


def ecs04b_payload(counter):
    return dlms_action(counter, [(112, bytes.fromhex("0000130A%02XFF" % k), 2, b"\x05\x00\x00\x00\x00")
                                 for k in range(3)])


def ecs12_payload(counter, dt12):
    return dlms_set(counter, [(1, bytes.fromhex("00005E2C0302"), 2, b"\x09\x0C" + dt12)])


def pretty(f):
    out = []
    for k in ("kind", "cra", "counter", "originator", "recipient", "date_time", "message_code",
              "srp_id", "srp_counter", "supp_orig_counter", "payload", "signature", "mac",
              "mac_ok", "sig_ok", "dlms"):
        if k in f and f[k] not in ("", None):
            v = f[k]
            if k == "message_code":
                v = "0x%04X" % v
            out.append("%-18s %s" % (k, v))
    return "\n".join(out)


if __name__ == "__main__":
    import sys
    for a in sys.argv[1:]:
        h = open(a).read().strip() if os.path.exists(a) else a
        print(pretty(parse(bytes.fromhex(h))))
        print()


# -- meter under test: the RTDS keystore (vectors/rtds/README.md) ----------------------
# (role, usage (0 DS, 4 KA), cell usage, key name in keys.json)
RTDS_CELLS = ((2, 0, 0, "90b3d51f30010000-ds"), (2, 4, 0, "90b3d51f30010000-ka"),
              (2, 4, 1, "90b3d51f30010000-pp-ka"), (3, 0, 0, "90b3d51f30020000-ds"),
              (3, 4, 0, "90b3d51f30020000-ka"), (4, 4, 0, "90b3d51f30000002-ka"),
              (5, 0, 0, "90b3d51f30000004-ds"), (1, 0, 0, "90b3d51f30000001-ds"))
# the meter's own test DS key (the RTDS device's is unpublished): any fixed key
TEST_DS_PRIV = hashlib.sha256(b"OpenESME GBCS test device DS key").digest()


def rtds_keystore(keys=None, cells=RTDS_CELLS):
    """keystore.install arguments (entity, ka_priv, ds_priv, cells, zs) for
    the RTDS ESME: the trust-anchor cells of the RTDS CS02a response, the
    Z values of keys.json as the test hook (no KA private key), and
    TEST_DS_PRIV."""
    keys = keys or load_keys()
    out = []
    for role, usage, cu, name in cells:
        e = keys["keys"][name]
        out.append((role, usage, cu, bytes.fromhex(e["entity_id"]),
                    bytes.fromhex(e["public_key"])[1:], bytes.fromhex(e["subject_key_identifier"])))
    zs = {}
    for name, e in keys["Z_with_" + DEVICE].items():
        zs[bytes.fromhex(e["remote_party"]) + bytes([1 if "-pp-" in name else 0])] = \
            bytes.fromhex(e["Z"])
    return bytes.fromhex(DEVICE), bytes(32), TEST_DS_PRIV, out, zs


def keystore_json(ks=None):
    """keystore.install arguments (rtds_keystore() by default) as JSON-able
    hex, for the scripts that run on both runtimes (host_tests/mp/common.py
    install_keystore reads it back)."""
    e, ka, ds, cells, zs = ks or rtds_keystore()
    return {"entity": e.hex(), "ka_priv": ka.hex(), "ds_priv": ds.hex(),
            "cells": [[c[0], c[1], c[2], c[3].hex(), c[4].hex(), c[5].hex()] for c in cells],
            "zs": dict((k.hex(), v.hex()) for k, v in zs.items())}


def test_ds_pub():
    pk = ec.derive_private_key(int.from_bytes(TEST_DS_PRIV, "big"), ec.SECP256R1()).public_key()
    n = pk.public_numbers()
    return n.x.to_bytes(32, "big") + n.y.to_bytes(32, "big")
