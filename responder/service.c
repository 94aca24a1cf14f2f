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

#include "ca/store.h"
#include "base/fsutil.h"
#include "base/jclock.h"
#include "responder/api/api.h"
#include "responder/adminsock.h"
#include "responder/auditduty.h"
#include "responder/batch/batch_api.h"
#include "responder/batch/batchrun.h"
#include "responder/net/clientaddr.h"
#include "responder/crl/crlduty.h"
#include "responder/net/log.h"
#include "responder/monitor/metrics.h"
#include "responder/monitor/monitor.h"
#include "responder/ocsp/ocsp_http.h"
#include "responder/publish/redispub.h"
#include "responder/crl/public.h"
#include "responder/rp/rpduty.h"
#include "responder/net/server.h"
#include "responder/net/workers.h"

/* How often the control loop looks whether the requests in flight are done, during a stop. */
#define SERVICE_DRAIN_POLL_MS 20
/* How often the refused logins of minutes already over are audited (api_audit_refusals). */
#define SERVICE_REFUSALS_PERIOD_S 10

/* One run file per listener: http, https, operator_http, operator_https. */
#define RUN_FILES 4

struct service {
    const struct jpki_config *cfg;
    struct pki *pki;
    struct workers *workers;
    struct server *server;
    struct clientaddr_trust *proxies; /* limits.trusted_proxies: exempt from the per-address cap */
    struct public *pub;
    struct monitor *monitor;
    struct api *api;
    struct batchrun *batches;
    struct auditduty *audit; /* signed checkpoints of the audit log */
    struct ocsp_http *ocsp;
    struct rpduty *rp; /* relying parties: gate, meter, their API (DESIGN §12) */
    struct event_base *control;
    struct workers_loop *control_work;
    struct event *sigterm, *sigint, *drain, *refusals_timer;
    struct crlduty *crl;   /* the CRL publication schedule (crlduty.h) */
    struct redispub *redis; /* publish.redis (DESIGN §13), NULL when unset */
    struct event *sigusr1; /* CRLs published by another process (jpkid crl) */
    struct adminsock *admin; /* DATA_DIR/admin.sock: jpkid rollover (adminsock.h) */
    bool refusals_running;
    bool stopping;
    long long stop_deadline_ms; /* jclock_mono_ms */
    char run_file[RUN_FILES][PATH_MAX];
};

/* ---- descriptors ---- */

/* Descriptors kept back from client connections: listeners, event loops, registry connections,
 * key and certificate files; each served CRL file takes two more (the current snapshot and
 * the one being replaced). */
#define SERVICE_FD_RESERVE 1024

/* Sets the soft open-file limit to what `wanted` connections and the reserve need (within the
 * hard limit) and returns the connection cap it allows. The limit is lowered as well as
 * raised: the process never holds more, so a descriptor leak shows early, and a flood from one
 * address, which the per-address cap turns away, cannot leave its clients short of descriptors
 * only because this process was given all of them. accept() failing for lack of descriptors
 * is worse than refusing cleanly at the cap. */
static int connection_cap(const struct pki *pki, int wanted)
{
    struct rlimit rl;
    long reserve = SERVICE_FD_RESERVE;
    for (int ca = 0; ca < CA_KIND_COUNT; ca++)
        reserve += 2 * (1 + (long)pki_crl_partitions(pki, (enum ca_kind)ca));
    if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
        return wanted;
    rlim_t want = (rlim_t)(wanted + reserve);
    if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
        want = rl.rlim_max;
    if (rl.rlim_cur != want) {
        struct rlimit set = {want, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &set) == 0)
            rl.rlim_cur = want;
    }
    long soft = rl.rlim_cur == RLIM_INFINITY ? LONG_MAX : (long)rl.rlim_cur;
    long cap = soft > 2 * reserve ? soft - reserve : soft / 2;
    if (cap < wanted) {
        log_warn("open file limit %ld: at most %ld connections at once", soft, cap);
        return cap > 0 ? (int)cap : 1;
    }
    return wanted;
}

/* The server's per-address cap spares trusted proxies (server_options.is_exempt). */
static bool proxy_is_exempt(const struct sockaddr *peer, void *arg)
{
    return clientaddr_is_trusted(arg, peer);
}

/* ---- registry connections of the workers ---- */

static struct store *worker_store_open(void *arg, struct jerr *err)
{
    return pki_store_open(arg, err);
}

/* ---- run files ---- */

/* DATA_DIR/run/<listener>.port: the port each listener got, for scripts and tests. */
static const char *const run_file_names[RUN_FILES] = {
    "run/http.port", "run/https.port", "run/operator_http.port", "run/operator_https.port"};

static int listener_port(const struct server *srv, int run_file)
{
    return run_file < 2 ? server_port(srv, run_file == 1) : server_operator_port(srv, run_file == 3);
}

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
    for (int s = 0; s < RUN_FILES; s++)
        if (svc->run_file[s][0] != '\0')
            unlink(svc->run_file[s]);
}

/* ---- CRLs ---- */

/* SIGUSR1: `jpkid crl` published new files; the next request of every loop reloads them. */
static void crl_published_cb(evutil_socket_t sig, short what, void *arg)
{
    struct service *svc = arg;
    (void)sig;
    (void)what;
    log_info("CRLs published by another process: serving the new files");
    public_crl_changed(svc->pub);
}

/* A rollover over the admin socket committed: the new generation's root, links and
 * fingerprints are served from now on, and its first CRL (published by the ceremony). */
static void generation_added(void *arg, const struct rollover_result *res)
{
    struct service *svc = arg;
    struct jerr err = {0};
    if (public_generations_changed(svc->pub, &err) == -1)
        log_error("generation %d: its certificates are not served yet: %s", res->generation,
                  err.msg);
    public_crl_changed(svc->pub);
}

/* ---- the refused logins' audit rows ---- */

static void refusals_job(struct worker *self, void *arg)
{
    struct service *svc = arg;
    struct jerr err = {0};
    struct store *st = workers_store(self, &err);
    if (st == NULL || api_audit_refusals(svc->api, st, false, &err) == -1)
        log_error("audit of refused logins: %s", err.msg);
}

static void refusals_done(void *arg)
{
    struct service *svc = arg;
    svc->refusals_running = false;
}

static void refusals_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct service *svc = arg;
    struct jerr err = {0};
    (void)fd;
    (void)what;
    if (svc->stopping || svc->refusals_running || !api_refusals_pending(svc->api))
        return; /* idle: no job at all */
    if (workers_submit(svc->control_work, refusals_job, refusals_done, svc, &err) == 0)
        svc->refusals_running = true;
}

/* At the end, after the workers stopped: what is still counted, every minute. */
static void refusals_final(struct service *svc)
{
    struct jerr err = {0};
    if (svc->api == NULL || !api_refusals_pending(svc->api))
        return;
    struct store *st = pki_store_open(svc->pki, &err);
    if (st == NULL || api_audit_refusals(svc->api, st, true, &err) == -1)
        log_error("audit of refused logins at stop: %s", err.msg);
    store_close(st);
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
    crlduty_stop(svc->crl);
    event_del(svc->refusals_timer);
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
    svc->drain = evtimer_new(svc->control, drain_cb, svc);
    svc->sigusr1 = evsignal_new(svc->control, SIGUSR1, crl_published_cb, svc);
    svc->refusals_timer = event_new(svc->control, -1, EV_PERSIST, refusals_timer_cb, svc);
    if (svc->sigterm == NULL || svc->sigint == NULL || svc->drain == NULL || svc->sigusr1 == NULL ||
        svc->refusals_timer == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "event_new failed");
    if (crlduty_start(svc->crl, svc->control, svc->control_work, err) == -1)
        return -1;
    struct timeval refusals_period = {SERVICE_REFUSALS_PERIOD_S, 0};
    if (event_add(svc->sigterm, NULL) == -1 || event_add(svc->sigint, NULL) == -1 ||
        event_add(svc->sigusr1, NULL) == -1 ||
        event_add(svc->refusals_timer, &refusals_period) == -1)
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
        .listen_operator_http = cfg->listen_operator_http,
        .listen_operator_https = cfg->listen_operator_https,
        .tls_cert = cfg->tls_cert,
        .tls_key = cfg->tls_key,
        .tls_operator_ca = cfg->tls_operator_ca,
        .loops = cfg->loops,
        .idle_timeout_s = cfg->idle_timeout_s,
        .max_connections = connection_cap(svc->pki, cfg->max_connections > 0
                                                        ? cfg->max_connections
                                                        : SERVER_MAX_CONNECTIONS),
        .connections_per_address = cfg->limits_connections_per_address,
        .header_timeout_ms = cfg->limits_header_timeout_ms,
        .body_timeout_ms = cfg->limits_body_timeout_ms,
    };
    svc->proxies = clientaddr_trust_new(cfg->limits_trusted_proxies, cfg->limits_forwarded_header,
                                        err);
    if (svc->proxies == NULL)
        return -1;
    opt.is_exempt = proxy_is_exempt;
    opt.is_exempt_arg = svc->proxies;
    if ((svc->rp = rpduty_new(svc->pki, err)) == NULL)
        return -1;
    rpduty_server_options(svc->rp, &opt);
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
    svc->ocsp = ocsp_http_new(svc->pki, err); /* /ocsp… and its pre-signed responses */
    if (svc->ocsp == NULL ||
        rpduty_attach(svc->rp, svc->server, svc->api, svc->ocsp, svc->pub, err) == -1)
        return -1;
    svc->batches = batchrun_new(svc->pki, svc->workers, err); /* batches, in the background */
    if (svc->batches == NULL || batch_api_add_endpoints(svc->api, svc->batches, err) == -1 ||
        api_register(svc->api, svc->server, err) == -1)
        return -1;
    if (ocsp_http_register(svc->ocsp, svc->server, err) == -1)
        return -1;
    api_set_ocsp(svc->api, svc->ocsp); /* status changes of API calls reach OCSP at once */
    svc->crl = crlduty_new(cfg, svc->pki, svc->pub, svc->monitor, err);
    if (svc->crl == NULL)
        return -1;
    ocsp_http_set_status_listener(svc->ocsp, crlduty_status_changed, svc->crl); /* …and CRLs */
    batchrun_set_ocsp(svc->batches, svc->ocsp);
    if (cfg->publish_redis_url[0] != '\0') { /* …and Redis, for responders elsewhere */
        if ((svc->redis = redispub_new(svc->pki, svc->pub, err)) == NULL)
            return -1; /* a URL or password that cannot work: refused at start */
        ocsp_http_set_publisher(svc->ocsp, svc->redis);
        public_set_changed_listener(svc->pub, redispub_files_changed, svc->redis);
        monitor_set_publisher(svc->monitor, svc->redis);
        rpduty_set_publisher(svc->rp, svc->redis); /* …and the relying parties (rppub.h) */
    }
    /* Stale run files of an earlier run must not point tests at a dead port. */
    for (int s = 0; s < RUN_FILES; s++) {
        if (config_path(cfg, run_file_names[s], svc->run_file[s], sizeof(svc->run_file[s])) ==
            NULL)
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
    if (server_operator_port(svc->server, false) > 0 || server_operator_port(svc->server, true) > 0)
        log_info("operator API%s%s%s%s", server_operator_port(svc->server, false) > 0 ? " http=" : "",
                 server_operator_address(svc->server, false),
                 server_operator_port(svc->server, true) > 0 ? " https=" : "",
                 server_operator_address(svc->server, true));
    /* Written last: a script that sees the file finds the service listening. */
    for (int s = 0; s < RUN_FILES; s++)
        if (listener_port(svc->server, s) > 0 &&
            write_run_file(svc, s, listener_port(svc->server, s), err) == -1)
            return -1;
    if (control_setup(svc, err) == -1)
        return -1;
    if (batchrun_start(svc->batches, svc->control, svc->control_work, err) == -1)
        return -1;
    if ((svc->audit = auditduty_new(svc->pki, svc->control, svc->control_work, err)) == NULL)
        return -1;
    if (svc->redis != NULL && redispub_start(svc->redis, err) == -1)
        return -1;
    if (rpduty_start(svc->rp, svc->control, svc->control_work, err) == -1)
        return -1;
    /* Without it the service still serves; only `jpkid rollover` cannot reach it (it says so)
     * and must wait for a stop. */
    struct jerr admin_err = {0};
    if ((svc->admin = adminsock_start(cfg, svc->pki, generation_added, svc, &admin_err)) == NULL)
        log_error("admin socket: %s: jpkid rollover cannot reach this service", admin_err.msg);
    return ocsp_http_start(svc->ocsp, svc->control, svc->control_work, err); /* its refresher */
}

static void teardown(struct service *svc)
{
    adminsock_stop(svc->admin); /* a ceremony under way ends first */
    if (svc->server != NULL) {
        server_stop_accepting(svc->server);
        server_stop(svc->server);
    }
    batchrun_stop(svc->batches);
    if (svc->workers != NULL)
        workers_shutdown(svc->workers);
    if (svc->redis != NULL) { /* no worker stores responses any more; the queue stays */
        ocsp_http_set_publisher(svc->ocsp, NULL);
        public_set_changed_listener(svc->pub, NULL, NULL);
        monitor_set_publisher(svc->monitor, NULL);
        redispub_free(svc->redis);
        svc->redis = NULL;
    }
    /* Every call is finished: the final checkpoint covers the log's last row (DESIGN §7). */
    if (svc->audit != NULL) {
        struct jerr cp_err = {0};
        auditduty_stop(svc->audit);
        if (auditduty_final(svc->pki, &cp_err) == -1)
            log_error("final audit checkpoint: %s", cp_err.msg);
    }
    rpduty_final(svc->rp); /* the metered answers not yet flushed */
    workers_detach(svc->control_work); /* the CRL duty's completion, if one is due */
    server_free(svc->server);          /* answers still due, then every connection closed */
    clientaddr_trust_free(svc->proxies);
    refusals_final(svc);               /* no API call runs any more */
    public_free(svc->pub);
    monitor_free(svc->monitor);
    api_free(svc->api);
    rpduty_free(svc->rp); /* after api_free and server_free: both used it */
    ocsp_http_free(svc->ocsp);   /* after workers_detach, before event_base_free */
    batchrun_free(svc->batches); /* the same */
    auditduty_free(svc->audit);  /* the same */
    crlduty_free(svc->crl);      /* the same; after its status listeners above */
    struct event *events[] = {svc->sigterm, svc->sigint, svc->drain, svc->sigusr1,
                              svc->refusals_timer};
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

    /* The threads started here never take SIGTERM/SIGINT/SIGUSR1: the control loop handles
     * them. */
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGUSR1);
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
