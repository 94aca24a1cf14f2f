/*
 * operators: see operators.h. Run functions over auth.h (who an operator is) and the
 * registry's operators table; no SQL, no HTTP.
 */
#include "responder/api/operators.h"

#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>

#include "ca/recjson.h"
#include "responder/api/auth.h"

static int oom(struct jerr *err)
{
    return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
}

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

static int operator_list(struct api_call *call, struct jerr *err)
{
    const struct jpki_config *cfg = pki_config(call->pki);
    struct auth_identity admin;
    bool disabled = false;
    json_t *list = json_array();

    if (list == NULL)
        return oom(err);
    for (size_t i = 0; i < cfg->operator_count; i++)
        if (json_array_append_new(list,
                                  operator_json(cfg->operators[i].name, cfg->operators[i].role,
                                                "config", false, 0, NULL)) != 0)
            goto fail_oom;
    if (auth_operator_lookup(cfg, call->st, AUTH_ADMIN_NAME, &admin, &disabled, err) == -1)
        goto fail;
    if (json_array_append_new(
            list, operator_json(AUTH_ADMIN_NAME, ROLE_ADMIN, "init", disabled, 0, NULL)) != 0)
        goto fail_oom;
    if (store_operator_foreach(call->st, list_registry, list, err) == -1)
        goto fail;
    if ((call->answer = json_pack("{s:o}", "operators", list)) == NULL)
        return oom(err);
    return 0;
fail_oom:
    oom(err);
fail:
    json_decref(list);
    return -1;
}

/* The operator the path names, which this API may change: not one of the file's, not the
 * caller (an administrator who disables or rotates away their own credential is locked
 * out, or holds a token nobody else knows was replaced). */
static int changeable(struct api_call *call, struct auth_identity *who, bool *disabled,
                      struct jerr *err)
{
    const struct jpki_config *cfg = pki_config(call->pki);

    if (auth_operator_lookup(cfg, call->st, call->id, who, disabled, err) == -1)
        return -1;
    for (size_t i = 0; i < cfg->operator_count; i++)
        if (strcmp(cfg->operators[i].name, call->id) == 0)
            return jerr_set(err, JERR_CONFLICT, "name",
                            "operator %s is configured in the configuration file: change it "
                            "there",
                            call->id);
    if (strcmp(call->who->name, call->id) == 0)
        return jerr_set(err, JERR_CONFLICT, "name",
                        "operator %s is the caller: another administrator must do this", call->id);
    return 0;
}

static int operator_disable(struct api_call *call, struct jerr *err)
{
    static const char *const allowed[] = {NULL};
    struct auth_identity op;
    bool disabled = false;

    if (recjson_only_fields(call->body, "", allowed, err) == -1 ||
        changeable(call, &op, &disabled, err) == -1)
        return -1;
    if (!disabled) {
        if (store_begin(call->st, err) == -1)
            return -1;
        int rc = strcmp(call->id, AUTH_ADMIN_NAME) == 0
                     ? store_meta_set(call->st, "admin_token_sha256", OPERATORS_ADMIN_DISABLED, err)
                     : store_operator_disable(call->st, call->id, err);
        if (rc == -1 || api_commit(call, err) == -1) {
            store_rollback(call->st);
            return -1;
        }
    }
    call->answer = json_pack("{s:s, s:s, s:b}", "name", op.name, "role",
                             operator_role_name(op.role), "disabled", 1);
    return call->answer != NULL ? 0 : oom(err);
}

static int operator_rotate(struct api_call *call, struct jerr *err)
{
    static const char *const allowed[] = {NULL};
    char token[AUTH_NEW_TOKEN_HEX + 1] = "", hash_hex[AUTH_SHA256_HEX + 1];
    struct auth_identity op;
    bool disabled = false;
    int rc = -1;

    if (recjson_only_fields(call->body, "", allowed, err) == -1 ||
        changeable(call, &op, &disabled, err) == -1)
        return -1;
    if (disabled) {
        /* A new token for a disabled credential would be a token that does nothing. */
        return jerr_set(err, JERR_REFUSED, "name",
                        "operator %s is disabled: create a new operator instead", call->id);
    }
    if (auth_token_new(token, hash_hex, err) == -1 || store_begin(call->st, err) == -1)
        goto out;
    if ((strcmp(call->id, AUTH_ADMIN_NAME) == 0
             ? store_meta_set(call->st, "admin_token_sha256", hash_hex, err)
             : store_operator_set_token(call->st, call->id, hash_hex, err)) == -1 ||
        api_commit(call, err) == -1) {
        store_rollback(call->st);
        goto out;
    }
    /* The token is shown once, in this answer; only its hash is kept. */
    call->answer = json_pack("{s:s, s:s, s:s}", "name", op.name, "role",
                             operator_role_name(op.role), "token", token);
    rc = call->answer != NULL ? 0 : oom(err);
out:
    OPENSSL_cleanse(token, sizeof(token));
    return rc;
}

int operators_add_endpoints(struct api *api, struct jerr *err)
{
    const struct api_endpoint eps[] = {
        {EVHTTP_REQ_GET, "/v1/operators", AUTH_ROLES_ADMIN | AUTH_ROLE(ROLE_AUDITOR), API_BODY_NONE,
         0, 200, operator_list, NULL},
        {EVHTTP_REQ_POST, "/v1/operators/{id}/disable", AUTH_ROLES_ADMIN, API_BODY_JSON_OPT, 0, 200,
         operator_disable, NULL},
        {EVHTTP_REQ_POST, "/v1/operators/{id}/rotate", AUTH_ROLES_ADMIN, API_BODY_JSON_OPT, 0, 200,
         operator_rotate, NULL},
    };
    for (size_t i = 0; i < sizeof(eps) / sizeof(eps[0]); i++)
        if (api_add_endpoint(api, &eps[i], err) == -1)
            return -1;
    return 0;
}
