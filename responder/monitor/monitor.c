/*
 * monitor: /readyz and /metrics (see monitor.h). Each request becomes one worker job; the
 * answer is built there and sent back on the loop.
 */
#include "responder/monitor/monitor.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <event2/http.h>
#include <jansson.h>

#include "ca/crl.h"
#include "base/jclock.h"
#include "responder/api/auth.h"
#include "responder/crl/crlcache.h"
#include "responder/net/http.h"
#include "responder/monitor/metrics.h"
#include "responder/publish/redispub.h"

struct monitor {
    const struct pki *pki;
    struct workers *workers;
    /* Why the last publication of each CA's CRLs failed, "" when it succeeded. */
    pthread_mutex_t crl_lock;
    char crl_failure[CA_KIND_COUNT][sizeof(((struct jerr *)0)->msg)];
    /* The last registry probe (check_registry), reused for MONITOR_PROBE_REUSE_MS. */
    pthread_mutex_t probe_lock;
    long long probe_at_ms;   /* jclock_mono_ms of the last probe write started; 0 = none yet */
    bool probe_running;      /* that write is under way */
    bool probe_done;         /* a result is in probe_problem */
    char probe_problem[256]; /* "" = the write succeeded */
    struct redispub *redis;  /* monitor_set_publisher, or NULL: no "redis" check */
};

struct monitor_job {
    struct monitor *m;
    struct evhttp_request *req;
    char token[AUTH_TOKEN_MAX + 1];
    bool has_token;
    /* the answer */
    int status;
    const char *content_type;
    char *body;
    size_t body_len;
    struct jerr err;
};

/* ---- /readyz ---- */

static void check_set(json_t *checks, bool *ready, const char *name, const char *problem)
{
    json_object_set_new(checks, name, json_string(problem == NULL ? "ok" : problem));
    if (problem != NULL)
        *ready = false;
}

/* A real write: a read-only or full registry must fail the probe. The value must differ
 * from the last one — SQLite does not write a row that stays the same, so a second probe
 * within the same second wrote nothing and passed on a read-only disk — hence the
 * nanoseconds. Writes problem ("" on success). */
static void registry_probe(struct worker *self, char *problem, size_t size)
{
    struct jerr err = {0};
    char now[32], value[64];
    struct timespec ts;
    struct store *st = workers_store(self, &err);
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(value, sizeof(value), "%s %09ld", jclock_format(jclock_now(), now, sizeof(now)),
             ts.tv_nsec);
    if (st != NULL)
        store_meta_set(st, "readyz_probe", value, &err);
    snprintf(problem, size, "%s", jerr_is_set(&err) ? err.msg : "");
}

/* /readyz is public: each probe writes and fsyncs the registry, so anyone asking in a loop
 * would make the service write thousands of times a second. One probe write runs at a time,
 * at most once per MONITOR_PROBE_REUSE_MS whatever the traffic; probes asked meanwhile answer
 * the last write's result, so a fault shows at most that much later. A write that hangs
 * (a stuck disk) fails the probes after MONITOR_PROBE_WAIT_MS. */
static void check_registry(struct monitor *m, struct worker *self, json_t *checks, bool *ready)
{
    char problem[sizeof(m->probe_problem)];
    long long now_ms = jclock_mono_ms();
    bool run = false;

    pthread_mutex_lock(&m->probe_lock);
    if (!m->probe_running &&
        (m->probe_at_ms == 0 || now_ms - m->probe_at_ms >= MONITOR_PROBE_REUSE_MS)) {
        m->probe_at_ms = now_ms;
        m->probe_running = true;
        run = true;
    } else if (m->probe_running && now_ms - m->probe_at_ms >= MONITOR_PROBE_WAIT_MS) {
        snprintf(problem, sizeof(problem), "registry write not finished after %lld s",
                 (now_ms - m->probe_at_ms) / 1000);
    } else if (!m->probe_done) {
        snprintf(problem, sizeof(problem), "first registry write still running");
    } else {
        snprintf(problem, sizeof(problem), "%s", m->probe_problem);
    }
    pthread_mutex_unlock(&m->probe_lock);
    if (run) {
        registry_probe(self, problem, sizeof(problem));
        pthread_mutex_lock(&m->probe_lock);
        snprintf(m->probe_problem, sizeof(m->probe_problem), "%s", problem);
        m->probe_running = false;
        m->probe_done = true;
        pthread_mutex_unlock(&m->probe_lock);
    }
    check_set(checks, ready, "registry", problem[0] != '\0' ? problem : NULL);
}

static void check_crl(struct monitor *m, enum ca_kind ca, json_t *checks, bool *ready)
{
    struct jerr err = {0};
    char path[PATH_MAX], name[32], problem[600];
    time_t this_update, next_update;
    snprintf(name, sizeof(name), "crl.%s", ca_kind_name(ca));
    pthread_mutex_lock(&m->crl_lock);
    snprintf(problem, sizeof(problem), "last publication failed: %s", m->crl_failure[ca]);
    bool failed = m->crl_failure[ca][0] != '\0';
    pthread_mutex_unlock(&m->crl_lock);
    if (failed) {
        check_set(checks, ready, name, problem);
        return;
    }
    if (crl_path(pki_config(m->pki), ca, -1, path, sizeof(path)) == NULL ||
        crlcache_file_times(path, &this_update, &next_update, &err) == -1) {
        snprintf(problem, sizeof(problem), "no readable CRL: %s", err.msg);
        check_set(checks, ready, name, problem);
        return;
    }
    char at[32];
    if (next_update <= jclock_now()) {
        snprintf(problem, sizeof(problem), "stale: nextUpdate %s has passed",
                 jclock_format(next_update, at, sizeof(at)));
        check_set(checks, ready, name, problem);
        return;
    }
    check_set(checks, ready, name, NULL);
}

static void check_signer(const struct monitor *m, enum ca_kind ca, json_t *checks, bool *ready)
{
    char name[32], problem[128];
    time_t limit = jclock_now() + MONITOR_SIGNER_MIN_LEFT_S;
    snprintf(name, sizeof(name), "ocsp_signer.%s", ca_kind_name(ca));
    X509 *cert = pki_get0_ocsp_cert(m->pki, ca);
    if (cert == NULL || X509_cmp_time(X509_get0_notAfter(cert), &limit) <= 0) {
        snprintf(problem, sizeof(problem), "certificate ends within %d days",
                 MONITOR_SIGNER_MIN_LEFT_S / 86400);
        check_set(checks, ready, name, problem);
        return;
    }
    check_set(checks, ready, name, NULL);
}

static void readyz_job(struct worker *self, void *arg)
{
    struct monitor_job *j = arg;
    struct monitor *m = j->m;
    bool ready = true;
    json_t *checks = json_object();
    bool keys = true;
    for (int ca = 0; ca < CA_KIND_COUNT; ca++)
        keys = keys && pki_get0_ca_signer(m->pki, (enum ca_kind)ca) != NULL &&
               pki_get0_ocsp_signer(m->pki, (enum ca_kind)ca) != NULL;
    /* A key in a PKCS#11 token can go away while serving: ask the token (pki_keys_check). */
    struct jerr key_err = {0};
    if (keys && pki_keys_check(m->pki, &key_err) == -1)
        check_set(checks, &ready, "keys", key_err.msg);
    else
        check_set(checks, &ready, "keys", keys ? NULL : "a CA or OCSP signer key is not loaded");
    check_registry(m, self, checks, &ready);
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        check_crl(m, (enum ca_kind)ca, checks, &ready);
        check_signer(m, (enum ca_kind)ca, checks, &ready);
    }
    if (m->redis != NULL) {
        /* DESIGN §13: responders on Redis fall behind while it fails (nothing is lost). */
        char why[256];
        bool ok = redispub_is_ready(m->redis, why, sizeof(why));
        check_set(checks, &ready, "redis", ok ? NULL : why);
    }
    json_t *doc =
        json_pack("{s:s, s:o}", "status", ready ? "ready" : "not_ready", "checks", checks);
    j->body = doc != NULL ? json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    json_decref(doc);
    j->status = ready ? 200 : 503;
    j->content_type = "application/json";
    if (j->body == NULL)
        jerr_set(&j->err, JERR_INTERNAL, NULL, "out of memory");
    else
        j->body_len = strlen(j->body);
}

/* ---- /metrics ---- */

static void metrics_job(struct worker *self, void *arg)
{
    struct monitor_job *j = arg;
    const struct jpki_config *cfg = pki_config(j->m->pki);
    if (!cfg->metrics_public) {
        struct auth_identity who;
        struct store *st = workers_store(self, &j->err);
        if (st == NULL)
            return;
        if (!j->has_token) {
            jerr_set(&j->err, JERR_AUTH, "Authorization", "a bearer token is required");
            return;
        }
        if (auth_by_token(cfg, st, j->token, &who, &j->err) == -1)
            return;
    }
    metrics_queue_depth((int64_t)workers_queue_depth(j->m->workers));
    j->body = metrics_render(&j->body_len, &j->err);
    j->status = 200;
    j->content_type = METRICS_CONTENT_TYPE;
}

/* ---- on the loop ---- */

static void job_done(void *arg)
{
    struct monitor_job *j = arg;
    if (j->body != NULL)
        http_send_bytes(j->req, j->status, j->content_type, j->body, j->body_len);
    else
        http_send_jerr(j->req, &j->err);
    OPENSSL_cleanse(j->token, sizeof(j->token));
    free(j->body);
    free(j);
}

static void submit(const struct server_request *sr, struct monitor *m, workers_job_fn *fn)
{
    struct jerr err = {0};
    struct monitor_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        jerr_set(&err, JERR_UNAVAILABLE, NULL, "out of memory");
        http_send_jerr(sr->req, &err);
        return;
    }
    j->m = m;
    j->req = sr->req;
    const char *authz =
        evhttp_find_header(evhttp_request_get_input_headers(sr->req), "Authorization");
    if (authz != NULL && auth_bearer_parse(authz, j->token, sizeof(j->token), NULL) == 0)
        j->has_token = true;
    if (server_submit(sr, fn, job_done, j, &err) == -1) {
        free(j);
        http_send_jerr(sr->req, &err);
    }
}

static void readyz_handler(const struct server_request *sr, void *arg)
{
    submit(sr, arg, readyz_job);
}

static void metrics_handler(const struct server_request *sr, void *arg)
{
    submit(sr, arg, metrics_job);
}

struct monitor *monitor_new(const struct pki *pki, struct workers *workers, struct jerr *err)
{
    struct monitor *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    m->pki = pki;
    m->workers = workers;
    if (pthread_mutex_init(&m->probe_lock, NULL) != 0) {
        free(m);
        jerr_set(err, JERR_INTERNAL, NULL, "pthread_mutex_init failed");
        return NULL;
    }
    pthread_mutex_init(&m->crl_lock, NULL);
    return m;
}

int monitor_register(struct monitor *m, struct server *srv, struct jerr *err)
{
    const unsigned get = EVHTTP_REQ_GET;
    const struct server_route routes[] = {
        {"/readyz", false, get, 0, readyz_handler, m, SERVER_EVERYWHERE},
        {"/metrics", false, get, 0, metrics_handler, m, SERVER_EVERYWHERE},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (server_add_route(srv, &routes[i], err) == -1)
            return -1;
    return 0;
}

void monitor_crl_published(struct monitor *m, enum ca_kind ca, const struct jerr *failure)
{
    pthread_mutex_lock(&m->crl_lock);
    const char *why = failure == NULL ? "" : failure->msg;
    if (failure != NULL && why[0] == '\0')
        why = "failed";
    snprintf(m->crl_failure[ca], sizeof(m->crl_failure[ca]), "%s", why);
    pthread_mutex_unlock(&m->crl_lock);
}

void monitor_set_publisher(struct monitor *m, struct redispub *redis)
{
    m->redis = redis;
}

void monitor_free(struct monitor *m)
{
    if (m == NULL)
        return;
    pthread_mutex_destroy(&m->crl_lock);
    pthread_mutex_destroy(&m->probe_lock);
    free(m);
}
