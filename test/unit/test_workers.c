/*
 * test_workers: the worker pool — jobs run on worker threads, completions run on the loop that
 * submitted them, the queue is bounded, shutdown drains, each worker has its own registry
 * connection opened lazily and closed at exit.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "responder/net/workers.h"
#include "testutil.h"

struct test_loop {
    struct event_base *base;
    pthread_t thread;
};

static void *loop_main(void *arg)
{
    struct test_loop *l = arg;
    event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static void loop_init(struct test_loop *l)
{
    ck_assert_int_eq(evthread_use_pthreads(), 0);
    l->base = event_base_new();
    ck_assert_ptr_nonnull(l->base);
}

static void loop_start(struct test_loop *l)
{
    ck_assert_int_eq(pthread_create(&l->thread, NULL, loop_main, l), 0);
}

static void loop_stop(struct test_loop *l)
{
    event_base_loopexit(l->base, NULL);
    pthread_join(l->thread, NULL);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits (up to 5 s) until *counter reaches want. */
static void wait_count(atomic_int *counter, int want)
{
    for (int i = 0; i < 5000 && atomic_load(counter) < want; i++)
        sleep_ms(1);
    ck_assert_int_eq(atomic_load(counter), want);
}

/* ---- jobs run on workers, done runs on the origin loop ---- */

struct origin_job {
    pthread_t job_thread, done_thread;
    pthread_t *loop_thread;
    int job_ran;
    atomic_int *done_count;
    int worker_index;
};

static void origin_job_fn(struct worker *self, void *arg)
{
    struct origin_job *j = arg;
    j->job_thread = pthread_self();
    j->job_ran = 1;
    j->worker_index = workers_index(self);
}

static void origin_done_fn(void *arg)
{
    struct origin_job *j = arg;
    j->done_thread = pthread_self();
    atomic_fetch_add(j->done_count, 1);
}

START_TEST(test_done_runs_on_origin_loop)
{
    struct jerr err = {0};
    struct test_loop loops[2];
    struct workers *w = workers_new(3, 0, NULL, &err);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(workers_thread_count(w), 3);

    struct workers_loop *handles[2];
    for (int i = 0; i < 2; i++) {
        loop_init(&loops[i]);
        handles[i] = workers_attach(w, loops[i].base, &err);
        ck_assert_ptr_nonnull(handles[i]);
        loop_start(&loops[i]);
    }

    enum { N = 40 };
    static struct origin_job jobs[N];
    atomic_int done_count = 0;
    for (int i = 0; i < N; i++) {
        memset(&jobs[i], 0, sizeof(jobs[i]));
        jobs[i].loop_thread = &loops[i % 2].thread;
        jobs[i].done_count = &done_count;
        ck_assert_int_eq(
            workers_submit(handles[i % 2], origin_job_fn, origin_done_fn, &jobs[i], &err), 0);
    }
    wait_count(&done_count, N);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(jobs[i].job_ran, 1);
        ck_assert(pthread_equal(jobs[i].done_thread, *jobs[i].loop_thread));
        ck_assert(!pthread_equal(jobs[i].job_thread, *jobs[i].loop_thread));
        ck_assert(!pthread_equal(jobs[i].job_thread, pthread_self()));
        ck_assert_int_ge(jobs[i].worker_index, 0);
        ck_assert_int_lt(jobs[i].worker_index, 3);
    }
    ck_assert_uint_eq(workers_queue_depth(w), 0);

    for (int i = 0; i < 2; i++)
        loop_stop(&loops[i]);
    workers_shutdown(w);
    for (int i = 0; i < 2; i++) {
        workers_detach(handles[i]);
        event_base_free(loops[i].base);
    }
    workers_free(w);
}
END_TEST

/* ---- the queue is bounded ---- */

struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int open;
    atomic_int started, ran, done;
};

static void gated_job(struct worker *self, void *arg)
{
    struct gate *g = arg;
    (void)self;
    atomic_fetch_add(&g->started, 1);
    pthread_mutex_lock(&g->lock);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
    atomic_fetch_add(&g->ran, 1);
}

static void gated_done(void *arg)
{
    struct gate *g = arg;
    atomic_fetch_add(&g->done, 1);
}

static void gate_open(struct gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = 1;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

START_TEST(test_full_queue_refuses)
{
    struct jerr err = {0};
    struct test_loop loop;
    struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0};
    struct workers *w = workers_new(1, 2, NULL, &err);
    ck_assert_ptr_nonnull(w);
    loop_init(&loop);
    struct workers_loop *h = workers_attach(w, loop.base, &err);
    ck_assert_ptr_nonnull(h);

    /* The first job occupies the only worker; two more fill the queue. */
    ck_assert_int_eq(workers_submit(h, gated_job, gated_done, &g, &err), 0);
    wait_count(&g.started, 1);
    ck_assert_uint_eq(workers_queue_depth(w), 0);
    ck_assert_int_eq(workers_submit(h, gated_job, gated_done, &g, &err), 0);
    ck_assert_int_eq(workers_submit(h, gated_job, gated_done, &g, &err), 0);
    ck_assert_uint_eq(workers_queue_depth(w), 2);

    /* The fourth is refused at once, and never runs. */
    ck_assert_int_eq(workers_submit(h, gated_job, gated_done, &g, &err), -1);
    ck_assert_int_eq(err.code, JERR_UNAVAILABLE);
    ck_assert_str_eq(err.msg, "the work queue is full (2 jobs)");
    ck_assert_uint_eq(workers_queue_depth(w), 2);

    gate_open(&g);
    workers_shutdown(w);
    ck_assert_int_eq(atomic_load(&g.ran), 3);
    /* The loop never ran: the completions wait for it, and detach runs them. */
    ck_assert_int_eq(atomic_load(&g.done), 0);
    workers_detach(h);
    ck_assert_int_eq(atomic_load(&g.done), 3);
    event_base_free(loop.base);
    workers_free(w);
}
END_TEST

/* ---- shutdown drains the queue, then refuses ---- */

static atomic_int drained_ran, drained_done;

static void slow_job(struct worker *self, void *arg)
{
    (void)self;
    (void)arg;
    sleep_ms(1);
    atomic_fetch_add(&drained_ran, 1);
}

static void slow_done(void *arg)
{
    (void)arg;
    atomic_fetch_add(&drained_done, 1);
}

START_TEST(test_shutdown_drains)
{
    struct jerr err = {0};
    struct test_loop loop;
    struct workers *w = workers_new(2, 100, NULL, &err);
    ck_assert_ptr_nonnull(w);
    loop_init(&loop);
    struct workers_loop *h = workers_attach(w, loop.base, &err);
    loop_start(&loop);

    atomic_store(&drained_ran, 0);
    atomic_store(&drained_done, 0);
    for (int i = 0; i < 60; i++)
        ck_assert_int_eq(workers_submit(h, slow_job, i % 2 == 0 ? slow_done : NULL, NULL, &err), 0);
    workers_shutdown(w);
    /* Every queued job ran before the threads were joined. */
    ck_assert_int_eq(atomic_load(&drained_ran), 60);
    ck_assert_uint_eq(workers_queue_depth(w), 0);
    /* The loop still runs: it gets the 30 completions. */
    wait_count(&drained_done, 30);

    jerr_clear(&err);
    ck_assert_int_eq(workers_submit(h, slow_job, slow_done, NULL, &err), -1);
    ck_assert_int_eq(err.code, JERR_UNAVAILABLE);
    ck_assert_str_eq(err.msg, "the service is shutting down");
    workers_shutdown(w); /* idempotent */

    loop_stop(&loop);
    workers_detach(h);
    ck_assert_int_eq(atomic_load(&drained_ran), 60);
    ck_assert_int_eq(atomic_load(&drained_done), 30);
    event_base_free(loop.base);
    workers_free(w);
}
END_TEST

/* ---- per-worker registry connection ---- */

struct fake_registry {
    atomic_int opened, closed, fail_next;
};

struct fake_store {
    int magic;
};

static struct store *fake_open(void *arg, struct jerr *err)
{
    struct fake_registry *r = arg;
    if (atomic_exchange(&r->fail_next, 0) != 0) {
        jerr_set(err, JERR_IO, NULL, "registry busy");
        return NULL;
    }
    struct fake_store *s = malloc(sizeof(*s));
    s->magic = 0x5704e;
    atomic_fetch_add(&r->opened, 1);
    return (struct store *)s;
}

static struct fake_registry *close_registry;

static void fake_close(struct store *st)
{
    struct fake_store *s = (struct fake_store *)st;
    ck_assert_int_eq(s->magic, 0x5704e);
    free(s);
    atomic_fetch_add(&close_registry->closed, 1);
}

struct store_job {
    struct store *first, *second;
    int index;
    int first_code;
};

static void store_job_fn(struct worker *self, void *arg)
{
    struct store_job *j = arg;
    struct jerr err = {0};
    j->index = workers_index(self);
    j->first = workers_store(self, &err);
    j->first_code = err.code;
    jerr_clear(&err);
    j->second = workers_store(self, &err);
}

START_TEST(test_store_per_worker)
{
    struct jerr err = {0};
    struct fake_registry reg = {0, 0, 1};
    close_registry = &reg;
    struct workers_store_ops ops = {fake_open, fake_close, &reg};
    struct workers *w = workers_new(1, 0, &ops, &err);
    ck_assert_ptr_nonnull(w);
    struct test_loop loop;
    loop_init(&loop);
    struct workers_loop *h = workers_attach(w, loop.base, &err);

    /* One worker: the first open fails (retried by the next call), then one connection serves
     * every later job of that thread. */
    struct store_job jobs[4];
    memset(jobs, 0, sizeof(jobs));
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(workers_submit(h, store_job_fn, NULL, &jobs[i], &err), 0);
    workers_shutdown(w);
    ck_assert_ptr_null(jobs[0].first);
    ck_assert_int_eq(jobs[0].first_code, JERR_IO);
    ck_assert_ptr_nonnull(jobs[0].second);
    for (int i = 1; i < 4; i++) {
        ck_assert_ptr_eq(jobs[i].first, jobs[0].second);
        ck_assert_ptr_eq(jobs[i].second, jobs[0].second);
    }
    ck_assert_int_eq(atomic_load(&reg.opened), 1);
    ck_assert_int_eq(atomic_load(&reg.closed), 1); /* closed when the thread exited */
    workers_detach(h);
    event_base_free(loop.base);
    workers_free(w);
}
END_TEST

START_TEST(test_store_without_ops)
{
    struct jerr err = {0};
    struct workers *w = workers_new(1, 0, NULL, &err);
    struct test_loop loop;
    loop_init(&loop);
    struct workers_loop *h = workers_attach(w, loop.base, &err);
    struct store_job job = {0};
    ck_assert_int_eq(workers_submit(h, store_job_fn, NULL, &job, &err), 0);
    workers_shutdown(w);
    ck_assert_ptr_null(job.first);
    ck_assert_int_eq(job.first_code, JERR_UNAVAILABLE);
    workers_detach(h);
    event_base_free(loop.base);
    workers_free(w);
}
END_TEST

START_TEST(test_default_thread_count)
{
    struct jerr err = {0};
    struct workers *w = workers_new(0, 0, NULL, &err);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(workers_thread_count(w), (int)sysconf(_SC_NPROCESSORS_ONLN));
    workers_free(w); /* shuts down by itself */
    workers_free(NULL);
    workers_detach(NULL);
}
END_TEST

static Suite *workers_suite(void)
{
    Suite *s = suite_create("workers");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_done_runs_on_origin_loop);
    tcase_add_test(tc, test_full_queue_refuses);
    tcase_add_test(tc, test_shutdown_drains);
    tcase_add_test(tc, test_store_per_worker);
    tcase_add_test(tc, test_store_without_ops);
    tcase_add_test(tc, test_default_thread_count);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(workers_suite());
}
