/*
 * test_validity: the validity policy of ca/validity.c — calendar years, 29 February, the card's
 * end at 23:59:59 JST, the cap, the one-minute backdate and the refusal of an expired card.
 */
#include <string.h>

#include "ca/validity.h"
#include "base/jclock.h"
#include "testutil.h"

#define SENTINEL ((time_t)12345)

/* Asserts the validity from `now` (notBefore always the backdate before it, see backdate). */
static void compute_ok(time_t now, int years, bool cap, const char *expiry, time_t want_na)
{
    time_t want_nb = now - VALIDITY_BACKDATE_S;
    struct jerr err;
    time_t nb = SENTINEL, na = SENTINEL;
    jerr_clear(&err);
    ck_assert_int_eq(validity_compute(now, years, cap, expiry, &nb, &na, &err), 0);
    ck_assert_int_eq(err.code, JERR_NONE);
    ck_assert_int_eq((long long)nb, (long long)want_nb);
    ck_assert_int_eq((long long)na, (long long)want_na);
}

/* Asserts a refusal and that neither output was written. */
static void compute_refused(time_t now, int years, bool cap, const char *expiry, int want_code,
                            const char *want_field, const char *want_in_msg)
{
    struct jerr err;
    time_t nb = SENTINEL, na = SENTINEL;
    jerr_clear(&err);
    ck_assert_int_eq(validity_compute(now, years, cap, expiry, &nb, &na, &err), -1);
    ck_assert_int_eq(err.code, want_code);
    ck_assert_str_eq(err.field, want_field);
    if (want_in_msg != NULL)
        ck_assert_msg(strstr(err.msg, want_in_msg) != NULL, "\"%s\" not in \"%s\"", want_in_msg,
                      err.msg);
    ck_assert_int_eq((long long)nb, (long long)SENTINEL);
    ck_assert_int_eq((long long)na, (long long)SENTINEL);
}

START_TEST(add_years)
{
    /* Same calendar day and time of day, whatever the leap days in between. */
    ck_assert_int_eq(validity_add_years(jclock_utc(2025, 3, 10, 12, 34, 56), 5),
                     jclock_utc(2030, 3, 10, 12, 34, 56));
    ck_assert_int_eq(validity_add_years(jclock_utc(2023, 12, 31, 23, 59, 59), 1),
                     jclock_utc(2024, 12, 31, 23, 59, 59));
    /* 29 Feb → 28 Feb in a common year, 29 Feb in a leap year. */
    ck_assert_int_eq(validity_add_years(jclock_utc(2024, 2, 29, 8, 0, 0), 5),
                     jclock_utc(2029, 2, 28, 8, 0, 0));
    ck_assert_int_eq(validity_add_years(jclock_utc(2024, 2, 29, 8, 0, 0), 4),
                     jclock_utc(2028, 2, 29, 8, 0, 0));
    ck_assert_int_eq(validity_add_years(jclock_utc(2096, 2, 29, 0, 0, 0), 4),
                     jclock_utc(2100, 2, 28, 0, 0, 0)); /* 2100 is not a leap year */
    ck_assert_int_eq(validity_add_years(jclock_utc(2024, 2, 28, 23, 0, 0), 1),
                     jclock_utc(2025, 2, 28, 23, 0, 0));
    ck_assert_int_eq(validity_add_years(jclock_utc(2024, 3, 1, 0, 0, 0), 1),
                     jclock_utc(2025, 3, 1, 0, 0, 0));
    /* Ten-year roots cross 2050 (GeneralizedTime in the certificate). */
    ck_assert_int_eq(validity_add_years(jclock_utc(2045, 7, 1, 0, 0, 0), 10),
                     jclock_utc(2055, 7, 1, 0, 0, 0));
}
END_TEST

START_TEST(card_end)
{
    /* 23:59:59 JST = 14:59:59 UTC of the same day. */
    ck_assert_int_eq(validity_card_end("2030-06-15"), jclock_utc(2030, 6, 15, 14, 59, 59));
    ck_assert_int_eq(validity_card_end("2028-02-29"), jclock_utc(2028, 2, 29, 14, 59, 59));
    ck_assert_int_eq(validity_card_end("2030-01-01"), jclock_utc(2030, 1, 1, 14, 59, 59));
    ck_assert_int_eq(validity_card_end("2029-02-29"), (time_t)-1);
    ck_assert_int_eq(validity_card_end("2030-6-15"), (time_t)-1);
    ck_assert_int_eq(validity_card_end(""), (time_t)-1);
    ck_assert_int_eq(validity_card_end(NULL), (time_t)-1);
}
END_TEST

START_TEST(calendar_years)
{
    time_t now = jclock_utc(2025, 3, 10, 12, 34, 56);
    compute_ok(now, 5, true, "2035-01-01", jclock_utc(2030, 3, 10, 12, 34, 56));
    compute_ok(now, 5, false, "2035-01-01", jclock_utc(2030, 3, 10, 12, 34, 56));
    /* Juki cards: three years. */
    compute_ok(now, 3, true, "2035-01-01", jclock_utc(2028, 3, 10, 12, 34, 56));
    /* From 29 February to 28 February. */
    now = jclock_utc(2024, 2, 29, 8, 15, 30);
    compute_ok(now, 5, true, "2034-12-31", jclock_utc(2029, 2, 28, 8, 15, 30));
}
END_TEST

START_TEST(backdate)
{
    time_t now = jclock_utc(2025, 1, 1, 0, 0, 30);
    struct jerr err;
    time_t nb, na;
    jerr_clear(&err);
    ck_assert_int_eq(validity_compute(now, 5, true, "2040-01-01", &nb, &na, &err), 0);
    ck_assert_int_eq(now - nb, VALIDITY_BACKDATE_S);
    ck_assert_int_eq(VALIDITY_BACKDATE_S, 60);
    ck_assert_int_eq((long long)nb, (long long)jclock_utc(2024, 12, 31, 23, 59, 30));
}
END_TEST

START_TEST(cap_to_card)
{
    time_t now = jclock_utc(2025, 1, 1, 0, 0, 0);
    /* The card ends first: notAfter is its last second, 14:59:59Z exactly. */
    compute_ok(now, 5, true, "2027-08-20", jclock_utc(2027, 8, 20, 14, 59, 59));
    /* Without the cap, five years even past the card. */
    compute_ok(now, 5, false, "2027-08-20", jclock_utc(2030, 1, 1, 0, 0, 0));
    /* Card ends on the very day five years land: 5 y at 00:00:00Z is earlier than 14:59:59Z. */
    compute_ok(now, 5, true, "2030-01-01", jclock_utc(2030, 1, 1, 0, 0, 0));
    /* Card ends the day before: capped. */
    compute_ok(now, 5, true, "2029-12-31", jclock_utc(2029, 12, 31, 14, 59, 59));
    /* At 20:00Z five years land on 2030-01-01 20:00Z, after the card's 14:59:59Z. */
    time_t late = jclock_utc(2025, 1, 1, 20, 0, 0);
    compute_ok(late, 5, true, "2030-01-01", jclock_utc(2030, 1, 1, 14, 59, 59));
}
END_TEST

START_TEST(card_expiring_today)
{
    /* 10:00Z = 19:00 JST: the card is still valid until 23:59:59 JST. */
    time_t now = jclock_utc(2025, 5, 5, 10, 0, 0);
    compute_ok(now, 5, true, "2025-05-05", jclock_utc(2025, 5, 5, 14, 59, 59));
    now = jclock_utc(2025, 5, 5, 14, 59, 58);
    compute_ok(now, 5, true, "2025-05-05", jclock_utc(2025, 5, 5, 14, 59, 59));
    /* At its last second and after (16:00Z is already 6 May in Japan) the card has expired. */
    compute_refused(jclock_utc(2025, 5, 5, 14, 59, 59), 5, true, "2025-05-05", JERR_REFUSED, "card",
                    "2025-05-05");
    compute_refused(jclock_utc(2025, 5, 5, 16, 0, 0), 5, true, "2025-05-05", JERR_REFUSED, "card",
                    "expired on 2025-05-05");
}
END_TEST

START_TEST(expired_card)
{
    time_t now = jclock_utc(2025, 5, 5, 0, 0, 0);
    compute_refused(now, 5, true, "2025-05-04", JERR_REFUSED, "card", "expired on 2025-05-04");
    /* Refused even when certificates are not capped to the card. */
    compute_refused(now, 5, false, "2020-01-01", JERR_REFUSED, "card", "expired on 2020-01-01");
}
END_TEST

START_TEST(bad_input)
{
    time_t now = jclock_utc(2025, 5, 5, 0, 0, 0);
    compute_refused(now, 5, true, "2030-02-30", JERR_INVALID, "expiry", NULL);
    compute_refused(now, 5, true, NULL, JERR_INVALID, "expiry", NULL);
    compute_refused(now, 5, true, "x\n", JERR_INVALID, "expiry", "x\\x0a");
    compute_refused(now, 0, true, "2030-01-01", JERR_INVALID, "validity_years", NULL);
    compute_refused(now, -1, true, "2030-01-01", JERR_INVALID, "validity_years", NULL);
    compute_refused(now, 101, true, "2030-01-01", JERR_INVALID, "validity_years", NULL);
}
END_TEST

/* The age boundary: the day before the 18th birthday is a minor's, the birthday an adult's —
 * Japanese dates: 15:00 UTC is already the next day in Japan. */
START_TEST(age_boundary)
{
    /* born 2008-04-02: 18 on 2026-04-02 (JST) */
    ck_assert_int_eq(validity_age("2008-04-02", jclock_utc(2026, 4, 1, 0, 0, 0)), 17);
    ck_assert_int_eq(validity_age("2008-04-02", jclock_utc(2026, 4, 1, 14, 59, 59)), 17);
    ck_assert_int_eq(validity_age("2008-04-02", jclock_utc(2026, 4, 1, 15, 0, 0)), 18);
    ck_assert_int_eq(validity_age("2008-04-02", jclock_utc(2026, 4, 2, 12, 0, 0)), 18);
    ck_assert_int_eq(validity_age("2008-04-02", jclock_utc(2027, 1, 1, 0, 0, 0)), 18);
    struct jerr err = {0};
    ck_assert_int_eq(
        validity_subscriber_years("2008-04-02", jclock_utc(2026, 4, 1, 3, 0, 0), 10, 5, &err), 5);
    ck_assert_int_eq(
        validity_subscriber_years("2008-04-02", jclock_utc(2026, 4, 2, 3, 0, 0), 10, 5, &err), 10);
    /* an old person and a newborn */
    ck_assert_int_eq(validity_age("1930-12-31", jclock_utc(2026, 12, 30, 0, 0, 0)), 95);
    ck_assert_int_eq(validity_age("2026-12-07", jclock_utc(2026, 12, 7, 0, 0, 0)), 0);
    ck_assert_int_eq(
        validity_subscriber_years("2026-12-07", jclock_utc(2026, 12, 7, 0, 0, 0), 10, 5, &err), 5);
}
END_TEST

/* Born on 29 February: in a common year, 18 on 1 March (28 February is still 17); in a leap
 * year on 29 February itself. */
START_TEST(age_leap_day)
{
    ck_assert_int_eq(validity_age("2008-02-29", jclock_utc(2026, 2, 28, 3, 0, 0)), 17);
    ck_assert_int_eq(validity_age("2008-02-29", jclock_utc(2026, 2, 28, 14, 59, 59)), 17);
    ck_assert_int_eq(validity_age("2008-02-29", jclock_utc(2026, 2, 28, 15, 0, 0)), 18);
    ck_assert_int_eq(validity_age("2008-02-29", jclock_utc(2026, 3, 1, 3, 0, 0)), 18);
    /* born 2010-02-29 does not exist; born 2012-02-29 turns 18 in 2030 (common), 16 in 2028 */
    ck_assert_int_eq(validity_age("2012-02-29", jclock_utc(2028, 2, 28, 3, 0, 0)), 15);
    ck_assert_int_eq(validity_age("2012-02-29", jclock_utc(2028, 2, 29, 3, 0, 0)), 16);
    ck_assert_int_eq(validity_age("2012-02-29", jclock_utc(2030, 2, 28, 3, 0, 0)), 17);
    ck_assert_int_eq(validity_age("2012-02-29", jclock_utc(2030, 3, 1, 3, 0, 0)), 18);
}
END_TEST

START_TEST(age_bad_input)
{
    struct jerr err = {0};
    ck_assert_int_eq(validity_age("2010-02-29", jclock_utc(2026, 1, 1, 0, 0, 0)), -1);
    ck_assert_int_eq(validity_age(NULL, jclock_utc(2026, 1, 1, 0, 0, 0)), -1);
    ck_assert_int_eq(validity_age("2027-01-01", jclock_utc(2026, 1, 1, 0, 0, 0)), -1);
    ck_assert_int_eq(validity_subscriber_years("x", jclock_utc(2026, 1, 1, 0, 0, 0), 10, 5, &err),
                     -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "birth_date");
}
END_TEST

static Suite *validity_suite(void)
{
    Suite *s = suite_create("validity");
    TCase *tc = tcase_create("validity");
    tcase_add_test(tc, add_years);
    tcase_add_test(tc, card_end);
    tcase_add_test(tc, calendar_years);
    tcase_add_test(tc, backdate);
    tcase_add_test(tc, cap_to_card);
    tcase_add_test(tc, card_expiring_today);
    tcase_add_test(tc, expired_card);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, age_boundary);
    tcase_add_test(tc, age_leap_day);
    tcase_add_test(tc, age_bad_input);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(validity_suite());
}
