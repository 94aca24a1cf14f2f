/*
 * signer: the only way to a CA private key (and to a delegated OCSP signer's key).
 *
 * A struct signer stands for one private key. No function returns or accepts the key itself:
 * callers hand over what must be signed (a certificate, an OCSP response, raw TBS bytes) and
 * get the signature. Keys rest on disk as encrypted PKCS#8 (PBES2: scrypt KDF, AES-256-CBC),
 * mode 0600, written atomically, and are held in memory while loaded — or inside a PKCS#11
 * token, where the signature is made and the key never leaves (signer_store below). Signing is
 * thread-safe: a file key gets a per-thread copy with a digest-sign context prepared once
 * (signer.c says why), a token key a context per call, so the worker pool may share one
 * signer.
 */
#ifndef JPKI_SIGNER_H
#define JPKI_SIGNER_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include "base/jerr.h"
#include "config/config.h"
#include "keystore/keyalg.h"

struct signer;

/* Generates a new key of spec `alg` (RSA, ECDSA P-384/P-521). Returns a signer, or NULL with
 * err filled. */
struct signer *signer_generate(const struct keyalg *alg, struct jerr *err);

/* Writes the key encrypted under `passphrase` to `path` (temp file, fsync, rename; 0600).
 * Refuses to overwrite an existing file (JERR_CONFLICT) and an empty passphrase (JERR_INVALID
 * "passphrase"). Returns 0 or -1. */
int signer_save(const struct signer *s, const char *path, const char *passphrase, struct jerr *err);

/* Loads an encrypted key. A wrong passphrase gives JERR_CRYPTO "wrong passphrase or damaged
 * key file"; a file readable by group/others is refused (JERR_IO). Returns NULL on failure.
 * Also refused: a missing/unreadable/non-regular file (JERR_IO), a PEM block other than
 * "ENCRYPTED PRIVATE KEY" — keys must be encrypted at rest — (JERR_CRYPTO), an empty
 * passphrase (JERR_INVALID "passphrase"), a key of no supported spec — RSA of 2048..8192
 * bits, ECDSA on the named curve P-384 or P-521 — (JERR_INVALID "key_algorithm"/"key_bits"). Any
 * PBES2 encryption OpenSSL can undo is accepted; signer_save always writes scrypt. */
struct signer *signer_load(const char *path, const char *passphrase, struct jerr *err);

/* Wipes and frees. NULL is a no-op. */
void signer_free(struct signer *s);

/* The public half, as a new reference the caller frees with EVP_PKEY_free. */
EVP_PKEY *signer_get1_public_key(const struct signer *s);

/* True when `cert`'s public key is this signer's. */
int signer_matches_cert(const struct signer *s, X509 *cert);

/* The spec of this signer's key. Every signature below uses its digest (keyalg_key_digest:
 * SHA-256 for RSA, SHA-384 for P-384, SHA-512 for P-521). */
struct keyalg signer_keyalg(const struct signer *s);

/* Signs `cert` (sets the signature algorithm fields). Returns 0 or -1. */
int signer_sign_cert(const struct signer *s, X509 *cert, struct jerr *err);

/* Signs a small CRL built with OpenSSL's X509_CRL (the relying-party CA's, ca/rpca.h), with
 * the digest of the key (keyalg.h). Large CRLs are streamed through signer_stream_* instead.
 * Returns 0 or -1. */
int signer_sign_crl(const struct signer *s, X509_CRL *crl, struct jerr *err);

/* Signs an OCSP basic response, including `signer_cert`, responderID by key
 * hash (RFC 6960 §4.2.2.3); producedAt is set to jclock_now(). `signer_cert` must hold this
 * signer's public key (else JERR_CRYPTO). Returns 0 or -1. */
int signer_sign_ocsp(const struct signer *s, OCSP_BASICRESP *resp, X509 *signer_cert,
                     struct jerr *err);

/* The DER of the AlgorithmIdentifier this signer's signatures use (sha256WithRSAEncryption,
 * ecdsa-with-SHA384 or ecdsa-with-SHA512),
 * in a copy the signer owns: *out points into the signer and lives as long as it. */
int signer_algorithm_der(const struct signer *s, const unsigned char **out, size_t *out_len,
                         struct jerr *err);

/* Signs `tbs` (the DER of a TBSCertList, say). *sig is malloc'd (free with
 * OPENSSL_free), *sig_len its length. Returns 0 or -1. */
int signer_sign_bytes(const struct signer *s, const unsigned char *tbs, size_t tbs_len,
                      unsigned char **sig, size_t *sig_len, struct jerr *err);

/* Streaming form of signer_sign_bytes for inputs too large to hold (a CRL of millions of
 * entries): begin, update any number of times, final (which frees the stream). The signature
 * is the same as signer_sign_bytes over the concatenated input, and always exactly
 * signer_signature_size bytes long — for ECDSA, whose DER signatures vary by a few bytes, the
 * digest is signed again until it is (a CRL's outer length is written before its signature). */
struct signer_stream;
struct signer_stream *signer_stream_begin(const struct signer *s, struct jerr *err);
int signer_stream_update(struct signer_stream *ss, const unsigned char *data, size_t len,
                         struct jerr *err);
int signer_stream_final(struct signer_stream *ss, unsigned char **sig, size_t *sig_len,
                        struct jerr *err);
void signer_stream_free(struct signer_stream *ss); /* abandon a stream; NULL is a no-op */

/* Size in bytes of this signer's signatures: for RSA the modulus size, known before signing;
 * for ECDSA the largest DER Ecdsa-Sig-Value (a signature may be a few bytes shorter). */
size_t signer_signature_size(const struct signer *s);

/* ---- Where the keys are kept (DESIGN §10: keystore.backend) ----
 *
 * A signer_store creates and loads the named keys of an instance ("sign-ca", "auth-ocsp",
 * "audit", ...) wherever the configuration keeps them; its callers never learn where:
 *  - file: DATA_DIR/keys/<name>.key, encrypted PKCS#8 under the CA passphrase (signer_save);
 *  - pkcs11: generated inside the token (sensitive, never extractable) with CKA_LABEL and
 *    CKA_ID "jpki <name> g<generation>"; DATA_DIR/token/<name>.uri (0644) records which token
 *    object the key is, as an RFC 7512 pkcs11: URI — the only trace of it on disk.
 * Signers from a store sign through it; they must be freed before the store. A PKCS#11
 * signer's failures while signing are JERR_UNAVAILABLE with one sentence naming module,
 * token and CKR code; it recovers by itself when the token comes back (signer_pkcs11.h). */
struct signer_store;

/* Opens the configured store: the passphrase is used by the file backend (copied, wiped on
 * free); the pkcs11 backend reads keystore.pkcs11.pin and logs in. NULL with err: for the
 * token, one sentence naming module, token and CKR code (JERR_AUTH for a wrong/locked PIN). */
struct signer_store *signer_store_open(const struct jpki_config *cfg, const char *passphrase,
                                       struct jerr *err);
void signer_store_free(struct signer_store *st); /* NULL is a no-op */

/* Generates key `name` of spec `alg` and keeps it (on a token: generated inside it, RSA or EC).
 * With `replace` false an existing key of that name is refused (JERR_CONFLICT); with `replace` true
 * the new key takes the name's place (the next generation, published atomically: renewal). Returns
 * its signer, or NULL with err. */
struct signer *signer_store_create(struct signer_store *st, const char *name,
                                   const struct keyalg *alg, bool replace, struct jerr *err);

/* Whether signer_store_create(name, replace false) can succeed as far as the keys already kept
 * tell: on a token, one holding generation 1 of `name` already (another instance's, or a failed
 * init's) is refused (JERR_CONFLICT), so that a ceremony stops before it writes anything.
 * Returns 0 or -1. */
int signer_store_check_new(struct signer_store *st, const char *name, struct jerr *err);

/* Loads key `name`. JERR_NOT_FOUND when the store has none of that name. */
struct signer *signer_store_load(struct signer_store *st, const char *name, struct jerr *err);

/* Removes key `name` made by a ceremony that then failed: its file, or its token object (both
 * halves) and reference — a key nothing names would block the next ceremony's label. A
 * missing key is no error. Returns 0 or -1. */
int signer_store_discard(struct signer_store *st, const char *name, struct jerr *err);

/* Whether key `name` exists in the store (on disk: its file or its token reference). */
bool signer_store_has(const struct signer_store *st, const char *name);

/* Can the store sign now? Always for files; for a token, asks it (and reconnects a lost one).
 * Returns 0, or -1 with err (the sentence /readyz shows). */
int signer_store_check(struct signer_store *st, struct jerr *err);

#endif
