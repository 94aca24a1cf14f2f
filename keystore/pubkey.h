/*
 * pubkey: a subscriber's public key handed to the service for certification (POST
 * /v1/cards/{id}/issue "public_keys"): outside input. Read without OpenSSL 3.0's OSSL_DECODER
 * chains (a fifth of the CPU of issuance with supplied keys, DESIGN §8): the PEM by
 * PEM_read_bio, the structure by OpenSSL's generic DER decoders, the key built from n and e.
 */
#ifndef JPKI_KEYSTORE_PUBKEY_H
#define JPKI_KEYSTORE_PUBKEY_H

#include <stddef.h>
#include <openssl/evp.h>

#include "config/jerr.h"

/* The largest PEM text taken (an RSA-8192 public key is ~1.5 KB of PEM). */
#define PUBKEY_PEM_MAX 8192

/* The RSA key of `len` bytes of `pem`: one "-----BEGIN PUBLIC KEY-----" block (RFC 7468 §13,
 * a SubjectPublicKeyInfo with rsaEncryption and NULL parameters, RFC 3279 §2.3.1), no PEM
 * headers, nothing else around it but white space; modulus of 2048..8192 bits (DESIGN §3),
 * odd, an odd exponent above 1 and below the modulus. Returns the key (the caller frees it),
 * or NULL with err JERR_INVALID naming `field` in words. Leaves no OpenSSL error queued. */
EVP_PKEY *pubkey_from_pem(const char *pem, size_t len, const char *field, struct jerr *err);

#endif
