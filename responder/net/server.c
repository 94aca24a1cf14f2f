/*
 * server: see server.h for the design. This file owns the loops, their sockets, the connection
 * count and limits, and the route table; it answers only the requests no handler takes (414,
 * 404, 405, 413), always with a JSON body. TLS (the context, TLS bufferevents, which CA a
 * client certificate chains to) is tls.c's.
 *
 * Counting connections with libevent 2.1's evhttp, which has no "new connection" hook: every
 * accepted connection gets its bufferevent from our bevcb, where it is counted; the bufferevent
 * is held (bufferevent_incref) and handed to an "adopt" event of the loop, which runs right after
 * evhttp has built the connection around it. There the evhttp_connection is read back as the
 * bufferevent's callback argument (evhttp sets it) and given a close callback that uncounts it —
 * or, when over the cap, it is closed at once. If evhttp freed the connection before (it does
 * only when an allocation fails), bufferevent_free has cleared the callbacks: the argument is
 * NULL and the connection is uncounted there. Our reference keeps the bufferevent's memory valid
 * for that check.
 */
#include "responder/net/server.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <event2/http_struct.h>
#include <sys/resource.h>

#include "base/limits.h"
#include "responder/net/framing.h"
#include "responder/net/http.h"
#include "responder/net/log.h"
#include "responder/net/ratelimit.h"
#include "responder/net/tls.h"

/* The listeners: public and operator, each plain and TLS. */
enum { LISTEN_HTTP, LISTEN_HTTPS, LISTEN_OPERATOR_HTTP, LISTEN_OPERATOR_HTTPS, LISTEN_COUNT };

static bool listener_is_tls(int l)
{
    return l == LISTEN_HTTPS || l == LISTEN_OPERATOR_HTTPS;
}

static bool listener_is_operator(int l)
{
    return l == LISTEN_OPERATOR_HTTP || l == LISTEN_OPERATOR_HTTPS;
}

static const char *const listener_fields[LISTEN_COUNT] = {
    "listen.http", "listen.https", "listen.operator_http", "listen.operator_https"};

/* Every method evhttp 2.1 parses: allowed at the evhttp level so that routes answer 405. */
#define SERVER_ALL_METHODS                                                                         \
    (EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |     \
     EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH)

struct listener_ctx {
    struct server_loop *loop;
    int listener;
};

struct pending_conn {
    struct bufferevent *bev;
    bool refuse;
    bool operator_listener;
};

/* A connection the server tracks: its deadline, its place in the loop's queue of connections
 * waiting for a request (oldest first: the one shed when the process cap is reached) and its
 * address's count. Found from a request by its descriptor (server.by_fd). Loop thread only. */
struct conn {
    struct server_loop *loop;
    struct evhttp_connection *evcon;
    struct event *deadline;
    struct conn *prev, *next; /* in loop->waiting while not busy */
    struct addr_count *addr;  /* NULL: not counted (no address) */
    int fd;
    bool busy; /* a request has come whole and is being answered */
    bool operator_listener;
};

/* Connections open from one IPv4 address or IPv6 /64 (process-wide, under addr_lock). */
struct addr_count {
    struct addr_count *next;
    /* ratelimit_addr_key of the peer (IPv4 whole, IPv6 by /64), zero-padded */
    unsigned char key[RATELIMIT_ADDR_KEY_MAX];
    int open;
};
#define ADDR_BUCKETS 4096

struct server_loop {
    struct server *srv;
    int index;
    struct event_base *base;
    struct evhttp *http[LISTEN_COUNT];
    struct evhttp_bound_socket *bound[LISTEN_COUNT];
    struct listener_ctx ctx[LISTEN_COUNT];
    struct workers_loop *work;
    struct event *adopt_ev; /* adopts the connections accepted since it last ran */
    struct event *stop_accept_ev;
    struct event *accept_resume_ev; /* re-enables accepting after an accept() failure */
    time_t accept_error_logged_at;
    struct pending_conn *pending; /* loop thread only */
    size_t pending_count, pending_cap;
    time_t refused_logged_at, shed_logged_at, deadline_logged_at, per_address_logged_at;
    struct conn *waiting_head, *waiting_tail; /* connections waiting for a request, oldest first */
    tls_anchors anchors;                      /* this loop's copy of each client CA (NULL = none) */
    pthread_t thread;
    bool running;
};

struct server {
    char *listen[LISTEN_COUNT];
    char *tls_cert, *tls_key;
    char *tls_client_ca[TLS_PEER_KINDS]; /* operator, relying-party CA files (NULL = none) */
    int idle_timeout_s, max_connections, connections_per_address;
    int header_timeout_ms, body_timeout_ms;
    bool has_operator_listener;
    bool (*is_exempt)(const struct sockaddr *peer, void *arg);
    void *is_exempt_arg;
    struct workers *workers;
    SSL_CTX *tls_ctx;

    struct server_route routes[SERVER_MAX_ROUTES];
    size_t route_count;

    struct server_loop *loops;
    int loop_count;
    bool started;
    char address[LISTEN_COUNT][INET6_ADDRSTRLEN + 16];
    int port[LISTEN_COUNT];

    /* Tracked connections by descriptor (each slot written by the loop that owns the fd). */
    _Atomic(struct conn *) *by_fd;
    int by_fd_size;
    pthread_mutex_t addr_lock;
    struct addr_count *addr_buckets[ADDR_BUCKETS];

    atomic_int connections;
    atomic_int inflight;
    atomic_int stopped_accepting; /* loops that closed their listeners */
    atomic_bool stopping;
};

/* ---- process-wide libevent setup ---- */

static void libevent_log_cb(int severity, const char *msg)
{
    if (severity == EVENT_LOG_DEBUG)
        return;
    log_msg(severity == EVENT_LOG_ERR ? LOG_LEVEL_ERROR : LOG_LEVEL_WARN, "libevent: %s", msg);
}

static pthread_once_t libevent_once = PTHREAD_ONCE_INIT;
static int libevent_threads_rc;

static void libevent_setup(void)
{
    /* thread.h: must come before any event_base is created. */
    libevent_threads_rc = evthread_use_pthreads();
    event_set_log_callback(libevent_log_cb);
}

/* ---- options ---- */

static bool is_set(const char *s)
{
    return s != NULL && *s != '\0';
}

static char *dup_or_null(const char *s)
{
    return is_set(s) ? strdup(s) : NULL;
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > 256 ? 256 : (int)n);
}

int server_parse_address(const char *text, const char *field, struct sockaddr_storage *out,
                         socklen_t *out_len, struct jerr *err)
{
    char host[256], port[16];
    const char *colon;
    size_t host_len;

    if (text == NULL)
        return jerr_set(err, JERR_CONFIG, field, "missing listen address");
    if (text[0] == '[') { /* "[v6]:port" */
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':')
            return jerr_set(err, JERR_CONFIG, field, "expected [address]:port");
        host_len = (size_t)(close - text - 1);
        if (host_len >= sizeof(host))
            return jerr_set(err, JERR_CONFIG, field, "address too long");
        memcpy(host, text + 1, host_len);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL)
            return jerr_set(err, JERR_CONFIG, field, "expected host:port");
        host_len = (size_t)(colon - text);
        if (host_len >= sizeof(host))
            return jerr_set(err, JERR_CONFIG, field, "address too long");
        memcpy(host, text, host_len);
    }
    host[host_len] = '\0';
    const char *p = colon + 1;
    size_t plen = strlen(p);
    if (plen == 0 || plen > 5 || strspn(p, "0123456789") != plen || atoi(p) > 65535)
        return jerr_set(err, JERR_CONFIG, field, "port must be 0..65535");
    snprintf(port, sizeof(port), "%s", p);

    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    bool any = host[0] == '\0' || strcmp(host, "*") == 0;
    if (any)
        hints.ai_family = AF_INET;
    int rc = getaddrinfo(any ? NULL : host, port, &hints, &res);
    if (rc != 0 || res == NULL || res->ai_addrlen > sizeof(*out)) {
        char shown[300];
        jerr_escape(shown, sizeof(shown), host, strlen(host));
        if (res != NULL)
            freeaddrinfo(res);
        return jerr_set(err, JERR_CONFIG, field, "cannot resolve \"%s\": %s", shown,
                        rc != 0 ? gai_strerror(rc) : "no address");
    }
    memset(out, 0, sizeof(*out));
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *out_len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* ---- client certificates ---- */

/* The TLS_PEER_* bits of the request's connection (tls_peer_kinds); *cert borrowed. */
static unsigned peer_kinds(const struct server_request *sr, X509 **cert)
{
    *cert = NULL;
    if (!sr->tls)
        return 0;
    struct evhttp_connection *evcon = evhttp_request_get_connection(sr->req);
    struct bufferevent *bev = evcon != NULL ? evhttp_connection_get_bufferevent(evcon) : NULL;
    return tls_peer_kinds(bev, sr->loop->anchors, cert);
}

X509 *server_request_peer_cert(const struct server_request *sr)
{
    X509 *cert;
    return (peer_kinds(sr, &cert) & (1u << TLS_PEER_OPERATOR)) != 0 ? cert : NULL;
}

bool server_request_is_relying_party(const struct server_request *sr)
{
    X509 *cert;
    return (peer_kinds(sr, &cert) & (1u << TLS_PEER_RELYING_PARTY)) != 0;
}

X509 *server_request_relying_party_cert(const struct server_request *sr)
{
    X509 *cert;
    return (peer_kinds(sr, &cert) & (1u << TLS_PEER_RELYING_PARTY)) != 0 ? cert : NULL;
}

/* ---- connections ---- */

static unsigned addr_bucket(const unsigned char key[RATELIMIT_ADDR_KEY_MAX])
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (int i = 0; i < RATELIMIT_ADDR_KEY_MAX; i++)
        h = (h ^ key[i]) * 16777619u;
    return h % ADDR_BUCKETS;
}

/* Counts one more connection from `key`, unless the address has its cap already (or memory
 * runs out). Returns the count entry, or NULL with *over set when refused for the cap. */
static struct addr_count *addr_take(struct server *srv,
                                    const unsigned char key[RATELIMIT_ADDR_KEY_MAX], bool *over)
{
    struct addr_count *a;
    *over = false;
    pthread_mutex_lock(&srv->addr_lock);
    struct addr_count **bucket = &srv->addr_buckets[addr_bucket(key)];
    for (a = *bucket; a != NULL; a = a->next)
        if (memcmp(a->key, key, RATELIMIT_ADDR_KEY_MAX) == 0)
            break;
    if (a == NULL) {
        a = calloc(1, sizeof(*a));
        if (a != NULL) {
            memcpy(a->key, key, RATELIMIT_ADDR_KEY_MAX);
            a->next = *bucket;
            *bucket = a;
        }
    }
    if (a != NULL && a->open >= srv->connections_per_address) {
        *over = true;
        a = NULL;
    } else if (a != NULL) {
        a->open++;
    }
    pthread_mutex_unlock(&srv->addr_lock);
    return a;
}

static void addr_release(struct server *srv, struct addr_count *a)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&srv->addr_lock);
    if (--a->open == 0) {
        struct addr_count **p = &srv->addr_buckets[addr_bucket(a->key)];
        while (*p != a)
            p = &(*p)->next;
        *p = a->next;
        free(a);
    }
    pthread_mutex_unlock(&srv->addr_lock);
}

static void waiting_remove(struct conn *c)
{
    struct server_loop *loop = c->loop;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else if (loop->waiting_head == c)
        loop->waiting_head = c->next;
    else
        return; /* not in the queue */
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        loop->waiting_tail = c->prev;
    c->prev = c->next = NULL;
}

static void waiting_append(struct conn *c)
{
    struct server_loop *loop = c->loop;
    c->next = NULL;
    c->prev = loop->waiting_tail;
    if (loop->waiting_tail != NULL)
        loop->waiting_tail->next = c;
    else
        loop->waiting_head = c;
    loop->waiting_tail = c;
}

/* At most one warning a second per loop and kind. */
static bool log_due(time_t *last)
{
    time_t now = time(NULL);
    if (now == *last)
        return false;
    *last = now;
    return true;
}

/* The connection starts waiting for a request: its deadline runs from now. */
static void conn_wait(struct conn *c)
{
    const struct server *srv = c->loop->srv;
    long ms = srv->header_timeout_ms + (c->operator_listener ? srv->body_timeout_ms : 0);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    c->busy = false;
    waiting_append(c);
    event_add(c->deadline, &tv);
}

/* A request came whole: no deadline while it is answered (the idle timeout still guards the
 * writing of the answer). */
static void conn_busy(struct conn *c)
{
    c->busy = true;
    waiting_remove(c);
    event_del(c->deadline);
}

static void conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    (void)fd;
    (void)what;
    if (c->busy)
        return;
    if (log_due(&c->loop->deadline_logged_at))
        log_warn("a request did not arrive whole within its deadline: connection closed");
    evhttp_connection_free(c->evcon); /* calls conn_closed_cb, which frees c */
}

static void request_done_cb(struct evhttp_request *req, void *arg)
{
    (void)req;
    conn_wait(arg); /* then evhttp reads the next request, or closes (conn_closed_cb) */
}

/* Close callback of a tracked connection. */
static void conn_closed_cb(struct evhttp_connection *evcon, void *arg)
{
    struct conn *c = arg;
    struct server *srv = c->loop->srv;
    (void)evcon;
    waiting_remove(c);
    event_free(c->deadline);
    addr_release(srv, c->addr);
    if (c->fd >= 0 && c->fd < srv->by_fd_size)
        atomic_store_explicit(&srv->by_fd[c->fd], NULL, memory_order_relaxed);
    atomic_fetch_sub(&srv->connections, 1);
    free(c);
}

/* Close callback of a connection refused before it was tracked. */
static void conn_uncount_cb(struct evhttp_connection *evcon, void *arg)
{
    struct server_loop *loop = arg;
    (void)evcon;
    atomic_fetch_sub(&loop->srv->connections, 1);
}

static struct conn *conn_of_request(struct server *srv, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon != NULL ? evhttp_connection_get_bufferevent(evcon) : NULL;
    int fd = bev != NULL ? (int)bufferevent_getfd(bev) : -1;
    if (fd < 0 || fd >= srv->by_fd_size)
        return NULL;
    struct conn *c = atomic_load_explicit(&srv->by_fd[fd], memory_order_relaxed);
    return c != NULL && c->evcon == evcon ? c : NULL;
}

/* Over the process cap: closes the connection of this loop that has waited longest for its
 * request, if any. Returns true when one was shed. */
static bool shed_oldest_waiting(struct server_loop *loop)
{
    struct conn *oldest = loop->waiting_head;
    if (oldest == NULL)
        return false;
    if (log_due(&loop->shed_logged_at))
        log_warn("connection limit (%d) reached: the connection waiting longest is closed",
                 loop->srv->max_connections);
    evhttp_connection_free(oldest->evcon); /* conn_closed_cb frees it and uncounts */
    return true;
}

/* Why a new connection is refused, or NULL: tracked, counted against its address and armed. */
static const char *conn_adopt(struct server_loop *loop, struct evhttp_connection *evcon,
                              struct bufferevent *bev, bool operator_listener)
{
    struct server *srv = loop->srv;
    int fd = (int)bufferevent_getfd(bev);
    unsigned char key[RATELIMIT_ADDR_KEY_MAX] = {0};
    bool over = false;

    if (fd < 0 || fd >= srv->by_fd_size)
        return "descriptor out of range";
    if (atomic_load(&srv->connections) > srv->max_connections && !shed_oldest_waiting(loop))
        return "connection limit";
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return "out of memory";
    c->loop = loop;
    c->evcon = evcon;
    c->fd = fd;
    c->operator_listener = operator_listener;
    c->deadline = evtimer_new(loop->base, conn_deadline_cb, c);
    if (c->deadline == NULL) {
        free(c);
        return "out of memory";
    }
    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof(peer);
    bool counted = getpeername(fd, (struct sockaddr *)&peer, &peer_len) == 0 &&
                   ratelimit_addr_key((struct sockaddr *)&peer, key) > 0 &&
                   (srv->is_exempt == NULL || !srv->is_exempt((struct sockaddr *)&peer,
                                                              srv->is_exempt_arg));
    if (counted) {
        c->addr = addr_take(srv, key, &over);
        if (over) {
            event_free(c->deadline);
            free(c);
            if (log_due(&loop->per_address_logged_at))
                log_warn("connections from one address over %d: new ones from it are closed",
                         srv->connections_per_address);
            return "per-address limit";
        }
    }
    atomic_store_explicit(&srv->by_fd[fd], c, memory_order_relaxed);
    evhttp_connection_set_closecb(evcon, conn_closed_cb, c);
    conn_wait(c);
    return NULL;
}

static void adopt_cb(evutil_socket_t fd, short what, void *arg)
{
    struct server_loop *loop = arg;
    struct server *srv = loop->srv;
    bool at_cap = false;
    (void)fd;
    (void)what;

    for (size_t i = 0; i < loop->pending_count; i++) {
        struct pending_conn *p = &loop->pending[i];
        void *cbarg = NULL;
        bufferevent_getcb(p->bev, NULL, NULL, NULL, &cbarg);
        if (cbarg == NULL) {
            /* evhttp dropped it while setting it up (see the file comment). */
            atomic_fetch_sub(&srv->connections, 1);
        } else {
            struct evhttp_connection *evcon = cbarg;
            const char *refused =
                p->refuse ? "refused" : conn_adopt(loop, evcon, p->bev, p->operator_listener);
            if (refused != NULL) {
                at_cap |= strcmp(refused, "connection limit") == 0;
                evhttp_connection_set_closecb(evcon, conn_uncount_cb, loop);
                evhttp_connection_free(evcon); /* calls conn_uncount_cb */
            }
        }
        bufferevent_decref(p->bev);
    }
    loop->pending_count = 0;
    if (at_cap && log_due(&loop->refused_logged_at))
        log_warn("connection limit (%d) reached and no connection waiting: new connections are "
                 "closed", srv->max_connections);
}

static bool pending_push(struct server_loop *loop, struct bufferevent *bev, bool refuse,
                         bool operator_listener)
{
    if (loop->pending_count == loop->pending_cap) {
        size_t cap = loop->pending_cap > 0 ? 2 * loop->pending_cap : 64;
        struct pending_conn *grown = realloc(loop->pending, cap * sizeof(*grown));
        if (grown == NULL)
            return false;
        loop->pending = grown;
        loop->pending_cap = cap;
    }
    loop->pending[loop->pending_count].bev = bev;
    loop->pending[loop->pending_count].refuse = refuse;
    loop->pending[loop->pending_count].operator_listener = operator_listener;
    loop->pending_count++;
    return true;
}

/* evhttp's bevcb: the bufferevent of each accepted connection (no fd yet: evhttp sets it). */
static struct bufferevent *conn_new_cb(struct event_base *base, void *arg)
{
    struct listener_ctx *lc = arg;
    struct server_loop *loop = lc->loop;
    struct server *srv = loop->srv;
    struct bufferevent *bev = NULL;
    bool refuse = false;

    if (listener_is_tls(lc->listener))
        bev = tls_bufferevent_new(base, srv->tls_ctx);
    else
        bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        /* Returning NULL would make evhttp use a plain socket, even on the HTTPS port: give
         * it one marked to be closed instead. */
        bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
        refuse = true;
        if (bev == NULL)
            return NULL;
    }
    /* Counted now; over the cap, conn_adopt sheds a waiting connection or refuses this one. */
    atomic_fetch_add(&srv->connections, 1);
    if (atomic_load(&srv->stopping))
        refuse = true;
    if (!pending_push(loop, bev, refuse, listener_is_operator(lc->listener))) {
        /* Out of memory: serve it uncounted rather than lose track of a reference. */
        atomic_fetch_sub(&srv->connections, 1);
        return bev;
    }
    bufferevent_incref(bev);
    event_active(loop->adopt_ev, EV_READ, 0);
    return bev;
}

/* ---- routing ---- */

/* Whether listener `l` serves route `r` (enum server_place). */
static bool route_is_served_on(const struct server *srv, const struct server_route *r, int l)
{
    switch (r->place) {
    case SERVER_PUBLIC:
        return !listener_is_operator(l);
    case SERVER_OPERATOR:
        return listener_is_operator(l) || !srv->has_operator_listener;
    case SERVER_EVERYWHERE:
        return true;
    }
    return false;
}

static const struct server_route *route_find(const struct server *srv, int listener,
                                             const char *path)
{
    const struct server_route *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < srv->route_count; i++) {
        const struct server_route *r = &srv->routes[i];
        if (!route_is_served_on(srv, r, listener))
            continue;
        if (!r->prefix) {
            if (strcmp(r->path, path) == 0)
                return r; /* an exact path wins */
            continue;
        }
        size_t len = strlen(r->path);
        if (len > best_len && strncmp(r->path, path, len) == 0) {
            best = r;
            best_len = len;
        }
    }
    return best;
}

static size_t route_body_cap(const struct server_route *r)
{
    return r->max_body_bytes > 0 ? r->max_body_bytes : JPKI_HTTP_MAX_PUBLIC_BODY_BYTES;
}

static void dispatch_cb(struct evhttp_request *req, void *arg)
{
    struct listener_ctx *lc = arg;
    struct server_loop *loop = lc->loop;
    struct server *srv = loop->srv;
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);

    struct conn *c = conn_of_request(srv, req);
    if (c != NULL) {
        conn_busy(c);
        evhttp_request_set_on_complete_cb(req, request_done_cb, c);
    }
    if (atomic_load(&srv->stopping))
        evhttp_add_header(out, "Connection", "close");

    /* Framing before anything else: on an ambiguous request, 400 and close, so that the bytes
     * behind it are never read as a request (framing.h). */
    const char *framing = framing_problem(evhttp_request_get_command(req), req->major,
                                          req->minor, evhttp_request_get_input_headers(req));
    if (framing != NULL) {
        if (evhttp_find_header(out, "Connection") == NULL)
            evhttp_add_header(out, "Connection", "close");
        http_send_error(req, 400, "bad_framing", NULL, "%s", framing);
        return;
    }

    /* The target's length first, before anything looks into it. */
    const char *target = evhttp_request_get_uri(req);
    if (target == NULL || http_uri_is_too_long(target)) {
        http_send_error(req, 414, "uri_too_long", NULL, "request target longer than %d bytes",
                        JPKI_HTTP_MAX_URI_BYTES);
        return;
    }
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    if (path == NULL || path[0] != '/') {
        http_send_error(req, 404, "not_found", NULL, "no such resource");
        return;
    }
    const struct server_route *route = route_find(srv, lc->listener, path);
    if (route == NULL) {
        http_send_error(req, 404, "not_found", NULL, "no such resource");
        return;
    }
    /* The body cap first: libevent's own cap is the largest of any route (2.1 has no
     * per-route cap), so an oversized body to a small route must still get its 413. */
    size_t body = evbuffer_get_length(evhttp_request_get_input_buffer(req));
    if (body > route_body_cap(route)) {
        http_send_error(req, 413, "too_large", NULL, "request body over %zu bytes",
                        route_body_cap(route));
        return;
    }
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    if ((route->methods & (unsigned)method) == 0) {
        http_send_method_not_allowed(req, route->methods);
        return;
    }
    struct server_request sr = {
        .req = req,
        .loop = loop,
        .path = path,
        .query = evhttp_uri_get_query(uri),
        .method = method,
        .tls = listener_is_tls(lc->listener),
    };
    route->handler(&sr, route->arg);
}

int server_add_route(struct server *srv, const struct server_route *route, struct jerr *err)
{
    if (srv->started)
        return jerr_set(err, JERR_INVALID, "route", "routes are added before the start");
    if (route->path == NULL || route->path[0] != '/' || route->handler == NULL ||
        route->methods == 0)
        return jerr_set(err, JERR_INVALID, "route", "a route needs a path, methods, a handler");
    size_t len = strlen(route->path);
    if (route->prefix && route->path[len - 1] != '/')
        return jerr_set(err, JERR_INVALID, "route", "prefix %s must end with '/'", route->path);
    for (size_t i = 0; i < srv->route_count; i++)
        if (srv->routes[i].prefix == route->prefix && strcmp(srv->routes[i].path, route->path) == 0)
            return jerr_set(err, JERR_CONFLICT, "route", "route %s%s registered twice", route->path,
                            route->prefix ? "*" : "");
    if (srv->route_count == SERVER_MAX_ROUTES)
        return jerr_set(err, JERR_TOO_LARGE, "route", "more than %d routes", SERVER_MAX_ROUTES);
    struct server_route *r = &srv->routes[srv->route_count];
    *r = *route;
    r->path = strdup(route->path);
    if (r->path == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    srv->route_count++;
    return 0;
}

/* ---- loops ---- */

/* The loop whose thread this is (accept errors come with no argument of ours). */
static _Thread_local struct server_loop *this_loop;

/* Pause time after accept() failed for lack of descriptors (or memory), instead of libevent's
 * default of warning and retrying at once, which spins and floods the log. */
#define SERVER_ACCEPT_PAUSE_MS 1000

static void loop_set_accepting(struct server_loop *loop, bool on)
{
    for (int s = 0; s < LISTEN_COUNT; s++) {
        if (loop->bound[s] == NULL)
            continue;
        struct evconnlistener *lev = evhttp_bound_socket_get_listener(loop->bound[s]);
        if (on)
            evconnlistener_enable(lev);
        else
            evconnlistener_disable(lev);
    }
}

static void accept_error_cb(struct evconnlistener *lev, void *ctx)
{
    struct server_loop *loop = this_loop;
    int error = EVUTIL_SOCKET_ERROR();
    (void)ctx;
    if (loop == NULL) {
        evconnlistener_disable(lev);
        return;
    }
    loop_set_accepting(loop, false);
    struct timeval pause = {SERVER_ACCEPT_PAUSE_MS / 1000, (SERVER_ACCEPT_PAUSE_MS % 1000) * 1000};
    event_add(loop->accept_resume_ev, &pause);
    if (log_due(&loop->accept_error_logged_at))
        log_warn("accept failed (%s): new connections wait %d ms", strerror(error),
                 SERVER_ACCEPT_PAUSE_MS);
}

static void accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    loop_set_accepting(arg, true);
}

static void stop_accept_cb(evutil_socket_t fd, short what, void *arg)
{
    struct server_loop *loop = arg;
    (void)fd;
    (void)what;
    for (int s = 0; s < LISTEN_COUNT; s++) {
        if (loop->bound[s] != NULL) {
            evhttp_del_accept_socket(loop->http[s], loop->bound[s]); /* closes the socket */
            loop->bound[s] = NULL;
        }
    }
    atomic_fetch_add(&loop->srv->stopped_accepting, 1);
}

static struct evhttp *loop_http_new(struct server_loop *loop, int listener, size_t max_body,
                                    struct jerr *err)
{
    struct server *srv = loop->srv;
    struct evhttp *http = evhttp_new(loop->base);
    if (http == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "evhttp_new failed");
        return NULL;
    }
    evhttp_set_max_headers_size(http, JPKI_HTTP_MAX_HEADERS_BYTES);
    evhttp_set_max_body_size(http, (ev_ssize_t)max_body);
    evhttp_set_timeout(http, srv->idle_timeout_s);
    evhttp_set_allowed_methods(http, SERVER_ALL_METHODS);
    evhttp_set_default_content_type(http, NULL); /* every answer sets its own */
    loop->ctx[listener].loop = loop;
    loop->ctx[listener].listener = listener;
    evhttp_set_bevcb(http, conn_new_cb, &loop->ctx[listener]);
    evhttp_set_gencb(http, dispatch_cb, &loop->ctx[listener]);
    return http;
}

static int listen_socket(const struct sockaddr *sa, socklen_t len, const char *field,
                         const char *shown, struct jerr *err)
{
    int one = 1;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return jerr_set(err, JERR_IO, field, "socket: %s", strerror(errno));
    /* TCP_NODELAY (accepted sockets inherit it): a TLS answer is several writes, and with Nagle
     * the last one waited for the client's delayed ACK, 40 ms on every keep-alive HTTPS request.
     * (Listeners are IPv4 or IPv6 TCP only.) */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1) {
        jerr_set(err, JERR_IO, field, "setsockopt: %s", strerror(errno));
        goto fail;
    }
    if (bind(fd, sa, len) == -1) {
        jerr_set(err, JERR_IO, field, "cannot bind %s: %s", shown, strerror(errno));
        goto fail;
    }
    if (listen(fd, SERVER_LISTEN_BACKLOG) == -1) {
        jerr_set(err, JERR_IO, field, "cannot listen on %s: %s", shown, strerror(errno));
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

static void format_address(const struct sockaddr *sa, socklen_t len, char *out, size_t size,
                           int *port)
{
    char host[INET6_ADDRSTRLEN], serv[16];
    if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, size, "?");
        *port = 0;
        return;
    }
    snprintf(out, size, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
    *port = atoi(serv);
}

/* Binds listener `s` on every loop: the first loop binds the configured address (port 0 picks
 * one), the others the address it got. */
static int bind_listener(struct server *srv, int s, struct jerr *err)
{
    const char *field = listener_fields[s];
    struct sockaddr_storage addr;
    socklen_t len;
    char shown[300];

    if (server_parse_address(srv->listen[s], field, &addr, &len, err) == -1)
        return -1;
    jerr_escape(shown, sizeof(shown), srv->listen[s], strlen(srv->listen[s]));
    for (int i = 0; i < srv->loop_count; i++) {
        struct server_loop *loop = &srv->loops[i];
        int fd = listen_socket((struct sockaddr *)&addr, len, field, shown, err);
        if (fd == -1)
            return -1;
        if (i == 0) {
            len = sizeof(addr);
            if (getsockname(fd, (struct sockaddr *)&addr, &len) == -1) {
                close(fd);
                return jerr_set(err, JERR_IO, field, "getsockname: %s", strerror(errno));
            }
            format_address((struct sockaddr *)&addr, len, srv->address[s], sizeof(srv->address[s]),
                           &srv->port[s]);
        }
        loop->bound[s] = evhttp_accept_socket_with_handle(loop->http[s], fd);
        if (loop->bound[s] == NULL) {
            close(fd);
            return jerr_set(err, JERR_IO, field, "cannot accept on %s", srv->address[s]);
        }
        evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(loop->bound[s]),
                                    accept_error_cb);
    }
    return 0;
}

/* Closes the listeners and connections of a loop that no longer runs. */
static void loop_close_http(struct server_loop *loop)
{
    if (loop->adopt_ev != NULL)
        adopt_cb(-1, 0, loop); /* connections accepted but not yet adopted */
    for (int s = 0; s < LISTEN_COUNT; s++) {
        if (loop->http[s] != NULL)
            evhttp_free(loop->http[s]); /* closes its listeners and connections */
        loop->http[s] = NULL;
        loop->bound[s] = NULL;
    }
}

/* sched(7) SCHED_BATCH (Linux; <sched.h> names it only under _GNU_SOURCE). */
#ifndef SCHED_BATCH
#define SCHED_BATCH 3
#endif

/* Loops run SCHED_BATCH (sched(7)): a loop woken by a socket or by a finished job does not
 * preempt a worker in the middle of a signature; it runs when a core frees up or at the
 * scheduler's next tick, and then handles every event that came meanwhile. On an idle core it
 * runs at once, as before. With every core signing (OCSP with a nonce) this takes context
 * switches from ~2.7 to ~0.7 per answer and answers per CPU-second up ~5%
 * (scripts/bench/ocsp-nonce). Best effort: a refusal leaves the loop as it was. */
static void loop_set_batch_policy(void)
{
#ifdef __linux__
    struct sched_param param = {.sched_priority = 0};
    (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);
#endif
}

static void *loop_main(void *arg)
{
    struct server_loop *loop = arg;
    this_loop = loop;
    loop_set_batch_policy();
    event_base_loop(loop->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

/* ---- lifecycle ---- */

struct server *server_new(const struct server_options *opt, struct workers *workers,
                          struct jerr *err)
{
    pthread_once(&libevent_once, libevent_setup);
    if (libevent_threads_rc != 0) {
        jerr_set(err, JERR_INTERNAL, NULL, "libevent has no thread support");
        return NULL;
    }
    if (!is_set(opt->listen_http) && !is_set(opt->listen_https)) {
        jerr_set(err, JERR_CONFIG, "listen.http", "neither listen.http nor listen.https is set");
        return NULL;
    }
    if ((is_set(opt->listen_https) || is_set(opt->listen_operator_https)) &&
        (!is_set(opt->tls_cert) || !is_set(opt->tls_key))) {
        jerr_set(err, JERR_CONFIG, !is_set(opt->tls_cert) ? "tls.cert" : "tls.key",
                 "%s needs tls.cert and tls.key",
                 is_set(opt->listen_https) ? "listen.https" : "listen.operator_https");
        return NULL;
    }
    if (opt->loops < 0 || opt->idle_timeout_s < 0 || opt->max_connections < 0 ||
        opt->connections_per_address < 0 || opt->header_timeout_ms < 0 ||
        opt->body_timeout_ms < 0) {
        jerr_set(err, JERR_CONFIG, opt->loops < 0 ? "loops" : NULL, "negative server option");
        return NULL;
    }

    struct server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    const char *listen[LISTEN_COUNT] = {opt->listen_http, opt->listen_https,
                                        opt->listen_operator_http, opt->listen_operator_https};
    bool out_of_memory = false;
    for (int l = 0; l < LISTEN_COUNT; l++) {
        srv->listen[l] = dup_or_null(listen[l]);
        out_of_memory |= is_set(listen[l]) && srv->listen[l] == NULL;
    }
    srv->has_operator_listener = is_set(opt->listen_operator_http) ||
                                 is_set(opt->listen_operator_https);
    srv->connections_per_address = opt->connections_per_address > 0
                                       ? opt->connections_per_address
                                       : SERVER_CONNECTIONS_PER_ADDRESS;
    srv->header_timeout_ms = opt->header_timeout_ms > 0 ? opt->header_timeout_ms
                                                        : SERVER_HEADER_TIMEOUT_MS;
    srv->body_timeout_ms = opt->body_timeout_ms > 0 ? opt->body_timeout_ms
                                                    : SERVER_BODY_TIMEOUT_MS;
    srv->is_exempt = opt->is_exempt;
    srv->is_exempt_arg = opt->is_exempt_arg;
    pthread_mutex_init(&srv->addr_lock, NULL);
    srv->tls_cert = dup_or_null(opt->tls_cert);
    srv->tls_key = dup_or_null(opt->tls_key);
    srv->tls_client_ca[TLS_PEER_OPERATOR] = dup_or_null(opt->tls_operator_ca);
    srv->tls_client_ca[TLS_PEER_RELYING_PARTY] = dup_or_null(opt->tls_relying_party_ca);
    srv->idle_timeout_s = opt->idle_timeout_s > 0 ? opt->idle_timeout_s : SERVER_IDLE_TIMEOUT_S;
    srv->max_connections = opt->max_connections > 0 ? opt->max_connections : SERVER_MAX_CONNECTIONS;
    srv->workers = workers;
    srv->loop_count = opt->loops > 0 ? opt->loops : online_cpus();
    atomic_init(&srv->connections, 0);
    atomic_init(&srv->inflight, 0);
    atomic_init(&srv->stopped_accepting, 0);
    atomic_init(&srv->stopping, false);
    out_of_memory |= is_set(opt->tls_operator_ca) && srv->tls_client_ca[TLS_PEER_OPERATOR] == NULL;
    out_of_memory |=
        is_set(opt->tls_relying_party_ca) && srv->tls_client_ca[TLS_PEER_RELYING_PARTY] == NULL;
    if (out_of_memory) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto fail;
    }
    if (srv->listen[LISTEN_HTTPS] != NULL || srv->listen[LISTEN_OPERATOR_HTTPS] != NULL) {
        srv->tls_ctx = tls_context_new(srv->tls_cert, srv->tls_key,
                                       (const char *const *)srv->tls_client_ca, err);
        if (srv->tls_ctx == NULL)
            goto fail;
        if (opt->cert_refused != NULL &&
            tls_set_refusal(srv->tls_ctx, opt->cert_refused, opt->cert_refused_arg) == -1) {
            jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
            goto fail;
        }
    }
    srv->loops = calloc((size_t)srv->loop_count, sizeof(*srv->loops));
    if (srv->loops == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto fail;
    }
    for (int i = 0; i < srv->loop_count; i++) {
        struct server_loop *loop = &srv->loops[i];
        loop->srv = srv;
        loop->index = i;
        loop->base = event_base_new();
        if (loop->base == NULL) {
            jerr_set(err, JERR_INTERNAL, NULL, "event_base_new failed");
            goto fail;
        }
        loop->adopt_ev = event_new(loop->base, -1, 0, adopt_cb, loop);
        loop->stop_accept_ev = event_new(loop->base, -1, 0, stop_accept_cb, loop);
        loop->accept_resume_ev = evtimer_new(loop->base, accept_resume_cb, loop);
        if (loop->adopt_ev == NULL || loop->stop_accept_ev == NULL ||
            loop->accept_resume_ev == NULL) {
            jerr_set(err, JERR_INTERNAL, NULL, "event_new failed");
            goto fail;
        }
        if (workers != NULL) {
            loop->work = workers_attach(workers, loop->base, err);
            if (loop->work == NULL)
                goto fail;
        }
        if (srv->tls_ctx != NULL &&
            tls_anchors_load(loop->anchors, (const char *const *)srv->tls_client_ca, err) == -1)
            goto fail;
    }
    return srv;
fail:
    server_free(srv);
    return NULL;
}

/* The body cap of listener `l`'s evhttp (checked by libevent before the body is read): the
 * largest cap of the routes it serves, at most JPKI_HTTP_MAX_PUBLIC_LISTENER_BODY_BYTES on a
 * public listener. Each route's own cap is checked in dispatch_cb. */
static size_t listener_body_cap(const struct server *srv, int l)
{
    size_t cap = JPKI_HTTP_MAX_PUBLIC_BODY_BYTES;
    for (size_t r = 0; r < srv->route_count; r++)
        if (route_is_served_on(srv, &srv->routes[r], l) && route_body_cap(&srv->routes[r]) > cap)
            cap = route_body_cap(&srv->routes[r]);
    if (!listener_is_operator(l) && cap > JPKI_HTTP_MAX_PUBLIC_LISTENER_BODY_BYTES)
        cap = JPKI_HTTP_MAX_PUBLIC_LISTENER_BODY_BYTES;
    return cap;
}

/* The tracked connections by descriptor: as many slots as the open-file limit allows. */
static int by_fd_alloc(struct server *srv, struct jerr *err)
{
    struct rlimit rl;
    rlim_t n = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 65536;
    if (n == RLIM_INFINITY || n > 1048576)
        n = 1048576;
    srv->by_fd = calloc((size_t)n, sizeof(*srv->by_fd));
    if (srv->by_fd == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    srv->by_fd_size = (int)n;
    return 0;
}

int server_start(struct server *srv, struct jerr *err)
{
    int i;

    if (srv->started)
        return jerr_set(err, JERR_INVALID, NULL, "server already started");
    if (srv->by_fd == NULL && by_fd_alloc(srv, err) == -1)
        return -1;
    for (i = 0; i < srv->loop_count; i++) {
        for (int s = 0; s < LISTEN_COUNT; s++) {
            if (srv->listen[s] == NULL)
                continue;
            srv->loops[i].http[s] =
                loop_http_new(&srv->loops[i], s, listener_body_cap(srv, s), err);
            if (srv->loops[i].http[s] == NULL)
                goto fail;
        }
    }
    for (int s = 0; s < LISTEN_COUNT; s++)
        if (srv->listen[s] != NULL && bind_listener(srv, s, err) == -1)
            goto fail;
    srv->started = true;
    for (i = 0; i < srv->loop_count; i++) {
        if (pthread_create(&srv->loops[i].thread, NULL, loop_main, &srv->loops[i]) != 0) {
            jerr_set(err, JERR_INTERNAL, NULL, "cannot start event loop thread %d", i);
            goto fail;
        }
        srv->loops[i].running = true;
    }
    return 0;
fail:
    server_stop(srv);
    for (i = 0; i < srv->loop_count; i++)
        loop_close_http(&srv->loops[i]);
    memset(srv->address, 0, sizeof(srv->address));
    memset(srv->port, 0, sizeof(srv->port));
    srv->started = false;
    atomic_store(&srv->stopping, false);
    return -1;
}

const char *server_address(const struct server *srv, bool tls)
{
    return srv->address[tls ? LISTEN_HTTPS : LISTEN_HTTP];
}

int server_port(const struct server *srv, bool tls)
{
    return srv->port[tls ? LISTEN_HTTPS : LISTEN_HTTP];
}

const char *server_operator_address(const struct server *srv, bool tls)
{
    return srv->address[tls ? LISTEN_OPERATOR_HTTPS : LISTEN_OPERATOR_HTTP];
}

int server_operator_port(const struct server *srv, bool tls)
{
    return srv->port[tls ? LISTEN_OPERATOR_HTTPS : LISTEN_OPERATOR_HTTP];
}

int server_loop_count(const struct server *srv)
{
    return srv->loop_count;
}

int server_loop_index(const struct server_loop *loop)
{
    return loop->index;
}

int server_inflight(const struct server *srv)
{
    return atomic_load(&((struct server *)srv)->inflight);
}

int server_connection_count(const struct server *srv)
{
    return atomic_load(&((struct server *)srv)->connections);
}

void server_stop_accepting(struct server *srv)
{
    if (srv->loops == NULL)
        return;
    atomic_store(&srv->stopping, true);
    int target = atomic_load(&srv->stopped_accepting) + srv->loop_count;
    for (int i = 0; i < srv->loop_count; i++) {
        if (srv->loops[i].running)
            event_active(srv->loops[i].stop_accept_ev, EV_READ, 0);
        else
            stop_accept_cb(-1, 0, &srv->loops[i]); /* no thread: safe to do here */
    }
    /* Wait (bounded) until the running loops have closed their sockets. */
    for (int waited = 0; waited < 2000 && atomic_load(&srv->stopped_accepting) < target; waited++) {
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
}

void server_stop(struct server *srv)
{
    if (srv->loops == NULL)
        return;
    atomic_store(&srv->stopping, true);
    for (int i = 0; i < srv->loop_count; i++)
        if (srv->loops[i].running)
            event_base_loopexit(srv->loops[i].base, NULL);
    for (int i = 0; i < srv->loop_count; i++) {
        if (srv->loops[i].running)
            pthread_join(srv->loops[i].thread, NULL);
        srv->loops[i].running = false;
    }
}

void server_free(struct server *srv)
{
    if (srv == NULL)
        return;
    server_stop(srv);
    for (int i = 0; srv->loops != NULL && i < srv->loop_count; i++) {
        struct server_loop *loop = &srv->loops[i];
        /* Answers still due (grace expired) go out first, while their connections exist. */
        workers_detach(loop->work);
        loop->work = NULL;
        loop_close_http(loop);
        free(loop->pending);
        if (loop->adopt_ev != NULL)
            event_free(loop->adopt_ev);
        if (loop->stop_accept_ev != NULL)
            event_free(loop->stop_accept_ev);
        if (loop->accept_resume_ev != NULL)
            event_free(loop->accept_resume_ev);
        if (loop->base != NULL)
            event_base_free(loop->base);
        tls_anchors_free(loop->anchors);
    }
    free(srv->loops);
    for (size_t r = 0; r < srv->route_count; r++)
        free((char *)srv->routes[r].path);
    SSL_CTX_free(srv->tls_ctx);
    for (int s = 0; s < LISTEN_COUNT; s++)
        free(srv->listen[s]);
    free(srv->tls_cert);
    free(srv->tls_key);
    for (int k = 0; k < TLS_PEER_KINDS; k++)
        free(srv->tls_client_ca[k]);
    free(srv->by_fd);
    for (int b = 0; b < ADDR_BUCKETS; b++) /* empty once every connection is closed */
        while (srv->addr_buckets[b] != NULL) {
            struct addr_count *a = srv->addr_buckets[b];
            srv->addr_buckets[b] = a->next;
            free(a);
        }
    pthread_mutex_destroy(&srv->addr_lock);
    free(srv);
}

/* ---- work from handlers ---- */

struct submitted {
    struct server_loop *loop;
    struct evhttp_request *req;
    workers_job_fn *job;
    workers_done_fn *done;
    void *arg;
};

static void submitted_job(struct worker *self, void *arg)
{
    struct submitted *s = arg;
    s->job(self, s->arg);
}

static void submitted_done(void *arg)
{
    struct submitted *s = arg;
    if (atomic_load(&s->loop->srv->stopping)) {
        struct evkeyvalq *out = evhttp_request_get_output_headers(s->req);
        if (evhttp_find_header(out, "Connection") == NULL)
            evhttp_add_header(out, "Connection", "close");
    }
    s->done(s->arg);
    atomic_fetch_sub(&s->loop->srv->inflight, 1);
    free(s);
}

int server_submit(const struct server_request *sr, workers_job_fn *job, workers_done_fn *done,
                  void *arg, struct jerr *err)
{
    struct server_loop *loop = sr->loop;
    if (loop->work == NULL)
        return jerr_set(err, JERR_UNAVAILABLE, NULL, "no worker pool");
    struct submitted *s = malloc(sizeof(*s));
    if (s == NULL)
        return jerr_set(err, JERR_UNAVAILABLE, NULL, "out of memory");
    s->loop = loop;
    s->req = sr->req;
    s->job = job;
    s->done = done;
    s->arg = arg;
    atomic_fetch_add(&loop->srv->inflight, 1);
    if (workers_submit(loop->work, submitted_job, submitted_done, s, err) == -1) {
        atomic_fetch_sub(&loop->srv->inflight, 1);
        free(s);
        return -1;
    }
    return 0;
}

int server_loop_submit(struct server_loop *loop, workers_job_fn *job, workers_done_fn *done,
                       void *arg, struct jerr *err)
{
    if (loop->work == NULL)
        return jerr_set(err, JERR_UNAVAILABLE, NULL, "no worker pool");
    return workers_submit(loop->work, job, done, arg, err);
}
