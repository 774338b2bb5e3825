/* NIST P-256 (FIPS 186-4 D.1.2.3): ECDSA sign and verify, ECDH, public-key
 * validation and decompression, for 32-bit MCUs.
 *
 * Field arithmetic: 8 x 32-bit little-endian limbs, schoolbook products and
 * the special-form reduction of FIPS 186-4 D.2.3 (p = 2^256 - 2^224 + 2^192
 * + 2^96 - 1); on the Cortex-M4 generated assembly (esme_p256_m4.h).
 * Scalars mod n: the same limbs in Montgomery form (CIOS).
 * Points: Jacobian coordinates with a = -3 doubling and mixed addition.
 * Scalar multiplication by a secret (signing, ECDH, public key): regular
 * signed 4-bit windows over a table of the eight odd multiples, each entry
 * selected by reading all eight under masks; the one addition that can meet
 * an exceptional case uses the complete formula of Renes, Costello and
 * Batina (ct_mul explains why). No branch or address depends on the
 * scalar. Verification uses only public data: width-5 NAF for both scalars
 * on one doubling chain, with ordinary branches for the exceptional cases.
 */
#include <string.h>

#include "esmecrypto.h"

typedef uint32_t limbs[8];

typedef struct {
    limbs x, y, z;
} point;

typedef struct {
    limbs m;        /* modulus */
    limbs r2;       /* R^2 mod m, R = 2^256 */
    limbs m_2;      /* m - 2: Fermat inversion exponent */
    uint32_t minv;  /* -m^-1 mod 2^32 */
} modulus;

static const modulus FP = {
    {0xffffffff, 0xffffffff, 0xffffffff, 0x00000000, 0x00000000, 0x00000000, 0x00000001, 0xffffffff},
    {0x00000003, 0x00000000, 0xffffffff, 0xfffffffb, 0xfffffffe, 0xffffffff, 0xfffffffd, 0x00000004},
    {0xfffffffd, 0xffffffff, 0xffffffff, 0x00000000, 0x00000000, 0x00000000, 0x00000001, 0xffffffff},
    0x00000001,
};

static const modulus FN = {
    {0xfc632551, 0xf3b9cac2, 0xa7179e84, 0xbce6faad, 0xffffffff, 0xffffffff, 0x00000000, 0xffffffff},
    {0xbe79eea2, 0x83244c95, 0x49bd6fa6, 0x4699799c, 0x2b6bec59, 0x2845b239, 0xf3d95620, 0x66e12d94},
    {0xfc63254f, 0xf3b9cac2, 0xa7179e84, 0xbce6faad, 0xffffffff, 0xffffffff, 0x00000000, 0xffffffff},
    0xee00bc4f,
};

static const limbs CURVE_B = {0x27d2604b, 0x3bce3c3e, 0xcc53b0f6, 0x651d06b0,
                              0x769886bc, 0xb3ebbd55, 0xaa3a93e7, 0x5ac635d8};
static const limbs SQRT_EXP = {0x00000000, 0x00000000, 0x40000000, 0x00000000,
                               0x00000000, 0x40000000, 0xc0000000, 0x3fffffff}; /* (p+1)/4 */

/* The Montgomery product and the field multiplication, addition and
 * subtraction are portable C below. On the Cortex-M4 (ARMv7E-M with the DSP
 * extension, GCC) the generated assembly of esme_p256_m4.h replaces them;
 * the C stays the reference it is tested against (ESME_SELFTEST builds
 * both, host_tests/test_crypto_m4.py runs them under qemu-arm). */
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__) && defined(__thumb2__) && !defined(ESME_PORTABLE)
#define ESME_M4_ASM 1
#include "esme_p256_m4.h"
#else
#define ESME_M4_ASM 0
#define fp_mul fp_mul_c
#define fp_add fp_add_c
#define fp_sub fp_sub_c
#define mont_mul mont_mul_c
#endif

/* -- multi-precision helpers ---------------------------------------------- */

static uint32_t mp_sub(limbs r, const limbs a, const limbs b) {
    uint64_t bw = 0;
    for (int i = 0; i < 8; i++) {
        uint64_t d = (uint64_t)a[i] - b[i] - bw;
        r[i] = (uint32_t)d;
        bw = (d >> 32) & 1;
    }
    return (uint32_t)bw;
}

/* r = mask ? a : r, mask all ones or zero */
static void mp_cmov(limbs r, const limbs a, uint32_t mask) {
    for (int i = 0; i < 8; i++) {
        r[i] ^= mask & (r[i] ^ a[i]);
    }
}

static uint32_t mp_is_zero(const limbs a) {
    uint32_t acc = 0;
    for (int i = 0; i < 8; i++) {
        acc |= a[i];
    }
    return (uint32_t)(((uint64_t)acc - 1) >> 63);   /* 1 if zero */
}

/* 1 if a < m */
static uint32_t mp_lt(const limbs a, const limbs m) {
    limbs t;
    return mp_sub(t, a, m);
}

static void mp_from_bytes(limbs r, const uint8_t b[32]) {
    for (int i = 0; i < 8; i++) {
        const uint8_t *p = b + 28 - 4 * i;
        r[i] = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    }
}

static void mp_to_bytes(uint8_t b[32], const limbs a) {
    for (int i = 0; i < 8; i++) {
        uint8_t *p = b + 28 - 4 * i;
        p[0] = (uint8_t)(a[i] >> 24);
        p[1] = (uint8_t)(a[i] >> 16);
        p[2] = (uint8_t)(a[i] >> 8);
        p[3] = (uint8_t)a[i];
    }
}

/* -- modular arithmetic (inputs < m, outputs < m) --------------------------- */

/* One pass computes a + b and a + b - m together; the mask picks one. */
static void mod_add(limbs r, const limbs a, const limbs b, const modulus *M) {
    limbs s, t;
    uint64_t c = 0;
    int64_t d = 0;
    for (int i = 0; i < 8; i++) {
        c += (uint64_t)a[i] + b[i];
        s[i] = (uint32_t)c;
        d += (int64_t)(uint32_t)c - M->m[i];
        t[i] = (uint32_t)d;
        c >>= 32;
        d >>= 32;                           /* arithmetic shift (GCC, Clang) */
    }
    /* a + b >= m exactly when the carry out of a + b covers the borrow */
    uint32_t ge = (uint32_t)((int64_t)c + d >= 0);
    for (int i = 0; i < 8; i++) {
        r[i] = s[i] ^ ((0u - ge) & (s[i] ^ t[i]));
    }
}

#if !ESME_M4_ASM || defined(ESME_SELFTEST)
/* only fp_sub_c subtracts mod m: without it (the M4 assembly) mod_sub would be
 * an unused static, an error under the native-module build's -Werror */
static void mod_sub(limbs r, const limbs a, const limbs b, const modulus *M) {
    limbs s, t;
    int64_t d = 0;
    uint64_t c = 0;
    for (int i = 0; i < 8; i++) {
        d += (int64_t)a[i] - b[i];
        s[i] = (uint32_t)d;
        d >>= 32;
        c += (uint64_t)s[i] + M->m[i];
        t[i] = (uint32_t)c;
        c >>= 32;
    }
    uint32_t neg = (uint32_t)(d < 0);
    for (int i = 0; i < 8; i++) {
        r[i] = s[i] ^ ((0u - neg) & (s[i] ^ t[i]));
    }
}
#endif

/* hi:lo = a * b + lo + hi (never overflows 64 bits). On ARMv7E-M (the
 * STM32WB55's Cortex-M4) that is the single UMAAL instruction, which GCC
 * does not emit from C; elsewhere plain C. */
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
#define MULADD(lo, hi, a, b) __asm__("umaal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(a), "r"(b))
#else
#define MULADD(lo, hi, a, b) do { \
        uint64_t m_ = (uint64_t)(a) * (b) + (lo) + (hi); \
        (lo) = (uint32_t)m_; \
        (hi) = (uint32_t)(m_ >> 32); \
    } while (0)
#endif

#if !ESME_M4_ASM || defined(ESME_SELFTEST)
/* Montgomery product a * b / R mod m (CIOS), one MULADD per word product.
 * a < 2^256, b < m. */
static void mont_mul_c(limbs r, const limbs a, const limbs b, const modulus *M) {
    uint32_t t[10] = {0};
    for (int i = 0; i < 8; i++) {
        uint32_t c = 0, bi = b[i], lo;
        for (int j = 0; j < 8; j++) {
            lo = t[j];
            MULADD(lo, c, a[j], bi);
            t[j] = lo;
        }
        uint64_t s = (uint64_t)t[8] + c;
        t[8] = (uint32_t)s;
        t[9] = (uint32_t)(s >> 32);
        uint32_t q = t[0] * M->minv;
        c = 0;
        lo = t[0];
        MULADD(lo, c, q, M->m[0]);              /* lo becomes 0 */
        for (int j = 1; j < 8; j++) {
            lo = t[j];
            MULADD(lo, c, q, M->m[j]);
            t[j - 1] = lo;
        }
        s = (uint64_t)t[8] + c;
        t[7] = (uint32_t)s;
        t[8] = t[9] + (uint32_t)(s >> 32);
    }
    limbs s;
    uint32_t bw = mp_sub(s, t, M->m);
    memcpy(r, t, 32);
    mp_cmov(r, s, 0u - (t[8] | (bw ^ 1)));
}
#endif

static void to_mont(limbs r, const limbs a, const modulus *M) {
    mont_mul(r, a, M->r2, M);
}

static void from_mont(limbs r, const limbs a, const modulus *M) {
    limbs one = {1, 0, 0, 0, 0, 0, 0, 0};
    mont_mul(r, a, one, M);
}

/* r = a^e in the Montgomery domain; e is public (left-to-right). */
static void mont_pow(limbs r, const limbs a, const limbs e, const modulus *M) {
    limbs acc, one = {1, 0, 0, 0, 0, 0, 0, 0};
    to_mont(acc, one, M);
    for (int i = 255; i >= 0; i--) {
        mont_mul(acc, acc, acc, M);
        if ((e[i >> 5] >> (i & 31)) & 1) {
            mont_mul(acc, acc, a, M);
        }
    }
    memcpy(r, acc, 32);
}

/* -- field arithmetic mod p ---------------------------------------------------- */

#if !ESME_M4_ASM || defined(ESME_SELFTEST)
/* t = a * b, 512 bits (operand scanning, one MULADD per word product) */
static void mul_wide(uint32_t t[16], const limbs a, const limbs b) {
    for (int i = 0; i < 16; i++) {
        t[i] = 0;
    }
    for (int i = 0; i < 8; i++) {
        uint32_t c = 0;
        uint32_t bi = b[i];
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 8
#endif
        for (int j = 0; j < 8; j++) {
            uint32_t lo = t[i + j];
            MULADD(lo, c, a[j], bi);
            t[i + j] = lo;
        }
        t[i + 8] = c;
    }
}

/* Add top * 2^256 == top * (2^224 - 2^192 - 2^96 + 1) (mod p) into r and
 * propagate; returns the new top. Signed shifts are arithmetic (GCC, Clang). */
static int64_t fold(limbs r, int64_t top) {
    int64_t acc = (int64_t)r[0] + top;
    r[0] = (uint32_t)acc;
    acc = (acc >> 32) + r[1];
    r[1] = (uint32_t)acc;
    acc = (acc >> 32) + r[2];
    r[2] = (uint32_t)acc;
    acc = (acc >> 32) + r[3] - top;
    r[3] = (uint32_t)acc;
    acc = (acc >> 32) + r[4];
    r[4] = (uint32_t)acc;
    acc = (acc >> 32) + r[5];
    r[5] = (uint32_t)acc;
    acc = (acc >> 32) + r[6] - top;
    r[6] = (uint32_t)acc;
    acc = (acc >> 32) + r[7] + top;
    r[7] = (uint32_t)acc;
    return acc >> 32;
}

/* r = t mod p (FIPS 186-4 D.2.3): s1 + 2 s2 + 2 s3 + s4 + s5 - d1 - d2 - d3 - d4,
 * word by word with signed 64-bit accumulators. Constant time. */
static void reduce_p(limbs r, const uint32_t c[16]) {
    int64_t acc = 0;
    /* word i: the terms of each of s1..s5, d1..d4 that land in it */
    acc += (int64_t)c[0] + c[8] + c[9] - c[11] - c[12] - c[13] - c[14];
    r[0] = (uint32_t)acc;
    acc >>= 32;
    acc += (int64_t)c[1] + c[9] + c[10] - c[12] - c[13] - c[14] - c[15];
    r[1] = (uint32_t)acc;
    acc >>= 32;
    acc += (int64_t)c[2] + c[10] + c[11] - c[13] - c[14] - c[15];
    r[2] = (uint32_t)acc;
    acc >>= 32;
    acc += (int64_t)c[3] + 2 * (int64_t)c[11] + 2 * (int64_t)c[12] + c[13] - c[15] - c[8] - c[9];
    r[3] = (uint32_t)acc;
    acc >>= 32;
    acc += (int64_t)c[4] + 2 * (int64_t)c[12] + 2 * (int64_t)c[13] + c[14] - c[9] - c[10];
    r[4] = (uint32_t)acc;
    acc >>= 32;
    acc += (int64_t)c[5] + 2 * (int64_t)c[13] + 2 * (int64_t)c[14] + c[15] - c[10] - c[11];
    r[5] = (uint32_t)acc;
    acc >>= 32;
    acc += (int64_t)c[6] + 2 * (int64_t)c[14] + 2 * (int64_t)c[15] + c[14] + c[13] - c[8] - c[9];
    r[6] = (uint32_t)acc;
    acc >>= 32;
    acc += (int64_t)c[7] + 2 * (int64_t)c[15] + c[15] + c[8] - c[10] - c[11] - c[12] - c[13];
    r[7] = (uint32_t)acc;
    acc >>= 32;
    /* value = r + acc * 2^256 with acc small: two folds bring it into
     * [0, 2^256) (see README.md), then one conditional subtraction. */
    acc = fold(r, acc);
    fold(r, acc);
    limbs t;
    uint32_t bw = mp_sub(t, r, FP.m);
    mp_cmov(r, t, 0u - (bw ^ 1));
}

static void fp_mul_c(limbs r, const limbs a, const limbs b) {
    uint32_t t[16];
    mul_wide(t, a, b);
    reduce_p(r, t);
}

static void fp_add_c(limbs r, const limbs a, const limbs b) {
    mod_add(r, a, b, &FP);
}

static void fp_sub_c(limbs r, const limbs a, const limbs b) {
    mod_sub(r, a, b, &FP);
}
#endif

/* r = a^e mod p; e public */
static void fp_pow(limbs r, const limbs a, const limbs e) {
    limbs acc = {1, 0, 0, 0, 0, 0, 0, 0};
    for (int i = 255; i >= 0; i--) {
        fp_mul(acc, acc, acc);
        if ((e[i >> 5] >> (i & 31)) & 1) {
            fp_mul(acc, acc, a);
        }
    }
    memcpy(r, acc, 32);
}

/* r = a^(p-2) = 1/a mod p (0 for 0), by an addition chain over the words of
 * p - 2 = ffffffff 00000001 00000000 00000000 00000000 ffffffff ffffffff
 * fffffffd: 263 squarings and 13 multiplications instead of the 256 + 128 of
 * plain square-and-multiply. e_k below is a^(2^k - 1). Constant time. */
static void sqr_n(limbs r, const limbs a, int n) {
    memcpy(r, a, 32);
    while (n--) {
        fp_mul(r, r, r);
    }
}

static void fp_inv(limbs r, const limbs a) {
    limbs e2, e4, e6, e8, e14, e16, e32, t;
    sqr_n(t, a, 1);
    fp_mul(e2, t, a);
    sqr_n(t, e2, 2);
    fp_mul(e4, t, e2);
    sqr_n(t, e4, 2);
    fp_mul(e6, t, e2);
    sqr_n(t, e4, 4);
    fp_mul(e8, t, e4);
    sqr_n(t, e8, 6);
    fp_mul(e14, t, e6);
    sqr_n(t, e8, 8);
    fp_mul(e16, t, e8);
    sqr_n(t, e16, 16);
    fp_mul(e32, t, e16);
    sqr_n(t, e32, 32);                         /* ffffffff 00000001 */
    fp_mul(t, t, a);
    sqr_n(t, t, 96 + 32);                      /* three zero words, ffffffff */
    fp_mul(t, t, e32);
    sqr_n(t, t, 32);                           /* ffffffff */
    fp_mul(t, t, e32);
    sqr_n(t, t, 16);                           /* ffff */
    fp_mul(t, t, e16);
    sqr_n(t, t, 14);                           /* fffd: fourteen ones, 0, 1 */
    fp_mul(t, t, e14);
    sqr_n(t, t, 2);
    fp_mul(r, t, a);
}

/* -- points ------------------------------------------------------------------- */
/* Scalar multiplication works in Jacobian coordinates (x = X/Z^2, y = Y/Z^3),
 * where a doubling costs 8 field multiplications and adding an affine point
 * 11. Those formulas have exceptional cases (adding a point to itself or its
 * negative, or to the identity); the scalar multiplications are arranged so
 * that they cannot arise, except for the very last addition of a secret
 * scalar multiplication, which therefore uses the complete projective formula
 * of Renes, Costello and Batina (EUROCRYPT 2016, Algorithm 4, a = -3).
 * Verification handles public data only and checks the cases with branches. */

typedef struct {
    limbs x, y;
} affine;

#define FMUL(r, a, b) fp_mul((r), (a), (b))
#define FADD(r, a, b) fp_add((r), (a), (b))
#define FSUB(r, a, b) fp_sub((r), (a), (b))

static void curve_b(limbs b) {
    memcpy(b, CURVE_B, 32);
}

/* r = p + q, complete for all inputs including the identity and p == q
 * (Renes-Costello-Batina Algorithm 4, a = -3). r may alias p or q. */
static void point_add(point *r, const point *p, const point *q, const limbs b) {
    limbs t0, t1, t2, t3, t4, x3, y3, z3;
    FMUL(t0, p->x, q->x);
    FMUL(t1, p->y, q->y);
    FMUL(t2, p->z, q->z);
    FADD(t3, p->x, p->y);
    FADD(t4, q->x, q->y);
    FMUL(t3, t3, t4);
    FADD(t4, t0, t1);
    FSUB(t3, t3, t4);
    FADD(t4, p->y, p->z);
    FADD(x3, q->y, q->z);
    FMUL(t4, t4, x3);
    FADD(x3, t1, t2);
    FSUB(t4, t4, x3);
    FADD(x3, p->x, p->z);
    FADD(y3, q->x, q->z);
    FMUL(x3, x3, y3);
    FADD(y3, t0, t2);
    FSUB(y3, x3, y3);
    FMUL(z3, b, t2);
    FSUB(x3, y3, z3);
    FADD(z3, x3, x3);
    FADD(x3, x3, z3);
    FSUB(z3, t1, x3);
    FADD(x3, t1, x3);
    FMUL(y3, b, y3);
    FADD(t1, t2, t2);
    FADD(t2, t1, t2);
    FSUB(y3, y3, t2);
    FSUB(y3, y3, t0);
    FADD(t1, y3, y3);
    FADD(y3, t1, y3);
    FADD(t1, t0, t0);
    FADD(t0, t1, t0);
    FSUB(t0, t0, t2);
    FMUL(t1, t4, y3);
    FMUL(t2, t0, y3);
    FMUL(y3, x3, z3);
    FADD(y3, y3, t2);
    FMUL(x3, x3, t3);
    FSUB(x3, x3, t1);
    FMUL(z3, t4, z3);
    FMUL(t1, t3, t0);
    FADD(z3, z3, t1);
    memcpy(r->x, x3, 32);
    memcpy(r->y, y3, 32);
    memcpy(r->z, z3, 32);
}

/* r = (x, y, 1) */
static void jac_from_affine(point *r, const limbs x, const limbs y) {
    memcpy(r->x, x, 32);
    memcpy(r->y, y, 32);
    memset(r->z, 0, 32);
    r->z[0] = 1;
}

/* r = 2p in Jacobian coordinates, a = -3 (dbl-2001-b of the Explicit-Formulas
 * Database, with Z3 = 2 Y Z): 3M + 5S. The identity (Z = 0) stays the
 * identity. r may alias p. */
static void jac_double(point *r, const point *p) {
    limbs delta, gamma, beta, alpha, t;
    FMUL(delta, p->z, p->z);
    FMUL(gamma, p->y, p->y);
    FMUL(beta, p->x, gamma);
    FSUB(t, p->x, delta);
    FADD(alpha, p->x, delta);
    FMUL(alpha, alpha, t);
    FADD(t, alpha, alpha);
    FADD(alpha, alpha, t);                     /* 3 (X - delta)(X + delta) */
    FMUL(r->z, p->y, p->z);                    /* last use of p */
    FADD(r->z, r->z, r->z);
    FADD(beta, beta, beta);
    FADD(beta, beta, beta);                    /* 4 beta */
    FMUL(r->x, alpha, alpha);
    FSUB(r->x, r->x, beta);
    FSUB(r->x, r->x, beta);
    FSUB(t, beta, r->x);
    FMUL(t, alpha, t);
    FMUL(gamma, gamma, gamma);
    FADD(gamma, gamma, gamma);
    FADD(gamma, gamma, gamma);
    FADD(gamma, gamma, gamma);                 /* 8 gamma^2 */
    FSUB(r->y, t, gamma);
}

/* r = p + (x2, y2), Jacobian plus affine (add-1998-cmo with Z2 = 1): 8M + 3S.
 * Wrong when p is the identity or p = +-(x2, y2); returns 1 when H = 0 (p =
 * +-q) and 2 more when also R = 0 (p = q), computed without branching, so
 * the callers that can meet those cases (verification) can tell. r may alias
 * p. */
static int jac_madd(point *r, const point *p, const limbs x2, const limbs y2) {
    limbs zz, h, rr, hh, hhh, v, t;
    FMUL(zz, p->z, p->z);
    FMUL(h, x2, zz);
    FSUB(h, h, p->x);                          /* H = U2 - X1 */
    FMUL(zz, zz, p->z);
    FMUL(rr, y2, zz);
    FSUB(rr, rr, p->y);                        /* R = S2 - Y1 */
    FMUL(hh, h, h);
    FMUL(hhh, hh, h);
    FMUL(v, p->x, hh);                         /* V = X1 H^2 */
    FMUL(t, p->y, hhh);
    FMUL(r->z, p->z, h);                       /* last use of p */
    FMUL(r->x, rr, rr);
    FSUB(r->x, r->x, hhh);
    FSUB(r->x, r->x, v);
    FSUB(r->x, r->x, v);
    FSUB(v, v, r->x);
    FMUL(v, rr, v);
    FSUB(r->y, v, t);
    uint32_t same_x = mp_is_zero(h);
    return (int)(same_x | (same_x & mp_is_zero(rr)) << 1);
}

/* (2i + 1) G for i = 0..7, affine, little-endian words (computed with exact
 * integer arithmetic from FIPS 186-4 D.1.2.3's G; checked by every signature
 * and public-key test). */
static const affine GTAB[8] = {
    {{0xd898c296, 0xf4a13945, 0x2deb33a0, 0x77037d81, 0x63a440f2, 0xf8bce6e5, 0xe12c4247, 0x6b17d1f2},
     {0x37bf51f5, 0xcbb64068, 0x6b315ece, 0x2bce3357, 0x7c0f9e16, 0x8ee7eb4a, 0xfe1a7f9b, 0x4fe342e2}},
    {{0xc6e7fd6c, 0xfb41661b, 0xefada985, 0xe6c6b721, 0x1d4bf165, 0xc8f7ef95, 0xa6330a44, 0x5ecbe4d1},
     {0xa27d5032, 0x9a79b127, 0x384fb83d, 0xd82ab036, 0x1a64a2ec, 0x374b06ce, 0x4998ff7e, 0x8734640c}},
    {{0xc3d033ed, 0x21554a0d, 0x1f5be524, 0xef8c82fd, 0x08668fdf, 0xd784c856, 0x515140d2, 0x51590b7a},
     {0xfda16da4, 0xd1d0bb44, 0xd4d80888, 0x0d012f00, 0xbf8a7926, 0x8ae1bf36, 0x904a727d, 0xe0c17da8}},
    {{0x3187b2a3, 0x30062870, 0xa80fef5b, 0x7ef9f8b8, 0x7c01fb60, 0x25bb3066, 0xa0bf7b46, 0x8e533b6f},
     {0xc1f400b4, 0xc55e1a86, 0xcb041b21, 0x53c73633, 0xa6f59000, 0x6d069f83, 0xe0331836, 0x73eb1dbd}},
    {{0x90949ee0, 0xd79e8a4b, 0x2c6df8b3, 0x9e0acb8c, 0x1d71f872, 0x878938d5, 0xfedf0b71, 0xea68d7b6},
     {0x4dd048fa, 0xe85a224a, 0xa4de823f, 0x4d714fea, 0x4a8ea0c8, 0x87014a96, 0x72c9fce7, 0x2a2744c9}},
    {{0x74bc21d1, 0x433391d3, 0x255048bf, 0x16742ed0, 0xb0c21cda, 0x0638379d, 0x883b4c59, 0x3ed113b7},
     {0xe82a3740, 0xe2f8eefc, 0x5e9889da, 0x090d04da, 0xa4f4c68a, 0x24c843af, 0xccc4c8a2, 0x9099209a}},
    {{0x46072c01, 0x98e15d9d, 0x65ead58a, 0x792e284b, 0xd85ee2fc, 0x61805df2, 0xe0ac495a, 0x177c837a},
     {0xefc7bfd8, 0x9c43bbe2, 0xa1fb4df3, 0x26ee14c3, 0xb40f4e72, 0xa24091ad, 0x4ebea558, 0x63bb58cd}},
    {{0xe59b9d5f, 0x63668c63, 0xde3a0ef1, 0xae03af92, 0x99888265, 0xadfb3789, 0x971abae7, 0xf0454dc6},
     {0x0d034f36, 0x47e59cde, 0x75b5fa3f, 0x2a3b21ce, 0x1f9643e6, 0x4e6594e5, 0x592e2d1f, 0xb5b93ee3}},
};

/* tab[i] = (2i + 1) P for a public affine P (ECDH's peer key, the verifier's
 * Q): 2P, then P added 13 times (mP + P is never exceptional for m = 2..14),
 * then the seven Jacobian points made affine with one inversion
 * (Montgomery's trick: prefix products of the Z, one inverse, walk back). */
static void odd_multiples(affine tab[8], const limbs x, const limbs y) {
    point acc;
    limbs z[7], pre[7], inv, zi, t;
    memcpy(tab[0].x, x, 32);
    memcpy(tab[0].y, y, 32);
    jac_from_affine(&acc, x, y);
    jac_double(&acc, &acc);
    for (int m = 3; m <= 15; m++) {
        jac_madd(&acc, &acc, x, y);
        if (m & 1) {                           /* Jacobian X, Y kept in the table itself */
            int i = (m - 1) >> 1;
            memcpy(tab[i].x, acc.x, 32);
            memcpy(tab[i].y, acc.y, 32);
            memcpy(z[i - 1], acc.z, 32);
        }
    }
    memcpy(pre[0], z[0], 32);
    for (int i = 1; i < 7; i++) {
        FMUL(pre[i], pre[i - 1], z[i]);
    }
    fp_inv(inv, pre[6]);                       /* 1 / (Z1 ... Z7) */
    for (int i = 6; i >= 0; i--) {
        if (i > 0) {
            FMUL(zi, inv, pre[i - 1]);         /* 1 / Zi */
            FMUL(inv, inv, z[i]);
        } else {
            memcpy(zi, inv, 32);
        }
        FMUL(t, zi, zi);
        FMUL(tab[i + 1].x, tab[i + 1].x, t);
        FMUL(t, t, zi);
        FMUL(tab[i + 1].y, tab[i + 1].y, t);
    }
}

/* 5 bits of k from bit position pos (public), as 0..31 */
static uint32_t bits5(const limbs k, int pos) {
    int w = pos >> 5, off = pos & 31;
    uint32_t v = k[w] >> off;
    if (off > 27 && w < 7) {
        v |= k[w + 1] << (32 - off);
    }
    return v & 31;
}

/* sel = tab[idx], negated when neg is 1: all eight entries are read under
 * masks, so the address pattern does not depend on idx. */
static void table_select(affine *sel, const affine tab[8], uint32_t idx, uint32_t neg) {
    limbs ny, zero = {0};
    memset(sel, 0, sizeof *sel);
    for (uint32_t i = 0; i < 8; i++) {
        uint32_t mask = 0u - (uint32_t)(((uint64_t)(i ^ idx) - 1) >> 63);
        mp_cmov(sel->x, tab[i].x, mask);
        mp_cmov(sel->y, tab[i].y, mask);
    }
    FSUB(ny, zero, sel->y);
    mp_cmov(sel->y, ny, 0u - neg);
}

/* (x, y) = k P for a secret 1 <= k < n, P given by its odd multiples.
 * Constant time: regular signed 4-bit windows (digits odd, -15..15: no zero
 * digit and so no skipped addition) of the odd one of k and n - k, the
 * result negated back when k was even. Digit i is bits 4i..4i+4 of k' with
 * bit 4i set, minus 16; the top digit is (k' >> 252) | 1 (1..15). After the
 * top digit the accumulator is m P with m odd and 16 m +- d < n for every
 * digit but the last, so no addition before the last can be exceptional;
 * the last one (where 16 m = n + d can happen, k' = n - 2|d|) is done with
 * the complete formula in homogeneous coordinates. */
static void ct_mul(limbs x, limbs y, const affine tab[8], const limbs k) {
    limbs kk, t, b;
    point acc, h, q;
    affine sel;
    uint32_t even = (k[0] & 1) ^ 1;
    mp_sub(t, FN.m, k);
    memcpy(kk, k, 32);
    mp_cmov(kk, t, 0u - even);
    table_select(&sel, tab, ((kk[7] >> 28) | 1) >> 1, 0);
    jac_from_affine(&acc, sel.x, sel.y);
    for (int i = 62; i >= 0; i--) {
        for (int d = 0; d < 4; d++) {
            jac_double(&acc, &acc);
        }
        uint32_t v = bits5(kk, 4 * i) | 1;
        uint32_t neg = (v >> 4) ^ 1;                  /* v < 16: negative digit */
        uint32_t mag = ((v - 16) ^ (0u - neg)) + neg;  /* |v - 16| */
        table_select(&sel, tab, mag >> 1, neg);
        if (i > 0) {
            jac_madd(&acc, &acc, sel.x, sel.y);
        }
    }
    /* last addition, complete: (X, Y, Z) Jacobian is (X Z : Y : Z^3) */
    FMUL(t, acc.z, acc.z);
    FMUL(h.z, t, acc.z);
    FMUL(h.x, acc.x, acc.z);
    memcpy(h.y, acc.y, 32);
    jac_from_affine(&q, sel.x, sel.y);        /* Z = 1: the same point homogeneously */
    curve_b(b);
    point_add(&h, &h, &q, b);
    fp_inv(t, h.z);                            /* Z != 0: k P is not the identity */
    FMUL(x, h.x, t);
    FMUL(y, h.y, t);
    limbs zero = {0};
    FSUB(t, zero, y);
    mp_cmov(y, t, 0u - even);
    memset(kk, 0, 32);
}

/* Width-5 NAF of a public u < 2^256: naf[i] is the digit of 2^i, odd in
 * -15..15 or 0, at most one non-zero digit in any five. Variable time. */
static void wnaf5(int8_t naf[257], const limbs u) {
    uint32_t t[9];
    memcpy(t, u, 32);
    t[8] = 0;
    for (int i = 0; i < 257; i++) {
        int d = 0;
        if (t[0] & 1) {
            d = (int)(t[0] & 31);
            if (d >= 16) {
                d -= 32;
            }
            /* t -= d (t stays >= 0: d <= t mod 32 when positive) */
            uint64_t c = (uint64_t)t[0] - (uint64_t)(int64_t)d;
            t[0] = (uint32_t)c;
            for (int j = 1; j < 9 && (c >> 32); j++) {   /* carry of t + |d| */
                c = (uint64_t)t[j] + 1;
                t[j] = (uint32_t)c;
            }
        }
        naf[i] = (int8_t)d;
        for (int j = 0; j < 8; j++) {
            t[j] = (t[j] >> 1) | (t[j + 1] << 31);
        }
        t[8] >>= 1;
    }
}

/* acc += d * P with P's odd multiples in tab (d odd, public); acc may be
 * the identity (*live == 0) and may meet +-P. */
static void add_digit_vt(point *acc, int *live, const affine tab[8], int d) {
    limbs y, zero = {0};
    const affine *e = &tab[(d < 0 ? -d : d) >> 1];
    memcpy(y, e->y, 32);
    if (d < 0) {
        FSUB(y, zero, y);
    }
    if (!*live) {
        jac_from_affine(acc, e->x, y);
        *live = 1;
        return;
    }
    int ex = jac_madd(acc, acc, e->x, y);
    if (ex & 2) {                              /* acc == P: double P */
        jac_from_affine(acc, e->x, y);
        jac_double(acc, acc);
    } else if (ex) {                           /* acc == -P: the identity */
        *live = 0;
    }
}

/* y^2 == x^3 - 3x + b, x and y < p */
static int on_curve(const limbs x, const limbs y) {
    limbs l, r, t, b;
    const uint32_t *xm = x, *ym = y;
    if (!mp_lt(x, FP.m) || !mp_lt(y, FP.m)) {
        return 0;
    }
    curve_b(b);
    FMUL(l, ym, ym);
    FMUL(r, xm, xm);
    FMUL(r, r, xm);
    FADD(t, xm, xm);
    FADD(t, t, xm);
    FSUB(r, r, t);
    FADD(r, r, b);
    FSUB(t, l, r);
    return (int)mp_is_zero(t);
}

/* 1 <= k < n */
static int scalar_ok(const limbs k) {
    return !mp_is_zero(k) && mp_lt(k, FN.m);
}

/* reduce a < 2^256 once modulo n (enough: 2^256 < 2n) */
static void reduce_n(limbs a) {
    limbs t;
    uint32_t bw = mp_sub(t, a, FN.m);
    mp_cmov(a, t, 0u - (bw ^ 1));
}

/* -- API ------------------------------------------------------------------------ */

int esme_p256_validate(const uint8_t pub[64]) {
    limbs x, y;
    mp_from_bytes(x, pub);
    mp_from_bytes(y, pub + 32);
    return on_curve(x, y) ? ESME_OK : ESME_ERR_POINT;
}

int esme_p256_decompress(const uint8_t in[33], uint8_t pub[64]) {
    limbs x, rhs, y, t, b, chk;
    const uint32_t *xm = x;
    if (in[0] != 2 && in[0] != 3) {
        return ESME_ERR_POINT;
    }
    mp_from_bytes(x, in + 1);
    if (!mp_lt(x, FP.m)) {
        return ESME_ERR_POINT;
    }
    curve_b(b);
    FMUL(rhs, xm, xm);
    FMUL(rhs, rhs, xm);
    FADD(t, xm, xm);
    FADD(t, t, xm);
    FSUB(rhs, rhs, t);
    FADD(rhs, rhs, b);
    fp_pow(y, rhs, SQRT_EXP);                 /* p = 3 mod 4 */
    FMUL(chk, y, y);
    FSUB(chk, chk, rhs);
    if (!mp_is_zero(chk)) {
        return ESME_ERR_POINT;
    }
    if ((y[0] & 1) != (uint32_t)(in[0] & 1)) {
        if (mp_is_zero(y)) {
            return ESME_ERR_POINT;
        }
        mp_sub(y, FP.m, y);
    }
    mp_to_bytes(pub, x);
    mp_to_bytes(pub + 32, y);
    return ESME_OK;
}

int esme_p256_pubkey(const uint8_t priv[32], uint8_t pub[64]) {
    limbs d, x, y;
    mp_from_bytes(d, priv);
    if (!scalar_ok(d)) {
        return ESME_ERR_KEY;
    }
    ct_mul(x, y, GTAB, d);
    mp_to_bytes(pub, x);
    mp_to_bytes(pub + 32, y);
    memset(d, 0, 32);
    return ESME_OK;
}

int esme_p256_ecdh(const uint8_t priv[32], const uint8_t pub[64], uint8_t z[32]) {
    limbs d, x, y;
    affine tab[8];
    mp_from_bytes(d, priv);
    if (!scalar_ok(d)) {
        return ESME_ERR_KEY;
    }
    mp_from_bytes(x, pub);
    mp_from_bytes(y, pub + 32);
    if (!on_curve(x, y)) {                     /* SP 800-56A 5.6.2.3.3 partial validation */
        return ESME_ERR_POINT;
    }
    odd_multiples(tab, x, y);
    ct_mul(x, y, tab, d);                      /* d Q: never the identity (Q has order n) */
    memset(d, 0, 32);
    mp_to_bytes(z, x);
    return ESME_OK;
}

int esme_p256_sign(const uint8_t priv[32], const uint8_t digest[32], const uint8_t kb[32],
                   uint8_t sig[64]) {
    limbs d, k, e, r, s, x, y, km, ki, t;
    mp_from_bytes(d, priv);
    if (!scalar_ok(d)) {
        return ESME_ERR_KEY;
    }
    mp_from_bytes(k, kb);
    if (!scalar_ok(k)) {
        return ESME_ERR_NONCE;
    }
    mp_from_bytes(e, digest);
    reduce_n(e);                               /* FIPS 186-4 6.4: e = leftmost 256 bits mod n */
    ct_mul(x, y, GTAB, k);
    memcpy(r, x, 32);
    reduce_n(r);                               /* r = x mod n (x < p < 2n) */
    /* s = k^-1 (e + r d) mod n, in the Montgomery domain of n */
    to_mont(km, k, &FN);
    mont_pow(ki, km, FN.m_2, &FN);
    to_mont(t, r, &FN);
    to_mont(s, d, &FN);
    mont_mul(t, t, s, &FN);                    /* r d R */
    to_mont(s, e, &FN);
    mod_add(t, t, s, &FN);                     /* (e + r d) R */
    mont_mul(s, ki, t, &FN);
    from_mont(s, s, &FN);
    memset(d, 0, 32);
    memset(k, 0, 32);
    memset(ki, 0, 32);
    if (mp_is_zero(r) || mp_is_zero(s)) {
        return ESME_ERR_NONCE;
    }
    mp_to_bytes(sig, r);
    mp_to_bytes(sig + 32, s);
    return ESME_OK;
}

int esme_p256_verify(const uint8_t pub[64], const uint8_t digest[32], const uint8_t sig[64]) {
    limbs qx, qy, e, r, s, w, u1, u2, t, z2;
    affine qtab[8];
    int8_t n1[257], n2[257];
    point acc;
    int live = 0;
    mp_from_bytes(qx, pub);
    mp_from_bytes(qy, pub + 32);
    if (!on_curve(qx, qy)) {
        return ESME_ERR_POINT;
    }
    mp_from_bytes(r, sig);
    mp_from_bytes(s, sig + 32);
    if (!scalar_ok(r) || !scalar_ok(s)) {
        return ESME_ERR_SIG;
    }
    mp_from_bytes(e, digest);
    reduce_n(e);
    to_mont(t, s, &FN);
    mont_pow(w, t, FN.m_2, &FN);               /* s^-1 R */
    to_mont(t, e, &FN);
    mont_mul(u1, t, w, &FN);
    from_mont(u1, u1, &FN);                    /* e / s */
    to_mont(t, r, &FN);
    mont_mul(u2, t, w, &FN);
    from_mont(u2, u2, &FN);                    /* r / s */
    /* u1 G + u2 Q: both scalars in width-5 NAF, one doubling chain
     * (Shamir-Strauss), G's odd multiples from flash, Q's computed. */
    odd_multiples(qtab, qx, qy);
    wnaf5(n1, u1);
    wnaf5(n2, u2);
    memset(&acc, 0, sizeof acc);
    for (int i = 256; i >= 0; i--) {
        if (live) {
            jac_double(&acc, &acc);
        }
        if (n1[i]) {
            add_digit_vt(&acc, &live, GTAB, n1[i]);
        }
        if (n2[i]) {
            add_digit_vt(&acc, &live, qtab, n2[i]);
        }
    }
    if (!live) {
        return ESME_ERR_SIG;
    }
    /* x(acc) mod n == r without an inversion: X == r Z^2 (mod p), or
     * (r + n) Z^2 when r + n < p (x in [n, p) reduces to x - n). */
    FMUL(z2, acc.z, acc.z);
    FMUL(t, r, z2);
    FSUB(t, t, acc.x);
    if (mp_is_zero(t)) {
        return ESME_OK;
    }
    uint64_t c = 0;
    for (int i = 0; i < 8; i++) {
        c += (uint64_t)r[i] + FN.m[i];
        w[i] = (uint32_t)c;
        c >>= 32;
    }
    if (c || !mp_lt(w, FP.m)) {
        return ESME_ERR_SIG;
    }
    FMUL(t, w, z2);
    FSUB(t, t, acc.x);
    return mp_is_zero(t) ? ESME_OK : ESME_ERR_SIG;
}
