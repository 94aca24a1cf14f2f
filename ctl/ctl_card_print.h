/*
 * ctl_card_print: a card's certificates in words for the holder and relying parties — validity
 * and the guide 4(12) warning, the signing certificate's four facts, statuses, fingerprints and
 * the revocation receipt. Pure parts (shared with `verify`, ctl_verify.h) plus writers to a
 * stream the caller gives; outside text is sanitized before it is written.
 */
#ifndef JPKI_CTL_CARD_PRINT_H
#define JPKI_CTL_CARD_PRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>
#include <jansson.h>
#include <openssl/x509.h>

#include "base/jerr.h"
#include "base/limits.h"
#include "config/config.h"
#include "ctl/ctl_rp.h"

/* Guide 4(12): the client warns when a certificate has less than this many months left. */
#define CTL_CARD_WARN_MONTHS 3

/* ---- pure parts ---- */

/* Where a certificate stands in time at `now`. */
enum ctl_card_validity {
    CTL_CARD_VALID = 0,
    CTL_CARD_EXPIRING, /* valid, with less than CTL_CARD_WARN_MONTHS months left */
    CTL_CARD_EXPIRED,  /* now is past notAfter */
    CTL_CARD_NOT_YET_VALID,
};

/* RFC 5280 §4.1.2.5: valid from notBefore through notAfter inclusive. "Less than 3 months"
 * counts calendar months in UTC: expiring when not_after < now + 3 months (the day of month
 * kept, or the last day of a shorter month), so exactly 3 months left is not yet a warning. */
enum ctl_card_validity ctl_card_validity_at(time_t not_before, time_t not_after, time_t now);

/* Decodes the 9-character JPKI birth date (era digit + Gregorian YYYYMMDD, docs/PROFILES.md)
 * into "YYYY-MM-DD". Refuses (-1) anything else: wrong length, non-digits, not a calendar day,
 * or an era digit that is not the era of that day (model_jpki_birth_date). */
int ctl_card_birth_date(const char *jpki, char out[11]);

/* The gender code of the SAN in words: "1" male, "2" female, "3" not stated; NULL otherwise. */
const char *ctl_card_gender_words(const char *code);

/* A status in words: "good", "on hold since T", "revoked since T (reason)", "unknown to the
 * responder". */
void ctl_card_status_words(const struct ctl_rp_status *st, char *out, size_t size);

/* The signing certificate's four facts as the holder and relying parties read them. */
struct ctl_card_facts {
    char name[JPKI_NAME_MAX + 1];
    char address[JPKI_ADDRESS_MAX + 1];
    char birth_date[11];     /* YYYY-MM-DD, or the raw JPKI value when it does not decode */
    bool birth_date_decoded; /* false: birth_date holds the raw value */
    char gender[32];         /* in words, or "code X" for an unknown code */
};

/* Reads the facts from a signing certificate's SAN (profile_read_facts). Returns 0, or -1 with
 * err (JERR_INVALID field "certificate") when the certificate carries no name. */
int ctl_card_read_facts(X509 *cert, struct ctl_card_facts *out, struct jerr *err);

/* notBefore / notAfter as seconds since the epoch. Returns 0 or -1 (unreadable time). */
int ctl_card_cert_times(X509 *cert, time_t *not_before, time_t *not_after);

/* Whole days from `now` to `not_after`, rounded down (negative when past). */
long ctl_card_days_left(time_t not_after, time_t now);

/* The SHA-256 fingerprint of `cert` (pki_fingerprint), or "?" when it cannot be computed. */
void ctl_card_fingerprint(X509 *cert, char fp[96]);

/* ---- writers ---- */

/* Writes the four facts, one "  label: value" line each, sanitized. */
void ctl_card_print_facts(FILE *f, const struct ctl_card_facts *facts);

/* Writes a card's certificate of `slot`: subject, the four facts (signing slot), validity with
 * the guide 4(12) warning at `now`, serial, issuer and SHA-256 fingerprint. */
void ctl_card_print_cert(FILE *f, X509 *cert, enum ca_kind slot, time_t now);

/* Writes the roots stored in a card (image or token), indexed by CA, fingerprint and subject
 * each (guide 4(11)); a missing one is said to be missing. The tries left on a password are
 * ctl_holdcard_print_pin's. */
void ctl_card_print_roots(FILE *f, X509 *const roots[CA_KIND_COUNT]);

/* Writes a revocation receipt (the service's JSON answer) in words, one "  label: value" line
 * per known member, sanitized; unknown members are listed after them as they came. */
void ctl_card_print_receipt(FILE *f, const json_t *receipt);

#endif
