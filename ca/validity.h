/*
 * validity: the certificate validity policy (DESIGN §3, §4). Pure functions over plain values.
 *
 * notBefore = issue time backdated by VALIDITY_BACKDATE_S for clock skew.
 * notAfter  = min(issue time + N years, end of the card's expiry day), where "+ N years" keeps
 *             the calendar day (29 Feb → 28 Feb in a common year) and the card's expiry day
 *             ends at 23:59:59 Japan Standard Time (UTC+9, no DST) — the card is a Japanese
 *             document and its date is a Japanese date.
 */
#ifndef JPKI_VALIDITY_H
#define JPKI_VALIDITY_H

#include <stdbool.h>
#include <time.h>

#include "base/jerr.h"

#define VALIDITY_BACKDATE_S 60
#define VALIDITY_JST_OFFSET_S (9 * 3600)

/* t plus `years` calendar years (UTC), 29 Feb mapping to 28 Feb in a common year. */
time_t validity_add_years(time_t t, int years);

/* The last second of the card's expiry day "YYYY-MM-DD" (23:59:59 JST). -1 on a bad date. */
time_t validity_card_end(const char *card_expiry);

/* The adult age: a holder younger on the day of issuance gets subscriber.validity_years_minor. */
#define VALIDITY_ADULT_AGE 18

/* The age in whole years at `now` of a person born on `birth_date` "YYYY-MM-DD", both as
 * Japanese dates (now's day in JST): one year older on each birthday, for a 29 February birth
 * on 1 March of a common year (the day after 28 February ends, Civil Code art. 143 with the Act
 * on Age Calculation). -1 on a bad date or a birth after `now`. */
int validity_age(const char *birth_date, time_t now);

/* The validity in years of a subscriber certificate issued at `now` to a person born on
 * `birth_date`: `years_minor` under VALIDITY_ADULT_AGE, else `years`. JERR_INVALID
 * "birth_date" on a date validity_age cannot use. Returns the years, or -1. */
int validity_subscriber_years(const char *birth_date, time_t now, int years, int years_minor,
                              struct jerr *err);

/* Computes the validity of a certificate issued at `now`. Refuses (JERR_REFUSED, field "card")
 * when the card's end is not after `now`. Returns 0 or -1. */
int validity_compute(time_t now, int years, bool cap_to_card, const char *card_expiry,
                     time_t *not_before, time_t *not_after, struct jerr *err);

#endif
