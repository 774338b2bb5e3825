# The meter's crypto API (GBCS §4.3.3; notes/gbcs-messages-security §8).
#
# Core operations come from the native module `esmecrypto` (C core in
# lib/esmecrypto: a natmod .mpy on boards, a ctypes host build on CPython)
# when it can be imported, else from the pure-Python core with the same API:
#
#   aes_encrypt_block(key16, block16) -> block16
#   gcm_encrypt(key16, iv, aad, pt, taglen=16) -> (ct, tag)
#   gcm_decrypt(key16, iv, aad, ct, tag) -> pt          ValueError("tag") on mismatch
#   gmac(key16, iv, aad, taglen=16) -> tag              GCM with empty plaintext
#   pubkey(priv32) -> pub64 (X ‖ Y)
#   validate_pub(pub64 | 04 ‖ pub64) -> bool            on curve, coordinates < p
#   decompress(02|03 ‖ X) -> pub64
#   ecdh(priv32, pub) -> Z (32 octets, x-coordinate)
#   ecdsa_sign(priv32, digest32, k32) -> r ‖ s          ValueError("nonce") if k unusable
#   ecdsa_verify(pub, digest32, sig64) -> bool
# Bad lengths, out-of-range scalars and invalid points raise ValueError (the
# pure core's CryptoError is a ValueError) with a short reason.
#
# GBCS helpers here: the single-step KDF (§4.3.3.3), OtherInfo, and ECDSA with
# the GBCS deterministic nonce (§4.3.3.2).
import hashlib

try:
    import esmecrypto as _core
    NATIVE = True
except ImportError:
    from . import pure as _core
    NATIVE = False

aes_encrypt_block = _core.aes_encrypt_block
gcm_encrypt = _core.gcm_encrypt
gcm_decrypt = _core.gcm_decrypt
gmac = _core.gmac
pubkey = _core.pubkey
validate_pub = _core.validate_pub
decompress = _core.decompress
ecdh = _core.ecdh
ecdsa_sign = _core.ecdsa_sign
ecdsa_verify = _core.ecdsa_verify


def sha256(data):
    return hashlib.sha256(data).digest()


def gmac_in(key, iv, pre, buf, start, end):
    """The 16-octet GMAC tag over pre ‖ buf[start:end] (len(pre) <= 16): a
    GBCS MAC's AAD `11 00 00 00 00 00 ‖ APDU` (§4.3.3.4, vectors/README.md
    point 2) with the APDU left where it lies in the message buffer, so a
    4 KB GBT series is never copied. The pure core hashes the two parts in
    turn. The native one takes one AAD: in a writable buffer the len(pre)
    octets before start are pre for the call and restored after it; in a
    read-only one they stand in for pre and the tag is corrected: GHASH is
    linear and both AADs have the same length, so the two tags differ by
    ((pre ^ those octets) ‖ 0...) * H^m, m = the number of AAD blocks + 1
    (the length block; SP 800-38D §6.4)."""
    mv = memoryview(buf)
    if not NATIVE:
        return _core.gmac_pre(key, iv, pre, mv[start:end])
    lp = len(pre)
    if start < lp:
        return gmac(key, iv, bytes(pre) + bytes(mv[start:end]))
    keep = bytes(mv[start - lp:start])
    try:
        mv[start - lp:start] = pre
    except TypeError:               # read-only (bytes): correct the tag instead
        pass
    else:
        try:
            return gmac(key, iv, mv[start - lp:end])
        finally:
            mv[start - lp:start] = keep
    t = gmac(key, iv, mv[start - lp:end])
    d = 0
    for i in range(lp):
        d = (d << 8) | (pre[i] ^ keep[i])
    if not d:
        return t
    from .pure import _gf_mul
    d <<= 8 * (16 - lp)
    p = int.from_bytes(aes_encrypt_block(key, bytes(16)), "big")      # H
    e = (lp + end - start + 15) // 16 + 1
    while e:
        if e & 1:
            d = _gf_mul(d, p)
        e >>= 1
        if e:
            p = _gf_mul(p, p)
    return (int.from_bytes(t, "big") ^ d).to_bytes(16, "big")


def other_info(originator, transaction_id, recipient):
    """KDF OtherInfo (GBCS §4.3.3.3): AlgorithmID ‖ originator system title ‖
    0x09 ‖ transaction id (CRA flag ‖ counter, 9 octets) ‖ recipient."""
    if len(originator) != 8 or len(recipient) != 8 or len(transaction_id) != 9:
        raise ValueError("other info")
    # AlgorithmID: AES-GCM-128 (Green Book 9.2.3.4.6.5)
    return b"\x60\x85\x74\x06\x08\x03\x00" + originator + b"\x09" + transaction_id + recipient


def kdf(z, info):
    """SP 800-56A single-step KDF with SHA-256, one block, 128-bit key."""
    if len(z) != 32:
        raise ValueError("Z length")
    return sha256(b"\x00\x00\x00\x01" + z + info)[:16]


def ecdsa_sign_gbcs(priv, signed_data):
    """ECDSA-P256-SHA256 with the GBCS deterministic nonce (§4.3.3.2):
    k = SHA-256(signed_data ‖ private key); if k is unusable (r = 0, s = 0,
    or k outside [1, n-1]) append 0x00 and hash again."""
    digest = sha256(signed_data)
    pad = b""
    while True:
        h = hashlib.sha256(signed_data)    # no signed_data + priv copy (a 4 KB response)
        h.update(priv)
        h.update(pad)
        k = h.digest()
        try:
            return ecdsa_sign(priv, digest, k)
        except ValueError as e:
            if str(e) != "nonce":
                raise
            pad += b"\x00"


def ecdsa_verify_data(pub, signed_data, sig):
    return ecdsa_verify(pub, sha256(signed_data), sig)
