/*
 * rules: the lifecycle rules of DESIGN §4 as pure decisions over plain records. They say
 * whether an event is allowed and which certificates it touches; lifecycle.c carries the
 * decision out in one registry transaction. Every refusal is JERR_REFUSED with the field at
 * fault and the reason in words.
 */
#ifndef JPKI_RULES_H
#define JPKI_RULES_H

#include <stdbool.h>
#include <time.h>

#include "ca/model.h"
#include "base/jerr.h"

struct rules_policy {
    /* Last second on which a Juki card could receive certificates: the end of the
     * configured day in JST, i.e. validity_card_end(cfg->juki_issuance_end). Refusal
     * messages name its JST calendar day. */
    time_t juki_issuance_end;
};

/* May a certificate of `ca` be issued onto `card` of `person` at `now`? Refuses a Juki card
 * after juki_issuance_end, a suspended or returned card, an expired card, a deceased person. */
int rules_check_issue(const struct rules_policy *pol, const struct person *person,
                      const struct card *card, enum ca_kind ca, time_t now, struct jerr *err);

/* Does the basic-info change from `old` to `new` touch the four facts (name, address, birth
 * date, gender)? When it does, every good or held signing certificate is revoked
 * affiliationChanged; authentication certificates never are. */
bool rules_basic_info_changed(const struct person *old_p, const struct person *new_p);

/* Which certificates does an event move, and to what? For each certificate of the card or
 * person (in `certs`), the decision functions return true and fill the new status/reason when
 * the event changes it. */
bool rules_on_supersede(const struct cert_rec *c, enum ca_kind issued_ca,
                        enum cert_status *status, int *reason);
bool rules_on_basic_info_change(const struct cert_rec *c, enum cert_status *status,
                                int *reason);
bool rules_on_hold(const struct cert_rec *c, enum cert_status *status, int *reason);
/* RULE guide 4(4): only the authentication certificate may be released from hold. */
bool rules_on_release(const struct cert_rec *c, enum cert_status *status, int *reason);
bool rules_on_card_return(const struct cert_rec *c, enum cert_status *status, int *reason);
bool rules_on_death(const struct cert_rec *c, enum cert_status *status, int *reason);

/* Card-level checks. */
int rules_check_hold(const struct card *card, struct jerr *err);    /* active card only */
int rules_check_release(const struct card *card, struct jerr *err); /* suspended only */
int rules_check_return(const struct card *card, struct jerr *err);  /* not yet returned */
/* Revocation of one certificate: refused when already revoked or a reason that operators
 * may not give. */
int rules_check_revoke(const struct cert_rec *c, int reason, struct jerr *err);

/* The longest a card may run: a My Number card is valid until the holder's 10th birthday after
 * issuance (so at most 11 years ahead, counted in Japanese calendar days). */
#define RULES_CARD_EXPIRY_MAX_YEARS 11

/* A card being registered at `now`: its expiry "YYYY-MM-DD" may be neither past (the card ends
 * 23:59:59 JST of that day) nor more than RULES_CARD_EXPIRY_MAX_YEARS after today's date in
 * Japan. JERR_INVALID naming "expiry". */
int rules_check_card_expiry(const char *expiry, time_t now, struct jerr *err);

/* What a new My Number card does to another card of the same person (DESIGN §4: one active My
 * Number card per person; guide 3(1): the Juki card is returned when a My Number card is
 * given). Returns true when `other` must be returned, with in *reason the revocation reason of
 * its certificates: cessationOfOperation for a Juki card, superseded for an older My Number
 * card. A card already returned is left alone. */
bool rules_on_new_mynumber_card(const struct card *other, int *reason);
/* The certificate rules of those two returns. */
bool rules_on_card_superseded(const struct cert_rec *c, enum cert_status *status, int *reason);

/* A signing certificate issued on its own (without the authentication certificate) ends no
 * later than the card's authentication certificate when that one ends sooner (our reading of
 * guide 3(1), docs/PROFILES.md), so that both are renewed together. `auth_not_after` is the
 * notAfter of the card's good authentication certificate, 0 when there is none; one that has
 * already ended at `now` does not count. Returns the notAfter to use. */
time_t rules_sign_alone_not_after(time_t not_after, time_t auth_not_after, time_t now);

/* RULE guide 4(7): a card password others can easily guess is refused — the holder's birth
 * date (`birth_date` "YYYY-MM-DD"; NULL or "" when unknown) written as YYYY, MMDD, DDMM,
 * YYMMDD or YYYYMMDD, one character repeated, or a straight run of four or more (1234, 9876,
 * 345678, ABCDEF). Only this rule: the card's own (length, alphabet) is
 * card_image_check_password's. JERR_INVALID naming `field`, with a message that says why and
 * never repeats the password. Returns 0 or -1. */
int rules_check_password(const char *password, const char *birth_date, const char *field,
                         struct jerr *err);

#endif
