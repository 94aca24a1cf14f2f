/*
 * store_certs: issued certificates (table certificates): the record and its DER, a status
 * change and the lists of a card, a person and the soon expiring. A new certificate and a
 * status change tell the OCSP and CRL repositories in the same transaction (store_int.h).
 */
#include "ca/store_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/jclock.h"

#define CERT_COLUMNS                                                                               \
    "serial, ca, card_id, person_id, subject_cn, not_before, not_after, status, reason, "          \
    "status_changed_at, invalidity_date, partition, issued_at, generation"
#define SELECT_CERTS "SELECT " CERT_COLUMNS " FROM certificates WHERE "

static const char SQL_CERT_INSERT[] =
    "INSERT INTO certificates(" CERT_COLUMNS ", der) VALUES "
    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";
static const char SQL_CERT_GET[] = SELECT_CERTS "serial = ?1";
static const char SQL_CERT_GET_OF[] = SELECT_CERTS "serial = ?1 AND ((?2 >> ca) & 1) = 1";
static const char SQL_CERT_GET_DER[] = "SELECT der FROM certificates WHERE serial = ?1";
static const char SQL_SERIAL_EXISTS[] = "SELECT 1 FROM certificates WHERE serial = ?1";
static const char SQL_CERT_SET_STATUS[] =
    "UPDATE certificates SET status = ?2, reason = ?3, "
    "status_changed_at = ?4, invalidity_date = ?5 WHERE serial = ?1 "
    "RETURNING ca";
/* Oldest first; the rowid breaks ties between certificates issued in the same second. */
static const char SQL_CERTS_OF_CARD[] = SELECT_CERTS "card_id = ?1 ORDER BY issued_at, rowid";
static const char SQL_CERTS_OF_PERSON[] = SELECT_CERTS "person_id = ?1 ORDER BY issued_at, rowid";
static const char SQL_CERTS_EXPIRING[] = SELECT_CERTS "status = 0 AND not_after >= ?1 AND "
                                                      "not_after < ?2 ORDER BY not_after, serial "
                                                      "LIMIT ?3";

/* ---- certificates ---------------------------------------------------------------------- */

/* RFC 5280 §5.3.1: a held or revoked certificate has a reason (certificateHold for a hold);
 * a good one has none. */
static int check_status(enum cert_status status, int reason, struct jerr *err)
{
    if (status != CERT_GOOD && status != CERT_HOLD && status != CERT_REVOKED)
        return jerr_set(err, JERR_INVALID, "status", "unknown certificate status %d", (int)status);
    if (status == CERT_GOOD && reason != REASON_NONE)
        return jerr_set(err, JERR_INVALID, "reason", "a good certificate has no reason");
    if (status != CERT_GOOD && (reason < 0 || reason > 10 || reason == 7))
        return jerr_set(err, JERR_INVALID, "reason", "invalid CRL reason %d", reason);
    return 0;
}

static int cert_insert_row(struct store *st, const struct cert_rec *rec, const unsigned char *der,
                           size_t der_len, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_CERT_INSERT, err);
    char buf[JPKI_ID_MAX * 4 + 1];
    int ret = -1;

    if (s == NULL)
        return -1;
    if (der == NULL || der_len == 0) {
        jerr_set(err, JERR_INVALID, "der", "certificate DER missing");
        goto out;
    }
    if (der_len > JPKI_CERT_DER_MAX) {
        jerr_set(err, JERR_TOO_LARGE, "der", "certificate of %zu bytes", der_len);
        goto out;
    }
    if (rec->ca != CA_SIGN && rec->ca != CA_AUTH) {
        jerr_set(err, JERR_INVALID, "ca", "unknown CA %d", (int)rec->ca);
        goto out;
    }
    if (rec->partition < 0) {
        jerr_set(err, JERR_INVALID, "partition", "negative CRL partition");
        goto out;
    }
    if (check_status(rec->status, rec->reason, err) == -1)
        goto out;
    if (store_bind_fixed(s, 1, rec->serial, sizeof(rec->serial), "serial", err) == -1 ||
        store_bind_fixed(s, 3, rec->card_id, sizeof(rec->card_id), "card_id", err) == -1 ||
        store_bind_fixed(s, 4, rec->person_id, sizeof(rec->person_id), "person_id", err) == -1 ||
        store_bind_fixed(s, 5, rec->subject_cn, sizeof(rec->subject_cn), "subject_cn", err) == -1)
        goto out;
    if (rec->serial[0] == '\0') {
        jerr_set(err, JERR_INVALID, "serial", "serial missing");
        goto out;
    }
    sqlite3_bind_int(s, 2, (int)rec->ca);
    sqlite3_bind_int64(s, 6, rec->not_before);
    sqlite3_bind_int64(s, 7, rec->not_after);
    sqlite3_bind_int(s, 8, (int)rec->status);
    store_bind_int_or_null(s, 9, rec->reason, REASON_NONE);
    store_bind_int_or_null(s, 10, rec->status_changed_at, 0);
    store_bind_int_or_null(s, 11, rec->invalidity_date, 0);
    sqlite3_bind_int(s, 12, rec->partition);
    sqlite3_bind_int64(s, 13, rec->issued_at);
    sqlite3_bind_int(s, 14, rec->generation > 0 ? rec->generation : 1);
    if (sqlite3_bind_blob(s, 15, der, (int)der_len, SQLITE_TRANSIENT) != SQLITE_OK) {
        jerr_set(err, JERR_INTERNAL, "der", "registry: cannot bind the DER");
        goto out;
    }
    ret = store_step_write(st, s, "serial", "insert certificate", err);
    if (store_is_unique_violation(ret)) {
        ret = jerr_set(err, JERR_CONFLICT, "serial", "serial %s already issued",
                       store_esc(buf, sizeof(buf), rec->serial));
    } else if (ret == SQLITE_CONSTRAINT_FOREIGNKEY) {
        /* SQLite does not say which reference failed: look. */
        store_stmt_done(s);
        if (!store_card_exists(st, rec->card_id))
            ret = jerr_set(err, JERR_NOT_FOUND, "card_id", "no card %s",
                           store_esc(buf, sizeof(buf), rec->card_id));
        else
            ret = jerr_set(err, JERR_NOT_FOUND, "person_id", "no person %s",
                           store_esc(buf, sizeof(buf), rec->person_id));
    } else if (ret > 0) {
        ret = store_fail(st, ret, err, "serial", "insert certificate");
    }
out:
    store_stmt_done(s);
    return ret;
}

int store_cert_insert(struct store *st, const struct cert_rec *rec, const unsigned char *der,
                      size_t der_len, struct jerr *err)
{
    bool own = false;
    int ret = -1;

    if (store_own_tx_begin(st, &own, err) == -1)
        return -1;
    /* DESIGN §5: a new certificate has no pre-signed response yet; the refresher learns of it
     * from the registry, whoever inserted it. */
    if (cert_insert_row(st, rec, der, der_len, err) == 0 &&
        store_ocsp_mark_dirty(st, rec->serial, (int)rec->ca, err) == 0)
        ret = 0;
    return store_own_tx_end(st, own, ret, err);
}

int store_cert_insert_issued(struct store *st, const struct cert_rec *rec, const unsigned char *der,
                             size_t der_len, struct jerr *err)
{
    bool own = false;
    int ret = -1;

    /* A publishing node pre-signs at issuance (store.h "Publication"). */
    if ((rec != NULL && rec->status != CERT_GOOD) || st->publishing)
        return store_cert_insert(st, rec, der, der_len, err);
    if (store_own_tx_begin(st, &own, err) == -1)
        return -1;
    if (cert_insert_row(st, rec, der, der_len, err) == 0)
        ret = 0;
    return store_own_tx_end(st, own, ret, err);
}

/* Reads the CERT_COLUMNS of the current row. */
static int cert_from_row(sqlite3_stmt *s, void *out, struct jerr *err)
{
    struct cert_rec r;

    memset(&r, 0, sizeof(r));
    if (store_col_copy(s, 0, r.serial, sizeof(r.serial), "serial", err) == -1 ||
        store_col_copy(s, 2, r.card_id, sizeof(r.card_id), "card_id", err) == -1 ||
        store_col_copy(s, 3, r.person_id, sizeof(r.person_id), "person_id", err) == -1 ||
        store_col_copy(s, 4, r.subject_cn, sizeof(r.subject_cn), "subject_cn", err) == -1)
        return -1;
    r.ca = (enum ca_kind)sqlite3_column_int(s, 1);
    r.not_before = sqlite3_column_int64(s, 5);
    r.not_after = sqlite3_column_int64(s, 6);
    r.status = (enum cert_status)sqlite3_column_int(s, 7);
    r.reason = (int)store_col_int_or(s, 8, REASON_NONE);
    r.status_changed_at = store_col_int_or(s, 9, 0);
    r.invalidity_date = store_col_int_or(s, 10, 0);
    r.partition = sqlite3_column_int(s, 11);
    r.issued_at = sqlite3_column_int64(s, 12);
    r.generation = sqlite3_column_int(s, 13);
    *(struct cert_rec *)out = r;
    return 0;
}

int store_cert_get(struct store *st, const char *serial, struct cert_rec *out, struct jerr *err)
{
    sqlite3_stmt *s = store_lookup(st, SQL_CERT_GET, serial, JPKI_SERIAL_HEX_MAX, "serial",
                                   "certificate", "get certificate", err);
    int ret;

    if (s == NULL)
        return -1;
    ret = cert_from_row(s, out, err);
    store_stmt_done(s);
    return ret;
}

int store_cert_get_of(struct store *st, const char *serial, unsigned ca_mask, struct cert_rec *out,
                      struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_CERT_GET_OF, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 2, (sqlite3_int64)ca_mask);
    /* One lookup whatever the reason for no row: the same answer, in the same time. */
    if (store_bind_str(s, 1, serial, JPKI_SERIAL_HEX_MAX, "serial", err) == 0 &&
        store_step_key_row(st, s, "serial", "certificate", serial, "get certificate", err) == 0)
        ret = cert_from_row(s, out, err);
    store_stmt_done(s);
    return ret;
}

int store_cert_get_der(struct store *st, const char *serial, unsigned char **der, size_t *der_len,
                       struct jerr *err)
{
    sqlite3_stmt *s = store_lookup(st, SQL_CERT_GET_DER, serial, JPKI_SERIAL_HEX_MAX, "serial",
                                   "certificate", "get certificate", err);
    int ret;

    if (s == NULL)
        return -1;
    ret = store_col_blob_dup(s, 0, der, der_len, err);
    store_stmt_done(s);
    return ret;
}

bool store_serial_exists(struct store *st, const char *serial)
{
    if (serial == NULL || strnlen(serial, JPKI_SERIAL_HEX_MAX + 1) > JPKI_SERIAL_HEX_MAX)
        return false;
    return store_exists(st, SQL_SERIAL_EXISTS, serial);
}

int store_cert_set_status(struct store *st, const char *serial, enum cert_status status, int reason,
                          int64_t at, int64_t invalidity_date, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    char buf[JPKI_SERIAL_HEX_MAX * 4 + 1];
    bool own = false;
    int ret = -1;
    int ca;

    if (check_status(status, reason, err) == -1)
        return -1;
    if (store_own_tx_begin(st, &own, err) == -1)
        return -1;
    if ((s = store_stmt(st, SQL_CERT_SET_STATUS, err)) == NULL ||
        store_bind_str(s, 1, serial, JPKI_SERIAL_HEX_MAX, "serial", err) == -1)
        goto out;
    sqlite3_bind_int(s, 2, (int)status);
    store_bind_int_or_null(s, 3, reason, REASON_NONE);
    store_bind_int_or_null(s, 4, at, 0);
    store_bind_int_or_null(s, 5, invalidity_date, 0);
    if (store_step_row(st, s, "serial", "set status", err, "no certificate %s",
                       store_esc(buf, sizeof(buf), serial)) == -1)
        goto out;
    ca = sqlite3_column_int(s, 0);
    /* RETURNING rows are all computed by the first step; finish the statement. */
    if (store_step_done(st, s, "serial", "set status", err) == -1)
        goto out;
    store_stmt_done(s);
    s = NULL;

    /* DESIGN §4: the pre-signed OCSP responses of this serial no longer tell the truth (and
     * the refresher finds it among the marks, whichever process made the change)... */
    if (store_ocsp_mark_changed(st, serial, ca, err) == -1)
        goto out;
    /* ...nor does the CA's CRL. */
    if (store_crl_mark_changed(st, ca, serial, at, err) == -1)
        goto out;
    ret = 0;
out:
    store_stmt_done(s);
    return store_own_tx_end(st, own, ret, err);
}

void cert_list_free(struct cert_list *list)
{
    if (list == NULL)
        return;
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

/* Collects every row of a bound CERT_COLUMNS query into *out (written only on success). */
static int cert_list_collect(struct store *st, sqlite3_stmt *s, struct cert_list *out,
                             struct jerr *err)
{
    void *items = NULL;
    size_t count = 0;

    if (store_collect(st, s, cert_from_row, sizeof(struct cert_rec), &items, &count, NULL,
                      "list certificates", err) == -1)
        return -1;
    out->items = items;
    out->count = count;
    return 0;
}

static int certs_by(struct store *st, const char *sql, const char *key, const char *field,
                    struct cert_list *out, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, sql, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (store_bind_str(s, 1, key, JPKI_ID_MAX, field, err) == -1)
        goto out;
    ret = cert_list_collect(st, s, out, err);
out:
    store_stmt_done(s);
    return ret;
}

int store_certs_of_card(struct store *st, const char *card_id, struct cert_list *out,
                        struct jerr *err)
{
    return certs_by(st, SQL_CERTS_OF_CARD, card_id, "card_id", out, err);
}

int store_certs_of_person(struct store *st, const char *person_id, struct cert_list *out,
                          struct jerr *err)
{
    return certs_by(st, SQL_CERTS_OF_PERSON, person_id, "person_id", out, err);
}

int store_certs_expiring(struct store *st, int64_t from, int64_t to, size_t limit,
                         struct cert_list *out, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_CERTS_EXPIRING, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, from);
    sqlite3_bind_int64(s, 2, to);
    store_bind_limit(s, 3, limit);
    ret = cert_list_collect(st, s, out, err);
    store_stmt_done(s);
    return ret;
}
