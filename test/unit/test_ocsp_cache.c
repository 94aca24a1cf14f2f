/*
 * ca/ocsp_cache.c against a real instance: a batch of signed answers stored in one transaction
 * with the refresher's marks (current, outdated by a status change, outdated by a deleted row;
 * marks cleared unless their serial failed), and expired answers dropped all or none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ocsp.h"
#include "ca/ocsp_cache.h"
#include "testinst.h"

/* A person, a My Number card "oc-c1" and both its certificates; the serials go to res. */
static void issue_card(struct testutil_fixture *fx, struct issue_result *res)
{
    struct jerr err = {0};
    struct person p = testutil_person("oc-p1", "Cache Holder", "Tokyo", "1985-03-04", GENDER_MALE);
    testinst_register_card(fx, &p, "oc-c1", "2035-06-30");
    ck_assert_msg(lifecycle_issue(&fx->ctx, "oc-c1", ISSUE_BOTH, NULL, res, &err) == 0, "%s",
                  err.msg);
}

/* The mark of `serial` (store_ocsp_foreach_dirty), 0 when none. */
struct mark_find {
    const char *serial;
    int64_t seq;
};

static int find_mark(void *arg, const struct store_ocsp_due *due)
{
    struct mark_find *m = arg;
    if (strcmp(due->serial, m->serial) == 0)
        m->seq = due->changed_seq;
    return 0;
}

static int64_t mark_of(struct testutil_fixture *fx, const char *serial)
{
    struct jerr err = {0};
    struct mark_find m = {serial, 0};
    ck_assert_int_eq(store_ocsp_foreach_dirty(fx->st, 0, 1000, find_mark, &m, &err), 0);
    return m.seq;
}

static bool has_answer(struct testutil_fixture *fx, const char *serial, bool *stale)
{
    struct jerr err = {0};
    unsigned char *der = NULL;
    size_t len = 0;
    int rc = store_ocsp_get(fx->st, serial, OCSP_CERTID_SHA1, &der, &len, NULL, stale, &err);
    free(der);
    if (rc == -1)
        ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    return rc == 0;
}

START_TEST(store_sets_states_and_clears_marks_in_one_batch)
{
    static const unsigned char der[] = {0x30, 0x03, 0x0a, 0x01, 0x00};
    struct issue_result res = {0};
    struct serial_list held = {0};
    struct jerr err = {0};
    issue_card(&testinst_fx, &res);
    struct cert_rec sign = res.certs[0].rec, auth = res.certs[1].rec, gone = sign;
    snprintf(gone.serial, sizeof(gone.serial), "0ABCDEF0");
    /* The hold marks both serials; `sign` is read again (current), `auth` kept as before. */
    ck_assert_int_eq(lifecycle_hold(&testinst_fx.ctx, "oc-c1", &held, &err), 0);
    ck_assert_int_eq(store_cert_get(testinst_fx.st, sign.serial, &sign, &err), 0);
    struct ocsp_cache_mark marks[] = {{sign.serial, mark_of(&testinst_fx, sign.serial), false},
                                      {auth.serial, mark_of(&testinst_fx, auth.serial), false},
                                      {gone.serial, 0, false}};
    ck_assert_int_gt(marks[0].seq, 0);
    ck_assert_int_gt(marks[1].seq, 0);
    struct ocsp_cache_answer answers[] = {
        {&sign, OCSP_CERTID_SHA1, der, sizeof(der), 1000, 0, OCSP_CACHE_PENDING},
        {&auth, OCSP_CERTID_SHA1, der, sizeof(der), 1000, 1, OCSP_CACHE_PENDING},
        {&gone, OCSP_CERTID_SHA1, der, sizeof(der), 1000, 2, OCSP_CACHE_PENDING},
    };
    size_t cleared = 0;
    ck_assert_msg(ocsp_cache_store(testinst_fx.st, answers, 3, marks, 3, 10, &cleared, &err) == 0,
                  "%s", err.msg);
    ck_assert_int_eq(answers[0].state, OCSP_CACHE_CURRENT);
    ck_assert_int_eq(answers[1].state, OCSP_CACHE_OUTDATED); /* signed before the hold */
    ck_assert_int_eq(answers[2].state, OCSP_CACHE_OUTDATED); /* no such certificate */
    /* A stale answer still clears its mark: the next change marks the serial again. */
    ck_assert_int_eq(cleared, 2);
    ck_assert_int_eq(mark_of(&testinst_fx, sign.serial), 0);
    ck_assert_int_eq(mark_of(&testinst_fx, auth.serial), 0);
    bool stale = true;
    ck_assert(has_answer(&testinst_fx, sign.serial, &stale));
    ck_assert(!stale);
    ck_assert(has_answer(&testinst_fx, auth.serial, &stale));
    ck_assert(stale);

    /* A serial that failed keeps its mark. */
    struct serial_list released = {0}, still = {0};
    ck_assert_int_eq(lifecycle_release(&testinst_fx.ctx, "oc-c1", &released, &still, &err), 0);
    struct ocsp_cache_mark failed = {auth.serial, mark_of(&testinst_fx, auth.serial), true};
    ck_assert_int_gt(failed.seq, 0);
    cleared = 0;
    ck_assert_int_eq(ocsp_cache_store(testinst_fx.st, NULL, 0, &failed, 1, 20, &cleared, &err), 0);
    ck_assert_int_eq(cleared, 0);
    ck_assert_int_eq(mark_of(&testinst_fx, auth.serial), failed.seq);

    /* Inside a transaction already open, nothing is stored and every answer failed. */
    ck_assert_int_eq(store_begin(testinst_fx.st, &err), 0);
    answers[0].state = OCSP_CACHE_PENDING;
    ck_assert_int_eq(ocsp_cache_store(testinst_fx.st, answers, 1, NULL, 0, 30, &cleared, &err), -1);
    ck_assert_int_eq(answers[0].state, OCSP_CACHE_FAILED);
    store_rollback(testinst_fx.st);
    serial_list_free(&held);
    serial_list_free(&released);
    serial_list_free(&still);
    issue_result_free(&res);
}
END_TEST

START_TEST(drop_deletes_all_or_none)
{
    struct jerr err = {0};
    char serials[2][JPKI_SERIAL_HEX_MAX + 1];
    bool stale;
    struct cert_list certs = {0};
    ck_assert_int_eq(store_certs_of_card(testinst_fx.st, "oc-c1", &certs, &err), 0);
    ck_assert_int_eq(certs.count, 2);
    for (size_t i = 0; i < 2; i++)
        memcpy(serials[i], certs.items[i].serial, sizeof(serials[i]));
    cert_list_free(&certs);
    ck_assert(has_answer(&testinst_fx, serials[0], &stale) &&
              has_answer(&testinst_fx, serials[1], &stale));

    /* A failure (here: a transaction already open) deletes nothing. */
    ck_assert_int_eq(store_begin(testinst_fx.st, &err), 0);
    ck_assert_int_eq(ocsp_cache_drop(testinst_fx.st, serials, 2, &err), -1);
    store_rollback(testinst_fx.st);
    ck_assert(has_answer(&testinst_fx, serials[0], &stale) &&
              has_answer(&testinst_fx, serials[1], &stale));

    jerr_clear(&err);
    ck_assert_msg(ocsp_cache_drop(testinst_fx.st, serials, 2, &err) == 0, "%s", err.msg);
    ck_assert(!has_answer(&testinst_fx, serials[0], &stale));
    ck_assert(!has_answer(&testinst_fx, serials[1], &stale));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ocsp_cache");
    TCase *tc = testinst_fx_tcase("registry", 60);
    /* In order: the second drops what the first stored. */
    tcase_add_test(tc, store_sets_states_and_clears_marks_in_one_batch);
    tcase_add_test(tc, drop_deletes_all_or_none);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
