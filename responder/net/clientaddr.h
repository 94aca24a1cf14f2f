/*
 * clientaddr: the client address of a request — the one answer every per-client decision
 * uses (the rate limits, the OCSP signature budget, the refused-login audit rows).
 *
 * The connection's peer is the client unless it is one of the configured trusted proxies
 * (limits.trusted_proxies: addresses and CIDR blocks). Only then is the proxies' header read
 * (limits.forwarded_header: X-Forwarded-For, or RFC 7239 Forwarded's for= parameters; just the
 * one configured, since a proxy that writes one usually passes the other through from the
 * client untouched). Each proxy appends the address it received the request from, so the
 * list is walked from the right: hops that are trusted proxies are skipped, and the first one
 * that is not is the client (the "rightmost untrusted address"). Whatever lies left of it was
 * written by the client and is never believed. An entry that is not an address ("unknown",
 * an obfuscated node, garbage) ends the walk: the client is then the trusted proxy that wrote
 * it. With no trusted proxies configured, the headers are never read.
 *
 * Pure apart from clientaddr_of_request (reads libevent's request); the trust list is
 * immutable after clientaddr_trust_new and shared by every thread.
 */
#ifndef JPKI_CLIENTADDR_H
#define JPKI_CLIENTADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "base/jerr.h"

struct evhttp_request;

/* Most trusted-proxy entries (limits.trusted_proxies). */
#define CLIENTADDR_MAX_TRUSTED 64
/* Most hops of a forwarding header looked at, from the right; a longer chain of trusted
 * proxies ends there (the client is the last trusted hop seen). */
#define CLIENTADDR_MAX_HOPS 16
/* Room for the text of an address (INET6_ADDRSTRLEN). */
#define CLIENTADDR_TEXT_MAX 46

enum clientaddr_header { CLIENTADDR_XFF = 0, CLIENTADDR_FORWARDED };

struct clientaddr_trust;

/* Parses the trusted proxies — addresses and CIDR blocks separated by commas or spaces
 * ("10.0.0.0/8, 192.0.2.7 2001:db8::/48"; "" = none) — and the header to believe
 * ("x-forwarded-for" or "forwarded", any case). Returns NULL with err (JERR_CONFIG, field
 * limits.trusted_proxies or limits.forwarded_header, naming the bad entry). */
struct clientaddr_trust *clientaddr_trust_new(const char *proxies, const char *header,
                                              struct jerr *err);
/* NULL is a no-op. */
void clientaddr_trust_free(struct clientaddr_trust *t);

/* True when `sa` (IPv4, IPv6, IPv4-mapped IPv6 as IPv4) is a trusted proxy. */
bool clientaddr_is_trusted(const struct clientaddr_trust *t, const struct sockaddr *sa);

/* The client of a connection from `peer` whose request carried the header values
 * values[0..n) of the configured header, in the order received (several header lines make
 * one list, RFC 9110 §5.3 / RFC 7239 §7.1). Writes *out (the peer itself when it is not
 * trusted or the headers say nothing usable). Returns 0, or -1 when peer is not an IPv4 or
 * IPv6 address (nothing written). */
int clientaddr_resolve(const struct clientaddr_trust *t, const struct sockaddr *peer,
                       const char *const *values, size_t n, struct sockaddr_storage *out);

/* The client of `req` (clientaddr_resolve over its connection's peer and its headers). A NULL
 * trust list means no trusted proxies. Returns 0, or -1 when the connection has no IP peer. */
int clientaddr_of_request(const struct clientaddr_trust *t, struct evhttp_request *req,
                          struct sockaddr_storage *out);

/* The address as text ("192.0.2.1", "2001:db8::1"; IPv4-mapped IPv6 as IPv4); "-" for
 * anything else. Returns out. */
char *clientaddr_text(const struct sockaddr *sa, char out[CLIENTADDR_TEXT_MAX]);

#endif
