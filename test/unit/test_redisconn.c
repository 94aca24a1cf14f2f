/*
 * responder/redis/redisconn.c, the one Redis connection of the publisher and the responders:
 * redis:// URLs parsed or refused naming the key; a server that is not there is
 * JERR_UNAVAILABLE naming its address (no server needed: a closed port); respond.redis and
 * publish.redis read into a redisconn_cfg (the URL, the sentinel list, what is refused and
 * why); and presign_parse refusing what is not a response for its key. The real Redis (and
 * one that answers garbage) is in test_redis_publish.sh and test_respond.sh.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "responder/ocsp/presign_parse.h"
#include "responder/publish/redispub.h"
#include "responder/redis/redisconn.h"
#include "responder/respond/respond.h"
#include "testutil.h"

START_TEST(parses_the_forms)
{
    struct redisconn_target t;
    struct jerr err = {0};
    ck_assert_int_eq(redisconn_parse("redis://127.0.0.1:6380/3", "k", &t, &err), 0);
    ck_assert_str_eq(t.host, "127.0.0.1");
    ck_assert_int_eq(t.port, 6380);
    ck_assert_int_eq(t.db, 3);
    ck_assert_int_eq(redisconn_parse("redis://cache.example", "k", &t, &err), 0);
    ck_assert_str_eq(t.host, "cache.example");
    ck_assert_int_eq(t.port, 6379);
    ck_assert_int_eq(t.db, 0);
    ck_assert_int_eq(redisconn_parse("REDIS://[::1]:7000/", "k", &t, &err), 0);
    ck_assert_str_eq(t.host, "::1");
    ck_assert_int_eq(t.port, 7000);
    char addr[64];
    ck_assert_str_eq(redisconn_addr(&t, addr, sizeof(addr)), "[::1]:7000");
}
END_TEST

START_TEST(refuses_naming_the_key)
{
    static const char *const bad[] = {
        "http://127.0.0.1:6379/0",      /* not redis */
        "redis://:pw@127.0.0.1:6379/0", /* a password in the URL */
        "redis://u@127.0.0.1/0",        /* a user */
        "redis://127.0.0.1:6379/x",     /* not a database number */
        "redis://127.0.0.1:6379/1/2",   /* nor this */
        "redis://127.0.0.1:6379/0?a=b", /* a query */
        "redis://127.0.0.1:0/0",        /* port 0 */
        "redis:///0",                   /* no host */
        "redis://[::1/0",               /* unparseable */
        "127.0.0.1:6379",               /* no scheme */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct redisconn_target t;
        struct jerr err = {0};
        ck_assert_msg(redisconn_parse(bad[i], "publish.redis.url", &t, &err) == -1, "%s", bad[i]);
        ck_assert_int_eq(err.code, JERR_CONFIG);
        ck_assert_str_eq(err.field, "publish.redis.url");
    }
}
END_TEST

START_TEST(unreachable_is_unavailable)
{
    struct redisconn_target t = {.port = 1};
    struct jerr err = {0};
    strcpy(t.host, "127.0.0.1");
    ck_assert_ptr_null(redisconn_open(&t, NULL, NULL, 1000, &err));
    ck_assert_int_eq(err.code, JERR_UNAVAILABLE);
    ck_assert_msg(strstr(err.msg, "127.0.0.1:1") != NULL, "%s", err.msg);
}
END_TEST

/* TLS settings that cannot be used are refused naming their key; a TLS connection to nothing
 * fails as a plain one does. (Handshakes with a real redis-server: test_redis_tls.sh.) */
START_TEST(tls_settings)
{
    static const struct {
        struct config_redis_tls tls;
        const char *field;
    } bad[] = {
        {{true, "/no/such/ca.pem", "", ""}, "respond.redis.tls_ca"},
        {{true, "", "/no/such/cert.pem", ""}, "respond.redis.tls_key"},
        {{true, "", "", "/no/such/key.pem"}, "respond.redis.tls_cert"},
        {{true, "", "/no/such/cert.pem", "/no/such/key.pem"}, "respond.redis.tls_cert"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct redisconn_cfg rc = {0};
        struct jerr err = {0};
        ck_assert_int_eq(redisconn_cfg_set_tls(&rc, "respond.redis", &bad[i].tls, &err), -1);
        ck_assert_int_eq(err.code, JERR_CONFIG);
        ck_assert_str_eq(err.field, bad[i].field);
        ck_assert_ptr_null(rc.tls);
        redisconn_cfg_clear(&rc);
    }
    struct redisconn_cfg rc = {0};
    struct jerr err = {0};
    const struct config_redis_tls system_cas = {true, "", "", ""};
    ck_assert_int_eq(redisconn_cfg_set_tls(&rc, "respond.redis", &system_cas, &err), 0);
    ck_assert_ptr_nonnull(rc.tls);
    struct redisconn_target t = {.port = 1};
    strcpy(t.host, "127.0.0.1");
    ck_assert_ptr_null(redisconn_open(&t, rc.tls, NULL, 1000, &err));
    ck_assert_int_eq(err.code, JERR_UNAVAILABLE);
    ck_assert_msg(strstr(err.msg, "127.0.0.1:1: cannot connect") != NULL, "%s", err.msg);
    redisconn_cfg_clear(&rc);
}
END_TEST

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
    struct redisconn_cfg rc;
    struct jerr err = {0};
    ck_assert_int_eq(respond_redis_cfg(&rc, cfg, &err), 0);
    ck_assert_str_eq(rc.primary.host, "10.0.0.5");
    ck_assert_int_eq(rc.primary.port, 6380);
    ck_assert_int_eq(rc.primary.db, 3);
    ck_assert_str_eq(rc.prefix, "x:");
    ck_assert_uint_eq(rc.sentinel_count, 0);
    ck_assert_ptr_null(rc.password);
    redisconn_cfg_clear(&rc);
    config_free(cfg);
}
END_TEST

START_TEST(test_sentinels)
{
    const char *sets[] = {"respond.redis.sentinel.addresses=127.0.0.1:26379, 127.0.0.1:26380",
                          "respond.redis.sentinel.master=jpki"};
    struct jpki_config *cfg = cfg_of(sets, 2);
    struct redisconn_cfg rc;
    struct jerr err = {0};
    ck_assert_int_eq(respond_redis_cfg(&rc, cfg, &err), 0);
    ck_assert_uint_eq(rc.sentinel_count, 2);
    ck_assert_int_eq(rc.sentinels[1].port, 26380);
    ck_assert_str_eq(rc.master, "jpki");
    redisconn_cfg_clear(&rc);
    config_free(cfg);
}
END_TEST

static void assert_refused(const char *a, const char *b, const char *field)
{
    const char *sets[] = {a, b};
    struct jpki_config *cfg = cfg_of(sets, b != NULL ? 2 : (a != NULL ? 1 : 0));
    struct redisconn_cfg rc;
    struct jerr err = {0};
    ck_assert_int_eq(respond_redis_cfg(&rc, cfg, &err), -1);
    ck_assert_msg(strcmp(err.field, field) == 0, "field %s, wanted %s (%s)", err.field, field,
                  err.msg);
    redisconn_cfg_clear(&rc);
    config_free(cfg);
}

START_TEST(test_refusals)
{
    assert_refused(NULL, NULL, "respond.redis.url"); /* neither url nor sentinels */
    assert_refused("respond.redis.url=redis://:secret@h:1", NULL, "respond.redis.url");
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

START_TEST(test_publish_cfg)
{
    /* Both sections refuse at load what is no redis:// URL, and two password sources. */
    const char *const sections[] = {"publish", "respond"};
    for (size_t i = 0; i < 2; i++) {
        char url[64], env[64], file[64], key[64];
        snprintf(url, sizeof(url), "%s.redis.url=http://h:1", sections[i]);
        snprintf(env, sizeof(env), "%s.redis.password.env=X", sections[i]);
        snprintf(file, sizeof(file), "%s.redis.password.file=/x", sections[i]);
        const char *sets[][2] = {{url, NULL}, {env, file}};
        const char *fields[] = {"url", "password.file"};
        for (size_t j = 0; j < 2; j++) {
            struct jerr e = {0};
            struct jpki_config *c =
                config_load_string("t.yaml", "", 0, sets[j], sets[j][1] != NULL ? 2 : 1, &e);
            ck_assert_ptr_null(c);
            snprintf(key, sizeof(key), "%s.redis.%s", sections[i], fields[j]);
            ck_assert_msg(strcmp(e.field, key) == 0, "%s: %s", key, e.msg);
        }
    }
    const char *ok[] = {"publish.redis.url=redis://127.0.0.1:6390/2"};
    struct jpki_config *cfg = cfg_of(ok, 1);
    struct jerr err = {0};
    ck_assert_int_eq(redispub_check_config(cfg, &err), 0);
    config_free(cfg);
    const char *bad[] = {"publish.redis.url=redis://h:1/x"};
    cfg = cfg_of(bad, 1);
    ck_assert_int_eq(redispub_check_config(cfg, &err), -1);
    ck_assert_str_eq(err.field, "publish.redis.url");
    config_free(cfg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("redisconn");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, parses_the_forms);
    tcase_add_test(tc, refuses_naming_the_key);
    tcase_add_test(tc, unreachable_is_unavailable);
    tcase_add_test(tc, tls_settings);
    tcase_add_test(tc, test_url);
    tcase_add_test(tc, test_sentinels);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_publish_cfg);
    tcase_add_test(tc, test_parse_refuses_garbage);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
