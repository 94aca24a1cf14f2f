/*
 * testutil: small helpers shared by the Check suites.
 */
#ifndef JPKI_TESTUTIL_H
#define JPKI_TESTUTIL_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>

/* A fresh empty directory under $TMPDIR (or /tmp); the path is malloc'd. Removed (recursively)
 * by testutil_rmtree. */
char *testutil_mkdtemp(void);
void testutil_rmtree(const char *path);

/* The temporary directory of a checked fixture: testutil_tmpdir_setup makes a fresh one,
 * testutil_tmpdir_teardown removes it; testutil_path writes "<it>/<name>" to buf. */
extern char *testutil_tmpdir;
void testutil_tmpdir_setup(void);
void testutil_tmpdir_teardown(void);
void testutil_path(char *buf, size_t size, const char *name);

/* Writes `len` bytes to `path` (mode 0600). Returns 0 or -1. */
int testutil_write_file(const char *path, const void *data, size_t len);

/* Writes `len` bytes of DER from an i2d_* call (asserted > 0) to `path` (mode 0600), asserts
 * it is written, and frees `der` (OPENSSL_free). */
void testutil_write_der(const char *path, unsigned char *der, int len);

/* Writes a self-signed certificate (PEM) to `cert_path` and its private key (PEM, unencrypted)
 * to `key_path`: RSA-2048 when `rsa`, else Ed25519 (a key CMS cannot encrypt to). A stand-in
 * for an operator's PIN-letter recipient. Returns 0 or -1. */
int testutil_self_signed(const char *cert_path, const char *key_path, bool rsa);

/* Runs one suite with CK_NORMAL output; returns the process exit status (0 = all passed). */
int testutil_run(Suite *s);

/* The source tree (for config/jpki.example.yaml and test/data). */
const char *testutil_source_dir(void);

/* The SoftHSM2 PKCS#11 module's path, or NULL when it is not installed. */
const char *testutil_softhsm_module(void);

/* Points SOFTHSM2_CONF at a configuration under `dir` (tokens in dir/tokens) and initialises a
 * token labelled `label` with user PIN `pin` (SO PIN 12345678). Returns 0 or -1. */
int testutil_softhsm_token(const char *dir, const char *label, const char *pin);

/* ---- dupb: certificates ---- */

#include <openssl/types.h>

#include "keystore/keyalg.h"

/* The spec most tests' keys have. */
#define TEST_RSA2048 (&(const struct keyalg){KEYALG_RSA, 2048})

/* A new self-signed RSA-2048 certificate (CN=t, serial 7, valid for an hour) and, in
 * *key_out, its key; asserts success. The caller frees both. */
X509 *testutil_self_signed_cert(EVP_PKEY **key_out);

#endif
