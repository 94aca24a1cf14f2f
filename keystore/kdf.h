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

/* RFC 5869 HKDF-SHA256: derives `out_len` bytes from the key material `key`, `salt` and `info`
 * (a key derived from a key, where no password cost is wanted). Returns 0, or -1 with err
 * (JERR_CRYPTO). The caller wipes `out`. */
int kdf_hkdf_sha256(const unsigned char *key, size_t key_len, const unsigned char *salt,
                    size_t salt_len, const unsigned char *info, size_t info_len, unsigned char *out,
                    size_t out_len, struct jerr *err);

#endif
