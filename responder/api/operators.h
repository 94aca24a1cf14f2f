/*
 * operators: the management of operator credentials under /v1/operators (docs/API.md,
 * "Operator credentials"; issue 11 §2) — the list, creating one, disabling one and rotating
 * one's token. Who an operator is and the registry writes are ca/operator.h's; this file reads
 * the request, makes the new token (auth.h) and shows it once, in the answer.
 * Every call is audited by the api frame (the target is the operator's name).
 */
#ifndef JPKI_OPERATORS_H
#define JPKI_OPERATORS_H

#include "base/jerr.h"
#include "responder/api/api.h"

/* Adds GET and POST /v1/operators, POST /v1/operators/{id}/disable and /rotate. Returns 0 or
 * -1. */
int operators_add_endpoints(struct api *api, struct jerr *err);

#endif
