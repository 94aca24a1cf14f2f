/*
 * pinletter: the PIN letter of a batch card (docs/BATCH.md) — the initial passwords the service
 * generated for a card image, sealed to the recipient the operator configured
 * (batch.pin_letter_recipient) as CMS EnvelopedData (RFC 5652 §6), so that a generated password
 * leaves the service only encrypted, and whoever prints the letters opens them with their own
 * key (`openssl cms -decrypt -inform DER -in C.pin.p7m -recip cert.pem -inkey key.pem`).
 *
 * Only builds bytes: where they are written is the batch runner's business. Nothing here logs
 * or keeps a password; the letter's plain text is wiped once sealed.
 */
#ifndef JPKI_PINLETTER_H
#define JPKI_PINLETTER_H

#include <stddef.h>
#include <openssl/x509.h>

#include "ca/cardissue.h"
#include "base/jerr.h"

/* The configuration key the recipient comes from (named in every error about it). */
#define PINLETTER_CONFIG_KEY "batch.pin_letter_recipient"
/* The name of a batch card's letter: DATA_DIR/cards/<batch key>/<card id> + this. */
#define PINLETTER_SUFFIX ".pin.p7m"

/* Loads the recipient of PIN letters: the PEM certificate at `path`, checked by sealing a probe
 * letter to it. JERR_CONFIG (field PINLETTER_CONFIG_KEY) when it is unreadable, not a PEM
 * certificate, or OpenSSL cannot encrypt to its key. Returns the certificate (X509_free) or
 * NULL. */
X509 *pinletter_recipient_load(const char *path, struct jerr *err);

/* The letter of card `card_id` (row `row_key` of batch `batch_key`): one line per password of
 * `pw` marked generated ("sign: ...", "auth: ..."), after lines naming the batch, the row and
 * the card; sealed to `recipient` with AES-256-CBC, the content key transported with RSA-OAEP
 * (SHA-256) for an RSA recipient, OpenSSL's default otherwise. DER into *der (free with
 * OPENSSL_free). JERR_INVALID when `pw` holds no generated password. Returns 0 or -1. */
int pinletter_seal(X509 *recipient, const char *batch_key, const char *row_key, const char *card_id,
                   const struct cardissue_passwords *pw, unsigned char **der, size_t *der_len,
                   struct jerr *err);

#endif
