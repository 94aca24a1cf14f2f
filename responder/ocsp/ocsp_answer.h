/*
 * ocsp_answer: the signing side of the OCSP responder (DESIGN §5) — answers parsed requests
 * from the registry with each CA's delegated OCSP signer, pre-signs responses, and keeps the
 * in-memory copies (presign.h) agreeing with the registry (ocsp_responses, certificates).
 *
 * Everything here that touches the registry or signs runs on a worker (STYLE "Concurrency");
 * the event loops use only the pure functions (which CA a request names, whether its answer
 * can come from the cache, the cache key) and presign_get.
 *
 * KEEPING THE CACHE TRUE. A status change commits in one transaction that also marks the
 * certificate's ocsp_responses rows stale and the serial for the refresher (ca/store.h,
 * store_ocsp_foreach_dirty), possibly from another process. A
 * response is written to the registry with store_ocsp_put_signed, which stores it fresh only
 * if the record it was signed from is still the current one. A blob enters the cache only
 * under the stripe lock of its key, after a fresh read of the certificate inside that lock
 * shows the state it was signed from (or, for a row loaded from the registry, after the row
 * was read fresh inside that lock); otherwise the entry is removed. Writers of one key are
 * thus ordered, and the last one leaves the cache agreeing with the registry as of its read;
 * a change committed after that read leaves a stale row, which the refresher (ocsp_refresh.h)
 * re-signs, or a new writer reads. So an outdated answer is served at most until the next
 * refresher pass that sees the change. Removing an entry is always safe (the next request
 * misses and is signed from the registry).
 *
 * Multi-CertID requests whose CertIDs name different issuers (our two CAs, two generations of
 * one CA — DESIGN §11 —, or one of ours and a foreign one) are answered `unauthorized` as a
 * whole: one response carries one signer, a
 * delegated signer may only vouch for its own CA's certificates (RFC 6960 §4.2.2.2), and RFC
 * 6960 §4.2.2.3 wants a SingleResponse for every CertID asked, so no partial answer is right.
 * Clients ask each issuer separately (OpenSSL does when given two issuers' certificates).
 *
 * CertID hash parameters: pre-signed responses are built with NULL parameters (as OpenSSL,
 * Go, Bouncy Castle and NSS send them). A request whose CertID has absent parameters is not
 * answered from the cache but signed afresh, echoing its CertID exactly (RFC 6960 §4.2.1):
 * strict clients compare the whole CertID, and such clients are rare enough that the extra
 * signatures (bounded like any miss) cost little.
 */
#ifndef JPKI_OCSP_ANSWER_H
#define JPKI_OCSP_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "ca/ocsp.h"
#include "ca/pki.h"
#include "ca/store.h"
#include "base/jerr.h"
#include "responder/ocsp/presign.h"

/* A cached or registry response is used only while at least this long remains before its
 * nextUpdate; closer to it, the answer is signed again (clients reject an expired one). */
#define OCSP_ANSWER_MIN_REMAINING_S 60
/* Serials the refresher hands over at most in one call (ocsp_answer_presign). */
#define OCSP_ANSWER_PRESIGN_MAX 64

struct ocsp_answer;

/* Prepares the answers of `pki` (borrowed; it must outlive the result) with a cache of
 * `cache_entries` responses. Returns NULL with err filled. */
struct ocsp_answer *ocsp_answer_new(const struct pki *pki, size_t cache_entries, struct jerr *err);
/* NULL is a no-op. Blobs still referenced elsewhere (reply buffers) live on. */
void ocsp_answer_free(struct ocsp_answer *a);

/* The cache the loops read (presign_get). Borrowed. */
struct presign *ocsp_answer_cache(struct ocsp_answer *a);

/* ---- pure: what the event loops decide ---- */

/* The CA that every CertID of `req` names (RFC 6960 §4.1.1: issuer name and key hash under
 * the CertID's own algorithm), among issuers[0..n); `only_ca` >= 0 restricts to that CA (the
 * per-CA paths). Returns 0 with *ca, or -1 when a CertID names no allowed issuer or the
 * CertIDs name more than one (answer unauthorized, see the file comment). */
int ocsp_answer_pick_ca(const struct ocsp_issuer *issuers, size_t n, const struct ocsp_request *req,
                        int only_ca, enum ca_kind *ca);
/* Same over every generation of the two CAs of the instance (DESIGN §11: a generation is
 * picked by issuer name and key hash, never by the name alone); *gen (may be NULL) gets the
 * generation. Every CertID must name the same generation. */
int ocsp_answer_route(const struct ocsp_answer *a, const struct ocsp_request *req, int only_ca,
                      enum ca_kind *ca, int *gen);
int ocsp_answer_route_ca(const struct ocsp_answer *a, const struct ocsp_request *req, int only_ca,
                         enum ca_kind *ca);

/* True when the answer to `req` may be a pre-signed response: one CertID with NULL hash
 * parameters and a serial that can be ours, no nonce. */
bool ocsp_answer_is_cacheable(const struct ocsp_request *req);

/* The cache key of CertID `id` of CA `ca`. */
void ocsp_answer_key(const struct ocsp_certid *id, enum ca_kind ca, struct presign_key *out);

/* ---- on a worker ---- */

struct ocsp_answer_outcome {
    bool signed_now;    /* a signature was made for this request (a miss, or a nonce) */
    bool from_registry; /* a pre-signed response of the registry, now in the cache too */
};

/* Answers `req` (every CertID naming `ca`, see ocsp_answer_route_ca) from the registry:
 * good / revoked (time, reason) / hold as revoked certificateHold / unknown for a serial
 * never issued by `ca`. A cacheable request is first answered from a fresh pre-signed row
 * of the registry; else it is signed (thisUpdate now, nextUpdate now + ocsp_validity_s),
 * stored (store_ocsp_put_signed) and cached. Others are signed for this request alone, the
 * nonce echoed. Returns a blob reference the caller drops, or NULL with err filled:
 * JERR_UNAVAILABLE when the registry is busy or unreachable (answer tryLater), anything else
 * an internal error. */
struct presign_blob *ocsp_answer_request(struct ocsp_answer *a, struct store *st,
                                         const struct ocsp_request *req, enum ca_kind ca,
                                         struct ocsp_answer_outcome *how, struct jerr *err);

/* The pre-signed answer to a cacheable `req` from the registry (a fresh row, put in the
 * cache too), never a new signature: for a client past its signature budget. Returns a blob
 * reference the caller drops, or NULL with err: JERR_NOT_FOUND when there is no fresh row,
 * the registry's error (e.g. JERR_UNAVAILABLE) when it cannot be read. */
struct presign_blob *ocsp_answer_presigned(struct ocsp_answer *a, struct store *st,
                                           const struct ocsp_request *req, enum ca_kind ca,
                                           struct ocsp_answer_outcome *how, struct jerr *err);

struct ocsp_answer_presign_stats {
    size_t signed_count; /* responses signed */
    size_t stored;       /* stored fresh in the registry */
    size_t outdated;     /* the status changed while signing: stored stale, picked up again */
    size_t failed;       /* serials or responses not done: an error (the first one in err) */
    size_t skipped;      /* serials not signed: unknown to the registry, or expired */
    size_t cleared;      /* refresher marks cleared (see dirty_seqs) */
};

/* Pre-signs the responses of serials[0..n) (n <= OCSP_ANSWER_PRESIGN_MAX): the SHA-1 one
 * always, the SHA-256 one when the registry holds one (always on a node publishing to Redis); from each certificate's current
 * record, stored in one transaction (ca/ocsp_cache.h), then the cache updated (an entry replaced; a new one
 * added only while there is room). A serial the registry does not know, or whose certificate
 * expired (notAfter before now), is skipped: nothing to pre-sign. `dirty_seqs` (may be NULL)
 * gives the refresher's mark of each serial (store_ocsp_foreach_dirty; 0 = none): a serial
 * done (its responses stored, or skipped) has its mark cleared in that same transaction,
 * unless a change marked it again meanwhile; a serial that failed keeps it. Returns 0 when
 * every serial was done, else -1 with err (the first failure) and the others done. */
int ocsp_answer_presign(struct ocsp_answer *a, struct store *st, const char *const *serials,
                        const int64_t *dirty_seqs, size_t n,
                        struct ocsp_answer_presign_stats *stats, struct jerr *err);

/* Pre-signs the responses of certificates just issued (ocsp_answer_presign with the marks
 * store_cert_insert_issued wrote on a publishing node, so the refresher does not sign them
 * again): DESIGN §13, a responder on Redis can answer them from the moment the issuance
 * call returns. Returns as ocsp_answer_presign. */
int ocsp_answer_presign_issued(struct ocsp_answer *a, struct store *st,
                               const char *const *serials, size_t n,
                               struct ocsp_answer_presign_stats *stats, struct jerr *err);

/* `fn(arg)` is called, on the thread that stored them, after responses were written to the
 * registry (the publisher's kick, DESIGN §13). Before any request or refresh. */
void ocsp_answer_set_stored_listener(struct ocsp_answer *a, void (*fn)(void *arg), void *arg);

/* Drops the cached responses of `serial` (both CAs, both hashes): after an in-process status
 * change, so that the next request is answered from the registry. Thread-safe. */
void ocsp_answer_forget(struct ocsp_answer *a, const char *serial);

#endif
