/*
 * signer_pkcs11: the PKCS#11 side of the signer module (internal to keystore/: only signer.c
 * and signer_store.c include it; everything else reaches keys through signer.h).
 *
 * A signer_token is one logged-in token (keystore/p11.h) shared by every signer whose key is
 * in it. A signer_token_key is one of those keys. Signing borrows the key's EVP_PKEY between
 * signer_token_key_acquire and signer_token_key_release:
 *  - at most `sessions` borrowers at once (the rest wait): libp11 opens one PKCS#11 session per
 *    concurrent signature, up to 16 per slot, and keeps them in a pool;
 *  - when a token operation fails (signer_token_key_failed), the token is marked lost: new
 *    borrowers are refused at once (JERR_UNAVAILABLE, the service answers tryLater/503), and
 *    once nobody holds a key any more, the next borrower (at most once a second) unloads and
 *    reloads the module, logs in again and re-reads every key — the service heals by itself
 *    when the token comes back.
 */
#ifndef JPKI_SIGNER_PKCS11_H
#define JPKI_SIGNER_PKCS11_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/evp.h>

#include "base/jerr.h"
#include "keystore/keyalg.h"

struct signer_token;
struct signer_token_key;

/* Opens the token (see p11_open). `sessions` (1..16) caps the signatures in flight. */
struct signer_token *signer_token_open(const char *module, const char *token, const char *pin,
                                       int sessions, struct jerr *err);
/* Frees the token; every key of it must have been freed. NULL is a no-op. */
void signer_token_free(struct signer_token *t);

/* Is the token there and the login valid? Tries to reconnect a lost token first (when due).
 * Returns 0, or -1 with err (one sentence: module, token, CKR code). */
int signer_token_check(struct signer_token *t, struct jerr *err);

/* Generates a key of spec `alg` inside the token (p11_generate) and writes its RFC 7512 URI
 * to *uri (malloc'd). Returns 0 or -1. */
int signer_token_generate(struct signer_token *t, const char *label, const struct keyalg *alg,
                          char **uri, struct jerr *err);

/* Destroys the key pair labelled `label` (p11_destroy_objects). Returns 0 or -1. */
int signer_token_destroy(struct signer_token *t, const char *label, struct jerr *err);

/* Whether the token holds a private key labelled `label`. */
bool signer_token_has(struct signer_token *t, const char *label);

/* Opens the key the RFC 7512 URI `uri` names (its token must be this token). Returns the key,
 * or NULL with err. */
struct signer_token_key *signer_token_key_open(struct signer_token *t, const char *uri,
                                               struct jerr *err);
void signer_token_key_free(struct signer_token_key *k);

/* Borrows the key for one signature (see the top). NULL with err (JERR_UNAVAILABLE) when the
 * token is lost. Every successful acquire is followed by exactly one release. */
EVP_PKEY *signer_token_key_acquire(struct signer_token_key *k, struct jerr *err);
void signer_token_key_release(struct signer_token_key *k);

/* After a token operation through the borrowed key failed: fills err with the sentence for
 * `what` and the CKR code libp11 left, and marks the token lost. Call before release.
 * Returns -1. */
int signer_token_key_failed(struct signer_token_key *k, struct jerr *err, const char *what);

/* (signer.c) Wraps a token key in a signer (which keeps a public-only copy of it); takes
 * ownership of `k`, freed on failure too. */
struct signer;
struct signer *signer_wrap_token(struct signer_token_key *k, struct jerr *err);

#endif
