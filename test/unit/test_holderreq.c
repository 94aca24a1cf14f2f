/*
 * The holder's online revocation request (ca/holderreq.h) against a real instance: a good
 * request, then every refusal of the parser (garbage, truncation at every length, trailing
 * bytes, oversize, detached content, no certificate, two signers, another digest, altered
 * content or signature, each bad JSON member) and of the checks (signer not ours, a forged
 * certificate with our serial, an authentication key, a revoked or expired signer, another
 * card's serial, a stale time, a replay), with the exact codes and fields.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/holderreq.h"
#include "ca/lifecycle.h"
#include "base/jclock.h"
#include "testinst.h"

/* Key pairs made once (key generation is the slow part): the cards' certificates certify
 * them as supplied public keys, and the tests sign with them. */
#define KEY_POOL 4
static EVP_PKEY *pool[KEY_POOL];
static int pool_next;

static void instance_setup(void)
{
    testinst_setup();
    for (int i = 0; i < KEY_POOL; i++)
        ck_assert_ptr_nonnull(pool[i] = EVP_RSA_gen(2048));
}

static void instance_teardown(void)
{
    for (int i = 0; i < KEY_POOL; i++)
        EVP_PKEY_free(pool[i]);
    testinst_teardown();
}

/* One card with both certificates and their keys. */
struct holder {
    struct issue_result res;
    X509 *cert[CA_KIND_COUNT];
    EVP_PKEY *key[CA_KIND_COUNT];
    const char *serial[CA_KIND_COUNT];
};

static void holder_new(struct testutil_fixture *fx, const char *card_id, struct holder *h)
{
    struct jerr err = {0};
    char person_id[64];
    memset(h, 0, sizeof(*h));
    snprintf(person_id, sizeof(person_id), "%s-p", card_id);
    struct person p =
        testutil_person(person_id, "鈴木 一郎", "東京都千代田区", "1980-04-01", GENDER_MALE);
    testinst_register_card(fx, &p, card_id, "2035-06-30");
    EVP_PKEY *keys[CA_KIND_COUNT];
    for (int ca = 0; ca < CA_KIND_COUNT; ca++)
        keys[ca] = pool[pool_next++ % KEY_POOL];
    ck_assert_msg(lifecycle_issue(&fx->ctx, card_id, ISSUE_BOTH, keys, &h->res, &err) == 0, "%s",
                  err.msg);
    for (size_t i = 0; i < h->res.count; i++) {
        struct issued_cert *ic = &h->res.certs[i];
        const unsigned char *p8 = ic->der;
        h->cert[ic->rec.ca] = d2i_X509(NULL, &p8, (long)ic->der_len);
        h->key[ic->rec.ca] = keys[ic->rec.ca];
        h->serial[ic->rec.ca] = ic->rec.serial;
        ck_assert_ptr_nonnull(h->cert[ic->rec.ca]);
    }
}

static void holder_free(struct holder *h)
{
    for (int ca = 0; ca < CA_KIND_COUNT; ca++)
        X509_free(h->cert[ca]);
    issue_result_free(&h->res);
}

static char *doc(char *out, size_t size, const char *serial, const char *reason, const char *rid,
                 time_t t)
{
    char at[32];
    snprintf(out, size,
             "{\"serial\":\"%s\",\"reason\":\"%s\",\"request_id\":\"%s\",\"time\":\"%s\"}", serial,
             reason, rid, jclock_format(t, at, sizeof(at)));
    return out;
}

/* A CMS SignedData over `text` as `openssl cms -sign -binary -nodetach -outform DER` makes it:
 * `flags` may add CMS_DETACHED (content left out) or CMS_NOCERTS (certificate left out);
 * `second` adds a second signer. Returns the DER (free with OPENSSL_free). */
static unsigned char *signed_request(X509 *cert, EVP_PKEY *key, const char *text, const EVP_MD *md,
                                     unsigned flags, X509 *second_cert, EVP_PKEY *second_key,
                                     size_t *len)
{
    BIO *in = BIO_new_mem_buf(text, (int)strlen(text));
    CMS_ContentInfo *cms = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_BINARY | flags);
    ck_assert(in != NULL && cms != NULL);
    ck_assert_ptr_nonnull(CMS_add1_signer(cms, cert, key, md, CMS_BINARY | (flags & CMS_NOCERTS)));
    if (second_cert != NULL)
        ck_assert_ptr_nonnull(CMS_add1_signer(cms, second_cert, second_key, md, CMS_BINARY));
    ck_assert_int_eq(CMS_final(cms, in, NULL, CMS_BINARY | flags), 1);
    unsigned char *der = NULL;
    int n = i2d_CMS_ContentInfo(cms, &der);
    ck_assert_int_gt(n, 0);
    *len = (size_t)n;
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    return der;
}

static unsigned char *good_request(const struct holder *h, const char *serial, const char *rid,
                                   time_t t, size_t *len)
{
    char text[512];
    doc(text, sizeof(text), serial, "cessationOfOperation", rid, t);
    return signed_request(h->cert[CA_SIGN], h->key[CA_SIGN], text, EVP_sha256(), 0, NULL, NULL,
                          len);
}

static void expect_parse_refused(const unsigned char *der, size_t len, int code, const char *field,
                                 const char *part)
{
    struct jerr err = {0};
    struct holder_request req;
    ck_assert_int_eq(holderreq_parse(der, len, &req, &err), -1);
    ck_assert_ptr_null(req.signer);
    ck_assert_int_eq(err.code, code);
    ck_assert_str_eq(err.field, field);
    ck_assert_msg(strstr(err.msg, part) != NULL, "'%s' not in '%s'", part, err.msg);
}

/* Parses (must succeed) and checks at `now`; returns the check's result. */
static int parse_check(struct testutil_fixture *fx, const unsigned char *der, size_t len,
                       int64_t now, struct cert_rec *target, struct jerr *err)
{
    struct holder_request req;
    struct cert_rec signer;
    ck_assert_msg(holderreq_parse(der, len, &req, err) == 0, "%s", err->msg);
    int rc = holderreq_check(&req, fx->pki, fx->st, now, target, &signer, err);
    holderreq_clear(&req);
    return rc;
}

static void expect_check_refused(struct testutil_fixture *fx, const unsigned char *der, size_t len,
                                 int64_t now, int code, const char *field, const char *part)
{
    struct jerr err = {0};
    struct cert_rec target;
    ck_assert_int_eq(parse_check(fx, der, len, now, &target, &err), -1);
    ck_assert_int_eq(err.code, code);
    ck_assert_str_eq(err.field, field);
    ck_assert_msg(strstr(err.msg, part) != NULL, "'%s' not in '%s'", part, err.msg);
}

static X509 *self_signed(EVP_PKEY *key, const ASN1_INTEGER *serial)
{
    X509 *cert = X509_new();
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"me", -1, -1, 0);
    X509_set_issuer_name(cert, name);
    if (serial != NULL)
        X509_set_serialNumber(cert, (ASN1_INTEGER *)serial);
    else
        ASN1_INTEGER_set(X509_get_serialNumber(cert), 99);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    ck_assert(X509_sign(cert, key, EVP_sha256()) > 0);
    return cert;
}

#define RID "0123456789ABCDEF0123456789abcdef"

START_TEST(good_request_parses_and_checks)
{
    struct holder h;
    struct jerr err = {0};
    struct holder_request req;
    struct cert_rec target, signer;
    size_t len = 0;

    holder_new(&testinst_fx, "hr-good", &h);
    time_t now = jclock_now();
    unsigned char *der = good_request(&h, h.serial[CA_AUTH], RID, now, &len);
    ck_assert_msg(holderreq_parse(der, len, &req, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(req.serial, h.serial[CA_AUTH]);
    ck_assert_int_eq(req.reason, REASON_CESSATION_OF_OPERATION);
    ck_assert_str_eq(req.request_id, "0123456789abcdef0123456789abcdef"); /* lower-cased */
    ck_assert_int_eq(req.time, now);
    ck_assert_str_eq(req.signer_serial, h.serial[CA_SIGN]);
    ck_assert_int_eq(X509_cmp(req.signer, h.cert[CA_SIGN]), 0);
    ck_assert_msg(
        holderreq_check(&req, testinst_fx.pki, testinst_fx.st, now, &target, &signer, &err) == 0,
        "%s", err.msg);
    ck_assert_str_eq(target.serial, h.serial[CA_AUTH]);
    ck_assert_str_eq(target.card_id, "hr-good");
    ck_assert_str_eq(signer.serial, h.serial[CA_SIGN]);
    holderreq_clear(&req);
    holderreq_clear(&req); /* twice is fine */
    OPENSSL_free(der);

    /* The signing certificate itself; a serial written in lower case with leading zeros;
     * the other reasons; "time" exactly 5 minutes off either way. */
    char serial[64], text[512];
    snprintf(serial, sizeof(serial), "00%s", h.serial[CA_SIGN]);
    for (char *c = serial; *c != '\0'; c++)
        if (*c >= 'A' && *c <= 'F')
            *c = (char)(*c - 'A' + 'a');
    static const char *const reasons[] = {"keyCompromise", "unspecified"};
    static const int reason_codes[] = {REASON_KEY_COMPROMISE, REASON_UNSPECIFIED};
    for (int i = 0; i < 2; i++) {
        doc(text, sizeof(text), serial, reasons[i], RID, now + (i == 0 ? 300 : -300));
        der = signed_request(h.cert[CA_SIGN], h.key[CA_SIGN], text, EVP_sha256(), 0, NULL, NULL,
                             &len);
        ck_assert_int_eq(holderreq_parse(der, len, &req, &err), 0);
        ck_assert_str_eq(req.serial, h.serial[CA_SIGN]);
        ck_assert_int_eq(req.reason, reason_codes[i]);
        ck_assert_msg(holderreq_check(&req, testinst_fx.pki, testinst_fx.st, now, &target, &signer,
                                      &err) == 0,
                      "%s", err.msg);
        ck_assert_str_eq(target.serial, h.serial[CA_SIGN]);
        holderreq_clear(&req);
        OPENSSL_free(der);
    }
    holder_free(&h);
}
END_TEST

START_TEST(garbage_truncated_and_oversized)
{
    struct holder h;
    size_t len = 0;

    holder_new(&testinst_fx, "hr-garbage", &h);
    unsigned char *der = good_request(&h, h.serial[CA_AUTH], RID, jclock_now(), &len);

    expect_parse_refused((const unsigned char *)"", 0, JERR_INVALID, "request", "empty");
    expect_parse_refused((const unsigned char *)"hello, holder", 13, JERR_INVALID, "request",
                         "not a DER CMS ContentInfo");
    for (size_t cut = 1; cut < len; cut++)
        expect_parse_refused(der, cut, JERR_INVALID, "request", "request: ");
    unsigned char *longer = malloc(HOLDERREQ_MAX_BYTES + 1);
    ck_assert_ptr_nonnull(longer);
    memcpy(longer, der, len);
    longer[len] = 0x00;
    expect_parse_refused(longer, len + 1, JERR_INVALID, "request", "bytes after");
    memset(longer, 0x30, HOLDERREQ_MAX_BYTES + 1);
    expect_parse_refused(longer, HOLDERREQ_MAX_BYTES + 1, JERR_TOO_LARGE, "request", "larger");
    free(longer);

    /* A CMS of another type: EnvelopedData-like garbage is refused, and so is a certificate. */
    expect_parse_refused(h.res.certs[0].der, h.res.certs[0].der_len, JERR_INVALID, "request",
                         "request: ");
    OPENSSL_free(der);
    holder_free(&h);
}
END_TEST

START_TEST(structure_refusals)
{
    struct holder h, other;
    char text[512];
    size_t len = 0;

    holder_new(&testinst_fx, "hr-struct", &h);
    holder_new(&testinst_fx, "hr-struct2", &other);
    doc(text, sizeof(text), h.serial[CA_AUTH], "unspecified", RID, jclock_now());
    X509 *c = h.cert[CA_SIGN];
    EVP_PKEY *k = h.key[CA_SIGN];

    unsigned char *der = signed_request(c, k, text, EVP_sha256(), CMS_DETACHED, NULL, NULL, &len);
    expect_parse_refused(der, len, JERR_INVALID, "request", "no attached content");
    OPENSSL_free(der);
    der = signed_request(c, k, text, EVP_sha256(), CMS_NOCERTS, NULL, NULL, &len);
    expect_parse_refused(der, len, JERR_INVALID, "request", "certificate is not included");
    OPENSSL_free(der);
    der =
        signed_request(c, k, text, EVP_sha256(), 0, other.cert[CA_SIGN], other.key[CA_SIGN], &len);
    expect_parse_refused(der, len, JERR_INVALID, "request", "not exactly one signer");
    OPENSSL_free(der);
    /* an RSA card signs with SHA-256 (its key's digest), not SHA-384; nor SHA-1 at all */
    der = signed_request(c, k, text, EVP_sha384(), 0, NULL, NULL, &len);
    expect_parse_refused(der, len, JERR_INVALID, "request", "not the one of the signing key's");
    OPENSSL_free(der);
    der = signed_request(c, k, text, EVP_sha1(), 0, NULL, NULL, &len);
    expect_parse_refused(der, len, JERR_INVALID, "request", "not SHA-256, SHA-384 or SHA-512");
    OPENSSL_free(der);
    /* An empty document. */
    der = signed_request(c, k, "", EVP_sha256(), 0, NULL, NULL, &len);
    expect_parse_refused(der, len, JERR_INVALID, "request", "empty or larger");
    OPENSSL_free(der);
    holder_free(&h);
    holder_free(&other);
}
END_TEST

/* The same request as good_request, encoded as `openssl cms -sign -stream` writes it: BER,
 * with indefinite lengths. Returns the bytes (free with free()). */
static unsigned char *ber_request(const struct holder *h, const char *serial, size_t *len)
{
    char text[512];
    doc(text, sizeof(text), serial, "cessationOfOperation", RID, jclock_now());
    BIO *in = BIO_new_mem_buf(text, (int)strlen(text));
    BIO *out = BIO_new(BIO_s_mem());
    ck_assert(in != NULL && out != NULL);
    CMS_ContentInfo *cms =
        CMS_sign(h->cert[CA_SIGN], h->key[CA_SIGN], NULL, in, CMS_BINARY | CMS_STREAM);
    ck_assert_ptr_nonnull(cms);
    ck_assert_int_eq(i2d_CMS_bio_stream(out, cms, in, CMS_BINARY | CMS_STREAM), 1);
    char *data = NULL;
    long n = BIO_get_mem_data(out, &data);
    ck_assert_int_gt(n, 0);
    unsigned char *ber = malloc((size_t)n);
    ck_assert_ptr_nonnull(ber);
    memcpy(ber, data, (size_t)n);
    *len = (size_t)n;
    CMS_ContentInfo_free(cms);
    BIO_free(out);
    BIO_free(in);
    return ber;
}

START_TEST(ber_request_refused)
{
    struct holder h;
    size_t len = 0;

    holder_new(&testinst_fx, "hr-ber", &h);
    unsigned char *ber = ber_request(&h, h.serial[CA_AUTH], &len);
    /* It is a valid encoding that OpenSSL decodes whole (0x80: an indefinite length)... */
    const unsigned char *p = ber;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
    ck_assert_ptr_nonnull(cms);
    ck_assert(p == ber + len);
    ck_assert_int_eq(ber[1], 0x80);
    CMS_ContentInfo_free(cms);
    /* ...but not DER, which docs/API.md asks for. */
    expect_parse_refused(ber, len, JERR_INVALID, "request", "not DER");
    free(ber);
    holder_free(&h);
}
END_TEST

/* Find `needle` in the DER and change one of its bytes. */
static void alter(unsigned char *der, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++) {
        if (memcmp(der + i, needle, n) == 0) {
            der[i] ^= 0x20; /* case of the first letter */
            return;
        }
    }
    ck_abort_msg("%s not in the request", needle);
}

START_TEST(altered_content_or_signature)
{
    struct holder h, other;
    size_t len = 0;

    holder_new(&testinst_fx, "hr-alter", &h);
    holder_new(&testinst_fx, "hr-alter2", &other);
    time_t now = jclock_now();
    unsigned char *der = good_request(&h, h.serial[CA_AUTH], RID, now, &len);
    alter(der, len, "cessationOfOperation"); /* now "CessationOfOperation" */
    expect_parse_refused(der, len, JERR_FORBIDDEN, "signature", "does not verify");
    OPENSSL_free(der);
    /* The serial changed to the other card's: the signature no longer covers it. */
    der = good_request(&h, h.serial[CA_AUTH], RID, now, &len);
    const char *mine = h.serial[CA_AUTH], *theirs = other.serial[CA_AUTH];
    for (size_t i = 0; i + strlen(mine) <= len; i++)
        if (memcmp(der + i, mine, strlen(mine)) == 0 && strlen(theirs) == strlen(mine))
            memcpy(der + i, theirs, strlen(theirs));
    expect_parse_refused(der, len, JERR_FORBIDDEN, "signature", "does not verify");
    OPENSSL_free(der);
    /* The last byte is the signature's. */
    der = good_request(&h, h.serial[CA_AUTH], RID, now, &len);
    der[len - 1] ^= 0x01;
    expect_parse_refused(der, len, JERR_FORBIDDEN, "signature", "does not verify");
    OPENSSL_free(der);
    holder_free(&h);
    holder_free(&other);
}
END_TEST

START_TEST(flipped_bytes_never_change_the_order)
{
    struct holder h;
    struct jerr err = {0};
    struct holder_request good;
    size_t len = 0;

    holder_new(&testinst_fx, "hr-flip", &h);
    unsigned char *der = good_request(&h, h.serial[CA_AUTH], RID, jclock_now(), &len);
    ck_assert_int_eq(holderreq_parse(der, len, &good, &err), 0);
    unsigned char *copy = malloc(len);
    ck_assert_ptr_nonnull(copy);
    int accepted = 0;
    for (size_t i = 0; i < len; i++) {
        struct holder_request req;
        struct jerr e = {0};
        memcpy(copy, der, len);
        copy[i] ^= 0x01;
        if (holderreq_parse(copy, len, &req, &e) == -1)
            continue;
        /* A byte outside what is signed (in the included certificate, say, away from its
         * key) may still parse: the order must then be exactly the signed one, and a signer
         * certificate that is no longer ours byte for byte is refused by the check. */
        accepted++;
        ck_assert_str_eq(req.serial, good.serial);
        ck_assert_int_eq(req.reason, good.reason);
        ck_assert_str_eq(req.request_id, good.request_id);
        ck_assert_int_eq(req.time, good.time);
        struct cert_rec target, signer;
        int rc =
            holderreq_check(&req, testinst_fx.pki, testinst_fx.st, good.time, &target, &signer, &e);
        if (X509_cmp(req.signer, h.cert[CA_SIGN]) != 0) {
            ck_assert_msg(rc == -1, "byte %zu: an altered certificate passed the check", i);
            ck_assert_int_eq(e.code, JERR_FORBIDDEN);
            ck_assert_str_eq(e.field, "signer");
        }
        holderreq_clear(&req);
    }
    ck_assert_int_gt(accepted, 0); /* the loop did reach the certificate */
    holderreq_clear(&good);
    free(copy);
    OPENSSL_free(der);
    holder_free(&h);
}
END_TEST

START_TEST(document_refusals)
{
    static const struct {
        const char *text, *field, *part;
    } cases[] = {
        {"not json", "body", "invalid JSON"},
        {"[1,2]", "body", "must be a JSON object"},
        {"{\"serial\":\"0A\",\"reason\":\"unspecified\",\"request_id\":\"" RID "\"}", "time",
         "time"},
        {"{\"serial\":\"0A\",\"reason\":\"unspecified\",\"request_id\":\"" RID
         "\",\"time\":\"2026-01-01T00:00:00Z\",\"card\":\"c1\"}",
         "card", "card"},
        {"{\"serial\":\"0G\",\"reason\":\"unspecified\",\"request_id\":\"" RID
         "\",\"time\":\"2026-01-01T00:00:00Z\"}",
         "serial", "hexadecimal"},
        {"{\"serial\":\"00000000000000000000000000000000000000001\",\"reason\":\"unspecified\","
         "\"request_id\":\"" RID "\",\"time\":\"2026-01-01T00:00:00Z\"}",
         "serial", "serial"},
        {"{\"serial\":10,\"reason\":\"unspecified\",\"request_id\":\"" RID
         "\",\"time\":\"2026-01-01T00:00:00Z\"}",
         "serial", "serial"},
        {"{\"serial\":\"0A\",\"reason\":\"superseded\",\"request_id\":\"" RID
         "\",\"time\":\"2026-01-01T00:00:00Z\"}",
         "reason", "keyCompromise, cessationOfOperation or unspecified"},
        {"{\"serial\":\"0A\",\"reason\":\"unspecified\",\"request_id\":\"0123456789abcde\","
         "\"time\":\"2026-01-01T00:00:00Z\"}",
         "request_id", "16 to 64"},
        {"{\"serial\":\"0A\",\"reason\":\"unspecified\",\"request_id\":\"0123456789abcdeg\","
         "\"time\":\"2026-01-01T00:00:00Z\"}",
         "request_id", "hexadecimal"},
        {"{\"serial\":\"0A\",\"reason\":\"unspecified\",\"request_id\":\"" RID
         "\",\"time\":\"2026-01-01 00:00:00Z\"}",
         "time", "YYYY-MM-DDTHH:MM:SSZ"},
        {"{\"serial\":\"0A\",\"reason\":\"unspecified\",\"request_id\":\"" RID
         "\",\"time\":\"2026-02-30T00:00:00Z\"}",
         "time", "RFC 3339"},
        {"{\"serial\":\"0A\",\"reason\":\"unspecified\",\"request_id\":\"" RID
         "\",\"time\":\"2026-01-01T24:00:00Z\"}",
         "time", "RFC 3339"},
        {"{\"serial\":\"0A\",\"reason\":\"unspecified\",\"request_id\":\"" RID
         "\",\"time\":\"2026-01-01T00:00:00+09:00\"}",
         "time", "UTC"},
        {"{\"serial\":\"0A\",\"serial\":\"0B\",\"reason\":\"unspecified\",\"request_id\":\"" RID
         "\",\"time\":\"2026-01-01T00:00:00Z\"}",
         "body", "duplicate"},
    };
    struct holder h;
    size_t len = 0;

    holder_new(&testinst_fx, "hr-doc", &h);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char *der = signed_request(h.cert[CA_SIGN], h.key[CA_SIGN], cases[i].text,
                                            EVP_sha256(), 0, NULL, NULL, &len);
        expect_parse_refused(der, len, JERR_INVALID, cases[i].field, cases[i].part);
        OPENSSL_free(der);
    }
    holder_free(&h);
}
END_TEST

START_TEST(signer_refusals)
{
    struct holder h;
    char text[512];
    size_t len = 0;

    holder_new(&testinst_fx, "hr-signer", &h);
    time_t now = jclock_now();
    doc(text, sizeof(text), h.serial[CA_AUTH], "keyCompromise", RID, now);

    /* A key and certificate of the holder's own making. */
    EVP_PKEY *own = EVP_RSA_gen(2048);
    X509 *mine = self_signed(own, NULL);
    unsigned char *der = signed_request(mine, own, text, EVP_sha256(), 0, NULL, NULL, &len);
    expect_check_refused(&testinst_fx, der, len, now, JERR_FORBIDDEN, "signer",
                         "not one this service issued");
    OPENSSL_free(der);
    /* The same with our signing certificate's serial copied in. */
    X509 *forged = self_signed(own, X509_get0_serialNumber(h.cert[CA_SIGN]));
    der = signed_request(forged, own, text, EVP_sha256(), 0, NULL, NULL, &len);
    expect_check_refused(&testinst_fx, der, len, now, JERR_FORBIDDEN, "signer",
                         "not one this service issued");
    OPENSSL_free(der);
    /* The card's authentication key. */
    der = signed_request(h.cert[CA_AUTH], h.key[CA_AUTH], text, EVP_sha256(), 0, NULL, NULL, &len);
    expect_check_refused(&testinst_fx, der, len, now, JERR_FORBIDDEN, "signer", "authentication");
    OPENSSL_free(der);
    /* An expired signing certificate (checked at a time after its notAfter). */
    const struct issued_cert *sign = &h.res.certs[0];
    ck_assert_int_eq(sign->rec.ca, CA_SIGN);
    int64_t later = sign->rec.not_after + 86400;
    doc(text, sizeof(text), h.serial[CA_AUTH], "keyCompromise", RID, (time_t)later);
    der = signed_request(h.cert[CA_SIGN], h.key[CA_SIGN], text, EVP_sha256(), 0, NULL, NULL, &len);
    expect_check_refused(&testinst_fx, der, len, later, JERR_FORBIDDEN, "signer", "expired");
    OPENSSL_free(der);
    X509_free(mine);
    X509_free(forged);
    EVP_PKEY_free(own);
    holder_free(&h);
}
END_TEST

START_TEST(held_signer_may_revoke_revoked_may_not)
{
    struct holder h;
    struct jerr err = {0};
    struct cert_rec target;
    struct serial_list held = {0};
    size_t len = 0;

    holder_new(&testinst_fx, "hr-held", &h);
    ck_assert_int_eq(lifecycle_hold(&testinst_fx.ctx, "hr-held", &held, &err), 0);
    ck_assert_uint_eq(held.count, 2);
    serial_list_free(&held);
    time_t now = jclock_now();
    unsigned char *der = good_request(&h, h.serial[CA_AUTH], RID, now, &len);
    ck_assert_msg(parse_check(&testinst_fx, der, len, now, &target, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(target.serial, h.serial[CA_AUTH]);
    ck_assert_int_eq(target.status, CERT_HOLD);
    OPENSSL_free(der);

    ck_assert_int_eq(
        lifecycle_revoke(&testinst_fx.ctx, h.serial[CA_SIGN], REASON_KEY_COMPROMISE, &err), 0);
    der = good_request(&h, h.serial[CA_AUTH], RID, now, &len);
    expect_check_refused(&testinst_fx, der, len, now, JERR_FORBIDDEN, "signer", "revoked");
    OPENSSL_free(der);
    holder_free(&h);
}
END_TEST

START_TEST(other_card_stale_time_and_replay)
{
    struct holder h, other;
    struct jerr err = {0};
    size_t len = 0;

    holder_new(&testinst_fx, "hr-mine", &h);
    holder_new(&testinst_fx, "hr-theirs", &other);
    time_t now = jclock_now();

    /* Another card's certificates, and a serial nobody was given: the same answer. */
    const char *not_mine[] = {other.serial[CA_AUTH], other.serial[CA_SIGN], "0ABCDEF"};
    for (size_t i = 0; i < 3; i++) {
        unsigned char *der = good_request(&h, not_mine[i], RID, now, &len);
        expect_check_refused(&testinst_fx, der, len, now, JERR_FORBIDDEN, "serial",
                             "is not a certificate of the card that signed the request");
        OPENSSL_free(der);
    }
    /* Stale or early by more than 5 minutes. */
    const int64_t offsets[] = {-301, 301, -86400};
    for (size_t i = 0; i < 3; i++) {
        unsigned char *der = good_request(&h, h.serial[CA_AUTH], RID, now + offsets[i], &len);
        expect_check_refused(&testinst_fx, der, len, now, JERR_FORBIDDEN, "time",
                             "more than 5 minutes from the service's clock");
        OPENSSL_free(der);
    }
    /* A request id already accepted: replay. */
    struct holder_request_rec rec = {.request_time = now};
    snprintf(rec.request_id, sizeof(rec.request_id), "%s", "0123456789abcdef0123456789abcdef");
    snprintf(rec.serial, sizeof(rec.serial), "%s", h.serial[CA_AUTH]);
    snprintf(rec.signer_serial, sizeof(rec.signer_serial), "%s", h.serial[CA_SIGN]);
    snprintf(rec.receipt_id, sizeof(rec.receipt_id), "%032d", 1);
    ck_assert_msg(store_holder_request_insert(testinst_fx.st, &rec, &err) == 0, "%s", err.msg);
    ck_assert(store_holder_request_exists(testinst_fx.st, rec.request_id));
    unsigned char *der = good_request(&h, h.serial[CA_AUTH], RID, now, &len);
    expect_check_refused(&testinst_fx, der, len, now, JERR_CONFLICT, "request_id",
                         "replayed request");
    OPENSSL_free(der);
    /* The table itself refuses a second row with that id. */
    snprintf(rec.receipt_id, sizeof(rec.receipt_id), "%032d", 2);
    ck_assert_int_eq(store_holder_request_insert(testinst_fx.st, &rec, &err), -1);
    ck_assert_int_eq(err.code, JERR_CONFLICT);
    ck_assert_str_eq(err.field, "request_id");
    ck_assert_ptr_nonnull(strstr(err.msg, "replayed request"));
    /* Another id is new. */
    der = good_request(&h, h.serial[CA_AUTH], "fedcba9876543210", now, &len);
    struct cert_rec target;
    jerr_clear(&err);
    ck_assert_msg(parse_check(&testinst_fx, der, len, now, &target, &err) == 0, "%s", err.msg);
    OPENSSL_free(der);
    holder_free(&h);
    holder_free(&other);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("holderreq");
    TCase *tc = tcase_create("holderreq");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, instance_setup, instance_teardown);
    tcase_add_checked_fixture(tc, testinst_fx_open, testinst_fx_close);
    tcase_add_test(tc, good_request_parses_and_checks);
    tcase_add_test(tc, garbage_truncated_and_oversized);
    tcase_add_test(tc, structure_refusals);
    tcase_add_test(tc, ber_request_refused);
    tcase_add_test(tc, altered_content_or_signature);
    tcase_add_test(tc, flipped_bytes_never_change_the_order);
    tcase_add_test(tc, document_refusals);
    tcase_add_test(tc, signer_refusals);
    tcase_add_test(tc, held_signer_may_revoke_revoked_may_not);
    tcase_add_test(tc, other_card_stale_time_and_replay);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
