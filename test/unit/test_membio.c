/* Unit tests of base/membio.c: a memory BIO's text as a C string — whole, terminated, binary-safe
 * up to its length, the BIO left readable, and a refusal for a BIO that is not memory. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>

#include "base/jerr.h"
#include "base/membio.h"
#include "testutil.h"

START_TEST(test_text_copied_and_terminated)
{
    struct jerr err = {0};
    BIO *bio = BIO_new(BIO_s_mem());
    ck_assert_ptr_nonnull(bio);
    ck_assert_int_eq(BIO_printf(bio, "C=JP, O=%s", "JPKI"), 12);
    char *text = membio_to_string(bio, &err);
    ck_assert_ptr_nonnull(text);
    ck_assert_str_eq(text, "C=JP, O=JPKI");
    /* The BIO still holds its bytes: the caller may read them again. */
    char again[32];
    ck_assert_int_eq(BIO_read(bio, again, sizeof(again)), 12);
    free(text);
    BIO_free(bio);
}
END_TEST

START_TEST(test_empty_is_empty_string)
{
    struct jerr err = {0};
    BIO *bio = BIO_new(BIO_s_mem());
    char *text = membio_to_string(bio, &err);
    ck_assert_ptr_nonnull(text);
    ck_assert_str_eq(text, "");
    ck_assert_int_eq(err.code, JERR_NONE);
    free(text);
    BIO_free(bio);
}
END_TEST

START_TEST(test_long_text)
{
    struct jerr err = {0};
    BIO *bio = BIO_new(BIO_s_mem());
    static char big[100000];
    memset(big, 'p', sizeof(big));
    ck_assert_int_eq(BIO_write(bio, big, sizeof(big)), (int)sizeof(big));
    char *text = membio_to_string(bio, &err);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(strlen(text), sizeof(big));
    ck_assert_int_eq(memcmp(text, big, sizeof(big)), 0);
    free(text);
    BIO_free(bio);
}
END_TEST

START_TEST(test_not_a_memory_bio)
{
    struct jerr err = {0};
    BIO *null_bio = BIO_new(BIO_s_null());
    ck_assert_ptr_null(membio_to_string(null_bio, &err));
    ck_assert_int_eq(err.code, JERR_INTERNAL);
    ck_assert_str_eq(err.msg, "not a memory BIO");
    jerr_clear(&err);
    ck_assert_ptr_null(membio_to_string(NULL, &err));
    ck_assert_int_eq(err.code, JERR_INTERNAL);
    BIO_free(null_bio);
}
END_TEST

static Suite *membio_suite(void)
{
    Suite *s = suite_create("membio");
    TCase *tc = tcase_create("membio");
    tcase_add_test(tc, test_text_copied_and_terminated);
    tcase_add_test(tc, test_empty_is_empty_string);
    tcase_add_test(tc, test_long_text);
    tcase_add_test(tc, test_not_a_memory_bio);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(membio_suite());
}
