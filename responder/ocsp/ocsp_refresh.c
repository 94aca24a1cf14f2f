/*
 * ocsp_refresh: see ocsp_refresh.h. The timer, the `running` flag and the submission live on
 * the owner's loop; the cursors and counters are touched only by the job (one at a time: the
 * job's completion, on the loop, is what allows the next one).
 */
#include "responder/ocsp/ocsp_refresh.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "ca/ocsp_cache.h"
#include "base/jclock.h"
#include "responder/net/log.h"

/* One pass over a due set: its cursor and what it did so far (logged when it ends). */
struct refresh_pass {
    const char *name;
    bool active; /* between chunks */
    /* the cursor: the marks pass uses after_seq, the ageing pass the other two */
    int64_t after_seq;
    int64_t after_next_update;
    char after_serial[JPKI_SERIAL_HEX_MAX + 1]; /* "" = from the start */
    struct ocsp_answer_presign_stats total;
    size_t dropped; /* expired certificates whose aged responses were deleted */
};

struct ocsp_refresh {
    struct ocsp_answer *answer;
    const struct jpki_config *cfg;
    struct event *tick; /* the poll period */
    struct event *kick; /* made active by ocsp_refresh_kick, from any thread */
    struct workers_loop *loop;
    int poll_ms;
    atomic_bool started;
    void (*listener)(void *arg); /* ocsp_refresh_set_listener, or NULL */
    void *listener_arg;

    /* loop side */
    bool running;           /* a job is on the pool */
    bool again;             /* kicked while a job ran: run the next one as soon as it is done */
    long long next_poll_ms; /* monotonic ms before which a periodic tick does not start a job */
    long long backoff_ms;   /* after failing jobs (ocsp_refresh.h "Timing"), else 0 */
    unsigned long jobs;     /* jobs done */

    /* job side */
    struct refresh_pass marks, ahead;
    time_t ahead_next_s; /* monotonic seconds of the next refresh-ahead pass */
    bool more;           /* the last job did a full chunk */
    bool failed;         /* something in the last job failed */
    long long job_ms;    /* how long the last job took */
    time_t logged_at_s;
};

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
    r->marks.name = "new or changed";
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

/* One chunk of due rows: the serials to sign (each once), and where the walk stopped. */
struct due_list {
    char serials[OCSP_ANSWER_PRESIGN_MAX][JPKI_SERIAL_HEX_MAX + 1];
    int64_t seqs[OCSP_ANSWER_PRESIGN_MAX]; /* the marks (marks pass) */
    size_t count;
    char expired[OCSP_ANSWER_PRESIGN_MAX][JPKI_SERIAL_HEX_MAX + 1]; /* ageing: to delete */
    size_t expired_count;
    size_t rows; /* rows read: a full chunk means more may follow */
    int64_t last_seq, last_next_update;
    char last_serial[JPKI_SERIAL_HEX_MAX + 1];
    int64_t now;
};

static bool listed(char (*list)[JPKI_SERIAL_HEX_MAX + 1], size_t n, const char *serial)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], serial) == 0)
            return true;
    return false;
}

/* Records the walk's position; false for a serial too long to be ours (skipped). */
static bool due_seen(struct due_list *l, const struct store_ocsp_due *d)
{
    size_t len = strlen(d->serial);
    l->rows++;
    l->last_seq = d->changed_seq;
    l->last_next_update = d->next_update;
    if (len > JPKI_SERIAL_HEX_MAX)
        return false;
    memcpy(l->last_serial, d->serial, len + 1);
    return true;
}

static int marks_cb(void *ctx, const struct store_ocsp_due *d)
{
    struct due_list *l = ctx;
    if (due_seen(l, d) && l->count < OCSP_ANSWER_PRESIGN_MAX) {
        memcpy(l->serials[l->count], d->serial, strlen(d->serial) + 1);
        l->seqs[l->count++] = d->changed_seq;
    }
    return 0;
}

static int ageing_cb(void *ctx, const struct store_ocsp_due *d)
{
    struct due_list *l = ctx;
    if (!due_seen(l, d))
        return 0;
    if (d->not_after >= l->now) {
        /* Both responses of a serial may be ageing: it is signed once (both hashes). */
        if (!listed(l->serials, l->count, d->serial) && l->count < OCSP_ANSWER_PRESIGN_MAX)
            memcpy(l->serials[l->count++], d->serial, strlen(d->serial) + 1);
    } else if (d->next_update < l->now && !listed(l->expired, l->expired_count, d->serial) &&
               l->expired_count < OCSP_ANSWER_PRESIGN_MAX) {
        memcpy(l->expired[l->expired_count++], d->serial, strlen(d->serial) + 1);
    }
    /* An expired certificate whose response is still valid is left as it is. */
    return 0;
}

/* Logs (rate-limited) a failure of the running job, which then backs off. */
static void log_error_limited(struct ocsp_refresh *r, const char *what, const struct jerr *err)
{
    r->failed = true;
    time_t now = jclock_mono_s();
    if (r->logged_at_s != 0 && now - r->logged_at_s < OCSP_REFRESH_LOG_EVERY_S)
        return;
    r->logged_at_s = now;
    log_error("OCSP pre-signing (%s): %s", what, err->msg);
}

/* Signs the chunk's serials (clearing their marks when `with_marks`). */
static void sign_chunk(struct ocsp_refresh *r, struct store *st, struct refresh_pass *pass,
                       struct due_list *due, bool with_marks)
{
    struct ocsp_answer_presign_stats stats;
    const char *serials[OCSP_ANSWER_PRESIGN_MAX];
    struct jerr err = {0};

    if (due->count == 0)
        return;
    for (size_t i = 0; i < due->count; i++)
        serials[i] = due->serials[i];
    if (ocsp_answer_presign(r->answer, st, serials, with_marks ? due->seqs : NULL, due->count,
                            &stats, &err) == -1 ||
        stats.failed > 0)
        log_error_limited(r, pass->name, &err);
    pass->total.signed_count += stats.signed_count;
    pass->total.stored += stats.stored;
    pass->total.outdated += stats.outdated;
    pass->total.failed += stats.failed;
    pass->total.skipped += stats.skipped;
    pass->total.cleared += stats.cleared;
}

/* Deletes the aged responses of the expired certificates of the chunk, in one transaction. */
static void drop_expired(struct ocsp_refresh *r, struct store *st, struct refresh_pass *pass,
                         const struct due_list *due)
{
    struct jerr err = {0};

    if (due->expired_count == 0)
        return;
    if (ocsp_cache_drop(st, due->expired, due->expired_count, &err) == -1) {
        log_error_limited(r, pass->name, &err);
        return;
    }
    for (size_t k = 0; k < due->expired_count; k++)
        ocsp_answer_forget(r->answer, due->expired[k]);
    pass->dropped += due->expired_count;
}

/* After a chunk: a full one moves the cursor on (returns true: more may be due); otherwise the
 * pass is over and the next one starts from the beginning. */
static bool pass_next(struct refresh_pass *pass, const struct due_list *due)
{
    if (due->rows == OCSP_ANSWER_PRESIGN_MAX) {
        pass->after_seq = due->last_seq;
        pass->after_next_update = due->last_next_update;
        memcpy(pass->after_serial, due->last_serial, sizeof(pass->after_serial));
        pass->active = true;
        return true;
    }
    if (pass->total.signed_count > 100 || pass->total.failed > 0 || pass->dropped > 100)
        log_info("OCSP pre-signing (%s): %zu signed, %zu stored, %zu outdated, %zu failed, %zu "
                 "skipped, %zu expired dropped",
                 pass->name, pass->total.signed_count, pass->total.stored, pass->total.outdated,
                 pass->total.failed, pass->total.skipped, pass->dropped);
    memset(&pass->total, 0, sizeof(pass->total));
    pass->dropped = 0;
    pass->after_seq = 0;
    pass->after_next_update = 0;
    pass->after_serial[0] = '\0';
    pass->active = false;
    return false;
}

/* One chunk of a pass: the marks pass (`pass` is &r->marks: the serials whose status changed)
 * or the refresh-ahead pass (responses ageing before `refresh_by`, whose expired certificates'
 * responses are dropped). Returns true when more may be due. */
static bool pass_chunk(struct ocsp_refresh *r, struct store *st, struct refresh_pass *pass,
                       time_t now, time_t refresh_by)
{
    struct due_list *due = calloc(1, sizeof(*due));
    struct jerr err = {0};
    bool marks = pass == &r->marks, more = false;

    if (due == NULL)
        return false;
    due->now = now;
    int rc = marks ? store_ocsp_foreach_dirty(st, pass->after_seq, OCSP_ANSWER_PRESIGN_MAX,
                                              marks_cb, due, &err)
                   : store_ocsp_foreach_ageing(st, refresh_by, pass->after_next_update,
                                               pass->after_serial, OCSP_ANSWER_PRESIGN_MAX,
                                               ageing_cb, due, &err);
    if (rc == -1) {
        log_error_limited(r, pass->name, &err);
        goto out; /* tried again at the next tick, from the same cursor */
    }
    if (marks && due->rows > 0 && r->listener != NULL)
        r->listener(r->listener_arg);
    if (!marks)
        drop_expired(r, st, pass, due);
    sign_chunk(r, st, pass, due, marks);
    more = pass_next(pass, due);
out:
    free(due);
    return more;
}

static void refresh_job(struct worker *self, void *arg)
{
    struct ocsp_refresh *r = arg;
    struct jerr err = {0};
    long long start_ms = jclock_mono_ms();
    struct store *st = workers_store(self, &err);

    r->more = false;
    r->failed = false;
    if (st == NULL) {
        log_error_limited(r, "registry", &err);
        goto out;
    }
    time_t now = jclock_now();
    if (pass_chunk(r, st, &r->marks, now, 0)) {
        r->more = true;
        goto out; /* the marks first */
    }
    if (r->ahead.active || jclock_mono_s() >= r->ahead_next_s) {
        if (pass_chunk(r, st, &r->ahead, now, now + r->cfg->ocsp_refresh_before_s))
            r->more = true;
        else
            r->ahead_next_s = jclock_mono_s() + OCSP_REFRESH_AHEAD_S;
    }
out:
    r->job_ms = jclock_mono_ms() - start_ms;
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
    r->jobs++;
    if (!r->failed)
        r->backoff_ms = 0;
    else if (r->backoff_ms == 0)
        r->backoff_ms = r->poll_ms;
    else if ((r->backoff_ms *= 2) > OCSP_REFRESH_BACKOFF_MAX_MS)
        r->backoff_ms = OCSP_REFRESH_BACKOFF_MAX_MS;
    /* A periodic pass rests at least as long as the last job took (a safeguard: a pass that
     * finds nothing takes well under a millisecond), or the backoff; a backlog chunk or a
     * kick does not wait. */
    r->next_poll_ms = jclock_mono_ms() + (r->job_ms > r->backoff_ms ? r->job_ms : r->backoff_ms);
    if ((r->more && r->backoff_ms == 0) || r->again)
        submit(r);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ocsp_refresh *r = arg;
    (void)fd;
    (void)what;
    if (r->running || jclock_mono_ms() < r->next_poll_ms)
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
    event_active(r->kick, EV_TIMEOUT, 0); /* pre-sign what is marked right away */
    return 0;
}

unsigned long ocsp_refresh_jobs(const struct ocsp_refresh *r)
{
    return r->jobs;
}

long long ocsp_refresh_backoff_ms(const struct ocsp_refresh *r)
{
    return r->backoff_ms;
}

void ocsp_refresh_set_listener(struct ocsp_refresh *r, void (*fn)(void *arg), void *arg)
{
    r->listener = fn;
    r->listener_arg = arg;
}

void ocsp_refresh_kick(struct ocsp_refresh *r)
{
    if (r != NULL && atomic_load(&r->started))
        event_active(r->kick, EV_TIMEOUT, 0);
}
