/*
 * rp: the relying-party engine (DESIGN §12, docs/API.md "Relying parties") — registering a
 * verifier with its credentials, suspending, resuming and deleting it, the relying-party CA's
 * CRL, and recording what parties used. Each change is one transaction ending with the
 * caller's audit row (enginetx.h); the slow parts (a key pair, a signature) happen before the
 * transaction opens.
 *
 * A party's credentials: a bearer token (made by the caller, responder/api/auth.h; only its
 * SHA-256 reaches the registry) and a TLS client certificate of the relying-party CA
 * (ca/rpca.h), for a key made here (returned once, PEM) or for the key of a PKCS#10 request
 * the party sent. Deleting a party revokes its certificate: it goes on crl/rp.crl at once.
 *
 * Who may ask what (rp_kind_allows): signature verifiers (署名検証者) about the signing CA's
 * certificates, authentication verifiers (利用者証明検証者) about the authentication CA's,
 * platform operators about both.
 */
#ifndef JPKI_RP_H
#define JPKI_RP_H

#include <stdbool.h>
#include <stddef.h>

#include "ca/lifecycle.h"
#include "ca/store.h"
#include "base/jerr.h"

/* "signature" | "authentication" | "platform"; "active" | "suspended" | "deleted". */
const char *rp_kind_name(enum rp_kind kind);
int rp_kind_parse(const char *text, enum rp_kind *kind);
const char *rp_state_name(enum rp_state state);

/* May a party of `kind` ask about certificates of `ca`? */
bool rp_kind_allows(enum rp_kind kind, enum ca_kind ca);

/* What rp_create hands back once: the certificate (PEM) and, when the key was made here, the
 * key (PEM PKCS#8, unencrypted). Free with rp_issued_clear (the key is wiped). */
struct rp_issued {
    char *cert_pem;
    char *key_pem; /* NULL when the party sent a request */
};
void rp_issued_clear(struct rp_issued *issued);

/* Registers `rp` (id, name, kind, contact and token_sha256 filled by the caller; state, serial,
 * dates and created_by are set here) with a client certificate for the key of `csr_pem` (a
 * PKCS#10 request, keystore/pubkey.h; NULL: a P-256 key is made here). JERR_CONFLICT (field
 * "id") for an id in use, JERR_INVALID (field "csr") for a bad request. On success *rp is the
 * stored record and *out the credentials. Returns 0 or -1 (nothing written). */
int rp_create(struct lifecycle_ctx *ctx, struct rp_rec *rp, const char *csr_pem, size_t csr_len,
              struct rp_issued *out, struct jerr *err);

/* Suspends / resumes party `id` (state and updated_at), with ctx's before_commit. A deleted
 * party is refused (JERR_REFUSED, field "id"); one already in the state asked for is left as it
 * is (no transaction, no row). *out is the record after the call. */
int rp_suspend(struct lifecycle_ctx *ctx, const char *id, struct rp_rec *out, struct jerr *err);
int rp_resume(struct lifecycle_ctx *ctx, const char *id, struct rp_rec *out, struct jerr *err);

/* Deletes party `id`: state deleted, its certificate revoked — put on the relying-party CA's
 * CRL, which is published again before this returns. Deleting a deleted party is refused
 * (JERR_REFUSED). A CRL that could not be published is logged by the caller through err with
 * the deletion kept (rc 0, *crl_failed true): the TLS layer refuses the certificate anyway. */
int rp_delete(struct lifecycle_ctx *ctx, const char *id, struct rp_rec *out, bool *crl_failed,
              struct jerr *err);

/* Publishes crl/rp.crl from the registry: every deleted party's certificate. */
int rp_crl_publish(struct pki *pki, struct store *st, struct jerr *err);

/* ---- the access view for stateless responders (docs/ARCHITECTURE.md "Redis keys",
 * P rp:parties: field = party id, value = this text) ---- */

#define RP_ACCESS_TEXT_MAX 160
/* "1 PK KIND STATE TOKEN_SHA256 CERT_SERIAL" ("-" for a credential it has not): what a
 * responder needs to decide who is asking — never the token itself, a name or a contact.
 * Returns 0, or -1 when `size` is too small. */
int rp_access_format(const struct rp_rec *rp, char *out, size_t size);
/* The record of party `id` from that text (`len` bytes, not terminated; the other fields of
 * *out zero). -1 with err (JERR_INVALID) for an id or a text that is not one. */
int rp_access_parse(const char *id, const char *text, size_t len, struct rp_rec *out,
                    struct jerr *err);

/* ---- usage (metering, DESIGN §12) ---- */

/* Calls of one party on one day, CA and kind. */
struct rp_usage_count {
    int64_t party; /* rp_rec.pk */
    char day[11];  /* YYYY-MM-DD (UTC) */
    int ca;
    enum rp_what what;
    int64_t calls;
};
/* A certificate one party asked about in one month. */
struct rp_cert_seen {
    int64_t party;
    char month[8]; /* YYYY-MM (UTC) */
    int ca;
    char serial[JPKI_SERIAL_HEX_MAX + 1];
};
/* Adds counts[0..n) and records seen[0..m) in one transaction. With `mark` (a Redis stream id:
 * the responders' usage the CA node folds, statusq_append_marked) nothing is written when the
 * registry already holds that mark or a later one (meta RP_USAGE_MARK_KEY), and the mark is
 * kept in the same transaction. Returns 0 or -1 (none kept). */
#define RP_USAGE_MARK_KEY "rp_usage.folded"
int rp_usage_record(struct store *st, const struct rp_usage_count *counts, size_t n,
                    const struct rp_cert_seen *seen, size_t m, const char *mark,
                    struct jerr *err);

#endif
