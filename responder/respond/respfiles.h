/*
 * respfiles: /crl/… and /ca/… of jpkid respond, from the hashes P file:URLPATH a CA node
 * publishes (docs/ARCHITECTURE.md "Redis keys": body, etag, type, last_modified, expires).
 *
 * A file is kept in memory once read (an immutable, reference-counted copy, swapped whole) and
 * answered on the loop with serve's caching headers (http.h): the published ETag and
 * Last-Modified, 304 on If-None-Match / If-Modified-Since, "Cache-Control: public, max-age=N,
 * stale-if-error=S" with N at most http.crl_max_age_s (PUBLIC_ROOT_MAX_AGE_S for /ca/) and never
 * past `expires`. A miss is read on a worker. A value is served only when its fields are all
 * there and in bounds, its type is one we publish, and a CRL or certificate parses whole
 * (else counted, redissrc.h). Nothing is served past its `expires`. Redis unreachable: what is
 * in memory is served, a miss is 503 with Retry-After.
 */
#ifndef JPKI_RESPFILES_H
#define JPKI_RESPFILES_H

#include "config/config.h"
#include "base/jerr.h"
#include "responder/net/server.h"
#include "responder/respond/redissrc.h"

/* Longest URL path of a published file. */
#define RESPFILES_PATH_MAX 256

struct respfiles;

struct respfiles *respfiles_new(const struct jpki_config *cfg, struct redissrc *src,
                                struct jerr *err);
int respfiles_register(struct respfiles *f, struct server *srv, struct jerr *err);
/* access.crl (registered) through `gate`, and the CRLs sent to parties counted by `meter`
 * (rpview.h; both borrowed). Before the server starts. */
struct rpgate;
struct rpmeter;
void respfiles_set_relying_parties(struct respfiles *f, struct rpgate *gate,
                                   struct rpmeter *meter);
/* `key` (full name) changed: dropped from memory (NULL: everything). Thread-safe. */
void respfiles_changed(struct respfiles *f, const char *key);
/* After server_free. NULL is a no-op. */
void respfiles_free(struct respfiles *f);

#endif
