/*
 * batchrun: see batchrun.h. One mutex guards the set of running batches and the counts of jobs
 * in flight; it is held only to choose and queue jobs (workers_submit never blocks). The work
 * of a row (keys, signatures, the registry) happens in the job, on a worker, outside it.
 */
#include "responder/batch/batchrun.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "ca/pinletter.h"
#include "base/jclock.h"
#include "ca/batch_exec.h"
#include "responder/net/log.h"
#include "responder/monitor/metrics.h"
#include "responder/ocsp/ocsp_http.h"

/* A running batch as the runner sees it. */
struct br_batch {
    int64_t id;
    int inflight;     /* jobs of it queued or running */
    bool waiting;     /* a job found every pending row claimed: none new until one of it ends */
    time_t retry_at;  /* monotonic seconds: not before (0 = now) */
    bool seen_finish; /* a job found it finished: dropped once none of its jobs is left */
};

struct batchrun {
    struct pki *pki;
    struct workers *workers;
    struct ocsp_http *ocsp;
    struct workers_loop *loop; /* NULL until started */
    struct event *tick;
    int max_jobs;

    pthread_mutex_t lock;
    struct br_batch *batches;
    size_t count, cap;
    size_t cursor; /* round robin: where the next pass starts */
    int inflight;
    bool resumed; /* the resume job ended: jobs may run */
    bool stopping;
};

struct br_job {
    struct batchrun *br;
    int64_t batch_id;
    int rc;
    struct jerr err;
    struct batch_exec_result res;
    struct jerr wal_err; /* the WAL truncation after a finished batch failed */
};

/* The resume job of batchrun_start: the running batches of the registry. */
struct br_resume {
    struct batchrun *br;
    int64_t *ids;
    size_t count, cap;
    int64_t released; /* claims given back */
    int64_t swept;    /* staged files of a stopped process removed */
    struct jerr sweep_err;
    int rc;
    struct jerr err;
    struct jerr release_err; /* claims not given back: they lapse (BATCH_EXEC_CLAIM_S) */
};

/* ---- the set (lock held) ---- */

static struct br_batch *find_locked(struct batchrun *br, int64_t id)
{
    for (size_t i = 0; i < br->count; i++)
        if (br->batches[i].id == id)
            return &br->batches[i];
    return NULL;
}

static int add_locked(struct batchrun *br, int64_t id)
{
    if (find_locked(br, id) != NULL)
        return 0;
    if (br->count == br->cap) {
        size_t cap = br->cap == 0 ? 8 : br->cap * 2;
        struct br_batch *grown = realloc(br->batches, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        br->batches = grown;
        br->cap = cap;
    }
    br->batches[br->count++] = (struct br_batch){.id = id};
    return 0;
}

/* Drops the batches seen finished that have no job in flight. */
static void prune_locked(struct batchrun *br)
{
    size_t kept = 0;
    for (size_t i = 0; i < br->count; i++)
        if (!(br->batches[i].seen_finish && br->batches[i].inflight == 0))
            br->batches[kept++] = br->batches[i];
    br->count = kept;
    if (br->cursor >= br->count)
        br->cursor = 0;
}

static void job_run(struct worker *self, void *arg);
static void job_done(void *arg);

/* Queues jobs while the limits allow: max_jobs in all, batches in turn, one new job per
 * batch per turn, as many turns as it takes to fill the slots. */
static void schedule_locked(struct batchrun *br)
{
    struct jerr err = {0};
    time_t now = jclock_mono_s();
    bool queued = true;

    prune_locked(br);
    if (br->loop == NULL || !br->resumed || br->stopping)
        return;
    size_t n = br->count;
    while (queued && br->inflight < br->max_jobs) {
        queued = false;
        for (size_t k = 0; k < n && br->inflight < br->max_jobs; k++) {
            size_t i = (br->cursor + k) % n;
            struct br_batch *b = &br->batches[i];
            if (b->waiting || b->seen_finish || b->retry_at > now)
                continue;
            struct br_job *job = calloc(1, sizeof(*job));
            if (job == NULL) {
                b->retry_at = now + BATCHRUN_RETRY_S;
                continue;
            }
            job->br = br;
            job->batch_id = b->id;
            jerr_clear(&err);
            if (workers_submit(br->loop, job_run, job_done, job, &err) == -1) {
                /* The queue is full (or the pool stops): the tick tries again. */
                free(job);
                b->retry_at = now + BATCHRUN_RETRY_S;
                continue;
            }
            b->inflight++;
            br->inflight++;
            br->cursor = (i + 1) % n;
            queued = true;
        }
    }
}

/* ---- jobs ---- */

static void job_run(struct worker *self, void *arg)
{
    struct br_job *job = arg;
    struct batchrun *br = job->br;
    struct store *st = workers_store(self, &job->err);
    int64_t done, failed, pending;
    struct jerr ignored = {0};

    if (st == NULL) {
        job->rc = -1;
        return;
    }
    job->rc = batch_exec_step(br->pki, st, job->batch_id, &job->res, &job->err);
    if (job->rc == 0) {
        for (int ca = 0; ca < CA_KIND_COUNT; ca++)
            for (size_t i = 0; i < job->res.issued[ca]; i++)
                metrics_issued((enum ca_kind)ca);
        /* OCSP KICK: certificates this row superseded answer their new status at once. */
        for (size_t i = 0; br->ocsp != NULL && i < job->res.superseded.count; i++)
            ocsp_http_cert_changed(br->ocsp, job->res.superseded.items[i]);
        if (job->res.outcome == BATCH_EXEC_FINISHED && br->ocsp != NULL)
            ocsp_http_kick(br->ocsp); /* pre-sign the new certificates' responses now */
        /* The WAL holds page images of the batch's rows as they were while pending, passwords
         * of the file included: gone once the batch is (docs/BATCH.md). */
        if (job->res.outcome == BATCH_EXEC_FINISHED)
            store_wal_truncate(st, &job->wal_err);
    }
    if (store_batch_row_totals(st, &done, &failed, &pending, &ignored) == 0)
        metrics_batch_rows(done, failed, pending);
}

static void job_done(void *arg)
{
    struct br_job *job = arg;
    struct batchrun *br = job->br;
    const struct batch_exec_result *res = &job->res;
    bool finished = false;

    if (job->rc == -1) {
        /* The row stays pending and is tried again after a pause — unless the batch is
         * unknown or its counters are broken (not found, internal): that would fail the same
         * way again, so the batch is left for the next start. The message carries ids and
         * registry text, never row contents. */
        finished = job->err.code == JERR_NOT_FOUND || job->err.code == JERR_INTERNAL;
        if (finished)
            log_error("batch %lld: %s: %s; left until the next start", (long long)job->batch_id,
                      jerr_code_name(job->err.code), job->err.msg);
        else
            log_warn("batch %lld: %s; retrying", (long long)job->batch_id, job->err.msg);
    } else {
        if (res->internal[0] != '\0')
            log_error("batch %lld row %lld failed: %s", (long long)job->batch_id,
                      (long long)res->row, res->internal);
        if (res->outcome == BATCH_EXEC_FINISHED) {
            log_info("batch %lld finished: %lld rows, %lld done, %lld failed",
                     (long long)job->batch_id, (long long)res->batch.total,
                     (long long)res->batch.done_rows, (long long)res->batch.failed_rows);
            metrics_batch_finished(res->batch.failed_rows == 0);
        }
        if (jerr_is_set(&job->wal_err))
            log_warn("batch %lld: %s; it is truncated at the next batch's end or at stop",
                     (long long)job->batch_id, job->wal_err.msg);
        finished = res->outcome == BATCH_EXEC_FINISHED || res->outcome == BATCH_EXEC_IDLE;
    }

    pthread_mutex_lock(&br->lock);
    struct br_batch *b = find_locked(br, job->batch_id);
    if (b != NULL) {
        b->inflight--;
        b->seen_finish = b->seen_finish || finished;
        if (job->rc == -1 && !finished)
            b->retry_at = jclock_mono_s() + BATCHRUN_RETRY_S;
        if (job->rc == 0 && res->outcome == BATCH_EXEC_WAITING) {
            /* Every pending row is some job's: the next job of this batch waits for one of
             * them to end — or, none being ours (another process's claims, or claims that
             * lapse), for the retry time. */
            b->waiting = b->inflight > 0;
            if (b->inflight == 0)
                b->retry_at = jclock_mono_s() + BATCHRUN_RETRY_S;
        } else {
            b->waiting = false;
        }
    }
    br->inflight--;
    schedule_locked(br);
    pthread_mutex_unlock(&br->lock);

    batch_exec_result_free(&job->res);
    free(job);
}

static int resume_collect(void *arg, const struct batch_rec *b)
{
    struct br_resume *r = arg;
    if (r->count == r->cap) {
        size_t cap = r->cap == 0 ? 8 : r->cap * 2;
        int64_t *grown = realloc(r->ids, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        r->ids = grown;
        r->cap = cap;
    }
    r->ids[r->count++] = b->id;
    /* No row of it runs yet: temp files in its card directory are a stopped process's. */
    struct jerr e = {0};
    if (batch_exec_sweep(r->br->pki, b->key, &r->swept, &e) == -1 && !jerr_is_set(&r->sweep_err))
        r->sweep_err = e;
    return 0;
}

static void resume_run(struct worker *self, void *arg)
{
    struct br_resume *r = arg;
    struct store *st = workers_store(self, &r->err);
    r->rc = st != NULL ? store_batches_running(st, resume_collect, r, &r->err) : -1;
    /* No job of this process has run yet: every claim is a stopped process's. */
    for (size_t i = 0; r->rc == 0 && i < r->count; i++) {
        int64_t n = 0;
        if (store_batch_claims_release(st, r->ids[i], &n, &r->release_err) == -1)
            break;
        r->released += n;
    }
}

static void resume_done(void *arg)
{
    struct br_resume *r = arg;
    struct batchrun *br = r->br;
    if (r->rc == -1)
        log_error("batches: cannot read the running batches: %s", r->err.msg);
    if (jerr_is_set(&r->release_err))
        log_warn("batches: row claims not given back (they lapse in %d s): %s", BATCH_EXEC_CLAIM_S,
                 r->release_err.msg);
    if (jerr_is_set(&r->sweep_err))
        log_warn("batches: staged card files not removed: %s", r->sweep_err.msg);
    if (r->swept > 0)
        log_info("batches: %lld staged card file%s of a stopped process removed",
                 (long long)r->swept, r->swept == 1 ? "" : "s");
    if (r->rc == 0 && r->count > 0)
        log_info("batches: resuming %zu running batch%s (%lld row claim%s given back)", r->count,
                 r->count == 1 ? "" : "es", (long long)r->released, r->released == 1 ? "" : "s");
    pthread_mutex_lock(&br->lock);
    br->resumed = true; /* also after a failure: batches submitted from now on run */
    pthread_mutex_unlock(&br->lock);
    for (size_t i = 0; r->rc == 0 && i < r->count; i++)
        batchrun_kick(br, r->ids[i]);
    pthread_mutex_lock(&br->lock);
    schedule_locked(br);
    pthread_mutex_unlock(&br->lock);
    free(r->ids);
    free(r);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct batchrun *br = arg;
    (void)fd;
    (void)what;
    pthread_mutex_lock(&br->lock);
    schedule_locked(br);
    pthread_mutex_unlock(&br->lock);
}

/* ---- interface ---- */

struct batchrun *batchrun_new(struct pki *pki, struct workers *workers, struct jerr *err)
{
    struct batchrun *br = calloc(1, sizeof(*br));
    if (br == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    if (pthread_mutex_init(&br->lock, NULL) != 0) {
        free(br);
        jerr_set(err, JERR_INTERNAL, NULL, "pthread_mutex_init failed");
        return NULL;
    }
    /* A recipient of PIN letters that cannot be used is found at start, not at a batch's
     * first row without passwords. */
    const char *recipient = pki_config(pki)->batch_pin_letter_recipient;
    if (recipient[0] != '\0') {
        X509 *cert = pinletter_recipient_load(recipient, err);
        if (cert == NULL) {
            pthread_mutex_destroy(&br->lock);
            free(br);
            return NULL;
        }
        X509_free(cert);
    }
    br->pki = pki;
    br->workers = workers;
    br->max_jobs = BATCHRUN_MAX_JOBS(workers_thread_count(workers));
    return br;
}

void batchrun_set_ocsp(struct batchrun *br, struct ocsp_http *ocsp)
{
    br->ocsp = ocsp;
}

int batchrun_start(struct batchrun *br, struct event_base *base, struct workers_loop *loop,
                   struct jerr *err)
{
    struct timeval period = {BATCHRUN_RETRY_S, 0};
    struct br_resume *r = NULL;

    br->tick = event_new(base, -1, EV_PERSIST, tick_cb, br);
    if (br->tick == NULL || event_add(br->tick, &period) == -1)
        return jerr_set(err, JERR_INTERNAL, NULL, "batches: cannot set the tick");
    if ((r = calloc(1, sizeof(*r))) == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    r->br = br;
    pthread_mutex_lock(&br->lock);
    br->loop = loop;
    pthread_mutex_unlock(&br->lock);
    /* Batches kicked before the start (submitted while the service came up) go once the
     * resume job has given back the stopped process's claims (resume_done). */
    if (workers_submit(loop, resume_run, resume_done, r, err) == -1) {
        free(r);
        return -1;
    }
    return 0;
}

void batchrun_kick(struct batchrun *br, int64_t batch_id)
{
    pthread_mutex_lock(&br->lock);
    if (add_locked(br, batch_id) == -1)
        log_error("batch %lld: out of memory; it runs after the next start", (long long)batch_id);
    else
        schedule_locked(br);
    pthread_mutex_unlock(&br->lock);
}

void batchrun_stop(struct batchrun *br)
{
    if (br == NULL)
        return;
    pthread_mutex_lock(&br->lock);
    br->stopping = true;
    pthread_mutex_unlock(&br->lock);
}

int batchrun_inflight(struct batchrun *br)
{
    pthread_mutex_lock(&br->lock);
    int n = br->inflight;
    pthread_mutex_unlock(&br->lock);
    return n;
}

int batchrun_active(struct batchrun *br)
{
    pthread_mutex_lock(&br->lock);
    int n = 0;
    for (size_t i = 0; i < br->count; i++)
        if (!br->batches[i].seen_finish)
            n++;
    pthread_mutex_unlock(&br->lock);
    return n;
}

void batchrun_free(struct batchrun *br)
{
    if (br == NULL)
        return;
    if (br->tick != NULL)
        event_free(br->tick);
    pthread_mutex_destroy(&br->lock);
    free(br->batches);
    free(br);
}
