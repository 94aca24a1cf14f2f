/*
 * ocsp_refresh: see ocsp_refresh.h. The timer, the `running` flag and the submission live on
 * the owner's loop; the cursors and counters are touched only by the job (one at a time: the
 * job's completion, on the loop, is what allows the next one).
 */
#include "responder/ocsp_refresh.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "config/jclock.h"
#include "responder/log.h"

/* One pass over the due set: its cursor and what it did so far (logged when it ends). */
struct refresh_pass {
    const char *name;
    char after[JPKI_SERIAL_HEX_MAX + 1]; /* "" = from the start */
    bool active;                         /* between chunks */
    struct ocsp_answer_presign_stats total;
};

struct ocsp_refresh {
    struct ocsp_answer *answer;
    const struct jpki_config *cfg;
    struct event *tick; /* the poll period */
    struct event *kick; /* made active by ocsp_refresh_kick, from any thread */
    struct workers_loop *loop;
    int poll_ms;
    atomic_bool started;

    /* loop side */
    bool running;           /* a job is on the pool */
    bool again;             /* kicked while a job ran: run the next one as soon as it is done */
    long long next_poll_ms; /* monotonic ms before which a periodic tick does not start a job */

    /* job side */
    struct refresh_pass urgent, ahead;
    time_t ahead_next_s; /* monotonic seconds of the next refresh-ahead pass */
    bool more;           /* the last job did a full chunk */
    long long job_ms;    /* how long the last job took */
    time_t logged_at_s;
};

static time_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct ocsp_refresh *ocsp_refresh_new(struct ocsp_answer *answer, const struct jpki_config *cfg,
                                      int poll_ms, struct jerr *err)
{
    struct ocsp_refresh *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    r->answer = answer;
    r->cfg = cfg;
    r->poll_ms = poll_ms > 0 ? poll_ms : OCSP_REFRESH_POLL_MS;
    r->urgent.name = "stale or missing";
    r->ahead.name = "ageing";
    atomic_init(&r->started, false);
    return r;
}

void ocsp_refresh_free(struct ocsp_refresh *r)
{
    if (r == NULL)
        return;
    if (r->tick != NULL)
        event_free(r->tick);
    if (r->kick != NULL)
        event_free(r->kick);
    free(r);
}

/* ---- the job (on a worker) ---- */

struct due_list {
    char serials[OCSP_ANSWER_PRESIGN_MAX][JPKI_SERIAL_HEX_MAX + 1];
    size_t count;
};

static int due_cb(void *ctx, const char *serial, enum ca_kind ca)
{
    struct due_list *l = ctx;
    (void)ca; /* the record says which CA; ocsp_answer_presign reads it */
    if (l->count < OCSP_ANSWER_PRESIGN_MAX && strlen(serial) <= JPKI_SERIAL_HEX_MAX)
        memcpy(l->serials[l->count++], serial, strlen(serial) + 1);
    return 0;
}

static void log_error_limited(struct ocsp_refresh *r, const char *what, const struct jerr *err)
{
    time_t now = mono_s();
    if (r->logged_at_s != 0 && now - r->logged_at_s < OCSP_REFRESH_LOG_EVERY_S)
        return;
    r->logged_at_s = now;
    log_error("OCSP pre-signing (%s): %s", what, err->msg);
}

/* One chunk of `pass`: the due serials after its cursor, re-signed. Returns true when the
 * chunk was full (more may be due after it). */
static bool pass_chunk(struct ocsp_refresh *r, struct store *st, struct refresh_pass *pass,
                       time_t refresh_by)
{
    struct due_list due;
    struct ocsp_answer_presign_stats stats;
    const char *serials[OCSP_ANSWER_PRESIGN_MAX];
    struct jerr err = {0};

    due.count = 0;
    if (store_ocsp_foreach_due(st, refresh_by, pass->after, OCSP_ANSWER_PRESIGN_MAX, due_cb, &due,
                               &err) == -1) {
        log_error_limited(r, pass->name, &err);
        return false; /* tried again at the next tick, from the same cursor */
    }
    for (size_t i = 0; i < due.count; i++)
        serials[i] = due.serials[i];
    if (due.count > 0 && ocsp_answer_presign(r->answer, st, serials, due.count, &stats, &err) == -1)
        log_error_limited(r, pass->name, &err);
    if (due.count > 0) {
        pass->total.signed_count += stats.signed_count;
        pass->total.stored += stats.stored;
        pass->total.outdated += stats.outdated;
        pass->total.failed += stats.failed;
    }
    bool full = due.count == OCSP_ANSWER_PRESIGN_MAX;
    if (full) {
        memcpy(pass->after, due.serials[due.count - 1], sizeof(pass->after));
        pass->active = true;
        return true;
    }
    /* The pass is over: the next one starts from the beginning. */
    if (pass->total.signed_count > 100 || pass->total.failed > 0)
        log_info("OCSP pre-signing (%s): %zu signed, %zu stored, %zu outdated, %zu failed",
                 pass->name, pass->total.signed_count, pass->total.stored, pass->total.outdated,
                 pass->total.failed);
    memset(&pass->total, 0, sizeof(pass->total));
    pass->after[0] = '\0';
    pass->active = false;
    return false;
}

static void refresh_job(struct worker *self, void *arg)
{
    struct ocsp_refresh *r = arg;
    struct jerr err = {0};
    long long start_ms = mono_ms();
    struct store *st = workers_store(self, &err);

    r->more = false;
    if (st == NULL) {
        log_error_limited(r, "registry", &err);
        goto out;
    }
    time_t now = jclock_now();
    if (pass_chunk(r, st, &r->urgent, now)) {
        r->more = true;
        goto out; /* the backlog first */
    }
    if (r->ahead.active || mono_s() >= r->ahead_next_s) {
        if (pass_chunk(r, st, &r->ahead, now + r->cfg->ocsp_refresh_before_s))
            r->more = true;
        else
            r->ahead_next_s = mono_s() + OCSP_REFRESH_AHEAD_S;
    }
out:
    r->job_ms = mono_ms() - start_ms;
}

/* ---- the loop side ---- */

static void refresh_done(void *arg);

static void submit(struct ocsp_refresh *r)
{
    struct jerr err = {0};
    if (r->running)
        return;
    r->again = false;
    if (workers_submit(r->loop, refresh_job, refresh_done, r, &err) == -1)
        return; /* a full queue or a stop: the next tick tries again */
    r->running = true;
}

static void refresh_done(void *arg)
{
    struct ocsp_refresh *r = arg;
    r->running = false;
    /* The due query walks every certificate: on a large registry a pass takes long. Periodic
     * passes then rest as long as the last one took, so that polling holds at most half of
     * one worker; a backlog chunk or a kick does not wait. */
    r->next_poll_ms = mono_ms() + r->job_ms;
    if (r->more || r->again)
        submit(r);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ocsp_refresh *r = arg;
    (void)fd;
    (void)what;
    if (r->running || mono_ms() < r->next_poll_ms)
        return;
    submit(r);
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ocsp_refresh *r = arg;
    (void)fd;
    (void)what;
    if (r->running) {
        r->again = true; /* right after the running job: a kick must not wait a period */
        return;
    }
    submit(r);
}

int ocsp_refresh_start(struct ocsp_refresh *r, struct event_base *base, struct workers_loop *loop,
                       struct jerr *err)
{
    struct timeval period = {r->poll_ms / 1000, (r->poll_ms % 1000) * 1000};
    r->loop = loop;
    r->tick = event_new(base, -1, EV_PERSIST, tick_cb, r);
    r->kick = event_new(base, -1, 0, kick_cb, r);
    if (r->tick == NULL || r->kick == NULL || event_add(r->tick, &period) == -1)
        return jerr_set(err, JERR_INTERNAL, NULL, "cannot start the OCSP refresher timer");
    atomic_store(&r->started, true);
    event_active(r->kick, EV_TIMEOUT, 0); /* pre-sign what is missing right away */
    return 0;
}

void ocsp_refresh_kick(struct ocsp_refresh *r)
{
    if (r != NULL && atomic_load(&r->started))
        event_active(r->kick, EV_TIMEOUT, 0);
}
