/*
 * keyalg: key specs, their names, and the digest a signature by a key uses (keyalg.h).
 *
 * Owns nothing and keeps no state. The digest rule is RFC 5758 §3.2 / NIST SP 800-57: a
 * signature's hash is as strong as its key — SHA-384 with P-384, SHA-512 with P-521 — and stays
 * SHA-256 for RSA (sha256WithRSAEncryption, what jpki has always signed with).
 */
#include "keystore/keyalg.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#define KEYALG_NAMES "rsa, rsa2048, rsa3072, ecdsa-p384 or ecdsa-p521"

struct keyalg keyalg_rsa(int bits)
{
    return (struct keyalg){.type = KEYALG_RSA, .bits = bits};
}

int keyalg_parse(const char *name, int rsa_bits, const char *field, struct keyalg *out,
                 struct jerr *err)
{
    struct keyalg a = {0};

    if (name == NULL)
        name = "";
    if (strcmp(name, "rsa") == 0)
        a = keyalg_rsa(rsa_bits);
    else if (strcmp(name, "rsa2048") == 0)
        a = keyalg_rsa(2048);
    else if (strcmp(name, "rsa3072") == 0)
        a = keyalg_rsa(3072);
    else if (strcmp(name, "ecdsa-p384") == 0)
        a = (struct keyalg){.type = KEYALG_ECDSA, .bits = 384};
    else if (strcmp(name, "ecdsa-p521") == 0)
        a = (struct keyalg){.type = KEYALG_ECDSA, .bits = 521};
    else {
        char shown[64];
        jerr_escape(shown, sizeof(shown), name, strlen(name));
        return jerr_set(err, JERR_INVALID, field,
                        "%s: unknown key algorithm \"%s\" (expected " KEYALG_NAMES ")",
                        field != NULL ? field : "key_algorithm", shown);
    }
    if (a.type == KEYALG_RSA && (a.bits < KEYALG_RSA_BITS_MIN || a.bits > KEYALG_RSA_BITS_MAX))
        return jerr_set(err, JERR_INVALID, field, "%s: RSA key size %d is outside %d..%d bits",
                        field != NULL ? field : "key_algorithm", a.bits, KEYALG_RSA_BITS_MIN,
                        KEYALG_RSA_BITS_MAX);
    *out = a;
    return 0;
}

const char *keyalg_name(const struct keyalg *a, char *buf, size_t size)
{
    snprintf(buf, size, a->type == KEYALG_ECDSA ? "ecdsa-p%d" : "rsa%d", a->bits);
    return buf;
}

const char *keyalg_display(const struct keyalg *a, char *buf, size_t size)
{
    snprintf(buf, size, a->type == KEYALG_ECDSA ? "ECDSA P-%d" : "RSA-%d", a->bits);
    return buf;
}

bool keyalg_equal(const struct keyalg *a, const struct keyalg *b)
{
    return a->type == b->type && a->bits == b->bits;
}

bool keyalg_is_ec(const struct keyalg *a)
{
    return a->type == KEYALG_ECDSA;
}

int keyalg_curve_nid(const struct keyalg *a)
{
    if (a->type != KEYALG_ECDSA)
        return NID_undef;
    return a->bits == 521 ? NID_secp521r1 : NID_secp384r1;
}

const char *keyalg_digest(const struct keyalg *a)
{
    if (a->type == KEYALG_ECDSA)
        return a->bits == 521 ? "SHA512" : "SHA384";
    return "SHA256";
}

int keyalg_digest_nid(const struct keyalg *a)
{
    if (a->type == KEYALG_ECDSA)
        return a->bits == 521 ? NID_sha512 : NID_sha384;
    return NID_sha256;
}

int keyalg_signature_nid(const struct keyalg *a)
{
    if (a->type == KEYALG_ECDSA)
        return a->bits == 521 ? NID_ecdsa_with_SHA512 : NID_ecdsa_with_SHA384;
    return NID_sha256WithRSAEncryption;
}

const char *keyalg_signature_name(const struct keyalg *a)
{
    return OBJ_nid2ln(keyalg_signature_nid(a));
}

X509_ALGOR *keyalg_signature_algor(const struct keyalg *a)
{
    X509_ALGOR *alg = X509_ALGOR_new();
    if (alg != NULL &&
        X509_ALGOR_set0(alg, OBJ_nid2obj(keyalg_signature_nid(a)),
                        a->type == KEYALG_ECDSA ? V_ASN1_UNDEF : V_ASN1_NULL, NULL) != 1) {
        X509_ALGOR_free(alg);
        alg = NULL;
    }
    return alg;
}

/* The named curve of an EC key from its SubjectPublicKeyInfo (RFC 5480 §2.1.1: the parameters
 * are the curve's OID; an explicit ECParameters SEQUENCE is refused). Works on keys that
 * live in a PKCS#11 token too, whose public half is all OpenSSL sees. NID_undef otherwise. */
static int named_curve_of(const EVP_PKEY *pkey)
{
    X509_PUBKEY *xp = NULL;
    X509_ALGOR *alg = NULL;
    const ASN1_OBJECT *aobj = NULL;
    const void *pval = NULL;
    int ptype = 0, nid = NID_undef;

    if (X509_PUBKEY_set(&xp, (EVP_PKEY *)pkey) != 1 ||
        X509_PUBKEY_get0_param(NULL, NULL, NULL, &alg, xp) != 1 || alg == NULL)
        goto out;
    X509_ALGOR_get0(&aobj, &ptype, &pval, alg);
    if (OBJ_obj2nid(aobj) == NID_X9_62_id_ecPublicKey && ptype == V_ASN1_OBJECT)
        nid = OBJ_obj2nid(pval);
out:
    X509_PUBKEY_free(xp);
    return nid;
}

int keyalg_of_key(const EVP_PKEY *pkey, const char *field, struct keyalg *out, struct jerr *err)
{
    if (field == NULL)
        field = "key_algorithm";
    if (pkey == NULL)
        return jerr_set(err, JERR_INVALID, field, "no key");
    if (EVP_PKEY_is_a(pkey, "RSA") == 1) {
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits < KEYALG_RSA_BITS_MIN || bits > KEYALG_RSA_BITS_MAX)
            return jerr_set(err, JERR_INVALID, "key_bits", "RSA key size %d is outside %d..%d bits",
                            bits, KEYALG_RSA_BITS_MIN, KEYALG_RSA_BITS_MAX);
        *out = keyalg_rsa(bits);
        return 0;
    }
    if (EVP_PKEY_is_a(pkey, "EC") == 1) {
        ERR_set_mark();
        int nid = named_curve_of(pkey);
        ERR_pop_to_mark();
        if (nid == NID_secp384r1 || nid == NID_secp521r1) {
            *out = (struct keyalg){.type = KEYALG_ECDSA, .bits = nid == NID_secp521r1 ? 521 : 384};
            return 0;
        }
        return jerr_set(err, JERR_INVALID, field,
                        "EC key on %s; only the named curves P-384 and P-521 are accepted",
                        nid != NID_undef ? OBJ_nid2sn(nid) : "explicit or unknown parameters");
    }
    const char *type = EVP_PKEY_get0_type_name(pkey);
    return jerr_set(err, JERR_INVALID, field,
                    "key is %s; only RSA and ECDSA P-384/P-521 keys are accepted",
                    type != NULL ? type : "of an unknown type");
}

int keyalg_check_key(const EVP_PKEY *pkey, const struct keyalg *want, const char *field,
                     struct jerr *err)
{
    struct keyalg got;
    char got_s[KEYALG_NAME_MAX + 8], want_s[KEYALG_NAME_MAX + 8];

    if (keyalg_of_key(pkey, field, &got, err) == -1)
        return -1;
    bool ok = got.type == want->type &&
              (got.type == KEYALG_RSA ? got.bits >= want->bits : got.bits == want->bits);
    if (ok)
        return 0;
    return jerr_set(err, JERR_INVALID, field, "key is %s; this CA needs %s%s",
                    keyalg_display(&got, got_s, sizeof(got_s)),
                    keyalg_display(want, want_s, sizeof(want_s)),
                    want->type == KEYALG_RSA ? " or larger" : "");
}

const char *keyalg_key_digest(const EVP_PKEY *pkey)
{
    struct keyalg a = {0}; /* GCC 12 -O3 cannot see keyalg_of_key fill it (-Wmaybe-uninitialized) */
    if (keyalg_of_key(pkey, NULL, &a, NULL) == -1)
        return NULL;
    return keyalg_digest(&a);
}

struct keyalg keyalg_for_subscriber(const struct keyalg *ca, int subscriber_rsa_bits)
{
    if (ca->type == KEYALG_ECDSA)
        return *ca;
    return keyalg_rsa(subscriber_rsa_bits);
}
