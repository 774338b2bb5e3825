/* Word loads and stores shared by esme_aes.c and esme_gcm.c. On GCC/Clang a
 * 4-octet __builtin_memcpy is one load or store where the target allows
 * unaligned access (Cortex-M4, x86) and octet moves where it does not
 * (RV32); other compilers get the octet form. */
#ifndef ESME_BYTES_H
#define ESME_BYTES_H

#include <stdint.h>

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static inline uint32_t load32(const uint8_t *p) {
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}

static inline void store32(uint8_t *p, uint32_t v) {
    __builtin_memcpy(p, &v, 4);
}

/* written out rather than __builtin_bswap32, which is a libgcc call on
 * RV32 without Zbb (natmods link no libgcc); GCC turns it into REV on ARM */
static inline uint32_t swap32(uint32_t v) {
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

static inline uint32_t load32be(const uint8_t *p) {
    return swap32(load32(p));
}

static inline void store32be(uint8_t *p, uint32_t v) {
    store32(p, swap32(v));
}
#else
static inline uint32_t load32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline void store32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t load32be(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void store32be(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
#endif

#endif
