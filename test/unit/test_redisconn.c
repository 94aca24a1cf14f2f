/*
 * responder/publish/redisconn.c: redis:// URLs parsed or refused naming the key; a server
 * that is not there is JERR_UNAVAILABLE naming its address (no server needed: a closed port).
 */
#include <check.h>
#include <string.h>

#include "responder/publish/redisconn.h"
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
    ck_assert_ptr_null(redisconn_open(&t, NULL, 1000, &err));
    ck_assert_int_eq(err.code, JERR_UNAVAILABLE);
    ck_assert_msg(strstr(err.msg, "127.0.0.1:1") != NULL, "%s", err.msg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("redisconn");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, parses_the_forms);
    tcase_add_test(tc, refuses_naming_the_key);
    tcase_add_test(tc, unreachable_is_unavailable);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
