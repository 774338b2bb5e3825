/* Freestanding Cortex-M4 harness for instruction counting under qemu-arm
 * user mode (tools/m4_count.py). One operation per build (-DOP_...), run
 * on fixed GBCS §18.4 inputs; exit status 0 when the result is right. */
#include <stddef.h>
#include <stdint.h>

#include "../esmecrypto.h"

/* Word-wise when aligned, as newlib's Cortex-M memcpy/memset are, so the
 * counts reflect the core rather than a naive byte loop. */
void *memcpy(void *d, const void *s, size_t n) {
    uint8_t *dd = d;
    const uint8_t *ss = s;
    if ((((uintptr_t)dd | (uintptr_t)ss) & 3) == 0) {
        uint32_t *dw = (uint32_t *)dd;
        const uint32_t *sw = (const uint32_t *)ss;
        for (; n >= 4; n -= 4) {
            *dw++ = *sw++;
        }
        dd = (uint8_t *)dw;
        ss = (const uint8_t *)sw;
    }
    while (n--) {
        *dd++ = *ss++;
    }
    return d;
}

void *memset(void *d, int c, size_t n) {
    uint8_t *dd = d;
    if (((uintptr_t)dd & 3) == 0) {
        uint32_t w = 0x01010101u * (uint8_t)c;
        uint32_t *dw = (uint32_t *)dd;
        for (; n >= 4; n -= 4) {
            *dw++ = w;
        }
        dd = (uint8_t *)dw;
    }
    while (n--) {
        *dd++ = (uint8_t)c;
    }
    return d;
}

static void sys_exit(int code) {
    register int r0 __asm__("r0") = code;
    register int r7 __asm__("r7") = 1;             /* Linux EABI exit */
    __asm__ volatile("svc 0" : : "r"(r0), "r"(r7));
    for (;;) {
    }
}

#include "inputs.h"   /* written by tools/m4_count.py from the GBCS vectors */

static int eq(const uint8_t *a, const uint8_t *b, size_t n) {
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++) {
        d |= a[i] ^ b[i];
    }
    return d == 0;
}

int run(void) {
#if defined(OP_VERIFY)
    return esme_p256_verify(SUP_DS_PUB, DIGEST_V1, KRP_SIG) == ESME_OK;
#elif defined(OP_SIGN)
    uint8_t sig[64];
    return esme_p256_sign(SUP_DS_PRIV, DIGEST_V1, K_V1, sig) == ESME_OK && eq(sig, KRP_SIG, 64);
#elif defined(OP_ECDH)
    uint8_t z[32];
    return esme_p256_ecdh(DEV_KA_PRIV, ACB_KA_PUB, z) == ESME_OK && eq(z, Z_ACB, 32);
#elif defined(OP_GCM)
    static uint8_t buf[GCM_LEN];
    uint8_t tag[16];
    return esme_gcm_encrypt(MAC_KEY, IV, 12, buf, 0, buf, GCM_LEN, buf, tag) == ESME_OK &&
           eq(tag, GCM_LEN == 16 ? TAG_16 : TAG_1040, 16);
#else
    return 1;                                      /* baseline */
#endif
}

__attribute__((naked, noreturn)) void _start(void) {
    __asm__ volatile("bl run\n eor r0, r0, #1\n mov r7, #1\n svc 0\n");
}
