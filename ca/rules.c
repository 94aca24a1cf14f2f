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

#include <stdio.h>
#include <string.h>

#include "ca/validity.h"
#include "base/jclock.h"

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

int rules_check_card_expiry(const char *expiry, time_t now, struct jerr *err)
{
    char shown[64];
    int y, m, d;
    struct tm today;
    time_t jst = now + VALIDITY_JST_OFFSET_S;
    time_t card_end = validity_card_end(expiry);

    if (card_end == (time_t)-1 || jclock_parse_date(expiry, &y, &m, &d) == -1) {
        jerr_escape(shown, sizeof(shown), expiry != NULL ? expiry : "",
                    expiry != NULL ? strnlen(expiry, 16) : 0);
        return jerr_set(err, JERR_INVALID, "expiry", "expiry: \"%s\" is not a day YYYY-MM-DD",
                        shown);
    }
    /* DESIGN §4: a card that has already ended cannot be registered. */
    if (card_end <= now)
        return jerr_set(err, JERR_INVALID, "expiry",
                        "expiry: %s is in the past: the card ended at 23:59:59 JST that day",
                        expiry);
    /* DESIGN §4: a My Number card runs at most until the 10th birthday after issuance. Days
     * are compared as Japanese dates; 29 February + 11 years compares fine as a tuple. */
    if (gmtime_r(&jst, &today) == NULL)
        return jerr_set(err, JERR_INTERNAL, "expiry", "cannot read today's date");
    int max_y = today.tm_year + 1900 + RULES_CARD_EXPIRY_MAX_YEARS;
    int max_m = today.tm_mon + 1, max_d = today.tm_mday;
    if (y > max_y || (y == max_y && (m > max_m || (m == max_m && d > max_d))))
        return jerr_set(err, JERR_INVALID, "expiry",
                        "expiry: %s is more than %d years ahead (at most %04d-%02d-%02d): no "
                        "card runs that long",
                        expiry, RULES_CARD_EXPIRY_MAX_YEARS, max_y, max_m, max_d);
    return 0;
}

bool rules_on_new_mynumber_card(const struct card *other, int *reason)
{
    if (other->state == CARD_RETURNED)
        return false;
    /* Guide 3(1): the Juki card is handed back and its certificates end; DESIGN §4: an older
     * My Number card is replaced by the new one. */
    *reason = other->type == CARD_JUKI ? REASON_CESSATION_OF_OPERATION : REASON_SUPERSEDED;
    return true;
}

bool rules_on_card_superseded(const struct cert_rec *c, enum cert_status *status, int *reason)
{
    if (c->status == CERT_REVOKED)
        return false;
    return rules_move(CERT_REVOKED, REASON_SUPERSEDED, status, reason);
}

time_t rules_sign_alone_not_after(time_t not_after, time_t auth_not_after, time_t now)
{
    /* Guide 3(1): "署名用電子証明書を利用者証明書と一緒に発行しない場合 … 5年間よりも短い場合
     * があります". Our reading: it ends with the authentication certificate. */
    if (auth_not_after > now && auth_not_after < not_after)
        return auth_not_after;
    return not_after;
}

/* Is `s` (len >= 4) a straight run: every character one more, or every one one less, than the
 * one before, all digits or all letters? */
static bool rules_is_straight_run(const char *s, size_t len)
{
    if (len < 4)
        return false;
    int step = s[1] - s[0];
    if (step != 1 && step != -1)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool digit = s[i] >= '0' && s[i] <= '9';
        bool letter = (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z');
        if (!digit && !letter)
            return false;
        if (i > 0 && (s[i] - s[i - 1] != step || digit != (s[i - 1] >= '0' && s[i - 1] <= '9')))
            return false;
    }
    return true;
}

int rules_check_password(const char *password, const char *birth_date, const char *field,
                         struct jerr *err)
{
    static const char advice[] = "is easy for others to guess (guide 4(7)): choose another";
    size_t len = password != NULL ? strlen(password) : 0;
    int y, m, d;

    if (len == 0)
        return 0; /* the card's own rule refuses it */
    bool repeated = true;
    for (size_t i = 1; i < len; i++)
        repeated = repeated && password[i] == password[0];
    if (repeated)
        return jerr_set(err, JERR_INVALID, field, "%s: a password of one repeated character %s",
                        field, advice);
    if (rules_is_straight_run(password, len))
        return jerr_set(err, JERR_INVALID, field,
                        "%s: a straight run of characters, each one step up or down from the "
                        "last, %s",
                        field, advice);
    if (birth_date != NULL && birth_date[0] != '\0' &&
        jclock_parse_date(birth_date, &y, &m, &d) == 0) {
        /* The forms a birth date is written in: what a guesser tries first. */
        char forms[5][16];
        static const char *const names[5] = {"YYYY", "MMDD", "DDMM", "YYMMDD", "YYYYMMDD"};
        snprintf(forms[0], sizeof(forms[0]), "%04d", y);
        snprintf(forms[1], sizeof(forms[1]), "%02d%02d", m, d);
        snprintf(forms[2], sizeof(forms[2]), "%02d%02d", d, m);
        snprintf(forms[3], sizeof(forms[3]), "%02d%02d%02d", y % 100, m, d);
        snprintf(forms[4], sizeof(forms[4]), "%04d%02d%02d", y, m, d);
        for (size_t i = 0; i < 5; i++)
            if (strcmp(password, forms[i]) == 0)
                return jerr_set(err, JERR_INVALID, field,
                                "%s: a password made of the holder's birth date (%s) %s", field,
                                names[i], advice);
    }
    return 0;
}
