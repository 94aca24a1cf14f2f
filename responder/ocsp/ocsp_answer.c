/*
 * ocsp_answer: see ocsp_answer.h. The registry is read through store.h and written through
 * ca/ocsp_cache.h only; the responses are built and signed by ca/ocsp.h; the cache is presign.h.
 * What this file adds is the order of those steps, under one stripe lock per key, that keeps the
 * cache true.
 */
#include "responder/ocsp/ocsp_answer.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ocsp.h>

#include "ca/ocsp_cache.h"
#include "base/jclock.h"
#include "responder/ocsp/presign_parse.h"

/* Stripe locks ordering the cache writers of one key (see the header). Writers are workers,
 * a few at a time; readers never take these. */
#define OCSP_ANSWER_STRIPES 64

struct ocsp_answer {
    const struct pki *pki;
    const struct jpki_config *cfg;
    struct presign *cache;
    pthread_mutex_t stripes[OCSP_ANSWER_STRIPES];
    int stripes_ready;
    /* DESIGN §13: a node publishing to Redis pre-signs the SHA-256 answers too (a responder
     * without keys cannot sign one on a miss), and tells the publisher of every store. */
    bool all_hashes;
    void (*stored_fn)(void *arg);
    void *stored_arg;
};

struct ocsp_answer *ocsp_answer_new(const struct pki *pki, size_t cache_entries, struct jerr *err)
{
    struct ocsp_answer *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    a->pki = pki;
    a->cfg = pki_config(pki);
    a->all_hashes = a->cfg->publish_redis_url[0] != '\0';
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        if (pki_get0_ocsp_cert(pki, (enum ca_kind)ca) == NULL ||
            pki_get0_ocsp_signer(pki, (enum ca_kind)ca) == NULL) {
            jerr_set(err, JERR_INTERNAL, NULL, "no OCSP signer for the %s CA",
                     ca_kind_name((enum ca_kind)ca));
            goto fail;
        }
    }
    for (; a->stripes_ready < OCSP_ANSWER_STRIPES; a->stripes_ready++) {
        if (pthread_mutex_init(&a->stripes[a->stripes_ready], NULL) != 0) {
            jerr_set(err, JERR_INTERNAL, NULL, "pthread_mutex_init failed");
            goto fail;
        }
    }
    a->cache = presign_new(cache_entries, err);
    if (a->cache == NULL)
        goto fail;
    return a;
fail:
    ocsp_answer_free(a);
    return NULL;
}

void ocsp_answer_free(struct ocsp_answer *a)
{
    if (a == NULL)
        return;
    presign_free(a->cache);
    for (int i = 0; i < a->stripes_ready; i++)
        pthread_mutex_destroy(&a->stripes[i]);
    free(a);
}

struct presign *ocsp_answer_cache(struct ocsp_answer *a)
{
    return a->cache;
}

/* ---- pure ---- */

/* The issuer (CA and generation) every CertID names, through `match` (an index into some
 * table of issuers, -1 for none, and its issuer). */
typedef const struct ocsp_issuer *(*issuer_match_fn)(const void *table,
                                                      const struct ocsp_certid *id);

static int pick(const void *table, issuer_match_fn match, const struct ocsp_request *req,
                int only_ca, enum ca_kind *ca, int *gen)
{
    const struct ocsp_issuer *picked = NULL;
    if (req->count == 0)
        return -1;
    for (size_t i = 0; i < req->count; i++) {
        const struct ocsp_issuer *m = match(table, &req->ids[i]);
        if (m == NULL)
            return -1; /* not an issuer of ours (RFC 5019 §2.2.3: unauthorized) */
        if (only_ca >= 0 && (int)m->ca != only_ca)
            return -1; /* a per-CA path answers for its CA alone */
        if (picked != NULL && (m->ca != picked->ca || m->generation != picked->generation))
            return -1; /* two CAs, or two generations of one, in one request: see the header */
        picked = m;
    }
    *ca = picked->ca;
    if (gen != NULL)
        *gen = picked->generation;
    return 0;
}

struct issuer_array {
    const struct ocsp_issuer *issuers;
    size_t n;
};

static const struct ocsp_issuer *match_array(const void *table, const struct ocsp_certid *id)
{
    const struct issuer_array *t = table;
    int m = ocsp_match_issuer(t->issuers, t->n, id);
    return m < 0 ? NULL : &t->issuers[m];
}

int ocsp_answer_pick_ca(const struct ocsp_issuer *issuers, size_t n, const struct ocsp_request *req,
                        int only_ca, enum ca_kind *ca)
{
    struct issuer_array t = {issuers, n};
    return pick(&t, match_array, req, only_ca, ca, NULL);
}

/* The generation of `ca` (any CA when ca < 0) whose root `id` names: by issuer name and key
 * hash together, so two generations under one name are told apart by their keys. */
static const struct pki_gen *gen_of_certid(const struct pki *pki, int ca,
                                           const struct ocsp_certid *id)
{
    for (int c = 0; c < CA_KIND_COUNT; c++) {
        if (ca >= 0 && c != ca)
            continue;
        int n = pki_gen_count(pki, (enum ca_kind)c);
        for (int i = n; i >= 1; i--) { /* the newest first: most requests name it */
            const struct pki_gen *g = pki_gen(pki, (enum ca_kind)c, i);
            if (ocsp_match_issuer(&g->issuer, 1, id) == 0)
                return g;
        }
    }
    return NULL;
}

static const struct ocsp_issuer *match_pki(const void *table, const struct ocsp_certid *id)
{
    const struct pki_gen *g = gen_of_certid(table, -1, id);
    return g != NULL ? &g->issuer : NULL;
}

int ocsp_answer_route(const struct ocsp_answer *a, const struct ocsp_request *req, int only_ca,
                      enum ca_kind *ca, int *gen)
{
    return pick(a->pki, match_pki, req, only_ca, ca, gen);
}

int ocsp_answer_route_ca(const struct ocsp_answer *a, const struct ocsp_request *req, int only_ca,
                         enum ca_kind *ca)
{
    return ocsp_answer_route(a, req, only_ca, ca, NULL);
}

bool ocsp_answer_is_cacheable(const struct ocsp_request *req)
{
    return req->count == 1 && !req->has_nonce && req->ids[0].params_null && req->ids[0].serial_ok;
}

/* The issuer_tag of the CertIDs naming `is` under hash algorithm `hash`. */
static uint32_t issuer_tag_of(const struct ocsp_issuer *is, int hash)
{
    return presign_issuer_tag(hash == OCSP_CERTID_SHA1 ? is->key_sha1 : is->key_sha256);
}

void ocsp_answer_key(const struct ocsp_certid *id, enum ca_kind ca, struct presign_key *out)
{
    memset(out, 0, sizeof(*out));
    out->ca = ca;
    out->issuer_tag = presign_issuer_tag(id->key_hash);
    out->certid_hash = id->hash;
    memcpy(out->serial, id->serial, sizeof(out->serial));
    out->serial[sizeof(out->serial) - 1] = '\0';
}

/* ---- signing ---- */

/* The same status as store_ocsp_put_signed compares: status, reason, status time. */
static bool same_state(const struct cert_rec *x, const struct cert_rec *y)
{
    return x->ca == y->ca && x->status == y->status && x->reason == y->reason &&
           x->status_changed_at == y->status_changed_at;
}

static int status_of(const struct ocsp_single *s)
{
    if (s->unknown)
        return V_OCSP_CERTSTATUS_UNKNOWN;
    return s->status == CERT_GOOD ? V_OCSP_CERTSTATUS_GOOD : V_OCSP_CERTSTATUS_REVOKED;
}

/* A record's generation (0 is 1: store.h). */
static int gen_of_rec(const struct cert_rec *rec)
{
    return rec->generation > 0 ? rec->generation : 1;
}

/* The answer for one CertID: from `rec` when it is a certificate of generation `gen` of `ca`,
 * else unknown. */
static void single_from(struct ocsp_single *s, const struct ocsp_certid *id,
                        const struct cert_rec *rec, const struct pki_gen *gen)
{
    memset(s, 0, sizeof(*s));
    s->id = id;
    if (rec == NULL || rec->ca != gen->ca || gen_of_rec(rec) != gen->number) {
        /* Never issued here, or a serial of the other CA or of another generation (a CertID
         * names its issuer's key): unknown, never good (DESIGN §5, §11). */
        s->unknown = true;
        return;
    }
    s->status = rec->status;
    s->reason = rec->reason;
    s->revoked_at = (time_t)rec->status_changed_at;
}

/* Looks up the record of `id`: 1 found (in *rec), 0 none (unknown), -1 registry failure. */
static int record_of(struct store *st, const struct ocsp_certid *id, struct cert_rec *rec,
                     struct jerr *err)
{
    struct jerr e = {0};
    if (!id->serial_ok)
        return 0;
    if (store_cert_get(st, id->serial, rec, &e) == 0)
        return 1;
    if (e.code == JERR_NOT_FOUND)
        return 0;
    jerr_set(err, e.code, e.field, "%s", e.msg);
    return -1;
}

/* Signs singles[0..n) with generation `gen`'s OCSP signer and wraps the DER in a blob (keyed
 * when `key` is given). */
static struct presign_blob *sign_blob(struct ocsp_answer *a, const struct pki_gen *gen,
                                      const struct ocsp_single *singles, size_t n,
                                      const unsigned char *nonce, size_t nonce_len,
                                      const struct presign_key *key, time_t now, struct jerr *err)
{
    unsigned char *der = NULL;
    size_t der_len = 0;
    struct presign_blob *b = NULL;
    time_t next = now + a->cfg->ocsp_validity_s;

    if (ocsp_response_sign(gen->root, gen->ocsp_cert, gen->ocsp_signer, singles, n, nonce,
                           nonce_len, now, next, &der, &der_len, err) == -1)
        goto out;
    /* The status a response counts as in metrics: revoked if any CertID is, else unknown if
     * any is, else good. */
    int status = V_OCSP_CERTSTATUS_GOOD;
    for (size_t i = 0; i < n; i++) {
        int s = status_of(&singles[i]);
        if (s == V_OCSP_CERTSTATUS_REVOKED ||
            (s == V_OCSP_CERTSTATUS_UNKNOWN && status == V_OCSP_CERTSTATUS_GOOD))
            status = s;
    }
    b = presign_blob_new(key, der, der_len, now, next, status, err);
out:
    OPENSSL_free(der);
    return b;
}

static pthread_mutex_t *stripe_of(struct ocsp_answer *a, const struct presign_key *key)
{
    return &a->stripes[presign_key_hash(key) % OCSP_ANSWER_STRIPES];
}

/* Puts `b`, signed from `signed_rec`, into the cache if the registry still holds that state
 * (read afresh under the key's stripe lock); else removes the key. See the header. */
static void cache_publish(struct ocsp_answer *a, struct store *st, struct presign_blob *b,
                          const struct cert_rec *signed_rec, bool may_evict)
{
    const struct presign_key *key = presign_blob_key(b);
    pthread_mutex_t *lock = stripe_of(a, key);
    struct cert_rec cur;
    struct jerr e = {0};

    pthread_mutex_lock(lock);
    if (store_cert_get(st, key->serial, &cur, &e) == 0 && same_state(&cur, signed_rec) &&
        cur.ca == key->ca)
        presign_put(a->cache, b, may_evict);
    else
        presign_remove(a->cache, key);
    pthread_mutex_unlock(lock);
}

/* A blob from a response the registry holds for `key` (presign_parse): the registry keys rows
 * by serial and hash alone, so a row of the other CA's certificate must not answer a CertID
 * naming this one. A row that fails is ignored (then re-signed, or answered unknown). */
static struct presign_blob *blob_from_row(const struct ocsp_answer *a,
                                          const struct presign_key *key, const unsigned char *der,
                                          size_t len, struct jerr *err)
{
    /* The generation the key names (its issuer key hash): the row must name that issuer. */
    int n = pki_gen_count(a->pki, key->ca);
    for (int g = 1; g <= n; g++) {
        const struct ocsp_issuer *is = &pki_gen(a->pki, key->ca, g)->issuer;
        if (issuer_tag_of(is, key->certid_hash) == key->issuer_tag)
            return presign_parse(is, key, der, len, NULL, err);
    }
    jerr_set(err, JERR_INVALID, "issuer", "stored OCSP response for no generation of ours");
    return NULL;
}

/* A fresh pre-signed response of the registry for `key`, put in the cache, under the key's
 * stripe lock (a row read fresh there agrees with the registry as of that read). Returns a
 * blob reference, or NULL: *failed tells a registry failure (err filled) from no usable row. */
static struct presign_blob *load_row(struct ocsp_answer *a, struct store *st,
                                     const struct presign_key *key, time_t now, bool *failed,
                                     struct jerr *err)
{
    pthread_mutex_t *lock = stripe_of(a, key);
    unsigned char *der = NULL;
    size_t len = 0;
    int64_t next_update = 0;
    bool stale = true;
    struct presign_blob *b = NULL;
    struct jerr e = {0};

    *failed = false;
    pthread_mutex_lock(lock);
    if (store_ocsp_get(st, key->serial, key->certid_hash, &der, &len, &next_update, &stale, &e) ==
        -1) {
        if (e.code != JERR_NOT_FOUND) {
            jerr_set(err, e.code, e.field, "%s", e.msg);
            *failed = true;
        }
        goto out;
    }
    if (stale || next_update - now < OCSP_ANSWER_MIN_REMAINING_S)
        goto out;
    b = blob_from_row(a, key, der, len, &e); /* unusable: signed again (or unknown) */
    if (b != NULL && presign_blob_cert_status(b) != V_OCSP_CERTSTATUS_UNKNOWN)
        presign_put(a->cache, b, true);
out:
    pthread_mutex_unlock(lock);
    free(der);
    return b;
}

struct presign_blob *ocsp_answer_request(struct ocsp_answer *a, struct store *st,
                                         const struct ocsp_request *req, enum ca_kind ca,
                                         struct ocsp_answer_outcome *how, struct jerr *err)
{
    struct ocsp_single singles[JPKI_OCSP_MAX_CERTIDS];
    struct cert_rec recs[JPKI_OCSP_MAX_CERTIDS];
    struct presign_blob *b = NULL;
    time_t now = jclock_now();

    memset(how, 0, sizeof(*how));
    if (req->count == 0 || req->count > JPKI_OCSP_MAX_CERTIDS) {
        jerr_set(err, JERR_INTERNAL, "request", "%zu CertIDs", req->count);
        return NULL;
    }
    /* Every CertID names this generation (ocsp_answer_route). */
    const struct pki_gen *gen = gen_of_certid(a->pki, (int)ca, &req->ids[0]);
    if (gen == NULL || gen->ocsp_signer == NULL) {
        jerr_set(err, JERR_INTERNAL, "request", "no generation of the %s CA for this CertID",
                 ca_kind_name(ca));
        return NULL;
    }
    if (ocsp_answer_is_cacheable(req)) {
        struct presign_key key;
        bool failed;
        ocsp_answer_key(&req->ids[0], ca, &key);
        b = load_row(a, st, &key, now, &failed, err);
        if (b != NULL || failed) {
            how->from_registry = b != NULL;
            return b;
        }
        int found = record_of(st, &req->ids[0], &recs[0], err);
        if (found == -1)
            return NULL;
        single_from(&singles[0], &req->ids[0], found == 1 ? &recs[0] : NULL, gen);
        bool ours = !singles[0].unknown;
        /* An unknown answer is not kept: the serial may be issued later. */
        b = sign_blob(a, gen, singles, 1, NULL, 0, ours ? &key : NULL, now, err);
        if (b == NULL)
            return NULL;
        how->signed_now = true;
        if (ours) {
            struct jerr e = {0};
            bool current = false;
            size_t len;
            const unsigned char *der = presign_blob_der(b, &len);
            /* A failed write still leaves a correct answer (and cache entry, if the status
             * is unchanged); only a change during the signing makes it outdated. */
            int put = store_ocsp_put_signed(st, &recs[0], key.certid_hash, der, len, now,
                                            presign_blob_next_update(b), &current, &e);
            if (put == 0 && a->stored_fn != NULL)
                a->stored_fn(a->stored_arg);
            if (put == 0 && !current)
                presign_remove(a->cache, &key);
            else
                cache_publish(a, st, b, &recs[0], true);
        }
        return b;
    }
    for (size_t i = 0; i < req->count; i++) {
        int found = record_of(st, &req->ids[i], &recs[i], err);
        if (found == -1)
            return NULL;
        single_from(&singles[i], &req->ids[i], found == 1 ? &recs[i] : NULL, gen);
    }
    b = sign_blob(a, gen, singles, req->count, req->has_nonce ? req->nonce : NULL,
                  req->has_nonce ? req->nonce_len : 0, NULL, now, err);
    how->signed_now = b != NULL;
    return b;
}

struct presign_blob *ocsp_answer_presigned(struct ocsp_answer *a, struct store *st,
                                           const struct ocsp_request *req, enum ca_kind ca,
                                           struct ocsp_answer_outcome *how, struct jerr *err)
{
    struct presign_key key;
    bool failed = false;

    memset(how, 0, sizeof(*how));
    if (!ocsp_answer_is_cacheable(req)) {
        jerr_set(err, JERR_INTERNAL, "request", "no pre-signed answer to such a request");
        return NULL;
    }
    ocsp_answer_key(&req->ids[0], ca, &key);
    struct presign_blob *b = load_row(a, st, &key, jclock_now(), &failed, err);
    if (b == NULL && !failed)
        jerr_set(err, JERR_NOT_FOUND, "request", "no fresh pre-signed response");
    how->from_registry = b != NULL;
    return b;
}

/* ---- pre-signing ---- */

struct presign_job {
    struct cert_rec rec;
    int certid_hash;
    struct presign_blob *blob;
};

/* Signs the responses of one serial into jobs[] (1 or 2). Returns how many, 0 when the serial
 * is gone or its certificate expired, or -1. */
static int presign_serial(struct ocsp_answer *a, struct store *st, const char *serial, time_t now,
                          struct presign_job *jobs, struct jerr *err)
{
    struct cert_rec rec;
    struct jerr e = {0};
    int n = 0;

    if (store_cert_get(st, serial, &rec, &e) == -1) {
        if (e.code == JERR_NOT_FOUND)
            return 0;
        return jerr_set(err, e.code, e.field, "%s", e.msg);
    }
    /* RFC 5280 §4.1.2.5: notAfter is inclusive. An expired certificate's responses are not
     * kept fresh (a request for it is signed on demand). */
    if (rec.not_after < (int64_t)now)
        return 0;
    const struct pki_gen *gen = pki_gen(a->pki, rec.ca, gen_of_rec(&rec));
    if (gen == NULL || gen->ocsp_signer == NULL)
        return jerr_set(err, JERR_INTERNAL, "generation", "serial %s: no generation %d of the %s CA",
                        serial, gen_of_rec(&rec), ca_kind_name(rec.ca));
    for (int hash = OCSP_CERTID_SHA1; hash <= OCSP_CERTID_SHA256; hash++) {
        if (hash == OCSP_CERTID_SHA256 && !a->all_hashes) {
            /* SHA-256 responses exist once someone asked (store.h): renew only those. */
            unsigned char *der = NULL;
            size_t len;
            int rc = store_ocsp_get(st, serial, hash, &der, &len, NULL, NULL, &e);
            free(der);
            if (rc == -1 && e.code == JERR_NOT_FOUND)
                break;
            if (rc == -1) {
                jerr_set(err, e.code, e.field, "%s", e.msg);
                goto fail;
            }
        }
        struct ocsp_certid id;
        struct ocsp_single single;
        struct presign_key key;
        if (ocsp_certid_for_serial(gen->root, serial, hash, &id, err) == -1)
            goto fail;
        ocsp_answer_key(&id, rec.ca, &key);
        single_from(&single, &id, &rec, gen);
        jobs[n].rec = rec;
        jobs[n].certid_hash = hash;
        jobs[n].blob = sign_blob(a, gen, &single, 1, NULL, 0, &key, now, err);
        if (jobs[n].blob == NULL)
            goto fail;
        n++;
    }
    return n;
fail:
    for (int i = 0; i < n; i++)
        presign_blob_unref(jobs[i].blob);
    return -1;
}

int ocsp_answer_presign(struct ocsp_answer *a, struct store *st, const char *const *serials,
                        const int64_t *dirty_seqs, size_t n,
                        struct ocsp_answer_presign_stats *stats, struct jerr *err)
{
    struct presign_job jobs[2 * OCSP_ANSWER_PRESIGN_MAX];
    struct ocsp_cache_answer answers[2 * OCSP_ANSWER_PRESIGN_MAX];
    struct ocsp_cache_mark marks[OCSP_ANSWER_PRESIGN_MAX];
    size_t count = 0;
    time_t now = jclock_now();
    int ret = 0;

    memset(stats, 0, sizeof(*stats));
    if (n > OCSP_ANSWER_PRESIGN_MAX)
        return jerr_set(err, JERR_INTERNAL, NULL, "%zu serials at once, over %d", n,
                        OCSP_ANSWER_PRESIGN_MAX);
    /* Sign first, outside any transaction: lifecycle writers never wait for signatures. */
    for (size_t i = 0; i < n; i++) {
        /* Without dirty_seqs no mark is cleared (seq 0). */
        marks[i] =
            (struct ocsp_cache_mark){serials[i], dirty_seqs != NULL ? dirty_seqs[i] : 0, false};
        int k = presign_serial(a, st, serials[i], now, &jobs[count], err);
        if (k == -1) {
            stats->failed++;
            marks[i].failed = true;
            ret = -1;
            continue;
        }
        if (k == 0)
            stats->skipped++;
        for (size_t j = count; j < count + (size_t)k; j++) {
            answers[j] = (struct ocsp_cache_answer){
                .rec = &jobs[j].rec, .certid_hash = jobs[j].certid_hash, .mark = i};
            answers[j].der = presign_blob_der(jobs[j].blob, &answers[j].der_len);
            answers[j].next_update = presign_blob_next_update(jobs[j].blob);
        }
        count += (size_t)k;
    }
    stats->signed_count = count;
    if ((count > 0 || dirty_seqs != NULL) &&
        ocsp_cache_store(st, answers, count, marks, n, (int64_t)now, &stats->cleared, err) == -1)
        ret = -1;
    if (a->stored_fn != NULL && count > 0)
        a->stored_fn(a->stored_arg); /* the publisher reads what the registry took */
    /* After the commit: an entry is published only if the registry still agrees. A response
     * the registry could not take is still right for the cache if the status is unchanged;
     * its row stays due and is tried again. */
    for (size_t i = 0; i < count; i++) {
        if (answers[i].state == OCSP_CACHE_OUTDATED) {
            stats->outdated++;
            presign_remove(a->cache, presign_blob_key(jobs[i].blob));
        } else {
            if (answers[i].state == OCSP_CACHE_CURRENT)
                stats->stored++;
            else
                stats->failed++;
            cache_publish(a, st, jobs[i].blob, &jobs[i].rec, false);
        }
        presign_blob_unref(jobs[i].blob);
    }
    return ret;
}

int ocsp_answer_presign_issued(struct ocsp_answer *a, struct store *st,
                               const char *const *serials, size_t n,
                               struct ocsp_answer_presign_stats *stats, struct jerr *err)
{
    int64_t seqs[OCSP_ANSWER_PRESIGN_MAX];

    if (n > OCSP_ANSWER_PRESIGN_MAX)
        return jerr_set(err, JERR_INTERNAL, NULL, "%zu serials at once, over %d", n,
                        OCSP_ANSWER_PRESIGN_MAX);
    for (size_t i = 0; i < n; i++)
        if (store_ocsp_dirty_seq(st, serials[i], &seqs[i], err) == -1)
            return -1;
    return ocsp_answer_presign(a, st, serials, seqs, n, stats, err);
}

void ocsp_answer_set_stored_listener(struct ocsp_answer *a, void (*fn)(void *arg), void *arg)
{
    a->stored_fn = fn;
    a->stored_arg = arg;
}

void ocsp_answer_forget(struct ocsp_answer *a, const char *serial)
{
    struct presign_key key;
    memset(&key, 0, sizeof(key));
    if (serial == NULL || strlen(serial) > JPKI_SERIAL_HEX_MAX)
        return;
    memcpy(key.serial, serial, strlen(serial) + 1);
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        int n = pki_gen_count(a->pki, (enum ca_kind)ca);
        for (int i = 1; i <= n; i++) {
            const struct ocsp_issuer *is = &pki_gen(a->pki, (enum ca_kind)ca, i)->issuer;
            for (int hash = OCSP_CERTID_SHA1; hash <= OCSP_CERTID_SHA256; hash++) {
                key.ca = (enum ca_kind)ca;
                key.certid_hash = hash;
                key.issuer_tag = issuer_tag_of(is, hash);
                presign_remove(a->cache, &key);
            }
        }
    }
}
