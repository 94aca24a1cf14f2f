/*
 * kdf: passwords to keys for the keystore's own files — RFC 7914 scrypt at one fixed cost
 * (N = 2^14, r = 8, p = 1) — and RFC 5869 HKDF-SHA256 for keys derived from keys, both through
 * OpenSSL's EVP_KDF (see kdf.h).
 */
#include "keystore/kdf.h"

#include <stdint.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#define KDF_SCRYPT_N (UINT64_C(1) << 14)
#define KDF_SCRYPT_R 8
#define KDF_SCRYPT_P 1
#define KDF_SCRYPT_MAXMEM_BYTES (UINT64_C(64) << 20)

/* Runs the EVP_KDF `name` with `params` into out[out_len]; `what` names it in the error. */
static int kdf_derive(const char *name, const OSSL_PARAM params[], unsigned char *out,
                      size_t out_len, const char *what, struct jerr *err)
{
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *kctx = NULL;
    int rc = 0;

    if ((kdf = EVP_KDF_fetch(NULL, name, NULL)) == NULL ||
        (kctx = EVP_KDF_CTX_new(kdf)) == NULL || EVP_KDF_derive(kctx, out, out_len, params) != 1)
        rc = jerr_openssl(err, JERR_CRYPTO, NULL, "%s key derivation failed", what);
    EVP_KDF_CTX_free(kctx); /* the provider wipes its copy of the secret */
    EVP_KDF_free(kdf);
    return rc;
}

int kdf_scrypt(const char *secret, const unsigned char *salt, size_t salt_len, unsigned char *out,
               size_t out_len, struct jerr *err)
{
    uint64_t n = KDF_SCRYPT_N, maxmem = KDF_SCRYPT_MAXMEM_BYTES;
    uint32_t r = KDF_SCRYPT_R, p = KDF_SCRYPT_P;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)secret, strlen(secret)),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
        OSSL_PARAM_construct_end(),
    };
    return kdf_derive(OSSL_KDF_NAME_SCRYPT, params, out, out_len, "scrypt", err);
}

int kdf_hkdf_sha256(const unsigned char *key, size_t key_len, const unsigned char *salt,
                    size_t salt_len, const unsigned char *info, size_t info_len, unsigned char *out,
                    size_t out_len, struct jerr *err)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, key_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len),
        OSSL_PARAM_construct_end(),
    };
    return kdf_derive(OSSL_KDF_NAME_HKDF, params, out, out_len, "HKDF", err);
}
