/*
 * api: the operator JSON API under /v1 (docs/API.md, DESIGN §6) — the frame every endpoint
 * runs in. It owns the route table of /v1, authentication, the role check, the request body,
 * the audit row of every call and the answer; endpoints (ops.h, cardapi.h, holder.h,
 * operators.h, auditapi.h, batch_api.h) are a table row and a run function.
 *
 * One call, in order:
 *   loop:   rate-limit hook → copy what the worker needs (method, path, query, Authorization,
 *           client certificate, body) → server_submit
 *   worker: authenticate (401) → find the endpoint (404, 405 with Allow) → role (403) →
 *           check the {id}/{serial} of the path (400) → body cap (413) and JSON parse (400) →
 *           run → audit row → answer text
 *   loop:   send the answer, count it (metrics_http, endpoint "api")
 * Everything that reads or writes the registry happens on the worker: the loop never blocks.
 *
 * Audit: every call that reaches a worker — accepted or refused — appends one hash-chained
 * row: actor (the operator, or "anonymous"), action ("POST /v1/cards/{id}/hold": the method
 * and the route template, "/v1/{unknown}" for no route), target (the checked id, or "-"),
 * outcome ("ok" 2xx, "refused" 4xx, "error" 5xx) and detail ("status=409 code=refused
 * field=card_id via=token"). Ids and codes only: never names, addresses, birth dates, tokens.
 * A successful event writes its row inside the event's own transaction (api_lifecycle_ctx:
 * the CA engine runs the row as its before_commit hook), so the event and its record are
 * durable together or not at all. Not audited:
 * answers given on the loop because no worker could take the call (503, queue full) and
 * rate-limit refusals (429) — writing a row for those would let a flood fill the log.
 *
 * Adding an endpoint: a struct api_endpoint row (method, template, roles, body kind, success
 * status, run function) given to api_add_endpoint, and the run function: it gets the checked
 * id, the parsed body and the caller, checks the input, calls one CA-engine function with
 * api_lifecycle_ctx (lifecycle.h, ca/operator.h, ca/cardreset.h, ca/batch_exec.h: each opens and
 * commits the transaction itself) or reads the registry, and sets call->answer (api_answer).
 * A run function never opens a transaction (scripts/lint/layering). A module of endpoints adds
 * its rows from api_new, next to ops_add_endpoints.
 *
 * Errors are {"error":{"code","message","field"}} with the status of http_status_for(); for a
 * 5xx other than 503 the message says only "internal error" and the detail is logged.
 */
#ifndef JPKI_API_H
#define JPKI_API_H

#include <stdbool.h>
#include <stddef.h>
#include <event2/http.h>
#include <jansson.h>

#include "ca/lifecycle.h"
#include "ca/pki.h"
#include "ca/store.h"
#include "base/jerr.h"
#include "responder/api/auth.h"
#include "responder/ocsp/ocsp_http.h"
#include "responder/net/server.h"
#include "responder/rp/rpgate.h"
#include "responder/net/workers.h"

/* Endpoints under /v1, at most. */
#define API_MAX_ENDPOINTS 48
/* The `roles` of an endpoint that takes no operator credential: nobody is authenticated and
 * no role is checked; the run function authenticates the caller from the request itself (a
 * card holder's signature, holder.h). Audited as "anonymous", via=none. */
#define API_ROLES_NO_CREDENTIAL (1u << 31)
/* Or'ed into `roles`: registered relying parties (DESIGN §12) may call it too, named by their
 * credential over HTTPS (a client certificate of the relying-party CA or their bearer token,
 * rpgate.h, identified on the request's loop through api_set_relying_parties' gate); the call
 * then has call->party set, and the run function decides what the party's kind may learn. A
 * caller that is no active party is authenticated as an operator against the rest of `roles`
 * (support access, audited like any call); one that is neither is refused 403, naming why
 * (field "party": suspended, or not registered). Audited with the party's id as actor "rp:ID". */
#define API_ROLES_RELYING_PARTY (1u << 30)
/* The audit target when the call names no (valid) id. */
#define API_NO_TARGET "-"

struct api;

/* What a request body is. */
enum api_body {
    API_BODY_NONE = 0, /* none expected (GET): anything sent is ignored */
    API_BODY_JSON,     /* one JSON object (recjson_parse_body) */
    API_BODY_JSON_OPT, /* the same, or an empty body, which counts as {} */
    API_BODY_RAW,      /* the bytes as sent; the endpoint parses them (e.g. a YAML batch) */
};

/* One call as an endpoint's run function sees it, on a worker. */
struct api_call {
    struct pki *pki;
    struct store *st;      /* this worker's registry connection */
    struct worker *worker; /* the worker running the call */
    const struct auth_identity *who;
    const struct rpgate_who *party; /* API_ROLES_RELYING_PARTY: the calling party, else NULL */
    const char *id;           /* the path's {id} or {serial}, decoded and checked ("" when the
                                 template has none); a serial is upper-case hex */
    const char *query;        /* raw query string, NULL when none */
    json_t *body;             /* API_BODY_JSON(_OPT): the object (borrowed) */
    const unsigned char *raw; /* API_BODY_RAW: the bytes and their Content-Type (may be NULL) */
    size_t raw_len;
    const char *content_type;
    void *arg; /* the endpoint's arg */

    /* Set by the run function. */
    int status;       /* preset to the endpoint's success status */
    json_t *answer;   /* the answer object on success (new reference) */
    char target[128]; /* audit target: preset to id (or "-"); a run that creates a
                         record sets the new record's id */

    struct api_job *job; /* api.c's own */
};

/* Runs the endpoint's work on a worker. Returns 0 with call->answer set, or -1 with err
 * (its code chooses the status: invalid 400, not_found 404, refused/conflict 409, ...). */
typedef int api_run_fn(struct api_call *call, struct jerr *err);

struct api_endpoint {
    enum evhttp_cmd_type method;
    /* "/v1/cards/{id}/hold": literal segments and at most one placeholder segment, "{id}"
     * (an id: 1..JPKI_ID_MAX of [A-Za-z0-9._-], error field "id") or "{serial}" (1..
     * JPKI_SERIAL_HEX_MAX hex digits, error field "serial"). The template, with the method,
     * is the audit action: keep "METHOD path" within 47 characters. */
    const char *path;
    unsigned roles; /* OPERATOR_ROLES_* (auth.h) */
    enum api_body body;
    size_t max_body_bytes; /* 0 = JPKI_HTTP_MAX_API_BODY_BYTES, the most for JSON bodies;
                              larger only for API_BODY_RAW (e.g. a 16 MiB batch file) */
    int status;            /* the success status: 200, 201, 202 */
    api_run_fn *run;
    void *arg;
};

/* The API of `pki` (borrowed; it outlives the api) with every /v1 endpoint of ops.h already
 * added. Returns NULL with err filled. */
struct api *api_new(struct pki *pki, struct jerr *err);

/* Adds an endpoint (copied; the strings must outlive the api). Before api_register.
 * JERR_INVALID for a malformed template or a run-less row, JERR_CONFLICT for a method and
 * path already there, JERR_TOO_LARGE beyond API_MAX_ENDPOINTS. */
int api_add_endpoint(struct api *api, const struct api_endpoint *ep, struct jerr *err);
/* api_add_endpoint for each of eps[0..count), in order; stops at the first failure. */
int api_add_endpoints(struct api *api, const struct api_endpoint *eps, size_t count,
                      struct jerr *err);

/* The gate that names relying parties for API_ROLES_RELYING_PARTY endpoints (borrowed; it
 * outlives the api). Before server_start; without it only operators call them. */
void api_set_relying_parties(struct api *api, struct rpgate *gate);

/* Registers the /v1/ routes on `srv` (before server_start). Returns 0 or -1. */
int api_register(struct api *api, struct server *srv, struct jerr *err);

/* Frees after server_free (answers in flight use it until then). NULL is a no-op. */
void api_free(struct api *api);

/* Writes the audit rows of refused logins counted per address and minute (refusals.h): of
 * the minutes already over, or of every minute when `all` (at shutdown, after the workers
 * stopped). Call it on a worker (a periodic job) with that worker's registry. Returns 0, or
 * -1 with err (the first failure; the tallies of failed rows are lost). */
int api_audit_refusals(struct api *api, struct store *st, bool all, struct jerr *err);
/* True when refused logins are counted and not yet audited. Thread-safe. */
bool api_refusals_pending(struct api *api);

/* The OCSP responder to tell, after an event committed, which certificates changed status
 * (ocsp_http_cert_changed: their pre-signed responses are dropped and re-signed at once, not at
 * the next refresh; DESIGN §8). `ocsp` (borrowed) must outlive the api. Without one, the
 * responder still finds the changes by its own polling. */
void api_set_ocsp(struct api *api, struct ocsp_http *ocsp);

/* ---- for run functions ---- */

/* The context of a CA-engine call (lifecycle.h) for this call: its pki, registry and operator,
 * and a before_commit hook that appends the call's audit row ("ok", call->status) inside the
 * engine's transaction. */
struct lifecycle_ctx api_lifecycle_ctx(struct api_call *call);

/* Sets call->answer to `answer` (stolen) and returns 0; a NULL `answer` (building it ran out of
 * memory) returns api_oom. */
int api_answer(struct api_call *call, json_t *answer, struct jerr *err);
/* `o` with the members of `more` added, both stolen: for an answer built from a record's
 * object and a few more members. NULL (both freed) when either is NULL or out of memory. */
json_t *api_object_merge(json_t *o, json_t *more);
/* PEM text of the DER certificate `der` as a JSON string; NULL if it is empty or out of
 * memory (json_object_set_new then fails, so callers report out of memory). */
json_t *api_pem_json(const unsigned char *der, size_t der_len);
/* `at` (seconds since the epoch) as ISO 8601 UTC, "2026-12-07T09:53:56Z"; JSON null when it
 * cannot be written. */
json_t *api_time_json(int64_t at);
/* Fills err with JERR_INTERNAL "out of memory" and returns -1. */
int api_oom(struct jerr *err);

/* For run functions after a committed event: tells the OCSP responder (api_set_ocsp) the
 * serials whose status changed. */
void api_status_changed(struct api_call *call, const struct serial_list *serials);
/* For run functions after a committed issuance: a node publishing to Redis pre-signs the new
 * certificates' responses before the call answers (ocsp_http_cert_issued). */
void api_cert_issued(struct api_call *call, const struct issue_result *res);

/* Reads the query parameter `name` as a decimal integer in [min, max]: *out = dflt when absent
 * (an error "required" when !has_default). Any parameter not in the NULL-terminated `allowed`
 * is refused (JERR_INVALID, field the parameter), and so is one given twice. */
int api_query_long(const struct api_call *call, const char *const *allowed, const char *name,
                   bool has_default, long dflt, long min, long max, long *out, struct jerr *err);

/* Reads the query parameter `name` as text into out (size; longer is refused; "" when absent),
 * with api_query_long's rules for the other parameters. */
int api_query_text(const struct api_call *call, const char *const *allowed, const char *name,
                   char *out, size_t size, struct jerr *err);

/* ---- pure, for tests ---- */

/* Does `path` (raw, percent-encoding kept) match `tpl`? On a match with a placeholder, *param
 * and *param_len give its raw segment (not decoded), else *param is NULL. */
bool api_path_matches(const char *tpl, const char *path, const char **param, size_t *param_len);

/* Decodes and checks a raw placeholder segment: `kind` "id" or "serial" (see
 * api_endpoint.path). Writes the value (a serial upper-cased) into out. Returns 0, or -1 with
 * err (JERR_INVALID, field `kind`). */
int api_param_decode(const char *kind, const char *raw, size_t raw_len, char *out, size_t out_size,
                     struct jerr *err);

#endif
