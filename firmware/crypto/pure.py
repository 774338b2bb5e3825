# Pure-Python crypto core: the same API as the native module (lib/esmecrypto),
# used when that is absent. Runs on CPython and MicroPython (big ints, 3-arg
# pow; AES from cryptolib where present).
#
# GCM = NIST SP 800-38D; P-256 and ECDSA = FIPS 186-4 / SEC 1; ECDH = SP
# 800-56A (shared secret = x-coordinate). Not constant-time: Python big-int
# arithmetic cannot be. Boards use the native module for secrets.

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5


class CryptoError(ValueError):
    pass


try:
    from cryptolib import aes as _cl_aes

    class _Aes:
        def __init__(self, key):
            if len(key) != 16:
                raise CryptoError("key length")
            self._c = _cl_aes(bytes(key), 1)     # mode 1 = ECB

        def enc(self, block):
            return self._c.encrypt(bytes(block))
except ImportError:
    from . import aes_pure as _ap

    class _Aes:
        def __init__(self, key):
            if len(key) != 16:
                raise CryptoError("key length")
            self._rk = _ap.expand_key(bytes(key))

        def enc(self, block):
            return _ap.encrypt_block(self._rk, bytes(block))


def aes_encrypt_block(key, block):
    if len(block) != 16:
        raise CryptoError("block length")
    return _Aes(key).enc(block)


# -- GCM (SP 800-38D) ----------------------------------------------------------------
_R = 0xE1 << 120


def _gf_mul(x, y):
    """x * y in GF(2^128), GCM bit order (SP 800-38D Algorithm 1)."""
    z = 0
    v = y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ _R if v & 1 else v >> 1
    return z


def _ghash(h, data, y=0):
    for i in range(0, len(data), 16):
        blk = data[i:i + 16]
        if len(blk) < 16:
            blk = bytes(blk) + bytes(16 - len(blk))
        y = _gf_mul(y ^ int.from_bytes(blk, "big"), h)
    return y


def _j0(h, iv):
    if len(iv) == 0:
        raise CryptoError("iv length")
    if len(iv) == 12:
        return bytes(iv) + b"\x00\x00\x00\x01"
    y = _ghash(h, iv)
    y = _gf_mul(y ^ (len(iv) * 8), h)
    return y.to_bytes(16, "big")


def _ctr(aes, j0, data):
    out = bytearray(len(data))
    c = int.from_bytes(j0[12:], "big")
    pre = j0[:12]
    for i in range(0, len(data), 16):
        c = (c + 1) & 0xFFFFFFFF
        ks = aes.enc(pre + c.to_bytes(4, "big"))
        for j in range(min(16, len(data) - i)):
            out[i + j] = data[i + j] ^ ks[j]
    return bytes(out)


def _tag(aes, h, j0, aad, ct):
    s = _ghash(h, aad)
    s = _ghash(h, ct, s)
    s = _gf_mul(s ^ ((len(aad) * 8) << 64) ^ (len(ct) * 8), h)
    return bytes(a ^ b for a, b in zip(aes.enc(j0), s.to_bytes(16, "big")))


def _check_tag_len(n):
    if n not in (4, 8, 12, 13, 14, 15, 16):
        raise CryptoError("tag length")


def gcm_encrypt(key, iv, aad, pt, taglen=16):
    """(ciphertext, tag[:taglen])."""
    _check_tag_len(taglen)
    aes = _Aes(key)
    h = int.from_bytes(aes.enc(bytes(16)), "big")
    j0 = _j0(h, iv)
    ct = _ctr(aes, j0, pt)
    return ct, _tag(aes, h, j0, aad, ct)[:taglen]


def gcm_decrypt(key, iv, aad, ct, tag):
    """Plaintext, or CryptoError("tag") if the tag does not verify."""
    _check_tag_len(len(tag))
    aes = _Aes(key)
    h = int.from_bytes(aes.enc(bytes(16)), "big")
    j0 = _j0(h, iv)
    want = _tag(aes, h, j0, aad, ct)
    diff = 0
    for a, b in zip(want, tag):       # compare every byte
        diff |= a ^ b
    if diff:
        raise CryptoError("tag")
    return _ctr(aes, j0, ct)


def gmac(key, iv, aad, taglen=16):
    return gcm_encrypt(key, iv, aad, b"", taglen)[1]


# -- P-256 -------------------------------------------------------------------------------
def _inv(a, m):
    return pow(a, m - 2, m)


def _add(p1, p2):
    """Affine addition; None is the point at infinity."""
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    x1, y1 = p1
    x2, y2 = p2
    if x1 == x2:
        if (y1 + y2) % P == 0:
            return None
        lam = (3 * x1 * x1 - 3) * _inv(2 * y1, P) % P
    else:
        lam = (y2 - y1) * _inv(x2 - x1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return x3, (lam * (x1 - x3) - y1) % P


# Jacobian coordinates for the scalar multiplications (one inversion at the end).
def _jdbl(p):
    x, y, z = p
    if y == 0 or z == 0:
        return (1, 1, 0)
    zz = z * z % P
    m = 3 * (x - zz) * (x + zz) % P          # a = -3
    yy = y * y % P
    s = 4 * x * yy % P
    x3 = (m * m - 2 * s) % P
    return x3, (m * (s - x3) - 8 * yy * yy) % P, 2 * y * z % P


def _jadd(p, q):
    x1, y1, z1 = p
    x2, y2, z2 = q
    if z1 == 0:
        return q
    if z2 == 0:
        return p
    z1z1 = z1 * z1 % P
    z2z2 = z2 * z2 % P
    u1 = x1 * z2z2 % P
    u2 = x2 * z1z1 % P
    s1 = y1 * z2 * z2z2 % P
    s2 = y2 * z1 * z1z1 % P
    if u1 == u2:
        return _jdbl(p) if s1 == s2 else (1, 1, 0)
    h = (u2 - u1) % P
    r = (s2 - s1) % P
    hh = h * h % P
    hhh = h * hh % P
    v = u1 * hh % P
    x3 = (r * r - hhh - 2 * v) % P
    return x3, (r * (v - x3) - s1 * hhh) % P, h * z1 * z2 % P


def _affine(p):
    if p[2] == 0:
        return None
    zi = _inv(p[2], P)
    zi2 = zi * zi % P
    return p[0] * zi2 % P, p[1] * zi2 * zi % P


def _mul(k, pt):
    r = (1, 1, 0)
    q = (pt[0], pt[1], 1)
    for i in range(255, -1, -1):      # scalars are < 2^256 (no bit_length on MicroPython)
        r = _jdbl(r)
        if (k >> i) & 1:
            r = _jadd(r, q)
    return _affine(r)


def _mul2(u1, u2, q):
    """u1*G + u2*Q with one shared doubling chain (Shamir)."""
    g = (GX, GY, 1)
    qq = (q[0], q[1], 1)
    gq = _jadd(g, qq)
    r = (1, 1, 0)
    for i in range(255, -1, -1):
        r = _jdbl(r)
        b = ((u1 >> i) & 1) | (((u2 >> i) & 1) << 1)
        if b:
            r = _jadd(r, (g, qq, gq)[b - 1])
    return _affine(r)


def _scalar(b, name):
    if len(b) != 32:
        raise CryptoError(name + " length")
    v = int.from_bytes(b, "big")
    if not 0 < v < N:
        raise CryptoError(name + " range")
    return v


def _point(pub):
    """Validated public key (x, y): SEC 1 §3.2.2.1 for a cofactor-1 curve."""
    if len(pub) == 65 and pub[0] == 4:
        pub = pub[1:]
    if len(pub) != 64:
        raise CryptoError("public key length")
    x = int.from_bytes(pub[:32], "big")
    y = int.from_bytes(pub[32:], "big")
    if x >= P or y >= P or (y * y - x * x * x + 3 * x - B) % P:
        raise CryptoError("point not on curve")
    return x, y


def _enc_point(pt):
    return pt[0].to_bytes(32, "big") + pt[1].to_bytes(32, "big")


def validate_pub(pub):
    try:
        _point(pub)
        return True
    except CryptoError:
        return False


def decompress(pub):
    """33-octet compressed point (02/03 ‖ X) -> 64-octet X ‖ Y."""
    if len(pub) != 33 or pub[0] not in (2, 3):
        raise CryptoError("compressed key")
    x = int.from_bytes(pub[1:], "big")
    if x >= P:
        raise CryptoError("point not on curve")
    rhs = (x * x * x - 3 * x + B) % P
    y = pow(rhs, (P + 1) // 4, P)
    if y * y % P != rhs:
        raise CryptoError("point not on curve")
    if (y & 1) != (pub[0] & 1):
        y = P - y
    return _enc_point((x, y))


def pubkey(priv):
    return _enc_point(_mul(_scalar(priv, "private key"), (GX, GY)))


def ecdh(priv, pub):
    """Shared secret Z = x(d * Q) (SP 800-56A §5.7.1.2)."""
    d = _scalar(priv, "private key")
    r = _mul(d, _point(pub))
    if r is None:
        raise CryptoError("point at infinity")
    return r[0].to_bytes(32, "big")


def _digest(digest):
    if len(digest) != 32:
        raise CryptoError("digest length")
    return int.from_bytes(digest, "big") % N


def ecdsa_sign(priv, digest, nonce):
    """(r ‖ s) with the caller's nonce k; CryptoError("nonce") when k is out
    of range or gives r = 0 or s = 0 (the caller picks another k)."""
    d = _scalar(priv, "private key")
    e = _digest(digest)
    if len(nonce) != 32:
        raise CryptoError("nonce length")
    k = int.from_bytes(nonce, "big")
    if not 0 < k < N:
        raise CryptoError("nonce")
    r = _mul(k, (GX, GY))[0] % N
    s = _inv(k, N) * (e + r * d) % N
    if r == 0 or s == 0:
        raise CryptoError("nonce")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def ecdsa_verify(pub, digest, sig):
    """True if sig (r ‖ s, 64 octets) is valid; malformed keys raise."""
    q = _point(pub)
    e = _digest(digest)
    if len(sig) != 64:
        raise CryptoError("signature length")
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:], "big")
    if not (0 < r < N and 0 < s < N):
        return False
    w = _inv(s, N)
    x = _mul2(e * w % N, r * w % N, q)
    return x is not None and x[0] % N == r
