/*
 * keygen: subscriber key generation. The key is handed to the caller (who writes it onto
 * the card image and frees it); nothing here keeps or stores it.
 */
#ifndef JPKI_KEYGEN_H
#define JPKI_KEYGEN_H

#include <openssl/evp.h>

#include "base/jerr.h"

/* A new RSA key of `bits` (2048..8192, exponent 65537). Caller frees with EVP_PKEY_free.
 * Returns NULL with err filled on failure. Thread-safe. */
EVP_PKEY *keygen_rsa(int bits, struct jerr *err);

#endif
