/*
 * redistls: see redistls.h.
 */
#include "responder/redis/redistls.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "responder/net/log.h"

/* TCP keepalive of the connection to Redis: first probe after this many idle seconds (hiredis's
 * REDIS_KEEPALIVE_INTERVAL for plain connections). */
#define REDISTLS_KEEPALIVE_S 15

struct redistls {
    SSL_CTX *ctx;
};

static int file_error(struct jerr *err, const char *section, const char *what, const char *file)
{
    char key[64];
    snprintf(key, sizeof(key), "%s.%s", section, what);
    return jerr_openssl(err, JERR_CONFIG, key, "%s: cannot use %s", key, file);
}

struct redistls *redistls_new(const char *section, const char *ca, const char *cert,
                              const char *key, struct jerr *err)
{
    char name[64];
    if ((cert[0] == '\0') != (key[0] == '\0')) {
        snprintf(name, sizeof(name), "%s.%s", section, cert[0] == '\0' ? "tls_cert" : "tls_key");
        jerr_set(err, JERR_CONFIG, name, "%s: tls_cert and tls_key go together", name);
        return NULL;
    }
    struct redistls *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        jerr_oom(err);
        return NULL;
    }
    if ((t->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
        SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "TLS context for %s", section);
        goto fail;
    }
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    if (ca[0] != '\0' ? SSL_CTX_load_verify_locations(t->ctx, ca, NULL) != 1
                      : SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
        file_error(err, section, "tls_ca", ca[0] != '\0' ? ca : "the system's trust store");
        goto fail;
    }
    if (cert[0] != '\0' && SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1) {
        file_error(err, section, "tls_cert", cert);
        goto fail;
    }
    if (key[0] != '\0' && (SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1 ||
                           SSL_CTX_check_private_key(t->ctx) != 1)) {
        file_error(err, section, "tls_key", key);
        goto fail;
    }
    return t;
fail:
    redistls_free(t);
    return NULL;
}

void redistls_free(struct redistls *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

/* ---- the pump thread ---- */

static pthread_once_t pump_once = PTHREAD_ONCE_INIT;
static struct event_base *pump_base;
static struct event *pump_stop_ev;
static pthread_t pump_thread;

static void *pump_main(void *arg)
{
    (void)arg;
    event_base_loop(pump_base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    event_base_loopbreak(pump_base);
}

/* At exit, before OpenSSL's own atexit cleanup (registered earlier, so run later): the pump
 * must not be freeing a tunnel's SSL while OpenSSL tears itself down. An activated event, not
 * event_base_loopbreak from here: a break asked before the loop has started is forgotten when
 * it starts, an active event is not. */
static void pump_stop(void)
{
    event_active(pump_stop_ev, EV_READ, 0);
    pthread_join(pump_thread, NULL);
}

static void pump_start(void)
{
    /* thread.h: the base is used from the threads that add tunnels to it */
    if (evthread_use_pthreads() != 0 || (pump_base = event_base_new()) == NULL)
        return;
    if ((pump_stop_ev = event_new(pump_base, -1, 0, stop_cb, NULL)) == NULL ||
        pthread_create(&pump_thread, NULL, pump_main, NULL) != 0) {
        if (pump_stop_ev != NULL)
            event_free(pump_stop_ev);
        event_base_free(pump_base);
        pump_base = NULL;
        return;
    }
    atexit(pump_stop);
}

/* One connection: `tls` to Redis, `plain` to hiredis's end of the pair. */
struct tunnel {
    struct bufferevent *tls, *plain;
    char addr[300]; /* host:port, for the log */
    bool closing; /* one side has closed; the other is writing out what it sent */
};

static void tunnel_free(struct tunnel *tn)
{
    bufferevent_free(tn->tls);
    bufferevent_free(tn->plain);
    free(tn);
}

static struct bufferevent *other_side(const struct tunnel *tn, const struct bufferevent *bev)
{
    return bev == tn->tls ? tn->plain : tn->tls;
}

static void pass_on(struct bufferevent *bev, void *arg)
{
    bufferevent_write_buffer(other_side(arg, bev), bufferevent_get_input(bev));
}

/* The other side has written out what the closed side sent: the tunnel ends. */
static void drained(struct bufferevent *bev, void *arg)
{
    (void)bev;
    tunnel_free(arg);
}

static void side_event(struct bufferevent *bev, short what, void *arg)
{
    struct tunnel *tn = arg;
    if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) == 0)
        return;
    /* hiredis sees only the end of its stream: what TLS said goes to the log (with TLS 1.3 a
     * server refusing the client certificate says so only after the handshake) */
    unsigned long e = bev == tn->tls ? bufferevent_get_openssl_error(bev) : 0;
    if (e != 0) {
        char reason[256];
        ERR_error_string_n(e, reason, sizeof(reason));
        log_error("redis %s: TLS: %s", tn->addr, reason);
    }
    struct bufferevent *other = other_side(tn, bev);
    if (tn->closing || evbuffer_get_length(bufferevent_get_output(other)) == 0) {
        tunnel_free(tn);
        return;
    }
    tn->closing = true;
    bufferevent_disable(bev, EV_READ | EV_WRITE);
    bufferevent_disable(other, EV_READ);
    bufferevent_setcb(other, NULL, drained, side_event, tn);
}

/* ---- connecting ---- */

/* A TCP connection to host:port within timeout_ms, its reads and writes then bounded by it
 * too (the handshake is blocking). -1 with err. */
static int tcp_connect(const char *host, int port, int timeout_ms, const char *addr,
                       struct jerr *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0)
        return jerr_set(err, JERR_UNAVAILABLE, "redis", "redis %s: cannot resolve: %s", addr,
                        gai_strerror(rc));
    int fd = -1, last = 0;
    for (struct addrinfo *a = res; a != NULL && fd == -1; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd == -1) {
            last = errno;
            continue;
        }
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 ||
            (errno == EINPROGRESS && poll(&p, 1, timeout_ms) == 1 &&
             getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0))
            break;
        last = soerr != 0 ? soerr : (errno == EINPROGRESS ? ETIMEDOUT : errno);
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd == -1)
        return jerr_set(err, JERR_UNAVAILABLE, "redis", "redis %s: cannot connect: %s", addr,
                        strerror(last));
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    /* blocking for the handshake, each read and write at most timeout_ms; a dead peer (a
     * partition) noticed by TCP keepalive afterwards, timed as hiredis's redisEnableKeepAlive
     * times a plain connection */
    int on = 1, idle = REDISTLS_KEEPALIVE_S, interval = REDISTLS_KEEPALIVE_S / 3, count = 3;
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) == -1 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1 ||
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) == -1 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) == -1 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval)) == -1 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count)) == -1) {
        jerr_set(err, JERR_UNAVAILABLE, "redis", "redis %s: %s", addr, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* The handshake on `fd`, checking the certificate names `host`. NULL with err. */
static SSL *handshake(struct redistls *t, int fd, const char *host, const char *addr,
                      struct jerr *err)
{
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    SSL *ssl = SSL_new(t->ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 ||
        (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1
               : (SSL_set_tlsext_host_name(ssl, host) != 1 || SSL_set1_host(ssl, host) != 1))) {
        jerr_openssl(err, JERR_CRYPTO, "redis", "redis %s: TLS setup", addr);
        SSL_free(ssl);
        return NULL;
    }
    if (SSL_connect(ssl) == 1)
        return ssl;
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK)
        jerr_set(err, JERR_UNAVAILABLE, "redis",
                 "redis %s: TLS handshake failed: certificate verify failed (%s)", addr,
                 X509_verify_cert_error_string(verify));
    else if (ERR_peek_error() != 0)
        jerr_openssl(err, JERR_UNAVAILABLE, "redis", "redis %s: TLS handshake failed", addr);
    else
        jerr_set(err, JERR_UNAVAILABLE, "redis", "redis %s: TLS handshake failed: %s", addr,
                 errno != 0 ? strerror(errno) : "connection closed");
    ERR_clear_error();
    SSL_free(ssl);
    return NULL;
}

int redistls_connect(struct redistls *t, const char *host, int port, int timeout_ms,
                     struct jerr *err)
{
    char addr[300];
    snprintf(addr, sizeof(addr), strchr(host, ':') != NULL ? "[%s]:%d" : "%s:%d", host, port);
    pthread_once(&pump_once, pump_start);
    if (pump_base == NULL)
        return jerr_set(err, JERR_INTERNAL, "redis", "redis %s: no TLS pump thread", addr);
    int fd = tcp_connect(host, port, timeout_ms, addr, err);
    if (fd == -1)
        return -1;
    int pair[2] = {-1, -1};
    struct tunnel *tn = NULL;
    SSL *ssl = handshake(t, fd, host, addr, err);
    if (ssl == NULL) {
        close(fd);
        return -1;
    }
    const int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_THREADSAFE;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == -1 ||
        evutil_make_socket_nonblocking(fd) == -1 ||
        evutil_make_socket_nonblocking(pair[1]) == -1 || (tn = calloc(1, sizeof(*tn))) == NULL) {
        jerr_set(err, JERR_INTERNAL, "redis", "redis %s: %s", addr, strerror(errno));
        goto fail;
    }
    snprintf(tn->addr, sizeof(tn->addr), "%s", addr);
    /* from here the bufferevents own fd, ssl and pair[1] */
    tn->tls = bufferevent_openssl_socket_new(pump_base, fd, ssl, BUFFEREVENT_SSL_OPEN, opts);
    if (tn->tls == NULL)
        goto fail;
    fd = -1;
    ssl = NULL;
    if ((tn->plain = bufferevent_socket_new(pump_base, pair[1], opts)) == NULL)
        goto fail;
    pair[1] = -1;
    bufferevent_setcb(tn->tls, pass_on, NULL, side_event, tn);
    bufferevent_setcb(tn->plain, pass_on, NULL, side_event, tn);
    /* The plain side first: nothing comes on it before hiredis has pair[0]. Once the TLS side
     * reads, the pump thread may end the tunnel at once (Redis refusing the client
     * certificate right after the handshake): tn is not touched after that. */
    if (bufferevent_enable(tn->plain, EV_READ | EV_WRITE) == -1 ||
        bufferevent_enable(tn->tls, EV_READ | EV_WRITE) == -1)
        goto fail;
    return pair[0];
fail:
    jerr_set(err, JERR_INTERNAL, "redis", "redis %s: cannot start the TLS tunnel", addr);
    if (tn != NULL) {
        if (tn->tls != NULL)
            bufferevent_free(tn->tls);
        if (tn->plain != NULL)
            bufferevent_free(tn->plain);
        free(tn);
    }
    SSL_free(ssl);
    if (fd != -1)
        close(fd);
    for (int i = 0; i < 2; i++)
        if (pair[i] != -1)
            close(pair[i]);
    return -1;
}
