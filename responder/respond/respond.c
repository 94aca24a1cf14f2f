/*
 * respond: see respond.h. Start: configuration → Redis state (redissrc) → workers → server and
 * routes → listen → subscriber → control loop. Stop: the reverse.
 */
#include "responder/respond/respond.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "base/jclock.h"
#include "responder/monitor/metrics.h"
#include "responder/net/http.h"
#include "responder/net/log.h"
#include "responder/net/server.h"
#include "responder/net/workers.h"
#include "responder/ocsp/ocsp_http.h"
#include "responder/redis/redisconn.h"
#include "responder/respond/redissrc.h"
#include "responder/respond/redissub.h"
#include "responder/respond/respfiles.h"
#include "responder/respond/rpview.h"
#include "responder/service.h"

#define RESPOND_DRAIN_POLL_MS 50

struct respond {
    const struct jpki_config *cfg;
    struct redisconn_cfg rcfg;
    struct redissrc *src;
    struct redissub *sub;
    struct workers *workers;
    struct server *server;
    struct ocsp_http *ocsp;
    struct respfiles *files;
    struct rpview *rp; /* the registered relying parties (rpview.h) */
    struct event_base *control;
    struct workers_loop *control_work;
    struct event *sigterm, *sigint, *drain;
    bool stopping;
    long long stop_deadline_ms;
};

/* ---- the subscriber's notices ---- */

static void changed(void *arg, const char *key)
{
    struct respond *r = arg;
    redissrc_changed(r->src, key);
    respfiles_changed(r->files, key);
    rpview_changed(r->rp, key);
}

static bool registered(const struct jpki_config *cfg)
{
    return cfg->access_ocsp == ACCESS_REGISTERED || cfg->access_crl == ACCESS_REGISTERED;
}

/* ---- /healthz, /readyz, /metrics ---- */

static void healthz_handler(const struct server_request *sr, void *arg)
{
    (void)arg;
    evhttp_add_header(evhttp_request_get_output_headers(sr->req), "Cache-Control", "no-store");
    http_send_json_text(sr->req, 200, "{\"status\":\"ok\"}");
    metrics_http(METRICS_EP_HEALTHZ, 200, 0);
}

/* Needs no I/O: the subscriber's state and the CA set, answered on the loop. */
static void readyz_handler(const struct server_request *sr, void *arg)
{
    struct respond *r = arg;
    char why[256], rp_why[256] = "";
    bool up = redissrc_is_up(r->src, why, sizeof(why));
    bool cas = redissrc_has_cas(r->src);
    /* access registered: parties are answered only with a view proved current (rpview.h) */
    bool rp = !registered(r->cfg) || rpview_is_fresh(r->rp, rp_why, sizeof(rp_why));
    json_t *doc = json_pack("{s:s, s:{s:s, s:s}}", "status",
                            up && cas && rp ? "ready" : "not_ready", "checks", "redis",
                            up ? "ok" : why, "cas", cas ? "ok" : "no CA certificate read from Redis yet");
    if (doc != NULL && registered(r->cfg))
        json_object_set_new(json_object_get(doc, "checks"), "relying_parties",
                            json_string(rp ? "ok" : rp_why));
    char *text = doc != NULL ? json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    json_decref(doc);
    int status = up && cas && rp ? 200 : 503;
    evhttp_add_header(evhttp_request_get_output_headers(sr->req), "Cache-Control", "no-store");
    http_send_json_text(sr->req, status, text != NULL ? text : "{\"status\":\"not_ready\"}");
    free(text);
    metrics_http(METRICS_EP_READYZ, status, 0);
}

struct metrics_job {
    struct respond *r;
    struct evhttp_request *req;
    char *body;
    size_t len;
    struct jerr err;
};

/* The publication age: now − P meta published_ms (-1 when it cannot be read). */
static long long publication_age_ms(struct respond *r, struct worker *self)
{
    struct jerr err = {0};
    redisContext *c = redissrc_conn(r->src, self, &err);
    if (c == NULL)
        return -1;
    redisReply *rep = NULL;
    long long age = -1;
    if (redisAppendCommand(c, "HGET %smeta published_ms", r->rcfg.prefix) != REDIS_OK ||
        redisconn_get_reply(c, REDISCONN_REPLY_SLACK, &rep, &err) == -1) {
        redissrc_conn_broken(r->src, self);
        return -1;
    }
    if (rep->type == REDIS_REPLY_STRING) {
        char *end = NULL;
        long long ms = strtoll(rep->str, &end, 10);
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        if (*end == '\0' && ms > 0) {
            age = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 - ms;
            if (age < 0)
                age = 0; /* the CA node's clock is a little ahead */
        }
    }
    freeReplyObject(rep);
    return age;
}

static void metrics_job_run(struct worker *self, void *arg)
{
    struct metrics_job *j = arg;
    metrics_queue_depth((int64_t)workers_queue_depth(j->r->workers));
    j->body = metrics_render(&j->len, &j->err);
    if (j->body != NULL &&
        redissrc_metrics(j->r->src, &j->body, &j->len, publication_age_ms(j->r, self)) == -1) {
        free(j->body);
        j->body = NULL;
        jerr_set(&j->err, JERR_INTERNAL, NULL, "out of memory");
    }
}

static void metrics_job_done(void *arg)
{
    struct metrics_job *j = arg;
    if (j->body != NULL)
        http_send_bytes(j->req, 200, METRICS_CONTENT_TYPE, j->body, j->len);
    else
        http_send_jerr(j->req, &j->err);
    free(j->body);
    free(j);
}

static void metrics_handler(const struct server_request *sr, void *arg)
{
    struct jerr err = {0};
    struct metrics_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        jerr_set(&err, JERR_UNAVAILABLE, NULL, "out of memory");
        http_send_jerr(sr->req, &err);
        return;
    }
    j->r = arg;
    j->req = sr->req;
    if (server_submit(sr, metrics_job_run, metrics_job_done, j, &err) == -1) {
        free(j);
        http_send_jerr(sr->req, &err);
    }
}

/* ---- stop ---- */

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
    struct respond *r = arg;
    (void)fd;
    (void)what;
    if (server_inflight(r->server) == 0 || jclock_mono_ms() >= r->stop_deadline_ms) {
        event_base_loopbreak(r->control);
        return;
    }
    struct timeval tv = {0, RESPOND_DRAIN_POLL_MS * 1000};
    event_add(r->drain, &tv);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct respond *r = arg;
    (void)what;
    if (r->stopping) {
        event_base_loopbreak(r->control);
        return;
    }
    r->stopping = true;
    log_info("stopping (signal %d)", (int)sig);
    server_stop_accepting(r->server);
    r->stop_deadline_ms = jclock_mono_ms() + SERVICE_GRACE_S * 1000LL;
    drain_cb(-1, 0, r);
}

/* ---- run ---- */

int respond_redis_cfg(struct redisconn_cfg *out, const struct jpki_config *cfg, struct jerr *err)
{
    struct jerr e = {0};
    char *password = config_read_redis_password(cfg, true, &e);
    if (redisconn_cfg_init(out, "respond.redis", cfg->respond_redis_url,
                           cfg->respond_redis_sentinels, cfg->respond_redis_sentinel_master,
                           cfg->respond_redis_key_prefix, password, RESPOND_REDIS_TIMEOUT_MS,
                           err) == -1)
        return -1;
    if (redisconn_cfg_set_tls(out, "respond.redis", &cfg->respond_redis_tls, err) == -1)
        return -1;
    if (password == NULL && jerr_is_set(&e)) {
        *err = e;
        return -1;
    }
    return 0;
}

static int start(struct respond *r, struct jerr *err)
{
    const struct jpki_config *cfg = r->cfg;
    if (respond_redis_cfg(&r->rcfg, cfg, err) == -1)
        return -1;
    int threads = cfg->workers;
    if (threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = (cores > 0 ? (int)cores : 1) + 1;
    }
    r->src = redissrc_new(&r->rcfg, threads, (size_t)cfg->respond_cache_entries, err);
    if (r->src == NULL)
        return -1;
    r->workers = workers_new(threads, 0, NULL, err); /* no registry: no store_ops */
    if (r->workers == NULL)
        return -1;
    if ((r->rp = rpview_new(cfg, &r->rcfg, r->src, err)) == NULL)
        return -1;
    struct server_options opt = {
        .listen_http = cfg->listen_http,
        .listen_https = cfg->listen_https,
        .tls_cert = cfg->tls_cert,
        .tls_key = cfg->tls_key,
        .loops = cfg->loops,
        .idle_timeout_s = cfg->idle_timeout_s,
        .max_connections = cfg->max_connections,
        .connections_per_address = cfg->limits_connections_per_address,
        .header_timeout_ms = cfg->limits_header_timeout_ms,
        .body_timeout_ms = cfg->limits_body_timeout_ms,
    };
    rpview_server_options(r->rp, &opt);
    r->server = server_new(&opt, r->workers, err);
    if (r->server == NULL || rpview_attach(r->rp, r->server, err) == -1)
        return -1;
    struct ocsp_source source;
    redissrc_source(r->src, &source);
    r->ocsp = ocsp_http_new_source(cfg, &source, err);
    if (r->ocsp == NULL || ocsp_http_register(r->ocsp, r->server, err) == -1)
        return -1;
    ocsp_http_set_relying_parties(r->ocsp, rpview_gate(r->rp), rpview_meter(r->rp));
    r->files = respfiles_new(cfg, r->src, err);
    if (r->files == NULL || respfiles_register(r->files, r->server, err) == -1)
        return -1;
    respfiles_set_relying_parties(r->files, rpview_gate(r->rp), rpview_meter(r->rp));
    const unsigned get = EVHTTP_REQ_GET | EVHTTP_REQ_HEAD;
    const struct server_route routes[] = {
        {"/healthz", false, get, 0, healthz_handler, r, SERVER_EVERYWHERE},
        {"/readyz", false, get, 0, readyz_handler, r, SERVER_EVERYWHERE},
        {"/metrics", false, get, 0, metrics_handler, r, SERVER_EVERYWHERE},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (server_add_route(r->server, &routes[i], err) == -1)
            return -1;
    if (server_start(r->server, err) == -1)
        return -1;
    log_info("respond: listening%s%s%s%s loops=%d workers=%d redis=%s",
             server_port(r->server, false) > 0 ? " http=" : "", server_address(r->server, false),
             server_port(r->server, true) > 0 ? " https=" : "", server_address(r->server, true),
             server_loop_count(r->server), threads,
             r->rcfg.sentinel_count > 0 ? "sentinel" : cfg->respond_redis_url);
    r->sub = redissub_start(&r->rcfg, r->src, changed, r, err);
    if (r->sub == NULL)
        return -1;
    r->control = event_base_new();
    if (r->control == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "event_base_new failed");
    if ((r->control_work = workers_attach(r->workers, r->control, err)) == NULL ||
        rpview_start(r->rp, r->control, r->control_work, err) == -1)
        return -1;
    r->sigterm = evsignal_new(r->control, SIGTERM, signal_cb, r);
    r->sigint = evsignal_new(r->control, SIGINT, signal_cb, r);
    r->drain = evtimer_new(r->control, drain_cb, r);
    if (r->sigterm == NULL || r->sigint == NULL || r->drain == NULL ||
        event_add(r->sigterm, NULL) == -1 || event_add(r->sigint, NULL) == -1)
        return jerr_set(err, JERR_INTERNAL, NULL, "event_new failed");
    return 0;
}

static void teardown(struct respond *r)
{
    if (r->server != NULL) {
        server_stop_accepting(r->server);
        server_stop(r->server);
    }
    redissub_stop(r->sub);
    if (r->workers != NULL)
        workers_shutdown(r->workers);
    rpview_final(r->rp); /* the metered answers not yet sent */
    if (r->control_work != NULL)
        workers_detach(r->control_work);
    server_free(r->server);
    ocsp_http_free(r->ocsp);
    respfiles_free(r->files);
    struct event *events[] = {r->sigterm, r->sigint, r->drain};
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
        if (events[i] != NULL)
            event_free(events[i]);
    if (r->control != NULL)
        event_base_free(r->control);
    workers_free(r->workers);
    rpview_free(r->rp);
    redissrc_free(r->src);
    redisconn_cfg_clear(&r->rcfg);
}

int respond_run(const struct jpki_config *cfg, struct jerr *err)
{
    struct respond r;
    sigset_t block, saved;
    int rc = -1;

    memset(&r, 0, sizeof(r));
    r.cfg = cfg;
    signal(SIGPIPE, SIG_IGN);
    /* The threads started here never take SIGTERM/SIGINT: the control loop handles them. */
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &saved);
    int started = start(&r, err);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (started == -1) {
        log_error("cannot start: %s", err->msg);
        goto out;
    }
    if (event_base_dispatch(r.control) == -1) {
        jerr_set(err, JERR_INTERNAL, NULL, "control loop failed");
        goto out;
    }
    rc = 0;
out:
    teardown(&r);
    if (rc == 0)
        log_info("stopped");
    return rc;
}
