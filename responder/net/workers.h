/*
 * workers: the worker pool (DESIGN §6, STYLE "Concurrency"). Event loops never block: whatever
 * signs, generates a key or touches SQLite runs here, and its completion runs back on the event
 * loop that asked for it.
 *
 * DESIGN
 * - N threads take jobs from one bounded FIFO queue. A full queue refuses at once
 *   (JERR_UNAVAILABLE, the HTTP layer answers 503) rather than growing without bound.
 * - A loop that submits jobs first attaches itself (workers_attach): that creates, on its
 *   event_base, an event and a mutex-protected completion list. A worker that finishes a job
 *   appends it to the list of the job's loop and makes the event active (event_active); the
 *   loop then runs the `done` callbacks in the order the jobs finished. So `done` always runs
 *   on the loop thread, where it may touch that loop's state and its HTTP requests.
 *   libevent must be thread-enabled: evthread_use_pthreads() before the event_base is made.
 * - Each worker thread opens its own registry connection the first time a job asks for one
 *   (workers_store) and closes it when the thread exits: a struct store is one connection for
 *   one thread (ca/store.h).
 * - Shutdown (workers_shutdown) stops taking jobs, runs every queued job, and joins the
 *   threads. Completions of those jobs wait on their loops' lists: the loops run them if they
 *   still run, else workers_detach runs them.
 */
#ifndef JPKI_WORKERS_H
#define JPKI_WORKERS_H

#include <stddef.h>

#include "base/jerr.h"

struct event_base;
struct store;

struct workers;
struct worker;       /* one worker thread, as its jobs see it */
struct workers_loop; /* an event loop attached to the pool */

/* Runs on a worker thread; may block (sign, SQLite, disk). */
typedef void workers_job_fn(struct worker *self, void *arg);
/* Runs on the loop that submitted the job, after the job; must not block. */
typedef void workers_done_fn(void *arg);

/* How a worker thread opens and closes its registry connection (e.g. pki_store_open and
 * store_close). */
struct workers_store_ops {
    struct store *(*open)(void *arg, struct jerr *err);
    void (*close)(struct store *st);
    void *arg;
};

/* Default bound of the job queue. */
#define WORKERS_QUEUE_DEFAULT 4096

/* Starts `threads` worker threads (0 or less = one per online CPU) with a queue of at most
 * `queue_max` waiting jobs (0 = WORKERS_QUEUE_DEFAULT). `store_ops` may be NULL (then
 * workers_store fails); it is copied. Returns the pool, or NULL with err filled. */
struct workers *workers_new(int threads, size_t queue_max,
                            const struct workers_store_ops *store_ops, struct jerr *err);

/* Attaches `base` (thread-enabled) so that it can submit jobs and get completions back. The
 * handle stays the pool's until workers_detach; attach before the loop runs. Returns NULL with
 * err filled on failure. */
struct workers_loop *workers_attach(struct workers *w, struct event_base *base, struct jerr *err);

/* Runs the completions still waiting for `loop` (on the calling thread), then frees the handle
 * and its event. Call it when the loop no longer runs and no job of it is queued or running
 * (after workers_shutdown), before event_base_free. NULL is a no-op. */
void workers_detach(struct workers_loop *loop);

/* Queues `job(self, arg)`; `done(arg)` (may be NULL) then runs on `origin`'s loop. Safe from
 * any thread. Refuses with JERR_UNAVAILABLE when the queue holds queue_max jobs or the pool is
 * shutting down: nothing is run then, and `arg` stays the caller's. Returns 0 or -1. */
int workers_submit(struct workers_loop *origin, workers_job_fn *job, workers_done_fn *done,
                   void *arg, struct jerr *err);

/* Jobs queued and not yet started (for /metrics). Thread-safe. */
size_t workers_queue_depth(struct workers *w);
int workers_thread_count(const struct workers *w);

/* The calling worker's registry connection, opened on first use (a failed open is retried by
 * the next call). Returns NULL with err filled when it cannot be opened or the pool has no
 * store_ops. Only for the worker `self`, inside a job. */
struct store *workers_store(struct worker *self, struct jerr *err);

/* 0-based index of the worker thread. */
int workers_index(const struct worker *self);

/* Stops taking jobs, runs every queued job, joins the threads. Idempotent; not from a worker. */
void workers_shutdown(struct workers *w);

/* Shuts down (if not done yet) and frees the pool. Detach every loop first. NULL is a no-op. */
void workers_free(struct workers *w);

#endif
