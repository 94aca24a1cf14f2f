/*
 * rpapi: the relying-party registry under /v1/relying-parties and the status-query audit under
 * /v1/audit/status-queries (docs/API.md "Relying parties"; DESIGN §12). Registering a party
 * makes its bearer token (auth.h; shown once, stored as its SHA-256) and has ca/rp.h issue its
 * client certificate; every change reloads the gate (rpgate.h), so that the loops see it at
 * their next request. Every call is audited by the api frame (target: the party id).
 */
#ifndef JPKI_RPAPI_H
#define JPKI_RPAPI_H

#include "base/jerr.h"
#include "responder/api/api.h"
#include "responder/rp/rpgate.h"

struct rpapi;

/* The endpoints' state: `gate` (borrowed, outlives it) is reloaded after each change;
 * `audit_dir` (copied) is where the status-query audit's monthly files are. NULL on failure. */
struct rpapi *rpapi_new(struct rpgate *gate, const char *audit_dir, struct jerr *err);
void rpapi_free(struct rpapi *r); /* after api_free; NULL is a no-op */

/* fn(arg) after each change of the parties (the gate reloaded): the Redis publisher's kick,
 * so that responders elsewhere see it too (responder/publish/rppub.h). Thread-safe fn. */
void rpapi_set_changed_listener(struct rpapi *r, void (*fn)(void *arg), void *arg);

/* Adds the endpoints. Returns 0 or -1. */
int rpapi_add_endpoints(struct api *api, struct rpapi *r, struct jerr *err);

#endif
