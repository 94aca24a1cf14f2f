/*
 * redissub: jpkid respond's subscription to the CA node's change notices (channel P changes,
 * docs/ARCHITECTURE.md "Redis keys"), on a thread of its own with a blocking hiredis
 * connection (the subscription is the only thing it does, so it needs no event loop).
 *
 * At each (re)connection (through Sentinel when configured: a failover is followed here) it
 * reads the CA set (P cas; until the CA node has published one, the responder is not ready and
 * it tries again), subscribes, then tells `changed(arg, NULL)`: nothing cached before can be
 * proved fresh. Each notice is passed on as `changed(arg, key)`; a notice of P cas
 * reloads the CA set first. While it has no connection the responder is "down"
 * (redissrc_set_up: /readyz names redis) and it tries again every REDISSUB_RETRY_MS.
 */
#ifndef JPKI_REDISSUB_H
#define JPKI_REDISSUB_H

#include "base/jerr.h"
#include "responder/redis/redisconn.h"
#include "responder/respond/redissrc.h"

#define REDISSUB_RETRY_MS 200
/* A connection silent this long is PINGed; silent twice, it is lost (so a partition is noticed
 * within 2 × this, not after TCP keepalive: the relying parties' view, rpview.h, relies on it). */
#define REDISSUB_PING_MS 1000

struct redissub;

/* Called on the subscriber thread: must be quick and thread-safe. */
typedef void redissub_changed_fn(void *arg, const char *key);

/* Starts the thread. `cfg` and `src` are borrowed. Returns NULL with err filled. */
struct redissub *redissub_start(const struct redisconn_cfg *cfg, struct redissrc *src,
                                redissub_changed_fn *changed, void *arg, struct jerr *err);
/* Stops the thread (its blocking read is cut short), joins it and frees. NULL is a no-op. */
void redissub_stop(struct redissub *sub);

#endif
