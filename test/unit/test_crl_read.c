/*
 * test_crl_read: the one CRL reader (ca/crl_read.c) over a caller's head — crl_read_times.
 * On the CRLs of the crl_header fuzz corpus (`openssl ca -gencrl` and hand-built headers):
 * where OpenSSL's d2i_X509_CRL accepts a file, the reader gives the same thisUpdate and
 * nextUpdate; each malformed seed is refused with its field; and every head cut of every CRL,
 * placed right before a PROT_NONE page (test/fuzz/guardpage.h), is either refused or gives the
 * whole file's times — never an over-read, never "no nextUpdate" because the head ended.
 * crl_verify_file, the same reader over a file, is tested in test_crl.c; the header times of
 * OpenSSL-made CRLs (v1, GeneralizedTime, no nextUpdate) in test_crlcache.c.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "ca/crl_read.h"
#include "test/fuzz/guardpage.h"
#include "testutil.h"

#define CORPUS_FILES_MAX 64

struct seed {
    char name[256];
    unsigned char *der;
    size_t len;
};

static struct seed seeds[CORPUS_FILES_MAX];
static size_t seed_count;

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct seed *)a)->name, ((const struct seed *)b)->name);
}

static void load_corpus(void)
{
    char dir[4096], path[4400];
    snprintf(dir, sizeof(dir), "%s/test/fuzz/corpus/crl_header", testutil_source_dir());
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        ck_assert_uint_lt(seed_count, CORPUS_FILES_MAX);
        struct seed *s = &seeds[seed_count++];
        snprintf(s->name, sizeof(s->name), "%s", e->d_name);
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        ck_assert_ptr_nonnull(f);
        s->der = malloc(65536);
        s->len = fread(s->der, 1, 65536, f);
        fclose(f);
    }
    closedir(d);
    qsort(seeds, seed_count, sizeof(seeds[0]), by_name);
    ck_assert_uint_ge(seed_count, 10);
}

static void free_corpus(void)
{
    for (size_t i = 0; i < seed_count; i++)
        free(seeds[i].der);
    seed_count = 0;
}

static const struct seed *seed_named(const char *name)
{
    for (size_t i = 0; i < seed_count; i++)
        if (strcmp(seeds[i].name, name) == 0)
            return &seeds[i];
    ck_abort_msg("no seed %s", name);
    return NULL;
}

static time_t to_time_t(const ASN1_TIME *t)
{
    struct tm tm;
    ck_assert_int_eq(ASN1_TIME_to_tm(t, &tm), 1);
    return timegm(&tm);
}

/* crl_read_times over the first head_len bytes of `s`, placed before a guard page. */
static int read_guarded(const struct seed *s, size_t head_len, time_t *this_update,
                        time_t *next_update, struct jerr *err)
{
    struct guardpage g;
    unsigned char *head = guardpage_copy(&g, s->der, head_len);
    ck_assert_ptr_nonnull(head);
    int rc = crl_read_times(head, head_len, s->len, this_update, next_update, err);
    guardpage_free(&g);
    return rc;
}

START_TEST(test_times_match_openssl)
{
    size_t accepted = 0;
    for (size_t i = 0; i < seed_count; i++) {
        const struct seed *s = &seeds[i];
        struct jerr err = {0};
        time_t this_update = 1, next_update = 1;
        int rc = read_guarded(s, s->len, &this_update, &next_update, &err);
        const unsigned char *p = s->der;
        X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)s->len);
        const ASN1_TIME *last = crl != NULL ? X509_CRL_get0_lastUpdate(crl) : NULL;
        const ASN1_TIME *next = crl != NULL ? X509_CRL_get0_nextUpdate(crl) : NULL;
        /* d2i_X509_CRL does not check a Time's digits; ASN1_TIME_check does. */
        if (crl != NULL && p == s->der + s->len && ASN1_TIME_check(last) == 1 &&
            (next == NULL || ASN1_TIME_check(next) == 1)) {
            /* OpenSSL reads the whole CRL: the header times must be the same. */
            ck_assert_msg(rc == 0, "%s: %s", s->name, err.msg);
            ck_assert_int_eq(this_update, to_time_t(last));
            ck_assert_int_eq(next_update, next != NULL ? to_time_t(next) : 0);
            accepted++;
        } else if (rc == -1) {
            ck_assert_int_eq(err.code, JERR_INVALID);
            ck_assert_int_eq(this_update, 1); /* outputs only on success */
            ck_assert_int_eq(next_update, 1);
        }
        X509_CRL_free(crl);
        ERR_clear_error();
    }
    ck_assert_uint_ge(accepted, 5);
}
END_TEST

START_TEST(test_seed_refusals)
{
    static const struct {
        const char *name, *field, *msg;
    } cases[] = {
        {"bad-thisupdate.der", "this_update", "CRL: bad this_update"},
        {"bad-nextupdate.der", "next_update", "CRL: bad next_update"},
        {"trailing-byte.der", "crl", "CRL: 1 bytes after the CRL"},
        {"truncated.der", "crl", "CRL: CertificateList overruns its container"},
        {"no-issuer.der", "crl", "CRL: bad issuer"},
        {"integer-where-time.der", "this_update", "CRL: this_update missing"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct seed *s = seed_named(cases[i].name);
        struct jerr err = {0};
        time_t a, b;
        ck_assert_msg(read_guarded(s, s->len, &a, &b, &err) == -1, "%s accepted", s->name);
        ck_assert_int_eq(err.code, JERR_INVALID);
        ck_assert_msg(strcmp(err.field, cases[i].field) == 0, "%s: field %s", s->name, err.field);
        ck_assert_msg(strncmp(err.msg, cases[i].msg, strlen(cases[i].msg)) == 0, "%s: %s", s->name,
                      err.msg);
    }

    /* v1, GeneralizedTime, no nextUpdate: read, nextUpdate 0. */
    const struct seed *v1 = seed_named("v1-no-nextupdate-gentime.der");
    struct jerr err = {0};
    time_t this_update = 0, next_update = 1;
    ck_assert_msg(read_guarded(v1, v1->len, &this_update, &next_update, &err) == 0, "%s", err.msg);
    ck_assert_int_gt(this_update, 0);
    ck_assert_int_eq(next_update, 0);
}
END_TEST

/* Every head of every CRL, cut at each length and ending at a guard page: refused (with
 * JERR_INVALID), or the times of the whole file. A read past the head would fault. */
START_TEST(test_every_head_is_bounded)
{
    size_t cut_answers = 0, cut_refusals = 0;
    for (size_t i = 0; i < seed_count; i++) {
        const struct seed *s = &seeds[i];
        struct jerr err = {0};
        time_t this_whole, next_whole;
        if (read_guarded(s, s->len, &this_whole, &next_whole, &err) == -1)
            continue;
        for (size_t head_len = 0; head_len < s->len; head_len++) {
            time_t this_update = 1, next_update = 1;
            jerr_clear(&err);
            if (read_guarded(s, head_len, &this_update, &next_update, &err) == 0) {
                ck_assert_msg(this_update == this_whole && next_update == next_whole,
                              "%s cut at %zu: other times", s->name, head_len);
                cut_answers++;
            } else {
                ck_assert_int_eq(err.code, JERR_INVALID);
                ck_assert_int_eq(this_update, 1);
                cut_refusals++;
            }
        }
    }
    /* Both happen: a head that stops inside the header, and one that holds it. */
    ck_assert_uint_gt(cut_answers, 0);
    ck_assert_uint_gt(cut_refusals, 0);
}
END_TEST

/* The head cut right after thisUpdate of a CRL that has a nextUpdate: refused, not "no
 * nextUpdate" (the head says nothing about what follows). */
START_TEST(test_head_ending_after_this_update)
{
    const struct seed *s = seed_named("v2-utctime-both.der");
    struct jerr err = {0};
    time_t this_update = 0, next_update = 0;
    ck_assert_int_eq(read_guarded(s, s->len, &this_update, &next_update, &err), 0);
    ck_assert_int_ne(next_update, 0);
    /* UTCTime thisUpdate: 0x17 0x0d + 13 octets; find its end. */
    size_t end = 0;
    for (size_t i = 0; i + 15 <= s->len && end == 0; i++)
        if (s->der[i] == 0x17 && s->der[i + 1] == 0x0d)
            end = i + 15;
    ck_assert_uint_gt(end, 0);
    for (size_t cut = end; cut <= end + 1; cut++) {
        jerr_clear(&err);
        ck_assert_int_eq(read_guarded(s, cut, &this_update, &next_update, &err), -1);
        ck_assert_int_eq(err.code, JERR_INVALID);
        ck_assert_str_eq(err.field, "crl");
    }
}
END_TEST

START_TEST(test_bad_arguments)
{
    struct jerr err = {0};
    time_t a, b;
    static const unsigned char one[] = {0x30};
    ck_assert_int_eq(crl_read_times(NULL, 0, 0, &a, &b, &err), -1);
    ck_assert_str_eq(err.msg, "empty or oversized CRL");
    jerr_clear(&err);
    ck_assert_int_eq(crl_read_times(one, 1, 0, &a, &b, &err), -1); /* head longer than file */
    ck_assert_str_eq(err.field, "crl");
    jerr_clear(&err);
    ck_assert_int_eq(crl_read_times(one, 1, 1, &a, &b, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
}
END_TEST

static Suite *crl_read_suite(void)
{
    Suite *s = suite_create("crl_read");
    TCase *tc = tcase_create("crl_read");
    tcase_add_checked_fixture(tc, load_corpus, free_corpus);
    tcase_add_test(tc, test_times_match_openssl);
    tcase_add_test(tc, test_seed_refusals);
    tcase_add_test(tc, test_every_head_is_bounded);
    tcase_add_test(tc, test_head_ending_after_this_update);
    tcase_add_test(tc, test_bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(crl_read_suite());
}
