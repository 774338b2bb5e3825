# AES-128 block encryption (FIPS 197) in plain Python: used only where the
# runtime has no AES (CPython; MicroPython boards use cryptolib).
# The S-box is computed once from its definition (multiplicative inverse in
# GF(2^8) followed by the affine map, FIPS 197 §5.1.1).


def _xtime(a):
    a <<= 1
    return (a ^ 0x11B) if a & 0x100 else a


def _sbox():
    exp = [0] * 256
    log = [0] * 256
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x ^= _xtime(x)           # multiply by generator 3
    box = bytearray(256)
    for a in range(256):
        inv = 0 if a == 0 else exp[(255 - log[a]) % 255]
        s = inv
        for _ in range(4):
            inv = ((inv << 1) | (inv >> 7)) & 0xFF
            s ^= inv
        box[a] = s ^ 0x63
    return bytes(box)


SBOX = _sbox()


def expand_key(key):
    if len(key) != 16:
        raise ValueError("key")
    w = bytearray(176)
    w[:16] = key
    rcon = 1
    for i in range(16, 176, 4):
        t = w[i - 4:i]
        if i % 16 == 0:
            t = bytearray((SBOX[t[1]] ^ rcon, SBOX[t[2]], SBOX[t[3]], SBOX[t[0]]))
            rcon = _xtime(rcon)
        for j in range(4):
            w[i + j] = w[i - 16 + j] ^ t[j]
    return bytes(w)


def encrypt_block(rk, block):
    s = bytearray(a ^ b for a, b in zip(block, rk[:16]))
    sb = SBOX
    for rnd in range(1, 11):
        t = bytearray(sb[b] for b in s)
        # ShiftRows: state is column-major, byte (r, c) at 4c + r
        t = bytearray(t[(i + 4 * (i % 4)) % 16] for i in range(16))
        if rnd != 10:
            m = bytearray(16)
            for c in range(0, 16, 4):
                a0, a1, a2, a3 = t[c], t[c + 1], t[c + 2], t[c + 3]
                x = a0 ^ a1 ^ a2 ^ a3
                m[c] = a0 ^ x ^ _xtime(a0 ^ a1)
                m[c + 1] = a1 ^ x ^ _xtime(a1 ^ a2)
                m[c + 2] = a2 ^ x ^ _xtime(a2 ^ a3)
                m[c + 3] = a3 ^ x ^ _xtime(a3 ^ a0)
            t = m
        k = rk[16 * rnd:16 * rnd + 16]
        s = bytearray(a ^ b for a, b in zip(t, k))
    return bytes(s)
