/* Host test driver for the C core, built with -fsanitize=address,undefined
 * by host_tests/test_crypto_c.py. Reads one case per line (hex fields, "-"
 * for empty):
 *   G  key iv aad pt ct tag        GCM encrypt and decrypt
 *   F  key iv aad ct tag           GCM decrypt must fail with ESME_ERR_TAG
 *   V  pub digest sig 0|1          ECDSA verify
 *   S  priv pub digest k sig       public key, sign, verify
 *   E  priv peer z|-               ECDH (- : must be refused)
 *   N  priv peer z                 ECDH must succeed with a different Z
 *   K  pub 0|1                     public key validation
 *   D  comp pub|-                  decompression
 * Prints "N passed, M failed". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../esmecrypto.h"

#define MAXB 4096

static size_t unhex(const char *s, uint8_t *out) {
    if (strcmp(s, "-") == 0) {
        return 0;
    }
    size_t n = strlen(s) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(s + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

int main(int argc, char **argv) {
    static char line[5 * MAXB];
    static uint8_t a[MAXB], b[MAXB], c[MAXB], d[MAXB], e[MAXB], f[MAXB], o[MAXB], t[16];
    char *tok[8];
    int passed = 0, failed = 0;
    FILE *fp = fopen(argc > 1 ? argv[1] : "vectors.txt", "r");
    if (!fp) {
        perror("vectors");
        return 2;
    }
    while (fgets(line, sizeof line, fp)) {
        int n = 0;
        for (char *p = strtok(line, " \n"); p && n < 8; p = strtok(NULL, " \n")) {
            tok[n++] = p;
        }
        if (n == 0) {
            continue;
        }
        int ok = 0;
        switch (tok[0][0]) {
            case 'G': {
                size_t kl = unhex(tok[1], a), il = unhex(tok[2], b), al = unhex(tok[3], c);
                size_t pl = unhex(tok[4], d), cl = unhex(tok[5], e), tl = unhex(tok[6], f);
                (void)kl;
                ok = esme_gcm_encrypt(a, b, il, c, al, d, pl, o, t) == ESME_OK &&
                     memcmp(o, e, cl) == 0 && memcmp(t, f, tl) == 0;
                ok = ok && esme_gcm_decrypt(a, b, il, c, al, e, cl, f, tl, o) == ESME_OK &&
                     memcmp(o, d, pl) == 0;
                break;
            }
            case 'F': {
                unhex(tok[1], a);
                size_t il = unhex(tok[2], b), al = unhex(tok[3], c), cl = unhex(tok[4], e);
                size_t tl = unhex(tok[5], f);
                ok = esme_gcm_decrypt(a, b, il, c, al, e, cl, f, tl, o) == ESME_ERR_TAG;
                break;
            }
            case 'V':
                unhex(tok[1], a);
                unhex(tok[2], b);
                unhex(tok[3], c);
                ok = (esme_p256_verify(a, b, c) == ESME_OK) == (tok[4][0] == '1');
                break;
            case 'S':
                unhex(tok[1], a);
                unhex(tok[2], b);
                unhex(tok[3], c);
                unhex(tok[4], d);
                unhex(tok[5], e);
                ok = esme_p256_pubkey(a, o) == ESME_OK && memcmp(o, b, 64) == 0;
                ok = ok && esme_p256_sign(a, c, d, o) == ESME_OK && memcmp(o, e, 64) == 0;
                ok = ok && esme_p256_verify(b, c, e) == ESME_OK;
                break;
            case 'E': {
                unhex(tok[1], a);
                unhex(tok[2], b);
                size_t zl = unhex(tok[3], c);
                int rc = esme_p256_ecdh(a, b, o);
                ok = zl ? (rc == ESME_OK && memcmp(o, c, 32) == 0) : rc != ESME_OK;
                break;
            }
            case 'N':
                unhex(tok[1], a);
                unhex(tok[2], b);
                unhex(tok[3], c);
                ok = esme_p256_ecdh(a, b, o) == ESME_OK && memcmp(o, c, 32) != 0;
                break;
            case 'K':
                unhex(tok[1], a);
                ok = (esme_p256_validate(a) == ESME_OK) == (tok[2][0] == '1');
                break;
            case 'D': {
                unhex(tok[1], a);
                size_t pl = unhex(tok[2], b);
                int rc = esme_p256_decompress(a, o);
                ok = pl ? (rc == ESME_OK && memcmp(o, b, 64) == 0) : rc != ESME_OK;
                break;
            }
            default:
                continue;
        }
        if (ok) {
            passed++;
        } else {
            failed++;
            fprintf(stderr, "FAIL %s %s\n", tok[0], n > 1 ? tok[1] : "");
        }
    }
    fclose(fp);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
