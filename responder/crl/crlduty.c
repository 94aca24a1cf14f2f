/*
 * crlduty: see crlduty.h. Control-loop thread only, except crlduty_status_changed, which only
 * makes an event active. One publication runs at a time: a publication due while one runs is
 * remembered and follows it (it may have read the registry before the change).
 */
#include "responder/crl/crlduty.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ca/crl.h"
#include "ca/store.h"
#include "base/jclock.h"
#include "responder/crl/crlcache.h"
#include "responder/crl/ldappub.h"
#include "responder/crl/crlsched.h"
#include "responder/monitor/metrics.h"
#include "responder/net/log.h"

struct crlduty {
    const struct jpki_config *cfg;
    struct pki *pki;
    struct public *pub;
    struct monitor *monitor;
    struct workers_loop *work;
    struct ldappub *ldap; /* publish.ldap: the directory gets every publication (NULL: off) */
    struct event *periodic, *first;
    struct event *delta;   /* every crl.delta_period_s: the delta CRLs (NULL: none) */
    time_t delta_at;       /* the next delta tick */
    struct event *soon;    /* the publication after a change, or the retry (crlsched.h) */
    struct event *change;  /* made active from any thread by a status change */
    atomic_bool listening; /* `change` exists: status changes are heard */
    struct crlsched sched;
    bool running;
    bool again;                 /* a publication was due while one ran: one more follows */
    bool failed[CA_KIND_COUNT]; /* the last publication of that CA failed */
    bool stopping;
};

/* One publication, on a worker. */
struct crl_run {
    struct crlduty *cd;
    long long started_ms; /* jclock_mono_ms */
    bool only_if_needed;  /* publish only what is missing or stale (at start, after a change) */
    bool delta_only;      /* the delta tick: the delta CRLs only */
    bool retry[CA_KIND_COUNT]; /* failed last time: published whatever only_if_needed says */
    bool published[CA_KIND_COUNT];
    struct jerr err[CA_KIND_COUNT];
    bool delta_published[CA_KIND_COUNT];
    struct jerr delta_err[CA_KIND_COUNT];
    struct jerr arl_err[CA_KIND_COUNT];
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

/* The complete CRLs of `ca` (and its ARL for the directory), on a worker. */
static void publish_complete(struct crl_run *r, struct store *st, enum ca_kind ca)
{
    struct crl_info info;
    if (crl_publish(r->cd->pki, st, ca, jclock_now(), &info, &r->err[ca]) == -1)
        return;
    r->published[ca] = true;
    metrics_crl(ca, info.number, info.this_update, info.der_size, info.entries);
    /* The directory also gets the CA's ARL (ldappub.h), made with each complete CRL. */
    if (r->cd->ldap != NULL)
        crl_publish_arl(r->cd->pki, st, ca, jclock_now(), NULL, &r->arl_err[ca]);
}

static void crl_run_job(struct worker *self, void *arg)
{
    struct crl_run *r = arg;
    struct jerr err = {0};
    struct store *st = workers_store(self, &err);
    for (int i = 0; i < CA_KIND_COUNT; i++) {
        enum ca_kind ca = (enum ca_kind)i;
        if (st == NULL) {
            r->err[ca] = err;
            continue;
        }
        if (!r->delta_only &&
            (!r->only_if_needed || r->retry[ca] || crl_is_needed(r->cd->cfg, st, ca)))
            publish_complete(r, st, ca);
        /* RFC 5280 §5.2.4: the delta follows every publication (its number above the new
         * complete CRL's) and its own tick; it is based on the oldest complete CRL still
         * valid, so it is useful even when the complete CRL just failed. */
        if (r->cd->cfg->crl_delta_period_s == 0)
            continue;
        struct crl_info info;
        int rc = crl_publish_delta(r->cd->pki, st, ca, jclock_now(), &info, &r->delta_err[ca]);
        if (rc == -1 && r->delta_err[ca].code == JERR_NOT_FOUND && !r->published[ca] &&
            !jerr_is_set(&r->err[ca])) {
            /* No complete CRL to base it on (every one from before delta CRLs, or expired):
             * publish one now rather than wait for the periodic publication. */
            jerr_clear(&r->delta_err[ca]);
            publish_complete(r, st, ca);
            if (r->published[ca])
                rc = crl_publish_delta(r->cd->pki, st, ca, jclock_now(), &info,
                                       &r->delta_err[ca]);
        }
        r->delta_published[ca] = rc == 0;
    }
}

/* The next publication changed: the public endpoints bound their max-age by it. */
static void announce_next(struct crlduty *cd)
{
    time_t next = crlsched_next(&cd->sched);
    public_crl_set_next_publication(cd->pub, next);
    /* Every publication also publishes the deltas. */
    public_crl_set_next_delta(cd->pub, cd->delta_at != 0 && cd->delta_at < next ? cd->delta_at
                                                                                 : next);
}

/* (Re)arms the soon timer `delay_s` from now; a negative delay leaves it as it is. */
static void soon_arm(struct crlduty *cd, long delay_s)
{
    struct timeval tv = {delay_s, 0};
    if (delay_s < 0 || cd->stopping)
        return;
    if (event_add(cd->soon, &tv) == -1)
        log_error("CRL publication: cannot arm its timer");
    announce_next(cd);
}

static void run_start(struct crlduty *cd, bool only_if_needed, bool delta_only);

static void crl_run_done(void *arg)
{
    struct crl_run *r = arg;
    struct crlduty *cd = r->cd;
    bool any = false, failed = false;
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        if (r->published[ca]) {
            any = true;
            cd->failed[ca] = false;
            monitor_crl_published(cd->monitor, (enum ca_kind)ca, NULL);
            log_info("published the %s CRLs", ca_kind_name((enum ca_kind)ca));
        } else if (jerr_is_set(&r->err[ca])) {
            failed = true;
            cd->failed[ca] = true;
            monitor_crl_published(cd->monitor, (enum ca_kind)ca, &r->err[ca]);
            log_error("publishing the %s CRLs: %s", ca_kind_name((enum ca_kind)ca), r->err[ca].msg);
        }
        if (jerr_is_set(&r->arl_err[ca]))
            log_error("publishing the %s ARL: %s", ca_kind_name((enum ca_kind)ca),
                      r->arl_err[ca].msg);
        if (r->delta_published[ca])
            any = true;
        else if (jerr_is_set(&r->delta_err[ca]))
            /* Retried with the next publication or delta tick; verifiers meanwhile apply the
             * previous delta until its nextUpdate, or use the complete CRL. */
            log_error("publishing the %s delta CRL: %s", ca_kind_name((enum ca_kind)ca),
                      r->delta_err[ca].msg);
    }
    if (any) {
        public_crl_changed(cd->pub);
        ldappub_notify(cd->ldap); /* on its own thread: never holds up HTTP */
    }
    cd->running = false;
    long long took_ms = any || failed ? jclock_mono_ms() - r->started_ms : -1;
    bool delta_only = r->delta_only;
    free(r);
    if (!delta_only)
        soon_arm(cd, crlsched_published(&cd->sched, !failed, jclock_now(), took_ms));
    if (cd->again) {
        cd->again = false;
        run_start(cd, true, false);
    }
}

static void run_start(struct crlduty *cd, bool only_if_needed, bool delta_only)
{
    struct jerr err = {0};
    if (cd->stopping)
        return;
    if (cd->running) {
        /* It may have read the registry before the change that calls now: what is still
         * missing or stale is published right after it. */
        cd->again = true;
        return;
    }
    struct crl_run *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        log_error("CRL publication: out of memory");
        return;
    }
    r->cd = cd;
    r->only_if_needed = only_if_needed;
    r->delta_only = delta_only;
    r->started_ms = jclock_mono_ms();
    memcpy(r->retry, cd->failed, sizeof(r->retry));
    if (workers_submit(cd->work, crl_run_job, crl_run_done, r, &err) == -1) {
        log_error("CRL publication: %s", err.msg);
        free(r);
        return;
    }
    cd->running = true;
}

static void first_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run_start(arg, true, false);
}

static void periodic_cb(evutil_socket_t fd, short what, void *arg)
{
    struct crlduty *cd = arg;
    (void)fd;
    (void)what;
    crlsched_periodic_fired(&cd->sched, jclock_now());
    announce_next(cd);
    run_start(cd, false, false);
}

static void delta_cb(evutil_socket_t fd, short what, void *arg)
{
    struct crlduty *cd = arg;
    (void)fd;
    (void)what;
    cd->delta_at = jclock_now() + cd->cfg->crl_delta_period_s;
    announce_next(cd);
    /* While a publication runs, the one that follows it publishes the deltas too. */
    run_start(cd, true, true);
}

static void soon_cb(evutil_socket_t fd, short what, void *arg)
{
    struct crlduty *cd = arg;
    (void)fd;
    (void)what;
    crlsched_soon_fired(&cd->sched);
    announce_next(cd);
    run_start(cd, true, false);
}

/* On the control loop, after a status change (crlduty_status_changed). */
static void change_cb(evutil_socket_t fd, short what, void *arg)
{
    struct crlduty *cd = arg;
    (void)fd;
    (void)what;
    soon_arm(cd, crlsched_changed(&cd->sched, jclock_now()));
}

struct crlduty *crlduty_new(const struct jpki_config *cfg, struct pki *pki, struct public *pub,
                            struct monitor *monitor, struct jerr *err)
{
    struct crlduty *cd = calloc(1, sizeof(*cd));
    if (cd == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    *cd = (struct crlduty){.cfg = cfg, .pki = pki, .pub = pub, .monitor = monitor};
    atomic_init(&cd->listening, false);
    if (cfg->ldap_url[0] != '\0' && (cd->ldap = ldappub_new(cfg, monitor, err)) == NULL) {
        free(cd);
        return NULL;
    }
    return cd;
}

int crlduty_start(struct crlduty *cd, struct event_base *control, struct workers_loop *work,
                  struct jerr *err)
{
    cd->work = work;
    if (cd->ldap != NULL && ldappub_start(cd->ldap, err) == -1)
        return -1;
    cd->periodic = event_new(control, -1, EV_PERSIST, periodic_cb, cd);
    cd->first = evtimer_new(control, first_cb, cd);
    cd->soon = evtimer_new(control, soon_cb, cd);
    cd->change = event_new(control, -1, 0, change_cb, cd);
    if (cd->periodic == NULL || cd->first == NULL || cd->soon == NULL || cd->change == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "event_new failed");
    crlsched_init(&cd->sched, cd->cfg->crl_period_s, cd->cfg->crl_after_change_s, jclock_now());
    if (cd->cfg->crl_delta_period_s > 0) {
        struct timeval delta_period = {cd->cfg->crl_delta_period_s, 0};
        cd->delta = event_new(control, -1, EV_PERSIST, delta_cb, cd);
        if (cd->delta == NULL || event_add(cd->delta, &delta_period) == -1)
            return jerr_set(err, JERR_INTERNAL, NULL, "cannot arm the delta CRL timer");
        cd->delta_at = jclock_now() + cd->cfg->crl_delta_period_s;
    }
    announce_next(cd);
    atomic_store(&cd->listening, true);
    struct timeval now = {0, 0}, period = {cd->cfg->crl_period_s, 0};
    if (event_add(cd->first, &now) == -1 || event_add(cd->periodic, &period) == -1)
        return jerr_set(err, JERR_INTERNAL, NULL, "event_add failed");
    return 0;
}

void crlduty_status_changed(void *arg)
{
    struct crlduty *cd = arg;
    /* Before the control loop is set up, a change is found by the first publication anyway
     * (whatever is stale). */
    if (atomic_load(&cd->listening))
        event_active(cd->change, EV_TIMEOUT, 0);
}

void crlduty_stop(struct crlduty *cd)
{
    if (cd == NULL)
        return;
    cd->stopping = true;
    if (cd->periodic != NULL)
        event_del(cd->periodic);
    if (cd->first != NULL)
        event_del(cd->first);
    if (cd->soon != NULL)
        event_del(cd->soon);
    if (cd->delta != NULL)
        event_del(cd->delta);
}

void crlduty_free(struct crlduty *cd)
{
    if (cd == NULL)
        return;
    atomic_store(&cd->listening, false);
    ldappub_free(cd->ldap);
    struct event *events[] = {cd->periodic, cd->first, cd->soon, cd->change, cd->delta};
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
        if (events[i] != NULL)
            event_free(events[i]);
    free(cd);
}
