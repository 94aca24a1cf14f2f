/*
 * metrics: the service's one metrics registry, rendered for /metrics in the Prometheus text
 * exposition format 0.0.4 (DESIGN §6).
 *
 * Every family and every label value is fixed at compile time, so each series is one slot of a
 * static array: recording is a relaxed atomic add or store, with no lock and no allocation, and
 * is safe from any thread (event loops and workers alike). Only metrics_render allocates.
 *
 * Process-wide (STYLE "Memory and ownership": config and metrics are the few process-wide
 * things): metrics_init once in main, metrics_reset between tests. Values outside an enum's
 * range are ignored (or counted as "other" where the family has such a label value), never
 * written out of bounds.
 */
#ifndef JPKI_METRICS_H
#define JPKI_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config/config.h"
#include "base/jerr.h"

/* The Content-Type of a /metrics answer (exposition format 0.0.4). */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The endpoint label of jpki_http_requests_total and jpki_http_request_duration_seconds. */
enum metrics_endpoint {
    METRICS_EP_OCSP = 0,
    METRICS_EP_CRL,
    METRICS_EP_CA,
    METRICS_EP_FINGERPRINTS,
    METRICS_EP_HEALTHZ,
    METRICS_EP_READYZ,
    METRICS_EP_METRICS,
    METRICS_EP_API,
    METRICS_EP_BATCH,
    METRICS_EP_OTHER,
};
#define METRICS_EP_COUNT 10

/* The status label of jpki_ocsp_responses_total: the certificate status of a successful
 * response (RFC 6960 §2.2), or the responseStatus of an unsuccessful one (RFC 6960 §2.3). */
enum metrics_ocsp_status {
    METRICS_OCSP_GOOD = 0,
    METRICS_OCSP_REVOKED,
    METRICS_OCSP_UNKNOWN,
    METRICS_OCSP_MALFORMED,
    METRICS_OCSP_UNAUTHORIZED,
    METRICS_OCSP_INTERNAL_ERROR,
    METRICS_OCSP_TRY_LATER,
};
#define METRICS_OCSP_STATUS_COUNT 7

/* The `ca` argument of metrics_ocsp for a request that names no known CA (ca="none"). */
#define METRICS_CA_NONE (-1)

/* Sets jpki_process_start_time_seconds to now (real time) and zeroes everything else. Call
 * once in main before threads start. */
void metrics_init(void);

/* Zeroes every series (start time included). For tests; not concurrently with recording. */
void metrics_reset(void);

/* One answered HTTP request: jpki_http_requests_total{endpoint,code} += 1 and one observation
 * of `seconds` in jpki_http_request_duration_seconds{endpoint}. A status code outside the
 * fixed set (200 204 304 400 401 403 404 405 409 413 414 429 500 503) counts as code="other";
 * an endpoint out of range as "other". Negative or NaN durations count as 0. */
void metrics_http(enum metrics_endpoint ep, int status_code, double seconds);

/* One OCSP response: jpki_ocsp_responses_total{ca,status} += 1. `ca` is an enum ca_kind, or
 * METRICS_CA_NONE (any other value counts as "none" too). */
void metrics_ocsp(int ca, enum metrics_ocsp_status st);

/* A pre-signed response was found (hit) or not (miss) for a request to `ca`. */
void metrics_presigned(enum ca_kind ca, bool hit);

/* A response signed on demand for `ca` (the request had a nonce, or a pre-signed miss). */
void metrics_fresh_signature(enum ca_kind ca);

/* The CRL of `ca` just published: its number, thisUpdate, DER size and entry count. The
 * jpki_crl_* gauges of a CA appear once this has been called for it; jpki_crl_age_seconds is
 * jclock_now() - this_update at render time. */
void metrics_crl(enum ca_kind ca, int64_t number, time_t this_update, size_t bytes, size_t entries);

/* Sets jpki_batch_rows{state="done"|"failed"|"pending"}. */
void metrics_batch_rows(int64_t done, int64_t failed, int64_t pending);

/* One batch finished: jpki_batches_total{outcome="ok"|"failed"} += 1. */
void metrics_batch_finished(bool ok);

/* Sets jpki_worker_queue_depth. */
void metrics_queue_depth(int64_t depth);

/* One certificate issued by `ca`. */
void metrics_issued(enum ca_kind ca);

/* One certificate of `ca` revoked or put on hold: `reason` an enum crl_reason (ca/model.h).
 * Reasons outside the six jpki uses are ignored. */
void metrics_revoked(enum ca_kind ca, int reason);

/* One audit row written (ok) or failed to write: jpki_audit_rows_total{outcome}. */
void metrics_audit(bool ok);

/* publish.redis (DESIGN §13): jpki_publish_redis_connected, _queue_depth and
 * _lag_milliseconds (the oldest queued serial's age); _errors_total += 1; _responses_total +=
 * responses; one observation of a status change's way to Redis in
 * jpki_publish_redis_revocation_seconds. */
void metrics_publish_redis(bool connected, int64_t queue_depth, int64_t lag_ms);
void metrics_publish_redis_connected(bool connected);
void metrics_publish_redis_error(void);
void metrics_publish_redis_written(size_t responses);
void metrics_publish_redis_revocation(double seconds);

/* Renders every family (HELP and TYPE lines always; counter and histogram series once they are
 * non-zero; gauges always, the CRL gauges once metrics_crl was called for the CA) as a
 * NUL-terminated malloc'd text the caller frees; *len (may be NULL) gets its length without
 * the NUL. Series recorded concurrently may be seen a moment apart, never torn. Returns NULL
 * with err filled (JERR_INTERNAL) when out of memory. */
char *metrics_render(size_t *len, struct jerr *err);

/* "ocsp", "crl", ... for an endpoint (out of range: "other"). */
const char *metrics_endpoint_name(enum metrics_endpoint ep);

/* Writes `in` as a label value (exposition format 0.0.4: backslash, double quote and newline
 * escaped as \\, \" and \n) into out, NUL-terminated. Returns 0, or -1 when out_size is too
 * small (out then holds an empty string). */
int metrics_escape_label_value(const char *in, char *out, size_t out_size);

#endif
