/*
 * ocsp_http: see ocsp_http.h. Decodes and parses the request on the loop (the one parser,
 * ca/ocsp.h), answers a cache hit there, and sends everything else to a worker. Owns the
 * answering side (ocsp_answer.h) and the refresher (ocsp_refresh.h); never signs, never
 * touches the registry itself.
 */
#include "responder/ocsp/ocsp_http.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/ocsp.h>

#include "ca/ocsp.h"
#include "base/jclock.h"
#include "responder/net/access.h"
#include "responder/net/clientaddr.h"
#include "responder/net/http.h"
#include "responder/net/log.h"
#include "responder/monitor/metrics.h"
#include "responder/ocsp/ocsp_answer.h"
#include "responder/ocsp/ocsp_refresh.h"
#include "responder/ocsp/ocsp_source.h"
#include "responder/ocsp/presign.h"
#include "responder/net/ratelimit.h"
#include "responder/publish/redispub.h"
#include "responder/rp/rpmeter.h"
#include "ca/rp.h"

#define OCSP_RESPONSE_TYPE "application/ocsp-response" /* RFC 6960 Appendix A.2 */
#define OCSP_REQUEST_TYPE "application/ocsp-request"   /* RFC 6960 Appendix A.1 */

/* The unsigned error responses (RFC 6960 §4.2.1), encoded once: 30 03 0A 01 xx. */
enum ocsp_error_kind {
    OCSP_ERR_MALFORMED,
    OCSP_ERR_INTERNAL,
    OCSP_ERR_TRY_LATER,
    OCSP_ERR_UNAUTHORIZED,
    OCSP_ERR_KINDS
};

struct ocsp_http {
    struct ocsp_source src;     /* where misses are answered (ocsp_source.h) */
    struct ocsp_answer *answer; /* jpkid serve's source, NULL for another one */
    struct ocsp_refresh *refresh;
    struct presign *cache;
    int max_inflight;
    enum access_mode access;  /* access.ocsp */
    atomic_int inflight;      /* requests on a worker, every loop together */
    atomic_llong logged_at_s; /* failures are logged at most once a second */
    /* limits.ocsp_signatures_per_minute (NULL = none): requests that may be signed live, per
     * client address; consulted only off the pre-signed path */
    struct ratelimit *sign_budget;
    struct clientaddr_trust *trust; /* limits.trusted_proxies */
    unsigned char error_der[OCSP_ERR_KINDS][8];
    size_t error_len[OCSP_ERR_KINDS];
    long max_age_s; /* http.ocsp_max_age_s */
    struct rpgate *gate;   /* ocsp_http_set_relying_parties, or NULL */
    struct rpmeter *meter; /* the same */
    /* ocsp_http_set_status_listener, or NULL */
    void (*status_listener)(void *arg);
    void *status_listener_arg;
    struct redispub *publisher; /* ocsp_http_set_publisher, or NULL */
};

static const struct {
    int response_status;
    enum metrics_ocsp_status metric;
} error_kinds[OCSP_ERR_KINDS] = {
    [OCSP_ERR_MALFORMED] = {OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, METRICS_OCSP_MALFORMED},
    [OCSP_ERR_INTERNAL] = {OCSP_RESPONSE_STATUS_INTERNALERROR, METRICS_OCSP_INTERNAL_ERROR},
    [OCSP_ERR_TRY_LATER] = {OCSP_RESPONSE_STATUS_TRYLATER, METRICS_OCSP_TRY_LATER},
    [OCSP_ERR_UNAUTHORIZED] = {OCSP_RESPONSE_STATUS_UNAUTHORIZED, METRICS_OCSP_UNAUTHORIZED},
};

/* The registered party a request came from (who.pk 0: nobody, not metered), its loop, and the
 * serial it asked about. */
struct party {
    struct rpgate_who who;
    int loop;
    char serial[JPKI_SERIAL_HEX_MAX + 1];
};

static const enum rpmeter_status meter_of_error[OCSP_ERR_KINDS] = {
    [OCSP_ERR_MALFORMED] = RPMETER_MALFORMED,
    [OCSP_ERR_INTERNAL] = RPMETER_INTERNAL_ERROR,
    [OCSP_ERR_TRY_LATER] = RPMETER_TRY_LATER,
    [OCSP_ERR_UNAUTHORIZED] = RPMETER_UNAUTHORIZED,
};

/* ---- set-up ---- */

/* ---- jpkid serve's source: the registry and the CA's signers (ocsp_answer.h) ---- */

static int registry_route_ca(void *arg, const struct ocsp_request *req, int only_ca,
                             enum ca_kind *ca)
{
    return ocsp_answer_route_ca(arg, req, only_ca, ca);
}

static struct presign_blob *registry_answer(void *arg, struct worker *self,
                                            const struct ocsp_request *req, enum ca_kind ca,
                                            bool presigned_only, struct ocsp_answer_outcome *how,
                                            struct jerr *err)
{
    struct store *st = workers_store(self, err);
    if (st == NULL) {
        err->code = JERR_UNAVAILABLE; /* no registry connection now: tryLater */
        return NULL;
    }
    if (presigned_only)
        return ocsp_answer_presigned(arg, st, req, ca, how, err);
    return ocsp_answer_request(arg, st, req, ca, how, err);
}

/* The common part of both constructors. */
static struct ocsp_http *http_new(const struct jpki_config *cfg, struct jerr *err)
{
    struct ocsp_http *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    o->max_inflight = cfg->ocsp_max_inflight_signs > 0 ? cfg->ocsp_max_inflight_signs : 1;
    o->access = cfg->access_ocsp;
    o->max_age_s = cfg->http_ocsp_max_age_s;
    atomic_init(&o->inflight, 0);
    atomic_init(&o->logged_at_s, 0);
    for (int k = 0; k < OCSP_ERR_KINDS; k++) {
        unsigned char *der = NULL;
        size_t len = 0;
        if (ocsp_error_response(error_kinds[k].response_status, &der, &len, err) == -1)
            goto fail;
        if (len > sizeof(o->error_der[k])) {
            OPENSSL_free(der);
            jerr_set(err, JERR_INTERNAL, NULL, "OCSP error response of %zu bytes", len);
            goto fail;
        }
        memcpy(o->error_der[k], der, len);
        o->error_len[k] = len;
        OPENSSL_free(der);
    }
    o->trust = clientaddr_trust_new(cfg->limits_trusted_proxies, cfg->limits_forwarded_header, err);
    if (o->trust == NULL)
        goto fail;
    if (cfg->limits_ocsp_signatures_per_minute > 0 &&
        (o->sign_budget = ratelimit_new(cfg->limits_ocsp_signatures_per_minute, 0, err)) == NULL)
        goto fail;
    return o;
fail:
    ocsp_http_free(o);
    return NULL;
}

struct ocsp_http *ocsp_http_new(const struct pki *pki, struct jerr *err)
{
    const struct jpki_config *cfg = pki_config(pki);
    struct ocsp_http *o = http_new(cfg, err);
    if (o == NULL)
        return NULL;
    o->answer = ocsp_answer_new(pki, OCSP_HTTP_CACHE_ENTRIES, err);
    if (o->answer == NULL)
        goto fail;
    o->src = (struct ocsp_source){registry_route_ca, registry_answer, o->answer,
                                  ocsp_answer_cache(o->answer), true};
    o->cache = o->src.cache;
    o->refresh = ocsp_refresh_new(o->answer, cfg, 0, err);
    if (o->refresh == NULL)
        goto fail;
    return o;
fail:
    ocsp_http_free(o);
    return NULL;
}

struct ocsp_http *ocsp_http_new_source(const struct jpki_config *cfg,
                                       const struct ocsp_source *src, struct jerr *err)
{
    struct ocsp_http *o = http_new(cfg, err);
    if (o == NULL)
        return NULL;
    o->src = *src;
    o->cache = src->cache;
    return o;
}

void ocsp_http_free(struct ocsp_http *o)
{
    if (o == NULL)
        return;
    ocsp_refresh_free(o->refresh);
    ocsp_answer_free(o->answer);
    ratelimit_free(o->sign_budget);
    clientaddr_trust_free(o->trust);
    free(o);
}

int ocsp_http_start(struct ocsp_http *o, struct event_base *base, struct workers_loop *loop,
                    struct jerr *err)
{
    if (o->refresh == NULL)
        return 0; /* a source that keeps its answers fresh itself */
    return ocsp_refresh_start(o->refresh, base, loop, err);
}

void ocsp_http_cert_changed(struct ocsp_http *o, const char *serial)
{
    redispub_note_change(o->publisher, serial); /* timed until Redis has it */
    if (o->answer != NULL) {
        ocsp_answer_forget(o->answer, serial);
        ocsp_refresh_kick(o->refresh);
    }
    if (o->status_listener != NULL)
        o->status_listener(o->status_listener_arg);
}

void ocsp_http_set_publisher(struct ocsp_http *o, struct redispub *publisher)
{
    o->publisher = publisher;
    ocsp_answer_set_stored_listener(o->answer, publisher != NULL ? redispub_kick : NULL,
                                    publisher);
}

void ocsp_http_cert_issued(struct ocsp_http *o, struct store *st, const char *const *serials,
                           size_t n)
{
    struct ocsp_answer_presign_stats stats;
    struct jerr err = {0};

    if (o == NULL || o->publisher == NULL || n == 0)
        return;
    if (ocsp_answer_presign_issued(o->answer, st, serials, n, &stats, &err) == -1) {
        /* The marks stay: the refresher signs them at its next pass. */
        log_error("pre-signing at issuance: %s; left to the refresher", err.msg);
        ocsp_refresh_kick(o->refresh);
    }
}

void ocsp_http_set_status_listener(struct ocsp_http *o, void (*fn)(void *arg), void *arg)
{
    o->status_listener = fn;
    o->status_listener_arg = arg;
    if (o->refresh != NULL)
        ocsp_refresh_set_listener(o->refresh, fn, arg);
}

void ocsp_http_set_relying_parties(struct ocsp_http *o, struct rpgate *gate, struct rpmeter *meter)
{
    o->gate = gate;
    o->meter = meter;
}

void ocsp_http_kick(struct ocsp_http *o)
{
    if (o->refresh != NULL)
        ocsp_refresh_kick(o->refresh);
}

/* ---- pure helpers ---- */

bool ocsp_http_is_request_type(const char *content_type)
{
    size_t n = strlen(OCSP_REQUEST_TYPE);
    if (content_type == NULL)
        return false;
    while (*content_type == ' ' || *content_type == '\t')
        content_type++;
    if (strncasecmp(content_type, OCSP_REQUEST_TYPE, n) != 0)
        return false;
    const char *tail = content_type + n;
    while (*tail == ' ' || *tail == '\t')
        tail++;
    return *tail == '\0' || *tail == ';';
}

void ocsp_http_split_path(const char *rest, int *only_ca, const char **component)
{
    *only_ca = -1;
    *component = rest;
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        const char *name = ca_kind_name((enum ca_kind)ca);
        size_t n = strlen(name);
        if (strncmp(rest, name, n) == 0 && (rest[n] == '\0' || rest[n] == '/')) {
            *only_ca = ca;
            *component = rest[n] == '/' ? rest + n + 1 : rest + n;
            return;
        }
    }
}

void ocsp_http_cache_control(char *out, size_t size, time_t next_update, time_t now, long cap_s)
{
    long max_age = http_max_age(next_update, now);
    if (max_age > cap_s)
        max_age = cap_s;
    snprintf(out, size, "max-age=%ld, public, no-transform, stale-if-error=%ld", max_age,
             http_stale_if_error(next_update, now, max_age));
}

/* ---- answers ---- */

static bool is_get(const struct evhttp_request *req)
{
    enum evhttp_cmd_type m = evhttp_request_get_command((struct evhttp_request *)req);
    return m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD;
}

static void send_error(struct ocsp_http *o, struct evhttp_request *req, enum ocsp_error_kind kind,
                       int ca, const struct timespec *t0, const struct party *p)
{
    if (p != NULL)
        rpmeter_record(o->meter, p->loop, &p->who, ca, RP_WHAT_OCSP, p->serial,
                       meter_of_error[kind]);
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    /* A tryLater or malformedRequest must not be kept by a CDN in place of the answer. */
    evhttp_add_header(out, "Cache-Control", "no-store");
    http_send_bytes(req, 200, OCSP_RESPONSE_TYPE, o->error_der[kind], o->error_len[kind]);
    metrics_ocsp(ca, error_kinds[kind].metric);
    metrics_http(METRICS_EP_OCSP, 200, jclock_seconds_since(t0));
}

static enum metrics_ocsp_status metric_of(int cert_status)
{
    switch (cert_status) {
    case V_OCSP_CERTSTATUS_GOOD:
        return METRICS_OCSP_GOOD;
    case V_OCSP_CERTSTATUS_REVOKED:
        return METRICS_OCSP_REVOKED;
    default:
        return METRICS_OCSP_UNKNOWN;
    }
}

static void blob_release(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    presign_blob_unref(arg);
}

/* Answers with `b` (our reference moves to the reply buffer, or is dropped). */
static void send_blob(struct ocsp_http *o, struct evhttp_request *req, struct presign_blob *b,
                      enum ca_kind ca, bool with_nonce, const struct timespec *t0,
                      const struct party *p)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    char text[96];
    size_t len;
    const unsigned char *der = presign_blob_der(b, &len);
    int cert_status = presign_blob_cert_status(b);
    int status = 200;

    evhttp_add_header(out, "Content-Type", OCSP_RESPONSE_TYPE);
    if (is_get(req) && with_nonce) {
        evhttp_add_header(out, "Cache-Control", "no-store"); /* one client's answer */
    } else if (is_get(req)) {
        /* RFC 9919 §6.2 (was RFC 5019): max-age never past nextUpdate — and at most
         * http.ocsp_max_age_s, so that a CDN asks again soon after a status change instead of
         * keeping "good" until nextUpdate. stale-if-error (RFC 5861 §4) lets it serve the
         * signed answer on while it is valid if we fail; must-revalidate is left out, as it
         * would forbid just that (RFC 9111 §5.2.2.2). */
        ocsp_http_cache_control(text, sizeof(text), presign_blob_next_update(b), jclock_now(),
                                o->max_age_s);
        evhttp_add_header(out, "Cache-Control", text);
        evhttp_add_header(out, "ETag", presign_blob_etag(b));
        evhttp_add_header(out, "Last-Modified", presign_blob_last_modified(b));
        evhttp_add_header(out, "Expires", presign_blob_expires(b));
        const char *inm =
            evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
        if (inm != NULL && http_etag_match(inm, presign_blob_etag(b)))
            status = 304;
    }
    if (status == 200) {
        snprintf(text, sizeof(text), "%zu", len);
        evhttp_add_header(out, "Content-Length", text);
        if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
            if (evbuffer_add_reference(evhttp_request_get_output_buffer(req), der, len,
                                       blob_release, b) == -1) {
                presign_blob_unref(b);
                evhttp_clear_headers(out);
                send_error(o, req, OCSP_ERR_INTERNAL, (int)ca, t0, p);
                return;
            }
            b = NULL; /* the buffer drops it once sent */
        }
    }
    presign_blob_unref(b);
    evhttp_send_reply(req, status, http_reason(status), NULL);
    if (p != NULL)
        rpmeter_record(o->meter, p->loop, &p->who, (int)ca, RP_WHAT_OCSP, p->serial,
                       cert_status == V_OCSP_CERTSTATUS_GOOD      ? RPMETER_GOOD
                       : cert_status == V_OCSP_CERTSTATUS_REVOKED ? RPMETER_REVOKED
                                                                  : RPMETER_UNKNOWN);
    metrics_ocsp((int)ca, metric_of(cert_status));
    metrics_http(METRICS_EP_OCSP, status, jclock_seconds_since(t0));
}

/* ---- the worker path ---- */

struct ocsp_job {
    struct ocsp_http *o;
    struct evhttp_request *req;
    struct timespec t0;
    enum ca_kind ca;
    bool presigned_only; /* over its signature budget: a stored answer or tryLater */
    struct ocsp_request parsed;
    struct presign_blob *blob;
    struct ocsp_answer_outcome how;
    struct jerr err;
    struct party party; /* party.who.pk 0: nobody */
};

static void job_run(struct worker *self, void *arg)
{
    struct ocsp_job *j = arg;
    const struct ocsp_source *src = &j->o->src;
    j->blob = src->answer(src->arg, self, &j->parsed, j->ca, j->presigned_only, &j->how, &j->err);
}

/* True at most once a second (every loop together): an outage must not flood the log. */
static bool log_is_due(struct ocsp_http *o)
{
    long long now = (long long)jclock_mono_s();
    long long last = atomic_load(&o->logged_at_s);
    return now != last && atomic_compare_exchange_strong(&o->logged_at_s, &last, now);
}

static void job_done(void *arg)
{
    struct ocsp_job *j = arg;
    struct ocsp_http *o = j->o;

    atomic_fetch_sub(&o->inflight, 1);
    if (j->blob != NULL) {
        if (j->how.signed_now)
            metrics_fresh_signature(j->ca);
        send_blob(o, j->req, j->blob, j->ca, j->parsed.has_nonce, &j->t0, &j->party);
    } else if (j->presigned_only && j->err.code == JERR_NOT_FOUND) {
        /* Over its budget and nothing pre-signed to give: come back later (RFC 6960 §2.3). */
        send_error(o, j->req, OCSP_ERR_TRY_LATER, (int)j->ca, &j->t0, &j->party);
    } else if (j->err.code == JERR_FORBIDDEN) {
        /* RFC 9919: no authoritative record of the serial here. */
        send_error(o, j->req, OCSP_ERR_UNAUTHORIZED, (int)j->ca, &j->t0, &j->party);
    } else if (j->err.code == JERR_UNAVAILABLE || j->err.code == JERR_NOT_FOUND) {
        /* RFC 6960 §2.3: tryLater — the registry, Redis or the signing key (a PKCS#11 token)
         * is busy or unreachable for now, or the answer is not published yet. */
        if (log_is_due(o))
            log_warn("OCSP: unavailable, answering tryLater: %s", j->err.msg);
        send_error(o, j->req, OCSP_ERR_TRY_LATER, (int)j->ca, &j->t0, &j->party);
    } else {
        if (log_is_due(o))
            log_error("OCSP: answering internalError: %s", j->err.msg);
        send_error(o, j->req, OCSP_ERR_INTERNAL, (int)j->ca, &j->t0, &j->party);
    }
    free(j);
}

/* A nonce request that cannot be signed now (too many signings in flight): RFC 9919 §2.2.1,
 * a responder that cannot answer an option such as a nonce "SHOULD return the most complete
 * response it can" — the pre-signed answer without the nonce, when the cache has one (true);
 * false when there is none, and the caller answers tryLater. */
static bool answered_without_nonce(struct ocsp_http *o, const struct server_request *sr,
                                   const struct ocsp_request *parsed, enum ca_kind ca,
                                   const struct timespec *t0, const struct party *p)
{
    struct ocsp_request plain = *parsed;
    plain.has_nonce = false;
    if (!parsed->has_nonce || !ocsp_answer_is_cacheable(&plain))
        return false;
    struct presign_key key;
    ocsp_answer_key(&plain.ids[0], ca, &key);
    struct presign_blob *b = presign_get(o->cache, &key);
    if (b != NULL && presign_blob_next_update(b) - jclock_now() >= OCSP_ANSWER_MIN_REMAINING_S) {
        send_blob(o, sr->req, b, ca, false, t0, p);
        return true;
    }
    presign_blob_unref(b);
    return false;
}

/* Sends `req` to a worker, or answers tryLater when too many are in flight already. */
static void to_worker(struct ocsp_http *o, const struct server_request *sr,
                      const struct ocsp_request *parsed, enum ca_kind ca, bool presigned_only,
                      const struct timespec *t0, const struct party *p)
{
    struct jerr err = {0};
    if (atomic_fetch_add(&o->inflight, 1) >= o->max_inflight) {
        atomic_fetch_sub(&o->inflight, 1);
        if (!answered_without_nonce(o, sr, parsed, ca, t0, p))
            send_error(o, sr->req, OCSP_ERR_TRY_LATER, (int)ca, t0, p);
        return;
    }
    struct ocsp_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        atomic_fetch_sub(&o->inflight, 1);
        send_error(o, sr->req, OCSP_ERR_TRY_LATER, (int)ca, t0, p);
        return;
    }
    j->o = o;
    j->req = sr->req;
    j->t0 = *t0;
    j->ca = ca;
    j->parsed = *parsed;
    j->presigned_only = presigned_only;
    if (p != NULL)
        j->party = *p; /* else zero: nobody */
    if (server_submit(sr, job_run, job_done, j, &err) == -1) {
        /* The pool's queue is full or it stops. */
        atomic_fetch_sub(&o->inflight, 1);
        free(j);
        send_error(o, sr->req, OCSP_ERR_TRY_LATER, (int)ca, t0, p);
    }
}

/* ---- the handler ---- */

/* The DER request of `sr`: the POST body or the decoded GET component. Returns 0 with *der,
 * *len (and *owned, to OPENSSL_free, for GET), or -1 with err. */
static int request_der(const struct server_request *sr, const char *component,
                       const unsigned char **der, size_t *len, unsigned char **owned,
                       struct jerr *err)
{
    *owned = NULL;
    if (sr->method == EVHTTP_REQ_POST) {
        const char *ct =
            evhttp_find_header(evhttp_request_get_input_headers(sr->req), "Content-Type");
        if (!ocsp_http_is_request_type(ct))
            return jerr_set(err, JERR_INVALID, "Content-Type",
                            "POST body is not application/ocsp-request");
        struct evbuffer *body = evhttp_request_get_input_buffer(sr->req);
        *len = evbuffer_get_length(body);
        *der = *len > 0 ? evbuffer_pullup(body, -1) : NULL;
        if (*len > 0 && *der == NULL)
            return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return 0;
    }
    if (ocsp_get_path_decode(component, owned, len, err) == -1)
        return -1;
    *der = *owned;
    return 0;
}

/* limits.ocsp_signatures_per_minute: charges one live signature to the request's client.
 * Only requests that leave the pre-signed path get here, so the hot path takes no part. */
static bool signing_is_admitted(struct ocsp_http *o, const struct server_request *sr)
{
    struct sockaddr_storage client;
    unsigned char key[RATELIMIT_ADDR_KEY_MAX];
    size_t len;
    int retry_after_s;

    if (o->sign_budget == NULL || clientaddr_of_request(o->trust, sr->req, &client) == -1 ||
        (len = ratelimit_addr_key((struct sockaddr *)&client, key)) == 0)
        return true;
    return ratelimit_admit(o->sign_budget, key, len, ratelimit_now_us(), &retry_after_s);
}

/* A client past its signature budget: the pre-signed answer without its nonce (RFC 9654 §2.1:
 * a responder may leave the nonce out; the client then judges the answer by its times), from
 * the cache or else the registry; tryLater when there is none (several CertIDs, CertID hash
 * parameters absent, a serial with no stored answer such as one never issued). */
static void answer_over_budget(struct ocsp_http *o, const struct server_request *sr,
                               struct ocsp_request *parsed, enum ca_kind ca,
                               const struct timespec *t0, const struct party *p)
{
    parsed->has_nonce = false;
    if (!ocsp_answer_is_cacheable(parsed)) {
        send_error(o, sr->req, OCSP_ERR_TRY_LATER, (int)ca, t0, p);
        return;
    }
    struct presign_key key;
    ocsp_answer_key(&parsed->ids[0], ca, &key);
    struct presign_blob *b = presign_get(o->cache, &key);
    if (b != NULL && presign_blob_next_update(b) - jclock_now() >= OCSP_ANSWER_MIN_REMAINING_S) {
        send_blob(o, sr->req, b, ca, false, t0, p);
        return;
    }
    presign_blob_unref(b);
    to_worker(o, sr, parsed, ca, true, t0, p);
}

static void ocsp_handler(const struct server_request *sr, void *arg)
{
    struct ocsp_http *o = arg;
    struct timespec t0;
    struct ocsp_request parsed;
    struct jerr err = {0};
    const unsigned char *der = NULL;
    unsigned char *owned = NULL;
    size_t len = 0;
    int only_ca = -1;
    const char *component = "";
    enum ca_kind ca;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (strncmp(sr->path, "/ocsp/", 6) == 0)
        ocsp_http_split_path(sr->path + 6, &only_ca, &component);
    /* access.ocsp (access.h): RFC 6960 §2.3, "the client is not authorized to make this
     * query" — before the request is even read. */
    struct party party;
    party.serial[0] = '\0';
    party.loop = server_loop_index(sr->loop);
    if (!access_admit(o->access, o->gate, sr, &party.who)) {
        send_error(o, sr->req, OCSP_ERR_UNAUTHORIZED, only_ca, &t0, NULL);
        return;
    }
    const struct party *p = party.who.pk != 0 ? &party : NULL;
    if (sr->method == EVHTTP_REQ_POST && component[0] != '\0') {
        http_send_error(sr->req, 404, "not_found", NULL, "no such resource");
        metrics_http(METRICS_EP_OCSP, 404, jclock_seconds_since(&t0));
        return;
    }
    int rc = request_der(sr, component, &der, &len, &owned, &err);
    if (rc == 0)
        rc = ocsp_request_parse(der, len, &parsed, &err);
    OPENSSL_free(owned);
    if (rc == -1) {
        /* Our own failure (out of memory) is internalError; whatever the client sent wrong,
         * too large included, is malformedRequest (RFC 6960 §4.2.1). */
        send_error(o, sr->req, err.code == JERR_INTERNAL ? OCSP_ERR_INTERNAL : OCSP_ERR_MALFORMED,
                   only_ca, &t0, p);
        return;
    }
    snprintf(party.serial, sizeof(party.serial), "%s", parsed.ids[0].serial);
    rc = o->src.route_ca(o->src.arg, &parsed, only_ca, &ca);
    if (rc != 0) {
        send_error(o, sr->req,
                   rc == OCSP_SOURCE_ROUTE_UNAVAILABLE ? OCSP_ERR_TRY_LATER
                                                       : OCSP_ERR_UNAUTHORIZED,
                   only_ca, &t0, p);
        return;
    }
    /* DESIGN §12: a party asks only about the CA its kind allows. */
    if (!access_admit_ca(o->access, ca, &party.who)) {
        send_error(o, sr->req, OCSP_ERR_UNAUTHORIZED, (int)ca, &t0, p);
        return;
    }
    if (party.who.pk == 0)
        p = NULL;
    /* A source without keys answers a nonce request with the pre-signed response, the nonce
     * left out (RFC 9654 §2.1). */
    if (!o->src.signs)
        parsed.has_nonce = false;
    if (ocsp_answer_is_cacheable(&parsed)) {
        struct presign_key key;
        ocsp_answer_key(&parsed.ids[0], ca, &key);
        struct presign_blob *b = presign_get(o->cache, &key);
        if (b != NULL &&
            presign_blob_next_update(b) - jclock_now() >= OCSP_ANSWER_MIN_REMAINING_S) {
            metrics_presigned(ca, true);
            send_blob(o, sr->req, b, ca, false, &t0, p);
            return;
        }
        presign_blob_unref(b);
    }
    if (!o->src.signs) {
        metrics_presigned(ca, false);
        to_worker(o, sr, &parsed, ca, true, &t0, p);
        return;
    }
    if (!signing_is_admitted(o, sr)) {
        answer_over_budget(o, sr, &parsed, ca, &t0, p);
        return;
    }
    if (!parsed.has_nonce)
        metrics_presigned(ca, false);
    to_worker(o, sr, &parsed, ca, false, &t0, p);
}

int ocsp_http_register(struct ocsp_http *o, struct server *srv, struct jerr *err)
{
    const struct server_route routes[] = {
        {"/ocsp", false, EVHTTP_REQ_POST, 0, ocsp_handler, o, SERVER_PUBLIC},
        {"/ocsp/", true, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST, 0, ocsp_handler, o,
         SERVER_PUBLIC},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (server_add_route(srv, &routes[i], err) == -1)
            return -1;
    return 0;
}
