/*
 * checkpoint: signed checkpoints of the audit log (DESIGN §7, docs/API.md "Audit").
 *
 * The hash chain (audit.h) shows that no row was changed in place, but not that the newest
 * rows were not cut off, nor that the whole chain was not recomputed after a change. A
 * checkpoint fixes a point of the chain under a signature that the registry's writer cannot
 * make: the audit key, kept like the CA keys (keys/audit.key, encrypted PKCS#8; signer.h).
 *
 *   AuditCheckpoint ::= SEQUENCE {
 *       tbs        SEQUENCE {
 *           version    INTEGER (1),
 *           rows       INTEGER,        -- seq of the newest row covered (the row count)
 *           head       OCTET STRING,   -- that row's hash (32 zero bytes for an empty log)
 *           time       GeneralizedTime,
 *           keyId      OCTET STRING }, -- SHA-256 of the audit key's SubjectPublicKeyInfo
 *       algorithm  AlgorithmIdentifier,
 *       signature  BIT STRING }        -- over the DER of tbs
 *
 * DER through OpenSSL's ASN.1 templates; the signature is the signer's (sha256WithRSA) and is
 * checked with ASN1_item_verify. A verified registry: every checkpoint's signature holds, and
 * the chain, walked from row 1, reaches each checkpoint's row with the signed head. So rows
 * deleted from the end, or any row changed and the chain recomputed after it, fail at the
 * first checkpoint covering them; a checkpoint saved outside the registry (--against) does
 * the same for whatever happened after the registry's own checkpoints.
 */
#ifndef JPKI_CHECKPOINT_H
#define JPKI_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "ca/audit.h"
#include "ca/store.h"
#include "base/jerr.h"
#include "keystore/signer.h"

#define CHECKPOINT_KEY_ID_LEN 32
/* A checkpoint's DER is a few hundred bytes; anything larger is not one. */
#define CHECKPOINT_DER_MAX 8192
/* The PEM label of a checkpoint saved to a file (jpkictl audit checkpoint --out). */
#define CHECKPOINT_PEM_LABEL "JPKI AUDIT CHECKPOINT"

struct checkpoint {
    int64_t rows;
    unsigned char head[AUDIT_HASH_LEN];
    int64_t at;
    unsigned char key_id[CHECKPOINT_KEY_ID_LEN];
};

/* SHA-256 of the DER SubjectPublicKeyInfo of `pub`, raw and as "AB:CD:..." (95 chars + NUL). */
int checkpoint_key_id(EVP_PKEY *pub, unsigned char out[CHECKPOINT_KEY_ID_LEN], struct jerr *err);
int checkpoint_key_fingerprint(EVP_PKEY *pub, char out[96], struct jerr *err);

/* Signs (rows, head, at) with `audit` (its key id is filled in). *der is malloc'd; the caller
 * frees it. Returns 0 or -1. */
int checkpoint_sign(const struct signer *audit, int64_t rows,
                    const unsigned char head[AUDIT_HASH_LEN], int64_t at, unsigned char **der,
                    size_t *der_len, struct jerr *err);

/* Parses `der` (all of it, at most CHECKPOINT_DER_MAX) and checks its signature with `pub` and
 * that its keyId is pub's. Returns 0 with *out filled, or -1: JERR_INVALID for what is not a
 * checkpoint, JERR_CRYPTO for a wrong key or a bad signature. */
int checkpoint_verify(const unsigned char *der, size_t der_len, EVP_PKEY *pub,
                      struct checkpoint *out, struct jerr *err);

/* A checkpoint file's bytes (PEM CHECKPOINT_PEM_LABEL, or DER) to DER; *der malloc'd. */
int checkpoint_decode_file(const unsigned char *data, size_t len, unsigned char **der,
                           size_t *der_len, struct jerr *err);
/* DER to PEM text (malloc'd, NUL-terminated). */
char *checkpoint_to_pem(const unsigned char *der, size_t der_len, struct jerr *err);

/* Signs the registry's current head and stores the checkpoint, unless `only_if_new` and the
 * newest checkpoint already covers it (nothing was appended since): *written tells. In its own
 * transaction, so no row slips in between reading the head and storing it. */
int checkpoint_write(struct store *st, const struct signer *audit, bool only_if_new, bool *written,
                     struct jerr *err);

struct checkpoint_report {
    int64_t rows;         /* rows of the intact chain */
    size_t checkpoints;   /* checkpoints verified (the registry's, and --against) */
    int64_t covered_rows; /* rows under the newest checkpoint */
    int64_t covered_at;   /* its time */
    int64_t bad_seq;      /* on failure: the first broken row of the chain (0: not the chain) */
};

/* Verifies the registry: the chain (store_audit_verify_each), every stored checkpoint's
 * signature under `pub`, and that the chain reaches each checkpoint's row with its head; and
 * the same for the checkpoint `against` (DER; NULL for none) that an auditor kept elsewhere.
 * Returns 0 with *rep filled, or -1 with err saying the first thing wrong. */
int checkpoint_verify_registry(struct store *st, EVP_PKEY *pub, const unsigned char *against,
                               size_t against_len, struct checkpoint_report *rep, struct jerr *err);

#endif
