/*
 * workers: see workers.h for the design. One mutex guards the job queue and the pool state;
 * each attached loop has its own mutex for its completion list, so finishing a job never
 * contends with submitting one.
 */
#include "responder/net/workers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

struct workers_job {
    workers_job_fn *job;
    workers_done_fn *done;
    void *arg;
    struct workers_loop *origin;
    struct workers_job *next;
};

struct workers_loop {
    struct workers *pool;
    struct event *wake;   /* made active by a worker when completions wait */
    pthread_mutex_t lock; /* guards done_head/done_tail */
    struct workers_job *done_head, *done_tail;
    struct workers_loop *next; /* the pool's list of attached loops (under pool->lock) */
};

struct worker {
    struct workers *pool;
    pthread_t thread;
    int index;
    bool started;
    struct store *store; /* this thread's registry connection, NULL until asked */
};

struct workers {
    pthread_mutex_t lock;    /* guards everything below */
    pthread_cond_t nonempty; /* signalled on submit and on shutdown */
    struct workers_job *head, *tail;
    size_t depth, queue_max;
    bool stopping, joined;
    struct workers_loop *loops;
    struct workers_store_ops store_ops;
    bool has_store_ops;
    int count;
    struct worker *threads;
};

static void *worker_main(void *arg);

/* Appends a finished job to its loop's completion list and wakes the loop when the list was
 * empty (a non-empty list already has its wake-up pending). */
static void loop_complete(struct workers_job *j)
{
    struct workers_loop *loop = j->origin;
    bool wake;

    j->next = NULL;
    pthread_mutex_lock(&loop->lock);
    wake = loop->done_head == NULL;
    if (loop->done_tail != NULL)
        loop->done_tail->next = j;
    else
        loop->done_head = j;
    loop->done_tail = j;
    pthread_mutex_unlock(&loop->lock);
    if (wake)
        event_active(loop->wake, EV_READ, 0);
}

/* Takes the whole completion list and runs it, oldest first. */
static void loop_run_completions(struct workers_loop *loop)
{
    struct workers_job *j, *next;

    pthread_mutex_lock(&loop->lock);
    j = loop->done_head;
    loop->done_head = loop->done_tail = NULL;
    pthread_mutex_unlock(&loop->lock);
    for (; j != NULL; j = next) {
        next = j->next;
        j->done(j->arg);
        free(j);
    }
}

static void loop_wake_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    loop_run_completions(arg);
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > 1024 ? 1024 : (int)n);
}

struct workers *workers_new(int threads, size_t queue_max,
                            const struct workers_store_ops *store_ops, struct jerr *err)
{
    struct workers *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    w->count = threads > 0 ? threads : online_cpus();
    w->queue_max = queue_max > 0 ? queue_max : WORKERS_QUEUE_DEFAULT;
    if (store_ops != NULL) {
        w->store_ops = *store_ops;
        w->has_store_ops = true;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->nonempty, NULL);
    w->threads = calloc((size_t)w->count, sizeof(*w->threads));
    if (w->threads == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto fail;
    }
    for (int i = 0; i < w->count; i++) {
        w->threads[i].pool = w;
        w->threads[i].index = i;
        if (pthread_create(&w->threads[i].thread, NULL, worker_main, &w->threads[i]) != 0) {
            jerr_set(err, JERR_INTERNAL, NULL, "cannot start worker thread %d", i);
            goto fail;
        }
        w->threads[i].started = true;
    }
    return w;
fail:
    workers_free(w);
    return NULL;
}

struct workers_loop *workers_attach(struct workers *w, struct event_base *base, struct jerr *err)
{
    struct workers_loop *loop = calloc(1, sizeof(*loop));
    if (loop == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    loop->pool = w;
    loop->wake = event_new(base, -1, 0, loop_wake_cb, loop);
    if (loop->wake == NULL) {
        free(loop);
        jerr_set(err, JERR_INTERNAL, NULL, "cannot create the completion event");
        return NULL;
    }
    pthread_mutex_init(&loop->lock, NULL);
    pthread_mutex_lock(&w->lock);
    loop->next = w->loops;
    w->loops = loop;
    pthread_mutex_unlock(&w->lock);
    return loop;
}

void workers_detach(struct workers_loop *loop)
{
    if (loop == NULL)
        return;
    struct workers *w = loop->pool;
    pthread_mutex_lock(&w->lock);
    for (struct workers_loop **p = &w->loops; *p != NULL; p = &(*p)->next) {
        if (*p == loop) {
            *p = loop->next;
            break;
        }
    }
    pthread_mutex_unlock(&w->lock);
    loop_run_completions(loop);
    event_free(loop->wake);
    pthread_mutex_destroy(&loop->lock);
    free(loop);
}

int workers_submit(struct workers_loop *origin, workers_job_fn *job, workers_done_fn *done,
                   void *arg, struct jerr *err)
{
    struct workers *w = origin->pool;
    struct workers_job *j = malloc(sizeof(*j));
    if (j == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    j->job = job;
    j->done = done;
    j->arg = arg;
    j->origin = origin;
    j->next = NULL;

    pthread_mutex_lock(&w->lock);
    if (w->stopping || w->depth >= w->queue_max) {
        bool stopping = w->stopping;
        pthread_mutex_unlock(&w->lock);
        free(j);
        if (stopping)
            return jerr_set(err, JERR_UNAVAILABLE, NULL, "the service is shutting down");
        return jerr_set(err, JERR_UNAVAILABLE, NULL, "the work queue is full (%zu jobs)",
                        w->queue_max);
    }
    if (w->tail != NULL)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    w->depth++;
    pthread_cond_signal(&w->nonempty);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

size_t workers_queue_depth(struct workers *w)
{
    pthread_mutex_lock(&w->lock);
    size_t depth = w->depth;
    pthread_mutex_unlock(&w->lock);
    return depth;
}

int workers_thread_count(const struct workers *w)
{
    return w->count;
}

int workers_index(const struct worker *self)
{
    return self->index;
}

struct store *workers_store(struct worker *self, struct jerr *err)
{
    struct workers *w = self->pool;
    if (self->store != NULL)
        return self->store;
    if (!w->has_store_ops || w->store_ops.open == NULL) {
        jerr_set(err, JERR_UNAVAILABLE, NULL, "no registry for the workers");
        return NULL;
    }
    self->store = w->store_ops.open(w->store_ops.arg, err);
    return self->store;
}

static void *worker_main(void *arg)
{
    struct worker *self = arg;
    struct workers *w = self->pool;

    for (;;) {
        pthread_mutex_lock(&w->lock);
        while (w->head == NULL && !w->stopping)
            pthread_cond_wait(&w->nonempty, &w->lock);
        struct workers_job *j = w->head;
        if (j == NULL) { /* stopping and drained */
            pthread_mutex_unlock(&w->lock);
            break;
        }
        w->head = j->next;
        if (w->head == NULL)
            w->tail = NULL;
        w->depth--;
        pthread_mutex_unlock(&w->lock);

        j->job(self, j->arg);
        if (j->done != NULL)
            loop_complete(j);
        else
            free(j);
    }
    if (self->store != NULL && w->store_ops.close != NULL)
        w->store_ops.close(self->store);
    self->store = NULL;
    return NULL;
}

void workers_shutdown(struct workers *w)
{
    pthread_mutex_lock(&w->lock);
    if (w->joined) {
        pthread_mutex_unlock(&w->lock);
        return;
    }
    w->stopping = true;
    pthread_cond_broadcast(&w->nonempty);
    pthread_mutex_unlock(&w->lock);
    for (int i = 0; i < w->count; i++) {
        if (w->threads[i].started)
            pthread_join(w->threads[i].thread, NULL);
        w->threads[i].started = false;
    }
    pthread_mutex_lock(&w->lock);
    w->joined = true;
    pthread_mutex_unlock(&w->lock);
}

void workers_free(struct workers *w)
{
    if (w == NULL)
        return;
    if (w->threads != NULL)
        workers_shutdown(w);
    while (w->loops != NULL)
        workers_detach(w->loops);
    free(w->threads);
    pthread_cond_destroy(&w->nonempty);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
