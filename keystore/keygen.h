/*
 * keygen: key generation (subscribers; CA keys through signer_generate). The key is handed to the
 * caller (who writes it onto the card image and frees it); nothing here keeps or stores it.
 */
#ifndef JPKI_KEYGEN_H
#define JPKI_KEYGEN_H

#include <openssl/evp.h>

#include "base/jerr.h"
#include "keystore/keyalg.h"

/* A new RSA key of `bits` (2048..8192, exponent 65537). Caller frees with EVP_PKEY_free.
 * Returns NULL with err filled on failure. Thread-safe. */
EVP_PKEY *keygen_rsa(int bits, struct jerr *err);

/* A new key of spec `alg`: RSA as keygen_rsa, ECDSA on the named curve (the SPKI names the
 * curve by OID, RFC 5480 §2.1.1, never explicit parameters; points uncompressed). Caller frees
 * with EVP_PKEY_free. Returns NULL with err filled on failure. Thread-safe. */
EVP_PKEY *keygen_generate(const struct keyalg *alg, struct jerr *err);

#endif
