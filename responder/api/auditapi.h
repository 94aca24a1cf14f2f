/*
 * auditapi: what auditors read of the audit log (docs/API.md "Audit"; issue 11 §2) —
 * GET /v1/audit?after=SEQ&limit=N, the rows with their stored hashes, and
 * GET /v1/audit/checkpoint, the newest signed checkpoint with the audit public key, so that a
 * client (jpkictl audit verify) recomputes the chain and checks the signature itself. Roles
 * admin and auditor. The rows carry ids and codes only (api.h), never personal data.
 */
#ifndef JPKI_AUDITAPI_H
#define JPKI_AUDITAPI_H

#include "base/jerr.h"
#include "base/limits.h"
#include "responder/api/api.h"

#define AUDITAPI_LIMIT_DEFAULT 100
#define AUDITAPI_LIMIT_MAX JPKI_AUDIT_PAGE_MAX

/* Adds the two endpoints. Returns 0 or -1. */
int auditapi_add_endpoints(struct api *api, struct jerr *err);

#endif
