/*
 * adminkey: the card-administration key (docs/CARD.md "Key hierarchy") — the 256-bit secret
 * with which the municipal window fills a card image's slots and resets a forgotten or locked
 * password. Like signer.h for the CA keys, this module is the only way to it: no function
 * returns or accepts the key bytes; callers hand over the card image and get the operation
 * done (the three card.h calls that need the key are wrapped here).
 *
 * At rest: DATA_DIR/keys/card-admin.key, mode 0600, written atomically, encrypted under the CA
 * passphrase with AES-256-GCM (keystore/aead.h) and a key derived from the passphrase by
 * scrypt (RFC 7914, N = 2^14, r = 8, p = 1 — the cost signer.c puts on the CA keys, which are
 * the same passphrase's other targets). The file is DER (OpenSSL ASN.1 templates):
 *
 *   CardAdminKeyFile ::= SEQUENCE {
 *       version     INTEGER,        -- 1: this layout and these scrypt costs
 *       salt        OCTET STRING,   -- 16 bytes
 *       iv          OCTET STRING,   -- 12 bytes
 *       ciphertext  OCTET STRING,   -- 32 bytes: the key
 *       tag         OCTET STRING }  -- 16 bytes
 *
 * with the additional data "jpki card-administration key v1". In memory the key is wiped on
 * free. Never logged, never in an error message.
 */
#ifndef JPKI_ADMINKEY_H
#define JPKI_ADMINKEY_H

#include <stdbool.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "config/config.h"
#include "base/jerr.h"
#include "keystore/card.h"

/* Largest key file read, in bytes (a real one is 100). */
#define ADMINKEY_FILE_MAX_BYTES 1024

struct adminkey;

/* A new random key (RAND_priv_bytes). Returns it (free with adminkey_free) or NULL. */
struct adminkey *adminkey_generate(struct jerr *err);

/* Writes the key encrypted under `passphrase` to `path` (fsutil_write_atomic, 0600). Refuses
 * an existing file (JERR_CONFLICT) and an empty passphrase (JERR_INVALID "passphrase").
 * Returns 0 or -1. */
int adminkey_save(const struct adminkey *ak, const char *path, const char *passphrase,
                  struct jerr *err);

/* Reads and decrypts a key file. A missing file is JERR_NOT_FOUND; group/other permission bits
 * JERR_IO; a file that is not exactly one well-formed CardAdminKeyFile, or an unknown version,
 * JERR_CRYPTO "... damaged key file"; a wrong passphrase JERR_CRYPTO "wrong passphrase or
 * damaged key file" (GCM cannot tell the two apart); an empty passphrase JERR_INVALID
 * "passphrase". Returns the key or NULL. */
struct adminkey *adminkey_load(const char *path, const char *passphrase, struct jerr *err);

/* Wipes and frees. NULL is a no-op. */
void adminkey_free(struct adminkey *ak);

/* True when both hold the same key (constant time). For tests and key checks. */
bool adminkey_equals(const struct adminkey *a, const struct adminkey *b);

/* card_image_create, card_image_set_slot and card_image_reset_password (keystore/card.h) with
 * this key as the administration key; same contracts and errors. */
struct card_image *adminkey_card_create(const struct adminkey *ak, const char *card_id,
                                        const char *expiry, X509 *sign_root, X509 *auth_root,
                                        struct jerr *err);
int adminkey_card_set_slot(const struct adminkey *ak, struct card_image *ci, enum ca_kind slot,
                           X509 *cert, EVP_PKEY *key, const char *password, struct jerr *err);
int adminkey_card_reset_password(const struct adminkey *ak, struct card_image *ci, const char *path,
                                 enum ca_kind slot, const char *new_password, struct jerr *err);

#endif
