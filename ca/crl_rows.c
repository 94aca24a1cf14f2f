/*
 * crl_rows: see crl_rows.h.
 *
 * A ring of CRL_ROWS_BATCHES batches. The reader fills the batch at `fill` while it is free,
 * then marks it full; the consumer takes the batch at `take` once it is full and gives it back
 * (free) on its next call. Each side owns a batch exclusively between those two points, so
 * only the state changes need the lock.
 */
#include "ca/crl_rows.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"

/* Rows per batch and batches in flight: large enough that the hand-overs cost nothing next to
 * encoding, small enough to stay in the cache (≈ 60 bytes a row). */
#define CRL_ROWS_PER_BATCH 2048
#define CRL_ROWS_BATCHES 4

struct row_batch {
    struct crl_entry_rec rows[CRL_ROWS_PER_BATCH];
    char serials[CRL_ROWS_PER_BATCH][JPKI_SERIAL_HEX_MAX + 1];
    long count;
    bool full; /* guarded by crl_rows.lock */
};

struct crl_rows {
    struct store *st;
    enum ca_kind ca;
    int partition;
    int64_t now;
    int64_t since_seq; /* >= 0: the rows of a delta CRL (store_crl_delta_foreach) */

    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    bool done;      /* the reader has finished (guarded by lock) */
    bool stop;      /* the consumer wants no more rows (guarded by lock) */
    int result;     /* the reader's: 0 or -1, valid once done */
    struct jerr err; /* the reader's error */

    struct row_batch batches[CRL_ROWS_BATCHES];
    int fill;            /* reader's batch */
    int take;            /* consumer's next batch */
    bool holding;        /* the consumer holds batches[take] */
};

/* Hands the reader's batch to the consumer and waits for the next one to be free. Returns -1
 * when the consumer has stopped. */
static int hand_over(struct crl_rows *r)
{
    pthread_mutex_lock(&r->lock);
    r->batches[r->fill].full = true;
    pthread_cond_broadcast(&r->changed);
    r->fill = (r->fill + 1) % CRL_ROWS_BATCHES;
    while (r->batches[r->fill].full && !r->stop)
        pthread_cond_wait(&r->changed, &r->lock);
    bool stop = r->stop;
    pthread_mutex_unlock(&r->lock);
    r->batches[r->fill].count = 0;
    return stop ? -1 : 0;
}

/* store_crl_cb: copies the row into the reader's batch (the store's strings live only until
 * the next row). */
static int collect_row(void *ctx, const struct crl_entry_rec *entry)
{
    struct crl_rows *r = ctx;
    struct row_batch *b = &r->batches[r->fill];
    size_t len = strlen(entry->serial);
    if (len > JPKI_SERIAL_HEX_MAX)
        return jerr_set(&r->err, JERR_INTERNAL, "serial", "registry holds a serial of %zu digits",
                        len);
    long i = b->count++;
    memcpy(b->serials[i], entry->serial, len + 1);
    b->rows[i] = *entry;
    b->rows[i].serial = b->serials[i];
    if (b->count == CRL_ROWS_PER_BATCH && hand_over(r) == -1)
        return jerr_set(&r->err, JERR_INTERNAL, NULL, "stopped");
    return 0;
}

static void *reader_main(void *arg)
{
    struct crl_rows *r = arg;
    int rc = r->since_seq >= 0 ? store_crl_delta_foreach(r->st, r->ca, r->since_seq, r->now,
                                                         collect_row, r, &r->err)
                               : store_crl_foreach(r->st, r->ca, r->partition, r->now,
                                                   collect_row, r, &r->err);
    pthread_mutex_lock(&r->lock);
    if (rc == 0 && r->batches[r->fill].count > 0)
        r->batches[r->fill].full = true; /* the last, partial batch */
    r->result = rc;
    r->done = true;
    pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

static struct crl_rows *rows_start(struct store *st, enum ca_kind ca, int partition,
                                   int64_t since_seq, int64_t now, struct jerr *err)
{
    struct crl_rows *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    r->st = st;
    r->ca = ca;
    r->partition = partition;
    r->since_seq = since_seq;
    r->now = now;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->changed, NULL);
    if (pthread_create(&r->thread, NULL, reader_main, r) != 0) {
        pthread_cond_destroy(&r->changed);
        pthread_mutex_destroy(&r->lock);
        free(r);
        jerr_set(err, JERR_INTERNAL, NULL, "cannot start the CRL reader thread");
        return NULL;
    }
    return r;
}

struct crl_rows *crl_rows_start(struct store *st, enum ca_kind ca, int partition, int64_t now,
                                struct jerr *err)
{
    return rows_start(st, ca, partition, -1, now, err);
}

struct crl_rows *crl_rows_start_delta(struct store *st, enum ca_kind ca, int64_t since_seq,
                                      int64_t now, struct jerr *err)
{
    if (since_seq < 0) {
        jerr_set(err, JERR_INVALID, "since_seq", "invalid change counter %lld",
                 (long long)since_seq);
        return NULL;
    }
    return rows_start(st, ca, -1, since_seq, now, err);
}

long crl_rows_next(struct crl_rows *r, const struct crl_entry_rec **batch, struct jerr *err)
{
    pthread_mutex_lock(&r->lock);
    if (r->holding) { /* give the previous batch back */
        r->batches[r->take].full = false;
        r->take = (r->take + 1) % CRL_ROWS_BATCHES;
        r->holding = false;
        pthread_cond_broadcast(&r->changed);
    }
    while (!r->batches[r->take].full && !r->done)
        pthread_cond_wait(&r->changed, &r->lock);
    long n = 0;
    if (r->batches[r->take].full) {
        r->holding = true;
        *batch = r->batches[r->take].rows;
        n = r->batches[r->take].count;
    } else if (r->result == -1) { /* done, nothing left: report the reader's error */
        *err = r->err;
        n = -1;
    }
    pthread_mutex_unlock(&r->lock);
    return n;
}

void crl_rows_finish(struct crl_rows *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->changed);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
