/*
 * test_http: the shared HTTP helpers as pure functions — the jerr → status map, reason
 * phrases, Allow lists, ETags, If-None-Match lists (RFC 7232 §2.3, §3.2), HTTP-dates in the
 * three forms of RFC 7231 §7.1.1.1, the 304 decision (RFC 7232 §6), max-age and the URI cap.
 */
#include <stdio.h>
#include <string.h>

#include <event2/http.h>

#include "base/limits.h"
#include "responder/net/http.h"
#include "testutil.h"

START_TEST(test_status_map)
{
    static const struct {
        enum jerr_code code;
        int status;
    } statuses[] = {
        {JERR_INVALID, 400}, {JERR_AUTH, 401},     {JERR_FORBIDDEN, 403}, {JERR_NOT_FOUND, 404},
        {JERR_REFUSED, 409}, {JERR_CONFLICT, 409}, {JERR_TOO_LARGE, 413}, {JERR_UNAVAILABLE, 503},
        {JERR_IO, 500},      {JERR_CRYPTO, 500},   {JERR_INTERNAL, 500},  {JERR_CONFIG, 500},
    };
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
        ck_assert_msg(http_status_for(statuses[i].code) == statuses[i].status,
                      "code %d: %d, want %d", (int)statuses[i].code,
                      http_status_for(statuses[i].code), statuses[i].status);

    static const struct {
        int status;
        const char *reason;
    } reasons[] = {
        {304, "Not Modified"}, {405, "Method Not Allowed"},
        {414, "URI Too Long"}, {503, "Service Unavailable"},
        {299, "Error"},
    };
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        ck_assert_str_eq(http_reason(reasons[i].status), reasons[i].reason);
}
END_TEST

START_TEST(test_allow_header)
{
    char buf[HTTP_ALLOW_MAX];
    ck_assert_str_eq(
        http_allow_header(EVHTTP_REQ_POST | EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, buf, sizeof(buf)),
        "GET, HEAD, POST");
    ck_assert_str_eq(http_allow_header(EVHTTP_REQ_DELETE, buf, sizeof(buf)), "DELETE");
    ck_assert_str_eq(http_allow_header(0, buf, sizeof(buf)), "");
    char tiny[10];
    ck_assert_str_eq(
        http_allow_header(EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST, tiny, sizeof(tiny)),
        "GET, HEAD"); /* cut at a whole method, never mid-name */
}
END_TEST

START_TEST(test_etag_sha256)
{
    unsigned char digest[32];
    char etag[HTTP_ETAG_MAX];
    for (int i = 0; i < 32; i++)
        digest[i] = (unsigned char)(i * 8 + 1);
    http_etag_sha256(digest, etag);
    ck_assert_str_eq(etag, "\"0109111921293139414951596169717981899199a1a9b1b9c1c9d1d9e1e9f1f9\"");
    ck_assert_uint_eq(strlen(etag), 66);
}
END_TEST

START_TEST(test_etag_match)
{
    static const struct {
        const char *header, *etag;
        bool match;
    } cases[] = {
        {"\"abc\"", "\"abc\"", true},
        {"W/\"abc\"", "\"abc\"", true}, /* weak comparison */
        {"\"abc\"", "W/\"abc\"", true},
        {"\"x\", \"abc\"", "\"abc\"", true},
        {"\"x\",\"abc\" ,\"y\"", "\"abc\"", true},
        {" , ,\"abc\"", "\"abc\"", true}, /* empty list elements are allowed */
        {"*", "\"abc\"", true},
        {" * ", "\"abc\"", true},
        {"\"abcd\"", "\"abc\"", false},
        {"\"ab\"", "\"abc\"", false},
        {"\"x\", \"y\"", "\"abc\"", false},
        {"abc", "\"abc\"", false}, /* unquoted: malformed */
        {"\"abc", "\"abc\"", false},
        {"\"abc\" junk", "\"abc\"", false},
        {"\"abc\"; \"x\"", "\"abc\"", false},
        {"\"a\"bc\"", "\"abc\"", false},
        {"* , \"x\"", "\"abc\"", false}, /* "*" stands alone */
        {"", "\"abc\"", false},
        {"\"\"", "\"\"", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(http_etag_match(cases[i].header, cases[i].etag) == cases[i].match,
                      "case %zu: %s vs %s", i, cases[i].header, cases[i].etag);
    ck_assert(!http_etag_match(NULL, "\"abc\""));
    ck_assert(!http_etag_match("\"abc\"", NULL));
}
END_TEST

START_TEST(test_dates)
{
    time_t t = 0;
    char buf[HTTP_DATE_MAX];
    /* RFC 7231 §7.1.1.1's example in its three forms. */
    ck_assert_int_eq(http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
    ck_assert_int_eq(t, 784111777);
    t = 0;
    ck_assert_int_eq(http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
    ck_assert_int_eq(t, 784111777);
    t = 0;
    ck_assert_int_eq(http_date_parse("Sun Nov  6 08:49:37 1994", &t), 0);
    ck_assert_int_eq(t, 784111777);
    ck_assert_str_eq(http_date_format(784111777, buf, sizeof(buf)),
                     "Sun, 06 Nov 1994 08:49:37 GMT");
    ck_assert_str_eq(http_date_format(1767225600, buf, sizeof(buf)),
                     "Thu, 01 Jan 2026 00:00:00 GMT");

    static const char *const bad[] = {
        "Sun, 06 Nov 1994 08:49:37",       /* no zone */
        "Sun, 06 Nov 1994 08:49:37 GMT x", /* trailing text */
        "Sun, 32 Nov 1994 08:49:37 GMT",   /* no such day */
        "Sun, 06 Nov 1994 25:49:37 GMT",   "1994-11-06T08:49:37Z", "", "garbage",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = 42;
        ck_assert_msg(http_date_parse(bad[i], &t) == -1, "accepted: %s", bad[i]);
        ck_assert_int_eq(t, 42);
    }
    ck_assert_int_eq(http_date_parse(NULL, &t), -1);
}
END_TEST

START_TEST(test_not_modified)
{
    const char *etag = "\"e1\"";
    time_t lm = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */

    ck_assert(http_is_not_modified("\"e1\"", NULL, etag, lm));
    ck_assert(!http_is_not_modified("\"e2\"", NULL, etag, lm));
    /* If-Modified-Since: not older than Last-Modified → 304. */
    ck_assert(http_is_not_modified(NULL, "Sun, 06 Nov 1994 08:49:37 GMT", etag, lm));
    ck_assert(http_is_not_modified(NULL, "Sun, 06 Nov 1994 08:49:38 GMT", etag, lm));
    ck_assert(!http_is_not_modified(NULL, "Sun, 06 Nov 1994 08:49:36 GMT", etag, lm));
    ck_assert(!http_is_not_modified(NULL, "yesterday", etag, lm)); /* invalid: ignored */
    /* If-None-Match present: it alone decides (RFC 7232 §6). */
    ck_assert(!http_is_not_modified("\"e2\"", "Sun, 06 Nov 1994 08:49:38 GMT", etag, lm));
    ck_assert(http_is_not_modified("\"e1\"", "Sun, 06 Nov 1994 08:49:36 GMT", etag, lm));
    ck_assert(!http_is_not_modified(NULL, NULL, etag, lm));
}
END_TEST

START_TEST(test_max_age_and_uri)
{
    ck_assert_int_eq(http_max_age(1000 + 86400, 1000), 86400);
    ck_assert_int_eq(http_max_age(1001, 1000), 1);
    ck_assert_int_eq(http_max_age(1000, 1000), 0);
    ck_assert_int_eq(http_max_age(900, 1000), 0); /* past nextUpdate: never negative */
    ck_assert_int_eq(http_max_age(0, 1000), 0);   /* unknown */

    /* stale-if-error: the rest of the time until nextUpdate once max-age ran out. */
    ck_assert_int_eq(http_stale_if_error(1000 + 86400, 1000, 300), 86100);
    ck_assert_int_eq(http_stale_if_error(1000 + 300, 1000, 300), 0);
    ck_assert_int_eq(http_stale_if_error(1000 + 200, 1000, 300), 0); /* never negative */
    ck_assert_int_eq(http_stale_if_error(900, 1000, 0), 0);          /* past nextUpdate */
    ck_assert_int_eq(http_stale_if_error(0, 1000, 300), 0);          /* unknown */

    char uri[JPKI_HTTP_MAX_URI_BYTES + 2];
    memset(uri, 'a', sizeof(uri));
    uri[JPKI_HTTP_MAX_URI_BYTES] = '\0';
    ck_assert(!http_uri_is_too_long(uri));
    uri[JPKI_HTTP_MAX_URI_BYTES] = 'a';
    uri[JPKI_HTTP_MAX_URI_BYTES + 1] = '\0';
    ck_assert(http_uri_is_too_long(uri));
    ck_assert(!http_uri_is_too_long("/"));
    ck_assert(!http_uri_is_too_long(NULL));
}
END_TEST

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("pure");
    tcase_add_test(tc, test_status_map);
    tcase_add_test(tc, test_allow_header);
    tcase_add_test(tc, test_etag_sha256);
    tcase_add_test(tc, test_etag_match);
    tcase_add_test(tc, test_dates);
    tcase_add_test(tc, test_not_modified);
    tcase_add_test(tc, test_max_age_and_uri);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(http_suite());
}
