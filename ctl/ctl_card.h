/*
 * ctl_card: jpkictl's card holder commands (DESIGN §1 "holder's client functions", user guide
 * 4(5)B and 4(6)–4(12)) over a card image file (keystore/card.h, docs/CARD.md):
 *
 *   card show IMAGE              both certificates in words: subject, the signing certificate's
 *                                four facts (birth date as YYYY-MM-DD, gender in words),
 *                                validity, serial, issuer, SHA-256 fingerprint, a warning when
 *                                less than 3 months remain (guide 4(12)), tries left per slot,
 *                                and the roots' fingerprints (guide 4(11))
 *   card check IMAGE             each certificate's status from the service (OCSP, the CRL when
 *                                OCSP gives no answer) and the card's roots against the
 *                                fingerprints the service publishes (guide 4(10), 4(11))
 *   card passwd IMAGE --slot S   the holder's password change (guide 4(7))
 *   card sign IMAGE FILE         a detached CMS SignedData (RFC 5652, SHA-256) over FILE with the
 *                                signing key and certificate (guide 4(9))
 *   card revoke IMAGE --reason R the online revocation request, signed with the signing key
 *                                (guide 4(5)B), and its receipt
 *   card export IMAGE --slot S   a copy of a certificate (電子証明書の写し), PEM or DER
 *   card fingerprints IMAGE      the roots' fingerprints in the card (guide 4(11))
 *
 * Passwords come from a file (--password-file, --old-file, --new-file), the environment
 * (JPKI_CARD_PASSWORD, JPKI_CARD_NEW_PASSWORD) or the terminal without echo; they are never
 * printed and are wiped after use. The card image counts every try before it answers (CARD.md).
 * Each command returns the process exit status (ctl.h). Personal data from the signing
 * certificate goes to the output stream only; the error stream gets ids and reasons.
 */
#ifndef JPKI_CTL_CARD_H
#define JPKI_CTL_CARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>
#include <jansson.h>
#include <openssl/x509.h>

#include "config/config.h"
#include "base/limits.h"
#include "ctl/ctl.h"
#include "ctl/ctl_rp.h"

/* A password read from a file, the environment or the terminal, at most (bytes). */
#define CTL_CARD_PASSWORD_MAX 64
/* Guide 4(12): the client warns when a certificate has less than this many months left. */
#define CTL_CARD_WARN_MONTHS 3
/* Environment variables of the passwords, for scripts and tests. */
#define CTL_CARD_ENV_PASSWORD "JPKI_CARD_PASSWORD"
#define CTL_CARD_ENV_NEW_PASSWORD "JPKI_CARD_NEW_PASSWORD"
/* A revocation receipt from the service, at most (bytes). */
#define CTL_CARD_RECEIPT_MAX (64 * 1024)

int ctl_card_show(struct ctl *ctl, const struct ctl_args *args);
int ctl_card_check(struct ctl *ctl, const struct ctl_args *args);
int ctl_card_passwd(struct ctl *ctl, const struct ctl_args *args);
int ctl_card_sign(struct ctl *ctl, const struct ctl_args *args);
int ctl_card_revoke(struct ctl *ctl, const struct ctl_args *args);
int ctl_card_export(struct ctl *ctl, const struct ctl_args *args);
int ctl_card_fingerprints(struct ctl *ctl, const struct ctl_args *args);

/* The file name jpkictl gives a card image (card issue: DIR/ID.card). */
#define CTL_CARD_IMAGE_SUFFIX ".card"

/* `card show ID|IMAGE`: the holder's show when the argument names a card image (it contains a
 * '/', which no card id can, ends in ".card", or names an existing file), else the operator's
 * lookup of card ID through the API (ctl_ops_card_show). A missing image file is said to be
 * missing ("no such card image file"), not looked up as a card id. */
int ctl_card_show_any(struct ctl *ctl, const struct ctl_args *args);
bool ctl_card_arg_is_image(const char *arg);

/* A new password for `slot` (buf: CTL_CARD_PASSWORD_MAX + 1 bytes, the caller wipes it): the
 * first line of `file` (option `opt`), else the environment variable `env` (may be NULL),
 * else the terminal without echo, asked twice ("New signing password of card c1 (…): ",
 * `whose` may be NULL). It must follow the card's rule (card_image_check_password). With
 * `allow_empty`, an empty answer on the terminal is accepted and leaves buf "" (the service
 * generates one). Returns an exit code. */
int ctl_card_read_new_password(struct ctl *ctl, enum ca_kind slot, const char *opt,
                               const char *file, const char *env, const char *whose,
                               bool allow_empty, char *buf);

/* RFC 4648 §4 base64 through OpenSSL's decoder into a malloc'd *out (the caller frees).
 * Returns 0 or -1. */
int ctl_card_base64_decode(const char *b64, unsigned char **out, size_t *out_len);

/* ---- pure parts, shared with `verify` (ctl_verify.h) ---- */

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

/* Writes the four facts, one "  label: value" line each, sanitized. */
void ctl_card_print_facts(FILE *f, const struct ctl_card_facts *facts);

/* notBefore / notAfter as seconds since the epoch. Returns 0 or -1 (unreadable time). */
int ctl_card_cert_times(X509 *cert, time_t *not_before, time_t *not_after);

/* Whole days from `now` to `not_after`, rounded down (negative when past). */
long ctl_card_days_left(time_t not_after, time_t now);

/* Writes a revocation receipt (the service's JSON answer) in words, one "  label: value" line
 * per known member, sanitized; unknown members are listed after them as they came. */
void ctl_card_print_receipt(FILE *f, const json_t *receipt);

#endif
