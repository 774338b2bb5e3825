/* AES-128-GCM (NIST SP 800-38D). GHASH is Shoup's table method on 32-bit
 * words, one octet per step: with M[i] = i H for the 16 nibble values and
 * M4[i] = M[i] x^4, an octet b of the input updates Z = Z x^8 + M4[b & 15] +
 * M[b >> 4], where Z x^8 is a shift right by 8 (GCM's reflected bit order)
 * and the octet shifted out is reduced by R8 (x^128 + x^7 + x^2 + x + 1).
 * Both tables (512 octets) are built per call on the stack. */
#include <string.h>

#include "esme_bytes.h"
#include "esmecrypto.h"

/* The reduction of four bits shifted out (SP 800-38D R = 0xE1 || 0^120),
 * as the top 16 bits of the first word. */
static const uint16_t REDUCE4[16] = {
    0x0000, 0x1c20, 0x3840, 0x2460, 0x7080, 0x6ca0, 0x48c0, 0x54e0,
    0xe100, 0xfd20, 0xd940, 0xc560, 0x9180, 0x8da0, 0xa9c0, 0xb5e0,
};

/* The same for eight bits: R8[b] = (REDUCE4[b & 15] >> 4) ^ REDUCE4[b >> 4]
 * (two four-bit steps; the first one's value moves down by four bits). */
static const uint16_t REDUCE8[256] = {
    0x0000, 0x01c2, 0x0384, 0x0246, 0x0708, 0x06ca, 0x048c, 0x054e, 0x0e10, 0x0fd2, 0x0d94, 0x0c56,
    0x0918, 0x08da, 0x0a9c, 0x0b5e, 0x1c20, 0x1de2, 0x1fa4, 0x1e66, 0x1b28, 0x1aea, 0x18ac, 0x196e,
    0x1230, 0x13f2, 0x11b4, 0x1076, 0x1538, 0x14fa, 0x16bc, 0x177e, 0x3840, 0x3982, 0x3bc4, 0x3a06,
    0x3f48, 0x3e8a, 0x3ccc, 0x3d0e, 0x3650, 0x3792, 0x35d4, 0x3416, 0x3158, 0x309a, 0x32dc, 0x331e,
    0x2460, 0x25a2, 0x27e4, 0x2626, 0x2368, 0x22aa, 0x20ec, 0x212e, 0x2a70, 0x2bb2, 0x29f4, 0x2836,
    0x2d78, 0x2cba, 0x2efc, 0x2f3e, 0x7080, 0x7142, 0x7304, 0x72c6, 0x7788, 0x764a, 0x740c, 0x75ce,
    0x7e90, 0x7f52, 0x7d14, 0x7cd6, 0x7998, 0x785a, 0x7a1c, 0x7bde, 0x6ca0, 0x6d62, 0x6f24, 0x6ee6,
    0x6ba8, 0x6a6a, 0x682c, 0x69ee, 0x62b0, 0x6372, 0x6134, 0x60f6, 0x65b8, 0x647a, 0x663c, 0x67fe,
    0x48c0, 0x4902, 0x4b44, 0x4a86, 0x4fc8, 0x4e0a, 0x4c4c, 0x4d8e, 0x46d0, 0x4712, 0x4554, 0x4496,
    0x41d8, 0x401a, 0x425c, 0x439e, 0x54e0, 0x5522, 0x5764, 0x56a6, 0x53e8, 0x522a, 0x506c, 0x51ae,
    0x5af0, 0x5b32, 0x5974, 0x58b6, 0x5df8, 0x5c3a, 0x5e7c, 0x5fbe, 0xe100, 0xe0c2, 0xe284, 0xe346,
    0xe608, 0xe7ca, 0xe58c, 0xe44e, 0xef10, 0xeed2, 0xec94, 0xed56, 0xe818, 0xe9da, 0xeb9c, 0xea5e,
    0xfd20, 0xfce2, 0xfea4, 0xff66, 0xfa28, 0xfbea, 0xf9ac, 0xf86e, 0xf330, 0xf2f2, 0xf0b4, 0xf176,
    0xf438, 0xf5fa, 0xf7bc, 0xf67e, 0xd940, 0xd882, 0xdac4, 0xdb06, 0xde48, 0xdf8a, 0xddcc, 0xdc0e,
    0xd750, 0xd692, 0xd4d4, 0xd516, 0xd058, 0xd19a, 0xd3dc, 0xd21e, 0xc560, 0xc4a2, 0xc6e4, 0xc726,
    0xc268, 0xc3aa, 0xc1ec, 0xc02e, 0xcb70, 0xcab2, 0xc8f4, 0xc936, 0xcc78, 0xcdba, 0xcffc, 0xce3e,
    0x9180, 0x9042, 0x9204, 0x93c6, 0x9688, 0x974a, 0x950c, 0x94ce, 0x9f90, 0x9e52, 0x9c14, 0x9dd6,
    0x9898, 0x995a, 0x9b1c, 0x9ade, 0x8da0, 0x8c62, 0x8e24, 0x8fe6, 0x8aa8, 0x8b6a, 0x892c, 0x88ee,
    0x83b0, 0x8272, 0x8034, 0x81f6, 0x84b8, 0x857a, 0x873c, 0x86fe, 0xa9c0, 0xa802, 0xaa44, 0xab86,
    0xaec8, 0xaf0a, 0xad4c, 0xac8e, 0xa7d0, 0xa612, 0xa454, 0xa596, 0xa0d8, 0xa11a, 0xa35c, 0xa29e,
    0xb5e0, 0xb422, 0xb664, 0xb7a6, 0xb2e8, 0xb32a, 0xb16c, 0xb0ae, 0xbbf0, 0xba32, 0xb874, 0xb9b6,
    0xbcf8, 0xbd3a, 0xbf7c, 0xbebe,
};

typedef struct {
    uint32_t m[16][4], m4[16][4];   /* i H and i H x^4, most significant word first */
    uint32_t y[4];                  /* running GHASH value */
    esme_aes_ctx aes;
    uint8_t j0[16];
} gcm_state;

/* v = v x^4: shift right by four, reduce the nibble shifted out */
static void times_x4(uint32_t v[4], const uint32_t a[4]) {
    uint32_t rem = a[3] & 15;
    v[3] = (a[3] >> 4) | (a[2] << 28);
    v[2] = (a[2] >> 4) | (a[1] << 28);
    v[1] = (a[1] >> 4) | (a[0] << 28);
    v[0] = (a[0] >> 4) ^ ((uint32_t)REDUCE4[rem] << 16);
}

static void ghash_init(gcm_state *g, const uint8_t h[16]) {
    uint32_t v[4];
    for (int k = 0; k < 4; k++) {
        v[k] = load32be(h + 4 * k);
        g->m[0][k] = 0;
        g->m[8][k] = v[k];
    }
    /* index 4, 2, 1: successive divisions by x (a shift right with reduction) */
    for (int i = 4; i > 0; i >>= 1) {
        uint32_t carry = (0u - (v[3] & 1)) & 0xe1000000u;
        v[3] = (v[3] >> 1) | (v[2] << 31);
        v[2] = (v[2] >> 1) | (v[1] << 31);
        v[1] = (v[1] >> 1) | (v[0] << 31);
        v[0] = (v[0] >> 1) ^ carry;
        memcpy(g->m[i], v, 16);
    }
    for (int i = 2; i <= 8; i <<= 1) {
        for (int j = 1; j < i; j++) {
            for (int k = 0; k < 4; k++) {
                g->m[i + j][k] = g->m[i][k] ^ g->m[j][k];
            }
        }
    }
    for (int i = 0; i < 16; i++) {
        times_x4(g->m4[i], g->m[i]);
    }
    memset(g->y, 0, 16);
}

/* One octet step: Z = Z x^8 + M4[low nibble] + M[high nibble]. */
#define GHASH_STEP(x, sh) do { \
        uint32_t rem_ = z3 & 0xff; \
        const uint32_t *lo_ = g->m4[((x) >> (sh)) & 15], *hi_ = g->m[((x) >> ((sh) + 4)) & 15]; \
        z3 = ((z3 >> 8) | (z2 << 24)) ^ lo_[3] ^ hi_[3]; \
        z2 = ((z2 >> 8) | (z1 << 24)) ^ lo_[2] ^ hi_[2]; \
        z1 = ((z1 >> 8) | (z0 << 24)) ^ lo_[1] ^ hi_[1]; \
        z0 = (z0 >> 8) ^ ((uint32_t)REDUCE8[rem_] << 16) ^ lo_[0] ^ hi_[0]; \
    } while (0)

/* y = (y ^ block) * H, octets from the last (the lowest powers come last) */
static void ghash_block(gcm_state *g, const uint8_t block[16]) {
    uint32_t z0 = 0, z1 = 0, z2 = 0, z3 = 0;
    for (int k = 3; k >= 0; k--) {
        uint32_t x = g->y[k] ^ load32be(block + 4 * k);
        GHASH_STEP(x, 0);
        GHASH_STEP(x, 8);
        GHASH_STEP(x, 16);
        GHASH_STEP(x, 24);
    }
    g->y[0] = z0;
    g->y[1] = z1;
    g->y[2] = z2;
    g->y[3] = z3;
}

static void ghash_data(gcm_state *g, const uint8_t *p, size_t n) {
    uint8_t last[16];
    while (n >= 16) {
        ghash_block(g, p);
        p += 16;
        n -= 16;
    }
    if (n) {
        memset(last, 0, 16);
        memcpy(last, p, n);
        ghash_block(g, last);
    }
}

static void ghash_lengths(gcm_state *g, uint64_t abits, uint64_t cbits) {
    uint8_t b[16];
    store32be(b, (uint32_t)(abits >> 32));
    store32be(b + 4, (uint32_t)abits);
    store32be(b + 8, (uint32_t)(cbits >> 32));
    store32be(b + 12, (uint32_t)cbits);
    ghash_block(g, b);
}

static void ghash_out(gcm_state *g, uint8_t out[16]) {
    for (int k = 0; k < 4; k++) {
        store32be(out + 4 * k, g->y[k]);
    }
}

static void gcm_setup(gcm_state *g, const uint8_t key[16], const uint8_t *iv, size_t ivlen) {
    uint8_t h[16];
    memset(h, 0, 16);
    esme_aes_init(&g->aes, key);
    esme_aes_encrypt(&g->aes, h, h);
    ghash_init(g, h);
    if (ivlen == 12) {
        memcpy(g->j0, iv, 12);
        g->j0[12] = g->j0[13] = g->j0[14] = 0;
        g->j0[15] = 1;
    } else {                                       /* J0 = GHASH(IV ‖ pad ‖ [len(IV)]64) */
        ghash_data(g, iv, ivlen);
        ghash_lengths(g, 0, (uint64_t)ivlen * 8);
        ghash_out(g, g->j0);
        memset(g->y, 0, 16);
    }
}

/* CTR from inc32(J0), in place allowed */
static void gcm_ctr(gcm_state *g, const uint8_t *in, size_t len, uint8_t *out) {
    uint8_t ctr[16], ks[16];
    memcpy(ctr, g->j0, 16);
    uint32_t c = load32be(ctr + 12);
    for (size_t off = 0; off < len; off += 16) {
        store32be(ctr + 12, ++c);
        esme_aes_encrypt(&g->aes, ctr, ks);
        if (len - off >= 16) {
            for (int k = 0; k < 16; k += 4) {
                store32(out + off + k, load32(in + off + k) ^ load32(ks + k));
            }
        } else {
            for (size_t j = 0; j < len - off; j++) {
                out[off + j] = in[off + j] ^ ks[j];
            }
        }
    }
}

static void gcm_tag(gcm_state *g, const uint8_t *aad, size_t aadlen, const uint8_t *ct, size_t len,
                    uint8_t tag[16]) {
    memset(g->y, 0, 16);
    ghash_data(g, aad, aadlen);
    ghash_data(g, ct, len);
    ghash_lengths(g, (uint64_t)aadlen * 8, (uint64_t)len * 8);
    uint8_t s[16];
    ghash_out(g, s);
    esme_aes_encrypt(&g->aes, g->j0, tag);
    for (int i = 0; i < 16; i++) {
        tag[i] ^= s[i];
    }
}

int esme_gcm_encrypt(const uint8_t key[16], const uint8_t *iv, size_t ivlen,
                     const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len,
                     uint8_t *out, uint8_t tag[16]) {
    gcm_state g;
    if (ivlen == 0) {
        return ESME_ERR_LEN;
    }
    gcm_setup(&g, key, iv, ivlen);
    gcm_ctr(&g, in, len, out);
    gcm_tag(&g, aad, aadlen, out, len, tag);
    memset(&g, 0, sizeof g);
    return ESME_OK;
}

int esme_gcm_decrypt(const uint8_t key[16], const uint8_t *iv, size_t ivlen,
                     const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len,
                     const uint8_t *tag, size_t taglen, uint8_t *out) {
    gcm_state g;
    uint8_t want[16];
    if (ivlen == 0 || taglen < 4 || taglen > 16) {
        return ESME_ERR_LEN;
    }
    gcm_setup(&g, key, iv, ivlen);
    gcm_tag(&g, aad, aadlen, in, len, want);
    uint8_t diff = 0;
    for (size_t i = 0; i < taglen; i++) {       /* constant time in the tag */
        diff |= (uint8_t)(want[i] ^ tag[i]);
    }
    if (diff) {
        memset(&g, 0, sizeof g);
        return ESME_ERR_TAG;
    }
    gcm_ctr(&g, in, len, out);
    memset(&g, 0, sizeof g);
    return ESME_OK;
}
