/* Cortex-M4 self-test under qemu-arm user mode (host_tests/test_crypto_m4.py):
 * the generated assembly of esme_p256_m4.h against the portable C of
 * esme_p256.c on random and edge-case operands, then the public API on cases
 * computed by OpenSSL on the host (cases.h, written by the test). Exit status
 * 0 when everything agrees, otherwise the number of the first failing check
 * (1-4 field, 11-15 API, 21-22 GCM; the case's index written to stdout). */
#include <stddef.h>
#include <stdint.h>

void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);

#define ESME_SELFTEST 1
#include "../esme_p256.c"
#include "cases.h"

void *memcpy(void *d, const void *s, size_t n) {
    uint8_t *dd = d;
    const uint8_t *ss = s;
    while (n--) {
        *dd++ = *ss++;
    }
    return d;
}

void *memset(void *d, int c, size_t n) {
    uint8_t *dd = d;
    while (n--) {
        *dd++ = (uint8_t)c;
    }
    return d;
}

static uint32_t rng = 0x2545f491u;

static uint32_t rnd(void) {                  /* xorshift32 */
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

/* a field element: random, near p, sparse, or made of all-ones/zero words */
static void pick(limbs x, const modulus *M) {
    uint32_t kind = rnd() % 5;
    for (int i = 0; i < 8; i++) {
        x[i] = rnd();
    }
    if (kind == 0) {
        memcpy(x, M->m, 32);
        x[0] -= 1 + (rnd() & 7);
    } else if (kind == 1) {
        for (int i = 0; i < 8; i++) {
            x[i] = (rnd() & 1) ? 0 : x[i];
        }
    } else if (kind == 2) {
        for (int i = 0; i < 8; i++) {
            x[i] = (rnd() & 1) ? 0xffffffffu : 0;
        }
    } else if (kind == 3) {
        memset(x, 0, 32);
        x[0] = rnd() & 3;
    }
    while (!mp_lt(x, M->m)) {
        mp_sub(x, x, M->m);
    }
}

static int same(const limbs a, const limbs b) {
    uint32_t d = 0;
    for (int i = 0; i < 8; i++) {
        d |= a[i] ^ b[i];
    }
    return d == 0;
}

static int field(void) {
    limbs a, b, r1, r2;
    for (int n = 0; n < FIELD_ROUNDS; n++) {
        pick(a, &FP);
        pick(b, &FP);
        fp_mul(r1, a, b);
        fp_mul_c(r2, a, b);
        if (!same(r1, r2)) {
            return 1;
        }
        fp_add(r1, a, b);
        fp_add_c(r2, a, b);
        if (!same(r1, r2)) {
            return 2;
        }
        fp_sub(r1, a, b);
        fp_sub_c(r2, a, b);
        if (!same(r1, r2)) {
            return 3;
        }
        pick(b, &FN);
        if (n & 1) {                        /* the first operand may be any 256-bit value */
            for (int i = 0; i < 8; i++) {
                a[i] = (n & 2) ? 0xffffffffu - (rnd() & 1) : rnd();
            }
        }
        mont_mul(r1, a, b, &FN);
        mont_mul_c(r2, a, b, &FN);
        if (!same(r1, r2)) {
            return 4;
        }
    }
    return 0;
}

static int eq(const uint8_t *a, const uint8_t *b, size_t n) {
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++) {
        d |= a[i] ^ b[i];
    }
    return d == 0;
}

static void say_case(int i) {                /* "case N\n" on stdout (Linux EABI write) */
    char buf[16] = "case ";
    int n = 5;
    char digits[8];
    int k = 0;
    do {
        digits[k++] = (char)('0' + i % 10);
        i /= 10;
    } while (i);
    while (k) {
        buf[n++] = digits[--k];
    }
    buf[n++] = '\n';
    register int r0 __asm__("r0") = 1;
    register const char *r1 __asm__("r1") = buf;
    register int r2 __asm__("r2") = n;
    register int r7 __asm__("r7") = 4;
    __asm__ volatile("svc 0" : "+r"(r0) : "r"(r1), "r"(r2), "r"(r7) : "memory");
}

static int eq(const uint8_t *a, const uint8_t *b, size_t n);

static int api(void) {
    uint8_t out[64];
    for (int i = 0; i < N_CASES; i++) {
        const struct api_case *c = &CASES[i];
        int base = 10;
        say_case(i);
        if (esme_p256_pubkey(c->d, out) != ESME_OK || !eq(out, c->pub, 64)) {
            return base + 1;
        }
        if (esme_p256_ecdh(c->d, c->peer, out) != ESME_OK || !eq(out, c->z, 32)) {
            return base + 2;
        }
        if (esme_p256_sign(c->signer, c->digest, c->d, out) != ESME_OK || !eq(out, c->sig, 64)) {
            return base + 3;
        }
        if (esme_p256_verify(c->pub, c->digest, c->osig) != ESME_OK) {
            return base + 4;
        }
        memcpy(out, c->osig, 64);
        out[63] ^= 1;
        if (esme_p256_verify(c->pub, c->digest, out) != ESME_ERR_SIG) {
            return base + 5;
        }
    }
    return 0;
}

/* GCM on the M4 build (word loads at unaligned addresses, T-table AES,
 * octet-step GHASH): encrypt at an odd address, then decrypt in place. */
static int gcm(void) {
    uint8_t buf[1 + GCM_MAX], tag[16];
    for (int i = 0; i < N_GCM; i++) {
        const struct gcm_case *c = &GCM[i];
        uint8_t *io = buf + 1;
        say_case(i);
        if (esme_gcm_encrypt(c->key, c->iv, c->ivlen, c->aad, c->aadlen, c->pt, c->len, io, tag) !=
                ESME_OK || !eq(io, c->ct, c->len) || !eq(tag, c->tag, 16)) {
            return 21;
        }
        if (esme_gcm_decrypt(c->key, c->iv, c->ivlen, c->aad, c->aadlen, io, c->len, c->tag, 12, io) !=
                ESME_OK || !eq(io, c->pt, c->len)) {
            return 22;
        }
    }
    return 0;
}

int run(void) {
    int r = field();
    r = r ? r : api();
    return r ? r : gcm();
}

__attribute__((naked, noreturn)) void _start(void) {
    __asm__ volatile("bl run\n mov r7, #1\n svc 0\n");
}
