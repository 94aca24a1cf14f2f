/*
 * ctl_window: the municipal window's jpkictl commands that write a holder's card image, the
 * only place the holder's private keys exist (docs/CARD.md):
 *
 *   card issue ID --certs WHICH --out DIR   certificates, and the keys the service generates,
 *                                           onto DIR/ID.card
 *   card reset-password IMAGE --slot S      the window's reset of a forgotten or locked
 *                                           password (guide 4(8)), the image updated in place
 *
 * The rule of both: a key is never left without its image. Before the API is called, the
 * output is checked — the directory made and writable with room to spare, an existing image
 * readable and the card's — and the passwords read (a passwords file, or asked twice without
 * echo on a terminal; otherwise the service generates them and they are shown once, or written
 * to a PIN letter, 0600, when --pin-letter asks). A re-issue of one slot sends the holder's
 * current image, so the service writes the new slot into it and keeps the other; the answer
 * replaces the file atomically (temp file, fsync, rename). If the image still cannot be
 * written after the issuance, the certificates just issued are revoked (reason unspecified,
 * J-LIS's reason for a card destroyed before delivery) and the operator is told so.
 *
 * Without --out no image can be kept, so an issuance whose keys the service generates is
 * refused before anything is sent (exit 2): there is no default directory, because an image
 * left in whatever directory the window's shell was in is a private key left behind.
 */
#ifndef JPKI_CTL_WINDOW_H
#define JPKI_CTL_WINDOW_H

#include <stddef.h>
#include <jansson.h>

#include "config/config.h"
#include "base/jerr.h"
#include "ctl/ctl.h"

/* Free space the output directory must have before an issuance (an image is ~8-100 KB). */
#define CTL_WINDOW_MIN_FREE_BYTES (1024L * 1024)
/* A card image read to be sent (card.c's own cap is 106,496 bytes). */
#define CTL_WINDOW_IMAGE_MAX (128 * 1024)
/* A passwords or certificate request file, at most. */
#define CTL_WINDOW_SMALL_FILE_MAX (16 * 1024)

int ctl_window_card_issue(struct ctl *ctl, const struct ctl_args *args);

/* Reads --passwords-file FILE: a JSON object {"sign": …, "auth": …} into *out (a new
 * reference; it holds passwords: the file's bytes are wiped, Jansson's copy is freed). Returns
 * an exit code. */
int ctl_window_passwords_file(struct ctl *ctl, const char *file, json_t **out);

/* "issued sign SERIAL not after TIME" for one certificate of an issue answer, sanitized. */
void ctl_window_print_issued(FILE *f, const json_t *cert);

/* The keys of certificates just issued are lost (their image or token could not be written):
 * revokes each of `certs` (an issue answer's array, unspecified) and says on the error stream
 * what happened to each. */
void ctl_window_revoke_issued(struct ctl *ctl, const json_t *certs);
int ctl_window_reset_password(struct ctl *ctl, const struct ctl_args *args);

/* ---- pure parts ---- */

/* The slots "--certs" names: "sign" 1 << CA_SIGN, "auth" 1 << CA_AUTH, "both" the two; -1 for
 * anything else. */
int ctl_window_which(const char *certs);

/* Checks that `dir` (existing) is a directory this process can create files in, with at least
 * `min_free` bytes free. Returns 0, or -1 with err (JERR_IO, field "--out", a sentence naming
 * the directory once). */
int ctl_window_check_dir(const char *dir, long min_free, struct jerr *err);

/* The PIN letter for card `card_id`: the generated passwords of `initial` ({"sign","auth"}),
 * one labelled line each, and what the holder should do with them. malloc'd text (the caller
 * wipes and frees it); NULL when out of memory or `initial` holds none. */
char *ctl_window_pin_letter(const char *card_id, const json_t *initial);

/* True when an id the operator typed can name a file: [A-Za-z0-9._-], 1..JPKI_ID_MAX, not
 * starting with '.'. */
bool ctl_window_is_file_safe_id(const char *s);

#endif
