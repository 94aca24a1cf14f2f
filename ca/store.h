/*
 * store: the registry (DESIGN §7). All SQL of jpki lives in ca/store*.c and nowhere else:
 * store.c the connection, store_schema.c the migrations, store_<repository>.c the tables
 * (persons and cards, certs, crl, ocsp, audit, operators, batches, holder, meta).
 *
 * SQLite in WAL mode, synchronous=FULL, foreign_keys=ON, busy timeout; numbered migrations
 * applied at open; prepared statements only (cached per connection). A struct store is one
 * connection and is used by one thread at a time: every worker opens its own.
 *
 * Transactions: a lifecycle event calls store_begin (BEGIN IMMEDIATE), makes its changes,
 * appends its audit row (store_audit_append) and store_commit; on any failure store_rollback.
 * Status changes mark the certificate's pre-signed OCSP response and its CA's CRLs stale in the
 * same transaction, so nothing is reported done before it is durable; a new certificate and a
 * status change also mark the serial for the OCSP refresher (store_ocsp_foreach_dirty).
 */
#ifndef JPKI_STORE_H
#define JPKI_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ca/model.h"
#include "base/jerr.h"

struct store;

/* Opens (creating if `create`) the registry at `path` and applies pending migrations.
 * Opening a missing file without `create` fails with JERR_NOT_FOUND. */
struct store *store_open(const char *path, bool create, struct jerr *err);
void store_close(struct store *st);

/* The schema version this code migrates to; store_schema_version of an open registry. */
int store_schema_latest(void);

/* Copies every committed page of the WAL into the registry and truncates the WAL to zero bytes
 * (SQLITE_CHECKPOINT_TRUNCATE, waiting on other connections as long as the busy handler does),
 * so that the old page images it held — e.g. of batch rows whose passwords have since been
 * cleared (secure_delete is on for every connection) — are gone from the disk's files.
 * JERR_UNAVAILABLE when other connections kept it busy. Outside a transaction. */
int store_wal_truncate(struct store *st, struct jerr *err);
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
/* Sets the prefecture and municipality of card c->id (the signing subject's L= values) to
 * those of `c`. JERR_NOT_FOUND "card_id" when there is no such card. */
int store_card_set_places(struct store *st, const struct card *c, struct jerr *err);

/* Certificates. insert stores the record and its DER (JERR_CONFLICT on a reused serial) and
 * marks the serial for the OCSP refresher, in one transaction (the caller's or its own). */
int store_cert_insert(struct store *st, const struct cert_rec *rec, const unsigned char *der,
                      size_t der_len, struct jerr *err);
/* The same for a certificate the issuance just made: a good one is not marked (DESIGN §5: its
 * response is signed on the first request, the miss path, and stored then; pre-signing every
 * new certificate would double the signatures of issuance — docs/DESIGN-NOTES.md). Any other
 * status is marked as store_cert_insert marks it. */
int store_cert_insert_issued(struct store *st, const struct cert_rec *rec,
                             const unsigned char *der, size_t der_len, struct jerr *err);
int store_cert_get(struct store *st, const char *serial, struct cert_rec *out,
                   struct jerr *err);
/* The same for a certificate of a CA in `ca_mask` (bit 1 << ca): one of another CA is
 * JERR_NOT_FOUND "serial", word for word the answer to a serial never issued. */
int store_cert_get_of(struct store *st, const char *serial, unsigned ca_mask,
                      struct cert_rec *out, struct jerr *err);
/* The DER, malloc'd into *der (caller frees with free). */
int store_cert_get_der(struct store *st, const char *serial, unsigned char **der,
                       size_t *der_len, struct jerr *err);
bool store_serial_exists(struct store *st, const char *serial);

/* Changes a certificate's status (reason REASON_NONE when good), marks its OCSP responses and
 * its CA's CRL stale and the serial for the OCSP refresher. */
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

/* CRL scopes. A CRL of a CA is named by its "partition": n >= 0 the partition n of generation
 * 1 (DESIGN §5), -g the complete CRL of generation g (DESIGN §11: -1 is generation 1's, the CA's
 * complete CRL since before generations). Each scope has its own CRL number series; only
 * generation 1's scopes clear the CA's stale mark (the others are published with it). */
#define STORE_CA_GENERATIONS_MAX 64
#define STORE_CRL_GENERATION(g) (-(g))

/* CRL streaming (DESIGN §5): calls cb for every held or revoked certificate of `ca` that has
 * not expired at `now` (partition: a scope, see above; -1 = all partitions of generation
 * 1). Memory stays flat: one row at a time.
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

/* Linkage (migration 9, ca/linkage.h). Inside the caller's transaction: links the newest
 * certificate of `person_id` and `ca` other than `serial` that has no successor yet to
 * `serial` (its successor) — nothing when there is none (a first issuance). */
int store_link_predecessor(struct store *st, const char *serial, const char *person_id,
                           enum ca_kind ca, int64_t at, struct jerr *err);
/* The successor of `serial` into out (size > JPKI_SERIAL_HEX_MAX): 0, or -1 with
 * JERR_NOT_FOUND when it has none. */
int store_link_successor(struct store *st, const char *serial, char *out, size_t size,
                         struct jerr *err);
/* Records (or renews) the consent of `person_id` to `party` learning its basic information. */
int store_consent_put(struct store *st, const char *person_id, const char *party, int64_t at,
                      const char *granted_by, struct jerr *err);
/* True when `person_id` consented to `party` (false also on error). */
bool store_consent_exists(struct store *st, const char *person_id, const char *party);

/* The "partition" of a CA's ARL (authority revocation list, ca/crl.h crl_publish_arl): its own
 * number series and records. */
#define STORE_CRL_ARL (-(STORE_CA_GENERATIONS_MAX + 2)) /* below the generations' scopes */

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
/* Delta CRLs (RFC 5280 §5.2.4): cb for every certificate of `ca` unexpired at `now` whose
 * status changed after the change counter `since_seq` (a base CRL's covers_seq) — held or
 * revoked with its reason, or good again with REASON_REMOVE_FROM_CRL. */
int store_crl_delta_foreach(struct store *st, enum ca_kind ca, int64_t since_seq, int64_t now,
                            store_crl_cb cb, void *ctx, struct jerr *err);
/* The base of a delta CRL of `ca` at `now`: the oldest recorded complete CRL still valid
 * (its number and the change counter it covers). JERR_NOT_FOUND when there is none. */
int store_crl_delta_base(struct store *st, enum ca_kind ca, int64_t now, int64_t *number,
                         int64_t *covers_seq, struct jerr *err);
/* Records a published delta CRL `number` over the base `base_number` (numbers of the complete
 * CRL's series, store_crl_number_next partition -1). Leaves the stale mark alone.
 * JERR_CONFLICT when that number was already recorded. */
int store_crl_delta_published(struct store *st, enum ca_kind ca, int64_t number,
                              int64_t base_number, int64_t this_update, int64_t next_update,
                              size_t size, struct jerr *err);
/* CA generations (DESIGN §11, migration 11): one row per generation of a CA. */
enum ca_gen_state { CA_GEN_ACTIVE = 0, CA_GEN_ISSUING_STOPPED = 1, CA_GEN_RETIRED = 2 };
struct ca_gen_rec {
    enum ca_kind ca;
    int generation; /* 1.. */
    char algorithm[32];        /* "rsa2048", "ecdsa-p384", ... ("" until known) */
    char ca_key[64], ocsp_key[64]; /* the key store's names (keystore/signer.h) */
    char root_file[128], ocsp_file[128]; /* relative to data_dir */
    enum ca_gen_state state;
    int64_t created_at;
    int64_t retired_at; /* 0 while not retired */
    /* The subscriber validity it issues for (migration 12), 1..10 years, and for a holder under
     * 18; 0 (NULL) = the configuration's subscriber.validity_years / validity_years_minor. */
    int validity_years, validity_years_minor;
};
/* The generations of `ca`, oldest first: *out (malloc'd; the caller frees it) and *n. */
int store_gen_list(struct store *st, enum ca_kind ca, struct ca_gen_rec **out, size_t *n,
                   struct jerr *err);
/* Records a new generation (JERR_CONFLICT when that number exists) and marks every older one
 * of the CA that is still active issuing-stopped, in the caller's transaction or its own. */
int store_gen_insert(struct store *st, const struct ca_gen_rec *rec, struct jerr *err);
/* Fills in the algorithm of a generation recorded without one (migration 11's generation 1). */
int store_gen_set_algorithm(struct store *st, enum ca_kind ca, int generation,
                            const char *algorithm, struct jerr *err);
/* Marks a generation retired at `at`. */
int store_gen_retire(struct store *st, enum ca_kind ca, int generation, int64_t at,
                     struct jerr *err);
/* Whether generation `generation` of `ca` has a certificate not expired at `now`. */
int store_gen_has_live(struct store *st, enum ca_kind ca, int generation, int64_t now,
                       bool *live, struct jerr *err);

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
 * serial still equal signed_rec's; otherwise it is stored stale (the change that made it
 * stale marked the serial again, see store_ocsp_foreach_dirty) and *current (may be NULL) is
 * false. JERR_NOT_FOUND for an unknown serial. */
int store_ocsp_put_signed(struct store *st, const struct cert_rec *signed_rec, int certid_hash,
                          const unsigned char *der, size_t der_len, int64_t this_update,
                          int64_t next_update, bool *current, struct jerr *err);
/* *der malloc'd (caller frees). JERR_NOT_FOUND when there is none. */
int store_ocsp_get(struct store *st, const char *serial, int certid_hash, unsigned char **der,
                   size_t *der_len, int64_t *next_update, bool *stale, struct jerr *err);
/* What the OCSP refresher must sign (migration 5; DESIGN §5, §8). Both listings read an index
 * and stop after `limit` rows: their cost does not grow with the number of certificates.
 * Pointers are valid during the callback only; cb returns 0 to go on. */
struct store_ocsp_due {
    const char *serial;
    enum ca_kind ca;
    int64_t not_after;   /* the certificate's notAfter */
    int64_t changed_seq; /* store_ocsp_foreach_dirty: the mark (0 for ageing) */
    int64_t next_update; /* store_ocsp_foreach_ageing: the response's nextUpdate (0 for marks) */
};
typedef int (*store_ocsp_due_cb)(void *ctx, const struct store_ocsp_due *due);
/* The marked certificates: each new certificate and each status change marks its serial in
 * its own transaction (store_cert_insert, store_cert_set_status), with a new changed_seq that
 * is never reused; certificates without a fresh SHA-1 response when migration 5 ran were
 * marked by it (a good certificate inserted by store_cert_insert_issued is not). Marks with
 * changed_seq > after_seq, oldest first, at most `limit`. */
int store_ocsp_foreach_dirty(struct store *st, int64_t after_seq, size_t limit,
                             store_ocsp_due_cb cb, void *ctx, struct jerr *err);
/* Clears the mark of `serial` if it is still `changed_seq` (a change since the mark was read
 * marked it again, and that mark stays). *cleared (may be NULL) says whether it was. Inside
 * the caller's transaction or on its own. */
int store_ocsp_dirty_clear(struct store *st, const char *serial, int64_t changed_seq, bool *cleared,
                           struct jerr *err);
/* The changed_seq of `serial`'s mark into *changed_seq (0 when it has none). */
int store_ocsp_dirty_seq(struct store *st, const char *serial, int64_t *changed_seq,
                         struct jerr *err);
/* Pre-signed responses (either hash, any status) whose nextUpdate is before `refresh_by`, in
 * (next_update, serial) order after the position (after_next_update, after_serial) — 0 and ""
 * to start — at most `limit`. A serial with two ageing responses may come twice. */
int store_ocsp_foreach_ageing(struct store *st, int64_t refresh_by, int64_t after_next_update,
                              const char *after_serial, size_t limit, store_ocsp_due_cb cb,
                              void *ctx, struct jerr *err);
/* Deletes the pre-signed responses of `serial` (both hashes); none is not an error. For a
 * certificate that expired: its aged responses are never re-signed, and deleting them keeps
 * the ageing walk short (a request for it is signed on demand). */
int store_ocsp_delete(struct store *st, const char *serial, struct jerr *err);

/* ---- Publication (DESIGN §13, migration 7) ---- *
 * A node that publishes to Redis (publish.redis) sets its connections publishing: then every
 * write of a pre-signed OCSP response (store_ocsp_put, store_ocsp_put_signed) queues its
 * serial in publish_queue in the same transaction, and a good certificate inserted by
 * store_cert_insert_issued is marked for the refresher like any other (a node without keys
 * cannot sign on a miss). The queue is the durable side of the publisher: an entry leaves it
 * only once Redis has the serial's responses (store_pub_clear). */
void store_set_publishing(struct store *st, bool on);
bool store_is_publishing(const struct store *st);

/* One queued serial. */
struct store_pub_entry {
    int64_t seq;
    const char *serial; /* valid during the callback */
    enum ca_kind ca;
    int64_t queued_ms; /* wall-clock ms when queued */
};
typedef int (*store_pub_cb)(void *ctx, const struct store_pub_entry *e);
/* Queued entries with seq > after_seq, oldest first, at most `limit`. */
int store_pub_foreach(struct store *st, int64_t after_seq, size_t limit, store_pub_cb cb, void *ctx,
                      struct jerr *err);
/* One entry Redis acknowledged. */
struct store_pub_done {
    char serial[JPKI_SERIAL_HEX_MAX + 1];
    int64_t seq;
};
/* Removes done[0..n) from the queue, each only if still at its seq (queued again since: it
 * stays), in one transaction (the caller's or its own: one sync per batch). Returns 0, or -1
 * with err and nothing removed (published again next time, which is harmless). */
int store_pub_clear(struct store *st, const struct store_pub_done *done, size_t n,
                    struct jerr *err);
/* The entries queued, and the queued_ms of the oldest (0 when none). */
int store_pub_depth(struct store *st, int64_t *count, int64_t *oldest_ms, struct jerr *err);
/* Queues every certificate (a Redis that lost its data, or publication just turned on) and
 * marks for the refresher every unexpired certificate (notAfter >= now) without fresh
 * responses under both CertID hashes; *queued (may be NULL) = entries queued. In one
 * transaction (the caller's or its own). */
int store_pub_seed(struct store *st, int64_t now, int64_t now_ms, int64_t *queued,
                   struct jerr *err);

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
/* Every operator of the table by name, via cb (return 0 to go on). */
typedef int (*store_operator_cb)(void *ctx, const struct operator_rec *op);
int store_operator_foreach(struct store *st, store_operator_cb cb, void *ctx, struct jerr *err);
/* Disables an operator / replaces its token hash. JERR_NOT_FOUND (field "name") when there is
 * no such operator; set_token: JERR_CONFLICT (field "token_sha256") for a hash in use. */
int store_operator_disable(struct store *st, const char *name, struct jerr *err);
int store_operator_set_token(struct store *st, const char *name, const char *token_sha256,
                             struct jerr *err);

/* Relying parties (DESIGN §12, ca/rp.h; migration 10). */
enum rp_kind { RP_KIND_SIGNATURE = 0, RP_KIND_AUTHENTICATION = 1, RP_KIND_PLATFORM = 2 };
enum rp_state { RP_STATE_ACTIVE = 0, RP_STATE_SUSPENDED = 1, RP_STATE_DELETED = 2 };
/* What a party asked for (rp_usage_daily.what). */
enum rp_what { RP_WHAT_OCSP = 0, RP_WHAT_CRL = 1 };
#define STORE_RP_TEXT_MAX 200 /* name, contact: bytes */
struct rp_rec {
    int64_t pk; /* set by store_rp_insert */
    char id[JPKI_ID_MAX + 1];
    char name[STORE_RP_TEXT_MAX + 1];
    char contact[STORE_RP_TEXT_MAX + 1];
    enum rp_kind kind;
    enum rp_state state;
    char token_sha256[STORE_TOKEN_SHA256_HEX + 1]; /* "" = none */
    char cert_serial[JPKI_SERIAL_HEX_MAX + 1];     /* upper-case hex; "" = none */
    int64_t cert_not_after;
    int64_t created_at; /* 0 on insert = now */
    char created_by[JPKI_ID_MAX + 1];
    int64_t updated_at; /* when the state last changed (deleted: when the certificate was revoked) */
};
/* JERR_CONFLICT (field "id") for an id in use (a deleted party's too). */
int store_rp_insert(struct store *st, struct rp_rec *rp, struct jerr *err);
/* JERR_NOT_FOUND (field "id") when there is no such party. */
int store_rp_get(struct store *st, const char *id, struct rp_rec *out, struct jerr *err);
/* Every party (deleted ones too) by id, via cb (return 0 to go on). */
typedef int (*store_rp_cb)(void *ctx, const struct rp_rec *rp);
int store_rp_foreach(struct store *st, store_rp_cb cb, void *ctx, struct jerr *err);
/* Sets the state (and updated_at = now). JERR_NOT_FOUND when there is no such party. */
int store_rp_set_state(struct store *st, const char *id, enum rp_state state, struct jerr *err);
/* Adds `calls` to the party's count of `day` ("YYYY-MM-DD"), CA and kind of request. */
int store_rp_usage_add(struct store *st, int64_t party, const char *day, int ca,
                       enum rp_what what, int64_t calls, struct jerr *err);
/* Records that the party asked about `serial` of `ca` in `month` ("YYYY-MM"); once a month. */
int store_rp_cert_seen(struct store *st, int64_t party, const char *month, int ca,
                       const char *serial, struct jerr *err);
/* The party's counts of `month` ("YYYY-MM") by day, CA and kind, via cb (0 to go on). */
typedef int (*store_rp_usage_cb)(void *ctx, const char *day, int ca, enum rp_what what,
                                 int64_t calls);
int store_rp_usage_foreach(struct store *st, int64_t party, const char *month,
                           store_rp_usage_cb cb, void *ctx, struct jerr *err);
/* The distinct certificates the party asked about in `month`, per CA. */
int store_rp_usage_distinct(struct store *st, int64_t party, const char *month,
                            int64_t counts[CA_KIND_COUNT], struct jerr *err);

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
/* store_audit_verify, calling cb (when not NULL) with the hash of every intact row, in order
 * (ca/checkpoint.c compares them with the signed checkpoints). */
typedef void (*store_audit_hash_cb)(void *ctx, int64_t seq, const unsigned char *hash);
int store_audit_verify_each(struct store *st, store_audit_hash_cb cb, void *ctx, int64_t *bad_seq,
                            int64_t *rows, struct jerr *err);
/* The newest row's seq and hash (0 and all zeros for an empty log). */
int store_audit_head(struct store *st, int64_t *rows, unsigned char *head, struct jerr *err);
/* Up to `limit` rows with seq > after, oldest first, with their stored prev_hash and hash
 * (AUDIT_HASH_LEN bytes each) via cb (return 0 to go on). */
typedef int (*store_audit_row_cb)(void *ctx, const struct audit_entry *e,
                                  const unsigned char *prev_hash, const unsigned char *hash);
int store_audit_page(struct store *st, int64_t after, int limit, store_audit_row_cb cb, void *ctx,
                     struct jerr *err);

/* Signed checkpoints of the audit log (migration 6; ca/checkpoint.h owns their DER). */
int store_checkpoint_insert(struct store *st, int64_t rows, int64_t at, const unsigned char *der,
                            size_t der_len, struct jerr *err);
/* The checkpoint covering the most rows (the newest of those): *der malloc'd, the caller frees
 * it. JERR_NOT_FOUND when there is none. */
int store_checkpoint_last(struct store *st, int64_t *rows, unsigned char **der, size_t *der_len,
                          struct jerr *err);
/* Every checkpoint, by rows then age, via cb (rows and at as stored, the DER borrowed for the
 * call); a cb returning non-zero stops the walk with its err. */
typedef int (*store_checkpoint_cb)(void *ctx, int64_t rows, int64_t at, const unsigned char *der,
                                   size_t der_len, struct jerr *err);
int store_checkpoint_foreach(struct store *st, store_checkpoint_cb cb, void *ctx, struct jerr *err);

/* The audit rows naming `target`, oldest first, via cb (return 0 to go on). */
typedef int (*store_audit_cb)(void *ctx, const struct audit_entry *e);
int store_audit_foreach_target(struct store *st, const char *target, store_audit_cb cb,
                               void *ctx, struct jerr *err);

/* Batches (migrations 3, 5; DESIGN §6, docs/BATCH.md): a submitted batch file and its rows, so
 * that a batch survives a restart and a row is done at most once. A row's request (the
 * checked person, card and certificates, as text the caller chose) is kept only while the row
 * is pending; finishing a row clears it. Counters (done_rows, failed_rows) change in the same
 * statement group as the row, so progress is read without counting rows. */
enum batch_row_state {
    BATCH_ROW_PENDING = 0,
    BATCH_ROW_DONE = 1,    /* issued: serials set */
    BATCH_ROW_FAILED = 2,  /* refused or failed while processed: error set */
    BATCH_ROW_INVALID = 3, /* refused at submission (a problem of the file): error set */
};
#define STORE_BATCH_DIGEST_HEX 64

struct batch_rec {
    int64_t id; /* assigned by store_batch_insert */
    char key[JPKI_ID_MAX + 1];
    char digest[STORE_BATCH_DIGEST_HEX + 1]; /* SHA-256 of the canonical rows, hex */
    char submitted_by[JPKI_ID_MAX + 1];
    int64_t submitted_at; /* 0 on insert = now */
    int64_t total;        /* rows in the file */
    int64_t accepted;     /* rows that passed the checks of the file */
    int64_t done_rows;    /* issued */
    int64_t failed_rows;  /* failed or invalid; pending = total - done_rows - failed_rows */
    bool finished;
    int64_t finished_at; /* 0 while running */
};

struct batch_row_rec {
    int64_t row;               /* 1-based row number in the file */
    char key[JPKI_ID_MAX + 1]; /* "" when unknown (a row refused at submission) */
    enum batch_row_state state;
    char serials[CA_KIND_COUNT * (JPKI_SERIAL_HEX_MAX + 1)]; /* "S1" or "S1,S2"; "" */
    char error_code[24];
    char error_field[96];
    char error_message[512];
    int64_t finished_at; /* 0 while pending */
};

/* Inserts a batch (counters zero, running) and sets b->id. JERR_CONFLICT (field "key") when
 * the key is in use. */
int store_batch_insert(struct store *st, struct batch_rec *b, struct jerr *err);
/* Inserts a row of batch `batch_id`: state BATCH_ROW_PENDING with its `request` text, or
 * BATCH_ROW_INVALID with its error (request NULL; counted in failed_rows). */
int store_batch_row_insert(struct store *st, int64_t batch_id, const struct batch_row_rec *r,
                           const char *request, struct jerr *err);
/* JERR_NOT_FOUND (field "batch_id" / "key") when there is no such batch. */
int store_batch_get(struct store *st, int64_t id, struct batch_rec *out, struct jerr *err);
int store_batch_get_by_key(struct store *st, const char *key, struct batch_rec *out,
                           struct jerr *err);
/* One row (JERR_NOT_FOUND, field "row"). */
int store_batch_row_get(struct store *st, int64_t batch_id, int64_t row, struct batch_row_rec *out,
                        struct jerr *err);
/* The pending row of `batch_id` with the lowest number and its request (malloc'd into
 * *request; the caller frees it). JERR_NOT_FOUND when no row is pending. */
int store_batch_next_pending(struct store *st, int64_t batch_id, struct batch_row_rec *out,
                             char **request, struct jerr *err);
/* Claims the lowest pending row of `batch_id` that is not claimed (or whose claim ended
 * before `now`) until `until`, in one statement (two connections never claim the same row),
 * and returns it with its request like store_batch_next_pending. JERR_NOT_FOUND when no row
 * can be claimed (none pending, or all claimed). A claim only spares duplicate work:
 * finishing a row (store_batch_row_finish) needs no claim and clears it. */
int store_batch_claim_next(struct store *st, int64_t batch_id, int64_t now, int64_t until,
                           struct batch_row_rec *out, char **request, struct jerr *err);
/* Gives back the claim of a row that stays pending (e.g. the registry was busy). */
int store_batch_row_unclaim(struct store *st, int64_t batch_id, int64_t row, struct jerr *err);
/* Gives back every claim of the pending rows of `batch_id` (at start: the claims of a process
 * that stopped); *released (may be NULL) = how many. */
int store_batch_claims_release(struct store *st, int64_t batch_id, int64_t *released,
                               struct jerr *err);
/* Finishes a pending row: `result` gives the new state (BATCH_ROW_DONE with serials, or
 * BATCH_ROW_FAILED with the error), the request is cleared and the batch's counter counts it.
 * Inside the caller's transaction (e.g. the issuance's before_commit hook) or its own. A row
 * that is no longer pending is left alone: *changed is then false (and true otherwise). */
int store_batch_row_finish(struct store *st, int64_t batch_id, int64_t row,
                           const struct batch_row_rec *result, bool *changed, struct jerr *err);
/* Marks the batch finished when no row is pending; *changed is true when this call did. */
int store_batch_finish(struct store *st, int64_t id, bool *changed, struct jerr *err);
/* The rows of a batch in row order: numbers after `after_row`, at most `limit`, only those
 * in `state` (-1 = any). cb returns 0 to go on. */
typedef int (*store_batch_row_cb)(void *ctx, const struct batch_row_rec *r);
int store_batch_rows_foreach(struct store *st, int64_t batch_id, int state, int64_t after_row,
                             int64_t limit, store_batch_row_cb cb, void *ctx, struct jerr *err);
/* The batches still running, oldest first. */
typedef int (*store_batch_cb)(void *ctx, const struct batch_rec *b);
int store_batches_running(struct store *st, store_batch_cb cb, void *ctx, struct jerr *err);
/* Rows of every batch in the registry, by state (pending = not yet done or failed). */
int store_batch_row_totals(struct store *st, int64_t *done, int64_t *failed, int64_t *pending,
                           struct jerr *err);

/* Online revocation requests of card holders (migration 4; docs/CARD.md "Online
 * revocation"). A request id is accepted once: the row is inserted in the revocation's own
 * transaction, so a replayed request fails with the revocation undone. */
#define STORE_HOLDER_REQUEST_ID_MAX 64
#define STORE_RECEIPT_ID_HEX 32
struct holder_request_rec {
    char request_id[STORE_HOLDER_REQUEST_ID_MAX + 1]; /* lower-case hex, as the holder chose */
    char serial[JPKI_SERIAL_HEX_MAX + 1];             /* the certificate revoked */
    char signer_serial[JPKI_SERIAL_HEX_MAX + 1];      /* the signing certificate that signed */
    char receipt_id[STORE_RECEIPT_ID_HEX + 1];        /* the receipt given for it */
    int64_t request_time;                             /* the request's own "time" */
    int64_t received_at;                              /* 0 on insert = now */
};
/* JERR_CONFLICT (field "request_id", "replayed request: ...") when the id was seen before;
 * JERR_NOT_FOUND (field "serial") when a serial is not in the registry. */
int store_holder_request_insert(struct store *st, const struct holder_request_rec *r,
                                struct jerr *err);
/* True when `request_id` was accepted before (false also when the registry cannot say: the
 * insert above is the authority). */
bool store_holder_request_exists(struct store *st, const char *request_id);

#endif
