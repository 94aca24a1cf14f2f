/*
 * test_public: the public endpoints on a real instance (pki_init in a temp directory, auth CA
 * with two CRL partitions) served in-process on 127.0.0.1:0 — roots, fingerprints, CRLs with
 * their caching headers and 304s, partitions, refusals, reload after publication (signalled
 * and by the once-a-second check) — and service_run end to end: start, run file, CRLs
 * published at start, SIGTERM, clean return.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ca/crl.h"
#include "ca/pki.h"
#include "ca/store.h"
#include "base/jclock.h"
#include "responder/net/http.h"
#include "responder/net/log.h"
#include "responder/crl/public.h"
#include "responder/net/server.h"
#include "responder/service.h"
#include "responder/net/workers.h"
#include "testhttp.h"
#include "testutil.h"

#define PASS "correct horse battery staple"

static char *dir;
static struct jpki_config *cfg;
static struct pki *pki;

/* Made once in the parent (RSA key generation is slow); each test runs in a fork. */
static void instance_setup(void)
{
    struct jerr err = {0};
    char yaml[8192];
    dir = testutil_mkdtemp();
    ck_assert_ptr_nonnull(dir);
    snprintf(yaml, sizeof(yaml),
             "data_dir: %s/inst\n"
             "ca:\n"
             "  auth:\n"
             "    crl_partitions: 2\n",
             dir);
    cfg = config_load_string("test.yaml", yaml, strlen(yaml), NULL, 0, &err);
    ck_assert_msg(cfg != NULL, "config: %s", err.msg);
    struct pki_init_result res;
    ck_assert_msg(pki_init(cfg, PASS, &res, &err) == 0, "init: %s", err.msg);
    pki = pki_open(cfg, PASS, &err);
    ck_assert_msg(pki != NULL, "open: %s", err.msg);
}

static void instance_teardown(void)
{
    pki_free(pki);
    config_free(cfg);
    testutil_rmtree(dir);
    free(dir);
}

/* ---- a raw HTTP client ---- */

/* One request with extra header lines `extra` ("" or "Name: value\r\n…"). */
static void request(int port, const char *method, const char *target, const char *extra,
                    struct testhttp_reply *r)
{
    char req[2048];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: t\r\n%sConnection: close\r\n\r\n",
                     method, target, extra);
    int fd = testhttp_connect(port);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    testhttp_read(fd, r);
    close(fd);
}

/* One request (with header lines `extra`) answered with `status`. */
static void expect_status(int port, const char *method, const char *target, const char *extra,
                          int status)
{
    struct testhttp_reply r;
    request(port, method, target, extra, &r);
    ck_assert_msg(r.status == status, "%s %s: status %d, expected %d", method, target, r.status,
                  status);
    testhttp_reply_free(&r);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void etag_of(const unsigned char *data, size_t len, char etag[HTTP_ETAG_MAX])
{
    unsigned char digest[32];
    ck_assert_int_eq(EVP_Digest(data, len, digest, NULL, EVP_sha256(), NULL), 1);
    http_etag_sha256(digest, etag);
}

/* The bytes of a published CRL file (malloc'd). */
static unsigned char *crl_file(enum ca_kind ca, int partition, size_t *len)
{
    char path[PATH_MAX];
    ck_assert_ptr_nonnull(crl_path(cfg, ca, partition, path, sizeof(path)));
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char *data = malloc(1 << 20);
    *len = fread(data, 1, 1 << 20, f);
    fclose(f);
    return data;
}

static void publish(struct store *st, enum ca_kind ca, time_t now)
{
    struct jerr err = {0};
    ck_assert_msg(crl_publish(pki, st, ca, now, NULL, &err) == 0, "publish: %s", err.msg);
}

/* ---- pure ---- */

START_TEST(test_crl_parse)
{
    const int parts[CA_KIND_COUNT] = {1, 4};
    enum ca_kind ca;
    int partition;
    ck_assert_int_eq(public_crl_parse("sign.crl", parts, &ca, &partition), 0);
    ck_assert_int_eq(ca, CA_SIGN);
    ck_assert_int_eq(partition, -1);
    ck_assert_int_eq(public_crl_parse("auth.crl", parts, &ca, &partition), 0);
    ck_assert_int_eq(ca, CA_AUTH);
    ck_assert_int_eq(partition, -1);
    ck_assert_int_eq(public_crl_parse("auth/0.crl", parts, &ca, &partition), 0);
    ck_assert_int_eq(ca, CA_AUTH);
    ck_assert_int_eq(partition, 0);
    ck_assert_int_eq(public_crl_parse("auth/3.crl", parts, &ca, &partition), 0);
    ck_assert_int_eq(partition, 3);
    ck_assert_int_eq(public_crl_parse("sign-delta.crl", parts, &ca, &partition), 0);
    ck_assert_int_eq(ca, CA_SIGN);
    ck_assert_int_eq(partition, CRL_DELTA);
    /* DESIGN §11: a generation's complete CRL, a CRL scope -g (g1 is the CA's complete one) */
    ck_assert_int_eq(public_crl_parse("sign/g2.crl", parts, &ca, &partition), 0);
    ck_assert_int_eq(ca, CA_SIGN);
    ck_assert_int_eq(partition, STORE_CRL_GENERATION(2));
    ck_assert_int_eq(public_crl_parse("auth/g1.crl", parts, &ca, &partition), 0);
    ck_assert_int_eq(partition, -1);
    ck_assert_int_eq(public_crl_parse("sign/g64.crl", parts, &ca, &partition), 0);

    static const char *const bad[] = {
        "auth/0-delta.crl", /* one delta per CA, of the complete CRL */
        "auth-delta.crl/",
        "delta.crl",
        "auth/4.crl", /* past the partitions */
        "sign/0.crl", /* one partition: no partition files */
        "auth/03.crl",
        "auth/+1.crl",
        "auth/-1.crl",
        "auth/.crl",
        "auth/1",
        "auth/1.crl/",
        "auth/1.crlx",
        "auth/10000.crl",
        "AUTH/1.crl",
        "x/1.crl",
        "sign.crl/",
        "sign",
        "",
        "/sign.crl",
        "auth//1.crl",
        "signature/1.crl",
        "sign/g0.crl",
        "sign/g02.crl",
        "sign/g65.crl",
        "sign/g.crl",
        "sign/g2.cer",
        "sign/g2.crl/",
        "sign/G2.crl",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(public_crl_parse(bad[i], parts, &ca, &partition) == -1, "accepted %s",
                      bad[i]);
}
END_TEST

/* ---- endpoints in-process ---- */

static struct store *store_open_cb(void *arg, struct jerr *err)
{
    return pki_store_open(arg, err);
}

struct served {
    struct workers *workers;
    struct server *srv;
    struct public *pub;
    int port;
};

static void serve(struct served *s)
{
    struct jerr err = {0};
    struct workers_store_ops ops = {store_open_cb, store_close, pki};
    s->workers = workers_new(2, 0, &ops, &err);
    ck_assert_ptr_nonnull(s->workers);
    struct server_options opt = {.listen_http = "127.0.0.1:0", .loops = 2};
    s->srv = server_new(&opt, s->workers, &err);
    ck_assert_msg(s->srv != NULL, "%s", err.msg);
    s->pub = public_new(pki, server_loop_count(s->srv), &err);
    ck_assert_msg(s->pub != NULL, "%s", err.msg);
    ck_assert_int_eq(public_register(s->pub, s->srv, &err), 0);
    ck_assert_msg(server_start(s->srv, &err) == 0, "%s", err.msg);
    s->port = server_port(s->srv, false);
}

static void unserve(struct served *s)
{
    server_stop_accepting(s->srv);
    server_stop(s->srv);
    workers_shutdown(s->workers);
    server_free(s->srv);
    public_free(s->pub);
    workers_free(s->workers);
}

START_TEST(test_roots_and_health)
{
    struct served s;
    struct testhttp_reply r;
    char buf[512], etag[HTTP_ETAG_MAX], extra[256], want[64];
    serve(&s);

    request(s.port, "GET", "/healthz", "", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"status\":\"ok\"}");
    ck_assert_str_eq(testhttp_header(&r, "Content-Type", buf, sizeof(buf)), "application/json");
    testhttp_reply_free(&r);

    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        const char *target = ca == CA_SIGN ? "/ca/sign.cer" : "/ca/auth.cer";
        unsigned char *der = NULL;
        int der_len = i2d_X509(pki_get0_root(pki, (enum ca_kind)ca), &der);
        ck_assert_int_gt(der_len, 0);
        etag_of(der, (size_t)der_len, etag);

        request(s.port, "GET", target, "", &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(testhttp_header(&r, "Content-Type", buf, sizeof(buf)),
                         "application/pkix-cert");
        ck_assert_str_eq(testhttp_header(&r, "ETag", buf, sizeof(buf)), etag);
        ck_assert_str_eq(testhttp_header(&r, "Cache-Control", buf, sizeof(buf)),
                         "public, max-age=86400");
        ck_assert_uint_eq(r.body_len, (size_t)der_len);
        ck_assert_int_eq(memcmp(r.body, der, (size_t)der_len), 0);
        testhttp_reply_free(&r);

        snprintf(extra, sizeof(extra), "If-None-Match: %s\r\n", etag);
        request(s.port, "GET", target, extra, &r);
        ck_assert_int_eq(r.status, 304);
        ck_assert_uint_eq(r.body_len, 0);
        ck_assert_str_eq(testhttp_header(&r, "ETag", buf, sizeof(buf)), etag);
        testhttp_reply_free(&r);

        request(s.port, "HEAD", target, "", &r);
        ck_assert_int_eq(r.status, 200);
        snprintf(want, sizeof(want), "%d", der_len);
        ck_assert_str_eq(testhttp_header(&r, "Content-Length", buf, sizeof(buf)), want);
        ck_assert_uint_eq(r.body_len, 0);
        testhttp_reply_free(&r);
        OPENSSL_free(der);
    }

    request(s.port, "GET", "/ca/fingerprints", "", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(testhttp_header(&r, "Content-Type", buf, sizeof(buf)), "application/json");
    json_t *o = json_loadb(r.body, r.body_len, 0, NULL);
    ck_assert_ptr_nonnull(o);
    ck_assert_uint_eq(json_object_size(o), 2);
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        struct jerr err = {0};
        char fp[96];
        ck_assert_int_eq(pki_fingerprint(pki_get0_root(pki, (enum ca_kind)ca), fp, &err), 0);
        json_t *one = json_object_get(o, ca_kind_name((enum ca_kind)ca));
        ck_assert_str_eq(json_string_value(json_object_get(one, "sha256")), fp);
        ck_assert_str_eq(json_string_value(json_object_get(one, "subject")), cfg->ca[ca].subject);
    }
    json_decref(o);
    testhttp_reply_free(&r);

    request(s.port, "POST", "/ca/sign.cer", "", &r);
    ck_assert_int_eq(r.status, 405);
    ck_assert_str_eq(testhttp_header(&r, "Allow", buf, sizeof(buf)), "GET, HEAD");
    testhttp_reply_free(&r);
    expect_status(s.port, "GET", "/ca/other.cer", "", 404);
    unserve(&s);
}
END_TEST

/* GETs `target` and checks it answers exactly the file of (ca, partition), with
 * "Cache-Control: public, max-age=<max_age>[, stale-if-error=<stale>]" (none when stale is 0). */
static void expect_crl(int port, const char *target, enum ca_kind ca, int partition,
                       time_t this_update, long max_age, long stale)
{
    struct testhttp_reply r;
    char buf[256], etag[HTTP_ETAG_MAX], date[HTTP_DATE_MAX], cache[96];
    size_t len;
    unsigned char *file = crl_file(ca, partition, &len);
    etag_of(file, len, etag);
    request(port, "GET", target, "", &r);
    ck_assert_msg(r.status == 200, "%s: %d %s", target, r.status, r.body);
    ck_assert_str_eq(testhttp_header(&r, "Content-Type", buf, sizeof(buf)), "application/pkix-crl");
    ck_assert_str_eq(testhttp_header(&r, "ETag", buf, sizeof(buf)), etag);
    ck_assert_str_eq(testhttp_header(&r, "Last-Modified", buf, sizeof(buf)),
                     http_date_format(this_update, date, sizeof(date)));
    if (stale > 0)
        snprintf(cache, sizeof(cache), "public, max-age=%ld, stale-if-error=%ld", max_age, stale);
    else
        snprintf(cache, sizeof(cache), "public, max-age=%ld", max_age);
    ck_assert_str_eq(testhttp_header(&r, "Cache-Control", buf, sizeof(buf)), cache);
    ck_assert_uint_eq(r.body_len, len);
    ck_assert_int_eq(memcmp(r.body, file, len), 0);
    testhttp_reply_free(&r);
    free(file);
}

START_TEST(test_crls)
{
    struct served s;
    struct testhttp_reply r;
    struct jerr err = {0};
    char buf[256], etag[HTTP_ETAG_MAX], extra[512], date[HTTP_DATE_MAX], want[64];
    const time_t now = time(NULL);
    const long next_s = cfg->crl_next_update_s;
    jclock_set(now);
    serve(&s);

    /* Nothing published yet. */
    request(s.port, "GET", "/crl/sign.crl", "", &r);
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(r.body, "{\"error\":{\"code\":\"not_found\",\"message\":\"CRL not published "
                             "yet\",\"field\":null}}");
    testhttp_reply_free(&r);

    struct store *st = pki_store_open(pki, &err);
    ck_assert_ptr_nonnull(st);
    publish(st, CA_SIGN, now);
    publish(st, CA_AUTH, now);
    public_crl_changed(s.pub);

    /* No publisher says when the next publication comes: max-age is http.crl_max_age_s (300),
     * and a cache may serve the CRL on an error of ours until its nextUpdate. */
    const long cap = cfg->http_crl_max_age_s;
    ck_assert_int_eq(cap, 300);
    expect_crl(s.port, "/crl/sign.crl", CA_SIGN, -1, now, cap, next_s - cap);
    expect_crl(s.port, "/crl/auth.crl", CA_AUTH, -1, now, cap, next_s - cap);
    expect_crl(s.port, "/crl/auth/0.crl", CA_AUTH, 0, now, cap, next_s - cap);
    expect_crl(s.port, "/crl/auth/1.crl", CA_AUTH, 1, now, cap, next_s - cap);

    /* Never past the next publication (a status change 42 s from now armed one)... */
    public_crl_set_next_publication(s.pub, now + 42);
    expect_crl(s.port, "/crl/sign.crl", CA_SIGN, -1, now, 42, next_s - 42);
    /* ...0 once it is due (it is running)... */
    public_crl_set_next_publication(s.pub, now - 1);
    expect_crl(s.port, "/crl/sign.crl", CA_SIGN, -1, now, 0, next_s);
    /* ...nor beyond the cap when the next one is far. */
    public_crl_set_next_publication(s.pub, now + 3600);
    expect_crl(s.port, "/crl/sign.crl", CA_SIGN, -1, now, cap, next_s - cap);
    public_crl_set_next_publication(s.pub, 0);

    /* stale-if-error counts down to nextUpdate; near it max-age does too; past it both are 0. */
    jclock_set(now + 3600);
    expect_crl(s.port, "/crl/sign.crl", CA_SIGN, -1, now, cap, next_s - 3600 - cap);
    jclock_set(now + next_s - 100);
    expect_crl(s.port, "/crl/sign.crl", CA_SIGN, -1, now, 100, 0);
    jclock_set(now + next_s + 5);
    expect_crl(s.port, "/crl/sign.crl", CA_SIGN, -1, now, 0, 0);
    jclock_set(now);

    /* 304s (RFC 7232 §6). */
    size_t len;
    unsigned char *file = crl_file(CA_SIGN, -1, &len);
    etag_of(file, len, etag);
    free(file);
    snprintf(extra, sizeof(extra), "If-None-Match: \"other\", %s\r\n", etag);
    request(s.port, "GET", "/crl/sign.crl", extra, &r);
    ck_assert_int_eq(r.status, 304);
    ck_assert_uint_eq(r.body_len, 0);
    ck_assert_str_eq(testhttp_header(&r, "ETag", buf, sizeof(buf)), etag);
    snprintf(want, sizeof(want), "public, max-age=%ld, stale-if-error=%ld", cap, next_s - cap);
    ck_assert_str_eq(testhttp_header(&r, "Cache-Control", buf, sizeof(buf)), want);
    testhttp_reply_free(&r);
    expect_status(s.port, "GET", "/crl/sign.crl", "If-None-Match: \"other\"\r\n", 200);
    snprintf(extra, sizeof(extra), "If-Modified-Since: %s\r\n",
             http_date_format(now, date, sizeof(date)));
    expect_status(s.port, "GET", "/crl/sign.crl", extra, 304);
    snprintf(extra, sizeof(extra), "If-Modified-Since: %s\r\n",
             http_date_format(now - 1, date, sizeof(date)));
    expect_status(s.port, "GET", "/crl/sign.crl", extra, 200);
    expect_status(s.port, "GET", "/crl/sign.crl", "If-Modified-Since: yesterday\r\n", 200);
    snprintf(extra, sizeof(extra), "If-None-Match: \"other\"\r\nIf-Modified-Since: %s\r\n",
             http_date_format(now, date, sizeof(date)));
    /* If-None-Match decides */
    expect_status(s.port, "GET", "/crl/sign.crl", extra, 200);

    /* HEAD: the length, no body. */
    file = crl_file(CA_AUTH, -1, &len);
    free(file);
    request(s.port, "HEAD", "/crl/auth.crl", "", &r);
    ck_assert_int_eq(r.status, 200);
    snprintf(want, sizeof(want), "%zu", len);
    ck_assert_str_eq(testhttp_header(&r, "Content-Length", buf, sizeof(buf)), want);
    ck_assert_uint_eq(r.body_len, 0);
    testhttp_reply_free(&r);

    /* Refusals. */
    static const char *const missing[] = {"/crl/auth/2.crl", "/crl/sign/0.crl", "/crl/auth/01.crl",
                                          "/crl/other.crl", "/crl/"};
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        request(s.port, "GET", missing[i], "", &r);
        ck_assert_int_eq(r.status, 404);
        ck_assert_str_eq(r.body, "{\"error\":{\"code\":\"not_found\",\"message\":\"no such "
                                 "CRL\",\"field\":null}}");
        testhttp_reply_free(&r);
    }
    request(s.port, "DELETE", "/crl/sign.crl", "", &r);
    ck_assert_int_eq(r.status, 405);
    ck_assert_str_eq(testhttp_header(&r, "Allow", buf, sizeof(buf)), "GET, HEAD");
    testhttp_reply_free(&r);

    /* A new publication, signalled: the next answer is the new file. */
    publish(st, CA_SIGN, now + 10);
    public_crl_changed(s.pub);
    expect_crl(s.port, "/crl/sign.crl", CA_SIGN, -1, now + 10, cap, next_s + 10 - cap);

    /* Not signalled (another process published): found by the once-a-second check. */
    publish(st, CA_SIGN, now + 20);
    file = crl_file(CA_SIGN, -1, &len);
    etag_of(file, len, etag);
    free(file);
    bool seen = false;
    for (int i = 0; i < 60 && !seen; i++) {
        request(s.port, "GET", "/crl/sign.crl", "", &r);
        ck_assert_int_eq(r.status, 200);
        seen = strcmp(testhttp_header(&r, "ETag", buf, sizeof(buf)), etag) == 0;
        testhttp_reply_free(&r);
        if (!seen)
            sleep_ms(100);
    }
    ck_assert(seen);

    /* Withdrawn. */
    char path[PATH_MAX];
    crl_path(cfg, CA_SIGN, -1, path, sizeof(path));
    ck_assert_int_eq(unlink(path), 0);
    public_crl_changed(s.pub);
    expect_status(s.port, "GET", "/crl/sign.crl", "", 404);

    store_close(st);
    ck_assert_int_eq(server_inflight(s.srv), 0);
    unserve(&s);
}
END_TEST

/* ---- service_run end to end ---- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_text[16384];

static void capture(void *arg, enum log_level level, const char *line)
{
    (void)arg;
    (void)level;
    pthread_mutex_lock(&log_lock);
    size_t used = strlen(log_text);
    /* Drop the timestamp: "YYYY-MM-DDTHH:MM:SSZ " */
    snprintf(log_text + used, sizeof(log_text) - used, "%s\n",
             strlen(line) > 21 ? line + 21 : line);
    pthread_mutex_unlock(&log_lock);
}

static bool logged(const char *text)
{
    pthread_mutex_lock(&log_lock);
    bool found = strstr(log_text, text) != NULL;
    pthread_mutex_unlock(&log_lock);
    return found;
}

struct run {
    struct jerr err;
    int rc;
};

static void *run_main(void *arg)
{
    struct run *run = arg;
    run->rc = service_run(cfg, pki, &run->err);
    return NULL;
}

static int read_port_file(void)
{
    char path[PATH_MAX];
    config_path(cfg, "run/http.port", path, sizeof(path));
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    int port = 0;
    if (fscanf(f, "%d", &port) != 1)
        port = 0;
    fclose(f);
    return port;
}

START_TEST(test_service_run)
{
    struct run run = {{0}, 99};
    pthread_t thread;
    struct testhttp_reply r;
    char want[128];

    char crl_dir[PATH_MAX];
    config_path(cfg, "crl", crl_dir, sizeof(crl_dir));
    testutil_rmtree(crl_dir); /* whatever other tests published: both CAs start without CRLs */
    log_set_sink(capture, NULL);
    free(cfg->listen_http);
    cfg->listen_http = strdup("127.0.0.1:0"); /* the config loader wants a fixed port */
    cfg->loops = 2;
    cfg->workers = 2;
    ck_assert_int_eq(pthread_create(&thread, NULL, run_main, &run), 0);

    int port = 0;
    for (int i = 0; i < 1000 && (port = read_port_file()) == 0; i++)
        sleep_ms(10);
    ck_assert_int_gt(port, 0);
    snprintf(want, sizeof(want), "INFO listening http=127.0.0.1:%d loops=2 workers=2\n", port);
    ck_assert_msg(logged(want), "log: %s", log_text);

    request(port, "GET", "/healthz", "", &r);
    ck_assert_int_eq(r.status, 200);
    testhttp_reply_free(&r);

    /* The CRLs were missing: published at start, then served. */
    int status = 0;
    for (int i = 0; i < 200 && status != 200; i++) {
        request(port, "GET", "/crl/auth/1.crl", "", &r);
        status = r.status;
        testhttp_reply_free(&r);
        if (status != 200)
            sleep_ms(50);
    }
    ck_assert_int_eq(status, 200);

    ck_assert_int_eq(kill(getpid(), SIGTERM), 0);
    pthread_join(thread, NULL);
    ck_assert_msg(run.rc == 0, "service_run: %s", run.err.msg);
    ck_assert(logged("INFO published the sign CRLs\n"));
    ck_assert(logged("INFO published the auth CRLs\n"));
    ck_assert(logged("INFO stopping (signal 15)\n"));
    ck_assert(logged("INFO stopped\n"));
    ck_assert_int_eq(read_port_file(), 0); /* removed at stop */
    ck_assert_int_eq(testhttp_connect(port), -1);
    ck_assert_int_eq(errno, ECONNREFUSED);
    log_set_sink(NULL, NULL);
}
END_TEST

START_TEST(test_service_port_in_use)
{
    struct jerr err = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    socklen_t len = sizeof(sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, 1), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(sa.sin_port));

    log_set_sink(capture, NULL);
    free(cfg->listen_http);
    cfg->listen_http = strdup(addr);
    ck_assert_int_eq(service_run(cfg, pki, &err), -1);
    ck_assert_int_eq(err.code, JERR_IO);
    ck_assert_str_eq(err.field, "listen.http");
    char want[256];
    snprintf(want, sizeof(want), "cannot bind %s: Address already in use", addr);
    ck_assert_str_eq(err.msg, want);
    snprintf(want, sizeof(want), "ERROR cannot start: cannot bind %s: Address already in use\n",
             addr);
    ck_assert_msg(logged(want), "log: %s", log_text);
    ck_assert_int_eq(read_port_file(), 0);
    close(fd);
    log_set_sink(NULL, NULL);
}
END_TEST

static Suite *public_suite(void)
{
    Suite *s = suite_create("public");
    TCase *tc = tcase_create("public");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, instance_setup, instance_teardown);
    tcase_add_test(tc, test_crl_parse);
    tcase_add_test(tc, test_roots_and_health);
    tcase_add_test(tc, test_crls);
    tcase_add_test(tc, test_service_run);
    tcase_add_test(tc, test_service_port_in_use);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    return testutil_run(public_suite());
}
