/*
 * store_linkage: certificate linkage (table cert_links: old serial -> the serial that superseded
 * it at re-issuance) and holders' consents (table consents), migration 8.
 */
#include "ca/store_int.h"

#include <string.h>

static const char SQL_LINK_PREDECESSOR[] =
    "INSERT INTO cert_links(serial, superseded_by, linked_at, cause) "
    "SELECT serial, ?1, ?4, 'reissue' FROM certificates c WHERE person_id = ?2 AND ca = ?3 "
    "AND serial != ?1 AND NOT EXISTS (SELECT 1 FROM cert_links l WHERE l.serial = c.serial) "
    "ORDER BY issued_at DESC, rowid DESC LIMIT 1";
static const char SQL_LINK_SUCCESSOR[] = "SELECT superseded_by FROM cert_links WHERE serial = ?1";
static const char SQL_CONSENT_PUT[] =
    "INSERT INTO consents(person_id, party, granted_at, granted_by) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT(person_id, party) DO UPDATE SET granted_at = ?3, granted_by = ?4";
static const char SQL_CONSENT_EXISTS[] =
    "SELECT 1 FROM consents WHERE person_id = ?1 AND party = ?2";

int store_link_predecessor(struct store *st, const char *serial, const char *person_id,
                           enum ca_kind ca, int64_t at, struct jerr *err)
{
    sqlite3_stmt *s;
    int ret = -1;

    if (store_ca_check(ca, err) == -1 || (s = store_stmt(st, SQL_LINK_PREDECESSOR, err)) == NULL)
        return -1;
    if (store_bind_str(s, 1, serial, JPKI_SERIAL_HEX_MAX, "serial", err) == 0 &&
        store_bind_str(s, 2, person_id, JPKI_ID_MAX, "person_id", err) == 0) {
        sqlite3_bind_int(s, 3, (int)ca);
        sqlite3_bind_int64(s, 4, at);
        ret = store_step_done(st, s, "serial", "link certificate", err);
    }
    store_stmt_done(s);
    return ret;
}

int store_link_successor(struct store *st, const char *serial, char *out, size_t size,
                         struct jerr *err)
{
    sqlite3_stmt *s = store_lookup(st, SQL_LINK_SUCCESSOR, serial, JPKI_SERIAL_HEX_MAX, "serial",
                                   "successor of", "linkage", err);
    if (s == NULL)
        return -1;
    int ret = store_col_copy(s, 0, out, size, "superseded_by", err);
    store_stmt_done(s);
    return ret;
}

int store_consent_put(struct store *st, const char *person_id, const char *party, int64_t at,
                      const char *granted_by, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_CONSENT_PUT, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (store_bind_str(s, 1, person_id, JPKI_ID_MAX, "person_id", err) == 0 &&
        store_bind_str(s, 2, party, JPKI_ID_MAX, "party", err) == 0 &&
        store_bind_str(s, 4, granted_by, JPKI_ID_MAX * 2, "granted_by", err) == 0) {
        sqlite3_bind_int64(s, 3, at);
        int rc = store_step_write(st, s, "person_id", "record consent", err);
        if (rc > 0) /* a foreign key: no such person */
            rc = jerr_set(err, JERR_NOT_FOUND, "id", "no person %s", person_id);
        ret = rc == 0 ? 0 : -1;
    }
    store_stmt_done(s);
    return ret;
}

bool store_consent_exists(struct store *st, const char *person_id, const char *party)
{
    sqlite3_stmt *s = store_stmt(st, SQL_CONSENT_EXISTS, NULL);
    bool found = false;

    if (s == NULL)
        return false;
    if (sqlite3_bind_text(s, 1, person_id, -1, SQLITE_TRANSIENT) == SQLITE_OK &&
        sqlite3_bind_text(s, 2, party, -1, SQLITE_TRANSIENT) == SQLITE_OK)
        found = sqlite3_step(s) == SQLITE_ROW;
    store_stmt_done(s);
    return found;
}
