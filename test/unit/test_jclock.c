/*
 * test_jclock: the one clock (base/jclock.c) — dates, formatting, pinning, the monotonic
 * helpers, and above all who may move it: JPKI_FAKE_NOW pins the clock only in a build
 * configured with JPKI_TEST_CLOCK; a release build ignores it (issue 11 §3).
 *
 * CMake builds this suite twice: test_jclock against this build's libjpki, and
 * test_jclock_other over base/jclock.c compiled with the opposite setting. Each is told which
 * variant it runs (JPKI_EXPECT_TEST_CLOCK), so every build — the release build of the
 * acceptance checks as much as the test builds of scripts/test — proves both behaviours.
 * Links Check and jclock only (no testutil: the other variant has no libjpki).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/jclock.h"

#ifndef JPKI_EXPECT_TEST_CLOCK
#error "JPKI_EXPECT_TEST_CLOCK (0 or 1) is set by CMakeLists.txt"
#endif

/* 2035-01-01T00:00:00Z */
#define T2035 ((time_t)2051222400)

/* True when jclock_now() is the system clock (within the two seconds a slow CI may take). */
static bool is_real_clock(void)
{
    time_t d = jclock_now() - time(NULL);
    return d >= -2 && d <= 2;
}

static void fake_now(const char *value)
{
    if (value == NULL)
        unsetenv("JPKI_FAKE_NOW");
    else
        setenv("JPKI_FAKE_NOW", value, 1);
}

START_TEST(test_dates)
{
    int y, m, d;
    ck_assert_int_eq(jclock_parse_date("2024-02-29", &y, &m, &d), 0);
    ck_assert_int_eq(y * 10000 + m * 100 + d, 20240229);
    const char *bad[] = {"2023-02-29", "2100-02-29", "2024-13-01", "2024-00-10", "2024-04-31",
                         "2024-4-01",  "2024/04/01", "24-04-01",   "",           "2024-04-01x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(jclock_parse_date(bad[i], &y, &m, &d) == -1, "%s accepted", bad[i]);
    ck_assert_int_eq(jclock_parse_date(NULL, &y, &m, &d), -1);
    ck_assert_int_eq(jclock_utc(2035, 1, 1, 0, 0, 0), T2035);
    char buf[32];
    ck_assert_str_eq(jclock_format(T2035 + 3661, buf, sizeof(buf)), "2035-01-01T01:01:01Z");
}
END_TEST

/* X.509 times, both encodings (RFC 5280 §4.1.2.5): UTCTime to 2049, GeneralizedTime after. */
START_TEST(test_from_asn1)
{
    time_t t = 42;
    ASN1_TIME *a = ASN1_TIME_new();
    ck_assert(ASN1_TIME_set_string(a, "350101010101Z") == 1);
    ck_assert_int_eq(jclock_from_asn1(a, &t), 0);
    ck_assert_int_eq(t, T2035 + 3661);
    ck_assert(ASN1_TIME_set_string(a, "20500101000000Z") == 1);
    ck_assert_int_eq(jclock_from_asn1(a, &t), 0);
    ck_assert_int_eq(t, jclock_utc(2050, 1, 1, 0, 0, 0));
    /* not a time: refused, *out untouched */
    t = 42;
    ck_assert(ASN1_STRING_set(a, "20501301000000Z", -1) == 1);
    ck_assert_int_eq(jclock_from_asn1(a, &t), -1);
    ck_assert_int_eq(jclock_from_asn1(NULL, &t), -1);
    ck_assert_int_eq(t, 42);
    ASN1_TIME_free(a);
}
END_TEST

START_TEST(test_set_pins_and_unpins)
{
    jclock_set(T2035);
    ck_assert_int_eq(jclock_now(), T2035);
    jclock_set(0);
    ck_assert(is_real_clock());
}
END_TEST

START_TEST(test_monotonic)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long long ms = jclock_mono_ms();
    time_t s = jclock_mono_s();
    /* Pinning the wall clock never moves the monotonic one. */
    jclock_set(T2035);
    ck_assert_int_le(s, jclock_mono_s());
    ck_assert_int_le(ms, jclock_mono_ms());
    ck_assert_int_le(jclock_mono_ms() - ms, 1000);
    double since = jclock_seconds_since(&t0);
    ck_assert(since >= 0 && since < 1);
    jclock_set(0);
}
END_TEST

START_TEST(test_env_unset_is_the_real_clock)
{
    jclock_set(0);
    fake_now(NULL);
    ck_assert_int_eq(jclock_init_from_env(), 0);
    ck_assert(is_real_clock());
    fake_now("");
    ck_assert_int_eq(jclock_init_from_env(), 0);
    ck_assert(is_real_clock());
}
END_TEST

/* The finding of issue 11 §3: JPKI_FAKE_NOW=2035-… made a released jpkid sign 2035 CRLs. */
START_TEST(test_env_fake_now)
{
    jclock_set(0);
    fake_now("2035-01-01T00:00:00Z");
    int rc = jclock_init_from_env();
#if JPKI_EXPECT_TEST_CLOCK
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(jclock_now(), T2035);
    fake_now("2051222461"); /* seconds since the epoch */
    ck_assert_int_eq(jclock_init_from_env(), 0);
    ck_assert_int_eq(jclock_now(), T2035 + 61);
#else
    /* Ignored, and said so (jpkid prints a notice); the clock is the system's. */
    ck_assert_int_eq(rc, 1);
    ck_assert(is_real_clock());
    fake_now("2051222461");
    ck_assert_int_eq(jclock_init_from_env(), 1);
    ck_assert(is_real_clock());
#endif
    jclock_set(0);
    fake_now(NULL);
}
END_TEST

START_TEST(test_env_not_a_time)
{
    const char *bad[] = {"tomorrow", "2035-02-30T00:00:00Z", "2035-01-01T24:00:00Z", "-5", "0",
                         "12x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        jclock_set(0);
        fake_now(bad[i]);
        int rc = jclock_init_from_env();
        /* A test build refuses it; a release build does not even read it. */
        ck_assert_msg(rc == (JPKI_EXPECT_TEST_CLOCK ? -1 : 1), "%s: %d", bad[i], rc);
        ck_assert(is_real_clock());
    }
    fake_now(NULL);
}
END_TEST

static Suite *jclock_suite(void)
{
    Suite *s = suite_create(JPKI_EXPECT_TEST_CLOCK ? "jclock (test clock)" : "jclock (release)");
    TCase *tc = tcase_create("clock");
    tcase_add_test(tc, test_dates);
    tcase_add_test(tc, test_from_asn1);
    tcase_add_test(tc, test_set_pins_and_unpins);
    tcase_add_test(tc, test_monotonic);
    suite_add_tcase(s, tc);
    tc = tcase_create("environment");
    tcase_add_test(tc, test_env_unset_is_the_real_clock);
    tcase_add_test(tc, test_env_fake_now);
    tcase_add_test(tc, test_env_not_a_time);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(jclock_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
