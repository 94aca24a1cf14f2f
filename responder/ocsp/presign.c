/*
 * presign: see presign.h. A shard is one mutex and one power-of-two slot array at most half
 * full; a slot holds the key's hash (so a probe compares keys only on a hash match), the blob
 * pointer and the CLOCK bit. Blobs are freed by their last reference, never under a shard
 * lock: replaced and evicted blobs are dropped after the lock is released.
 */
#include "responder/ocsp/presign.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* Shards of a large cache; a small one (fewer than PRESIGN_MIN_PER_SHARD entries per shard)
 * has fewer, so that its bound and its eviction order stay meaningful. */
#define PRESIGN_MAX_SHARDS 64
#define PRESIGN_MIN_PER_SHARD 64

struct presign_blob {
    atomic_int refs;
    bool has_key;
    struct presign_key key;
    time_t this_update, next_update;
    int cert_status;
    char etag[HTTP_ETAG_MAX];
    char last_modified[HTTP_DATE_MAX];
    char expires[HTTP_DATE_MAX];
    size_t len;
    unsigned char der[];
};

struct presign_slot {
    uint64_t hash;
    struct presign_blob *blob; /* NULL: empty */
    bool recent;               /* CLOCK: used since the hand last passed */
};

struct presign_shard {
    /* Own cache line: loops and workers lock different shards without false sharing. */
    alignas(64) pthread_mutex_t lock;
    struct presign_slot *slots;
    size_t mask;  /* slots - 1 */
    size_t count; /* entries */
    size_t cap;   /* entries allowed */
    size_t hand;  /* CLOCK hand */
};

struct presign {
    struct presign_shard *shards;
    size_t shard_count; /* a power of two */
    size_t capacity;
};

/* ---- blobs ---- */

struct presign_blob *presign_blob_new(const struct presign_key *key, const unsigned char *der,
                                      size_t len, time_t this_update, time_t next_update,
                                      int cert_status, struct jerr *err)
{
    unsigned char digest[32];
    struct presign_blob *b = NULL;

    if (der == NULL || len == 0) {
        jerr_set(err, JERR_INTERNAL, "der", "empty OCSP response");
        return NULL;
    }
    b = malloc(sizeof(*b) + len);
    if (b == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    memset(b, 0, sizeof(*b));
    if (EVP_Digest(der, len, digest, NULL, EVP_sha256(), NULL) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "SHA-256 of the response");
        free(b);
        return NULL;
    }
    atomic_init(&b->refs, 1);
    if (key != NULL) {
        b->has_key = true;
        b->key = *key;
    }
    b->this_update = this_update;
    b->next_update = next_update;
    b->cert_status = cert_status;
    http_etag_sha256(digest, b->etag);
    http_date_format(this_update, b->last_modified, sizeof(b->last_modified));
    http_date_format(next_update, b->expires, sizeof(b->expires));
    b->len = len;
    memcpy(b->der, der, len);
    return b;
}

void presign_blob_ref(struct presign_blob *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void presign_blob_unref(struct presign_blob *b)
{
    if (b == NULL)
        return;
    /* acq_rel: every use of the blob by other holders happens before the free. */
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
        free(b);
}

const unsigned char *presign_blob_der(const struct presign_blob *b, size_t *len)
{
    *len = b->len;
    return b->der;
}

const struct presign_key *presign_blob_key(const struct presign_blob *b)
{
    return b->has_key ? &b->key : NULL;
}

time_t presign_blob_this_update(const struct presign_blob *b)
{
    return b->this_update;
}

time_t presign_blob_next_update(const struct presign_blob *b)
{
    return b->next_update;
}

int presign_blob_cert_status(const struct presign_blob *b)
{
    return b->cert_status;
}

const char *presign_blob_etag(const struct presign_blob *b)
{
    return b->etag;
}

const char *presign_blob_last_modified(const struct presign_blob *b)
{
    return b->last_modified;
}

const char *presign_blob_expires(const struct presign_blob *b)
{
    return b->expires;
}

int presign_blob_refs(const struct presign_blob *b)
{
    return atomic_load_explicit(&((struct presign_blob *)b)->refs, memory_order_relaxed);
}

/* ---- keys ---- */

uint32_t presign_issuer_tag(const unsigned char *key_hash)
{
    return (uint32_t)key_hash[0] << 24 | (uint32_t)key_hash[1] << 16 |
           (uint32_t)key_hash[2] << 8 | key_hash[3];
}

uint64_t presign_key_hash(const struct presign_key *key)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a 64 offset basis */
    h = (h ^ (uint64_t)(key->ca & 0xff)) * 0x100000001b3ULL;
    h = (h ^ (uint64_t)(key->certid_hash & 0xff)) * 0x100000001b3ULL;
    h = (h ^ (uint64_t)key->issuer_tag) * 0x100000001b3ULL;
    for (const char *p = key->serial; *p != '\0'; p++)
        h = (h ^ (uint64_t)(unsigned char)*p) * 0x100000001b3ULL;
    /* Shards take the high bits, slots the low ones: mix so both are spread. */
    h ^= h >> 29;
    return h;
}

bool presign_key_equal(const struct presign_key *a, const struct presign_key *b)
{
    return a->ca == b->ca && a->issuer_tag == b->issuer_tag && a->certid_hash == b->certid_hash &&
           strcmp(a->serial, b->serial) == 0;
}

/* ---- table ---- */

static size_t pow2_at_least(size_t n)
{
    size_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

struct presign *presign_new(size_t max_entries, struct jerr *err)
{
    struct presign *c = NULL;

    if (max_entries == 0 || max_entries > SIZE_MAX / 8) {
        jerr_set(err, JERR_INVALID, "max_entries", "cache size %zu out of range", max_entries);
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto oom;
    c->shard_count = 1;
    while (c->shard_count < PRESIGN_MAX_SHARDS &&
           max_entries / (c->shard_count * 2) >= PRESIGN_MIN_PER_SHARD)
        c->shard_count *= 2;
    c->shards =
        aligned_alloc(alignof(struct presign_shard), c->shard_count * sizeof(struct presign_shard));
    if (c->shards == NULL)
        goto oom;
    memset(c->shards, 0, c->shard_count * sizeof(struct presign_shard));
    for (size_t i = 0; i < c->shard_count; i++) {
        struct presign_shard *s = &c->shards[i];
        /* The remainder goes to the first shards, so that the total is exactly the bound. */
        s->cap = max_entries / c->shard_count + (i < max_entries % c->shard_count ? 1 : 0);
        size_t slots = pow2_at_least(s->cap * 2 < 4 ? 4 : s->cap * 2);
        s->slots = calloc(slots, sizeof(*s->slots));
        s->mask = slots - 1;
        if (s->slots == NULL || pthread_mutex_init(&s->lock, NULL) != 0) {
            free(s->slots);
            s->slots = NULL;
            c->shard_count = i; /* what presign_free must undo */
            goto oom;
        }
    }
    c->capacity = max_entries;
    return c;
oom:
    jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    presign_free(c);
    return NULL;
}

void presign_free(struct presign *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; c->shards != NULL && i < c->shard_count; i++) {
        struct presign_shard *s = &c->shards[i];
        for (size_t j = 0; j <= s->mask; j++)
            presign_blob_unref(s->slots[j].blob);
        free(s->slots);
        pthread_mutex_destroy(&s->lock);
    }
    free(c->shards);
    free(c);
}

static struct presign_shard *shard_of(struct presign *c, uint64_t hash)
{
    return &c->shards[(hash >> 40) & (c->shard_count - 1)];
}

/* Index of the slot holding `key`, or of the empty slot ending its probe (then *found false). */
static size_t probe(const struct presign_shard *s, uint64_t hash, const struct presign_key *key,
                    bool *found)
{
    size_t i = hash & s->mask;
    for (;;) {
        const struct presign_slot *slot = &s->slots[i];
        if (slot->blob == NULL) {
            *found = false;
            return i;
        }
        if (slot->hash == hash && presign_key_equal(&slot->blob->key, key)) {
            *found = true;
            return i;
        }
        i = (i + 1) & s->mask;
    }
}

/* Empties slot i and shifts back the entries of its probe run that may move (backward-shift
 * deletion: no tombstones, so probes stay short). Returns the blob that was there. */
static struct presign_blob *slot_delete(struct presign_shard *s, size_t i)
{
    struct presign_blob *gone = s->slots[i].blob;
    size_t j = i;
    memset(&s->slots[i], 0, sizeof(s->slots[i]));
    for (;;) {
        j = (j + 1) & s->mask;
        if (s->slots[j].blob == NULL)
            break;
        size_t home = s->slots[j].hash & s->mask;
        /* The entry at j may fill the hole at i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays)
            continue;
        s->slots[i] = s->slots[j];
        memset(&s->slots[j], 0, sizeof(s->slots[j]));
        i = j;
    }
    s->count--;
    return gone;
}

/* CLOCK: the first entry after the hand not used since the hand last passed it. */
static struct presign_blob *evict_one(struct presign_shard *s)
{
    for (;;) {
        size_t i = s->hand;
        s->hand = (s->hand + 1) & s->mask;
        struct presign_slot *slot = &s->slots[i];
        if (slot->blob == NULL)
            continue;
        if (slot->recent) {
            slot->recent = false;
            continue;
        }
        return slot_delete(s, i);
    }
}

/* Locks the shard of `key` and finds its slot as probe does; the caller unlocks s->lock. */
static struct presign_shard *lock_slot(struct presign *c, const struct presign_key *key,
                                       uint64_t *hash, size_t *i, bool *found)
{
    *hash = presign_key_hash(key);
    struct presign_shard *s = shard_of(c, *hash);
    pthread_mutex_lock(&s->lock);
    *i = probe(s, *hash, key, found);
    return s;
}

struct presign_blob *presign_get(struct presign *c, const struct presign_key *key)
{
    struct presign_blob *b = NULL;
    uint64_t hash;
    size_t i;
    bool found;

    struct presign_shard *s = lock_slot(c, key, &hash, &i, &found);
    if (found) {
        b = s->slots[i].blob;
        s->slots[i].recent = true;
        presign_blob_ref(b);
    }
    pthread_mutex_unlock(&s->lock);
    return b;
}

bool presign_put(struct presign *c, struct presign_blob *b, bool may_evict)
{
    struct presign_blob *dropped = NULL;
    bool stored = false;
    uint64_t hash;
    size_t i;
    bool found;

    if (!b->has_key)
        return false;
    struct presign_shard *s = lock_slot(c, &b->key, &hash, &i, &found);
    if (found) {
        dropped = s->slots[i].blob;
    } else if (s->count >= s->cap) {
        if (!may_evict)
            goto out;
        dropped = evict_one(s);
        i = probe(s, hash, &b->key, &found); /* the deletion may have moved the empty slot */
    }
    if (!found)
        s->count++;
    presign_blob_ref(b);
    s->slots[i] = (struct presign_slot){hash, b, true};
    stored = true;
out:
    pthread_mutex_unlock(&s->lock);
    presign_blob_unref(dropped);
    return stored;
}

void presign_remove(struct presign *c, const struct presign_key *key)
{
    struct presign_blob *gone = NULL;
    uint64_t hash;
    size_t i;
    bool found;

    struct presign_shard *s = lock_slot(c, key, &hash, &i, &found);
    if (found)
        gone = slot_delete(s, i);
    pthread_mutex_unlock(&s->lock);
    presign_blob_unref(gone);
}

void presign_clear(struct presign *c)
{
    for (size_t i = 0; i < c->shard_count; i++) {
        struct presign_shard *s = &c->shards[i];
        size_t slots = s->mask + 1, n = 0;
        /* The blobs are dropped after the lock is released (never freed under it). */
        struct presign_blob **gone = malloc(slots * sizeof(*gone));
        pthread_mutex_lock(&s->lock);
        for (size_t j = 0; j < slots; j++) {
            if (s->slots[j].blob == NULL)
                continue;
            if (gone != NULL)
                gone[n++] = s->slots[j].blob;
            else
                presign_blob_unref(s->slots[j].blob); /* out of memory: under the lock after all */
            s->slots[j] = (struct presign_slot){0};
        }
        s->count = 0;
        pthread_mutex_unlock(&s->lock);
        for (size_t j = 0; j < n; j++)
            presign_blob_unref(gone[j]);
        free(gone);
    }
}

size_t presign_count(struct presign *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->shard_count; i++) {
        pthread_mutex_lock(&c->shards[i].lock);
        n += c->shards[i].count;
        pthread_mutex_unlock(&c->shards[i].lock);
    }
    return n;
}

size_t presign_capacity(const struct presign *c)
{
    return c->capacity;
}
