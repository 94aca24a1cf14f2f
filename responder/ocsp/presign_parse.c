/*
 * presign_parse: see presign_parse.h. Decoding and signature checks are OpenSSL's
 * (d2i_OCSP_RESPONSE, OCSP_basic_verify); what this file adds is the list of checks.
 */
#include "responder/ocsp/presign_parse.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>

#include "base/jclock.h"

/* ASN1_GENERALIZEDTIME → time_t; -1 when it does not convert. */
static time_t asn1_time_t(const ASN1_GENERALIZEDTIME *t)
{
    time_t v;
    return jclock_from_asn1(t, &v) == 0 ? v : (time_t)-1;
}

/* The signature check of `trust` (see presign_parse.h). */
static bool signature_is_trusted(OCSP_BASICRESP *bs, const struct presign_trust *trust)
{
    /* A signer checked before: the signature alone, by that certificate only (OCSP_NOINTERN:
     * not one the response carries; OCSP_NOVERIFY: its chain was checked already). */
    if (trust->known_signers != NULL && sk_X509_num(trust->known_signers) > 0 &&
        OCSP_basic_verify(bs, trust->known_signers, NULL, OCSP_NOINTERN | OCSP_NOVERIFY) == 1)
        return true;
    ERR_clear_error();
    /* The full check: the signer the response carries chains to the root and is the CA or
     * its id-kp-OCSPSigning delegate (RFC 6960 §4.2.2.2). */
    if (OCSP_basic_verify(bs, NULL, trust->roots, 0) != 1)
        return false;
    X509 *signer = NULL;
    if (trust->known_signers != NULL &&
        OCSP_resp_get0_signer(bs, &signer, NULL) == 1 && X509_up_ref(signer) == 1 &&
        sk_X509_push(trust->known_signers, signer) <= 0)
        X509_free(signer);
    return true;
}

struct presign_blob *presign_parse(const struct ocsp_issuer *issuer, const struct presign_key *key,
                                   const unsigned char *der, size_t len,
                                   const struct presign_trust *trust, struct jerr *err)
{
    const unsigned char *p = der;
    OCSP_RESPONSE *resp = NULL;
    OCSP_BASICRESP *bs = NULL;
    BIGNUM *bn = NULL;
    char *hex = NULL;
    struct presign_blob *b = NULL;
    ASN1_GENERALIZEDTIME *revtime = NULL, *thisupd = NULL, *nextupd = NULL;
    ASN1_OBJECT *md = NULL;
    ASN1_INTEGER *serial = NULL;
    ASN1_OCTET_STRING *name_hash = NULL, *key_hash = NULL;
    struct ocsp_certid issuer_of_row;
    int reason = 0;

    if (len == 0 || len > (size_t)LONG_MAX) {
        jerr_set(err, JERR_INVALID, "der", "stored OCSP response empty or too large");
        goto out;
    }
    resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
    if (resp == NULL || p != der + len ||
        OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
        (bs = OCSP_response_get1_basic(resp)) == NULL || OCSP_resp_count(bs) != 1) {
        jerr_openssl(err, JERR_INVALID, "der", "stored OCSP response unreadable");
        goto out;
    }
    OCSP_SINGLERESP *single = OCSP_resp_get0(bs, 0);
    int status = OCSP_single_get0_status(single, &reason, &revtime, &thisupd, &nextupd);
    const OCSP_CERTID *cid = OCSP_SINGLERESP_get0_id(single);
    int want_nid = key->certid_hash == OCSP_CERTID_SHA1 ? NID_sha1 : NID_sha256;
    if (status < 0 || cid == NULL ||
        OCSP_id_get0_info(&name_hash, &md, &key_hash, &serial, (OCSP_CERTID *)cid) != 1 ||
        OBJ_obj2nid(md) != want_nid || (bn = ASN1_INTEGER_to_BN(serial, NULL)) == NULL ||
        (hex = BN_bn2hex(bn)) == NULL || strcmp(hex, key->serial) != 0) {
        jerr_openssl(err, JERR_INVALID, "certid", "stored OCSP response answers another CertID");
        goto out;
    }
    memset(&issuer_of_row, 0, sizeof(issuer_of_row));
    issuer_of_row.hash = key->certid_hash;
    issuer_of_row.hash_len = key->certid_hash == OCSP_CERTID_SHA1 ? 20 : 32;
    if (ASN1_STRING_length(name_hash) != (int)issuer_of_row.hash_len ||
        ASN1_STRING_length(key_hash) != (int)issuer_of_row.hash_len) {
        jerr_set(err, JERR_INVALID, "issuer", "stored OCSP response with bad issuer hashes");
        goto out;
    }
    memcpy(issuer_of_row.name_hash, ASN1_STRING_get0_data(name_hash), issuer_of_row.hash_len);
    memcpy(issuer_of_row.key_hash, ASN1_STRING_get0_data(key_hash), issuer_of_row.hash_len);
    if (ocsp_match_issuer(issuer, 1, &issuer_of_row) != 0) {
        jerr_set(err, JERR_INVALID, "issuer", "stored OCSP response names another issuer");
        goto out;
    }
    time_t this_update = asn1_time_t(thisupd), next_update = asn1_time_t(nextupd);
    if (this_update == (time_t)-1 || next_update == (time_t)-1) {
        jerr_openssl(err, JERR_INVALID, "times", "stored OCSP response without its times");
        goto out;
    }
    if (trust != NULL && !signature_is_trusted(bs, trust)) {
        jerr_openssl(err, JERR_INVALID, "signature", "stored OCSP response signature invalid");
        goto out;
    }
    b = presign_blob_new(key, der, len, this_update, next_update, status, err);
out:
    OPENSSL_free(hex);
    BN_free(bn);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    return b;
}
