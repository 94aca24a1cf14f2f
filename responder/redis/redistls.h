/*
 * redistls: TLS to Redis (publish.redis.tls, respond.redis.tls; DESIGN §13) for a hiredis that
 * has none. Debian 12's hiredis 0.14 speaks only plain TCP, so the TLS connection is made here
 * with OpenSSL, and hiredis is given one end of a socket pair (redisConnectFd) whose other end
 * a libevent thread pumps through bufferevent_openssl to the TLS connection. hiredis still
 * speaks RESP; nothing of the protocol is written here.
 *
 * - The handshake is made on the caller's thread, bounded by the caller's timeout, so that a
 *   refusal is reported where the connection is asked for: "TLS handshake with
 *   127.0.0.1:6380 failed: certificate verify failed (self-signed certificate)".
 * - The server's certificate must chain to `ca` (or the system's trust store when none is
 *   given) and name the host the URL names (a DNS name, or an IP address in subjectAltName).
 *   A client certificate is sent when `cert`/`key` are given (Redis asks for one unless
 *   tls-auth-clients is no).
 * - One pump thread per process, started at the first TLS connection. A tunnel ends when either
 *   side closes: hiredis's redisFree closes its end, Redis closing its connection is an end of
 *   file for hiredis. What one side sent before closing is delivered first.
 */
#ifndef JPKI_REDISTLS_H
#define JPKI_REDISTLS_H

#include "base/jerr.h"

struct redistls;

/* The TLS settings of a section ("publish.redis", "respond.redis": named in errors): `ca` a
 * PEM file of trusted CAs ("" = the system's), `cert` and `key` a client certificate chain and
 * its key (both or neither). The files are read now. NULL with err (JERR_CONFIG naming the
 * key) when one cannot be used. */
struct redistls *redistls_new(const char *section, const char *ca, const char *cert,
                              const char *key, struct jerr *err);
void redistls_free(struct redistls *t); /* NULL is a no-op */

/* Connects to host:port, makes the TLS handshake (each step at most timeout_ms) and starts its
 * tunnel. Returns the plaintext end for redisConnectFd (which owns it from then on), or -1
 * with err (JERR_UNAVAILABLE, the message naming host:port and what failed). Thread-safe. */
int redistls_connect(struct redistls *t, const char *host, int port, int timeout_ms,
                     struct jerr *err);

#endif
