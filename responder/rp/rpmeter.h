/*
 * rpmeter: the usage of registered relying parties (DESIGN §12) — every OCSP answer and CRL
 * download given to a party, counted per party, CA and day and per distinct certificate a
 * month (ca/rp.h: rp_usage_record, in the registry), and written to the per-query audit
 * (ca/statusq.h), with a per-party counter for /metrics.
 *
 * CONCURRENCY: each loop appends its events to its own buffer (a mutex only the flush also
 * takes, once per interval: uncontended on the hot path; no allocation but the buffer's
 * doubling). rpmeter_flush, on a worker every RPMETER_FLUSH_MS (service.c's timer) and once
 * at shutdown, takes every loop's buffer, adds them up and writes them in one registry
 * transaction and one audit transaction. A kill -9 loses at most the events of the last
 * RPMETER_FLUSH_MS (and of a flush in progress); a clean stop loses none.
 */
#ifndef JPKI_RPMETER_H
#define JPKI_RPMETER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/jerr.h"
#include "ca/store.h"
#include "responder/rp/rpgate.h"

#define RPMETER_FLUSH_MS 1000
/* Events a loop holds at most between flushes (beyond, they are counted as dropped). */
#define RPMETER_LOOP_MAX_EVENTS (1u << 20)

/* The answer a party got (the audit's status column). */
enum rpmeter_status {
    RPMETER_GOOD = 0,
    RPMETER_REVOKED,
    RPMETER_UNKNOWN,
    RPMETER_UNAUTHORIZED,
    RPMETER_MALFORMED,
    RPMETER_TRY_LATER,
    RPMETER_INTERNAL_ERROR,
    RPMETER_CRL, /* a CRL sent */
    RPMETER_STATUSES
};

struct rpmeter;

/* One metered answer: what a loop records, and what a responder sends to the CA node. */
struct rpmeter_event {
    int64_t at; /* seconds since the epoch */
    int64_t pk; /* the party's registry key (the CA node's own, looked up again by id) */
    char id[JPKI_ID_MAX + 1];
    char serial[JPKI_SERIAL_HEX_MAX + 1]; /* "" for a CRL */
    int8_t ca;
    uint8_t what;   /* enum rp_what */
    uint8_t status; /* enum rpmeter_status */
};

/* A meter for `loops` loops writing the audit under `audit_dir` (NULL: none — jpkid respond,
 * whose flush sends the events to the CA node instead). NULL with err. */
struct rpmeter *rpmeter_new(int loops, const char *audit_dir, struct jerr *err);
void rpmeter_free(struct rpmeter *m); /* NULL is a no-op; unflushed events are lost */

/* One answer to party `who` (nothing when who->pk is 0) on loop `loop`: CA `ca`, the serial
 * asked about ("" or NULL for a CRL), what it was. Counted as a billed call when the answer is
 * a certificate status or a CRL; the audit takes every answer. From the loop's thread. */
void rpmeter_record(struct rpmeter *m, int loop, const struct rpgate_who *who, int ca,
                    enum rp_what what, const char *serial, enum rpmeter_status status);

/* True when some loop holds events. Thread-safe. */
bool rpmeter_is_pending(struct rpmeter *m);

/* Writes what the loops hold to `st` and the audit. On a worker; one flush at a time (the
 * caller's). Returns 0, or -1 with err (the events of a failed write are lost, and counted on
 * /metrics as such). */
int rpmeter_flush(struct rpmeter *m, struct store *st, struct jerr *err);

/* THE SEAM of a flush: where the events go. jpkid serve writes them (rpmeter_write);
 * jpkid respond sends them to Redis (responder/respond/rpview.h). -1 with err: lost. */
typedef int rpmeter_sink_fn(void *arg, const struct rpmeter_event *ev, size_t n,
                            struct jerr *err);
/* Takes what the loops hold and hands it to sink (nothing when there is none). One flush at a
 * time (the caller's). Returns the sink's result. */
int rpmeter_flush_to(struct rpmeter *m, rpmeter_sink_fn *sink, void *arg, struct jerr *err);

/* The writer: counts ev[0..n) per party, CA and day and per distinct certificate a month into
 * `st` (rp_usage_record) and appends each to the audit. With `mark` (the Redis stream id of
 * the responder's flush being folded, responder/publish/rppub.h) each write is skipped where
 * that mark is in already, and keeps it: folded twice, nothing is written twice. Thread-safe
 * (one write at a time). Returns 0 or -1 with err. */
int rpmeter_write(struct rpmeter *m, struct store *st, const struct rpmeter_event *ev, size_t n,
                  const char *mark, struct jerr *err);

/* The events as text for Redis, one line each: "AT ID CA WHAT STATUS SERIAL" ("-" for no
 * serial); a malloc'd text of *len bytes, or NULL. */
char *rpmeter_events_encode(const struct rpmeter_event *ev, size_t n, size_t *len);
/* The reverse, each line checked (id, serial, CA, what, status in range; pk 0). *ev is
 * malloc'd (NULL for none). Returns 0, or -1 with err (JERR_INVALID) at the first bad line. */
int rpmeter_events_decode(const char *text, size_t len, struct rpmeter_event **ev, size_t *n,
                          struct jerr *err);

/* The per-party families for /metrics (metrics_set_section): jpki_rp_answers_total{party,what}
 * of what was flushed so far, and jpki_rp_meter_lost_total. A malloc'd text, or NULL. */
char *rpmeter_metrics_text(void *m);

#endif
