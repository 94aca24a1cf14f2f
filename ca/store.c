/*
 * store: the registry's connection (DESIGN §7): opening it, the statement cache, transactions
 * and the wait for the write lock. The tables and their SQL live in the repositories beside
 * it (store_<repository>.c), the schema in store_schema.c, what they share in store_int.h.
 * No rule is decided here, no certificate is parsed, no key is seen.
 *
 * Design notes:
 * - One struct store = one SQLite connection, used by one thread at a time. Statements are
 *   prepared once per connection (on first use) and reset + unbound after every use; SQL text
 *   is static, values are always bound, never formatted into SQL. The cache is keyed by the
 *   address of a repository's static SQL text, so a repository adds a statement without
 *   touching any list shared with the others.
 * - Enums are stored as their integer values (the values of ca/model.h and config/config.h,
 *   which are part of the on-disk format and must never be renumbered); "unknown" times and
 *   REASON_NONE are stored as NULL.
 */
#include "ca/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "base/jclock.h"

#define STORE_BUSY_TIMEOUT_MS 10000
/* A writer waiting for the write lock (busy_wait) wakes when a transaction of this process
 * ends, or after this long at most (a writer of another process: jpkid crl, jpkictl...). */
#define STORE_BUSY_POLL_MS 2

static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";

/* ---- waiting for the write lock ----------------------------------------------------------
 * Every worker has a connection of its own, and BEGIN IMMEDIATE makes one writer at a time.
 * SQLite's own busy handler (sqlite3_busy_timeout) sleeps 1, 2, 5, 10 ... 100 ms between
 * attempts, so a worker that found the lock taken slept far longer than the commit it waited
 * for (≈ 0.3 ms with its fsync): issuance spent most of its time asleep (DESIGN §8). Here a
 * waiter sleeps on a condition variable that the end of every transaction of the process
 * signals, and tries again at once; the same 10 s bound applies. */
static pthread_mutex_t tx_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tx_cv; /* CLOCK_MONOTONIC; set up once by tx_cv_init */
static pthread_once_t tx_cv_once = PTHREAD_ONCE_INIT;
static unsigned long tx_ends; /* transactions ended in this process, under tx_mu */

static void tx_cv_init(void)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&tx_cv, &a);
    pthread_condattr_destroy(&a);
}

/* The end of a transaction (commit or rollback): wakes the writers waiting in busy_wait. */
static void tx_ended(void)
{
    pthread_once(&tx_cv_once, tx_cv_init);
    pthread_mutex_lock(&tx_mu);
    tx_ends++;
    pthread_cond_broadcast(&tx_cv);
    pthread_mutex_unlock(&tx_mu);
}

/* sqlite3_busy_handler: 1 = try again, 0 = give up (SQLITE_BUSY). A transaction that ended
 * since the last look (store_begin took one) means try again now. */
static int busy_wait(void *arg, int count)
{
    struct store *st = arg;
    long long now = jclock_mono_ms();

    if (count == 0)
        st->busy_since_ms = now;
    if (now - st->busy_since_ms >= STORE_BUSY_TIMEOUT_MS)
        return 0;
    pthread_once(&tx_cv_once, tx_cv_init);
    pthread_mutex_lock(&tx_mu);
    if (tx_ends == st->busy_seen) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += STORE_BUSY_POLL_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (tx_ends == st->busy_seen && pthread_cond_timedwait(&tx_cv, &tx_mu, &until) == 0) {
        }
    }
    st->busy_seen = tx_ends;
    pthread_mutex_unlock(&tx_mu);
    return 1;
}

/* What busy_wait compares with: read before each attempt at the lock. */
static void busy_look(struct store *st)
{
    pthread_mutex_lock(&tx_mu);
    st->busy_seen = tx_ends;
    pthread_mutex_unlock(&tx_mu);
}

/* ---- errors ---------------------------------------------------------------------------- */

int store_fail(struct store *st, int rc, struct jerr *err, const char *field, const char *what)
{
    int code;

    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
        code = JERR_UNAVAILABLE;
        break;
    default:
        code = JERR_IO;
        break;
    }
    return jerr_set(err, code, field, "registry: %s: %s", what,
                    st != NULL && st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
}

int store_fail_last(struct store *st, struct jerr *err, const char *field, const char *what)
{
    return store_fail(st, sqlite3_extended_errcode(st->db), err, field, what);
}

bool store_is_unique_violation(int rc)
{
    return rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE;
}

const char *store_esc(char *buf, size_t size, const char *s)
{
    jerr_escape(buf, size, s, strlen(s));
    return buf;
}

int store_stopped(struct jerr *err, const char *listing)
{
    return jerr_set(err, JERR_INTERNAL, NULL, "%s stopped by its consumer", listing);
}

/* ---- statements ------------------------------------------------------------------------ */

/* The slot of `sql`: its own, or the free one where it goes (NULL when the cache is full). */
static struct store_stmt_slot *stmt_slot(struct store *st, const char *sql)
{
    /* Fibonacci hashing of the address; the low bits of a pointer are alignment. */
    size_t h = (size_t)(((uint64_t)(uintptr_t)sql * 0x9E3779B97F4A7C15u) >> 40);

    for (size_t probe = 0; probe < STORE_STMT_SLOTS; probe++) {
        struct store_stmt_slot *slot = &st->stmts[(h + probe) & (STORE_STMT_SLOTS - 1)];
        if (slot->sql == sql || slot->sql == NULL)
            return slot;
    }
    return NULL;
}

sqlite3_stmt *store_stmt(struct store *st, const char *sql, struct jerr *err)
{
    struct store_stmt_slot *slot = stmt_slot(st, sql);

    if (slot == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "registry: statement cache full");
        return NULL;
    }
    if (slot->sql == NULL) {
        int rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &slot->stmt, NULL);
        if (rc != SQLITE_OK) {
            store_fail(st, rc, err, NULL, "prepare");
            slot->stmt = NULL;
            return NULL;
        }
        slot->sql = sql;
    } else if (sqlite3_stmt_busy(slot->stmt)) {
        jerr_set(err, JERR_INTERNAL, NULL, "registry: statement re-entered: %.48s", sql);
        return NULL;
    }
    return slot->stmt;
}

void store_stmt_done(sqlite3_stmt *s)
{
    if (s != NULL) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
}

int store_bind_fixed(sqlite3_stmt *s, int idx, const char *text, size_t size, const char *field,
                     struct jerr *err)
{
    size_t len = strnlen(text, size);

    if (len == size)
        return jerr_set(err, JERR_INVALID, field, "%s is not terminated", field);
    if (sqlite3_bind_text(s, idx, text, (int)len, SQLITE_TRANSIENT) != SQLITE_OK)
        return jerr_set(err, JERR_INTERNAL, field, "registry: cannot bind %s", field);
    return 0;
}

int store_bind_str(sqlite3_stmt *s, int idx, const char *text, size_t max, const char *field,
                   struct jerr *err)
{
    if (text == NULL)
        return jerr_set(err, JERR_INVALID, field, "%s missing", field);
    if (strnlen(text, max + 1) > max)
        return jerr_set(err, JERR_TOO_LARGE, field, "%s longer than %zu bytes", field, max);
    if (sqlite3_bind_text(s, idx, text, -1, SQLITE_TRANSIENT) != SQLITE_OK)
        return jerr_set(err, JERR_INTERNAL, field, "registry: cannot bind %s", field);
    return 0;
}

void store_bind_int_or_null(sqlite3_stmt *s, int idx, int64_t v, int64_t null_value)
{
    if (v == null_value)
        sqlite3_bind_null(s, idx);
    else
        sqlite3_bind_int64(s, idx, v);
}

void store_bind_limit(sqlite3_stmt *s, int idx, size_t limit)
{
    sqlite3_bind_int64(s, idx, limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit);
}

int64_t store_col_int_or(sqlite3_stmt *s, int i, int64_t null_value)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL ? null_value : sqlite3_column_int64(s, i);
}

int store_col_copy(sqlite3_stmt *s, int i, char *out, size_t size, const char *field,
                   struct jerr *err)
{
    const unsigned char *text = sqlite3_column_text(s, i);
    int len = sqlite3_column_bytes(s, i);

    if (text == NULL) {
        if (sqlite3_column_type(s, i) != SQLITE_NULL)
            return jerr_set(err, JERR_INTERNAL, field, "registry: out of memory");
        out[0] = '\0';
        return 0;
    }
    if ((size_t)len >= size || memchr(text, '\0', (size_t)len) != NULL)
        return jerr_set(err, JERR_IO, field, "registry: stored %s does not fit", field);
    memcpy(out, text, (size_t)len);
    out[len] = '\0';
    return 0;
}

int store_col_blob_dup(sqlite3_stmt *s, int i, unsigned char **out, size_t *out_len,
                       struct jerr *err)
{
    const void *blob = sqlite3_column_blob(s, i);
    int len = sqlite3_column_bytes(s, i);
    unsigned char *copy;

    if (blob == NULL && len > 0)
        return jerr_set(err, JERR_INTERNAL, NULL, "registry: out of memory");
    if ((copy = malloc(len > 0 ? (size_t)len : 1)) == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    if (len > 0)
        memcpy(copy, blob, (size_t)len);
    *out = copy;
    *out_len = (size_t)len;
    return 0;
}

/* Room for one more element in a malloc'd array holding `count` elements of `size` bytes
 * (capacity *cap, doubled when full): the array, moved if need be, or NULL (err set, the
 * old array still valid). */
static void *array_room(void *items, size_t count, size_t *cap, size_t size, struct jerr *err)
{
    size_t new_cap = *cap == 0 ? 8 : *cap;
    void *grown;

    if (count < *cap)
        return items;
    if (*cap != 0) {
        if (new_cap > SIZE_MAX / 2) {
            jerr_set(err, JERR_INTERNAL, NULL, "registry: list too long");
            return NULL;
        }
        new_cap *= 2;
    }
    if (new_cap > SIZE_MAX / size) {
        jerr_set(err, JERR_INTERNAL, NULL, "registry: list too long");
        return NULL;
    }
    if ((grown = realloc(items, new_cap * size)) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    *cap = new_cap;
    return grown;
}

/* ---- stepping -------------------------------------------------------------------------- */

int store_step_done(struct store *st, sqlite3_stmt *s, const char *field, const char *what,
                    struct jerr *err)
{
    int rc = sqlite3_step(s);

    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        return 0;
    return store_fail_last(st, err, field, what);
}

/* JERR_NOT_FOUND naming `field`, the message formatted from `fmt`. */
static int not_found_v(struct jerr *err, const char *field, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static int not_found_v(struct jerr *err, const char *field, const char *fmt, va_list ap)
{
    char msg[sizeof(err->msg)];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    return jerr_set(err, JERR_NOT_FOUND, field, "%s", msg);
}

int store_step_row(struct store *st, sqlite3_stmt *s, const char *field, const char *what,
                   struct jerr *err, const char *missing_fmt, ...)
{
    int rc = sqlite3_step(s);
    va_list ap;

    if (rc == SQLITE_ROW)
        return 0;
    if (rc != SQLITE_DONE)
        return store_fail_last(st, err, field, what);
    va_start(ap, missing_fmt);
    not_found_v(err, field, missing_fmt, ap);
    va_end(ap);
    return -1;
}

int store_step_key_row(struct store *st, sqlite3_stmt *s, const char *field, const char *noun,
                       const char *key, const char *what, struct jerr *err)
{
    char buf[STORE_META_KEY_MAX * 4 + 1];
    int rc = sqlite3_step(s);

    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return jerr_set(err, JERR_NOT_FOUND, field, "no %s %s", noun,
                        store_esc(buf, sizeof(buf), key));
    return store_fail_last(st, err, field, what);
}

sqlite3_stmt *store_lookup(struct store *st, const char *sql, const char *key, size_t max,
                           const char *field, const char *noun, const char *what, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, sql, err);

    if (s == NULL)
        return NULL;
    if (store_bind_str(s, 1, key, max, field, err) == -1 ||
        store_step_key_row(st, s, field, noun, key, what, err) == -1) {
        store_stmt_done(s);
        return NULL;
    }
    return s;
}

int store_step_rows(struct store *st, sqlite3_stmt *s, store_row_fn row, void *ctx,
                    const char *field, const char *what, struct jerr *err)
{
    int rc;

    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (row(ctx, s, err) != 0)
            return -1;
    }
    if (rc != SQLITE_DONE)
        return store_fail_last(st, err, field, what);
    return 0;
}

struct collect {
    store_read_fn read;
    size_t size;
    unsigned char *items;
    size_t count;
    size_t cap;
};

static int collect_row(void *ctx, sqlite3_stmt *s, struct jerr *err)
{
    struct collect *c = ctx;
    unsigned char *grown = array_room(c->items, c->count, &c->cap, c->size, err);

    if (grown == NULL)
        return -1;
    c->items = grown;
    if (c->read(s, c->items + c->count * c->size, err) == -1)
        return -1;
    c->count++;
    return 0;
}

int store_collect(struct store *st, sqlite3_stmt *s, store_read_fn read, size_t size, void **items,
                  size_t *count, const char *field, const char *what, struct jerr *err)
{
    struct collect c = {read, size, NULL, 0, 0};

    if (store_step_rows(st, s, collect_row, &c, field, what, err) == -1) {
        free(c.items);
        return -1;
    }
    *items = c.items;
    *count = c.count;
    return 0;
}

int store_step_write(struct store *st, sqlite3_stmt *s, const char *field, const char *what,
                     struct jerr *err)
{
    int rc;

    if (sqlite3_step(s) == SQLITE_DONE)
        return 0;
    rc = sqlite3_extended_errcode(st->db);
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return rc;
    return store_fail(st, rc, err, field, what);
}

int store_step_changed(struct store *st, sqlite3_stmt *s, const char *field, const char *noun,
                       const char *key, const char *what, struct jerr *err)
{
    char buf[STORE_META_KEY_MAX * 4 + 1];

    if (store_step_done(st, s, field, what, err) == -1)
        return -1;
    if (sqlite3_changes(st->db) > 0)
        return 0;
    return jerr_set(err, JERR_NOT_FOUND, field, "no %s %s", noun, store_esc(buf, sizeof(buf), key));
}

int store_run(struct store *st, const char *sql, const int64_t *params, int count, int64_t *changes,
              const char *field, const char *what, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, sql, err);
    int ret;

    if (s == NULL)
        return -1;
    for (int i = 0; i < count; i++)
        sqlite3_bind_int64(s, i + 1, params[i]);
    ret = store_step_done(st, s, field, what, err);
    if (ret == 0 && changes != NULL)
        *changes = sqlite3_changes(st->db);
    store_stmt_done(s);
    return ret;
}

bool store_exists(struct store *st, const char *sql, const char *key)
{
    sqlite3_stmt *s = store_stmt(st, sql, NULL);
    bool found = false;

    if (s == NULL)
        return false;
    if (sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT) == SQLITE_OK)
        found = sqlite3_step(s) == SQLITE_ROW;
    store_stmt_done(s);
    return found;
}

/* Runs a statement with no parameters and no result (BEGIN, COMMIT, ROLLBACK). */
static int run_simple(struct store *st, const char *sql, const char *what, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, sql, err);
    int ret;

    if (s == NULL)
        return -1;
    ret = store_step_done(st, s, NULL, what, err);
    store_stmt_done(s);
    return ret;
}

int store_exec(struct store *st, const char *sql, const char *what, struct jerr *err)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK)
        return store_fail_last(st, err, NULL, what);
    return 0;
}

/* ---- transactions ---------------------------------------------------------------------- */

bool store_in_transaction(struct store *st)
{
    return sqlite3_get_autocommit(st->db) == 0;
}

int store_begin(struct store *st, struct jerr *err)
{
    if (store_in_transaction(st))
        return jerr_set(err, JERR_INTERNAL, NULL, "registry: transaction already open");
    busy_look(st);
    return run_simple(st, SQL_BEGIN, "begin", err);
}

/* On failure the transaction stays open for the caller's store_rollback. */
int store_commit(struct store *st, struct jerr *err)
{
    if (!store_in_transaction(st))
        return jerr_set(err, JERR_INTERNAL, NULL, "registry: no transaction to commit");
    int rc = run_simple(st, SQL_COMMIT, "commit", err);
    if (rc == 0)
        tx_ended();
    return rc;
}

void store_rollback(struct store *st)
{
    if (st == NULL || !store_in_transaction(st))
        return;
    if (run_simple(st, SQL_ROLLBACK, "rollback", NULL) == -1)
        /* The prepared ROLLBACK could not run (e.g. out of memory): try the plain form so
         * that the connection never stays inside a failed transaction. */
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    tx_ended();
}

int store_own_tx_begin(struct store *st, bool *own, struct jerr *err)
{
    *own = false;
    if (store_in_transaction(st))
        return 0;
    if (store_begin(st, err) == -1)
        return -1;
    *own = true;
    return 0;
}

int store_own_tx_end(struct store *st, bool own, int ret, struct jerr *err)
{
    if (!own)
        return ret;
    if (ret == 0 && store_commit(st, err) == 0)
        return 0;
    store_rollback(st);
    return -1;
}

/* ---- open / close ---------------------------------------------------------------------- */

static int pragma_text(struct store *st, const char *sql, char *out, size_t size, struct jerr *err)
{
    sqlite3_stmt *s = NULL;
    int ret = -1;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);

    if (rc != SQLITE_OK) {
        store_fail(st, rc, err, NULL, sql);
        goto out;
    }
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        store_fail(st, rc == SQLITE_DONE ? SQLITE_ERROR : rc, err, NULL, sql);
        goto out;
    }
    snprintf(out, size, "%s", (const char *)sqlite3_column_text(s, 0));
    ret = 0;
out:
    sqlite3_finalize(s);
    return ret;
}

/* A new registry file is created 0600 before SQLite opens it (it holds personal data);
 * SQLite gives its -wal and -shm files the same mode. */
static int create_private_file(const char *path, struct jerr *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    if (fd == -1) {
        if (errno == EEXIST)
            return 0;
        return jerr_set(err, JERR_IO, "path", "cannot create the registry: %s", strerror(errno));
    }
    close(fd);
    return 0;
}

struct store *store_open(const char *path, bool create, struct jerr *err)
{
    struct store *st = NULL;
    struct stat sb;
    char mode[32];
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    int rc;

    if (path == NULL || path[0] == '\0') {
        jerr_set(err, JERR_INVALID, "path", "registry path missing");
        goto fail;
    }
    if (!create && stat(path, &sb) == -1) {
        if (errno == ENOENT)
            jerr_set(err, JERR_NOT_FOUND, "path", "no registry at this path");
        else
            jerr_set(err, JERR_IO, "path", "registry: %s", strerror(errno));
        goto fail;
    }
    /* SQLite alone says "unable to open database file" here: even reading a WAL registry
     * writes its -shm file. Say what is wrong. */
    struct statvfs vfs;
    if (statvfs(path, &vfs) == 0 && (vfs.f_flag & ST_RDONLY) != 0) {
        jerr_set(err, JERR_IO, "path",
                 "registry: %s is on a read-only filesystem (the registry, its WAL and the "
                 "published CRLs are written there)",
                 path);
        goto fail;
    }
    if (create) {
        if (create_private_file(path, err) == -1)
            goto fail;
        flags |= SQLITE_OPEN_CREATE;
    }
    if ((st = calloc(1, sizeof(*st))) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto fail;
    }
    rc = sqlite3_open_v2(path, &st->db, flags, NULL);
    if (rc != SQLITE_OK) {
        store_fail(st, rc, err, "path", "open");
        goto fail;
    }
    sqlite3_extended_result_codes(st->db, 1);
    if (sqlite3_busy_handler(st->db, busy_wait, st) != SQLITE_OK) {
        store_fail(st, sqlite3_errcode(st->db), err, NULL, "busy handler");
        goto fail;
    }
    /* DESIGN §7: WAL, synchronous=FULL (a status change is durable when reported done),
     * foreign keys enforced. journal_mode answers the mode it ended in: check it took. */
    if (pragma_text(st, "PRAGMA journal_mode=WAL", mode, sizeof(mode), err) == -1)
        goto fail;
    if (strcmp(mode, "wal") != 0) {
        jerr_set(err, JERR_IO, "path", "registry: journal_mode is %s, not wal", mode);
        goto fail;
    }
    if (store_exec(st, "PRAGMA synchronous=FULL", "synchronous", err) == -1 ||
        store_exec(st, "PRAGMA foreign_keys=ON", "foreign_keys", err) == -1)
        goto fail;
    if (pragma_text(st, "PRAGMA foreign_keys", mode, sizeof(mode), err) == -1)
        goto fail;
    if (strcmp(mode, "1") != 0) {
        jerr_set(err, JERR_IO, NULL, "registry: foreign keys could not be enabled");
        goto fail;
    }
    /* Secrets pass through the registry (a batch row's passwords while it is pending,
     * docs/BATCH.md): what a statement deletes or overwrites is zeroed in the file, not left in
     * free space. SQLite's pragma is per connection, so every connection sets it. */
    if (pragma_text(st, "PRAGMA secure_delete=ON", mode, sizeof(mode), err) == -1)
        goto fail;
    if (strcmp(mode, "1") != 0) {
        jerr_set(err, JERR_IO, NULL, "registry: secure_delete could not be enabled");
        goto fail;
    }
    if (store_migrate(st, err) == -1)
        goto fail;
    return st;
fail:
    store_close(st);
    return NULL;
}

void store_close(struct store *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < STORE_STMT_SLOTS; i++)
        sqlite3_finalize(st->stmts[i].stmt);
    sqlite3_close(st->db);
    free(st);
}

int store_wal_truncate(struct store *st, struct jerr *err)
{
    int rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    if (rc == SQLITE_BUSY)
        return jerr_set(err, JERR_UNAVAILABLE, NULL,
                        "registry: the WAL was not truncated (other connections were using it)");
    if (rc != SQLITE_OK)
        return store_fail_last(st, err, NULL, "wal checkpoint");
    return 0;
}
