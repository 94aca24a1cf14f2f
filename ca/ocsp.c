/*
 * ocsp: the OCSP request parser and response builder. See ocsp.h; DESIGN §5.
 *
 * Decoding is OpenSSL's alone (d2i_OCSP_REQUEST, d2i_ASN1_OCTET_STRING, d2i_X509_ALGOR,
 * EVP_Decode*); this file checks what the decoders hand back against RFC 6960, RFC 5019,
 * RFC 9654 and the caps of limits.h, and keeps each CertID re-encoded so that the response
 * echoes it. Responses are signed through signer_sign_ocsp: no key is ever seen here. No
 * state, no I/O: every function is safe to call from any thread.
 */
#include "ca/ocsp.h"

#include <stdio.h>
#include <string.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "base/b64.h"

/* RFC 5280 §4.1.2.2: a serial is a positive INTEGER of at most 20 octets. */
#define OCSP_SERIAL_MAX_OCTETS 20
/* Base64 characters of JPKI_OCSP_MAX_REQUEST_BYTES (RFC 4648 §4: 4 per 3 bytes, padded). */
#define OCSP_GET_B64_MAX (4 * ((JPKI_OCSP_MAX_REQUEST_BYTES + 2) / 3))
/* A GET path component percent-encodes at most every base64 character (3 bytes each). */
#define OCSP_GET_PATH_MAX (3 * OCSP_GET_B64_MAX)

/* The code for a failed OpenSSL decode: input the client got wrong is JERR_INVALID
 * (malformedRequest), but a decoder that ran out of memory is our failure (internalError).
 * The first error queued is the innermost cause. */
static int decode_failure_code(void)
{
    return ERR_GET_REASON(ERR_peek_error()) == ERR_R_MALLOC_FAILURE ? JERR_INTERNAL : JERR_INVALID;
}

static const EVP_MD *certid_md(int hash)
{
    switch (hash) {
    case OCSP_CERTID_SHA1:
        return EVP_sha1();
    case OCSP_CERTID_SHA256:
        return EVP_sha256();
    default:
        return NULL;
    }
}

static const char *certid_hash_name(int hash)
{
    return hash == OCSP_CERTID_SHA1 ? "SHA-1" : "SHA-256";
}

/*
 * The parameters of a CertID's hashAlgorithm, which OCSP_id_get0_info does not expose: read
 * from the re-encoded CertID (SEQUENCE { hashAlgorithm AlgorithmIdentifier, ... }) with
 * OpenSSL's decoders. RFC 5754 §2: SHA-1 and SHA-2 parameters are absent or NULL; anything
 * else is not a hash we know.
 */
static int certid_params(const unsigned char *der, size_t len, bool *params_null, struct jerr *err)
{
    const unsigned char *p = der;
    long inner_len = 0;
    int tag = 0, xclass = 0;
    X509_ALGOR *alg = NULL;
    int ptype = V_ASN1_UNDEF;
    const void *pval = NULL;
    int ret = -1;

    int r = ASN1_get_object(&p, &inner_len, &tag, &xclass, (long)len);
    if ((r & 0x80) != 0 || tag != V_ASN1_SEQUENCE || xclass != V_ASN1_UNIVERSAL) {
        jerr_openssl(err, decode_failure_code(), "certID", "CertID is not a SEQUENCE");
        goto out;
    }
    alg = d2i_X509_ALGOR(NULL, &p, inner_len);
    if (alg == NULL) {
        jerr_openssl(err, decode_failure_code(), "hashAlgorithm", "bad CertID hashAlgorithm");
        goto out;
    }
    X509_ALGOR_get0(NULL, &ptype, &pval, alg);
    if (ptype == V_ASN1_NULL) {
        *params_null = true;
    } else if (ptype == V_ASN1_UNDEF) {
        *params_null = false;
    } else {
        jerr_set(err, JERR_INVALID, "hashAlgorithm",
                 "CertID hashAlgorithm has parameters (RFC 5754 §2: absent or NULL)");
        goto out;
    }
    ret = 0;
out:
    X509_ALGOR_free(alg);
    return ret;
}

/* Fills *out from a decoded CertID (RFC 6960 §4.1.1), checking the algorithm, the hash
 * lengths and the size; `index` names the CertID in messages. *out written on success. */
static int certid_fill(OCSP_CERTID *cid, size_t index, struct ocsp_certid *out, struct jerr *err)
{
    ASN1_OCTET_STRING *name_hash = NULL, *key_hash = NULL;
    ASN1_OBJECT *md = NULL;
    ASN1_INTEGER *serial = NULL;
    BIGNUM *bn = NULL;
    char *hex = NULL;
    struct ocsp_certid id;
    int ret = -1;

    memset(&id, 0, sizeof(id));
    if (OCSP_id_get0_info(&name_hash, &md, &key_hash, &serial, cid) != 1) {
        jerr_openssl(err, decode_failure_code(), "certID", "CertID %zu unreadable", index);
        goto out;
    }
    /* RFC 5019 §2.1.1 asks for SHA-1; RFC 6960 lets clients use others. We answer SHA-1
     * and SHA-256 (DESIGN §5) and call anything else malformed. */
    switch (OBJ_obj2nid(md)) {
    case NID_sha1:
        id.hash = OCSP_CERTID_SHA1;
        id.hash_len = 20;
        break;
    case NID_sha256:
        id.hash = OCSP_CERTID_SHA256;
        id.hash_len = 32;
        break;
    default:
        jerr_set(err, JERR_INVALID, "hashAlgorithm",
                 "unsupported CertID hash algorithm in CertID %zu (SHA-1 or SHA-256 only)", index);
        goto out;
    }
    /* RFC 6960 §4.1.1: the hashes are outputs of hashAlgorithm, so of its length. */
    if (ASN1_STRING_length(name_hash) != (int)id.hash_len) {
        jerr_set(err, JERR_INVALID, "issuerNameHash",
                 "issuerNameHash of CertID %zu is %d octets, %s gives %zu", index,
                 ASN1_STRING_length(name_hash), certid_hash_name(id.hash), id.hash_len);
        goto out;
    }
    if (ASN1_STRING_length(key_hash) != (int)id.hash_len) {
        jerr_set(err, JERR_INVALID, "issuerKeyHash",
                 "issuerKeyHash of CertID %zu is %d octets, %s gives %zu", index,
                 ASN1_STRING_length(key_hash), certid_hash_name(id.hash), id.hash_len);
        goto out;
    }
    memcpy(id.name_hash, ASN1_STRING_get0_data(name_hash), id.hash_len);
    memcpy(id.key_hash, ASN1_STRING_get0_data(key_hash), id.hash_len);

    int der_len = i2d_OCSP_CERTID(cid, NULL);
    if (der_len <= 0) {
        jerr_openssl(err, decode_failure_code(), "certID", "CertID %zu cannot be re-encoded",
                     index);
        goto out;
    }
    if (der_len > JPKI_OCSP_CERTID_DER_MAX) {
        /* Only the serial can make it this long: far over RFC 5280's 20 octets. */
        jerr_set(err, JERR_INVALID, "serialNumber",
                 "CertID %zu is %d bytes, over %d: serialNumber too long", index, der_len,
                 JPKI_OCSP_CERTID_DER_MAX);
        goto out;
    }
    unsigned char *p = id.der;
    if (i2d_OCSP_CERTID(cid, &p) != der_len) {
        jerr_openssl(err, JERR_INTERNAL, "certID", "CertID %zu re-encoding failed", index);
        goto out;
    }
    id.der_len = (size_t)der_len;
    if (certid_params(id.der, id.der_len, &id.params_null, err) == -1)
        goto out;

    /* The registry keys certificates by BN_bn2hex of their positive serial. A serial no
     * certificate of ours can have (zero, negative, over 20 octets) is still a well-formed
     * request: the answer is unknown, with the CertID echoed. */
    bn = ASN1_INTEGER_to_BN(serial, NULL);
    if (bn == NULL) {
        jerr_openssl(err, decode_failure_code(), "serialNumber", "bad serialNumber in CertID %zu",
                     index);
        goto out;
    }
    if (!BN_is_negative(bn) && !BN_is_zero(bn) && BN_num_bytes(bn) <= OCSP_SERIAL_MAX_OCTETS) {
        hex = BN_bn2hex(bn);
        if (hex == NULL) {
            jerr_openssl(err, JERR_INTERNAL, "serialNumber", "BN_bn2hex failed");
            goto out;
        }
        if (strlen(hex) > JPKI_SERIAL_HEX_MAX) {
            jerr_set(err, JERR_INTERNAL, "serialNumber", "serial hex longer than expected");
            goto out;
        }
        memcpy(id.serial, hex, strlen(hex) + 1);
        id.serial_ok = true;
    }
    *out = id;
    ret = 0;
out:
    OPENSSL_free(hex);
    BN_free(bn);
    return ret;
}

/* RFC 6960 §4.4.1, RFC 9654 §2.1: the extnValue holds the DER of Nonce ::= OCTET STRING
 * (SIZE(1..32)). The response echoes it re-encoded and clients compare extnValues byte for
 * byte (OpenSSL's OCSP_check_nonce), so only exact DER is accepted. */
static int nonce_parse(X509_EXTENSION *ext, struct ocsp_request *r, struct jerr *err)
{
    ASN1_OCTET_STRING *value = X509_EXTENSION_get_data(ext);
    const unsigned char *start = ASN1_STRING_get0_data(value);
    const unsigned char *p = start;
    int value_len = ASN1_STRING_length(value);
    ASN1_OCTET_STRING *nonce = NULL;
    unsigned char reencoded[2 + JPKI_OCSP_NONCE_MAX];
    int ret = -1;

    nonce = d2i_ASN1_OCTET_STRING(NULL, &p, value_len);
    if (nonce == NULL) {
        jerr_openssl(err, decode_failure_code(), "nonce",
                     "nonce extension value is not an OCTET STRING (RFC 6960 §4.4.1)");
        goto out;
    }
    if (p != start + value_len) {
        jerr_set(err, JERR_INVALID, "nonce", "%ld bytes after the nonce OCTET STRING",
                 (long)(start + value_len - p));
        goto out;
    }
    int n = ASN1_STRING_length(nonce);
    if (n < JPKI_OCSP_NONCE_MIN || n > JPKI_OCSP_NONCE_MAX) {
        jerr_set(err, JERR_INVALID, "nonce", "nonce of %d octets (RFC 9654 §2.1: %d..%d)", n,
                 JPKI_OCSP_NONCE_MIN, JPKI_OCSP_NONCE_MAX);
        goto out;
    }
    unsigned char *q = reencoded;
    int enc_len = i2d_ASN1_OCTET_STRING(nonce, NULL);
    if (enc_len != value_len || enc_len > (int)sizeof(reencoded) ||
        i2d_ASN1_OCTET_STRING(nonce, &q) != enc_len || memcmp(reencoded, start, enc_len) != 0) {
        jerr_set(err, JERR_INVALID, "nonce", "nonce is not DER-encoded");
        goto out;
    }
    memcpy(r->nonce, ASN1_STRING_get0_data(nonce), (size_t)n);
    r->nonce_len = (size_t)n;
    r->has_nonce = true;
    ret = 0;
out:
    ASN1_OCTET_STRING_free(nonce);
    return ret;
}

/* The OID of an extension as dotted digits, for messages (never outside text). */
static const char *ext_oid(X509_EXTENSION *ext, char *buf, size_t size)
{
    if (OBJ_obj2txt(buf, (int)size, X509_EXTENSION_get_object(ext), 1) <= 0)
        snprintf(buf, size, "?");
    return buf;
}

int ocsp_request_parse(const unsigned char *der, size_t len, struct ocsp_request *out,
                       struct jerr *err)
{
    OCSP_REQUEST *req = NULL;
    struct ocsp_request r;
    char oid[80];
    int ret = -1;

    memset(&r, 0, sizeof(r));
    if (der == NULL || len == 0) {
        jerr_set(err, JERR_INVALID, "request", "empty OCSP request");
        goto out;
    }
    if (len > JPKI_OCSP_MAX_REQUEST_BYTES) {
        jerr_set(err, JERR_TOO_LARGE, "request", "OCSP request of %zu bytes, over %d", len,
                 JPKI_OCSP_MAX_REQUEST_BYTES);
        goto out;
    }
    const unsigned char *p = der;
    req = d2i_OCSP_REQUEST(NULL, &p, (long)len);
    if (req == NULL) {
        jerr_openssl(err, decode_failure_code(), "request", "not a DER OCSPRequest");
        goto out;
    }
    /* STYLE "Untrusted input": the decoder must have consumed everything. */
    if (p != der + len) {
        jerr_set(err, JERR_INVALID, "request", "%zu bytes after the OCSPRequest",
                 (size_t)(der + len - p));
        goto out;
    }

    /* RFC 6960 §4.1.1: requestList is SEQUENCE OF Request; an empty list asks nothing. */
    int count = OCSP_request_onereq_count(req);
    if (count <= 0) {
        jerr_set(err, JERR_INVALID, "requestList", "OCSP request without a CertID");
        goto out;
    }
    if (count > JPKI_OCSP_MAX_CERTIDS) {
        jerr_set(err, JERR_TOO_LARGE, "requestList", "OCSP request of %d CertIDs, over %d", count,
                 JPKI_OCSP_MAX_CERTIDS);
        goto out;
    }
    for (int i = 0; i < count; i++) {
        OCSP_ONEREQ *one = OCSP_request_onereq_get0(req, i);
        if (certid_fill(OCSP_onereq_get0_id(one), (size_t)i, &r.ids[i], err) == -1)
            goto out;
        /* RFC 5280 §4.2 (which RFC 6960 §4.4 follows): a critical extension we do not
         * process makes the request one we cannot answer. We process none per CertID. */
        int n_ext = OCSP_ONEREQ_get_ext_count(one);
        for (int j = 0; j < n_ext; j++) {
            X509_EXTENSION *ext = OCSP_ONEREQ_get_ext(one, j);
            if (X509_EXTENSION_get_critical(ext) > 0) {
                jerr_set(err, JERR_INVALID, "singleRequestExtensions",
                         "unsupported critical extension %s in CertID %d",
                         ext_oid(ext, oid, sizeof(oid)), i);
                goto out;
            }
        }
    }
    r.count = (size_t)count;

    int n_ext = OCSP_REQUEST_get_ext_count(req);
    for (int j = 0; j < n_ext; j++) {
        X509_EXTENSION *ext = OCSP_REQUEST_get_ext(req, j);
        if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) == NID_id_pkix_OCSP_Nonce) {
            /* RFC 5280 §4.2: an extension appears at most once. */
            if (r.has_nonce) {
                jerr_set(err, JERR_INVALID, "nonce", "more than one nonce extension");
                goto out;
            }
            if (nonce_parse(ext, &r, err) == -1)
                goto out;
        } else if (X509_EXTENSION_get_critical(ext) > 0) {
            jerr_set(err, JERR_INVALID, "requestExtensions",
                     "unsupported critical request extension %s", ext_oid(ext, oid, sizeof(oid)));
            goto out;
        }
    }
    /* A signature (optionalSignature) is neither required nor checked: RFC 5019 §2.1.2. */
    *out = r;
    ret = 0;
out:
    OCSP_REQUEST_free(req);
    return ret;
}

static bool is_base64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '=';
}

int ocsp_get_path_decode(const char *path_component, unsigned char **der, size_t *len,
                         struct jerr *err)
{
    unsigned char *b64 = NULL, *buf = NULL;
    int ret = -1;

    if (path_component == NULL || path_component[0] == '\0') {
        jerr_set(err, JERR_INVALID, "request", "empty OCSP GET request");
        goto out;
    }
    size_t path_len = strnlen(path_component, OCSP_GET_PATH_MAX + 1);
    if (path_len > OCSP_GET_PATH_MAX) {
        jerr_set(err, JERR_TOO_LARGE, "request", "OCSP GET path over %d bytes", OCSP_GET_PATH_MAX);
        goto out;
    }

    /* RFC 6960 Appendix A.1: the base64 is URL-encoded (RFC 3986 §2.1 percent-encoding);
     * '+', '/' and '=' may also come raw. Every decoded byte must be base64's. */
    b64 = OPENSSL_malloc(path_len);
    if (b64 == NULL) {
        jerr_set(err, JERR_INTERNAL, "request", "out of memory");
        goto out;
    }
    size_t b64_len = 0;
    for (size_t i = 0; i < path_len; i++) {
        unsigned char c = (unsigned char)path_component[i];
        if (c == '%') {
            int hi = i + 2 < path_len
                         ? OPENSSL_hexchar2int((unsigned char)path_component[i + 1])
                         : -1;
            int lo = hi >= 0 ? OPENSSL_hexchar2int((unsigned char)path_component[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                jerr_set(err, JERR_INVALID, "request", "bad percent escape at byte %zu", i);
                goto out;
            }
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        if (!is_base64_char(c)) {
            jerr_set(err, JERR_INVALID, "request", "byte %zu is not base64", i);
            goto out;
        }
        b64[b64_len++] = c;
    }
    if (b64_len > OCSP_GET_B64_MAX) {
        jerr_set(err, JERR_TOO_LARGE, "request", "OCSP GET request over %d bytes",
                 JPKI_OCSP_MAX_REQUEST_BYTES);
        goto out;
    }

    size_t total = 0;
    int decoded = b64_decode((const char *)b64, b64_len, &buf, &total);
    if (decoded == -2) {
        jerr_set(err, JERR_INTERNAL, "request", "out of memory");
        goto out;
    }
    if (decoded == -1) {
        jerr_openssl(err, decode_failure_code(), "request", "OCSP GET request is not valid base64");
        goto out;
    }
    if (total == 0) {
        jerr_set(err, JERR_INVALID, "request", "empty OCSP GET request");
        goto out;
    }
    if (total > JPKI_OCSP_MAX_REQUEST_BYTES) {
        jerr_set(err, JERR_TOO_LARGE, "request", "OCSP GET request of %zu bytes, over %d", total,
                 JPKI_OCSP_MAX_REQUEST_BYTES);
        goto out;
    }
    *der = buf;
    *len = total;
    buf = NULL;
    ret = 0;
out:
    OPENSSL_free(buf);
    OPENSSL_free(b64);
    return ret;
}

int ocsp_issuer_init(struct ocsp_issuer *out, enum ca_kind ca, X509 *root, struct jerr *err)
{
    struct ocsp_issuer is;
    unsigned int n1 = 0, n2 = 0, k1 = 0, k2 = 0;

    memset(&is, 0, sizeof(is));
    is.ca = ca;
    is.generation = 1;
    if (root == NULL)
        return jerr_set(err, JERR_INTERNAL, "root", "no issuer certificate");
    /* RFC 6960 §4.1.1: issuerNameHash over the DER of the issuer's name (the root's subject,
     * X509_NAME_digest hashes its encoding); issuerKeyHash over the value of the BIT STRING
     * subjectPublicKey, tag, length and unused-bits octet excluded. */
    X509_NAME *name = X509_get_subject_name(root);
    const ASN1_BIT_STRING *key = X509_get0_pubkey_bitstr(root);
    if (name == NULL || key == NULL)
        return jerr_openssl(err, JERR_CRYPTO, "root", "issuer without subject or key");
    const unsigned char *kd = ASN1_STRING_get0_data(key);
    size_t kl = (size_t)ASN1_STRING_length(key);
    if (X509_NAME_digest(name, EVP_sha1(), is.name_sha1, &n1) != 1 ||
        X509_NAME_digest(name, EVP_sha256(), is.name_sha256, &n2) != 1 ||
        EVP_Digest(kd, kl, is.key_sha1, &k1, EVP_sha1(), NULL) != 1 ||
        EVP_Digest(kd, kl, is.key_sha256, &k2, EVP_sha256(), NULL) != 1)
        return jerr_openssl(err, JERR_CRYPTO, "root", "issuer hash failed");
    if (n1 != 20 || k1 != 20 || n2 != 32 || k2 != 32)
        return jerr_set(err, JERR_INTERNAL, "root", "unexpected digest length");
    *out = is;
    return 0;
}

int ocsp_match_issuer(const struct ocsp_issuer *issuers, size_t n, const struct ocsp_certid *id)
{
    for (size_t i = 0; i < n; i++) {
        const unsigned char *name, *key;
        size_t hl;
        if (id->hash == OCSP_CERTID_SHA1) {
            name = issuers[i].name_sha1;
            key = issuers[i].key_sha1;
            hl = 20;
        } else if (id->hash == OCSP_CERTID_SHA256) {
            name = issuers[i].name_sha256;
            key = issuers[i].key_sha256;
            hl = 32;
        } else {
            return -1;
        }
        if (id->hash_len != hl)
            return -1;
        if ((CRYPTO_memcmp(name, id->name_hash, hl) | CRYPTO_memcmp(key, id->key_hash, hl)) == 0)
            return (int)i;
    }
    return -1;
}

/* The CertStatus of one answer (RFC 6960 §2.2, §4.2.1): *reason is an OCSP_REVOKED_STATUS_*
 * value, NOSTATUS leaving revocationReason out. */
static int single_status(const struct ocsp_single *s, int *status, int *reason, size_t index,
                         struct jerr *err)
{
    *reason = OCSP_REVOKED_STATUS_NOSTATUS;
    if (s->unknown) {
        *status = V_OCSP_CERTSTATUS_UNKNOWN;
        return 0;
    }
    switch (s->status) {
    case CERT_GOOD:
        *status = V_OCSP_CERTSTATUS_GOOD;
        return 0;
    case CERT_HOLD:
        /* RFC 6960 §2.2: "revoked" also covers a hold, with reason certificateHold
         * (RFC 5280 §5.3.1). */
        *status = V_OCSP_CERTSTATUS_REVOKED;
        *reason = OCSP_REVOKED_STATUS_CERTIFICATEHOLD;
        return 0;
    case CERT_REVOKED:
        *status = V_OCSP_CERTSTATUS_REVOKED;
        /* RFC 5280 §5.3.1: unspecified is better left out than written. CRLReason 7 is
         * unused; 10 is the highest. */
        if (s->reason == REASON_NONE || s->reason == REASON_UNSPECIFIED)
            return 0;
        if (s->reason < 0 || s->reason == 7 || s->reason > OCSP_REVOKED_STATUS_AACOMPROMISE)
            return jerr_set(err, JERR_INTERNAL, "reason", "answer %zu has bad reason %d", index,
                            s->reason);
        *reason = s->reason;
        return 0;
    }
    return jerr_set(err, JERR_INTERNAL, "status", "answer %zu has bad status %d", index,
                    (int)s->status);
}

/* Wraps `bs` (NULL for an error status) in an OCSPResponse of `status` (RFC 6960 §4.2.1) and
 * encodes it into *der (OPENSSL_malloc'd, the caller frees), written only on success. */
static int response_encode(int status, OCSP_BASICRESP *bs, unsigned char **der, size_t *der_len,
                           struct jerr *err)
{
    unsigned char *buf = NULL;
    int ret = -1;
    OCSP_RESPONSE *resp = OCSP_response_create(status, bs);
    if (resp == NULL) {
        jerr_openssl(err, JERR_CRYPTO, "response", "cannot create the OCSPResponse");
        goto out;
    }
    int len = i2d_OCSP_RESPONSE(resp, &buf);
    if (len <= 0) {
        jerr_openssl(err, JERR_CRYPTO, "response", "cannot encode the OCSPResponse");
        goto out;
    }
    *der = buf;
    *der_len = (size_t)len;
    ret = 0;
out:
    OCSP_RESPONSE_free(resp);
    return ret;
}

int ocsp_response_sign(X509 *issuer_root, X509 *signer_cert, const struct signer *signer,
                       const struct ocsp_single *singles, size_t n, const unsigned char *nonce,
                       size_t nonce_len, time_t this_update, time_t next_update,
                       unsigned char **der, size_t *der_len, struct jerr *err)
{
    OCSP_BASICRESP *bs = NULL;
    OCSP_CERTID *cid = NULL;
    ASN1_GENERALIZEDTIME *this_upd = NULL, *next_upd = NULL, *rev_time = NULL;
    unsigned char nonce_copy[JPKI_OCSP_NONCE_MAX];
    struct ocsp_issuer issuer;
    int ret = -1;

    if (issuer_root == NULL || signer_cert == NULL || signer == NULL || singles == NULL) {
        jerr_set(err, JERR_INTERNAL, "response", "missing issuer, signer or answers");
        goto out;
    }
    if (n == 0 || n > JPKI_OCSP_MAX_CERTIDS) {
        jerr_set(err, JERR_INTERNAL, "response", "%zu answers (1..%d)", n, JPKI_OCSP_MAX_CERTIDS);
        goto out;
    }
    if (nonce_len > 0 &&
        (nonce == NULL || nonce_len < JPKI_OCSP_NONCE_MIN || nonce_len > JPKI_OCSP_NONCE_MAX)) {
        jerr_set(err, JERR_INVALID, "nonce", "nonce of %zu octets (RFC 9654 §2.1: %d..%d)",
                 nonce_len, JPKI_OCSP_NONCE_MIN, JPKI_OCSP_NONCE_MAX);
        goto out;
    }
    /* RFC 5019 §2.2.4: nextUpdate is always given, and after thisUpdate. */
    if (next_update <= this_update) {
        jerr_set(err, JERR_INTERNAL, "next_update", "nextUpdate not after thisUpdate");
        goto out;
    }
    /* Answering a CertID of another CA with this CA's signer would be a wrong answer that
     * verifies: refuse it here, whatever the caller matched. */
    if (ocsp_issuer_init(&issuer, CA_SIGN, issuer_root, err) == -1)
        goto out;

    bs = OCSP_BASICRESP_new();
    this_upd = ASN1_GENERALIZEDTIME_set(NULL, this_update);
    next_upd = ASN1_GENERALIZEDTIME_set(NULL, next_update);
    if (bs == NULL || this_upd == NULL || next_upd == NULL) {
        jerr_openssl(err, JERR_CRYPTO, "response", "cannot start the BasicOCSPResponse");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct ocsp_single *s = &singles[i];
        int status, reason;
        if (s->id == NULL || s->id->der_len == 0 || s->id->der_len > JPKI_OCSP_CERTID_DER_MAX) {
            jerr_set(err, JERR_INTERNAL, "certID", "answer %zu has no CertID", i);
            goto out;
        }
        if (ocsp_match_issuer(&issuer, 1, s->id) != 0) {
            jerr_set(err, JERR_INTERNAL, "certID", "CertID %zu does not name this issuer", i);
            goto out;
        }
        if (single_status(s, &status, &reason, i, err) == -1)
            goto out;
        /* The CertID exactly as requested (RFC 6960 §4.2.1; clients match on every field). */
        const unsigned char *p = s->id->der;
        cid = d2i_OCSP_CERTID(NULL, &p, (long)s->id->der_len);
        if (cid == NULL) {
            jerr_openssl(err, JERR_INTERNAL, "certID", "CertID %zu does not decode", i);
            goto out;
        }
        if (status == V_OCSP_CERTSTATUS_REVOKED) {
            rev_time = ASN1_GENERALIZEDTIME_set(NULL, s->revoked_at);
            if (rev_time == NULL) {
                jerr_openssl(err, JERR_CRYPTO, "revoked_at", "bad revocation time");
                goto out;
            }
        }
        if (OCSP_basic_add1_status(bs, cid, status, reason, rev_time, this_upd, next_upd) == NULL) {
            jerr_openssl(err, JERR_CRYPTO, "response", "cannot add answer %zu", i);
            goto out;
        }
        OCSP_CERTID_free(cid);
        cid = NULL;
        ASN1_GENERALIZEDTIME_free(rev_time);
        rev_time = NULL;
    }
    /* RFC 9654 §2.1 / RFC 6960 §4.4.1: the nonce echoed in responseExtensions, wrapped in
     * an OCTET STRING inside extnValue (OCSP_basic_add1_nonce does the wrapping). */
    if (nonce_len > 0) {
        memcpy(nonce_copy, nonce, nonce_len);
        if (OCSP_basic_add1_nonce(bs, nonce_copy, (int)nonce_len) != 1) {
            jerr_openssl(err, JERR_CRYPTO, "nonce", "cannot add the nonce");
            goto out;
        }
    }
    if (signer_sign_ocsp(signer, bs, signer_cert, err) == -1 ||
        response_encode(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs, der, der_len, err) == -1)
        goto out;
    ret = 0;
out:
    OCSP_CERTID_free(cid);
    ASN1_GENERALIZEDTIME_free(rev_time);
    ASN1_GENERALIZEDTIME_free(next_upd);
    ASN1_GENERALIZEDTIME_free(this_upd);
    OCSP_BASICRESP_free(bs);
    return ret;
}

int ocsp_error_response(int response_status, unsigned char **der, size_t *len, struct jerr *err)
{
    /* RFC 6960 §4.2.1: every status but successful comes without responseBytes. */
    switch (response_status) {
    case OCSP_RESPONSE_STATUS_MALFORMEDREQUEST:
    case OCSP_RESPONSE_STATUS_INTERNALERROR:
    case OCSP_RESPONSE_STATUS_TRYLATER:
    case OCSP_RESPONSE_STATUS_SIGREQUIRED:
    case OCSP_RESPONSE_STATUS_UNAUTHORIZED:
        return response_encode(response_status, NULL, der, len, err);
    default:
        return jerr_set(err, JERR_INTERNAL, "response_status", "%d is not an OCSP error status",
                        response_status);
    }
}

int ocsp_certid_for_serial(X509 *issuer_root, const char *serial_hex, int hash,
                           struct ocsp_certid *out, struct jerr *err)
{
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial = NULL;
    OCSP_CERTID *cid = NULL;
    int ret = -1;

    const EVP_MD *md = certid_md(hash);
    if (md == NULL) {
        jerr_set(err, JERR_INTERNAL, "hash", "unknown CertID hash %d", hash);
        goto out;
    }
    if (issuer_root == NULL) {
        jerr_set(err, JERR_INTERNAL, "root", "no issuer certificate");
        goto out;
    }
    size_t hex_len = serial_hex != NULL ? strnlen(serial_hex, JPKI_SERIAL_HEX_MAX + 1) : 0;
    if (hex_len == 0 || hex_len > JPKI_SERIAL_HEX_MAX ||
        strspn(serial_hex, "0123456789ABCDEFabcdef") != hex_len) {
        jerr_set(err, JERR_INVALID, "serial", "serial is not 1..%d hex digits",
                 JPKI_SERIAL_HEX_MAX);
        goto out;
    }
    if (BN_hex2bn(&bn, serial_hex) != (int)hex_len ||
        (serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL) {
        jerr_openssl(err, JERR_CRYPTO, "serial", "cannot convert the serial");
        goto out;
    }
    cid = OCSP_cert_id_new(md, X509_get_subject_name(issuer_root),
                           X509_get0_pubkey_bitstr(issuer_root), serial);
    if (cid == NULL) {
        jerr_openssl(err, JERR_CRYPTO, "certID", "cannot build the CertID");
        goto out;
    }
    if (certid_fill(cid, 0, out, err) == -1)
        goto out;
    ret = 0;
out:
    OCSP_CERTID_free(cid);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return ret;
}
