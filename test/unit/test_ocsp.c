/*
 * test_ocsp: the OCSP request parser and response builder (ca/ocsp.c).
 *
 * Requests are made by OpenSSL's own client functions (OCSP_cert_id_new, OCSP_request_add0_id,
 * OCSP_request_add1_nonce), or, for shapes OpenSSL's builders cannot produce (absent hash
 * parameters, odd serials), by OpenSSL's ASN.1 generator from a text description. Responses
 * are read back and checked by OpenSSL's client side: OCSP_basic_verify against the root,
 * OCSP_resp_find_status, OCSP_check_nonce.
 *
 * The keys (three RSA-2048) are made once in main; each test runs in a forked child.
 */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/conf.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ocsp.h"
#include "base/jclock.h"
#include "keystore/signer.h"
#include "testutil.h"

/* 2030-01-02T03:04:05Z: the pinned clock of the response tests. */
#define T_NOW ((time_t)1893553445)

static struct signer *root_signer; /* the CA key */
static struct signer *ocsp_signer; /* the delegated responder's key */
static X509 *root;                 /* C=JP, O=JPKI, OU=JPKI for digital signature */
static X509 *other_root;           /* another CA: other name, ocsp_signer's key */
static X509 *same_key_root;        /* root's key under another name */
static X509 *same_name_root;       /* root's name with another key */
static X509 *ocsp_cert;            /* issued by root, EKU OCSPSigning */

static const char *SERIAL_A = "0123456789ABCDEF0123456789ABCDEF";
static const char *SERIAL_B = "7F00000000000000000000000000000B";
static const char *SERIAL_C = "10000000000000000000000000000000";
static const char *SERIAL_D = "2ABCDEF0123456789ABCDEF012345678";
static const char *SERIAL_E = "55555555555555555555555555555555";

/* ---- Fixtures: certificates built with OpenSSL, signed through keystore/signer ---- */

/* Fixtures are built in main, outside any test, where ck_assert cannot report. */
#define FIX_EQ(a, b)                                                                               \
    do {                                                                                           \
        if ((a) != (b)) {                                                                          \
            fprintf(stderr, "fixture failed at line %d: %s\n", __LINE__, #a);                      \
            exit(EXIT_FAILURE);                                                                    \
        }                                                                                          \
    } while (0)
#define FIX_NONNULL(a) FIX_EQ((a) == NULL, 0)

static X509_NAME *make_name(const char *ou, const char *cn)
{
    X509_NAME *n = X509_NAME_new();
    FIX_NONNULL(n);
    FIX_EQ(X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC, (unsigned char *)"JP", -1, -1, 0), 1);
    FIX_EQ(X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (unsigned char *)"JPKI", -1, -1, 0), 1);
    FIX_EQ(X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_ASC, (unsigned char *)ou, -1, -1, 0), 1);
    if (cn != NULL)
        FIX_EQ(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (unsigned char *)cn, -1, -1, 0),
               1);
    return n;
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    FIX_NONNULL(ext);
    FIX_EQ(X509_add_ext(cert, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

/* A certificate for `key_of`'s public key named `subject`, issued by `issuer` (NULL:
 * self-signed) and signed by `sign_with`. */
static X509 *make_cert(const struct signer *key_of, X509_NAME *subject, X509 *issuer,
                       const struct signer *sign_with, long serial, bool ocsp_signing)
{
    X509 *c = X509_new();
    FIX_NONNULL(c);
    FIX_EQ(X509_set_version(c, 2), 1);
    FIX_EQ(ASN1_INTEGER_set(X509_get_serialNumber(c), serial), 1);
    FIX_EQ(X509_set_subject_name(c, subject), 1);
    FIX_EQ(X509_set_issuer_name(c, issuer != NULL ? X509_get_subject_name(issuer) : subject), 1);
    FIX_NONNULL(X509_time_adj_ex(X509_getm_notBefore(c), 0, -3600, NULL));
    FIX_NONNULL(X509_time_adj_ex(X509_getm_notAfter(c), 3650, 0, NULL));
    EVP_PKEY *pub = signer_get1_public_key(key_of);
    FIX_NONNULL(pub);
    FIX_EQ(X509_set_pubkey(c, pub), 1);
    EVP_PKEY_free(pub);
    X509 *iss = issuer != NULL ? issuer : c;
    add_ext(c, iss, NID_subject_key_identifier, "hash");
    if (ocsp_signing) {
        add_ext(c, iss, NID_key_usage, "critical,digitalSignature");
        add_ext(c, iss, NID_ext_key_usage, "OCSPSigning");
        add_ext(c, iss, NID_id_pkix_OCSP_noCheck, "ignored");
        add_ext(c, iss, NID_authority_key_identifier, "keyid:always");
    } else {
        add_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(c, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    }
    struct jerr err = {0};
    FIX_EQ(signer_sign_cert(sign_with, c, &err), 0);
    return c;
}

static void make_fixtures(void)
{
    struct jerr err = {0};
    root_signer = signer_generate(TEST_RSA2048, &err);
    ocsp_signer = signer_generate(TEST_RSA2048, &err);
    struct signer *third = signer_generate(TEST_RSA2048, &err);
    if (root_signer == NULL || ocsp_signer == NULL || third == NULL) {
        fprintf(stderr, "key generation failed: %s\n", err.msg);
        exit(EXIT_FAILURE);
    }
    X509_NAME *sign_name = make_name("JPKI for digital signature", NULL);
    X509_NAME *auth_name = make_name("JPKI for user authentication", NULL);
    X509_NAME *resp_name = make_name("JPKI for digital signature", "OCSP Responder");
    root = make_cert(root_signer, sign_name, NULL, root_signer, 1, false);
    other_root = make_cert(third, auth_name, NULL, third, 2, false);
    same_key_root = make_cert(root_signer, auth_name, NULL, root_signer, 3, false);
    same_name_root = make_cert(third, sign_name, NULL, third, 4, false);
    ocsp_cert = make_cert(ocsp_signer, resp_name, root, root_signer, 5, true);
    signer_free(third);
    X509_NAME_free(sign_name);
    X509_NAME_free(auth_name);
    X509_NAME_free(resp_name);
}

static void free_fixtures(void)
{
    X509_free(root);
    X509_free(other_root);
    X509_free(same_key_root);
    X509_free(same_name_root);
    X509_free(ocsp_cert);
    signer_free(root_signer);
    signer_free(ocsp_signer);
}

/* ---- Request helpers (the client's side, all OpenSSL) ---- */

/* OpenSSL's CertID for `serial_hex` under `issuer`. */
static OCSP_CERTID *client_id(X509 *issuer, const EVP_MD *md, const char *serial_hex)
{
    BIGNUM *bn = NULL;
    ck_assert_int_gt(BN_hex2bn(&bn, serial_hex), 0);
    ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
    ck_assert_ptr_nonnull(ai);
    OCSP_CERTID *id =
        OCSP_cert_id_new(md, X509_get_subject_name(issuer), X509_get0_pubkey_bitstr(issuer), ai);
    ck_assert_ptr_nonnull(id);
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    return id;
}

static void add_id(OCSP_REQUEST *req, OCSP_CERTID *id)
{
    ck_assert_ptr_nonnull(OCSP_request_add0_id(req, id));
}

static unsigned char *req_der(OCSP_REQUEST *req, size_t *len)
{
    unsigned char *der = NULL;
    int n = i2d_OCSP_REQUEST(req, &der);
    ck_assert_int_gt(n, 0);
    *len = (size_t)n;
    return der;
}

/* A request of `n` SHA-1 CertIDs of root for SERIAL_A with the last byte varied. */
static OCSP_REQUEST *request_of(int n)
{
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    ck_assert_ptr_nonnull(req);
    for (int i = 0; i < n; i++) {
        char serial[40];
        snprintf(serial, sizeof(serial), "0123456789ABCDEF0123456789ABCD%02X", i & 0xff);
        add_id(req, client_id(root, EVP_sha1(), serial));
    }
    return req;
}

/* Adds a request extension with raw extnValue `value`. */
static void add_raw_ext(OCSP_REQUEST *req, int nid, const char *oid, int critical,
                        const unsigned char *value, int value_len)
{
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    ck_assert_ptr_nonnull(os);
    ck_assert_int_eq(ASN1_OCTET_STRING_set(os, value, value_len), 1);
    X509_EXTENSION *ext;
    if (oid != NULL) {
        ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
        ck_assert_ptr_nonnull(obj);
        ext = X509_EXTENSION_create_by_OBJ(NULL, obj, critical, os);
        ASN1_OBJECT_free(obj);
    } else {
        ext = X509_EXTENSION_create_by_NID(NULL, nid, critical, os);
    }
    ck_assert_ptr_nonnull(ext);
    ck_assert_int_eq(OCSP_REQUEST_add_ext(req, ext, -1), 1);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
}

/* A nonce extension whose extnValue is the DER of an OCTET STRING of `len` bytes of 0xA5. */
static void add_nonce_of(OCSP_REQUEST *req, int len)
{
    unsigned char value[2 + 64];
    ck_assert_int_le(len, 64);
    value[0] = V_ASN1_OCTET_STRING;
    value[1] = (unsigned char)len;
    memset(value + 2, 0xA5, (size_t)len);
    add_raw_ext(req, NID_id_pkix_OCSP_Nonce, NULL, 0, value, 2 + len);
}

/* DER from OpenSSL's ASN.1 generator (ASN1_generate_nconf): `conf` holds the sections. */
static unsigned char *gen_der(const char *conf, size_t *len)
{
    BIO *bio = BIO_new_mem_buf(conf, -1);
    CONF *cnf = NCONF_new(NULL);
    long eline = 0;
    ck_assert_ptr_nonnull(bio);
    ck_assert_ptr_nonnull(cnf);
    ck_assert_int_eq(NCONF_load_bio(cnf, bio, &eline), 1);
    const char *top = NCONF_get_string(cnf, "default", "asn1");
    ck_assert_ptr_nonnull(top);
    ASN1_TYPE *t = ASN1_generate_nconf(top, cnf);
    ck_assert_ptr_nonnull(t);
    unsigned char *der = NULL;
    int n = i2d_ASN1_TYPE(t, &der);
    ck_assert_int_gt(n, 0);
    *len = (size_t)n;
    ASN1_TYPE_free(t);
    NCONF_free(cnf);
    BIO_free(bio);
    return der;
}

static void hex_of(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02X", b[i]);
    out[2 * n] = '\0';
}

/* A one-CertID OCSPRequest of root (SHA-1 hashes) with the given AlgorithmIdentifier
 * parameters line ("" for absent) and serial (an INTEGER generator value). */
static unsigned char *gen_request(const char *params_line, const char *serial, size_t *len)
{
    unsigned char nh[20], kh[20];
    unsigned int n = 0;
    char nh_hex[41], kh_hex[41];
    ck_assert_int_eq(X509_NAME_digest(X509_get_subject_name(root), EVP_sha1(), nh, &n), 1);
    ck_assert_int_eq(X509_pubkey_digest(root, EVP_sha1(), kh, &n), 1);
    hex_of(nh, 20, nh_hex);
    hex_of(kh, 20, kh_hex);
    char conf[2048];
    snprintf(conf, sizeof(conf),
             "asn1 = SEQUENCE:ocsp_request\n"
             "[ocsp_request]\ntbs = SEQUENCE:tbs\n"
             "[tbs]\nlist = SEQUENCE:list\n"
             "[list]\nr0 = SEQUENCE:one\n"
             "[one]\ncertid = SEQUENCE:certid\n"
             "[certid]\nalg = SEQUENCE:alg\n"
             "nh = FORMAT:HEX,OCTETSTRING:%s\n"
             "kh = FORMAT:HEX,OCTETSTRING:%s\n"
             "serial = INTEGER:%s\n"
             "[alg]\noid = OID:sha1\n%s\n",
             nh_hex, kh_hex, serial, params_line);
    return gen_der(conf, len);
}

static int parse_code(const unsigned char *der, size_t len, struct jerr *err)
{
    struct ocsp_request r;
    memset(&r, 0x5A, sizeof(r));
    jerr_clear(err);
    int rc = ocsp_request_parse(der, len, &r, err);
    if (rc == -1) {
        /* Outputs are written only on success. */
        ck_assert_int_eq(r.count, (size_t)0x5A5A5A5A5A5A5A5AULL);
        return err->code;
    }
    ck_assert_int_eq(rc, 0);
    return JERR_NONE;
}

static int parse_req_code(OCSP_REQUEST *req, struct jerr *err)
{
    size_t len;
    unsigned char *der = req_der(req, &len);
    int code = parse_code(der, len, err);
    OPENSSL_free(der);
    return code;
}

/* Encodes `req` and parses it into *r, asserting success. */
static void parse_req_ok(OCSP_REQUEST *req, struct ocsp_request *r)
{
    size_t len;
    unsigned char *der = req_der(req, &len);
    struct jerr err = {0};
    ck_assert_msg(ocsp_request_parse(der, len, r, &err) == 0, "%s", err.msg);
    OPENSSL_free(der);
}

/* Asserts that `req` is refused as malformed (JERR_INVALID) naming `field`, and frees it. */
static void assert_req_invalid(OCSP_REQUEST *req, const char *field)
{
    struct jerr err = {0};
    ck_assert_int_eq(parse_req_code(req, &err), JERR_INVALID);
    ck_assert_str_eq(err.field, field);
    OCSP_REQUEST_free(req);
}

/* ---- Parsing ---- */

START_TEST(parse_sha1_one_certid)
{
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    add_id(req, client_id(root, EVP_sha1(), SERIAL_A));
    struct ocsp_request r;
    parse_req_ok(req, &r);
    ck_assert_int_eq(r.count, 1);
    ck_assert(!r.has_nonce);
    ck_assert_int_eq(r.nonce_len, 0);

    const struct ocsp_certid *id = &r.ids[0];
    ck_assert_int_eq(id->hash, OCSP_CERTID_SHA1);
    ck_assert_int_eq(id->hash_len, 20);
    unsigned char nh[20], kh[20];
    unsigned int n = 0;
    ck_assert_int_eq(X509_NAME_digest(X509_get_subject_name(root), EVP_sha1(), nh, &n), 1);
    ck_assert_int_eq(X509_pubkey_digest(root, EVP_sha1(), kh, &n), 1);
    ck_assert_mem_eq(id->name_hash, nh, 20);
    ck_assert_mem_eq(id->key_hash, kh, 20);
    ck_assert_str_eq(id->serial, SERIAL_A);
    ck_assert(id->serial_ok);
    ck_assert(id->params_null); /* OpenSSL writes NULL parameters */

    /* The kept CertID is the client's, byte for byte. */
    OCSP_CERTID *cid = client_id(root, EVP_sha1(), SERIAL_A);
    unsigned char *cid_der = NULL;
    int cid_len = i2d_OCSP_CERTID(cid, &cid_der);
    ck_assert_int_eq(id->der_len, (size_t)cid_len);
    ck_assert_mem_eq(id->der, cid_der, (size_t)cid_len);
    OPENSSL_free(cid_der);
    OCSP_CERTID_free(cid);
    OCSP_REQUEST_free(req);
}
END_TEST

START_TEST(parse_sha256_several_with_nonce)
{
    const char *serials[3] = {SERIAL_A, SERIAL_B, "0A"};
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    for (int i = 0; i < 3; i++)
        add_id(req, client_id(root, EVP_sha256(), serials[i]));
    unsigned char nonce[16];
    for (int i = 0; i < 16; i++)
        nonce[i] = (unsigned char)(0xF0 - i);
    ck_assert_int_eq(OCSP_request_add1_nonce(req, nonce, 16), 1);
    struct ocsp_request r;
    parse_req_ok(req, &r);
    ck_assert_int_eq(r.count, 3);
    ck_assert(r.has_nonce);
    ck_assert_int_eq(r.nonce_len, 16);
    ck_assert_mem_eq(r.nonce, nonce, 16);

    unsigned char nh[32], kh[32];
    unsigned int n = 0;
    ck_assert_int_eq(X509_NAME_digest(X509_get_subject_name(root), EVP_sha256(), nh, &n), 1);
    ck_assert_int_eq(X509_pubkey_digest(root, EVP_sha256(), kh, &n), 1);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(r.ids[i].hash, OCSP_CERTID_SHA256);
        ck_assert_int_eq(r.ids[i].hash_len, 32);
        ck_assert_mem_eq(r.ids[i].name_hash, nh, 32);
        ck_assert_mem_eq(r.ids[i].key_hash, kh, 32);
        ck_assert_str_eq(r.ids[i].serial, serials[i]);
        ck_assert(r.ids[i].serial_ok);
    }
    OCSP_REQUEST_free(req);
}
END_TEST

START_TEST(parse_nonce_bounds)
{
    /* RFC 9654 §2.1: 1 and 32 octets are the bounds that pass. */
    int ok_sizes[2] = {JPKI_OCSP_NONCE_MIN, JPKI_OCSP_NONCE_MAX};
    for (int i = 0; i < 2; i++) {
        OCSP_REQUEST *req = request_of(1);
        add_nonce_of(req, ok_sizes[i]);
        struct ocsp_request r;
        parse_req_ok(req, &r);
        ck_assert(r.has_nonce);
        ck_assert_int_eq(r.nonce_len, (size_t)ok_sizes[i]);
        for (int j = 0; j < ok_sizes[i]; j++)
            ck_assert_int_eq(r.nonce[j], 0xA5);
        OCSP_REQUEST_free(req);
    }
}
END_TEST

START_TEST(parse_max_certids)
{
    OCSP_REQUEST *req = request_of(JPKI_OCSP_MAX_CERTIDS);
    struct ocsp_request r;
    parse_req_ok(req, &r);
    ck_assert_int_eq(r.count, JPKI_OCSP_MAX_CERTIDS);
    ck_assert_str_eq(r.ids[15].serial, "0123456789ABCDEF0123456789ABCD0F");
    OCSP_REQUEST_free(req);
}
END_TEST

START_TEST(parse_serial_forms)
{
    struct {
        const char *serial; /* INTEGER generator value */
        bool ok;
        const char *hex;
    } cases[] = {
        {"0x0A", true, "0A"},
        {"0x7F", true, "7F"},
        {"0x80", true, "80"}, /* encoded 00 80: BN_bn2hex has no leading 00 */
        {"0x0123456789ABCDEF0123456789ABCDEF", true, "0123456789ABCDEF0123456789ABCDEF"},
        /* 20 octets (RFC 5280 §4.1.2.2 maximum) */
        {"0xFF23456789ABCDEF0123456789ABCDEF01234567", true,
         "FF23456789ABCDEF0123456789ABCDEF01234567"},
        /* 21 octets, negative, zero: no certificate of ours, answered unknown */
        {"0x0123456789ABCDEF0123456789ABCDEF0123456789", false, ""},
        {"-5", false, ""},
        {"0", false, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len;
        unsigned char *der = gen_request("params = NULL", cases[i].serial, &len);
        struct ocsp_request r;
        struct jerr err = {0};
        ck_assert_msg(ocsp_request_parse(der, len, &r, &err) == 0, "%s: %s", cases[i].serial,
                      err.msg);
        ck_assert_int_eq(r.count, 1);
        ck_assert_msg(r.ids[0].serial_ok == cases[i].ok, "%s", cases[i].serial);
        ck_assert_str_eq(r.ids[0].serial, cases[i].hex);
        ck_assert(r.ids[0].params_null);
        OPENSSL_free(der);
    }
}
END_TEST

START_TEST(parse_absent_params)
{
    size_t len;
    unsigned char *der = gen_request("", "0x0123456789ABCDEF0123456789ABCDEF", &len);
    struct ocsp_request r;
    struct jerr err = {0};
    ck_assert_int_eq(ocsp_request_parse(der, len, &r, &err), 0);
    ck_assert(!r.ids[0].params_null);
    ck_assert_str_eq(r.ids[0].serial, SERIAL_A);
    OPENSSL_free(der);

    /* Parameters other than NULL are no SHA-1 AlgorithmIdentifier (RFC 5754 §2). */
    der = gen_request("params = INTEGER:1", "0x01", &len);
    ck_assert_int_eq(parse_code(der, len, &err), JERR_INVALID);
    ck_assert_str_eq(err.field, "hashAlgorithm");
    OPENSSL_free(der);
}
END_TEST

START_TEST(parse_signed_request_accepted)
{
    /* RFC 5019 §2.1.2: a signature is accepted and ignored. */
    EVP_PKEY *key = EVP_EC_gen("P-256");
    ck_assert_ptr_nonnull(key);
    X509 *cert = X509_new();
    X509_NAME *name = make_name("requestor", "client");
    ck_assert_int_eq(X509_set_subject_name(cert, name), 1);
    ck_assert_int_eq(X509_set_issuer_name(cert, name), 1);
    ck_assert_ptr_nonnull(X509_time_adj_ex(X509_getm_notBefore(cert), 0, 0, NULL));
    ck_assert_ptr_nonnull(X509_time_adj_ex(X509_getm_notAfter(cert), 1, 0, NULL));
    ck_assert_int_eq(X509_set_pubkey(cert, key), 1);
    ck_assert_int_gt(X509_sign(cert, key, EVP_sha256()), 0);
    OCSP_REQUEST *req = request_of(2);
    ck_assert_int_eq(OCSP_request_add1_nonce(req, NULL, 8), 1);
    ck_assert_int_eq(OCSP_request_sign(req, cert, key, EVP_sha256(), NULL, 0), 1);
    ck_assert_int_eq(OCSP_request_is_signed(req), 1);
    struct ocsp_request r;
    parse_req_ok(req, &r);
    ck_assert_int_eq(r.count, 2);
    ck_assert(r.has_nonce);
    ck_assert_int_eq(r.nonce_len, 8);
    OCSP_REQUEST_free(req);
    X509_NAME_free(name);
    X509_free(cert);
    EVP_PKEY_free(key);
}
END_TEST

START_TEST(parse_noncritical_unknown_extensions_ignored)
{
    OCSP_REQUEST *req = request_of(1);
    static const unsigned char v[] = {0x05, 0x00};
    add_raw_ext(req, 0, "1.3.6.1.4.1.99999.1", 0, v, sizeof(v));
    struct jerr err = {0};
    ck_assert_int_eq(parse_req_code(req, &err), JERR_NONE);
    OCSP_REQUEST_free(req);
}
END_TEST

/* ---- Malformed requests ---- */

START_TEST(reject_empty_random_truncated_trailing)
{
    struct jerr err = {0};
    static const unsigned char one = 0x30;
    ck_assert_int_eq(parse_code(&one, 0, &err), JERR_INVALID);
    ck_assert_str_eq(err.field, "request");
    ck_assert_int_eq(parse_code(NULL, 0, &err), JERR_INVALID);

    unsigned char random[200];
    for (size_t i = 0; i < sizeof(random); i++)
        random[i] = (unsigned char)(i * 131 + 7);
    ck_assert_int_eq(parse_code(random, sizeof(random), &err), JERR_INVALID);

    OCSP_REQUEST *req = request_of(2);
    size_t len;
    unsigned char *der = req_der(req, &len);
    ck_assert_int_eq(parse_code(der, len, &err), JERR_NONE);
    /* every truncation fails */
    for (size_t cut = 1; cut < len; cut++)
        ck_assert_msg(parse_code(der, cut, &err) == JERR_INVALID, "cut at %zu", cut);

    unsigned char *longer = OPENSSL_malloc(len + 1);
    memcpy(longer, der, len);
    longer[len] = 0x00;
    ck_assert_int_eq(parse_code(longer, len + 1, &err), JERR_INVALID);
    ck_assert_str_eq(err.field, "request");
    ck_assert_ptr_nonnull(strstr(err.msg, "1 bytes after"));
    OPENSSL_free(longer);
    OPENSSL_free(der);
    OCSP_REQUEST_free(req);
}
END_TEST

START_TEST(reject_oversize)
{
    unsigned char *big = OPENSSL_zalloc(JPKI_OCSP_MAX_REQUEST_BYTES + 1);
    struct jerr err = {0};
    ck_assert_int_eq(parse_code(big, JPKI_OCSP_MAX_REQUEST_BYTES + 1, &err), JERR_TOO_LARGE);
    OPENSSL_free(big);
}
END_TEST

START_TEST(reject_certid_counts)
{
    struct jerr err = {0};
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    assert_req_invalid(req, "requestList");

    req = request_of(JPKI_OCSP_MAX_CERTIDS + 1);
    ck_assert_int_eq(parse_req_code(req, &err), JERR_TOO_LARGE);
    ck_assert_str_eq(err.field, "requestList");
    OCSP_REQUEST_free(req);
}
END_TEST

START_TEST(reject_bad_hashes)
{
    struct jerr err = {0};
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    add_id(req, client_id(root, EVP_md5(), SERIAL_A));
    ck_assert_int_eq(parse_req_code(req, &err), JERR_INVALID);
    ck_assert_str_eq(err.field, "hashAlgorithm");
    ck_assert_ptr_nonnull(strstr(err.msg, "unsupported CertID hash algorithm"));
    OCSP_REQUEST_free(req);

    /* SHA-1 named, 32-byte hashes given (OCSP_id_get0_info hands out the fields). */
    for (int which = 0; which < 2; which++) {
        OCSP_CERTID *cid = client_id(root, EVP_sha1(), SERIAL_A);
        ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
        ck_assert_int_eq(OCSP_id_get0_info(&nh, NULL, &kh, NULL, cid), 1);
        unsigned char h32[32];
        memset(h32, 0x11, sizeof(h32));
        ck_assert_int_eq(ASN1_OCTET_STRING_set(which == 0 ? nh : kh, h32, 32), 1);
        req = OCSP_REQUEST_new();
        add_id(req, cid);
        assert_req_invalid(req, which == 0 ? "issuerNameHash" : "issuerKeyHash");
    }
}
END_TEST

START_TEST(reject_bad_nonces)
{
    /* 0 and 33 octets (RFC 9654 §2.1) */
    int bad_sizes[2] = {0, JPKI_OCSP_NONCE_MAX + 1};
    for (int i = 0; i < 2; i++) {
        OCSP_REQUEST *req = request_of(1);
        add_nonce_of(req, bad_sizes[i]);
        assert_req_invalid(req, "nonce");
    }
    /* extnValues that are not one DER OCTET STRING. */
    static const unsigned char raw[16] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                                          0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10};
    static const unsigned char integer[] = {0x02, 0x02, 0x01, 0x02};
    static const unsigned char trailing[] = {0x04, 0x02, 0xAA, 0xBB, 0x00};
    static const unsigned char ber[] = {0x04, 0x81, 0x02, 0xAA, 0xBB};
    static const unsigned char constructed[] = {0x24, 0x04, 0x04, 0x02, 0xAA, 0xBB};
    static const struct {
        const unsigned char *value;
        size_t len;
    } bad_values[] = {
        {raw, sizeof(raw)},                 /* the raw nonce, not wrapped in an OCTET STRING */
        {integer, sizeof(integer)},         /* wrapped in something else (an INTEGER) */
        {trailing, sizeof(trailing)},       /* an OCTET STRING followed by a stray byte */
        {ber, sizeof(ber)},                 /* BER: a long-form length (the echo would differ) */
        {constructed, sizeof(constructed)}, /* BER: the constructed form of an OCTET STRING */
    };
    for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
        OCSP_REQUEST *req = request_of(1);
        add_raw_ext(req, NID_id_pkix_OCSP_Nonce, NULL, 0, bad_values[i].value, bad_values[i].len);
        assert_req_invalid(req, "nonce");
    }

    /* Two nonce extensions (RFC 5280 §4.2: at most one of each). */
    OCSP_REQUEST *req = request_of(1);
    add_nonce_of(req, 8);
    add_nonce_of(req, 8);
    assert_req_invalid(req, "nonce");
}
END_TEST

START_TEST(reject_unknown_critical_extensions)
{
    struct jerr err = {0};
    static const unsigned char v[] = {0x05, 0x00};
    OCSP_REQUEST *req = request_of(1);
    add_raw_ext(req, 0, "1.3.6.1.4.1.99999.1", 1, v, sizeof(v));
    ck_assert_int_eq(parse_req_code(req, &err), JERR_INVALID);
    ck_assert_str_eq(err.field, "requestExtensions");
    ck_assert_ptr_nonnull(strstr(err.msg, "1.3.6.1.4.1.99999.1"));
    OCSP_REQUEST_free(req);

    /* A critical singleRequestExtension. */
    req = OCSP_REQUEST_new();
    OCSP_ONEREQ *one = OCSP_request_add0_id(req, client_id(root, EVP_sha1(), SERIAL_A));
    ck_assert_ptr_nonnull(one);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    ck_assert_int_eq(ASN1_OCTET_STRING_set(os, v, sizeof(v)), 1);
    ASN1_OBJECT *obj = OBJ_txt2obj("1.3.6.1.4.1.99999.2", 1);
    X509_EXTENSION *ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 1, os);
    ck_assert_int_eq(OCSP_ONEREQ_add_ext(one, ext, -1), 1);
    ck_assert_int_eq(parse_req_code(req, &err), JERR_INVALID);
    ck_assert_str_eq(err.field, "singleRequestExtensions");
    X509_EXTENSION_free(ext);
    ASN1_OBJECT_free(obj);
    ASN1_OCTET_STRING_free(os);
    OCSP_REQUEST_free(req);
}
END_TEST

START_TEST(reject_oversize_serial)
{
    /* A 100-octet serial makes the CertID longer than JPKI_OCSP_CERTID_DER_MAX. */
    char serial[2 + 200 + 1] = "0x";
    memset(serial + 2, '7', 200);
    serial[202] = '\0';
    size_t len;
    unsigned char *der = gen_request("params = NULL", serial, &len);
    struct jerr err = {0};
    ck_assert_int_eq(parse_code(der, len, &err), JERR_INVALID);
    ck_assert_str_eq(err.field, "serialNumber");
    OPENSSL_free(der);
}
END_TEST

/* ---- GET form ---- */

static int get_code(const char *path, struct jerr *err)
{
    unsigned char *der = (unsigned char *)"unchanged";
    size_t len = 12345;
    jerr_clear(err);
    if (ocsp_get_path_decode(path, &der, &len, err) == -1) {
        ck_assert_str_eq((char *)der, "unchanged");
        ck_assert_int_eq(len, 12345);
        return err->code;
    }
    OPENSSL_free(der);
    return JERR_NONE;
}

static char *base64_of(const unsigned char *b, size_t n)
{
    char *out = OPENSSL_malloc(4 * ((n + 2) / 3) + 1);
    ck_assert_ptr_nonnull(out);
    int m = EVP_EncodeBlock((unsigned char *)out, b, (int)n);
    ck_assert_int_eq(m, (int)(4 * ((n + 2) / 3)));
    return out;
}

/* Percent-escapes every '+', '/', '=' (upper-case hex when `upper`). */
static char *url_escape(const char *s, bool upper)
{
    char *out = OPENSSL_malloc(3 * strlen(s) + 1);
    char *p = out;
    for (; *s != '\0'; s++) {
        if (*s == '+' || *s == '/' || *s == '=')
            p += sprintf(p, upper ? "%%%02X" : "%%%02x", (unsigned char)*s);
        else
            *p++ = *s;
    }
    *p = '\0';
    return out;
}

START_TEST(get_decodes_real_request)
{
    OCSP_REQUEST *req = request_of(3);
    ck_assert_int_eq(OCSP_request_add1_nonce(req, NULL, 16), 1);
    size_t len;
    unsigned char *der = req_der(req, &len);
    char *b64 = base64_of(der, len);
    for (int form = 0; form < 3; form++) {
        char *path = form == 0 ? OPENSSL_strdup(b64) : url_escape(b64, form == 1);
        unsigned char *out = NULL;
        size_t out_len = 0;
        struct jerr err = {0};
        ck_assert_int_eq(ocsp_get_path_decode(path, &out, &out_len, &err), 0);
        ck_assert_int_eq(out_len, len);
        ck_assert_mem_eq(out, der, len);
        struct ocsp_request r;
        ck_assert_int_eq(ocsp_request_parse(out, out_len, &r, &err), 0);
        ck_assert_int_eq(r.count, 3);
        ck_assert(r.has_nonce);
        OPENSSL_free(out);
        OPENSSL_free(path);
    }
    OPENSSL_free(b64);
    OPENSSL_free(der);
    OCSP_REQUEST_free(req);
}
END_TEST

START_TEST(get_escapes)
{
    /* fb ef ff 3e is "++//Pg==" in base64: every special character, raw and escaped. */
    static const unsigned char want[] = {0xfb, 0xef, 0xff, 0x3e};
    const char *paths[] = {"++//Pg==", "%2B%2b%2F%2fPg%3D%3d", "+%2B/%2FPg=%3D",
                           "%2B%2B%2F%2F%50%67%3D%3D"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        unsigned char *out = NULL;
        size_t out_len = 0;
        struct jerr err = {0};
        ck_assert_msg(ocsp_get_path_decode(paths[i], &out, &out_len, &err) == 0, "%s: %s", paths[i],
                      err.msg);
        ck_assert_int_eq(out_len, sizeof(want));
        ck_assert_mem_eq(out, want, sizeof(want));
        OPENSSL_free(out);
    }
}
END_TEST

START_TEST(get_refusals)
{
    struct jerr err = {0};
    const char *bad_escapes[] = {"%", "%2", "AAAA%", "AA%G1", "%%41", "AA%2", "%zzAAAA"};
    for (size_t i = 0; i < sizeof(bad_escapes) / sizeof(bad_escapes[0]); i++) {
        ck_assert_msg(get_code(bad_escapes[i], &err) == JERR_INVALID, "%s", bad_escapes[i]);
        ck_assert_ptr_nonnull(strstr(err.msg, "percent escape"));
    }
    const char *bad_b64[] = {"A",      "AA",   "AAA",         "AA=A",    "AAAA=",
                             "A===",   "====", "AB*C",        "AA AA",   "%00AAA",
                             "AA\nAA", "AA-_", "AAAA%3DAAAA", "AA==AAAA"};
    for (size_t i = 0; i < sizeof(bad_b64) / sizeof(bad_b64[0]); i++)
        ck_assert_msg(get_code(bad_b64[i], &err) == JERR_INVALID, "%s", bad_b64[i]);
    ck_assert_int_eq(get_code("", &err), JERR_INVALID);
    ck_assert_int_eq(get_code(NULL, &err), JERR_INVALID);
    ck_assert_int_eq(get_code("AAAA", &err), JERR_NONE);
}
END_TEST

START_TEST(get_size_cap)
{
    struct jerr err = {0};
    unsigned char *blob = OPENSSL_malloc(JPKI_OCSP_MAX_REQUEST_BYTES + 3);
    for (size_t i = 0; i < JPKI_OCSP_MAX_REQUEST_BYTES + 3; i++)
        blob[i] = (unsigned char)(i * 7);
    /* exactly the cap decodes */
    char *b64 = base64_of(blob, JPKI_OCSP_MAX_REQUEST_BYTES);
    unsigned char *out = NULL;
    size_t out_len = 0;
    ck_assert_int_eq(ocsp_get_path_decode(b64, &out, &out_len, &err), 0);
    ck_assert_int_eq(out_len, JPKI_OCSP_MAX_REQUEST_BYTES);
    ck_assert_mem_eq(out, blob, JPKI_OCSP_MAX_REQUEST_BYTES);
    OPENSSL_free(out);
    OPENSSL_free(b64);
    /* one byte more (and three more) does not */
    for (size_t extra = 1; extra <= 3; extra += 2) {
        b64 = base64_of(blob, JPKI_OCSP_MAX_REQUEST_BYTES + extra);
        ck_assert_int_eq(get_code(b64, &err), JERR_TOO_LARGE);
        OPENSSL_free(b64);
    }
    /* an absurdly long path is refused before decoding */
    size_t huge = 200000;
    char *path = OPENSSL_malloc(huge + 1);
    memset(path, 'A', huge);
    path[huge] = '\0';
    ck_assert_int_eq(get_code(path, &err), JERR_TOO_LARGE);
    OPENSSL_free(path);
    OPENSSL_free(blob);
}
END_TEST

/* ---- Issuer matching ---- */

static struct ocsp_certid parsed_id(X509 *issuer, const EVP_MD *md, const char *serial)
{
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    add_id(req, client_id(issuer, md, serial));
    struct ocsp_request r;
    parse_req_ok(req, &r);
    OCSP_REQUEST_free(req);
    return r.ids[0];
}

START_TEST(issuer_hashes_and_matching)
{
    struct ocsp_issuer issuers[2];
    struct jerr err = {0};
    ck_assert_int_eq(ocsp_issuer_init(&issuers[0], CA_AUTH, other_root, &err), 0);
    ck_assert_int_eq(ocsp_issuer_init(&issuers[1], CA_SIGN, root, &err), 0);
    ck_assert_int_eq(issuers[0].ca, CA_AUTH);
    ck_assert_int_eq(issuers[1].ca, CA_SIGN);

    /* Same hashes as OpenSSL's own CertID computation. */
    struct ocsp_certid s1 = parsed_id(root, EVP_sha1(), SERIAL_A);
    struct ocsp_certid s256 = parsed_id(root, EVP_sha256(), SERIAL_A);
    ck_assert_mem_eq(issuers[1].name_sha1, s1.name_hash, 20);
    ck_assert_mem_eq(issuers[1].key_sha1, s1.key_hash, 20);
    ck_assert_mem_eq(issuers[1].name_sha256, s256.name_hash, 32);
    ck_assert_mem_eq(issuers[1].key_sha256, s256.key_hash, 32);

    ck_assert_int_eq(ocsp_match_issuer(issuers, 2, &s1), 1);
    ck_assert_int_eq(ocsp_match_issuer(issuers, 2, &s256), 1);
    struct ocsp_certid o1 = parsed_id(other_root, EVP_sha1(), SERIAL_A);
    struct ocsp_certid o256 = parsed_id(other_root, EVP_sha256(), SERIAL_A);
    ck_assert_int_eq(ocsp_match_issuer(issuers, 2, &o1), 0);
    ck_assert_int_eq(ocsp_match_issuer(issuers, 2, &o256), 0);
    ck_assert_int_eq(ocsp_match_issuer(issuers, 1, &s1), -1);
    ck_assert_int_eq(ocsp_match_issuer(issuers, 0, &s1), -1);

    /* Both hashes must match: same key under another name, same name with another key. */
    const EVP_MD *mds[2] = {EVP_sha1(), EVP_sha256()};
    for (int i = 0; i < 2; i++) {
        struct ocsp_certid k = parsed_id(same_key_root, mds[i], SERIAL_A);
        struct ocsp_certid n = parsed_id(same_name_root, mds[i], SERIAL_A);
        ck_assert_mem_eq(k.key_hash, i == 0 ? s1.key_hash : s256.key_hash, k.hash_len);
        ck_assert_mem_eq(n.name_hash, i == 0 ? s1.name_hash : s256.name_hash, n.hash_len);
        ck_assert_int_eq(ocsp_match_issuer(issuers, 2, &k), -1);
        ck_assert_int_eq(ocsp_match_issuer(issuers, 2, &n), -1);
    }
}
END_TEST

/* ---- Responses ---- */

static OCSP_BASICRESP *response_basic(const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
    ck_assert_ptr_nonnull(resp);
    ck_assert_ptr_eq(p, der + len);
    ck_assert_int_eq(OCSP_response_status(resp), OCSP_RESPONSE_STATUS_SUCCESSFUL);
    OCSP_BASICRESP *bs = OCSP_response_get1_basic(resp);
    ck_assert_ptr_nonnull(bs);
    OCSP_RESPONSE_free(resp);
    return bs;
}

/* Verifies like a relying party: root as the only trust anchor, the delegated responder's
 * certificate from the response (RFC 6960 §4.2.2.2), default flags. */
static void assert_verifies(OCSP_BASICRESP *bs)
{
    X509_STORE *st = X509_STORE_new();
    ck_assert_int_eq(X509_STORE_add_cert(st, root), 1);
    ck_assert_int_eq(OCSP_basic_verify(bs, NULL, st, 0), 1);
    X509_STORE_free(st);
}

/* Signs `singles` as the test responder (thisUpdate T_NOW, nextUpdate 4 hours later) and
 * returns the parsed response, whose signature is asserted to verify. */
static OCSP_BASICRESP *signed_basic(const struct ocsp_single *singles, size_t n,
                                    const unsigned char *nonce, size_t nonce_len)
{
    struct jerr err = {0};
    unsigned char *der = NULL;
    size_t len = 0;
    ck_assert_msg(ocsp_response_sign(root, ocsp_cert, ocsp_signer, singles, n, nonce, nonce_len,
                                     T_NOW, T_NOW + 4 * 3600, &der, &len, &err) == 0,
                  "%s", err.msg);
    OCSP_BASICRESP *bs = response_basic(der, len);
    OPENSSL_free(der);
    assert_verifies(bs);
    return bs;
}

static void assert_status(OCSP_BASICRESP *bs, OCSP_CERTID *cid, int want_status, int want_reason,
                          time_t want_revtime)
{
    int status = -2, reason = -2;
    ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
    ck_assert_int_eq(OCSP_resp_find_status(bs, cid, &status, &reason, &rev, &thisupd, &nextupd), 1);
    ck_assert_int_eq(status, want_status);
    ck_assert_int_eq(ASN1_TIME_cmp_time_t(thisupd, T_NOW), 0);
    ck_assert_int_eq(ASN1_TIME_cmp_time_t(nextupd, T_NOW + 4 * 3600), 0);
    ck_assert_int_eq(ASN1_STRING_type(thisupd), V_ASN1_GENERALIZEDTIME);
    if (want_status == V_OCSP_CERTSTATUS_REVOKED) {
        ck_assert_ptr_nonnull(rev);
        ck_assert_int_eq(ASN1_TIME_cmp_time_t(rev, want_revtime), 0);
        ck_assert_int_eq(reason, want_reason);
    } else {
        ck_assert_ptr_null(rev);
    }
}

START_TEST(response_statuses_nonce_and_signature)
{
    jclock_set(T_NOW);
    /* The client's request: SHA-1 CertIDs for five serials, and a nonce. */
    const char *serials[5] = {SERIAL_A, SERIAL_B, SERIAL_C, SERIAL_D, SERIAL_E};
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    for (int i = 0; i < 5; i++)
        add_id(req, client_id(root, EVP_sha1(), serials[i]));
    ck_assert_int_eq(OCSP_request_add1_nonce(req, NULL, 32), 1);
    struct ocsp_request r;
    parse_req_ok(req, &r);

    time_t rev_b = T_NOW - 86400, rev_c = T_NOW - 7200, hold_d = T_NOW - 60;
    struct ocsp_single singles[5] = {
        {.id = &r.ids[0], .status = CERT_GOOD, .reason = REASON_NONE},
        {.id = &r.ids[1],
         .status = CERT_REVOKED,
         .reason = REASON_KEY_COMPROMISE,
         .revoked_at = rev_b},
        {.id = &r.ids[2],
         .status = CERT_REVOKED,
         .reason = REASON_UNSPECIFIED,
         .revoked_at = rev_c},
        {.id = &r.ids[3],
         .status = CERT_HOLD,
         .reason = REASON_CERTIFICATE_HOLD,
         .revoked_at = hold_d},
        {.id = &r.ids[4], .unknown = true},
    };
    OCSP_BASICRESP *bs = signed_basic(singles, 5, r.nonce, r.nonce_len);
    ck_assert_int_eq(OCSP_check_nonce(req, bs), 1);
    ck_assert_int_eq(OCSP_resp_count(bs), 5);

    OCSP_CERTID *ids[5];
    for (int i = 0; i < 5; i++)
        ids[i] = client_id(root, EVP_sha1(), serials[i]);
    assert_status(bs, ids[0], V_OCSP_CERTSTATUS_GOOD, 0, 0);
    assert_status(bs, ids[1], V_OCSP_CERTSTATUS_REVOKED, OCSP_REVOKED_STATUS_KEYCOMPROMISE, rev_b);
    /* RFC 5280 §5.3.1: unspecified is left out */
    assert_status(bs, ids[2], V_OCSP_CERTSTATUS_REVOKED, OCSP_REVOKED_STATUS_NOSTATUS, rev_c);
    /* hold is revoked with certificateHold (RFC 6960 §2.2) */
    assert_status(bs, ids[3], V_OCSP_CERTSTATUS_REVOKED, OCSP_REVOKED_STATUS_CERTIFICATEHOLD,
                  hold_d);
    assert_status(bs, ids[4], V_OCSP_CERTSTATUS_UNKNOWN, 0, 0);
    /* answers in the order asked */
    for (int i = 0; i < 5; i++) {
        OCSP_SINGLERESP *single = OCSP_resp_get0(bs, i);
        ck_assert_int_eq(OCSP_id_cmp(OCSP_SINGLERESP_get0_id(single), ids[i]), 0);
    }
    /* A serial that was not asked is not answered. */
    OCSP_CERTID *absent = client_id(root, EVP_sha1(), "0B");
    ck_assert_int_eq(OCSP_resp_find(bs, absent, -1), -1);
    OCSP_CERTID_free(absent);

    /* responderID byKey: SHA-1 of the responder's public key (RFC 6960 §4.2.2.3) */
    const ASN1_OCTET_STRING *by_key = NULL;
    const X509_NAME *by_name = NULL;
    ck_assert_int_eq(OCSP_resp_get0_id(bs, &by_key, &by_name), 1);
    ck_assert_ptr_null(by_name);
    ck_assert_ptr_nonnull(by_key);
    unsigned char kh[20];
    unsigned int khl = 0;
    ck_assert_int_eq(X509_pubkey_digest(ocsp_cert, EVP_sha1(), kh, &khl), 1);
    ck_assert_int_eq(ASN1_STRING_length(by_key), 20);
    ck_assert_mem_eq(ASN1_STRING_get0_data(by_key), kh, 20);
    /* producedAt by jpki's clock; the responder certificate is included */
    ck_assert_int_eq(ASN1_TIME_cmp_time_t(OCSP_resp_get0_produced_at(bs), T_NOW), 0);
    const STACK_OF(X509) *certs = OCSP_resp_get0_certs(bs);
    ck_assert_int_eq(sk_X509_num(certs), 1);
    ck_assert_int_eq(X509_cmp(sk_X509_value(certs, 0), ocsp_cert), 0);
    /* SHA-256 signature */
    ck_assert_int_eq(OBJ_obj2nid(OCSP_resp_get0_tbs_sigalg(bs)->algorithm),
                     NID_sha256WithRSAEncryption);

    for (int i = 0; i < 5; i++)
        OCSP_CERTID_free(ids[i]);
    OCSP_BASICRESP_free(bs);
    OCSP_REQUEST_free(req);
}
END_TEST

START_TEST(response_without_nonce_sha256)
{
    jclock_set(T_NOW);
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    add_id(req, client_id(root, EVP_sha256(), SERIAL_B));
    struct ocsp_request r;
    parse_req_ok(req, &r);
    struct ocsp_single s = {.id = &r.ids[0],
                            .status = CERT_REVOKED,
                            .reason = REASON_CESSATION_OF_OPERATION,
                            .revoked_at = T_NOW - 5};
    OCSP_BASICRESP *bs = signed_basic(&s, 1, NULL, 0);
    ck_assert_int_eq(OCSP_check_nonce(req, bs), 2); /* absent in both */
    ck_assert_int_eq(OCSP_BASICRESP_get_ext_by_NID(bs, NID_id_pkix_OCSP_Nonce, -1), -1);
    OCSP_CERTID *cid = client_id(root, EVP_sha256(), SERIAL_B);
    assert_status(bs, cid, V_OCSP_CERTSTATUS_REVOKED, OCSP_REVOKED_STATUS_CESSATIONOFOPERATION,
                  T_NOW - 5);
    /* the SHA-1 CertID of the same certificate is another CertID */
    OCSP_CERTID *sha1 = client_id(root, EVP_sha1(), SERIAL_B);
    ck_assert_int_eq(OCSP_resp_find(bs, sha1, -1), -1);
    OCSP_CERTID_free(sha1);
    OCSP_CERTID_free(cid);
    OCSP_BASICRESP_free(bs);
    OCSP_REQUEST_free(req);
}
END_TEST

START_TEST(response_echoes_certid_exactly)
{
    /* A client that leaves the SHA-1 parameters out, and one with a negative serial: each
     * gets its own CertID back, byte for byte. */
    jclock_set(T_NOW);
    const char *serials[2] = {"0x0123456789ABCDEF0123456789ABCDEF", "-5"};
    for (int i = 0; i < 2; i++) {
        size_t len;
        unsigned char *der = gen_request(i == 0 ? "" : "params = NULL", serials[i], &len);
        struct ocsp_request r;
        struct jerr err = {0};
        ck_assert_int_eq(ocsp_request_parse(der, len, &r, &err), 0);
        const unsigned char *p = der;
        OCSP_REQUEST *req = d2i_OCSP_REQUEST(NULL, &p, (long)len);
        ck_assert_ptr_nonnull(req);
        OCSP_CERTID *asked = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, 0));

        struct ocsp_single s = {
            .id = &r.ids[0], .status = CERT_GOOD, .unknown = !r.ids[0].serial_ok};
        OCSP_BASICRESP *bs = signed_basic(&s, 1, NULL, 0);
        assert_status(bs, asked, i == 0 ? V_OCSP_CERTSTATUS_GOOD : V_OCSP_CERTSTATUS_UNKNOWN, 0, 0);
        /* OpenSSL compares only the algorithm OID, so compare the echoed bytes too. */
        unsigned char *asked_der = NULL, *echo_der = NULL;
        int asked_len = i2d_OCSP_CERTID(asked, &asked_der);
        int echo_len = i2d_OCSP_CERTID(OCSP_SINGLERESP_get0_id(OCSP_resp_get0(bs, 0)), &echo_der);
        ck_assert_int_gt(asked_len, 0);
        ck_assert_int_eq(echo_len, asked_len);
        ck_assert_mem_eq(echo_der, asked_der, (size_t)asked_len);
        OPENSSL_free(asked_der);
        OPENSSL_free(echo_der);
        OCSP_BASICRESP_free(bs);
        OCSP_REQUEST_free(req);
        OPENSSL_free(der);
    }
}
END_TEST

/* ocsp_response_sign of these answers (thisUpdate T_NOW) fails with `code` (JERR_NONE: any)
 * and, when not NULL, `field`, and leaves its outputs untouched. */
static void expect_sign_refused(X509 *signer_cert, const struct ocsp_single *singles, size_t n,
                                const unsigned char *nonce, size_t nonce_len, time_t next_update,
                                enum jerr_code code, const char *field)
{
    unsigned char *der = (unsigned char *)"unchanged";
    size_t len = 7;
    struct jerr err = {0};

    ck_assert_int_eq(ocsp_response_sign(root, signer_cert, ocsp_signer, singles, n, nonce,
                                        nonce_len, T_NOW, next_update, &der, &len, &err),
                     -1);
    if (code != JERR_NONE)
        ck_assert_int_eq(err.code, code);
    if (field != NULL)
        ck_assert_str_eq(err.field, field);
    ck_assert_str_eq((char *)der, "unchanged");
    ck_assert_int_eq(len, 7);
}

START_TEST(response_refusals)
{
    jclock_set(T_NOW);
    struct ocsp_certid mine = parsed_id(root, EVP_sha1(), SERIAL_A);
    struct ocsp_certid theirs = parsed_id(other_root, EVP_sha1(), SERIAL_A);
    struct ocsp_certid half = parsed_id(same_key_root, EVP_sha1(), SERIAL_A);
    struct ocsp_single good = {.id = &mine, .status = CERT_GOOD};
    unsigned char nonce[33] = {0};
    time_t next = T_NOW + 60;

    /* A CertID of another CA is never answered with this CA's responder. */
    struct ocsp_single other[2] = {good, {.id = &theirs, .status = CERT_GOOD}};
    expect_sign_refused(ocsp_cert, other, 2, NULL, 0, next, JERR_INTERNAL, "certID");
    struct ocsp_single halfway = {.id = &half, .status = CERT_GOOD};
    expect_sign_refused(ocsp_cert, &halfway, 1, NULL, 0, next, JERR_INTERNAL, NULL);
    /* no answers, too many answers */
    expect_sign_refused(ocsp_cert, &good, 0, NULL, 0, next, JERR_INTERNAL, NULL);
    struct ocsp_single many[JPKI_OCSP_MAX_CERTIDS + 1];
    for (int i = 0; i < JPKI_OCSP_MAX_CERTIDS + 1; i++)
        many[i] = good;
    expect_sign_refused(ocsp_cert, many, JPKI_OCSP_MAX_CERTIDS + 1, NULL, 0, next, JERR_INTERNAL,
                        NULL);
    /* nextUpdate not after thisUpdate */
    expect_sign_refused(ocsp_cert, &good, 1, NULL, 0, T_NOW, JERR_NONE, "next_update");
    /* a nonce of 33 octets */
    expect_sign_refused(ocsp_cert, &good, 1, nonce, 33, next, JERR_INVALID, "nonce");
    /* a bad reason, a bad status */
    struct ocsp_single bad_reason = {.id = &mine, .status = CERT_REVOKED, .reason = 7};
    expect_sign_refused(ocsp_cert, &bad_reason, 1, NULL, 0, next, JERR_NONE, "reason");
    struct ocsp_single bad_status = {.id = &mine, .status = (enum cert_status)9};
    expect_sign_refused(ocsp_cert, &bad_status, 1, NULL, 0, next, JERR_NONE, "status");
    /* a signer certificate that is not the signer's key */
    expect_sign_refused(root, &good, 1, NULL, 0, next, JERR_CRYPTO, NULL);
}
END_TEST

START_TEST(error_responses)
{
    int statuses[5] = {OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, OCSP_RESPONSE_STATUS_INTERNALERROR,
                       OCSP_RESPONSE_STATUS_TRYLATER, OCSP_RESPONSE_STATUS_SIGREQUIRED,
                       OCSP_RESPONSE_STATUS_UNAUTHORIZED};
    for (int i = 0; i < 5; i++) {
        unsigned char *der = NULL;
        size_t len = 0;
        struct jerr err = {0};
        ck_assert_int_eq(ocsp_error_response(statuses[i], &der, &len, &err), 0);
        /* OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED } and nothing else */
        const unsigned char want[5] = {0x30, 0x03, 0x0a, 0x01, (unsigned char)statuses[i]};
        ck_assert_int_eq(len, 5);
        ck_assert_mem_eq(der, want, 5);
        const unsigned char *p = der;
        OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
        ck_assert_ptr_nonnull(resp);
        ck_assert_int_eq(OCSP_response_status(resp), statuses[i]);
        ck_assert_ptr_null(OCSP_response_get1_basic(resp));
        ERR_clear_error();
        OCSP_RESPONSE_free(resp);
        OPENSSL_free(der);
    }
    int bad[4] = {OCSP_RESPONSE_STATUS_SUCCESSFUL, 4, 7, -1};
    for (int i = 0; i < 4; i++) {
        unsigned char *der = NULL;
        size_t len = 0;
        struct jerr err = {0};
        ck_assert_int_eq(ocsp_error_response(bad[i], &der, &len, &err), -1);
        ck_assert_int_eq(err.code, JERR_INTERNAL);
        ck_assert_ptr_null(der);
    }
}
END_TEST

START_TEST(certid_for_serial_matches_client)
{
    jclock_set(T_NOW);
    const EVP_MD *mds[2] = {EVP_sha1(), EVP_sha256()};
    int hashes[2] = {OCSP_CERTID_SHA1, OCSP_CERTID_SHA256};
    for (int i = 0; i < 2; i++) {
        struct ocsp_certid id;
        struct jerr err = {0};
        ck_assert_int_eq(ocsp_certid_for_serial(root, SERIAL_D, hashes[i], &id, &err), 0);
        struct ocsp_certid want = parsed_id(root, mds[i], SERIAL_D);
        ck_assert_int_eq(id.hash, hashes[i]);
        ck_assert_int_eq(id.hash_len, want.hash_len);
        ck_assert_mem_eq(id.name_hash, want.name_hash, want.hash_len);
        ck_assert_mem_eq(id.key_hash, want.key_hash, want.hash_len);
        ck_assert_str_eq(id.serial, SERIAL_D);
        ck_assert(id.serial_ok);
        ck_assert(id.params_null);
        ck_assert_int_eq(id.der_len, want.der_len);
        ck_assert_mem_eq(id.der, want.der, want.der_len);

        /* A pre-signed answer for it is found by the client's CertID. */
        struct ocsp_single s = {.id = &id, .status = CERT_HOLD, .revoked_at = T_NOW - 100};
        OCSP_BASICRESP *bs = signed_basic(&s, 1, NULL, 0);
        OCSP_CERTID *cid = client_id(root, mds[i], SERIAL_D);
        assert_status(bs, cid, V_OCSP_CERTSTATUS_REVOKED, OCSP_REVOKED_STATUS_CERTIFICATEHOLD,
                      T_NOW - 100);
        OCSP_CERTID_free(cid);
        OCSP_BASICRESP_free(bs);
    }
}
END_TEST

START_TEST(certid_for_serial_refusals)
{
    struct ocsp_certid id;
    struct jerr err = {0};
    char too_long[JPKI_SERIAL_HEX_MAX + 2];
    memset(too_long, 'A', sizeof(too_long) - 1);
    too_long[sizeof(too_long) - 1] = '\0';
    const char *bad[] = {"", "XYZ", "12 34", "-12", "0x12", too_long};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        jerr_clear(&err);
        ck_assert_msg(ocsp_certid_for_serial(root, bad[i], OCSP_CERTID_SHA1, &id, &err) == -1, "%s",
                      bad[i]);
        ck_assert_int_eq(err.code, JERR_INVALID);
        ck_assert_str_eq(err.field, "serial");
    }
    jerr_clear(&err);
    ck_assert_int_eq(ocsp_certid_for_serial(root, NULL, OCSP_CERTID_SHA1, &id, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    jerr_clear(&err);
    ck_assert_int_eq(ocsp_certid_for_serial(root, SERIAL_A, 2, &id, &err), -1);
    ck_assert_int_eq(err.code, JERR_INTERNAL);
    ck_assert_str_eq(err.field, "hash");
}
END_TEST

/* ---- Failure injection (STYLE "Tests"): fail the n-th OpenSSL allocation ---- */

static long alloc_countdown = -1; /* -1: never fail; 0: fail the next allocation */
static long alloc_failed;         /* allocations failed so far */
/* An OpenSSL function under which allocations are never failed (see allocation_failures). */
static const char *alloc_spared_caller;

/* True when the stack holds `function` (an exported symbol: dladdr reads the dynamic symbol
 * table; a static function that follows it in libcrypto counts as it, which only spares more). */
static bool called_from(const char *function)
{
    void *frames[64];
    int n = backtrace(frames, 64);
    for (int i = 0; i < n; i++) {
        Dl_info info;
        if (dladdr(frames[i], &info) != 0 && info.dli_sname != NULL &&
            strcmp(info.dli_sname, function) == 0)
            return true;
    }
    return false;
}

static bool alloc_should_fail(const char *file)
{
    if (alloc_countdown < 0)
        return false;
    if (alloc_countdown > 0) {
        alloc_countdown--;
        return false;
    }
    if (alloc_spared_caller != NULL && called_from(alloc_spared_caller))
        return false; /* fail the next allocation outside it instead */
    alloc_failed++;
    alloc_countdown = -1; /* one failure per run: the cleanup path of that one */
    return true;
}

static void *failing_malloc(size_t n, const char *file, int line)
{
    return alloc_should_fail(file) ? NULL : malloc(n);
}

static void *failing_realloc(void *p, size_t n, const char *file, int line)
{
    return alloc_should_fail(file) ? NULL : realloc(p, n);
}

static void failing_free(void *p, const char *file, int line)
{
    free(p);
}

/* Runs `op` failing its n-th allocation for n = 0, 1, ... until it runs without reaching
 * the failure; each failing run must return -1 with err set, each other run 0. Returns the
 * number of runs. */
static int walk_failures(int (*op)(struct jerr *err))
{
    for (long n = 0;; n++) {
        struct jerr err = {0};
        long before = alloc_failed;
        alloc_countdown = n;
        int rc = op(&err);
        alloc_countdown = -1;
        if (alloc_failed == before) {
            ck_assert_msg(rc == 0, "run %ld without a failure: %s", n, err.msg);
            return (int)n;
        }
        if (rc == 0)
            continue; /* the failure was absorbed (a cache, a retry): fine */
        ck_assert_int_eq(rc, -1);
        ck_assert_msg(err.code != JERR_NONE, "allocation %ld failed without an error", n);
        /* Running out of memory is never the client's fault (no malformedRequest). */
        ck_assert_msg(err.code != JERR_INVALID, "allocation %ld failed as invalid: %s", n, err.msg);
        ERR_clear_error();
    }
}

static unsigned char *fi_req;
static size_t fi_req_len;

static int fi_parse(struct jerr *err)
{
    struct ocsp_request r;
    return ocsp_request_parse(fi_req, fi_req_len, &r, err);
}

static struct ocsp_request fi_parsed;

static int fi_sign(struct jerr *err)
{
    const struct ocsp_request *r = &fi_parsed;
    struct ocsp_single s[2] = {{.id = &r->ids[0], .status = CERT_GOOD},
                               {.id = &r->ids[1], .status = CERT_HOLD, .revoked_at = T_NOW}};
    unsigned char *der = NULL;
    size_t len = 0;
    if (ocsp_response_sign(root, ocsp_cert, ocsp_signer, s, 2, r->nonce, r->nonce_len, T_NOW,
                           T_NOW + 60, &der, &len, err) == -1)
        return -1;
    OPENSSL_free(der);
    return 0;
}

static int fi_get(struct jerr *err)
{
    unsigned char *der = NULL;
    size_t len = 0;
    if (ocsp_get_path_decode("%2B%2b%2F%2fPg%3D%3d", &der, &len, err) == -1)
        return -1;
    OPENSSL_free(der);
    return 0;
}

static int fi_misc(struct jerr *err)
{
    struct ocsp_issuer is;
    struct ocsp_certid id;
    unsigned char *der = NULL;
    size_t len = 0;
    if (ocsp_issuer_init(&is, CA_SIGN, root, err) == -1 ||
        ocsp_certid_for_serial(root, SERIAL_A, OCSP_CERTID_SHA256, &id, err) == -1 ||
        ocsp_error_response(OCSP_RESPONSE_STATUS_TRYLATER, &der, &len, err) == -1)
        return -1;
    OPENSSL_free(der);
    return 0;
}

START_TEST(allocation_failures)
{
    jclock_set(T_NOW);
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    add_id(req, client_id(root, EVP_sha1(), SERIAL_A));
    add_id(req, client_id(root, EVP_sha256(), SERIAL_B));
    ck_assert_int_eq(OCSP_request_add1_nonce(req, NULL, 16), 1);
    fi_req = req_der(req, &fi_req_len);
    ck_assert_int_gt(walk_failures(fi_parse), 10);
    struct jerr err = {0};
    ck_assert_int_eq(ocsp_request_parse(fi_req, fi_req_len, &fi_parsed, &err), 0);
    /* OpenSSL 3.0's ASN1_item_sign_ctx decodes the signature AlgorithmIdentifier into the
     * response's embedded X509_ALGOR; when an allocation of that decoding fails, libcrypto
     * frees the embedded pointer (a bad free inside OpenSSL, whoever calls it). So nothing
     * under ASN1_item_sign_ctx is failed: the walk covers ocsp.c and signer.c around it. */
    alloc_spared_caller = "ASN1_item_sign_ctx";
    ck_assert_int_gt(walk_failures(fi_sign), 50);
    alloc_spared_caller = NULL;
    ck_assert_int_gt(walk_failures(fi_get), 1);
    ck_assert_int_gt(walk_failures(fi_misc), 5);
    OPENSSL_free(fi_req);
    OCSP_REQUEST_free(req);
}
END_TEST

static Suite *ocsp_suite(void)
{
    Suite *s = suite_create("ocsp");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, parse_sha1_one_certid);
    tcase_add_test(tc, parse_sha256_several_with_nonce);
    tcase_add_test(tc, parse_nonce_bounds);
    tcase_add_test(tc, parse_max_certids);
    tcase_add_test(tc, parse_serial_forms);
    tcase_add_test(tc, parse_absent_params);
    tcase_add_test(tc, parse_signed_request_accepted);
    tcase_add_test(tc, parse_noncritical_unknown_extensions_ignored);
    suite_add_tcase(s, tc);

    tc = tcase_create("malformed");
    tcase_add_test(tc, reject_empty_random_truncated_trailing);
    tcase_add_test(tc, reject_oversize);
    tcase_add_test(tc, reject_certid_counts);
    tcase_add_test(tc, reject_bad_hashes);
    tcase_add_test(tc, reject_bad_nonces);
    tcase_add_test(tc, reject_unknown_critical_extensions);
    tcase_add_test(tc, reject_oversize_serial);
    suite_add_tcase(s, tc);

    tc = tcase_create("get");
    tcase_add_test(tc, get_decodes_real_request);
    tcase_add_test(tc, get_escapes);
    tcase_add_test(tc, get_refusals);
    tcase_add_test(tc, get_size_cap);
    suite_add_tcase(s, tc);

    tc = tcase_create("issuer");
    tcase_add_test(tc, issuer_hashes_and_matching);
    suite_add_tcase(s, tc);

    tc = tcase_create("response");
    tcase_add_test(tc, response_statuses_nonce_and_signature);
    tcase_add_test(tc, response_without_nonce_sha256);
    tcase_add_test(tc, response_echoes_certid_exactly);
    tcase_add_test(tc, response_refusals);
    tcase_add_test(tc, error_responses);
    tcase_add_test(tc, certid_for_serial_matches_client);
    tcase_add_test(tc, certid_for_serial_refusals);
    suite_add_tcase(s, tc);

    tc = tcase_create("failures");
    tcase_add_test(tc, allocation_failures);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    /* Before OpenSSL's first allocation, or it refuses. */
    if (CRYPTO_set_mem_functions(failing_malloc, failing_realloc, failing_free) != 1) {
        fprintf(stderr, "CRYPTO_set_mem_functions refused\n");
        return EXIT_FAILURE;
    }
    make_fixtures();
    int rc = testutil_run(ocsp_suite());
    free_fixtures();
    return rc;
}
