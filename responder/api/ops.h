/*
 * ops: the operator endpoints of /v1 (docs/API.md) — persons, cards, issuance, hold, release,
 * revocation, card return, death, the lookups with status history and the expiring list
 * (operator credentials are operators.h's).
 *
 * Each endpoint is a row of the api table (api.h) and a run function on a worker: it reads
 * the request through recjson.h (the one JSON <-> record mapping), carries the event out
 * through lifecycle.h (one registry transaction, audit row included) and answers with
 * recjson's writers. No SQL and no HTTP here. Answers carry personal data: nothing of them is
 * logged.
 */
#ifndef JPKI_OPS_H
#define JPKI_OPS_H

#include "base/jerr.h"
#include "responder/api/api.h"

/* The notice of a release that leaves a signing certificate on hold (RULE guide 4(4)). */
#define OPS_RELEASE_NOTICE                                                                         \
    "Only the authentication certificate can be released from hold. The signing certificate "      \
    "stays on hold: revoke it (POST /v1/certificates/{serial}/revoke) and issue a new signing "    \
    "certificate (POST /v1/cards/{id}/issue)."
#define OPS_RELEASE_NOTICE_NONE "No signing certificate of this card was on hold."

/* The expiring list: the window and the page size. */
#define OPS_EXPIRING_DAYS_MAX 3650
#define OPS_EXPIRING_LIMIT_DEFAULT 100
#define OPS_EXPIRING_LIMIT_MAX 1000

/* Adds every endpoint of this module to `api`. Returns 0 or -1. */
int ops_add_endpoints(struct api *api, struct jerr *err);

#endif
