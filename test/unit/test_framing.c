/* Unit tests of responder/net/framing.c: the framing rules as a pure function. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

#include "responder/net/framing.h"
#include "testutil.h"

/* A header list of the "Name", "value" pairs given to H(). */
static struct evkeyvalq list;
static struct evkeyval items[8];

static struct evkeyvalq *make(const char *const *pairs)
{
    TAILQ_INIT(&list);
    for (int i = 0; pairs[2 * i] != NULL; i++) {
        items[i].key = (char *)pairs[2 * i];
        items[i].value = (char *)pairs[2 * i + 1];
        TAILQ_INSERT_TAIL(&list, &items[i], next);
    }
    return &list;
}

#define H(...) make((const char *const[]){__VA_ARGS__, NULL})

START_TEST(test_accepted)
{
    ck_assert_ptr_null(framing_problem(EVHTTP_REQ_GET, 1, 1, H("Host", "x")));
    ck_assert_ptr_null(framing_problem(EVHTTP_REQ_POST, 1, 1, H("Content-Length", "12")));
    ck_assert_ptr_null(framing_problem(EVHTTP_REQ_POST, 1, 1, H("content-length", "0")));
    ck_assert_ptr_null(framing_problem(EVHTTP_REQ_POST, 1, 1, H("Transfer-Encoding", "Chunked")));
    ck_assert_ptr_null(framing_problem(EVHTTP_REQ_HEAD, 1, 1, H("Content-Length", "0")));
    ck_assert_ptr_null(framing_problem(EVHTTP_REQ_POST, 1, 0, H("X-A_b.c~!", "1")));
}
END_TEST

/* A refused framing: the method and HTTP/1.minor of the request line, its headers ("Name",
 * "value" pairs) and the exact reason framing_problem gives. */
struct refusal {
    enum evhttp_cmd_type method;
    int minor;
    const char *headers[5]; /* at most two pairs, NULL-terminated */
    const char *why;
};

static const struct refusal refusals[] = {
    {EVHTTP_REQ_POST,
     1,
     {"Content-Length", "0", "Content-Length", "38"},
     "more than one Content-Length header"},
    {EVHTTP_REQ_POST, 1, {"Content-Length", "+5"}, "Content-Length is not a plain decimal number"},
    {EVHTTP_REQ_POST, 1, {"Content-Length", ""}, "Content-Length is not a plain decimal number"},
    {EVHTTP_REQ_POST, 1, {"Transfer-Encoding ", "chunked"}, "malformed header field name"},
    {EVHTTP_REQ_POST, 1, {"Bad(Name)", "1"}, "malformed header field name"},
    {EVHTTP_REQ_POST, 1, {"Transfer-Encoding", "gzip"}, "Transfer-Encoding other than chunked"},
    {EVHTTP_REQ_POST,
     1,
     {"Transfer-Encoding", "chunked", "Content-Length", "3"},
     "both Transfer-Encoding and Content-Length"},
    {EVHTTP_REQ_POST,
     1,
     {"Transfer-Encoding", "chunked", "Transfer-Encoding", "chunked"},
     "more than one Transfer-Encoding header"},
    {EVHTTP_REQ_POST,
     0,
     {"Transfer-Encoding", "chunked"},
     "Transfer-Encoding in an HTTP/1.0 request"},
    {EVHTTP_REQ_HEAD, 1, {"Content-Length", "5"}, "a body with HEAD or TRACE"},
    {EVHTTP_REQ_TRACE, 1, {"Transfer-Encoding", "chunked"}, "a body with HEAD or TRACE"},
};

/* A loop test: one refusal per iteration (_i), so that a failure names its row. */
START_TEST(test_refused)
{
    const struct refusal *r = &refusals[_i];
    ck_assert_str_eq(framing_problem(r->method, 1, r->minor, make(r->headers)), r->why);
}
END_TEST

static Suite *framing_suite(void)
{
    Suite *s = suite_create("framing");
    TCase *tc = tcase_create("framing");
    tcase_add_test(tc, test_accepted);
    tcase_add_loop_test(tc, test_refused, 0, (int)(sizeof(refusals) / sizeof(refusals[0])));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(framing_suite());
}
