/* AES-128-GCM (NIST SP 800-38D). GHASH uses Shoup's 4-bit table method:
 * 16 multiples of H built per call on the stack, then two table steps per
 * octet with the reduction constants for x^128 + x^7 + x^2 + x + 1 in GCM's
 * reflected bit order. */
#include <string.h>

#include "esmecrypto.h"

/* Reduction of the four bits shifted out, pre-multiplied (SP 800-38D R = 0xE1 || 0^120). */
static const uint16_t REDUCE4[16] = {
    0x0000, 0x1c20, 0x3840, 0x2460, 0x7080, 0x6ca0, 0x48c0, 0x54e0,
    0xe100, 0xfd20, 0xd940, 0xc560, 0x9180, 0x8da0, 0xa9c0, 0xb5e0,
};

typedef struct {
    uint64_t hi[16], lo[16];    /* i * H for the 16 nibble values */
    uint64_t yh, yl;            /* running GHASH value */
    esme_aes_ctx aes;
    uint8_t j0[16];
} gcm_state;

static uint64_t load64be(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static void store64be(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static void ghash_init(gcm_state *g, const uint8_t h[16]) {
    uint64_t vh = load64be(h), vl = load64be(h + 8);
    g->hi[0] = g->lo[0] = 0;
    g->hi[8] = vh;
    g->lo[8] = vl;
    /* index 4, 2, 1: successive divisions by x (a shift right with reduction) */
    for (int i = 4; i > 0; i >>= 1) {
        uint64_t carry = ((uint64_t)0 - (vl & 1)) & 0xe100000000000000ull;
        vl = (vh << 63) | (vl >> 1);
        vh = (vh >> 1) ^ carry;
        g->hi[i] = vh;
        g->lo[i] = vl;
    }
    for (int i = 2; i <= 8; i <<= 1) {
        for (int j = 1; j < i; j++) {
            g->hi[i + j] = g->hi[i] ^ g->hi[j];
            g->lo[i + j] = g->lo[i] ^ g->lo[j];
        }
    }
    g->yh = g->yl = 0;
}

/* y = (y ^ block) * H */
static void ghash_block(gcm_state *g, const uint8_t block[16]) {
    uint8_t x[16];
    store64be(x, g->yh ^ load64be(block));
    store64be(x + 8, g->yl ^ load64be(block + 8));
    uint64_t zh = 0, zl = 0;
    for (int i = 15; i >= 0; i--) {
        for (int half = 0; half < 2; half++) {
            unsigned nib = half ? (x[i] >> 4) : (x[i] & 0x0f);
            unsigned rem = (unsigned)(zl & 0x0f);
            zl = (zh << 60) | (zl >> 4);
            zh = (zh >> 4) ^ ((uint64_t)REDUCE4[rem] << 48);
            zh ^= g->hi[nib];
            zl ^= g->lo[nib];
        }
    }
    g->yh = zh;
    g->yl = zl;
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
    store64be(b, abits);
    store64be(b + 8, cbits);
    ghash_block(g, b);
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
        store64be(g->j0, g->yh);
        store64be(g->j0 + 8, g->yl);
        g->yh = g->yl = 0;
    }
}

/* CTR from inc32(J0), in place allowed */
static void gcm_ctr(gcm_state *g, const uint8_t *in, size_t len, uint8_t *out) {
    uint8_t ctr[16], ks[16];
    memcpy(ctr, g->j0, 16);
    uint32_t c = ((uint32_t)ctr[12] << 24) | ((uint32_t)ctr[13] << 16) | ((uint32_t)ctr[14] << 8) | ctr[15];
    for (size_t off = 0; off < len; off += 16) {
        c++;
        ctr[12] = (uint8_t)(c >> 24);
        ctr[13] = (uint8_t)(c >> 16);
        ctr[14] = (uint8_t)(c >> 8);
        ctr[15] = (uint8_t)c;
        esme_aes_encrypt(&g->aes, ctr, ks);
        size_t n = len - off < 16 ? len - off : 16;
        for (size_t j = 0; j < n; j++) {
            out[off + j] = in[off + j] ^ ks[j];
        }
    }
}

static void gcm_tag(gcm_state *g, const uint8_t *aad, size_t aadlen, const uint8_t *ct, size_t len,
                    uint8_t tag[16]) {
    g->yh = g->yl = 0;
    ghash_data(g, aad, aadlen);
    ghash_data(g, ct, len);
    ghash_lengths(g, (uint64_t)aadlen * 8, (uint64_t)len * 8);
    uint8_t s[16];
    store64be(s, g->yh);
    store64be(s + 8, g->yl);
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
