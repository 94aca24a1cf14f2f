/*
 * batch_api: the batch endpoints of /v1 (docs/API.md, docs/BATCH.md) — POST /v1/batches
 * takes a batch file (YAML or JSON), records it and hands it to the runner; GET
 * /v1/batches/{id} answers its progress and its rows, a page at a time.
 *
 * Submission, on a worker: the file is parsed and checked as a whole (batch_parse: a malformed
 * file is 400 and nothing is recorded), then recorded in one transaction with the call's audit
 * row (ca/batch_exec.h, batch_exec_submit): 202 with the problems of the bad rows, which are recorded as failed
 * rows; the same batch key with the same rows again is 200 with the batch as it stands; the
 * same key with other rows is 409 conflict (field "batch"). The format comes from the
 * Content-Type (application/json; application/yaml, application/x-yaml, text/yaml); any other
 * type, or none, is sniffed as batch_parse does (JSON when the first non-blank byte is '{').
 *
 * Answers carry the operators' error texts and ids, never the rows' personal data.
 */
#ifndef JPKI_BATCH_API_H
#define JPKI_BATCH_API_H

#include "ca/batch.h"
#include "base/jerr.h"
#include "responder/api/api.h"
#include "responder/batch/batchrun.h"

/* Rows of one GET /v1/batches/{id} page: the default and the most (?limit=). */
#define BATCH_API_ROWS_DEFAULT 1000
#define BATCH_API_ROWS_MAX 1000

/* Adds POST /v1/batches and GET /v1/batches/{id} to `api`; recorded batches are handed to `br`
 * (borrowed; may be NULL: then they run at the next start). Before api_register. */
int batch_api_add_endpoints(struct api *api, struct batchrun *br, struct jerr *err);

/* The batch format a Content-Type header value names (case-insensitive, parameters allowed);
 * BATCH_AUTO for any other type or NULL. */
enum batch_format batch_api_format(const char *content_type);

#endif
