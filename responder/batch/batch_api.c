/*
 * batch_api: see batch_api.h. The run functions follow ops.c's shape: read the request, one
 * CA-engine call (batch_exec_submit: one transaction with the call's audit row), build the
 * answer.
 */
#include "responder/batch/batch_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ca/pinletter.h"
#include "base/jclock.h"
#include "base/limits.h"
#include "responder/api/auth.h"
#include "ca/batch_exec.h"

enum batch_format batch_api_format(const char *content_type)
{
    static const struct {
        const char *type;
        enum batch_format fmt;
    } types[] = {
        {"application/json", BATCH_JSON},
        {"application/yaml", BATCH_YAML},
        {"application/x-yaml", BATCH_YAML},
        {"text/yaml", BATCH_YAML},
    };
    if (content_type == NULL)
        return BATCH_AUTO;
    /* RFC 9110 §8.3.1: type/subtype is case-insensitive and may be followed by parameters. */
    const char *start = content_type + strspn(content_type, " \t");
    size_t len = strcspn(start, " \t;");
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strlen(types[i].type) == len && strncasecmp(start, types[i].type, len) == 0)
            return types[i].fmt;
    return BATCH_AUTO;
}

/* ---- answers ---- */

static json_t *problems_json(const struct batch_problem *problems, size_t count)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < count; i++) {
        json_t *p = json_pack("{s:I, s:s, s:s}", "row", (json_int_t)problems[i].row, "field",
                              problems[i].field, "message", problems[i].msg);
        if (p == NULL || json_array_append_new(a, p) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *time_or_null(int64_t t)
{
    char text[32];
    return t != 0 ? json_string(jclock_format((time_t)t, text, sizeof(text))) : json_null();
}

/* {"id","key","state","total","accepted","done","failed","pending",…}: the batch's counts. */
static json_t *batch_json(const struct batch_rec *b)
{
    return json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:o, s:o}", "id",
                     (json_int_t)b->id, "key", b->key, "state", b->finished ? "done" : "running",
                     "total", (json_int_t)b->total, "accepted", (json_int_t)b->accepted, "done",
                     (json_int_t)b->done_rows, "failed", (json_int_t)b->failed_rows, "pending",
                     (json_int_t)(b->total - b->done_rows - b->failed_rows), "submitted_by",
                     b->submitted_by, "submitted_at", time_or_null(b->submitted_at), "finished_at",
                     time_or_null(b->finished_at));
}

static json_t *serials_json(const char *serials)
{
    json_t *a = json_array();
    for (const char *p = serials; a != NULL && *p != '\0';) {
        size_t len = strcspn(p, ",");
        if (json_array_append_new(a, json_stringn(p, len)) != 0) {
            json_decref(a);
            return NULL;
        }
        p += len + (p[len] == ',' ? 1 : 0);
    }
    return a;
}

static const char *row_state_name(enum batch_row_state s)
{
    /* A row refused at submission is a failed row of the batch, its error "invalid". */
    return s == BATCH_ROW_PENDING ? "pending" : s == BATCH_ROW_DONE ? "done" : "failed";
}

static int row_json(void *arg, const struct batch_row_rec *r)
{
    json_t *rows = arg;
    json_t *error = json_null();
    if (r->state == BATCH_ROW_FAILED || r->state == BATCH_ROW_INVALID)
        error = json_pack("{s:s, s:o, s:s}", "code", r->error_code, "field",
                          r->error_field[0] != '\0' ? json_string(r->error_field) : json_null(),
                          "message", r->error_message);
    json_t *row = json_pack("{s:I, s:o, s:s, s:o, s:o}", "row", (json_int_t)r->row, "key",
                            r->key[0] != '\0' ? json_string(r->key) : json_null(), "state",
                            row_state_name(r->state), "serials",
                            r->state == BATCH_ROW_DONE ? serials_json(r->serials) : json_null(),
                            "error", error);
    return row != NULL && json_array_append_new(rows, row) == 0 ? 0 : -1;
}

/* ---- POST /v1/batches ---- */

/* A row without passwords gets generated ones, which leave the service only as a PIN letter
 * sealed to batch.pin_letter_recipient (docs/BATCH.md): without a recipient the file is refused
 * as a whole, naming the first such row, and nothing is recorded. */
static int batch_check_passwords(const struct pki *pki, const struct batch *b, struct jerr *err)
{
    if (pki_config(pki)->batch_pin_letter_recipient[0] != '\0')
        return 0;
    for (size_t i = 0; i < b->count; i++) {
        if (b->rows[i].has_passwords)
            continue;
        char field[64];
        snprintf(field, sizeof(field), "rows[%zu].passwords", b->rows[i].index);
        return jerr_set(err, JERR_INVALID, field,
                        "%s: required: this service has no %s to send generated passwords to, so "
                        "every row must carry the holder's passwords",
                        field, PINLETTER_CONFIG_KEY);
    }
    return 0;
}

/* The API's hook around the call's audit row: the row names the new batch (its id is known only
 * inside batch_exec_submit's transaction). */
struct submit_hook {
    struct api_call *call;
    struct lifecycle_ctx api; /* api_lifecycle_ctx: its before_commit writes the row */
};

static int submit_before_commit(void *arg, struct store *st, const void *result, struct jerr *err)
{
    struct submit_hook *h = arg;
    const struct batch_rec *rec = result;
    snprintf(h->call->target, sizeof(h->call->target), "%lld", (long long)rec->id);
    return h->api.before_commit(h->api.before_commit_arg, st, result, err);
}

static int batch_submit(struct api_call *call, struct jerr *err)
{
    struct batchrun *br = call->arg;
    struct batch b = {0};
    struct batch_problem *problems = NULL;
    size_t problem_count = 0;
    struct batch_rec rec;
    bool existing = false;
    json_t *o = NULL;
    int rc = -1;

    /* docs/BATCH.md: the file as a whole first; a malformed one records nothing. */
    if (batch_parse((const char *)call->raw, call->raw_len, batch_api_format(call->content_type),
                    &b, &problems, &problem_count, err) == -1 ||
        batch_check_passwords(call->pki, &b, err) == -1)
        goto out;
    struct submit_hook hook = {call, api_lifecycle_ctx(call)};
    struct lifecycle_ctx ctx = hook.api;
    ctx.before_commit = submit_before_commit;
    ctx.before_commit_arg = &hook;
    if (batch_exec_submit(&ctx, &b, problems, problem_count, &rec, &existing, err) == -1)
        goto out;
    if (existing) {
        /* Nothing written: the audit row is the frame's, in its own transaction. */
        snprintf(call->target, sizeof(call->target), "%lld", (long long)rec.id);
        call->status = 200;
        o = batch_json(&rec);
    } else {
        if (br != NULL)
            batchrun_kick(br, rec.id);
        o = json_pack("{s:I, s:s, s:I, s:I}", "id", (json_int_t)rec.id, "key", rec.key, "total",
                      (json_int_t)rec.total, "accepted", (json_int_t)rec.accepted);
    }
    /* The same rows (same digest) have the same problems: this file's are the batch's. */
    rc = api_answer(
        call,
        api_object_merge(o, json_pack("{s:o}", "problems", problems_json(problems, problem_count))),
        err);
out:
    batch_free(&b);
    batch_problems_free(problems);
    return rc;
}

/* ---- GET /v1/batches/{id} ---- */

static int batch_get(struct api_call *call, struct jerr *err)
{
    static const char *const allowed[] = {"offset", "limit", NULL};
    struct batch_rec b;
    long offset, limit;
    char *end = NULL;

    if (api_query_long(call, allowed, "offset", true, 0, 0, JPKI_BATCH_MAX_ROWS, &offset, err) ==
            -1 ||
        api_query_long(call, allowed, "limit", true, BATCH_API_ROWS_DEFAULT, 1, BATCH_API_ROWS_MAX,
                       &limit, err) == -1)
        return -1;
    /* Batch ids are the registry's numbers; any other id names no batch. */
    errno = 0;
    long long id = strtoll(call->id, &end, 10);
    if (call->id[0] < '1' || call->id[0] > '9' || *end != '\0' || errno != 0)
        return jerr_set(err, JERR_NOT_FOUND, "batch_id", "no such batch");
    if (store_batch_get(call->st, (int64_t)id, &b, err) == -1)
        return -1;
    json_t *rows = json_array();
    if (rows == NULL)
        return api_oom(err);
    if (store_batch_rows_foreach(call->st, b.id, -1, offset, limit, row_json, rows, err) == -1) {
        json_decref(rows);
        return -1;
    }
    return api_answer(
        call,
        api_object_merge(batch_json(&b), json_pack("{s:I, s:I, s:o}", "offset", (json_int_t)offset,
                                                   "limit", (json_int_t)limit, "rows", rows)),
        err);
}

int batch_api_add_endpoints(struct api *api, struct batchrun *br, struct jerr *err)
{
    const struct api_endpoint eps[] = {
        {EVHTTP_REQ_POST, "/v1/batches", OPERATOR_ROLES_BATCH, API_BODY_RAW,
         JPKI_HTTP_MAX_BATCH_BODY_BYTES, 202, batch_submit, br},
        {EVHTTP_REQ_GET, "/v1/batches/{id}", OPERATOR_ROLES_ANY, API_BODY_NONE, 0, 200, batch_get,
         br},
    };
    return api_add_endpoints(api, eps, sizeof(eps) / sizeof(eps[0]), err);
}
