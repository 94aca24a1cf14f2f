/*
 * validity: the certificate validity policy of DESIGN §3/§4 (see validity.h).
 *
 * Calendar arithmetic is done on broken-down UTC time (gmtime_r/timegm through jclock), never
 * by adding 365-day blocks, so "+5 years" lands on the same calendar day and time of day.
 * A card's expiry date is a Japanese date: the card is valid through 23:59:59 JST of that day,
 * which is 14:59:59 UTC of the same day (JST is UTC+9 all year, no DST).
 */
#include "ca/validity.h"

#include <string.h>

#include "base/jclock.h"

/* Cap on `years` so that the arithmetic stays far from time_t and ASN.1 limits. */
#define VALIDITY_MAX_YEARS 100

static bool validity_is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

time_t validity_add_years(time_t t, int years)
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL)
        return (time_t)-1;
    int y = tm.tm_year + 1900 + years;
    int d = tm.tm_mday;
    /* 29 February has no twin in a common year: the day before (28 Feb) keeps the
     * certificate inside the promised period rather than spilling into March. */
    if (tm.tm_mon == 1 && d == 29 && !validity_is_leap(y))
        d = 28;
    return jclock_utc(y, tm.tm_mon + 1, d, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

time_t validity_card_end(const char *card_expiry)
{
    int y, m, d;
    if (card_expiry == NULL || jclock_parse_date(card_expiry, &y, &m, &d) == -1)
        return (time_t)-1;
    /* 23:59:59 JST of the expiry day = 23:59:59 UTC minus nine hours. */
    return jclock_utc(y, m, d, 23, 59, 59) - VALIDITY_JST_OFFSET_S;
}

int validity_age(const char *birth_date, time_t now)
{
    int by, bm, bd;
    struct tm tm;
    time_t jst = now + VALIDITY_JST_OFFSET_S; /* the Japanese date of `now`, as a UTC date */
    if (birth_date == NULL || jclock_parse_date(birth_date, &by, &bm, &bd) == -1 ||
        gmtime_r(&jst, &tm) == NULL)
        return -1;
    int y = tm.tm_year + 1900, m = tm.tm_mon + 1, d = tm.tm_mday;
    /* Comparing (month, day) puts a 29 February birthday, in a common year, between 28
     * February (not yet) and 1 March (reached). */
    int age = y - by - ((m < bm || (m == bm && d < bd)) ? 1 : 0);
    return age >= 0 ? age : -1;
}

int validity_subscriber_years(const char *birth_date, time_t now, int years, int years_minor,
                              struct jerr *err)
{
    int age = validity_age(birth_date, now);
    if (age < 0)
        return jerr_set(err, JERR_INVALID, "birth_date",
                        "the birth date is not a calendar day on or before today");
    return age < VALIDITY_ADULT_AGE ? years_minor : years;
}

int validity_compute(time_t now, int years, bool cap_to_card, const char *card_expiry,
                     time_t *not_before, time_t *not_after, struct jerr *err)
{
    if (years < 1 || years > VALIDITY_MAX_YEARS)
        return jerr_set(err, JERR_INVALID, "validity_years", "validity of %d years is out of 1..%d",
                        years, VALIDITY_MAX_YEARS);
    time_t card_end = validity_card_end(card_expiry);
    if (card_end == (time_t)-1) {
        char shown[64];
        jerr_escape(shown, sizeof(shown), card_expiry != NULL ? card_expiry : "",
                    card_expiry != NULL ? strnlen(card_expiry, 16) : 0);
        return jerr_set(err, JERR_INVALID, "expiry",
                        "card expiry \"%s\" is not a calendar day YYYY-MM-DD", shown);
    }
    /* DESIGN §4: nothing is issued onto an expired card, whatever the cap setting. */
    if (card_end <= now)
        return jerr_set(err, JERR_REFUSED, "card",
                        "the card expired on %s (valid through 23:59:59 JST of that day)",
                        card_expiry);

    time_t end = validity_add_years(now, years);
    if (end == (time_t)-1)
        return jerr_set(err, JERR_INTERNAL, "validity_years", "cannot add %d years to %lld", years,
                        (long long)now);
    /* DESIGN §3: min(N years, card expiry). */
    if (cap_to_card && card_end < end)
        end = card_end;

    /* DESIGN §3: backdated by at most one minute for the clocks of relying parties. */
    *not_before = now - VALIDITY_BACKDATE_S;
    *not_after = end;
    return 0;
}
