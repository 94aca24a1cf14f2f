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

/* A meter for `loops` loops writing the audit under `audit_dir`. NULL with err. */
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

/* The per-party families for /metrics (metrics_set_section): jpki_rp_answers_total{party,what}
 * of what was flushed so far, and jpki_rp_meter_lost_total. A malloc'd text, or NULL. */
char *rpmeter_metrics_text(void *m);

#endif
