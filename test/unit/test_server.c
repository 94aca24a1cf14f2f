/*
 * test_server: the HTTP(S) server in-process on 127.0.0.1:0 — routing (exact, longest prefix),
 * the exact refusals (404, 405 + Allow, 413, 414, libevent's own 400/413), HEAD, work sent to
 * the pool and answered on the loop, the connection cap, the idle timeout, stop-accepting, and
 * HTTPS with and without operator client certificates.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "base/limits.h"
#include "responder/net/http.h"
#include "responder/net/log.h"
#include "responder/net/server.h"
#include "responder/net/workers.h"
#include "testhttp.h"
#include "testpem.h"
#include "testutil.h"

/* ---- a raw HTTP client: exact bytes out, exact bytes back ---- */

static void raw_request(int port, const char *data, size_t len, struct testhttp_reply *r)
{
    int fd = testhttp_connect(port);
    ck_assert_int_ge(fd, 0);
    testhttp_send_all(fd, data, len);
    testhttp_read(fd, r);
    close(fd);
}

static void get(int port, const char *method, const char *target, struct testhttp_reply *r)
{
    size_t size = strlen(target) + 128;
    char *req = malloc(size);
    int n = snprintf(req, size, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", method,
                     target);
    raw_request(port, req, (size_t)n, r);
    free(req);
}

/* One request (get) answered with `status`, header `name` equal to `value` (unless name is
 * NULL), and exactly `body` (unless NULL). */
static void expect(int port, const char *method, const char *target, int status, const char *name,
                   const char *value, const char *body)
{
    struct testhttp_reply r;
    char buf[256];
    get(port, method, target, &r);
    ck_assert_msg(r.status == status, "%s %s: status %d, expected %d", method, target, r.status,
                  status);
    if (name != NULL)
        ck_assert_str_eq(testhttp_header(&r, name, buf, sizeof(buf)), value);
    if (body != NULL)
        ck_assert_str_eq(r.body, body);
    testhttp_reply_free(&r);
}

/* The request `req` as it is answered with `status` and exactly `body` (unless NULL). */
static void expect_raw(int port, const char *req, int status, const char *body)
{
    struct testhttp_reply r;
    raw_request(port, req, strlen(req), &r);
    ck_assert_int_eq(r.status, status);
    if (body != NULL)
        ck_assert_str_eq(r.body, body);
    testhttp_reply_free(&r);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void wait_connections(struct server *srv, int want)
{
    for (int i = 0; i < 3000 && server_connection_count(srv) != want; i++)
        sleep_ms(1);
    ck_assert_int_eq(server_connection_count(srv), want);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static const char *const echo_close = "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

/* `fd`, an open connection, is served: GET /echo is answered 200. Closes fd. */
static void expect_served(int fd)
{
    struct testhttp_reply r;
    testhttp_send_all(fd, echo_close, strlen(echo_close));
    testhttp_read(fd, &r);
    close(fd);
    ck_assert_int_eq(r.status, 200);
    testhttp_reply_free(&r);
}

/* The answer to the request already sent on `fd` is 200 with "Connection: close" (the server
 * is stopping). Closes fd. */
static void expect_closing_answer(int fd)
{
    struct testhttp_reply r;
    char buf[64];
    testhttp_read(fd, &r); /* "Connection: close" while stopping: EOF follows the answer */
    close(fd);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(testhttp_header(&r, "Connection", buf, sizeof(buf)), "close");
    testhttp_reply_free(&r);
}

/* ---- handlers ---- */

static void echo_handler(const struct server_request *sr, void *arg)
{
    json_t *o = json_object();
    X509 *peer = server_request_peer_cert(sr);
    char cn[128] = "";
    (void)arg;
    if (peer != NULL)
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof(cn));
    json_object_set_new(o, "path", json_string(sr->path));
    json_object_set_new(o, "query", sr->query != NULL ? json_string(sr->query) : json_null());
    json_object_set_new(o, "loop", json_integer(server_loop_index(sr->loop)));
    json_object_set_new(o, "tls", json_boolean(sr->tls));
    json_object_set_new(o, "peer", peer != NULL ? json_string(cn) : json_null());
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    http_send_json_text(sr->req, 200, text);
    free(text);
    json_decref(o);
}

static void tag_handler(const struct server_request *sr, void *arg)
{
    char body[256];
    snprintf(body, sizeof(body), "%s:%s", (const char *)arg, sr->path);
    http_send_bytes(sr->req, 200, "text/plain", body, strlen(body));
}

struct async_req {
    struct evhttp_request *req;
    pthread_t loop_thread, job_thread;
};

static void async_job(struct worker *self, void *arg)
{
    struct async_req *a = arg;
    (void)self;
    a->job_thread = pthread_self();
    sleep_ms(50);
}

static void async_done(void *arg)
{
    struct async_req *a = arg;
    char body[128];
    snprintf(body, sizeof(body), "{\"done_on_loop\":%s,\"job_off_loop\":%s}",
             pthread_equal(pthread_self(), a->loop_thread) ? "true" : "false",
             pthread_equal(a->job_thread, a->loop_thread) ? "false" : "true");
    http_send_json_text(a->req, 200, body);
    free(a);
}

static void async_handler(const struct server_request *sr, void *arg)
{
    struct jerr err = {0};
    struct async_req *a = calloc(1, sizeof(*a));
    (void)arg;
    a->req = sr->req;
    a->loop_thread = pthread_self();
    if (server_submit(sr, async_job, async_done, a, &err) == -1) {
        free(a);
        http_send_jerr(sr->req, &err);
    }
}

static int add(struct server *srv, const char *path, bool prefix, unsigned methods, size_t max_body,
               server_handler_fn *fn, void *arg)
{
    struct jerr err = {0};
    struct server_route r = {path, prefix, methods, max_body, fn, arg, SERVER_PUBLIC};
    int rc = server_add_route(srv, &r, &err);
    ck_assert_msg(rc == 0, "route %s: %s", path, err.msg);
    return rc;
}

static struct workers *pool;

static struct server *start_server(const struct server_options *opt)
{
    struct jerr err = {0};
    pool = workers_new(2, 0, NULL, &err);
    ck_assert_ptr_nonnull(pool);
    struct server *srv = server_new(opt, pool, &err);
    ck_assert_msg(srv != NULL, "server_new: %s", err.msg);
    add(srv, "/echo", false, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, 0, echo_handler, NULL);
    add(srv, "/p/", true, EVHTTP_REQ_GET | EVHTTP_REQ_POST, 0, tag_handler, "prefix");
    add(srv, "/p/deeper/", true, EVHTTP_REQ_GET, 0, tag_handler, "deeper");
    add(srv, "/p/exact", false, EVHTTP_REQ_GET, 0, tag_handler, "exact");
    add(srv, "/small", false, EVHTTP_REQ_POST, 10, tag_handler, "small");
    add(srv, "/async", false, EVHTTP_REQ_GET, 0, async_handler, NULL);
    ck_assert_msg(server_start(srv, &err) == 0, "server_start: %s", err.msg);
    return srv;
}

/* start_server listening on 127.0.0.1 (any port) with `loops` loops, other options default. */
static struct server *start_local(int loops)
{
    struct server_options opt = {.listen_http = "127.0.0.1:0", .loops = loops};
    return start_server(&opt);
}

static void stop_server(struct server *srv)
{
    server_stop_accepting(srv);
    server_stop(srv);
    workers_shutdown(pool);
    server_free(srv);
    workers_free(pool);
    pool = NULL;
}

/* Waits until every connection is closed, then stops the server. */
static void stop_server_idle(struct server *srv)
{
    wait_connections(srv, 0);
    stop_server(srv);
}

/* ---- address parsing and route refusals ---- */

START_TEST(test_parse_address)
{
    struct jerr err = {0};
    struct sockaddr_storage ss;
    socklen_t len;
    ck_assert_int_eq(server_parse_address("127.0.0.1:0", "listen.http", &ss, &len, &err), 0);
    ck_assert_int_eq(ss.ss_family, AF_INET);
    ck_assert_int_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 0);
    ck_assert_int_eq(server_parse_address("[::1]:8443", "listen.https", &ss, &len, &err), 0);
    ck_assert_int_eq(ss.ss_family, AF_INET6);
    ck_assert_int_eq(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 8443);
    ck_assert_int_eq(server_parse_address(":8080", "listen.http", &ss, &len, &err), 0);
    ck_assert_int_eq(ss.ss_family, AF_INET);
    ck_assert_uint_eq(((struct sockaddr_in *)&ss)->sin_addr.s_addr, htonl(INADDR_ANY));

    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"127.0.0.1", "expected host:port"},          {"127.0.0.1:", "port must be 0..65535"},
        {"127.0.0.1:65536", "port must be 0..65535"}, {"127.0.0.1:-1", "port must be 0..65535"},
        {"127.0.0.1:80x", "port must be 0..65535"},   {"[::1]8080", "expected [address]:port"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        jerr_clear(&err);
        ck_assert_int_eq(server_parse_address(bad[i].text, "listen.http", &ss, &len, &err), -1);
        ck_assert_int_eq(err.code, JERR_CONFIG);
        ck_assert_str_eq(err.field, "listen.http");
        ck_assert_str_eq(err.msg, bad[i].msg);
    }
}
END_TEST

START_TEST(test_server_new_refusals)
{
    struct jerr err = {0};
    struct server_options none = {0};
    ck_assert_ptr_null(server_new(&none, NULL, &err));
    ck_assert_int_eq(err.code, JERR_CONFIG);
    ck_assert_str_eq(err.field, "listen.http");

    jerr_clear(&err);
    struct server_options tls = {.listen_https = "127.0.0.1:0", .tls_key = "/nonexistent"};
    ck_assert_ptr_null(server_new(&tls, NULL, &err));
    ck_assert_int_eq(err.code, JERR_CONFIG);
    ck_assert_str_eq(err.field, "tls.cert");

    jerr_clear(&err);
    struct server_options missing = {.listen_https = "127.0.0.1:0",
                                     .tls_cert = "/nonexistent/cert.pem",
                                     .tls_key = "/nonexistent/key.pem"};
    ck_assert_ptr_null(server_new(&missing, NULL, &err));
    ck_assert_int_eq(err.code, JERR_CONFIG);
    ck_assert_str_eq(err.field, "tls.cert");
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/cert.pem: cannot load the certificate"));
}
END_TEST

START_TEST(test_route_refusals)
{
    struct jerr err = {0};
    struct server_options opt = {.listen_http = "127.0.0.1:0", .loops = 1};
    struct server *srv = server_new(&opt, NULL, &err);
    ck_assert_ptr_nonnull(srv);
    struct server_route ok = {"/a", false, EVHTTP_REQ_GET, 0, tag_handler, "a", SERVER_PUBLIC};
    ck_assert_int_eq(server_add_route(srv, &ok, &err), 0);
    ck_assert_int_eq(server_add_route(srv, &ok, &err), -1);
    ck_assert_int_eq(err.code, JERR_CONFLICT);

    jerr_clear(&err);
    struct server_route noslash = {"/b", true, EVHTTP_REQ_GET, 0, tag_handler, NULL, SERVER_PUBLIC};
    ck_assert_int_eq(server_add_route(srv, &noslash, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.msg, "prefix /b must end with '/'");

    jerr_clear(&err);
    struct server_route nohandler = {"/c", false, EVHTTP_REQ_GET, 0, NULL, NULL, SERVER_PUBLIC};
    ck_assert_int_eq(server_add_route(srv, &nohandler, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);

    jerr_clear(&err);
    struct server_route relative = {"c",         false, EVHTTP_REQ_GET, 0,
                                    tag_handler, NULL,  SERVER_PUBLIC};
    ck_assert_int_eq(server_add_route(srv, &relative, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);

    for (int i = 1; i < SERVER_MAX_ROUTES; i++) {
        char path[32];
        snprintf(path, sizeof(path), "/r%d", i);
        struct server_route r = {path, false, EVHTTP_REQ_GET, 0, tag_handler, NULL, SERVER_PUBLIC};
        ck_assert_int_eq(server_add_route(srv, &r, &err), 0);
    }
    jerr_clear(&err);
    struct server_route one_more = {"/more",     false, EVHTTP_REQ_GET, 0,
                                    tag_handler, NULL,  SERVER_PUBLIC};
    ck_assert_int_eq(server_add_route(srv, &one_more, &err), -1);
    ck_assert_int_eq(err.code, JERR_TOO_LARGE);

    ck_assert_int_eq(server_start(srv, &err), 0);
    jerr_clear(&err);
    ck_assert_int_eq(server_add_route(srv, &one_more, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    server_stop(srv);
    server_free(srv);
}
END_TEST

/* ---- routing and refusals on the wire ---- */

START_TEST(test_routing)
{
    struct server *srv = start_local(2);
    int port = server_port(srv, false);
    char buf[256], want[64];
    struct testhttp_reply r;

    ck_assert_int_gt(port, 0);
    snprintf(want, sizeof(want), "127.0.0.1:%d", port);
    ck_assert_str_eq(server_address(srv, false), want);
    ck_assert_str_eq(server_address(srv, true), "");
    ck_assert_int_eq(server_loop_count(srv), 2);

    get(port, "GET", "/echo?x=1&y=%20", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(testhttp_header(&r, "Content-Type", buf, sizeof(buf)), "application/json");
    json_t *o = json_loadb(r.body, r.body_len, 0, NULL);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(json_string_value(json_object_get(o, "path")), "/echo");
    ck_assert_str_eq(json_string_value(json_object_get(o, "query")), "x=1&y=%20");
    ck_assert(json_is_false(json_object_get(o, "tls")));
    ck_assert(json_is_null(json_object_get(o, "peer")));
    json_decref(o);
    size_t get_len = r.body_len;
    testhttp_reply_free(&r);

    /* HEAD: the same headers, Content-Length included, and no body. */
    get(port, "HEAD", "/echo?x=1&y=%20", &r);
    ck_assert_int_eq(r.status, 200);
    snprintf(want, sizeof(want), "%zu", get_len);
    ck_assert_str_eq(testhttp_header(&r, "Content-Length", buf, sizeof(buf)), want);
    ck_assert_uint_eq(r.body_len, 0);
    testhttp_reply_free(&r);

    /* Exact beats prefix; the longest prefix wins; a prefix does not match its bare name. */
    expect(port, "GET", "/p/abc", 200, NULL, NULL, "prefix:/p/abc");
    expect(port, "GET", "/p/deeper/x", 200, NULL, NULL, "deeper:/p/deeper/x");
    expect(port, "GET", "/p/exact", 200, NULL, NULL, "exact:/p/exact");
    expect(port, "GET", "/p/exactly", 200, NULL, NULL, "prefix:/p/exactly");
    /* raw path handed over, not decoded */
    expect(port, "GET", "/p/%2e%2e/x", 200, NULL, NULL, "prefix:/p/%2e%2e/x");

    expect(port, "GET", "/p", 404, "Content-Type", "application/json",
           "{\"error\":{\"code\":\"not_found\",\"message\":\"no such resource\","
           "\"field\":null}}");

    /* 405 with Allow, for a method evhttp knows but the route does not take. */
    expect(port, "DELETE", "/echo", 405, "Allow", "GET, HEAD",
           "{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"method "
           "not allowed; allowed: GET, HEAD\",\"field\":null}}");
    expect(port, "OPTIONS", "/p/deeper/x", 405, "Allow", "GET", NULL);
    expect(port, "POST", "/p/x", 200, NULL, NULL, NULL);

    stop_server_idle(srv);
}
END_TEST

START_TEST(test_limits)
{
    struct server *srv = start_local(1);
    int port = server_port(srv, false);
    char *target = malloc(10000);

    /* A target of exactly JPKI_HTTP_MAX_URI_BYTES is routed; one byte more is 414. */
    target[0] = '/';
    memset(target + 1, 'a', JPKI_HTTP_MAX_URI_BYTES - 1);
    target[JPKI_HTTP_MAX_URI_BYTES] = '\0';
    expect(port, "GET", target, 404, NULL, NULL, NULL);
    char *req = malloc(20000);
    target[JPKI_HTTP_MAX_URI_BYTES] = 'a';
    target[JPKI_HTTP_MAX_URI_BYTES + 1] = '\0';
    expect(port, "GET", target, 414, NULL, NULL,
           "{\"error\":{\"code\":\"uri_too_long\",\"message\":\"request target "
           "longer than 4096 bytes\",\"field\":null}}");

    /* A request line past the header cap never reaches us: libevent answers 400. */
    memset(target + 1, 'a', 9000);
    target[9001] = '\0';
    expect(port, "GET", target, 400, NULL, NULL, NULL);

    /* Oversized header block: 400 (libevent 2.1). */
    memset(target, 'x', 9000);
    target[9000] = '\0';
    snprintf(req, 20000, "GET /echo HTTP/1.1\r\nHost: t\r\nX-Pad: %s\r\nConnection: close\r\n\r\n",
             target);
    expect_raw(port, req, 400, NULL);

    /* The route's own body cap (10 bytes): 413 JSON; at the cap it passes. */
    expect_raw(port,
               "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\nConnection: close\r\n\r\n"
               "01234567890",
               413,
               "{\"error\":{\"code\":\"too_large\",\"message\":\"request body over 10 "
               "bytes\",\"field\":null}}");
    expect_raw(port,
               "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\nConnection: close\r\n\r\n"
               "0123456789",
               200, "small:/small");

    /* Past the server-wide cap (the largest route cap, here the public one): libevent's 413. */
    snprintf(req, 20000,
             "POST /p/x HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
             JPKI_HTTP_MAX_PUBLIC_BODY_BYTES + 1);
    expect_raw(port, req, 413, NULL);

    free(target);
    free(req);
    stop_server(srv);
}
END_TEST

START_TEST(test_async_on_loop)
{
    struct server *srv = start_local(2);
    struct testhttp_reply r;
    for (int i = 0; i < 4; i++) {
        get(server_port(srv, false), "GET", "/async", &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.body, "{\"done_on_loop\":true,\"job_off_loop\":true}");
        testhttp_reply_free(&r);
    }
    ck_assert_int_eq(server_inflight(srv), 0);
    stop_server(srv);
}
END_TEST

/* A request waiting on a worker when the server stops is still answered (grace), and the stop
 * does not free it under the job's feet. */
START_TEST(test_stop_with_request_in_flight)
{
    struct server *srv = start_local(1);
    int fd = testhttp_connect(server_port(srv, false));
    const char *req = "GET /async HTTP/1.1\r\nHost: t\r\n\r\n";
    testhttp_send_all(fd, req, strlen(req));
    for (int i = 0; i < 1000 && server_inflight(srv) == 0; i++)
        sleep_ms(1);
    ck_assert_int_eq(server_inflight(srv), 1);
    server_stop_accepting(srv);
    for (int i = 0; i < 2000 && server_inflight(srv) > 0; i++)
        sleep_ms(1);
    ck_assert_int_eq(server_inflight(srv), 0);
    expect_closing_answer(fd);
    stop_server(srv);
}
END_TEST

START_TEST(test_stop_accepting)
{
    struct server *srv = start_local(2);
    int port = server_port(srv, false);
    int keep = testhttp_connect(port);
    ck_assert_int_ge(keep, 0);
    wait_connections(srv, 1);
    server_stop_accepting(srv);
    ck_assert_int_eq(testhttp_connect(port), -1);
    ck_assert_int_eq(errno, ECONNREFUSED);
    /* The connection already open is still served, and told to close. */
    const char *req = "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n";
    testhttp_send_all(keep, req, strlen(req));
    expect_closing_answer(keep);
    stop_server(srv);
}
END_TEST

/* ---- connection cap and idle timeout ---- */

static bool closed_by_server(int fd, int wait_ms)
{
    struct timeval tv = {wait_ms / 1000, (wait_ms % 1000) * 1000};
    char c;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssize_t n = recv(fd, &c, 1, 0);
    return n == 0 || (n == -1 && errno == ECONNRESET);
}

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_log[512];

static void capture_log(void *arg, enum log_level level, const char *line)
{
    (void)arg;
    (void)level;
    pthread_mutex_lock(&log_lock);
    /* Drop the timestamp: "YYYY-MM-DDTHH:MM:SSZ " */
    snprintf(last_log, sizeof(last_log), "%s", strlen(line) > 21 ? line + 21 : line);
    pthread_mutex_unlock(&log_lock);
}

/* Waits (up to 2 s) for `want` to be the last line logged. */
static bool logged_last(const char *want)
{
    for (int i = 0; i < 2000; i++) {
        pthread_mutex_lock(&log_lock);
        bool same = strcmp(last_log, want) == 0;
        pthread_mutex_unlock(&log_lock);
        if (same)
            return true;
        sleep_ms(1);
    }
    return false;
}

START_TEST(test_connection_cap)
{
    log_set_sink(capture_log, NULL);
    struct server_options opt = {.listen_http = "127.0.0.1:0", .loops = 1, .max_connections = 2};
    struct server *srv = start_server(&opt);
    int port = server_port(srv, false);
    int a = testhttp_connect(port);
    ck_assert_int_ge(a, 0);
    wait_connections(srv, 1);
    int b = testhttp_connect(port);
    ck_assert_int_ge(b, 0);
    wait_connections(srv, 2);
    /* At the cap, the connection that has waited longest for its request (a) is shed for the
     * new one, which is served. */
    int c = testhttp_connect(port);
    ck_assert_int_ge(c, 0);
    ck_assert(closed_by_server(a, 2000));
    close(a);
    ck_assert(
        logged_last("WARN connection limit (2) reached: the connection waiting longest is closed"));
    wait_connections(srv, 2);
    expect_served(c);
    /* b, younger, is still served. */
    expect_served(b);
    stop_server_idle(srv);
    log_set_sink(NULL, NULL);
}
END_TEST

/* Connects to 127.0.0.1:port from `source` (any address of 127/8 is local on Linux). */
static int connect_from(const char *source, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in from = {0}, to = {0};
    from.sin_family = to.sin_family = AF_INET;
    inet_pton(AF_INET, source, &from.sin_addr);
    to.sin_port = htons((unsigned short)port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (bind(fd, (struct sockaddr *)&from, sizeof(from)) == -1 ||
        connect(fd, (struct sockaddr *)&to, sizeof(to)) == -1) {
        close(fd);
        return -1;
    }
    return fd;
}

START_TEST(test_connections_per_address)
{
    log_set_sink(capture_log, NULL);
    struct server_options opt = {
        .listen_http = "127.0.0.1:0", .loops = 2, .connections_per_address = 3};
    struct server *srv = start_server(&opt);
    int port = server_port(srv, false);
    int held[3];
    for (int i = 0; i < 3; i++) {
        held[i] = connect_from("127.0.0.9", port);
        ck_assert_int_ge(held[i], 0);
    }
    wait_connections(srv, 3);
    /* A fourth from the same address is closed at once, on whichever loop it lands. */
    int extra = connect_from("127.0.0.9", port);
    ck_assert_int_ge(extra, 0);
    ck_assert(closed_by_server(extra, 2000));
    close(extra);
    ck_assert(logged_last("WARN connections from one address over 3: new ones from it are closed"));
    /* Another address is served. */
    int other = connect_from("127.0.0.10", port);
    ck_assert_int_ge(other, 0);
    expect_served(other);
    /* A closed connection gives its place back. */
    close(held[0]);
    wait_connections(srv, 2);
    int again = connect_from("127.0.0.9", port);
    ck_assert_int_ge(again, 0);
    expect_served(again);
    close(held[1]);
    close(held[2]);
    stop_server_idle(srv);
    log_set_sink(NULL, NULL);
}
END_TEST

static bool exempt_127_0_0_11(const struct sockaddr *peer, void *arg)
{
    (void)arg;
    const struct sockaddr_in *in = (const struct sockaddr_in *)peer;
    return peer->sa_family == AF_INET && ntohl(in->sin_addr.s_addr) == 0x7f00000b;
}

/* A trusted proxy (is_exempt) is not held to the per-address cap; the others still are. */
START_TEST(test_exempt_address)
{
    struct server_options opt = {.listen_http = "127.0.0.1:0",
                                 .loops = 1,
                                 .connections_per_address = 2,
                                 .is_exempt = exempt_127_0_0_11};
    struct server *srv = start_server(&opt);
    int port = server_port(srv, false);
    int fds[5];
    for (int i = 0; i < 5; i++) {
        fds[i] = connect_from("127.0.0.11", port);
        ck_assert_int_ge(fds[i], 0);
    }
    wait_connections(srv, 5);
    expect_served(fds[4]);
    int a = connect_from("127.0.0.12", port), b = connect_from("127.0.0.12", port);
    wait_connections(srv, 6); /* fds[4] closed after its answer */
    int c = connect_from("127.0.0.12", port);
    ck_assert(closed_by_server(c, 2000));
    close(a);
    close(b);
    close(c);
    for (int i = 0; i < 4; i++) /* fds[4] is closed already */
        close(fds[i]);
    stop_server_idle(srv);
}
END_TEST

/* A request trickled a byte at a time is closed at the header deadline, however often bytes
 * come (the idle timeout alone would wait forever). */
START_TEST(test_header_deadline)
{
    struct server_options opt = {
        .listen_http = "127.0.0.1:0", .loops = 1, .idle_timeout_s = 30, .header_timeout_ms = 600};
    struct server *srv = start_server(&opt);
    int fd = testhttp_connect(server_port(srv, false));
    ck_assert_int_ge(fd, 0);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool closed = false;
    for (int i = 0; i < 40 && !closed; i++) {
        testhttp_send_all(fd, "X", 1);
        closed = closed_by_server(fd, 100);
    }
    double elapsed = seconds_since(&t0);
    ck_assert(closed);
    ck_assert_double_ge(elapsed, 0.5);
    ck_assert_double_lt(elapsed, 2.5);
    close(fd);
    /* Keep-alive: the deadline runs again from the end of each answer, so a client that asks in
     * time is served request after request. */
    fd = testhttp_connect(server_port(srv, false));
    const char *req = "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n";
    for (int i = 0; i < 3; i++) {
        sleep_ms(300);
        testhttp_send_all(fd, req, strlen(req));
        char buf[512];
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
        ck_assert_int_gt(n, 12);
        ck_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0);
    }
    close(fd);
    stop_server_idle(srv);
}
END_TEST

/* Ambiguous framing (request smuggling): 400, and nothing behind it on the connection is
 * answered. */
START_TEST(test_framing)
{
    struct server *srv = start_local(1);
    int port = server_port(srv, false);
    static const char *const smuggled = "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n";
    static const char *const heads[] = {
        "POST /p/x HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nContent-Length: 31\r\n\r\n",
        "POST /p/x HTTP/1.1\r\nHost: t\r\nContent-Length: 31\r\nContent-Length: 31\r\n\r\n",
        "POST /p/x HTTP/1.1\r\nHost: t\r\nContent-Length: +31\r\n\r\n",
        "POST /p/x HTTP/1.1\r\nHost: t\r\nContent-Length: 31, 31\r\n\r\n",
        "HEAD /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 31\r\n\r\n",
        "TRACE /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 31\r\n\r\n",
        "POST /p/x HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST /p/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\nContent-Length: 0\r\n\r\n",
        "POST /p/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\nContent-Length: 0\r\n\r\n",
        "POST /p/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /p/x HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /p/x HTTP/1.1\r\nHost: t\r\nContent Length: 0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        char buf[1024];
        int n = snprintf(buf, sizeof(buf), "%s%s", heads[i], smuggled);
        struct testhttp_reply r;
        raw_request(port, buf, (size_t)n, &r); /* reads to EOF: the server closed */
        ck_assert_msg(r.status == 400, "variant %zu: status %d", i, r.status);
        ck_assert_msg(strstr(r.raw, "Connection: close") != NULL, "variant %zu: no close", i);
        /* One answer only: the smuggled GET /echo was never parsed. */
        ck_assert_msg(strstr(r.body, "HTTP/1.1") == NULL, "variant %zu: a second answer", i);
        testhttp_reply_free(&r);
    }
    /* Well-framed requests still pass. */
    expect_raw(port,
               "POST /p/x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nConnection: close"
               "\r\n\r\nabc",
               200, NULL);
    expect_raw(port,
               "POST /p/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
               "Connection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
               200, NULL);
    stop_server(srv);
}
END_TEST

/* Operator routes move to the operator listener when there is one; each listener has its own
 * body cap, applied before the body is read. */
START_TEST(test_operator_listener)
{
    struct jerr err = {0};
    struct server_options opt = {
        .listen_http = "127.0.0.1:0", .listen_operator_http = "127.0.0.1:0", .loops = 1};
    pool = workers_new(2, 0, NULL, &err);
    struct server *srv = server_new(&opt, pool, &err);
    ck_assert_ptr_nonnull(srv);
    struct server_route routes[] = {
        {"/pub", false, EVHTTP_REQ_POST, 0, tag_handler, "pub", SERVER_PUBLIC},
        {"/v1/", true, EVHTTP_REQ_POST, 1024 * 1024, tag_handler, "op", SERVER_OPERATOR},
        {"/v1/holder/", true, EVHTTP_REQ_POST, 0, tag_handler, "holder", SERVER_PUBLIC},
        {"/both", false, EVHTTP_REQ_GET, 0, tag_handler, "both", SERVER_EVERYWHERE},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        ck_assert_int_eq(server_add_route(srv, &routes[i], &err), 0);
    ck_assert_int_eq(server_start(srv, &err), 0);
    int pub = server_port(srv, false), op = server_operator_port(srv, false);
    ck_assert_int_gt(op, 0);
    ck_assert_int_ne(op, pub);
    struct testhttp_reply r;
    get(pub, "POST", "/v1/persons", &r);
    ck_assert_int_eq(r.status, 404); /* not on the public listener */
    testhttp_reply_free(&r);
    get(op, "POST", "/v1/persons", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(strstr(r.body, "op") != NULL);
    testhttp_reply_free(&r);
    get(pub, "POST", "/v1/holder/revoke", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(strstr(r.body, "holder") != NULL);
    testhttp_reply_free(&r);
    get(op, "POST", "/pub", &r);
    ck_assert_int_eq(r.status, 404);
    testhttp_reply_free(&r);
    get(pub, "GET", "/both", &r);
    ck_assert_int_eq(r.status, 200);
    testhttp_reply_free(&r);
    get(op, "GET", "/both", &r);
    ck_assert_int_eq(r.status, 200);
    testhttp_reply_free(&r);
    /* A 200 KB body: refused by the public listener from its Content-Length alone; taken by
     * the operator listener. */
    static char big[200 * 1024 + 256];
    int n = snprintf(big, 256,
                     "POST /v1/x HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n"
                     "Connection: close\r\n\r\n",
                     200 * 1024);
    memset(big + n, 'a', 200 * 1024);
    int fd = testhttp_connect(pub);
    testhttp_send_all(fd, big,
                      (size_t)n); /* the headers only: the answer must not wait for the body */
    testhttp_read(fd, &r);
    ck_assert_int_eq(r.status, 413);
    testhttp_reply_free(&r);
    close(fd);
    raw_request(op, big, (size_t)n + 200 * 1024, &r);
    ck_assert_int_eq(r.status, 200);
    testhttp_reply_free(&r);
    stop_server(srv);
}
END_TEST

/* Out of descriptors: accept() fails; the loop pauses accepting (one log line) instead of
 * spinning, and takes the waiting connection once descriptors are back. */
START_TEST(test_accept_error_pauses)
{
    log_set_sink(capture_log, NULL);
    struct server *srv = start_local(1);
    int port = server_port(srv, false);
    struct rlimit old, low;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    int highest = open("/dev/null", O_RDONLY);
    close(highest);
    low = old;
    low.rlim_cur = (rlim_t)highest + 16;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fillers[64], count = 0, fd;
    while (count < 64 && (fd = open("/dev/null", O_RDONLY)) != -1)
        fillers[count++] = fd;
    ck_assert_int_lt(count, 64);
    close(fillers[--count]); /* one left: the client's socket takes it */
    int c = testhttp_connect(port);
    ck_assert_int_ge(c, 0);
    ck_assert(
        logged_last("WARN accept failed (Too many open files): new connections wait 1000 ms"));
    while (count > 0)
        close(fillers[--count]);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    /* Accepting resumes after the pause: the waiting connection is served. */
    expect_served(c);
    stop_server(srv);
    log_set_sink(NULL, NULL);
}
END_TEST

START_TEST(test_idle_timeout)
{
    struct server_options opt = {.listen_http = "127.0.0.1:0", .loops = 1, .idle_timeout_s = 1};
    struct server *srv = start_server(&opt);
    int fd = testhttp_connect(server_port(srv, false));
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert(closed_by_server(fd, 4000)); /* silent client: closed, no answer */
    double elapsed = seconds_since(&t0);
    ck_assert_double_ge(elapsed, 0.9);
    ck_assert_double_lt(elapsed, 3.5);
    close(fd);
    stop_server_idle(srv);
}
END_TEST

/* ---- HTTPS ---- */

static EVP_PKEY *key_new(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    ck_assert_ptr_nonnull(k);
    return k;
}

static X509 *cert_new(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, bool ca,
                      const char *san)
{
    X509 *c = X509_new();
    X509V3_CTX v3;
    ASN1_INTEGER_set(X509_get_serialNumber(c), (long)(random() & 0xffffff) + 1);
    X509_set_version(c, 2);
    X509_gmtime_adj(X509_getm_notBefore(c), -3600);
    X509_gmtime_adj(X509_getm_notAfter(c), 86400);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c,
                         issuer != NULL ? X509_get_subject_name(issuer) : X509_get_subject_name(c));
    X509_set_pubkey(c, key);
    X509V3_set_ctx(&v3, issuer != NULL ? issuer : c, c, NULL, NULL, 0);
    X509_EXTENSION *ext =
        X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    X509_add_ext(c, ext, -1);
    X509_EXTENSION_free(ext);
    if (san != NULL) {
        ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
        X509_add_ext(c, ext, -1);
        X509_EXTENSION_free(ext);
    }
    ck_assert_int_gt(X509_sign(c, issuer_key != NULL ? issuer_key : key, EVP_sha256()), 0);
    return c;
}

static void write_pem(const char *path, X509 *cert, EVP_PKEY *key)
{
    ck_assert_msg(testpem_write(path, cert, key) == 0, "cannot write %s", path);
}

struct tls_files {
    char dir[4096];
    char server_cert[4200], server_key[4200], operator_ca[4200];
    char client_cert[4200], client_key[4200], rogue_cert[4200], rogue_key[4200];
};

static void make_tls_files(struct tls_files *f)
{
    char *dir = testutil_mkdtemp();
    snprintf(f->dir, sizeof(f->dir), "%s", dir);
    free(dir);
    snprintf(f->server_cert, sizeof(f->server_cert), "%s/server.pem", f->dir);
    snprintf(f->server_key, sizeof(f->server_key), "%s/server.key", f->dir);
    snprintf(f->operator_ca, sizeof(f->operator_ca), "%s/operator-ca.pem", f->dir);
    snprintf(f->client_cert, sizeof(f->client_cert), "%s/client.pem", f->dir);
    snprintf(f->client_key, sizeof(f->client_key), "%s/client.key", f->dir);
    snprintf(f->rogue_cert, sizeof(f->rogue_cert), "%s/rogue.pem", f->dir);
    snprintf(f->rogue_key, sizeof(f->rogue_key), "%s/rogue.key", f->dir);

    EVP_PKEY *sk = key_new(), *cak = key_new(), *ck = key_new(), *rk = key_new();
    X509 *sc = cert_new("127.0.0.1", sk, NULL, NULL, false, "IP:127.0.0.1");
    X509 *ca = cert_new("Operator CA", cak, NULL, NULL, true, NULL);
    X509 *cc = cert_new("operator-7", ck, ca, cak, false, NULL);
    X509 *rc = cert_new("operator-7", rk, NULL, NULL, false, NULL); /* same name, not ours */
    write_pem(f->server_cert, sc, NULL);
    write_pem(f->server_key, NULL, sk);
    write_pem(f->operator_ca, ca, NULL);
    write_pem(f->client_cert, cc, NULL);
    write_pem(f->client_key, NULL, ck);
    write_pem(f->rogue_cert, rc, NULL);
    write_pem(f->rogue_key, NULL, rk);
    X509_free(sc);
    X509_free(ca);
    X509_free(cc);
    X509_free(rc);
    EVP_PKEY_free(sk);
    EVP_PKEY_free(cak);
    EVP_PKEY_free(ck);
    EVP_PKEY_free(rk);
}

struct curl_body {
    char data[4096];
    size_t len;
};

static size_t curl_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct curl_body *b = arg;
    size_t n = size * nmemb;
    if (n > sizeof(b->data) - 1 - b->len)
        n = sizeof(b->data) - 1 - b->len;
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return size * nmemb;
}

/* GET over HTTPS; returns the curl result and fills status/body. */
static CURLcode https_get(const struct tls_files *f, int port, const char *cert, const char *key,
                          long max_tls, long *status, struct curl_body *body)
{
    char url[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/echo", port);
    CURL *c = curl_easy_init();
    memset(body, 0, sizeof(*body));
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, f->server_cert);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    if (max_tls != 0)
        curl_easy_setopt(c, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1 | max_tls);
    if (cert != NULL) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, key);
    }
    CURLcode rc = curl_easy_perform(c);
    *status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    return rc;
}

START_TEST(test_https)
{
    struct tls_files f;
    make_tls_files(&f);
    struct server_options opt = {.listen_http = "127.0.0.1:0",
                                 .listen_https = "127.0.0.1:0",
                                 .tls_cert = f.server_cert,
                                 .tls_key = f.server_key,
                                 .tls_operator_ca = f.operator_ca,
                                 .loops = 2};
    struct server *srv = start_server(&opt);
    int port = server_port(srv, true);
    long status;
    struct curl_body body;

    ck_assert_int_gt(port, 0);
    ck_assert_int_ne(port, server_port(srv, false));

    /* No client certificate: served, no peer. */
    ck_assert_int_eq(https_get(&f, port, NULL, NULL, 0, &status, &body), CURLE_OK);
    ck_assert_int_eq(status, 200);
    ck_assert_ptr_nonnull(strstr(body.data, "\"tls\":true"));
    ck_assert_ptr_nonnull(strstr(body.data, "\"peer\":null"));

    /* An operator certificate from the operator CA: the handler sees it. */
    ck_assert_int_eq(https_get(&f, port, f.client_cert, f.client_key, 0, &status, &body), CURLE_OK);
    ck_assert_int_eq(status, 200);
    ck_assert_ptr_nonnull(strstr(body.data, "\"peer\":\"operator-7\""));

    /* Same name, another issuer: the connection works, the certificate is not accepted. */
    ck_assert_int_eq(https_get(&f, port, f.rogue_cert, f.rogue_key, 0, &status, &body), CURLE_OK);
    ck_assert_int_eq(status, 200);
    ck_assert_ptr_nonnull(strstr(body.data, "\"peer\":null"));

    /* TLS 1.1 and older: refused. */
    ck_assert_int_ne(https_get(&f, port, NULL, NULL, CURL_SSLVERSION_MAX_TLSv1_1, &status, &body),
                     CURLE_OK);

    /* Plain HTTP still answers on its own port, tls false. */
    struct testhttp_reply r;
    get(server_port(srv, false), "GET", "/echo", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"tls\":false"));
    testhttp_reply_free(&r);

    stop_server_idle(srv);
    testutil_rmtree(f.dir);
}
END_TEST

static Suite *server_suite(void)
{
    Suite *s = suite_create("server");
    TCase *tc = tcase_create("server");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_parse_address);
    tcase_add_test(tc, test_server_new_refusals);
    tcase_add_test(tc, test_route_refusals);
    tcase_add_test(tc, test_routing);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_async_on_loop);
    tcase_add_test(tc, test_stop_with_request_in_flight);
    tcase_add_test(tc, test_stop_accepting);
    tcase_add_test(tc, test_connection_cap);
    tcase_add_test(tc, test_connections_per_address);
    tcase_add_test(tc, test_exempt_address);
    tcase_add_test(tc, test_header_deadline);
    tcase_add_test(tc, test_framing);
    tcase_add_test(tc, test_operator_listener);
    tcase_add_test(tc, test_accept_error_pauses);
    tcase_add_test(tc, test_idle_timeout);
    tcase_add_test(tc, test_https);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = testutil_run(server_suite());
    curl_global_cleanup();
    return rc;
}
