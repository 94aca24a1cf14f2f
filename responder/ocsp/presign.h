/*
 * presign: the in-memory cache of pre-signed OCSP responses (DESIGN §5, §8) — what the event
 * loops answer from without a worker, a lock held for long, or SQLite.
 *
 * A response is an immutable, reference-counted blob (the DER, its ETag, thisUpdate and
 * nextUpdate, and their HTTP-date forms, all computed once): a loop takes a reference, hands
 * the bytes to the reply buffer by reference (evbuffer_add_reference) and drops the reference
 * when the buffer is done with them; a writer replaces a blob by swapping the table's pointer,
 * so a reader never sees a half-written response (STYLE "Concurrency": readers get immutable
 * snapshots).
 *
 * The table is sharded by key hash; a shard's mutex is held only for a probe and a pointer
 * copy (never across I/O, allocation of a blob, or signing), so loops and workers do not
 * contend in practice. Each shard is an open-addressing table (linear probing, backward-shift
 * deletion) at most half full. Memory is bounded: at most `max_entries` blobs, the bound split
 * evenly over the shards (so a shard may be full a little before the whole is); a writer that
 * may evict takes the entry of that shard a CLOCK hand finds not used since its last pass (an
 * approximate LRU). The cache is only a copy: the registry (ocsp_responses) stays the source of
 * truth, and keeping the copy in step with it is the caller's business (ocsp_answer.h). This module
 * knows no SQL, no HTTP request and no key.
 */
#ifndef JPKI_PRESIGN_H
#define JPKI_PRESIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config/config.h"
#include "base/jerr.h"
#include "base/limits.h"
#include "responder/net/http.h"

/* What a pre-signed response answers: one certificate of one CA, for CertIDs hashed with one
 * algorithm (a response echoes the CertID, so SHA-1 and SHA-256 askers need their own). */
struct presign_key {
    enum ca_kind ca;
    /* The first bytes of the CertID's issuerKeyHash: two generations of a CA share their name
     * but never their key (DESIGN §11), so their answers never share an entry. */
    uint32_t issuer_tag;
    int certid_hash;                      /* enum ocsp_certid_hash */
    char serial[JPKI_SERIAL_HEX_MAX + 1]; /* upper hex, as the registry stores it */
};

struct presign;
struct presign_blob;

/* A new blob (reference count 1) holding a copy of the `len` bytes of `der` (1..), for `key`
 * (NULL: a response that is never cached, e.g. one with a nonce). `cert_status` is the
 * V_OCSP_CERTSTATUS_* of the response (for metrics). Returns NULL with err filled. */
struct presign_blob *presign_blob_new(const struct presign_key *key, const unsigned char *der,
                                      size_t len, time_t this_update, time_t next_update,
                                      int cert_status, struct jerr *err);
/* Takes / drops a reference; the last drop frees the blob. Thread-safe; unref(NULL) no-op. */
void presign_blob_ref(struct presign_blob *b);
void presign_blob_unref(struct presign_blob *b);

/* The blob's fields (immutable; valid while a reference is held). */
const unsigned char *presign_blob_der(const struct presign_blob *b, size_t *len);
const struct presign_key *presign_blob_key(const struct presign_blob *b);
time_t presign_blob_this_update(const struct presign_blob *b);
time_t presign_blob_next_update(const struct presign_blob *b);
int presign_blob_cert_status(const struct presign_blob *b);
const char *presign_blob_etag(const struct presign_blob *b);          /* quoted hex SHA-256 */
const char *presign_blob_last_modified(const struct presign_blob *b); /* thisUpdate, HTTP-date */
const char *presign_blob_expires(const struct presign_blob *b);       /* nextUpdate, HTTP-date */
/* The current reference count (for tests and assertions only: it may change at once). */
int presign_blob_refs(const struct presign_blob *b);

/* A key's issuer_tag: the first four bytes of an issuerKeyHash (SHA-1 or SHA-256). */
uint32_t presign_issuer_tag(const unsigned char *key_hash);

/* Hash of a key (FNV-1a; keys are our own random serials, chosen by no client). */
uint64_t presign_key_hash(const struct presign_key *key);
bool presign_key_equal(const struct presign_key *a, const struct presign_key *b);

/* A cache of at most `max_entries` (1..) blobs. Returns NULL with err filled. */
struct presign *presign_new(size_t max_entries, struct jerr *err);
/* Drops the cache's references (blobs still referenced elsewhere live on). NULL is a no-op. */
void presign_free(struct presign *c);

/* The blob of `key` as a new reference the caller drops, or NULL. Marks it recently used.
 * Thread-safe; no allocation. */
struct presign_blob *presign_get(struct presign *c, const struct presign_key *key);

/* Stores `b` under its key (the cache takes its own reference; the caller keeps its own),
 * replacing the blob there. When the key's shard is full and the key is new: with `may_evict` a
 * least-recently-used entry goes, else nothing is stored and false is returned. A blob made
 * with no key is never stored (false). Thread-safe. */
bool presign_put(struct presign *c, struct presign_blob *b, bool may_evict);

/* Removes the entry of `key` if there is one. Thread-safe. */
void presign_remove(struct presign *c, const struct presign_key *key);

/* Removes every entry (jpkid respond, after a reconnection to Redis: nothing cached can be
 * proved fresh). Thread-safe; blobs still referenced elsewhere live on. */
void presign_clear(struct presign *c);

/* Entries held now, and the bound. Thread-safe (a moment's view). */
size_t presign_count(struct presign *c);
size_t presign_capacity(const struct presign *c);

#endif
