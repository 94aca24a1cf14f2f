/*
 * test_keygen: RSA subscriber key generation — size bounds, exponent, freshness.
 */
#include <check.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "keystore/keygen.h"
#include "testutil.h"

static void assert_refused_bits(int bits)
{
    struct jerr err = {0};
    EVP_PKEY *pkey = keygen_rsa(bits, &err);
    ck_assert_ptr_null(pkey);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "key_bits");
    ck_assert_ptr_nonnull(strstr(err.msg, "outside 2048..8192"));
}

START_TEST(test_bits_out_of_range_refused)
{
    assert_refused_bits(2047);
    assert_refused_bits(1024);
    assert_refused_bits(0);
    assert_refused_bits(-2048);
    assert_refused_bits(8193);
    assert_refused_bits(16384);
}
END_TEST

START_TEST(test_rsa_2048_exponent_and_size)
{
    struct jerr err = {0};
    BIGNUM *e = NULL, *d = NULL;
    EVP_PKEY *pkey = keygen_rsa(2048, &err);
    ck_assert_ptr_nonnull(pkey);
    ck_assert_int_eq(err.code, JERR_NONE);
    ck_assert_int_eq(EVP_PKEY_is_a(pkey, "RSA"), 1);
    ck_assert_int_eq(EVP_PKEY_get_bits(pkey), 2048);
    ck_assert_int_eq(EVP_PKEY_get_size(pkey), 256);
    ck_assert_int_eq(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e), 1);
    ck_assert_int_eq(BN_is_word(e, 65537), 1);
    /* The caller gets the private half too (it goes onto the card image). */
    ck_assert_int_eq(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_D, &d), 1);
    ck_assert_int_eq(BN_is_zero(d), 0);
    BN_free(e);
    BN_clear_free(d);
    EVP_PKEY_free(pkey);
}
END_TEST

START_TEST(test_two_keys_differ)
{
    struct jerr err = {0};
    EVP_PKEY *a = keygen_rsa(2048, &err);
    EVP_PKEY *b = keygen_rsa(2048, &err);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(err.code, JERR_NONE);
    /* Different moduli, not only different objects: EVP_PKEY_eq compares the public keys. */
    ck_assert_int_eq(EVP_PKEY_eq(a, b), 0);
    BIGNUM *na = NULL, *nb = NULL;
    ck_assert_int_eq(EVP_PKEY_get_bn_param(a, OSSL_PKEY_PARAM_RSA_N, &na), 1);
    ck_assert_int_eq(EVP_PKEY_get_bn_param(b, OSSL_PKEY_PARAM_RSA_N, &nb), 1);
    ck_assert_int_ne(BN_cmp(na, nb), 0);
    BN_free(na);
    BN_free(nb);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
}
END_TEST

START_TEST(test_odd_size_inside_bounds)
{
    /* Any size in the range is honoured exactly, not rounded. */
    struct jerr err = {0};
    EVP_PKEY *pkey = keygen_rsa(2056, &err);
    ck_assert_ptr_nonnull(pkey);
    ck_assert_int_eq(EVP_PKEY_get_bits(pkey), 2056);
    EVP_PKEY_free(pkey);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("keygen");
    TCase *tc = tcase_create("rsa");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_bits_out_of_range_refused);
    tcase_add_test(tc, test_rsa_2048_exponent_and_size);
    tcase_add_test(tc, test_two_keys_differ);
    tcase_add_test(tc, test_odd_size_inside_bounds);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
