/*
 * keygen: RSA and ECDSA key generation for subscribers (and, through signer_generate, for CA keys).
 *
 * Owns nothing: every call builds a fresh EVP_PKEY_CTX, so concurrent calls share no state.
 * The key goes to the caller; nothing here keeps, prints or stores it.
 */
#include "keystore/keygen.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>

/* Below 2048 bits RSA is no longer acceptable for certificates valid past 2030 (NIST SP
 * 800-57 Pt.1 Rev.5 Table 4); above 8192 generation takes minutes and buys nothing. */
#define KEYGEN_RSA_BITS_MIN KEYALG_RSA_BITS_MIN
#define KEYGEN_RSA_BITS_MAX KEYALG_RSA_BITS_MAX

EVP_PKEY *keygen_rsa(int bits, struct jerr *err)
{
    EVP_PKEY_CTX *ctx = NULL;
    BIGNUM *e = NULL;
    EVP_PKEY *pkey = NULL;

    if (bits < KEYGEN_RSA_BITS_MIN || bits > KEYGEN_RSA_BITS_MAX) {
        jerr_set(err, JERR_INVALID, "key_bits", "RSA key size %d is outside %d..%d bits", bits,
                 KEYGEN_RSA_BITS_MIN, KEYGEN_RSA_BITS_MAX);
        goto out;
    }
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (ctx == NULL) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot create an RSA key generation context");
        goto out;
    }
    /* The public exponent is fixed at F4 = 65537 (RFC 8017 §3.1 allows any odd e >= 3;
     * 65537 is the only value CAs and relying parties expect). */
    e = BN_new();
    if (e == NULL || BN_set_word(e, RSA_F4) != 1) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "cannot set the RSA public exponent");
        goto out;
    }
    if (EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits) <= 0 ||
        EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, e) <= 0) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot set up RSA-%d key generation", bits);
        goto out;
    }
    if (EVP_PKEY_generate(ctx, &pkey) <= 0) {
        pkey = NULL;
        jerr_openssl(err, JERR_CRYPTO, NULL, "RSA-%d key generation failed", bits);
        goto out;
    }

out:
    BN_free(e);
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

/* ECDSA on the curve of `alg`, encoded as a named curve. */
static EVP_PKEY *keygen_ec(const struct keyalg *alg, struct jerr *err)
{
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    const char *curve = OBJ_nid2sn(keyalg_curve_nid(alg));

    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot create an EC key generation context");
        goto out;
    }
    if (EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_CTX_set_group_name(ctx, curve) <= 0 ||
        EVP_PKEY_CTX_set_ec_param_enc(ctx, OPENSSL_EC_NAMED_CURVE) <= 0) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot set up %s key generation", curve);
        goto out;
    }
    if (EVP_PKEY_generate(ctx, &pkey) <= 0) {
        pkey = NULL;
        jerr_openssl(err, JERR_CRYPTO, NULL, "%s key generation failed", curve);
        goto out;
    }
out:
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

EVP_PKEY *keygen_generate(const struct keyalg *alg, struct jerr *err)
{
    if (alg == NULL) {
        jerr_set(err, JERR_INVALID, "key_algorithm", "no key algorithm");
        return NULL;
    }
    if (keyalg_is_ec(alg))
        return keygen_ec(alg, err);
    return keygen_rsa(alg->bits, err);
}
