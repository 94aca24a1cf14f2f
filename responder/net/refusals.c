/*
 * refusals: see refusals.h. An open-addressing table (linear probing) of (address, minute)
 * keys, filled to at most half its slots by addresses so that probes stay short and the
 * REFUSALS_OTHER tallies always find room. Taking tallies out rebuilds the table from what
 * remains (deleting from a probed table would break the probe chains); that happens a few
 * times a minute at most, never on a counted call.
 */
#include "responder/net/refusals.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    bool used;
    struct refusal_tally t;
};

struct refusals {
    pthread_mutex_t lock;
    size_t mask;
    size_t addresses; /* slots used by real addresses (not REFUSALS_OTHER) */
    size_t used;      /* slots used */
    struct slot *slots;
    struct slot *scratch;   /* for the rebuild in refusals_take */
    _Atomic int64_t oldest; /* the earliest minute held, INT64_MAX when empty */
};

struct refusals *refusals_new(size_t capacity, struct jerr *err)
{
    if (capacity == 0)
        capacity = REFUSALS_CAPACITY;
    if ((capacity & (capacity - 1)) != 0 || capacity < 4) {
        jerr_set(err, JERR_INVALID, "capacity", "a power of two, at least 4");
        return NULL;
    }
    struct refusals *r = calloc(1, sizeof(*r));
    if (r == NULL || (r->slots = calloc(capacity, sizeof(*r->slots))) == NULL ||
        (r->scratch = calloc(capacity, sizeof(*r->scratch))) == NULL) {
        if (r != NULL)
            free(r->slots);
        free(r);
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    if (pthread_mutex_init(&r->lock, NULL) != 0) {
        free(r->scratch);
        free(r->slots);
        free(r);
        jerr_set(err, JERR_INTERNAL, NULL, "pthread_mutex_init failed");
        return NULL;
    }
    r->mask = capacity - 1;
    atomic_init(&r->oldest, INT64_MAX);
    return r;
}

void refusals_free(struct refusals *r)
{
    if (r == NULL)
        return;
    pthread_mutex_destroy(&r->lock);
    free(r->scratch);
    free(r->slots);
    free(r);
}

/* FNV-1a over the address and the minute. Not keyed: the table's size is bounded whatever
 * the keys, so colliding addresses can only make their own probes longer. */
static size_t key_hash(const char *addr, int64_t minute)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)addr; *p != '\0'; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    for (int i = 0; i < 8; i++)
        h = (h ^ (unsigned char)((uint64_t)minute >> (8 * i))) * 0x100000001b3ULL;
    return (size_t)h;
}

/* The slot of (addr, minute), or the free slot where it would go; NULL when the table has no
 * free slot left (never, while used < slots). Under the lock. */
static struct slot *find(struct refusals *r, const char *addr, int64_t minute)
{
    size_t i = key_hash(addr, minute) & r->mask;
    for (size_t n = 0; n <= r->mask; n++, i = (i + 1) & r->mask) {
        struct slot *s = &r->slots[i];
        if (!s->used || (s->t.minute == minute && strcmp(s->t.addr, addr) == 0))
            return s;
    }
    return NULL;
}

bool refusals_count(struct refusals *r, const char *addr, int64_t minute)
{
    bool first = false;

    pthread_mutex_lock(&r->lock);
    struct slot *s = find(r, addr, minute);
    if (s != NULL && !s->used && r->addresses >= (r->mask + 1) / 2) {
        s = find(r, REFUSALS_OTHER, minute); /* full: counted together */
        addr = REFUSALS_OTHER;
    }
    if (s != NULL && !s->used && r->used < r->mask) { /* keep one slot free for the probes */
        s->used = true;
        snprintf(s->t.addr, sizeof(s->t.addr), "%s", addr);
        s->t.minute = minute;
        s->t.count = 0;
        r->used++;
        if (strcmp(addr, REFUSALS_OTHER) != 0) {
            r->addresses++;
            first = true;
        }
        if (minute < atomic_load(&r->oldest))
            atomic_store(&r->oldest, minute);
    }
    if (s != NULL && s->used)
        s->t.count++;
    pthread_mutex_unlock(&r->lock);
    return first;
}

bool refusals_are_due(struct refusals *r, int64_t minute)
{
    return atomic_load(&r->oldest) < minute;
}

size_t refusals_take(struct refusals *r, int64_t minute, struct refusal_tally *out, size_t max)
{
    size_t n = 0, kept = 0;
    int64_t oldest = INT64_MAX;

    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i <= r->mask; i++) {
        struct slot *s = &r->slots[i];
        if (!s->used)
            continue;
        if (s->t.minute < minute && s->t.count <= 1 && strcmp(s->t.addr, REFUSALS_OTHER) != 0)
            continue; /* its one refusal has its own row */
        if (s->t.minute < minute && n < max) {
            out[n++] = s->t;
            continue;
        }
        r->scratch[kept++] = *s;
        if (s->t.minute < oldest)
            oldest = s->t.minute;
    }
    memset(r->slots, 0, (r->mask + 1) * sizeof(*r->slots));
    r->used = r->addresses = 0;
    for (size_t k = 0; k < kept; k++) {
        struct slot *s = find(r, r->scratch[k].t.addr, r->scratch[k].t.minute);
        *s = r->scratch[k];
        r->used++;
        if (strcmp(s->t.addr, REFUSALS_OTHER) != 0)
            r->addresses++;
    }
    atomic_store(&r->oldest, oldest);
    pthread_mutex_unlock(&r->lock);
    return n;
}
