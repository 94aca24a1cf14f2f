/*
 * ocsp_refresh: the refresher of the pre-signed OCSP responses (DESIGN §5) — finds the
 * certificates whose responses are missing, stale (a status change marked them, in this
 * process or in another one writing the same registry) or about to age, and has them
 * re-signed (ocsp_answer_presign), on a worker, one bounded chunk at a time.
 *
 * Timing. A timer on the owner's event loop (the service's control loop) fires every
 * OCSP_REFRESH_POLL_MS; ocsp_refresh_kick fires it at once, from any thread, after an
 * in-process status change. Each firing runs one job on the worker pool (never two at once):
 *   - the urgent pass: store_ocsp_foreach_due(refresh_by = now) — stale or missing SHA-1
 *     responses, responses past their nextUpdate — OCSP_ANSWER_PRESIGN_MAX serials at most;
 *   - when that pass has nothing left, the refresh-ahead pass every OCSP_REFRESH_AHEAD_S:
 *     responses with less than ocsp_refresh_before_s left, in chunks as well.
 * A full chunk means more is waiting: the next job follows at once instead of at the next
 * tick. So at start what is missing is pre-signed in the background chunk after chunk,
 * leaving the other workers to requests (a miss meanwhile is signed on demand), and a status
 * change is re-signed within one poll period plus the signing.
 *
 * The urgent pass walks the due set in serial order with a cursor; while a backlog (the start
 * of a large instance) is being worked through, a change behind the cursor waits until the
 * cursor wraps around — ocsp_answer_forget (via ocsp_http_cert_changed) covers in-process
 * changes in that case.
 *
 * Cost. store_ocsp_foreach_due reads every unexpired certificate (about 0.4 s per pass at
 * 100,000 certificates on the development machine): after each periodic job the timer rests
 * as long as that job took, so that polling never holds more than half of one worker, and the
 * second for changes made by another process stretches on a large registry. Changes made in
 * this process do not depend on it (ocsp_http_cert_changed drops the cached answers at once).
 */
#ifndef JPKI_OCSP_REFRESH_H
#define JPKI_OCSP_REFRESH_H

#include "config/config.h"
#include "config/jerr.h"
#include "responder/ocsp_answer.h"
#include "responder/workers.h"

struct event_base;

/* Period of the urgent pass (DESIGN §8: a status change answered within 1 s). */
#define OCSP_REFRESH_POLL_MS 200
/* Period of the refresh-ahead pass. */
#define OCSP_REFRESH_AHEAD_S 10
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

/* Runs a pass now (or right after the one running). Thread-safe; a no-op before the start. */
void ocsp_refresh_kick(struct ocsp_refresh *r);

/* Frees after the pool is shut down and `loop` detached (no job of it left), before
 * event_base_free(base). NULL is a no-op. */
void ocsp_refresh_free(struct ocsp_refresh *r);

#endif
