/*
 * service: see service.h. Owns the start and stop order of the parts:
 *   start: workers → server (+ public routes) → listen → run files → control loop
 *   stop:  close listeners → grace for requests in flight → stop loops → finish queued jobs
 *          and join workers → answers still due → free server, public, workers → run files gone
 */
#include "responder/service.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "ca/crl.h"
#include "ca/store.h"
#include "config/fsutil.h"
#include "config/jclock.h"
#include "responder/api.h"
#include "responder/auditduty.h"
#include "responder/batch_api.h"
#include "responder/batchrun.h"
#include "responder/crlcache.h"
#include "responder/log.h"
#include "responder/metrics.h"
#include "responder/monitor.h"
#include "responder/ocsp_http.h"
#include "responder/public.h"
#include "responder/server.h"
#include "responder/workers.h"

/* How often the control loop looks whether the requests in flight are done, during a stop. */
#define SERVICE_DRAIN_POLL_MS 20

struct service {
    const struct jpki_config *cfg;
    struct pki *pki;
    struct workers *workers;
    struct server *server;
    struct public *pub;
    struct monitor *monitor;
    struct api *api;
    struct batchrun *batches;
    struct auditduty *audit; /* signed checkpoints of the audit log */
    struct ocsp_http *ocsp;
    struct event_base *control;
    struct workers_loop *control_work;
    struct event *sigterm, *sigint, *crl_timer, *crl_first, *drain;
    bool crl_running;
    bool stopping;
    long long stop_deadline_ms; /* jclock_mono_ms */
    char run_file[2][PATH_MAX];
};

/* ---- descriptors ---- */

/* Descriptors kept back from client connections: listeners, event loops, registry connections,
 * key and certificate files; each served CRL file takes two more (the current snapshot and
 * the one being replaced). */
#define SERVICE_FD_RESERVE 1024
#define SERVICE_FD_WANTED 65536

/* Raises the soft open-file limit towards the hard one and returns the connection cap it
 * allows, at most SERVER_MAX_CONNECTIONS: accept() failing for lack of descriptors is worse
 * than refusing cleanly at the cap. */
static int connection_cap(const struct pki *pki)
{
    struct rlimit rl;
    long reserve = SERVICE_FD_RESERVE;
    for (int ca = 0; ca < CA_KIND_COUNT; ca++)
        reserve += 2 * (1 + (long)pki_crl_partitions(pki, (enum ca_kind)ca));
    if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
        return SERVER_MAX_CONNECTIONS;
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > SERVICE_FD_WANTED
                      ? SERVICE_FD_WANTED
                      : rl.rlim_max;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        struct rlimit raised = {want, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            rl.rlim_cur = want;
    }
    long soft = rl.rlim_cur == RLIM_INFINITY ? LONG_MAX : (long)rl.rlim_cur;
    long cap = soft > 2 * reserve ? soft - reserve : soft / 2;
    if (cap < SERVER_MAX_CONNECTIONS) {
        log_warn("open file limit %ld: at most %ld connections at once", soft, cap);
        return cap > 0 ? (int)cap : 1;
    }
    return SERVER_MAX_CONNECTIONS;
}

/* ---- registry connections of the workers ---- */

static struct store *worker_store_open(void *arg, struct jerr *err)
{
    return pki_store_open(arg, err);
}

/* ---- run files ---- */

static int write_run_file(struct service *svc, int scheme, int port, struct jerr *err)
{
    char dir[PATH_MAX], text[16];
    if (config_path(svc->cfg, "run", dir, sizeof(dir)) == NULL)
        return jerr_set(err, JERR_CONFIG, "data_dir", "data_dir path too long");
    if (fsutil_mkdirs(dir, 0755, err) == -1)
        return -1;
    int n = snprintf(text, sizeof(text), "%d\n", port);
    return fsutil_write_atomic(svc->run_file[scheme], text, (size_t)n, 0644, false, err);
}

static void remove_run_files(struct service *svc)
{
    for (int s = 0; s < 2; s++)
        if (svc->run_file[s][0] != '\0')
            unlink(svc->run_file[s]);
}

/* ---- CRL duty ---- */

struct crl_duty {
    struct service *svc;
    bool only_if_needed; /* at start: publish only what is missing or stale */
    bool published[CA_KIND_COUNT];
    struct jerr err[CA_KIND_COUNT];
};

/* thisUpdate of the published complete CRL of `ca`, or -1 when there is none readable. */
static int crl_file_this_update(const struct jpki_config *cfg, enum ca_kind ca, time_t *out)
{
    char path[PATH_MAX];
    time_t next;
    if (crl_path(cfg, ca, -1, path, sizeof(path)) == NULL)
        return -1;
    return crlcache_file_times(path, out, &next, NULL);
}

static bool crl_is_needed(const struct jpki_config *cfg, struct store *st, enum ca_kind ca)
{
    time_t this_update;
    if (crl_file_this_update(cfg, ca, &this_update) == -1)
        return true; /* missing or unreadable */
    if (store_crl_is_stale(st, ca))
        return true; /* a status change since */
    return jclock_now() - this_update >= cfg->crl_period_s;
}

static void crl_duty_job(struct worker *self, void *arg)
{
    struct crl_duty *d = arg;
    struct jerr err = {0};
    struct store *st = workers_store(self, &err);
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        if (st == NULL) {
            d->err[ca] = err;
            continue;
        }
        if (d->only_if_needed && !crl_is_needed(d->svc->cfg, st, (enum ca_kind)ca))
            continue;
        struct crl_info info;
        if (crl_publish(d->svc->pki, st, (enum ca_kind)ca, jclock_now(), &info, &d->err[ca]) ==
            0) {
            d->published[ca] = true;
            metrics_crl((enum ca_kind)ca, info.number, info.this_update, info.der_size,
                        info.entries);
        }
    }
}

static void crl_duty_done(void *arg)
{
    struct crl_duty *d = arg;
    bool any = false;
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        if (d->published[ca]) {
            any = true;
            log_info("published the %s CRLs", ca_kind_name((enum ca_kind)ca));
        } else if (jerr_is_set(&d->err[ca])) {
            log_error("publishing the %s CRLs: %s", ca_kind_name((enum ca_kind)ca), d->err[ca].msg);
        }
    }
    if (any)
        public_crl_changed(d->svc->pub);
    d->svc->crl_running = false;
    free(d);
}

static void crl_duty_start(struct service *svc, bool only_if_needed)
{
    struct jerr err = {0};
    if (svc->stopping)
        return;
    if (svc->crl_running) {
        log_warn("CRL publication still running; this period is skipped");
        return;
    }
    struct crl_duty *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        log_error("CRL publication: out of memory");
        return;
    }
    d->svc = svc;
    d->only_if_needed = only_if_needed;
    if (workers_submit(svc->control_work, crl_duty_job, crl_duty_done, d, &err) == -1) {
        log_error("CRL publication: %s", err.msg);
        free(d);
        return;
    }
    svc->crl_running = true;
}

static void crl_first_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    crl_duty_start(arg, true);
}

static void crl_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    crl_duty_start(arg, false);
}

/* ---- stop ---- */

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
    struct service *svc = arg;
    (void)fd;
    (void)what;
    int inflight = server_inflight(svc->server);
    if (inflight == 0) {
        event_base_loopbreak(svc->control);
        return;
    }
    if (jclock_mono_ms() >= svc->stop_deadline_ms) {
        log_warn("stop: %d requests still in flight after %d s", inflight, SERVICE_GRACE_S);
        event_base_loopbreak(svc->control);
        return;
    }
    struct timeval tv = {0, SERVICE_DRAIN_POLL_MS * 1000};
    event_add(svc->drain, &tv);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct service *svc = arg;
    (void)what;
    if (svc->stopping) {
        log_info("second signal %d: stopping now", (int)sig);
        event_base_loopbreak(svc->control);
        return;
    }
    svc->stopping = true;
    log_info("stopping (signal %d)", (int)sig);
    event_del(svc->crl_timer);
    event_del(svc->crl_first);
    server_stop_accepting(svc->server);
    batchrun_stop(svc->batches); /* the row running finishes; the rest resume at next start */
    auditduty_stop(svc->audit);  /* the final checkpoint is signed in teardown */
    svc->stop_deadline_ms = jclock_mono_ms() + SERVICE_GRACE_S * 1000LL;
    drain_cb(-1, 0, svc);
}

/* ---- run ---- */

static int control_setup(struct service *svc, struct jerr *err)
{
    svc->control = event_base_new();
    if (svc->control == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "event_base_new failed");
    svc->control_work = workers_attach(svc->workers, svc->control, err);
    if (svc->control_work == NULL)
        return -1;
    svc->sigterm = evsignal_new(svc->control, SIGTERM, signal_cb, svc);
    svc->sigint = evsignal_new(svc->control, SIGINT, signal_cb, svc);
    svc->crl_timer = event_new(svc->control, -1, EV_PERSIST, crl_timer_cb, svc);
    svc->crl_first = evtimer_new(svc->control, crl_first_cb, svc);
    svc->drain = evtimer_new(svc->control, drain_cb, svc);
    if (svc->sigterm == NULL || svc->sigint == NULL || svc->crl_timer == NULL ||
        svc->crl_first == NULL || svc->drain == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "event_new failed");
    struct timeval now = {0, 0}, period = {svc->cfg->crl_period_s, 0};
    if (event_add(svc->sigterm, NULL) == -1 || event_add(svc->sigint, NULL) == -1 ||
        event_add(svc->crl_first, &now) == -1 || event_add(svc->crl_timer, &period) == -1)
        return jerr_set(err, JERR_INTERNAL, NULL, "event_add failed");
    return 0;
}

static int start(struct service *svc, struct jerr *err)
{
    const struct jpki_config *cfg = svc->cfg;
    struct workers_store_ops ops = {worker_store_open, store_close, svc->pki};

    /* Default: one worker per core plus one, so that batch rows (at most workers - 1 jobs)
     * can keep every core generating keys while a worker stays free for OCSP misses and
     * operator calls (DESIGN §8: batch issuance at the machine's key-generation rate). */
    int threads = cfg->workers;
    if (threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = (cores > 0 ? (int)cores : 1) + 1;
    }
    svc->workers = workers_new(threads, 0, &ops, err);
    if (svc->workers == NULL)
        return -1;
    struct server_options opt = {
        .listen_http = cfg->listen_http,
        .listen_https = cfg->listen_https,
        .tls_cert = cfg->tls_cert,
        .tls_key = cfg->tls_key,
        .tls_operator_ca = cfg->tls_operator_ca,
        .tls_relying_party_ca = cfg->tls_relying_party_ca,
        .loops = cfg->loops,
        .idle_timeout_s = cfg->idle_timeout_s,
        .max_connections = connection_cap(svc->pki),
    };
    /* service.max_connections lowers the cap the descriptors allow, never raises it. */
    if (cfg->max_connections > 0 && cfg->max_connections < opt.max_connections)
        opt.max_connections = cfg->max_connections;
    svc->server = server_new(&opt, svc->workers, err);
    if (svc->server == NULL)
        return -1;
    svc->pub = public_new(svc->pki, server_loop_count(svc->server), err);
    if (svc->pub == NULL || public_register(svc->pub, svc->server, err) == -1)
        return -1;
    svc->monitor = monitor_new(svc->pki, svc->workers, err); /* /readyz, /metrics */
    if (svc->monitor == NULL || monitor_register(svc->monitor, svc->server, err) == -1)
        return -1;
    svc->api = api_new(svc->pki, err); /* the operator API, /v1 (docs/API.md) */
    if (svc->api == NULL)
        return -1;
    svc->batches = batchrun_new(svc->pki, svc->workers, err); /* batches, in the background */
    if (svc->batches == NULL || batch_api_add_endpoints(svc->api, svc->batches, err) == -1 ||
        api_register(svc->api, svc->server, err) == -1)
        return -1;
    svc->ocsp = ocsp_http_new(svc->pki, err); /* /ocsp… and its pre-signed responses */
    if (svc->ocsp == NULL || ocsp_http_register(svc->ocsp, svc->server, err) == -1)
        return -1;
    api_set_ocsp(svc->api, svc->ocsp); /* status changes of API calls reach OCSP at once */
    batchrun_set_ocsp(svc->batches, svc->ocsp);
    /* Stale run files of an earlier run must not point tests at a dead port. */
    for (int s = 0; s < 2; s++) {
        if (config_path(cfg, s == 0 ? "run/http.port" : "run/https.port", svc->run_file[s],
                        sizeof(svc->run_file[s])) == NULL)
            return jerr_set(err, JERR_CONFIG, "data_dir", "data_dir path too long");
        unlink(svc->run_file[s]);
    }
    if (server_start(svc->server, err) == -1)
        return -1;
    log_info("listening%s%s%s%s loops=%d workers=%d",
             server_port(svc->server, false) > 0 ? " http=" : "",
             server_address(svc->server, false),
             server_port(svc->server, true) > 0 ? " https=" : "", server_address(svc->server, true),
             server_loop_count(svc->server), workers_thread_count(svc->workers));
    /* Written last: a script that sees the file finds the service listening. */
    for (int s = 0; s < 2; s++)
        if (server_port(svc->server, s == 1) > 0 &&
            write_run_file(svc, s, server_port(svc->server, s == 1), err) == -1)
            return -1;
    if (control_setup(svc, err) == -1)
        return -1;
    if (batchrun_start(svc->batches, svc->control, svc->control_work, err) == -1)
        return -1;
    if ((svc->audit = auditduty_new(svc->pki, svc->control, svc->control_work, err)) == NULL)
        return -1;
    return ocsp_http_start(svc->ocsp, svc->control, svc->control_work, err); /* its refresher */
}

static void teardown(struct service *svc)
{
    if (svc->server != NULL) {
        server_stop_accepting(svc->server);
        server_stop(svc->server);
    }
    batchrun_stop(svc->batches);
    if (svc->workers != NULL)
        workers_shutdown(svc->workers);
    /* Every call is finished: the final checkpoint covers the log's last row (DESIGN §7). */
    if (svc->audit != NULL) {
        struct jerr cp_err = {0};
        auditduty_stop(svc->audit);
        if (auditduty_final(svc->pki, &cp_err) == -1)
            log_error("final audit checkpoint: %s", cp_err.msg);
    }
    workers_detach(svc->control_work); /* the CRL duty's completion, if one is due */
    server_free(svc->server);          /* answers still due, then every connection closed */
    public_free(svc->pub);
    monitor_free(svc->monitor);
    api_free(svc->api);
    ocsp_http_free(svc->ocsp);   /* after workers_detach, before event_base_free */
    batchrun_free(svc->batches); /* the same */
    auditduty_free(svc->audit);  /* the same */
    struct event *events[] = {svc->sigterm, svc->sigint, svc->crl_timer, svc->crl_first,
                              svc->drain};
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
        if (events[i] != NULL)
            event_free(events[i]);
    if (svc->control != NULL)
        event_base_free(svc->control);
    workers_free(svc->workers);
    remove_run_files(svc);
}

int service_run(const struct jpki_config *cfg, struct pki *pki, struct jerr *err)
{
    struct service svc;
    sigset_t block, saved;
    int rc = -1;

    memset(&svc, 0, sizeof(svc));
    svc.cfg = cfg;
    svc.pki = pki;
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-answer is an error return, not a death */

    /* The threads started here never take SIGTERM/SIGINT: the control loop handles them. */
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &saved);
    int started = start(&svc, err);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (started == -1) {
        log_error("cannot start: %s", err->msg);
        goto out;
    }
    if (event_base_dispatch(svc.control) == -1) {
        jerr_set(err, JERR_INTERNAL, NULL, "control loop failed");
        log_error("%s", err->msg);
        goto out;
    }
    rc = 0;
out:
    teardown(&svc);
    if (rc == 0)
        log_info("stopped");
    return rc;
}
