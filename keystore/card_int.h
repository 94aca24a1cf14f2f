/*
 * card_int.h: what keystore/card.c (the image and its rules) and keystore/card_format.c (its
 * one DER encoding, docs/CARD.md "Format") share — the in-memory image and the rules the
 * parser checks. Not for any other file: everyone else uses keystore/card.h.
 */
#ifndef JPKI_CARD_INT_H
#define JPKI_CARD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/x509.h>

#include "base/jerr.h"
#include "base/limits.h"
#include "config/config.h"
#include "keystore/aead.h"

/* AES-256-GCM (keystore/aead.h): 96-bit IV, full 128-bit tag, 256-bit keys. */
#define CARD_IV_BYTES AEAD_IV_BYTES
#define CARD_TAG_BYTES AEAD_TAG_BYTES
#define CARD_KEY_BYTES AEAD_KEY_BYTES
#define CARD_SALT_BYTES 16
/* PKCS#8 of an RSA-8192 key is ~4.9 KB. */
#define CARD_KEY_DER_MAX (16 * 1024)

struct card_wrap {
    unsigned char iv[CARD_IV_BYTES];
    unsigned char ct[CARD_KEY_BYTES];
    unsigned char tag[CARD_TAG_BYTES];
};

struct card_slot {
    X509 *cert; /* NULL: slot empty (certificate not issued) */
    unsigned char key_iv[CARD_IV_BYTES];
    unsigned char *key_ct; /* PKCS#8 under the slot key */
    size_t key_ct_len;
    unsigned char key_tag[CARD_TAG_BYTES];
    unsigned char pw_salt[CARD_SALT_BYTES];
    struct card_wrap pw_wrap;    /* slot key under scrypt(password) */
    struct card_wrap admin_wrap; /* slot key under the card's admin KEK */
    int failures;                /* wrong tries in a row */
};

struct card_image {
    char id[JPKI_ID_MAX + 1];
    char expiry[11];
    X509 *root[CA_KIND_COUNT];
    unsigned char admin_check_iv[CARD_IV_BYTES];
    unsigned char admin_check_tag[CARD_TAG_BYTES];
    struct card_slot slot[CA_KIND_COUNT];
};

/* ---- the rules both sides check (card.c) ---- */

/* Wrong tries that lock `slot`. */
int card_max_tries(enum ca_kind slot);
bool card_slot_is_valid(enum ca_kind slot);
/* 1..JPKI_ID_MAX of [A-Za-z0-9._-]; `len` bytes, not NUL-terminated. */
bool card_id_is_valid(const char *id, size_t len);
/* A real day YYYY-MM-DD; `len` bytes, not NUL-terminated. */
bool card_expiry_is_valid(const char *expiry, size_t len);
/* JERR_INVALID "card_image", "card image is damaged or has been tampered with: <what>".
 * Returns -1. */
int card_damaged(struct jerr *err, const char *what);
/* Frees what a slot holds and wipes it. */
void card_slot_clear(struct card_slot *s);

/* ---- the additional data of the ciphertexts (card_format.c: DER, never stored) ---- */

/* DER of WrapContext { purpose, slot, cardId } into *aad (OPENSSL_free). */
int card_wrap_aad(const char *purpose, int slot, const char *card_id, unsigned char **aad,
                  size_t *aad_len, struct jerr *err);
/* DER of KeyBinding for `slot` holding `cert` on this card, into *aad (OPENSSL_free). */
int card_key_aad(const struct card_image *ci, enum ca_kind slot, X509 *cert, unsigned char **aad,
                 size_t *aad_len, struct jerr *err);

#endif
