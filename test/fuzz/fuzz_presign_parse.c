/*
 * fuzz_presign_parse: presign_parse (responder/ocsp/presign_parse.h), the reader of a
 * pre-signed OCSPResponse from a store — for jpkid respond, a value read from Redis. The key it
 * must answer is taken from the input's own first CertID when it has one (so that the checks
 * past the CertID are reached), with the input's serial, hash and issuer hashes; a second call
 * with another serial must be refused. No signature check (that is OpenSSL's). Seeds: real
 * responses of both CertID hashes, a tryLater, garbage.
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>

#include "fuzz.h"
#include "responder/ocsp/presign_parse.h"

static bool field_is_known(const char *field)
{
    static const char *const known[] = {"der", "certid", "issuer", "times", "signature"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(field, known[i]) == 0)
            return true;
    return false;
}

static void check(const struct ocsp_issuer *issuer, const struct presign_key *key,
                  const uint8_t *data, size_t size, bool may_pass)
{
    struct jerr err = {0};
    struct presign_blob *b = presign_parse(issuer, key, data, size, NULL, &err);
    if (b == NULL) {
        FUZZ_CHECK(err.code == JERR_INVALID || err.code == JERR_INTERNAL);
        FUZZ_CHECK(err.code == JERR_INTERNAL || field_is_known(err.field));
        ERR_clear_error();
        return;
    }
    FUZZ_CHECK(may_pass);
    size_t len = 0;
    FUZZ_CHECK(presign_blob_der(b, &len) != NULL && len == size);
    FUZZ_CHECK(memcmp(presign_blob_der(b, &len), data, size) == 0);
    FUZZ_CHECK(strcmp(presign_blob_key(b)->serial, key->serial) == 0);
    presign_blob_unref(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ocsp_issuer issuer;
    struct presign_key key;
    memset(&issuer, 0, sizeof(issuer));
    memset(&key, 0, sizeof(key));
    snprintf(key.serial, sizeof(key.serial), "01");

    /* The key of the input's first CertID, when it has one. */
    const unsigned char *p = data;
    OCSP_RESPONSE *resp = size > 0 ? d2i_OCSP_RESPONSE(NULL, &p, (long)size) : NULL;
    OCSP_BASICRESP *bs = resp != NULL ? OCSP_response_get1_basic(resp) : NULL;
    OCSP_SINGLERESP *single = bs != NULL && OCSP_resp_count(bs) > 0 ? OCSP_resp_get0(bs, 0) : NULL;
    ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
    ASN1_OBJECT *md = NULL;
    ASN1_INTEGER *serial = NULL;
    const OCSP_CERTID *cid = single != NULL ? OCSP_SINGLERESP_get0_id(single) : NULL;
    if (cid != NULL && OCSP_id_get0_info(&nh, &md, &kh, &serial, (OCSP_CERTID *)cid) == 1) {
        key.certid_hash = OBJ_obj2nid(md) == NID_sha256 ? OCSP_CERTID_SHA256 : OCSP_CERTID_SHA1;
        BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
        char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
        if (hex != NULL && strlen(hex) <= JPKI_SERIAL_HEX_MAX)
            snprintf(key.serial, sizeof(key.serial), "%s", hex);
        OPENSSL_free(hex);
        BN_free(bn);
        if (ASN1_STRING_length(nh) == 20 && ASN1_STRING_length(kh) == 20) {
            memcpy(issuer.name_sha1, ASN1_STRING_get0_data(nh), 20);
            memcpy(issuer.key_sha1, ASN1_STRING_get0_data(kh), 20);
        } else if (ASN1_STRING_length(nh) == 32 && ASN1_STRING_length(kh) == 32) {
            memcpy(issuer.name_sha256, ASN1_STRING_get0_data(nh), 32);
            memcpy(issuer.key_sha256, ASN1_STRING_get0_data(kh), 32);
        }
    }
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    ERR_clear_error();

    check(&issuer, &key, data, size, true);
    /* Another serial than the response's: never a blob. */
    struct presign_key other = key;
    snprintf(other.serial, sizeof(other.serial), "%s", strcmp(key.serial, "7F") == 0 ? "7E" : "7F");
    check(&issuer, &other, data, size, false);
    return 0;
}
