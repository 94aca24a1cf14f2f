/*
 * testpem: the one PEM file writer of the test code (the Check suites through testutil, and the
 * drivers of test/tools/); it needs no Check, so the drivers link it too.
 */
#ifndef JPKI_TESTPEM_H
#define JPKI_TESTPEM_H

#include <openssl/evp.h>
#include <openssl/x509.h>

/* Writes `cert`, then `key`, whichever is not NULL, as PEM into `path` (created or truncated;
 * mode 0600 when it holds a key, else 0644). Returns 0, or -1 (errno or OpenSSL's error queue
 * says why). */
int testpem_write(const char *path, X509 *cert, EVP_PKEY *key);

#endif
