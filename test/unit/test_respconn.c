/*
 * test_respconn: jpkid respond's reading of respond.redis (responder/respond/respconn.h) — the
 * URL, the sentinel list, what is refused and why (the key named) — and presign_parse refusing
 * what is not a response for its key. No Redis is needed: test_respond.sh runs the real one.
 */
#include <stdlib.h>
#include <string.h>

#include "responder/ocsp/presign_parse.h"
#include "responder/respond/respconn.h"
#include "testutil.h"

static struct jpki_config *cfg_of(const char *const *sets, size_t n)
{
    struct jerr err = {0};
    struct jpki_config *cfg = config_load_string("t.yaml", "", 0, sets, n, &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    return cfg;
}

START_TEST(test_url)
{
    const char *sets[] = {"respond.redis.url=redis://10.0.0.5:6380/3", "respond.redis.key_prefix=x:"};
    struct jpki_config *cfg = cfg_of(sets, 2);
    struct respconn_cfg rc;
    struct jerr err = {0};
    ck_assert_int_eq(respconn_cfg_load(&rc, cfg, &err), 0);
    ck_assert_str_eq(rc.primary.host, "10.0.0.5");
    ck_assert_int_eq(rc.primary.port, 6380);
    ck_assert_int_eq(rc.db, 3);
    ck_assert_str_eq(rc.prefix, "x:");
    ck_assert_uint_eq(rc.sentinel_count, 0);
    ck_assert_ptr_null(rc.password);
    respconn_cfg_clear(&rc);
    config_free(cfg);
}
END_TEST

START_TEST(test_sentinels)
{
    const char *sets[] = {"respond.redis.sentinel.addresses=127.0.0.1:26379, 127.0.0.1:26380",
                          "respond.redis.sentinel.master=jpki"};
    struct jpki_config *cfg = cfg_of(sets, 2);
    struct respconn_cfg rc;
    struct jerr err = {0};
    ck_assert_int_eq(respconn_cfg_load(&rc, cfg, &err), 0);
    ck_assert_uint_eq(rc.sentinel_count, 2);
    ck_assert_int_eq(rc.sentinels[1].port, 26380);
    ck_assert_str_eq(rc.master, "jpki");
    respconn_cfg_clear(&rc);
    config_free(cfg);
}
END_TEST

static void assert_refused(const char *a, const char *b, const char *field)
{
    const char *sets[] = {a, b};
    struct jpki_config *cfg = cfg_of(sets, b != NULL ? 2 : (a != NULL ? 1 : 0));
    struct respconn_cfg rc;
    struct jerr err = {0};
    ck_assert_int_eq(respconn_cfg_load(&rc, cfg, &err), -1);
    ck_assert_msg(strcmp(err.field, field) == 0, "field %s, wanted %s (%s)", err.field, field,
                  err.msg);
    respconn_cfg_clear(&rc);
    config_free(cfg);
}

START_TEST(test_refusals)
{
    assert_refused(NULL, NULL, "respond.redis.url"); /* neither url nor sentinels */
    assert_refused("respond.redis.url=http://h:1", NULL, "respond.redis.url");
    assert_refused("respond.redis.url=redis://:secret@h:1", NULL, "respond.redis.url");
    assert_refused("respond.redis.url=redis://h", NULL, "respond.redis.url");
    assert_refused("respond.redis.url=redis://h:70000", NULL, "respond.redis.url");
    assert_refused("respond.redis.url=redis://h:1/x", NULL, "respond.redis.url");
    assert_refused("respond.redis.sentinel.addresses=h:1", NULL, "respond.redis.sentinel.master");
    assert_refused("respond.redis.sentinel.addresses=h", "respond.redis.sentinel.master=m",
                   "respond.redis.sentinel.addresses");
    assert_refused("respond.redis.url=redis://h:1", "respond.redis.password.env=JPKI_NO_SUCH_VAR",
                   "respond.redis.password.env");
}
END_TEST

START_TEST(test_parse_refuses_garbage)
{
    struct ocsp_issuer issuer;
    memset(&issuer, 0, sizeof(issuer));
    struct presign_key key = {.ca = CA_SIGN, .certid_hash = OCSP_CERTID_SHA1, .serial = "01"};
    static const unsigned char garbage[] = {0x30, 0x03, 0x0a, 0x01, 0x00, 0xff};
    static const unsigned char try_later[] = {0x30, 0x03, 0x0a, 0x01, 0x03};
    struct jerr err = {0};
    ck_assert_ptr_null(presign_parse(&issuer, &key, garbage, sizeof(garbage), NULL, &err));
    ck_assert_str_eq(err.field, "der");
    memset(&err, 0, sizeof(err));
    ck_assert_ptr_null(presign_parse(&issuer, &key, try_later, sizeof(try_later), NULL, &err));
    ck_assert_str_eq(err.field, "der");
    memset(&err, 0, sizeof(err));
    ck_assert_ptr_null(presign_parse(&issuer, &key, garbage, 0, NULL, &err));
}
END_TEST

static Suite *respconn_suite(void)
{
    Suite *s = suite_create("respconn");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, test_url);
    tcase_add_test(tc, test_sentinels);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_parse_refuses_garbage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(respconn_suite());
}
