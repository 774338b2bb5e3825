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
