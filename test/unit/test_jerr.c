/* Unit tests of base/jerr.c: first error wins, OpenSSL's queue in the message, escaping. */
#include <check.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "base/jerr.h"
#include "testutil.h"

START_TEST(test_first_error_wins)
{
    struct jerr err = {0};
    ck_assert(!jerr_is_set(&err));
    ck_assert_int_eq(jerr_set(&err, JERR_NOT_FOUND, "card", "card %s not found", "c1"), -1);
    ck_assert(jerr_is_set(&err));
    /* A later failure (cleanup) does not hide the root cause. */
    ck_assert_int_eq(jerr_set(&err, JERR_IO, "db", "close failed"), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    ck_assert_str_eq(err.field, "card");
    ck_assert_str_eq(err.msg, "card c1 not found");
    jerr_clear(&err);
    ck_assert(!jerr_is_set(&err));
    ck_assert_str_eq(err.field, "");
    ck_assert_str_eq(err.msg, "");
    /* No field: empty; NULL err: nothing happens, -1 all the same. */
    jerr_set(&err, JERR_INVALID, NULL, "x");
    ck_assert_str_eq(err.field, "");
    ck_assert_int_eq(jerr_set(NULL, JERR_INVALID, "f", "y"), -1);
}
END_TEST

START_TEST(test_oom)
{
    struct jerr err = {0};
    ck_assert_int_eq(jerr_oom(&err), -1);
    ck_assert_int_eq(err.code, JERR_INTERNAL);
    ck_assert_str_eq(err.field, "");
    ck_assert_str_eq(err.msg, "out of memory");
    ck_assert_int_eq(jerr_oom(NULL), -1);
}
END_TEST

START_TEST(test_long_texts_are_cut)
{
    struct jerr err = {0};
    char field[200], msg[1000];
    memset(field, 'f', sizeof(field) - 1);
    field[sizeof(field) - 1] = '\0';
    memset(msg, 'm', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    jerr_set(&err, JERR_INVALID, field, "%s", msg);
    ck_assert_uint_eq(strlen(err.field), sizeof(err.field) - 1);
    ck_assert_uint_eq(strlen(err.msg), sizeof(err.msg) - 1);
}
END_TEST

START_TEST(test_openssl_queue)
{
    struct jerr err = {0};
    /* A failing OpenSSL call leaves its reason on the queue. */
    ck_assert_ptr_null(EVP_get_digestbyname("no-such-digest"));
    EVP_MD *md = EVP_MD_fetch(NULL, "no-such-digest", NULL);
    ck_assert_ptr_null(md);
    ck_assert_uint_ne(ERR_peek_error(), 0);
    jerr_openssl(&err, JERR_CRYPTO, "digest", "cannot fetch %s", "no-such-digest");
    ck_assert_int_eq(err.code, JERR_CRYPTO);
    ck_assert_msg(strncmp(err.msg, "cannot fetch no-such-digest", 27) == 0, "%s", err.msg);
    ck_assert_msg(strlen(err.msg) > 27, "the queue's reason is appended: %s", err.msg);
    ck_assert_uint_eq(ERR_peek_error(), 0); /* drained */
}
END_TEST

START_TEST(test_code_names)
{
    ck_assert_str_eq(jerr_code_name(JERR_INVALID), "invalid");
    ck_assert_str_eq(jerr_code_name(JERR_NOT_FOUND), "not_found");
    ck_assert_str_eq(jerr_code_name(JERR_TOO_LARGE), "too_large");
    ck_assert_ptr_nonnull(jerr_code_name(12345)); /* unknown codes still have a name */
}
END_TEST

START_TEST(test_escape)
{
    char out[64];
    jerr_escape(out, sizeof(out), "ok\n\\\x01\xff", 6);
    ck_assert_str_eq(out, "ok\\x0a\\x5c\\x01\\xff");
    /* An escape that does not fit is left out whole, never cut in half. */
    jerr_escape(out, 6, "ab\ncd", 5);
    ck_assert_str_eq(out, "ab");
    jerr_escape(out, 1, "abc", 3);
    ck_assert_str_eq(out, "");
    /* Embedded NUL bytes count by length, not by C string. */
    jerr_escape(out, sizeof(out), "a\0b", 3);
    ck_assert_str_eq(out, "a\\x00b");
}
END_TEST

static Suite *jerr_suite(void)
{
    Suite *s = suite_create("jerr");
    TCase *tc = tcase_create("jerr");
    tcase_add_test(tc, test_first_error_wins);
    tcase_add_test(tc, test_oom);
    tcase_add_test(tc, test_long_texts_are_cut);
    tcase_add_test(tc, test_openssl_queue);
    tcase_add_test(tc, test_code_names);
    tcase_add_test(tc, test_escape);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(jerr_suite());
}
