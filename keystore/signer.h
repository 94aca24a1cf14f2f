/*
 * signer: the only way to a CA private key (and to a delegated OCSP signer's key).
 *
 * A struct signer holds one private key in memory. No function returns or accepts the key
 * itself: callers hand over what must be signed (a certificate, an OCSP response, raw TBS
 * bytes) and get the signature. Keys rest on disk as encrypted PKCS#8 (PBES2: scrypt KDF,
 * AES-256-CBC), mode 0600, written atomically. Signing is thread-safe (each call uses its own
 * digest context), so the worker pool may share one signer.
 */
#ifndef JPKI_SIGNER_H
#define JPKI_SIGNER_H

#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include "config/jerr.h"

struct signer;

/* Generates a new key ("rsa", bits). Returns a signer, or NULL with err filled. */
struct signer *signer_generate(const char *algorithm, int bits, struct jerr *err);

/* Writes the key encrypted under `passphrase` to `path` (temp file, fsync, rename; 0600).
 * Refuses to overwrite an existing file. Returns 0 or -1. */
int signer_save(const struct signer *s, const char *path, const char *passphrase,
                struct jerr *err);

/* Loads an encrypted key. A wrong passphrase gives JERR_CRYPTO "wrong passphrase or damaged
 * key file"; a file readable by group/others is refused (JERR_IO). Returns NULL on failure. */
struct signer *signer_load(const char *path, const char *passphrase, struct jerr *err);

/* Wipes and frees. NULL is a no-op. */
void signer_free(struct signer *s);

/* The public half, as a new reference the caller frees with EVP_PKEY_free. */
EVP_PKEY *signer_get1_public_key(const struct signer *s);

/* True when `cert`'s public key is this signer's. */
int signer_matches_cert(const struct signer *s, X509 *cert);

/* Signs `cert` with SHA-256 (sets the signature algorithm fields). Returns 0 or -1. */
int signer_sign_cert(const struct signer *s, X509 *cert, struct jerr *err);

/* Signs an OCSP basic response with SHA-256, including `signer_cert`, responderID by key
 * hash (RFC 6960 §4.2.2.3). Returns 0 or -1. */
int signer_sign_ocsp(const struct signer *s, OCSP_BASICRESP *resp, X509 *signer_cert,
                     struct jerr *err);

/* The DER of the AlgorithmIdentifier this signer's signatures use (sha256WithRSAEncryption),
 * in a static buffer-owned copy: *out points into the signer and lives as long as it. */
int signer_algorithm_der(const struct signer *s, const unsigned char **out, size_t *out_len,
                         struct jerr *err);

/* Signs `tbs` (the DER of a TBSCertList, say) with SHA-256. *sig is malloc'd (free with
 * OPENSSL_free), *sig_len its length. Returns 0 or -1. */
int signer_sign_bytes(const struct signer *s, const unsigned char *tbs, size_t tbs_len,
                      unsigned char **sig, size_t *sig_len, struct jerr *err);

#endif
