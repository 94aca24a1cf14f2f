/*
 * test_crlcache: CRL snapshots — thisUpdate/nextUpdate read from the header only (also of a
 * CRL far larger than the header window), the ETag is the SHA-256 of the bytes, the body is
 * exactly the file, a replaced file is noticed and the old snapshot stays whole for whoever
 * holds it, a withdrawn file is not found, and each malformed file is refused with its reason.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/thread.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/jclock.h"
#include "ca/crl_read.h"
#include "responder/crl/crlcache.h"
#include "responder/net/http.h"
#include "testutil.h"

static EVP_PKEY *ca_key;
static char *dir;

static void setup(void)
{
    ck_assert_int_eq(evthread_use_pthreads(), 0);
    ca_key = EVP_EC_gen("P-256");
    ck_assert_ptr_nonnull(ca_key);
    dir = testutil_mkdtemp();
    ck_assert_ptr_nonnull(dir);
}

static void teardown(void)
{
    EVP_PKEY_free(ca_key);
    testutil_rmtree(dir);
    free(dir);
}

/* A signed DER CRL: thisUpdate `this_update` (UTCTime), nextUpdate `next_update` (0 = none;
 * GeneralizedTime from 2050 on), `entries` revoked serials, v2 unless `v1`. */
static unsigned char *make_crl(time_t this_update, time_t next_update, int entries, bool v1,
                               size_t *len)
{
    X509_CRL *crl = X509_CRL_new();
    X509_NAME *name = X509_NAME_new();
    X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, (const unsigned char *)"JP", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"JPKI", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC,
                               (const unsigned char *)"JPKI for digital signature", -1, -1, 0);
    X509_CRL_set_issuer_name(crl, name);
    X509_NAME_free(name);
    if (!v1)
        X509_CRL_set_version(crl, X509_CRL_VERSION_2);
    ASN1_TIME *t = ASN1_TIME_set(NULL, this_update);
    X509_CRL_set1_lastUpdate(crl, t);
    ASN1_TIME_free(t);
    if (next_update != 0) {
        t = ASN1_TIME_set(NULL, next_update);
        X509_CRL_set1_nextUpdate(crl, t);
        ASN1_TIME_free(t);
    }
    for (int i = 0; i < entries; i++) {
        X509_REVOKED *r = X509_REVOKED_new();
        ASN1_INTEGER *serial = ASN1_INTEGER_new();
        ASN1_INTEGER_set(serial, 100000 + i);
        X509_REVOKED_set_serialNumber(r, serial);
        ASN1_INTEGER_free(serial);
        t = ASN1_TIME_set(NULL, this_update - 60);
        X509_REVOKED_set_revocationDate(r, t);
        ASN1_TIME_free(t);
        X509_CRL_add0_revoked(crl, r);
    }
    ck_assert_int_gt(X509_CRL_sign(crl, ca_key, EVP_sha256()), 0);
    unsigned char *der = NULL;
    int n = i2d_X509_CRL(crl, &der);
    ck_assert_int_gt(n, 0);
    X509_CRL_free(crl);
    unsigned char *copy = malloc((size_t)n);
    memcpy(copy, der, (size_t)n);
    OPENSSL_free(der);
    *len = (size_t)n;
    return copy;
}

static void path_of(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", dir, name);
}

/* Replaces `path` by rename, as the publisher does (a new inode). */
static void publish(const char *path, const unsigned char *der, size_t len)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    ck_assert_int_eq(testutil_write_file(tmp, der, len), 0);
    ck_assert_int_eq(rename(tmp, path), 0);
}

static void etag_of(const unsigned char *der, size_t len, char etag[HTTP_ETAG_MAX])
{
    unsigned char digest[32];
    ck_assert_int_eq(EVP_Digest(der, len, digest, NULL, EVP_sha256(), NULL), 1);
    http_etag_sha256(digest, etag);
}

static const time_t T0 = 1748768400;     /* 2025-06-01T09:00:00Z */
static const time_t T_2051 = 2556185400; /* 2051-01-01T09:30:00Z, GeneralizedTime */

START_TEST(test_read_times)
{
    struct jerr err = {0};
    size_t len;
    time_t this_update = 0, next_update = 1;

    unsigned char *der = make_crl(T0, T0 + 86400, 3, false, &len);
    ck_assert_int_eq(crl_read_times(der, len, len, &this_update, &next_update, &err), 0);
    ck_assert_int_eq(this_update, T0);
    ck_assert_int_eq(next_update, T0 + 86400);
    free(der);

    /* GeneralizedTime nextUpdate, v1 (no version field), no entries. */
    der = make_crl(T0, T_2051, 0, true, &len);
    ck_assert_int_eq(crl_read_times(der, len, len, &this_update, &next_update, &err), 0);
    ck_assert_int_eq(this_update, T0);
    ck_assert_int_eq(next_update, T_2051);
    free(der);

    /* No nextUpdate at all. */
    der = make_crl(T0, 0, 2, false, &len);
    next_update = 99;
    ck_assert_int_eq(crl_read_times(der, len, len, &this_update, &next_update, &err), 0);
    ck_assert_int_eq(this_update, T0);
    ck_assert_int_eq(next_update, 0);
    free(der);
}
END_TEST

START_TEST(test_read_times_refusals)
{
    struct jerr err = {0};
    size_t len;
    time_t a, b;
    unsigned char *der = make_crl(T0, T0 + 86400, 3, false, &len);

    /* The outer SEQUENCE must span the whole file: a byte more or less is refused. */
    ck_assert_int_eq(crl_read_times(der, len, len + 1, &a, &b, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "crl");
    ck_assert_str_eq(err.msg, "CRL: 1 bytes after the CRL");
    jerr_clear(&err);
    ck_assert_int_eq(crl_read_times(der, len - 1, len - 1, &a, &b, &err), -1);
    ck_assert_str_eq(err.msg, "CRL: CertificateList overruns its container");

    /* The header cut before thisUpdate. */
    jerr_clear(&err);
    ck_assert_int_eq(crl_read_times(der, 40, len, &a, &b, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.msg, "CRL: issuer too large or truncated");

    /* A certificate is not a CRL: its TBS starts with [0] version then an INTEGER serial. */
    jerr_clear(&err);
    static const unsigned char not_crl[] = {0x30, 0x08, 0x30, 0x06, 0x02,
                                            0x01, 0x01, 0x02, 0x01, 0x05};
    ck_assert_int_eq(crl_read_times(not_crl, sizeof(not_crl), sizeof(not_crl), &a, &b, &err), -1);
    ck_assert_str_eq(err.msg, "CRL: bad signature algorithm at offset 7");

    /* Indefinite length (BER, not DER). */
    jerr_clear(&err);
    static const unsigned char ber[] = {0x30, 0x80, 0x30, 0x80, 0x00, 0x00, 0x00, 0x00};
    ck_assert_int_eq(crl_read_times(ber, sizeof(ber), sizeof(ber), &a, &b, &err), -1);
    ck_assert_str_eq(err.msg, "CRL: bad CertificateList at offset 0");

    /* A bad thisUpdate: the UTCTime's digits corrupted. */
    jerr_clear(&err);
    unsigned char *bad = malloc(len);
    memcpy(bad, der, len);
    unsigned char *p = NULL;
    for (size_t i = 0; i + 13 <= len && p == NULL; i++)
        if (memcmp(bad + i, "250601090000Z", 13) == 0)
            p = bad + i;
    ck_assert_ptr_nonnull(p);
    p[2] = 'x';
    ck_assert_int_eq(crl_read_times(bad, len, len, &a, &b, &err), -1);
    ck_assert_str_eq(err.field, "this_update");
    ck_assert_ptr_nonnull(strstr(err.msg, "CRL: bad this_update"));
    free(bad);

    jerr_clear(&err);
    ck_assert_int_eq(crl_read_times((const unsigned char *)"", 0, 0, &a, &b, &err), -1);
    ck_assert_str_eq(err.msg, "empty or oversized CRL");
    free(der);
}
END_TEST

START_TEST(test_load_and_body)
{
    struct jerr err = {0};
    char path[4200], etag[HTTP_ETAG_MAX];
    size_t len;
    path_of("sign.crl", path, sizeof(path));
    /* ~35 bytes an entry: far more than the 64 KB header window. */
    unsigned char *der = make_crl(T0, T0 + 86400, 8000, false, &len);
    ck_assert_uint_gt(len, CRLCACHE_HEAD_BYTES * 2);
    publish(path, der, len);

    struct crlcache_snapshot *snap = crlcache_load(path, &err);
    ck_assert_msg(snap != NULL, "%s", err.msg);
    etag_of(der, len, etag);
    ck_assert_str_eq(crlcache_etag(snap), etag);
    ck_assert_uint_eq(crlcache_size(snap), len);
    ck_assert_int_eq(crlcache_this_update(snap), T0);
    ck_assert_int_eq(crlcache_next_update(snap), T0 + 86400);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(crlcache_mtime(snap), st.st_mtime);
    ck_assert(crlcache_is_current(snap, &st));

    /* The body is exactly the file, added twice (two answers share the mapping). */
    struct evbuffer *out = evbuffer_new();
    ck_assert_int_eq(crlcache_add_body(snap, out, &err), 0);
    ck_assert_int_eq(crlcache_add_body(snap, out, &err), 0);
    ck_assert_uint_eq(evbuffer_get_length(out), 2 * len);
    unsigned char *copy = malloc(2 * len);
    ck_assert_int_eq(evbuffer_remove(out, copy, 2 * len), (int)(2 * len));
    ck_assert_int_eq(memcmp(copy, der, len), 0);
    ck_assert_int_eq(memcmp(copy + len, der, len), 0);
    free(copy);

    /* The answer may outlive the last snapshot reference. */
    ck_assert_int_eq(crlcache_add_body(snap, out, &err), 0);
    crlcache_snapshot_ref(snap);
    crlcache_snapshot_unref(snap);
    crlcache_snapshot_unref(snap);
    ck_assert_uint_eq(evbuffer_get_length(out), len);
    unsigned char first = 0;
    evbuffer_copyout(out, &first, 1);
    ck_assert_int_eq(first, 0x30);
    evbuffer_free(out);
    crlcache_snapshot_unref(NULL);
    free(der);
}
END_TEST

START_TEST(test_load_refusals)
{
    struct jerr err = {0};
    char path[4200];

    path_of("missing.crl", path, sizeof(path));
    ck_assert_ptr_null(crlcache_load(path, &err));
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);

    jerr_clear(&err);
    path_of("empty.crl", path, sizeof(path));
    ck_assert_int_eq(testutil_write_file(path, "", 0), 0);
    ck_assert_ptr_null(crlcache_load(path, &err));
    ck_assert_int_eq(err.code, JERR_IO);

    jerr_clear(&err);
    path_of("garbage.crl", path, sizeof(path));
    ck_assert_int_eq(testutil_write_file(path, "-----BEGIN X509 CRL-----\n", 25), 0);
    ck_assert_ptr_null(crlcache_load(path, &err));
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.msg, "CRL: bad CertificateList at offset 0");

    jerr_clear(&err);
    ck_assert_ptr_null(crlcache_load(dir, &err)); /* a directory */
    ck_assert_int_eq(err.code, JERR_IO);
}
END_TEST

START_TEST(test_table_reload)
{
    struct jerr err = {0};
    char path[4200], etag1[HTTP_ETAG_MAX], etag2[HTTP_ETAG_MAX];
    size_t len1, len2;
    path_of("auth.crl", path, sizeof(path));
    struct crlcache *cache = crlcache_new(3, &err);
    ck_assert_ptr_nonnull(cache);

    /* Not published yet. */
    ck_assert_ptr_null(crlcache_get(cache, 1, path, &err));
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);

    unsigned char *der1 = make_crl(T0, T0 + 86400, 10, false, &len1);
    publish(path, der1, len1);
    etag_of(der1, len1, etag1);
    jerr_clear(&err);
    struct crlcache_snapshot *a = crlcache_get(cache, 1, path, &err);
    ck_assert_ptr_nonnull(a);
    struct crlcache_snapshot *b = crlcache_get(cache, 1, path, &err);
    ck_assert_ptr_eq(a, b); /* unchanged file: the same snapshot */
    crlcache_snapshot_unref(b);

    /* A new file: a new snapshot; the old one still serves its own bytes. */
    unsigned char *der2 = make_crl(T0 + 3600, T0 + 90000, 11, false, &len2);
    publish(path, der2, len2);
    etag_of(der2, len2, etag2);
    struct crlcache_snapshot *c = crlcache_get(cache, 1, path, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_ne(c, a);
    ck_assert_str_eq(crlcache_etag(c), etag2);
    ck_assert_int_eq(crlcache_this_update(c), T0 + 3600);
    ck_assert_str_eq(crlcache_etag(a), etag1);
    struct evbuffer *out = evbuffer_new();
    ck_assert_int_eq(crlcache_add_body(a, out, &err), 0);
    unsigned char *copy = malloc(len1);
    ck_assert_int_eq(evbuffer_remove(out, copy, len1), (int)len1);
    ck_assert_int_eq(memcmp(copy, der1, len1), 0);
    free(copy);
    evbuffer_free(out);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(!crlcache_is_current(a, &st));
    ck_assert(crlcache_is_current(c, &st));

    /* Withdrawn: not found, and the slot lets go of it. */
    ck_assert_int_eq(unlink(path), 0);
    jerr_clear(&err);
    ck_assert_ptr_null(crlcache_get(cache, 1, path, &err));
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);

    jerr_clear(&err);
    ck_assert_ptr_null(crlcache_get(cache, 3, path, &err));
    ck_assert_int_eq(err.code, JERR_INTERNAL);

    crlcache_snapshot_unref(a);
    crlcache_snapshot_unref(c);
    crlcache_free(cache);
    crlcache_free(NULL);
    free(der1);
    free(der2);
}
END_TEST

static Suite *crlcache_suite(void)
{
    Suite *s = suite_create("crlcache");
    TCase *tc = tcase_create("crlcache");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_read_times);
    tcase_add_test(tc, test_read_times_refusals);
    tcase_add_test(tc, test_load_and_body);
    tcase_add_test(tc, test_load_refusals);
    tcase_add_test(tc, test_table_reload);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(crlcache_suite());
}
