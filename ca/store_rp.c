/*
 * store_rp: the relying parties and their usage (migration 7; ca/rp.h is the engine over it).
 * A token is never stored: only its SHA-256 as hex; a client certificate only by its serial.
 */
#include "ca/store_int.h"

#include <string.h>

#include "base/jclock.h"

#define RP_COLUMNS                                                                                 \
    "pk, id, name, kind, contact, state, token_sha256, cert_serial, cert_not_after, created_at, "  \
    "created_by, updated_at"

static const char SQL_RP_INSERT[] =
    "INSERT INTO relying_parties(id, name, kind, contact, state, token_sha256, cert_serial, "
    "cert_not_after, created_at, created_by, updated_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, nullif(?6, ''), nullif(?7, ''), ?8, ?9, ?10, ?9)";
static const char SQL_RP_GET[] = "SELECT " RP_COLUMNS " FROM relying_parties WHERE id = ?1";
static const char SQL_RP_LIST[] = "SELECT " RP_COLUMNS " FROM relying_parties ORDER BY id";
static const char SQL_RP_SET_STATE[] =
    "UPDATE relying_parties SET state = ?2, updated_at = ?3 WHERE id = ?1";
static const char SQL_RP_USAGE_ADD[] =
    "INSERT INTO rp_usage_daily(party, day, ca, what, calls) VALUES (?1, ?2, ?3, ?4, ?5) "
    "ON CONFLICT(party, day, ca, what) DO UPDATE SET calls = calls + excluded.calls";
static const char SQL_RP_CERT_SEEN[] =
    "INSERT OR IGNORE INTO rp_usage_certs(party, month, ca, serial) VALUES (?1, ?2, ?3, ?4)";
static const char SQL_RP_USAGE_MONTH[] =
    "SELECT day, ca, what, calls FROM rp_usage_daily WHERE party = ?1 AND day >= ?2 || '-01' "
    "AND day <= ?2 || '-31' ORDER BY day, ca, what";
static const char SQL_RP_USAGE_DISTINCT[] =
    "SELECT ca, count(*) FROM rp_usage_certs WHERE party = ?1 AND month = ?2 GROUP BY ca";

/* "YYYY-MM-DD" is 10 bytes, "YYYY-MM" 7. */
#define RP_DAY_LEN 10
#define RP_MONTH_LEN 7

static int rp_from_row(sqlite3_stmt *s, struct rp_rec *out, struct jerr *err)
{
    struct rp_rec rp;

    memset(&rp, 0, sizeof(rp));
    rp.pk = sqlite3_column_int64(s, 0);
    if (store_col_copy(s, 1, rp.id, sizeof(rp.id), "id", err) == -1 ||
        store_col_copy(s, 2, rp.name, sizeof(rp.name), "name", err) == -1 ||
        store_col_copy(s, 4, rp.contact, sizeof(rp.contact), "contact", err) == -1 ||
        store_col_copy(s, 6, rp.token_sha256, sizeof(rp.token_sha256), "token_sha256", err) == -1 ||
        store_col_copy(s, 7, rp.cert_serial, sizeof(rp.cert_serial), "cert_serial", err) == -1 ||
        store_col_copy(s, 10, rp.created_by, sizeof(rp.created_by), "created_by", err) == -1)
        return -1;
    rp.kind = (enum rp_kind)sqlite3_column_int(s, 3);
    rp.state = (enum rp_state)sqlite3_column_int(s, 5);
    rp.cert_not_after = sqlite3_column_int64(s, 8);
    rp.created_at = sqlite3_column_int64(s, 9);
    rp.updated_at = sqlite3_column_int64(s, 11);
    *out = rp;
    return 0;
}

int store_rp_insert(struct store *st, struct rp_rec *rp, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_RP_INSERT, err);
    char buf[JPKI_ID_MAX * 4 + 1];
    int ret = -1;

    if (s == NULL)
        return -1;
    if (rp->created_at == 0)
        rp->created_at = (int64_t)jclock_now();
    if (store_bind_fixed(s, 1, rp->id, sizeof(rp->id), "id", err) == -1 ||
        store_bind_fixed(s, 2, rp->name, sizeof(rp->name), "name", err) == -1 ||
        store_bind_fixed(s, 4, rp->contact, sizeof(rp->contact), "contact", err) == -1 ||
        store_bind_fixed(s, 6, rp->token_sha256, sizeof(rp->token_sha256), "token_sha256", err) ==
            -1 ||
        store_bind_fixed(s, 7, rp->cert_serial, sizeof(rp->cert_serial), "cert_serial", err) ==
            -1 ||
        store_bind_fixed(s, 10, rp->created_by, sizeof(rp->created_by), "created_by", err) == -1)
        goto out;
    sqlite3_bind_int(s, 3, (int)rp->kind);
    sqlite3_bind_int(s, 5, (int)rp->state);
    sqlite3_bind_int64(s, 8, rp->cert_not_after);
    sqlite3_bind_int64(s, 9, rp->created_at);
    ret = store_step_write(st, s, "id", "insert relying party", err);
    if (ret > 0) {
        /* UNIQUE: the id; a token hash or serial clash is a 2^-128 event, said as such. */
        const char *msg = sqlite3_errmsg(st->db);
        if (strstr(msg, "relying_parties.id") != NULL)
            ret = jerr_set(err, JERR_CONFLICT, "id", "relying party %s already exists",
                           store_esc(buf, sizeof(buf), rp->id));
        else
            ret = store_fail(st, ret, err, "id", "insert relying party");
    } else if (ret == 0) {
        rp->pk = sqlite3_last_insert_rowid(st->db);
        rp->updated_at = rp->created_at;
    }
out:
    store_stmt_done(s);
    return ret;
}

int store_rp_get(struct store *st, const char *id, struct rp_rec *out, struct jerr *err)
{
    sqlite3_stmt *s = store_lookup(st, SQL_RP_GET, id, JPKI_ID_MAX, "id", "relying party",
                                   "read relying party", err);
    int ret;

    if (s == NULL)
        return -1;
    ret = rp_from_row(s, out, err);
    store_stmt_done(s);
    return ret;
}

struct rp_walk {
    store_rp_cb cb;
    void *ctx;
};

static int rp_row(void *arg, sqlite3_stmt *s, struct jerr *err)
{
    struct rp_walk *walk = arg;
    struct rp_rec rp;

    if (rp_from_row(s, &rp, err) == -1)
        return -1;
    return walk->cb(walk->ctx, &rp) != 0 ? store_stopped(err, "relying-party listing") : 0;
}

int store_rp_foreach(struct store *st, store_rp_cb cb, void *ctx, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_RP_LIST, err);
    struct rp_walk walk = {cb, ctx};
    int ret;

    if (s == NULL)
        return -1;
    ret = store_step_rows(st, s, rp_row, &walk, NULL, "list relying parties", err);
    store_stmt_done(s);
    return ret;
}

int store_rp_set_state(struct store *st, const char *id, enum rp_state state, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_RP_SET_STATE, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (store_bind_str(s, 1, id, JPKI_ID_MAX, "id", err) == 0) {
        sqlite3_bind_int(s, 2, (int)state);
        sqlite3_bind_int64(s, 3, (int64_t)jclock_now());
        ret = store_step_changed(st, s, "id", "relying party", id, "set relying-party state", err);
    }
    store_stmt_done(s);
    return ret;
}

/* Binds party ?1, a text of exactly `len` bytes ?2 and ca ?3. */
static int bind_party_text_ca(sqlite3_stmt *s, int64_t party, const char *text, size_t len,
                              const char *field, int ca, struct jerr *err)
{
    if (text == NULL || strlen(text) != len)
        return jerr_set(err, JERR_INVALID, field, "%s: expected %zu characters", field, len);
    if (ca < 0 || ca >= CA_KIND_COUNT)
        return jerr_set(err, JERR_INVALID, "ca", "unknown CA %d", ca);
    sqlite3_bind_int64(s, 1, party);
    sqlite3_bind_text(s, 2, text, (int)len, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 3, ca);
    return 0;
}

int store_rp_usage_add(struct store *st, int64_t party, const char *day, int ca, enum rp_what what,
                       int64_t calls, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_RP_USAGE_ADD, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (bind_party_text_ca(s, party, day, RP_DAY_LEN, "day", ca, err) == 0) {
        sqlite3_bind_int(s, 4, (int)what);
        sqlite3_bind_int64(s, 5, calls);
        ret = store_step_done(st, s, "party", "count relying-party usage", err);
    }
    store_stmt_done(s);
    return ret;
}

int store_rp_cert_seen(struct store *st, int64_t party, const char *month, int ca,
                       const char *serial, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_RP_CERT_SEEN, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (bind_party_text_ca(s, party, month, RP_MONTH_LEN, "month", ca, err) == 0 &&
        store_bind_str(s, 4, serial, JPKI_SERIAL_HEX_MAX, "serial", err) == 0)
        ret = store_step_done(st, s, "party", "count relying-party certificates", err);
    store_stmt_done(s);
    return ret;
}

struct usage_walk {
    store_rp_usage_cb cb;
    void *ctx;
};

static int usage_row(void *arg, sqlite3_stmt *s, struct jerr *err)
{
    struct usage_walk *walk = arg;
    char day[RP_DAY_LEN + 1];

    if (store_col_copy(s, 0, day, sizeof(day), "day", err) == -1)
        return -1;
    return walk->cb(walk->ctx, day, sqlite3_column_int(s, 1),
                    (enum rp_what)sqlite3_column_int(s, 2), sqlite3_column_int64(s, 3)) != 0
               ? store_stopped(err, "usage listing")
               : 0;
}

int store_rp_usage_foreach(struct store *st, int64_t party, const char *month, store_rp_usage_cb cb,
                           void *ctx, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_RP_USAGE_MONTH, err);
    struct usage_walk walk = {cb, ctx};
    int ret = -1;

    if (s == NULL)
        return -1;
    if (month != NULL && strlen(month) == RP_MONTH_LEN) {
        sqlite3_bind_int64(s, 1, party);
        sqlite3_bind_text(s, 2, month, RP_MONTH_LEN, SQLITE_TRANSIENT);
        ret = store_step_rows(st, s, usage_row, &walk, "month", "read relying-party usage", err);
    } else {
        jerr_set(err, JERR_INVALID, "month", "month: expected YYYY-MM");
    }
    store_stmt_done(s);
    return ret;
}

static int distinct_row(void *arg, sqlite3_stmt *s, struct jerr *err)
{
    int64_t *counts = arg;
    int ca = sqlite3_column_int(s, 0);
    (void)err;
    if (ca >= 0 && ca < CA_KIND_COUNT)
        counts[ca] = sqlite3_column_int64(s, 1);
    return 0;
}

int store_rp_usage_distinct(struct store *st, int64_t party, const char *month,
                            int64_t counts[CA_KIND_COUNT], struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_RP_USAGE_DISTINCT, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    for (int ca = 0; ca < CA_KIND_COUNT; ca++)
        counts[ca] = 0;
    if (month != NULL && strlen(month) == RP_MONTH_LEN) {
        sqlite3_bind_int64(s, 1, party);
        sqlite3_bind_text(s, 2, month, RP_MONTH_LEN, SQLITE_TRANSIENT);
        ret = store_step_rows(st, s, distinct_row, counts, "month",
                              "read relying-party certificates", err);
    } else {
        jerr_set(err, JERR_INVALID, "month", "month: expected YYYY-MM");
    }
    store_stmt_done(s);
    return ret;
}
