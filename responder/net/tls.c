/*
 * tls: see tls.h. Every OpenSSL failure is turned into the message (jerr_openssl) and the error
 * queue cleared; the connection's decision about its client certificate is kept in the SSL's
 * ex_data, so a resumed or long-lived connection pays for it once.
 */
#include "responder/net/tls.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

/* The key of each client CA in the configuration, for messages. */
static const char *const tls_ca_fields[TLS_PEER_KINDS] = {"tls.operator_ca",
                                                          "tls.relying_party_ca"};

/* SSL ex_data slot: what a connection's client certificate is (tls_peer_kinds), decided once. */
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static int peer_kinds_index = -1;
static int refusal_index = -1; /* SSL_CTX ex_data: the struct tls_refusal of tls_set_refusal */

struct tls_refusal {
    tls_refusal_fn *refused;
    void *arg;
};

static void refusal_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                         void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    free(ptr);
}

static void tls_setup(void)
{
    peer_kinds_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    refusal_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, refusal_free);
}

/* Client certificates are requested, not required: a certificate that does not verify must
 * not cost the client the public endpoints. The result stays in SSL_get_verify_result, which
 * tls_peer_kinds checks. The one exception: a verified end-entity certificate that the
 * refusal hook (tls_set_refusal) names fails the handshake. */
static int tls_verify_keep_going(int preverify_ok, X509_STORE_CTX *ctx)
{
    if (!preverify_ok || X509_STORE_CTX_get_error_depth(ctx) != 0)
        return 1;
    SSL *ssl = X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    const struct tls_refusal *r =
        ssl != NULL ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), refusal_index) : NULL;
    if (r != NULL && r->refused(X509_STORE_CTX_get_current_cert(ctx), r->arg)) {
        X509_STORE_CTX_set_error(ctx, X509_V_ERR_CERT_REVOKED);
        return 0;
    }
    return 1;
}

/* Asks for client certificates from every configured client CA. Returns 0 or -1 with err. */
static int tls_request_client_certs(SSL_CTX *ctx, const char *const client_ca[TLS_PEER_KINDS],
                                    struct jerr *err)
{
    /* The handshake verifies against both CAs; tls_peer_kinds then tells them apart. */
    STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
    if (names == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    for (int k = 0; k < TLS_PEER_KINDS; k++) {
        const char *file = client_ca[k];
        if (file == NULL)
            continue;
        STACK_OF(X509_NAME) *more = SSL_load_client_CA_file(file);
        int added = more != NULL && SSL_add_file_cert_subjects_to_stack(names, file) == 1;
        sk_X509_NAME_pop_free(more, X509_NAME_free);
        if (!added || SSL_CTX_load_verify_locations(ctx, file, NULL) != 1) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            return jerr_openssl(err, JERR_CONFIG, tls_ca_fields[k], "%s: %s: cannot load the CA",
                                tls_ca_fields[k], file);
        }
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, tls_verify_keep_going);
    /* Sessions carry the client certificate; resumption needs an id context. */
    static const unsigned char sid_ctx[] = "jpkid";
    if (SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1) != 1)
        return jerr_openssl(err, JERR_CRYPTO, "tls.operator_ca", "session id context");
    return 0;
}

SSL_CTX *tls_context_new(const char *cert, const char *key,
                         const char *const client_ca[TLS_PEER_KINDS], struct jerr *err)
{
    pthread_once(&tls_once, tls_setup);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        jerr_openssl(err, JERR_CRYPTO, "listen.https", "SSL_CTX_new");
        return NULL;
    }
    /* TLS 1.2 or later; no renegotiation, no compression. */
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        jerr_openssl(err, JERR_CRYPTO, "listen.https", "cannot require TLS 1.2");
        goto fail;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        jerr_openssl(err, JERR_CONFIG, "tls.cert", "%s: cannot load the certificate", cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        jerr_openssl(err, JERR_CONFIG, "tls.key", "%s: cannot load the key", key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        jerr_openssl(err, JERR_CONFIG, "tls.key", "%s does not match %s", key, cert);
        goto fail;
    }
    if ((client_ca[TLS_PEER_OPERATOR] != NULL || client_ca[TLS_PEER_RELYING_PARTY] != NULL) &&
        tls_request_client_certs(ctx, client_ca, err) == -1)
        goto fail;
    ERR_clear_error();
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int tls_set_refusal(SSL_CTX *ctx, tls_refusal_fn *refused, void *arg)
{
    pthread_once(&tls_once, tls_setup);
    struct tls_refusal *r = malloc(sizeof(*r));
    if (r == NULL)
        return -1;
    *r = (struct tls_refusal){refused, arg};
    free(SSL_CTX_get_ex_data(ctx, refusal_index));
    if (SSL_CTX_set_ex_data(ctx, refusal_index, r) != 1) {
        free(r);
        return -1;
    }
    return 0;
}

int tls_anchors_load(tls_anchors anchors, const char *const client_ca[TLS_PEER_KINDS],
                     struct jerr *err)
{
    for (int k = 0; k < TLS_PEER_KINDS; k++) {
        if (client_ca[k] == NULL)
            continue;
        anchors[k] = X509_STORE_new();
        if (anchors[k] == NULL || X509_STORE_load_file(anchors[k], client_ca[k]) != 1)
            return jerr_openssl(err, JERR_CONFIG, tls_ca_fields[k], "%s: %s: cannot load the CA",
                                tls_ca_fields[k], client_ca[k]);
    }
    return 0;
}

void tls_anchors_free(tls_anchors anchors)
{
    for (int k = 0; k < TLS_PEER_KINDS; k++) {
        X509_STORE_free(anchors[k]);
        anchors[k] = NULL;
    }
}

struct bufferevent *tls_bufferevent_new(struct event_base *base, SSL_CTX *ctx)
{
    struct bufferevent *bev = NULL;
    SSL *ssl = SSL_new(ctx);
    if (ssl != NULL) {
        /* Takes the SSL (freed with the bufferevent, or on failure). */
        bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                             BEV_OPT_CLOSE_ON_FREE);
    }
    if (bev != NULL)
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    ERR_clear_error();
    return bev;
}

/* True when `cert` (with the chain the client sent, NULL after a resumption) verifies against
 * `anchors` alone, for a TLS client. */
static bool cert_chains_to(X509_STORE *anchors, X509 *cert, STACK_OF(X509) * sent)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    bool ok = ctx != NULL && X509_STORE_CTX_init(ctx, anchors, cert, sent) == 1 &&
              X509_STORE_CTX_set_default(ctx, "ssl_client") == 1 && X509_verify_cert(ctx) == 1;
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

unsigned tls_peer_kinds(struct bufferevent *bev, tls_anchors anchors, X509 **cert)
{
    *cert = NULL;
    SSL *ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;
    if (ssl == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
        return 0;
    *cert = SSL_get0_peer_certificate(ssl);
    if (*cert == NULL)
        return 0;
    /* bit TLS_PEER_KINDS marks "decided", so that a certificate of neither CA is not
     * verified again on every request */
    uintptr_t kinds = (uintptr_t)SSL_get_ex_data(ssl, peer_kinds_index);
    if (kinds == 0) {
        kinds = 1u << TLS_PEER_KINDS;
        for (int k = 0; k < TLS_PEER_KINDS; k++)
            if (anchors[k] != NULL &&
                cert_chains_to(anchors[k], *cert, SSL_get_peer_cert_chain(ssl)))
                kinds |= 1u << k;
        SSL_set_ex_data(ssl, peer_kinds_index, (void *)kinds);
    }
    return (unsigned)kinds;
}
