/*
 * ocsp_http: the OCSP endpoints of jpkid serve (DESIGN §5, RFC 6960 with the RFC 5019
 * profile):
 *
 *   POST /ocsp, /ocsp/                 application/ocsp-request body, any of our two CAs
 *   GET|HEAD /ocsp/{base64}            RFC 6960 Appendix A.1: URL-encoded base64 of the DER
 *   POST /ocsp/sign, /ocsp/auth        the same, accepting only that CA's CertIDs
 *   GET|HEAD /ocsp/sign/{base64}, /ocsp/auth/{base64}
 *
 * (A DER request starts with 0x30, so its base64 starts with 'M': "sign/" and "auth/" never
 * collide with the general GET form.)
 *
 * Every answer is HTTP 200 application/ocsp-response, errors included (RFC 6960 §4.2.1):
 * malformedRequest for anything that is not a valid request (garbage, truncated or trailing
 * DER, an empty body, a POST without Content-Type application/ocsp-request, bad base64, an
 * unsupported CertID hash, a nonce outside 1..32 octets), unauthorized for a CertID of an
 * issuer that is not ours (or of the other CA on a per-CA path, or CertIDs of two issuers in
 * one request: see ocsp_answer.h), tryLater when the registry is unavailable or too many
 * signatures are in flight, internalError for a failure of ours. What libevent or the server
 * refuses before us keeps its own answer (413 for a body over the cap, 405 for a method).
 *
 * The hot path: a request of one CertID without a nonce is looked up in the pre-signed cache
 * (presign.h) and answered on the event loop — no worker, no SQLite, no lock held beyond a
 * shard probe, the response bytes added to the reply by reference. Anything else (a miss, a
 * nonce, several CertIDs) is answered on a worker (ocsp_answer_request) with at most
 * ocsp_max_inflight_signs such requests in flight over the whole process: beyond it, tryLater
 * at once rather than a queue without bound. Each client address (clientaddr.h) may send
 * limits.ocsp_signatures_per_minute of those a minute; past it, its request of one CertID is
 * answered with the pre-signed response, the nonce left out (RFC 9654 §2.1), from the cache or
 * the registry, and anything without one with tryLater: one client cannot keep the signers
 * busy. The budget is looked at only off the hot path.
 *
 * GET answers carry the RFC 9919 §6.2 caching headers: Cache-Control "max-age=N, public,
 * no-transform, stale-if-error=S" (N = nextUpdate − now, at most http.ocsp_max_age_s; S = the
 * rest of the time until nextUpdate), ETag (SHA-256 of the bytes, computed once per pre-signed
 * response), Last-Modified (thisUpdate) and Expires (nextUpdate), and are 304 on a matching
 * If-None-Match; must-revalidate is not sent (RFC 9111 §5.2.2.2: it would forbid serving on
 * an error). A response with a nonce, and an error, is "Cache-Control: no-store". POST answers
 * carry no caching headers (RFC 5019 §5: POST responses are not cached).
 *
 * Pre-signed responses are refreshed in the background (ocsp_refresh.h) from the service's
 * control loop; a status change made in this process can be announced with
 * ocsp_http_cert_changed, one made by another process is found by polling.
 */
#ifndef JPKI_OCSP_HTTP_H
#define JPKI_OCSP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "ca/pki.h"
#include "base/jerr.h"
#include "responder/net/server.h"
#include "responder/net/workers.h"

struct event_base;
struct ocsp_source;

/* Pre-signed responses kept in memory at most (~1.3 KB each with a 2048-bit signer: ~90 MB).
 * The registry keeps them all; memory keeps those asked for. */
#define OCSP_HTTP_CACHE_ENTRIES (64 * 1024)

struct ocsp_http;

/* Prepares the OCSP endpoints of `pki` (borrowed; it must outlive the result). Returns NULL
 * with err filled. */
struct ocsp_http *ocsp_http_new(const struct pki *pki, struct jerr *err);

/* The same endpoints over another source of answers (ocsp_source.h; jpkid respond), with
 * `cfg`'s limits and caching headers: no refresher, no signature budget. `src` is copied; what
 * it points to must outlive the result. Returns NULL with err filled. */
struct ocsp_http *ocsp_http_new_source(const struct jpki_config *cfg,
                                       const struct ocsp_source *src, struct jerr *err);

/* Registers the routes on `srv` (before server_start). Returns 0 or -1. */
int ocsp_http_register(struct ocsp_http *o, struct server *srv, struct jerr *err);

/* Starts the refresher on `base` (the control loop, not yet dispatching), its jobs sent to
 * the pool through `loop` (attached to `base`). Returns 0 or -1. */
int ocsp_http_start(struct ocsp_http *o, struct event_base *base, struct workers_loop *loop,
                    struct jerr *err);

/* A certificate's status changed in this process (committed): its cached responses are
 * dropped at once and the refresher runs now. Thread-safe. */
void ocsp_http_cert_changed(struct ocsp_http *o, const char *serial);

/* Something may have changed (several certificates, or unknown which): the refresher runs
 * now. Thread-safe. */
void ocsp_http_kick(struct ocsp_http *o);

struct redispub;
struct store;

/* DESIGN §13: publication to Redis (`publisher` borrowed, outliving o): every response stored
 * kicks it, and status changes are timed to it. Before ocsp_http_start. */
void ocsp_http_set_publisher(struct ocsp_http *o, struct redispub *publisher);

/* Certificates serials[0..n) (n <= OCSP_ANSWER_PRESIGN_MAX) were just issued (committed), on
 * a worker holding `st`: with a publisher, their responses are pre-signed and stored now, so
 * that a responder on Redis answers them from the moment the issuance returns (a node without
 * keys cannot sign on a miss); without one, nothing (the first request signs them). A failure
 * is logged and left to the refresher. */
void ocsp_http_cert_issued(struct ocsp_http *o, struct store *st, const char *const *serials,
                           size_t n);

/* Whoever else needs to know of status changes (the CRL publisher, service.c): `fn(arg)` is
 * called, from any thread, on every ocsp_http_cert_changed and whenever the refresher finds
 * changes marked in the registry (those of other processes too). It must be quick and
 * thread-safe (e.g. event_active). Before ocsp_http_start. */
void ocsp_http_set_status_listener(struct ocsp_http *o, void (*fn)(void *arg), void *arg);

/* Frees after server_free and workers_detach of the refresher's loop, before that loop's
 * event_base_free. NULL is a no-op. */
void ocsp_http_free(struct ocsp_http *o);

/* True when a Content-Type header value is application/ocsp-request (RFC 6960 Appendix A.1;
 * case-insensitive, parameters allowed). */
bool ocsp_http_is_request_type(const char *content_type);

/* The Cache-Control value of a GET answer valid until `next_update` (see above), at most
 * `cap_s` (http.ocsp_max_age_s) of max-age, into out (96 bytes are enough). */
void ocsp_http_cache_control(char *out, size_t size, time_t next_update, time_t now, long cap_s);

/* Splits the path below "/ocsp/" (`rest`): sets *only_ca (-1 = any CA, else the per-CA path's)
 * and *component (the GET request component, "" when there is none). */
void ocsp_http_split_path(const char *rest, int *only_ca, const char **component);

#endif
