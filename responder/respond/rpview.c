/*
 * rpview: see rpview.h.
 */
#include "responder/respond/rpview.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "base/jclock.h"
#include "ca/rp.h"
#include "responder/monitor/metrics.h"
#include "responder/net/log.h"

#define KEY_MAX (REDISCONN_PREFIX_MAX + 32)

struct rpview {
    const struct redisconn_cfg *rcfg;
    struct redissrc *src;
    X509 *rpca;   /* respond.relying_party_ca, or NULL */
    char rpca_path[4096];
    struct rpgate *gate;
    struct rpmeter *meter;
    pthread_mutex_t load_lock; /* one load at a time, so an older one never lands last */
    atomic_bool loaded;        /* the last load succeeded and matched */
    pthread_mutex_t why_lock;
    char why[160];
    struct workers_loop *work;
    struct event *timer;
    bool busy; /* a timer job in flight (control loop only) */
};

static void set_why(struct rpview *v, const char *why)
{
    pthread_mutex_lock(&v->why_lock);
    snprintf(v->why, sizeof(v->why), "%s", why);
    pthread_mutex_unlock(&v->why_lock);
}

/* The gate's freshness test, on the loops: loaded, and Redis heard within the grace. */
static bool fresh(void *arg)
{
    struct rpview *v = arg;
    return atomic_load_explicit(&v->loaded, memory_order_acquire) &&
           redissrc_down_ms(v->src) < RPVIEW_GRACE_MS;
}

/* An empty source: the gate before the first load. */
static int no_parties(void *src, store_rp_cb cb, void *ctx, struct jerr *err)
{
    (void)src, (void)cb, (void)ctx, (void)err;
    return 0;
}

struct rpview *rpview_new(const struct jpki_config *cfg, const struct redisconn_cfg *rcfg,
                          struct redissrc *src, struct jerr *err)
{
    struct rpview *v = calloc(1, sizeof(*v));
    if (v == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    v->rcfg = rcfg;
    v->src = src;
    pthread_mutex_init(&v->load_lock, NULL);
    pthread_mutex_init(&v->why_lock, NULL);
    atomic_init(&v->loaded, false);
    snprintf(v->why, sizeof(v->why), "not loaded from Redis yet");
    const char *path = cfg->respond_relying_party_ca;
    if (path[0] != '\0') {
        FILE *f = fopen(path, "r");
        v->rpca = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
        if (f != NULL)
            fclose(f);
        if (v->rpca == NULL) {
            jerr_set(err, JERR_CONFIG, "respond.relying_party_ca",
                     "respond.relying_party_ca: %s: not a PEM certificate", path);
            rpview_free(v);
            return NULL;
        }
        snprintf(v->rpca_path, sizeof(v->rpca_path), "%s", path);
    }
    if ((v->gate = rpgate_new_from(v->rpca, no_parties, NULL, err)) == NULL) {
        rpview_free(v);
        return NULL;
    }
    rpgate_set_freshness(v->gate, fresh, v);
    return v;
}

void rpview_free(struct rpview *v)
{
    if (v == NULL)
        return;
    if (v->timer != NULL)
        event_free(v->timer);
    if (v->meter != NULL)
        metrics_set_section(NULL, NULL);
    rpmeter_free(v->meter);
    rpgate_free(v->gate);
    X509_free(v->rpca);
    pthread_mutex_destroy(&v->load_lock);
    pthread_mutex_destroy(&v->why_lock);
    free(v);
}

struct rpgate *rpview_gate(struct rpview *v)
{
    return v->gate;
}

struct rpmeter *rpview_meter(struct rpview *v)
{
    return v->meter;
}

void rpview_server_options(struct rpview *v, struct server_options *opt)
{
    if (v->rpca == NULL)
        return;
    opt->tls_relying_party_ca = v->rpca_path;
    opt->cert_refused = rpgate_cert_is_refused;
    opt->cert_refused_arg = v->gate;
}

int rpview_attach(struct rpview *v, struct server *srv, struct jerr *err)
{
    if (rpgate_set_loops(v->gate, server_loop_count(srv), err) == -1)
        return -1;
    v->meter = rpmeter_new(server_loop_count(srv), NULL, err);
    if (v->meter == NULL)
        return -1;
    metrics_set_section(rpmeter_metrics_text, v->meter); /* jpki_rp_meter_lost_total */
    return 0;
}

/* ---- the view from Redis ---- */

/* The source over an HGETALL reply: field id, value rp_access_format's text. A record that
 * does not parse names nobody (logged): it can only cost its own party. */
static int hash_parties(void *src, store_rp_cb cb, void *ctx, struct jerr *err)
{
    const redisReply *h = src;
    (void)err;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const redisReply *id = h->element[i], *text = h->element[i + 1];
        struct rp_rec rp;
        struct jerr bad = {0};
        if (id->type != REDIS_REPLY_STRING || text->type != REDIS_REPLY_STRING ||
            strlen(id->str) != id->len ||
            rp_access_parse(id->str, text->str, text->len, &rp, &bad) == -1) {
            log_error("respond: relying parties: a record refused: %s",
                      bad.msg[0] != '\0' ? bad.msg : "not a string");
            continue;
        }
        if (cb(ctx, &rp) != 0)
            return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    }
    return 0;
}

/* Whether the CA node's relying-party CA (DER in `cert`) is ours; no local CA: any. */
static bool same_rpca(struct rpview *v, const redisReply *cert)
{
    if (v->rpca == NULL)
        return true;
    unsigned char *der = NULL;
    int len = i2d_X509(v->rpca, &der);
    bool same = cert != NULL && cert->type == REDIS_REPLY_STRING && len > 0 &&
                (size_t)len == cert->len && memcmp(der, cert->str, cert->len) == 0;
    OPENSSL_free(der);
    return same;
}

int rpview_load(struct rpview *v, redisContext *c, struct jerr *err)
{
    char parties[KEY_MAX], meta[KEY_MAX], ca[KEY_MAX];
    snprintf(parties, sizeof(parties), "%srp:parties", v->rcfg->prefix);
    snprintf(meta, sizeof(meta), "%srp:meta", v->rcfg->prefix);
    snprintf(ca, sizeof(ca), "%srp:ca", v->rcfg->prefix);
    pthread_mutex_lock(&v->load_lock);
    /* The old view stays trusted while this one is read (a change notice must not refuse
     * everyone for a round trip); a failed load makes it stale. */
    redisAppendCommand(c, "MULTI");
    redisAppendCommand(c, "HGETALL %s", parties);
    redisAppendCommand(c, "HGET %s digest", meta);
    redisAppendCommand(c, "HGET %s cert", ca);
    redisAppendCommand(c, "EXEC");
    redisReply *r[5] = {NULL};
    int ret = -1;
    for (int i = 0; i < 5; i++)
        if (redisconn_get_reply(c, REDISSRC_FILE_MAX + REDISCONN_REPLY_SLACK, &r[i], err) == -1)
            goto out;
    const redisReply *x = r[4];
    if (x->type != REDIS_REPLY_ARRAY || x->elements != 3 ||
        x->element[0]->type != REDIS_REPLY_ARRAY) {
        jerr_set(err, JERR_UNAVAILABLE, "redis", "Redis: relying parties: unexpected reply");
        goto out;
    }
    if (x->element[1]->type != REDIS_REPLY_STRING) {
        jerr_set(err, JERR_UNAVAILABLE, "redis",
                 "relying parties: not published by the CA node yet (%srp:meta)",
                 v->rcfg->prefix);
        goto out;
    }
    if (!same_rpca(v, x->element[2])) {
        jerr_set(err, JERR_CONFIG, "respond.relying_party_ca",
                 "respond.relying_party_ca is not the CA node's relying-party CA (%srp:ca)",
                 v->rcfg->prefix);
        goto out;
    }
    if (rpgate_reload_from(v->gate, hash_parties, x->element[0], err) == -1)
        goto out;
    atomic_store_explicit(&v->loaded, true, memory_order_release);
    ret = 0;
out:
    if (ret == -1)
        atomic_store(&v->loaded, false);
    set_why(v, ret == 0 ? "" : err->msg);
    pthread_mutex_unlock(&v->load_lock);
    for (int i = 0; i < 5; i++)
        freeReplyObject(r[i]);
    return ret;
}

/* A load on a connection of its own (the subscriber's is subscribed). */
static void load_now(struct rpview *v)
{
    struct jerr err = {0};
    redisContext *c = redisconn_open_cfg(v->rcfg, NULL, 0, &err);
    if (c == NULL || rpview_load(v, c, &err) == -1) {
        if (c == NULL) {
            atomic_store(&v->loaded, false);
            set_why(v, err.msg);
        }
        log_error("respond: relying parties: %s", err.msg);
    }
    redisFree(c);
}

void rpview_changed(struct rpview *v, const char *key)
{
    char parties[KEY_MAX];
    snprintf(parties, sizeof(parties), "%srp:parties", v->rcfg->prefix);
    if (key == NULL || strcmp(key, parties) == 0)
        load_now(v);
}

bool rpview_is_fresh(struct rpview *v, char *why, size_t why_size)
{
    if (fresh(v))
        return true;
    pthread_mutex_lock(&v->why_lock);
    snprintf(why, why_size, "%s", v->why[0] != '\0' ? v->why : "Redis unreachable");
    pthread_mutex_unlock(&v->why_lock);
    return false;
}

/* ---- the flush: the events to Redis ---- */

struct to_redis {
    struct rpview *v;
    redisContext *c;
    struct worker *self; /* NULL: c is the final flush's own */
};

static int redis_sink(void *arg, const struct rpmeter_event *ev, size_t n, struct jerr *err)
{
    struct to_redis *t = arg;
    char key[KEY_MAX], cap[32];
    snprintf(key, sizeof(key), "%srp:usage", t->v->rcfg->prefix);
    snprintf(cap, sizeof(cap), "%d", RPVIEW_STREAM_MAX);
    redisContext *c = t->c != NULL ? t->c : redissrc_conn(t->v->src, t->self, err);
    if (c == NULL)
        return -1;
    size_t chunks = 0;
    for (size_t at = 0; at < n; at += RPVIEW_CHUNK, chunks++) {
        size_t len = 0, k = n - at < RPVIEW_CHUNK ? n - at : RPVIEW_CHUNK;
        char *text = rpmeter_events_encode(ev + at, k, &len);
        if (text == NULL)
            return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        const char *argv[] = {"XADD", key, "MAXLEN", "~", cap, "*", "ev", text};
        size_t lens[] = {4, strlen(key), 6, 1, strlen(cap), 1, 2, len};
        redisAppendCommandArgv(c, 8, argv, lens);
        free(text);
    }
    int ret = 0;
    for (size_t i = 0; i < chunks; i++) {
        redisReply *r = NULL;
        if (redisconn_get_reply(c, REDISCONN_REPLY_SLACK, &r, err) == -1) {
            if (t->self != NULL)
                redissrc_conn_broken(t->v->src, t->self);
            return -1;
        }
        if (r->type == REDIS_REPLY_ERROR && ret == 0)
            ret = jerr_set(err, JERR_UNAVAILABLE, "redis", "Redis refused the usage: %.120s",
                           r->str);
        freeReplyObject(r);
    }
    return ret;
}

static void tick_job(struct worker *self, void *arg)
{
    struct rpview *v = arg;
    struct jerr err = {0};
    /* A load that failed (or a mismatch) is tried again while Redis answers. */
    if (!atomic_load(&v->loaded) && redissrc_down_ms(v->src) == 0)
        load_now(v);
    if (rpmeter_flush_to(v->meter, redis_sink, &(struct to_redis){v, NULL, self}, &err) == -1)
        log_error("respond: relying-party usage lost: %s", err.msg);
}

static void tick_done(void *arg)
{
    struct rpview *v = arg;
    v->busy = false;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    struct rpview *v = arg;
    struct jerr err = {0};
    (void)fd, (void)what;
    if (!v->busy && workers_submit(v->work, tick_job, tick_done, v, &err) == 0)
        v->busy = true;
}

int rpview_start(struct rpview *v, struct event_base *control, struct workers_loop *work,
                 struct jerr *err)
{
    struct timeval period = {RPMETER_FLUSH_MS / 1000, (RPMETER_FLUSH_MS % 1000) * 1000};
    v->work = work;
    v->timer = event_new(control, -1, EV_PERSIST, tick, v);
    if (v->timer == NULL || event_add(v->timer, &period) == -1)
        return jerr_set(err, JERR_INTERNAL, NULL, "event_new failed");
    return 0;
}

void rpview_final(struct rpview *v)
{
    struct jerr err = {0};
    if (v == NULL || v->meter == NULL || !rpmeter_is_pending(v->meter))
        return;
    if (v->timer != NULL)
        event_del(v->timer);
    redisContext *c = redisconn_open_cfg(v->rcfg, NULL, 0, &err);
    if (c == NULL ||
        rpmeter_flush_to(v->meter, redis_sink, &(struct to_redis){v, c, NULL}, &err) == -1)
        log_error("respond: relying-party usage at stop lost: %s", err.msg);
    redisFree(c);
}
