/*
 * test_ratelimit: the lock-free per-client limiter (responder/net/ratelimit.c) — the exact burst,
 * the exact Retry-After, refill at the configured pace, clients kept apart, take-over of idle
 * slots in a full table, the refusals of bad parameters, and exact counts when threads race
 * on the same clients.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "responder/net/ratelimit.h"
#include "testutil.h"

#define S_US 1000000ULL
#define T0 (1000 * S_US) /* any monotonic start */

static bool admit(struct ratelimit *rl, const char *key, uint64_t now, int *retry)
{
    return ratelimit_admit(rl, key, strlen(key), now, retry);
}

/* Calls admitted in a row for `key` at `now` (stops at the first refusal, at most `max`). */
static int burst(struct ratelimit *rl, const char *key, uint64_t now, int max, int *retry)
{
    int n = 0;
    while (n < max && admit(rl, key, now, retry))
        n++;
    return n;
}

START_TEST(burst_then_exact_retry_after)
{
    struct jerr err = {0};
    struct ratelimit *rl = ratelimit_new(10, 0, &err);
    ck_assert_msg(rl != NULL, "%s", err.msg);
    int retry = -1;
    /* A full minute's allowance at once, then a refusal: the pace is one call per 6 s. */
    ck_assert_int_eq(burst(rl, "10.0.0.1", T0, 100, &retry), 10);
    ck_assert_int_eq(retry, 6);
    retry = -1;
    ck_assert(!admit(rl, "10.0.0.1", T0 + 5 * S_US, &retry));
    ck_assert_int_eq(retry, 1);
    ck_assert(!admit(rl, "10.0.0.1", T0 + 5 * S_US + 1, &retry));
    ck_assert_int_eq(retry, 1); /* never 0: a client told 0 would retry at once */
    /* After 6 s exactly one more, and the next is again 6 s away. */
    ck_assert(admit(rl, "10.0.0.1", T0 + 6 * S_US, &retry));
    ck_assert(!admit(rl, "10.0.0.1", T0 + 6 * S_US, &retry));
    ck_assert_int_eq(retry, 6);
    /* A minute of silence refills the whole bucket, and no more than that. */
    ck_assert_int_eq(burst(rl, "10.0.0.1", T0 + 200 * S_US, 100, &retry), 10);
    ratelimit_free(rl);
}
END_TEST

START_TEST(is_over_peeks_without_charging)
{
    struct jerr err = {0};
    struct ratelimit *rl = ratelimit_new(10, 0, &err);
    int retry = -1;
    /* Unknown clients and clients within their allowance are not over; asking charges none. */
    ck_assert(!ratelimit_is_over(rl, "a", 1, T0, &retry));
    ck_assert_int_eq(burst(rl, "a", T0, 9, &retry), 9);
    for (int i = 0; i < 100; i++)
        ck_assert(!ratelimit_is_over(rl, "a", 1, T0, &retry));
    ck_assert_int_eq(retry, -1);
    /* The tenth call fills the bucket: now over, with the same Retry-After admit gives. */
    ck_assert(admit(rl, "a", T0, &retry));
    ck_assert(ratelimit_is_over(rl, "a", 1, T0, &retry));
    ck_assert_int_eq(retry, 6);
    ck_assert(ratelimit_is_over(rl, "a", 1, T0 + 5 * S_US, &retry));
    ck_assert_int_eq(retry, 1);
    ck_assert(!ratelimit_is_over(rl, "a", 1, T0 + 6 * S_US, &retry));
    ck_assert(!ratelimit_is_over(rl, "b", 1, T0, &retry));
    ck_assert(!ratelimit_is_over(NULL, "a", 1, T0, &retry));
    ratelimit_free(rl);
}
END_TEST

START_TEST(one_a_minute)
{
    struct jerr err = {0};
    struct ratelimit *rl = ratelimit_new(1, 0, &err);
    int retry = 0;
    ck_assert(admit(rl, "k", T0, &retry));
    ck_assert(!admit(rl, "k", T0, &retry));
    ck_assert_int_eq(retry, 60);
    ck_assert(!admit(rl, "k", T0 + 59 * S_US, &retry));
    ck_assert_int_eq(retry, 1);
    ck_assert(admit(rl, "k", T0 + 60 * S_US, &retry));
    ratelimit_free(rl);
}
END_TEST

START_TEST(clients_are_apart)
{
    struct jerr err = {0};
    struct ratelimit *rl = ratelimit_new(3, 0, &err);
    int retry;
    ck_assert_int_eq(burst(rl, "a", T0, 10, &retry), 3);
    ck_assert_int_eq(burst(rl, "b", T0, 10, &retry), 3);
    /* Keys are bytes: a prefix is another client, and so is a key with a NUL inside. */
    ck_assert_int_eq(burst(rl, "ab", T0, 10, &retry), 3);
    ck_assert(ratelimit_admit(rl, "a\0x", 3, T0, &retry));
    ck_assert(!admit(rl, "a", T0, &retry));
    ratelimit_free(rl);
}
END_TEST

START_TEST(no_limiter_admits_all)
{
    int retry = 42;
    for (int i = 0; i < 1000; i++)
        ck_assert(ratelimit_admit(NULL, "x", 1, T0, &retry));
    ck_assert_int_eq(retry, 42); /* untouched */
    ratelimit_free(NULL);
}
END_TEST

START_TEST(bad_parameters_refused)
{
    struct jerr err = {0};
    ck_assert_ptr_null(ratelimit_new(0, 0, &err));
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "per_minute");
    jerr_clear(&err);
    ck_assert_ptr_null(ratelimit_new(1000001, 0, &err));
    ck_assert_str_eq(err.field, "per_minute");
    jerr_clear(&err);
    ck_assert_ptr_null(ratelimit_new(10, 100, &err));
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "slots");
    jerr_clear(&err);
    ck_assert_ptr_null(ratelimit_new(10, 4, &err)); /* below the probe window */
    ck_assert_str_eq(err.field, "slots");
    struct ratelimit *rl = ratelimit_new(1000000, 8, &err);
    ck_assert_ptr_nonnull(rl);
    ratelimit_free(rl);
}
END_TEST

/* A table of exactly one probe window: a ninth client takes over the slot idle longest; a
 * client whose slot was taken over starts afresh (its debt forgiven), the others keep theirs. */
START_TEST(full_table_takes_over_the_idlest)
{
    struct jerr err = {0};
    struct ratelimit *rl = ratelimit_new(2, RATELIMIT_PROBE, &err);
    ck_assert_ptr_nonnull(rl);
    char key[16];
    int retry;
    for (int i = 0; i < RATELIMIT_PROBE; i++) {
        snprintf(key, sizeof(key), "c%d", i);
        /* c0 is drained at T0, the others later: c0 is the idlest. */
        ck_assert_int_eq(burst(rl, key, T0 + (uint64_t)i * S_US, 10, &retry), 2);
    }
    ck_assert_int_eq(burst(rl, "newcomer", T0 + 10 * S_US, 10, &retry), 2);
    ck_assert_int_eq(burst(rl, "c0", T0 + 10 * S_US, 10, &retry), 2); /* forgiven */
    /* The ones still in the table still owe: c7 is refused. */
    ck_assert(!admit(rl, "c7", T0 + 10 * S_US, &retry));
    ratelimit_free(rl);
}
END_TEST

/* ---- threads ---- */

#define RACE_THREADS 4
#define RACE_KEYS 16
#define RACE_LIMIT 500

struct race {
    struct ratelimit *rl;
    int admitted[RACE_KEYS];
};

static void *race_main(void *arg)
{
    struct race *r = arg;
    char key[16];
    int retry;
    for (int round = 0; round < 2 * RACE_LIMIT; round++) {
        for (int k = 0; k < RACE_KEYS; k++) {
            snprintf(key, sizeof(key), "client-%d", k);
            if (ratelimit_admit(r->rl, key, strlen(key), T0, &retry))
                __atomic_fetch_add(&r->admitted[k], 1, __ATOMIC_RELAXED);
        }
    }
    return NULL;
}

/* With the clock standing still nothing refills: whatever the interleaving, exactly the
 * allowance of each client is admitted — no call counted twice, none lost. */
START_TEST(threads_admit_exactly_the_allowance)
{
    struct jerr err = {0};
    struct race r = {0};
    pthread_t t[RACE_THREADS];
    r.rl = ratelimit_new(RACE_LIMIT, 0, &err);
    ck_assert_ptr_nonnull(r.rl);
    for (int i = 0; i < RACE_THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, race_main, &r), 0);
    for (int i = 0; i < RACE_THREADS; i++)
        pthread_join(t[i], NULL);
    for (int k = 0; k < RACE_KEYS; k++)
        ck_assert_int_eq(r.admitted[k], RACE_LIMIT);
    ratelimit_free(r.rl);
}
END_TEST

START_TEST(clock_is_monotonic_microseconds)
{
    uint64_t a = ratelimit_now_us();
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
    uint64_t b = ratelimit_now_us();
    ck_assert_uint_ge(b - a, 2000);
    ck_assert_uint_lt(b - a, 2000000);
}
END_TEST

static size_t key_of(const char *text, unsigned char out[RATELIMIT_ADDR_KEY_MAX])
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (strchr(text, ':') != NULL) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(4242);
        ck_assert_int_eq(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(1234);
        ck_assert_int_eq(inet_pton(AF_INET, text, &in->sin_addr), 1);
    }
    return ratelimit_addr_key((struct sockaddr *)&ss, out);
}

START_TEST(address_keys)
{
    unsigned char a[RATELIMIT_ADDR_KEY_MAX], b[RATELIMIT_ADDR_KEY_MAX];
    ck_assert_uint_eq(key_of("192.0.2.7", a), 5);
    ck_assert_mem_eq(a, "4\xc0\x00\x02\x07", 5);
    /* The port is not part of the client: a new connection is the same client. */
    ck_assert_uint_eq(key_of("192.0.2.8", b), 5);
    ck_assert(memcmp(a, b, 5) != 0);
    /* An IPv4-mapped address is the IPv4 client. */
    ck_assert_uint_eq(key_of("::ffff:192.0.2.7", b), 5);
    ck_assert_mem_eq(a, b, 5);
    /* IPv6: the /64 prefix, whatever the interface identifier. */
    ck_assert_uint_eq(key_of("2001:db8:1:2::1", a), 9);
    ck_assert_uint_eq(key_of("2001:db8:1:2:ffff:eeee:dddd:cccc", b), 9);
    ck_assert_mem_eq(a, b, 9);
    ck_assert_uint_eq(key_of("2001:db8:1:3::1", b), 9);
    ck_assert(memcmp(a, b, 9) != 0);
    /* Another family has no key. */
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    ck_assert_uint_eq(ratelimit_addr_key((struct sockaddr *)&un, a), 0);
    ck_assert_uint_eq(ratelimit_addr_key(NULL, a), 0);
}
END_TEST

static Suite *ratelimit_suite(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *tc = tcase_create("bucket");
    tcase_add_test(tc, burst_then_exact_retry_after);
    tcase_add_test(tc, one_a_minute);
    tcase_add_test(tc, is_over_peeks_without_charging);
    tcase_add_test(tc, clients_are_apart);
    tcase_add_test(tc, no_limiter_admits_all);
    tcase_add_test(tc, bad_parameters_refused);
    tcase_add_test(tc, full_table_takes_over_the_idlest);
    tcase_add_test(tc, clock_is_monotonic_microseconds);
    tcase_add_test(tc, address_keys);
    suite_add_tcase(s, tc);
    tc = tcase_create("threads");
    tcase_add_test(tc, threads_admit_exactly_the_allowance);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(ratelimit_suite());
}
