"""Host (CPython) binding of the esmecrypto C core via ctypes: the same API
as firmware/crypto/pure.py and the MicroPython native module. `make
esmecrypto-host` builds build/libesmecrypto.so; ESMECRYPTO_LIB overrides."""
import ctypes
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
_LIB = os.environ.get("ESMECRYPTO_LIB") or os.path.join(
    _HERE, "..", "..", "..", "build", "libesmecrypto.so")
_c = ctypes.CDLL(os.path.abspath(_LIB))

_P, _Z = ctypes.c_char_p, ctypes.c_size_t
for _name, _args in (
        ("esme_aes_init", (_P, _P)), ("esme_aes_encrypt", (_P, _P, _P)),
        ("esme_gcm_encrypt", (_P, _P, _Z, _P, _Z, _P, _Z, _P, _P)),
        ("esme_gcm_decrypt", (_P, _P, _Z, _P, _Z, _P, _Z, _P, _Z, _P)),
        ("esme_p256_pubkey", (_P, _P)), ("esme_p256_validate", (_P,)),
        ("esme_p256_decompress", (_P, _P)), ("esme_p256_ecdh", (_P, _P, _P)),
        ("esme_p256_sign", (_P, _P, _P, _P)), ("esme_p256_verify", (_P, _P, _P))):
    _f = getattr(_c, _name)
    _f.argtypes = _args
    _f.restype = ctypes.c_int

_REASON = {-1: "length", -2: "private key range", -3: "point not on curve", -4: "nonce",
           -5: "tag", -6: "signature"}


class CryptoError(ValueError):
    pass


def _check(rc):
    if rc != 0:
        raise CryptoError(_REASON.get(rc, "error %d" % rc))


def _need(b, n, what):
    if len(b) != n:
        raise CryptoError(what + " length")
    return bytes(b)


def _pub(pub):
    if len(pub) == 65 and pub[0] == 4:
        pub = pub[1:]
    return _need(pub, 64, "public key")


def aes_encrypt_block(key, block):
    ctx = ctypes.create_string_buffer(176)
    out = ctypes.create_string_buffer(16)
    _c.esme_aes_init(ctx, _need(key, 16, "key"))
    _c.esme_aes_encrypt(ctx, _need(block, 16, "block"), out)
    return out.raw


def _tag_len(n):
    if n not in (4, 8, 12, 13, 14, 15, 16):
        raise CryptoError("tag length")


def gcm_encrypt(key, iv, aad, pt, taglen=16):
    _tag_len(taglen)
    if not iv:
        raise CryptoError("iv length")
    out = ctypes.create_string_buffer(max(1, len(pt)))
    tag = ctypes.create_string_buffer(16)
    _check(_c.esme_gcm_encrypt(_need(key, 16, "key"), bytes(iv), len(iv), bytes(aad), len(aad),
                               bytes(pt), len(pt), out, tag))
    return out.raw[:len(pt)], tag.raw[:taglen]


def gcm_decrypt(key, iv, aad, ct, tag):
    _tag_len(len(tag))
    if not iv:
        raise CryptoError("iv length")
    out = ctypes.create_string_buffer(max(1, len(ct)))
    _check(_c.esme_gcm_decrypt(_need(key, 16, "key"), bytes(iv), len(iv), bytes(aad), len(aad),
                               bytes(ct), len(ct), bytes(tag), len(tag), out))
    return out.raw[:len(ct)]


def gmac(key, iv, aad, taglen=16):
    return gcm_encrypt(key, iv, aad, b"", taglen)[1]


def pubkey(priv):
    out = ctypes.create_string_buffer(64)
    _check(_c.esme_p256_pubkey(_need(priv, 32, "private key"), out))
    return out.raw


def validate_pub(pub):
    try:
        return _c.esme_p256_validate(_pub(pub)) == 0
    except CryptoError:
        return False


def decompress(pub):
    if len(pub) != 33:
        raise CryptoError("compressed key")
    out = ctypes.create_string_buffer(64)
    _check(_c.esme_p256_decompress(bytes(pub), out))
    return out.raw


def ecdh(priv, pub):
    out = ctypes.create_string_buffer(32)
    _check(_c.esme_p256_ecdh(_need(priv, 32, "private key"), _pub(pub), out))
    return out.raw


def ecdsa_sign(priv, digest, nonce):
    out = ctypes.create_string_buffer(64)
    _check(_c.esme_p256_sign(_need(priv, 32, "private key"), _need(digest, 32, "digest"),
                             _need(nonce, 32, "nonce"), out))
    return out.raw


def ecdsa_verify(pub, digest, sig):
    rc = _c.esme_p256_verify(_pub(pub), _need(digest, 32, "digest"), _need(sig, 64, "signature"))
    if rc == -3:
        raise CryptoError("point not on curve")
    return rc == 0
