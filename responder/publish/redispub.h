/*
 * redispub: the CA node's publisher to Redis (DESIGN §13; the keys: docs/ARCHITECTURE.md
 * "Redis keys") — copies every pre-signed OCSP response, the issued serials, the CA roots and
 * every file under /ca/ and /crl/ to Redis, so that stateless responders (`jpkid respond`)
 * answer what this node decides.
 *
 * ONE THREAD OF ITS OWN, blocking hiredis. Its work is registry reads plus Redis writes, both
 * blocking; on its own thread neither an event loop nor a worker ever waits for Redis, and a
 * Redis that hangs costs nothing but this thread (every command has a timeout). The libevent
 * async adapter of hiredis would put the Redis side on a loop, but the registry reads would
 * still need a worker per batch: two hand-overs per batch for nothing.
 *
 * THE QUEUE IS THE REGISTRY'S. Whoever stores a response (the issuance's pre-signing, the
 * refresher after a status change or when a response ages, the miss path) queues its serial
 * in the same transaction (ca/store.h "Publication"); the publisher reads the queue oldest
 * first, writes the serial's current responses and issued-set entries in one pipeline, and
 * clears the entries only after Redis acknowledged them. A Redis outage, a crash or a restart
 * of either side loses nothing: the entries wait in the registry. A Redis found without the
 * node's `P meta` field `seeded` (new, flushed, or restarted without persistence) is seeded
 * again from the whole registry (store_pub_seed).
 *
 * Kicks (redispub_kick: a response stored; redispub_files_changed: a CRL published) wake the
 * thread at once; without one it looks every REDISPUB_POLL_MS (another process's writes, CRL
 * files written by `jpkid crl`). While Redis is away it retries every REDISPUB_RETRY_MS.
 */
#ifndef JPKI_REDISPUB_H
#define JPKI_REDISPUB_H

#include <stdbool.h>
#include <stddef.h>

#include "ca/pki.h"
#include "base/jerr.h"
#include "responder/crl/public.h"

/* The thread's look without a kick, and its retry period while Redis is away. */
#define REDISPUB_POLL_MS 1000
#define REDISPUB_RETRY_MS 500
/* Timeout of the connection and of every command. */
#define REDISPUB_TIMEOUT_MS 2000
/* Queue entries per pipeline (each: up to 2 SET + 2 PUBLISH + 2 SADD). */
#define REDISPUB_BATCH 256
/* Extra seconds a response's key outlives its nextUpdate (the contract's TTL). */
#define REDISPUB_TTL_SLACK_S 300
/* Status changes remembered for the end-to-end lag (more are not timed), and for how long. */
#define REDISPUB_NOTES_MAX 4096
#define REDISPUB_NOTE_MAX_AGE_MS 60000

struct redispub;

/* A publisher of `pki`'s instance (publish.redis) and of `files` (the public endpoints; both
 * borrowed and outliving it). Parses the URL and reads the password: a bad one is refused
 * here, at start (JERR_CONFIG naming the key). Returns NULL with err filled. */
struct redispub *redispub_new(const struct pki *pki, struct public *files, struct jerr *err);

/* The checks of redispub_new that need no instance (the URL, the password): for `serve` to
 * refuse a configuration before it unlocks any key. 0 also when publish.redis is unset. */
int redispub_check_config(const struct jpki_config *cfg, struct jerr *err);

/* The meter whose writer folds the responders' usage into the registry and the status-query
 * audit (responder/rp/rpmeter.h, rppub.h); before redispub_start. */
struct rpmeter;
void redispub_set_meter(struct redispub *p, struct rpmeter *meter);

/* Starts the thread. Returns 0 or -1. */
int redispub_start(struct redispub *p, struct jerr *err);

/* Responses were stored: publish now. Thread-safe; `arg` is the struct redispub *. */
void redispub_kick(void *arg);
/* The relying parties changed (rpapi.h's listener): their view now (rppub.h). Thread-safe. */
void redispub_parties_changed(void *arg);
/* New CRL files were written: publish them now. Thread-safe; `arg` as above. */
void redispub_files_changed(void *arg);
/* The status of `serial` changed now (an API call): its way to Redis is timed. Thread-safe. */
void redispub_note_change(struct redispub *p, const char *serial);

/* Whether Redis has been reachable and took the last writes: true, or false with the reason
 * in why (for /readyz "redis"). Thread-safe. */
bool redispub_is_ready(struct redispub *p, char *why, size_t why_size);

/* Stops the thread (the queue stays in the registry) and frees. NULL is a no-op. */
void redispub_free(struct redispub *p);

#endif
