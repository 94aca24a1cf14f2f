/*
 * store_ocsp: pre-signed OCSP responses (table ocsp_responses) and what the refresher must
 * sign (table ocsp_dirty; DESIGN §5, §8).
 *
 * OCSP change tracking follows the idea of the CRL change counter per serial (migration 5):
 * what must be signed is written down by the writer, in its transaction, never found by
 * walking the certificates (0.4 s per walk at 100 000 certificates, 1.7 s at 1 M). A mark's
 * changed_seq is an AUTOINCREMENT key, so a serial marked again while its responses were
 * being signed keeps a mark the refresher's clear does not match.
 */
#include "ca/store_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/jclock.h"

static const char SQL_OCSP_PUT[] =
    "INSERT INTO ocsp_responses(serial, certid_hash, ca, der, this_update, "
    "next_update, stale) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0) "
    "ON CONFLICT(serial, certid_hash) DO UPDATE SET ca = excluded.ca, "
    "der = excluded.der, this_update = excluded.this_update, "
    "next_update = excluded.next_update, stale = 0";
/* One statement, so the comparison with the registry and the write are atomic: the
 * response is fresh only if the status it was signed from is still the current one. */
static const char SQL_OCSP_PUT_SIGNED[] =
    "INSERT INTO ocsp_responses(serial, certid_hash, ca, der, this_update, next_update, "
    "stale) SELECT serial, ?2, ca, ?3, ?4, ?5, NOT (status = ?6 AND reason IS ?7 AND "
    "status_changed_at IS ?8) FROM certificates WHERE serial = ?1 "
    "ON CONFLICT(serial, certid_hash) DO UPDATE SET ca = excluded.ca, der = excluded.der, "
    "this_update = excluded.this_update, next_update = excluded.next_update, "
    "stale = excluded.stale RETURNING stale";
static const char SQL_OCSP_GET[] =
    "SELECT der, next_update, stale FROM ocsp_responses WHERE serial = ?1 AND "
    "certid_hash = ?2";
static const char SQL_OCSP_MARK_STALE[] = "UPDATE ocsp_responses SET stale = 1 WHERE serial = ?1";
/* Migration 5: a new mark replaces the old one with a new changed_seq. */
static const char SQL_OCSP_DIRTY_MARK[] = "REPLACE INTO ocsp_dirty(serial, ca) VALUES (?1, ?2)";
/* CROSS JOIN keeps the marks the outer loop (SQLite does not reorder it): marks in
 * changed_seq order by their key, each certificate by its key; certificates is never
 * scanned, so a pass costs the same at 1 M certificates as at 1 000. */
static const char SQL_OCSP_DIRTY[] =
    "SELECT d.changed_seq, d.serial, d.ca, c.not_after FROM ocsp_dirty d "
    "CROSS JOIN certificates c ON c.serial = d.serial "
    "WHERE d.changed_seq > ?1 ORDER BY d.changed_seq LIMIT ?2";
static const char SQL_OCSP_DIRTY_SEQ[] = "SELECT changed_seq FROM ocsp_dirty WHERE serial = ?1";
static const char SQL_OCSP_DIRTY_CLEAR[] =
    "DELETE FROM ocsp_dirty WHERE changed_seq = ?2 AND serial = ?1";
/* The ageing responses from ocsp_responses_ageing, from a (next_update, serial) position. */
static const char SQL_OCSP_AGEING[] =
    "SELECT o.serial, o.ca, c.not_after, o.next_update FROM ocsp_responses o "
    "CROSS JOIN certificates c ON c.serial = o.serial "
    "WHERE o.next_update < ?1 AND (o.next_update, o.serial) > (?2, ?3) "
    "ORDER BY o.next_update, o.serial LIMIT ?4";
static const char SQL_OCSP_DELETE[] = "DELETE FROM ocsp_responses WHERE serial = ?1";

/* Runs a write of `serial` (?1) and, when ca is not -1, its CA (?2). */
static int serial_write(struct store *st, const char *sql, const char *serial, int ca,
                        const char *what, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, sql, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (store_bind_str(s, 1, serial, JPKI_SERIAL_HEX_MAX, "serial", err) == 0) {
        if (ca != -1)
            sqlite3_bind_int(s, 2, ca);
        ret = store_step_done(st, s, "serial", what, err);
    }
    store_stmt_done(s);
    return ret;
}

int store_ocsp_mark_dirty(struct store *st, const char *serial, int ca, struct jerr *err)
{
    return serial_write(st, SQL_OCSP_DIRTY_MARK, serial, ca, "mark OCSP due", err);
}

int store_ocsp_mark_changed(struct store *st, const char *serial, int ca, struct jerr *err)
{
    if (serial_write(st, SQL_OCSP_MARK_STALE, serial, -1, "mark OCSP stale", err) == -1)
        return -1;
    return store_ocsp_mark_dirty(st, serial, ca, err);
}

/* ---- OCSP ------------------------------------------------------------------------------ */

static int ocsp_check(int certid_hash, const unsigned char *der, size_t der_len, struct jerr *err)
{
    if (certid_hash != 0 && certid_hash != 1)
        return jerr_set(err, JERR_INVALID, "certid_hash", "unknown CertID hash %d", certid_hash);
    if (der == NULL || der_len == 0)
        return jerr_set(err, JERR_INVALID, "der", "OCSP response missing");
    if (der_len > INT_MAX)
        return jerr_set(err, JERR_TOO_LARGE, "der", "OCSP response of %zu bytes", der_len);
    return 0;
}

int store_ocsp_put(struct store *st, const char *serial, int certid_hash, enum ca_kind ca,
                   const unsigned char *der, size_t der_len, int64_t this_update,
                   int64_t next_update, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    char buf[JPKI_SERIAL_HEX_MAX * 4 + 1];
    int ret = -1;

    if (ocsp_check(certid_hash, der, der_len, err) == -1 || store_ca_check(ca, err) == -1)
        return -1;
    if ((s = store_stmt(st, SQL_OCSP_PUT, err)) == NULL)
        return -1;
    if (store_bind_str(s, 1, serial, JPKI_SERIAL_HEX_MAX, "serial", err) == -1)
        goto out;
    sqlite3_bind_int(s, 2, certid_hash);
    sqlite3_bind_int(s, 3, (int)ca);
    sqlite3_bind_blob(s, 4, der, (int)der_len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 5, this_update);
    sqlite3_bind_int64(s, 6, next_update);
    ret = store_step_write(st, s, "serial", "store OCSP response", err);
    if (ret == SQLITE_CONSTRAINT_FOREIGNKEY)
        ret = jerr_set(err, JERR_NOT_FOUND, "serial", "no certificate %s",
                       store_esc(buf, sizeof(buf), serial));
    else if (ret > 0)
        ret = store_fail(st, ret, err, "serial", "store OCSP response");
    else if (ret == 0)
        ret = store_pub_enqueue(st, serial, err); /* DESIGN §13: Redis gets it too */
out:
    store_stmt_done(s);
    return ret;
}

int store_ocsp_put_signed(struct store *st, const struct cert_rec *signed_rec, int certid_hash,
                          const unsigned char *der, size_t der_len, int64_t this_update,
                          int64_t next_update, bool *current, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    char buf[JPKI_SERIAL_HEX_MAX * 4 + 1];
    bool is_current = false;
    int ret = -1;

    if (ocsp_check(certid_hash, der, der_len, err) == -1)
        return -1;
    if ((s = store_stmt(st, SQL_OCSP_PUT_SIGNED, err)) == NULL)
        return -1;
    if (store_bind_fixed(s, 1, signed_rec->serial, sizeof(signed_rec->serial), "serial", err) == -1)
        goto out;
    sqlite3_bind_int(s, 2, certid_hash);
    sqlite3_bind_blob(s, 3, der, (int)der_len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 4, this_update);
    sqlite3_bind_int64(s, 5, next_update);
    sqlite3_bind_int(s, 6, (int)signed_rec->status);
    store_bind_int_or_null(s, 7, signed_rec->reason, REASON_NONE);
    store_bind_int_or_null(s, 8, signed_rec->status_changed_at, 0);
    if (store_step_row(st, s, "serial", "store OCSP response", err, "no certificate %s",
                       store_esc(buf, sizeof(buf), signed_rec->serial)) == -1)
        goto out;
    is_current = sqlite3_column_int(s, 0) == 0;
    if (store_step_done(st, s, "serial", "store OCSP response", err) == -1)
        goto out;
    if (store_pub_enqueue(st, signed_rec->serial, err) == -1) /* DESIGN §13 */
        goto out;
    if (current != NULL)
        *current = is_current;
    ret = 0;
out:
    store_stmt_done(s);
    return ret;
}

int store_ocsp_get(struct store *st, const char *serial, int certid_hash, unsigned char **der,
                   size_t *der_len, int64_t *next_update, bool *stale, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    unsigned char *copy = NULL;
    size_t copy_len = 0;
    int ret = -1;

    if (certid_hash != 0 && certid_hash != 1)
        return jerr_set(err, JERR_INVALID, "certid_hash", "unknown CertID hash %d", certid_hash);
    if ((s = store_stmt(st, SQL_OCSP_GET, err)) == NULL)
        return -1;
    if (store_bind_str(s, 1, serial, JPKI_SERIAL_HEX_MAX, "serial", err) == -1)
        goto out;
    sqlite3_bind_int(s, 2, certid_hash);
    if (store_step_key_row(st, s, "serial", "OCSP response for", serial, "get OCSP response",
                           err) == -1)
        goto out;
    if (store_col_blob_dup(s, 0, &copy, &copy_len, err) == -1)
        goto out;
    if (next_update != NULL)
        *next_update = sqlite3_column_int64(s, 1);
    if (stale != NULL)
        *stale = sqlite3_column_int(s, 2) != 0;
    *der = copy;
    *der_len = copy_len;
    ret = 0;
out:
    store_stmt_done(s);
    return ret;
}

/* A due listing (SQL_OCSP_DIRTY or SQL_OCSP_AGEING) on its way to the caller's cb. */
struct due_walk {
    bool dirty;
    store_ocsp_due_cb cb;
    void *ctx;
};

static int due_row(void *arg, sqlite3_stmt *s, struct jerr *err)
{
    struct due_walk *walk = arg;
    struct store_ocsp_due due;
    int col = walk->dirty ? 1 : 0;

    memset(&due, 0, sizeof(due));
    due.serial = (const char *)sqlite3_column_text(s, col);
    if (due.serial == NULL)
        return jerr_set(err, JERR_INTERNAL, "serial", "registry: out of memory");
    due.ca = (enum ca_kind)sqlite3_column_int(s, col + 1);
    due.not_after = sqlite3_column_int64(s, col + 2);
    if (walk->dirty)
        due.changed_seq = sqlite3_column_int64(s, 0);
    else
        due.next_update = sqlite3_column_int64(s, 3);
    if (walk->cb(walk->ctx, &due) != 0)
        return store_stopped(err, "OCSP refresh");
    return 0;
}

int store_ocsp_foreach_dirty(struct store *st, int64_t after_seq, size_t limit,
                             store_ocsp_due_cb cb, void *ctx, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_OCSP_DIRTY, err);
    int ret;

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, after_seq);
    store_bind_limit(s, 2, limit);
    ret = store_step_rows(st, s, due_row, &(struct due_walk){true, cb, ctx}, NULL, "OCSP due", err);
    store_stmt_done(s);
    return ret;
}

int store_ocsp_dirty_clear(struct store *st, const char *serial, int64_t changed_seq, bool *cleared,
                           struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_OCSP_DIRTY_CLEAR, err);
    int ret = -1;

    if (cleared != NULL)
        *cleared = false;
    if (s == NULL)
        return -1;
    if (store_bind_str(s, 1, serial, JPKI_SERIAL_HEX_MAX, "serial", err) == -1)
        goto out;
    sqlite3_bind_int64(s, 2, changed_seq);
    if (store_step_done(st, s, "serial", "clear OCSP mark", err) == -1)
        goto out;
    if (cleared != NULL)
        *cleared = sqlite3_changes(st->db) == 1;
    ret = 0;
out:
    store_stmt_done(s);
    return ret;
}

int store_ocsp_dirty_seq(struct store *st, const char *serial, int64_t *changed_seq,
                         struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_OCSP_DIRTY_SEQ, err);
    int ret = -1, rc;

    if (s == NULL)
        return -1;
    if (store_bind_str(s, 1, serial, JPKI_SERIAL_HEX_MAX, "serial", err) == 0) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
            *changed_seq = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
            ret = 0;
        } else {
            ret = store_fail(st, rc, err, "serial", "read OCSP mark");
        }
    }
    store_stmt_done(s);
    return ret;
}

int store_ocsp_foreach_ageing(struct store *st, int64_t refresh_by, int64_t after_next_update,
                              const char *after_serial, size_t limit, store_ocsp_due_cb cb,
                              void *ctx, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_OCSP_AGEING, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (store_bind_str(s, 3, after_serial != NULL ? after_serial : "", JPKI_SERIAL_HEX_MAX,
                       "after_serial", err) == -1)
        goto out;
    sqlite3_bind_int64(s, 1, refresh_by);
    sqlite3_bind_int64(s, 2, after_next_update);
    store_bind_limit(s, 4, limit);
    ret =
        store_step_rows(st, s, due_row, &(struct due_walk){false, cb, ctx}, NULL, "OCSP due", err);
out:
    store_stmt_done(s);
    return ret;
}

int store_ocsp_delete(struct store *st, const char *serial, struct jerr *err)
{
    return serial_write(st, SQL_OCSP_DELETE, serial, -1, "delete OCSP responses", err);
}
