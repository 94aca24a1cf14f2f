/*
 * store_statusq: the SQL of the status-query audit (ca/statusq.h), one SQLite file a month.
 */
#include "ca/statusq.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "base/fsutil.h"

static const char SQL_SCHEMA[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS queries ("
    "  seq INTEGER PRIMARY KEY,"
    "  at INTEGER NOT NULL,"
    "  party TEXT NOT NULL,"
    "  ca INTEGER NOT NULL,"
    "  serial TEXT NOT NULL,"
    "  status TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS queries_by_party ON queries(party, seq);"
    "CREATE INDEX IF NOT EXISTS queries_by_serial ON queries(serial, seq);"
    "CREATE TRIGGER IF NOT EXISTS queries_no_update BEFORE UPDATE ON queries "
    "BEGIN SELECT RAISE(ABORT, 'the status-query audit is append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS queries_no_delete BEFORE DELETE ON queries "
    "BEGIN SELECT RAISE(ABORT, 'the status-query audit is append-only'); END;"
    /* the last mark folded into this file (statusq_append_marked) */
    "CREATE TABLE IF NOT EXISTS marks (source TEXT PRIMARY KEY, mark TEXT NOT NULL);";
static const char SQL_MARK_GET[] = "SELECT mark FROM marks WHERE source = 'responders'";
static const char SQL_MARK_SET[] = "REPLACE INTO marks(source, mark) VALUES ('responders', ?1)";
static const char SQL_INSERT[] =
    "INSERT INTO queries(at, party, ca, serial, status) VALUES (?1, ?2, ?3, ?4, ?5)";
static const char SQL_SEARCH[] =
    "SELECT seq, at, party, ca, serial, status FROM queries WHERE seq > ?1 "
    "AND (?2 IS NULL OR party = ?2) AND (?3 IS NULL OR serial = ?3) ORDER BY seq LIMIT ?4";

struct statusq {
    char dir[PATH_MAX];
    char month[8]; /* of db */
    sqlite3 *db;
    sqlite3_stmt *insert;
};

void statusq_month(int64_t at, char out[8])
{
    time_t t = (time_t)at;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, 8, "%Y-%m", &tm) != 7)
        snprintf(out, 8, "0000-00");
}

static int db_fail(sqlite3 *db, struct jerr *err, const char *what)
{
    return jerr_set(err, JERR_IO, NULL, "status-query audit: %s: %s", what,
                    db != NULL ? sqlite3_errmsg(db) : "out of memory");
}

static int month_path(const char *dir, const char *month, char *out, size_t size, struct jerr *err)
{
    if (strlen(month) != 7 || strspn(month, "0123456789-") != 7 || month[4] != '-')
        return jerr_set(err, JERR_INVALID, "month", "month: expected YYYY-MM");
    if ((size_t)snprintf(out, size, "%s/status-queries-%s.db", dir, month) >= size)
        return jerr_set(err, JERR_CONFIG, "data_dir", "data_dir path too long");
    return 0;
}

struct statusq *statusq_open(const char *dir, struct jerr *err)
{
    struct statusq *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    if ((size_t)snprintf(q->dir, sizeof(q->dir), "%s", dir) >= sizeof(q->dir) ||
        fsutil_mkdirs(dir, 0750, err) == -1) {
        if (err->code == 0)
            jerr_set(err, JERR_CONFIG, "data_dir", "data_dir path too long");
        free(q);
        return NULL;
    }
    return q;
}

static void month_close(struct statusq *q)
{
    sqlite3_finalize(q->insert);
    sqlite3_close(q->db);
    q->insert = NULL;
    q->db = NULL;
    q->month[0] = '\0';
}

void statusq_close(struct statusq *q)
{
    if (q == NULL)
        return;
    month_close(q);
    free(q);
}

/* Makes the file of `month` the open one (rotation: a new month opens a new file). */
static int month_open(struct statusq *q, const char *month, struct jerr *err)
{
    char path[PATH_MAX];
    if (q->db != NULL && strcmp(q->month, month) == 0)
        return 0;
    month_close(q);
    if (month_path(q->dir, month, path, sizeof(path), err) == -1)
        return -1;
    int rc = sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK)
        sqlite3_busy_timeout(q->db, 5000);
    if (rc != SQLITE_OK || sqlite3_exec(q->db, SQL_SCHEMA, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(q->db, SQL_INSERT, -1, &q->insert, NULL) != SQLITE_OK) {
        db_fail(q->db, err, path);
        month_close(q);
        return -1;
    }
    snprintf(q->month, sizeof(q->month), "%s", month);
    return 0;
}

bool statusq_mark_newer(const char *mark, const char *last)
{
    unsigned long long a_ms, a_seq, b_ms, b_seq;
    int end = 0;
    if (sscanf(mark, "%llu-%llu%n", &a_ms, &a_seq, &end) != 2 || mark[end] != '\0')
        return false;
    if (last == NULL || last[0] == '\0' ||
        sscanf(last, "%llu-%llu%n", &b_ms, &b_seq, &end) != 2 || last[end] != '\0')
        return true;
    return a_ms > b_ms || (a_ms == b_ms && a_seq > b_seq);
}

/* Whether this month's file already holds the rows of `mark` (or a later one). -1 on error. */
static int mark_seen(struct statusq *q, const char *mark, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    char last[64] = "";
    if (sqlite3_prepare_v2(q->db, SQL_MARK_GET, -1, &s, NULL) != SQLITE_OK)
        return db_fail(q->db, err, "mark");
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && sqlite3_column_text(s, 0) != NULL)
        snprintf(last, sizeof(last), "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(q->db, err, "mark");
    return statusq_mark_newer(mark, last) ? 0 : 1;
}

static int mark_set(struct statusq *q, const char *mark, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(q->db, SQL_MARK_SET, -1, &s, NULL) != SQLITE_OK)
        return db_fail(q->db, err, "mark");
    sqlite3_bind_text(s, 1, mark, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : db_fail(q->db, err, "mark");
}

/* Appends the rows of `month` among rows[0..n) in one transaction (with `mark`: only when the
 * file has not got it yet, and the mark with them). */
static int append_month(struct statusq *q, const char *month, const struct statusq_row *rows,
                        size_t n, const char *mark, struct jerr *err)
{
    if (month_open(q, month, err) == -1)
        return -1;
    if (sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(q->db, err, "begin");
    int seen = mark != NULL ? mark_seen(q, mark, err) : 0;
    if (seen != 0 || (mark != NULL && mark_set(q, mark, err) == -1)) {
        sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
        return seen == 1 ? 0 : -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct statusq_row *r = &rows[i];
        char of[8];
        statusq_month(r->at, of);
        if (strcmp(of, month) != 0)
            continue;
        sqlite3_bind_int64(q->insert, 1, r->at);
        sqlite3_bind_text(q->insert, 2, r->party, -1, SQLITE_STATIC);
        sqlite3_bind_int(q->insert, 3, r->ca);
        sqlite3_bind_text(q->insert, 4, r->serial, -1, SQLITE_STATIC);
        sqlite3_bind_text(q->insert, 5, r->status, -1, SQLITE_STATIC);
        int rc = sqlite3_step(q->insert);
        sqlite3_reset(q->insert);
        if (rc != SQLITE_DONE) {
            db_fail(q->db, err, "append");
            sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    sqlite3_clear_bindings(q->insert);
    if (sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(q->db, err, "commit");
        sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

int statusq_append_marked(struct statusq *q, const struct statusq_row *rows, size_t n,
                          const char *mark, struct jerr *err)
{
    int ret = 0;
    /* One transaction per month, in the order the months first appear (rows are nearly in
     * time order: a month's turn, or events of several loops or responders). */
    for (size_t i = 0; i < n; i++) {
        char month[8], before[8];
        statusq_month(rows[i].at, month);
        bool done = false;
        for (size_t k = 0; k < i && !done; k++)
            done = (statusq_month(rows[k].at, before), strcmp(before, month) == 0);
        struct jerr one = {0};
        if (!done && append_month(q, month, rows + i, n - i, mark, &one) == -1 && ret == 0) {
            *err = one;
            ret = -1;
        }
    }
    return ret;
}

int statusq_append(struct statusq *q, const struct statusq_row *rows, size_t n, struct jerr *err)
{
    return statusq_append_marked(q, rows, n, NULL, err);
}

static int copy_text(sqlite3_stmt *s, int col, char *out, size_t size)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    int len = sqlite3_column_bytes(s, col);
    if (t == NULL || (size_t)len >= size)
        return -1;
    memcpy(out, t, (size_t)len);
    out[len] = '\0';
    return 0;
}

int statusq_search(const char *dir, const char *month, const char *party, const char *serial,
                   int64_t after, size_t limit, statusq_cb cb, void *ctx, struct jerr *err)
{
    char path[PATH_MAX];
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int ret = -1, rc;

    if (month_path(dir, month, path, sizeof(path), err) == -1)
        return -1;
    if (!fsutil_exists(path))
        return 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(db, 5000) != SQLITE_OK ||
        sqlite3_prepare_v2(db, SQL_SEARCH, -1, &s, NULL) != SQLITE_OK) {
        db_fail(db, err, path);
        goto out;
    }
    sqlite3_bind_int64(s, 1, after);
    if (party != NULL)
        sqlite3_bind_text(s, 2, party, -1, SQLITE_STATIC);
    if (serial != NULL)
        sqlite3_bind_text(s, 3, serial, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)limit);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct statusq_row row;
        memset(&row, 0, sizeof(row));
        row.seq = sqlite3_column_int64(s, 0);
        row.at = sqlite3_column_int64(s, 1);
        row.ca = sqlite3_column_int(s, 3);
        if (copy_text(s, 2, row.party, sizeof(row.party)) == -1 ||
            copy_text(s, 4, row.serial, sizeof(row.serial)) == -1 ||
            copy_text(s, 5, row.status, sizeof(row.status)) == -1) {
            jerr_set(err, JERR_IO, NULL, "status-query audit: %s: a row out of bounds", path);
            goto out;
        }
        if (cb(ctx, &row) != 0) {
            jerr_set(err, JERR_INTERNAL, NULL, "status-query listing stopped by its consumer");
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        db_fail(db, err, "read");
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(s);
    sqlite3_close(db);
    return ret;
}
