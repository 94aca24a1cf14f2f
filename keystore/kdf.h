/*
 * kdf: the password-to-key derivation of the keystore's own formats (the card image, the
 * card-administration key file): RFC 7914 scrypt with N = 2^14, r = 8, p = 1 (~16 MiB,
 * ~50 ms; the same cost as the CA keys' PBES2 in signer.c). The cost is fixed here, never
 * read from a file, so an edited file cannot lower it.
 */
#ifndef JPKI_KDF_H
#define JPKI_KDF_H

#include <stddef.h>

#include "base/jerr.h"

/* Derives `out_len` bytes from `secret` (NUL-terminated) and `salt`. Returns 0, or -1 with
 * err (JERR_CRYPTO). The caller wipes `out`. */
int kdf_scrypt(const char *secret, const unsigned char *salt, size_t salt_len, unsigned char *out,
               size_t out_len, struct jerr *err);

#endif
