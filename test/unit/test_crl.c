/*
 * test_crl: the streaming CRL builder and publisher (DESIGN §5, RFC 5280 §5).
 *
 * Every CRL written here is read back with OpenSSL's own parser and checked field by field:
 * DER canonical (re-encoding gives the same bytes), signature, version, issuer, times and
 * their ASN.1 types, cRLNumber, AKI, IDP, each entry's serial, revocationDate, reasonCode and
 * invalidityDate, exact entry counts. Failures must leave the previous file and no temp file.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/crl.h"
#include "ca/crl_rows.h"
#include "base/jclock.h"
#include "keystore/keygen.h"
#include "testinst.h"

#define PASS "correct horse battery staple"
#define DAY (24 * 60 * 60)

/* One CA key and root for the tests that build with crl_build directly, made once in the
 * parent process (unchecked fixture) since RSA key generation is slow. */
static struct signer *g_signer;
static X509 *g_root;

static time_t t_now(void)
{
    return jclock_utc(2025, 6, 1, 9, 0, 0);
}

static X509 *make_root(const struct signer *s, const char *ou)
{
    struct jerr err = {0};
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(name);
    ck_assert_int_eq(X509_set_version(x, X509_VERSION_3), 1);
    ck_assert_int_eq(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
    ck_assert_int_eq(X509_NAME_add_entry_by_txt(name, "C", MBSTRING_UTF8,
                                                (const unsigned char *)"JP", -1, -1, 0),
                     1);
    ck_assert_int_eq(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                                (const unsigned char *)"JPKI", -1, -1, 0),
                     1);
    ck_assert_int_eq(
        X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_UTF8, (const unsigned char *)ou, -1, -1, 0),
        1);
    ck_assert_int_eq(X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_UTF8,
                                                (const unsigned char *)"Test Agency", -1, -1, 0),
                     1);
    ck_assert_int_eq(X509_set_subject_name(x, name), 1);
    ck_assert_int_eq(X509_set_issuer_name(x, name), 1);
    X509_NAME_free(name);
    ck_assert_ptr_nonnull(ASN1_TIME_set(X509_getm_notBefore(x), t_now() - 365 * DAY));
    ck_assert_ptr_nonnull(ASN1_TIME_set(X509_getm_notAfter(x), t_now() + 3650 * DAY));
    EVP_PKEY *pub = signer_get1_public_key(s);
    ck_assert_ptr_nonnull(pub);
    ck_assert_int_eq(X509_set_pubkey(x, pub), 1);
    EVP_PKEY_free(pub);

    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    static const struct {
        int nid;
        const char *value;
    } exts[] = {
        {NID_basic_constraints, "critical,CA:TRUE"},
        {NID_key_usage, "critical,keyCertSign,cRLSign"},
        {NID_subject_key_identifier, "hash"},
    };
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, exts[i].nid, exts[i].value);
        ck_assert_ptr_nonnull(ext);
        ck_assert_int_eq(X509_add_ext(x, ext, -1), 1);
        X509_EXTENSION_free(ext);
    }
    ck_assert_msg(signer_sign_cert(s, x, &err) == 0, "%s", err.msg);
    return x;
}

static void key_setup(void)
{
    struct jerr err = {0};
    g_signer = signer_generate(TEST_RSA2048, &err);
    ck_assert_msg(g_signer != NULL, "%s", err.msg);
    g_root = make_root(g_signer, "JPKI for digital signature");
}

static void key_teardown(void)
{
    X509_free(g_root);
    signer_free(g_signer);
}

/* ---- A registry in a temp directory ---- */

struct fixture {
    char *dir;
    char out_dir[4096];
    char db[4096];
    struct store *st;
};

static void fx_setup(struct fixture *fx)
{
    struct jerr err = {0};
    memset(fx, 0, sizeof(*fx));
    fx->dir = testutil_mkdtemp();
    ck_assert_ptr_nonnull(fx->dir);
    snprintf(fx->out_dir, sizeof(fx->out_dir), "%s/out", fx->dir);
    ck_assert_int_eq(mkdir(fx->out_dir, 0755), 0);
    snprintf(fx->db, sizeof(fx->db), "%s/jpki.db", fx->dir);
    fx->st = store_open(fx->db, true, &err);
    ck_assert_msg(fx->st != NULL, "%s", err.msg);
}

static void fx_teardown(struct fixture *fx)
{
    store_close(fx->st);
    testutil_rmtree(fx->dir);
    free(fx->dir);
}

static void add_holder(struct store *st)
{
    struct jerr err = {0};
    struct person p = {.gender = GENDER_MALE};
    snprintf(p.id, sizeof(p.id), "p-1");
    snprintf(p.name, sizeof(p.name), "山田 太郎");
    snprintf(p.address, sizeof(p.address), "東京都千代田区霞が関2-1-2");
    snprintf(p.birth_date, sizeof(p.birth_date), "1980-04-01");
    ck_assert_msg(store_person_insert(st, &p, &err) == 0, "%s", err.msg);
    struct card c = {.type = CARD_MYNUMBER, .state = CARD_ACTIVE};
    snprintf(c.id, sizeof(c.id), "card-1");
    snprintf(c.person_id, sizeof(c.person_id), "p-1");
    snprintf(c.expiry, sizeof(c.expiry), "2034-12-31");
    ck_assert_msg(store_card_insert(st, &c, &err) == 0, "%s", err.msg);
}

/* The registry and output directory of the "build" test case, made fresh for each test (a
 * checked fixture: in the test's own process) with one holder in it. */
static struct fixture g_fx;

static void build_setup(void)
{
    fx_setup(&g_fx);
    add_holder(g_fx.st);
}

static void build_teardown(void)
{
    fx_teardown(&g_fx);
}

/* A registry row. The DER is a stand-in: the CRL builder never reads it. */
static void add_cert(struct store *st, const char *serial, enum ca_kind ca, int partition,
                     int64_t not_after, enum cert_status status, int reason, int64_t at,
                     int64_t invalidity)
{
    struct cert_rec rec =
        testutil_cert_rec(serial, ca, "card-1", "p-1", t_now() - 400 * DAY, not_after);
    rec.status = status;
    rec.reason = reason;
    rec.status_changed_at = at;
    rec.invalidity_date = invalidity;
    rec.partition = partition;
    testutil_cert_insert(st, &rec);
}

/* ---- Reading a CRL back ---- */

struct crl_file {
    unsigned char *der;
    size_t len;
    X509_CRL *crl;
};

static void crl_file_free(struct crl_file *cf)
{
    X509_CRL_free(cf->crl);
    free(cf->der);
}

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void read_all(const char *path, unsigned char **der, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    ck_assert_int_gt(size, 0);
    rewind(f);
    *der = malloc((size_t)size);
    ck_assert_ptr_nonnull(*der);
    ck_assert_uint_eq(fread(*der, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *len = (size_t)size;
}

static time_t time_of(const ASN1_TIME *at)
{
    struct tm tm;
    ck_assert_ptr_nonnull(at);
    ck_assert_int_eq(ASN1_TIME_to_tm(at, &tm), 1);
    return timegm(&tm);
}

/* DER canonical: the TBSCertList re-encoded from the parsed fields (ignoring OpenSSL's cached
 * encoding) is byte for byte what the file holds, and so is the whole CertificateList. */
static void assert_canonical(X509_CRL *crl, const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    long content = 0;
    int tag = 0, xclass = 0;
    ck_assert_int_eq(ASN1_get_object(&p, &content, &tag, &xclass, (long)len), V_ASN1_CONSTRUCTED);
    ck_assert_int_eq(tag, V_ASN1_SEQUENCE);
    ck_assert_ptr_eq(p + content, der + len);
    const unsigned char *tbs = p;
    ck_assert_int_eq(ASN1_get_object(&p, &content, &tag, &xclass, (long)(der + len - tbs)),
                     V_ASN1_CONSTRUCTED);
    ck_assert_int_eq(tag, V_ASN1_SEQUENCE);
    size_t tbs_len = (size_t)(p - tbs) + (size_t)content;

    unsigned char *re = NULL;
    int n = i2d_re_X509_CRL_tbs(crl, &re);
    ck_assert_int_eq(n, (int)tbs_len);
    ck_assert_int_eq(memcmp(re, tbs, tbs_len), 0);
    OPENSSL_free(re);
    re = NULL;
    n = i2d_X509_CRL(crl, &re);
    ck_assert_int_eq(n, (int)len);
    ck_assert_int_eq(memcmp(re, der, len), 0);
    OPENSSL_free(re);
}

static void assert_idp(X509_CRL *crl, const char *url)
{
    int idx = X509_CRL_get_ext_by_NID(crl, NID_issuing_distribution_point, -1);
    if (url == NULL) {
        ck_assert_int_eq(idx, -1);
        return;
    }
    ck_assert_int_ge(idx, 0);
    ck_assert_int_eq(X509_CRL_get_ext_by_NID(crl, NID_issuing_distribution_point, idx), -1);
    /* RFC 5280 §5.2.5: the IDP is critical. */
    ck_assert_int_eq(X509_EXTENSION_get_critical(X509_CRL_get_ext(crl, idx)), 1);
    ISSUING_DIST_POINT *idp = X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, NULL, NULL);
    ck_assert_ptr_nonnull(idp);
    ck_assert_ptr_nonnull(idp->distpoint);
    ck_assert_int_eq(idp->distpoint->type, 0);
    ck_assert_int_eq(sk_GENERAL_NAME_num(idp->distpoint->name.fullname), 1);
    GENERAL_NAME *gn = sk_GENERAL_NAME_value(idp->distpoint->name.fullname, 0);
    ck_assert_int_eq(gn->type, GEN_URI);
    ck_assert_int_eq(ASN1_STRING_length(gn->d.uniformResourceIdentifier), (int)strlen(url));
    ck_assert_int_eq(
        memcmp(ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier), url, strlen(url)), 0);
    ck_assert_int_eq(idp->onlyuser, 0);
    ck_assert_int_eq(idp->onlyCA, 0);
    ck_assert_int_eq(idp->indirectCRL, 0);
    ck_assert_int_eq(idp->onlyattr, 0);
    ck_assert_ptr_null(idp->onlysomereasons);
    ISSUING_DIST_POINT_free(idp);
}

/* Reads `path` and checks everything that does not depend on the entries. */
static void load_checked(struct crl_file *cf, const char *path, X509 *root, int64_t number,
                         time_t this_update, time_t next_update, const char *idp_url,
                         size_t entries)
{
    struct jerr err = {0};
    memset(cf, 0, sizeof(*cf));
    read_all(path, &cf->der, &cf->len);
    const unsigned char *p = cf->der;
    cf->crl = d2i_X509_CRL(NULL, &p, (long)cf->len);
    ck_assert_ptr_nonnull(cf->crl);
    ck_assert_ptr_eq(p, cf->der + cf->len);
    assert_canonical(cf->crl, cf->der, cf->len);

    ck_assert_int_eq(X509_CRL_verify(cf->crl, X509_get0_pubkey(root)), 1);
    ck_assert_int_eq(X509_CRL_get_signature_nid(cf->crl), NID_sha256WithRSAEncryption);
    ck_assert_int_eq(X509_CRL_get_version(cf->crl), 1); /* v2 */

    /* The issuer is the root's subject, byte for byte. */
    unsigned char *a = NULL, *b = NULL;
    int alen = i2d_X509_NAME(X509_CRL_get_issuer(cf->crl), &a);
    int blen = i2d_X509_NAME(X509_get_subject_name(root), &b);
    ck_assert_int_gt(alen, 0);
    ck_assert_int_eq(alen, blen);
    ck_assert_int_eq(memcmp(a, b, (size_t)alen), 0);
    OPENSSL_free(a);
    OPENSSL_free(b);

    ck_assert_int_eq(time_of(X509_CRL_get0_lastUpdate(cf->crl)), this_update);
    ck_assert_int_eq(time_of(X509_CRL_get0_nextUpdate(cf->crl)), next_update);

    int crit = -2;
    ASN1_INTEGER *num = X509_CRL_get_ext_d2i(cf->crl, NID_crl_number, &crit, NULL);
    ck_assert_ptr_nonnull(num);
    ck_assert_int_eq(crit, 0);
    int64_t got = -1;
    ck_assert_int_eq(ASN1_INTEGER_get_int64(&got, num), 1);
    ck_assert_int_eq(got, number);
    ASN1_INTEGER_free(num);

    AUTHORITY_KEYID *akid =
        X509_CRL_get_ext_d2i(cf->crl, NID_authority_key_identifier, &crit, NULL);
    ck_assert_ptr_nonnull(akid);
    ck_assert_int_eq(crit, 0);
    ck_assert_ptr_nonnull(akid->keyid);
    ck_assert_ptr_nonnull(X509_get0_subject_key_id(root));
    ck_assert_int_eq(ASN1_OCTET_STRING_cmp(akid->keyid, X509_get0_subject_key_id(root)), 0);
    ck_assert_ptr_null(akid->issuer);
    ck_assert_ptr_null(akid->serial);
    AUTHORITY_KEYID_free(akid);

    /* A complete CRL published with delta CRLs on also names the delta (RFC 5280 §5.2.6). */
    int fresh_at = X509_CRL_get_ext_by_NID(cf->crl, NID_freshest_crl, -1);
    if (fresh_at >= 0)
        ck_assert_int_eq(X509_EXTENSION_get_critical(X509_CRL_get_ext(cf->crl, fresh_at)), 0);
    ck_assert_int_eq(X509_CRL_get_ext_count(cf->crl),
                     (idp_url != NULL ? 3 : 2) + (fresh_at >= 0 ? 1 : 0));
    assert_idp(cf->crl, idp_url);

    STACK_OF(X509_REVOKED) *revoked = X509_CRL_get_REVOKED(cf->crl);
    if (entries == 0) {
        /* RFC 5280 §5.1.2.6: no entries, no revokedCertificates field at all. */
        ck_assert_ptr_null(revoked);
    } else {
        ck_assert_ptr_nonnull(revoked);
        ck_assert_int_eq(sk_X509_REVOKED_num(revoked), (int)entries);
    }

    struct crl_info info;
    ck_assert_msg(crl_verify_file(path, root, &info, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(info.number, number);
    ck_assert_int_eq(info.this_update, this_update);
    ck_assert_int_eq(info.next_update, next_update);
    ck_assert_uint_eq(info.entries, entries);
    ck_assert_uint_eq(info.der_size, cf->len);
    unsigned char md[32];
    ck_assert_int_eq(EVP_Digest(cf->der, cf->len, md, NULL, EVP_sha256(), NULL), 1);
    ck_assert_int_eq(memcmp(md, info.sha256, 32), 0);
}

static ASN1_INTEGER *serial_of(const char *hex)
{
    BIGNUM *bn = NULL;
    ck_assert_int_eq(BN_hex2bn(&bn, hex), (int)strlen(hex));
    ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
    BN_free(bn);
    ck_assert_ptr_nonnull(ai);
    return ai;
}

static bool has_entry(X509_CRL *crl, const char *hex)
{
    ASN1_INTEGER *ai = serial_of(hex);
    X509_REVOKED *rev = NULL;
    int rc = X509_CRL_get0_by_serial(crl, &rev, ai);
    ASN1_INTEGER_free(ai);
    ck_assert_int_ne(rc, 2); /* never removeFromCRL */
    return rc == 1;
}

/* reason -1: no reasonCode extension; invalidity 0: no invalidityDate. */
static void assert_entry(X509_CRL *crl, const char *hex, time_t revoked_at, int reason,
                         time_t invalidity)
{
    ASN1_INTEGER *ai = serial_of(hex);
    X509_REVOKED *rev = NULL;
    ck_assert_msg(X509_CRL_get0_by_serial(crl, &rev, ai) == 1, "serial %s missing", hex);
    ASN1_INTEGER_free(ai);
    ck_assert_int_eq(time_of(X509_REVOKED_get0_revocationDate(rev)), revoked_at);

    int crit = -2;
    ASN1_ENUMERATED *code = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, &crit, NULL);
    if (reason < 0) {
        ck_assert_msg(code == NULL, "serial %s has a reasonCode", hex);
        ck_assert_int_eq(crit, -1);
    } else {
        ck_assert_msg(code != NULL, "serial %s has no reasonCode", hex);
        ck_assert_int_eq(crit, 0);
        ck_assert_int_eq(ASN1_ENUMERATED_get(code), reason);
        ASN1_ENUMERATED_free(code);
    }
    ASN1_GENERALIZEDTIME *inv = X509_REVOKED_get_ext_d2i(rev, NID_invalidity_date, &crit, NULL);
    if (invalidity == 0) {
        ck_assert_msg(inv == NULL, "serial %s has an invalidityDate", hex);
    } else {
        ck_assert_msg(inv != NULL, "serial %s has no invalidityDate", hex);
        ck_assert_int_eq(crit, 0);
        /* RFC 5280 §5.3.2: always GeneralizedTime. */
        ck_assert_int_eq(ASN1_STRING_type(inv), V_ASN1_GENERALIZEDTIME);
        ck_assert_int_eq(time_of(inv), invalidity);
        ASN1_GENERALIZEDTIME_free(inv);
    }
    ck_assert_int_eq(X509_REVOKED_get_ext_count(rev), (reason >= 0) + (invalidity != 0));
}

/* The directory holds exactly `expected` entries, none of them a temp file. */
static void assert_dir_clean(const char *dir, int expected)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    char names[512] = "";
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        strncat(names, de->d_name, sizeof(names) - strlen(names) - 2);
        strcat(names, " ");
        ck_assert_msg(strstr(de->d_name, ".tmp-") == NULL &&
                          strstr(de->d_name, ".entries-") == NULL,
                      "temp file left: %s", de->d_name);
        n++;
    }
    closedir(d);
    ck_assert_msg(n == expected, "%d entries, not %d: %s", n, expected, names);
}

static int build(struct fixture *fx, const char *name, int partition, const char *idp_url,
                 int64_t number, time_t this_update, time_t next_update, struct crl_info *info,
                 struct jerr *err)
{
    char path[8192];
    snprintf(path, sizeof(path), "%s/%s", fx->out_dir, name);
    return crl_build(fx->st, g_root, g_signer, CA_SIGN, partition, idp_url, number, this_update,
                     next_update, path, info, err);
}

/* ---- The tests ---- */

/* Serials: one whose high bit is set (DER needs a leading 00), a short one, a 20-octet one. */
#define S_KEYCOMP "8000000000000000000000000000000A"
#define S_AFFIL "0A1B"
#define S_SUPER "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF01"
#define S_CESSATION "1000000000000000000000000000000C"
#define S_HOLD "1000000000000000000000000000000D"
#define S_UNSPEC "1000000000000000000000000000000E"
#define S_UNSPEC_INV "1000000000000000000000000000000F"
#define S_GOOD "10000000000000000000000000000010"
#define S_EXPIRED "10000000000000000000000000000011"
#define S_AUTH "10000000000000000000000000000012"
#define S_RELEASED "10000000000000000000000000000013"
#define S_LATER "10000000000000000000000000000014"

START_TEST(test_entries_and_fields)
{
    struct jerr err = {0};
    struct crl_info info;
    time_t now = t_now();
    int64_t alive = now + 900 * DAY;
    add_cert(g_fx.st, S_KEYCOMP, CA_SIGN, 0, alive, CERT_REVOKED, REASON_KEY_COMPROMISE,
             now - 3 * DAY, now - 10 * DAY);
    add_cert(g_fx.st, S_AFFIL, CA_SIGN, 0, alive, CERT_REVOKED, REASON_AFFILIATION_CHANGED,
             now - 2 * DAY, 0);
    add_cert(g_fx.st, S_SUPER, CA_SIGN, 0, alive, CERT_REVOKED, REASON_SUPERSEDED, now - DAY, 0);
    add_cert(g_fx.st, S_CESSATION, CA_SIGN, 0, alive, CERT_REVOKED, REASON_CESSATION_OF_OPERATION,
             now - 3600, 0);
    add_cert(g_fx.st, S_HOLD, CA_SIGN, 0, alive, CERT_HOLD, REASON_CERTIFICATE_HOLD, now - 60, 0);
    add_cert(g_fx.st, S_UNSPEC, CA_SIGN, 0, alive, CERT_REVOKED, REASON_UNSPECIFIED, now - 30, 0);
    add_cert(g_fx.st, S_UNSPEC_INV, CA_SIGN, 0, alive, CERT_REVOKED, REASON_UNSPECIFIED, now - 20,
             now - 5 * DAY);
    add_cert(g_fx.st, S_GOOD, CA_SIGN, 0, alive, CERT_GOOD, REASON_NONE, 0, 0);
    /* Expired a second before thisUpdate: dropped (DESIGN §4 "expiry"). */
    add_cert(g_fx.st, S_EXPIRED, CA_SIGN, 0, now - 1, CERT_REVOKED, REASON_KEY_COMPROMISE,
             now - 9 * DAY, 0);
    /* Another CA's revocation never shows on this CA's CRL. */
    add_cert(g_fx.st, S_AUTH, CA_AUTH, 0, alive, CERT_REVOKED, REASON_KEY_COMPROMISE, now - 9, 0);
    /* Held, then released through the registry: leaves the CRL. Another revoked through the
     * registry's status change rather than at insert. */
    add_cert(g_fx.st, S_RELEASED, CA_SIGN, 0, alive, CERT_GOOD, REASON_NONE, 0, 0);
    add_cert(g_fx.st, S_LATER, CA_SIGN, 0, alive, CERT_GOOD, REASON_NONE, 0, 0);
    ck_assert_int_eq(store_cert_set_status(g_fx.st, S_RELEASED, CERT_HOLD, REASON_CERTIFICATE_HOLD,
                                           now - 500, 0, &err),
                     0);
    ck_assert_int_eq(
        store_cert_set_status(g_fx.st, S_RELEASED, CERT_GOOD, REASON_NONE, now - 400, 0, &err), 0);
    ck_assert_msg(store_cert_set_status(g_fx.st, S_LATER, CERT_REVOKED, REASON_KEY_COMPROMISE,
                                        now - 100, now - 200, &err) == 0,
                  "%s", err.msg);

    const char *url = "http://127.0.0.1:8080/crl/sign.crl";
    ck_assert_msg(build(&g_fx, "sign.crl", -1, url, 7, now, now + DAY, &info, &err) == 0, "%s",
                  err.msg);
    ck_assert_int_eq(info.number, 7);
    ck_assert_int_eq(info.this_update, now);
    ck_assert_int_eq(info.next_update, now + DAY);
    ck_assert_uint_eq(info.entries, 8);

    char path[8192];
    snprintf(path, sizeof(path), "%s/sign.crl", g_fx.out_dir);
    struct crl_file cf;
    load_checked(&cf, path, g_root, 7, now, now + DAY, url, 8);
    ck_assert_uint_eq(info.der_size, cf.len);
    unsigned char md[32];
    EVP_Digest(cf.der, cf.len, md, NULL, EVP_sha256(), NULL);
    ck_assert_int_eq(memcmp(md, info.sha256, 32), 0);
    /* Before 2050: UTCTime (RFC 5280 §5.1.2.4). */
    ck_assert_int_eq(ASN1_STRING_type(X509_CRL_get0_lastUpdate(cf.crl)), V_ASN1_UTCTIME);
    ck_assert_int_eq(ASN1_STRING_type(X509_CRL_get0_nextUpdate(cf.crl)), V_ASN1_UTCTIME);

    assert_entry(cf.crl, S_KEYCOMP, now - 3 * DAY, REASON_KEY_COMPROMISE, now - 10 * DAY);
    assert_entry(cf.crl, S_AFFIL, now - 2 * DAY, REASON_AFFILIATION_CHANGED, 0);
    assert_entry(cf.crl, S_SUPER, now - DAY, REASON_SUPERSEDED, 0);
    assert_entry(cf.crl, S_CESSATION, now - 3600, REASON_CESSATION_OF_OPERATION, 0);
    assert_entry(cf.crl, S_HOLD, now - 60, REASON_CERTIFICATE_HOLD, 0);
    /* RFC 5280 §5.3.1: unspecified SHOULD NOT be used — no reasonCode at all. */
    assert_entry(cf.crl, S_UNSPEC, now - 30, -1, 0);
    assert_entry(cf.crl, S_UNSPEC_INV, now - 20, -1, now - 5 * DAY);
    assert_entry(cf.crl, S_LATER, now - 100, REASON_KEY_COMPROMISE, now - 200);
    ck_assert(!has_entry(cf.crl, S_GOOD));
    ck_assert(!has_entry(cf.crl, S_EXPIRED));
    ck_assert(!has_entry(cf.crl, S_AUTH));
    ck_assert(!has_entry(cf.crl, S_RELEASED));

    /* The serial whose high bit is set is the positive number, not a negative one. */
    ASN1_INTEGER *ai = serial_of(S_KEYCOMP);
    X509_REVOKED *rev = NULL;
    ck_assert_int_eq(X509_CRL_get0_by_serial(cf.crl, &rev, ai), 1);
    const ASN1_INTEGER *got = X509_REVOKED_get0_serialNumber(rev);
    ck_assert_int_eq(ASN1_STRING_type(got), V_ASN1_INTEGER);
    ck_assert_int_eq(ASN1_INTEGER_cmp(got, ai), 0);
    ASN1_INTEGER_free(ai);

    crl_file_free(&cf);
    assert_dir_clean(g_fx.out_dir, 1);
}
END_TEST

START_TEST(test_empty_crl)
{
    struct jerr err = {0};
    struct crl_info info;
    time_t now = t_now();
    add_cert(g_fx.st, S_GOOD, CA_SIGN, 0, now + 100 * DAY, CERT_GOOD, REASON_NONE, 0, 0);
    add_cert(g_fx.st, S_EXPIRED, CA_SIGN, 0, now - DAY, CERT_REVOKED, REASON_KEY_COMPROMISE,
             now - 2 * DAY, 0);
    ck_assert_msg(build(&g_fx, "empty.crl", -1, NULL, 1, now, now + 2 * DAY, &info, &err) == 0,
                  "%s", err.msg);
    ck_assert_uint_eq(info.entries, 0);
    char path[8192];
    snprintf(path, sizeof(path), "%s/empty.crl", g_fx.out_dir);
    struct crl_file cf;
    load_checked(&cf, path, g_root, 1, now, now + 2 * DAY, NULL, 0);
    ck_assert_uint_eq(info.der_size, cf.len);
    crl_file_free(&cf);
    assert_dir_clean(g_fx.out_dir, 1);
}
END_TEST

START_TEST(test_times_across_2050)
{
    /* RFC 5280 §5.1.2.4/5: UTCTime through 2049, GeneralizedTime from 2050; revocationDate
     * likewise (§5.1.2.6); invalidityDate always GeneralizedTime (§5.3.2). */
    struct jerr err = {0};
    time_t this_update = jclock_utc(2049, 12, 31, 12, 0, 0);
    time_t next_update = jclock_utc(2050, 1, 1, 12, 0, 0);
    time_t late = jclock_utc(2049, 12, 31, 11, 0, 0);
    time_t early = jclock_utc(2049, 12, 1, 0, 0, 0);
    add_cert(g_fx.st, S_KEYCOMP, CA_SIGN, 0, jclock_utc(2051, 1, 1, 0, 0, 0), CERT_REVOKED,
             REASON_KEY_COMPROMISE, late, early);
    ck_assert_msg(build(&g_fx, "y2050.crl", -1, NULL, 3, this_update, next_update, NULL, &err) == 0,
                  "%s", err.msg);
    char path[8192];
    snprintf(path, sizeof(path), "%s/y2050.crl", g_fx.out_dir);
    struct crl_file cf;
    load_checked(&cf, path, g_root, 3, this_update, next_update, NULL, 1);
    ck_assert_int_eq(ASN1_STRING_type(X509_CRL_get0_lastUpdate(cf.crl)), V_ASN1_UTCTIME);
    ck_assert_int_eq(ASN1_STRING_type(X509_CRL_get0_nextUpdate(cf.crl)), V_ASN1_GENERALIZEDTIME);
    assert_entry(cf.crl, S_KEYCOMP, late, REASON_KEY_COMPROMISE, early);
    X509_REVOKED *rev = sk_X509_REVOKED_value(X509_CRL_get_REVOKED(cf.crl), 0);
    ck_assert_int_eq(ASN1_STRING_type(X509_REVOKED_get0_revocationDate(rev)), V_ASN1_UTCTIME);
    crl_file_free(&cf);

    /* A revocation dated 2050 or later is a GeneralizedTime. */
    time_t t2 = jclock_utc(2050, 6, 1, 0, 0, 0);
    ck_assert_int_eq(store_cert_set_status(g_fx.st, S_KEYCOMP, CERT_REVOKED, REASON_KEY_COMPROMISE,
                                           t2 - DAY, 0, &err),
                     0);
    ck_assert_msg(build(&g_fx, "y2050.crl", -1, NULL, 4, t2, t2 + DAY, NULL, &err) == 0, "%s",
                  err.msg);
    load_checked(&cf, path, g_root, 4, t2, t2 + DAY, NULL, 1);
    ck_assert_int_eq(ASN1_STRING_type(X509_CRL_get0_lastUpdate(cf.crl)), V_ASN1_GENERALIZEDTIME);
    rev = sk_X509_REVOKED_value(X509_CRL_get_REVOKED(cf.crl), 0);
    ck_assert_int_eq(ASN1_STRING_type(X509_REVOKED_get0_revocationDate(rev)),
                     V_ASN1_GENERALIZEDTIME);
    assert_entry(cf.crl, S_KEYCOMP, t2 - DAY, REASON_KEY_COMPROMISE, 0);
    crl_file_free(&cf);
    assert_dir_clean(g_fx.out_dir, 1);
}
END_TEST

/* The entry encoder formats revocationDate itself (no gmtime) and turns the registry's hex
 * into the serial's octets: every time and serial must come out exactly as ASN1_TIME_set and
 * BN_hex2bn + BN_to_ASN1_INTEGER would encode them. */
START_TEST(test_entry_times_and_serials_as_openssl)
{
    struct jerr err = {0};
    time_t now = t_now();
    time_t times[] = {
        jclock_utc(1950, 1, 1, 0, 0, 0),     jclock_utc(1969, 12, 31, 23, 59, 59),
        jclock_utc(1970, 1, 1, 0, 0, 0),     jclock_utc(1999, 12, 31, 23, 59, 59),
        jclock_utc(2000, 2, 29, 12, 30, 45), jclock_utc(2024, 2, 29, 0, 0, 1),
        jclock_utc(2026, 11, 25, 9, 8, 7),   jclock_utc(2049, 12, 31, 23, 59, 59),
        jclock_utc(2050, 1, 1, 0, 0, 0),     jclock_utc(1949, 12, 31, 23, 59, 59),
    };
    const char *serials[] = {"1",
                             "ABC",
                             "7F",
                             "80",
                             "FF",
                             "0100",
                             "00FF01",
                             "8000000000000000000000000000000000000001",
                             "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
                             "123456789ABCDEF"};
    enum { N = sizeof(times) / sizeof(times[0]) };
    ck_assert_int_eq(N, sizeof(serials) / sizeof(serials[0]));
    /* and pseudo-random times across the UTCTime range, fixed seed */
    enum { RANDOM = 300 };
    time_t lo = jclock_utc(1950, 1, 1, 0, 0, 0), hi = jclock_utc(2050, 1, 1, 0, 0, 0);
    uint64_t x = 0x9E3779B97F4A7C15u;

    for (int i = 0; i < N; i++)
        add_cert(g_fx.st, serials[i], CA_SIGN, 0, now + 400 * DAY, CERT_REVOKED,
                 REASON_KEY_COMPROMISE, times[i], 0);
    time_t random_times[RANDOM];
    for (int i = 0; i < RANDOM; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        random_times[i] = lo + (time_t)(x % (uint64_t)(hi - lo));
        char serial[32];
        snprintf(serial, sizeof(serial), "5A%06X", i + 1);
        add_cert(g_fx.st, serial, CA_SIGN, 0, now + 400 * DAY, CERT_REVOKED, REASON_KEY_COMPROMISE,
                 random_times[i], 0);
    }
    ck_assert_msg(build(&g_fx, "as-openssl.crl", -1, NULL, 1, now, now + DAY, NULL, &err) == 0,
                  "%s", err.msg);
    char path[8192];
    snprintf(path, sizeof(path), "%s/as-openssl.crl", g_fx.out_dir);
    struct crl_file cf;
    load_checked(&cf, path, g_root, 1, now, now + DAY, NULL, N + RANDOM);
    for (int i = 0; i < N + RANDOM; i++) {
        char serial[64];
        time_t t = i < N ? times[i] : random_times[i - N];
        if (i < N)
            snprintf(serial, sizeof(serial), "%s", serials[i]);
        else
            snprintf(serial, sizeof(serial), "5A%06X", i - N + 1);
        ASN1_INTEGER *want_serial = serial_of(serial);
        X509_REVOKED *rev = NULL;
        ck_assert_msg(X509_CRL_get0_by_serial(cf.crl, &rev, want_serial) == 1, "%s", serial);
        unsigned char *a = NULL, *b = NULL;
        int alen = i2d_ASN1_INTEGER(X509_REVOKED_get0_serialNumber(rev), &a);
        int blen = i2d_ASN1_INTEGER(want_serial, &b);
        ck_assert_msg(alen == blen && memcmp(a, b, (size_t)alen) == 0, "serial %s", serial);
        OPENSSL_free(a);
        OPENSSL_free(b);
        ASN1_INTEGER_free(want_serial);

        ASN1_TIME *want_time = ASN1_TIME_set(NULL, t);
        a = b = NULL;
        alen = i2d_ASN1_TIME(X509_REVOKED_get0_revocationDate(rev), &a);
        blen = i2d_ASN1_TIME(want_time, &b);
        ck_assert_msg(alen == blen && memcmp(a, b, (size_t)alen) == 0, "time %lld of %s",
                      (long long)t, serial);
        OPENSSL_free(a);
        OPENSSL_free(b);
        ASN1_TIME_free(want_time);
    }
    crl_file_free(&cf);
}
END_TEST

/* crl_rows hands over every row store_crl_foreach gives, in the same order, across batches;
 * a consumer may stop early without a hang; a reader's failure reaches the consumer. */
struct row_serials {
    char (*serials)[JPKI_SERIAL_HEX_MAX + 1];
    long count;
};

static int list_serial(void *ctx, const struct crl_entry_rec *entry)
{
    struct row_serials *list = ctx;
    snprintf(list->serials[list->count], sizeof(list->serials[0]), "%s", entry->serial);
    list->count++;
    return 0;
}

START_TEST(test_rows_reader)
{
    enum { ROWS = 5000 }; /* more than two batches */
    struct jerr err = {0};
    time_t now = t_now();
    ck_assert_int_eq(store_begin(g_fx.st, &err), 0);
    for (int i = 0; i < ROWS; i++) {
        char serial[32];
        snprintf(serial, sizeof(serial), "6B%06X", i + 1);
        add_cert(g_fx.st, serial, CA_SIGN, 0, now + DAY, CERT_REVOKED, REASON_SUPERSEDED, now - i,
                 0);
    }
    ck_assert_int_eq(store_commit(g_fx.st, &err), 0);

    struct row_serials direct = {calloc(ROWS, JPKI_SERIAL_HEX_MAX + 1), 0};
    ck_assert_ptr_nonnull(direct.serials);
    ck_assert_int_eq(store_crl_foreach(g_fx.st, CA_SIGN, -1, now, list_serial, &direct, &err), 0);
    ck_assert_int_eq(direct.count, ROWS);

    struct crl_rows *rows = crl_rows_start(g_fx.st, CA_SIGN, -1, now, &err);
    ck_assert_ptr_nonnull(rows);
    const struct crl_entry_rec *batch = NULL;
    long n, total = 0, batches = 0;
    while ((n = crl_rows_next(rows, &batch, &err)) > 0) {
        for (long i = 0; i < n; i++) {
            ck_assert_str_eq(batch[i].serial, direct.serials[total + i]);
            ck_assert_int_eq(batch[i].reason, REASON_SUPERSEDED);
        }
        total += n;
        batches++;
    }
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(total, ROWS);
    ck_assert_int_ge(batches, 3);
    ck_assert_int_eq(crl_rows_next(rows, &batch, &err), 0); /* stays at the end */
    crl_rows_finish(rows);

    /* Stopping after the first batch: the reader is blocked on a full ring and must end. */
    rows = crl_rows_start(g_fx.st, CA_SIGN, -1, now, &err);
    ck_assert_ptr_nonnull(rows);
    ck_assert_int_gt(crl_rows_next(rows, &batch, &err), 0);
    crl_rows_finish(rows);

    /* The reader's failure (here: a partition store_crl_foreach refuses) is the consumer's. */
    rows = crl_rows_start(g_fx.st, CA_SIGN, -STORE_CA_GENERATIONS_MAX - 1, now, &err);
    ck_assert_ptr_nonnull(rows);
    ck_assert_int_eq(crl_rows_next(rows, &batch, &err), -1);
    ck_assert_str_eq(err.field, "partition");
    crl_rows_finish(rows);

    /* And the store is usable again after each. */
    direct.count = 0;
    ck_assert_int_eq(store_crl_foreach(g_fx.st, CA_SIGN, -1, now, list_serial, &direct, &err), 0);
    ck_assert_int_eq(direct.count, ROWS);
    free(direct.serials);
}
END_TEST

START_TEST(test_partition_selects_entries)
{
    struct jerr err = {0};
    struct crl_info info;
    time_t now = t_now();
    int64_t alive = now + 900 * DAY;
    static const char *serials[3][2] = {
        {"20000000000000000000000000000001", "20000000000000000000000000000002"},
        {"21000000000000000000000000000001", "21000000000000000000000000000002"},
        {"22000000000000000000000000000001", "22000000000000000000000000000002"},
    };
    for (int p = 0; p < 3; p++)
        for (int i = 0; i < 2; i++)
            add_cert(g_fx.st, serials[p][i], CA_SIGN, p, alive, i == 0 ? CERT_REVOKED : CERT_HOLD,
                     i == 0 ? REASON_SUPERSEDED : REASON_CERTIFICATE_HOLD, now - 100 - p, 0);
    add_cert(g_fx.st, "23000000000000000000000000000001", CA_SIGN, 1, alive, CERT_GOOD, REASON_NONE,
             0, 0);

    char path[8192], url[256], name[64];
    for (int p = 0; p < 3; p++) {
        snprintf(name, sizeof(name), "%d.crl", p);
        snprintf(url, sizeof(url), "http://example.test/crl/sign/%d.crl", p);
        ck_assert_msg(build(&g_fx, name, p, url, 10 + p, now, now + DAY, &info, &err) == 0, "%s",
                      err.msg);
        ck_assert_uint_eq(info.entries, 2);
        snprintf(path, sizeof(path), "%s/%s", g_fx.out_dir, name);
        struct crl_file cf;
        load_checked(&cf, path, g_root, 10 + p, now, now + DAY, url, 2);
        for (int q = 0; q < 3; q++) {
            ck_assert_int_eq(has_entry(cf.crl, serials[q][0]), q == p);
            ck_assert_int_eq(has_entry(cf.crl, serials[q][1]), q == p);
        }
        assert_entry(cf.crl, serials[p][0], now - 100 - p, REASON_SUPERSEDED, 0);
        assert_entry(cf.crl, serials[p][1], now - 100 - p, REASON_CERTIFICATE_HOLD, 0);
        crl_file_free(&cf);
    }
    /* A partition with nothing in it. */
    ck_assert_msg(build(&g_fx, "3.crl", 3, "http://example.test/crl/sign/3.crl", 13, now, now + DAY,
                        &info, &err) == 0,
                  "%s", err.msg);
    ck_assert_uint_eq(info.entries, 0);
    /* The complete CRL: everything, no IDP. */
    ck_assert_msg(build(&g_fx, "all.crl", -1, NULL, 20, now, now + DAY, &info, &err) == 0, "%s",
                  err.msg);
    ck_assert_uint_eq(info.entries, 6);
    snprintf(path, sizeof(path), "%s/all.crl", g_fx.out_dir);
    struct crl_file cf;
    load_checked(&cf, path, g_root, 20, now, now + DAY, NULL, 6);
    for (int p = 0; p < 3; p++)
        for (int i = 0; i < 2; i++)
            ck_assert(has_entry(cf.crl, serials[p][i]));
    crl_file_free(&cf);
    assert_dir_clean(g_fx.out_dir, 5);
}
END_TEST

static void assert_build_refused(struct fixture *fx, const struct signer *signer, X509 *root,
                                 int partition, const char *url, int64_t number, time_t this_update,
                                 time_t next_update, int code, const char *field)
{
    struct jerr err = {0};
    struct crl_info info = {.number = 4242};
    char path[8192];
    snprintf(path, sizeof(path), "%s/refused.crl", fx->out_dir);
    ck_assert_int_eq(crl_build(fx->st, root, signer, CA_SIGN, partition, url, number, this_update,
                               next_update, path, &info, &err),
                     -1);
    ck_assert_int_eq(err.code, code);
    ck_assert_str_eq(err.field, field);
    ck_assert_int_eq(info.number, 4242); /* outputs only on success */
    ck_assert(!file_exists(path));
    assert_dir_clean(fx->out_dir, 0);
}

START_TEST(test_build_refusals)
{
    struct jerr err = {0};
    time_t now = t_now();
    add_cert(g_fx.st, S_KEYCOMP, CA_SIGN, 0, now + DAY, CERT_REVOKED, REASON_KEY_COMPROMISE,
             now - DAY, 0);
    const char *url = "http://x.test/crl/sign.crl";
    assert_build_refused(&g_fx, g_signer, g_root, -1, url, 1, now, now, JERR_INVALID,
                         "next_update");
    assert_build_refused(&g_fx, g_signer, g_root, -1, url, 1, now, now - 1, JERR_INVALID,
                         "next_update");
    assert_build_refused(&g_fx, g_signer, g_root, -1, url, -1, now, now + DAY, JERR_INVALID,
                         "number");
    assert_build_refused(&g_fx, g_signer, g_root, -STORE_CA_GENERATIONS_MAX - 1, url, 1, now,
                         now + DAY, JERR_INVALID, "partition");
    /* RFC 5280 §5.2.5: no empty IDP; a URI is an IA5String. */
    assert_build_refused(&g_fx, g_signer, g_root, -1, "", 1, now, now + DAY, JERR_INVALID,
                         "idp_url");
    assert_build_refused(&g_fx, g_signer, g_root, -1, "http://x.test/a b.crl", 1, now, now + DAY,
                         JERR_INVALID, "idp_url");
    assert_build_refused(&g_fx, g_signer, g_root, -1, "http://x.test/\xe6\x97\xa5.crl", 1, now,
                         now + DAY, JERR_INVALID, "idp_url");
    /* A signer that is not the root's key. */
    struct signer *other = signer_generate(TEST_RSA2048, &err);
    ck_assert_msg(other != NULL, "%s", err.msg);
    assert_build_refused(&g_fx, other, g_root, -1, url, 1, now, now + DAY, JERR_INVALID, "signer");
    signer_free(other);

    /* A target directory that does not exist: nothing is created anywhere. */
    char path[8192];
    snprintf(path, sizeof(path), "%s/missing/sign.crl", g_fx.out_dir);
    jerr_clear(&err);
    ck_assert_int_eq(
        crl_build(g_fx.st, g_root, g_signer, CA_SIGN, -1, url, 1, now, now + DAY, path, NULL, &err),
        -1);
    ck_assert_int_eq(err.code, JERR_IO);
    assert_dir_clean(g_fx.out_dir, 0);
}
END_TEST

/* Makes writes past `bytes` fail (EFBIG) in this process, as a full disk would. */
static void limit_file_size(rlim_t bytes, struct rlimit *saved)
{
    struct rlimit lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, saved), 0);
    lim = *saved;
    lim.rlim_cur = bytes;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
}

START_TEST(test_failure_keeps_previous_crl)
{
    struct jerr err = {0};
    struct crl_info info;
    struct rlimit saved;
    time_t now = t_now();
    char serial[64], path[8192];
    for (int i = 0; i < 100; i++) {
        snprintf(serial, sizeof(serial), "3%031X", i + 1);
        add_cert(g_fx.st, serial, CA_SIGN, 0, now + DAY, CERT_REVOKED, REASON_KEY_COMPROMISE,
                 now - DAY, 0);
    }
    ck_assert_msg(build(&g_fx, "sign.crl", -1, NULL, 1, now, now + DAY, &info, &err) == 0, "%s",
                  err.msg);
    snprintf(path, sizeof(path), "%s/sign.crl", g_fx.out_dir);
    unsigned char *before = NULL, *after = NULL;
    size_t before_len = 0, after_len = 0;
    read_all(path, &before, &before_len);
    ck_assert_uint_eq(before_len, info.der_size);

    /* More revocations, then publishing fails. */
    for (int i = 100; i < 120; i++) {
        snprintf(serial, sizeof(serial), "3%031X", i + 1);
        add_cert(g_fx.st, serial, CA_SIGN, 0, now + DAY, CERT_REVOKED, REASON_SUPERSEDED, now - 60,
                 0);
    }
    signal(SIGXFSZ, SIG_IGN);

    /* In pass 1: the entries file cannot grow. */
    limit_file_size(1000, &saved);
    jerr_clear(&err);
    ck_assert_int_eq(build(&g_fx, "sign.crl", -1, NULL, 2, now + 60, now + DAY, &info, &err), -1);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
    ck_assert_int_eq(err.code, JERR_IO);
    ck_assert_msg(strstr(err.msg, "CRL entries") != NULL, "%s", err.msg);
    read_all(path, &after, &after_len);
    ck_assert_uint_eq(after_len, before_len);
    ck_assert_int_eq(memcmp(after, before, before_len), 0);
    free(after);
    assert_dir_clean(g_fx.out_dir, 1);

    /* In pass 2: the entries fit (120 entries < the old file minus its ~600 bytes of
     * headers, name, extensions and signature... plus 20 entries), the CRL does not. */
    limit_file_size(before_len + 20 * 50 - 200, &saved);
    jerr_clear(&err);
    ck_assert_int_eq(build(&g_fx, "sign.crl", -1, NULL, 2, now + 60, now + DAY, &info, &err), -1);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
    ck_assert_int_eq(err.code, JERR_IO);
    ck_assert_msg(strstr(err.msg, ".tmp-") != NULL, "not in pass 2: %s", err.msg);
    read_all(path, &after, &after_len);
    ck_assert_uint_eq(after_len, before_len);
    ck_assert_int_eq(memcmp(after, before, before_len), 0);
    free(after);
    assert_dir_clean(g_fx.out_dir, 1);

    /* With room again, the new CRL replaces the old one. */
    jerr_clear(&err);
    ck_assert_msg(build(&g_fx, "sign.crl", -1, NULL, 2, now + 60, now + DAY, &info, &err) == 0,
                  "%s", err.msg);
    ck_assert_uint_eq(info.entries, 120);
    struct crl_file cf;
    load_checked(&cf, path, g_root, 2, now + 60, now + DAY, NULL, 120);
    crl_file_free(&cf);
    assert_dir_clean(g_fx.out_dir, 1);
    free(before);
}
END_TEST

START_TEST(test_verify_file_refusals)
{
    struct jerr err = {0};
    struct crl_info info = {.number = 99};
    time_t now = t_now();
    char path[8192], bad[8192];
    add_cert(g_fx.st, S_KEYCOMP, CA_SIGN, 0, now + DAY, CERT_REVOKED, REASON_KEY_COMPROMISE,
             now - DAY, 0);
    ck_assert_msg(build(&g_fx, "sign.crl", -1, NULL, 5, now, now + DAY, NULL, &err) == 0, "%s",
                  err.msg);
    snprintf(path, sizeof(path), "%s/sign.crl", g_fx.out_dir);
    snprintf(bad, sizeof(bad), "%s/bad.crl", g_fx.out_dir);
    unsigned char *der = NULL;
    size_t len = 0;
    read_all(path, &der, &len);

    /* Another key under the same name: the signature does not verify. */
    struct signer *other = signer_generate(TEST_RSA2048, &err);
    ck_assert_ptr_nonnull(other);
    X509 *impostor = make_root(other, "JPKI for digital signature");
    ck_assert_int_eq(crl_verify_file(path, impostor, &info, &err), -1);
    ck_assert_int_eq(err.code, JERR_CRYPTO);
    ck_assert_str_eq(err.field, "signature");
    ck_assert_int_eq(info.number, 99);
    X509_free(impostor);
    signer_free(other);

    /* The right key under another name: not this root's CRL. */
    X509 *renamed = make_root(g_signer, "JPKI for user authentication");
    jerr_clear(&err);
    ck_assert_int_eq(crl_verify_file(path, renamed, &info, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "issuer");
    X509_free(renamed);

    /* A trailing byte. */
    unsigned char *longer = malloc(len + 1);
    memcpy(longer, der, len);
    longer[len] = 0;
    ck_assert_int_eq(testutil_write_file(bad, longer, len + 1), 0);
    jerr_clear(&err);
    ck_assert_int_eq(crl_verify_file(bad, g_root, &info, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "path");
    free(longer);

    /* Truncated. */
    ck_assert_int_eq(testutil_write_file(bad, der, len - 1), 0);
    jerr_clear(&err);
    ck_assert_int_eq(crl_verify_file(bad, g_root, &info, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);

    /* One bit of the signed part flipped (the last byte of the nextUpdate's seconds is in the
     * TBS; the entry's serial's last octet too). */
    unsigned char *flipped = malloc(len);
    memcpy(flipped, der, len);
    flipped[len / 3] ^= 0x01;
    ck_assert_int_eq(testutil_write_file(bad, flipped, len), 0);
    jerr_clear(&err);
    ck_assert_int_eq(crl_verify_file(bad, g_root, &info, &err), -1);
    ck_assert(err.code == JERR_CRYPTO || err.code == JERR_INVALID);
    free(flipped);

    /* Missing and empty files. */
    snprintf(bad, sizeof(bad), "%s/none.crl", g_fx.out_dir);
    jerr_clear(&err);
    ck_assert_int_eq(crl_verify_file(bad, g_root, &info, &err), -1);
    ck_assert_int_eq(err.code, JERR_IO);
    ck_assert_int_eq(testutil_write_file(bad, "", 0), 0);
    jerr_clear(&err);
    ck_assert_int_eq(crl_verify_file(bad, g_root, &info, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_int_eq(info.number, 99);

    /* And the good file passes. */
    jerr_clear(&err);
    ck_assert_msg(crl_verify_file(path, g_root, &info, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(info.number, 5);
    ck_assert_uint_eq(info.entries, 1);
    free(der);
}
END_TEST

/* Every single-byte change and every truncation of a CRL is refused, as OpenSSL's own parser
 * and verifier refuse it: each byte is signed, or is the signature, or frames them. */
START_TEST(test_verify_file_every_byte)
{
    struct jerr err = {0};
    time_t now = t_now();
    char path[8192], bad[8192];
    add_cert(g_fx.st, S_KEYCOMP, CA_SIGN, 0, now + DAY, CERT_REVOKED, REASON_KEY_COMPROMISE,
             now - DAY, now - 2 * DAY);
    add_cert(g_fx.st, S_HOLD, CA_SIGN, 0, now + DAY, CERT_HOLD, REASON_CERTIFICATE_HOLD, now - 60,
             0);
    ck_assert_msg(build(&g_fx, "sign.crl", -1, "http://x.test/crl/sign.crl", 5, now, now + DAY,
                        NULL, &err) == 0,
                  "%s", err.msg);
    snprintf(path, sizeof(path), "%s/sign.crl", g_fx.out_dir);
    snprintf(bad, sizeof(bad), "%s/bad.crl", g_fx.out_dir);
    unsigned char *der = NULL;
    size_t len = 0;
    read_all(path, &der, &len);
    unsigned char *copy = malloc(len + 1);
    ck_assert_ptr_nonnull(copy);
    EVP_PKEY *key = X509_get0_pubkey(g_root);
    int outer_alg_changes = 0;
    const unsigned char *q = der;
    X509_CRL *orig = d2i_X509_CRL(NULL, &q, (long)len);
    ck_assert_ptr_nonnull(orig);
    const X509_ALGOR *orig_alg = NULL; /* = the TBS's signature field */
    X509_CRL_get0_signature(orig, NULL, &orig_alg);

    for (size_t i = 0; i < len; i++) {
        static const unsigned char flips[] = {0x01, 0x80, 0xff};
        for (size_t f = 0; f < sizeof(flips); f++) {
            memcpy(copy, der, len);
            copy[i] ^= flips[f];
            ck_assert_int_eq(testutil_write_file(bad, copy, len), 0);
            struct crl_info info = {.number = 99};
            jerr_clear(&err);
            ck_assert_msg(crl_verify_file(bad, g_root, &info, &err) == -1,
                          "byte %zu ^ %02x accepted", i, flips[f]);
            ck_assert(err.code == JERR_INVALID || err.code == JERR_CRYPTO);
            ck_assert_int_eq(info.number, 99);
            const unsigned char *p = copy;
            X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);
            /* OpenSSL refuses it too — except a changed outer signatureAlgorithm, which
             * X509_CRL_verify (unlike X509_verify) does not compare with the TBS's; RFC 5280
             * §5.1.1.2 requires them equal, and crl_verify_file does. */
            if (crl != NULL && p == copy + len && X509_CRL_verify(crl, key) == 1) {
                const X509_ALGOR *outer = NULL;
                X509_CRL_get0_signature(crl, NULL, &outer);
                ck_assert_msg(X509_ALGOR_cmp(outer, orig_alg) != 0,
                              "OpenSSL accepts byte %zu ^ %02x", i, flips[f]);
                outer_alg_changes++;
            }
            X509_CRL_free(crl);
        }
    }
    ck_assert_int_gt(outer_alg_changes, 0); /* that case was met, and refused above */
    X509_CRL_free(orig);
    for (size_t cut = 0; cut < len; cut++) {
        ck_assert_int_eq(testutil_write_file(bad, der, cut), 0);
        jerr_clear(&err);
        ck_assert_msg(crl_verify_file(bad, g_root, NULL, &err) == -1, "%zu bytes accepted", cut);
        ck_assert_int_eq(err.code, JERR_INVALID);
    }
    ERR_clear_error();
    free(copy);
    free(der);
}
END_TEST

/* Crafted CRLs, signed through the signer (signer_sign_bytes) so that only their structure
 * is wrong: the TBSCertList of `der` with `insert` placed before its crlExtensions, and
 * `extra` appended inside the CertificateList after the signature. */
static void write_crafted(const char *path, const unsigned char *der, size_t len,
                          const unsigned char *insert, size_t insert_len,
                          const unsigned char *extra, size_t extra_len)
{
    struct jerr err = {0};
    const unsigned char *p = der;
    long clen = 0;
    int tag = 0, xclass = 0;
    ck_assert_int_eq(ASN1_get_object(&p, &clen, &tag, &xclass, (long)len), V_ASN1_CONSTRUCTED);
    ck_assert_int_eq(ASN1_get_object(&p, &clen, &tag, &xclass, (long)(der + len - p)),
                     V_ASN1_CONSTRUCTED);
    const unsigned char *content = p, *end = p + clen, *exts = NULL;
    while (p < end) { /* walk to the [0] crlExtensions */
        const unsigned char *at = p;
        int ret = ASN1_get_object(&p, &clen, &tag, &xclass, (long)(end - p));
        ck_assert_int_eq(ret & 0x80, 0);
        if (xclass == V_ASN1_CONTEXT_SPECIFIC && tag == 0) {
            exts = at;
            break;
        }
        p += clen;
    }
    ck_assert_ptr_nonnull(exts);

    size_t body_len = (size_t)(end - content) + insert_len;
    int tbs_len = ASN1_object_size(1, (int)body_len, V_ASN1_SEQUENCE);
    unsigned char *tbs = malloc((size_t)tbs_len);
    unsigned char *q = tbs;
    ASN1_put_object(&q, 1, (int)body_len, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    memcpy(q, content, (size_t)(exts - content));
    q += exts - content;
    if (insert_len > 0)
        memcpy(q, insert, insert_len);
    q += insert_len;
    memcpy(q, exts, (size_t)(end - exts));
    q += end - exts;
    ck_assert_int_eq(q - tbs, tbs_len);

    unsigned char *sig = NULL;
    size_t sig_len = 0;
    ck_assert_int_eq(signer_sign_bytes(g_signer, tbs, (size_t)tbs_len, &sig, &sig_len, &err), 0);
    ASN1_BIT_STRING *bits = ASN1_BIT_STRING_new();
    ck_assert_int_eq(ASN1_BIT_STRING_set(bits, sig, (int)sig_len), 1);
    bits->flags = ASN1_STRING_FLAG_BITS_LEFT;
    unsigned char *bits_der = NULL;
    int bits_len = i2d_ASN1_BIT_STRING(bits, &bits_der);
    ck_assert_int_gt(bits_len, 0);
    const unsigned char *alg = NULL;
    size_t alg_len = 0;
    ck_assert_int_eq(signer_algorithm_der(g_signer, &alg, &alg_len, &err), 0);

    size_t crl_body = (size_t)tbs_len + alg_len + (size_t)bits_len + extra_len;
    int crl_len = ASN1_object_size(1, (int)crl_body, V_ASN1_SEQUENCE);
    unsigned char *crl = malloc((size_t)crl_len);
    q = crl;
    ASN1_put_object(&q, 1, (int)crl_body, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    memcpy(q, tbs, (size_t)tbs_len);
    q += tbs_len;
    memcpy(q, alg, alg_len);
    q += alg_len;
    memcpy(q, bits_der, (size_t)bits_len);
    q += bits_len;
    if (extra_len > 0)
        memcpy(q, extra, extra_len);
    q += extra_len;
    ck_assert_int_eq(q - crl, crl_len);
    ck_assert_int_eq(testutil_write_file(path, crl, (size_t)crl_len), 0);
    free(crl);
    OPENSSL_free(bits_der);
    ASN1_BIT_STRING_free(bits);
    OPENSSL_free(sig);
    free(tbs);
}

START_TEST(test_verify_file_structure)
{
    struct jerr err = {0};
    struct crl_info info;
    time_t now = t_now();
    char path[8192], bad[8192];
    ck_assert_msg(build(&g_fx, "empty.crl", -1, NULL, 9, now, now + DAY, NULL, &err) == 0, "%s",
                  err.msg);
    snprintf(path, sizeof(path), "%s/empty.crl", g_fx.out_dir);
    snprintf(bad, sizeof(bad), "%s/bad.crl", g_fx.out_dir);
    unsigned char *der = NULL;
    size_t len = 0;
    read_all(path, &der, &len);

    /* Crafting changes nothing by itself: the same bytes come out, and they pass. */
    write_crafted(bad, der, len, NULL, 0, NULL, 0);
    unsigned char *same = NULL;
    size_t same_len = 0;
    read_all(bad, &same, &same_len);
    ck_assert_uint_eq(same_len, len);
    ck_assert_int_eq(memcmp(same, der, len), 0);
    free(same);
    ck_assert_msg(crl_verify_file(bad, g_root, &info, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(info.number, 9);

    /* RFC 5280 §5.1.2.6: an empty revokedCertificates list must be absent. OpenSSL takes it
     * (the signature is good); crl_verify_file does not. */
    static const unsigned char empty_seq[] = {0x30, 0x00};
    write_crafted(bad, der, len, empty_seq, sizeof(empty_seq), NULL, 0);
    unsigned char *crafted = NULL;
    size_t crafted_len = 0;
    read_all(bad, &crafted, &crafted_len);
    const unsigned char *p = crafted;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)crafted_len);
    ck_assert_ptr_nonnull(crl);
    ck_assert_int_eq(X509_CRL_verify(crl, X509_get0_pubkey(g_root)), 1);
    X509_CRL_free(crl);
    free(crafted);
    jerr_clear(&err);
    ck_assert_int_eq(crl_verify_file(bad, g_root, &info, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "empty revokedCertificates"));

    /* Anything after the signature inside the CertificateList. */
    static const unsigned char null_value[] = {0x05, 0x00};
    write_crafted(bad, der, len, NULL, 0, null_value, sizeof(null_value));
    jerr_clear(&err);
    ck_assert_int_eq(crl_verify_file(bad, g_root, &info, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "path");

    /* An unknown element between the entries and the extensions. */
    write_crafted(bad, der, len, null_value, sizeof(null_value), NULL, 0);
    jerr_clear(&err);
    ck_assert_int_eq(crl_verify_file(bad, g_root, &info, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    free(der);
}
END_TEST

/* CRLs made by OpenSSL's own X509_CRL_sign: crl_verify_file reads what any encoder writes, and
 * refuses what jpki never publishes (v1, no nextUpdate, no cRLNumber). */
static X509_CRL *openssl_crl(X509 *root, EVP_PKEY *key, bool v2, bool next_update, int64_t number,
                             int entries)
{
    X509_CRL *crl = X509_CRL_new();
    ck_assert_ptr_nonnull(crl);
    if (v2)
        ck_assert_int_eq(X509_CRL_set_version(crl, X509_CRL_VERSION_2), 1);
    ck_assert_int_eq(X509_CRL_set_issuer_name(crl, X509_get_subject_name(root)), 1);
    ASN1_TIME *t = ASN1_TIME_set(NULL, t_now());
    ck_assert_int_eq(X509_CRL_set1_lastUpdate(crl, t), 1);
    if (next_update) {
        ck_assert_ptr_nonnull(ASN1_TIME_set(t, t_now() + DAY));
        ck_assert_int_eq(X509_CRL_set1_nextUpdate(crl, t), 1);
    }
    for (int i = 0; i < entries; i++) {
        X509_REVOKED *rev = X509_REVOKED_new();
        ASN1_INTEGER *serial = ASN1_INTEGER_new();
        ck_assert_int_eq(ASN1_INTEGER_set(serial, 1000 + i), 1);
        ck_assert_int_eq(X509_REVOKED_set_serialNumber(rev, serial), 1);
        ck_assert_ptr_nonnull(ASN1_TIME_set(t, t_now() - i));
        ck_assert_int_eq(X509_REVOKED_set_revocationDate(rev, t), 1);
        ck_assert_int_eq(X509_CRL_add0_revoked(crl, rev), 1);
        ASN1_INTEGER_free(serial);
    }
    if (number >= 0) {
        ASN1_INTEGER *n = ASN1_INTEGER_new();
        ck_assert_int_eq(ASN1_INTEGER_set_int64(n, number), 1);
        ck_assert_int_eq(X509_CRL_add1_ext_i2d(crl, NID_crl_number, n, 0, 0), 1);
        ASN1_INTEGER_free(n);
    }
    ASN1_TIME_free(t);
    ck_assert_int_gt(X509_CRL_sign(crl, key, EVP_sha256()), 0);
    return crl;
}

static void write_crl(const char *path, X509_CRL *crl)
{
    unsigned char *der = NULL;
    int len = i2d_X509_CRL(crl, &der);
    testutil_write_der(path, der, len);
    X509_CRL_free(crl);
}

START_TEST(test_verify_file_openssl_crls)
{
    struct jerr err = {0};
    char *dir = testutil_mkdtemp();
    char path[4096];
    ck_assert_ptr_nonnull(dir);
    snprintf(path, sizeof(path), "%s/o.crl", dir);
    EVP_PKEY *key = keygen_rsa(2048, &err);
    ck_assert_msg(key != NULL, "%s", err.msg);
    /* A root signed by OpenSSL with the key in hand. */
    X509 *root = X509_new();
    X509_NAME *name = X509_get_subject_name(root);
    ck_assert_int_eq(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                (const unsigned char *)"OpenSSL Root", -1, -1, 0),
                     1);
    ck_assert_int_eq(X509_set_issuer_name(root, name), 1);
    ck_assert_int_eq(X509_set_pubkey(root, key), 1);
    ck_assert_ptr_nonnull(ASN1_TIME_set(X509_getm_notBefore(root), t_now() - DAY));
    ck_assert_ptr_nonnull(ASN1_TIME_set(X509_getm_notAfter(root), t_now() + 365 * DAY));
    ck_assert_int_gt(X509_sign(root, key, EVP_sha256()), 0);

    struct crl_info info;
    write_crl(path, openssl_crl(root, key, true, true, 77, 3));
    ck_assert_msg(crl_verify_file(path, root, &info, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(info.number, 77);
    ck_assert_uint_eq(info.entries, 3);
    ck_assert_int_eq(info.this_update, t_now());
    ck_assert_int_eq(info.next_update, t_now() + DAY);

    write_crl(path, openssl_crl(root, key, true, true, 0, 0));
    ck_assert_msg(crl_verify_file(path, root, &info, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(info.number, 0);
    ck_assert_uint_eq(info.entries, 0);

    /* RFC 5280 §5.1.2.1: without extensions OpenSSL writes v1 (no version field). */
    write_crl(path, openssl_crl(root, key, false, true, -1, 1));
    ck_assert_int_eq(crl_verify_file(path, root, &info, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "version");

    write_crl(path, openssl_crl(root, key, true, false, 3, 1));
    jerr_clear(&err);
    ck_assert_int_eq(crl_verify_file(path, root, &info, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "next_update");

    /* v2 with an entry extension, but no cRLNumber (RFC 5280 §5.2.3: MUST). */
    X509_CRL *crl = openssl_crl(root, key, true, true, -1, 1);
    X509_REVOKED *rev = sk_X509_REVOKED_value(X509_CRL_get_REVOKED(crl), 0);
    ASN1_ENUMERATED *code = ASN1_ENUMERATED_new();
    ck_assert_int_eq(ASN1_ENUMERATED_set(code, 1), 1);
    ck_assert_int_eq(X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, code, 0, 0), 1);
    ASN1_ENUMERATED_free(code);
    ck_assert_int_gt(X509_CRL_sign(crl, key, EVP_sha256()), 0);
    write_crl(path, crl);
    jerr_clear(&err);
    ck_assert_int_eq(crl_verify_file(path, root, &info, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "number");

    X509_free(root);
    EVP_PKEY_free(key);
    testutil_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- crl_publish over a real instance ---- */

struct instance {
    char *dir;
    struct jpki_config *cfg;
    struct pki *pki;
    struct store *st;
};

static void instance_open(struct instance *in, int sign_partitions)
{
    struct jerr err = {0};
    char yaml[8192];
    memset(in, 0, sizeof(*in));
    in->dir = testutil_mkdtemp();
    ck_assert_ptr_nonnull(in->dir);
    snprintf(yaml, sizeof(yaml),
             "data_dir: %s/inst\n"
             "public_url: http://crl.example.test\n"
             "ca:\n"
             "  sign:\n"
             "    crl_partitions: %d\n",
             in->dir, sign_partitions);
    in->cfg = config_load_string("test.yaml", yaml, strlen(yaml), NULL, 0, &err);
    ck_assert_msg(in->cfg != NULL, "config: %s", err.msg);
    struct pki_init_result res;
    ck_assert_msg(pki_init(in->cfg, PASS, &res, &err) == 0, "init: %s", err.msg);
    in->pki = pki_open(in->cfg, PASS, &err);
    ck_assert_msg(in->pki != NULL, "open: %s", err.msg);
    in->st = pki_store_open(in->pki, &err);
    ck_assert_msg(in->st != NULL, "%s", err.msg);
    add_holder(in->st);
}

static void instance_close(struct instance *in)
{
    store_close(in->st);
    pki_free(in->pki);
    config_free(in->cfg);
    testutil_rmtree(in->dir);
    free(in->dir);
}

START_TEST(test_publish_single_partition)
{
    struct instance in;
    struct jerr err = {0};
    time_t now = t_now();
    char path[4096], dir[4096], url[4096];
    instance_open(&in, 1);
    X509 *root = pki_get0_root(in.pki, CA_SIGN);
    add_cert(in.st, S_KEYCOMP, CA_SIGN, 0, now + 100 * DAY, CERT_REVOKED, REASON_KEY_COMPROMISE,
             now - DAY, 0);
    add_cert(in.st, S_AUTH, CA_AUTH, 0, now + 100 * DAY, CERT_HOLD, REASON_CERTIFICATE_HOLD,
             now - DAY, 0);

    ck_assert_msg(crl_publish(in.pki, in.st, CA_SIGN, now, NULL, &err) == 0, "%s", err.msg);
    ck_assert_ptr_nonnull(crl_path(in.cfg, CA_SIGN, -1, path, sizeof(path)));
    ck_assert_ptr_nonnull(config_path(in.cfg, "crl/sign.crl", dir, sizeof(dir)));
    ck_assert_str_eq(path, dir);
    ck_assert_ptr_nonnull(pki_crl_url(in.pki, CA_SIGN, 0, url, sizeof(url)));
    ck_assert_str_eq(url, "http://crl.example.test/crl/sign.crl");
    int next = in.cfg->crl_next_update_s;
    ck_assert_int_eq(next, 86400);
    struct crl_file cf;
    /* One partition: the complete CRL is what the certificates' CDP names, and carries no
     * IDP (full scope, RFC 5280 §6.3.3; NSS refuses a critical IDP). */
    load_checked(&cf, path, root, 1, now, now + next, NULL, 1);
    assert_entry(cf.crl, S_KEYCOMP, now - DAY, REASON_KEY_COMPROMISE, 0);
    ck_assert(!has_entry(cf.crl, S_AUTH));
    crl_file_free(&cf);
    ck_assert(!store_crl_is_stale(in.st, CA_SIGN));

    /* The registry changes; the next CRL carries a higher number. */
    ck_assert_int_eq(store_cert_set_status(in.st, S_KEYCOMP, CERT_REVOKED, REASON_KEY_COMPROMISE,
                                           now - DAY, now - 2 * DAY, &err),
                     0);
    ck_assert(store_crl_is_stale(in.st, CA_SIGN));
    ck_assert_msg(crl_publish(in.pki, in.st, CA_SIGN, now + 3600, NULL, &err) == 0, "%s", err.msg);
    load_checked(&cf, path, root, 2, now + 3600, now + 3600 + next, NULL, 1);
    assert_entry(cf.crl, S_KEYCOMP, now - DAY, REASON_KEY_COMPROMISE, now - 2 * DAY);
    crl_file_free(&cf);
    ck_assert(!store_crl_is_stale(in.st, CA_SIGN));

    /* Numbers survive reopening the registry. */
    store_close(in.st);
    in.st = pki_store_open(in.pki, &err);
    ck_assert_ptr_nonnull(in.st);
    ck_assert_msg(crl_publish(in.pki, in.st, CA_SIGN, now + 7200, NULL, &err) == 0, "%s", err.msg);
    load_checked(&cf, path, root, 3, now + 7200, now + 7200 + next, NULL, 1);
    crl_file_free(&cf);

    /* The other CA: its own file, its own numbers, its own root. */
    ck_assert_msg(crl_publish(in.pki, in.st, CA_AUTH, now, NULL, &err) == 0, "%s", err.msg);
    ck_assert_ptr_nonnull(crl_path(in.cfg, CA_AUTH, -1, path, sizeof(path)));
    ck_assert_ptr_nonnull(pki_crl_url(in.pki, CA_AUTH, 0, url, sizeof(url)));
    ck_assert_str_eq(url, "http://crl.example.test/crl/auth.crl");
    load_checked(&cf, path, pki_get0_root(in.pki, CA_AUTH), 1, now, now + next, NULL, 1);
    assert_entry(cf.crl, S_AUTH, now - DAY, REASON_CERTIFICATE_HOLD, 0);
    crl_file_free(&cf);

    /* crl/ holds the two CRLs and the relying-party CA's (made at init), nothing else. */
    ck_assert_ptr_nonnull(config_path(in.cfg, "crl", dir, sizeof(dir)));
    assert_dir_clean(dir, 3);
    instance_close(&in);
}
END_TEST

START_TEST(test_publish_partitions)
{
    struct instance in;
    struct jerr err = {0};
    time_t now = t_now();
    char path[4096], dir[4096], url[4096], serial[64];
    instance_open(&in, 3);
    X509 *root = pki_get0_root(in.pki, CA_SIGN);
    ck_assert_int_eq(pki_crl_partitions(in.pki, CA_SIGN), 3);
    /* Partition p gets p + 1 revoked certificates. */
    for (int p = 0; p < 3; p++)
        for (int i = 0; i <= p; i++) {
            snprintf(serial, sizeof(serial), "4%d%030X", p, i + 1);
            add_cert(in.st, serial, CA_SIGN, p, now + 100 * DAY, CERT_REVOKED,
                     REASON_AFFILIATION_CHANGED, now - 1000 * (p + 1) - i, 0);
        }

    for (int round = 1; round <= 2; round++) {
        ck_assert_msg(crl_publish(in.pki, in.st, CA_SIGN, now + round, NULL, &err) == 0, "%s",
                      err.msg);
        for (int p = 0; p < 3; p++) {
            ck_assert_ptr_nonnull(crl_path(in.cfg, CA_SIGN, p, path, sizeof(path)));
            snprintf(serial, sizeof(serial), "crl/sign/%d.crl", p);
            ck_assert_ptr_nonnull(config_path(in.cfg, serial, dir, sizeof(dir)));
            ck_assert_str_eq(path, dir);
            ck_assert_ptr_nonnull(pki_crl_url(in.pki, CA_SIGN, p, url, sizeof(url)));
            snprintf(serial, sizeof(serial), "http://crl.example.test/crl/sign/%d.crl", p);
            ck_assert_str_eq(url, serial);
            struct crl_file cf;
            load_checked(&cf, path, root, round, now + round, now + round + 86400, url,
                         (size_t)p + 1);
            for (int q = 0; q < 3; q++)
                for (int i = 0; i <= q; i++) {
                    snprintf(serial, sizeof(serial), "4%d%030X", q, i + 1);
                    ck_assert_int_eq(has_entry(cf.crl, serial), p == q);
                }
            crl_file_free(&cf);
        }
        /* The complete CRL: all six, no IDP (RFC 5280 §5.2.5 forbids an empty one). */
        ck_assert_ptr_nonnull(crl_path(in.cfg, CA_SIGN, -1, path, sizeof(path)));
        struct crl_file cf;
        load_checked(&cf, path, root, round, now + round, now + round + 86400, NULL, 6);
        assert_entry(cf.crl, "42000000000000000000000000000003", now - 3002,
                     REASON_AFFILIATION_CHANGED, 0);
        crl_file_free(&cf);
    }
    ck_assert_ptr_nonnull(config_path(in.cfg, "crl", dir, sizeof(dir)));
    assert_dir_clean(dir, 3); /* sign.crl, sign/ and the relying-party CA's rp.crl */
    ck_assert_ptr_nonnull(config_path(in.cfg, "crl/sign", dir, sizeof(dir)));
    assert_dir_clean(dir, 3);
    instance_close(&in);
}
END_TEST

START_TEST(test_publish_failure_keeps_previous)
{
    struct instance in;
    struct jerr err = {0};
    time_t now = t_now();
    char path[4096], dir[4096];
    instance_open(&in, 2);
    add_cert(in.st, S_KEYCOMP, CA_SIGN, 1, now + 100 * DAY, CERT_REVOKED, REASON_KEY_COMPROMISE,
             now - DAY, 0);
    ck_assert_msg(crl_publish(in.pki, in.st, CA_SIGN, now, NULL, &err) == 0, "%s", err.msg);
    ck_assert_ptr_nonnull(crl_path(in.cfg, CA_SIGN, -1, path, sizeof(path)));
    unsigned char *before = NULL, *after = NULL;
    size_t before_len = 0, after_len = 0;
    read_all(path, &before, &before_len);

    /* crl/sign/ replaced by a file: the partitions cannot be written, so publishing stops
     * before the complete CRL, which stays as it was. */
    ck_assert_ptr_nonnull(config_path(in.cfg, "crl/sign", dir, sizeof(dir)));
    testutil_rmtree(dir);
    ck_assert_int_eq(testutil_write_file(dir, "x", 1), 0);
    ck_assert_int_eq(crl_publish(in.pki, in.st, CA_SIGN, now + 60, NULL, &err), -1);
    ck_assert_int_eq(err.code, JERR_IO);
    read_all(path, &after, &after_len);
    ck_assert_uint_eq(after_len, before_len);
    ck_assert_int_eq(memcmp(after, before, before_len), 0);
    free(after);
    free(before);
    ck_assert_ptr_nonnull(config_path(in.cfg, "crl", dir, sizeof(dir)));
    assert_dir_clean(dir, 3); /* sign.crl, sign and rp.crl */
    instance_close(&in);
}
END_TEST

/* Delta CRLs (RFC 5280 §5.2.4): based on the oldest valid complete CRL, numbered from its
 * series, listing what changed since (removeFromCRL for a release), and refused without a
 * base. */
START_TEST(test_publish_delta)
{
    struct instance in;
    struct jerr err = {0};
    time_t now = t_now();
    char path[4096], url[256];
    struct crl_info info;
    int64_t base = 0, seq = 0;
    instance_open(&in, 1);
    X509 *root = pki_get0_root(in.pki, CA_SIGN);
    ck_assert_int_eq(in.cfg->crl_delta_period_s, 300);
    add_cert(in.st, S_KEYCOMP, CA_SIGN, 0, now + 100 * DAY, CERT_REVOKED, REASON_KEY_COMPROMISE,
             now - DAY, 0);
    add_cert(in.st, S_HOLD, CA_SIGN, 0, now + 100 * DAY, CERT_GOOD, REASON_NONE, 0, 0);
    add_cert(in.st, S_AFFIL, CA_SIGN, 0, now + 100 * DAY, CERT_GOOD, REASON_NONE, 0, 0);

    /* No complete CRL yet: nothing to base a delta on. */
    ck_assert_int_eq(crl_publish_delta(in.pki, in.st, CA_SIGN, now, NULL, &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    jerr_clear(&err);

    ck_assert_msg(store_cert_set_status(in.st, S_HOLD, CERT_HOLD, REASON_CERTIFICATE_HOLD, now - 10,
                                        0, &err) == 0,
                  "%s", err.msg);
    ck_assert_msg(crl_publish(in.pki, in.st, CA_SIGN, now, NULL, &err) == 0, "%s", err.msg);
    ck_assert_ptr_nonnull(crl_path(in.cfg, CA_SIGN, -1, path, sizeof(path)));
    struct crl_file cf;
    load_checked(&cf, path, root, 1, now, now + 86400, NULL, 2);
    CRL_DIST_POINTS *fresh = X509_CRL_get_ext_d2i(cf.crl, NID_freshest_crl, NULL, NULL);
    ck_assert_ptr_nonnull(fresh);
    GENERAL_NAME *gn =
        sk_GENERAL_NAME_value(sk_DIST_POINT_value(fresh, 0)->distpoint->name.fullname, 0);
    ck_assert_str_eq((const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier),
                     "http://crl.example.test/crl/sign-delta.crl");
    CRL_DIST_POINTS_free(fresh);
    crl_file_free(&cf);

    /* Right after it: an empty delta over #1, numbered #2. */
    ck_assert_msg(crl_publish_delta(in.pki, in.st, CA_SIGN, now, &info, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(info.number, 2);
    ck_assert_uint_eq(info.entries, 0);
    ck_assert_int_eq(info.next_update, now + 600); /* 2 × crl.delta_period_s */
    ck_assert_ptr_nonnull(crl_path(in.cfg, CA_SIGN, CRL_DELTA, path, sizeof(path)));
    ck_assert(strstr(path, "/crl/sign-delta.crl") != NULL);

    /* A revocation, a release: both in the next delta, still over #1 — also after a new
     * complete CRL #4 (the oldest valid one stays the base). */
    ck_assert_int_eq(store_cert_set_status(in.st, S_AFFIL, CERT_REVOKED, REASON_AFFILIATION_CHANGED,
                                           now + 5, 0, &err),
                     0);
    ck_assert_int_eq(store_cert_set_status(in.st, S_HOLD, CERT_GOOD, REASON_NONE, now + 6, 0, &err),
                     0);
    ck_assert_msg(crl_publish_delta(in.pki, in.st, CA_SIGN, now + 10, &info, &err) == 0, "%s",
                  err.msg);
    ck_assert_int_eq(info.number, 3);
    ck_assert_msg(crl_publish(in.pki, in.st, CA_SIGN, now + 20, &info, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(info.number, 4);
    ck_assert_msg(crl_publish_delta(in.pki, in.st, CA_SIGN, now + 30, &info, &err) == 0, "%s",
                  err.msg);
    ck_assert_int_eq(info.number, 5);
    ck_assert_uint_eq(info.entries, 2);
    ck_assert_ptr_nonnull(crl_path(in.cfg, CA_SIGN, CRL_DELTA, path, sizeof(path)));
    unsigned char *der = NULL;
    size_t len = 0;
    read_all(path, &der, &len);
    const unsigned char *p = der;
    X509_CRL *delta = d2i_X509_CRL(NULL, &p, (long)len);
    ck_assert_ptr_nonnull(delta);
    ck_assert_int_eq(X509_CRL_verify(delta, X509_get0_pubkey(root)), 1);
    int crit = -2;
    ASN1_INTEGER *ind = X509_CRL_get_ext_d2i(delta, NID_delta_crl, &crit, NULL);
    ck_assert_ptr_nonnull(ind);
    ck_assert_int_eq(crit, 1);
    ck_assert_int_eq(ASN1_INTEGER_get(ind), 1);
    ASN1_INTEGER_free(ind);
    ck_assert_int_eq(X509_CRL_get_ext_by_NID(delta, NID_freshest_crl, -1), -1);
    assert_entry(delta, S_AFFIL, now + 5, REASON_AFFILIATION_CHANGED, 0);
    /* X509_CRL_get0_by_serial answers 2 for removeFromCRL: look at the entry itself. */
    ASN1_INTEGER *held = serial_of(S_HOLD);
    X509_REVOKED *removed = NULL;
    ck_assert_int_eq(X509_CRL_get0_by_serial(delta, &removed, held), 2);
    ASN1_INTEGER_free(held);
    ck_assert_int_eq(time_of(X509_REVOKED_get0_revocationDate(removed)), now + 6);
    ck_assert(!has_entry(delta, S_KEYCOMP));
    X509_CRL_free(delta);
    free(der);
    /* The complete CRL stays fresh: a delta does not clear or set the stale mark. */
    ck_assert(!store_crl_is_stale(in.st, CA_SIGN));

    /* Once #1 has expired, #4 is the base. */
    ck_assert_int_eq(store_crl_delta_base(in.st, CA_SIGN, now + 86400, &base, &seq, &err), 0);
    ck_assert_int_eq(base, 4);
    ck_assert_int_eq(store_crl_delta_base(in.st, CA_SIGN, now + 86420, &base, &seq, &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    jerr_clear(&err);

    /* A delta whose base is not below its number, or with a partition, is refused. */
    const struct crl_scope bad = {.partition = -1, .delta_base = 7};
    ck_assert_int_eq(crl_build_scoped(in.st, root, pki_get0_ca_signer(in.pki, CA_SIGN), CA_SIGN,
                                      &bad, 7, now, now + 60, path, NULL, &err),
                     -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "delta_base");
    /* The ARL: its own series, onlyContainsCACerts, no entries. */
    jerr_clear(&err);
    ck_assert_msg(crl_publish_arl(in.pki, in.st, CA_SIGN, now, &info, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(info.number, 1);
    ck_assert_uint_eq(info.entries, 0);
    ck_assert_ptr_nonnull(crl_path(in.cfg, CA_SIGN, CRL_ARL, path, sizeof(path)));
    ck_assert(strstr(path, "/crl/sign-arl.crl") != NULL);
    read_all(path, &der, &len);
    p = der;
    X509_CRL *arl = d2i_X509_CRL(NULL, &p, (long)len);
    ck_assert_ptr_nonnull(arl);
    ck_assert_int_eq(X509_CRL_verify(arl, X509_get0_pubkey(root)), 1);
    ISSUING_DIST_POINT *idp =
        X509_CRL_get_ext_d2i(arl, NID_issuing_distribution_point, &crit, NULL);
    ck_assert_ptr_nonnull(idp);
    ck_assert_int_eq(crit, 1);
    ck_assert_int_ne(idp->onlyCA, 0);
    ck_assert_ptr_null(idp->distpoint);
    ISSUING_DIST_POINT_free(idp);
    ck_assert_ptr_null(X509_CRL_get_REVOKED(arl));
    X509_CRL_free(arl);
    free(der);
    ck_assert_ptr_nonnull(crl_delta_url("http://h/x", url, sizeof(url)));
    ck_assert_str_eq(url, "http://h/x-delta.crl");
    instance_close(&in);
}
END_TEST

/* ---- Scale ---- */

static long rss_now_kb(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

#define SCALE_ENTRIES 200000

START_TEST(test_scale_200k)
{
    struct jerr err = {0};
    struct crl_info info;
    struct timespec t0;
    time_t now = t_now();
    char serial[64];

    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(store_begin(g_fx.st, &err), 0);
    static const int reasons[] = {REASON_KEY_COMPROMISE,   REASON_AFFILIATION_CHANGED,
                                  REASON_SUPERSEDED,       REASON_CESSATION_OF_OPERATION,
                                  REASON_CERTIFICATE_HOLD, REASON_UNSPECIFIED};
    for (int i = 0; i < SCALE_ENTRIES; i++) {
        snprintf(serial, sizeof(serial), "5%031X", i + 1);
        int reason = reasons[i % 6];
        add_cert(g_fx.st, serial, CA_SIGN, i % 4, now + 100 * DAY,
                 reason == REASON_CERTIFICATE_HOLD ? CERT_HOLD : CERT_REVOKED, reason, now - i,
                 i % 10 == 0 ? now - i - DAY : 0);
    }
    ck_assert_msg(store_commit(g_fx.st, &err) == 0, "%s", err.msg);
    double insert_s = seconds_since(&t0);

    long rss_before = rss_now_kb();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_msg(build(&g_fx, "big.crl", -1, "http://x.test/crl/sign.crl", 1, now, now + DAY,
                        &info, &err) == 0,
                  "%s", err.msg);
    double build_s = seconds_since(&t0);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr,
            "test_crl scale: %d entries inserted in %.2f s; CRL of %zu bytes built in %.2f s; "
            "RSS before build %ld kB, peak RSS after build %ld kB\n",
            SCALE_ENTRIES, insert_s, info.der_size, build_s, rss_before, ru.ru_maxrss);
    ck_assert_uint_eq(info.entries, SCALE_ENTRIES);
#if !defined(__SANITIZE_ADDRESS__)
    /* Flat memory: far below what 200k OpenSSL entry objects would take (~100 MB). */
    ck_assert_msg(ru.ru_maxrss - rss_before < 32 * 1024, "build grew RSS by %ld kB",
                  ru.ru_maxrss - rss_before);
#endif

    char path[8192];
    snprintf(path, sizeof(path), "%s/big.crl", g_fx.out_dir);
    struct crl_info check;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_msg(crl_verify_file(path, g_root, &check, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(check.entries, SCALE_ENTRIES);
    ck_assert_int_eq(check.number, 1);
    ck_assert_uint_eq(check.der_size, info.der_size);
    ck_assert_int_eq(memcmp(check.sha256, info.sha256, 32), 0);
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr, "test_crl scale: verified in %.2f s; peak RSS after verify %ld kB\n",
            seconds_since(&t0), ru.ru_maxrss);
#if !defined(__SANITIZE_ADDRESS__)
    /* crl_verify_file streams too: still flat. */
    ck_assert_msg(ru.ru_maxrss - rss_before < 32 * 1024, "verify grew RSS by %ld kB",
                  ru.ru_maxrss - rss_before);
#endif
    assert_dir_clean(g_fx.out_dir, 1);
}
END_TEST

/* ---- Failure injection: every allocation of the build and of the check, failed in turn ----
 *
 * OpenSSL's allocator is replaced (CRYPTO_set_mem_functions, which only works before OpenSSL's
 * first allocation in the process: this test case runs first, with no fixture). Each round
 * fails the n-th allocation once; the call must then either succeed anyway or fail with err
 * filled, the previous CRL untouched, no temp file left — and (under ASan) nothing leaked. */

static long fault_countdown = -1; /* allocations to let through before failing one; -1 = off */
static bool fault_hit;

static bool fault_now(void)
{
    if (fault_countdown < 0)
        return false;
    if (fault_countdown-- > 0)
        return false;
    fault_hit = true;
    return true;
}

static void *fault_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return fault_now() ? NULL : malloc(n);
}

static void *fault_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return fault_now() ? NULL : realloc(p, n);
}

static void fault_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    free(p);
}

START_TEST(test_allocation_failures)
{
    ck_assert_msg(CRYPTO_set_mem_functions(fault_malloc, fault_realloc, fault_free) == 1,
                  "OpenSSL allocated before this test: it must run first in its process");
    struct jerr err = {0};
    struct fixture fx;
    time_t now = t_now();
    struct signer *signer = signer_generate(TEST_RSA2048, &err);
    ck_assert_msg(signer != NULL, "%s", err.msg);
    X509 *root = make_root(signer, "JPKI for digital signature");
    fx_setup(&fx);
    add_holder(fx.st);
    add_cert(fx.st, S_KEYCOMP, CA_SIGN, 0, now + DAY, CERT_REVOKED, REASON_KEY_COMPROMISE,
             now - DAY, now - 2 * DAY);
    add_cert(fx.st, S_HOLD, CA_SIGN, 0, now + DAY, CERT_HOLD, REASON_CERTIFICATE_HOLD, now - 60, 0);
    add_cert(fx.st, S_UNSPEC_INV, CA_SIGN, 0, now + DAY, CERT_REVOKED, REASON_UNSPECIFIED, now - 20,
             now - 5 * DAY);
    const char *url = "http://127.0.0.1:8080/crl/sign.crl";
    char path[8192];
    snprintf(path, sizeof(path), "%s/sign.crl", fx.out_dir);

    /* A first CRL, which also warms OpenSSL's lazily built tables. */
    ck_assert_msg(
        crl_build(fx.st, root, signer, CA_SIGN, -1, url, 1, now, now + DAY, path, NULL, &err) == 0,
        "%s", err.msg);
    struct crl_info first;
    ck_assert_msg(crl_verify_file(path, root, &first, &err) == 0, "%s", err.msg);

    long failures = 0;
    for (long n = 0;; n++) {
        struct crl_info info = {.number = -7};
        jerr_clear(&err);
        fault_hit = false;
        fault_countdown = n;
        int rc = crl_build(fx.st, root, signer, CA_SIGN, -1, url, 2, now + 60, now + DAY, path,
                           &info, &err);
        fault_countdown = -1;
        assert_dir_clean(fx.out_dir, 1);
        struct crl_info now_info;
        struct jerr check_err = {0};
        ck_assert_msg(crl_verify_file(path, root, &now_info, &check_err) == 0, "%s", check_err.msg);
        if (rc == -1) {
            failures++;
            ck_assert_msg(fault_hit, "failed without a fault: %s", err.msg);
            ck_assert_int_ne(err.code, JERR_NONE);
            ck_assert_int_eq(info.number, -7);
            /* the previous CRL, untouched */
            ck_assert_int_eq(now_info.number, 1);
            ck_assert_int_eq(memcmp(now_info.sha256, first.sha256, 32), 0);
        } else {
            ck_assert_int_eq(info.number, 2);
            ck_assert_int_eq(now_info.number, 2);
            ck_assert_uint_eq(now_info.entries, 3);
            if (!fault_hit)
                break; /* every allocation has been failed once */
            /* a fault that did not matter: start from CRL 1 again */
            ck_assert_msg(crl_build(fx.st, root, signer, CA_SIGN, -1, url, 1, now, now + DAY, path,
                                    NULL, &err) == 0,
                          "%s", err.msg);
        }
    }
    ck_assert_int_gt(failures, 20);

    /* The check: each failed allocation gives -1 with err filled, never a wrong answer. */
    for (long n = 0;; n++) {
        struct crl_info info = {.number = -7};
        jerr_clear(&err);
        fault_hit = false;
        fault_countdown = n;
        int rc = crl_verify_file(path, root, &info, &err);
        fault_countdown = -1;
        if (rc == -1) {
            ck_assert_msg(fault_hit, "failed without a fault: %s", err.msg);
            ck_assert_int_ne(err.code, JERR_NONE);
            ck_assert_int_eq(info.number, -7);
        } else {
            ck_assert_int_eq(info.number, 2); /* the last CRL of the loop above */
            ck_assert_uint_eq(info.entries, 3);
            if (!fault_hit)
                break;
        }
    }
    fprintf(stderr, "test_crl faults: %ld allocation failures walked in crl_build\n", failures);
    fx_teardown(&fx);
    X509_free(root);
    signer_free(signer);
}
END_TEST

/* A test case of the suite, added to it; the builds of 200k entries need the long timeout. */
static TCase *crl_tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *crl_suite(void)
{
    Suite *s = suite_create("crl");
    /* First: it must install OpenSSL's allocator before anything else allocates. */
    TCase *faults = crl_tcase(s, "faults");
    tcase_add_test(faults, test_allocation_failures);

    TCase *tc = crl_tcase(s, "build");
    tcase_add_unchecked_fixture(tc, key_setup, key_teardown);
    tcase_add_checked_fixture(tc, build_setup, build_teardown);
    tcase_add_test(tc, test_entries_and_fields);
    tcase_add_test(tc, test_empty_crl);
    tcase_add_test(tc, test_times_across_2050);
    tcase_add_test(tc, test_entry_times_and_serials_as_openssl);
    tcase_add_test(tc, test_rows_reader);
    tcase_add_test(tc, test_partition_selects_entries);
    tcase_add_test(tc, test_build_refusals);
    tcase_add_test(tc, test_failure_keeps_previous_crl);
    tcase_add_test(tc, test_verify_file_refusals);
    tcase_add_test(tc, test_verify_file_every_byte);
    tcase_add_test(tc, test_verify_file_structure);
    tcase_add_test(tc, test_verify_file_openssl_crls);
    tcase_add_test(tc, test_scale_200k);

    TCase *pub = crl_tcase(s, "publish");
    tcase_add_test(pub, test_publish_single_partition);
    tcase_add_test(pub, test_publish_partitions);
    tcase_add_test(pub, test_publish_failure_keeps_previous);
    tcase_add_test(pub, test_publish_delta);
    return s;
}

int main(void)
{
    return testutil_run(crl_suite());
}
