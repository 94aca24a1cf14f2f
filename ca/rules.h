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
#include "config/jerr.h"

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

#endif
