/*
 * operator: see operator.h. Lookups read the registry as they find it; every write is one
 * transaction (enginetx.h) that ends with the caller's own row.
 */
#include "ca/operator.h"

#include <stdio.h>
#include <string.h>

#include "ca/enginetx.h"

bool operator_role_is_allowed(enum operator_role role, unsigned roles)
{
    if (role < ROLE_ADMIN || role > ROLE_AUDITOR)
        return false;
    return (roles & OPERATOR_ROLE(role)) != 0;
}

static bool is_configured(const struct jpki_config *cfg, const char *name)
{
    for (size_t i = 0; cfg != NULL && i < cfg->operator_count; i++)
        if (strcmp(cfg->operators[i].name, name) == 0)
            return true;
    return false;
}

/* A digest as the first administrator's setting holds it: 64 hex digits, either case. */
static bool is_digest(const char *hex)
{
    return strlen(hex) == STORE_TOKEN_SHA256_HEX &&
           strspn(hex, "0123456789abcdefABCDEF") == STORE_TOKEN_SHA256_HEX;
}

int operator_lookup(const struct jpki_config *cfg, struct store *st, const char *name,
                    enum operator_role *role, bool *disabled, struct jerr *err)
{
    struct operator_rec op;
    char hex[STORE_TOKEN_SHA256_HEX + 2];
    struct jerr lookup = {0};

    *disabled = false;
    for (size_t i = 0; cfg != NULL && i < cfg->operator_count; i++) {
        if (strcmp(cfg->operators[i].name, name) == 0) {
            *role = cfg->operators[i].role;
            return 0;
        }
    }
    if (strcmp(name, OPERATOR_ADMIN_NAME) == 0) {
        if (store_meta_get(st, OPERATOR_ADMIN_TOKEN_KEY, hex, sizeof(hex), &lookup) == -1 &&
            lookup.code != JERR_NOT_FOUND) {
            *err = lookup;
            return -1;
        }
        *role = ROLE_ADMIN;
        /* A disabled first administrator token is one that is no digest (operator_disable). */
        *disabled = lookup.code == JERR_NOT_FOUND || !is_digest(hex);
        return 0;
    }
    if (store_operator_get(st, name, &op, err) == -1)
        return -1;
    *role = op.role;
    *disabled = op.disabled;
    return 0;
}

int operator_create(struct lifecycle_ctx *ctx, const struct operator_rec *op, struct jerr *err)
{
    struct operator_rec rec = *op;

    /* One name, one operator: the configured ones and the first administrator are taken. */
    if (strcmp(op->name, OPERATOR_ADMIN_NAME) == 0 || is_configured(pki_config(ctx->pki), op->name))
        return jerr_set(err, JERR_CONFLICT, "name", "operator %s already exists", op->name);
    snprintf(rec.created_by, sizeof(rec.created_by), "%s", ctx->actor);
    if (enginetx_begin(ctx, err) == -1)
        return -1;
    return enginetx_end(ctx, store_operator_insert(ctx->st, &rec, err), NULL, err);
}

/* The operator `name`, which the API may change: not one of the file's, not the caller (an
 * administrator who disables or rotates away their own credential is locked out, or holds a
 * token nobody else knows was replaced). */
static int changeable(struct lifecycle_ctx *ctx, const char *name, enum operator_role *role,
                      bool *disabled, struct jerr *err)
{
    const struct jpki_config *cfg = pki_config(ctx->pki);

    if (operator_lookup(cfg, ctx->st, name, role, disabled, err) == -1)
        return -1;
    if (is_configured(cfg, name))
        return jerr_set(err, JERR_CONFLICT, "name",
                        "operator %s is configured in the configuration file: change it there",
                        name);
    if (ctx->actor != NULL && strcmp(ctx->actor, name) == 0)
        return jerr_set(err, JERR_CONFLICT, "name",
                        "operator %s is the caller: another administrator must do this", name);
    return 0;
}

/* Writes the token digest of `name` (OPERATOR_ADMIN_DISABLED disables the first
 * administrator's). */
static int set_token(struct store *st, const char *name, const char *token_sha256, struct jerr *err)
{
    if (strcmp(name, OPERATOR_ADMIN_NAME) == 0)
        return store_meta_set(st, OPERATOR_ADMIN_TOKEN_KEY, token_sha256, err);
    return store_operator_set_token(st, name, token_sha256, err);
}

int operator_disable(struct lifecycle_ctx *ctx, const char *name, enum operator_role *role,
                     struct jerr *err)
{
    bool disabled = false;

    if (changeable(ctx, name, role, &disabled, err) == -1)
        return -1;
    if (disabled)
        return 0;
    if (enginetx_begin(ctx, err) == -1)
        return -1;
    int rc = strcmp(name, OPERATOR_ADMIN_NAME) == 0
                 ? set_token(ctx->st, name, OPERATOR_ADMIN_DISABLED, err)
                 : store_operator_disable(ctx->st, name, err);
    return enginetx_end(ctx, rc, NULL, err);
}

int operator_rotate_token(struct lifecycle_ctx *ctx, const char *name, const char *token_sha256,
                          enum operator_role *role, struct jerr *err)
{
    bool disabled = false;

    if (changeable(ctx, name, role, &disabled, err) == -1)
        return -1;
    if (disabled)
        /* A new token for a disabled credential would be a token that does nothing. */
        return jerr_set(err, JERR_REFUSED, "name",
                        "operator %s is disabled: create a new operator instead", name);
    if (enginetx_begin(ctx, err) == -1)
        return -1;
    return enginetx_end(ctx, set_token(ctx->st, name, token_sha256, err), NULL, err);
}
