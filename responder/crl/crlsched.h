/*
 * crlsched: when the service publishes its CRLs (DESIGN §5) — a pure state machine over wall
 * times, without timers or I/O, so that the rules are tested with exact numbers. The service
 * (service.c) owns one, feeds it the events and arms its two libevent timers as told:
 *
 *   - periodic: every crl.period_s, as always;
 *   - soon: a publication after a status change, armed so that it is served within
 *     crl.after_change_s (issue 11 §4): that long after the change less the time the last
 *     publication took (rounded up to whole seconds; 1 s until one was measured). Coalesced:
 *     the first change arms it, and a change within the window joins that publication — a
 *     soon publication is only ever moved earlier, never later, so a stream of changes cannot
 *     postpone it without end;
 *   - retry: after a failed publication (a full or read-only disk), again in
 *     CRLSCHED_RETRY_MIN_S, doubling up to CRLSCHED_RETRY_MAX_S, until one succeeds (so that
 *     /readyz, which fails meanwhile, recovers soon after the disk does). It uses the soon
 *     timer under the same never-later rule.
 *
 * The next publication (periodic or soon, whichever is first) bounds how long a cache may
 * keep the CRL served now (crlsched_max_age, RFC 9111 §5.2.2.1).
 */
#ifndef JPKI_CRLSCHED_H
#define JPKI_CRLSCHED_H

#include <stdbool.h>
#include <time.h>

/* Retry delays after failed publications (see above). */
#define CRLSCHED_RETRY_MIN_S 5
#define CRLSCHED_RETRY_MAX_S 300

struct crlsched {
    int period_s;       /* crl.period_s */
    int after_change_s; /* crl.after_change_s, 0 = no publication after a change */
    time_t periodic_at; /* the next periodic publication */
    time_t soon_at;     /* the soon publication armed, 0 = none */
    int retry_s;        /* the last retry delay, 0 = the last publication succeeded */
    int publish_s;      /* how long the last publication took: whole seconds rounded up, >= 1 */
};

/* A schedule started at `now`: the first periodic publication at now + period_s. */
void crlsched_init(struct crlsched *s, int period_s, int after_change_s, time_t now);

/* A status change at `now`. Returns the delay in seconds to (re)arm the soon timer with
 * (after_change_s - publish_s, at least 0), or -1 when nothing is to be done (after_change_s
 * is 0, or a soon publication is armed no later: the change joins it). */
long crlsched_changed(struct crlsched *s, time_t now);

/* The periodic timer fired at `now`. */
void crlsched_periodic_fired(struct crlsched *s, time_t now);

/* The soon timer fired. */
void crlsched_soon_fired(struct crlsched *s);

/* A publication ended at `now`, `ok` or failed, after `took_ms`. After a failure returns the
 * delay to (re)arm the soon timer with for a retry (-1: one is armed earlier already); after a
 * success -1. */
long crlsched_published(struct crlsched *s, bool ok, time_t now, long long took_ms);

/* The next publication: the periodic one or the soon one, whichever comes first. */
time_t crlsched_next(const struct crlsched *s);

/* Seconds a cache may keep a CRL (max-age): until `next_publication` and until the CRL's
 * `next_update` (either 0 = unknown), at most `cap_s`; never negative. */
long crlsched_max_age(time_t next_publication, time_t next_update, long cap_s, time_t now);

#endif
