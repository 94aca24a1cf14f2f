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

/* A UTC time given as {year, month, day, hour, minute, second}. */
static time_t utc(const int t[6])
{
    return jclock_utc(t[0], t[1], t[2], t[3], t[4], t[5]);
}

/* validity_add_years: `from` plus `years` is `to`. */
static const struct {
    int from[6], years, to[6];
} additions[] = {
    /* Same calendar day and time of day, whatever the leap days in between. */
    {{2025, 3, 10, 12, 34, 56}, 5, {2030, 3, 10, 12, 34, 56}},
    {{2023, 12, 31, 23, 59, 59}, 1, {2024, 12, 31, 23, 59, 59}},
    /* 29 Feb → 28 Feb in a common year, 29 Feb in a leap year. */
    {{2024, 2, 29, 8, 0, 0}, 5, {2029, 2, 28, 8, 0, 0}},
    {{2024, 2, 29, 8, 0, 0}, 4, {2028, 2, 29, 8, 0, 0}},
    {{2096, 2, 29, 0, 0, 0}, 4, {2100, 2, 28, 0, 0, 0}}, /* 2100 is not a leap year */
    {{2024, 2, 28, 23, 0, 0}, 1, {2025, 2, 28, 23, 0, 0}},
    {{2024, 3, 1, 0, 0, 0}, 1, {2025, 3, 1, 0, 0, 0}},
    /* Ten-year roots cross 2050 (GeneralizedTime in the certificate). */
    {{2045, 7, 1, 0, 0, 0}, 10, {2055, 7, 1, 0, 0, 0}},
};

START_TEST(add_years)
{
    ck_assert_int_eq(validity_add_years(utc(additions[_i].from), additions[_i].years),
                     utc(additions[_i].to));
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

/* validity_compute from `now` of `years` for a card expiring `expiry`, capped to the card or
 * not, ends at `not_after` (and starts at the backdate, see compute_ok). */
static const struct {
    int now[6], years;
    bool cap;
    const char *expiry;
    int not_after[6];
} computed[] = {
    /* Calendar years. */
    {{2025, 3, 10, 12, 34, 56}, 5, true, "2035-01-01", {2030, 3, 10, 12, 34, 56}},
    {{2025, 3, 10, 12, 34, 56}, 5, false, "2035-01-01", {2030, 3, 10, 12, 34, 56}},
    /* Juki cards: three years. */
    {{2025, 3, 10, 12, 34, 56}, 3, true, "2035-01-01", {2028, 3, 10, 12, 34, 56}},
    /* From 29 February to 28 February. */
    {{2024, 2, 29, 8, 15, 30}, 5, true, "2034-12-31", {2029, 2, 28, 8, 15, 30}},
    /* The card ends first: notAfter is its last second, 14:59:59Z exactly. */
    {{2025, 1, 1, 0, 0, 0}, 5, true, "2027-08-20", {2027, 8, 20, 14, 59, 59}},
    /* Without the cap, five years even past the card. */
    {{2025, 1, 1, 0, 0, 0}, 5, false, "2027-08-20", {2030, 1, 1, 0, 0, 0}},
    /* Card ends on the very day five years land: 5 y at 00:00:00Z is earlier than 14:59:59Z. */
    {{2025, 1, 1, 0, 0, 0}, 5, true, "2030-01-01", {2030, 1, 1, 0, 0, 0}},
    /* Card ends the day before: capped. */
    {{2025, 1, 1, 0, 0, 0}, 5, true, "2029-12-31", {2029, 12, 31, 14, 59, 59}},
    /* At 20:00Z five years land on 2030-01-01 20:00Z, after the card's 14:59:59Z. */
    {{2025, 1, 1, 20, 0, 0}, 5, true, "2030-01-01", {2030, 1, 1, 14, 59, 59}},
    /* A card expiring today: 10:00Z = 19:00 JST, still valid until 23:59:59 JST. */
    {{2025, 5, 5, 10, 0, 0}, 5, true, "2025-05-05", {2025, 5, 5, 14, 59, 59}},
    {{2025, 5, 5, 14, 59, 58}, 5, true, "2025-05-05", {2025, 5, 5, 14, 59, 59}},
};

START_TEST(compute)
{
    compute_ok(utc(computed[_i].now), computed[_i].years, computed[_i].cap, computed[_i].expiry,
               utc(computed[_i].not_after));
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

START_TEST(card_expiring_today)
{
    /* Until 14:59:58Z the card is valid (in the table above); at its last second and after (16:00Z
     * is already 6 May in Japan) the card has expired. */
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

/* validity_age of a holder born `birth` at the UTC time `at`. */
static const struct {
    const char *birth;
    int at[6], age;
} ages[] = {
    /* The age boundary: the day before the 18th birthday is a minor's, the birthday an adult's
     * — Japanese dates: 15:00 UTC is already the next day in Japan. Born 2008-04-02: 18 on
     * 2026-04-02 (JST). */
    {"2008-04-02", {2026, 4, 1, 0, 0, 0}, 17},
    {"2008-04-02", {2026, 4, 1, 14, 59, 59}, 17},
    {"2008-04-02", {2026, 4, 1, 15, 0, 0}, 18},
    {"2008-04-02", {2026, 4, 2, 12, 0, 0}, 18},
    {"2008-04-02", {2027, 1, 1, 0, 0, 0}, 18},
    /* an old person and a newborn */
    {"1930-12-31", {2026, 12, 30, 0, 0, 0}, 95},
    {"2026-12-07", {2026, 12, 7, 0, 0, 0}, 0},
    /* Born on 29 February: in a common year, 18 on 1 March (28 February is still 17); in a
     * leap year on 29 February itself. */
    {"2008-02-29", {2026, 2, 28, 3, 0, 0}, 17},
    {"2008-02-29", {2026, 2, 28, 14, 59, 59}, 17},
    {"2008-02-29", {2026, 2, 28, 15, 0, 0}, 18},
    {"2008-02-29", {2026, 3, 1, 3, 0, 0}, 18},
    /* born 2010-02-29 does not exist; born 2012-02-29 turns 18 in 2030 (common), 16 in 2028 */
    {"2012-02-29", {2028, 2, 28, 3, 0, 0}, 15},
    {"2012-02-29", {2028, 2, 29, 3, 0, 0}, 16},
    {"2012-02-29", {2030, 2, 28, 3, 0, 0}, 17},
    {"2012-02-29", {2030, 3, 1, 3, 0, 0}, 18},
    /* Not a date, none, born later: -1. */
    {"2010-02-29", {2026, 1, 1, 0, 0, 0}, -1},
    {NULL, {2026, 1, 1, 0, 0, 0}, -1},
    {"2027-01-01", {2026, 1, 1, 0, 0, 0}, -1},
};

START_TEST(age)
{
    ck_assert_int_eq(validity_age(ages[_i].birth, utc(ages[_i].at)), ages[_i].age);
}
END_TEST

/* The subscriber's validity follows the age: a minor's (under 18 in Japan) 5 years, an
 * adult's 10. */
START_TEST(age_years)
{
    struct jerr err = {0};
    ck_assert_int_eq(
        validity_subscriber_years("2008-04-02", jclock_utc(2026, 4, 1, 3, 0, 0), 10, 5, &err), 5);
    ck_assert_int_eq(
        validity_subscriber_years("2008-04-02", jclock_utc(2026, 4, 2, 3, 0, 0), 10, 5, &err), 10);
    ck_assert_int_eq(
        validity_subscriber_years("2026-12-07", jclock_utc(2026, 12, 7, 0, 0, 0), 10, 5, &err), 5);
}
END_TEST

START_TEST(age_bad_input)
{
    struct jerr err = {0};
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
    tcase_add_loop_test(tc, add_years, 0, (int)(sizeof(additions) / sizeof(additions[0])));
    tcase_add_test(tc, card_end);
    tcase_add_loop_test(tc, compute, 0, (int)(sizeof(computed) / sizeof(computed[0])));
    tcase_add_test(tc, backdate);
    tcase_add_test(tc, card_expiring_today);
    tcase_add_test(tc, expired_card);
    tcase_add_test(tc, bad_input);
    tcase_add_loop_test(tc, age, 0, (int)(sizeof(ages) / sizeof(ages[0])));
    tcase_add_test(tc, age_years);
    tcase_add_test(tc, age_bad_input);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(validity_suite());
}
