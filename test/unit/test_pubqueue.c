/*
 * The publication queue (ca/store_publish.c; DESIGN §13) against a real
 * instance: a publishing connection queues a serial with every stored response, a plain one
 * does not; a good certificate issued on a publishing connection is marked for pre-signing; a
 * serial queued again keeps its newer entry when the older one is cleared; the seed queues
 * every certificate and marks those without fresh responses under both hashes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ocsp.h"
#include "testinst.h"

struct entries {
    size_t n;
    char serial[8][JPKI_SERIAL_HEX_MAX + 1];
    int64_t seq[8];
};

static int collect(void *arg, const struct store_pub_entry *e)
{
    struct entries *l = arg;
    if (l->n < 8) {
        snprintf(l->serial[l->n], sizeof(l->serial[0]), "%s", e->serial);
        l->seq[l->n++] = e->seq;
    }
    return 0;
}

static struct entries queued(struct testutil_fixture *fx)
{
    struct entries l = {0};
    struct jerr err = {0};
    ck_assert_msg(store_pub_foreach(fx->st, 0, 100, collect, &l, &err) == 0, "%s", err.msg);
    return l;
}

static int64_t mark_of(struct testutil_fixture *fx, const char *serial)
{
    struct jerr err = {0};
    int64_t seq = -1;
    ck_assert_int_eq(store_ocsp_dirty_seq(fx->st, serial, &seq, &err), 0);
    return seq;
}

START_TEST(responses_queue_only_when_publishing)
{
    static const unsigned char der[] = {0x30, 0x03, 0x0a, 0x01, 0x00};
    struct testutil_fixture fx;
    struct issue_result res = {0};
    struct jerr err = {0};
    int64_t count = -1, oldest_ms = -1;
    testutil_fx_open(&fx, &testinst);
    struct person p = testutil_person("pq-p1", "Queue Holder", "Tokyo", "1985-03-04", GENDER_MALE);
    testinst_register_card(&fx, &p, "pq-c1", "2035-06-30");

    /* Not publishing: a new good certificate is not marked, a response is not queued. */
    ck_assert_msg(lifecycle_issue(&fx.ctx, "pq-c1", ISSUE_SIGN, NULL, &res, &err) == 0, "%s",
                  err.msg);
    struct cert_rec sign = res.certs[0].rec;
    issue_result_free(&res);
    ck_assert_int_eq(mark_of(&fx, sign.serial), 0);
    ck_assert_int_eq(store_ocsp_put_signed(fx.st, &sign, OCSP_CERTID_SHA1, der, sizeof(der), 1,
                                           1000, NULL, &err),
                     0);
    ck_assert_int_eq(queued(&fx).n, 0);
    ck_assert_int_eq(store_pub_depth(fx.st, &count, &oldest_ms, &err), 0);
    ck_assert_int_eq(count, 0);
    ck_assert_int_eq(oldest_ms, 0);

    /* Publishing: the issuance marks it, each stored response queues it. */
    store_set_publishing(fx.st, true);
    ck_assert(store_is_publishing(fx.st));
    ck_assert_msg(lifecycle_issue(&fx.ctx, "pq-c1", ISSUE_AUTH, NULL, &res, &err) == 0, "%s",
                  err.msg);
    struct cert_rec auth = res.certs[0].rec;
    issue_result_free(&res);
    ck_assert_int_gt(mark_of(&fx, auth.serial), 0);
    ck_assert_int_eq(store_ocsp_put_signed(fx.st, &auth, OCSP_CERTID_SHA1, der, sizeof(der), 1,
                                           1000, NULL, &err),
                     0);
    struct entries l = queued(&fx);
    ck_assert_int_eq(l.n, 1);
    ck_assert_str_eq(l.serial[0], auth.serial);
    ck_assert_int_eq(store_pub_depth(fx.st, &count, &oldest_ms, &err), 0);
    ck_assert_int_eq(count, 1);
    ck_assert_int_gt(oldest_ms, 0);

    /* Queued again (the SHA-256 response): a newer entry; clearing the old one keeps it. */
    ck_assert_int_eq(store_ocsp_put(fx.st, auth.serial, OCSP_CERTID_SHA256, auth.ca, der,
                                    sizeof(der), 1, 1000, &err),
                     0);
    struct entries again = queued(&fx);
    ck_assert_int_eq(again.n, 1);
    ck_assert_int_gt(again.seq[0], l.seq[0]);
    struct store_pub_done done = {.seq = l.seq[0]};
    snprintf(done.serial, sizeof(done.serial), "%s", auth.serial);
    ck_assert_msg(store_pub_clear(fx.st, &done, 1, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(queued(&fx).n, 1);
    done.seq = again.seq[0];
    ck_assert_int_eq(store_pub_clear(fx.st, &done, 1, &err), 0);
    ck_assert_int_eq(queued(&fx).n, 0);

    /* Inside the caller's transaction: rolled back with it. */
    ck_assert_int_eq(store_ocsp_put(fx.st, auth.serial, OCSP_CERTID_SHA1, auth.ca, der, sizeof(der),
                                    1, 1000, &err),
                     0);
    l = queued(&fx);
    done.seq = l.seq[0];
    ck_assert_int_eq(store_begin(fx.st, &err), 0);
    ck_assert_int_eq(store_pub_clear(fx.st, &done, 1, &err), 0);
    store_rollback(fx.st);
    ck_assert_int_eq(queued(&fx).n, 1);
    testutil_fx_close(&fx);
}
END_TEST

START_TEST(seed_queues_everything_and_marks_what_lacks_a_response)
{
    struct testutil_fixture fx;
    struct jerr err = {0};
    struct cert_list certs = {0};
    int64_t n = 0;
    testutil_fx_open(&fx, &testinst);
    ck_assert_int_eq(store_certs_of_card(fx.st, "pq-c1", &certs, &err), 0);
    ck_assert_int_eq(certs.count, 2);
    for (size_t i = 0; i < certs.count; i++)
        ck_assert_int_eq(store_ocsp_dirty_clear(fx.st, certs.items[i].serial,
                                                mark_of(&fx, certs.items[i].serial), NULL, &err),
                         0);
    ck_assert_msg(store_pub_seed(fx.st, 100, 100000, &n, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(queued(&fx).n, 2);
    /* The sign certificate has a SHA-1 response only, the auth one both (not stale): only the
     * first is marked for pre-signing. */
    for (size_t i = 0; i < certs.count; i++) {
        int64_t mark = mark_of(&fx, certs.items[i].serial);
        if (certs.items[i].ca == CA_SIGN)
            ck_assert_int_gt(mark, 0);
        else
            ck_assert_int_eq(mark, 0);
    }
    cert_list_free(&certs);
    testutil_fx_close(&fx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pubqueue");
    TCase *tc = testinst_tcase("registry", 60);
    /* In order: the second works on the first's certificates. */
    tcase_add_test(tc, responses_queue_only_when_publishing);
    tcase_add_test(tc, seed_queues_everything_and_marks_what_lacks_a_response);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
