/*
 * test_crlsched: when the service publishes its CRLs (responder/crl/crlsched.c), with exact times —
 * the periodic schedule, the publication after a change and its coalescing (a change within
 * the window joins it, never postpones it; armed early by the time a publication takes),
 * crl.after_change_s 0, the retries after failures
 * (doubling, capped, ended by a success, never postponing an earlier publication), the next
 * publication, and the max-age bound served with a CRL.
 */
#include <check.h>

#include "responder/crl/crlsched.h"
#include "testutil.h"

#define T0 1800000000 /* any wall time */

/* Every test's schedule: hourly, 60 s after a change, from T0 (a test may start its own). */
static struct crlsched sched;

static void sched_setup(void)
{
    crlsched_init(&sched, 3600, 60, T0);
}

START_TEST(periodic_only)
{
    ck_assert_int_eq(crlsched_next(&sched), T0 + 3600);
    crlsched_periodic_fired(&sched, T0 + 3600);
    ck_assert_int_eq(crlsched_next(&sched), T0 + 7200);
    /* A successful publication arms nothing. */
    ck_assert_int_eq(crlsched_published(&sched, true, T0 + 3601, 0), -1);
    ck_assert_int_eq(crlsched_next(&sched), T0 + 7200);
}
END_TEST

START_TEST(change_is_coalesced)
{
    /* The first change arms the publication 60 s later, less the second a publication is
     * taken to need until one was measured. */
    ck_assert_int_eq(crlsched_changed(&sched, T0 + 100), 59);
    ck_assert_int_eq(crlsched_next(&sched), T0 + 159);
    /* Changes within the window join it: nothing is re-armed further out. */
    ck_assert_int_eq(crlsched_changed(&sched, T0 + 101), -1);
    ck_assert_int_eq(crlsched_changed(&sched, T0 + 158), -1);
    ck_assert_int_eq(crlsched_next(&sched), T0 + 159);
    /* It fires; the next change arms a new one. */
    crlsched_soon_fired(&sched);
    ck_assert_int_eq(crlsched_next(&sched), T0 + 3600);
    ck_assert_int_eq(crlsched_changed(&sched, T0 + 161), 59);
    ck_assert_int_eq(crlsched_next(&sched), T0 + 220);
    /* The periodic publication stays as it was. */
    crlsched_soon_fired(&sched);
    ck_assert_int_eq(crlsched_published(&sched, true, T0 + 222, 0), -1);
    ck_assert_int_eq(crlsched_next(&sched), T0 + 3600);
}
END_TEST

/* The publication after a change is armed early by the time the last one took, so that the
 * CRL is served within after_change_s. */
START_TEST(change_allows_for_the_publication_time)
{
    ck_assert_int_eq(crlsched_published(&sched, true, T0 + 1, 1200), -1); /* 1.2 s: 2 s */
    ck_assert_int_eq(crlsched_changed(&sched, T0 + 100), 58);
    crlsched_soon_fired(&sched);
    /* One that found nothing to publish (-1) leaves the estimate as it was. */
    ck_assert_int_eq(crlsched_published(&sched, true, T0 + 160, -1), -1);
    ck_assert_int_eq(crlsched_changed(&sched, T0 + 200), 58);
    crlsched_soon_fired(&sched);
    /* A publication longer than the window: at once. */
    ck_assert_int_eq(crlsched_published(&sched, true, T0 + 300, 75000), -1);
    ck_assert_int_eq(crlsched_changed(&sched, T0 + 400), 0);
    ck_assert_int_eq(crlsched_next(&sched), T0 + 400);
    /* A quick one again: 10 ms (and 0) count as a second. */
    crlsched_soon_fired(&sched);
    ck_assert_int_eq(crlsched_published(&sched, true, T0 + 401, 10), -1);
    ck_assert_int_eq(crlsched_changed(&sched, T0 + 500), 59);
    crlsched_soon_fired(&sched);
    ck_assert_int_eq(crlsched_published(&sched, true, T0 + 560, 0), -1);
    ck_assert_int_eq(crlsched_changed(&sched, T0 + 600), 59);
}
END_TEST

START_TEST(change_near_the_periodic_one)
{
    /* A soon publication after the periodic one is armed all the same (the periodic one may
     * be running already), but the next publication is the periodic one. */
    ck_assert_int_eq(crlsched_changed(&sched, T0 + 3590), 59);
    ck_assert_int_eq(crlsched_next(&sched), T0 + 3600);
}
END_TEST

START_TEST(after_change_off)
{
    crlsched_init(&sched, 3600, 0, T0);
    ck_assert_int_eq(crlsched_changed(&sched, T0 + 100), -1);
    ck_assert_int_eq(crlsched_next(&sched), T0 + 3600);
    /* Retries after a failure still come. */
    ck_assert_int_eq(crlsched_published(&sched, false, T0 + 100, 0), CRLSCHED_RETRY_MIN_S);
}
END_TEST

START_TEST(retries_back_off)
{
    crlsched_init(&sched, 3600, 0, T0);
    time_t now = T0;
    long want = CRLSCHED_RETRY_MIN_S;
    for (int i = 0; i < 12; i++) {
        long delay = crlsched_published(&sched, false, now, 0);
        ck_assert_int_eq(delay, want);
        ck_assert_int_eq(crlsched_next(&sched), now + want);
        now += delay;
        crlsched_soon_fired(&sched);
        want = want * 2 > CRLSCHED_RETRY_MAX_S ? CRLSCHED_RETRY_MAX_S : want * 2;
    }
    ck_assert_int_eq(sched.retry_s, CRLSCHED_RETRY_MAX_S);
    /* A success ends the backoff: the next failure starts again from the shortest delay. */
    ck_assert_int_eq(crlsched_published(&sched, true, now, 0), -1);
    ck_assert_int_eq(crlsched_published(&sched, false, now, 0), CRLSCHED_RETRY_MIN_S);
}
END_TEST

START_TEST(retry_and_change_take_the_earlier)
{
    /* Failures up to a 40 s retry. */
    ck_assert_int_eq(crlsched_published(&sched, false, T0, 0), 5);
    crlsched_soon_fired(&sched);
    ck_assert_int_eq(crlsched_published(&sched, false, T0 + 5, 0), 10);
    crlsched_soon_fired(&sched);
    ck_assert_int_eq(crlsched_published(&sched, false, T0 + 15, 0), 20);
    crlsched_soon_fired(&sched);
    ck_assert_int_eq(crlsched_published(&sched, false, T0 + 35, 0), 40); /* at T0 + 75 */
    /* A change at T0 + 40 wants T0 + 99: the retry comes first and covers it. */
    ck_assert_int_eq(crlsched_changed(&sched, T0 + 40), -1);
    ck_assert_int_eq(crlsched_next(&sched), T0 + 75);
    crlsched_soon_fired(&sched);
    /* That retry fails too (80 s: T0 + 155); a change at T0 + 76 brings it to T0 + 135. */
    ck_assert_int_eq(crlsched_published(&sched, false, T0 + 75, 0), 80);
    ck_assert_int_eq(crlsched_changed(&sched, T0 + 76), 59);
    ck_assert_int_eq(crlsched_next(&sched), T0 + 135);
}
END_TEST

START_TEST(max_age)
{
    /* The cap, the next publication and nextUpdate: the smallest wins. */
    ck_assert_int_eq(crlsched_max_age(0, 0, 300, T0), 300);
    ck_assert_int_eq(crlsched_max_age(T0 + 3600, T0 + 86400, 300, T0), 300);
    ck_assert_int_eq(crlsched_max_age(T0 + 42, T0 + 86400, 300, T0), 42);
    ck_assert_int_eq(crlsched_max_age(T0 + 3600, T0 + 100, 300, T0), 100);
    ck_assert_int_eq(crlsched_max_age(0, T0 + 100, 300, T0), 100);
    /* Due or past: 0, never negative. */
    ck_assert_int_eq(crlsched_max_age(T0, T0 + 86400, 300, T0), 0);
    ck_assert_int_eq(crlsched_max_age(T0 - 5, T0 + 86400, 300, T0), 0);
    ck_assert_int_eq(crlsched_max_age(T0 + 60, T0 - 1, 300, T0), 0);
    ck_assert_int_eq(crlsched_max_age(T0 + 60, T0 + 600, 0, T0), 0);
}
END_TEST

static Suite *crlsched_suite(void)
{
    Suite *s = suite_create("crlsched");
    TCase *tc = tcase_create("schedule");
    tcase_add_checked_fixture(tc, sched_setup, NULL);
    tcase_add_test(tc, periodic_only);
    tcase_add_test(tc, change_is_coalesced);
    tcase_add_test(tc, change_allows_for_the_publication_time);
    tcase_add_test(tc, change_near_the_periodic_one);
    tcase_add_test(tc, after_change_off);
    tcase_add_test(tc, retries_back_off);
    tcase_add_test(tc, retry_and_change_take_the_earlier);
    tcase_add_test(tc, max_age);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(crlsched_suite());
}
