/*
 * server: the HTTP(S) front of jpkid serve (DESIGN §6) — event loops, listeners, TLS,
 * connection limits and the route table. It knows no endpoint: modules register routes
 * (public.h now; OCSP and the /v1 API later) and answer through http.h.
 *
 * DESIGN
 * - `loops` threads, each with its own event_base and its own evhttp per scheme, each bound to
 *   its own listening socket on the same address (SO_REUSEPORT: the kernel spreads connections
 *   over the loops). A port of 0 is bound once, read back with getsockname, and the other
 *   loops bind that port. Nothing is shared between loops on the hot path.
 * - Public and operator listeners. listen.http/https serve the public routes (OCSP, CRLs, CA
 *   certificates, the holder's revocation, monitoring); listen.operator_http/https, when set,
 *   serve the operator API (/v1) and monitoring, and the public listeners then no longer serve
 *   /v1 (except /v1/holder/). Each listener is its own evhttp with its own body cap, checked by
 *   libevent against Content-Length before a byte of the body is read (libevent 2.1 has no hook
 *   between a request's headers and its body, so a cap cannot follow the route inside one
 *   evhttp): public listeners JPKI_HTTP_MAX_PUBLIC_LISTENER_BODY_BYTES at most, operator
 *   listeners the largest route cap (batch files). Without an operator listener /v1 stays on
 *   the public ones under their cap; batch files larger than that need the operator listener.
 * - Limits set here, not left to libevent's defaults (STYLE "Untrusted input"): header block
 *   JPKI_HTTP_MAX_HEADERS_BYTES (libevent answers 400 beyond), body as above (libevent answers
 *   413 beyond; each route's own cap is then checked here, 413 JSON), request target
 *   JPKI_HTTP_MAX_URI_BYTES (414 JSON, checked before routing), ambiguous framing (framing.h:
 *   400 and close), an idle/slow connection timeout, a per-process connection cap and a
 *   per-address one (IPv6 by /64). A request must arrive whole within a deadline that runs from
 *   accept (or from the end of the previous answer) and that no trickle of bytes extends:
 *   header_timeout_ms on public listeners, header_timeout_ms + body_timeout_ms on operator ones
 *   (libevent 2.1 tells nothing at the end of the headers, so the two cannot be timed apart;
 *   public bodies are small). When the process cap is reached, the connection of the loop that
 *   has waited longest for its request is shed for the new one; only when the loop has none
 *   waiting is the new one closed at once. evhttp allows every method it knows, so that a method a route does not take gets
 *   405 with Allow (libevent would answer 501) — every answer of ours has a JSON body. What
 *   libevent refuses before we see the request keeps its own short HTML body: 400 (malformed
 *   request, header block or request line over the cap), 413 (body over the server-wide cap),
 *   501 (a method it does not know). When accept() fails (no descriptors left) the loop stops
 *   accepting for a second instead of spinning.
 * - Routing: an exact path wins over a prefix; among prefixes the longest wins. A prefix route
 *   (path ending in '/') receives everything below it — "/ocsp/" for GET /ocsp/{base64} and the
 *   per-CA /ocsp/sign, "/v1/" for the operator API. Handlers get the raw path (percent-encoding
 *   kept) and decode what they take.
 * - Handlers run on the loop thread and must not block. Slow work goes through server_submit:
 *   the job runs on the worker pool and its completion back on this loop, where it replies;
 *   such requests are counted in flight, and a stop waits for them (a short grace).
 * - HTTPS: TLS 1.2 or later, certificate and key from PEM files. With an operator CA and/or a
 *   relying-party CA, a client certificate is requested, not required, and verified against
 *   both; which of the two it chains to is decided once per connection (against that CA
 *   alone, with per-loop certificate stores: no shared lock) — an operator certificate is
 *   never taken for a relying party's, nor the other way round. server_request_peer_cert gives
 *   handlers a verified operator certificate (operator authentication is the API's business),
 *   server_request_is_relying_party says whether a relying party's verified certificate came
 *   with the request (access control of the public endpoints, access.h).
 *
 * Lifecycle: server_new → server_add_route… → server_start → (serving) → server_stop_accepting
 * → wait for server_inflight() == 0 → server_stop → workers_shutdown → server_free → workers_free.
 */
#ifndef JPKI_SERVER_H
#define JPKI_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <openssl/x509.h>
#include <event2/http.h>

#include "base/jerr.h"
#include "responder/net/workers.h"

/* Idle or slow connections are closed after this long without progress. */
#define SERVER_IDLE_TIMEOUT_S 30
/* Connections open at once, per process (each costs a descriptor and buffers). */
#define SERVER_MAX_CONNECTIONS 10000
/* Connections open at once from one IPv4 address or IPv6 /64. */
#define SERVER_CONNECTIONS_PER_ADDRESS 256
/* A request (header block, and body on public listeners) must arrive within this long. */
#define SERVER_HEADER_TIMEOUT_MS 10000
/* Added for the body on operator listeners (batch files of up to 16 MiB). */
#define SERVER_BODY_TIMEOUT_MS 120000
#define SERVER_MAX_ROUTES 64
#define SERVER_LISTEN_BACKLOG 1024

struct server;
struct server_loop;

/* One request as a handler sees it. Valid during the handler call; a handler that answers later
 * keeps `req` (valid until it replies) and copies what else it needs. */
struct server_request {
    struct evhttp_request *req;
    struct server_loop *loop;
    const char *path;  /* raw path of the request target, percent-encoding kept */
    const char *query; /* raw query, NULL when there is none */
    enum evhttp_cmd_type method;
    bool tls;
};

/* Must answer the request, now or later (after server_submit). */
typedef void server_handler_fn(const struct server_request *sr, void *arg);

/* Which listeners serve a route. */
enum server_place {
    SERVER_PUBLIC = 0, /* the public listeners only */
    SERVER_OPERATOR,   /* the operator listeners; the public ones when there is none */
    SERVER_EVERYWHERE, /* both (monitoring) */
};

struct server_route {
    const char *path; /* exact path, or a prefix ending in '/' when `prefix` */
    bool prefix;
    unsigned methods;      /* mask of enum evhttp_cmd_type bits (EVHTTP_REQ_GET | …) */
    size_t max_body_bytes; /* 0 = JPKI_HTTP_MAX_PUBLIC_BODY_BYTES */
    server_handler_fn *handler;
    void *arg;
    enum server_place place;
};

struct server_options {
    const char *listen_http;  /* "host:port", "[v6]:port"; port 0 = any free one; NULL/"" = off */
    const char *listen_https; /* same; needs tls_cert and tls_key */
    const char *listen_operator_http;  /* the operator API's listeners; NULL/"" = none */
    const char *listen_operator_https; /* needs tls_cert and tls_key */
    const char *tls_cert;     /* PEM certificate (chain) file */
    const char *tls_key;      /* PEM private key file (unencrypted, 0600) */
    const char *tls_operator_ca; /* PEM CA file for operator client certificates; NULL/"" = none */
    const char *tls_relying_party_ca; /* PEM CA file for relying parties' client certificates */
    int loops;                        /* event loops; 0 = one per online CPU */
    int idle_timeout_s;               /* 0 = SERVER_IDLE_TIMEOUT_S */
    int max_connections;              /* 0 = SERVER_MAX_CONNECTIONS */
    int connections_per_address;      /* 0 = SERVER_CONNECTIONS_PER_ADDRESS */
    int header_timeout_ms;            /* 0 = SERVER_HEADER_TIMEOUT_MS */
    int body_timeout_ms;              /* 0 = SERVER_BODY_TIMEOUT_MS */
    /* Peers exempt from connections_per_address (trusted proxies: a CDN's connections come
     * from a few addresses); NULL = none. Called on the loop threads: must be thread-safe. */
    bool (*is_exempt)(const struct sockaddr *peer, void *arg);
    void *is_exempt_arg;
    /* A verified client certificate this names is refused in the handshake (tls.h,
     * tls_set_refusal: deleted relying parties); NULL = none. Thread-safe. */
    bool (*cert_refused)(X509 *cert, void *arg);
    void *cert_refused_arg;
};

/* Checks the options, loads the TLS certificate and key, and prepares `loops` event loops
 * (libevent is made thread-aware here). `workers` (may be NULL: server_submit then refuses)
 * stays the caller's. Nothing is bound yet. Returns NULL with err filled (field = the option). */
struct server *server_new(const struct server_options *opt, struct workers *workers,
                          struct jerr *err);

/* Adds a route (copied) before server_start. JERR_CONFLICT when the same path and kind is
 * there already, JERR_INVALID for a malformed route, JERR_TOO_LARGE beyond SERVER_MAX_ROUTES. */
int server_add_route(struct server *srv, const struct server_route *route, struct jerr *err);

/* Binds the listeners of every loop and starts the loop threads. Returns 0, or -1 with err
 * filled (nothing left bound or running). */
int server_start(struct server *srv, struct jerr *err);

/* The bound address ("127.0.0.1:43127", "[::1]:8443") and port of a scheme, "" / 0 when that
 * scheme is off or the server is not started. */
const char *server_address(const struct server *srv, bool tls);
int server_port(const struct server *srv, bool tls);
/* The same for the operator listeners. */
const char *server_operator_address(const struct server *srv, bool tls);
int server_operator_port(const struct server *srv, bool tls);
int server_loop_count(const struct server *srv);

/* Closes the listening sockets of every loop (thread-safe; returns when they are closed);
 * requests on open connections are still answered, with "Connection: close". */
void server_stop_accepting(struct server *srv);

/* Requests waiting for a worker job (server_submit) right now. Thread-safe. */
int server_inflight(const struct server *srv);
/* Connections open right now. Thread-safe. */
int server_connection_count(const struct server *srv);

/* Stops the loops and joins their threads. Open connections stay until server_free. */
void server_stop(struct server *srv);

/* Runs completions still waiting for the loops (call after workers_shutdown), closes every
 * connection and frees the server. NULL is a no-op. */
void server_free(struct server *srv);

/* ---- for handlers ---- */

/* 0-based index of the loop (< server_loop_count): handlers keep per-loop state by it. */
int server_loop_index(const struct server_loop *loop);

/* For the request `sr`: runs job(self, arg) on the worker pool, then done(arg) (not NULL) on this
 * loop, where done answers sr->req. The request counts as in flight until done has run (a stop
 * waits for it; an answer given while stopping carries "Connection: close"). From the handler, on
 * the loop's thread. JERR_UNAVAILABLE when the queue is full, the pool stops or there is none: then
 * nothing runs and the handler answers itself (503, http_send_jerr). */
int server_submit(const struct server_request *sr, workers_job_fn *job, workers_done_fn *done,
                  void *arg, struct jerr *err);

/* Background work of a loop, with no request waiting: job(self, arg) on the pool, then done(arg)
 * (may be NULL) on this loop. Not counted in flight. From the loop's thread. Same refusals as
 * server_submit. */
int server_loop_submit(struct server_loop *loop, workers_job_fn *job, workers_done_fn *done,
                       void *arg, struct jerr *err);

/* The client certificate of an HTTPS request when one was presented and verified against the
 * operator CA, else NULL. Borrowed: valid while the request is. From the request's loop. */
X509 *server_request_peer_cert(const struct server_request *sr);

/* True when the request came over HTTPS with a client certificate that verified against the
 * relying-party CA (tls_relying_party_ca). From the request's loop. */
bool server_request_is_relying_party(const struct server_request *sr);
/* That relying party's certificate (borrowed: valid while the request is), else NULL. */
X509 *server_request_relying_party_cert(const struct server_request *sr);

/* Parses a listen address "host:port" / "[v6]:port" (host "" or "*" = every IPv4 address).
 * Returns 0, or -1 with err (JERR_CONFIG, field `field`). */
int server_parse_address(const char *text, const char *field, struct sockaddr_storage *out,
                         socklen_t *out_len, struct jerr *err);

#endif
