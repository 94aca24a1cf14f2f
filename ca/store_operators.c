/*
 * store_operators: operator credentials created through the API (table operators, migration
 * 2; docs/API.md). A token is never stored: only its SHA-256 as hex.
 */
#include "ca/store_int.h"

#include <stdlib.h>
#include <string.h>

#include "base/jclock.h"

static const char SQL_OPERATOR_INSERT[] =
    "INSERT INTO operators(name, role, token_sha256, created_at, "
    "created_by, disabled) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_OPERATOR_GET[] =
    "SELECT name, role, token_sha256, created_at, created_by, disabled "
    "FROM operators WHERE name = ?1";
static const char SQL_OPERATOR_BY_TOKEN[] =
    "SELECT name, role, token_sha256, created_at, created_by, disabled "
    "FROM operators WHERE token_sha256 = ?1";
static const char SQL_OPERATOR_LIST[] =
    "SELECT name, role, token_sha256, created_at, created_by, disabled "
    "FROM operators ORDER BY name";
static const char SQL_OPERATOR_DISABLE[] = "UPDATE operators SET disabled = 1 WHERE name = ?1";
static const char SQL_OPERATOR_SET_TOKEN[] =
    "UPDATE operators SET token_sha256 = ?2 WHERE name = ?1";

/* ---- operators (migration 2) ----------------------------------------------------------- */

static int operator_from_row(sqlite3_stmt *s, struct operator_rec *out, struct jerr *err)
{
    struct operator_rec op;

    memset(&op, 0, sizeof(op));
    if (store_col_copy(s, 0, op.name, sizeof(op.name), "name", err) == -1 ||
        store_col_copy(s, 2, op.token_sha256, sizeof(op.token_sha256), "token_sha256", err) == -1 ||
        store_col_copy(s, 4, op.created_by, sizeof(op.created_by), "created_by", err) == -1)
        return -1;
    op.role = (enum operator_role)sqlite3_column_int(s, 1);
    op.created_at = sqlite3_column_int64(s, 3);
    op.disabled = sqlite3_column_int(s, 5) != 0;
    *out = op;
    return 0;
}

/* What store_step_write said of an operator write: a UNIQUE violation is the token hash. */
static int token_conflict(struct store *st, int rc, const char *what, struct jerr *err)
{
    if (rc == SQLITE_CONSTRAINT_UNIQUE)
        return jerr_set(err, JERR_CONFLICT, "token_sha256", "token already in use");
    if (rc > 0)
        return store_fail(st, rc, err, "name", what);
    return rc;
}

int store_operator_insert(struct store *st, const struct operator_rec *op, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_OPERATOR_INSERT, err);
    char buf[JPKI_ID_MAX * 4 + 1];
    int ret = -1;

    if (s == NULL)
        return -1;
    if (store_bind_fixed(s, 1, op->name, sizeof(op->name), "name", err) == -1 ||
        store_bind_fixed(s, 3, op->token_sha256, sizeof(op->token_sha256), "token_sha256", err) ==
            -1 ||
        store_bind_fixed(s, 5, op->created_by, sizeof(op->created_by), "created_by", err) == -1)
        goto out;
    if (op->role < ROLE_ADMIN || op->role > ROLE_AUDITOR) {
        jerr_set(err, JERR_INVALID, "role", "unknown operator role %d", (int)op->role);
        goto out;
    }
    sqlite3_bind_int(s, 2, (int)op->role);
    sqlite3_bind_int64(s, 4, op->created_at != 0 ? op->created_at : (int64_t)jclock_now());
    sqlite3_bind_int(s, 6, op->disabled ? 1 : 0);
    ret = store_step_write(st, s, "name", "insert operator", err);
    if (ret == SQLITE_CONSTRAINT_PRIMARYKEY)
        ret = jerr_set(err, JERR_CONFLICT, "name", "operator %s already exists",
                       store_esc(buf, sizeof(buf), op->name));
    else
        ret = token_conflict(st, ret, "insert operator", err);
out:
    store_stmt_done(s);
    return ret;
}

/* One operator by the key bound to ?1 (name or token hash). */
static int operator_get_by(struct store *st, const char *sql, const char *key, size_t max,
                           const char *field, struct operator_rec *out, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, sql, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (store_bind_str(s, 1, key, max, field, err) == -1)
        goto out;
    if (store_step_row(st, s, field, "get operator", err, "no such operator") == -1)
        goto out;
    ret = operator_from_row(s, out, err);
out:
    store_stmt_done(s);
    return ret;
}

int store_operator_get(struct store *st, const char *name, struct operator_rec *out,
                       struct jerr *err)
{
    return operator_get_by(st, SQL_OPERATOR_GET, name, JPKI_ID_MAX, "name", out, err);
}

int store_operator_by_token(struct store *st, const char *token_sha256, struct operator_rec *out,
                            struct jerr *err)
{
    return operator_get_by(st, SQL_OPERATOR_BY_TOKEN, token_sha256, STORE_TOKEN_SHA256_HEX,
                           "token_sha256", out, err);
}

struct operator_walk {
    store_operator_cb cb;
    void *ctx;
};

static int operator_row(void *arg, sqlite3_stmt *s, struct jerr *err)
{
    struct operator_walk *walk = arg;
    struct operator_rec op;

    if (operator_from_row(s, &op, err) == -1)
        return -1;
    return walk->cb(walk->ctx, &op) != 0 ? store_stopped(err, "operator listing") : 0;
}

int store_operator_foreach(struct store *st, store_operator_cb cb, void *ctx, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_OPERATOR_LIST, err);
    struct operator_walk walk = {cb, ctx};
    int ret;

    if (s == NULL)
        return -1;
    ret = store_step_rows(st, s, operator_row, &walk, NULL, "list operators", err);
    store_stmt_done(s);
    return ret;
}

/* Runs an UPDATE of one operator by name (?1) and optional text ?2; JERR_NOT_FOUND when no
 * row changed. */
static int operator_update(struct store *st, const char *sql, const char *name, const char *text,
                           const char *what, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, sql, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (store_bind_str(s, 1, name, JPKI_ID_MAX, "name", err) == -1 ||
        (text != NULL &&
         store_bind_str(s, 2, text, STORE_TOKEN_SHA256_HEX, "token_sha256", err) == -1))
        goto out;
    ret = token_conflict(st, store_step_write(st, s, "name", what, err), what, err);
    if (ret == 0 && sqlite3_changes(st->db) == 0)
        ret = jerr_set(err, JERR_NOT_FOUND, "name", "no such operator");
out:
    store_stmt_done(s);
    return ret;
}

int store_operator_disable(struct store *st, const char *name, struct jerr *err)
{
    return operator_update(st, SQL_OPERATOR_DISABLE, name, NULL, "disable operator", err);
}

int store_operator_set_token(struct store *st, const char *name, const char *token_sha256,
                             struct jerr *err)
{
    return operator_update(st, SQL_OPERATOR_SET_TOKEN, name, token_sha256, "rotate operator", err);
}
