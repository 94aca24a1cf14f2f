/*
 * operators: the management of operator credentials under /v1/operators (docs/API.md,
 * "Operator credentials"; issue 11 §2) — the list, disabling one and rotating one's token. The
 * creation (POST /v1/operators) stays in ops.c.
 *
 * Operators live in three places (auth.h): the configuration file (listed, never changed
 * here: the file is the administrator's), the first administrator token of jpkid init
 * (registry setting admin_token_sha256, name "admin") and the registry's operators table. A
 * rotated token is shown once, in the answer; only its SHA-256 is kept. A disabled first
 * administrator token is stored as "disabled" in place of its digest, which no token matches.
 * Every call is audited by the api frame (the target is the operator's name).
 */
#ifndef JPKI_OPERATORS_H
#define JPKI_OPERATORS_H

#include "base/jerr.h"
#include "responder/api/api.h"

/* What admin_token_sha256 holds once the first administrator token is disabled. */
#define OPERATORS_ADMIN_DISABLED "disabled"

/* Adds GET /v1/operators, POST /v1/operators/{id}/disable and /rotate. Returns 0 or -1. */
int operators_add_endpoints(struct api *api, struct jerr *err);

#endif
