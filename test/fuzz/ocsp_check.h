/*
 * ocsp_check.h: the contract of ocsp_request_parse (ca/ocsp.h), checked on every result by
 * fuzz_ocsp_request and fuzz_ocsp_get. Header-only: each target is one translation unit.
 */
#ifndef JPKI_FUZZ_OCSP_CHECK_H
#define JPKI_FUZZ_OCSP_CHECK_H

#include <string.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>

#include "ca/ocsp.h"
#include "fuzz.h"

/* Parses `der` and checks what the header promises, success or failure. */
static void ocsp_check_parse(const unsigned char *der, size_t len)
{
    struct ocsp_request req;
    struct ocsp_request untouched;
    struct jerr err = {0};

    /* "*out is written only on success": a pattern that must survive a refusal. */
    memset(&req, 0xA5, sizeof(req));
    memcpy(&untouched, &req, sizeof(req));
    if (ocsp_request_parse(der, len, &req, &err) == -1) {
        FUZZ_CHECK(err.code == JERR_INVALID || err.code == JERR_TOO_LARGE ||
                   err.code == JERR_INTERNAL);
        FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        FUZZ_CHECK(memcmp(&req, &untouched, sizeof(req)) == 0);
        FUZZ_CHECK(len <= JPKI_OCSP_MAX_REQUEST_BYTES || err.code == JERR_TOO_LARGE);
        ERR_clear_error();
        return;
    }
    FUZZ_CHECK(err.code == JERR_NONE);
    FUZZ_CHECK(len > 0 && len <= JPKI_OCSP_MAX_REQUEST_BYTES);
    FUZZ_CHECK(req.count >= 1 && req.count <= JPKI_OCSP_MAX_CERTIDS);
    FUZZ_CHECK(!req.has_nonce ||
               (req.nonce_len >= JPKI_OCSP_NONCE_MIN && req.nonce_len <= JPKI_OCSP_NONCE_MAX));
    for (size_t i = 0; i < req.count; i++) {
        const struct ocsp_certid *id = &req.ids[i];
        FUZZ_CHECK((id->hash == OCSP_CERTID_SHA1 && id->hash_len == 20) ||
                   (id->hash == OCSP_CERTID_SHA256 && id->hash_len == 32));
        FUZZ_CHECK(memchr(id->serial, '\0', sizeof(id->serial)) != NULL);
        /* A usable serial is upper hex, as the registry stores it (BN_bn2hex). */
        if (id->serial_ok) {
            size_t n = strlen(id->serial);
            FUZZ_CHECK(n >= 1 && n <= JPKI_SERIAL_HEX_MAX);
            FUZZ_CHECK(strspn(id->serial, "0123456789ABCDEF") == n);
        }
        /* The CertID echoed in the answer must decode to the same CertID, whole. */
        FUZZ_CHECK(id->der_len > 0 && id->der_len <= JPKI_OCSP_CERTID_DER_MAX);
        const unsigned char *p = id->der;
        OCSP_CERTID *cid = d2i_OCSP_CERTID(NULL, &p, (long)id->der_len);
        FUZZ_CHECK(cid != NULL);
        FUZZ_CHECK(p == id->der + id->der_len);
        ASN1_OCTET_STRING *name_hash = NULL, *key_hash = NULL;
        FUZZ_CHECK(OCSP_id_get0_info(&name_hash, NULL, &key_hash, NULL, cid) == 1);
        FUZZ_CHECK(ASN1_STRING_length(name_hash) == (int)id->hash_len &&
                   memcmp(ASN1_STRING_get0_data(name_hash), id->name_hash, id->hash_len) == 0);
        FUZZ_CHECK(ASN1_STRING_length(key_hash) == (int)id->hash_len &&
                   memcmp(ASN1_STRING_get0_data(key_hash), id->key_hash, id->hash_len) == 0);
        OCSP_CERTID_free(cid);
    }
    ERR_clear_error();
}

#endif
