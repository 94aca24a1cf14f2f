/*
 * operator: the operators of the API as the CA knows them — who an operator is (the
 * configuration file, the first administrator token, the registry's operators table), the
 * roles' masks, and the registry writes that create one, disable one or give one a new token,
 * each one transaction with the caller's audit row (the before_commit hook of the ctx).
 *
 * Operators live in three places: the configuration file (read here, never changed: the file is
 * the administrator's), the first administrator token of jpkid init (registry setting
 * OPERATOR_ADMIN_TOKEN_KEY, name OPERATOR_ADMIN_NAME) and the registry's operators table. Only a
 * token's SHA-256 is ever stored; making tokens and checking them is responder/api/auth.h's.
 */
#ifndef JPKI_OPERATOR_H
#define JPKI_OPERATOR_H

#include <stdbool.h>

#include "ca/lifecycle.h"
#include "ca/store.h"
#include "config/config.h"
#include "base/jerr.h"

/* The operator name of the first administrator token. */
#define OPERATOR_ADMIN_NAME "admin"
/* The registry setting holding that token's SHA-256 (lower-case hex). */
#define OPERATOR_ADMIN_TOKEN_KEY "admin_token_sha256"
/* What that setting holds once the token is disabled: no digest, so no token matches it. */
#define OPERATOR_ADMIN_DISABLED "disabled"

/* Role masks (docs/API.md role table): the roles that may make a call. */
#define OPERATOR_ROLE(r) (1u << (unsigned)(r))
#define OPERATOR_ROLES_ADMIN OPERATOR_ROLE(ROLE_ADMIN)
/* every lifecycle call and POST of records */
#define OPERATOR_ROLES_LIFECYCLE (OPERATOR_ROLE(ROLE_ADMIN) | OPERATOR_ROLE(ROLE_OPERATOR))
/* batch submission */
#define OPERATOR_ROLES_BATCH (OPERATOR_ROLES_LIFECYCLE | OPERATOR_ROLE(ROLE_BATCH))
/* lookups, the expiring list, batch progress */
#define OPERATOR_ROLES_ANY (OPERATOR_ROLES_BATCH | OPERATOR_ROLE(ROLE_AUDITOR))

/* True when `role` is one of the mask `roles`. */
bool operator_role_is_allowed(enum operator_role role, unsigned roles);

/* The operator called `name`, wherever it is kept: the configured operators, the first
 * administrator, then the registry's operators table. Returns 0 with *role and *disabled
 * filled, or -1: JERR_NOT_FOUND (field "name") when no operator has that name, or the
 * registry's error. */
int operator_lookup(const struct jpki_config *cfg, struct store *st, const char *name,
                    enum operator_role *role, bool *disabled, struct jerr *err);

/* Records `op` (name, role, token_sha256; created_by becomes ctx->actor) in the registry's
 * operators table, in one transaction with ctx's before_commit. A name of the configuration
 * file or the first administrator's is taken: JERR_CONFLICT (field "name"), as is one already
 * in the table. Returns 0 or -1 (nothing written). */
int operator_create(struct lifecycle_ctx *ctx, const struct operator_rec *op, struct jerr *err);

/* Disables operator `name` (the first administrator's token included), in one transaction with
 * ctx's before_commit; an operator already disabled is left as it is, with no transaction.
 * *role gets its role. Refused (JERR_CONFLICT, field "name") for an operator of the
 * configuration file (changed there only) and for ctx->actor itself (an administrator who
 * disables their own credential is locked out); JERR_NOT_FOUND for no such operator. */
int operator_disable(struct lifecycle_ctx *ctx, const char *name, enum operator_role *role,
                     struct jerr *err);

/* Replaces the token of operator `name` by the one whose SHA-256 is `token_sha256` (hex), in one
 * transaction with ctx's before_commit. Refused as operator_disable, and for a disabled
 * operator (JERR_REFUSED, field "name": a new token for it would do nothing). *role gets its
 * role. */
int operator_rotate_token(struct lifecycle_ctx *ctx, const char *name, const char *token_sha256,
                          enum operator_role *role, struct jerr *err);

#endif
