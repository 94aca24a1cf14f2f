/*
 * operators: see operators.h. Run functions over auth.h (tokens) and ca/operator.h (who an
 * operator is, and the registry writes); no SQL, no transaction, no HTTP.
 */
#include "responder/api/operators.h"

#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>

#include "ca/operator.h"
#include "ca/recjson.h"
#include "responder/api/auth.h"

static json_t *operator_json(const char *name, enum operator_role role, const char *source,
                             bool disabled, int64_t created_at, const char *created_by)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:b}", "name", name, "role", operator_role_name(role),
                          "source", source, "disabled", disabled);
    if (o != NULL && created_at > 0)
        json_object_set_new(o, "created_at", json_integer((json_int_t)created_at));
    if (o != NULL && created_by != NULL)
        json_object_set_new(o, "created_by", json_string(created_by));
    return o;
}

static int list_registry(void *ctx, const struct operator_rec *op)
{
    json_t *o =
        operator_json(op->name, op->role, "registry", op->disabled, op->created_at, op->created_by);
    return o != NULL && json_array_append_new(ctx, o) == 0 ? 0 : -1;
}

static int run_list(struct api_call *call, struct jerr *err)
{
    const struct jpki_config *cfg = pki_config(call->pki);
    enum operator_role admin_role;
    bool disabled = false;
    json_t *list = json_array();

    if (list == NULL)
        return api_oom(err);
    for (size_t i = 0; i < cfg->operator_count; i++)
        if (json_array_append_new(list,
                                  operator_json(cfg->operators[i].name, cfg->operators[i].role,
                                                "config", false, 0, NULL)) != 0)
            goto fail_oom;
    if (operator_lookup(cfg, call->st, OPERATOR_ADMIN_NAME, &admin_role, &disabled, err) == -1)
        goto fail;
    if (json_array_append_new(
            list, operator_json(OPERATOR_ADMIN_NAME, admin_role, "init", disabled, 0, NULL)) != 0)
        goto fail_oom;
    if (store_operator_foreach(call->st, list_registry, list, err) == -1)
        goto fail;
    return api_answer(call, json_pack("{s:o}", "operators", list), err);
fail_oom:
    api_oom(err);
fail:
    json_decref(list);
    return -1;
}

/* The answer that shows an operator's new token, once: only its hash is kept. Wipes `token`. */
static int answer_token(struct api_call *call, const char *name, enum operator_role role,
                        char token[AUTH_NEW_TOKEN_HEX + 1], struct jerr *err)
{
    int rc = api_answer(call,
                        json_pack("{s:s, s:s, s:s}", "name", name, "role", operator_role_name(role),
                                  "token", token),
                        err);
    OPENSSL_cleanse(token, AUTH_NEW_TOKEN_HEX + 1);
    return rc;
}

static int run_create(struct api_call *call, struct jerr *err)
{
    static const char *const allowed[] = {"name", "role", NULL};
    char role_text[16], token[AUTH_NEW_TOKEN_HEX + 1] = "";
    struct operator_rec op;

    memset(&op, 0, sizeof(op));
    if (recjson_only_fields(call->body, "", allowed, err) == -1 ||
        recjson_string(call->body, "", "name", true, op.name, sizeof(op.name), err) == -1 ||
        model_check_id("name", op.name, err) == -1)
        return -1;
    snprintf(call->target, sizeof(call->target), "%s", op.name);
    if (recjson_string(call->body, "", "role", true, role_text, sizeof(role_text), err) == -1 ||
        auth_role_parse(role_text, &op.role) == -1)
        return jerr_set(err, JERR_INVALID, "role",
                        "role: must be admin, operator, batch or auditor");
    struct lifecycle_ctx ctx = api_lifecycle_ctx(call);
    if (auth_token_new(token, op.token_sha256, err) == -1 ||
        operator_create(&ctx, &op, err) == -1) {
        OPENSSL_cleanse(token, sizeof(token));
        return -1;
    }
    return answer_token(call, op.name, op.role, token, err);
}

static int run_disable(struct api_call *call, struct jerr *err)
{
    static const char *const allowed[] = {NULL};
    enum operator_role role;

    if (recjson_only_fields(call->body, "", allowed, err) == -1)
        return -1;
    struct lifecycle_ctx ctx = api_lifecycle_ctx(call);
    if (operator_disable(&ctx, call->id, &role, err) == -1)
        return -1;
    return api_answer(call,
                      json_pack("{s:s, s:s, s:b}", "name", call->id, "role",
                                operator_role_name(role), "disabled", 1),
                      err);
}

static int run_rotate(struct api_call *call, struct jerr *err)
{
    static const char *const allowed[] = {NULL};
    char token[AUTH_NEW_TOKEN_HEX + 1] = "", hash_hex[AUTH_SHA256_HEX + 1];
    enum operator_role role;

    if (recjson_only_fields(call->body, "", allowed, err) == -1)
        return -1;
    struct lifecycle_ctx ctx = api_lifecycle_ctx(call);
    if (auth_token_new(token, hash_hex, err) == -1 ||
        operator_rotate_token(&ctx, call->id, hash_hex, &role, err) == -1) {
        OPENSSL_cleanse(token, sizeof(token));
        return -1;
    }
    return answer_token(call, call->id, role, token, err);
}

int operators_add_endpoints(struct api *api, struct jerr *err)
{
    const struct api_endpoint eps[] = {
        {EVHTTP_REQ_GET, "/v1/operators", OPERATOR_ROLES_ADMIN | OPERATOR_ROLE(ROLE_AUDITOR),
         API_BODY_NONE, 0, 200, run_list, NULL},
        {EVHTTP_REQ_POST, "/v1/operators", OPERATOR_ROLES_ADMIN, API_BODY_JSON, 0, 201, run_create,
         NULL},
        {EVHTTP_REQ_POST, "/v1/operators/{id}/disable", OPERATOR_ROLES_ADMIN, API_BODY_JSON_OPT, 0,
         200, run_disable, NULL},
        {EVHTTP_REQ_POST, "/v1/operators/{id}/rotate", OPERATOR_ROLES_ADMIN, API_BODY_JSON_OPT, 0,
         200, run_rotate, NULL},
    };
    return api_add_endpoints(api, eps, sizeof(eps) / sizeof(eps[0]), err);
}
