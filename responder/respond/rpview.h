/*
 * rpview: the registered relying parties on jpkid respond (DESIGN §12 on §13) — serve's gate
 * (responder/rp/rpgate.h) over the CA node's copy of the registry's access view in Redis
 * (P rp:parties, P rp:ca, P rp:meta; docs/ARCHITECTURE.md "Redis keys"), and serve's meter
 * (rpmeter.h) whose flush goes to the CA node through Redis (P rp:usage) instead of a registry.
 *
 * THE VIEW. Loaded whole (one MULTI: the parties and the digest that proves the CA node
 * published them) after each (re)connection of the subscriber, at each notice of P rp:parties,
 * and, after a failed load, again each second. It is trusted while the subscriber holds its
 * connection (every change is PUBLISHed), and RPVIEW_GRACE_MS after it lost it; beyond, and
 * before the first load, or while respond.relying_party_ca differs from the CA node's, the
 * gate answers RPGATE_STALE: fail closed — OCSP `unauthorized`, CRLs 403 — for every party
 * (an authorisation list that cannot be proved current does not authorise;
 * docs/OPERATIONS.md). The TLS handshake refuses a relying-party certificate the view does
 * not name (a deleted party), as on serve.
 *
 * THE USAGE. Each answer to a party is recorded by the loops as on serve; every
 * RPMETER_FLUSH_MS a worker sends the events to Redis (XADD P rp:usage, RPVIEW_CHUNK events an
 * entry) and the CA node folds them into its registry and status-query audit, each entry once
 * (responder/publish/rppub.h). A kill -9 loses the events of the last interval; a flush that
 * finds Redis unreachable loses its events (counted, jpki_rp_meter_lost_total) — bounded, as
 * no party is answered RPVIEW_GRACE_MS after Redis went away.
 */
#ifndef JPKI_RPVIEW_H
#define JPKI_RPVIEW_H

#include <stdbool.h>

#include "base/jerr.h"
#include "config/config.h"
#include "responder/net/server.h"
#include "responder/net/workers.h"
#include "responder/ocsp/ocsp_http.h"
#include "responder/redis/redisconn.h"
#include "responder/respond/redissrc.h"
#include "responder/rp/rpgate.h"
#include "responder/rp/rpmeter.h"

/* How long the view is trusted after the subscriber lost Redis (the 1 s of DESIGN §12's
 * "a suspended party is refused within a second"). */
#define RPVIEW_GRACE_MS 1000
/* Events per stream entry, and the stream's cap (entries; the CA node deletes what it folds). */
#define RPVIEW_CHUNK 4096
#define RPVIEW_STREAM_MAX 100000

struct rpview;
struct event_base;

/* The view for `cfg` (respond.relying_party_ca read here: a file that is no certificate is
 * refused) over `src` and `rcfg` (borrowed). Empty and stale until the first load. */
struct rpview *rpview_new(const struct jpki_config *cfg, const struct redisconn_cfg *rcfg,
                          struct redissrc *src, struct jerr *err);
void rpview_free(struct rpview *v); /* after the server and workers stopped; NULL is a no-op */

struct rpgate *rpview_gate(struct rpview *v);
/* The TLS options: the relying-party CA's client certificates requested, unknown ones refused. */
void rpview_server_options(struct rpview *v, struct server_options *opt);
/* Makes room for the server's loops and creates the meter. Returns 0 or -1. */
int rpview_attach(struct rpview *v, struct server *srv, struct jerr *err);
struct rpmeter *rpview_meter(struct rpview *v);

/* The subscriber's notice (redissub.h): NULL (a new connection) or P rp:parties loads the view.
 * On the subscriber's thread. */
void rpview_changed(struct rpview *v, const char *key);

/* Loads the view from Redis now on connection `c` (tests; rpview_changed uses its own).
 * Returns 0 or -1 with err (the old view stays, and is stale). */
int rpview_load(struct rpview *v, redisContext *c, struct jerr *err);
/* Whether the gate trusts the view now (and why not, for /readyz). */
bool rpview_is_fresh(struct rpview *v, char *why, size_t why_size);

/* Starts the timer (control loop): the flush, and a load that failed tried again. 0 or -1. */
int rpview_start(struct rpview *v, struct event_base *control, struct workers_loop *work,
                 struct jerr *err);
/* After the workers stopped: the last flush, on a connection of its own. */
void rpview_final(struct rpview *v);

#endif
