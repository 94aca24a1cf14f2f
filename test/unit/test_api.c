/*
 * test_api: the pure parts of the /v1 frame (responder/api/api.c) — route templates against raw
 * paths, and the decoding and checking of the {id} / {serial} segment. The calls themselves
 * (authentication, roles, bodies, audit rows) are exercised against the real service by
 * test/integration/test_api.sh.
 */
#include <check.h>
#include <string.h>

#include "responder/api/api.h"
#include "testutil.h"

static void match(const char *tpl, const char *path, const char *param)
{
    const char *p;
    size_t len;
    ck_assert_msg(api_path_matches(tpl, path, &p, &len), "%s should match %s", path, tpl);
    if (param == NULL) {
        ck_assert_ptr_null(p);
        ck_assert_uint_eq(len, 0);
    } else {
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(len, strlen(param));
        ck_assert(memcmp(p, param, len) == 0);
    }
}

static void no_match(const char *tpl, const char *path)
{
    const char *p;
    size_t len;
    ck_assert_msg(!api_path_matches(tpl, path, &p, &len), "%s should not match %s", path, tpl);
    ck_assert_ptr_null(p);
}

START_TEST(templates)
{
    match("/v1/persons", "/v1/persons", NULL);
    match("/v1/persons/{id}", "/v1/persons/p1", "p1");
    match("/v1/cards/{id}/hold", "/v1/cards/c-1.x_2/hold", "c-1.x_2");
    match("/v1/cards/{id}/hold", "/v1/cards/a%2Fb/hold", "a%2Fb"); /* raw, not decoded */
    match("/v1/certificates/{serial}/revoke", "/v1/certificates/0A1b/revoke", "0A1b");

    no_match("/v1/persons", "/v1/persons/");
    no_match("/v1/persons", "/v1/person");
    no_match("/v1/persons", "/v1/personsx");
    no_match("/v1/persons/{id}", "/v1/persons/"); /* an empty id is no id */
    no_match("/v1/persons/{id}", "/v1/persons");
    no_match("/v1/persons/{id}", "/v1/persons/p1/");
    no_match("/v1/cards/{id}/hold", "/v1/cards/a/b/hold"); /* a literal '/' splits segments */
    no_match("/v1/cards/{id}/hold", "/v1/cards/c1/hold/x");
    no_match("/v1/cards/{id}/hold", "/v1/cards/c1/Hold");
    no_match("/v1/cards/{id}/hold", "/v1//c1/hold");
    no_match("/v1/cards/{id}/hold", "v1/cards/c1/hold");
}
END_TEST

static void decode_ok(const char *kind, const char *raw, const char *want)
{
    char out[JPKI_ID_MAX + 1];
    struct jerr err = {0};
    ck_assert_msg(api_param_decode(kind, raw, strlen(raw), out, sizeof(out), &err) == 0, "%s: %s",
                  raw, err.msg);
    ck_assert_str_eq(out, want);
}

static void decode_refused(const char *kind, const char *raw, size_t raw_len, const char *why)
{
    char out[JPKI_ID_MAX + 1] = "untouched";
    struct jerr err = {0};
    ck_assert_int_eq(api_param_decode(kind, raw, raw_len, out, sizeof(out), &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, kind);
    ck_assert_msg(strstr(err.msg, why) != NULL, "'%s' not in '%s'", why, err.msg);
    ck_assert_str_eq(out, "untouched");
}

START_TEST(params)
{
    char id64[JPKI_ID_MAX + 2];
    memset(id64, 'a', sizeof(id64));
    id64[JPKI_ID_MAX] = '\0';

    decode_ok("id", "p1", "p1");
    decode_ok("id", "A.b_c-9", "A.b_c-9");
    decode_ok("id", "p%31", "p1"); /* percent-decoded */
    decode_ok("id", id64, id64);
    decode_ok("serial", "0a1B", "0A1B"); /* upper-cased as the registry stores it */
    decode_ok("serial", "0123456789ABCDEF0123456789abcdef01234567",
              "0123456789ABCDEF0123456789ABCDEF01234567");

    id64[JPKI_ID_MAX] = 'a';
    id64[JPKI_ID_MAX + 1] = '\0';
    decode_refused("id", id64, strlen(id64), "longer than 64");
    decode_refused("id", "a%2Fb", 5, "outside [A-Za-z0-9._-]");
    decode_refused("id", "a%20b", 5, "outside [A-Za-z0-9._-]");
    decode_refused("id", "%E5%B1%B1", 9, "outside [A-Za-z0-9._-]");
    decode_refused("id", "a%00b", 5, "NUL");
    decode_refused("serial", "0G", 2, "hexadecimal");
    decode_refused("serial", "%30%00", 6, "NUL");
    decode_refused("serial", "0123456789ABCDEF0123456789ABCDEF012345678", 41, "hexadecimal");
    char huge[400];
    memset(huge, 'a', sizeof(huge));
    decode_refused("id", huge, sizeof(huge), "longer than 64");
}
END_TEST

static Suite *api_suite(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("pure");
    tcase_add_test(tc, templates);
    tcase_add_test(tc, params);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(api_suite());
}
