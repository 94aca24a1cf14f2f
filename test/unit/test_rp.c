/*
 * ca/rp.c, ca/rpca.c and ca/statusq.h against a real instance: registering a party (its
 * certificate chains to the relying-party CA, from a key made here or a CSR), the kinds, the
 * state changes and their refusals, deletion putting the certificate on the CA's CRL, usage
 * sums and distinct certificates, and the append-only monthly audit files.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "base/jclock.h"
#include "ca/rp.h"
#include "ca/rpca.h"
#include "ca/statusq.h"
#include "testinst.h"

static struct rp_rec party(const char *id, enum rp_kind kind, const char *token_hex_char)
{
    struct rp_rec rp;
    memset(&rp, 0, sizeof(rp));
    snprintf(rp.id, sizeof(rp.id), "%s", id);
    snprintf(rp.name, sizeof(rp.name), "Verifier %s", id);
    snprintf(rp.contact, sizeof(rp.contact), "ops@example.jp");
    rp.kind = kind;
    memset(rp.token_sha256, token_hex_char[0], STORE_TOKEN_SHA256_HEX);
    return rp;
}

static X509 *pem_cert(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    return cert;
}

START_TEST(kinds)
{
    enum rp_kind k;
    ck_assert(rp_kind_allows(RP_KIND_SIGNATURE, CA_SIGN));
    ck_assert(!rp_kind_allows(RP_KIND_SIGNATURE, CA_AUTH));
    ck_assert(rp_kind_allows(RP_KIND_AUTHENTICATION, CA_AUTH));
    ck_assert(!rp_kind_allows(RP_KIND_AUTHENTICATION, CA_SIGN));
    ck_assert(rp_kind_allows(RP_KIND_PLATFORM, CA_SIGN) &&
              rp_kind_allows(RP_KIND_PLATFORM, CA_AUTH));
    ck_assert(!rp_kind_allows((enum rp_kind)9, CA_SIGN));
    ck_assert_int_eq(rp_kind_parse("authentication", &k), 0);
    ck_assert_int_eq(k, RP_KIND_AUTHENTICATION);
    ck_assert_int_eq(rp_kind_parse("Platform", &k), -1);
    ck_assert_str_eq(rp_state_name(RP_STATE_SUSPENDED), "suspended");
}
END_TEST

START_TEST(register_suspend_delete)
{
    struct testutil_fixture fx;
    struct jerr err = {0};
    struct rp_issued issued;
    struct rp_rec out;
    bool crl_failed;

    testutil_fx_open(&fx, &testinst);
    struct rp_rec rp = party("rp-a", RP_KIND_AUTHENTICATION, "a");
    ck_assert_msg(rp_create(&fx.ctx, &rp, NULL, 0, &issued, &err) == 0, "%s", err.msg);
    ck_assert_ptr_nonnull(issued.key_pem);
    ck_assert_int_gt(rp.pk, 0);
    ck_assert_int_eq(rp.state, RP_STATE_ACTIVE);
    X509 *cert = pem_cert(issued.cert_pem);
    struct rpca *ca = pki_get0_rpca(fx.pki);
    ck_assert_ptr_nonnull(cert);
    ck_assert_int_eq(X509_check_issued(rpca_get0_cert(ca), cert), X509_V_OK);
    ck_assert_int_eq(X509_check_purpose(cert, X509_PURPOSE_SSL_CLIENT, 0), 1);
    X509_free(cert);
    rp_issued_clear(&issued);

    /* the same id again: refused, nothing written */
    struct rp_rec again = party("rp-a", RP_KIND_PLATFORM, "b");
    ck_assert_int_eq(rp_create(&fx.ctx, &again, NULL, 0, &issued, &err), -1);
    ck_assert_int_eq(err.code, JERR_CONFLICT);
    ck_assert_str_eq(err.field, "id");
    jerr_clear(&err);

    ck_assert_int_eq(rp_suspend(&fx.ctx, "rp-a", &out, &err), 0);
    ck_assert_int_eq(out.state, RP_STATE_SUSPENDED);
    ck_assert_int_eq(rp_suspend(&fx.ctx, "rp-a", &out, &err), 0); /* already: no change */
    ck_assert_int_eq(rp_resume(&fx.ctx, "rp-a", &out, &err), 0);
    ck_assert_int_eq(out.state, RP_STATE_ACTIVE);
    ck_assert_int_eq(rp_suspend(&fx.ctx, "nobody", &out, &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    jerr_clear(&err);

    ck_assert_msg(rp_delete(&fx.ctx, "rp-a", &out, &crl_failed, &err) == 0, "%s", err.msg);
    ck_assert(!crl_failed);
    ck_assert_int_eq(out.state, RP_STATE_DELETED);
    ck_assert_int_eq(rp_resume(&fx.ctx, "rp-a", &out, &err), -1);
    ck_assert_int_eq(err.code, JERR_REFUSED);
    jerr_clear(&err);
    ck_assert_int_eq(rp_delete(&fx.ctx, "rp-a", &out, &crl_failed, &err), -1);
    ck_assert_int_eq(err.code, JERR_REFUSED);

    /* the CRL lists the deleted party's certificate, and verifies under the CA */
    FILE *f = fopen(rpca_crl_path(ca), "rb");
    ck_assert_ptr_nonnull(f);
    X509_CRL *crl = d2i_X509_CRL_fp(f, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(crl);
    EVP_PKEY *pub = X509_get0_pubkey(rpca_get0_cert(ca));
    ck_assert_int_eq(X509_CRL_verify(crl, pub), 1);
    ck_assert_int_eq(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 1);
    X509_CRL_free(crl);
    testutil_fx_close(&fx);
}
END_TEST

START_TEST(bad_csr)
{
    struct testutil_fixture fx;
    struct jerr err = {0};
    struct rp_issued issued;
    testutil_fx_open(&fx, &testinst);
    struct rp_rec rp = party("rp-csr", RP_KIND_SIGNATURE, "c");
    const char junk[] =
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n";
    ck_assert_int_eq(rp_create(&fx.ctx, &rp, junk, strlen(junk), &issued, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "csr");
    ck_assert_int_eq(store_rp_get(fx.st, "rp-csr", &rp, &err), -1); /* nothing written */
    testutil_fx_close(&fx);
}
END_TEST

static int sum_calls(void *ctx, const char *day, int ca, enum rp_what what, int64_t calls)
{
    (void)day, (void)ca, (void)what;
    *(int64_t *)ctx += calls;
    return 0;
}

START_TEST(usage_sums)
{
    struct testutil_fixture fx;
    struct jerr err = {0};
    struct rp_issued issued;
    int64_t distinct[CA_KIND_COUNT];
    testutil_fx_open(&fx, &testinst);
    struct rp_rec rp = party("rp-u", RP_KIND_PLATFORM, "d");
    ck_assert_int_eq(rp_create(&fx.ctx, &rp, NULL, 0, &issued, &err), 0);
    rp_issued_clear(&issued);
    struct rp_usage_count counts[] = {
        {rp.pk, "2026-12-01", CA_AUTH, RP_WHAT_OCSP, 3},
        {rp.pk, "2026-12-02", CA_SIGN, RP_WHAT_CRL, 1},
    };
    struct rp_cert_seen seen[] = {
        {rp.pk, "2026-12", CA_AUTH, "0A"},
        {rp.pk, "2026-12", CA_AUTH, "0B"},
        {rp.pk, "2026-11", CA_AUTH, "0C"},
    };
    ck_assert_int_eq(rp_usage_record(fx.st, counts, 2, seen, 3, NULL, &err), 0);
    ck_assert_int_eq(rp_usage_record(fx.st, counts, 1, seen, 1, NULL, &err), 0); /* adds, and once */
    ck_assert_int_eq(store_rp_usage_distinct(fx.st, rp.pk, "2026-12", distinct, &err), 0);
    ck_assert_int_eq(distinct[CA_AUTH], 2);
    ck_assert_int_eq(distinct[CA_SIGN], 0);
    ck_assert_int_eq(store_rp_usage_distinct(fx.st, rp.pk, "2026-1", distinct, &err), -1);
    ck_assert_str_eq(err.field, "month");
    /* a row that does not fit the table is refused with the whole batch */
    struct rp_usage_count bad = {rp.pk, "2026-12", CA_AUTH, RP_WHAT_OCSP, 1};
    ck_assert_int_eq(rp_usage_record(fx.st, &bad, 1, NULL, 0, NULL, &err), -1);
    testutil_fx_close(&fx);
}
END_TEST

/* The access view's record: what a responder gets of a party, and only that. */
START_TEST(access_record)
{
    struct jerr err = {0};
    char text[RP_ACCESS_TEXT_MAX + 1];
    struct rp_rec rp = party("rp-a", RP_KIND_SIGNATURE, "e"), back;
    rp.pk = 42;
    rp.state = RP_STATE_SUSPENDED;
    snprintf(rp.cert_serial, sizeof(rp.cert_serial), "0A1B");
    ck_assert_int_eq(rp_access_format(&rp, text, sizeof(text)), 0);
    ck_assert_ptr_null(strstr(text, "Verifier")); /* no name, no contact */
    ck_assert_ptr_null(strstr(text, "ops@"));
    ck_assert_int_eq(rp_access_parse("rp-a", text, strlen(text), &back, &err), 0);
    ck_assert_int_eq(back.pk, 42);
    ck_assert_int_eq(back.kind, RP_KIND_SIGNATURE);
    ck_assert_int_eq(back.state, RP_STATE_SUSPENDED);
    ck_assert_str_eq(back.token_sha256, rp.token_sha256);
    ck_assert_str_eq(back.cert_serial, "0A1B");
    ck_assert_str_eq(back.id, "rp-a");
    /* no credential: "-" both ways */
    rp.token_sha256[0] = rp.cert_serial[0] = '\0';
    ck_assert_int_eq(rp_access_format(&rp, text, sizeof(text)), 0);
    ck_assert_int_eq(rp_access_parse("rp-a", text, strlen(text), &back, &err), 0);
    ck_assert_str_eq(back.token_sha256, "");
    ck_assert_str_eq(back.cert_serial, "");
    ck_assert_int_eq(rp_access_format(&rp, text, 8), -1); /* does not fit */
    static const char *const bad[] = {
        "2 1 platform active - -",                 /* another version */
        "1 0 platform active - -",                 /* no registry key */
        "1 1 bank active - -",                     /* kind */
        "1 1 platform gone - -",                   /* state */
        "1 1 platform active abc -",               /* not a SHA-256 */
        "1 1 platform active - 0a",                /* lower-case serial */
        "1 1 platform active - - extra",           /* trailing */
        "1 1 platform active - 0123456789ABCDEF0123456789ABCDEF0123456789", /* > 40 digits */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(rp_access_parse("rp-a", bad[i], strlen(bad[i]), &back, &err) == -1, "%s",
                      bad[i]);
    ck_assert_int_eq(rp_access_parse("bad id!", "1 1 platform active - -", 23, &back, &err), -1);
    ck_assert_int_eq(rp_access_parse("rp-a", "1 1 platform\0active - -", 23, &back, &err), -1);
}
END_TEST

/* The responders' usage folded by the CA node: each stream entry once, however often folded. */
START_TEST(usage_marked_once)
{
    struct testutil_fixture fx;
    struct jerr err = {0};
    struct rp_issued issued = {NULL, NULL};
    int64_t distinct[CA_KIND_COUNT];
    testutil_fx_open(&fx, &testinst);
    struct rp_rec rp = party("rp-m", RP_KIND_PLATFORM, "f");
    ck_assert_int_eq(rp_create(&fx.ctx, &rp, NULL, 0, &issued, &err), 0);
    rp_issued_clear(&issued);
    struct rp_usage_count c = {rp.pk, "2026-12-03", CA_AUTH, RP_WHAT_OCSP, 5};
    struct rp_cert_seen s = {rp.pk, "2026-12", CA_AUTH, "0D"};
    ck_assert_int_eq(rp_usage_record(fx.st, &c, 1, &s, 1, "1700000000000-0", &err), 0);
    ck_assert_int_eq(rp_usage_record(fx.st, &c, 1, &s, 1, "1700000000000-0", &err), 0); /* again */
    ck_assert_int_eq(rp_usage_record(fx.st, &c, 1, &s, 1, "1699999999999-5", &err), 0); /* older */
    ck_assert_int_eq(rp_usage_record(fx.st, &c, 1, &s, 1, "1700000000000-1", &err), 0); /* newer */
    int64_t calls = 0;
    ck_assert_int_eq(store_rp_usage_distinct(fx.st, rp.pk, "2026-12", distinct, &err), 0);
    ck_assert_int_eq(distinct[CA_AUTH], 1);
    char mark[64];
    ck_assert_int_eq(store_meta_get(fx.st, RP_USAGE_MARK_KEY, mark, sizeof(mark), &err), 0);
    ck_assert_str_eq(mark, "1700000000000-1");
    ck_assert_int_eq(store_rp_usage_foreach(fx.st, rp.pk, "2026-12", sum_calls, &calls, &err), 0);
    ck_assert_int_eq(calls, 10); /* two of the four writes */
    testutil_fx_close(&fx);
}
END_TEST

static int collect(void *ctx, const struct statusq_row *row)
{
    int *n = ctx;
    (*n)++;
    ck_assert_str_eq(row->party, "rp-q");
    return 0;
}

START_TEST(status_query_audit)
{
    char dir[4096];
    struct jerr err = {0};
    testutil_path(dir, sizeof(dir), "statusq");
    struct statusq *q = statusq_open(dir, &err);
    ck_assert_ptr_nonnull(q);
    /* 2026-11-30T23:59:59Z and 2026-12-01T00:00:00Z: two months, two files */
    struct statusq_row rows[3] = {
        {0, 1796083199, "rp-q", CA_AUTH, "0A", "good"},
        {0, 1796083200, "rp-q", CA_AUTH, "0A", "revoked"},
        {0, 1796083201, "rp-r", CA_SIGN, "", "crl"},
    };
    ck_assert_int_eq(statusq_append(q, rows, 3, &err), 0);
    statusq_close(q);
    int n = 0;
    ck_assert_int_eq(statusq_search(dir, "2026-11", "rp-q", "0A", 0, 10, collect, &n, &err), 0);
    ck_assert_int_eq(n, 1);
    n = 0;
    ck_assert_int_eq(statusq_search(dir, "2026-12", "rp-q", NULL, 0, 10, collect, &n, &err), 0);
    ck_assert_int_eq(n, 1);
    n = 0;
    ck_assert_int_eq(statusq_search(dir, "2025-01", NULL, NULL, 0, 10, collect, &n, &err), 0);
    ck_assert_int_eq(n, 0); /* no file: no rows */
    ck_assert_int_eq(statusq_search(dir, "2026/12", NULL, NULL, 0, 10, collect, &n, &err), -1);
    ck_assert_str_eq(err.field, "month");
}
END_TEST

/* Marked appends (the responders' rows folded by the CA node): once per mark and month file,
 * the rows of one mark spread over two months, out of order. */
START_TEST(status_query_marked)
{
    char dir[4096];
    struct jerr err = {0};
    testutil_path(dir, sizeof(dir), "statusq-marked");
    struct statusq *q = statusq_open(dir, &err);
    ck_assert_ptr_nonnull(q);
    struct statusq_row rows[3] = {
        {0, 1796083200, "rp-q", CA_AUTH, "0A", "good"},    /* 2026-12 */
        {0, 1796083199, "rp-q", CA_AUTH, "0B", "good"},    /* 2026-11 */
        {0, 1796083201, "rp-q", CA_AUTH, "0C", "revoked"}, /* 2026-12 */
    };
    ck_assert_int_eq(statusq_append_marked(q, rows, 3, "5-0", &err), 0);
    ck_assert_int_eq(statusq_append_marked(q, rows, 3, "5-0", &err), 0); /* folded again */
    ck_assert_int_eq(statusq_append_marked(q, rows, 1, "4-9", &err), 0); /* older */
    ck_assert_int_eq(statusq_append_marked(q, rows, 1, "5-1", &err), 0); /* newer: one row */
    statusq_close(q);
    int n = 0;
    ck_assert_int_eq(statusq_search(dir, "2026-12", NULL, NULL, 0, 10, collect, &n, &err), 0);
    ck_assert_int_eq(n, 3);
    n = 0;
    ck_assert_int_eq(statusq_search(dir, "2026-11", NULL, NULL, 0, 10, collect, &n, &err), 0);
    ck_assert_int_eq(n, 1);
    ck_assert(statusq_mark_newer("10-0", "9-99"));
    ck_assert(statusq_mark_newer("1-2", NULL));
    ck_assert(!statusq_mark_newer("1-2", "1-2"));
    ck_assert(!statusq_mark_newer("x", ""));
}
END_TEST

static Suite *rp_suite(void)
{
    Suite *s = suite_create("rp");
    TCase *pure = tcase_create("pure");
    tcase_add_test(pure, kinds);
    tcase_add_test(pure, access_record);
    suite_add_tcase(s, pure);
    TCase *tc = testinst_tcase("engine", 120);
    tcase_add_test(tc, register_suspend_delete);
    tcase_add_test(tc, bad_csr);
    tcase_add_test(tc, usage_sums);
    tcase_add_test(tc, usage_marked_once);
    suite_add_tcase(s, tc);
    TCase *audit = tcase_create("statusq");
    tcase_add_checked_fixture(audit, testutil_tmpdir_setup, testutil_tmpdir_teardown);
    tcase_add_test(audit, status_query_audit);
    tcase_add_test(audit, status_query_marked);
    suite_add_tcase(s, audit);
    return s;
}

int main(void)
{
    return testutil_run(rp_suite());
}
