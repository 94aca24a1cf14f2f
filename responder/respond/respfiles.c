/*
 * respfiles: see respfiles.h. The table is small (the CRLs and CA certificates of a few CAs):
 * a chained hash under one mutex held for a probe and a pointer copy only.
 */
#include "responder/respond/respfiles.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>

#include "base/jclock.h"
#include "responder/crl/public.h"
#include "responder/monitor/metrics.h"
#include "responder/net/access.h"
#include "responder/net/http.h"
#include "responder/net/log.h"
#include "responder/rp/rpmeter.h"
#include "ca/rp.h"

#define RESPFILES_BUCKETS 256

struct rfile {
    atomic_int refs;
    struct rfile *next; /* bucket chain (table's) */
    char path[RESPFILES_PATH_MAX + 1];
    char etag[HTTP_ETAG_MAX];
    char type[32];
    time_t last_modified, expires; /* expires 0 = none */
    size_t len;
    unsigned char body[];
};

struct respfiles {
    const struct jpki_config *cfg;
    struct redissrc *src;
    struct rpgate *gate;   /* respfiles_set_relying_parties, or NULL */
    struct rpmeter *meter; /* the same */
    pthread_mutex_t lock;
    struct rfile *buckets[RESPFILES_BUCKETS];
};

static void rfile_unref(struct rfile *f)
{
    if (f != NULL && atomic_fetch_sub(&f->refs, 1) == 1)
        free(f);
}

static size_t bucket_of(const char *path)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)path; *p != '\0'; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)(h % RESPFILES_BUCKETS);
}

struct respfiles *respfiles_new(const struct jpki_config *cfg, struct redissrc *src,
                                struct jerr *err)
{
    struct respfiles *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    f->cfg = cfg;
    f->src = src;
    pthread_mutex_init(&f->lock, NULL);
    return f;
}

/* Removes the entry of `path` (NULL: every entry). */
static void drop(struct respfiles *f, const char *path)
{
    struct rfile *gone = NULL;
    pthread_mutex_lock(&f->lock);
    for (size_t b = 0; b < RESPFILES_BUCKETS; b++) {
        if (path != NULL && b != bucket_of(path))
            continue;
        for (struct rfile **pp = &f->buckets[b]; *pp != NULL;) {
            if (path == NULL || strcmp((*pp)->path, path) == 0) {
                struct rfile *e = *pp;
                *pp = e->next;
                e->next = gone;
                gone = e;
            } else {
                pp = &(*pp)->next;
            }
        }
    }
    pthread_mutex_unlock(&f->lock);
    while (gone != NULL) {
        struct rfile *next = gone->next;
        rfile_unref(gone);
        gone = next;
    }
}

void respfiles_free(struct respfiles *f)
{
    if (f == NULL)
        return;
    drop(f, NULL);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

void respfiles_changed(struct respfiles *f, const char *key)
{
    if (key == NULL) {
        drop(f, NULL);
        return;
    }
    const char *prefix = redissrc_prefix(f->src);
    size_t plen = strlen(prefix);
    if (strncmp(key, prefix, plen) == 0 && strncmp(key + plen, "file:", 5) == 0)
        drop(f, key + plen + 5);
}

/* A new reference to the entry of `path`, or NULL. */
static struct rfile *lookup(struct respfiles *f, const char *path)
{
    struct rfile *found = NULL;
    pthread_mutex_lock(&f->lock);
    for (struct rfile *e = f->buckets[bucket_of(path)]; e != NULL; e = e->next)
        if (strcmp(e->path, path) == 0) {
            atomic_fetch_add(&e->refs, 1);
            found = e;
            break;
        }
    pthread_mutex_unlock(&f->lock);
    return found;
}

/* Stores `e` (the table takes a reference), replacing the entry of its path. */
static void table_put(struct respfiles *f, struct rfile *e)
{
    drop(f, e->path);
    atomic_fetch_add(&e->refs, 1);
    pthread_mutex_lock(&f->lock);
    size_t b = bucket_of(e->path);
    e->next = f->buckets[b];
    f->buckets[b] = e;
    pthread_mutex_unlock(&f->lock);
}

/* ---- answers ---- */

static bool is_crl(const struct rfile *e)
{
    return strcmp(e->type, "application/pkix-crl") == 0;
}

static int answer(struct respfiles *f, struct evhttp_request *req, struct rfile *e)
{
    time_t now = jclock_now();
    /* As serve: a CRL at most http.crl_max_age_s and never past its nextUpdate (expires); a
     * CA certificate a day. On an error of ours a cache may serve it on until expires. */
    long max_age = public_file_max_age(f->cfg, is_crl(e), e->expires, now);
    if (http_answer_if_not_modified(req, e->etag, e->last_modified, max_age,
                                    http_stale_if_error(e->expires, now, max_age)))
        return 304;
    http_send_bytes(req, 200, e->type, e->body, e->len);
    return 200;
}

static bool is_fresh(const struct rfile *e)
{
    return e->expires == 0 || e->expires > jclock_now();
}

/* ---- the worker side ---- */

struct fetch {
    struct respfiles *f;
    struct evhttp_request *req;
    char path[RESPFILES_PATH_MAX + 1];
    struct rfile *file;
    bool absent;
    struct jerr err;
    struct rpgate_who who; /* the party asking (pk 0: nobody, not metered) */
    int loop, ca;
};

/* A CRL sent to a party: metered as on serve. */
static void metered(struct respfiles *f, int status, int loop, const struct rpgate_who *who, int ca)
{
    if (status == 200 && ca >= 0)
        rpmeter_record(f->meter, loop, who, ca, RP_WHAT_CRL, NULL, RPMETER_CRL);
}

static const redisReply *field_of(const redisReply *r, const char *name)
{
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, name) == 0 &&
            r->element[i + 1]->type == REDIS_REPLY_STRING)
            return r->element[i + 1];
    return NULL;
}

static bool number_of(const redisReply *v, time_t *out)
{
    char *end = NULL;
    if (v == NULL || v->len == 0 || v->len > 20)
        return false;
    long long n = strtoll(v->str, &end, 10);
    if (*end != '\0' || n < 0)
        return false;
    *out = (time_t)n;
    return true;
}

/* A checked file from the fields of `r`, or NULL (counted). */
static struct rfile *file_from(struct respfiles *f, const char *path, const redisReply *r)
{
    const redisReply *body = field_of(r, "body"), *etag = field_of(r, "etag"),
                     *type = field_of(r, "type"), *lm = field_of(r, "last_modified"),
                     *expires = field_of(r, "expires");
    time_t last_modified = 0, until = 0;
    if (body == NULL || etag == NULL || type == NULL || !number_of(lm, &last_modified) ||
        (expires != NULL && !number_of(expires, &until)) || etag->len < 2 ||
        etag->len >= HTTP_ETAG_MAX || etag->str[0] != '"' || etag->str[etag->len - 1] != '"') {
        redissrc_reject(f->src, REDISSRC_REJECT_FILE);
        return NULL;
    }
    if (body->len > REDISSRC_FILE_MAX) {
        redissrc_reject(f->src, REDISSRC_REJECT_OVERSIZED);
        return NULL;
    }
    const unsigned char *p = (const unsigned char *)body->str, *end = p + body->len;
    bool ok;
    if (strcmp(type->str, "application/pkix-crl") == 0) {
        X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)body->len);
        ok = crl != NULL && p == end;
        X509_CRL_free(crl);
    } else if (strcmp(type->str, "application/x-pem-file") == 0) { /* /ca/rp.pem */
        BIO *bio = BIO_new_mem_buf(body->str, (int)body->len);
        X509 *cert = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
        ok = cert != NULL;
        X509_free(cert);
        BIO_free(bio);
    } else if (strcmp(type->str, "application/pkix-cert") == 0) {
        X509 *cert = d2i_X509(NULL, &p, (long)body->len);
        ok = cert != NULL && p == end;
        X509_free(cert);
    } else {
        ok = strcmp(type->str, "application/json") == 0;
    }
    if (!ok) {
        redissrc_reject(f->src, REDISSRC_REJECT_FILE);
        return NULL;
    }
    if (until != 0 && until <= jclock_now()) {
        redissrc_reject(f->src, REDISSRC_REJECT_EXPIRED);
        return NULL;
    }
    struct rfile *e = calloc(1, sizeof(*e) + body->len);
    if (e == NULL)
        return NULL;
    atomic_init(&e->refs, 1);
    snprintf(e->path, sizeof(e->path), "%s", path);
    memcpy(e->etag, etag->str, etag->len);
    snprintf(e->type, sizeof(e->type), "%s", type->str);
    e->last_modified = last_modified;
    e->expires = until;
    e->len = body->len;
    memcpy(e->body, body->str, body->len);
    return e;
}

static void fetch_job(struct worker *self, void *arg)
{
    struct fetch *j = arg;
    struct respfiles *f = j->f;
    unsigned long seq = redissrc_seq(f->src);
    redisContext *c = redissrc_conn(f->src, self, &j->err);
    if (c == NULL)
        return;
    redisReply *r = NULL;
    if (redisAppendCommand(c, "HGETALL %sfile:%s", redissrc_prefix(f->src), j->path) != REDIS_OK)
        jerr_set(&j->err, JERR_UNAVAILABLE, "redis", "Redis: %s", c->errstr);
    else if (redisconn_get_reply(c, REDISSRC_FILE_MAX + REDISCONN_REPLY_SLACK, &r, &j->err) == -1 &&
             j->err.code == JERR_TOO_LARGE) {
        redissrc_reject(f->src, REDISSRC_REJECT_OVERSIZED);
        j->err.code = JERR_UNAVAILABLE;
    }
    if (r == NULL) {
        redissrc_conn_broken(f->src, self);
        return;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 0) {
        j->absent = true;
    } else if (r->type != REDIS_REPLY_ARRAY) {
        redissrc_reject(f->src, REDISSRC_REJECT_TYPE);
        jerr_set(&j->err, JERR_UNAVAILABLE, "redis", "file value of the wrong type");
    } else if ((j->file = file_from(f, j->path, r)) == NULL) {
        jerr_set(&j->err, JERR_UNAVAILABLE, "redis", "the published file is unusable");
    } else {
        table_put(f, j->file);
        if (redissrc_seq(f->src) != seq) /* a notice came while we read */
            drop(f, j->path);
    }
    freeReplyObject(r);
}

static void unavailable(struct evhttp_request *req)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "5");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    http_send_error(req, 503, "unavailable", NULL, "the file cannot be read now; try again");
}

static void fetch_done(void *arg)
{
    struct fetch *j = arg;
    int status;
    if (j->file != NULL) {
        status = answer(j->f, j->req, j->file);
        metered(j->f, status, j->loop, &j->who, j->ca);
    } else if (j->absent) {
        http_send_error(j->req, 404, "not_found", NULL, "no such file");
        status = 404;
    } else {
        unavailable(j->req);
        status = 503;
    }
    metrics_http(strncmp(j->path, "/crl/", 5) == 0 ? METRICS_EP_CRL : METRICS_EP_CA, status, 0);
    rfile_unref(j->file);
    free(j);
}

/* Paths we may look up: "/crl/…" or "/ca/…" of [A-Za-z0-9._/-], no "..". */
static bool path_is_plain(const char *path)
{
    size_t n = strlen(path);
    if (n > RESPFILES_PATH_MAX || strstr(path, "..") != NULL)
        return false;
    return strspn(path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-") == n;
}

static void file_handler(const struct server_request *sr, void *arg)
{
    struct respfiles *f = arg;
    struct jerr err = {0};
    bool crl = strncmp(sr->path, "/crl/", 5) == 0;
    enum metrics_endpoint ep = crl ? METRICS_EP_CRL : METRICS_EP_CA;
    /* access.crl (access.h) through serve's gate over the CA node's view (rpview.h); the
     * relying-party CA's own CRL stays public, as on serve. */
    struct rpgate_who who;
    memset(&who, 0, sizeof(who));
    if (crl && strcmp(sr->path, "/crl/rp.crl") != 0 && !access_admit(f->cfg->access_crl, f->gate, sr, &who)) {
        http_send_error(sr->req, 403, "forbidden", NULL,
                        "CRLs are served to registered relying parties (HTTPS, with their client "
                        "certificate or bearer token)");
        metrics_http(ep, 403, 0);
        return;
    }
    /* DESIGN §12: a party fetches only the CRLs of the CA its kind allows; /crl/rp.crl and
     * the like are no CA's (served, not metered). Partition counts are the CA node's: any. */
    static const int any_partitions[CA_KIND_COUNT] = {[0 ... CA_KIND_COUNT - 1] = 10000};
    enum ca_kind kind_ca;
    int partition, ca = -1;
    if (crl && who.pk != 0 &&
        public_crl_parse(sr->path + strlen("/crl/"), any_partitions, &kind_ca, &partition) == 0)
        ca = (int)kind_ca;
    if (ca >= 0 && !access_admit_ca(f->cfg->access_crl, (enum ca_kind)ca, &who)) {
        http_send_error(sr->req, 403, "forbidden", NULL,
                        "a relying party of this kind may not fetch this CA's CRLs");
        metrics_http(ep, 403, 0);
        return;
    }
    int loop = server_loop_index(sr->loop);
    if (!path_is_plain(sr->path)) {
        http_send_error(sr->req, 404, "not_found", NULL, "no such file");
        metrics_http(ep, 404, 0);
        return;
    }
    struct rfile *e = lookup(f, sr->path);
    if (e != NULL && is_fresh(e)) {
        int status = answer(f, sr->req, e);
        metered(f, status, loop, &who, ca);
        metrics_http(ep, status, 0);
        rfile_unref(e);
        return;
    }
    rfile_unref(e);
    struct fetch *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        unavailable(sr->req);
        return;
    }
    j->f = f;
    j->req = sr->req;
    j->who = who;
    j->loop = loop;
    j->ca = ca;
    snprintf(j->path, sizeof(j->path), "%s", sr->path);
    if (server_submit(sr, fetch_job, fetch_done, j, &err) == -1) {
        free(j);
        unavailable(sr->req);
    }
}

void respfiles_set_relying_parties(struct respfiles *f, struct rpgate *gate,
                                   struct rpmeter *meter)
{
    f->gate = gate;
    f->meter = meter;
}

int respfiles_register(struct respfiles *f, struct server *srv, struct jerr *err)
{
    const unsigned get = EVHTTP_REQ_GET | EVHTTP_REQ_HEAD;
    const struct server_route routes[] = {
        {"/crl/", true, get, 0, file_handler, f, SERVER_PUBLIC},
        {"/ca/", true, get, 0, file_handler, f, SERVER_PUBLIC},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (server_add_route(srv, &routes[i], err) == -1)
            return -1;
    return 0;
}
