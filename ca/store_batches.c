/*
 * store_batches: submitted batch files and their rows (tables batches, batch_rows;
 * migrations 3, 5; DESIGN §6, §8, docs/BATCH.md), so that a batch survives a restart and a
 * row is done at most once.
 */
#include "ca/store_int.h"

#include <stdlib.h>
#include <string.h>

#include "base/jclock.h"

#define BATCH_COLUMNS                                                                              \
    "id, key, digest, submitted_by, submitted_at, total, accepted, done_rows, failed_rows, "       \
    "state, finished_at"
#define BATCH_ROW_COLUMNS                                                                          \
    "row, key, state, serials, error_code, error_field, error_message, finished_at"
#define SELECT_BATCHES "SELECT " BATCH_COLUMNS " FROM batches WHERE "
#define SELECT_ROWS "SELECT " BATCH_ROW_COLUMNS " FROM batch_rows WHERE batch_id = ?1 AND "

/* One statement: the choice and the claim are one write, so two connections never claim
 * the same row. `state = 0` as in batch_rows_pending, so that index serves the choice. */
static const char SQL_BATCH_CLAIM[] =
    "UPDATE batch_rows SET claimed_until = ?3 WHERE batch_id = ?1 AND row = "
    "(SELECT row FROM batch_rows WHERE batch_id = ?1 AND state = 0 AND "
    "(claimed_until IS NULL OR claimed_until < ?2) ORDER BY row LIMIT 1) "
    "RETURNING " BATCH_ROW_COLUMNS ", request";
static const char SQL_BATCH_UNCLAIM[] =
    "UPDATE batch_rows SET claimed_until = NULL WHERE batch_id = ?1 AND "
    "row = ?2 AND state = 0";
static const char SQL_BATCH_CLAIMS_RELEASE[] =
    "UPDATE batch_rows SET claimed_until = NULL WHERE batch_id = ?1 "
    "AND state = 0 AND claimed_until IS NOT NULL";
static const char SQL_BATCH_INSERT[] =
    "INSERT INTO batches(key, digest, submitted_by, submitted_at, total, "
    "accepted) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_BATCH_GET[] = SELECT_BATCHES "id = ?1";
static const char SQL_BATCH_BY_KEY[] = SELECT_BATCHES "key = ?1";
static const char SQL_BATCH_ROW_INSERT[] =
    "INSERT INTO batch_rows(batch_id, row, key, state, request, "
    "error_code, error_field, error_message, finished_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char SQL_BATCH_ROW_GET[] = SELECT_ROWS "row = ?2";
/* `state = 0` as in batch_rows_pending, so that index serves it. */
static const char SQL_BATCH_NEXT_PENDING[] =
    "SELECT " BATCH_ROW_COLUMNS ", request FROM batch_rows "
    "WHERE batch_id = ?1 AND state = 0 ORDER BY row LIMIT 1";
static const char SQL_BATCH_ROW_FINISH[] =
    "UPDATE batch_rows SET state = ?3, serials = ?4, error_code = ?5, "
    "error_field = ?6, error_message = ?7, finished_at = ?8, "
    "request = NULL, claimed_until = NULL "
    "WHERE batch_id = ?1 AND row = ?2 AND state = 0";
static const char SQL_BATCH_COUNT[] = "UPDATE batches SET done_rows = done_rows + ?2, "
                                      "failed_rows = failed_rows + ?3 WHERE id = ?1";
static const char SQL_BATCH_FINISH[] =
    "UPDATE batches SET state = 1, finished_at = ?2 WHERE id = ?1 AND "
    "state = 0 AND done_rows + failed_rows >= total";
static const char SQL_BATCH_ROWS[] = SELECT_ROWS "row > ?2 ORDER BY row LIMIT ?3";
static const char SQL_BATCH_ROWS_STATE[] =
    SELECT_ROWS "row > ?2 AND state = ?4 ORDER BY row LIMIT ?3";
static const char SQL_BATCHES_RUNNING[] = SELECT_BATCHES "state = 0 ORDER BY id";
static const char SQL_BATCH_TOTALS[] =
    "SELECT coalesce(sum(done_rows), 0), coalesce(sum(failed_rows), 0), "
    "coalesce(sum(total - done_rows - failed_rows), 0) FROM batches";

/* ---- batches (migration 3) ------------------------------------------------------------- */

static int batch_from_row(sqlite3_stmt *s, struct batch_rec *out, struct jerr *err)
{
    struct batch_rec b;

    memset(&b, 0, sizeof(b));
    b.id = sqlite3_column_int64(s, 0);
    if (store_col_copy(s, 1, b.key, sizeof(b.key), "key", err) == -1 ||
        store_col_copy(s, 2, b.digest, sizeof(b.digest), "digest", err) == -1 ||
        store_col_copy(s, 3, b.submitted_by, sizeof(b.submitted_by), "submitted_by", err) == -1)
        return -1;
    b.submitted_at = sqlite3_column_int64(s, 4);
    b.total = sqlite3_column_int64(s, 5);
    b.accepted = sqlite3_column_int64(s, 6);
    b.done_rows = sqlite3_column_int64(s, 7);
    b.failed_rows = sqlite3_column_int64(s, 8);
    b.finished = sqlite3_column_int(s, 9) != 0;
    b.finished_at = store_col_int_or(s, 10, 0);
    *out = b;
    return 0;
}

static int batch_row_from_row(sqlite3_stmt *s, struct batch_row_rec *out, struct jerr *err)
{
    struct batch_row_rec r;

    memset(&r, 0, sizeof(r));
    r.row = sqlite3_column_int64(s, 0);
    if (store_col_copy(s, 1, r.key, sizeof(r.key), "key", err) == -1 ||
        store_col_copy(s, 3, r.serials, sizeof(r.serials), "serials", err) == -1 ||
        store_col_copy(s, 4, r.error_code, sizeof(r.error_code), "error_code", err) == -1 ||
        store_col_copy(s, 5, r.error_field, sizeof(r.error_field), "error_field", err) == -1 ||
        store_col_copy(s, 6, r.error_message, sizeof(r.error_message), "error_message", err) == -1)
        return -1;
    r.state = (enum batch_row_state)sqlite3_column_int(s, 2);
    r.finished_at = store_col_int_or(s, 7, 0);
    *out = r;
    return 0;
}

int store_batch_insert(struct store *st, struct batch_rec *b, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_BATCH_INSERT, err);
    char buf[JPKI_ID_MAX * 4 + 1];
    int ret = -1;

    if (s == NULL)
        return -1;
    if (store_bind_fixed(s, 1, b->key, sizeof(b->key), "key", err) == -1 ||
        store_bind_fixed(s, 2, b->digest, sizeof(b->digest), "digest", err) == -1 ||
        store_bind_fixed(s, 3, b->submitted_by, sizeof(b->submitted_by), "submitted_by", err) == -1)
        goto out;
    if (b->total < 0 || b->accepted < 0 || b->accepted > b->total) {
        jerr_set(err, JERR_INVALID, "total", "batch counts out of range");
        goto out;
    }
    sqlite3_bind_int64(s, 4, b->submitted_at != 0 ? b->submitted_at : (int64_t)jclock_now());
    sqlite3_bind_int64(s, 5, b->total);
    sqlite3_bind_int64(s, 6, b->accepted);
    ret = store_step_write(st, s, "key", "insert batch", err);
    if (store_is_unique_violation(ret))
        ret = jerr_set(err, JERR_CONFLICT, "key", "batch %s already exists",
                       store_esc(buf, sizeof(buf), b->key));
    else if (ret > 0)
        ret = store_fail(st, ret, err, "key", "insert batch");
    if (ret != 0)
        goto out;
    b->id = sqlite3_last_insert_rowid(st->db);
    b->done_rows = 0;
    b->failed_rows = 0;
    b->finished = false;
    b->finished_at = 0;
out:
    store_stmt_done(s);
    return ret;
}

/* Adds to a batch's counters inside the open transaction. */
static int batch_count(struct store *st, int64_t batch_id, int64_t done, int64_t failed,
                       struct jerr *err)
{
    int64_t changes = 0;

    if (store_run(st, SQL_BATCH_COUNT, (const int64_t[]){batch_id, done, failed}, 3, &changes,
                  "batch_id", "count batch row", err) == -1)
        return -1;
    if (changes != 1)
        return jerr_set(err, JERR_NOT_FOUND, "batch_id", "no batch %lld", (long long)batch_id);
    return 0;
}

int store_batch_row_insert(struct store *st, int64_t batch_id, const struct batch_row_rec *r,
                           const char *request, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    bool own = false;
    int ret = -1;

    if (r->state == BATCH_ROW_PENDING ? request == NULL : r->state != BATCH_ROW_INVALID)
        return jerr_set(err, JERR_INVALID, "state",
                        "a new batch row is pending (with a request) or invalid");
    if (store_own_tx_begin(st, &own, err) == -1)
        return -1;
    if ((s = store_stmt(st, SQL_BATCH_ROW_INSERT, err)) == NULL)
        goto out;
    sqlite3_bind_int64(s, 1, batch_id);
    sqlite3_bind_int64(s, 2, r->row);
    if (store_bind_fixed(s, 3, r->key, sizeof(r->key), "key", err) == -1 ||
        store_bind_fixed(s, 6, r->error_code, sizeof(r->error_code), "error_code", err) == -1 ||
        store_bind_fixed(s, 7, r->error_field, sizeof(r->error_field), "error_field", err) == -1 ||
        store_bind_fixed(s, 8, r->error_message, sizeof(r->error_message), "error_message", err) ==
            -1)
        goto out;
    sqlite3_bind_int(s, 4, (int)r->state);
    if (request != NULL && sqlite3_bind_text(s, 5, request, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
        jerr_set(err, JERR_INTERNAL, "request", "registry: cannot bind the request");
        goto out;
    }
    store_bind_int_or_null(s, 9, r->state == BATCH_ROW_INVALID ? (int64_t)jclock_now() : 0, 0);
    ret = store_step_write(st, s, "row", "insert batch row", err);
    if (store_is_unique_violation(ret))
        ret = jerr_set(err, JERR_CONFLICT, "row", "batch %lld has a row %lld already",
                       (long long)batch_id, (long long)r->row);
    else if (ret > 0)
        ret = store_fail(st, ret, err, "row", "insert batch row");
    if (ret != 0) {
        ret = -1;
        goto out;
    }
    store_stmt_done(s);
    s = NULL;
    if (r->state == BATCH_ROW_INVALID && batch_count(st, batch_id, 0, 1, err) == -1)
        goto out;
    ret = 0;
out:
    store_stmt_done(s);
    return store_own_tx_end(st, own, ret, err);
}

/* One batch by the key bound to ?1. */
static int batch_get_by(struct store *st, const char *sql, int64_t num, const char *key,
                        struct batch_rec *out, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, sql, err);
    const char *field = key != NULL ? "key" : "batch_id";
    int ret = -1;

    if (s == NULL)
        return -1;
    if (key != NULL) {
        if (store_bind_str(s, 1, key, JPKI_ID_MAX, field, err) == -1)
            goto out;
    } else {
        sqlite3_bind_int64(s, 1, num);
    }
    if (store_step_row(st, s, field, "get batch", err, "no such batch") == -1)
        goto out;
    ret = batch_from_row(s, out, err);
out:
    store_stmt_done(s);
    return ret;
}

int store_batch_get(struct store *st, int64_t id, struct batch_rec *out, struct jerr *err)
{
    return batch_get_by(st, SQL_BATCH_GET, id, NULL, out, err);
}

int store_batch_get_by_key(struct store *st, const char *key, struct batch_rec *out,
                           struct jerr *err)
{
    return batch_get_by(st, SQL_BATCH_BY_KEY, 0, key, out, err);
}

int store_batch_row_get(struct store *st, int64_t batch_id, int64_t row, struct batch_row_rec *out,
                        struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_BATCH_ROW_GET, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, batch_id);
    sqlite3_bind_int64(s, 2, row);
    if (store_step_row(st, s, "row", "get batch row", err, "batch %lld has no row %lld",
                       (long long)batch_id, (long long)row) == -1)
        goto out;
    ret = batch_row_from_row(s, out, err);
out:
    store_stmt_done(s);
    return ret;
}

/* A pending row and its request (columns BATCH_ROW_COLUMNS, request) from the current row of
 * `s`; *request malloc'd. Outputs written only on success. */
static int pending_row_from(sqlite3_stmt *s, struct batch_row_rec *out, char **request,
                            struct jerr *err)
{
    struct batch_row_rec r;
    char *text;

    if (batch_row_from_row(s, &r, err) == -1)
        return -1;
    const unsigned char *req = sqlite3_column_text(s, 8);
    if (req == NULL)
        return jerr_set(err, JERR_IO, "request", "registry: pending row %lld has no request",
                        (long long)r.row);
    if ((text = strdup((const char *)req)) == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    *out = r;
    *request = text;
    return 0;
}

/* Steps a bound query of one pending row and its request (SQL_BATCH_NEXT_PENDING,
 * SQL_BATCH_CLAIM) to its end; `none` says there was no row. */
static int pending_row_step(struct store *st, sqlite3_stmt *s, const char *none, const char *what,
                            struct batch_row_rec *out, char **request, struct jerr *err)
{
    struct batch_row_rec r;
    char *text = NULL;

    if (store_step_row(st, s, "row", what, err, "%s", none) == -1 ||
        pending_row_from(s, &r, &text, err) == -1)
        return -1;
    /* RETURNING rows are all computed by the first step; finishing the statement commits. */
    if (store_step_done(st, s, "row", what, err) == -1) {
        free(text);
        return -1;
    }
    *out = r;
    *request = text;
    return 0;
}

int store_batch_next_pending(struct store *st, int64_t batch_id, struct batch_row_rec *out,
                             char **request, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_BATCH_NEXT_PENDING, err);
    int ret;

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, batch_id);
    ret = pending_row_step(st, s, "no pending row", "next pending row", out, request, err);
    store_stmt_done(s);
    return ret;
}

int store_batch_claim_next(struct store *st, int64_t batch_id, int64_t now, int64_t until,
                           struct batch_row_rec *out, char **request, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_BATCH_CLAIM, err);
    int ret;

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, batch_id);
    sqlite3_bind_int64(s, 2, now);
    sqlite3_bind_int64(s, 3, until);
    ret = pending_row_step(st, s, "no row to claim", "claim batch row", out, request, err);
    store_stmt_done(s);
    return ret;
}

int store_batch_row_unclaim(struct store *st, int64_t batch_id, int64_t row, struct jerr *err)
{
    return store_run(st, SQL_BATCH_UNCLAIM, (const int64_t[]){batch_id, row}, 2, NULL, "row",
                     "unclaim batch row", err);
}

int store_batch_claims_release(struct store *st, int64_t batch_id, int64_t *released,
                               struct jerr *err)
{
    int64_t changes = 0;

    if (store_run(st, SQL_BATCH_CLAIMS_RELEASE, &batch_id, 1, &changes, "batch_id",
                  "release batch row claims", err) == -1)
        return -1;
    if (released != NULL)
        *released = changes;
    return 0;
}

int store_batch_row_finish(struct store *st, int64_t batch_id, int64_t row,
                           const struct batch_row_rec *result, bool *changed, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    bool own = false;
    int ret = -1;

    *changed = false;
    if (result->state != BATCH_ROW_DONE && result->state != BATCH_ROW_FAILED)
        return jerr_set(err, JERR_INVALID, "state", "a row finishes done or failed");
    if (store_own_tx_begin(st, &own, err) == -1)
        return -1;
    if ((s = store_stmt(st, SQL_BATCH_ROW_FINISH, err)) == NULL)
        goto out;
    sqlite3_bind_int64(s, 1, batch_id);
    sqlite3_bind_int64(s, 2, row);
    sqlite3_bind_int(s, 3, (int)result->state);
    if (store_bind_fixed(s, 4, result->serials, sizeof(result->serials), "serials", err) == -1 ||
        store_bind_fixed(s, 5, result->error_code, sizeof(result->error_code), "error_code", err) ==
            -1 ||
        store_bind_fixed(s, 6, result->error_field, sizeof(result->error_field), "error_field",
                         err) == -1 ||
        store_bind_fixed(s, 7, result->error_message, sizeof(result->error_message),
                         "error_message", err) == -1)
        goto out;
    sqlite3_bind_int64(s, 8,
                       result->finished_at != 0 ? result->finished_at : (int64_t)jclock_now());
    if (store_step_done(st, s, "row", "finish batch row", err) == -1)
        goto out;
    /* Only a pending row moves: a row finished before (by a run that committed) stays as is. */
    bool moved = sqlite3_changes(st->db) == 1;
    store_stmt_done(s);
    s = NULL;
    if (moved && batch_count(st, batch_id, result->state == BATCH_ROW_DONE ? 1 : 0,
                             result->state == BATCH_ROW_FAILED ? 1 : 0, err) == -1)
        goto out;
    *changed = moved;
    ret = 0;
out:
    store_stmt_done(s);
    ret = store_own_tx_end(st, own, ret, err);
    if (ret == -1)
        *changed = false;
    return ret;
}

int store_batch_finish(struct store *st, int64_t id, bool *changed, struct jerr *err)
{
    int64_t changes = 0;

    *changed = false;
    if (store_run(st, SQL_BATCH_FINISH, (const int64_t[]){id, (int64_t)jclock_now()}, 2, &changes,
                  "batch_id", "finish batch", err) == -1)
        return -1;
    *changed = changes == 1;
    return 0;
}

/* A listing of batches or of batch rows on its way to the caller's cb. */
struct batch_walk {
    store_batch_cb batch_cb;
    store_batch_row_cb row_cb;
    void *ctx;
};

static int batch_walk_row(void *arg, sqlite3_stmt *s, struct jerr *err)
{
    struct batch_walk *walk = arg;

    if (walk->row_cb != NULL) {
        struct batch_row_rec r;
        if (batch_row_from_row(s, &r, err) == -1)
            return -1;
        return walk->row_cb(walk->ctx, &r) != 0 ? store_stopped(err, "batch row listing") : 0;
    }
    struct batch_rec b;
    if (batch_from_row(s, &b, err) == -1)
        return -1;
    return walk->batch_cb(walk->ctx, &b) != 0 ? store_stopped(err, "batch listing") : 0;
}

int store_batch_rows_foreach(struct store *st, int64_t batch_id, int state, int64_t after_row,
                             int64_t limit, store_batch_row_cb cb, void *ctx, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, state < 0 ? SQL_BATCH_ROWS : SQL_BATCH_ROWS_STATE, err);
    struct batch_walk walk = {NULL, cb, ctx};
    int ret;

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, batch_id);
    sqlite3_bind_int64(s, 2, after_row);
    sqlite3_bind_int64(s, 3, limit);
    if (state >= 0)
        sqlite3_bind_int(s, 4, state);
    ret = store_step_rows(st, s, batch_walk_row, &walk, "batch_id", "list batch rows", err);
    store_stmt_done(s);
    return ret;
}

int store_batches_running(struct store *st, store_batch_cb cb, void *ctx, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_BATCHES_RUNNING, err);
    struct batch_walk walk = {cb, NULL, ctx};
    int ret;

    if (s == NULL)
        return -1;
    ret = store_step_rows(st, s, batch_walk_row, &walk, NULL, "list batches", err);
    store_stmt_done(s);
    return ret;
}

int store_batch_row_totals(struct store *st, int64_t *done, int64_t *failed, int64_t *pending,
                           struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_BATCH_TOTALS, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (sqlite3_step(s) != SQLITE_ROW) {
        store_fail_last(st, err, NULL, "batch totals");
        goto out;
    }
    *done = sqlite3_column_int64(s, 0);
    *failed = sqlite3_column_int64(s, 1);
    *pending = sqlite3_column_int64(s, 2);
    ret = 0;
out:
    store_stmt_done(s);
    return ret;
}
