/*
 * store_crl: CRL state (tables crl_numbers, crls, crl_state) and the streaming of a CA's
 * revoked certificates for its CRL (DESIGN §5), and the changes a delta CRL lists (RFC 5280
 * §5.2.4, migration 7: certificates.crl_seq against crls.covers_seq of the base).
 *
 * CRL staleness is a change counter, not a timestamp: several status changes and a CRL can
 * fall within one second, so comparing seconds would call a CRL fresh that missed a change.
 * crl_state.change_seq grows with every status change of the CA; a CRL covers the changes up
 * to the counter read when this connection started building it (store_crl_number_next or
 * store_crl_foreach, whichever came first), and publishing it sets published_seq to that.
 * Stale <=> change_seq > published_seq. Reading the counter before the rows errs on the side
 * of "stale": a change that slips in between is reported stale even if the CRL caught it.
 */
#include "ca/store_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/jclock.h"

/* `status != 0` is spelled exactly as in certs_crl so the planner can use that index.
 * RFC 5280 §4.1.2.5: notAfter is inclusive, so a certificate is still unexpired (and
 * stays on the CRL) at the very second of its notAfter. */
static const char SQL_CRL_MARK_CHANGED[] =
    "UPDATE crl_state SET change_seq = change_seq + 1, changed_at = ?2 "
    "WHERE ca = ?1";
static const char SQL_CRL_MARK_CERT[] =
    "UPDATE certificates SET crl_seq = (SELECT change_seq FROM crl_state WHERE ca = ?2) "
    "WHERE serial = ?1";
/* A delta CRL (RFC 5280 §5.2.4): every certificate whose status changed after the base CRL's
 * counter — a good one was released from hold (removeFromCRL). An unknown revocation time
 * (never written by this code) reads as the issuance. */
static const char SQL_CRL_DELTA[] =
    "SELECT serial, status, coalesce(status_changed_at, issued_at), reason, invalidity_date "
    "FROM certificates WHERE ca = ?1 AND crl_seq > ?3 AND not_after >= ?2";
/* The base of a delta: the oldest complete CRL still valid, so that a verifier holding any
 * valid complete CRL can apply the delta (§5.2.4: its number is at least the base's). */
static const char SQL_CRL_DELTA_BASE[] =
    "SELECT number, covers_seq FROM crls WHERE ca = ?1 AND partition = -1 AND "
    "base_number IS NULL AND covers_seq IS NOT NULL AND next_update > ?2 "
    "ORDER BY next_update, number LIMIT 1";
static const char SQL_CRL_DELTA_INSERT[] =
    "INSERT INTO crls(ca, partition, number, this_update, next_update, size, "
    "published_at, base_number) VALUES (?1, -1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_CRL_ALL[] =
    "SELECT serial, status_changed_at, reason, invalidity_date FROM certificates "
    "WHERE ca = ?1 AND generation = ?3 AND status != 0 AND not_after >= ?2";
static const char SQL_CRL_PARTITION[] =
    "SELECT serial, status_changed_at, reason, invalidity_date "
    "FROM certificates WHERE ca = ?1 AND generation = 1 AND partition = ?3 AND status != 0 "
    "AND not_after >= ?2";
static const char SQL_CRL_CHANGE_SEQ[] = "SELECT change_seq FROM crl_state WHERE ca = ?1";
static const char SQL_CRL_NUMBER_NEXT[] =
    "INSERT INTO crl_numbers(ca, partition, number) VALUES (?1, ?2, 1) "
    "ON CONFLICT(ca, partition) DO UPDATE SET number = number + 1 "
    "RETURNING number";
static const char SQL_CRL_INSERT[] =
    "INSERT INTO crls(ca, partition, number, this_update, next_update, size, "
    "published_at, covers_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
static const char SQL_CRL_MARK_PUBLISHED[] =
    "UPDATE crl_state SET published_seq = max(published_seq, ?2), "
    "published_at = ?3 WHERE ca = ?1";
static const char SQL_CRL_IS_STALE[] =
    "SELECT change_seq > published_seq FROM crl_state WHERE ca = ?1";

/* ---- CRLs ------------------------------------------------------------------------------ */

int store_ca_check(enum ca_kind ca, struct jerr *err)
{
    if (ca != CA_SIGN && ca != CA_AUTH)
        return jerr_set(err, JERR_INVALID, "ca", "unknown CA %d", (int)ca);
    return 0;
}

/* A CRL of (ca, partition): partition -1 is the complete CRL. */
static int crl_check(enum ca_kind ca, int partition, struct jerr *err)
{
    if (store_ca_check(ca, err) == -1)
        return -1;
    if (partition < -STORE_CA_GENERATIONS_MAX && partition != STORE_CRL_ARL)
        return jerr_set(err, JERR_INVALID, "partition", "invalid CRL partition %d", partition);
    return 0;
}

static int crl_change_seq(struct store *st, enum ca_kind ca, int64_t *seq, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_CRL_CHANGE_SEQ, err);
    int ret = -1;
    int rc;

    if (s == NULL)
        return -1;
    sqlite3_bind_int(s, 1, (int)ca);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *seq = sqlite3_column_int64(s, 0);
        ret = 0;
    } else if (rc == SQLITE_DONE) {
        jerr_set(err, JERR_IO, "ca", "registry: no CRL state for CA %d", (int)ca);
    } else {
        store_fail_last(st, err, "ca", "CRL state");
    }
    store_stmt_done(s);
    return ret;
}

int store_crl_mark_changed(struct store *st, int ca, const char *serial, int64_t at,
                           struct jerr *err)
{
    sqlite3_stmt *s;
    int ret;

    if (store_run(st, SQL_CRL_MARK_CHANGED,
                  (const int64_t[]){ca, at != 0 ? at : (int64_t)jclock_now()}, 2, NULL, "serial",
                  "mark CRL stale", err) == -1)
        return -1;
    if ((s = store_stmt(st, SQL_CRL_MARK_CERT, err)) == NULL)
        return -1;
    ret = store_bind_str(s, 1, serial, JPKI_SERIAL_HEX_MAX, "serial", err);
    sqlite3_bind_int(s, 2, ca);
    if (ret == 0)
        ret = store_step_done(st, s, "serial", "mark CRL change", err);
    store_stmt_done(s);
    return ret;
}

/* Remembers the oldest change counter seen while building the CRL of (ca, partition). */
static void crl_snapshot_note(struct store *st, enum ca_kind ca, int partition, int64_t seq)
{
    struct crl_snapshot *snap = &st->crl_snap[ca];

    if (snap->valid && snap->partition == partition && snap->change_seq <= seq)
        return;
    snap->valid = true;
    snap->partition = partition;
    snap->change_seq = seq;
}

struct crl_walk {
    store_crl_cb cb;
    void *ctx;
};

static int crl_entry_row(void *arg, sqlite3_stmt *s, struct jerr *err)
{
    struct crl_walk *walk = arg;
    struct crl_entry_rec entry = {
        .serial = (const char *)sqlite3_column_text(s, 0),
        .revoked_at = store_col_int_or(s, 1, 0),
        .reason = (int)store_col_int_or(s, 2, REASON_NONE),
        .invalidity_date = store_col_int_or(s, 3, 0),
    };

    if (entry.serial == NULL)
        return jerr_set(err, JERR_INTERNAL, "serial", "registry: out of memory");
    if (walk->cb(walk->ctx, &entry) != 0)
        return store_stopped(err, "CRL streaming");
    return 0;
}

int store_crl_foreach(struct store *st, enum ca_kind ca, int partition, int64_t now,
                      store_crl_cb cb, void *ctx, struct jerr *err)
{
    struct crl_walk walk = {cb, ctx};
    sqlite3_stmt *s;
    int64_t seq = 0;
    int ret;

    if (crl_check(ca, partition, err) == -1)
        return -1;
    /* Read before the rows: see the file comment on staleness. */
    if (crl_change_seq(st, ca, &seq, err) == -1)
        return -1;
    crl_snapshot_note(st, ca, partition, seq);
    if ((s = store_stmt(st, partition < 0 ? SQL_CRL_ALL : SQL_CRL_PARTITION, err)) == NULL)
        return -1;
    sqlite3_bind_int(s, 1, (int)ca);
    sqlite3_bind_int64(s, 2, now);
    /* A complete CRL's scope -g is generation g (store.h). */
    sqlite3_bind_int(s, 3, partition < 0 ? -partition : partition);
    ret = store_step_rows(st, s, crl_entry_row, &walk, NULL, "CRL entries", err);
    store_stmt_done(s);
    return ret;
}

static int crl_delta_row(void *arg, sqlite3_stmt *s, struct jerr *err)
{
    struct crl_walk *walk = arg;
    bool good = sqlite3_column_int(s, 1) == CERT_GOOD;
    struct crl_entry_rec entry = {
        .serial = (const char *)sqlite3_column_text(s, 0),
        .revoked_at = store_col_int_or(s, 2, 0),
        /* RFC 5280 §5.3.1: removeFromCRL, "for use only in delta CRLs": released from hold. */
        .reason = good ? REASON_REMOVE_FROM_CRL : (int)store_col_int_or(s, 3, REASON_NONE),
        .invalidity_date = good ? 0 : store_col_int_or(s, 4, 0),
    };

    if (entry.serial == NULL)
        return jerr_set(err, JERR_INTERNAL, "serial", "registry: out of memory");
    if (walk->cb(walk->ctx, &entry) != 0)
        return store_stopped(err, "delta CRL streaming");
    return 0;
}

int store_crl_delta_foreach(struct store *st, enum ca_kind ca, int64_t since_seq, int64_t now,
                            store_crl_cb cb, void *ctx, struct jerr *err)
{
    struct crl_walk walk = {cb, ctx};
    sqlite3_stmt *s;
    int ret;

    if (store_ca_check(ca, err) == -1)
        return -1;
    if ((s = store_stmt(st, SQL_CRL_DELTA, err)) == NULL)
        return -1;
    sqlite3_bind_int(s, 1, (int)ca);
    sqlite3_bind_int64(s, 2, now);
    sqlite3_bind_int64(s, 3, since_seq);
    ret = store_step_rows(st, s, crl_delta_row, &walk, NULL, "delta CRL entries", err);
    store_stmt_done(s);
    return ret;
}

int store_crl_delta_base(struct store *st, enum ca_kind ca, int64_t now, int64_t *number,
                         int64_t *covers_seq, struct jerr *err)
{
    sqlite3_stmt *s;
    int ret;

    if (store_ca_check(ca, err) == -1)
        return -1;
    if ((s = store_stmt(st, SQL_CRL_DELTA_BASE, err)) == NULL)
        return -1;
    sqlite3_bind_int(s, 1, (int)ca);
    sqlite3_bind_int64(s, 2, now);
    ret = store_step_row(st, s, "ca", "delta CRL base", err,
                         "no valid complete CRL of CA %d to base a delta CRL on", (int)ca);
    if (ret == 0) {
        *number = sqlite3_column_int64(s, 0);
        *covers_seq = sqlite3_column_int64(s, 1);
    }
    store_stmt_done(s);
    return ret;
}

int store_crl_delta_published(struct store *st, enum ca_kind ca, int64_t number,
                              int64_t base_number, int64_t this_update, int64_t next_update,
                              size_t size, struct jerr *err)
{
    sqlite3_stmt *s;
    int rc;

    if (store_ca_check(ca, err) == -1)
        return -1;
    if (number < 1 || base_number < 1 || base_number >= number)
        return jerr_set(err, JERR_INVALID, "number", "invalid delta CRL number %lld (base %lld)",
                        (long long)number, (long long)base_number);
    if ((s = store_stmt(st, SQL_CRL_DELTA_INSERT, err)) == NULL)
        return -1;
    sqlite3_bind_int(s, 1, (int)ca);
    sqlite3_bind_int64(s, 2, number);
    sqlite3_bind_int64(s, 3, this_update);
    sqlite3_bind_int64(s, 4, next_update);
    store_bind_limit(s, 5, size);
    sqlite3_bind_int64(s, 6, (int64_t)jclock_now());
    sqlite3_bind_int64(s, 7, base_number);
    rc = store_step_write(st, s, NULL, "record delta CRL", err);
    if (store_is_unique_violation(rc))
        rc = jerr_set(err, JERR_CONFLICT, "number", "CRL number %lld already published",
                      (long long)number);
    else if (rc > 0)
        rc = store_fail(st, rc, err, NULL, "record delta CRL");
    store_stmt_done(s);
    /* Its number came from store_crl_number_next, which noted a snapshot for the complete
     * CRL: a delta publishes no complete CRL, so the next one must note its own. */
    if (rc == 0 && st->crl_snap[ca].valid && st->crl_snap[ca].partition == -1)
        st->crl_snap[ca].valid = false;
    return rc == 0 ? 0 : -1;
}

int store_crl_number_next(struct store *st, enum ca_kind ca, int partition, int64_t *number,
                          struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    int64_t seq = 0;
    int64_t next = 0;
    bool own = false;
    int ret = -1;
    int rc;

    if (crl_check(ca, partition, err) == -1)
        return -1;
    if (store_own_tx_begin(st, &own, err) == -1)
        return -1;
    if (crl_change_seq(st, ca, &seq, err) == -1)
        goto out;
    if ((s = store_stmt(st, SQL_CRL_NUMBER_NEXT, err)) == NULL)
        goto out;
    sqlite3_bind_int(s, 1, (int)ca);
    sqlite3_bind_int(s, 2, partition);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        store_fail_last(st, err, NULL, "CRL number");
        goto out;
    }
    next = sqlite3_column_int64(s, 0);
    if (store_step_done(st, s, NULL, "CRL number", err) == -1)
        goto out;
    ret = 0;
out:
    store_stmt_done(s);
    if (store_own_tx_end(st, own, ret, err) == -1)
        return -1;
    crl_snapshot_note(st, ca, partition, seq);
    *number = next;
    return 0;
}

/* Whether a CRL of `partition` lists every revoked certificate of the CA: the complete CRL
 * does; a partition CRL does only when the CA has a single partition (registry setting
 * crl_partitions.<ca>, written at instance creation; absent means the default, 1). */
static bool crl_covers_all(struct store *st, enum ca_kind ca, int partition)
{
    char value[32];
    char *end = NULL;
    long partitions;
    struct jerr ignored = {0};

    if (partition == -1)
        return true;
    if (partition != 0)
        return false;
    if (store_meta_get(st, ca == CA_SIGN ? "crl_partitions.sign" : "crl_partitions.auth", value,
                       sizeof(value), &ignored) == -1)
        return ignored.code == JERR_NOT_FOUND;
    errno = 0;
    partitions = strtol(value, &end, 10);
    return errno == 0 && end != value && *end == '\0' && partitions <= 1;
}

int store_crl_published(struct store *st, enum ca_kind ca, int partition, int64_t number,
                        int64_t this_update, int64_t next_update, size_t size, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    struct crl_snapshot *snap;
    bool own = false;
    bool covers_all;
    int64_t seq = 0;
    int ret = -1;
    int rc;

    if (crl_check(ca, partition, err) == -1)
        return -1;
    if (number < 1)
        return jerr_set(err, JERR_INVALID, "number", "invalid CRL number");
    snap = &st->crl_snap[ca];
    if (store_own_tx_begin(st, &own, err) == -1)
        return -1;
    covers_all = crl_covers_all(st, ca, partition);
    if (covers_all) {
        /* Covers the changes up to the start of its build on this connection; without one
         * (a CRL built elsewhere), up to now. */
        if (snap->valid && snap->partition == partition)
            seq = snap->change_seq;
        else if (crl_change_seq(st, ca, &seq, err) == -1)
            goto out;
    }
    if ((s = store_stmt(st, SQL_CRL_INSERT, err)) == NULL)
        goto out;
    sqlite3_bind_int(s, 1, (int)ca);
    sqlite3_bind_int(s, 2, partition);
    sqlite3_bind_int64(s, 3, number);
    sqlite3_bind_int64(s, 4, this_update);
    sqlite3_bind_int64(s, 5, next_update);
    store_bind_limit(s, 6, size);
    sqlite3_bind_int64(s, 7, (int64_t)jclock_now());
    /* What a delta CRL based on it starts from: only a complete CRL is a base. */
    store_bind_int_or_null(s, 8, partition == -1 ? seq : -1, -1);
    rc = store_step_write(st, s, NULL, "record CRL", err);
    if (store_is_unique_violation(rc))
        rc = jerr_set(err, JERR_CONFLICT, "number", "CRL number %lld already published",
                      (long long)number);
    else if (rc > 0)
        rc = store_fail(st, rc, err, NULL, "record CRL");
    if (rc != 0)
        goto out;
    store_stmt_done(s);
    s = NULL;
    if (covers_all) {
        if ((s = store_stmt(st, SQL_CRL_MARK_PUBLISHED, err)) == NULL)
            goto out;
        sqlite3_bind_int(s, 1, (int)ca);
        sqlite3_bind_int64(s, 2, seq);
        sqlite3_bind_int64(s, 3, this_update);
        if (store_step_done(st, s, NULL, "CRL state", err) == -1)
            goto out;
    }
    ret = 0;
out:
    store_stmt_done(s);
    ret = store_own_tx_end(st, own, ret, err);
    if (ret == 0 && snap->valid && snap->partition == partition)
        snap->valid = false;
    return ret;
}

bool store_crl_is_stale(struct store *st, enum ca_kind ca)
{
    sqlite3_stmt *s;
    bool stale = true; /* when the registry cannot say, assume the worst */

    if (ca != CA_SIGN && ca != CA_AUTH)
        return true;
    if ((s = store_stmt(st, SQL_CRL_IS_STALE, NULL)) == NULL)
        return true;
    sqlite3_bind_int(s, 1, (int)ca);
    if (sqlite3_step(s) == SQLITE_ROW)
        stale = sqlite3_column_int(s, 0) != 0;
    store_stmt_done(s);
    return stale;
}
