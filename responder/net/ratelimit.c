/*
 * ratelimit: see ratelimit.h. A slot is two words: the client's key hash (0 = free) and its
 * theoretical arrival time in microseconds (0 = nothing owed). Both change only by atomic
 * operations; nothing here blocks.
 */
#include "responder/net/ratelimit.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>

#include <openssl/rand.h>

#define US_PER_MINUTE 60000000ULL
#define RATELIMIT_MAX_PER_MINUTE 1000000
/* Attempts at claiming a slot before the call is admitted uncounted (see ratelimit.h). */
#define RATELIMIT_CLAIM_TRIES 4

struct rl_slot {
    _Atomic uint64_t key; /* keyed hash of the client, 0 = free */
    _Atomic uint64_t tat; /* theoretical arrival time of the next call, microseconds */
};

struct ratelimit {
    uint64_t interval_us;  /* T: 60 s / per_minute */
    uint64_t tolerance_us; /* tau: T * (per_minute - 1), the burst beyond the pace */
    uint64_t seed[2];      /* secret key of the hash */
    size_t mask;
    struct rl_slot *slots;
};

struct ratelimit *ratelimit_new(int per_minute, size_t slots, struct jerr *err)
{
    if (per_minute < 1 || per_minute > RATELIMIT_MAX_PER_MINUTE) {
        jerr_set(err, JERR_INVALID, "per_minute", "a rate limit is 1..%d calls a minute",
                 RATELIMIT_MAX_PER_MINUTE);
        return NULL;
    }
    if (slots == 0)
        slots = RATELIMIT_SLOTS;
    if ((slots & (slots - 1)) != 0 || slots < RATELIMIT_PROBE) {
        jerr_set(err, JERR_INVALID, "slots", "slots must be a power of two, at least %d",
                 RATELIMIT_PROBE);
        return NULL;
    }
    struct ratelimit *rl = calloc(1, sizeof(*rl));
    if (rl == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    rl->slots = calloc(slots, sizeof(*rl->slots));
    if (rl->slots == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        free(rl);
        return NULL;
    }
    for (size_t i = 0; i < slots; i++) {
        atomic_init(&rl->slots[i].key, 0);
        atomic_init(&rl->slots[i].tat, 0);
    }
    if (RAND_bytes((unsigned char *)rl->seed, sizeof(rl->seed)) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "random hash key");
        ratelimit_free(rl);
        return NULL;
    }
    rl->mask = slots - 1;
    rl->interval_us = US_PER_MINUTE / (uint64_t)per_minute;
    rl->tolerance_us = rl->interval_us * (uint64_t)(per_minute - 1);
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (rl == NULL)
        return;
    free(rl->slots);
    free(rl);
}

uint64_t ratelimit_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

/* MurmurHash3's finaliser: every input bit affects every output bit. */
static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* A keyed hash of the key (never 0, which marks a free slot). Not a cryptographic MAC: the
 * secret seed only keeps outsiders from choosing keys that land on someone else's slot. */
static uint64_t key_hash(const struct ratelimit *rl, const unsigned char *key, size_t len)
{
    uint64_t h = rl->seed[0] ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(len + 1));
    for (size_t i = 0; i < len; i++) {
        h ^= key[i];
        h *= 0x100000001b3ULL; /* FNV-1a's prime */
        if ((i & 7) == 7)
            h = mix64(h ^ rl->seed[1]);
    }
    h = mix64(h ^ rl->seed[1]);
    return h != 0 ? h : 1;
}

/* GCRA on one slot: admit and advance its time, or say how long until the next admission. */
static bool charge(const struct ratelimit *rl, struct rl_slot *s, uint64_t now_us,
                   int *retry_after_s)
{
    uint64_t tat = atomic_load(&s->tat);
    for (;;) {
        uint64_t base = tat > now_us ? tat : now_us;
        if (base - now_us > rl->tolerance_us) {
            uint64_t wait_us = base - now_us - rl->tolerance_us;
            uint64_t secs = (wait_us + 999999ULL) / 1000000ULL;
            if (retry_after_s != NULL)
                *retry_after_s = secs < 1 ? 1 : (secs > 3600 ? 3600 : (int)secs);
            return false;
        }
        if (atomic_compare_exchange_weak(&s->tat, &tat, base + rl->interval_us))
            return true;
    }
}

bool ratelimit_admit(struct ratelimit *rl, const void *key, size_t key_len, uint64_t now_us,
                     int *retry_after_s)
{
    if (rl == NULL)
        return true;
    if (key_len > RATELIMIT_KEY_MAX)
        key_len = RATELIMIT_KEY_MAX;
    uint64_t h = key_hash(rl, key, key_len);
    size_t first = (size_t)h & rl->mask;

    for (int attempt = 0; attempt < RATELIMIT_CLAIM_TRIES; attempt++) {
        /* The client's own slot, if it has one in the window. */
        for (size_t i = 0; i < RATELIMIT_PROBE; i++) {
            struct rl_slot *s = &rl->slots[(first + i) & rl->mask];
            if (atomic_load(&s->key) == h)
                return charge(rl, s, now_us, retry_after_s);
        }
        /* Else claim one: the first free slot, or the one idle longest. */
        struct rl_slot *victim = NULL;
        uint64_t victim_key = 0, oldest = UINT64_MAX;
        for (size_t i = 0; i < RATELIMIT_PROBE; i++) {
            struct rl_slot *s = &rl->slots[(first + i) & rl->mask];
            uint64_t k = atomic_load(&s->key);
            if (k == h) /* another thread claimed one for this client since the look above */
                return charge(rl, s, now_us, retry_after_s);
            if (k == 0) {
                victim = s;
                victim_key = 0;
                break;
            }
            uint64_t t = atomic_load(&s->tat);
            if (t < oldest) {
                oldest = t;
                victim = s;
                victim_key = k;
            }
        }
        if (atomic_compare_exchange_strong(&victim->key, &victim_key, h)) {
            /* A new client owes nothing: a taken-over slot's time is cleared, but only if it
             * is still the former client's. Once the key is in, other threads may already
             * have charged the new client, and a plain store would erase their calls (a free
             * slot's time is 0 already). */
            if (victim_key != 0)
                atomic_compare_exchange_strong(&victim->tat, &oldest, 0);
            return charge(rl, victim, now_us, retry_after_s);
        }
        /* Another thread took that slot meanwhile (perhaps for this very client): look again. */
    }
    return true;
}

bool ratelimit_is_over(struct ratelimit *rl, const void *key, size_t key_len, uint64_t now_us,
                       int *retry_after_s)
{
    if (rl == NULL)
        return false;
    if (key_len > RATELIMIT_KEY_MAX)
        key_len = RATELIMIT_KEY_MAX;
    uint64_t h = key_hash(rl, key, key_len);
    size_t first = (size_t)h & rl->mask;
    for (size_t i = 0; i < RATELIMIT_PROBE; i++) {
        struct rl_slot *s = &rl->slots[(first + i) & rl->mask];
        if (atomic_load(&s->key) != h)
            continue;
        uint64_t tat = atomic_load(&s->tat);
        if (tat <= now_us || tat - now_us <= rl->tolerance_us)
            return false;
        uint64_t secs = (tat - now_us - rl->tolerance_us + 999999ULL) / 1000000ULL;
        if (retry_after_s != NULL)
            *retry_after_s = secs < 1 ? 1 : (secs > 3600 ? 3600 : (int)secs);
        return true;
    }
    return false; /* not tracked: owes nothing */
}

size_t ratelimit_addr_key(const struct sockaddr *sa, unsigned char out[RATELIMIT_ADDR_KEY_MAX])
{
    static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (sa == NULL)
        return 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        out[0] = '4';
        memcpy(out + 1, &in->sin_addr, 4);
        return 5;
    }
    if (sa->sa_family == AF_INET6) {
        const unsigned char *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        if (memcmp(a, v4_mapped, sizeof(v4_mapped)) == 0) {
            out[0] = '4';
            memcpy(out + 1, a + 12, 4);
            return 5;
        }
        out[0] = '6';
        memcpy(out + 1, a, 8); /* the /64 prefix */
        return 9;
    }
    return 0;
}
