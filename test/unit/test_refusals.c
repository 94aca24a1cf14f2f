/*
 * test_refusals: the per-address, per-minute tally of refused logins (responder/net/refusals.c) —
 * the first refusal of an address in a minute is reported first and the rest only counted;
 * tallies are taken out once their minute is over (or all at shutdown), with exact counts;
 * a full table counts further addresses together; a bounded take keeps the rest; threads
 * counting at once lose nothing.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "responder/net/refusals.h"
#include "testutil.h"

#define M 29000000 /* some minute */

static struct refusals *table(size_t capacity)
{
    struct jerr err = {0};
    struct refusals *r = refusals_new(capacity, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    return r;
}

START_TEST(first_reported_rest_counted)
{
    struct refusals *r = table(0);
    struct refusal_tally out[8];
    ck_assert(refusals_count(r, "192.0.2.1", M));
    for (int i = 1; i < 200; i++)
        ck_assert(!refusals_count(r, "192.0.2.1", M));
    ck_assert(refusals_count(r, "192.0.2.2", M));     /* another address: its own first */
    ck_assert(refusals_count(r, "192.0.2.1", M + 1)); /* the next minute: a first again */
    /* Nothing is due while its minute lasts. */
    ck_assert(!refusals_are_due(r, M));
    ck_assert_uint_eq(refusals_take(r, M, out, 8), 0);
    /* Once it is over: one tally of 200; the single refusal of .2 had its own row. */
    ck_assert(refusals_are_due(r, M + 1));
    ck_assert_uint_eq(refusals_take(r, M + 1, out, 8), 1);
    ck_assert_str_eq(out[0].addr, "192.0.2.1");
    ck_assert_int_eq(out[0].minute, M);
    ck_assert_uint_eq(out[0].count, 200);
    ck_assert(!refusals_are_due(r, M + 1));
    ck_assert_uint_eq(refusals_take(r, M + 1, out, 8), 0);
    /* The next minute's tally stays counted across the rebuild, and shutdown takes it all. */
    ck_assert(!refusals_count(r, "192.0.2.1", M + 1));
    ck_assert_uint_eq(refusals_take(r, INT64_MAX, out, 8), 1);
    ck_assert_str_eq(out[0].addr, "192.0.2.1");
    ck_assert_int_eq(out[0].minute, M + 1);
    ck_assert_uint_eq(out[0].count, 2);
    ck_assert(!refusals_are_due(r, INT64_MAX));
    refusals_free(r);
    refusals_free(NULL);
}
END_TEST

START_TEST(full_table_counts_the_others_together)
{
    struct refusals *r = table(16); /* room for 8 addresses */
    struct refusal_tally out[32];
    char addr[32];
    int firsts = 0;
    for (int i = 0; i < 20; i++) {
        snprintf(addr, sizeof(addr), "198.51.100.%d", i);
        firsts += refusals_count(r, addr, M);
        refusals_count(r, addr, M);
    }
    ck_assert_int_eq(firsts, 8);
    size_t n = refusals_take(r, INT64_MAX, out, 32);
    ck_assert_uint_eq(n, 9);
    uint64_t total = 0, other = 0;
    for (size_t i = 0; i < n; i++) {
        total += out[i].count;
        if (strcmp(out[i].addr, REFUSALS_OTHER) == 0)
            other = out[i].count;
    }
    ck_assert_uint_eq(total, 40); /* nothing lost */
    ck_assert_uint_eq(other, 24); /* 12 addresses, twice each */
    /* Emptied: addresses have room again. */
    ck_assert(refusals_count(r, "198.51.100.19", M + 1));
    refusals_free(r);
}
END_TEST

START_TEST(bounded_take_keeps_the_rest)
{
    struct refusals *r = table(64);
    struct refusal_tally out[2];
    char addr[32];
    for (int i = 0; i < 5; i++) {
        snprintf(addr, sizeof(addr), "203.0.113.%d", i);
        for (int k = 0; k <= i + 1; k++)
            refusals_count(r, addr, M);
    }
    uint64_t total = 0;
    size_t n, calls = 0;
    while ((n = refusals_take(r, M + 1, out, 2)) > 0) {
        calls++;
        for (size_t i = 0; i < n; i++)
            total += out[i].count;
    }
    ck_assert_uint_eq(calls, 3);
    ck_assert_uint_eq(total, 2 + 3 + 4 + 5 + 6);
    refusals_free(r);
}
END_TEST

START_TEST(bad_capacity_refused)
{
    struct jerr err = {0};
    ck_assert_ptr_null(refusals_new(12, &err));
    ck_assert_str_eq(err.field, "capacity");
}
END_TEST

static struct refusals *shared;

static void *count_many(void *arg)
{
    char addr[32];
    snprintf(addr, sizeof(addr), "10.0.0.%d", (int)(long)arg % 2);
    for (int i = 0; i < 5000; i++)
        refusals_count(shared, addr, M);
    return NULL;
}

START_TEST(threads_lose_nothing)
{
    pthread_t t[4];
    struct refusal_tally out[4];
    shared = table(0);
    for (long i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, count_many, (void *)i), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    size_t n = refusals_take(shared, INT64_MAX, out, 4);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(out[0].count + out[1].count, 20000);
    refusals_free(shared);
}
END_TEST

static Suite *refusals_suite(void)
{
    Suite *s = suite_create("refusals");
    TCase *tc = tcase_create("refusals");
    tcase_add_test(tc, first_reported_rest_counted);
    tcase_add_test(tc, full_table_counts_the_others_together);
    tcase_add_test(tc, bounded_take_keeps_the_rest);
    tcase_add_test(tc, bad_capacity_refused);
    tcase_add_test(tc, threads_lose_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(refusals_suite());
}
