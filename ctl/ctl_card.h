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
 *   card sign / card revoke      signing with the card's key and the revocation receipt:
 *                                ctl_sign.h
 *   card export IMAGE --slot S   a copy of a certificate (電子証明書の写し), PEM or DER
 *   card fingerprints IMAGE      the roots' fingerprints in the card (guide 4(11))
 *
 * Passwords come from a file (--password-file, --old-file, --new-file), the environment
 * (JPKI_CARD_PASSWORD, JPKI_CARD_NEW_PASSWORD) or the terminal without echo (ctl_prompt.h);
 * they are never printed and are wiped after use. The words and printers are ctl_card_print.h. The
 * card image counts every try before it answers (CARD.md). Each command returns the process exit
 * status (ctl.h). Personal data from the signing certificate goes to the output stream only; the
 * error stream gets ids and reasons.
 */
#ifndef JPKI_CTL_CARD_H
#define JPKI_CTL_CARD_H

#include <stdbool.h>
#include <openssl/evp.h>

#include "config/config.h"
#include "ctl/ctl.h"
#include "ctl/ctl_args.h"

/* Environment variables of the passwords, for scripts and tests. */
#define CTL_CARD_ENV_PASSWORD "JPKI_CARD_PASSWORD"
#define CTL_CARD_ENV_NEW_PASSWORD "JPKI_CARD_NEW_PASSWORD"

int ctl_card_show(struct ctl *ctl, const struct ctl_args *args);
int ctl_card_check(struct ctl *ctl, const struct ctl_args *args);
int ctl_card_passwd(struct ctl *ctl, const struct ctl_args *args);
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

/* ---- shared by the card commands (ctl_card.c, ctl_sign.c, ctl_prompt.c) ---- */

/* "signing" or "authentication". */
const char *ctl_card_slot_words(enum ca_kind slot);

/* --slot sign|auth into *slot. Returns an exit code (a usage error when absent or other). */
int ctl_card_parse_slot(struct ctl *ctl, const struct ctl_args *args, enum ca_kind *slot);

/* Loads the card image at `path` into *out (the caller frees with card_image_free). Returns an
 * exit code; a missing file is "no such card image file". */
struct card_image;
int ctl_card_load_image(struct ctl *ctl, const char *path, struct card_image **out);

/* Unlocks the slot's key with the password from --password-file / JPKI_CARD_PASSWORD / the
 * terminal; the card counts the try on disk (`path`) before answering. Returns an exit code;
 * *key is the caller's. */
int ctl_card_unlock(struct ctl *ctl, const struct ctl_args *args, struct card_image *ci,
                    const char *path, enum ca_kind slot, EVP_PKEY **key);

#endif
