/*
 * crlduty: the service's CRL publication (DESIGN §5), moved out of service.c — the timers that
 * crlsched.h's state machine arms, and the publications they start. At start it publishes
 * what is missing or stale, every crl.period_s all CRLs, and soon after a status change or a
 * failed publication as crlsched says; each publication also publishes the delta CRLs (RFC
 * 5280 §5.2.4), which have their own timer besides (crl.delta_period_s; a failed delta is
 * logged and made again by the next tick). Publications run on a worker (signing never runs on a
 * loop); their outcome goes to the monitor (/readyz), the metrics and the log, and the public
 * endpoints serve the new files and bound their max-age by the next publication.
 */
#ifndef JPKI_CRLDUTY_H
#define JPKI_CRLDUTY_H

#include <event2/event.h>

#include "ca/pki.h"
#include "base/jerr.h"
#include "config/config.h"
#include "responder/crl/public.h"
#include "responder/monitor/monitor.h"
#include "responder/net/workers.h"

struct crlduty;

/* The duty over `pki`'s CRLs, announcing to `pub` and `monitor` (all borrowed, outliving it).
 * Nothing is scheduled yet: status changes before crlduty_start are found by its first
 * publication (whatever is stale). Returns NULL with err filled. */
struct crlduty *crlduty_new(const struct jpki_config *cfg, struct pki *pki, struct public *pub,
                            struct monitor *monitor, struct jerr *err);

/* Schedules on `control` (jobs through `work`): the first publication at once, then the
 * periodic one. From the control loop's thread, before it runs. Returns 0 or -1 with err. */
int crlduty_start(struct crlduty *cd, struct event_base *control, struct workers_loop *work,
                  struct jerr *err);

/* A status listener (ocsp_http_set_status_listener; `arg` is the duty): a revocation, hold or
 * release, from any thread — the CRLs are published within crl.after_change_s. */
void crlduty_status_changed(void *arg);

/* No more publications (the stop has begun); one running finishes. NULL is a no-op. */
void crlduty_stop(struct crlduty *cd);

/* After workers_detach of the work loop (a publication's completion may be due until then),
 * before the control loop's event_base_free. NULL is a no-op. */
void crlduty_free(struct crlduty *cd);

#endif
