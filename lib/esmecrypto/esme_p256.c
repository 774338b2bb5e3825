/* NIST P-256 (FIPS 186-4 D.1.2.3): ECDSA sign and verify, ECDH, public-key
 * validation and decompression, for 32-bit MCUs.
 *
 * Field arithmetic: 8 x 32-bit little-endian limbs, schoolbook products and
 * the special-form reduction of FIPS 186-4 D.2.3 (p = 2^256 - 2^224 + 2^192
 * + 2^96 - 1). Scalars mod n: the same limbs in Montgomery form (CIOS).
 * Points: homogeneous projective (X:Y:Z) with the complete formulas for
 * a = -3 of Renes, Costello and Batina (EUROCRYPT 2016): Algorithm 4 to add,
 * Algorithm 6 to double; neither has an exceptional case, so there is no
 * branch on secret data. Scalar multiplication by a secret (signing, ECDH,
 * public key) is a 4-bit fixed window whose table entry is selected by
 * scanning all 16 entries under masks. Verification uses only public data
 * and takes Shamir's trick with ordinary branches.
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
static const limbs GX = {0xd898c296, 0xf4a13945, 0x2deb33a0, 0x77037d81,
                         0x63a440f2, 0xf8bce6e5, 0xe12c4247, 0x6b17d1f2};
static const limbs GY = {0x37bf51f5, 0xcbb64068, 0x6b315ece, 0x2bce3357,
                         0x7c0f9e16, 0x8ee7eb4a, 0xfe1a7f9b, 0x4fe342e2};
static const limbs SQRT_EXP = {0x00000000, 0x00000000, 0x40000000, 0x00000000,
                               0x00000000, 0x40000000, 0xc0000000, 0x3fffffff}; /* (p+1)/4 */

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

/* Montgomery product a * b / R mod m (CIOS). a < 2^256, b < m. */
static void mont_mul(limbs r, const limbs a, const limbs b, const modulus *M) {
    uint32_t t[10] = {0};
    for (int i = 0; i < 8; i++) {
        uint64_t c = 0;
        for (int j = 0; j < 8; j++) {
            c += (uint64_t)a[j] * b[i] + t[j];
            t[j] = (uint32_t)c;
            c >>= 32;
        }
        c += t[8];
        t[8] = (uint32_t)c;
        t[9] = (uint32_t)(c >> 32);
        uint32_t q = t[0] * M->minv;
        c = (uint64_t)q * M->m[0] + t[0];
        c >>= 32;
        for (int j = 1; j < 8; j++) {
            c += (uint64_t)q * M->m[j] + t[j];
            t[j - 1] = (uint32_t)c;
            c >>= 32;
        }
        c += t[8];
        t[7] = (uint32_t)c;
        t[8] = t[9] + (uint32_t)(c >> 32);
    }
    limbs s;
    uint32_t bw = mp_sub(s, t, M->m);
    memcpy(r, t, 32);
    mp_cmov(r, s, 0u - (t[8] | (bw ^ 1)));
}

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

static void fp_mul(limbs r, const limbs a, const limbs b) {
    uint32_t t[16];
    mul_wide(t, a, b);
    reduce_p(r, t);
}

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

/* -- points ------------------------------------------------------------------- */

#define FMUL(r, a, b) fp_mul((r), (a), (b))
#define FADD(r, a, b) mod_add((r), (a), (b), &FP)
#define FSUB(r, a, b) mod_sub((r), (a), (b), &FP)

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

/* r = 2p, complete (the identity doubles to itself): Renes-Costello-Batina
 * Algorithm 6 (a = -3), 11 field multiplications against the addition's 14.
 * r may alias p. */
static void point_double(point *r, const point *p, const limbs b) {
    limbs t0, t1, t2, t3, x3, y3, z3;
    FMUL(t0, p->x, p->x);
    FMUL(t1, p->y, p->y);
    FMUL(t2, p->z, p->z);
    FMUL(t3, p->x, p->y);
    FADD(t3, t3, t3);
    FMUL(z3, p->x, p->z);
    FADD(z3, z3, z3);
    FMUL(y3, b, t2);
    FSUB(y3, y3, z3);
    FADD(x3, y3, y3);
    FADD(y3, x3, y3);
    FSUB(x3, t1, y3);
    FADD(y3, t1, y3);
    FMUL(y3, x3, y3);
    FMUL(x3, x3, t3);
    FADD(t3, t2, t2);
    FADD(t2, t2, t3);
    FMUL(z3, b, z3);
    FSUB(z3, z3, t2);
    FSUB(z3, z3, t0);
    FADD(t3, z3, z3);
    FADD(z3, z3, t3);
    FADD(t3, t0, t0);
    FADD(t0, t3, t0);
    FSUB(t0, t0, t2);
    FMUL(t0, t0, z3);
    FADD(y3, y3, t0);
    FMUL(t0, p->y, p->z);
    FADD(t0, t0, t0);
    FMUL(z3, t0, z3);
    FSUB(x3, x3, z3);
    FMUL(z3, t0, t1);
    FADD(z3, z3, z3);
    FADD(z3, z3, z3);
    memcpy(r->x, x3, 32);
    memcpy(r->y, y3, 32);
    memcpy(r->z, z3, 32);
}

static void point_identity(point *r) {
    memset(r, 0, sizeof *r);
    r->y[0] = 1;
}

/* Affine (already validated, < p) -> projective. */
static void point_from_affine(point *r, const limbs x, const limbs y) {
    memcpy(r->x, x, 32);
    memcpy(r->y, y, 32);
    memset(r->z, 0, 32);
    r->z[0] = 1;
}

/* Projective -> affine plain integers; returns 0 for the identity. */
static int point_to_affine(limbs x, limbs y, const point *p) {
    limbs zi;
    if (mp_is_zero(p->z)) {
        return 0;
    }
    fp_pow(zi, p->z, FP.m_2);
    FMUL(x, p->x, zi);
    FMUL(y, p->y, zi);
    return 1;
}

/* k * p, constant time in k (4-bit fixed window, masked table scan). */
static void point_mul_ct(point *r, const point *p, const limbs k) {
    point table[16], acc, sel;
    limbs b;
    curve_b(b);
    point_identity(&table[0]);
    table[1] = *p;
    for (int i = 2; i < 16; i++) {
        point_add(&table[i], &table[i - 1], p, b);
    }
    point_identity(&acc);
    for (int w = 63; w >= 0; w--) {
        for (int d = 0; d < 4; d++) {
            point_double(&acc, &acc, b);
        }
        uint32_t nib = (k[w >> 3] >> ((w & 7) * 4)) & 0xf;
        memset(&sel, 0, sizeof sel);
        for (uint32_t i = 0; i < 16; i++) {
            uint32_t mask = 0u - (uint32_t)(((uint64_t)(i ^ nib) - 1) >> 63);
            mp_cmov(sel.x, table[i].x, mask);
            mp_cmov(sel.y, table[i].y, mask);
            mp_cmov(sel.z, table[i].z, mask);
        }
        point_add(&acc, &acc, &sel, b);
    }
    *r = acc;
    memset(table, 0, sizeof table);
}

static void point_g(point *g) {
    point_from_affine(g, GX, GY);
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
    point g, q;
    mp_from_bytes(d, priv);
    if (!scalar_ok(d)) {
        return ESME_ERR_KEY;
    }
    point_g(&g);
    point_mul_ct(&q, &g, d);
    point_to_affine(x, y, &q);
    mp_to_bytes(pub, x);
    mp_to_bytes(pub + 32, y);
    memset(d, 0, 32);
    return ESME_OK;
}

int esme_p256_ecdh(const uint8_t priv[32], const uint8_t pub[64], uint8_t z[32]) {
    limbs d, x, y;
    point q, s;
    mp_from_bytes(d, priv);
    if (!scalar_ok(d)) {
        return ESME_ERR_KEY;
    }
    mp_from_bytes(x, pub);
    mp_from_bytes(y, pub + 32);
    if (!on_curve(x, y)) {                     /* SP 800-56A 5.6.2.3.3 partial validation */
        return ESME_ERR_POINT;
    }
    point_from_affine(&q, x, y);
    point_mul_ct(&s, &q, d);
    memset(d, 0, 32);
    if (!point_to_affine(x, y, &s)) {
        return ESME_ERR_POINT;
    }
    mp_to_bytes(z, x);
    return ESME_OK;
}

int esme_p256_sign(const uint8_t priv[32], const uint8_t digest[32], const uint8_t kb[32],
                   uint8_t sig[64]) {
    limbs d, k, e, r, s, x, y, km, ki, t;
    point g, kg;
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
    point_g(&g);
    point_mul_ct(&kg, &g, k);
    point_to_affine(x, y, &kg);
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
    limbs qx, qy, e, r, s, w, u1, u2, t, x, y;
    point tab[4], acc;
    limbs b;
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
    curve_b(b);
    point_identity(&tab[0]);
    point_g(&tab[1]);
    point_from_affine(&tab[2], qx, qy);
    point_add(&tab[3], &tab[1], &tab[2], b);
    point_identity(&acc);
    for (int i = 255; i >= 0; i--) {           /* Shamir: public scalars only */
        point_double(&acc, &acc, b);
        unsigned sel = ((u1[i >> 5] >> (i & 31)) & 1) | (((u2[i >> 5] >> (i & 31)) & 1) << 1);
        if (sel) {
            point_add(&acc, &acc, &tab[sel], b);
        }
    }
    if (!point_to_affine(x, y, &acc)) {
        return ESME_ERR_SIG;
    }
    reduce_n(x);
    mp_sub(t, x, r);
    return mp_is_zero(t) ? ESME_OK : ESME_ERR_SIG;
}
