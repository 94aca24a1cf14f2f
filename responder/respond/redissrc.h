/*
 * redissrc: jpkid respond's source of OCSP answers (ocsp_source.h) — the pre-signed responses
 * a CA node publishes to Redis (docs/ARCHITECTURE.md "Redis keys"), checked before they are
 * served, and the state every part of the responder shares about that Redis: one connection per
 * worker thread, the CAs (P cas), the invalidation sequence, whether Redis is reachable, and
 * the counts of values refused.
 *
 * A miss (a request the memory cache does not answer) runs on a worker: GET P ocsp:IKH:SERIAL
 * and SISMEMBER P issued:IKH SERIAL in one round trip. A value is served only when it parses
 * whole, is at most REDISSRC_VALUE_MAX bytes, is signed by the CA (or its delegated signer),
 * answers exactly that CertID and is before its nextUpdate (presign_parse); otherwise it is
 * counted (jpki_respond_redis_rejected_total{reason}) and the request answered tryLater. No
 * value: tryLater when the serial is in the issued set (not published yet), else unauthorized
 * (RFC 9919: no authoritative record). Redis unreachable: tryLater, and no new connection is
 * tried for REDISSRC_BACKOFF_MS, so that an outage costs the clients no waiting.
 *
 * KEEPING THE CACHE TRUE. Every change notice (redissub.h) drops the key from the memory cache
 * and bumps a sequence number; a worker that read a value before a notice it did not see yet
 * puts it into the cache, then drops it again when the sequence moved meanwhile. After a
 * (re)connection everything is dropped. So a cached answer is at most as old as the last
 * notice the subscriber heard, or older only while Redis is unreachable (then it is served until
 * its nextUpdate, as DESIGN §13 wants).
 */
#ifndef JPKI_REDISSRC_H
#define JPKI_REDISSRC_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "base/jerr.h"
#include "responder/net/workers.h"
#include "responder/ocsp/ocsp_source.h"
#include "responder/redis/redisconn.h"

/* The largest value accepted from Redis (an OCSP response is ~1.5 KB, a CRL may be large). */
#define REDISSRC_VALUE_MAX (1024 * 1024)
#define REDISSRC_FILE_MAX (64 * 1024 * 1024)
/* After a failed connection, workers try again only this much later (tryLater meanwhile). */
#define REDISSRC_BACKOFF_MS 250
/* CA roots known at once (CAs × generations). */
#define REDISSRC_MAX_CAS 16

/* Why a value read from Redis was not served. */
enum redissrc_reject {
    REDISSRC_REJECT_DER,       /* not one whole successful OCSPResponse */
    REDISSRC_REJECT_CERTID,    /* another serial or hash than its key */
    REDISSRC_REJECT_ISSUER,    /* another issuer than its key */
    REDISSRC_REJECT_TIMES,     /* no thisUpdate / nextUpdate */
    REDISSRC_REJECT_SIGNATURE, /* not signed by the CA or its delegated signer */
    REDISSRC_REJECT_EXPIRED,   /* past its nextUpdate (or a file past `expires`) */
    REDISSRC_REJECT_OVERSIZED, /* over REDISSRC_VALUE_MAX / REDISSRC_FILE_MAX */
    REDISSRC_REJECT_TYPE,      /* not the Redis type the contract says */
    REDISSRC_REJECT_FILE,      /* a file hash without its fields, or a CRL that does not parse */
    REDISSRC_REJECT_CA,        /* a P cas value that is not a CA certificate */
    REDISSRC_REJECT_PROTOCOL,  /* a reply that is not RESP, or one cut off (closed, stalled) */
    REDISSRC_REJECT_COUNT
};

struct redissrc;

/* The state for `workers` worker threads and a memory cache of `cache_entries` responses;
 * `cfg` is borrowed (it must outlive the result). Returns NULL with err filled. */
struct redissrc *redissrc_new(const struct redisconn_cfg *cfg, int workers, size_t cache_entries,
                              struct jerr *err);
/* After the workers and the subscriber stopped. NULL is a no-op. */
void redissrc_free(struct redissrc *s);

/* The OCSP source over it (ocsp_http_new_source). */
void redissrc_source(struct redissrc *s, struct ocsp_source *out);

/* ---- for the parts that read Redis on a worker (respfiles.h) ---- */

/* The calling worker's connection, opened on first use; NULL with err (JERR_UNAVAILABLE)
 * when Redis cannot be reached now. */
redisContext *redissrc_conn(struct redissrc *s, struct worker *self, struct jerr *err);
/* The worker's connection failed (I/O error or timeout): it is closed; others back off. */
void redissrc_conn_broken(struct redissrc *s, struct worker *self);
const char *redissrc_prefix(const struct redissrc *s);
/* The invalidation sequence (see the file comment). */
unsigned long redissrc_seq(const struct redissrc *s);
void redissrc_reject(struct redissrc *s, enum redissrc_reject why);

/* ---- for the subscriber (redissub.h) ---- */

/* Reads P cas on `c` and makes it the CA set requests are routed by. Returns 0 or -1. */
int redissrc_load_cas(struct redissrc *s, redisContext *c, struct jerr *err);
/* `key` (full name, prefix included) changed: dropped from the memory cache (NULL: every
 * entry). Bumps the sequence. Thread-safe. */
void redissrc_changed(struct redissrc *s, const char *key);
/* Whether the subscriber holds a connection now (`why`: the last failure, for /readyz). */
void redissrc_set_up(struct redissrc *s, bool up, const char *why);
bool redissrc_is_up(struct redissrc *s, char *why, size_t why_size);
bool redissrc_has_cas(struct redissrc *s);
/* 0 while the subscriber holds a connection; else for how long it has not (ms; LLONG_MAX when
 * it never had one). Lock-free: for the loops. */
long long redissrc_down_ms(struct redissrc *s);

/* The responder's own Prometheus lines (rejections, up, cache size), appended to `out` (a
 * malloc'd text of *len bytes, reallocated). Returns 0 or -1. */
int redissrc_metrics(struct redissrc *s, char **out, size_t *len, long long lag_ms);

#endif
