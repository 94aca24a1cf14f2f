/*
 * redissrc: see redissrc.h. The CA set is immutable once built and published by pointer (the
 * loops route by it without a lock); a replaced set is kept until redissrc_free, as a loop may
 * still read it (CA sets change only with a new CA generation).
 */
#include "responder/respond/redissrc.h"

#include <pthread.h>
#include <stdarg.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "base/hex.h"
#include "base/jclock.h"
#include "responder/ocsp/presign_parse.h"

struct cas_set {
    size_t n;
    struct ocsp_issuer issuers[REDISSRC_MAX_CAS];
    char key_hex[REDISSRC_MAX_CAS][2][65]; /* issuerKeyHash, SHA-1 and SHA-256, lower hex */
    X509_STORE *roots;                       /* for the signature checks */
    struct cas_set *retired_next;            /* the list of replaced sets */
};

/* A worker's signers that passed the full check, per issuer of one CA set (presign_trust):
 * touched only by that worker, forgotten with a new CA set and every REDISSRC_SIGNER_TTL_MS. */
#define REDISSRC_SIGNER_TTL_MS (3600 * 1000LL)
struct worker_trust {
    const struct cas_set *set;
    long long since_ms;
    STACK_OF(X509) *signers[REDISSRC_MAX_CAS];
};

struct redissrc {
    const struct redisconn_cfg *cfg;
    struct presign *cache;
    redisContext **conns; /* [worker index], each touched only by its worker */
    unsigned *conn_gen_of; /* [worker index]: conn_gen when that connection was made */
    struct worker_trust *trust; /* [worker index] */
    int conn_count;
    atomic_uint conn_gen; /* bumped at each reconnection of the subscriber (a failover) */
    _Atomic(struct cas_set *) cas;
    struct cas_set *retired; /* under lock */
    pthread_mutex_t lock;    /* retired, why */
    atomic_ulong seq;
    atomic_llong retry_at_ms;
    atomic_bool up;
    atomic_llong down_since_ms; /* monotonic; when `up` last went false (start: 0, long ago) */
    char why[256];
    atomic_ullong rejected[REDISSRC_REJECT_COUNT];
};

static const char *const reject_names[REDISSRC_REJECT_COUNT] = {
    "der", "certid", "issuer", "times", "signature", "expired", "oversized", "type", "file", "ca",
    "protocol"};

static void cas_free(struct cas_set *c)
{
    if (c == NULL)
        return;
    X509_STORE_free(c->roots);
    free(c);
}

struct redissrc *redissrc_new(const struct redisconn_cfg *cfg, int workers, size_t cache_entries,
                              struct jerr *err)
{
    struct redissrc *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->conns = calloc((size_t)workers, sizeof(*s->conns))) == NULL ||
        (s->conn_gen_of = calloc((size_t)workers, sizeof(*s->conn_gen_of))) == NULL ||
        (s->trust = calloc((size_t)workers, sizeof(*s->trust))) == NULL) {
        if (s != NULL) {
            free(s->conns);
            free(s->conn_gen_of);
        }
        free(s);
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    s->cfg = cfg;
    s->conn_count = workers;
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->cas, NULL);
    atomic_init(&s->seq, 0);
    atomic_init(&s->retry_at_ms, 0);
    atomic_init(&s->up, false);
    atomic_init(&s->down_since_ms, 0);
    atomic_init(&s->conn_gen, 0);
    snprintf(s->why, sizeof(s->why), "not connected yet");
    for (int r = 0; r < REDISSRC_REJECT_COUNT; r++)
        atomic_init(&s->rejected[r], 0);
    s->cache = presign_new(cache_entries, err);
    if (s->cache == NULL) {
        redissrc_free(s);
        return NULL;
    }
    return s;
}

void redissrc_free(struct redissrc *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < s->conn_count; i++)
        redisFree(s->conns[i]);
    free(s->conns);
    free(s->conn_gen_of);
    for (int i = 0; s->trust != NULL && i < s->conn_count; i++)
        for (int c = 0; c < REDISSRC_MAX_CAS; c++)
            sk_X509_pop_free(s->trust[i].signers[c], X509_free);
    free(s->trust);
    presign_free(s->cache);
    cas_free(atomic_load(&s->cas));
    for (struct cas_set *c = s->retired, *next; c != NULL; c = next) {
        next = c->retired_next;
        cas_free(c);
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

const char *redissrc_prefix(const struct redissrc *s)
{
    return s->cfg->prefix;
}

unsigned long redissrc_seq(const struct redissrc *s)
{
    return atomic_load(&((struct redissrc *)s)->seq);
}

void redissrc_reject(struct redissrc *s, enum redissrc_reject why)
{
    atomic_fetch_add(&s->rejected[why], 1);
}

/* ---- connections ---- */

redisContext *redissrc_conn(struct redissrc *s, struct worker *self, struct jerr *err)
{
    int i = workers_index(self);
    if (i < 0 || i >= s->conn_count) {
        jerr_set(err, JERR_INTERNAL, NULL, "worker %d has no Redis connection", i);
        return NULL;
    }
    unsigned gen = atomic_load(&s->conn_gen);
    /* The subscriber reconnected (perhaps to a new primary after a failover): so do we. */
    if (s->conns[i] != NULL && s->conn_gen_of[i] != gen) {
        redisFree(s->conns[i]);
        s->conns[i] = NULL;
    }
    if (s->conns[i] != NULL)
        return s->conns[i];
    if (jclock_mono_ms() < atomic_load(&s->retry_at_ms)) {
        jerr_set(err, JERR_UNAVAILABLE, "redis", "Redis unreachable (retrying shortly)");
        return NULL;
    }
    s->conns[i] = redisconn_open_cfg(s->cfg, NULL, 0, err);
    s->conn_gen_of[i] = gen;
    if (s->conns[i] == NULL)
        atomic_store(&s->retry_at_ms, jclock_mono_ms() + REDISSRC_BACKOFF_MS);
    return s->conns[i];
}

void redissrc_conn_broken(struct redissrc *s, struct worker *self)
{
    int i = workers_index(self);
    if (i < 0 || i >= s->conn_count)
        return;
    redisFree(s->conns[i]);
    s->conns[i] = NULL;
    atomic_store(&s->retry_at_ms, jclock_mono_ms() + REDISSRC_BACKOFF_MS);
}

/* ---- the CA set ---- */

int redissrc_load_cas(struct redissrc *s, redisContext *c, struct jerr *err)
{
    redisReply *r = NULL;
    struct cas_set *set = NULL;
    int rc = -1;
    if (redisAppendCommand(c, "HGETALL %scas", s->cfg->prefix) != REDIS_OK) {
        jerr_set(err, JERR_UNAVAILABLE, "redis", "Redis HGETALL cas: %s", c->errstr);
        goto out;
    }
    if (redisconn_get_reply(c, REDISSRC_FILE_MAX + REDISCONN_REPLY_SLACK, &r, err) == -1)
        goto out;
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        jerr_set(err, JERR_NOT_FOUND, "redis", "no CA published in Redis (%scas) yet",
                 s->cfg->prefix);
        goto out;
    }
    set = calloc(1, sizeof(*set));
    if (set == NULL || (set->roots = X509_STORE_new()) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i + 1 < r->elements && set->n < REDISSRC_MAX_CAS; i += 2) {
        const redisReply *field = r->element[i], *value = r->element[i + 1];
        char name[16];
        enum ca_kind ca;
        /* field "CA/GEN": the CA's name before the slash */
        if (field->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING ||
            sscanf(field->str, "%15[a-z]", name) != 1 || ca_kind_parse(name, &ca) == -1) {
            redissrc_reject(s, REDISSRC_REJECT_CA);
            continue;
        }
        const unsigned char *p = (const unsigned char *)value->str;
        X509 *root = d2i_X509(NULL, &p, (long)value->len);
        struct jerr e = {0};
        if (root == NULL || p != (const unsigned char *)value->str + value->len ||
            ocsp_issuer_init(&set->issuers[set->n], ca, root, &e) == -1 ||
            X509_STORE_add_cert(set->roots, root) != 1) {
            X509_free(root);
            redissrc_reject(s, REDISSRC_REJECT_CA);
            continue;
        }
        X509_free(root);
        hex_encode(set->issuers[set->n].key_sha1, 20, set->key_hex[set->n][OCSP_CERTID_SHA1]);
        hex_encode(set->issuers[set->n].key_sha256, 32, set->key_hex[set->n][OCSP_CERTID_SHA256]);
        set->n++;
    }
    if (set->n == 0) {
        jerr_set(err, JERR_INVALID, "redis", "no usable CA certificate in %scas", s->cfg->prefix);
        goto out;
    }
    struct cas_set *old = atomic_exchange(&s->cas, set);
    set = NULL;
    if (old != NULL) {
        pthread_mutex_lock(&s->lock);
        old->retired_next = s->retired;
        s->retired = old;
        pthread_mutex_unlock(&s->lock);
    }
    rc = 0;
out:
    cas_free(set);
    freeReplyObject(r);
    return rc;
}

bool redissrc_has_cas(struct redissrc *s)
{
    return atomic_load(&s->cas) != NULL;
}

/* ---- change notices ---- */

void redissrc_changed(struct redissrc *s, const char *key)
{
    atomic_fetch_add(&s->seq, 1);
    if (key == NULL) {
        presign_clear(s->cache);
        return;
    }
    size_t plen = strlen(s->cfg->prefix);
    if (strncmp(key, s->cfg->prefix, plen) != 0 || strncmp(key + plen, "ocsp:", 5) != 0)
        return;
    /* "ocsp:IKH:SERIAL" */
    const char *ikh = key + plen + 5, *colon = strchr(ikh, ':');
    struct cas_set *set = atomic_load(&s->cas);
    if (colon == NULL || set == NULL || strlen(colon + 1) > JPKI_SERIAL_HEX_MAX)
        return;
    size_t ikh_len = (size_t)(colon - ikh);
    for (size_t i = 0; i < set->n; i++)
        for (int h = 0; h < 2; h++)
            if (strlen(set->key_hex[i][h]) == ikh_len &&
                strncmp(set->key_hex[i][h], ikh, ikh_len) == 0) {
                struct presign_key k = {
                    .ca = set->issuers[i].ca,
                    .issuer_tag = presign_issuer_tag(h == OCSP_CERTID_SHA1
                                                         ? set->issuers[i].key_sha1
                                                         : set->issuers[i].key_sha256),
                    .certid_hash = h};
                snprintf(k.serial, sizeof(k.serial), "%s", colon + 1);
                presign_remove(s->cache, &k);
            }
}

void redissrc_set_up(struct redissrc *s, bool up, const char *why)
{
    pthread_mutex_lock(&s->lock);
    snprintf(s->why, sizeof(s->why), "%s", why != NULL ? why : "");
    pthread_mutex_unlock(&s->lock);
    if (!up && atomic_exchange(&s->up, false))
        atomic_store(&s->down_since_ms, jclock_mono_ms());
    atomic_store(&s->up, up);
    if (up) {
        atomic_fetch_add(&s->conn_gen, 1);
        atomic_store(&s->retry_at_ms, 0); /* workers may connect at once */
    }
}

long long redissrc_down_ms(struct redissrc *s)
{
    if (atomic_load(&s->up))
        return 0;
    long long since = atomic_load(&s->down_since_ms);
    return since == 0 ? LLONG_MAX : jclock_mono_ms() - since;
}

bool redissrc_is_up(struct redissrc *s, char *why, size_t why_size)
{
    bool up = atomic_load(&s->up);
    pthread_mutex_lock(&s->lock);
    snprintf(why, why_size, "%s", s->why);
    pthread_mutex_unlock(&s->lock);
    return up;
}

/* ---- the OCSP source ---- */

static int route_ca(void *arg, const struct ocsp_request *req, int only_ca, enum ca_kind *ca)
{
    struct redissrc *s = arg;
    struct cas_set *set = atomic_load(&s->cas);
    if (set == NULL)
        return OCSP_SOURCE_ROUTE_UNAVAILABLE;
    return ocsp_answer_pick_ca(set->issuers, set->n, req, only_ca, ca);
}

/* The calling worker's known signers of issuer `idx` of `set` (NULL when out of memory: then
 * every response gets the full check). */
static STACK_OF(X509) *known_signers(struct redissrc *s, struct worker *self,
                                     const struct cas_set *set, int idx)
{
    int i = workers_index(self);
    if (i < 0 || i >= s->conn_count)
        return NULL;
    struct worker_trust *t = &s->trust[i];
    long long now = jclock_mono_ms();
    if (t->set != set || now - t->since_ms > REDISSRC_SIGNER_TTL_MS) {
        for (int c = 0; c < REDISSRC_MAX_CAS; c++) {
            sk_X509_pop_free(t->signers[c], X509_free);
            t->signers[c] = NULL;
        }
        t->set = set;
        t->since_ms = now;
    }
    if (t->signers[idx] == NULL)
        t->signers[idx] = sk_X509_new_null();
    return t->signers[idx];
}

/* Reads and checks the response of CertID `id` (issuer index `idx` of `set`). */
static struct presign_blob *fetch(struct redissrc *s, struct worker *self,
                                  const struct cas_set *set, int idx, const struct ocsp_certid *id,
                                  enum ca_kind ca, struct jerr *err)
{
    const char *ikh = set->key_hex[idx][id->hash == OCSP_CERTID_SHA1 ? 0 : 1];
    const char *prefix = s->cfg->prefix;
    redisReply *value = NULL, *issued = NULL;
    struct presign_blob *b = NULL;
    unsigned long seq = redissrc_seq(s);

    redisContext *c = redissrc_conn(s, self, err);
    if (c == NULL)
        return NULL;
    /* One round trip: the answer, and whether the serial was issued at all. */
    if (redisAppendCommand(c, "GET %socsp:%s:%s", prefix, ikh, id->serial) != REDIS_OK ||
        redisAppendCommand(c, "SISMEMBER %sissued:%s %s", prefix, ikh, id->serial) != REDIS_OK) {
        jerr_set(err, JERR_UNAVAILABLE, "redis", "Redis: %s", c->errstr);
        redissrc_conn_broken(s, self);
        goto out;
    }
    if (redisconn_get_reply(c, REDISSRC_VALUE_MAX + REDISCONN_REPLY_SLACK, &value, err) == -1 ||
        redisconn_get_reply(c, REDISCONN_REPLY_SLACK, &issued, err) == -1) {
        /* Not Redis being away but a server answering garbage: a reply over the bound (dropped
         * once that much has come, whatever it declares), what hiredis cannot parse, or a reply
         * begun and never finished (closed or stalled past the timeout). */
        if (err->code == JERR_TOO_LARGE) {
            redissrc_reject(s, REDISSRC_REJECT_OVERSIZED);
            err->code = JERR_NOT_FOUND;
        } else if (c->err == REDIS_ERR_PROTOCOL || c->reader->len > c->reader->pos) {
            redissrc_reject(s, REDISSRC_REJECT_PROTOCOL);
        }
        redissrc_conn_broken(s, self);
        goto out;
    }
    if (value->type == REDIS_REPLY_NIL) {
        bool was_issued = issued->type == REDIS_REPLY_INTEGER && issued->integer == 1;
        /* Issued but not published yet: tryLater; never issued: unauthorized (RFC 9919). */
        jerr_set(err, was_issued ? JERR_NOT_FOUND : JERR_FORBIDDEN, "serial",
                 was_issued ? "not published yet" : "no record of the serial");
        goto out;
    }
    if (value->type != REDIS_REPLY_STRING) {
        redissrc_reject(s, REDISSRC_REJECT_TYPE);
        jerr_set(err, JERR_NOT_FOUND, "redis", "OCSP value of the wrong type");
        goto out;
    }
    if (value->len > REDISSRC_VALUE_MAX) {
        redissrc_reject(s, REDISSRC_REJECT_OVERSIZED);
        jerr_set(err, JERR_NOT_FOUND, "redis", "OCSP value of %zu bytes", value->len);
        goto out;
    }
    struct presign_key key;
    ocsp_answer_key(id, ca, &key);
    struct jerr e = {0};
    struct presign_trust trust = {set->roots, known_signers(s, self, set, idx)};
    b = presign_parse(&set->issuers[idx], &key, (const unsigned char *)value->str, value->len,
                      &trust, &e);
    if (b == NULL) {
        enum redissrc_reject why = strcmp(e.field, "certid") == 0      ? REDISSRC_REJECT_CERTID
                                   : strcmp(e.field, "issuer") == 0    ? REDISSRC_REJECT_ISSUER
                                   : strcmp(e.field, "times") == 0     ? REDISSRC_REJECT_TIMES
                                   : strcmp(e.field, "signature") == 0 ? REDISSRC_REJECT_SIGNATURE
                                                                       : REDISSRC_REJECT_DER;
        redissrc_reject(s, why);
        jerr_set(err, JERR_NOT_FOUND, "redis", "%s", e.msg);
        goto out;
    }
    time_t now = jclock_now();
    if (presign_blob_next_update(b) <= now || presign_blob_this_update(b) > now + 300) {
        redissrc_reject(s, REDISSRC_REJECT_EXPIRED);
        presign_blob_unref(b);
        b = NULL;
        jerr_set(err, JERR_NOT_FOUND, "redis", "OCSP value past its nextUpdate");
        goto out;
    }
    if (presign_blob_next_update(b) - now >= OCSP_ANSWER_MIN_REMAINING_S) {
        presign_put(s->cache, b, true);
        /* A notice came while we read: what we put may be older than it. */
        if (redissrc_seq(s) != seq)
            presign_remove(s->cache, &key);
    }
out:
    freeReplyObject(value);
    freeReplyObject(issued);
    return b;
}

static struct presign_blob *answer(void *arg, struct worker *self, const struct ocsp_request *req,
                                   enum ca_kind ca, bool presigned_only,
                                   struct ocsp_answer_outcome *how, struct jerr *err)
{
    struct redissrc *s = arg;
    struct cas_set *set = atomic_load(&s->cas);
    (void)presigned_only; /* always: there is no key here */
    memset(how, 0, sizeof(*how));
    if (set == NULL) {
        jerr_set(err, JERR_UNAVAILABLE, "redis", "no CA known yet");
        return NULL;
    }
    /* One pre-signed response answers one CertID; without keys nothing can be combined. */
    if (req->count != 1) {
        jerr_set(err, JERR_NOT_FOUND, "request", "several CertIDs: no pre-signed answer");
        return NULL;
    }
    const struct ocsp_certid *id = &req->ids[0];
    if (!id->serial_ok) {
        jerr_set(err, JERR_FORBIDDEN, "serial", "no record of the serial");
        return NULL;
    }
    int idx = ocsp_match_issuer(set->issuers, set->n, id);
    if (idx < 0) {
        jerr_set(err, JERR_FORBIDDEN, "issuer", "not one of our CAs");
        return NULL;
    }
    how->from_registry = true;
    return fetch(s, self, set, idx, id, ca, err);
}

void redissrc_source(struct redissrc *s, struct ocsp_source *out)
{
    *out = (struct ocsp_source){route_ca, answer, s, s->cache, false};
}

/* ---- metrics ---- */

static int append(char **out, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int append(char **out, size_t *len, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line))
        return -1;
    char *grown = realloc(*out, *len + (size_t)n + 1);
    if (grown == NULL)
        return -1;
    memcpy(grown + *len, line, (size_t)n + 1);
    *out = grown;
    *len += (size_t)n;
    return 0;
}

int redissrc_metrics(struct redissrc *s, char **out, size_t *len, long long lag_ms)
{
    int rc = 0;
    rc |= append(out, len, "# HELP jpki_respond_redis_up 1 while the responder holds its "
                           "subscription to Redis.\n# TYPE jpki_respond_redis_up gauge\n"
                           "jpki_respond_redis_up %d\n",
                 atomic_load(&s->up) ? 1 : 0);
    rc |= append(out, len, "# HELP jpki_respond_redis_rejected_total Values read from Redis "
                           "and never served, by reason.\n"
                           "# TYPE jpki_respond_redis_rejected_total counter\n");
    for (int r = 0; r < REDISSRC_REJECT_COUNT; r++)
        rc |= append(out, len, "jpki_respond_redis_rejected_total{reason=\"%s\"} %llu\n",
                     reject_names[r], (unsigned long long)atomic_load(&s->rejected[r]));
    rc |= append(out, len, "# HELP jpki_respond_invalidations_total Change notices heard.\n"
                           "# TYPE jpki_respond_invalidations_total counter\n"
                           "jpki_respond_invalidations_total %lu\n",
                 redissrc_seq(s));
    rc |= append(out, len, "# HELP jpki_respond_cache_entries Pre-signed responses in memory.\n"
                           "# TYPE jpki_respond_cache_entries gauge\n"
                           "jpki_respond_cache_entries %zu\n",
                 presign_count(s->cache));
    if (lag_ms >= 0)
        rc |= append(out, len, "# HELP jpki_respond_publication_age_seconds Time since the CA "
                               "node's last publication (P meta published_ms).\n"
                               "# TYPE jpki_respond_publication_age_seconds gauge\n"
                               "jpki_respond_publication_age_seconds %.3f\n",
                     (double)lag_ms / 1000.0);
    return rc == 0 ? 0 : -1;
}
