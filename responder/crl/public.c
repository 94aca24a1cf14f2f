/*
 * public: see public.h. Everything a public answer needs is either immutable and built at
 * start (roots, fingerprints) or a crlcache snapshot owned by the answering loop; the shared
 * crlcache table is touched only by workers.
 */
#include "responder/crl/public.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/crl.h"
#include "base/jclock.h"
#include "base/membio.h"
#include "responder/net/access.h"
#include "responder/rp/rpmeter.h"
#include "ca/rp.h"
#include "responder/crl/crlcache.h"
#include "responder/crl/crlsched.h"
#include "responder/net/http.h"
#include "responder/net/log.h"
#include "responder/monitor/metrics.h"

struct public_blob {
    unsigned char *data;
    size_t len;
    char etag[HTTP_ETAG_MAX];
    const char *content_type;
    enum metrics_endpoint metrics_ep;
    time_t last_modified; /* public_foreach_file: the root's notBefore */
};

/* One loop's view of one CRL file (touched only on that loop's thread). */
struct loop_crl {
    struct crlcache_snapshot *snap;
    time_t checked_s;    /* monotonic seconds of the last check */
    unsigned generation; /* public_crl_changed count seen at that check */
    bool refreshing;     /* a background check is on a worker */
};

/* The CA certificates of every generation (DESIGN §11), immutable once built: a rollover
 * builds a new set and swaps it in; old sets live until public_free (a handler may still hold
 * one, and rollovers are rare). */
struct public_set {
    int count[CA_KIND_COUNT];
    struct public_blob root[CA_KIND_COUNT][PKI_GENERATIONS_MAX];
    struct public_blob link_from_prev[CA_KIND_COUNT][PKI_GENERATIONS_MAX]; /* (n-1)-n */
    struct public_blob link_to_prev[CA_KIND_COUNT][PKI_GENERATIONS_MAX];   /* n-(n-1) */
    struct public_blob fingerprints;
    struct public_set *older;
};

struct public
{
    const struct pki *pki;
    int partitions[CA_KIND_COUNT];
    size_t partition_base[CA_KIND_COUNT]; /* first partition slot of each CA, after the
                                             complete and delta CRLs' */
    size_t generation_base;               /* first slot of the generations' CRLs */
    size_t slot_count;
    _Atomic(struct public_set *) set;
    struct crlcache *cache;
    struct loop_crl **loops; /* [loop][slot] */
    int loop_count;
    atomic_uint generation;
    atomic_llong next_publication; /* public_crl_set_next_publication, 0 = unknown */
    void (*changed_fn)(void *arg); /* public_set_changed_listener, or NULL */
    void *changed_arg;
    atomic_llong next_delta;       /* public_crl_set_next_delta, 0 = unknown */
    struct rpgate *gate;           /* public_set_relying_parties, or NULL */
    struct rpmeter *meter;         /* the same */
};

static size_t crl_slot(const struct public *pub, enum ca_kind ca, int partition);

/* ---- building ---- */

static int blob_set(struct public_blob *b, const void *data, size_t len, const char *content_type,
                    struct jerr *err)
{
    unsigned char digest[32];
    b->data = malloc(len > 0 ? len : 1);
    if (b->data == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    memcpy(b->data, data, len);
    b->len = len;
    b->content_type = content_type;
    b->metrics_ep = strcmp(content_type, "application/json") == 0 ? METRICS_EP_FINGERPRINTS
                                                                  : METRICS_EP_CA;
    if (EVP_Digest(data, len, digest, NULL, EVP_sha256(), NULL) != 1)
        return jerr_openssl(err, JERR_CRYPTO, NULL, "SHA-256");
    http_etag_sha256(digest, b->etag);
    return 0;
}

/* "C=JP, O=JPKI, OU=…" in the certificate's order, RFC 4514 escaping, UTF-8 kept. */
static char *subject_text(X509 *cert, struct jerr *err)
{
    const unsigned long flags = ASN1_STRFLGS_ESC_2253 | ASN1_STRFLGS_ESC_CTRL |
                                ASN1_STRFLGS_UTF8_CONVERT | ASN1_STRFLGS_DUMP_UNKNOWN |
                                ASN1_STRFLGS_DUMP_DER | XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_FN_SN;
    char *text = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL || X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, flags) < 0) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "subject name");
        goto out;
    }
    text = membio_to_string(bio, err);
out:
    BIO_free(bio);
    return text;
}

/* "YYYY-MM-DDTHH:MM:SSZ" */
static json_t *time_json(const ASN1_TIME *t)
{
    struct tm tm;
    char text[32];
    if (ASN1_TIME_to_tm(t, &tm) != 1 || strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return json_null();
    return json_string(text);
}

/* DESIGN §11: the subscriber validity the generation issues for, and whether it is its own
 * (recorded at its rollover) or the configuration's. */
static int validity_json(const struct pki *pki, const struct pki_gen *g, json_t *one)
{
    int years, years_minor;
    bool recorded;
    pki_gen_validity(pki, g, &years, &years_minor, &recorded);
    return json_object_set_new(one, "subscriber_validity",
                               json_pack("{s:i, s:i, s:s}", "years", years, "years_minor",
                                         years_minor, "from",
                                         recorded ? "generation" : "configuration"));
}

/* One generation's entry of /ca/fingerprints. */
static json_t *generation_json(const struct pki *pki, const struct pki_gen *g, bool newest,
                               struct jerr *err)
{
    char fp[96], url[64];
    char *subject = NULL;
    json_t *one = NULL;

    if (pki_fingerprint(g->root, fp, err) == -1 || (subject = subject_text(g->root, err)) == NULL)
        return NULL;
    snprintf(url, sizeof(url), "/ca/%s/%d.cer", ca_kind_name(g->ca), g->number);
    one = json_object();
    if (one == NULL || json_object_set_new(one, "generation", json_integer(g->number)) != 0 ||
        json_object_set_new(one, "algorithm", json_string(g->algorithm)) != 0 ||
        json_object_set_new(one, "sha256", json_string(fp)) != 0 ||
        json_object_set_new(one, "subject", json_string(subject)) != 0 ||
        json_object_set_new(one, "not_before", time_json(X509_get0_notBefore(g->root))) != 0 ||
        json_object_set_new(one, "not_after", time_json(X509_get0_notAfter(g->root))) != 0 ||
        json_object_set_new(one, "issuing", json_boolean(newest)) != 0 ||
        json_object_set_new(one, "url", json_string(url)) != 0 ||
        validity_json(pki, g, one) != 0) {
        jerr_set(err, JERR_INTERNAL, NULL, "cannot build the fingerprints");
        json_decref(one);
        one = NULL;
    }
    free(subject);
    return one;
}

/* {"sign":{"sha256","subject" (the newest root's), "generation": n, "generations":[…]},…} */
static int build_fingerprints(const struct public *pub, struct public_set *set, struct jerr *err)
{
    json_t *all = json_object();
    char *text = NULL;
    int rc = -1;
    if (all == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        json_t *gens = json_array(), *ca_obj = NULL;
        for (int n = 1; gens != NULL && n <= set->count[ca]; n++) {
            json_t *one = generation_json(pub->pki, pki_gen(pub->pki, (enum ca_kind)ca, n),
                                          n == set->count[ca], err);
            if (one == NULL || json_array_append_new(gens, one) != 0) {
                json_decref(gens);
                goto out;
            }
        }
        json_t *newest = gens != NULL ? json_array_get(gens, json_array_size(gens) - 1) : NULL;
        if (newest == NULL || (ca_obj = json_object()) == NULL ||
            json_object_set(ca_obj, "sha256", json_object_get(newest, "sha256")) != 0 ||
            json_object_set(ca_obj, "subject", json_object_get(newest, "subject")) != 0 ||
            json_object_set_new(ca_obj, "generation", json_integer(set->count[ca])) != 0 ||
            json_object_set_new(ca_obj, "generations", gens) != 0 ||
            json_object_set_new(all, ca_kind_name((enum ca_kind)ca), ca_obj) != 0) {
            jerr_set(err, JERR_INTERNAL, NULL, "cannot build the fingerprints");
            goto out;
        }
    }
    text = json_dumps(all, JSON_COMPACT);
    if (text == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "cannot build the fingerprints");
        goto out;
    }
    rc = blob_set(&set->fingerprints, text, strlen(text), "application/json", err);
out:
    free(text);
    json_decref(all);
    return rc;
}

static int cert_blob(struct public_blob *b, X509 *cert, struct jerr *err)
{
    unsigned char *der = NULL;
    int len = cert != NULL ? i2d_X509(cert, &der) : -1;
    if (len <= 0)
        return jerr_openssl(err, JERR_CRYPTO, NULL, "encoding a CA certificate");
    int rc = blob_set(b, der, (size_t)len, "application/pkix-cert", err);
    OPENSSL_free(der);
    if (rc == 0)
        jclock_from_asn1(X509_get0_notBefore(cert), &b->last_modified);
    return rc;
}

static void set_free(struct public_set *set)
{
    if (set == NULL)
        return;
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        for (int n = 0; n < PKI_GENERATIONS_MAX; n++) {
            free(set->root[ca][n].data);
            free(set->link_from_prev[ca][n].data);
            free(set->link_to_prev[ca][n].data);
        }
    }
    free(set->fingerprints.data);
    free(set);
}

/* The certificates of the generations the pki has now. */
static struct public_set *set_build(const struct public *pub, struct jerr *err)
{
    struct public_set *set = calloc(1, sizeof(*set));
    if (set == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        set->count[ca] = pki_gen_count(pub->pki, (enum ca_kind)ca);
        for (int n = 1; n <= set->count[ca]; n++) {
            const struct pki_gen *g = pki_gen(pub->pki, (enum ca_kind)ca, n);
            if (cert_blob(&set->root[ca][n - 1], g->root, err) == -1 ||
                (n > 1 && (cert_blob(&set->link_from_prev[ca][n - 1], g->link_from_prev, err) ==
                               -1 ||
                           cert_blob(&set->link_to_prev[ca][n - 1], g->link_to_prev, err) == -1)))
                goto fail;
        }
    }
    if (build_fingerprints(pub, set, err) == -1)
        goto fail;
    return set;
fail:
    set_free(set);
    return NULL;
}

int public_generations_changed(struct public *pub, struct jerr *err)
{
    struct public_set *set = set_build(pub, err);
    if (set == NULL)
        return -1;
    set->older = atomic_load(&pub->set);
    atomic_store(&pub->set, set);
    return 0;
}

struct public *public_new(const struct pki *pki, int loop_count, struct jerr *err)
{
    struct public *pub = calloc(1, sizeof(*pub));
    if (pub == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    pub->pki = pki;
    pub->loop_count = loop_count;
    atomic_init(&pub->generation, 0);
    atomic_init(&pub->next_publication, 0);
    atomic_init(&pub->next_delta, 0);
    pub->slot_count = 2 * CA_KIND_COUNT; /* the complete CRLs, then the deltas */
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        pub->partitions[ca] = pki_crl_partitions(pki, (enum ca_kind)ca);
        pub->partition_base[ca] = pub->slot_count;
        if (pub->partitions[ca] > 1)
            pub->slot_count += (size_t)pub->partitions[ca];
    }
    pub->generation_base = pub->slot_count;
    pub->slot_count += (size_t)CA_KIND_COUNT * PKI_GENERATIONS_MAX;
    atomic_init(&pub->set, NULL);
    if (public_generations_changed(pub, err) == -1)
        goto fail;
    pub->cache = crlcache_new(pub->slot_count, err);
    if (pub->cache == NULL)
        goto fail;
    pub->loops = calloc((size_t)loop_count, sizeof(*pub->loops));
    if (pub->loops == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto fail;
    }
    for (int i = 0; i < loop_count; i++) {
        pub->loops[i] = calloc(pub->slot_count, sizeof(**pub->loops));
        if (pub->loops[i] == NULL) {
            jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
            goto fail;
        }
    }
    return pub;
fail:
    public_free(pub);
    return NULL;
}

void public_free(struct public *pub)
{
    if (pub == NULL)
        return;
    for (int i = 0; pub->loops != NULL && i < pub->loop_count; i++) {
        for (size_t s = 0; pub->loops[i] != NULL && s < pub->slot_count; s++)
            crlcache_snapshot_unref(pub->loops[i][s].snap);
        free(pub->loops[i]);
    }
    free(pub->loops);
    crlcache_free(pub->cache);
    for (struct public_set *set = atomic_load(&pub->set), *older; set != NULL; set = older) {
        older = set->older;
        set_free(set);
    }
    free(pub);
}

/* ---- the files, for the Redis publisher ---- */

static int blob_file(const char *path, const struct public_blob *b, public_file_cb cb, void *ctx)
{
    struct public_file f = {.etag = b->etag,
                            .content_type = b->content_type,
                            .last_modified = b->last_modified,
                            .data = b->data,
                            .len = b->len};
    snprintf(f.path, sizeof(f.path), "%s", path);
    return cb(ctx, &f);
}

/* The CRL of `ca` (partition -1 = complete) if published: cb on it. */
static int crl_file(struct public *pub, enum ca_kind ca, int partition, public_file_cb cb,
                    void *ctx, struct jerr *err)
{
    char path[PATH_MAX];
    struct jerr e = {0};
    struct public_file f = {.content_type = "application/pkix-crl"};
    int rc;

    if (crl_path(pki_config(pub->pki), ca, partition, path, sizeof(path)) == NULL)
        return jerr_set(err, JERR_CONFIG, "data_dir", "CRL path too long");
    struct crlcache_snapshot *snap = crlcache_get(pub->cache, crl_slot(pub, ca, partition), path,
                                                  &e);
    if (snap == NULL) {
        if (e.code == JERR_NOT_FOUND)
            return 0;
        return jerr_set(err, e.code, e.field, "%s", e.msg);
    }
    if (partition == CRL_DELTA)
        snprintf(f.path, sizeof(f.path), "/crl/%s-delta.crl", ca_kind_name(ca));
    else if (partition < -1)
        snprintf(f.path, sizeof(f.path), "/crl/%s/g%d.crl", ca_kind_name(ca), -partition);
    else if (partition < 0)
        snprintf(f.path, sizeof(f.path), "/crl/%s.crl", ca_kind_name(ca));
    else
        snprintf(f.path, sizeof(f.path), "/crl/%s/%d.crl", ca_kind_name(ca), partition);
    f.etag = crlcache_etag(snap);
    f.last_modified = crlcache_this_update(snap);
    if (f.last_modified == 0)
        f.last_modified = crlcache_mtime(snap); /* as crl_answer sends it */
    f.expires = crlcache_next_update(snap);
    f.snap = snap;
    rc = cb(ctx, &f);
    crlcache_snapshot_unref(snap);
    return rc;
}

int public_foreach_file(struct public *pub, public_file_cb cb, void *ctx, struct jerr *err)
{
    const struct public_set *set = atomic_load(&pub->set);
    char path[64];
    if (blob_file("/ca/fingerprints", &set->fingerprints, cb, ctx) != 0)
        return -1;
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        const char *name = ca_kind_name((enum ca_kind)ca);
        int n = set->count[ca];
        snprintf(path, sizeof(path), "/ca/%s.cer", name);
        if (blob_file(path, &set->root[ca][n - 1], cb, ctx) != 0)
            return -1;
        /* DESIGN §11: every generation's root, the links between them, its CRL */
        for (int g = 1; g <= n; g++) {
            snprintf(path, sizeof(path), "/ca/%s/%d.cer", name, g);
            if (blob_file(path, &set->root[ca][g - 1], cb, ctx) != 0)
                return -1;
            if (g == 1)
                continue;
            snprintf(path, sizeof(path), "/ca/%s/links/%d-%d.cer", name, g - 1, g);
            if (blob_file(path, &set->link_from_prev[ca][g - 1], cb, ctx) != 0)
                return -1;
            snprintf(path, sizeof(path), "/ca/%s/links/%d-%d.cer", name, g, g - 1);
            if (blob_file(path, &set->link_to_prev[ca][g - 1], cb, ctx) != 0 ||
                crl_file(pub, (enum ca_kind)ca, STORE_CRL_GENERATION(g), cb, ctx, err) != 0)
                return -1;
        }
        if (crl_file(pub, (enum ca_kind)ca, -1, cb, ctx, err) != 0)
            return -1;
        for (int p = 0; pub->partitions[ca] > 1 && p < pub->partitions[ca]; p++)
            if (crl_file(pub, (enum ca_kind)ca, p, cb, ctx, err) != 0)
                return -1;
    }
    return 0;
}

int public_file_body(const struct public_file *f, struct evbuffer *out, struct jerr *err)
{
    if (f->snap != NULL)
        return crlcache_add_body(f->snap, out, err);
    if (evbuffer_add(out, f->data, f->len) != 0)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    return 0;
}

void public_crl_changed(struct public *pub)
{
    atomic_fetch_add(&pub->generation, 1);
    if (pub->changed_fn != NULL)
        pub->changed_fn(pub->changed_arg);
}

void public_set_changed_listener(struct public *pub, void (*fn)(void *arg), void *arg)
{
    pub->changed_fn = fn;
    pub->changed_arg = arg;
}

void public_crl_set_next_publication(struct public *pub, time_t at)
{
    atomic_store(&pub->next_publication, (long long)at);
}

void public_crl_set_next_delta(struct public *pub, time_t at)
{
    atomic_store(&pub->next_delta, (long long)at);
}

/* ---- small answers ---- */

/* Answers with a fixed blob; returns the status sent. */
static int blob_answer(struct evhttp_request *req, const struct public_blob *b)
{
    const char *inm = evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
    http_set_cache_headers(req, b->etag, 0, PUBLIC_ROOT_MAX_AGE_S, 0);
    if (inm != NULL && http_etag_match(inm, b->etag)) {
        evhttp_send_reply(req, 304, http_reason(304), NULL);
        return 304;
    }
    http_send_bytes(req, 200, b->content_type, b->data, b->len);
    return 200;
}

/* A canonical decimal 1..PKI_GENERATIONS_MAX at *p (no "0", "007", "+7"), followed by `end`;
 * advances *p past it. Returns the number, or -1. */
static int gen_number(const char **p, char end)
{
    const char *s = *p;
    size_t digits = strspn(s, "0123456789");
    if (digits == 0 || digits > 2 || s[0] == '0' || s[digits] != end)
        return -1;
    int n = atoi(s);
    if (n < 1 || n > PKI_GENERATIONS_MAX)
        return -1;
    *p = s + digits + 1;
    return n;
}

const struct public_blob *public_ca_blob(const struct public_set *set, const char *rest)
{
    char name[8];
    enum ca_kind ca;
    if (strcmp(rest, "fingerprints") == 0)
        return &set->fingerprints;
    if (strcmp(rest, "sign.cer") == 0 || strcmp(rest, "auth.cer") == 0) {
        ca = rest[0] == 's' ? CA_SIGN : CA_AUTH;
        return &set->root[ca][set->count[ca] - 1];
    }
    const char *slash = strchr(rest, '/');
    if (slash == NULL || (size_t)(slash - rest) >= sizeof(name))
        return NULL;
    memcpy(name, rest, (size_t)(slash - rest));
    name[slash - rest] = '\0';
    if (ca_kind_parse(name, &ca) == -1)
        return NULL;
    const char *p = slash + 1;
    if (strncmp(p, "links/", 6) != 0) { /* {ca}/{n}.cer */
        int n = gen_number(&p, '.');
        if (n < 0 || n > set->count[ca] || strcmp(p, "cer") != 0)
            return NULL;
        return &set->root[ca][n - 1];
    }
    p += 6; /* {ca}/links/{from}-{to}.cer: a `from` trust anchor reaches `to` */
    int from = gen_number(&p, '-'), to = from < 0 ? -1 : gen_number(&p, '.');
    if (to < 0 || strcmp(p, "cer") != 0 || from > set->count[ca] || to > set->count[ca])
        return NULL;
    if (to == from + 1)
        return &set->link_from_prev[ca][to - 1];
    if (from == to + 1)
        return &set->link_to_prev[ca][from - 1];
    return NULL;
}

/* /ca/…: the roots of every generation, the links between them, the fingerprints. */
static void ca_handler(const struct server_request *sr, void *arg)
{
    struct public *pub = arg;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const struct public_blob *b = public_ca_blob(atomic_load(&pub->set), sr->path + strlen("/ca/"));
    if (b == NULL) {
        http_send_error(sr->req, 404, "not_found", NULL, "no such CA certificate");
        metrics_http(METRICS_EP_CA, 404, jclock_seconds_since(&t0));
        return;
    }
    int status = blob_answer(sr->req, b);
    metrics_http(b->metrics_ep, status, jclock_seconds_since(&t0));
}

static void healthz_handler(const struct server_request *sr, void *arg)
{
    (void)arg;
    evhttp_add_header(evhttp_request_get_output_headers(sr->req), "Cache-Control", "no-store");
    http_send_json_text(sr->req, 200, "{\"status\":\"ok\"}");
    metrics_http(METRICS_EP_HEALTHZ, 200, 0);
}

/* ---- CRLs ---- */

int public_crl_parse(const char *rest, const int partitions[CA_KIND_COUNT], enum ca_kind *ca,
                     int *partition)
{
    char name[8];
    if (strcmp(rest, "sign.crl") == 0 || strcmp(rest, "auth.crl") == 0) {
        *ca = rest[0] == 's' ? CA_SIGN : CA_AUTH;
        *partition = -1;
        return 0;
    }
    if (strcmp(rest, "sign-delta.crl") == 0 || strcmp(rest, "auth-delta.crl") == 0) {
        *ca = rest[0] == 's' ? CA_SIGN : CA_AUTH;
        *partition = CRL_DELTA;
        return 0;
    }
    const char *slash = strchr(rest, '/');
    if (slash == NULL || (size_t)(slash - rest) >= sizeof(name))
        return -1;
    memcpy(name, rest, (size_t)(slash - rest));
    name[slash - rest] = '\0';
    if (ca_kind_parse(name, ca) == -1)
        return -1;
    const char *num = slash + 1;
    if (num[0] == 'g') { /* {ca}/g{n}.crl: the complete CRL of generation n (DESIGN §11) */
        const char *p = num + 1;
        int g = gen_number(&p, '.');
        if (g < 0 || strcmp(p, "crl") != 0)
            return -1;
        *partition = STORE_CRL_GENERATION(g);
        return 0;
    }
    size_t digits = strspn(num, "0123456789");
    /* Canonical decimal only: one name per file (no "007", no "+7"). */
    if (digits == 0 || digits > 4 || (digits > 1 && num[0] == '0') ||
        strcmp(num + digits, ".crl") != 0)
        return -1;
    int n = atoi(num);
    if (partitions[*ca] <= 1 || n >= partitions[*ca])
        return -1;
    *partition = n;
    return 0;
}

static size_t crl_slot(const struct public *pub, enum ca_kind ca, int partition)
{
    if (partition == CRL_DELTA)
        return CA_KIND_COUNT + (size_t)ca;
    if (partition < -1 && partition >= -PKI_GENERATIONS_MAX)
        return pub->generation_base + (size_t)ca * PKI_GENERATIONS_MAX + (size_t)(-partition - 1);
    if (partition < 0)
        return (size_t)ca;
    return pub->partition_base[ca] + (size_t)partition;
}

/* Answers with a CRL snapshot; returns the status sent. */
long public_file_max_age(const struct jpki_config *cfg, bool crl, time_t expires, time_t now)
{
    if (crl)
        return crlsched_max_age(0, expires, cfg->http_crl_max_age_s, now);
    if (expires != 0 && http_max_age(expires, now) < PUBLIC_ROOT_MAX_AGE_S)
        return http_max_age(expires, now);
    return PUBLIC_ROOT_MAX_AGE_S;
}

static int crl_answer(struct public *pub, struct evhttp_request *req,
                      const struct crlcache_snapshot *snap, bool delta)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    const char *etag = crlcache_etag(snap);
    time_t last_modified = crlcache_this_update(snap);
    struct jerr err = {0};
    char length[32];

    if (last_modified == 0)
        last_modified = crlcache_mtime(snap);
    /* A cache must not keep it past the next publication (a revocation since would stay
     * hidden), nor past nextUpdate (RFC 5280 §5.1.2.5), nor longer than http.crl_max_age_s
     * (the next publication may come sooner than planned: a status change). On an error of
     * ours it may serve it on while it is valid (RFC 5861 §4). */
    time_t now = jclock_now(), next_update = crlcache_next_update(snap);
    time_t next_publication =
        (time_t)atomic_load(delta ? &pub->next_delta : &pub->next_publication);
    long max_age = crlsched_max_age(next_publication, next_update,
                                    pki_config(pub->pki)->http_crl_max_age_s, now);
    if (http_answer_if_not_modified(req, etag, last_modified, max_age,
                                    http_stale_if_error(next_update, now, max_age)))
        return 304;
    evhttp_add_header(out, "Content-Type", "application/pkix-crl"); /* RFC 2585 §4.2 */
    snprintf(length, sizeof(length), "%zu", crlcache_size(snap));
    evhttp_add_header(out, "Content-Length", length);
    if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD &&
        crlcache_add_body(snap, evhttp_request_get_output_buffer(req), &err) == -1) {
        evhttp_clear_headers(out);
        http_send_jerr(req, &err);
        return http_status_for(err.code);
    }
    evhttp_send_reply(req, 200, http_reason(200), NULL);
    return 200;
}

/* A check of one CRL file on a worker: with a request waiting (first load on this loop, or the
 * publisher said the files changed), or in the background (the once-a-second re-check). */
struct crl_check {
    struct public *pub;
    int loop_index;
    size_t slot;
    enum ca_kind ca;
    int partition;
    unsigned generation;
    struct evhttp_request *req; /* NULL for a background check */
    struct crlcache_snapshot *snap;
    struct jerr err;
    struct rpgate_who who; /* the relying party asking (who.pk 0: nobody) */
};

static void crl_check_job(struct worker *self, void *arg)
{
    struct crl_check *c = arg;
    char path[PATH_MAX];
    (void)self;
    if (crl_path(pki_config(c->pub->pki), c->ca, c->partition, path, sizeof(path)) == NULL) {
        jerr_set(&c->err, JERR_CONFIG, "data_dir", "CRL path too long");
        return;
    }
    c->snap = crlcache_get(c->pub->cache, c->slot, path, &c->err);
}

static void crl_check_done(void *arg)
{
    struct crl_check *c = arg;
    struct loop_crl *lc = &c->pub->loops[c->loop_index][c->slot];

    if (c->req == NULL)
        lc->refreshing = false;
    if (c->snap != NULL) {
        crlcache_snapshot_unref(lc->snap);
        lc->snap = c->snap; /* our reference moves to the loop */
        lc->checked_s = jclock_mono_s();
        if ((int)(c->generation - lc->generation) > 0)
            lc->generation = c->generation;
    } else if (c->err.code == JERR_NOT_FOUND) {
        crlcache_snapshot_unref(lc->snap); /* withdrawn: answer 404 from now on */
        lc->snap = NULL;
    } else {
        log_error("CRL %s partition %d: %s", ca_kind_name(c->ca), c->partition, c->err.msg);
    }
    if (c->req != NULL) {
        int status;
        if (lc->snap != NULL) {
            status = crl_answer(c->pub, c->req, lc->snap, c->partition == CRL_DELTA);
            if (status == 200)
                rpmeter_record(c->pub->meter, c->loop_index, &c->who, (int)c->ca, RP_WHAT_CRL, NULL,
                               RPMETER_CRL);
        } else if (c->err.code == JERR_NOT_FOUND) {
            http_send_error(c->req, 404, "not_found", NULL, "CRL not published yet");
            status = 404;
        } else {
            http_send_jerr(c->req, &c->err);
            status = http_status_for(c->err.code);
        }
        metrics_http(METRICS_EP_CRL, status, 0);
    }
    free(c);
}

static void crl_handler(const struct server_request *sr, void *arg)
{
    struct public *pub = arg;
    enum ca_kind ca;
    int partition;
    struct jerr err = {0};

    /* access.crl (access.h): only registered relying parties, when so set. */
    enum access_mode mode = pki_config(pub->pki)->access_crl;
    struct rpgate_who who;
    if (!access_admit(mode, pub->gate, sr, &who)) {
        http_send_error(sr->req, 403, "forbidden", NULL,
                        "CRLs are served to registered relying parties (HTTPS, with their client "
                        "certificate or bearer token)");
        metrics_http(METRICS_EP_CRL, 403, 0);
        return;
    }
    if (public_crl_parse(sr->path + strlen("/crl/"), pub->partitions, &ca, &partition) == -1 ||
        (partition == CRL_DELTA && pki_config(pub->pki)->crl_delta_period_s == 0) ||
        (partition < -1 && partition != CRL_DELTA && -partition > pki_gen_count(pub->pki, ca))) {
        http_send_error(sr->req, 404, "not_found", NULL, "no such CRL");
        return;
    }
    /* DESIGN §12: a party fetches only the CRLs of the CA its kind allows. */
    if (!access_admit_ca(mode, ca, &who)) {
        http_send_error(sr->req, 403, "forbidden", NULL,
                        "a relying party of this kind may not fetch this CA's CRLs");
        metrics_http(METRICS_EP_CRL, 403, 0);
        return;
    }
    int loop_index = server_loop_index(sr->loop);
    size_t slot = crl_slot(pub, ca, partition);
    struct loop_crl *lc = &pub->loops[loop_index][slot];
    unsigned generation = atomic_load(&pub->generation);
    bool published_since = lc->generation != generation;

    if (lc->snap != NULL && !published_since) {
        if (!lc->refreshing && jclock_mono_s() - lc->checked_s >= PUBLIC_CRL_RECHECK_S) {
            /* Serve what we have; a worker checks the file for the next requests. */
            struct crl_check *bg = calloc(1, sizeof(*bg));
            if (bg != NULL) {
                *bg = (struct crl_check){.pub = pub,
                                         .loop_index = loop_index,
                                         .slot = slot,
                                         .ca = ca,
                                         .partition = partition,
                                         .generation = generation};
                if (server_loop_submit(sr->loop, crl_check_job, crl_check_done, bg, &err) == 0)
                    lc->refreshing = true;
                else
                    free(bg);
            }
        }
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int status = crl_answer(pub, sr->req, lc->snap, partition == CRL_DELTA);
        if (status == 200)
            rpmeter_record(pub->meter, loop_index, &who, (int)ca, RP_WHAT_CRL, NULL, RPMETER_CRL);
        metrics_http(METRICS_EP_CRL, status, jclock_seconds_since(&t0));
        return;
    }
    /* Nothing loaded on this loop yet, or new files published: the answer waits for a worker. */
    struct crl_check *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        jerr_set(&err, JERR_UNAVAILABLE, NULL, "out of memory");
        http_send_jerr(sr->req, &err);
        return;
    }
    *c = (struct crl_check){pub, loop_index, slot, ca, partition, generation, sr->req, NULL, {0},
                            who};
    if (server_submit(sr, crl_check_job, crl_check_done, c, &err) == -1) {
        free(c);
        http_send_jerr(sr->req, &err);
    }
}

void public_set_relying_parties(struct public *pub, struct rpgate *gate, struct rpmeter *meter)
{
    pub->gate = gate;
    pub->meter = meter;
}

/* ---- routes ---- */

int public_register(struct public *pub, struct server *srv, struct jerr *err)
{
    const unsigned get = EVHTTP_REQ_GET | EVHTTP_REQ_HEAD;
    const struct server_route routes[] = {
        {"/healthz", false, get, 0, healthz_handler, pub, SERVER_EVERYWHERE},
        {"/ca/", true, get, 0, ca_handler, pub, SERVER_PUBLIC},
        {"/crl/", true, get, 0, crl_handler, pub, SERVER_PUBLIC},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (server_add_route(srv, &routes[i], err) == -1)
            return -1;
    return 0;
}
