/* esmecrypto: AES-128-GCM, ECDSA P-256 and ECDH for the ESME (GBCS §4.3.3).
 *
 * Portable C99. No heap, no initialised data, no static variables (the
 * MicroPython native-module rules); constant tables are const (.rodata).
 * Nothing here is secret-dependent in its control flow or memory addresses
 * on the signing and ECDH paths, except the AES S-box and the GHASH 4-bit
 * table lookups, which are constant-time only on parts without a data cache
 * (Cortex-M4 such as the STM32WB55; see README.md).
 *
 * Stack: GCM under 0.6 KB, P-256 operations under 2.5 KB (measured with
 * -fstack-usage on x86-64 and arm-none-eabi -Os, see README.md).
 */
#ifndef ESMECRYPTO_H
#define ESMECRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define ESME_OK 0
#define ESME_ERR_LEN (-1)    /* a length is wrong */
#define ESME_ERR_KEY (-2)    /* a scalar (private key) is 0 or >= n */
#define ESME_ERR_POINT (-3)  /* a public key is not a point of the curve */
#define ESME_ERR_NONCE (-4)  /* the ECDSA nonce is unusable: pick another */
#define ESME_ERR_TAG (-5)    /* GCM tag mismatch */
#define ESME_ERR_SIG (-6)    /* ECDSA signature does not verify */

typedef struct {
    uint32_t rk[44];
} esme_aes_ctx;

void esme_aes_init(esme_aes_ctx *ctx, const uint8_t key[16]);
void esme_aes_encrypt(const esme_aes_ctx *ctx, const uint8_t in[16], uint8_t out[16]);

/* SP 800-38D. Any IV length >= 1, any AAD length; tag is 16 octets out,
 * taglen 4..16 on decrypt (compared in constant time). in and out may alias. */
int esme_gcm_encrypt(const uint8_t key[16], const uint8_t *iv, size_t ivlen,
                     const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len,
                     uint8_t *out, uint8_t tag[16]);
int esme_gcm_decrypt(const uint8_t key[16], const uint8_t *iv, size_t ivlen,
                     const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len,
                     const uint8_t *tag, size_t taglen, uint8_t *out);

/* P-256. Keys and scalars are big-endian octet strings; public keys are
 * X ‖ Y (64 octets), signatures r ‖ s (64 octets). */
int esme_p256_pubkey(const uint8_t priv[32], uint8_t pub[64]);
int esme_p256_validate(const uint8_t pub[64]);
int esme_p256_decompress(const uint8_t in[33], uint8_t pub[64]);
int esme_p256_ecdh(const uint8_t priv[32], const uint8_t pub[64], uint8_t z[32]);
int esme_p256_sign(const uint8_t priv[32], const uint8_t digest[32], const uint8_t k[32],
                   uint8_t sig[64]);
int esme_p256_verify(const uint8_t pub[64], const uint8_t digest[32], const uint8_t sig[64]);

#endif
