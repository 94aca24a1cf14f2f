/*
 * tls: jpkid's TLS, split from server.c — the server context (certificate chain and key from
 * PEM files, TLS 1.2 or later, client certificates requested from the operator and/or
 * relying-party CA), the TLS bufferevents of accepted connections, and which of those CAs a
 * connection's client certificate chains to. It owns no socket and no loop; server.c calls it.
 *
 * A client certificate is requested, not required: one that does not verify must not cost the
 * client the public endpoints. The handshake verifies against the union of the client CAs;
 * tls_peer_kinds then tells them apart against each CA alone (per-loop stores: no shared lock),
 * once per connection, so an operator certificate is never taken for a relying party's.
 */
#ifndef JPKI_TLS_H
#define JPKI_TLS_H

#include <stdbool.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "base/jerr.h"

struct bufferevent;
struct event_base;

/* The CAs a client certificate may chain to: each names who the client is. */
enum tls_peer { TLS_PEER_OPERATOR = 0, TLS_PEER_RELYING_PARTY = 1, TLS_PEER_KINDS = 2 };

/* A per-loop copy of each client CA (NULL where none is configured). */
typedef X509_STORE *tls_anchors[TLS_PEER_KINDS];

/* The server context: `cert` (PEM chain) and `key` (PEM) that match, TLS 1.2 or later, no
 * renegotiation or compression; when client_ca[k] (a PEM CA file) is set for any k, client
 * certificates are requested from them. Returns the context (SSL_CTX_free), or NULL with err
 * naming the key at fault (tls.cert, tls.key, tls.operator_ca, tls.relying_party_ca). */
SSL_CTX *tls_context_new(const char *cert, const char *key,
                         const char *const client_ca[TLS_PEER_KINDS], struct jerr *err);

/* A last word on a client certificate that verified: refused(cert, arg) true makes the
 * handshake fail (alert certificate_revoked) — a relying party deleted a moment ago is refused
 * at once, without waiting for a CRL. Called during handshakes on the loop threads: must be
 * thread-safe. `arg` must outlive the context. Returns 0 or -1 (out of memory). */
typedef bool tls_refusal_fn(X509 *cert, void *arg);
int tls_set_refusal(SSL_CTX *ctx, tls_refusal_fn *refused, void *arg);

/* Loads each client_ca[k] that is set into a store of its own in `anchors` (the others NULL).
 * Returns 0, or -1 with err (what is loaded stays in `anchors` for tls_anchors_free). */
int tls_anchors_load(tls_anchors anchors, const char *const client_ca[TLS_PEER_KINDS],
                     struct jerr *err);
void tls_anchors_free(tls_anchors anchors);

/* A bufferevent that accepts TLS on `base` with a new SSL of `ctx`, no descriptor yet (evhttp
 * sets it), closing it when freed, a peer's unclean shutdown allowed. NULL on failure. */
struct bufferevent *tls_bufferevent_new(struct event_base *base, SSL_CTX *ctx);

/* Bit (1 << TLS_PEER_*) set for each CA of `anchors` the client certificate of the TLS
 * connection `bev` chains to; 0 for a plain connection, no certificate, or one the handshake
 * did not verify. *cert (borrowed; NULL when 0 is returned for want of one) is that
 * certificate. Decided on the first call and kept with the connection: one certificate
 * verification per connection, none per request. */
unsigned tls_peer_kinds(struct bufferevent *bev, tls_anchors anchors, X509 **cert);

#endif
