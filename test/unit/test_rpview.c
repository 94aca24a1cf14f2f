/*
 * Relying parties on jpkid respond: the meter's events as the responders send them to the CA
 * node (rpmeter_events_encode / _decode, and what a decoder refuses), the gate over another
 * source than the registry (rpgate_new_from, rpgate_reload_from), and responder/respond/rpview.c
 * loading the CA node's view from a real redis-server started here (published or not, a bad
 * record, deleted parties, the relying-party CA compared, the grace after Redis is lost).
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include "ca/rp.h"
#include "responder/respond/respond.h"
#include "responder/respond/rpview.h"
#include "responder/rp/rpgate.h"
#include "responder/rp/rpmeter.h"
#include "testutil.h"

START_TEST(events_round_trip)
{
    struct rpmeter_event ev[2] = {
        {.at = 1796083200, .pk = 7, .id = "rp-a", .serial = "0A1B", .ca = 1, .what = RP_WHAT_OCSP,
         .status = RPMETER_GOOD},
        {.at = 1796083201, .pk = 7, .id = "rp-b", .serial = "", .ca = 0, .what = RP_WHAT_CRL,
         .status = RPMETER_CRL},
    };
    size_t len = 0, n = 0;
    char *text = rpmeter_events_encode(ev, 2, &len);
    ck_assert_ptr_nonnull(text);
    struct rpmeter_event *back = NULL;
    struct jerr err = {0};
    ck_assert_int_eq(rpmeter_events_decode(text, len, &back, &n, &err), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(back[0].pk, 0); /* the CA node looks the key up itself */
    ck_assert_str_eq(back[0].id, "rp-a");
    ck_assert_str_eq(back[0].serial, "0A1B");
    ck_assert_int_eq(back[0].ca, 1);
    ck_assert_int_eq(back[0].status, RPMETER_GOOD);
    ck_assert_str_eq(back[1].serial, "");
    ck_assert_int_eq(back[1].what, RP_WHAT_CRL);
    free(back);
    free(text);
    ck_assert_int_eq(rpmeter_events_decode("", 0, &back, &n, &err), 0);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(events_refused)
{
    static const char *const bad[] = {
        "0 rp-a 1 0 0 0A\n",           /* no time */
        "1796083200 rp-a 2 0 0 0A\n",  /* no such CA */
        "1796083200 rp-a 1 2 0 0A\n",  /* what */
        "1796083200 rp-a 1 0 8 0A\n",  /* status */
        "1796083200 rp a 1 0 0 0A\n",  /* fields */
        "1796083200 rp/a 1 0 0 0A\n",  /* an id that is none */
        "1796083200 rp-a 1 0 0 0a\n",  /* a serial that is none */
        "1796083200 rp-a 1 0 0 0A x\n", /* trailing */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rpmeter_event *ev = NULL;
        size_t n = 0;
        struct jerr err = {0};
        ck_assert_msg(rpmeter_events_decode(bad[i], strlen(bad[i]), &ev, &n, &err) == -1, "%s",
                      bad[i]);
        ck_assert_int_eq(err.code, JERR_INVALID);
        ck_assert_ptr_null(ev);
    }
}
END_TEST

/* ---- the gate over another source ---- */

struct parties {
    struct rp_rec recs[4];
    size_t n;
};

static int list_source(void *src, store_rp_cb cb, void *ctx, struct jerr *err)
{
    struct parties *p = src;
    (void)err;
    for (size_t i = 0; i < p->n; i++)
        if (cb(ctx, &p->recs[i]) != 0)
            return -1;
    return 0;
}

static struct rp_rec rec(int64_t pk, const char *id, enum rp_state state)
{
    struct rp_rec r;
    memset(&r, 0, sizeof(r));
    r.pk = pk;
    snprintf(r.id, sizeof(r.id), "%s", id);
    r.state = state;
    r.kind = RP_KIND_PLATFORM;
    memset(r.token_sha256, 'a' + (int)pk, STORE_TOKEN_SHA256_HEX);
    return r;
}

START_TEST(gate_from_a_source)
{
    struct jerr err = {0};
    struct parties p = {{rec(1, "rp-a", RP_STATE_ACTIVE), rec(2, "rp-b", RP_STATE_DELETED)}, 2};
    struct rpgate *g = rpgate_new_from(NULL, list_source, &p, &err);
    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq(rpgate_party_count(g), 1); /* a deleted party names nobody */
    p.recs[2] = rec(3, "rp-c", RP_STATE_SUSPENDED);
    p.n = 3;
    ck_assert_int_eq(rpgate_reload_from(g, list_source, &p, &err), 0);
    ck_assert_uint_eq(rpgate_party_count(g), 2);
    rpgate_free(g);
}
END_TEST

/* ---- rpview over a real redis-server ---- */

static pid_t redis_pid;
static int redis_port;

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static redisContext *redis_wait(void)
{
    for (int i = 0; i < 100; i++) {
        redisContext *c = redisConnect("127.0.0.1", redis_port);
        if (c != NULL && c->err == 0)
            return c;
        redisFree(c);
        usleep(50000);
    }
    ck_abort_msg("redis-server did not come up");
    return NULL;
}

static void redis_setup(void)
{
    testutil_tmpdir_setup();
    char dir[4096], port[16], log[4200];
    testutil_path(dir, sizeof(dir), "");
    snprintf(log, sizeof(log), "%s/redis.log", dir);
    redis_port = free_port();
    snprintf(port, sizeof(port), "%d", redis_port);
    redis_pid = fork();
    if (redis_pid == 0) {
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save",
               "", "--appendonly", "no", "--dir", dir, "--logfile", log, (char *)NULL);
        _exit(127);
    }
    redisFree(redis_wait());
}

static void redis_teardown(void)
{
    if (redis_pid > 0) {
        kill(redis_pid, SIGTERM);
        waitpid(redis_pid, NULL, 0);
    }
    testutil_tmpdir_teardown();
}

static void cmd(redisContext *c, const char *fmt, const char *a, const char *b, size_t blen)
{
    redisReply *r = redisCommand(c, fmt, a, b, blen);
    ck_assert_ptr_nonnull(r);
    ck_assert_msg(r->type != REDIS_REPLY_ERROR, "%s", r->str);
    freeReplyObject(r);
}

/* A self-signed certificate into `path`; its DER into *der. */
static int write_cert(const char *path, unsigned char **der)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"rp ca", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, key);
    X509_sign(x, key, EVP_sha256());
    FILE *f = fopen(path, "w");
    PEM_write_X509(f, x);
    fclose(f);
    int len = i2d_X509(x, der);
    X509_free(x);
    EVP_PKEY_free(key);
    return len;
}

START_TEST(view_from_redis)
{
    char url[64], ca_set[4200], ca_path[4096];
    struct jerr err = {0};
    unsigned char *der = NULL;
    testutil_path(ca_path, sizeof(ca_path), "rp-ca.pem");
    int der_len = write_cert(ca_path, &der);
    snprintf(url, sizeof(url), "respond.redis.url=redis://127.0.0.1:%d/0", redis_port);
    snprintf(ca_set, sizeof(ca_set), "respond.relying_party_ca=%s", ca_path);
    const char *sets[] = {url, ca_set};
    struct jpki_config *cfg = config_load_string("t.yaml", "", 0, sets, 2, &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    struct redisconn_cfg rcfg;
    ck_assert_int_eq(respond_redis_cfg(&rcfg, cfg, &err), 0);
    struct redissrc *src = redissrc_new(&rcfg, 1, 1024, &err);
    ck_assert_ptr_nonnull(src);
    struct rpview *v = rpview_new(cfg, &rcfg, src, &err);
    ck_assert_ptr_nonnull(v);
    redisContext *c = redis_wait();
    char why[200];

    /* nothing published yet: no view, not fresh */
    ck_assert_int_eq(rpview_load(v, c, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "not published"));
    ck_assert(!rpview_is_fresh(v, why, sizeof(why)));

    char token[STORE_TOKEN_SHA256_HEX + 1];
    memset(token, 'b', STORE_TOKEN_SHA256_HEX);
    token[STORE_TOKEN_SHA256_HEX] = '\0';
    char active[128], suspended[128];
    snprintf(active, sizeof(active), "1 5 authentication active %s 0A", token);
    snprintf(suspended, sizeof(suspended), "1 6 signature suspended - 0B");
    cmd(c, "HSET jpki:rp:parties %s %b", "rp-a", active, strlen(active));
    cmd(c, "HSET jpki:rp:parties %s %b", "rp-s", suspended, strlen(suspended));
    cmd(c, "HSET jpki:rp:parties %s %b", "rp-d", "1 7 platform deleted - -", 24);
    cmd(c, "HSET jpki:rp:parties %s %b", "rp-x", "garbage", 7);
    cmd(c, "HSET jpki:rp:meta %s %b", "digest", "00", 2);
    /* another relying-party CA than ours: refused, naming the key */
    cmd(c, "HSET jpki:rp:ca %s %b", "cert", "not it", 6);
    err = (struct jerr){0};
    ck_assert_int_eq(rpview_load(v, c, &err), -1);
    ck_assert_str_eq(err.field, "respond.relying_party_ca");
    cmd(c, "HSET jpki:rp:ca %s %b", "cert", (const char *)der, (size_t)der_len);
    ck_assert_int_eq(rpview_load(v, c, &err), 0);
    /* the active and the suspended party; the deleted one and the garbage name nobody */
    ck_assert_uint_eq(rpgate_party_count(rpview_gate(v)), 2);

    /* fresh while the subscriber holds Redis, and within the grace after it lost it */
    ck_assert(!rpview_is_fresh(v, why, sizeof(why))); /* never connected */
    redissrc_set_up(src, true, "");
    ck_assert(rpview_is_fresh(v, why, sizeof(why)));
    redissrc_set_up(src, false, "gone");
    ck_assert(rpview_is_fresh(v, why, sizeof(why)));
    ck_assert_int_lt(redissrc_down_ms(src), RPVIEW_GRACE_MS);

    redisFree(c);
    rpview_free(v);
    redissrc_free(src);
    redisconn_cfg_clear(&rcfg);
    config_free(cfg);
    OPENSSL_free(der);
}
END_TEST

static Suite *rpview_suite(void)
{
    Suite *s = suite_create("rpview");
    TCase *pure = tcase_create("pure");
    tcase_add_test(pure, events_round_trip);
    tcase_add_test(pure, events_refused);
    tcase_add_test(pure, gate_from_a_source);
    suite_add_tcase(s, pure);
    TCase *redis = tcase_create("redis");
    tcase_add_checked_fixture(redis, redis_setup, redis_teardown);
    tcase_set_timeout(redis, 30);
    tcase_add_test(redis, view_from_redis);
    suite_add_tcase(s, redis);
    return s;
}

int main(void)
{
    return testutil_run(rpview_suite());
}
