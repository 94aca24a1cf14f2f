/*
 * batchrun: runs the batches of `jpkid serve` in the background (DESIGN §6) — one row per
 * worker job (batch_exec_step), so that the service keeps answering OCSP and the API while a
 * batch of 100 000 rows goes through.
 *
 * DESIGN
 * - Bounded: at most BATCHRUN_MAX_JOBS(workers) batch jobs at once over all batches — one
 *   worker less than the pool has (at least one), so a worker is always free for OCSP. After
 *   each row the job ends and the next is queued behind whatever came meanwhile: batches yield
 *   to requests between rows.
 * - Parallel within a batch (DESIGN §8: issuance with key generation at the machine's
 *   all-core key generation rate): all those jobs may work on one batch, each on the row it
 *   claimed (batch_exec.h), so that a single large batch keeps workers - 1 busy. Rows
 *   finish in about their order, not exactly in it. When a job finds every pending row
 *   claimed (WAITING), that batch gets no new job until one of its jobs ends.
 * - Fair: batches take turns (round robin), one new job per batch per turn.
 * - The set of running batches is the runner's own (a mutex, since submissions arrive on
 *   workers); every job's completion runs on the control loop that batchrun_start was given,
 *   and schedules the next. A once-a-second tick on that loop retries what could not be queued
 *   (queue full) or hit a busy registry.
 * - Restart: at start a job reads the batches still running from the registry, gives back the
 *   claims their rows still carry (a process that stopped, kill -9 included, left them), and
 *   resumes them; no job runs before that. Exactly-once is the registry's business
 *   (batch_exec.h), so a batch interrupted by a crash goes on where it stopped.
 * - Stop: batchrun_stop before the worker pool shuts down; no job is queued after it. A job
 *   running then finishes its row; rows left pending are resumed at the next start.
 *
 * Lifecycle: batchrun_new → (batch_api endpoints, kicks) → batchrun_start → … → batchrun_stop
 * → workers_shutdown / workers_detach → batchrun_free (before the control loop's event_base is
 * freed).
 */
#ifndef JPKI_BATCHRUN_H
#define JPKI_BATCHRUN_H

#include <stdbool.h>
#include <stdint.h>

#include "ca/pki.h"
#include "base/jerr.h"
#include "responder/net/workers.h"

struct event_base;
struct ocsp_http;
struct batchrun;

/* Batch jobs in flight at most, for a pool of `threads` workers: threads - 1, at least 1. */
#define BATCHRUN_MAX_JOBS(threads) ((threads) > 1 ? (threads)-1 : 1)
/* Seconds before a batch whose row hit a busy registry (or could not be queued) is tried
 * again; also the period of the tick. */
#define BATCHRUN_RETRY_S 1

/* A runner for the batches of `pki` on `workers` (both borrowed; they outlive it). Nothing runs
 * before batchrun_start. Returns NULL with err filled. */
struct batchrun *batchrun_new(struct pki *pki, struct workers *workers, struct jerr *err);

/* Tells the runner, after a status change it caused (a supersede), which certificates changed
 * (ocsp_http_cert_changed). Optional; `ocsp` (borrowed) outlives the runner. Before start. */
void batchrun_set_ocsp(struct batchrun *br, struct ocsp_http *ocsp);

/* Starts running on `base`'s thread (the control loop; `loop` is its attachment to the pool):
 * resumes the batches the registry has as running. From that loop's thread, before it runs. */
int batchrun_start(struct batchrun *br, struct event_base *base, struct workers_loop *loop,
                   struct jerr *err);

/* A batch was recorded (committed) and should run. Thread-safe (called from workers); before
 * start the batch waits for it. */
void batchrun_kick(struct batchrun *br, int64_t batch_id);

/* Queues no job from now on. Thread-safe, idempotent. */
void batchrun_stop(struct batchrun *br);

/* Batch jobs in flight now (for tests). Thread-safe. */
int batchrun_inflight(struct batchrun *br);
/* Batches the runner has not seen finish yet (for tests). Thread-safe. */
int batchrun_active(struct batchrun *br);

/* Frees the runner: after batchrun_stop, once no job of it is queued or running (after
 * workers_shutdown and the control loop's workers_detach). NULL is a no-op. */
void batchrun_free(struct batchrun *br);

#endif
