/*
 * test_presign: the in-memory cache of pre-signed OCSP responses (responder/ocsp/presign.h) —
 * blobs and their reference counts, lookup, replacement, removal, the capacity bound and its
 * CLOCK eviction, and readers racing a writer.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>

#include "responder/ocsp/presign.h"
#include "testutil.h"

static const unsigned char DER_A[] = {0x30, 0x03, 0x0a, 0x01, 0x00};
static const unsigned char DER_B[] = {0x30, 0x04, 0x0a, 0x02, 0x00, 0x01};

static struct presign_key key_of(enum ca_kind ca, int hash, const char *serial)
{
    struct presign_key k;
    memset(&k, 0, sizeof(k));
    k.ca = ca;
    k.certid_hash = hash;
    snprintf(k.serial, sizeof(k.serial), "%s", serial);
    return k;
}

static struct presign_blob *blob_for(const struct presign_key *k, const unsigned char *der,
                                     size_t len, time_t this_update)
{
    struct jerr err = {0};
    struct presign_blob *b = presign_blob_new(k, der, len, this_update, this_update + 86400,
                                              V_OCSP_CERTSTATUS_GOOD, &err);
    ck_assert_msg(b != NULL, "%s", err.msg);
    return b;
}

/* ---- blobs ---- */

START_TEST(test_blob_fields)
{
    struct presign_key k = key_of(CA_AUTH, 1, "0A1B");
    struct jerr err = {0};
    /* 2026-01-02T03:04:05Z and a day later. */
    struct presign_blob *b = presign_blob_new(&k, DER_B, sizeof(DER_B), 1767323045,
                                              1767323045 + 86400, V_OCSP_CERTSTATUS_REVOKED, &err);
    ck_assert_msg(b != NULL, "%s", err.msg);
    size_t len = 0;
    const unsigned char *der = presign_blob_der(b, &len);
    ck_assert_uint_eq(len, sizeof(DER_B));
    ck_assert_mem_eq(der, DER_B, sizeof(DER_B));
    ck_assert_ptr_ne(der, DER_B); /* a copy */
    ck_assert(presign_key_equal(presign_blob_key(b), &k));
    ck_assert_int_eq(presign_blob_this_update(b), 1767323045);
    ck_assert_int_eq(presign_blob_next_update(b), 1767323045 + 86400);
    ck_assert_int_eq(presign_blob_cert_status(b), V_OCSP_CERTSTATUS_REVOKED);
    ck_assert_str_eq(presign_blob_last_modified(b), "Fri, 02 Jan 2026 03:04:05 GMT");
    ck_assert_str_eq(presign_blob_expires(b), "Sat, 03 Jan 2026 03:04:05 GMT");
    /* ETag: the quoted hex SHA-256 of the bytes. */
    unsigned char digest[32];
    char want[HTTP_ETAG_MAX];
    ck_assert_int_eq(EVP_Digest(DER_B, sizeof(DER_B), digest, NULL, EVP_sha256(), NULL), 1);
    http_etag_sha256(digest, want);
    ck_assert_str_eq(presign_blob_etag(b), want);
    ck_assert_uint_eq(strlen(want), 66);

    ck_assert_int_eq(presign_blob_refs(b), 1);
    presign_blob_ref(b);
    ck_assert_int_eq(presign_blob_refs(b), 2);
    presign_blob_unref(b);
    ck_assert_int_eq(presign_blob_refs(b), 1);
    presign_blob_unref(b);
    presign_blob_unref(NULL); /* no-op */
}
END_TEST

START_TEST(test_blob_refusals)
{
    struct jerr err = {0};
    ck_assert_ptr_null(presign_blob_new(NULL, DER_A, 0, 1, 2, 0, &err));
    ck_assert_int_eq(err.code, JERR_INTERNAL);
    jerr_clear(&err);
    ck_assert_ptr_null(presign_blob_new(NULL, NULL, 5, 1, 2, 0, &err));
    ck_assert_int_eq(err.code, JERR_INTERNAL);
    /* A blob without a key is fine, but never cached. */
    jerr_clear(&err);
    struct presign_blob *b = presign_blob_new(NULL, DER_A, sizeof(DER_A), 1, 2, 0, &err);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_null(presign_blob_key(b));
    struct presign *c = presign_new(4, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert(!presign_put(c, b, true));
    ck_assert_uint_eq(presign_count(c), 0);
    ck_assert_int_eq(presign_blob_refs(b), 1);
    presign_free(c);
    presign_blob_unref(b);
}
END_TEST

/* ---- keys ---- */

START_TEST(test_keys)
{
    struct presign_key a = key_of(CA_SIGN, 0, "ABCDEF"), b = key_of(CA_SIGN, 0, "ABCDEF");
    ck_assert(presign_key_equal(&a, &b));
    ck_assert_uint_eq(presign_key_hash(&a), presign_key_hash(&b));
    struct presign_key other_ca = key_of(CA_AUTH, 0, "ABCDEF");
    struct presign_key other_hash = key_of(CA_SIGN, 1, "ABCDEF");
    struct presign_key other_serial = key_of(CA_SIGN, 0, "ABCDEE");
    ck_assert(!presign_key_equal(&a, &other_ca));
    ck_assert(!presign_key_equal(&a, &other_hash));
    ck_assert(!presign_key_equal(&a, &other_serial));
    ck_assert_uint_ne(presign_key_hash(&a), presign_key_hash(&other_ca));
    ck_assert_uint_ne(presign_key_hash(&a), presign_key_hash(&other_hash));
    ck_assert_uint_ne(presign_key_hash(&a), presign_key_hash(&other_serial));
}
END_TEST

/* ---- the cache ---- */

START_TEST(test_new_refusals)
{
    struct jerr err = {0};
    ck_assert_ptr_null(presign_new(0, &err));
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "max_entries");
    presign_free(NULL); /* no-op */
}
END_TEST

START_TEST(test_insert_lookup_replace_remove)
{
    struct jerr err = {0};
    struct presign *c = presign_new(16, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(presign_capacity(c), 16);
    struct presign_key k1 = key_of(CA_SIGN, 0, "01"), k2 = key_of(CA_SIGN, 1, "01");
    struct presign_key k3 = key_of(CA_AUTH, 0, "01");

    ck_assert_ptr_null(presign_get(c, &k1));
    struct presign_blob *b1 = blob_for(&k1, DER_A, sizeof(DER_A), 100);
    ck_assert(presign_put(c, b1, false));
    ck_assert_int_eq(presign_blob_refs(b1), 2); /* ours and the cache's */
    ck_assert_uint_eq(presign_count(c), 1);
    /* Same serial, other hash or other CA: other entries. */
    ck_assert_ptr_null(presign_get(c, &k2));
    ck_assert_ptr_null(presign_get(c, &k3));

    struct presign_blob *got = presign_get(c, &k1);
    ck_assert_ptr_eq(got, b1);
    ck_assert_int_eq(presign_blob_refs(b1), 3);

    /* Replace: the reader keeps the old blob whole; the cache now hands out the new one. */
    struct presign_blob *b1_new = blob_for(&k1, DER_B, sizeof(DER_B), 200);
    ck_assert(presign_put(c, b1_new, false));
    ck_assert_uint_eq(presign_count(c), 1);
    ck_assert_int_eq(presign_blob_refs(b1), 2); /* the cache dropped its reference */
    size_t len;
    ck_assert_mem_eq(presign_blob_der(got, &len), DER_A, sizeof(DER_A));
    presign_blob_unref(got);
    struct presign_blob *got2 = presign_get(c, &k1);
    ck_assert_ptr_eq(got2, b1_new);
    ck_assert_int_eq(presign_blob_this_update(got2), 200);
    presign_blob_unref(got2);

    /* Remove: gone from the cache, its reference dropped; removing again is harmless. */
    presign_remove(c, &k1);
    ck_assert_ptr_null(presign_get(c, &k1));
    ck_assert_uint_eq(presign_count(c), 0);
    ck_assert_int_eq(presign_blob_refs(b1_new), 1);
    presign_remove(c, &k1);
    ck_assert_uint_eq(presign_count(c), 0);

    /* Freeing the cache drops its references, not ours. */
    ck_assert(presign_put(c, b1, false));
    ck_assert_int_eq(presign_blob_refs(b1), 2);
    presign_free(c);
    ck_assert_int_eq(presign_blob_refs(b1), 1);
    presign_blob_unref(b1);
    presign_blob_unref(b1_new);
}
END_TEST

/* Many keys landing in the same probe runs: removals must keep every other key reachable
 * (backward-shift deletion), in a small cache (one shard, filled to the bound) and a sharded
 * one (the bound is kept per shard, so it is filled to half). */
static void churn(size_t cap, size_t n)
{
    struct jerr err = {0};
    struct presign *c = presign_new(cap, &err);
    ck_assert_ptr_nonnull(c);
    char serial[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(serial, sizeof(serial), "%zX", i + 1);
        struct presign_key k = key_of((enum ca_kind)(i % 2), (int)(i % 3 == 0), serial);
        struct presign_blob *b = blob_for(&k, DER_A, sizeof(DER_A), (time_t)i);
        ck_assert_msg(presign_put(c, b, false), "key %zu refused", i);
        presign_blob_unref(b);
    }
    ck_assert_uint_eq(presign_count(c), n);
    if (n == cap) {
        /* Full: a new key is refused without eviction. */
        struct presign_key extra = key_of(CA_SIGN, 0, "FFFFFFFF");
        struct presign_blob *eb = blob_for(&extra, DER_A, sizeof(DER_A), 1);
        ck_assert(!presign_put(c, eb, false));
        ck_assert_ptr_null(presign_get(c, &extra));
        ck_assert_int_eq(presign_blob_refs(eb), 1);
        presign_blob_unref(eb);
    }
    /* Remove every third key, then check every key's presence exactly. */
    for (size_t i = 0; i < n; i += 3) {
        snprintf(serial, sizeof(serial), "%zX", i + 1);
        struct presign_key k = key_of((enum ca_kind)(i % 2), (int)(i % 3 == 0), serial);
        presign_remove(c, &k);
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(serial, sizeof(serial), "%zX", i + 1);
        struct presign_key k = key_of((enum ca_kind)(i % 2), (int)(i % 3 == 0), serial);
        struct presign_blob *b = presign_get(c, &k);
        if (i % 3 == 0) {
            ck_assert_msg(b == NULL, "key %zu should be gone", i);
        } else {
            ck_assert_msg(b != NULL, "key %zu lost", i);
            ck_assert_int_eq(presign_blob_this_update(b), (time_t)i);
            presign_blob_unref(b);
        }
    }
    ck_assert_uint_eq(presign_count(c), n - (n + 2) / 3);
    presign_free(c);
}

START_TEST(test_removal_keeps_others_small)
{
    churn(50, 50);
}
END_TEST

START_TEST(test_removal_keeps_others_sharded)
{
    churn(40000, 20000);
}
END_TEST

START_TEST(test_full_cache_replaces_without_evicting)
{
    struct jerr err = {0};
    struct presign *c = presign_new(2, &err);
    struct presign_key k1 = key_of(CA_SIGN, 0, "01"), k2 = key_of(CA_SIGN, 0, "02");
    struct presign_blob *b1 = blob_for(&k1, DER_A, sizeof(DER_A), 1);
    struct presign_blob *b2 = blob_for(&k2, DER_A, sizeof(DER_A), 2);
    ck_assert(presign_put(c, b1, false));
    ck_assert(presign_put(c, b2, false));
    /* Replacing a key already there needs no room. */
    struct presign_blob *b1n = blob_for(&k1, DER_B, sizeof(DER_B), 3);
    ck_assert(presign_put(c, b1n, false));
    ck_assert_uint_eq(presign_count(c), 2);
    struct presign_blob *got = presign_get(c, &k1);
    ck_assert_ptr_eq(got, b1n);
    presign_blob_unref(got);
    ck_assert_int_eq(presign_blob_refs(b1), 1);
    presign_free(c);
    presign_blob_unref(b1);
    presign_blob_unref(b2);
    presign_blob_unref(b1n);
}
END_TEST

/* CLOCK: an insertion into a full cache takes the first entry not used since the hand last
 * passed it. Which entry that is depends on the slot order, so the victims are found by their
 * reference counts (a probe with presign_get would mark them used). */
START_TEST(test_eviction_spares_recently_used)
{
    struct jerr err = {0};
    struct presign *c = presign_new(3, &err);
    struct presign_key k[5];
    struct presign_blob *b[5];
    char serial[8];
    for (int i = 0; i < 5; i++) {
        snprintf(serial, sizeof(serial), "%02X", 0x10 + i);
        k[i] = key_of(CA_SIGN, 1, serial);
        b[i] = blob_for(&k[i], DER_A, sizeof(DER_A), i);
    }
    for (int i = 0; i < 3; i++)
        ck_assert(presign_put(c, b[i], false));
    ck_assert(!presign_put(c, b[3], false)); /* full, and no eviction allowed */
    ck_assert_int_eq(presign_blob_refs(b[3]), 1);

    /* All three are marked (fresh insertions): the hand clears every mark in one round and
     * takes the first it meets in the next. */
    ck_assert(presign_put(c, b[3], true));
    ck_assert_uint_eq(presign_count(c), 3);
    int victim = -1, survivors[2], n = 0;
    for (int i = 0; i < 3; i++) {
        if (presign_blob_refs(b[i]) == 1) {
            ck_assert_int_eq(victim, -1);
            victim = i;
        } else {
            ck_assert_int_eq(presign_blob_refs(b[i]), 2);
            survivors[n++] = i;
        }
    }
    ck_assert_int_ge(victim, 0);
    ck_assert_int_eq(n, 2);

    /* Now only k3 is marked. Read one survivor: the other is the only entry not used since
     * the hand passed, so it must be the next victim, wherever the hand stands. */
    struct presign_blob *g = presign_get(c, &k[survivors[0]]);
    ck_assert_ptr_eq(g, b[survivors[0]]);
    presign_blob_unref(g);
    ck_assert(presign_put(c, b[4], true));
    ck_assert_uint_eq(presign_count(c), 3);
    ck_assert_int_eq(presign_blob_refs(b[survivors[1]]), 1);
    ck_assert_int_eq(presign_blob_refs(b[survivors[0]]), 2);
    ck_assert_int_eq(presign_blob_refs(b[3]), 2);
    ck_assert_int_eq(presign_blob_refs(b[4]), 2);
    ck_assert_ptr_null(presign_get(c, &k[survivors[1]]));
    ck_assert_ptr_null(presign_get(c, &k[victim]));

    presign_free(c);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(presign_blob_refs(b[i]), 1);
        presign_blob_unref(b[i]);
    }
}
END_TEST

START_TEST(test_eviction_bounds_memory)
{
    struct jerr err = {0};
    struct presign *c = presign_new(1000, &err);
    char serial[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(serial, sizeof(serial), "%08X", i * 7919 + 1);
        struct presign_key k = key_of((enum ca_kind)(i & 1), 0, serial);
        struct presign_blob *b = blob_for(&k, DER_A, sizeof(DER_A), i);
        ck_assert(presign_put(c, b, true));
        ck_assert_int_eq(presign_blob_refs(b), 2);
        presign_blob_unref(b);
        ck_assert_uint_le(presign_count(c), 1000);
    }
    ck_assert_uint_eq(presign_count(c), 1000);
    /* The last one inserted is there. */
    snprintf(serial, sizeof(serial), "%08X", 4999 * 7919 + 1);
    struct presign_key last = key_of(CA_AUTH, 0, serial);
    struct presign_blob *g = presign_get(c, &last);
    ck_assert_ptr_nonnull(g);
    presign_blob_unref(g);
    presign_free(c);
}
END_TEST

/* ---- concurrent readers ---- */

#define RACE_KEYS 64
#define RACE_READERS 4

struct race {
    struct presign *c;
    struct presign_key keys[RACE_KEYS];
    atomic_bool stop;
    atomic_long hits, bad;
};

static void *race_reader(void *arg)
{
    struct race *r = arg;
    unsigned i = 0;
    while (!atomic_load(&r->stop)) {
        const struct presign_key *k = &r->keys[i++ % RACE_KEYS];
        struct presign_blob *b = presign_get(r->c, k);
        if (b == NULL)
            continue;
        size_t len;
        const unsigned char *der = presign_blob_der(b, &len);
        /* A blob is whole and answers its key, whichever version it is. */
        if (!presign_key_equal(presign_blob_key(b), k) || len != sizeof(DER_A) ||
            memcmp(der, DER_A, len) != 0 || presign_blob_refs(b) < 1)
            atomic_fetch_add(&r->bad, 1);
        atomic_fetch_add(&r->hits, 1);
        presign_blob_unref(b);
    }
    return NULL;
}

START_TEST(test_concurrent_readers)
{
    struct jerr err = {0};
    struct race r;
    pthread_t readers[RACE_READERS];
    memset(&r, 0, sizeof(r));
    /* Fewer slots than keys: the writer's insertions evict too. */
    r.c = presign_new(RACE_KEYS / 2, &err);
    ck_assert_ptr_nonnull(r.c);
    char serial[16];
    for (int i = 0; i < RACE_KEYS; i++) {
        snprintf(serial, sizeof(serial), "%04X", i + 1);
        r.keys[i] = key_of((enum ca_kind)(i & 1), 0, serial);
    }
    for (int i = 0; i < RACE_READERS; i++)
        ck_assert_int_eq(pthread_create(&readers[i], NULL, race_reader, &r), 0);
    /* Kept blobs: the writer holds the last version of each key to check the counts after. */
    struct presign_blob *last[RACE_KEYS] = {0};
    for (int round = 0; round < 20000; round++) {
        int i = round % RACE_KEYS;
        struct presign_blob *b = blob_for(&r.keys[i], DER_A, sizeof(DER_A), round);
        presign_put(r.c, b, true);
        if (round % 7 == 0)
            presign_remove(r.c, &r.keys[(i + 3) % RACE_KEYS]);
        presign_blob_unref(last[i]);
        last[i] = b;
    }
    atomic_store(&r.stop, true);
    for (int i = 0; i < RACE_READERS; i++)
        ck_assert_int_eq(pthread_join(readers[i], NULL), 0);
    ck_assert_int_eq(atomic_load(&r.bad), 0);
    ck_assert_int_gt(atomic_load(&r.hits), 0);
    ck_assert_uint_le(presign_count(r.c), RACE_KEYS / 2);
    /* No reader holds anything now: each kept blob is ours plus, if cached, the cache's. */
    for (int i = 0; i < RACE_KEYS; i++) {
        struct presign_blob *g = presign_get(r.c, &r.keys[i]);
        int cached = g != NULL;
        if (g != NULL) {
            ck_assert_ptr_eq(g, last[i]); /* the cache holds the newest version only */
            presign_blob_unref(g);
        }
        ck_assert_int_eq(presign_blob_refs(last[i]), 1 + cached);
    }
    presign_free(r.c);
    for (int i = 0; i < RACE_KEYS; i++) {
        ck_assert_int_eq(presign_blob_refs(last[i]), 1);
        presign_blob_unref(last[i]);
    }
}
END_TEST

/* jpkid respond after a reconnection to Redis: every entry goes, readers keep theirs. */
START_TEST(test_clear)
{
    struct jerr err = {0};
    struct presign *c = presign_new(1024, &err);
    ck_assert_ptr_nonnull(c);
    struct presign_blob *kept = NULL;
    for (int i = 0; i < 300; i++) {
        char serial[8];
        snprintf(serial, sizeof(serial), "%04X", i + 1);
        struct presign_key k = key_of(CA_SIGN, 0, serial);
        struct presign_blob *b = blob_for(&k, DER_A, sizeof(DER_A), 100);
        ck_assert(presign_put(c, b, false));
        if (i == 7)
            kept = b;
        else
            presign_blob_unref(b);
    }
    ck_assert_uint_eq(presign_count(c), 300);
    presign_clear(c);
    ck_assert_uint_eq(presign_count(c), 0);
    struct presign_key k8 = key_of(CA_SIGN, 0, "0008");
    ck_assert_ptr_null(presign_get(c, &k8));
    ck_assert_int_eq(presign_blob_refs(kept), 1); /* ours alone, still whole */
    presign_blob_unref(kept);
    /* The cache is usable after a clear. */
    struct presign_blob *b = blob_for(&k8, DER_B, sizeof(DER_B), 100);
    ck_assert(presign_put(c, b, false));
    presign_blob_unref(b);
    ck_assert_uint_eq(presign_count(c), 1);
    presign_free(c);
}
END_TEST

static Suite *presign_suite(void)
{
    Suite *s = suite_create("presign");
    TCase *tc = tcase_create("blob");
    tcase_add_test(tc, test_blob_fields);
    tcase_add_test(tc, test_blob_refusals);
    tcase_add_test(tc, test_keys);
    suite_add_tcase(s, tc);
    tc = tcase_create("cache");
    tcase_add_test(tc, test_new_refusals);
    tcase_add_test(tc, test_insert_lookup_replace_remove);
    tcase_add_test(tc, test_removal_keeps_others_small);
    tcase_add_test(tc, test_removal_keeps_others_sharded);
    tcase_add_test(tc, test_full_cache_replaces_without_evicting);
    tcase_add_test(tc, test_eviction_spares_recently_used);
    tcase_add_test(tc, test_eviction_bounds_memory);
    tcase_add_test(tc, test_clear);
    suite_add_tcase(s, tc);
    tc = tcase_create("concurrency");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_concurrent_readers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(presign_suite());
}
