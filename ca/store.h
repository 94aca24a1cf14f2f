/*
 * store: the registry (DESIGN §7). All SQL of jpki lives in store.c and nowhere else.
 *
 * SQLite in WAL mode, synchronous=FULL, foreign_keys=ON, busy timeout; numbered migrations
 * applied at open; prepared statements only (cached per connection). A struct store is one
 * connection and is used by one thread at a time: every worker opens its own.
 *
 * Transactions: a lifecycle event calls store_begin (BEGIN IMMEDIATE), makes its changes,
 * appends its audit row (store_audit_append) and store_commit; on any failure store_rollback.
 * Status changes mark the certificate's pre-signed OCSP response and its CA's CRLs stale in the
 * same transaction, so nothing is reported done before it is durable.
 */
#ifndef JPKI_STORE_H
#define JPKI_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ca/model.h"
#include "config/jerr.h"

struct store;

/* Opens (creating if `create`) the registry at `path` and applies pending migrations.
 * Opening a missing file without `create` fails with JERR_NOT_FOUND. */
struct store *store_open(const char *path, bool create, struct jerr *err);
void store_close(struct store *st);

/* The schema version this code migrates to; store_schema_version of an open registry. */
int store_schema_latest(void);
int store_schema_version(struct store *st);

int store_begin(struct store *st, struct jerr *err);    /* BEGIN IMMEDIATE */
int store_commit(struct store *st, struct jerr *err);
void store_rollback(struct store *st);                  /* no-op outside a transaction */

/* Instance metadata (key/value), e.g. "crl_partitions.sign". get returns 0 and copies into
 * out (size), or -1 with JERR_NOT_FOUND. */
int store_meta_set(struct store *st, const char *key, const char *value, struct jerr *err);
int store_meta_get(struct store *st, const char *key, char *out, size_t size, struct jerr *err);

/* Persons. insert fails with JERR_CONFLICT on a duplicate id; get/update with JERR_NOT_FOUND. */
int store_person_insert(struct store *st, const struct person *p, struct jerr *err);
int store_person_get(struct store *st, const char *id, struct person *out, struct jerr *err);
int store_person_update(struct store *st, const struct person *p, struct jerr *err);

/* Cards. */
int store_card_insert(struct store *st, const struct card *c, struct jerr *err);
int store_card_get(struct store *st, const char *id, struct card *out, struct jerr *err);
int store_card_set_state(struct store *st, const char *id, enum card_state state,
                         struct jerr *err);

/* Certificates. insert stores the record and its DER (JERR_CONFLICT on a reused serial). */
int store_cert_insert(struct store *st, const struct cert_rec *rec, const unsigned char *der,
                      size_t der_len, struct jerr *err);
int store_cert_get(struct store *st, const char *serial, struct cert_rec *out,
                   struct jerr *err);
/* The DER, malloc'd into *der (caller frees with free). */
int store_cert_get_der(struct store *st, const char *serial, unsigned char **der,
                       size_t *der_len, struct jerr *err);
bool store_serial_exists(struct store *st, const char *serial);

/* Changes a certificate's status (reason REASON_NONE when good) and marks its OCSP response
 * and its CA's CRL stale. */
int store_cert_set_status(struct store *st, const char *serial, enum cert_status status,
                          int reason, int64_t at, int64_t invalidity_date, struct jerr *err);

struct cert_list {
    struct cert_rec *items;
    size_t count;
};
void cert_list_free(struct cert_list *list); /* frees items, zeroes the list */

/* Every certificate of a card / of a person, oldest first. */
int store_certs_of_card(struct store *st, const char *card_id, struct cert_list *out,
                        struct jerr *err);
int store_certs_of_person(struct store *st, const char *person_id, struct cert_list *out,
                          struct jerr *err);
/* Good certificates whose notAfter lies in [from, to), soonest first, at most `limit`. */
int store_certs_expiring(struct store *st, int64_t from, int64_t to, size_t limit,
                         struct cert_list *out, struct jerr *err);

/* CRL streaming (DESIGN §5): calls cb for every held or revoked certificate of `ca` that has
 * not expired at `now` (partition -1 = all partitions). Memory stays flat: one row at a time.
 * cb returns 0 to go on, -1 to stop (store_crl_foreach then returns -1). */
struct crl_entry_rec {
    const char *serial; /* hex */
    int64_t revoked_at;
    int reason;
    int64_t invalidity_date;
};
typedef int (*store_crl_cb)(void *ctx, const struct crl_entry_rec *entry);
int store_crl_foreach(struct store *st, enum ca_kind ca, int partition, int64_t now,
                      store_crl_cb cb, void *ctx, struct jerr *err);

/* Allocates the next CRL number of (ca, partition; -1 = the complete CRL) in its own
 * transaction (or inside the caller's, when one is open): never reused, never goes back.
 * The first number is 1. */
int store_crl_number_next(struct store *st, enum ca_kind ca, int partition, int64_t *number,
                          struct jerr *err);
/* Records a published CRL and clears the CA's stale mark when it covers all changes: the
 * complete CRL (partition -1) does, and so does partition 0 when the CA has one partition
 * (meta crl_partitions.<ca>, default 1). It covers the changes made before this connection
 * started building it (its first store_crl_number_next or store_crl_foreach of that ca and
 * partition since the last publication); a change after that point leaves the CA stale.
 * JERR_CONFLICT when that number was already recorded. */
int store_crl_published(struct store *st, enum ca_kind ca, int partition, int64_t number,
                        int64_t this_update, int64_t next_update, size_t size,
                        struct jerr *err);
/* True when a status change of `ca` happened after the last published CRL (a change
 * counter, not timestamps: several changes and a CRL can share one second). True also when
 * the registry cannot be read. */
bool store_crl_is_stale(struct store *st, enum ca_kind ca);

/* Pre-signed OCSP responses (DESIGN §5), keyed by serial and the CertID hash algorithm the
 * response answers (a response echoes the request's CertID, so a SHA-256 CertID needs its own
 * response): certid_hash 0 = SHA-1 (the RFC 5019 default, pre-signed eagerly), 1 = SHA-256
 * (signed on first request, then kept). */
int store_ocsp_put(struct store *st, const char *serial, int certid_hash, enum ca_kind ca,
                   const unsigned char *der, size_t der_len, int64_t this_update,
                   int64_t next_update, struct jerr *err);
/* Like store_ocsp_put for a response signed from `signed_rec` (the certificate's record as
 * read before signing), closing the race with a status change during the signing: the
 * response is stored fresh only when the registry's status, reason and status time of that
 * serial still equal signed_rec's; otherwise it is stored stale (so store_ocsp_foreach_due
 * picks it again) and *current (may be NULL) is false. JERR_NOT_FOUND for an unknown serial. */
int store_ocsp_put_signed(struct store *st, const struct cert_rec *signed_rec, int certid_hash,
                          const unsigned char *der, size_t der_len, int64_t this_update,
                          int64_t next_update, bool *current, struct jerr *err);
/* *der malloc'd (caller frees). JERR_NOT_FOUND when there is none. */
int store_ocsp_get(struct store *st, const char *serial, int certid_hash, unsigned char **der,
                   size_t *der_len, int64_t *next_update, bool *stale, struct jerr *err);
/* Certificates (any status, not expired at `refresh_by`) whose SHA-1 response is missing or
 * stale, or any of whose responses has nextUpdate before `refresh_by`; at most `limit` at a
 * time, in serial order after `after` ("" to start). */
typedef int (*store_serial_cb)(void *ctx, const char *serial, enum ca_kind ca);
int store_ocsp_foreach_due(struct store *st, int64_t refresh_by, const char *after,
                           size_t limit, store_serial_cb cb, void *ctx, struct jerr *err);

/* The cards of a person, oldest first (written only on success). */
struct card_list {
    struct card *items;
    size_t count;
};
void card_list_free(struct card_list *list); /* frees items, zeroes the list */
int store_cards_of_person(struct store *st, const char *person_id, struct card_list *out,
                          struct jerr *err);

/* Operator credentials created through the API (docs/API.md, POST /v1/operators; migration 2).
 * A token is never stored: only its SHA-256 as lower-case hex. */
#define STORE_TOKEN_SHA256_HEX 64
struct operator_rec {
    char name[JPKI_ID_MAX + 1];
    enum operator_role role;
    char token_sha256[STORE_TOKEN_SHA256_HEX + 1];
    int64_t created_at; /* 0 on insert = now */
    char created_by[JPKI_ID_MAX + 1];
    bool disabled;
};
/* JERR_CONFLICT (field "name" or "token_sha256") when the name or the token hash is in use. */
int store_operator_insert(struct store *st, const struct operator_rec *op, struct jerr *err);
/* JERR_NOT_FOUND when there is no such operator. */
int store_operator_get(struct store *st, const char *name, struct operator_rec *out,
                       struct jerr *err);
int store_operator_by_token(struct store *st, const char *token_sha256, struct operator_rec *out,
                            struct jerr *err);

/* Audit log (DESIGN §7): each row holds the hash of the previous one (see ca/audit.h). */
struct audit_entry {
    int64_t seq;
    int64_t at;
    char actor[JPKI_ID_MAX + 1];
    char action[48];
    char target[128];
    char outcome[16]; /* "ok" / "refused" / "error" */
    char detail[512]; /* ids and codes only, never personal data */
};
/* Appends one row inside the current transaction (or its own when none is open). The store
 * assigns e->seq (last + 1) and the hashes; e->at 0 means now (jclock_now). */
int store_audit_append(struct store *st, const struct audit_entry *e, struct jerr *err);
/* Walks the whole chain. Returns 0 when intact; -1 with *bad_seq = the first broken row
 * (err says what: hash mismatch, gap in seq, wrong previous hash). *rows = the rows found
 * intact (all of them on success, those before the broken one on failure). A deleted row is
 * reported at the row that follows the gap. Truncating the tail of the log is not detectable
 * from the log alone. */
int store_audit_verify(struct store *st, int64_t *bad_seq, int64_t *rows, struct jerr *err);
/* The audit rows naming `target`, oldest first, via cb (return 0 to go on). */
typedef int (*store_audit_cb)(void *ctx, const struct audit_entry *e);
int store_audit_foreach_target(struct store *st, const char *target, store_audit_cb cb,
                               void *ctx, struct jerr *err);

#endif
