/*
 * store_holder: online revocation requests of card holders (table holder_requests,
 * migration 4; docs/CARD.md "Online revocation"): a request id is accepted once.
 */
#include "ca/store_int.h"

#include <stdlib.h>
#include <string.h>

#include "base/jclock.h"

static const char SQL_HOLDER_REQUEST_INSERT[] =
    "INSERT INTO holder_requests(request_id, serial, signer_serial, "
    "receipt_id, request_time, received_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_HOLDER_REQUEST_EXISTS[] =
    "SELECT 1 FROM holder_requests WHERE request_id = ?1";

/* ---- holder requests (migration 4) ----------------------------------------------------- */

int store_holder_request_insert(struct store *st, const struct holder_request_rec *r,
                                struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_HOLDER_REQUEST_INSERT, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (store_bind_fixed(s, 1, r->request_id, sizeof(r->request_id), "request_id", err) == -1 ||
        store_bind_fixed(s, 2, r->serial, sizeof(r->serial), "serial", err) == -1 ||
        store_bind_fixed(s, 3, r->signer_serial, sizeof(r->signer_serial), "signer_serial", err) ==
            -1 ||
        store_bind_fixed(s, 4, r->receipt_id, sizeof(r->receipt_id), "receipt_id", err) == -1)
        goto out;
    sqlite3_bind_int64(s, 5, r->request_time);
    sqlite3_bind_int64(s, 6, r->received_at != 0 ? r->received_at : (int64_t)jclock_now());
    ret = store_step_write(st, s, "request_id", "insert holder request", err);
    if (ret == SQLITE_CONSTRAINT_PRIMARYKEY)
        ret = jerr_set(err, JERR_CONFLICT, "request_id",
                       "replayed request: this request_id was already used");
    else if (ret == SQLITE_CONSTRAINT_UNIQUE)
        ret = jerr_set(err, JERR_CONFLICT, "receipt_id", "receipt id already in use");
    else if (ret == SQLITE_CONSTRAINT_FOREIGNKEY)
        ret = jerr_set(err, JERR_NOT_FOUND, "serial", "no such certificate");
    else if (ret > 0)
        ret = store_fail(st, ret, err, "request_id", "insert holder request");
out:
    store_stmt_done(s);
    return ret;
}

bool store_holder_request_exists(struct store *st, const char *request_id)
{
    return store_exists(st, SQL_HOLDER_REQUEST_EXISTS, request_id);
}
