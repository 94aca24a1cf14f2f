/*
 * ocsp_refresh: the refresher of the pre-signed OCSP responses (DESIGN §5) — has the responses
 * of new certificates and of status changes (made in this process or in another one writing
 * the same registry) signed, and those about to age re-signed (ocsp_answer_presign), on a
 * worker, one bounded chunk at a time.
 *
 * What is due comes from the registry's own bookkeeping (ca/store.h, migration 5), never from
 * a walk over the certificates:
 *   - the marks: store_cert_insert and store_cert_set_status mark the serial in their own
 *     transaction, whoever calls them; store_ocsp_foreach_dirty reads the marks by their key.
 *     A serial done is unmarked in the transaction that stores its responses, unless it was
 *     marked again meanwhile (changed_seq), so a change during the signing is never lost;
 *   - ageing: store_ocsp_foreach_ageing reads the responses by nextUpdate (an index), those
 *     with less than ocsp_refresh_before_s left. An expired certificate's aged responses are
 *     deleted rather than re-signed, so that they do not pile up at the head of that walk.
 * Both cost what the due rows cost, whatever the registry's size (test_store checks the query
 * plans at 200 000 certificates).
 *
 * Timing. A timer on the owner's event loop (the service's control loop) fires every
 * OCSP_REFRESH_POLL_MS; ocsp_refresh_kick fires it at once, from any thread, after an
 * in-process status change. Each firing runs one job on the worker pool (never two at once):
 *   - the marks pass: OCSP_ANSWER_PRESIGN_MAX marks at most, oldest first;
 *   - when that pass has nothing left, the refresh-ahead pass every OCSP_REFRESH_AHEAD_S, in
 *     chunks as well.
 * A full chunk means more is waiting: the next job follows at once instead of at the next
 * tick. A job in which anything failed (a full disk or a registry that refuses writes: the
 * responses were signed and could not be stored) backs off instead — the next one no sooner
 * than the poll period, doubled after each failing job up to OCSP_REFRESH_BACKOFF_MAX_MS —
 * rather than sign the same responses again every period while nothing can be kept. A kick
 * still runs a job at once, and the first job without failure ends the backoff. Each pass walks with a cursor (changed_seq; nextUpdate and serial), so that a serial
 * that fails is retried at the next pass without holding up the others. A change made while a
 * backlog (a large batch, a migrated registry) is worked through gets a newer mark and waits
 * for the backlog ahead of it; in-process changes do not wait (ocsp_http_cert_changed drops
 * the cached answers at once, and the next request is signed from the registry).
 */
#ifndef JPKI_OCSP_REFRESH_H
#define JPKI_OCSP_REFRESH_H

#include "config/config.h"
#include "base/jerr.h"
#include "responder/ocsp/ocsp_answer.h"
#include "responder/net/workers.h"

struct event_base;

/* Period of the marks pass (DESIGN §8: a status change answered within 1 s). A pass that
 * finds nothing costs one indexed read. */
#define OCSP_REFRESH_POLL_MS 200
/* Period of the refresh-ahead pass. */
#define OCSP_REFRESH_AHEAD_S 10
/* The longest wait after failing jobs (see "Timing"). */
#define OCSP_REFRESH_BACKOFF_MAX_MS 30000
/* Errors of the refresher are logged at most once per this many seconds. */
#define OCSP_REFRESH_LOG_EVERY_S 10

struct ocsp_refresh;

/* A refresher of `answer`'s responses under `cfg` (both borrowed, outliving it), polling every
 * `poll_ms` (0 = OCSP_REFRESH_POLL_MS). Returns NULL with err filled. */
struct ocsp_refresh *ocsp_refresh_new(struct ocsp_answer *answer, const struct jpki_config *cfg,
                                      int poll_ms, struct jerr *err);

/* Starts the timer on `base` (thread-enabled, not yet running or on its own thread), whose
 * jobs go to the pool through `loop` (attached to `base`). The first pass runs at once. */
int ocsp_refresh_start(struct ocsp_refresh *r, struct event_base *base, struct workers_loop *loop,
                       struct jerr *err);

/* Jobs run so far, and the current backoff in ms (0 = none). On the owner's loop thread. */
unsigned long ocsp_refresh_jobs(const struct ocsp_refresh *r);
long long ocsp_refresh_backoff_ms(const struct ocsp_refresh *r);

/* Runs a pass now (or right after the one running). Thread-safe; a no-op before the start. */
void ocsp_refresh_kick(struct ocsp_refresh *r);

/* `fn(arg)` is called, on a worker, whenever the marks pass finds marked serials: some status
 * may have changed, in this process or in another one (the CRL publisher listens: a change
 * made by another process reaches it without a poll of its own). Before the start. */
void ocsp_refresh_set_listener(struct ocsp_refresh *r, void (*fn)(void *arg), void *arg);

/* Frees after the pool is shut down and `loop` detached (no job of it left), before
 * event_base_free(base). NULL is a no-op. */
void ocsp_refresh_free(struct ocsp_refresh *r);

#endif
