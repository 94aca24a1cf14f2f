/* Unit tests of base/hex.c, base/b64.c and base/httpcode.c: the encoder, the decoder and the
 * status maps both programs share. */
#include <check.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/b64.h"
#include "base/hex.h"
#include "base/httpcode.h"
#include "base/jerr.h"
#include "testutil.h"

START_TEST(test_hex_encode)
{
    const unsigned char in[] = {0x00, 0x0f, 0xa5, 0xff, 0x10};
    char out[2 * sizeof(in) + 1];
    memset(out, 'x', sizeof(out));
    hex_encode(in, sizeof(in), out);
    ck_assert_str_eq(out, "000fa5ff10"); /* lower case, NUL-terminated */
    hex_encode(in, 0, out);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_b64_decode)
{
    unsigned char *out = NULL;
    size_t len = 0;
    ck_assert_int_eq(b64_decode("AA+/\nZm9v", 9, &out, &len), 0); /* a line break tolerated */
    ck_assert_uint_eq(len, 6);
    ck_assert_mem_eq(out, "\x00\x0f\xbf\x66\x6f\x6f", 6); /* 00 0f bf "foo" */
    OPENSSL_free(out);
    ck_assert_int_eq(b64_decode("Zg==", 4, &out, &len), 0);
    ck_assert_uint_eq(len, 1);
    ck_assert_int_eq(out[0], 'f');
    OPENSSL_free(out);
    ck_assert_int_eq(b64_decode("", 0, &out, &len), 0);
    ck_assert_uint_eq(len, 0);
    OPENSSL_free(out);
    /* refusals: a character outside the alphabet, a quantum cut short; *out stays NULL */
    out = (unsigned char *)"x";
    ck_assert_int_eq(b64_decode("Zm9v!", 5, &out, &len), -1);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(b64_decode("Zm9", 3, &out, &len), -1);
    ck_assert_ptr_null(out);
}
END_TEST

START_TEST(test_http_codes)
{
    ck_assert_int_eq(http_status_for(JERR_NOT_FOUND), 404);
    ck_assert_int_eq(http_status_for(JERR_CONFLICT), 409);
    ck_assert_int_eq(http_status_for(JERR_IO), 500);
    ck_assert_str_eq(http_reason(429), "Too Many Requests");
    ck_assert_str_eq(http_reason(299), "Error");
}
END_TEST

static Suite *hex_suite(void)
{
    Suite *s = suite_create("hex");
    TCase *tc = tcase_create("hex");
    tcase_add_test(tc, test_hex_encode);
    tcase_add_test(tc, test_b64_decode);
    tcase_add_test(tc, test_http_codes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(hex_suite());
}
