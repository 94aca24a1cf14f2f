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

#include "base/jerr.h"

struct signer;

/* Generates a new key ("rsa", bits). Returns a signer, or NULL with err filled. */
struct signer *signer_generate(const char *algorithm, int bits, struct jerr *err);

/* Writes the key encrypted under `passphrase` to `path` (temp file, fsync, rename; 0600).
 * Refuses to overwrite an existing file (JERR_CONFLICT) and an empty passphrase (JERR_INVALID
 * "passphrase"). Returns 0 or -1. */
int signer_save(const struct signer *s, const char *path, const char *passphrase, struct jerr *err);

/* Loads an encrypted key. A wrong passphrase gives JERR_CRYPTO "wrong passphrase or damaged
 * key file"; a file readable by group/others is refused (JERR_IO). Returns NULL on failure.
 * Also refused: a missing/unreadable/non-regular file (JERR_IO), a PEM block other than
 * "ENCRYPTED PRIVATE KEY" — keys must be encrypted at rest — (JERR_CRYPTO), an empty
 * passphrase (JERR_INVALID "passphrase"), a non-RSA key or one outside 2048..8192 bits
 * (JERR_INVALID "key_algorithm"/"key_bits"). Any PBES2 encryption OpenSSL can undo is
 * accepted; signer_save always writes scrypt. */
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
 * hash (RFC 6960 §4.2.2.3); producedAt is set to jclock_now(). `signer_cert` must hold this
 * signer's public key (else JERR_CRYPTO). Returns 0 or -1. */
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

/* Streaming form of signer_sign_bytes for inputs too large to hold (a CRL of millions of
 * entries): begin, update any number of times, final (which frees the stream). The signature
 * is the same as signer_sign_bytes over the concatenated input. */
struct signer_stream;
struct signer_stream *signer_stream_begin(const struct signer *s, struct jerr *err);
int signer_stream_update(struct signer_stream *ss, const unsigned char *data, size_t len,
                         struct jerr *err);
int signer_stream_final(struct signer_stream *ss, unsigned char **sig, size_t *sig_len,
                        struct jerr *err);
void signer_stream_free(struct signer_stream *ss); /* abandon a stream; NULL is a no-op */

/* Size in bytes of this signer's signatures (the RSA modulus size), known before signing. */
size_t signer_signature_size(const struct signer *s);

#endif
