/*
 * card: the card image — a file that plays the citizen's IC card (DESIGN §1, §2 keystore/).
 *
 * It holds the card id and expiry, both CA roots, and two slots ("sign", "auth"), each with a
 * subscriber certificate and its private key. A private key rests only encrypted (AES-256-GCM
 * under a random slot key); the slot key is wrapped under a key derived from the slot's password
 * (scrypt) and, separately, under the card-administration key that only the service holds, so the
 * municipal window can reset a forgotten or locked password. Passwords follow the real card's
 * rules and wrong tries lock the slot (signing 5, authentication 3); the counter is written to
 * the image before the answer is given. The format, the key hierarchy and what an attacker with
 * the file can and cannot do are in docs/CARD.md.
 *
 * A struct card_image is not thread-safe; one process should work on one image file at a time.
 */
#ifndef JPKI_CARD_H
#define JPKI_CARD_H

#include <stdbool.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "config/config.h"
#include "base/jerr.h"

/* Length of the card-administration key, in bytes (AES-256). */
#define CARD_ADMIN_KEY_BYTES 32
/* Wrong tries in a row that lock a slot (DESIGN §1). */
#define CARD_SIGN_MAX_TRIES 5
#define CARD_AUTH_MAX_TRIES 3

struct card_image;

/* The real card's password rules (DESIGN §1): for CA_SIGN 6..16 characters of A-Z and 0-9,
 * for CA_AUTH exactly 4 digits. Returns 0, or -1 with JERR_INVALID field "password" (the message
 * never repeats the password). */
int card_image_check_password(enum ca_kind slot, const char *password, struct jerr *err);

/* A new image with both slots empty. `card_id` is 1..JPKI_ID_MAX of [A-Za-z0-9._-] (field
 * "card_id"), `expiry` a real day YYYY-MM-DD ("expiry"); the roots are kept as new references
 * ("root"). `admin_key` becomes the only key that can later fill a slot or reset a password.
 * Returns the image (free with card_image_free) or NULL with err filled. */
struct card_image *card_image_create(const char *card_id, const char *expiry, X509 *sign_root,
                                     X509 *auth_root, const unsigned char admin_key[32],
                                     struct jerr *err);

/* Writes `cert` and `key` (its private key) into `slot`, replacing what was there, under a
 * new random slot key wrapped under `password` and `admin_key`; the counter starts at zero.
 * Refuses a password outside the rule (JERR_INVALID "password"), a key that does not match the
 * certificate (JERR_INVALID "key"), an oversized certificate (JERR_INVALID "certificate") and an
 * administration key other than the card's (JERR_FORBIDDEN "admin_key"). In memory only: call
 * card_image_save. Returns 0 or -1 (the image unchanged). */
int card_image_set_slot(struct card_image *ci, enum ca_kind slot, X509 *cert, EVP_PKEY *key,
                        const char *password, const unsigned char admin_key[32], struct jerr *err);

/* Writes the image to `path` atomically (fsutil_write_atomic), mode 0600, replacing the file if
 * it exists. Returns 0 or -1. */
int card_image_save(const struct card_image *ci, const char *path, struct jerr *err);

/* The image's DER in memory (what card_image_save writes); *der is OPENSSL_malloc'd, the
 * caller frees it with OPENSSL_free. Returns 0 or -1. */
int card_image_encode(const struct card_image *ci, unsigned char **der, size_t *der_len,
                      struct jerr *err);

/* Reads and fully checks an image: a missing file is JERR_NOT_FOUND, group/other permission bits
 * JERR_IO, over the size cap JERR_TOO_LARGE; anything else wrong — empty, truncated, garbage,
 * any byte changed — JERR_INVALID field "card_image", "card image is damaged or has been
 * tampered with: ...". Returns the image or NULL. */
struct card_image *card_image_load(const char *path, struct jerr *err);

/* The parser card_image_load uses, over bytes already in memory (at most the same cap, else
 * JERR_TOO_LARGE): same checks and answers, no file-mode check. For fuzzing and for callers
 * that hold the bytes. */
struct card_image *card_image_parse(const unsigned char *data, size_t len, struct jerr *err);

/* Wipes and frees. NULL is a no-op. */
void card_image_free(struct card_image *ci);

/* Borrowed views, valid while `ci` lives and the slot is not rewritten. */
const char *card_image_id(const struct card_image *ci);
const char *card_image_expiry(const struct card_image *ci);                 /* YYYY-MM-DD */
X509 *card_image_get0_cert(const struct card_image *ci, enum ca_kind slot); /* NULL if empty */
X509 *card_image_get0_root(const struct card_image *ci, enum ca_kind ca);

/* Wrong tries still allowed before the slot locks (0 when locked); -1 for an empty slot. */
int card_image_tries_left(const struct card_image *ci, enum ca_kind slot);
/* True when the slot is issued and its counter reached the limit. */
bool card_image_is_locked(const struct card_image *ci, enum ca_kind slot);

/* Checks `password` and returns the slot's private key (caller frees with EVP_PKEY_free; meant
 * to be used in memory to sign, as the card itself would). Every try is counted and the image
 * written to `path` BEFORE the password is checked (a smart card's decrement-first counter; if
 * that write fails: the JERR_IO error, no verdict). A wrong password then answers JERR_AUTH
 * "password" with the tries left in the message; a right one clears the counter (written again).
 * A locked slot answers JERR_FORBIDDEN "password" ("slot locked") even to the right password.
 * A password outside the rule is refused (JERR_INVALID) without counting: it cannot be right.
 * An empty slot is JERR_NOT_FOUND "slot"; a right password over altered contents JERR_INVALID
 * "card_image" (not held against the holder). Returns NULL on any failure. */
EVP_PKEY *card_image_unlock_key(struct card_image *ci, const char *path, enum ca_kind slot,
                                const char *password, struct jerr *err);

/* The holder's password change: `new_password` must follow the rule (checked first, JERR_INVALID
 * "password", no try counted); `old_password` is checked as by card_image_unlock_key (a wrong
 * one counts and is written). On success the slot key is re-wrapped under the new password,
 * the counter cleared, and the image written to `path`. Returns 0 or -1. */
int card_image_change_password(struct card_image *ci, const char *path, enum ca_kind slot,
                               const char *old_password, const char *new_password,
                               struct jerr *err);

/* The municipal window's reset of a forgotten or locked password: opens the slot key with
 * `admin_key` (another key: JERR_FORBIDDEN "admin_key"), sets `new_password` (rule checked,
 * JERR_INVALID "password"), clears the counter and the lock, writes the image to `path`.
 * Returns 0 or -1. */
int card_image_reset_password(struct card_image *ci, const char *path, enum ca_kind slot,
                              const unsigned char admin_key[32], const char *new_password,
                              struct jerr *err);

#endif
