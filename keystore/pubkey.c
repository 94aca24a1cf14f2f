/*
 * pubkey: reads a subscriber's public key from its PKCS#10 request, proof of possession
 * checked, as outside input (see pubkey.h).
 */
#include "keystore/pubkey.h"

#include <stdbool.h>
#include <string.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "keystore/keyalg.h"

/* The RSAPublicKey (RFC 3279 §2.3.1) in the subjectPublicKeyInfo `spki` (DER) as an EVP_PKEY,
 * built from n and e with EVP_PKEY_fromdata. The structure is read with OpenSSL's DER decoders
 * (d2i_ASN1_SEQUENCE_ANY, d2i_X509_ALGOR): PEM_read_bio_PUBKEY / d2i_PUBKEY would build
 * OpenSSL 3.0's OSSL_DECODER chain on every call, a fifth of the CPU of issuance with supplied
 * keys (DESIGN §8). NULL when it is not an RSA key of 2048..8192 bits with an odd exponent. */
static EVP_PKEY *rsa_from_spki(const unsigned char *spki, long len)
{
    const unsigned char *p = spki;
    STACK_OF(ASN1_TYPE) *outer = NULL, *inner = NULL;
    X509_ALGOR *alg = NULL;
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;
    const ASN1_TYPE *t0, *t1;
    const ASN1_OBJECT *oid;
    const void *param;
    int ptype;

    outer = d2i_ASN1_SEQUENCE_ANY(NULL, &p, len);
    if (outer == NULL || p != spki + len || sk_ASN1_TYPE_num(outer) != 2)
        goto out;
    t0 = sk_ASN1_TYPE_value(outer, 0);
    t1 = sk_ASN1_TYPE_value(outer, 1);
    if (ASN1_TYPE_get(t0) != V_ASN1_SEQUENCE || ASN1_TYPE_get(t1) != V_ASN1_BIT_STRING)
        goto out;
    /* AlgorithmIdentifier: rsaEncryption with NULL parameters. */
    p = ASN1_STRING_get0_data(t0->value.sequence);
    long alg_len = ASN1_STRING_length(t0->value.sequence);
    alg = d2i_X509_ALGOR(NULL, &p, alg_len);
    if (alg == NULL || p != ASN1_STRING_get0_data(t0->value.sequence) + alg_len)
        goto out;
    X509_ALGOR_get0(&oid, &ptype, &param, alg);
    if (OBJ_obj2nid(oid) != NID_rsaEncryption || ptype != V_ASN1_NULL)
        goto out;
    /* subjectPublicKey: whole octets, the DER of RSAPublicKey. */
    const ASN1_BIT_STRING *bits = t1->value.bit_string;
    if ((bits->flags & ASN1_STRING_FLAG_BITS_LEFT) && (bits->flags & 0x07) != 0)
        goto out;
    p = ASN1_STRING_get0_data(bits);
    long bits_len = ASN1_STRING_length(bits);
    inner = d2i_ASN1_SEQUENCE_ANY(NULL, &p, bits_len);
    if (inner == NULL || p != ASN1_STRING_get0_data(bits) + bits_len ||
        sk_ASN1_TYPE_num(inner) != 2 ||
        ASN1_TYPE_get(sk_ASN1_TYPE_value(inner, 0)) != V_ASN1_INTEGER ||
        ASN1_TYPE_get(sk_ASN1_TYPE_value(inner, 1)) != V_ASN1_INTEGER)
        goto out; /* a negative INTEGER is V_ASN1_NEG_INTEGER: refused here */
    n = ASN1_INTEGER_to_BN(sk_ASN1_TYPE_value(inner, 0)->value.integer, NULL);
    e = ASN1_INTEGER_to_BN(sk_ASN1_TYPE_value(inner, 1)->value.integer, NULL);
    if (n == NULL || e == NULL || BN_num_bits(n) < 2048 || BN_num_bits(n) > 8192 || !BN_is_odd(n) ||
        !BN_is_odd(e) || BN_is_one(e) || BN_cmp(e, n) >= 0)
        goto out;
    if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
        key = NULL;
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    X509_ALGOR_free(alg);
    sk_ASN1_TYPE_pop_free(inner, ASN1_TYPE_free);
    sk_ASN1_TYPE_pop_free(outer, ASN1_TYPE_free);
    return key;
}

/* An EC key on P-384 or P-521 named by its OID (RFC 5480 §2.1.1; keyalg_of_key refuses other
 * curves and explicit parameters), decoded by OpenSSL's SubjectPublicKeyInfo decoder, which
 * also checks the point is on the curve. NULL otherwise. */
static EVP_PKEY *ec_from_spki(const unsigned char *spki, long len)
{
    const unsigned char *p = spki;
    struct keyalg alg;
    EVP_PKEY *key = d2i_PUBKEY(NULL, &p, len);
    if (key != NULL && (p != spki + len || EVP_PKEY_is_a(key, "EC") != 1 ||
                        keyalg_of_key(key, NULL, &alg, NULL) == -1)) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    return key;
}

/* RFC 5280 §4.1.1.2 / RFC 4055 §5 / RFC 5758 §3.2: the request's signature uses SHA-2 (SHA-1
 * and MD5 proofs are forgeable by collision, and RSA-PSS has parameters we do not read), with
 * the request's own key type: sha{256,384,512}WithRSAEncryption or ecdsa-with-SHA{256,384,512}. */
static bool csr_sigalg_is_acceptable(const X509_REQ *req, bool ec)
{
    int md_nid = NID_undef, pkey_nid = NID_undef;
    if (OBJ_find_sigid_algs(X509_REQ_get_signature_nid(req), &md_nid, &pkey_nid) != 1)
        return false;
    return pkey_nid == (ec ? NID_X9_62_id_ecPublicKey : NID_rsaEncryption) &&
           (md_nid == NID_sha256 || md_nid == NID_sha384 || md_nid == NID_sha512);
}

/* Only white space left in `bio`? */
static bool rest_is_blank(BIO *bio)
{
    char rest[256];
    int n;
    while ((n = BIO_read(bio, rest, sizeof(rest))) > 0)
        for (int i = 0; i < n; i++)
            if (strchr(" \t\r\n", rest[i]) == NULL)
                return false;
    return true;
}

EVP_PKEY *pubkey_from_csr_pem(const char *pem, size_t len, const char *field, struct jerr *err)
{
    static const char begin[] = "-----BEGIN CERTIFICATE REQUEST-----";
    static const char bare[] = "-----BEGIN PUBLIC KEY-----";
    EVP_PKEY *key = NULL;
    X509_REQ *req = NULL;
    BIO *bio = NULL;
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL, *spki = NULL;
    long der_len = 0;
    int spki_len;

    if (pem == NULL)
        len = 0;
    size_t lead = 0;
    while (lead < len && pem[lead] != '\0' && strchr(" \t\r\n", pem[lead]) != NULL)
        lead++;
    if (pem != NULL && len - lead >= sizeof(bare) - 1 &&
        memcmp(pem + lead, bare, sizeof(bare) - 1) == 0) {
        jerr_set(err, JERR_INVALID, field,
                 "%s: a bare public key is refused: send a PKCS#10 certificate request (PEM "
                 "\"%s\") signed by the key, as proof that the holder has its private key",
                 field, begin);
        return NULL;
    }
    if (pem == NULL || len > PUBKEY_PEM_MAX || memchr(pem, '\0', len) != NULL ||
        len - lead < sizeof(begin) - 1 || memcmp(pem + lead, begin, sizeof(begin) - 1) != 0) {
        jerr_set(err, JERR_INVALID, field,
                 "%s: must be one PEM \"%s\" block (PKCS#10) of at most %d bytes", field, begin,
                 PUBKEY_PEM_MAX);
        return NULL;
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto fail;
    }
    /* PEM_read_bio: the base64 only (RFC 7468), no decoder; no encryption headers. */
    if (PEM_read_bio(bio, &name, &header, &der, &der_len) != 1 ||
        strcmp(name, PEM_STRING_X509_REQ) != 0 || header[0] != '\0') {
        jerr_set(err, JERR_INVALID, field, "%s: not a readable PEM certificate request", field);
        goto fail;
    }
    if (!rest_is_blank(bio)) {
        jerr_set(err, JERR_INVALID, field, "%s: text after the PEM block", field);
        goto fail;
    }
    const unsigned char *p = der;
    req = d2i_X509_REQ(NULL, &p, der_len);
    if (req == NULL || p != der + der_len) {
        jerr_set(err, JERR_INVALID, field, "%s: not a PKCS#10 certificate request (RFC 2986)",
                 field);
        goto fail;
    }
    spki_len = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &spki);
    if (spki_len <= 0 || ((key = rsa_from_spki(spki, spki_len)) == NULL &&
                          (key = ec_from_spki(spki, spki_len)) == NULL)) {
        jerr_set(err, JERR_INVALID, field,
                 "%s: the request's key must be an RSA key of 2048 to 8192 bits or an ECDSA key "
                 "on the named curve P-384 or P-521",
                 field);
        goto fail;
    }
    bool ec = EVP_PKEY_is_a(key, "EC") == 1;
    if (!csr_sigalg_is_acceptable(req, ec)) {
        jerr_set(err, JERR_INVALID, field,
                 "%s: the request must be signed with %s (SHA-256/384/512)", field,
                 ec ? "ecdsa-with-SHA384" : "sha256WithRSAEncryption");
        goto fail;
    }
    /* RFC 2986 §3: the signature over certificationRequestInfo with the key it carries */
    if (X509_REQ_verify(req, key) != 1) {
        jerr_set(err, JERR_INVALID, field,
                 "%s: the request's signature does not verify with its key: no proof of "
                 "possession",
                 field);
        goto fail;
    }
    goto out;
fail:
    EVP_PKEY_free(key);
    key = NULL;
out:
    ERR_clear_error();
    OPENSSL_free(spki);
    X509_REQ_free(req);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(der);
    BIO_free(bio);
    return key;
}
