/*
 * rpapi: see rpapi.h. Run functions over ca/rp.h (the registry writes), ca/statusq.h (the
 * query audit) and auth.h (tokens); no SQL, no transaction.
 */
#include "responder/api/rpapi.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "base/jclock.h"
#include "ca/recjson.h"
#include "ca/rp.h"
#include "ca/rpca.h"
#include "ca/statusq.h"
#include "responder/net/log.h"

#define RPAPI_CSR_MAX 8192
#define RPAPI_QUERIES_LIMIT_DEFAULT 100
#define RPAPI_QUERIES_LIMIT_MAX 1000

struct rpapi {
    struct rpgate *gate;
    char audit_dir[PATH_MAX];
    void (*changed)(void *arg); /* rpapi_set_changed_listener, or NULL */
    void *changed_arg;
};

struct rpapi *rpapi_new(struct rpgate *gate, const char *audit_dir, struct jerr *err)
{
    struct rpapi *r = calloc(1, sizeof(*r));
    if (r == NULL || snprintf(r->audit_dir, sizeof(r->audit_dir), "%s", audit_dir) >=
                         (int)sizeof(r->audit_dir)) {
        free(r);
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    r->gate = gate;
    return r;
}

void rpapi_free(struct rpapi *r)
{
    free(r);
}

static json_t *party_json(const struct rp_rec *rp)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:o, s:o, s:s, s:o}", "id", rp->id, "name",
                     rp->name, "kind", rp_kind_name(rp->kind), "contact", rp->contact, "state",
                     rp_state_name(rp->state), "certificate_serial",
                     rp->cert_serial[0] != '\0' ? rp->cert_serial : NULL, "certificate_not_after",
                     api_time_json(rp->cert_not_after), "created_at", api_time_json(rp->created_at),
                     "created_by", rp->created_by, "updated_at", api_time_json(rp->updated_at));
}

/* The gate sees the change at the loops' next request. A failed reload is logged: the change
 * is committed, and the next change (or restart) loads it. */
static void reload(struct api_call *call)
{
    struct rpapi *r = call->arg;
    struct jerr err = {0};
    if (rpgate_reload(r->gate, call->st, &err) == -1)
        log_error("relying parties: the gate keeps its old view: %s", err.msg);
    if (r->changed != NULL)
        r->changed(r->changed_arg);
}

void rpapi_set_changed_listener(struct rpapi *r, void (*fn)(void *arg), void *arg)
{
    r->changed = fn;
    r->changed_arg = arg;
}

static int run_create(struct api_call *call, struct jerr *err)
{
    static const char *const allowed[] = {"id", "name", "kind", "contact", "csr", NULL};
    char kind[32], token[AUTH_NEW_TOKEN_HEX + 1] = "";
    char *csr = NULL;
    struct rp_rec rp;
    struct rp_issued issued = {NULL, NULL};
    int rc = -1;

    memset(&rp, 0, sizeof(rp));
    if (recjson_only_fields(call->body, "", allowed, err) == -1 ||
        recjson_string(call->body, "", "id", true, rp.id, sizeof(rp.id), err) == -1 ||
        model_check_id("id", rp.id, err) == -1)
        return -1;
    snprintf(call->target, sizeof(call->target), "%s", rp.id);
    if (recjson_string(call->body, "", "name", true, rp.name, sizeof(rp.name), err) == -1 ||
        recjson_string(call->body, "", "contact", true, rp.contact, sizeof(rp.contact), err) ==
            -1 ||
        recjson_string(call->body, "", "kind", true, kind, sizeof(kind), err) == -1)
        return -1;
    if (rp.name[0] == '\0')
        return jerr_set(err, JERR_INVALID, "name", "name: must not be empty");
    if (rp_kind_parse(kind, &rp.kind) == -1)
        return jerr_set(err, JERR_INVALID, "kind",
                        "kind: must be signature, authentication or platform");
    json_t *csr_json = json_object_get(call->body, "csr");
    if (csr_json != NULL) {
        if (!json_is_string(csr_json) || json_string_length(csr_json) > RPAPI_CSR_MAX)
            return jerr_set(err, JERR_INVALID, "csr",
                            "csr: a PEM certificate request (PKCS#10) of at most %d bytes",
                            RPAPI_CSR_MAX);
        csr = (char *)json_string_value(csr_json);
    }
    struct lifecycle_ctx ctx = api_lifecycle_ctx(call);
    if (auth_token_new(token, rp.token_sha256, err) == -1 ||
        rp_create(&ctx, &rp, csr, csr != NULL ? strlen(csr) : 0, &issued, err) == -1)
        goto out;
    reload(call);
    json_t *answer = party_json(&rp);
    json_t *more =
        json_pack("{s:s, s:s, s:s?, s:s}", "token", token, "certificate", issued.cert_pem, "key",
                  issued.key_pem, "ca_certificate_url", "/ca/rp.pem");
    rc = api_answer(call, api_object_merge(answer, more), err);
out:
    OPENSSL_cleanse(token, sizeof(token));
    rp_issued_clear(&issued);
    return rc;
}

static int list_one(void *ctx, const struct rp_rec *rp)
{
    return json_array_append_new(ctx, party_json(rp)) == 0 ? 0 : -1;
}

static int run_list(struct api_call *call, struct jerr *err)
{
    json_t *list = json_array();
    if (list == NULL)
        return api_oom(err);
    if (store_rp_foreach(call->st, list_one, list, err) == -1) {
        json_decref(list);
        return -1;
    }
    return api_answer(call, json_pack("{s:o}", "relying_parties", list), err);
}

static int run_get(struct api_call *call, struct jerr *err)
{
    struct rp_rec rp;
    if (store_rp_get(call->st, call->id, &rp, err) == -1)
        return -1;
    return api_answer(call, party_json(&rp), err);
}

typedef int rp_change_fn(struct lifecycle_ctx *ctx, const char *id, struct rp_rec *out,
                         struct jerr *err);

static int run_change(struct api_call *call, rp_change_fn *change, struct jerr *err)
{
    static const char *const allowed[] = {NULL};
    struct rp_rec rp;
    if (call->body != NULL && recjson_only_fields(call->body, "", allowed, err) == -1)
        return -1;
    struct lifecycle_ctx ctx = api_lifecycle_ctx(call);
    if (change(&ctx, call->id, &rp, err) == -1)
        return -1;
    reload(call);
    return api_answer(call, party_json(&rp), err);
}

static int run_suspend(struct api_call *call, struct jerr *err)
{
    return run_change(call, rp_suspend, err);
}

static int run_resume(struct api_call *call, struct jerr *err)
{
    return run_change(call, rp_resume, err);
}

static int run_delete(struct api_call *call, struct jerr *err)
{
    struct rp_rec rp;
    bool crl_failed = false;
    struct jerr crl_err = {0};
    struct lifecycle_ctx ctx = api_lifecycle_ctx(call);
    if (rp_delete(&ctx, call->id, &rp, &crl_failed, &crl_err) == -1) {
        *err = crl_err;
        return -1;
    }
    reload(call);
    if (crl_failed)
        log_error("relying party %s deleted; the relying-party CRL was not published: %s", rp.id,
                  crl_err.msg);
    json_t *answer = party_json(&rp);
    json_t *more = json_pack("{s:b}", "certificate_revoked", 1);
    return api_answer(call, api_object_merge(answer, more), err);
}

/* ---- usage ---- */

static int month_param(const struct api_call *call, const char *const *allowed, char month[8],
                       struct jerr *err)
{
    if (api_query_text(call, allowed, "month", month, 8, err) == -1)
        return -1;
    if (month[0] == '\0') {
        statusq_month((int64_t)jclock_now(), month);
        return 0;
    }
    int y, m;
    char tail;
    if (strlen(month) != 7 || sscanf(month, "%4d-%2d%c", &y, &m, &tail) != 2 || month[4] != '-' ||
        y < 2000 || m < 1 || m > 12)
        return jerr_set(err, JERR_INVALID, "month", "month: expected YYYY-MM");
    return 0;
}

struct usage_json {
    json_t *days;     /* {"2026-12-07": {"auth": {"ocsp": 3, "crl": 1}}} */
    int64_t total[2]; /* by rp_what */
};

static int usage_row(void *ctx, const char *day, int ca, enum rp_what what, int64_t calls)
{
    struct usage_json *u = ctx;
    const char *w = what == RP_WHAT_CRL ? "crl" : "ocsp";
    json_t *d = json_object_get(u->days, day);
    if (d == NULL && json_object_set_new(u->days, day, d = json_object()) == -1)
        return -1;
    const char *ca_name = ca_kind_name((enum ca_kind)ca);
    json_t *c = json_object_get(d, ca_name);
    if (c == NULL && json_object_set_new(d, ca_name, c = json_object()) == -1)
        return -1;
    u->total[what == RP_WHAT_CRL ? 1 : 0] += calls;
    return json_object_set_new(c, w, json_integer((json_int_t)calls));
}

static int run_usage(struct api_call *call, struct jerr *err)
{
    static const char *const allowed[] = {"month", NULL};
    char month[8];
    struct rp_rec rp;
    int64_t distinct[CA_KIND_COUNT];
    struct usage_json u = {json_object(), {0, 0}};

    if (u.days == NULL)
        return api_oom(err);
    if (month_param(call, allowed, month, err) == -1 ||
        store_rp_get(call->st, call->id, &rp, err) == -1 ||
        store_rp_usage_foreach(call->st, rp.pk, month, usage_row, &u, err) == -1 ||
        store_rp_usage_distinct(call->st, rp.pk, month, distinct, err) == -1) {
        json_decref(u.days);
        return -1;
    }
    json_t *certs = json_object();
    for (int ca = 0; certs != NULL && ca < CA_KIND_COUNT; ca++)
        json_object_set_new(certs, ca_kind_name((enum ca_kind)ca),
                            json_integer((json_int_t)distinct[ca]));
    return api_answer(call,
                      json_pack("{s:s, s:s, s:o, s:{s:I, s:I}, s:o}", "id", rp.id, "month", month,
                                "calls_by_day", u.days, "calls", "ocsp", (json_int_t)u.total[0],
                                "crl", (json_int_t)u.total[1], "distinct_certificates", certs),
                      err);
}

/* ---- the status-query audit ---- */

static int query_row(void *ctx, const struct statusq_row *r)
{
    json_t *row = json_pack("{s:I, s:I, s:o, s:s, s:s, s:s?, s:s}", "seq", (json_int_t)r->seq, "at",
                            (json_int_t)r->at, "time", api_time_json(r->at), "party", r->party,
                            "ca", ca_kind_name((enum ca_kind)r->ca), "serial",
                            r->serial[0] != '\0' ? r->serial : NULL, "status", r->status);
    return row != NULL && json_array_append_new(ctx, row) == 0 ? 0 : -1;
}

static int run_queries(struct api_call *call, struct jerr *err)
{
    static const char *const allowed[] = {"party", "serial", "month", "after", "limit", NULL};
    struct rpapi *r = call->arg;
    char party[JPKI_ID_MAX + 1], serial[JPKI_SERIAL_HEX_MAX + 1], month[8];
    long after = 0, limit = 0;

    if (api_query_text(call, allowed, "party", party, sizeof(party), err) == -1 ||
        api_query_text(call, allowed, "serial", serial, sizeof(serial), err) == -1 ||
        month_param(call, allowed, month, err) == -1 ||
        api_query_long(call, allowed, "after", true, 0, 0, LONG_MAX, &after, err) == -1 ||
        api_query_long(call, allowed, "limit", true, RPAPI_QUERIES_LIMIT_DEFAULT, 1,
                       RPAPI_QUERIES_LIMIT_MAX, &limit, err) == -1)
        return -1;
    if (party[0] != '\0' && model_check_id("party", party, err) == -1)
        return -1;
    for (char *c = serial; *c != '\0'; c++)
        *c = (char)(*c >= 'a' && *c <= 'f' ? *c - 'a' + 'A' : *c);
    if (serial[0] != '\0' && strspn(serial, "0123456789ABCDEF") != strlen(serial))
        return jerr_set(err, JERR_INVALID, "serial", "serial: hex digits");
    json_t *rows = json_array();
    if (rows == NULL)
        return api_oom(err);
    if (statusq_search(r->audit_dir, month, party[0] != '\0' ? party : NULL,
                       serial[0] != '\0' ? serial : NULL, after, (size_t)limit, query_row, rows,
                       err) == -1) {
        json_decref(rows);
        return -1;
    }
    size_t n = json_array_size(rows);
    json_t *next = (long)n == limit ? json_object_get(json_array_get(rows, n - 1), "seq") : NULL;
    return api_answer(
        call, json_pack("{s:s, s:o, s:O?}", "month", month, "rows", rows, "next_after", next), err);
}

int rpapi_add_endpoints(struct api *api, struct rpapi *r, struct jerr *err)
{
    const unsigned write = OPERATOR_ROLES_LIFECYCLE;
    const unsigned read = OPERATOR_ROLES_LIFECYCLE | OPERATOR_ROLE(ROLE_AUDITOR);
    const unsigned audit = OPERATOR_ROLES_ADMIN | OPERATOR_ROLE(ROLE_AUDITOR);
    const struct api_endpoint eps[] = {
        {EVHTTP_REQ_POST, "/v1/relying-parties", write, API_BODY_JSON, 0, 201, run_create, r},
        {EVHTTP_REQ_GET, "/v1/relying-parties", read, API_BODY_NONE, 0, 200, run_list, r},
        {EVHTTP_REQ_GET, "/v1/relying-parties/{id}", read, API_BODY_NONE, 0, 200, run_get, r},
        {EVHTTP_REQ_DELETE, "/v1/relying-parties/{id}", write, API_BODY_NONE, 0, 200, run_delete,
         r},
        {EVHTTP_REQ_POST, "/v1/relying-parties/{id}/suspend", write, API_BODY_JSON_OPT, 0, 200,
         run_suspend, r},
        {EVHTTP_REQ_POST, "/v1/relying-parties/{id}/resume", write, API_BODY_JSON_OPT, 0, 200,
         run_resume, r},
        {EVHTTP_REQ_GET, "/v1/relying-parties/{id}/usage", read, API_BODY_NONE, 0, 200, run_usage,
         r},
        {EVHTTP_REQ_GET, "/v1/audit/status-queries", audit, API_BODY_NONE, 0, 200, run_queries, r},
    };
    return api_add_endpoints(api, eps, sizeof(eps) / sizeof(eps[0]), err);
}
