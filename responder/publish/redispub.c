/*
 * redispub: see redispub.h. Everything below the "thread" line runs on the publisher's own
 * thread and is touched by nothing else; the mutex covers the kicks, the notes and the status
 * that /readyz reads.
 */
#include "responder/publish/redispub.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "ca/ocsp.h"
#include "ca/store.h"
#include "base/hex.h"
#include "base/jclock.h"
#include "responder/monitor/metrics.h"
#include "responder/net/log.h"
#include "responder/publish/rppub.h"
#include "responder/redis/redisconn.h"

#define KEY_MAX (REDISCONN_PREFIX_MAX + 256)
#define FILES_MAX 64 /* files remembered by ETag (2 roots, fingerprints, CRLs and partitions) */

struct note {
    char serial[JPKI_SERIAL_HEX_MAX + 1];
    long long at_ms;
};

struct sent_file {
    char path[64];
    char etag[128];
};

struct queued {
    struct store_pub_done done;
    enum ca_kind ca;
    bool written; /* a fresh response of it went in this batch */
};

struct redispub {
    const struct pki *pki;
    struct public *files;
    struct redisconn_cfg conn;      /* publish.redis; its password wiped at free */
    char addr[REDISCONN_ADDR_MAX]; /* "host:port", for messages */
    char ikh[CA_KIND_COUNT][2][65];     /* [ca][OCSP_CERTID_*]: lower-case hex issuerKeyHash */

    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu */
    bool kicked, files_kicked, parties_kicked, stopping;
    bool ready;
    char problem[256];
    struct note notes[REDISPUB_NOTES_MAX];
    size_t note_count;

    /* ---- thread ---- */
    struct store *st;
    redisContext *rc;
    bool synced;               /* seeded check, roots and files done since the connection */
    long long next_connect_ms; /* monotonic */
    long long next_files_ms;   /* monotonic */
    long long next_depth_ms;   /* monotonic */
    long long next_parties_ms; /* monotonic */
    struct sent_file sent[FILES_MAX];
    size_t sent_count;
    struct evbuffer *body;
    struct queued batch[REDISPUB_BATCH];
    size_t batch_count;
    struct rppub *rp; /* the relying parties' view and the responders' usage */
};

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* publish.redis: one primary (no sentinels: the CA node writes where it is told). */
static int load_conn(struct redisconn_cfg *out, const struct jpki_config *cfg, struct jerr *err)
{
    struct jerr e = {0};
    char *password = config_read_redis_password(cfg, false, &e);
    if (redisconn_cfg_init(out, "publish.redis", cfg->publish_redis_url, "", "",
                           cfg->publish_redis_key_prefix, password, REDISPUB_TIMEOUT_MS, err) == -1)
        return -1;
    if (redisconn_cfg_set_tls(out, "publish.redis", &cfg->publish_redis_tls, err) == -1)
        return -1;
    if (password == NULL && jerr_is_set(&e))
        return jerr_set(err, e.code, e.field, "%s", e.msg);
    return 0;
}

struct redispub *redispub_new(const struct pki *pki, struct public *files, struct jerr *err)
{
    const struct jpki_config *cfg = pki_config(pki);
    struct redispub *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    p->pki = pki;
    p->files = files;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    snprintf(p->problem, sizeof(p->problem), "not connected yet");
    if (load_conn(&p->conn, cfg, err) == -1)
        goto fail;
    redisconn_addr(&p->conn.primary, p->addr, sizeof(p->addr));
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        struct ocsp_issuer iss;
        if (ocsp_issuer_init(&iss, (enum ca_kind)ca, pki_get0_root(pki, (enum ca_kind)ca), err) ==
            -1)
            goto fail;
        hex_encode(iss.key_sha1, sizeof(iss.key_sha1), p->ikh[ca][OCSP_CERTID_SHA1]);
        hex_encode(iss.key_sha256, sizeof(iss.key_sha256), p->ikh[ca][OCSP_CERTID_SHA256]);
    }
    if ((p->body = evbuffer_new()) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto fail;
    }
    if ((p->rp = rppub_new(pki, p->conn.prefix, err)) == NULL)
        goto fail;
    return p;
fail:
    redispub_free(p);
    return NULL;
}

int redispub_check_config(const struct jpki_config *cfg, struct jerr *err)
{
    struct redisconn_cfg conn;

    if (cfg->publish_redis_url[0] == '\0')
        return 0;
    int rc = load_conn(&conn, cfg, err);
    redisconn_cfg_clear(&conn);
    return rc;
}

/* ---- from any thread ---- */

static void wake(struct redispub *p, bool files, bool parties)
{
    pthread_mutex_lock(&p->mu);
    p->kicked = true;
    if (files)
        p->files_kicked = true;
    if (parties)
        p->parties_kicked = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void redispub_set_meter(struct redispub *p, struct rpmeter *meter)
{
    rppub_set_meter(p->rp, meter);
}

void redispub_kick(void *arg)
{
    if (arg != NULL)
        wake(arg, false, false);
}

void redispub_parties_changed(void *arg)
{
    if (arg != NULL)
        wake(arg, false, true);
}

void redispub_files_changed(void *arg)
{
    if (arg != NULL)
        wake(arg, true, false);
}

void redispub_note_change(struct redispub *p, const char *serial)
{
    if (p == NULL || strlen(serial) > JPKI_SERIAL_HEX_MAX)
        return;
    pthread_mutex_lock(&p->mu);
    if (p->note_count < REDISPUB_NOTES_MAX) {
        struct note *n = &p->notes[p->note_count++];
        memcpy(n->serial, serial, strlen(serial) + 1);
        n->at_ms = wall_ms();
    }
    pthread_mutex_unlock(&p->mu);
}

bool redispub_is_ready(struct redispub *p, char *why, size_t why_size)
{
    pthread_mutex_lock(&p->mu);
    bool ready = p->ready;
    if (!ready)
        snprintf(why, why_size, "%s", p->problem);
    pthread_mutex_unlock(&p->mu);
    return ready;
}

/* ---- thread ---- */

static void set_status(struct redispub *p, bool ready, const char *problem)
{
    pthread_mutex_lock(&p->mu);
    bool was = p->ready;
    bool changed = was != ready || (problem != NULL && strcmp(p->problem, problem) != 0);
    p->ready = ready;
    if (problem != NULL)
        snprintf(p->problem, sizeof(p->problem), "%s", problem);
    pthread_mutex_unlock(&p->mu);
    metrics_publish_redis_connected(p->rc != NULL);
    if (!changed)
        return;
    if (ready)
        log_info("redis %s: publishing", p->addr);
    else
        log_error("%s; queued in the registry until it answers", problem);
}

/* A failure of the connection or of a write: drop the connection, retry later. */
static void fail(struct redispub *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct redispub *p, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (p->rc != NULL)
        redisFree(p->rc);
    p->rc = NULL;
    p->synced = false;
    p->next_connect_ms = jclock_mono_ms() + REDISPUB_RETRY_MS;
    metrics_publish_redis_error();
    set_status(p, false, msg);
}

static void key_of(const struct redispub *p, char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void key_of(const struct redispub *p, char *out, size_t size, const char *fmt, ...)
{
    size_t n = (size_t)snprintf(out, size, "%s", p->conn.prefix);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + n, size - n, fmt, ap);
    va_end(ap);
}

/* Appends one command (binary-safe arguments). */
static void append(struct redispub *p, int argc, const char **argv, const size_t *lens,
                   size_t *pending)
{
    redisAppendCommandArgv(p->rc, argc, argv, lens);
    (*pending)++;
}

static void append_publish(struct redispub *p, const char *key, size_t *pending)
{
    char channel[KEY_MAX];
    key_of(p, channel, sizeof(channel), "changes");
    const char *argv[] = {"PUBLISH", channel, key};
    append(p, 3, argv, NULL, pending);
}

/* Reads `pending` replies; -1 (connection dropped) at the first failure or error reply. */
static int collect(struct redispub *p, size_t pending, const char *what)
{
    char first[160] = "";
    for (size_t i = 0; i < pending; i++) {
        redisReply *r = NULL;
        if (redisGetReply(p->rc, (void **)&r) != REDIS_OK || r == NULL) {
            fail(p, "redis %s: %s: %s", p->addr, what, p->rc->errstr);
            return -1;
        }
        if (r->type == REDIS_REPLY_ERROR && first[0] == '\0')
            snprintf(first, sizeof(first), "%.150s", r->str);
        freeReplyObject(r);
    }
    if (first[0] != '\0') {
        fail(p, "redis %s: %s refused: %s", p->addr, what, first);
        return -1;
    }
    return 0;
}

/* HSET P meta published_ms now: the responders' lag. */
static void append_meta(struct redispub *p, size_t *pending)
{
    char key[KEY_MAX], ms[32];
    key_of(p, key, sizeof(key), "meta");
    snprintf(ms, sizeof(ms), "%lld", wall_ms());
    const char *argv[] = {"HSET", key, "published_ms", ms};
    append(p, 4, argv, NULL, pending);
}

/* The roots: HSET P cas CA/GEN DER (one generation until CA generations exist). */
static int publish_roots(struct redispub *p)
{
    char key[KEY_MAX];
    const char *argv[2 + 2 * CA_KIND_COUNT];
    size_t lens[2 + 2 * CA_KIND_COUNT];
    unsigned char *der[CA_KIND_COUNT] = {NULL};
    char field[CA_KIND_COUNT][32];
    size_t pending = 0;
    int argc = 2, ret = -1;

    key_of(p, key, sizeof(key), "cas");
    argv[0] = "HSET";
    lens[0] = 4;
    argv[1] = key;
    lens[1] = strlen(key);
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        int len = i2d_X509(pki_get0_root(p->pki, (enum ca_kind)ca), &der[ca]);
        if (len <= 0) {
            fail(p, "redis %s: encoding the %s root", p->addr, ca_kind_name((enum ca_kind)ca));
            goto out;
        }
        snprintf(field[ca], sizeof(field[ca]), "%s/1", ca_kind_name((enum ca_kind)ca));
        argv[argc] = field[ca];
        lens[argc++] = strlen(field[ca]);
        argv[argc] = (const char *)der[ca];
        lens[argc++] = (size_t)len;
    }
    append(p, argc, argv, lens, &pending);
    append_publish(p, key, &pending);
    ret = collect(p, pending, "writing the CA certificates");
out:
    for (int ca = 0; ca < CA_KIND_COUNT; ca++)
        OPENSSL_free(der[ca]);
    return ret;
}

static struct sent_file *sent_of(struct redispub *p, const char *path)
{
    for (size_t i = 0; i < p->sent_count; i++)
        if (strcmp(p->sent[i].path, path) == 0)
            return &p->sent[i];
    if (p->sent_count == FILES_MAX)
        return NULL;
    struct sent_file *s = &p->sent[p->sent_count++];
    snprintf(s->path, sizeof(s->path), "%s", path);
    s->etag[0] = '\0';
    return s;
}

/* Whether Redis already holds `etag` for `key` (after a reconnection: a big CRL is not sent
 * again for nothing). */
static bool redis_has_etag(struct redispub *p, const char *key, const char *etag)
{
    redisReply *r = redisCommand(p->rc, "HGET %s etag", key);
    bool same = r != NULL && r->type == REDIS_REPLY_STRING && strcmp(r->str, etag) == 0;
    freeReplyObject(r);
    return same;
}

/* public_foreach_file's callback: HSET P file:PATH body etag type last_modified [expires]. */
static int publish_file(void *arg, const struct public_file *f)
{
    struct redispub *p = arg;
    struct sent_file *s = sent_of(p, f->path);
    char key[KEY_MAX];
    size_t pending = 0;
    struct jerr err = {0};

    if (s != NULL && strcmp(s->etag, f->etag) == 0)
        return 0;
    key_of(p, key, sizeof(key), "file:%s", f->path);
    if (s != NULL && s->etag[0] == '\0' && redis_has_etag(p, key, f->etag)) {
        snprintf(s->etag, sizeof(s->etag), "%s", f->etag);
        return 0;
    }
    if (p->rc == NULL)
        return -1;
    evbuffer_drain(p->body, evbuffer_get_length(p->body));
    if (public_file_body(f, p->body, &err) == -1) {
        log_error("redis %s: %s: %s", p->addr, f->path, err.msg);
        return 0; /* tried again at the next look */
    }
    size_t body_len = evbuffer_get_length(p->body);
    const char *body = (const char *)evbuffer_pullup(p->body, -1);
    redisconn_append_file(p->rc, key, body, body_len, f->etag, f->content_type,
                          f->last_modified, f->expires, &pending);
    append_publish(p, key, &pending);
    append_meta(p, &pending);
    if (collect(p, pending, f->path) == -1)
        return -1;
    if (s != NULL)
        snprintf(s->etag, sizeof(s->etag), "%s", f->etag);
    return 0;
}

static int publish_files(struct redispub *p)
{
    struct jerr err = {0};
    p->next_files_ms = jclock_mono_ms() + REDISPUB_POLL_MS;
    if (public_foreach_file(p->files, publish_file, p, &err) == -1) {
        if (jerr_is_set(&err))
            log_error("redis %s: public files: %s", p->addr, err.msg);
        return p->rc != NULL ? 0 : -1;
    }
    return 0;
}

/* A Redis without our `seeded` mark lost what we wrote (or never had it): queue everything. */
static int seed_if_needed(struct redispub *p)
{
    char key[KEY_MAX];
    struct jerr err = {0};
    int64_t queued = 0;

    key_of(p, key, sizeof(key), "meta");
    redisReply *r = redisCommand(p->rc, "HGET %s seeded", key);
    if (r == NULL) {
        fail(p, "redis %s: %s", p->addr, p->rc->errstr);
        return -1;
    }
    bool seeded = r->type == REDIS_REPLY_STRING;
    freeReplyObject(r);
    if (seeded)
        return 0;
    if (store_pub_seed(p->st, (int64_t)jclock_now(), (int64_t)wall_ms(), &queued, &err) == -1) {
        log_error("redis %s: cannot queue the registry for it: %s", p->addr, err.msg);
        return -1;
    }
    log_info("redis %s: none of this node's keys there: %lld certificates queued", p->addr,
             (long long)queued);
    r = redisCommand(p->rc, "HSET %s seeded 1", key);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        freeReplyObject(r);
        fail(p, "redis %s: marking it seeded failed", p->addr);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

static int batch_row(void *arg, const struct store_pub_entry *e)
{
    struct redispub *p = arg;
    struct queued *q = &p->batch[p->batch_count++];
    snprintf(q->done.serial, sizeof(q->done.serial), "%s", e->serial);
    q->done.seq = e->seq;
    q->ca = e->ca;
    q->written = false;
    return 0;
}

/* Times the serials of the batch that an API call changed (redispub_note_change): only a
 * fresh response counts, since the change made the older ones stale. Notes never matched (an
 * expired certificate is not re-signed) are dropped after REDISPUB_NOTE_MAX_AGE_MS. */
static void observe_notes(struct redispub *p)
{
    long long now = wall_ms();
    pthread_mutex_lock(&p->mu);
    for (size_t k = 0; k < p->note_count;) {
        if (now - p->notes[k].at_ms > REDISPUB_NOTE_MAX_AGE_MS)
            p->notes[k] = p->notes[--p->note_count];
        else
            k++;
    }
    for (size_t i = 0; i < p->batch_count; i++) {
        if (!p->batch[i].written)
            continue;
        for (size_t k = 0; k < p->note_count; k++) {
            if (strcmp(p->notes[k].serial, p->batch[i].done.serial) != 0)
                continue;
            metrics_publish_redis_revocation((double)(now - p->notes[k].at_ms) / 1000.0);
            p->notes[k] = p->notes[--p->note_count];
            break;
        }
    }
    pthread_mutex_unlock(&p->mu);
}

/* One pipeline of queued serials: their current fresh responses (SET ... EX ttl, PUBLISH),
 * their issued-set entries (SADD under both issuerKeyHash forms), the meta stamp; then the
 * entries cleared. Returns 1 when a full batch went (more may wait), 0 when the queue is
 * drained, -1 on failure. */
static int publish_batch(struct redispub *p)
{
    struct jerr err = {0};
    size_t pending = 0, written = 0;
    bool touched[CA_KIND_COUNT] = {false};
    time_t now = jclock_now();

    p->batch_count = 0;
    if (store_pub_foreach(p->st, 0, REDISPUB_BATCH, batch_row, p, &err) == -1) {
        log_error("redis %s: reading the queue: %s", p->addr, err.msg);
        return -1;
    }
    if (p->batch_count == 0)
        return 0;
    bool read_failed = false;
    for (size_t i = 0; i < p->batch_count && !read_failed; i++) {
        struct queued *q = &p->batch[i];
        for (int hash = OCSP_CERTID_SHA1; hash <= OCSP_CERTID_SHA256 && !read_failed; hash++) {
            unsigned char *der = NULL;
            size_t len = 0;
            int64_t next_update = 0;
            bool stale = false;
            struct jerr e = {0};
            if (store_ocsp_get(p->st, q->done.serial, hash, &der, &len, &next_update, &stale, &e) ==
                -1) {
                if (e.code == JERR_NOT_FOUND)
                    continue;
                log_error("redis %s: reading %s: %s", p->addr, q->done.serial, e.msg);
                read_failed = true; /* the replies of what went are still read below */
                break;
            }
            /* A stale row waits for its re-signature, which queues the serial again. */
            long long ttl = (long long)(next_update - now) + REDISPUB_TTL_SLACK_S;
            if (!stale && next_update > now) {
                char key[KEY_MAX], ttl_text[32];
                key_of(p, key, sizeof(key), "ocsp:%s:%s", p->ikh[q->ca][hash], q->done.serial);
                snprintf(ttl_text, sizeof(ttl_text), "%lld", ttl);
                const char *argv[] = {"SET", key, (const char *)der, "EX", ttl_text};
                size_t lens[] = {3, strlen(key), len, 2, strlen(ttl_text)};
                append(p, 5, argv, lens, &pending);
                append_publish(p, key, &pending);
                p->batch[i].written = true;
                written++;
            }
            free(der);
        }
        for (int hash = OCSP_CERTID_SHA1; hash <= OCSP_CERTID_SHA256; hash++) {
            char key[KEY_MAX];
            key_of(p, key, sizeof(key), "issued:%s", p->ikh[q->ca][hash]);
            const char *argv[] = {"SADD", key, q->done.serial};
            append(p, 3, argv, NULL, &pending);
        }
        touched[q->ca] = true;
    }
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        for (int hash = OCSP_CERTID_SHA1; touched[ca] && hash <= OCSP_CERTID_SHA256; hash++) {
            char key[KEY_MAX];
            key_of(p, key, sizeof(key), "issued:%s", p->ikh[ca][hash]);
            append_publish(p, key, &pending);
        }
    }
    append_meta(p, &pending);
    if (collect(p, pending, "writing OCSP responses") == -1 || read_failed)
        return -1;
    /* Redis has them: out of the queue (a failure here only publishes them again). */
    struct store_pub_done done[REDISPUB_BATCH];
    for (size_t i = 0; i < p->batch_count; i++)
        done[i] = p->batch[i].done;
    if (store_pub_clear(p->st, done, p->batch_count, &err) == -1) {
        log_error("redis %s: clearing the queue: %s", p->addr, err.msg);
        return -1;
    }
    metrics_publish_redis_written(written);
    observe_notes(p);
    return p->batch_count == REDISPUB_BATCH ? 1 : 0;
}

static void update_depth(struct redispub *p)
{
    int64_t count = 0, oldest_ms = 0;
    struct jerr err = {0};
    p->next_depth_ms = jclock_mono_ms() + REDISPUB_POLL_MS;
    if (store_pub_depth(p->st, &count, &oldest_ms, &err) == -1)
        return;
    long long lag = oldest_ms > 0 ? wall_ms() - oldest_ms : 0;
    metrics_publish_redis(p->rc != NULL, count, lag > 0 ? lag : 0);
}

static void connect_redis(struct redispub *p)
{
    struct jerr err = {0};
    if (jclock_mono_ms() < p->next_connect_ms)
        return;
    p->rc = redisconn_open_cfg(&p->conn, NULL, 0, &err);
    if (p->rc == NULL) {
        p->next_connect_ms = jclock_mono_ms() + REDISPUB_RETRY_MS;
        metrics_publish_redis_error();
        set_status(p, false, err.msg);
        return;
    }
    p->synced = false;
    p->sent_count = 0; /* compare with what this Redis holds */
    rppub_reset(p->rp);
    p->next_parties_ms = 0; /* the view compared at once */
}

/* The relying parties' view when it changed, and the responders' usage: at a kick of the API,
 * else once a REDISPUB_POLL_MS (not at every response stored). */
static void relying_parties(struct redispub *p, bool kicked)
{
    struct jerr err = {0};
    if (!kicked && jclock_mono_ms() < p->next_parties_ms)
        return;
    p->next_parties_ms = jclock_mono_ms() + REDISPUB_POLL_MS;
    if (p->rc != NULL && (rppub_publish_view(p->rp, p->rc, p->st, &err) == -1 ||
                          rppub_fold_usage(p->rp, p->rc, p->st, &err) == -1)) {
        if (err.code == JERR_UNAVAILABLE)
            fail(p, "redis %s: %s", p->addr, err.msg);
        else
            log_error("redis %s: relying parties: %s", p->addr, err.msg);
    }
}

/* One round: connect if needed, sync after a connection, the files when due, the queue. */
static void round_once(struct redispub *p, bool files_kicked, bool parties_kicked)
{
    if (p->rc == NULL)
        connect_redis(p);
    if (p->rc != NULL && !p->synced) {
        if (seed_if_needed(p) == -1 || p->rc == NULL || publish_roots(p) == -1 ||
            publish_files(p) == -1)
            goto out;
        p->synced = p->rc != NULL;
    } else if (p->rc != NULL && (files_kicked || jclock_mono_ms() >= p->next_files_ms)) {
        if (publish_files(p) == -1)
            goto out;
    }
    int more = 1;
    int64_t first_seq = -1;
    while (p->rc != NULL && more == 1) {
        more = publish_batch(p);
        /* A full batch that starts where the last one did made no progress: the clear did
         * not take. Stop here rather than send the same batch again and again. */
        if (more == 1 && p->batch[0].done.seq == first_seq) {
            log_error("redis %s: the queue does not advance (seq %lld)", p->addr,
                      (long long)first_seq);
            more = -1;
        }
        first_seq = p->batch_count > 0 ? p->batch[0].done.seq : -1;
        if (jclock_mono_ms() >= p->next_depth_ms)
            update_depth(p);
    }
    relying_parties(p, parties_kicked);
    if (p->rc != NULL && more == 0)
        set_status(p, true, NULL);
out:
    if (jclock_mono_ms() >= p->next_depth_ms || p->rc == NULL)
        update_depth(p);
}

static void *thread_main(void *arg)
{
    struct redispub *p = arg;
    struct jerr err = {0};

    p->st = pki_store_open(p->pki, &err);
    if (p->st == NULL) {
        set_status(p, false, err.msg);
        log_error("redis %s: publisher without registry: %s", p->addr, err.msg);
        return NULL;
    }
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (!p->kicked && !p->stopping) {
            struct timespec until;
            int wait_ms = p->rc != NULL ? REDISPUB_POLL_MS : REDISPUB_RETRY_MS;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += wait_ms / 1000;
            until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&p->cv, &p->mu, &until);
        }
        if (p->stopping)
            break;
        bool files = p->files_kicked, parties = p->parties_kicked;
        p->kicked = false;
        p->files_kicked = false;
        p->parties_kicked = false;
        pthread_mutex_unlock(&p->mu);
        round_once(p, files, parties);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int redispub_start(struct redispub *p, struct jerr *err)
{
    if (pthread_create(&p->thread, NULL, thread_main, p) != 0)
        return jerr_set(err, JERR_INTERNAL, NULL, "cannot start the Redis publisher thread");
    p->started = true;
    return 0;
}

void redispub_free(struct redispub *p)
{
    if (p == NULL)
        return;
    if (p->started) {
        pthread_mutex_lock(&p->mu);
        p->stopping = true;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
    }
    if (p->rc != NULL)
        redisFree(p->rc);
    store_close(p->st);
    rppub_free(p->rp);
    if (p->body != NULL)
        evbuffer_free(p->body);
    redisconn_cfg_clear(&p->conn);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
