/*
 * auditduty: the service's signed checkpoints of the audit log (ca/checkpoint.h, DESIGN §7).
 * At start and every audit.checkpoint_s, on a worker (signing never runs on a loop), it signs
 * the log's head when rows were added since the newest checkpoint; at shutdown, once the
 * workers have finished every call (so no row can follow it), it signs the final one.
 */
#ifndef JPKI_AUDITDUTY_H
#define JPKI_AUDITDUTY_H

#include <event2/event.h>

#include "ca/pki.h"
#include "base/jerr.h"
#include "responder/net/workers.h"

struct auditduty;

/* Schedules the checkpoints on `control` (jobs through `work`). pki must hold the audit key
 * (PKI_KEYS_ALL). Returns NULL with err filled. */
struct auditduty *auditduty_new(struct pki *pki, struct event_base *control,
                                struct workers_loop *work, struct jerr *err);
/* No more periodic checkpoints (the stop has begun). NULL is a no-op. */
void auditduty_stop(struct auditduty *ad);
/* The final checkpoint, on the calling thread (after workers_shutdown): a registry connection
 * of its own. Returns 0 or -1. */
int auditduty_final(const struct pki *pki, struct jerr *err);
/* After workers_detach (a checkpoint job's completion may be due until then). NULL no-op. */
void auditduty_free(struct auditduty *ad);

#endif
