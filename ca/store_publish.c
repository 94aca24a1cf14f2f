/*
 * store_publish: the queue of publication to Redis (table publish_queue, migration 7; DESIGN
 * §13). The same idea as the refresher's marks (store_ocsp.c): what must be published is
 * written down by the writer of the response, in its transaction, never found by comparing
 * the registry with Redis; a serial queued again gets a new seq, so a clear of the seq the
 * publisher read never drops a newer write.
 */
#include "ca/store_int.h"

#include <time.h>

static const char SQL_PUB_ENQUEUE[] =
    "REPLACE INTO publish_queue(serial, queued_ms) VALUES (?1, ?2)";
static const char SQL_PUB_LIST[] = "SELECT q.seq, q.serial, c.ca, q.queued_ms FROM publish_queue q "
                                   "CROSS JOIN certificates c ON c.serial = q.serial "
                                   "WHERE q.seq > ?1 ORDER BY q.seq LIMIT ?2";
static const char SQL_PUB_CLEAR[] = "DELETE FROM publish_queue WHERE seq = ?2 AND serial = ?1";
static const char SQL_PUB_DEPTH[] =
    "SELECT count(*), coalesce((SELECT queued_ms FROM publish_queue ORDER BY seq LIMIT 1), 0) "
    "FROM publish_queue";
static const char SQL_PUB_SEED[] = "REPLACE INTO publish_queue(serial, queued_ms) "
                                   "SELECT serial, ?1 FROM certificates ORDER BY rowid";
/* Both hashes: a responder without keys cannot sign the SHA-256 answer on a miss. */
static const char SQL_PUB_SEED_MARKS[] =
    "INSERT OR IGNORE INTO ocsp_dirty(serial, ca) SELECT c.serial, c.ca FROM certificates c "
    "WHERE c.not_after >= ?1 AND (SELECT count(*) FROM ocsp_responses o WHERE "
    "o.serial = c.serial AND o.stale = 0) < 2 ORDER BY c.rowid";

void store_set_publishing(struct store *st, bool on)
{
    st->publishing = on;
}

bool store_is_publishing(const struct store *st)
{
    return st->publishing;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int store_pub_enqueue(struct store *st, const char *serial, struct jerr *err)
{
    sqlite3_stmt *s;
    int ret = -1;

    if (!st->publishing)
        return 0;
    if ((s = store_stmt(st, SQL_PUB_ENQUEUE, err)) == NULL)
        return -1;
    if (store_bind_str(s, 1, serial, JPKI_SERIAL_HEX_MAX, "serial", err) == 0) {
        sqlite3_bind_int64(s, 2, wall_ms());
        ret = store_step_done(st, s, "serial", "queue for publication", err);
    }
    store_stmt_done(s);
    return ret;
}

struct pub_walk {
    store_pub_cb cb;
    void *ctx;
};

static int pub_row(void *arg, sqlite3_stmt *s, struct jerr *err)
{
    struct pub_walk *walk = arg;
    struct store_pub_entry e = {
        .seq = sqlite3_column_int64(s, 0),
        .serial = (const char *)sqlite3_column_text(s, 1),
        .ca = (enum ca_kind)sqlite3_column_int(s, 2),
        .queued_ms = sqlite3_column_int64(s, 3),
    };
    if (e.serial == NULL)
        return jerr_set(err, JERR_INTERNAL, "serial", "registry: out of memory");
    if (walk->cb(walk->ctx, &e) != 0)
        return store_stopped(err, "publication queue");
    return 0;
}

int store_pub_foreach(struct store *st, int64_t after_seq, size_t limit, store_pub_cb cb, void *ctx,
                      struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_PUB_LIST, err);
    int ret;

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, after_seq);
    store_bind_limit(s, 2, limit);
    ret = store_step_rows(st, s, pub_row, &(struct pub_walk){cb, ctx}, NULL, "publication queue",
                          err);
    store_stmt_done(s);
    return ret;
}

int store_pub_clear(struct store *st, const struct store_pub_done *done, size_t n, struct jerr *err)
{
    bool own = false;
    int ret = 0;

    if (n == 0)
        return 0;
    if (store_own_tx_begin(st, &own, err) == -1)
        return -1;
    for (size_t i = 0; ret == 0 && i < n; i++) {
        sqlite3_stmt *s = store_stmt(st, SQL_PUB_CLEAR, err);
        if (s == NULL)
            ret = -1;
        else if ((ret = store_bind_str(s, 1, done[i].serial, JPKI_SERIAL_HEX_MAX, "serial", err)) ==
                 0) {
            sqlite3_bind_int64(s, 2, done[i].seq);
            ret = store_step_done(st, s, "serial", "clear publication", err);
        }
        store_stmt_done(s);
    }
    return store_own_tx_end(st, own, ret, err);
}

int store_pub_depth(struct store *st, int64_t *count, int64_t *oldest_ms, struct jerr *err)
{
    sqlite3_stmt *s = store_stmt(st, SQL_PUB_DEPTH, err);
    int ret = -1;

    if (s == NULL)
        return -1;
    if (store_step_row(st, s, NULL, "publication queue", err, "%s", "no row") == 0) {
        *count = sqlite3_column_int64(s, 0);
        *oldest_ms = sqlite3_column_int64(s, 1);
        ret = 0;
    }
    store_stmt_done(s);
    return ret;
}

int store_pub_seed(struct store *st, int64_t now, int64_t now_ms, int64_t *queued, struct jerr *err)
{
    bool own = false;
    int64_t n = 0;
    int ret = -1;

    if (store_own_tx_begin(st, &own, err) == -1)
        return -1;
    if (store_run(st, SQL_PUB_SEED, &now_ms, 1, &n, NULL, "seed publication", err) == 0 &&
        store_run(st, SQL_PUB_SEED_MARKS, &now, 1, NULL, NULL, "seed publication", err) == 0)
        ret = 0;
    ret = store_own_tx_end(st, own, ret, err);
    if (ret == 0 && queued != NULL)
        *queued = n;
    return ret;
}
