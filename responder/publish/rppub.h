/*
 * rppub: the relying parties' part of the CA node's publisher (DESIGN §12 + §13; the keys:
 * docs/ARCHITECTURE.md "Redis keys") — on redispub's thread and connection:
 *
 *  - the access view: every party's id, kind, state and credentials as the gate needs them
 *    (rp_access_format: the SHA-256 of its token, never the token; its certificate's serial
 *    under the relying-party CA) in P rp:parties, the relying-party CA's certificate and CRL in
 *    P rp:ca, and their digest in P rp:meta; written whole (MULTI/EXEC) whenever the registry's
 *    view differs from the digest this Redis holds, then PUBLISHed on P changes. The registry
 *    is the queue: a change the API made (and kicked, rpduty_set_changed_listener) goes out at
 *    the next round; one made while Redis was away, at the first round after it returns.
 *  - the responders' usage (P rp:usage, a stream of rpmeter events): folded into the registry's
 *    usage and the status-query audit through the meter's own writer (rpmeter_write), each
 *    entry once (its stream id is the mark, kept with the rows it wrote), then trimmed.
 */
#ifndef JPKI_RPPUB_H
#define JPKI_RPPUB_H

#include <hiredis/hiredis.h>

#include "base/jerr.h"
#include "ca/pki.h"
#include "ca/store.h"

struct rppub;
struct rpmeter;

/* For `pki` (borrowed) under key prefix `prefix` (copied). NULL with err. */
struct rppub *rppub_new(const struct pki *pki, const char *prefix, struct jerr *err);
void rppub_free(struct rppub *r); /* NULL is a no-op */

/* The meter whose writer folds the responders' usage (NULL: not folded). Before the thread
 * starts. */
void rppub_set_meter(struct rppub *r, struct rpmeter *meter);

/* A new connection: compare with what that Redis holds again. */
void rppub_reset(struct rppub *r);

/* Writes the view when it changed. Returns 0, or -1 with err when the connection failed or
 * Redis refused (the caller drops the connection). */
int rppub_publish_view(struct rppub *r, redisContext *rc, struct store *st, struct jerr *err);

/* Folds what the responders sent since the last round. Returns 0, or -1 with err (connection:
 * the caller drops it; a registry failure: the entries are read again next round). */
int rppub_fold_usage(struct rppub *r, redisContext *rc, struct store *st, struct jerr *err);

#endif
