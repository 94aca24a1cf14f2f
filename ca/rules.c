/*
 * rules: the lifecycle table of DESIGN §4 as pure decisions (see rules.h). Nothing here reads
 * the registry or the clock: the caller passes the records and `now`, and carries out what the
 * decisions say in one transaction (lifecycle.c).
 *
 * Every refusal is JERR_REFUSED with the field at fault ("card", "person", "serial") and a
 * message that says which rule refused; malformed input (a reason operators may not give) is
 * JERR_INVALID.
 */
#include "ca/rules.h"

#include <string.h>

#include "ca/validity.h"

/* The JST calendar day of `t` as YYYY-MM-DD (the dates of this scheme are Japanese dates). */
static const char *rules_jst_day(time_t t, char buf[16])
{
    time_t jst = t + VALIDITY_JST_OFFSET_S;
    struct tm tm;
    if (gmtime_r(&jst, &tm) == NULL || strftime(buf, 16, "%Y-%m-%d", &tm) == 0)
        strcpy(buf, "?");
    return buf;
}

int rules_check_issue(const struct rules_policy *pol, const struct person *person,
                      const struct card *card, enum ca_kind ca, time_t now, struct jerr *err)
{
    char day[16];
    if (pol == NULL || person == NULL || card == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "rules_check_issue: missing record");
    if (ca != CA_SIGN && ca != CA_AUTH)
        return jerr_set(err, JERR_INVALID, "ca", "unknown certificate authority %d", (int)ca);
    if (strcmp(card->person_id, person->id) != 0)
        return jerr_set(err, JERR_INTERNAL, "card", "card %s does not belong to person %s",
                        card->id, person->id);

    /* DESIGN §4 issue: nothing for a deceased person. */
    if (person->deceased)
        return jerr_set(err, JERR_REFUSED, "person",
                        "person %s is deceased: no certificate can be issued", person->id);
    /* DESIGN §4 issue: a returned card is out of use for good. */
    if (card->state == CARD_RETURNED)
        return jerr_set(err, JERR_REFUSED, "card",
                        "card %s has been returned: no certificate can be issued onto it",
                        card->id);
    /* DESIGN §4 issue: a suspended (held) card must be released at the window first. */
    if (card->state == CARD_SUSPENDED)
        return jerr_set(err, JERR_REFUSED, "card",
                        "card %s is suspended (on hold): release it before issuing", card->id);
    /* DESIGN §4 issue: an expired card (its end is 23:59:59 JST of the expiry day). */
    time_t card_end = validity_card_end(card->expiry);
    if (card_end == (time_t)-1)
        return jerr_set(err, JERR_INVALID, "expiry", "card %s has no valid expiry date", card->id);
    if (card_end <= now)
        return jerr_set(err, JERR_REFUSED, "card",
                        "card %s expired on %s: no certificate can be issued onto it", card->id,
                        card->expiry);
    /* DESIGN §4 / guide: Juki cards received certificates only until the end of Juki
     * issuance; the last second itself is still allowed. */
    if (card->type == CARD_JUKI && now > pol->juki_issuance_end)
        return jerr_set(err, JERR_REFUSED, "card",
                        "card %s is a Juki card: issuance onto Juki cards ended on %s", card->id,
                        rules_jst_day(pol->juki_issuance_end, day));
    return 0;
}

bool rules_basic_info_changed(const struct person *old_p, const struct person *new_p)
{
    /* Guide: the four basic facts of the resident register; nothing else counts. */
    return strcmp(old_p->name, new_p->name) != 0 || strcmp(old_p->address, new_p->address) != 0 ||
           strcmp(old_p->birth_date, new_p->birth_date) != 0 || old_p->gender != new_p->gender;
}

static bool rules_move(enum cert_status to, int why, enum cert_status *status, int *reason)
{
    *status = to;
    *reason = why;
    return true;
}

bool rules_on_supersede(const struct cert_rec *c, enum ca_kind issued_ca, enum cert_status *status,
                        int *reason)
{
    /* DESIGN §4 issue: the card's previous certificate of the same CA gives way to the new one.
     * A held one too: issuance needs an active card, so a held certificate on it can only be
     * a signing certificate left on hold after a release — which the guide says must be
     * revoked and re-issued; this issuance is that re-issue (docs/PROFILES.md). */
    if (c->ca != issued_ca || c->status == CERT_REVOKED)
        return false;
    return rules_move(CERT_REVOKED, REASON_SUPERSEDED, status, reason);
}

bool rules_on_basic_info_change(const struct cert_rec *c, enum cert_status *status, int *reason)
{
    /* Guide: a change of any of the four facts invalidates the signing certificate, which
     * carries them; the authentication certificate carries none and is untouched. */
    if (c->ca != CA_SIGN || c->status == CERT_REVOKED)
        return false;
    return rules_move(CERT_REVOKED, REASON_AFFILIATION_CHANGED, status, reason);
}

bool rules_on_hold(const struct cert_rec *c, enum cert_status *status, int *reason)
{
    /* Guide 一時保留: both certificates go on hold (RFC 5280 §5.3.1 certificateHold). */
    if (c->status != CERT_GOOD)
        return false;
    return rules_move(CERT_HOLD, REASON_CERTIFICATE_HOLD, status, reason);
}

bool rules_on_release(const struct cert_rec *c, enum cert_status *status, int *reason)
{
    /* RULE guide 4(4): only the authentication certificate may be released from hold; a held
     * signing certificate stays held until it is revoked and re-issued. */
    if (c->ca != CA_AUTH || c->status != CERT_HOLD)
        return false;
    return rules_move(CERT_GOOD, REASON_NONE, status, reason);
}

bool rules_on_card_return(const struct cert_rec *c, enum cert_status *status, int *reason)
{
    /* DESIGN §4: everything not yet revoked on a returned card ends (cessationOfOperation). */
    if (c->status == CERT_REVOKED)
        return false;
    return rules_move(CERT_REVOKED, REASON_CESSATION_OF_OPERATION, status, reason);
}

bool rules_on_death(const struct cert_rec *c, enum cert_status *status, int *reason)
{
    /* DESIGN §4: a death ends every certificate of the person (cessationOfOperation). */
    if (c->status == CERT_REVOKED)
        return false;
    return rules_move(CERT_REVOKED, REASON_CESSATION_OF_OPERATION, status, reason);
}

int rules_check_hold(const struct card *card, struct jerr *err)
{
    if (card->state == CARD_SUSPENDED)
        return jerr_set(err, JERR_REFUSED, "card", "card %s is already on hold", card->id);
    if (card->state == CARD_RETURNED)
        return jerr_set(err, JERR_REFUSED, "card", "card %s has been returned: it cannot be held",
                        card->id);
    return 0;
}

int rules_check_release(const struct card *card, struct jerr *err)
{
    if (card->state == CARD_RETURNED)
        return jerr_set(err, JERR_REFUSED, "card",
                        "card %s has been returned: it cannot be released", card->id);
    if (card->state != CARD_SUSPENDED)
        return jerr_set(err, JERR_REFUSED, "card", "card %s is not on hold", card->id);
    return 0;
}

int rules_check_return(const struct card *card, struct jerr *err)
{
    if (card->state == CARD_RETURNED)
        return jerr_set(err, JERR_REFUSED, "card", "card %s has already been returned", card->id);
    return 0;
}

int rules_check_revoke(const struct cert_rec *c, int reason, struct jerr *err)
{
    /* DESIGN §4 revoke: the reasons an operator may give. certificateHold is the hold event,
     * and removeFromCRL / the CA-compromise reasons are never a subscriber's. */
    if (reason != REASON_UNSPECIFIED && reason != REASON_KEY_COMPROMISE &&
        reason != REASON_AFFILIATION_CHANGED && reason != REASON_SUPERSEDED &&
        reason != REASON_CESSATION_OF_OPERATION)
        return jerr_set(err, JERR_INVALID, "reason",
                        "reason %d (%s) may not be given: use unspecified, keyCompromise, "
                        "affiliationChanged, superseded or cessationOfOperation",
                        reason, crl_reason_name(reason));
    /* Revocation is terminal; a held certificate may be revoked (guide: hold, then revoke). */
    if (c->status == CERT_REVOKED)
        return jerr_set(err, JERR_REFUSED, "serial", "certificate %s is already revoked (%s)",
                        c->serial, crl_reason_name(c->reason));
    return 0;
}
