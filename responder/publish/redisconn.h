/*
 * redisconn: a Redis connection from a redis:// URL and a password (DESIGN §13) — the URL
 * parsed by libevent's URI parser, the connection, AUTH and SELECT by hiredis. Shared by
 * whoever talks to Redis (the CA node's publisher; a responder can use the same).
 *
 * What it refuses, and when: a URL that does not parse (or carries a user or password, which
 * belong in the password's env/file) is refused by redisconn_parse, at start; a server that
 * cannot be reached or refuses the password is an error of redisconn_open, which the caller
 * reports (a named /readyz check) and retries — Redis being away never stops the CA.
 */
#ifndef JPKI_REDISCONN_H
#define JPKI_REDISCONN_H

#include <stdbool.h>

#include "base/jerr.h"

struct redisContext;

#define REDISCONN_HOST_MAX 255

/* Where a redis:// URL points. */
struct redisconn_target {
    char host[REDISCONN_HOST_MAX + 1]; /* name or address, IPv6 without brackets */
    int port;                          /* 6379 when left out */
    int db;                            /* the path's number, 0 when left out */
};

/* Parses "redis://host[:port][/db]" into *out. `field` names the configuration key in the
 * error (JERR_CONFIG). Returns 0, or -1. */
int redisconn_parse(const char *url, const char *field, struct redisconn_target *out,
                    struct jerr *err);

/* Connects to `t` within timeout_ms (also the timeout of every later command), sends AUTH
 * `password` (NULL = none) and SELECT db. Returns the context (redisFree), or NULL with err:
 * JERR_UNAVAILABLE when Redis cannot be reached or answers an error, JERR_AUTH when it
 * refuses the password (or wants one), the message naming host:port. */
struct redisContext *redisconn_open(const struct redisconn_target *t, const char *password,
                                    int timeout_ms, struct jerr *err);

/* The address "host:port" of `t` for messages. */
const char *redisconn_addr(const struct redisconn_target *t, char *buf, size_t size);

#endif
