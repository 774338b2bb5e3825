"""Crypto cores against NIST CAVP vectors (cryptography-vectors), the GBCS
§18.4 worked examples, and OpenSSL (cryptography) on random input.

Cores: the C core through its host build (`native`) and the pure-Python
fallback (`pure`); the MicroPython run of the fallback is in
test_crypto_mp.py."""
import hashlib
import json
import os
import random
import sys

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from runtimes import ROOT
from tools import cavp
import firmware.crypto as API
from firmware.crypto import pure

sys.path.insert(0, os.path.join(ROOT, "lib", "esmecrypto", "host"))
import esmecrypto as native        # noqa: E402  (build/libesmecrypto.so, built by make)

CORES = {"native": native, "pure": pure}
VECTORS = json.load(open(os.path.join(ROOT, "host_tests", "vectors", "gbcs-18.4.json")))
H = bytes.fromhex


@pytest.fixture(params=sorted(CORES))
def core(request):
    return CORES[request.param]


# -- NIST CAVP ----------------------------------------------------------------------------
def _subset(items, core, every):
    return items if core is native else items[::every]


def test_gcm_encrypt_cavp(core):
    n = 0
    for key, iv, aad, pt, ct, tag, _ in _subset(list(cavp.gcm("encrypt")), core, 25):
        got_ct, got_tag = core.gcm_encrypt(key, iv, aad, pt, len(tag))
        assert (got_ct, got_tag) == (ct, tag)
        n += 1
    assert n >= 300


def test_gcm_decrypt_cavp(core):
    fails = 0
    for key, iv, aad, pt, ct, tag, ok in _subset(list(cavp.gcm("decrypt")), core, 25):
        if ok:
            assert core.gcm_decrypt(key, iv, aad, ct, tag) == pt
        else:
            with pytest.raises(ValueError, match="tag"):
                core.gcm_decrypt(key, iv, aad, ct, tag)
            fails += 1
    assert fails > 50


def test_ecdsa_sigver_cavp(core):
    for pub, digest, sig, valid in cavp.ecdsa_sigver():
        assert core.ecdsa_verify(pub, digest, sig) is valid


def test_ecdsa_siggen_cavp(core):
    for priv, pub, digest, k, sig in cavp.ecdsa_siggen():
        assert core.pubkey(priv) == pub
        assert core.ecdsa_sign(priv, digest, k) == sig
        assert core.ecdsa_verify(pub, digest, sig)


def test_public_key_validation_cavp(core):
    for x, y, valid in cavp.pkv():
        if len(x) != 64 or len(y) != 64:
            assert not valid          # a coordinate longer than 32 octets
            continue
        assert core.validate_pub(H(x) + H(y)) is valid


def test_ecdh_cavp(core):
    for priv, peer, z, valid in cavp.ecdh():
        if not core.validate_pub(peer):
            assert not valid
            with pytest.raises(ValueError):
                core.ecdh(priv, peer)
            continue
        assert (core.ecdh(priv, peer) == z) is valid


# -- GBCS §18.4 --------------------------------------------------------------------------------
E = {k: {f: H(v) if f != "entity_id" else H(v) for f, v in e.items()}
     for k, e in VECTORS["entities"].items()}


def _split_v1():
    msg = H(VECTORS["messages"]["V1_ECS04b_command"]["hex"])
    at = msg.index(b"\xdf\x09")
    gh = msg[at:at + 34]
    payload = msg[at + 34:at + 34 + 0x35]
    signed = b"\x01" + gh[3:11] + gh[12:20] + gh[21:29] + gh[31:33] + payload
    return gh, payload, signed


def test_gbcs_z_values(core):
    assert core.ecdh(E["DeviceA"]["ka_priv"], E["ACB"]["ka_pub"]).hex().upper() == \
        VECTORS["Z"]["ACB,DeviceA"]
    assert core.ecdh(E["SupplierA"]["ka_priv"], E["DeviceA"]["ka_pub"]).hex().upper() == \
        VECTORS["Z"]["SupplierA,DeviceA"]


def test_gbcs_signatures_with_deterministic_nonce(core):
    m = VECTORS["messages"]
    gh, payload, signed = _split_v1()
    k = hashlib.sha256(signed + E["SupplierA"]["ds_priv"]).digest()
    assert k.hex().upper() == m["V1_ECS04b_command"]["k"]
    sig = core.ecdsa_sign(E["SupplierA"]["ds_priv"], hashlib.sha256(signed).digest(), k)
    assert sig.hex().upper() == m["V1_ECS04b_command"]["krp_signature"]
    # V2: the device's response signature
    part = H(m["V2_ECS04b_response"]["signed_part_hex"])
    signed2 = b"\x02" + part[3:11] + part[12:20] + part[21:29] + part[31:33] + part[34:]
    k2 = hashlib.sha256(signed2 + E["DeviceA"]["ds_priv"]).digest()
    assert k2.hex().upper() == m["V2_ECS04b_response"]["k"]
    sig2 = core.ecdsa_sign(E["DeviceA"]["ds_priv"], hashlib.sha256(signed2).digest(), k2)
    assert sig2.hex().upper() == m["V2_ECS04b_response"]["device_signature"]
    assert core.ecdsa_verify(E["DeviceA"]["ds_pub"], hashlib.sha256(signed2).digest(), sig2)


def test_gbcs_kdf_and_macs(core, monkeypatch):
    m = VECTORS["messages"]
    gh, payload, signed = _split_v1()
    z = core.ecdh(E["DeviceA"]["ka_priv"], E["ACB"]["ka_pub"])
    key = API.kdf(z, API.other_info(H("123456789ABCDEF0"), b"\x01" + gh[3:11], H("FFFFFFFFFFFFFFFE")))
    assert key.hex().upper() == m["V1_ECS04b_command"]["acb_mac_key"]
    aad = b"\x11" + gh + payload + b"\x40" + H(m["V1_ECS04b_command"]["krp_signature"])
    mac = core.gmac(key, H("123456789ABCDEF0") + bytes(4), aad, 12)
    assert mac.hex().upper() == m["V1_ECS04b_command"]["mac"]
    # V3 (ECS12 command) and V4 (its response): GH ‖ payload ‖ 00 under the MAC
    for name, orig, recip, tx, zkey in (
            ("V3_ECS12_command", "123456789ABCDEF0", "FFFFFFFFFFFFFFFE", b"\x01", "ACB"),
            ("V4_ECS12_response", "FFFFFFFFFFFFFFFE", "123456789ABCDEF0", b"\x02", "SupplierA")):
        msg = H(m[name]["hex"])
        at = msg.index(b"\xdf\x09")
        body, got_mac = msg[at:-12], msg[-12:]
        z = core.ecdh(E["DeviceA"]["ka_priv"], E[zkey]["ka_pub"])
        key = API.kdf(z, API.other_info(H(orig), tx + body[3:11], H(recip)))
        assert key.hex().upper() == m[name].get("acb_mac_key", m[name].get("mac_key"))
        assert core.gmac(key, H(orig) + bytes(4), b"\x11" + body, 12) == got_mac


def test_api_gbcs_sign_matches_vector():
    gh, payload, signed = _split_v1()
    sig = API.ecdsa_sign_gbcs(E["SupplierA"]["ds_priv"], signed)
    assert sig.hex().upper() == VECTORS["messages"]["V1_ECS04b_command"]["krp_signature"]
    assert API.ecdsa_verify_data(E["SupplierA"]["ds_pub"], signed, sig)


def test_gbcs_nonce_retry_rule(monkeypatch):
    """An unusable k makes the signer append 0x00 and hash again (§4.3.3.2)."""
    calls = []
    real = API.ecdsa_sign

    def fake(priv, digest, k):
        calls.append(k)
        if len(calls) == 1:
            raise ValueError("nonce")
        return real(priv, digest, k)
    monkeypatch.setattr(API, "ecdsa_sign", fake)
    priv = E["DeviceA"]["ds_priv"]
    sig = API.ecdsa_sign_gbcs(priv, b"data")
    assert calls[1] == hashlib.sha256(b"data" + priv + b"\x00").digest()
    assert API.ecdsa_verify_data(E["DeviceA"]["ds_pub"], b"data", sig)


# -- differential against OpenSSL -----------------------------------------------------------------
def _openssl_pub(pub64):
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + pub64)


def test_gcm_random_vs_openssl(core):
    rnd = random.Random(1)
    for i in range(200 if core is native else 40):
        key = rnd.randbytes(16)
        iv = rnd.randbytes(rnd.choice([8, 12, 12, 16, 60]))   # OpenSSL: 8..128; CAVP covers shorter
        aad = rnd.randbytes(rnd.randrange(0, 80))
        pt = rnd.randbytes(rnd.randrange(0, 100))
        taglen = rnd.choice([4, 8, 12, 16])
        enc = Cipher(algorithms.AES(key), modes.GCM(iv, min_tag_length=4)).encryptor()
        enc.authenticate_additional_data(aad)
        ct = enc.update(pt) + enc.finalize()
        assert core.gcm_encrypt(key, iv, aad, pt, taglen) == (ct, enc.tag[:taglen])
        assert core.gcm_decrypt(key, iv, aad, ct, enc.tag[:taglen]) == pt
        if ct:
            bad = bytes([ct[0] ^ 1]) + ct[1:]
            with pytest.raises(ValueError):
                core.gcm_decrypt(key, iv, aad, bad, enc.tag[:taglen])


def test_ecdsa_and_ecdh_random_vs_openssl(core):
    rnd = random.Random(2)
    for i in range(30 if core is native else 8):
        sk = ec.generate_private_key(ec.SECP256R1())
        priv = sk.private_numbers().private_value.to_bytes(32, "big")
        pub = sk.public_key().public_numbers()
        pub64 = pub.x.to_bytes(32, "big") + pub.y.to_bytes(32, "big")
        assert core.pubkey(priv) == pub64
        msg = rnd.randbytes(rnd.randrange(1, 200))
        digest = hashlib.sha256(msg).digest()
        # ours signs, OpenSSL verifies
        sig = core.ecdsa_sign(priv, digest, rnd.randbytes(32))
        r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        sk.public_key().verify(encode_dss_signature(r, s), msg, ec.ECDSA(hashes.SHA256()))
        # OpenSSL signs, ours verifies; a flipped bit does not
        r, s = decode_dss_signature(sk.sign(msg, ec.ECDSA(hashes.SHA256())))
        osig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        assert core.ecdsa_verify(pub64, digest, osig)
        bad = bytearray(osig)
        bad[rnd.randrange(64)] ^= 1 << rnd.randrange(8)
        assert not core.ecdsa_verify(pub64, digest, bytes(bad))
        assert not core.ecdsa_verify(pub64, hashlib.sha256(msg + b"x").digest(), osig)
        # ECDH both ways
        peer = ec.generate_private_key(ec.SECP256R1())
        pp = peer.public_key().public_numbers()
        peer64 = pp.x.to_bytes(32, "big") + pp.y.to_bytes(32, "big")
        assert core.ecdh(priv, peer64) == sk.exchange(ec.ECDH(), peer.public_key())
        assert core.ecdh(priv, b"\x04" + peer64) == core.ecdh(priv, peer64)
        # decompression
        comp = bytes([2 + (pp.y & 1)]) + pp.x.to_bytes(32, "big")
        assert core.decompress(comp) == peer64


N = pure.N
P = pure.P


@pytest.mark.parametrize("scalar", [0, N, N + 1, 2 ** 256 - 1])
def test_bad_scalars_refused(core, scalar):
    b = scalar.to_bytes(32, "big")
    digest = bytes(32)
    with pytest.raises(ValueError):
        core.pubkey(b)
    with pytest.raises(ValueError):
        core.ecdh(b, E["ACB"]["ka_pub"])
    with pytest.raises(ValueError):
        core.ecdsa_sign(b, digest, b"\x01" * 32)
    with pytest.raises(ValueError, match="nonce"):
        core.ecdsa_sign(E["DeviceA"]["ds_priv"], digest, b)


def test_bad_points_refused(core):
    good = E["ACB"]["ka_pub"][1:]
    off_curve = good[:63] + bytes([good[63] ^ 1])
    out_of_range = P.to_bytes(32, "big") + good[32:]
    zero = bytes(64)
    for pub in (off_curve, out_of_range, zero):
        assert not core.validate_pub(pub)
        with pytest.raises(ValueError):
            core.ecdh(E["DeviceA"]["ka_priv"], pub)
        with pytest.raises(ValueError):
            core.ecdsa_verify(pub, bytes(32), b"\x01" * 64)
    with pytest.raises(ValueError):
        core.ecdh(E["DeviceA"]["ka_priv"], good[:40])          # bad length
    for comp in (b"\x04" + good[:32], b"\x02" + P.to_bytes(32, "big"), b"\x02" + bytes(31)):
        with pytest.raises(ValueError):
            core.decompress(comp)


def test_signature_range_checks(core):
    pub = E["DeviceA"]["ds_pub"]
    d = bytes(32)
    for r, s in ((0, 1), (1, 0), (N, 1), (1, N)):
        assert core.ecdsa_verify(pub, d, r.to_bytes(32, "big") + s.to_bytes(32, "big")) is False
    with pytest.raises(ValueError):
        core.ecdsa_verify(pub, d, bytes(63))


def test_bad_lengths(core):
    with pytest.raises(ValueError):
        core.gcm_encrypt(bytes(15), bytes(12), b"", b"")
    with pytest.raises(ValueError):
        core.gcm_encrypt(bytes(16), b"", b"", b"")
    with pytest.raises(ValueError):
        core.gcm_encrypt(bytes(16), bytes(12), b"", b"", 3)
    with pytest.raises(ValueError):
        core.gcm_decrypt(bytes(16), bytes(12), b"", b"", bytes(2))
    with pytest.raises(ValueError):
        core.ecdsa_verify(E["DeviceA"]["ds_pub"], bytes(31), bytes(64))


def test_cores_agree_on_random_scalars():
    rnd = random.Random(3)
    for i in range(10):
        d = rnd.randrange(1, N).to_bytes(32, "big")
        assert native.pubkey(d) == pure.pubkey(d)


# Scalars at the edges of the constant-time multiplication: the smallest
# ones, n - 2|d| for every odd |d| <= 15 (where its last addition meets a
# doubling and needs the complete formula), their neighbours, and powers of
# two around the top window. Keys G and -G and small multiples of G make
# verification's joint chain add a point to itself or to its negative.
EDGE = sorted({1, 2, 3, 4, 15, 16, 17, 31, 32, 33, N - 1, 2 ** 255, 2 ** 252 - 1, 2 ** 252 + 1}
              | {N - 2 * d for d in range(1, 16, 2)} | {N - 2 * d - 1 for d in range(1, 16, 2)})


@pytest.mark.parametrize("d", EDGE)
def test_edge_scalars_vs_openssl(core, d):
    sk = ec.derive_private_key(d, ec.SECP256R1())
    pub = sk.public_key().public_numbers()
    pub64 = pub.x.to_bytes(32, "big") + pub.y.to_bytes(32, "big")
    priv = d.to_bytes(32, "big")
    assert core.pubkey(priv) == pub64
    peer = E["ACB"]["ka_pub"]
    assert core.ecdh(priv, peer) == sk.exchange(
        ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), peer))
    msg = b"edge %d" % d
    digest = hashlib.sha256(msg).digest()
    # d as the nonce: r is the x of d G
    sig = core.ecdsa_sign(E["DeviceA"]["ds_priv"], digest, priv)
    assert int.from_bytes(sig[:32], "big") == pub.x % N
    assert core.ecdsa_verify(E["DeviceA"]["ds_pub"], digest, sig)
    # d as the signer: OpenSSL's signatures verify, with u1 G and u2 Q on one chain
    for i in range(3 if core is native else 1):
        r, s = decode_dss_signature(sk.sign(msg + bytes([i]), ec.ECDSA(hashes.SHA256())))
        osig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        dg = hashlib.sha256(msg + bytes([i])).digest()
        assert core.ecdsa_verify(pub64, dg, osig)
        assert not core.ecdsa_verify(pub64, dg, osig[:63] + bytes([osig[63] ^ 1]))


def test_verify_meets_doubling_and_cancellation(core):
    """Q = G with u1 = u2: the first non-zero digit pair of the shared chain adds
    a point to itself; Q = -G with e = r: it adds a point to its negative and
    the sum u1 G + u2 Q is the identity, which must be refused, not crash."""
    g64 = pure.pubkey((1).to_bytes(32, "big"))
    neg_g = g64[:32] + (P - int.from_bytes(g64[32:], "big")).to_bytes(32, "big")
    for s in (1, 2, 7, N - 1):
        # e = r: u1 = u2 = r / s; with Q = -G the sum is the identity
        r = 5
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        assert core.ecdsa_verify(neg_g, r.to_bytes(32, "big"), sig) is False
    rnd = random.Random(5)
    for i in range(4):
        # Q = G, e = r: u1 = u2 = k / 2 for s = 2 r / k, valid with r = x(k G)
        k = rnd.randrange(2, N)
        r = int.from_bytes(pure.pubkey(k.to_bytes(32, "big"))[:32], "big") % N
        s = 2 * r * pow(k, -1, N) % N
        good = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        assert core.ecdsa_verify(g64, r.to_bytes(32, "big"), good) is True
