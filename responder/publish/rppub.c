/*
 * rppub: see rppub.h. Runs on redispub's thread only.
 */
#include "responder/publish/rppub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "base/fsutil.h"
#include "base/hex.h"
#include "base/jclock.h"
#include "base/membio.h"
#include "ca/crl_read.h"
#include "ca/rp.h"
#include "ca/rpca.h"
#include "responder/net/http.h"
#include "responder/net/log.h"
#include "responder/redis/redisconn.h"
#include "responder/rp/rpmeter.h"

#define KEY_MAX (REDISCONN_PREFIX_MAX + 32)
#define RPPUB_CRL_MAX (4 * 1024 * 1024)
/* Stream entries folded per round (each: one responder's flush, up to RPVIEW_CHUNK events). */
#define RPPUB_FOLD_BATCH 64

struct rppub {
    const struct pki *pki;
    char prefix[REDISCONN_PREFIX_MAX + 1];
    struct rpmeter *meter;
    char sent[2 * EVP_MAX_MD_SIZE + 1]; /* digest of the view this Redis holds ("": ask it) */
    char cursor[64];                    /* last stream id folded ("": ask the registry) */
};

struct rppub *rppub_new(const struct pki *pki, const char *prefix, struct jerr *err)
{
    struct rppub *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    r->pki = pki;
    snprintf(r->prefix, sizeof(r->prefix), "%s", prefix);
    return r;
}

void rppub_free(struct rppub *r)
{
    free(r);
}

void rppub_set_meter(struct rppub *r, struct rpmeter *meter)
{
    r->meter = meter;
}

void rppub_reset(struct rppub *r)
{
    r->sent[0] = '\0';
}

/* ---- the view ---- */

struct view {
    char **argv;
    size_t *lens;
    int argc, cap;
    EVP_MD_CTX *md;
    bool failed;
};

static void add_arg(struct view *v, const char *s, size_t len)
{
    if (v->argc == v->cap) {
        int cap = v->cap == 0 ? 64 : 2 * v->cap;
        char **argv = realloc(v->argv, (size_t)cap * sizeof(*argv));
        if (argv != NULL)
            v->argv = argv;
        size_t *lens = realloc(v->lens, (size_t)cap * sizeof(*lens));
        if (lens != NULL)
            v->lens = lens;
        if (argv == NULL || lens == NULL) {
            v->failed = true;
            return;
        }
        v->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        v->failed = true;
        return;
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    v->argv[v->argc] = copy;
    v->lens[v->argc++] = len;
    /* the digest covers every field and value, each with its length */
    unsigned char n[8];
    for (int i = 0; i < 8; i++)
        n[i] = (unsigned char)((uint64_t)len >> (8 * i));
    EVP_DigestUpdate(v->md, n, sizeof(n));
    EVP_DigestUpdate(v->md, s, len);
}

static int add_party(void *ctx, const struct rp_rec *rp)
{
    struct view *v = ctx;
    char text[RP_ACCESS_TEXT_MAX + 1];
    if (rp_access_format(rp, text, sizeof(text)) == -1) {
        v->failed = true;
        return -1;
    }
    add_arg(v, rp->id, strlen(rp->id));
    add_arg(v, text, strlen(text));
    return v->failed ? -1 : 0;
}

static void view_clear(struct view *v)
{
    for (int i = 0; i < v->argc; i++)
        free(v->argv[i]);
    free(v->argv);
    free(v->lens);
    EVP_MD_CTX_free(v->md);
}

static void key_of(const struct rppub *r, char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s%s", r->prefix, name);
}

/* Appends HSET P file:PATH … (the contract's file hash: what serve serves there) and its
 * notice; *pending counts the replies. */
static void append_file(struct rppub *r, redisContext *rc, const char *path, const char *type,
                        const void *body, size_t len, time_t last_modified, time_t expires,
                        size_t *pending)
{
    char key[KEY_MAX + 64], etag[HTTP_ETAG_MAX];
    unsigned char md[32];
    EVP_Digest(body, len, md, NULL, EVP_sha256(), NULL);
    http_etag_sha256(md, etag);
    snprintf(key, sizeof(key), "%sfile:%s", r->prefix, path);
    redisconn_append_file(rc, key, body, len, etag, type, last_modified, expires, pending);
    redisAppendCommand(rc, "PUBLISH %schanges %s", r->prefix, key);
    (*pending)++;
}

/* /ca/rp.pem and /crl/rp.crl as file hashes, so that responders serve them too. */
static void append_rp_files(struct rppub *r, redisContext *rc, X509 *cert,
                            const unsigned char *crl, size_t crl_len, size_t *pending)
{
    struct jerr err = {0};
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = bio != NULL && PEM_write_bio_X509(bio, cert) == 1 ? membio_to_string(bio, &err)
                                                                  : NULL;
    BIO_free(bio);
    time_t not_before = 0;
    jclock_from_asn1(X509_get0_notBefore(cert), &not_before);
    if (pem != NULL)
        append_file(r, rc, "/ca/rp.pem", "application/x-pem-file", pem, strlen(pem), not_before,
                    0, pending);
    free(pem);
    time_t this_update = 0, next_update = 0;
    if (crl_len > 0 &&
        crl_read_times(crl, crl_len, crl_len, &this_update, &next_update, &err) == 0)
        append_file(r, rc, "/crl/rp.crl", "application/pkix-crl", crl, crl_len, this_update,
                    next_update, pending);
}

/* HGET P rp:meta digest into out ("" when absent); -1 on a connection failure. */
static int redis_digest(struct rppub *r, redisContext *rc, char *out, size_t size,
                        struct jerr *err)
{
    char key[KEY_MAX];
    key_of(r, key, sizeof(key), "rp:meta");
    redisReply *rep = redisCommand(rc, "HGET %s digest", key);
    if (rep == NULL)
        return jerr_set(err, JERR_UNAVAILABLE, "redis", "Redis: %s", rc->errstr);
    snprintf(out, size, "%s", rep->type == REDIS_REPLY_STRING ? rep->str : "");
    freeReplyObject(rep);
    return 0;
}

int rppub_publish_view(struct rppub *r, redisContext *rc, struct store *st, struct jerr *err)
{
    struct view v = {.md = EVP_MD_CTX_new()};
    struct rpca *ca = pki_get0_rpca((struct pki *)r->pki);
    unsigned char *cert = NULL, *crl = NULL, md[EVP_MAX_MD_SIZE];
    size_t crl_len = 0;
    unsigned md_len = 0;
    char digest[sizeof(r->sent)], key[KEY_MAX], meta[KEY_MAX], cakey[KEY_MAX], ms[32];
    int cert_len = 0, ret = -1;

    if (v.md == NULL || EVP_DigestInit_ex(v.md, EVP_sha256(), NULL) != 1) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    key_of(r, key, sizeof(key), "rp:parties");
    add_arg(&v, "HSET", 4);
    add_arg(&v, key, strlen(key));
    if (store_rp_foreach(st, add_party, &v, err) == -1)
        goto out;
    if (ca != NULL) {
        cert_len = i2d_X509(rpca_get0_cert(ca), &cert);
        struct jerr none = {0};
        if (fsutil_read_file(rpca_crl_path(ca), RPPUB_CRL_MAX, &crl, &crl_len, &none) == -1)
            crl_len = 0; /* not published yet: the next round has it */
        EVP_DigestUpdate(v.md, cert, cert_len > 0 ? (size_t)cert_len : 0);
        EVP_DigestUpdate(v.md, crl, crl_len);
    }
    if (v.failed || EVP_DigestFinal_ex(v.md, md, &md_len) != 1) {
        jerr_set(err, JERR_INTERNAL, NULL, "relying parties: out of memory");
        goto out;
    }
    hex_encode(md, md_len, digest);
    if (r->sent[0] == '\0' && redis_digest(r, rc, r->sent, sizeof(r->sent), err) == -1)
        goto out;
    if (strcmp(digest, r->sent) == 0) {
        ret = 0;
        goto out;
    }
    /* One MULTI: a responder reads the old view or the new one, never half of each. */
    key_of(r, meta, sizeof(meta), "rp:meta");
    key_of(r, cakey, sizeof(cakey), "rp:ca");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(ms, sizeof(ms), "%lld", (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
    size_t pending = 0;
    redisAppendCommand(rc, "MULTI");
    redisAppendCommand(rc, "DEL %s", key);
    pending += 2;
    if (v.argc > 2) {
        redisAppendCommandArgv(rc, v.argc, (const char **)v.argv, v.lens);
        pending++;
    }
    if (cert_len > 0) {
        redisAppendCommand(rc, "HSET %s cert %b crl %b", cakey, cert, (size_t)cert_len,
                           crl != NULL ? (const char *)crl : "", crl_len);
        pending++;
        append_rp_files(r, rc, rpca_get0_cert(ca), crl, crl_len, &pending);
    }
    redisAppendCommand(rc, "HSET %s digest %s published_ms %s", meta, digest, ms);
    redisAppendCommand(rc, "EXEC");
    redisAppendCommand(rc, "PUBLISH %schanges %s", r->prefix, key);
    pending += 3;
    bool refused = false;
    for (size_t i = 0; i < pending; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(rc, (void **)&rep) != REDIS_OK || rep == NULL) {
            jerr_set(err, JERR_UNAVAILABLE, "redis", "Redis: relying parties: %s", rc->errstr);
            goto out;
        }
        if (rep->type == REDIS_REPLY_ERROR && !refused) {
            jerr_set(err, JERR_UNAVAILABLE, "redis", "Redis refused the relying parties: %.120s",
                     rep->str);
            refused = true;
        }
        freeReplyObject(rep);
    }
    if (refused)
        goto out;
    snprintf(r->sent, sizeof(r->sent), "%s", digest);
    log_info("redis: relying parties published (%d)", (v.argc - 2) / 2);
    ret = 0;
out:
    OPENSSL_free(cert);
    free(crl);
    view_clear(&v);
    return ret;
}

/* ---- the responders' usage ---- */

/* Gives the events the registry's keys of their parties; events of an id the registry does not
 * know are left out (counted in *dropped). */
static size_t resolve_parties(struct store *st, struct rpmeter_event *ev, size_t n,
                              size_t *dropped)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t pk = 0;
        for (size_t j = 0; j < k && pk == 0; j++) /* a flush holds few parties */
            if (strcmp(ev[j].id, ev[i].id) == 0)
                pk = ev[j].pk;
        if (pk == 0) {
            struct rp_rec rp;
            struct jerr none = {0};
            if (store_rp_get(st, ev[i].id, &rp, &none) == 0)
                pk = rp.pk;
        }
        if (pk == 0) {
            (*dropped)++;
            continue;
        }
        ev[k] = ev[i];
        ev[k++].pk = pk;
    }
    return k;
}

/* Folds one stream entry (`id`, its fields). 0, or -1 with err when the registry or audit
 * failed (read again next round). A malformed entry is logged and skipped. */
static int fold_entry(struct rppub *r, struct store *st, const char *id, const redisReply *fields,
                      struct jerr *err)
{
    const redisReply *text = NULL;
    for (size_t i = 0; fields->type == REDIS_REPLY_ARRAY && i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(fields->element[i]->str, "ev") == 0 &&
            fields->element[i + 1]->type == REDIS_REPLY_STRING)
            text = fields->element[i + 1];
    struct rpmeter_event *ev = NULL;
    size_t n = 0, dropped = 0;
    struct jerr bad = {0};
    if (text == NULL ||
        rpmeter_events_decode(text->str, text->len, &ev, &n, &bad) == -1) {
        log_error("redis: relying-party usage entry %s skipped: %s", id,
                  text == NULL ? "no ev field" : bad.msg);
        return 0;
    }
    n = resolve_parties(st, ev, n, &dropped);
    if (dropped > 0)
        log_error("redis: relying-party usage entry %s: %zu answers of unknown parties", id,
                  dropped);
    /* With no event left, the mark still goes in (rp_usage_record with a mark). */
    int rc = rpmeter_write(r->meter, st, ev, n, id, err);
    if (n == 0 && rc == 0) {
        struct rp_usage_count none;
        rc = rp_usage_record(st, &none, 0, NULL, 0, id, err);
    }
    free(ev);
    return rc;
}

int rppub_fold_usage(struct rppub *r, redisContext *rc, struct store *st, struct jerr *err)
{
    char key[KEY_MAX];
    if (r->meter == NULL)
        return 0;
    if (r->cursor[0] == '\0') {
        struct jerr none = {0};
        if (store_meta_get(st, RP_USAGE_MARK_KEY, r->cursor, sizeof(r->cursor), &none) == -1)
            snprintf(r->cursor, sizeof(r->cursor), "0-0");
    }
    key_of(r, key, sizeof(key), "rp:usage");
    for (;;) {
        redisReply *rep = redisCommand(rc, "XREAD COUNT %d STREAMS %s %s", RPPUB_FOLD_BATCH, key,
                                       r->cursor);
        if (rep == NULL)
            return jerr_set(err, JERR_UNAVAILABLE, "redis", "Redis: usage: %s", rc->errstr);
        /* nil: nothing new; else [[key, [[id, [field, value...]]...]]] */
        const redisReply *entries = NULL;
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
            rep->element[0]->type == REDIS_REPLY_ARRAY && rep->element[0]->elements == 2)
            entries = rep->element[0]->element[1];
        size_t done = 0, total = entries != NULL && entries->type == REDIS_REPLY_ARRAY
                                     ? entries->elements
                                     : 0;
        int ret = 0;
        for (size_t i = 0; i < total && ret == 0; i++) {
            const redisReply *e = entries->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                e->element[0]->type != REDIS_REPLY_STRING ||
                e->element[0]->len >= sizeof(r->cursor))
                break;
            if ((ret = fold_entry(r, st, e->element[0]->str, e->element[1], err)) == 0) {
                snprintf(r->cursor, sizeof(r->cursor), "%s", e->element[0]->str);
                done++;
            }
        }
        /* What is folded leaves the stream (the registry holds the mark). */
        for (size_t i = 0; i < done; i++)
            redisAppendCommand(rc, "XDEL %s %s", key, entries->element[i]->element[0]->str);
        freeReplyObject(rep);
        for (size_t i = 0; i < done; i++) {
            redisReply *x = NULL;
            if (redisGetReply(rc, (void **)&x) != REDIS_OK)
                return jerr_set(err, JERR_UNAVAILABLE, "redis", "Redis: usage: %s", rc->errstr);
            freeReplyObject(x);
        }
        if (ret == -1 || total < RPPUB_FOLD_BATCH)
            return ret;
    }
}
