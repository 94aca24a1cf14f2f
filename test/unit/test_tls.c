/*
 * test_tls: jpkid's TLS context and client-certificate plumbing (responder/net/tls.c) — the
 * context's rules (TLS 1.2 floor, client certificates requested only with a client CA), the
 * configuration key named by each load failure, the per-loop CA stores, and the answers for
 * connections without a verified certificate. The handshakes themselves are test_server's.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "responder/net/tls.h"
#include "testutil.h"

static char *g_dir;
static char g_cert[4200], g_key[4200], g_other_cert[4200], g_other_key[4200], g_junk[4200];

static void setup(void)
{
    g_dir = testutil_mkdtemp();
    snprintf(g_cert, sizeof(g_cert), "%s/server.pem", g_dir);
    snprintf(g_key, sizeof(g_key), "%s/server.key", g_dir);
    snprintf(g_other_cert, sizeof(g_other_cert), "%s/other.pem", g_dir);
    snprintf(g_other_key, sizeof(g_other_key), "%s/other.key", g_dir);
    snprintf(g_junk, sizeof(g_junk), "%s/junk.pem", g_dir);
    ck_assert_int_eq(testutil_self_signed(g_cert, g_key, true), 0);
    ck_assert_int_eq(testutil_self_signed(g_other_cert, g_other_key, true), 0);
    ck_assert_int_eq(testutil_write_file(g_junk, "not a certificate\n", 18), 0);
}

static void teardown(void)
{
    testutil_rmtree(g_dir);
    free(g_dir);
}

/* A context over the server's certificate and key with `client_ca` requires TLS 1.2, refuses
 * renegotiation, and asks for client certificates with verify `mode` from `names` CAs. */
static void context_is(const char *const client_ca[TLS_PEER_KINDS], int mode, int names)
{
    struct jerr err = {0};
    SSL_CTX *ctx = tls_context_new(g_cert, g_key, client_ca, &err);
    ck_assert_msg(ctx != NULL, "%s", err.msg);
    ck_assert_int_eq(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
    ck_assert_int_ne(SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION, 0);
    ck_assert_int_eq(SSL_CTX_get_verify_mode(ctx), mode);
    ck_assert_int_eq(sk_X509_NAME_num(SSL_CTX_get_client_CA_list(ctx)), names);
    SSL_CTX_free(ctx);
}

START_TEST(context_without_client_ca)
{
    /* no client CA: no client certificate is asked for */
    const char *none[TLS_PEER_KINDS] = {NULL, NULL};
    context_is(none, SSL_VERIFY_NONE, 0);
}
END_TEST

START_TEST(context_with_client_cas)
{
    /* requested (SSL_VERIFY_PEER), not required (no FAIL_IF_NO_PEER_CERT), from both CAs
     * (testutil's self-signed certificates share one subject: one name in the list) */
    const char *both[TLS_PEER_KINDS] = {g_cert, g_other_cert};
    const char *op_only[TLS_PEER_KINDS] = {g_cert, NULL};
    context_is(both, SSL_VERIFY_PEER, 1);
    context_is(op_only, SSL_VERIFY_PEER, 1);
}
END_TEST

START_TEST(context_refusals_name_the_key)
{
    const char *none[TLS_PEER_KINDS] = {NULL, NULL};
    const char *junk_rp[TLS_PEER_KINDS] = {NULL, g_junk};
    const char *missing_op[TLS_PEER_KINDS] = {"/nonexistent/ca.pem", NULL};
    struct jerr err = {0};

    ck_assert_ptr_null(tls_context_new("/nonexistent/cert.pem", g_key, none, &err));
    ck_assert_str_eq(err.field, "tls.cert");
    jerr_clear(&err);
    ck_assert_ptr_null(tls_context_new(g_cert, "/nonexistent/key.pem", none, &err));
    ck_assert_str_eq(err.field, "tls.key");
    jerr_clear(&err);
    /* a key that is not the certificate's */
    ck_assert_ptr_null(tls_context_new(g_cert, g_other_key, none, &err));
    ck_assert_str_eq(err.field, "tls.key");
    jerr_clear(&err);
    ck_assert_ptr_null(tls_context_new(g_cert, g_key, junk_rp, &err));
    ck_assert_str_eq(err.field, "tls.relying_party_ca");
    jerr_clear(&err);
    ck_assert_ptr_null(tls_context_new(g_cert, g_key, missing_op, &err));
    ck_assert_str_eq(err.field, "tls.operator_ca");
}
END_TEST

START_TEST(anchors_per_ca)
{
    const char *op_only[TLS_PEER_KINDS] = {g_cert, NULL};
    const char *missing_rp[TLS_PEER_KINDS] = {g_cert, "/nonexistent/rp.pem"};
    tls_anchors anchors = {NULL, NULL};
    struct jerr err = {0};

    ck_assert_int_eq(tls_anchors_load(anchors, op_only, &err), 0);
    ck_assert_ptr_nonnull(anchors[TLS_PEER_OPERATOR]);
    ck_assert_ptr_null(anchors[TLS_PEER_RELYING_PARTY]);
    tls_anchors_free(anchors);
    ck_assert_ptr_null(anchors[TLS_PEER_OPERATOR]);

    ck_assert_int_eq(tls_anchors_load(anchors, missing_rp, &err), -1);
    ck_assert_str_eq(err.field, "tls.relying_party_ca");
    tls_anchors_free(anchors); /* what was loaded before the failure */
}
END_TEST

START_TEST(peer_kinds_without_a_verified_certificate)
{
    const char *op_only[TLS_PEER_KINDS] = {g_cert, NULL};
    tls_anchors anchors = {NULL, NULL};
    struct jerr err = {0};
    struct event_base *base = event_base_new();
    SSL_CTX *ctx = tls_context_new(g_cert, g_key, op_only, &err);
    X509 *cert = (X509 *)1;
    ck_assert_ptr_nonnull(base);
    ck_assert_ptr_nonnull(ctx);
    ck_assert_int_eq(tls_anchors_load(anchors, op_only, &err), 0);

    /* no connection, a plain one, and a TLS one before any handshake: no client */
    ck_assert_uint_eq(tls_peer_kinds(NULL, anchors, &cert), 0);
    ck_assert_ptr_null(cert);
    struct bufferevent *plain = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    ck_assert_uint_eq(tls_peer_kinds(plain, anchors, &cert), 0);
    ck_assert_ptr_null(cert);
    struct bufferevent *tls = tls_bufferevent_new(base, ctx);
    ck_assert_ptr_nonnull(tls);
    ck_assert_ptr_nonnull(bufferevent_openssl_get_ssl(tls));
    ck_assert_uint_eq(tls_peer_kinds(tls, anchors, &cert), 0);
    ck_assert_ptr_null(cert);

    bufferevent_free(tls);
    bufferevent_free(plain);
    tls_anchors_free(anchors);
    SSL_CTX_free(ctx);
    event_base_free(base);
}
END_TEST

static Suite *tls_suite(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("tls");
    /* once for the suite: RSA key generation is slow on a loaded machine */
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, context_without_client_ca);
    tcase_add_test(tc, context_with_client_cas);
    tcase_add_test(tc, context_refusals_name_the_key);
    tcase_add_test(tc, anchors_per_ca);
    tcase_add_test(tc, peer_kinds_without_a_verified_certificate);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(tls_suite());
}
