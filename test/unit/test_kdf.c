/* Unit tests of keystore/kdf.c: scrypt with the fixed cost, against RFC 7914's own vector. */
#include <check.h>
#include <string.h>

#include <openssl/kdf.h>

#include "keystore/kdf.h"
#include "testutil.h"

START_TEST(test_rfc7914_vector)
{
    /* RFC 7914 §12, the vector with N = 16384, r = 8, p = 1: the cost kdf.c fixes. */
    static const unsigned char want[64] = {
        0x70, 0x23, 0xbd, 0xcb, 0x3a, 0xfd, 0x73, 0x48, 0x46, 0x1c, 0x06, 0xcd, 0x81, 0xfd,
        0x38, 0xeb, 0xfd, 0xa8, 0xfb, 0xba, 0x90, 0x4f, 0x8e, 0x3e, 0xa9, 0xb5, 0x43, 0xf6,
        0x54, 0x5d, 0xa1, 0xf2, 0xd5, 0x43, 0x29, 0x55, 0x61, 0x3f, 0x0f, 0xcf, 0x62, 0xd4,
        0x97, 0x05, 0x24, 0x2a, 0x9a, 0xf9, 0xe6, 0x1e, 0x85, 0xdc, 0x0d, 0x65, 0x1e, 0x40,
        0xdf, 0xcf, 0x01, 0x7b, 0x45, 0x57, 0x58, 0x87};
    unsigned char out[64];
    struct jerr err = {0};
    ck_assert_int_eq(kdf_scrypt("pleaseletmein", (const unsigned char *)"SodiumChloride", 14, out,
                                sizeof(out), &err),
                     0);
    ck_assert_int_eq(memcmp(out, want, sizeof(want)), 0);
}
END_TEST

START_TEST(test_inputs_matter)
{
    unsigned char a[32], b[32], c[32];
    struct jerr err = {0};
    const unsigned char salt1[16] = {1}, salt2[16] = {2};
    ck_assert_int_eq(kdf_scrypt("QWERTY7890", salt1, sizeof(salt1), a, sizeof(a), &err), 0);
    ck_assert_int_eq(kdf_scrypt("QWERTY7891", salt1, sizeof(salt1), b, sizeof(b), &err), 0);
    ck_assert_int_eq(kdf_scrypt("QWERTY7890", salt2, sizeof(salt2), c, sizeof(c), &err), 0);
    ck_assert_int_ne(memcmp(a, b, sizeof(a)), 0);
    ck_assert_int_ne(memcmp(a, c, sizeof(a)), 0);
    /* Deterministic. */
    ck_assert_int_eq(kdf_scrypt("QWERTY7890", salt1, sizeof(salt1), b, sizeof(b), &err), 0);
    ck_assert_int_eq(memcmp(a, b, sizeof(a)), 0);
}
END_TEST

static Suite *kdf_suite(void)
{
    Suite *s = suite_create("kdf");
    TCase *tc = tcase_create("kdf");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_rfc7914_vector);
    tcase_add_test(tc, test_inputs_matter);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(kdf_suite());
}
