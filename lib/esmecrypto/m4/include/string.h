/* The two C library functions the core uses, for the freestanding Cortex-M4
 * builds (instruction counts, qemu self-test), so they need no newlib: the
 * harnesses define both. */
#ifndef ESME_M4_STRING_H
#define ESME_M4_STRING_H
#include <stddef.h>
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
#endif
