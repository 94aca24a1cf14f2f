/*
 * rpgate: see rpgate.h. The view is two sorted arrays (token digests, certificate serials) over
 * one array of parties, searched with bsearch; it is rebuilt whole on every change (parties
 * change rarely, requests all the time).
 */
#include "responder/rp/rpgate.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <openssl/bn.h>

#include "ca/rp.h"
#include "ca/rpca.h"
#include "responder/api/auth.h"

/* A certificate serial as the view keys it: its DER content octets (at most 20). */
#define RPGATE_SERIAL_MAX 21

struct key_entry {
    unsigned char
        key[AUTH_SHA256_BYTES > RPGATE_SERIAL_MAX ? AUTH_SHA256_BYTES : RPGATE_SERIAL_MAX];
    size_t len;
    size_t party; /* index into parties */
};

struct view {
    atomic_int refs;
    struct rpgate_who *parties;
    size_t count, cap;
    struct key_entry *tokens, *serials;
    size_t token_count, serial_count;
};

struct loop_view {
    struct view *view;
    unsigned generation;
};

struct rpgate {
    X509 *rpca_cert;      /* borrowed */
    bool (*fresh)(void *arg);
    void *fresh_arg;
    pthread_mutex_t lock; /* current (swap and take a reference) */
    struct view *current;
    atomic_uint generation;
    int loops;
    struct loop_view *per_loop;
};

static void view_unref(struct view *v)
{
    if (v == NULL || atomic_fetch_sub(&v->refs, 1) != 1)
        return;
    free(v->parties);
    free(v->tokens);
    free(v->serials);
    free(v);
}

static int key_cmp(const void *a, const void *b)
{
    const struct key_entry *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->key, y->key, x->len);
}

/* The serial of `cert` as a key; false when it does not fit. */
static bool serial_key(const ASN1_INTEGER *serial, struct key_entry *out)
{
    int len = ASN1_STRING_length(serial);
    if (len <= 0 || len > RPGATE_SERIAL_MAX)
        return false;
    memcpy(out->key, ASN1_STRING_get0_data(serial), (size_t)len);
    out->len = (size_t)len;
    return true;
}

static int add_party(void *arg, const struct rp_rec *rp)
{
    struct view *v = arg;
    if (rp->state == RP_STATE_DELETED)
        return 0;
    if (v->count == v->cap) {
        size_t cap = v->cap == 0 ? 16 : 2 * v->cap;
        struct rpgate_who *p = realloc(v->parties, cap * sizeof(*p));
        struct key_entry *t = realloc(v->tokens, cap * sizeof(*t));
        if (t != NULL)
            v->tokens = t;
        struct key_entry *s = realloc(v->serials, cap * sizeof(*s));
        if (s != NULL)
            v->serials = s;
        if (p != NULL)
            v->parties = p;
        if (p == NULL || t == NULL || s == NULL)
            return -1;
        v->cap = cap;
    }
    size_t i = v->count++;
    struct rpgate_who *who = &v->parties[i];
    memset(who, 0, sizeof(*who));
    who->pk = rp->pk;
    who->kind = rp->kind;
    who->suspended = rp->state == RP_STATE_SUSPENDED;
    snprintf(who->id, sizeof(who->id), "%s", rp->id);
    struct key_entry *t = &v->tokens[v->token_count];
    if (auth_hex_decode(rp->token_sha256, t->key) == 0) {
        t->len = AUTH_SHA256_BYTES;
        t->party = i;
        v->token_count++;
    }
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial = NULL;
    struct key_entry *s = &v->serials[v->serial_count];
    if (rp->cert_serial[0] != '\0' && BN_hex2bn(&bn, rp->cert_serial) > 0 &&
        (serial = BN_to_ASN1_INTEGER(bn, NULL)) != NULL && serial_key(serial, s)) {
        s->party = i;
        v->serial_count++;
    }
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return 0;
}

static int registry_source(void *src, store_rp_cb cb, void *ctx, struct jerr *err)
{
    return store_rp_foreach(src, cb, ctx, err);
}

static struct view *view_load(rpgate_source_fn *source, void *src, struct jerr *err)
{
    struct view *v = calloc(1, sizeof(*v));
    if (v == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    atomic_init(&v->refs, 1);
    if (source(src, add_party, v, err) == -1) {
        view_unref(v);
        return NULL;
    }
    if (v->token_count > 1) /* qsort takes no NULL, even for no element */
        qsort(v->tokens, v->token_count, sizeof(*v->tokens), key_cmp);
    if (v->serial_count > 1)
        qsort(v->serials, v->serial_count, sizeof(*v->serials), key_cmp);
    return v;
}

struct rpgate *rpgate_new_from(X509 *rpca_cert, rpgate_source_fn *source, void *src,
                               struct jerr *err)
{
    struct rpgate *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    g->rpca_cert = rpca_cert;
    pthread_mutex_init(&g->lock, NULL);
    atomic_init(&g->generation, 1);
    if ((g->current = view_load(source, src, err)) == NULL) {
        rpgate_free(g);
        return NULL;
    }
    return g;
}

struct rpgate *rpgate_new(struct pki *pki, struct store *st, struct jerr *err)
{
    struct rpca *ca = pki_get0_rpca(pki);
    return rpgate_new_from(ca != NULL ? rpca_get0_cert(ca) : NULL, registry_source, st, err);
}

void rpgate_set_freshness(struct rpgate *g, bool (*fresh)(void *arg), void *arg)
{
    g->fresh = fresh;
    g->fresh_arg = arg;
}

int rpgate_set_loops(struct rpgate *g, int loops, struct jerr *err)
{
    struct loop_view *per_loop = loops > 0 ? calloc((size_t)loops, sizeof(*per_loop)) : NULL;
    if (per_loop == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    for (int i = 0; g->per_loop != NULL && i < g->loops; i++)
        view_unref(g->per_loop[i].view);
    free(g->per_loop);
    g->per_loop = per_loop;
    g->loops = loops;
    return 0;
}

void rpgate_free(struct rpgate *g)
{
    if (g == NULL)
        return;
    for (int i = 0; g->per_loop != NULL && i < g->loops; i++)
        view_unref(g->per_loop[i].view);
    view_unref(g->current);
    free(g->per_loop);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

int rpgate_reload(struct rpgate *g, struct store *st, struct jerr *err)
{
    return rpgate_reload_from(g, registry_source, st, err);
}

int rpgate_reload_from(struct rpgate *g, rpgate_source_fn *source, void *src, struct jerr *err)
{
    struct view *v = view_load(source, src, err);
    if (v == NULL)
        return -1;
    pthread_mutex_lock(&g->lock);
    struct view *old = g->current;
    g->current = v;
    atomic_fetch_add(&g->generation, 1);
    pthread_mutex_unlock(&g->lock);
    view_unref(old);
    return 0;
}

/* A new reference to the current view. */
static struct view *view_get(struct rpgate *g, unsigned *generation)
{
    pthread_mutex_lock(&g->lock);
    struct view *v = g->current;
    atomic_fetch_add(&v->refs, 1);
    if (generation != NULL)
        *generation = atomic_load(&g->generation);
    pthread_mutex_unlock(&g->lock);
    return v;
}

/* The loop's view, moved to the current one when the generation changed. */
static const struct view *loop_view(struct rpgate *g, int loop)
{
    struct loop_view *lv = &g->per_loop[loop];
    if (lv->view == NULL ||
        lv->generation != atomic_load_explicit(&g->generation, memory_order_acquire)) {
        view_unref(lv->view);
        lv->view = view_get(g, &lv->generation);
    }
    return lv->view;
}

static const struct key_entry *find(const struct key_entry *keys, size_t count,
                                    const struct key_entry *probe)
{
    return count == 0 ? NULL : bsearch(probe, keys, count, sizeof(*keys), key_cmp);
}

static enum rpgate_verdict found(const struct rpgate *g, const struct view *v,
                                 const struct key_entry *e, struct rpgate_who *who, bool by_cert)
{
    if (g->fresh != NULL && !g->fresh(g->fresh_arg))
        return RPGATE_STALE; /* whoever it names may have been suspended meanwhile */
    if (e == NULL)
        return RPGATE_UNKNOWN;
    *who = v->parties[e->party];
    who->by_cert = by_cert;
    return who->suspended ? RPGATE_SUSPENDED : RPGATE_PARTY;
}

enum rpgate_verdict rpgate_identify(struct rpgate *g, const struct server_request *sr,
                                    struct rpgate_who *who)
{
    struct key_entry probe;
    memset(who, 0, sizeof(*who));
    if (!sr->tls)
        return RPGATE_NO_CREDENTIAL;
    int loop = server_loop_index(sr->loop);
    if (g->per_loop == NULL || loop < 0 || loop >= g->loops)
        return RPGATE_NO_CREDENTIAL;
    X509 *cert = server_request_relying_party_cert(sr);
    if (cert != NULL) {
        const struct view *v = loop_view(g, loop);
        if (!serial_key(X509_get0_serialNumber(cert), &probe))
            return RPGATE_UNKNOWN;
        return found(g, v, find(v->serials, v->serial_count, &probe), who, true);
    }
    const char *header =
        evhttp_find_header(evhttp_request_get_input_headers(sr->req), "Authorization");
    if (header == NULL)
        return RPGATE_NO_CREDENTIAL;
    char token[AUTH_TOKEN_MAX + 1];
    struct jerr err = {0};
    if (auth_bearer_parse(header, token, sizeof(token), &err) == -1)
        return RPGATE_BAD_CREDENTIAL;
    auth_token_sha256(token, probe.key);
    OPENSSL_cleanse(token, sizeof(token));
    probe.len = AUTH_SHA256_BYTES;
    const struct view *v = loop_view(g, loop);
    return found(g, v, find(v->tokens, v->token_count, &probe), who, false);
}

bool rpgate_cert_is_refused(X509 *cert, void *gate)
{
    struct rpgate *g = gate;
    struct key_entry probe;
    if (g->rpca_cert == NULL || X509_check_issued(g->rpca_cert, cert) != X509_V_OK)
        return false; /* not ours to judge (an operator's certificate, say) */
    if (!serial_key(X509_get0_serialNumber(cert), &probe))
        return true;
    struct view *v = view_get(g, NULL);
    bool refused = find(v->serials, v->serial_count, &probe) == NULL;
    view_unref(v);
    return refused;
}

size_t rpgate_party_count(struct rpgate *g)
{
    struct view *v = view_get(g, NULL);
    size_t n = v->count;
    view_unref(v);
    return n;
}
