/*
 * api: see api.h for the order of a call. This file owns the /v1 route table, the job that
 * carries one call from its loop to a worker and back, the audit row, and the answer text.
 * It knows no endpoint: ops.c, operators.c, batch_api.c and the others are rows added to the
 * table.
 *
 * A job is allocated on the loop, filled by the worker (nothing else touches it meanwhile)
 * and freed on the loop after the answer is sent. The answer text is built on the worker, so
 * the loop only writes bytes.
 */
#include "responder/api/api.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ca/recjson.h"
#include "base/jclock.h"
#include "base/limits.h"
#include "responder/api/auditapi.h"
#include "responder/api/linkapi.h"
#include "responder/api/cardapi.h"
#include "responder/net/clientaddr.h"
#include "responder/api/holder.h"
#include "responder/net/http.h"
#include "responder/net/log.h"
#include "responder/monitor/metrics.h"
#include "responder/api/operators.h"
#include "responder/api/ops.h"
#include "responder/net/ratelimit.h"
#include "responder/net/refusals.h"

#define API_PREFIX "/v1/"
#define API_HOLDER_PREFIX "/v1/holder/"
/* Every method evhttp parses goes to our handler, so that a wrong one is audited (405). */
#define API_ALL_METHODS                                                                            \
    (EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |     \
     EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH)
/* The action of a call that matched no route. */
#define API_UNKNOWN_ROUTE "/v1/{unknown}"
/* The action of the row that counts an address's refused logins of a minute (refusals.h). */
#define API_REFUSED_LOGINS "auth.refused"
/* Tallies written per refusals_take. */
#define API_REFUSALS_BATCH 64

struct api {
    struct pki *pki;
    const struct jpki_config *cfg;
    struct api_endpoint eps[API_MAX_ENDPOINTS];
    size_t count;
    struct ocsp_http *ocsp;
    /* limits.*_per_minute (NULL = no limit): shared by every loop, lock-free (ratelimit.h) */
    struct ratelimit *rate_api_addr; /* operator calls per client address */
    struct ratelimit *rate_api_cred; /* operator calls per credential presented */
    struct ratelimit *rate_holder;   /* calls that take no operator credential, per address */
    struct clientaddr_trust *trust;  /* limits.trusted_proxies: who the client is */
    struct refusals *refusals;       /* refused logins (401) per address and minute */
    struct rpgate *gate;             /* api_set_relying_parties, or NULL */
};

struct api_job {
    struct api *api;
    struct evhttp_request *req;
    enum evhttp_cmd_type method;
    char *path;
    char *query;
    char *authorization; /* the header as sent (NULL when absent); wiped when freed */
    X509 *peer;          /* verified client certificate (a reference), or NULL */
    unsigned char *body;
    size_t body_len;
    char *content_type;
    struct timespec started;
    struct sockaddr_storage client; /* clientaddr_of_request */
    bool has_client;
    /* API_ROLES_RELYING_PARTY endpoints: who the gate named, on the loop */
    enum rpgate_verdict party_verdict;
    struct rpgate_who party;

    /* Filled on the worker. */
    struct auth_identity who; /* via AUTH_VIA_NONE: nobody authenticated */
    struct api_call call;
    char id[JPKI_ID_MAX + 1];
    char action[48];
    int status;
    char *answer;    /* JSON text */
    unsigned allow;  /* 405: the methods of the matched path */
    bool challenge;  /* 401: send WWW-Authenticate */
    bool token_sent; /* 401 after a bearer token: error="invalid_token" */
    bool audited;    /* the row is written (inside the event's transaction) */
};

/* ---- table ---- */

static int template_check(const char *tpl, struct jerr *err)
{
    int placeholders = 0;
    if (tpl == NULL || strncmp(tpl, API_PREFIX, strlen(API_PREFIX)) != 0)
        return jerr_set(err, JERR_INVALID, "path", "an API path starts with %s", API_PREFIX);
    for (const char *seg = tpl + 1; seg != NULL;) {
        const char *slash = strchr(seg, '/');
        size_t len = slash != NULL ? (size_t)(slash - seg) : strlen(seg);
        if (len == 0)
            return jerr_set(err, JERR_INVALID, "path", "empty segment in %s", tpl);
        if (seg[0] == '{') {
            if (!((len == 4 && memcmp(seg, "{id}", 4) == 0) ||
                  (len == 8 && memcmp(seg, "{serial}", 8) == 0)))
                return jerr_set(err, JERR_INVALID, "path", "unknown placeholder in %s", tpl);
            placeholders++;
        } else if (memchr(seg, '{', len) != NULL || memchr(seg, '}', len) != NULL) {
            return jerr_set(err, JERR_INVALID, "path", "malformed placeholder in %s", tpl);
        }
        seg = slash != NULL ? slash + 1 : NULL;
    }
    if (placeholders > 1)
        return jerr_set(err, JERR_INVALID, "path", "more than one placeholder in %s", tpl);
    return 0;
}

int api_add_endpoint(struct api *api, const struct api_endpoint *ep, struct jerr *err)
{
    char method[HTTP_ALLOW_MAX];
    if (ep->run == NULL || ep->roles == 0 || ep->status < 200 || ep->status > 299)
        return jerr_set(err, JERR_INVALID, "endpoint", "an endpoint needs run, roles, a 2xx");
    if (template_check(ep->path, err) == -1)
        return -1;
    if ((ep->body == API_BODY_JSON || ep->body == API_BODY_JSON_OPT) &&
        ep->max_body_bytes > JPKI_HTTP_MAX_API_BODY_BYTES)
        return jerr_set(err, JERR_INVALID, "max_body_bytes",
                        "JSON bodies are parsed up to %d bytes: take a larger one as raw",
                        JPKI_HTTP_MAX_API_BODY_BYTES);
    http_allow_header((unsigned)ep->method, method, sizeof(method));
    if (method[0] == '\0' || strchr(method, ',') != NULL)
        return jerr_set(err, JERR_INVALID, "method", "one method per endpoint");
    if (strlen(method) + 1 + strlen(ep->path) >= sizeof(((struct api_job *)0)->action))
        return jerr_set(err, JERR_INVALID, "path", "%s %s too long for an audit action", method,
                        ep->path);
    for (size_t i = 0; i < api->count; i++)
        if (api->eps[i].method == ep->method && strcmp(api->eps[i].path, ep->path) == 0)
            return jerr_set(err, JERR_CONFLICT, "path", "%s %s added twice", method, ep->path);
    if (api->count == API_MAX_ENDPOINTS)
        return jerr_set(err, JERR_TOO_LARGE, "endpoint", "more than %d endpoints",
                        API_MAX_ENDPOINTS);
    api->eps[api->count++] = *ep;
    return 0;
}

int api_add_endpoints(struct api *api, const struct api_endpoint *eps, size_t count,
                      struct jerr *err)
{
    for (size_t i = 0; i < count; i++)
        if (api_add_endpoint(api, &eps[i], err) == -1)
            return -1;
    return 0;
}

struct api *api_new(struct pki *pki, struct jerr *err)
{
    struct api *api = calloc(1, sizeof(*api));
    if (api == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    api->pki = pki;
    api->cfg = pki_config(pki);
    if (ops_add_endpoints(api, err) == -1 || cardapi_add_endpoints(api, err) == -1 ||
        holder_add_endpoints(api, err) == -1 || operators_add_endpoints(api, err) == -1 ||
        auditapi_add_endpoints(api, err) == -1 || linkapi_add_endpoints(api, err) == -1) {
        api_free(api);
        return NULL;
    }
    if ((api->trust = clientaddr_trust_new(api->cfg->limits_trusted_proxies,
                                           api->cfg->limits_forwarded_header, err)) == NULL ||
        (api->refusals = refusals_new(0, err)) == NULL) {
        api_free(api);
        return NULL;
    }
    if ((api->cfg->limits_api_per_minute > 0 &&
         ((api->rate_api_addr = ratelimit_new(api->cfg->limits_api_per_minute, 0, err)) == NULL ||
          (api->rate_api_cred = ratelimit_new(api->cfg->limits_api_per_minute, 0, err)) == NULL)) ||
        (api->cfg->limits_holder_per_minute > 0 &&
         (api->rate_holder = ratelimit_new(api->cfg->limits_holder_per_minute, 0, err)) == NULL)) {
        api_free(api);
        return NULL;
    }
    return api;
}

void api_free(struct api *api)
{
    if (api == NULL)
        return;
    ratelimit_free(api->rate_api_addr);
    ratelimit_free(api->rate_api_cred);
    ratelimit_free(api->rate_holder);
    clientaddr_trust_free(api->trust);
    refusals_free(api->refusals);
    free(api);
}

void api_set_ocsp(struct api *api, struct ocsp_http *ocsp)
{
    api->ocsp = ocsp;
}

void api_status_changed(struct api_call *call, const struct serial_list *serials)
{
    struct api *api = call->job->api;
    for (size_t i = 0; api->ocsp != NULL && i < serials->count; i++)
        ocsp_http_cert_changed(api->ocsp, serials->items[i]);
}

void api_cert_issued(struct api_call *call, const struct issue_result *res)
{
    struct api *api = call->job->api;
    const char *serials[CA_KIND_COUNT];
    for (size_t i = 0; i < res->count; i++)
        serials[i] = res->certs[i].rec.serial;
    ocsp_http_cert_issued(api->ocsp, call->st, serials, res->count);
}

/* ---- pure parts ---- */

bool api_path_matches(const char *tpl, const char *path, const char **param, size_t *param_len)
{
    const char *found = NULL;
    size_t found_len = 0;

    *param = NULL;
    *param_len = 0;
    if (tpl[0] != '/' || path[0] != '/')
        return false;
    const char *t = tpl + 1, *p = path + 1;
    for (;;) {
        const char *te = strchr(t, '/'), *pe = strchr(p, '/');
        size_t tlen = te != NULL ? (size_t)(te - t) : strlen(t);
        size_t plen = pe != NULL ? (size_t)(pe - p) : strlen(p);
        if (tlen > 0 && t[0] == '{') {
            if (plen == 0)
                return false;
            found = p;
            found_len = plen;
        } else if (tlen != plen || memcmp(t, p, tlen) != 0) {
            return false;
        }
        if (te == NULL || pe == NULL) {
            if (te != NULL || pe != NULL)
                return false; /* one has more segments */
            break;
        }
        t = te + 1;
        p = pe + 1;
    }
    *param = found;
    *param_len = found_len;
    return true;
}

int api_param_decode(const char *kind, const char *raw, size_t raw_len, char *out, size_t out_size,
                     struct jerr *err)
{
    char shown[3 * 16 + 8];
    size_t len = 0;
    int rc = -1;

    /* A percent-encoded id of JPKI_ID_MAX characters takes at most three times as many. */
    if (raw_len > 3 * (size_t)JPKI_ID_MAX)
        return jerr_set(err, JERR_INVALID, kind, "%s: longer than %d characters", kind,
                        JPKI_ID_MAX);
    char *copy = strndup(raw, raw_len);
    char *decoded = copy != NULL ? evhttp_uridecode(copy, 0, &len) : NULL;
    if (decoded == NULL) {
        jerr_set(err, JERR_INTERNAL, kind, "out of memory");
        goto out;
    }
    if (memchr(decoded, '\0', len) != NULL) {
        jerr_set(err, JERR_INVALID, kind, "%s: contains a NUL byte", kind);
        goto out;
    }
    if (strcmp(kind, "serial") == 0) {
        /* RFC 5280 §4.1.2.2: at most 20 octets; stored as upper-case hex (model.h). */
        if (len == 0 || len > JPKI_SERIAL_HEX_MAX ||
            strspn(decoded, "0123456789abcdefABCDEF") != len) {
            jerr_escape(shown, sizeof(shown), decoded, len < 16 ? len : 16);
            jerr_set(err, JERR_INVALID, kind, "serial: \"%s%s\" is not 1..%d hexadecimal digits",
                     shown, len > 16 ? "..." : "", JPKI_SERIAL_HEX_MAX);
            goto out;
        }
        for (size_t i = 0; i < len; i++)
            if (decoded[i] >= 'a' && decoded[i] <= 'f')
                decoded[i] = (char)(decoded[i] - 'a' + 'A');
    } else if (model_check_id(kind, decoded, err) == -1) {
        goto out;
    }
    if (len >= out_size) {
        jerr_set(err, JERR_INVALID, kind, "%s: too long", kind);
        goto out;
    }
    memcpy(out, decoded, len + 1);
    rc = 0;
out:
    free(decoded);
    free(copy);
    return rc;
}

/* The value of query parameter `name` copied into text (size), "" when absent; refuses unknown
 * and repeated parameters as api_query_long says. */
static int query_find(const struct api_call *call, const char *const *allowed, const char *name,
                      char *text, size_t size, bool *present, struct jerr *err)
{
    struct evkeyvalq q;
    char shown[64];
    int rc = -1;

    *present = false;
    text[0] = '\0';
    TAILQ_INIT(&q);
    if (call->query != NULL && evhttp_parse_query_str(call->query, &q) == -1) {
        jerr_set(err, JERR_INVALID, "query", "query: malformed (expected name=value&...)");
        goto out;
    }
    for (struct evkeyval *kv = q.tqh_first; kv != NULL; kv = kv->next.tqe_next) {
        bool known = false;
        for (size_t i = 0; allowed[i] != NULL && !known; i++)
            known = strcmp(kv->key, allowed[i]) == 0;
        jerr_escape(shown, sizeof(shown), kv->key, strnlen(kv->key, 32));
        if (!known) {
            jerr_set(err, JERR_INVALID, shown, "%s: unknown query parameter", shown);
            goto out;
        }
        for (struct evkeyval *o = kv->next.tqe_next; o != NULL; o = o->next.tqe_next) {
            if (strcmp(o->key, kv->key) == 0) {
                jerr_set(err, JERR_INVALID, shown, "%s: given more than once", shown);
                goto out;
            }
        }
        if (strcmp(kv->key, name) == 0) {
            if (strlen(kv->value) >= size) {
                jerr_set(err, JERR_INVALID, name, "%s: too long", name);
                goto out;
            }
            snprintf(text, size, "%s", kv->value);
            *present = true;
        }
    }
    rc = 0;
out:
    evhttp_clear_headers(&q);
    return rc;
}

int api_query_long(const struct api_call *call, const char *const *allowed, const char *name,
                   bool has_default, long dflt, long min, long max, long *out, struct jerr *err)
{
    char text[32];
    bool present;

    if (query_find(call, allowed, name, text, sizeof(text), &present, err) == -1)
        return -1;
    if (!present) {
        if (!has_default)
            return jerr_set(err, JERR_INVALID, name, "%s: required query parameter", name);
        *out = dflt;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || v < min || v > max)
        return jerr_set(err, JERR_INVALID, name, "%s: must be a whole number from %ld to %ld",
                        name, min, max);
    *out = v;
    return 0;
}

int api_query_text(const struct api_call *call, const char *const *allowed, const char *name,
                   char *out, size_t size, struct jerr *err)
{
    bool present;
    return query_find(call, allowed, name, out, size, &present, err);
}

/* ---- the audit row ---- */

/* A field name for the audit detail: our own field names pass; anything else (a JSON key the
 * client chose could be anything, personal data included) is replaced. */
static const char *audit_field(const char *field)
{
    size_t len = strlen(field);
    if (len == 0)
        return "-";
    if (len > 48 ||
        strspn(field, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._[]-") != len)
        return "(other)";
    return field;
}

static const char *via_name(const struct api_job *job)
{
    if (job->call.party != NULL)
        return job->party.by_cert ? "rp-cert" : "rp-token";
    enum auth_via via = job->who.via;
    return via == AUTH_VIA_TOKEN ? "token" : via == AUTH_VIA_CERT ? "cert" : "none";
}

/* Appends the call's row: `why` (NULL on success) gives the code and field of a refusal. */
static int job_audit(struct api_job *job, struct store *st, int status, const struct jerr *why,
                     struct jerr *err)
{
    struct audit_entry e = {.at = jclock_now()};
    if (job->party.pk != 0) /* a party, active or suspended */
        snprintf(e.actor, sizeof(e.actor), "rp:%s", job->party.id);
    else
        snprintf(e.actor, sizeof(e.actor), "%s",
                 job->who.via != AUTH_VIA_NONE ? job->who.name : AUTH_ANONYMOUS);
    snprintf(e.action, sizeof(e.action), "%s", job->action);
    snprintf(e.target, sizeof(e.target), "%s", job->call.target);
    snprintf(e.outcome, sizeof(e.outcome), "%s",
             status < 400   ? "ok"
             : status < 500 ? "refused"
                            : "error");
    if (why != NULL)
        snprintf(e.detail, sizeof(e.detail), "status=%d code=%s field=%s via=%s", status,
                 status == 405 ? "method_not_allowed" : jerr_code_name(why->code),
                 audit_field(why->field), via_name(job));
    else
        snprintf(e.detail, sizeof(e.detail), "status=%d via=%s", status, via_name(job));
    if (status == 401) { /* the address that refusals.h counts, to tie this row to its tally */
        char client[CLIENTADDR_TEXT_MAX];
        size_t used = strlen(e.detail);
        snprintf(e.detail + used, sizeof(e.detail) - used, " client=%s",
                 job->has_client ? clientaddr_text((struct sockaddr *)&job->client, client) : "-");
    }
    int rc = store_audit_append(st, &e, err);
    metrics_audit(rc == 0);
    return rc;
}

static int audit_before_commit(void *arg, struct store *st, const void *result, struct jerr *err)
{
    struct api_call *call = arg;
    (void)result;
    if (job_audit(call->job, st, call->status, NULL, err) == -1)
        return -1;
    call->job->audited = true;
    return 0;
}

struct lifecycle_ctx api_lifecycle_ctx(struct api_call *call)
{
    struct lifecycle_ctx ctx = {
        .pki = call->pki,
        .st = call->st,
        .actor = call->who->name,
        .before_commit = audit_before_commit,
        .before_commit_arg = call,
    };
    return ctx;
}

int api_answer(struct api_call *call, json_t *answer, struct jerr *err)
{
    if (answer == NULL)
        return api_oom(err);
    call->answer = answer;
    return 0;
}

json_t *api_object_merge(json_t *o, json_t *more)
{
    if (o != NULL && json_object_update_new(o, more) == 0)
        return o;
    if (o == NULL)
        json_decref(more);
    json_decref(o);
    return NULL;
}

/* PEM text of a DER certificate (one the registry holds: this service made it), as a JSON
 * string. RFC 7468 §5 wrapping of the bytes as they are: decoding the certificate only to
 * encode it again would cost OpenSSL 3.0's key decoder on every answer (DESIGN §8). */
json_t *api_pem_json(const unsigned char *der, size_t der_len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    json_t *out = NULL;
    char *text;

    if (der != NULL && der_len > 0 && der_len <= (size_t)INT32_MAX && bio != NULL &&
        PEM_write_bio(bio, PEM_STRING_X509, "", der, (long)der_len) > 0) {
        long len = BIO_get_mem_data(bio, &text);
        if (len > 0)
            out = json_stringn(text, (size_t)len);
    }
    ERR_clear_error();
    BIO_free(bio);
    return out;
}

json_t *api_time_json(int64_t at)
{
    char text[32];
    time_t t = (time_t)at;
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return json_null();
    return json_string(text);
}

int api_oom(struct jerr *err)
{
    return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
}

/* ---- answers (built on the worker) ---- */

static void answer_error(struct api_job *job, int status, const char *code, const char *field,
                         const char *message)
{
    json_t *body =
        json_pack("{s:{s:s, s:s?, s:o}}", "error", "code", code, "message", message, "field",
                  field != NULL && field[0] != '\0' ? json_string(field) : json_null());
    if (body == NULL) /* not UTF-8 (escaped bytes never are not) or out of memory */
        body = json_pack("{s:{s:s, s:s, s:n}}", "error", "code", code, "message", "error");
    job->status = status;
    free(job->answer);
    job->answer = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
}

static void answer_jerr(struct api_job *job, const struct jerr *err)
{
    int code = err->code != JERR_NONE ? err->code : JERR_INTERNAL;
    int status = http_status_for(code);
    if (status >= 500 && status != 503) {
        /* The detail is for the log only; it carries ids and codes, never request bodies. */
        log_error("api %s: %s %s: %s", job->action, jerr_code_name(code), err->field, err->msg);
        answer_error(job, status, "internal", NULL, "internal error");
        return;
    }
    answer_error(job, status, jerr_code_name(code), err->field, err->msg);
}

/* ---- the call, on a worker ---- */

static int authenticate(struct api_job *job, struct store *st, struct jerr *err)
{
    char token[AUTH_TOKEN_MAX + 1];
    int rc;

    if (job->authorization != NULL) {
        job->token_sent = true;
        rc = auth_bearer_parse(job->authorization, token, sizeof(token), err);
        if (rc == 0)
            rc = auth_by_token(job->api->cfg, st, token, &job->who, err);
        OPENSSL_cleanse(token, sizeof(token));
    } else if (job->peer != NULL) {
        rc = auth_by_cert_registry(job->api->cfg, st, job->peer, &job->who, err);
    } else {
        rc = auth_bearer_parse(NULL, token, sizeof(token), err);
    }
    if (rc == -1) {
        memset(&job->who, 0, sizeof(job->who));
        job->challenge = err->code == JERR_AUTH;
    }
    return rc;
}

/* The endpoint for the job's method and path; NULL with err (404, or 405 with job->allow). */
static const struct api_endpoint *route(struct api_job *job, const char **param, size_t *param_len,
                                        struct jerr *err)
{
    const struct api_endpoint *found = NULL;
    for (size_t i = 0; i < job->api->count; i++) {
        const struct api_endpoint *ep = &job->api->eps[i];
        const char *p;
        size_t plen;
        if (!api_path_matches(ep->path, job->path, &p, &plen))
            continue;
        job->allow |= (unsigned)ep->method;
        /* The action names the template even when the method is wrong. */
        if (found == NULL) {
            char method[HTTP_ALLOW_MAX];
            http_allow_header((unsigned)job->method, method, sizeof(method));
            snprintf(job->action, sizeof(job->action), "%.7s %s", method, ep->path);
        }
        if (ep->method == job->method) {
            found = ep;
            *param = p;
            *param_len = plen;
        }
    }
    if (found != NULL)
        return found;
    if (job->allow == 0)
        jerr_set(err, JERR_NOT_FOUND, NULL, "no such resource");
    else
        jerr_set(err, JERR_INVALID, NULL, "method not allowed here"); /* answered 405 */
    return NULL;
}

/* True when the job's path is that of an endpoint that takes no credential (asked when no
 * endpoint matched the method as well: a wrong method there is 405, not 401). */
static bool path_takes_no_credential(const struct api_job *job)
{
    for (size_t i = 0; i < job->api->count; i++) {
        const char *p;
        size_t plen;
        if (job->api->eps[i].roles == API_ROLES_NO_CREDENTIAL &&
            api_path_matches(job->api->eps[i].path, job->path, &p, &plen))
            return true;
    }
    return false;
}

static const char *placeholder_kind(const char *tpl)
{
    return strstr(tpl, "{serial}") != NULL ? "serial" : "id";
}

static int read_body(struct api_job *job, const struct api_endpoint *ep, struct jerr *err)
{
    size_t cap = ep->max_body_bytes > 0 ? ep->max_body_bytes : JPKI_HTTP_MAX_API_BODY_BYTES;
    if (ep->body == API_BODY_NONE)
        return 0;
    if (job->body_len > cap)
        return jerr_set(err, JERR_TOO_LARGE, "body", "body: larger than %zu bytes", cap);
    if (ep->body == API_BODY_RAW) {
        job->call.raw = job->body;
        job->call.raw_len = job->body_len;
        job->call.content_type = job->content_type;
        return 0;
    }
    if (ep->body == API_BODY_JSON_OPT && job->body_len == 0) {
        job->call.body = json_object();
        return job->call.body != NULL ? 0 : jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    }
    job->call.body = recjson_parse_body((const char *)job->body, job->body_len, err);
    return job->call.body != NULL ? 0 : -1;
}

/* Charges one call to the job's client address in `rl` (a refusal is not answered 429: the
 * call is already refused; the next ones will be). */
static void charge_address(struct ratelimit *rl, const struct api_job *job)
{
    unsigned char key[RATELIMIT_ADDR_KEY_MAX];
    size_t len =
        job->has_client ? ratelimit_addr_key((const struct sockaddr *)&job->client, key) : 0;
    int retry_after_s;
    if (rl != NULL && len > 0)
        (void)ratelimit_admit(rl, key, len, ratelimit_now_us(), &retry_after_s);
}

/* Counts the job's 401 (refusals.h); true when it is its address's first this minute. */
static bool refusal_is_first(const struct api_job *job)
{
    char client[CLIENTADDR_TEXT_MAX];
    if (!job->has_client)
        return true; /* no address to count it under: audited on its own */
    return refusals_count(job->api->refusals,
                          clientaddr_text((const struct sockaddr *)&job->client, client),
                          (int64_t)(jclock_now() / 60));
}

int api_audit_refusals(struct api *api, struct store *st, bool all, struct jerr *err)
{
    struct refusal_tally tallies[API_REFUSALS_BATCH];
    int64_t minute = all ? INT64_MAX : (int64_t)(jclock_now() / 60);
    size_t n;
    int rc = 0;

    if (!all && !refusals_are_due(api->refusals, minute))
        return 0;
    while ((n = refusals_take(api->refusals, minute, tallies, API_REFUSALS_BATCH)) > 0) {
        for (size_t i = 0; i < n; i++) {
            struct audit_entry e = {.at = jclock_now()};
            char at[32];
            snprintf(e.actor, sizeof(e.actor), "%s", AUTH_ANONYMOUS);
            snprintf(e.action, sizeof(e.action), "%s", API_REFUSED_LOGINS);
            snprintf(e.target, sizeof(e.target), "%s", tallies[i].addr);
            snprintf(e.outcome, sizeof(e.outcome), "refused");
            snprintf(e.detail, sizeof(e.detail), "status=401 count=%llu minute=%s (%s)",
                     (unsigned long long)tallies[i].count,
                     jclock_format((time_t)(tallies[i].minute * 60), at, sizeof(at)),
                     strcmp(tallies[i].addr, REFUSALS_OTHER) == 0
                         ? "from addresses past the table's capacity"
                         : "refused logins from this address in that minute, the first "
                           "also audited on its own");
            struct jerr e_err = {0};
            int wrote = store_audit_append(st, &e, &e_err);
            metrics_audit(wrote == 0);
            if (wrote == -1 && rc == 0) {
                jerr_set(err, e_err.code, e_err.field, "%s", e_err.msg);
                rc = -1;
            }
        }
    }
    return rc;
}

bool api_refusals_pending(struct api *api)
{
    return refusals_are_due(api->refusals, INT64_MAX);
}

static void job_run(struct worker *self, void *arg)
{
    struct api_job *job = arg;
    struct api_call *call = &job->call;
    struct jerr err = {0}, audit_err = {0};
    const struct api_endpoint *ep = NULL;
    const char *param = NULL;
    size_t param_len = 0;
    char method[HTTP_ALLOW_MAX];
    int rc = -1;

    http_allow_header((unsigned)job->method, method, sizeof(method));
    snprintf(job->action, sizeof(job->action), "%.7s %s", method[0] != '\0' ? method : "?",
             API_UNKNOWN_ROUTE);
    snprintf(call->target, sizeof(call->target), "%s", API_NO_TARGET);
    call->job = job;
    call->pki = job->api->pki;
    call->worker = self;
    call->who = &job->who;
    call->id = job->id;
    call->query = job->query;

    struct store *st = workers_store(self, &err);
    if (st == NULL) {
        /* No registry: no audit row can be written, so nothing is done either. */
        log_error("api %s: %s", job->action, err.msg);
        answer_error(job, 503, "unavailable", NULL, "registry unavailable, retry later");
        return;
    }
    call->st = st;
    /* The route first (pure), so that even a 401 names the template it was refused for. */
    struct jerr route_err = {0};
    const struct api_endpoint *matched = route(job, &param, &param_len, &route_err);
    bool no_credential =
        matched != NULL ? matched->roles == API_ROLES_NO_CREDENTIAL : path_takes_no_credential(job);
    bool rp_endpoint = matched != NULL && (matched->roles & API_ROLES_RELYING_PARTY) != 0;
    if (rp_endpoint && job->party_verdict == RPGATE_PARTY) {
        call->party = &job->party; /* a registered party: no operator credential to check */
    } else if (rp_endpoint && job->party_verdict == RPGATE_SUSPENDED) {
        jerr_set(&err, JERR_FORBIDDEN, "party", "relying party %s is suspended", job->party.id);
        goto refused;
    } else if (rp_endpoint && authenticate(job, st, &err) == -1) {
        /* Neither an active party nor an operator: refused, saying what would be accepted. */
        if (err.code == JERR_AUTH) {
            if (job->token_sent || job->peer != NULL) /* as below: made-up tokens are charged */
                charge_address(job->api->rate_api_addr, job);
            err = (struct jerr){0};
            job->challenge = false;
            jerr_set(&err, JERR_FORBIDDEN, "party",
                     "not a registered relying party (its client certificate or bearer token "
                     "over HTTPS) nor an operator");
        }
        goto refused;
    } else if (!rp_endpoint && !no_credential && authenticate(job, st, &err) == -1) {
        /* A credential presented and refused is charged to the address (rate_admit charged
         * it to the credential as sent, which made-up tokens would escape). */
        if (err.code == JERR_AUTH && (job->token_sent || job->peer != NULL))
            charge_address(job->api->rate_api_addr, job);
        goto refused;
    }
    if ((ep = matched) == NULL) {
        err = route_err;
        goto refused;
    }
    /* The id first, so that a 403 names its target too; the role is refused before a bad id. */
    struct jerr param_err = {0};
    if (param != NULL && api_param_decode(placeholder_kind(ep->path), param, param_len, job->id,
                                          sizeof(job->id), &param_err) == 0)
        snprintf(call->target, sizeof(call->target), "%s", job->id);
    if (ep->roles != API_ROLES_NO_CREDENTIAL && call->party == NULL &&
        !operator_role_is_allowed(job->who.role, ep->roles)) {
        jerr_set(&err, JERR_FORBIDDEN, NULL, "role %s may not call %s",
                 operator_role_name(job->who.role), job->action);
        goto refused;
    }
    if (jerr_is_set(&param_err)) {
        err = param_err;
        goto refused;
    }
    if (read_body(job, ep, &err) == -1)
        goto refused;
    call->arg = ep->arg;
    call->status = ep->status;
    rc = ep->run(call, &err);
    if (rc == -1) {
        job->audited = false; /* a row written in a transaction that then failed is gone */
        goto refused;
    }
    if (call->answer == NULL || (job->answer = json_dumps(call->answer, JSON_COMPACT)) == NULL) {
        jerr_set(&err, JERR_INTERNAL, NULL, "cannot build the answer");
        rc = -1;
        goto refused;
    }
    job->status = call->status;
    if (!job->audited && job_audit(job, st, job->status, NULL, &audit_err) == -1) {
        /* A read that cannot be recorded is not answered (every call is audited). */
        log_error("api %s: audit row not written: %s", job->action, audit_err.msg);
        answer_error(job, 503, "unavailable", NULL, "audit log unavailable, retry later");
    }
    goto out;

refused:
    if (job->allow != 0 && ep == NULL && err.code == JERR_INVALID) {
        char allow[HTTP_ALLOW_MAX], message[160];
        http_allow_header(job->allow, allow, sizeof(allow));
        snprintf(message, sizeof(message), "method %s not allowed here; allowed: %s", method,
                 allow);
        answer_error(job, 405, "method_not_allowed", NULL, message);
    } else {
        answer_jerr(job, &err);
    }
    /* Refused logins: the first of an address in a minute is audited here, the others are
     * counted and audited together once the minute is over (api_audit_refusals). */
    if (!job->audited && job->status == 401 && job->who.via == AUTH_VIA_NONE &&
        !refusal_is_first(job))
        job->audited = true;
    if (!job->audited && job_audit(job, st, job->status, &err, &audit_err) == -1)
        log_error("api %s: audit row not written: %s", job->action, audit_err.msg);
out:
    json_decref(call->body);
    call->body = NULL;
    json_decref(call->answer);
    call->answer = NULL;
}

/* ---- the loop side ---- */

static void job_free(struct api_job *job)
{
    if (job == NULL)
        return;
    if (job->authorization != NULL) {
        OPENSSL_cleanse(job->authorization, strlen(job->authorization));
        free(job->authorization);
    }
    X509_free(job->peer);
    free(job->path);
    free(job->query);
    free(job->body);
    free(job->content_type);
    free(job->answer);
    free(job);
}

static void job_done(void *arg)
{
    struct api_job *job = arg;
    struct evkeyvalq *out = evhttp_request_get_output_headers(job->req);
    char allow[HTTP_ALLOW_MAX];

    /* Answers carry personal data and, once, a new token: no cache may keep them. */
    evhttp_add_header(out, "Cache-Control", "no-store");
    if (job->status == 401 && job->challenge)
        evhttp_add_header(out, "WWW-Authenticate",
                          job->token_sent ? "Bearer realm=\"jpki\", error=\"invalid_token\""
                                          : "Bearer realm=\"jpki\""); /* RFC 6750 §3 */
    if (job->status == 405)
        evhttp_add_header(out, "Allow", http_allow_header(job->allow, allow, sizeof(allow)));
    if (job->answer != NULL)
        http_send_json_text(job->req, job->status, job->answer);
    else
        http_send_error(job->req, 500, "internal", NULL, "internal error");
    metrics_http(METRICS_EP_API, job->answer != NULL ? job->status : 500,
                 jclock_seconds_since(&job->started));
    job_free(job);
}

/* Per-client rate limiting (limits.api_per_minute, limits.holder_per_minute). Runs on the
 * loop before anything is copied or queued, against lock-free tables shared by the loops
 * (ratelimit.h). The client is clientaddr.h's (the peer, or the client a trusted proxy names).
 * A call presenting an operator credential (the Authorization header as sent, or the verified
 * client certificate's operator) is charged to that credential alone: operators behind one
 * NAT or proxy do not share a limit. A call without one is charged to its address, and so is
 * a credential that authentication refuses (job_run): rotating made-up tokens runs into the
 * address limit, and an address over it is refused whatever credential it presents next.
 * Calls that take no operator credential (a card holder's revocation) have their own,
 * tighter, per-address limit. A refusal is answered here with 429 "rate_limited" and
 * Retry-After, and is not audited. Returns true to go on, false with *retry_after_s. */
static bool rate_admit(struct api *api, const struct server_request *sr,
                       const struct sockaddr *client, int *retry_after_s)
{
    unsigned char addr[RATELIMIT_ADDR_KEY_MAX];
    size_t addr_len = 0;
    uint64_t now = 0;
    bool holder = false;

    if (api->rate_api_addr == NULL && api->rate_holder == NULL)
        return true;
    for (size_t i = 0; i < api->count && !holder; i++) {
        const char *p;
        size_t plen;
        holder = api->eps[i].roles == API_ROLES_NO_CREDENTIAL &&
                 api_path_matches(api->eps[i].path, sr->path, &p, &plen);
    }
    addr_len = ratelimit_addr_key(client, addr);
    now = ratelimit_now_us();
    if (holder)
        return addr_len == 0 ||
               ratelimit_admit(api->rate_holder, addr, addr_len, now, retry_after_s);
    const char *authz =
        evhttp_find_header(evhttp_request_get_input_headers(sr->req), "Authorization");
    X509 *peer = authz == NULL ? server_request_peer_cert(sr) : NULL;
    if (authz == NULL && peer == NULL)
        return addr_len == 0 ||
               ratelimit_admit(api->rate_api_addr, addr, addr_len, now, retry_after_s);
    if (addr_len > 0 && ratelimit_is_over(api->rate_api_addr, addr, addr_len, now, retry_after_s))
        return false;
    if (authz != NULL) {
        char key[RATELIMIT_KEY_MAX];
        int n = snprintf(key, sizeof(key), "T%s", authz); /* cut: still one bucket per prefix */
        bool ok =
            ratelimit_admit(api->rate_api_cred, key,
                            n < (int)sizeof(key) ? (size_t)n : sizeof(key) - 1, now, retry_after_s);
        OPENSSL_cleanse(key, sizeof(key));
        return ok;
    }
    /* A certificate: its operator's name (the same operator on a renewed certificate). */
    struct auth_identity who;
    struct jerr why = {0};
    if (auth_by_cert(peer, &who, &why) == 0) {
        char key[RATELIMIT_KEY_MAX];
        int n = snprintf(key, sizeof(key), "C%s", who.name);
        return ratelimit_admit(api->rate_api_cred, key, (size_t)n, now, retry_after_s);
    }
    /* Not an operator's certificate: refused by authentication, charged to the address. */
    return true;
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

/* True when `path` is that of an API_ROLES_RELYING_PARTY endpoint. */
static bool takes_relying_parties(const struct api *api, const char *path)
{
    for (size_t i = 0; i < api->count; i++) {
        const char *p;
        size_t plen;
        if ((api->eps[i].roles & API_ROLES_RELYING_PARTY) != 0 &&
            api_path_matches(api->eps[i].path, path, &p, &plen))
            return true;
    }
    return false;
}

void api_set_relying_parties(struct api *api, struct rpgate *gate)
{
    api->gate = gate;
}

static void api_handler(const struct server_request *sr, void *arg)
{
    struct api *api = arg;
    struct jerr err = {0};
    struct evkeyvalq *in = evhttp_request_get_input_headers(sr->req);
    struct evbuffer *body = evhttp_request_get_input_buffer(sr->req);
    struct timespec started;

    clock_gettime(CLOCK_MONOTONIC, &started);
    struct sockaddr_storage client = {0};
    bool has_client = clientaddr_of_request(api->trust, sr->req, &client) == 0;
    int retry_after_s = 1;
    if (!rate_admit(api, sr, has_client ? (struct sockaddr *)&client : NULL, &retry_after_s)) {
        char retry[16];
        snprintf(retry, sizeof(retry), "%d", retry_after_s);
        /* RFC 6585 §4: 429, and when to come back (RFC 9110 §10.2.3). */
        evhttp_add_header(evhttp_request_get_output_headers(sr->req), "Retry-After", retry);
        http_send_error(sr->req, 429, "rate_limited", NULL, "too many calls, retry in %d seconds",
                        retry_after_s);
        metrics_http(METRICS_EP_API, 429, jclock_seconds_since(&started));
        return;
    }
    struct api_job *job = calloc(1, sizeof(*job));
    if (job == NULL)
        goto oom;
    job->api = api;
    job->req = sr->req;
    job->method = sr->method;
    job->started = started;
    job->client = client;
    job->has_client = has_client;
    job->body_len = evbuffer_get_length(body);
    job->path = strdup(sr->path);
    job->query = dup_or_null(sr->query);
    job->authorization = dup_or_null(evhttp_find_header(in, "Authorization"));
    job->content_type = dup_or_null(evhttp_find_header(in, "Content-Type"));
    job->body = malloc(job->body_len > 0 ? job->body_len : 1);
    if (job->path == NULL || (sr->query != NULL && job->query == NULL) || job->body == NULL ||
        (evhttp_find_header(in, "Authorization") != NULL && job->authorization == NULL) ||
        (evhttp_find_header(in, "Content-Type") != NULL && job->content_type == NULL))
        goto oom;
    if (job->body_len > 0 &&
        evbuffer_copyout(body, job->body, job->body_len) != (ev_ssize_t)job->body_len)
        goto oom;
    job->party_verdict = RPGATE_NO_CREDENTIAL;
    if (api->gate != NULL && sr->tls && takes_relying_parties(api, sr->path))
        job->party_verdict = rpgate_identify(api->gate, sr, &job->party);
    X509 *peer = server_request_peer_cert(sr);
    if (peer != NULL && X509_up_ref(peer) == 1)
        job->peer = peer;
    if (server_submit(sr, job_run, job_done, job, &err) == -1) {
        log_warn("api: %s", err.msg);
        http_send_jerr(sr->req, &err);
        metrics_http(METRICS_EP_API, http_status_for(err.code), jclock_seconds_since(&started));
        job_free(job);
    }
    return;
oom:
    job_free(job);
    http_send_error(sr->req, 503, "unavailable", NULL, "out of memory, retry later");
    metrics_http(METRICS_EP_API, 503, jclock_seconds_since(&started));
}

int api_register(struct api *api, struct server *srv, struct jerr *err)
{
    size_t max_body = JPKI_HTTP_MAX_API_BODY_BYTES;
    for (size_t i = 0; i < api->count; i++)
        if (api->eps[i].max_body_bytes > max_body)
            max_body = api->eps[i].max_body_bytes;
    /* The API on the operator listeners (the public ones when there is none); the holder's
     * calls, which take no operator credential, on the public ones. */
    const struct server_route r = {API_PREFIX,  true, API_ALL_METHODS, max_body,
                                   api_handler, api,  SERVER_OPERATOR};
    const struct server_route holder = {API_HOLDER_PREFIX, true, API_ALL_METHODS, max_body,
                                        api_handler,       api,  SERVER_PUBLIC};
    if (server_add_route(srv, &r, err) == -1)
        return -1;
    return server_add_route(srv, &holder, err);
}
