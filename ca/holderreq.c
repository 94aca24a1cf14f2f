/*
 * holderreq: the holder's online revocation request (see holderreq.h).
 *
 * One parser (holderreq_parse) takes the outside bytes: OpenSSL's CMS decoder, all input
 * consumed, the structure pinned down (one signer, the digest of its key — SHA-256 for RSA,
 * SHA-384/512 for P-384/P-521 —, attached data, certificate
 * included), the signature verified with that certificate (CMS_verify without chain building:
 * trust is decided by holderreq_check against the registry and the signing CA's root), then
 * the JSON document through recjson (the one JSON reader). Everything after works on the
 * checked struct. Nothing here writes the registry.
 */
#include "ca/holderreq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509_vfy.h>

#include "ca/recjson.h"
#include "keystore/keyalg.h"
#include "base/jclock.h"

void holderreq_clear(struct holder_request *r)
{
    if (r == NULL)
        return;
    X509_free(r->signer);
    memset(r, 0, sizeof(*r));
}

/* ---- the document ---- */

static bool is_hex(const char *s, size_t min, size_t max)
{
    size_t len = strlen(s);
    return len >= min && len <= max && strspn(s, "0123456789abcdefABCDEF") == len;
}

/* "serial": 1..40 hex digits (RFC 5280 §4.1.2.2: at most 20 octets), written as the registry
 * keys serials (BN_bn2hex: upper case, no leading zero octets). */
static int doc_serial(const json_t *doc, struct holder_request *out, struct jerr *err)
{
    char text[JPKI_SERIAL_HEX_MAX + 1];
    BIGNUM *bn = NULL;
    char *hex = NULL;
    int rc = -1;

    if (recjson_string(doc, "", "serial", true, text, sizeof(text), err) == -1)
        return -1;
    if (!is_hex(text, 1, JPKI_SERIAL_HEX_MAX))
        return jerr_set(err, JERR_INVALID, "serial", "serial: must be 1 to %d hexadecimal digits",
                        JPKI_SERIAL_HEX_MAX);
    if (BN_hex2bn(&bn, text) == 0 || (hex = BN_bn2hex(bn)) == NULL) {
        jerr_openssl(err, JERR_INTERNAL, "serial", "cannot read the serial");
        goto out;
    }
    snprintf(out->serial, sizeof(out->serial), "%s", hex);
    rc = 0;
out:
    OPENSSL_free(hex);
    BN_free(bn);
    return rc;
}

/* "reason": the reasons a holder gives online (guide 4(5)): stopping use, or a key he believes
 * compromised (the guide sends the lost/stolen card to the window: without the card there is
 * no key to sign with). */
static int doc_reason(const json_t *doc, struct holder_request *out, struct jerr *err)
{
    char text[32];
    if (recjson_string(doc, "", "reason", true, text, sizeof(text), err) == -1)
        return -1;
    if (strcmp(text, "keyCompromise") == 0)
        out->reason = REASON_KEY_COMPROMISE;
    else if (strcmp(text, "cessationOfOperation") == 0)
        out->reason = REASON_CESSATION_OF_OPERATION;
    else if (strcmp(text, "unspecified") == 0)
        out->reason = REASON_UNSPECIFIED;
    else
        return jerr_set(err, JERR_INVALID, "reason",
                        "reason: must be keyCompromise, cessationOfOperation or unspecified");
    return 0;
}

static int doc_request_id(const json_t *doc, struct holder_request *out, struct jerr *err)
{
    char text[HOLDERREQ_ID_MAX + 1];
    if (recjson_string(doc, "", "request_id", true, text, sizeof(text), err) == -1)
        return -1;
    if (!is_hex(text, HOLDERREQ_ID_MIN, HOLDERREQ_ID_MAX))
        return jerr_set(err, JERR_INVALID, "request_id",
                        "request_id: must be %d to %d hexadecimal digits (random, never reused)",
                        HOLDERREQ_ID_MIN, HOLDERREQ_ID_MAX);
    for (size_t i = 0; text[i] != '\0'; i++)
        out->request_id[i] =
            (char)(text[i] >= 'A' && text[i] <= 'F' ? text[i] - 'A' + 'a' : text[i]);
    return 0;
}

/* "time": RFC 3339 in UTC, exactly "YYYY-MM-DDTHH:MM:SSZ" (as jclock_format writes it). */
static int doc_time(const json_t *doc, struct holder_request *out, struct jerr *err)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    char text[32], day[11];
    int y, mo, d, hh, mi, ss;

    if (recjson_string(doc, "", "time", true, text, sizeof(text), err) == -1)
        return -1;
    bool ok = strlen(text) == sizeof(shape) - 1;
    for (size_t i = 0; ok && shape[i] != '\0'; i++)
        ok = shape[i] == 'd' ? text[i] >= '0' && text[i] <= '9' : text[i] == shape[i];
    if (ok) {
        memcpy(day, text, 10);
        day[10] = '\0';
        ok = jclock_parse_date(day, &y, &mo, &d) == 0 &&
             sscanf(text + 11, "%2d:%2d:%2d", &hh, &mi, &ss) == 3 && hh < 24 && mi < 60 && ss < 60;
    }
    if (!ok)
        return jerr_set(err, JERR_INVALID, "time",
                        "time: must be RFC 3339 UTC, YYYY-MM-DDTHH:MM:SSZ");
    out->time = (int64_t)jclock_utc(y, mo, d, hh, mi, ss);
    return 0;
}

static int doc_parse(const unsigned char *data, size_t len, struct holder_request *out,
                     struct jerr *err)
{
    static const char *const allowed[] = {"serial", "reason", "request_id", "time", NULL};
    json_t *doc = recjson_parse_body((const char *)data, len, err);
    int rc = -1;

    if (doc == NULL)
        return -1;
    if (recjson_only_fields(doc, "", allowed, err) == 0 && doc_serial(doc, out, err) == 0 &&
        doc_reason(doc, out, err) == 0 && doc_request_id(doc, out, err) == 0 &&
        doc_time(doc, out, err) == 0)
        rc = 0;
    json_decref(doc);
    return rc;
}

/* ---- the CMS envelope ---- */

static int malformed(struct jerr *err, const char *what)
{
    ERR_clear_error();
    return jerr_set(
        err, JERR_INVALID, "request",
        "request: %s (expected a DER CMS SignedData, signed by the card's signing key with "
        "its digest — SHA-256 for RSA, SHA-384 for P-384, SHA-512 for P-521 —, the "
        "signing certificate and the JSON document included)",
        what);
}

static int serial_hex(X509 *cert, char out[JPKI_SERIAL_HEX_MAX + 1])
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    int rc = -1;
    if (hex != NULL && hex[0] != '-' && strlen(hex) <= JPKI_SERIAL_HEX_MAX) {
        snprintf(out, JPKI_SERIAL_HEX_MAX + 1, "%s", hex);
        rc = 0;
    }
    ERR_clear_error();
    OPENSSL_free(hex);
    BN_free(bn);
    return rc;
}

/* True when i2d of `cms` is the `len` bytes at `der`. */
static bool is_der(CMS_ContentInfo *cms, const unsigned char *der, size_t len)
{
    unsigned char *again = NULL;
    int again_len = i2d_CMS_ContentInfo(cms, &again);
    bool same = again_len > 0 && (size_t)again_len == len && memcmp(again, der, len) == 0;
    OPENSSL_free(again);
    ERR_clear_error();
    return same;
}

int holderreq_parse(const unsigned char *der, size_t len, struct holder_request *out,
                    struct jerr *err)
{
    struct holder_request req;
    CMS_ContentInfo *cms = NULL;
    BIO *sink = NULL;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    memset(&req, 0, sizeof(req));
    if (len > HOLDERREQ_MAX_BYTES)
        return jerr_set(err, JERR_TOO_LARGE, "request", "request: larger than %d bytes",
                        HOLDERREQ_MAX_BYTES);
    if (len == 0) {
        malformed(err, "empty");
        goto out;
    }
    /* STYLE "Untrusted input": the library's decoder, and every byte must belong to it. */
    const unsigned char *p = der;
    cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
    if (cms == NULL) {
        malformed(err, "not a DER CMS ContentInfo");
        goto out;
    }
    if (p != der + len) {
        malformed(err, "bytes after the CMS structure");
        goto out;
    }
    /* docs/API.md promises DER, and d2i also takes BER (indefinite lengths, constructed
     * strings, unsorted SETs): DER being the one encoding of a value, the input is DER exactly
     * when re-encoding the decoded value gives back the same bytes. */
    if (!is_der(cms, der, len)) {
        malformed(err, "not DER (a BER encoding, e.g. with indefinite lengths)");
        goto out;
    }
    /* RFC 5652 §5.1: SignedData whose encapsulated content is id-data, attached. */
    if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
        malformed(err, "not a SignedData");
        goto out;
    }
    if (OBJ_obj2nid(CMS_get0_eContentType(cms)) != NID_pkcs7_data) {
        malformed(err, "the signed content is not id-data");
        goto out;
    }
    ASN1_OCTET_STRING **content = CMS_get0_content(cms);
    if (content == NULL || *content == NULL) {
        malformed(err, "no attached content (detached signatures are not accepted)");
        goto out;
    }
    int content_len = ASN1_STRING_length(*content);
    if (content_len < 1 || content_len > HOLDERREQ_CONTENT_MAX_BYTES) {
        malformed(err, "the signed document is empty or larger than 1024 bytes");
        goto out;
    }
    STACK_OF(CMS_SignerInfo) *signers = CMS_get0_SignerInfos(cms);
    if (signers == NULL || sk_CMS_SignerInfo_num(signers) != 1) {
        malformed(err, "not exactly one signer");
        goto out;
    }
    CMS_SignerInfo *si = sk_CMS_SignerInfo_value(signers, 0);
    X509_ALGOR *digest_alg = NULL;
    CMS_SignerInfo_get0_algs(si, NULL, NULL, &digest_alg, NULL);
    const ASN1_OBJECT *digest_oid = NULL;
    if (digest_alg != NULL)
        X509_ALGOR_get0(&digest_oid, NULL, NULL, digest_alg);
    int digest_nid = digest_oid != NULL ? OBJ_obj2nid(digest_oid) : NID_undef;
    if (digest_nid != NID_sha256 && digest_nid != NID_sha384 && digest_nid != NID_sha512) {
        malformed(err, "the digest is not SHA-256, SHA-384 or SHA-512");
        goto out;
    }
    /* The signer's certificate must travel with the request: it is what the registry is
     * asked about. */
    if (CMS_set1_signers_certs(cms, NULL, 0) != 1) {
        malformed(err, "the signing certificate is not included");
        goto out;
    }
    X509 *signer = NULL;
    CMS_SignerInfo_get0_algs(si, NULL, &signer, NULL, NULL);
    if (signer == NULL || serial_hex(signer, req.signer_serial) == -1) {
        malformed(err, "the signing certificate is not usable");
        goto out;
    }
    /* the digest the card signs with: its key's (keyalg_key_digest) */
    struct keyalg spec;
    if (keyalg_of_key(X509_get0_pubkey(signer), NULL, &spec, NULL) == -1 ||
        keyalg_digest_nid(&spec) != digest_nid) {
        malformed(err, "the digest is not the one of the signing key's algorithm");
        goto out;
    }
    /* The signature (and the message digest of the signed attributes) with the included
     * certificate's key. Chain and status are holderreq_check's business. */
    if ((sink = BIO_new(BIO_s_null())) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    if (CMS_verify(cms, NULL, NULL, NULL, sink, CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1) {
        ERR_clear_error();
        jerr_set(err, JERR_FORBIDDEN, "signature",
                 "signature: the request's signature does not verify with the included "
                 "certificate (the document or its signature was altered)");
        goto out;
    }
    if (doc_parse(ASN1_STRING_get0_data(*content), (size_t)content_len, &req, err) == -1)
        goto out;
    if (X509_up_ref(signer) != 1) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    req.signer = signer;
    *out = req;
    rc = 0;
out:
    ERR_clear_error();
    BIO_free(sink);
    CMS_ContentInfo_free(cms);
    return rc;
}

/* ---- the checks against the instance ---- */

static int forbidden_signer(struct jerr *err, const char *why)
{
    return jerr_set(err, JERR_FORBIDDEN, "signer", "signer: %s", why);
}

/* The signer is one of our signing certificates, exactly as issued, and usable now. */
static int check_signer(const struct holder_request *req, const struct pki *pki, struct store *st,
                        int64_t now, struct cert_rec *signer_rec, struct jerr *err)
{
    unsigned char *stored = NULL, *der = NULL;
    size_t stored_len = 0;
    struct jerr lookup = {0};
    X509_STORE *trust = NULL;
    X509_STORE_CTX *ctx = NULL;
    int der_len, rc = -1;

    if (store_cert_get(st, req->signer_serial, signer_rec, &lookup) == -1 ||
        store_cert_get_der(st, req->signer_serial, &stored, &stored_len, &lookup) == -1) {
        if (lookup.code == JERR_NOT_FOUND)
            forbidden_signer(err, "the signing certificate is not one this service issued");
        else
            jerr_set(err, lookup.code, lookup.field, "%s", lookup.msg);
        goto out;
    }
    if ((der_len = i2d_X509(req->signer, &der)) <= 0) {
        der = NULL;
        jerr_openssl(err, JERR_INTERNAL, NULL, "cannot encode the signing certificate");
        goto out;
    }
    if ((size_t)der_len != stored_len || memcmp(der, stored, stored_len) != 0) {
        forbidden_signer(err, "the signing certificate is not one this service issued");
        goto out;
    }
    if (signer_rec->ca != CA_SIGN) {
        forbidden_signer(err, "the request must be signed with the card's signing key (an "
                              "authentication certificate was used)");
        goto out;
    }
    /* A revoked key proves nothing any more. A held one still proves possession of the card:
     * revoking is the one thing the guide asks of a held signing certificate (4(4)). */
    if (signer_rec->status == CERT_REVOKED) {
        forbidden_signer(err, "the signing certificate is revoked");
        goto out;
    }
    /* RFC 5280 §6.1: the path to the root of the signing certificate's own generation
     * (DESIGN §11: found by its AKI), valid at `now`. */
    const struct pki_gen *gen =
        pki_gen_by_key_id(pki, CA_SIGN, X509_get0_authority_key_id(req->signer));
    if (gen == NULL)
        gen = pki_newest(pki, CA_SIGN);
    if ((trust = X509_STORE_new()) == NULL || (ctx = X509_STORE_CTX_new()) == NULL ||
        X509_STORE_add_cert(trust, gen->root) != 1 ||
        X509_STORE_CTX_init(ctx, trust, req->signer, NULL) != 1) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "cannot set up path validation");
        goto out;
    }
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(param, (time_t)now);
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
    if (X509_verify_cert(ctx) != 1) {
        char why[160];
        snprintf(why, sizeof(why),
                 "the signing certificate does not verify against the signing "
                 "CA: %s",
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        ERR_clear_error();
        forbidden_signer(err, why);
        goto out;
    }
    rc = 0;
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(trust);
    OPENSSL_free(der);
    free(stored);
    return rc;
}

int holderreq_check(const struct holder_request *req, const struct pki *pki, struct store *st,
                    int64_t now, struct cert_rec *target, struct cert_rec *signer_rec,
                    struct jerr *err)
{
    struct cert_rec signer, rec;
    struct jerr lookup = {0};
    char at[32], now_text[32];

    if (check_signer(req, pki, st, now, &signer, err) == -1)
        return -1;
    if (store_holder_request_exists(st, req->request_id))
        return jerr_set(err, JERR_CONFLICT, "request_id",
                        "replayed request: request_id %s was already used", req->request_id);
    int64_t skew = req->time > now ? req->time - now : now - req->time;
    if (skew > HOLDERREQ_MAX_SKEW_S)
        return jerr_set(err, JERR_FORBIDDEN, "time",
                        "time: %s is more than %d minutes from the service's clock (%s)",
                        jclock_format((time_t)req->time, at, sizeof(at)), HOLDERREQ_MAX_SKEW_S / 60,
                        jclock_format((time_t)now, now_text, sizeof(now_text)));
    if (store_cert_get(st, req->serial, &rec, &lookup) == -1) {
        if (lookup.code != JERR_NOT_FOUND)
            return jerr_set(err, lookup.code, lookup.field, "%s", lookup.msg);
        rec.card_id[0] = '\0';
    }
    /* A holder revokes the certificates of his own card, and only those. */
    if (rec.card_id[0] == '\0' || strcmp(rec.card_id, signer.card_id) != 0)
        return jerr_set(err, JERR_FORBIDDEN, "serial",
                        "serial: certificate %s is not a certificate of the card that signed "
                        "the request",
                        req->serial);
    *target = rec;
    *signer_rec = signer;
    return 0;
}
