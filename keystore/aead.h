/*
 * aead: the one AES-256-GCM of jpki (NIST SP 800-38D) — sealing and opening the secrets the
 * keystore keeps at rest: the card image's private keys and slot-key wraps (keystore/card.c)
 * and the card-administration key file (keystore/adminkey.c). A fresh random 96-bit IV per
 * seal (§8.2.2: keys here are used a handful of times), the full 128-bit tag, and additional
 * data that names what a ciphertext belongs to. Knows nothing of files or formats.
 */
#ifndef JPKI_AEAD_H
#define JPKI_AEAD_H

#include <stddef.h>

#include "base/jerr.h"

#define AEAD_KEY_BYTES 32 /* AES-256 */
#define AEAD_IV_BYTES 12
#define AEAD_TAG_BYTES 16

/* aead_open's answers besides -1 (an OpenSSL failure, err filled). */
enum { AEAD_AUTHENTIC = 0, AEAD_NOT_AUTHENTIC = 1 };

/* Encrypts `pt` (pt_len bytes, may be 0: then only `aad` is authenticated) under `key` with
 * a fresh random IV written to `iv`; `ct` receives pt_len bytes, `tag` the tag. Returns 0, or
 * -1 with err filled. */
int aead_seal(const unsigned char key[AEAD_KEY_BYTES], const unsigned char *aad, size_t aad_len,
              const unsigned char *pt, size_t pt_len, unsigned char iv[AEAD_IV_BYTES],
              unsigned char *ct, unsigned char tag[AEAD_TAG_BYTES], struct jerr *err);

/* Decrypts `ct` (ct_len bytes) into `pt` (ct_len bytes) and checks the tag over it and `aad`.
 * Returns AEAD_AUTHENTIC, AEAD_NOT_AUTHENTIC (wrong key, IV, tag, additional data or
 * ciphertext: GCM cannot tell which; err untouched), or -1 with err filled; `pt` is wiped
 * unless authentic. */
int aead_open(const unsigned char key[AEAD_KEY_BYTES], const unsigned char *aad, size_t aad_len,
              const unsigned char iv[AEAD_IV_BYTES], const unsigned char *ct, size_t ct_len,
              const unsigned char tag[AEAD_TAG_BYTES], unsigned char *pt, struct jerr *err);

#endif
