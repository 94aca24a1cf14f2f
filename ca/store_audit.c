/*
 * store_audit: the audit log (table events, DESIGN §7), each row chained to the previous one
 * by its hash (ca/audit.h), and the signed checkpoints of that chain (table
 * audit_checkpoints, migration 6; their DER is ca/checkpoint.c's).
 */
#include "ca/store_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/jclock.h"
#include "ca/audit.h"

static const char SQL_AUDIT_LAST[] = "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1";
static const char SQL_AUDIT_INSERT[] =
    "INSERT INTO events(seq, at, actor, action, target, outcome, detail, "
    "prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char SQL_AUDIT_ALL[] =
    "SELECT seq, at, actor, action, target, outcome, detail, prev_hash, hash "
    "FROM events ORDER BY seq";
static const char SQL_AUDIT_TARGET[] =
    "SELECT seq, at, actor, action, target, outcome, detail FROM events "
    "WHERE target = ?1 ORDER BY seq";
static const char SQL_AUDIT_PAGE[] =
    "SELECT seq, at, actor, action, target, outcome, detail, prev_hash, hash "
    "FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2";
static const char SQL_CHECKPOINT_INSERT[] =
    "INSERT INTO audit_checkpoints(rows, at, der) VALUES (?1, ?2, ?3)";
static const char SQL_CHECKPOINT_LAST[] =
    "SELECT rows, der FROM audit_checkpoints ORDER BY rows DESC, id DESC "
    "LIMIT 1";
static const char SQL_CHECKPOINT_ALL[] =
    "SELECT rows, at, der FROM audit_checkpoints ORDER BY rows, id";

/* ---- audit log ------------------------------------------------------------------------- */

/* Reads seq, at, actor, action, target, outcome, detail (columns 0..6). */
static int audit_from_row(sqlite3_stmt *s, struct audit_entry *e, struct jerr *err)
{
    memset(e, 0, sizeof(*e));
    e->seq = sqlite3_column_int64(s, 0);
    e->at = sqlite3_column_int64(s, 1);
    if (store_col_copy(s, 2, e->actor, sizeof(e->actor), "actor", err) == -1 ||
        store_col_copy(s, 3, e->action, sizeof(e->action), "action", err) == -1 ||
        store_col_copy(s, 4, e->target, sizeof(e->target), "target", err) == -1 ||
        store_col_copy(s, 5, e->outcome, sizeof(e->outcome), "outcome", err) == -1 ||
        store_col_copy(s, 6, e->detail, sizeof(e->detail), "detail", err) == -1)
        return -1;
    return 0;
}

/* The newest row's seq and hash: 0 and all zeros for an empty log. */
static int audit_last(struct store *st, int64_t *seq, unsigned char *hash, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_AUDIT_LAST, err);
    int ret = -1;
    int rc;

    if (s == NULL)
        return -1;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_bytes(s, 1) != AUDIT_HASH_LEN) {
            jerr_set(err, JERR_IO, "hash", "registry: audit row %lld has a malformed hash",
                     (long long)sqlite3_column_int64(s, 0));
            goto out;
        }
        *seq = sqlite3_column_int64(s, 0);
        memcpy(hash, sqlite3_column_blob(s, 1), AUDIT_HASH_LEN);
    } else if (rc == SQLITE_DONE) {
        *seq = 0;
        memset(hash, 0, AUDIT_HASH_LEN);
    } else {
        store_fail_last(st, err, NULL, "audit log");
        goto out;
    }
    ret = 0;
out:
    store_stmt_done(s);
    return ret;
}

int store_audit_append(struct store *st, const struct audit_entry *e, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    struct audit_entry row = *e;
    unsigned char prev[AUDIT_HASH_LEN];
    unsigned char hash[AUDIT_HASH_LEN];
    bool own = false;
    int ret = -1;

    if (store_own_tx_begin(st, &own, err) == -1)
        return -1;
    /* The chain needs the last row as this transaction sees it; the write lock (BEGIN
     * IMMEDIATE) keeps another connection from appending in between. */
    if (audit_last(st, &row.seq, prev, err) == -1)
        goto out;
    row.seq++;
    if (row.at == 0)
        row.at = (int64_t)jclock_now();
    if ((s = store_stmt(st, SQL_AUDIT_INSERT, err)) == NULL)
        goto out;
    /* Binding first also refuses an unterminated field before it reaches the hash. */
    sqlite3_bind_int64(s, 1, row.seq);
    sqlite3_bind_int64(s, 2, row.at);
    if (store_bind_fixed(s, 3, row.actor, sizeof(row.actor), "actor", err) == -1 ||
        store_bind_fixed(s, 4, row.action, sizeof(row.action), "action", err) == -1 ||
        store_bind_fixed(s, 5, row.target, sizeof(row.target), "target", err) == -1 ||
        store_bind_fixed(s, 6, row.outcome, sizeof(row.outcome), "outcome", err) == -1 ||
        store_bind_fixed(s, 7, row.detail, sizeof(row.detail), "detail", err) == -1)
        goto out;
    if (audit_hash(&row, prev, hash) == -1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot hash the audit row");
        goto out;
    }
    sqlite3_bind_blob(s, 8, prev, AUDIT_HASH_LEN, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 9, hash, AUDIT_HASH_LEN, SQLITE_TRANSIENT);
    if (store_step_done(st, s, NULL, "append audit row", err) == -1)
        goto out;
    ret = 0;
out:
    store_stmt_done(s);
    return store_own_tx_end(st, own, ret, err);
}

int store_audit_verify(struct store *st, int64_t *bad_seq, int64_t *rows, struct jerr *err)
{
    return store_audit_verify_each(st, NULL, NULL, bad_seq, rows, err);
}

int store_audit_verify_each(struct store *st, store_audit_hash_cb cb, void *ctx, int64_t *bad_seq,
                            int64_t *rows, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_AUDIT_ALL, err);
    unsigned char prev[AUDIT_HASH_LEN] = {0}; /* the first row chains to all zeros */
    unsigned char hash[AUDIT_HASH_LEN];
    int64_t expected = 1;
    int64_t checked = 0;
    int64_t bad = 0;
    int ret = -1;
    int rc;

    if (s == NULL)
        return -1;
    /* One SELECT reads one consistent snapshot of the log (WAL), one row at a time. */
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct audit_entry e;
        struct jerr row_err = {0};
        int64_t seq = sqlite3_column_int64(s, 0);

        bad = seq;
        if (seq != expected) {
            if (seq > expected)
                jerr_set(err, JERR_IO, "seq",
                         "audit chain broken at seq %lld: gap in seq (rows %lld..%lld missing)",
                         (long long)seq, (long long)expected, (long long)(seq - 1));
            else
                jerr_set(err, JERR_IO, "seq",
                         "audit chain broken at seq %lld: gap in seq "
                         "(expected %lld)",
                         (long long)seq, (long long)expected);
            goto out;
        }
        if (sqlite3_column_bytes(s, 7) != AUDIT_HASH_LEN ||
            memcmp(sqlite3_column_blob(s, 7), prev, AUDIT_HASH_LEN) != 0) {
            jerr_set(err, JERR_IO, "prev_hash",
                     "audit chain broken at seq %lld: wrong previous hash", (long long)seq);
            goto out;
        }
        /* A field too long for the entry was written by something else: a mismatch too. */
        if (audit_from_row(s, &e, &row_err) == -1 || audit_hash(&e, prev, hash) == -1 ||
            sqlite3_column_bytes(s, 8) != AUDIT_HASH_LEN ||
            memcmp(sqlite3_column_blob(s, 8), hash, AUDIT_HASH_LEN) != 0) {
            jerr_set(err, JERR_IO, "hash",
                     "audit chain broken at seq %lld: hash mismatch (row altered)", (long long)seq);
            goto out;
        }
        memcpy(prev, hash, AUDIT_HASH_LEN);
        expected++;
        checked++;
        if (cb != NULL)
            cb(ctx, seq, hash);
    }
    if (rc != SQLITE_DONE) {
        bad = 0;
        store_fail_last(st, err, NULL, "audit log");
        goto out;
    }
    bad = 0;
    ret = 0;
out:
    store_stmt_done(s);
    if (bad_seq != NULL)
        *bad_seq = bad;
    if (rows != NULL)
        *rows = checked;
    return ret;
}

/* An audit listing on its way to the caller's cb: store_audit_cb, or with the hashes
 * (columns 7, 8) store_audit_row_cb. */
struct audit_walk {
    store_audit_cb cb;
    store_audit_row_cb row_cb;
    void *ctx;
};

static int audit_row(void *arg, sqlite3_stmt *s, struct jerr *err)
{
    struct audit_walk *walk = arg;
    struct audit_entry e;
    int stop;

    if (audit_from_row(s, &e, err) == -1)
        return -1;
    if (walk->row_cb == NULL) {
        stop = walk->cb(walk->ctx, &e);
    } else {
        if (sqlite3_column_bytes(s, 7) != AUDIT_HASH_LEN ||
            sqlite3_column_bytes(s, 8) != AUDIT_HASH_LEN)
            return jerr_set(err, JERR_IO, "hash", "registry: audit row %lld has a malformed hash",
                            (long long)e.seq);
        stop = walk->row_cb(walk->ctx, &e, sqlite3_column_blob(s, 7), sqlite3_column_blob(s, 8));
    }
    return stop != 0 ? store_stopped(err, "audit listing") : 0;
}

int store_audit_foreach_target(struct store *st, const char *target, store_audit_cb cb, void *ctx,
                               struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_AUDIT_TARGET, err);
    struct audit_walk walk = {cb, NULL, ctx};
    int ret = -1;

    if (s == NULL)
        return -1;
    if (store_bind_str(s, 1, target, sizeof(((struct audit_entry *)0)->target) - 1, "target",
                       err) == 0)
        ret = store_step_rows(st, s, audit_row, &walk, NULL, "audit log", err);
    store_stmt_done(s);
    return ret;
}

int store_audit_page(struct store *st, int64_t after, int limit, store_audit_row_cb cb, void *ctx,
                     struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_AUDIT_PAGE, err);
    struct audit_walk walk = {NULL, cb, ctx};
    int ret;

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, after);
    sqlite3_bind_int(s, 2, limit);
    ret = store_step_rows(st, s, audit_row, &walk, NULL, "audit log", err);
    store_stmt_done(s);
    return ret;
}

int store_audit_head(struct store *st, int64_t *rows, unsigned char *head, struct jerr *err)
{
    return audit_last(st, rows, head, err);
}

/* ---- audit checkpoints (migration 6) ---------------------------------------------------- */

int store_checkpoint_insert(struct store *st, int64_t rows, int64_t at, const unsigned char *der,
                            size_t der_len, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_CHECKPOINT_INSERT, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (der_len == 0 || der_len > INT_MAX) {
        jerr_set(err, JERR_INVALID, "der", "checkpoint: bad DER length");
        goto out;
    }
    sqlite3_bind_int64(s, 1, rows);
    sqlite3_bind_int64(s, 2, at);
    sqlite3_bind_blob(s, 3, der, (int)der_len, SQLITE_TRANSIENT);
    ret = store_step_done(st, s, NULL, "insert audit checkpoint", err);
out:
    store_stmt_done(s);
    return ret;
}

int store_checkpoint_last(struct store *st, int64_t *rows, unsigned char **der, size_t *der_len,
                          struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_CHECKPOINT_LAST, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (store_step_key_row(st, s, NULL, "audit checkpoint", "yet", "audit checkpoint", err) == -1)
        goto out;
    *rows = sqlite3_column_int64(s, 0);
    ret = store_col_blob_dup(s, 1, der, der_len, err);
out:
    store_stmt_done(s);
    return ret;
}

struct checkpoint_walk {
    store_checkpoint_cb cb;
    void *ctx;
};

/* A checkpoint's cb says stop with its own err. */
static int checkpoint_row(void *arg, sqlite3_stmt *s, struct jerr *err)
{
    struct checkpoint_walk *walk = arg;
    int n = sqlite3_column_bytes(s, 2);
    const void *blob = sqlite3_column_blob(s, 2);

    if (walk->cb(walk->ctx, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1), blob,
                 blob != NULL && n > 0 ? (size_t)n : 0, err) != 0)
        return -1;
    return 0;
}

int store_checkpoint_foreach(struct store *st, store_checkpoint_cb cb, void *ctx, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_CHECKPOINT_ALL, err);
    struct checkpoint_walk walk = {cb, ctx};
    int ret;

    if (s == NULL)
        return -1;
    ret = store_step_rows(st, s, checkpoint_row, &walk, NULL, "audit checkpoints", err);
    store_stmt_done(s);
    return ret;
}
