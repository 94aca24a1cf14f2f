/* Unit tests of keystore/kdf.c: scrypt with the fixed cost, against RFC 7914's own vector, and
 * HKDF-SHA256 against RFC 5869's. */
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

START_TEST(test_rfc5869_vector)
{
    /* RFC 5869 Appendix A.1, HKDF-SHA256 test case 1. */
    unsigned char ikm[22], salt[13], info[10], out[42];
    static const unsigned char want[42] = {
        0x3c, 0xb2, 0x5f, 0x25, 0xfa, 0xac, 0xd5, 0x7a, 0x90, 0x43, 0x4f, 0x64, 0xd0, 0x36,
        0x2f, 0x2a, 0x2d, 0x2d, 0x0a, 0x90, 0xcf, 0x1a, 0x5a, 0x4c, 0x5d, 0xb0, 0x2d, 0x56,
        0xec, 0xc4, 0xc5, 0xbf, 0x34, 0x00, 0x72, 0x08, 0xd5, 0xb8, 0x87, 0x18, 0x58, 0x65};
    struct jerr err = {0};
    memset(ikm, 0x0b, sizeof(ikm));
    for (size_t i = 0; i < sizeof(salt); i++)
        salt[i] = (unsigned char)i;
    for (size_t i = 0; i < sizeof(info); i++)
        info[i] = (unsigned char)(0xf0 + i);
    ck_assert_int_eq(kdf_hkdf_sha256(ikm, sizeof(ikm), salt, sizeof(salt), info, sizeof(info), out,
                                     sizeof(out), &err),
                     0);
    ck_assert_int_eq(memcmp(out, want, sizeof(want)), 0);
}
END_TEST

static Suite *kdf_suite(void)
{
    Suite *s = suite_create("kdf");
    TCase *tc = tcase_create("kdf");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_rfc7914_vector);
    tcase_add_test(tc, test_inputs_matter);
    tcase_add_test(tc, test_rfc5869_vector);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(kdf_suite());
}
