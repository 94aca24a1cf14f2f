/*
 * store_int: what the registry's files share and nobody else sees (ca/store.h is the public
 * interface). store.c owns the connection, the statement cache, transactions and the busy
 * wait; store_schema.c the migrations; every store_<repository>.c its own tables and its own
 * SQL text. A repository names each statement as a `static const char SQL_...[]` and gets it
 * prepared and cached per connection with store_stmt(st, SQL_..., err): the text's address is
 * the cache key, so no list of every statement couples the repositories.
 *
 * Only ca/store*.c include this header.
 */
#ifndef JPKI_STORE_INT_H
#define JPKI_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

#include "ca/store.h"

/* The longest registry setting name (meta.key), and so the longest key a message escapes. */
#define STORE_META_KEY_MAX 128

/* Cache slots per connection: more than all repositories' statements (about 75), a power of
 * two (open addressing keyed by the SQL text's address). */
#define STORE_STMT_SLOTS 256

struct store_stmt_slot {
    const char *sql; /* NULL: free */
    sqlite3_stmt *stmt;
};

/* What this connection knows about the CRL it is building for one CA (store_crl.c). */
struct crl_snapshot {
    bool valid;
    int partition;
    int64_t change_seq;
};

struct store {
    sqlite3 *db;
    struct store_stmt_slot stmts[STORE_STMT_SLOTS];
    int schema_version;
    struct crl_snapshot crl_snap[CA_KIND_COUNT];
    unsigned long busy_seen; /* tx_ends as busy_wait last saw it */
    long long busy_since_ms; /* when the current wait for a lock began */
    bool publishing;         /* store_set_publishing: OCSP writes queue the serial for Redis */
};

/* ---- statements (store.c) ------------------------------------------------------------- */

/* The statement of `sql` (a static text of the caller's file), prepared on first use on this
 * connection. A statement still stepping (a foreach whose callback re-enters the same query)
 * is refused rather than reset under its caller. Give it back with store_stmt_done. */
sqlite3_stmt *store_stmt(struct store *st, const char *sql, struct jerr *err);
void store_stmt_done(sqlite3_stmt *s); /* reset + unbind; NULL is a no-op */

/* ---- errors --------------------------------------------------------------------------- */

/* Maps an SQLite result to a jerr (`what` failed, naming `field`): busy, locked, full,
 * read-only or a failing disk is JERR_UNAVAILABLE, anything else JERR_IO. Returns -1. */
int store_fail(struct store *st, int rc, struct jerr *err, const char *field, const char *what);
/* store_fail with the connection's last extended result code. */
int store_fail_last(struct store *st, struct jerr *err, const char *field, const char *what);
bool store_is_unique_violation(int rc);
/* An identifier or serial for a message: outside bytes are escaped (STYLE "Errors"). */
const char *store_esc(char *buf, size_t size, const char *s);
/* JERR_INTERNAL "<listing> stopped by its consumer": a foreach whose callback said stop. */
int store_stopped(struct jerr *err, const char *listing);

/* ---- binding and reading -------------------------------------------------------------- */

/* Binds a NUL-terminated text held in a fixed array of `size` bytes; an unterminated array is
 * refused (JERR_INVALID naming `field`). */
int store_bind_fixed(sqlite3_stmt *s, int idx, const char *text, size_t size, const char *field,
                     struct jerr *err);
/* Binds a caller's C string (bounded by `max` bytes; NULL is JERR_INVALID). */
int store_bind_str(sqlite3_stmt *s, int idx, const char *text, size_t max, const char *field,
                   struct jerr *err);
/* Binds v, or NULL when v equals `null_value` (unknown time, REASON_NONE). */
void store_bind_int_or_null(sqlite3_stmt *s, int idx, int64_t v, int64_t null_value);
/* Binds a row limit (size_t) as SQLite's int64. */
void store_bind_limit(sqlite3_stmt *s, int idx, size_t limit);
int64_t store_col_int_or(sqlite3_stmt *s, int i, int64_t null_value);
/* Copies a text column into a fixed array; a value that does not fit means the registry was
 * written by something else than this code: refused, never truncated. NULL reads as "". */
int store_col_copy(sqlite3_stmt *s, int i, char *out, size_t size, const char *field,
                   struct jerr *err);
/* Copies a blob column into a new malloc'd buffer (at least one byte is allocated). */
int store_col_blob_dup(sqlite3_stmt *s, int i, unsigned char **out, size_t *out_len,
                       struct jerr *err);

/* ---- stepping ------------------------------------------------------------------------- */

/* Steps a statement that returns no rows (or whose rows nobody reads). */
int store_step_done(struct store *st, sqlite3_stmt *s, const char *field, const char *what,
                    struct jerr *err);
/* Steps a bound statement to its one row: 0 on it; -1 with JERR_NOT_FOUND naming `field` and
 * the message `missing_fmt` when there is none, or with the registry's error (`what`). */
int store_step_row(struct store *st, sqlite3_stmt *s, const char *field, const char *what,
                   struct jerr *err, const char *missing_fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* store_step_row for a lookup by a caller's key: "no <noun> <key>" (the key escaped). */
int store_step_key_row(struct store *st, sqlite3_stmt *s, const char *field, const char *noun,
                       const char *key, const char *what, struct jerr *err);
/* Looks up the one row of `sql` by the text key ?1 (at most `max` bytes, naming `field`):
 * the statement on that row, to be given back with store_stmt_done, or NULL with err set
 * (JERR_NOT_FOUND "no <noun> <key>" when there is none). */
sqlite3_stmt *store_lookup(struct store *st, const char *sql, const char *key, size_t max,
                           const char *field, const char *noun, const char *what, struct jerr *err);
/* Steps a bound statement through all its rows, calling row(ctx, s, err) on each; a row
 * function returns 0 to go on, -1 (err set) to stop. 0 when every row was read. */
typedef int (*store_row_fn)(void *ctx, sqlite3_stmt *s, struct jerr *err);
int store_step_rows(struct store *st, sqlite3_stmt *s, store_row_fn row, void *ctx,
                    const char *field, const char *what, struct jerr *err);
/* Reads the current row of `s` into *out (a struct the caller's read function knows). */
typedef int (*store_read_fn)(sqlite3_stmt *s, void *out, struct jerr *err);
/* Steps a bound statement through all its rows into a new malloc'd array of `size`-byte
 * elements, each read by `read`: *items (NULL when there is no row; the caller frees it) and
 * *count are written only on success. */
int store_collect(struct store *st, sqlite3_stmt *s, store_read_fn read, size_t size, void **items,
                  size_t *count, const char *field, const char *what, struct jerr *err);
/* Steps a bound write whose failure may be a constraint the caller names: 0 done; a
 * constraint violation (any SQLITE_CONSTRAINT_*) returns its extended code with err untouched
 * for the caller to say which; anything else -1 with the registry's error (`what`). */
int store_step_write(struct store *st, sqlite3_stmt *s, const char *field, const char *what,
                     struct jerr *err);
/* Runs the write `sql` with the integers params[0..count-1] bound to ?1.., and *changes (may
 * be NULL) = the rows it changed. */
int store_run(struct store *st, const char *sql, const int64_t *params, int count, int64_t *changes,
              const char *field, const char *what, struct jerr *err);
/* Runs `sql` with `key` bound to ?1 and says whether it returned a row (false on error). */
bool store_exists(struct store *st, const char *sql, const char *key);
/* Steps a bound UPDATE of the row of a caller's key: -1 with JERR_NOT_FOUND naming `field`,
 * "no <noun> <key>" (the key escaped) when no row changed, or with the registry's error. */
int store_step_changed(struct store *st, sqlite3_stmt *s, const char *field, const char *noun,
                       const char *key, const char *what, struct jerr *err);

/* ---- transactions --------------------------------------------------------------------- */

bool store_in_transaction(struct store *st);
/* Opens a transaction for a multi-statement change unless the caller already has one. */
int store_own_tx_begin(struct store *st, bool *own, struct jerr *err);
/* Ends what store_own_tx_begin opened: commits on success (ret 0), rolls back otherwise;
 * returns ret when the caller's transaction was used. */
int store_own_tx_end(struct store *st, bool own, int ret, struct jerr *err);
/* Runs an SQL script (no parameters, no result) outside the statement cache. */
int store_exec(struct store *st, const char *sql, const char *what, struct jerr *err);

/* ---- across repositories -------------------------------------------------------------- */

/* store_schema.c: applies the pending migrations at open (sets st->schema_version). */
int store_migrate(struct store *st, struct jerr *err);
/* store_ocsp.c: marks `serial` for the OCSP refresher inside the open transaction
 * (migration 5); store_ocsp_mark_changed also marks its pre-signed responses stale. */
int store_ocsp_mark_dirty(struct store *st, const char *serial, int ca, struct jerr *err);
int store_ocsp_mark_changed(struct store *st, const char *serial, int ca, struct jerr *err);
/* store_publish.c: queues `serial` for the Redis publisher (migration 7) when the connection
 * is publishing (store_set_publishing), inside the open transaction; else does nothing. */
int store_pub_enqueue(struct store *st, const char *serial, struct jerr *err);
/* store_persons.c: whether card `id` is in the registry (false also on error). */
bool store_card_exists(struct store *st, const char *id);
/* store_crl.c: a status change of `ca` at `at` (0 = now) makes its CRLs stale. */
int store_crl_mark_changed(struct store *st, int ca, int64_t at, struct jerr *err);
/* store_crl.c: JERR_INVALID "ca" for a CA that is neither CA_SIGN nor CA_AUTH. */
int store_ca_check(enum ca_kind ca, struct jerr *err);

#endif
