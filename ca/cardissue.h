/*
 * cardissue: the municipal window's side of the card image (DESIGN §1, docs/CARD.md) — writing
 * the certificates and generated key pairs of an issuance onto a new card image, the initial
 * passwords that protect them, and the reset of a forgotten or locked password.
 *
 * Used by the operator API (POST /v1/cards/{id}/issue, .../reset-password) and by the batch
 * runner (one image file per card). Every use of the card-administration key goes through
 * pki_get0_card_admin and keystore/adminkey.h; nothing here logs, stores or keeps a password or
 * a private key: an image is built in memory, encoded, and freed (wiped) at once.
 *
 * A new image is encoded in memory (card_image_encode). The window's reset goes through
 * card_image_reset_password, which persists to a file: a scratch file under DATA_DIR/tmp
 * (0700 directory, 0600 file, removed before the call returns) whose bytes are read back. A
 * crash in between can leave such a file: it holds only what an image holds (keys under the
 * password and the administration key), like any image handed out.
 */
#ifndef JPKI_CARDISSUE_H
#define JPKI_CARDISSUE_H

#include <stdbool.h>
#include <stddef.h>

#include "ca/lifecycle.h"
#include "ca/pki.h"
#include "ca/store.h"
#include "base/jerr.h"
#include "keystore/card.h"

/* Longest password of any slot (the signing password's 16, DESIGN §1). */
#define CARDISSUE_PASSWORD_MAX 16
/* A generated signing password: 12 of A-Z0-9 (~62 bits; the rule allows 6..16). A generated
 * authentication PIN has the 4 digits the rule demands. */
#define CARDISSUE_SIGN_PASSWORD_GENERATED 12
/* The largest image read back or accepted (card.c's own cap is 106,496 bytes). */
#define CARDISSUE_IMAGE_MAX_BYTES (128 * 1024)

/* Initial passwords of an image's slots. SECRET: wipe with cardissue_passwords_wipe. */
struct cardissue_passwords {
    char value[CA_KIND_COUNT][CARDISSUE_PASSWORD_MAX + 1]; /* "" = not given (yet) */
    bool generated[CA_KIND_COUNT]; /* made by cardissue_passwords_fill: report them once */
};

void cardissue_passwords_wipe(struct cardissue_passwords *pw);

/* The slots a card image of `res` can hold: bit (1 << ca) for every certificate whose key
 * pair the service generated (a supplied public key has no private key to write). */
unsigned cardissue_slots(const struct issue_result *res);

/* Makes `pw` ready for an image holding `slots` (bits 1 << ca): a given password must follow
 * the card's rule (card_image_check_password), not be easy to guess for a holder born on
 * `birth_date` ("YYYY-MM-DD", NULL when unknown; rules_check_password, guide 4(7)) and belong
 * to a slot in `slots`, else JERR_INVALID naming prefix + "sign" / "auth" (prefix e.g.
 * "passwords."); a missing one is drawn from the CSPRNG (RAND_priv_bytes) — again while the
 * draw is one of those easy guesses — and marked generated. The message never repeats a
 * password. Returns 0 or -1. */
int cardissue_passwords_fill(struct cardissue_passwords *pw, unsigned slots, const char *birth_date,
                             const char *prefix, struct jerr *err);

/* A new image for the card of the issuance `res` (card id and expiry read through `st`, both
 * roots of `pki`), with every slot of cardissue_slots(res): the certificate, its generated key
 * and the password of `pw` (filled). JERR_INVALID when `res` holds no generated key. Returns
 * the image (card_image_free) or NULL. */
struct card_image *cardissue_image_new(const struct pki *pki, struct store *st,
                                       const struct issue_result *res,
                                       const struct cardissue_passwords *pw, struct jerr *err);

/* Writes the certificates and generated key pairs of `res` into their slots of the holder's
 * existing image `ci` (from cardissue_image_current), replacing those slots and keeping the
 * others as they are (a re-issue of one certificate, DESIGN §1). An image written under
 * another administration key is JERR_INVALID "card_image". In memory only. Returns 0 or -1. */
int cardissue_image_update(const struct pki *pki, struct card_image *ci,
                           const struct issue_result *res, const struct cardissue_passwords *pw,
                           struct jerr *err);

/* The holder's current image of card `card_id` brought to the window for a re-issue: `image`
 * must parse (JERR_INVALID "card_image"), be that card's, and every slot in `keep` (bits
 * 1 << ca) that holds a certificate must hold one this service issued to that card,
 * DER-identical to the registry's ("card_image"). Returns the image (card_image_free) or NULL. */
struct card_image *cardissue_image_current(struct store *st, const char *card_id,
                                           const unsigned char *image, size_t image_len,
                                           unsigned keep, struct jerr *err);

/* The bytes of `ci` as card_image_save writes them, into *der (free with free).
 * Returns 0 or -1. */
int cardissue_image_encode(const struct pki *pki, const struct card_image *ci, unsigned char **der,
                           size_t *der_len, struct jerr *err);

/* cardissue_image_new + cardissue_image_encode. */
int cardissue_image_bytes(const struct pki *pki, struct store *st, const struct issue_result *res,
                          const struct cardissue_passwords *pw, unsigned char **der,
                          size_t *der_len, struct jerr *err);

/* The name of a batch card image: DATA_DIR/cards/<batch key>/<card id> + this. */
#define CARDISSUE_BATCH_IMAGE_SUFFIX ".card"

/* The directory of batch `batch_key`'s card files, DATA_DIR/cards/<batch_key>, into `path`
 * (not created). The key is refused as cardissue_batch_path says. Returns 0 or -1. */
int cardissue_batch_dir(const struct pki *pki, const char *batch_key, char *path, size_t size,
                        struct jerr *err);

/* The file of card `card_id` in batch `batch_key`: DATA_DIR/cards/<batch_key>/<card_id><suffix>
 * into `path` (size bytes), its directories created (0700) when `create`. A batch key or card
 * id that is not an id, or that starts with '.', is refused (JERR_INVALID, field "batch" /
 * "card_id"): it would name a directory or a hidden file. Returns 0 or -1. */
int cardissue_batch_path(const struct pki *pki, const char *batch_key, const char *card_id,
                         const char *suffix, bool create, char *path, size_t size,
                         struct jerr *err);

/* For the batch runner, before a row's issuance opens its transaction (lifecycle_ctx's
 * before_begin): fills `pw` for the slots of `res` (given passwords checked, field prefix
 * "passwords."; missing ones generated — the caller sends those once, in a PIN letter, and
 * wipes `pw`), builds the image and writes it, fsync'd, to a temp file (0600) beside its place
 * DATA_DIR/cards/<batch_key>/<card id>.card (cardissue_batch_path). `path` receives the place,
 * `tmp` the temp file (both `size` bytes): the caller publishes it (fsutil_publish) before the
 * issuance commits, so that no certificate commits without its image, or unlinks it. Returns
 * 0 or -1 (nothing written then). */
int cardissue_stage_batch(const struct pki *pki, struct store *st, const char *batch_key,
                          const struct issue_result *res, struct cardissue_passwords *pw,
                          char *path, char *tmp, size_t size, struct jerr *err);

/* The window's password reset (guide 4(8)): `image` (image_len bytes, as the holder brought
 * it) must parse (JERR_INVALID "card_image", card.h's damaged message), be card `card_id`'s
 * ("card_image": "... belongs to card X, not to card Y"), hold in `slot` a certificate this
 * service issued to that card, DER-identical to the registry's ("card_image"), and have been
 * written under this service's administration key ("card_image"). An empty slot is
 * JERR_INVALID "slot"; a new password outside the rule, or easy to guess for the card's holder
 * (rules_check_password), JERR_INVALID "new_password". The slot is
 * re-wrapped under `new_password` with its counter (and lock) cleared; the new image's bytes go
 * to *out (free with free). Returns 0 or -1. */
int cardissue_reset_password(const struct pki *pki, struct store *st, const char *card_id,
                             const unsigned char *image, size_t image_len, enum ca_kind slot,
                             const char *new_password, unsigned char **out, size_t *out_len,
                             struct jerr *err);

#endif
