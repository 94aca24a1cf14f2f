/*
 * redisconn: the one Redis connection module of jpkid (DESIGN §13), used by the CA node's
 * publisher (publish.redis) and by jpkid respond (respond.redis): a section's keys read into
 * a struct redisconn_cfg (the redis:// URL parsed by libevent's URI parser, the Sentinel
 * list, the password from env or file), and a blocking connection through hiredis to the
 * primary — found through Redis Sentinel when sentinels are configured (hiredis has no
 * Sentinel support: SENTINEL get-master-addr-by-name is asked of each sentinel in turn) —
 * authenticated (AUTH), on the configured database (SELECT) and believed only when the
 * server says ROLE master. Every exchange is bounded by the configured timeout: callers are
 * worker or publisher threads, never an event loop.
 *
 * What it refuses, and when: a URL that does not parse (or carries a user or password, which
 * belong in the password's env/file) is refused by redisconn_cfg_init, at start, naming the
 * key; a server that cannot be reached, refuses the password, is not the primary or answers
 * what is not Redis is an error of redisconn_open, which the caller reports and retries.
 */
#ifndef JPKI_REDISCONN_H
#define JPKI_REDISCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "base/jerr.h"

struct redisContext;
struct redisReply;
struct redistls;
struct config_redis_tls;

#define REDISCONN_HOST_MAX 255
#define REDISCONN_MAX_SENTINELS 8
#define REDISCONN_PREFIX_MAX 64
/* Room for "host:port" (IPv6 in brackets) in messages. */
#define REDISCONN_ADDR_MAX (REDISCONN_HOST_MAX + 16)

/* Where a redis:// URL (or a sentinel's host:port) points. */
struct redisconn_target {
    char host[REDISCONN_HOST_MAX + 1]; /* name or address, IPv6 without brackets */
    int port;                          /* 6379 when left out */
    int db;                            /* the path's number, 0 when left out */
};

/* One section's Redis (publish.redis, respond.redis). */
struct redisconn_cfg {
    struct redisconn_target primary; /* from url; with sentinels only its db is used */
    char *password;                  /* NULL = none; wiped at redisconn_cfg_clear */
    char prefix[REDISCONN_PREFIX_MAX + 1];
    struct redisconn_target sentinels[REDISCONN_MAX_SENTINELS];
    size_t sentinel_count;
    char master[256]; /* the primary's name at the sentinels */
    int timeout_ms;   /* connect and every command */
    struct redistls *tls; /* NULL = plain TCP; else primary and sentinels over TLS (redistls.h) */
};

/* Parses "redis://host[:port][/db]" into *out. `field` names the configuration key in the
 * error (JERR_CONFIG). Returns 0, or -1. */
int redisconn_parse(const char *url, const char *field, struct redisconn_target *out,
                    struct jerr *err);

/* Parses "host:port" ([v6]:port: brackets taken off). Returns 0 or -1. */
int redisconn_parse_addr(const char *text, struct redisconn_target *out);

/* Fills *out from a section (`section` = "publish.redis", names the keys in errors): `url`
 * ("" allowed only with sentinels), `sentinels` ("host:port, host:port", "" = none), `master`
 * (required with sentinels), `prefix`, `password` (taken: freed by redisconn_cfg_clear, also on
 * failure). Returns 0, or -1 with err (JERR_CONFIG naming the key). */
int redisconn_cfg_init(struct redisconn_cfg *out, const char *section, const char *url,
                       const char *sentinels, const char *master, const char *prefix,
                       char *password, int timeout_ms, struct jerr *err);
/* `section`.tls: when tls->on, the primary and the sentinels are reached over TLS, with the
 * server's certificate checked against tls->ca ("" = the system's trust store) and the client
 * certificate tls->cert/key ("" = none) sent (redistls_new); else nothing changes. Returns 0,
 * or -1 with err (JERR_CONFIG naming the key). */
int redisconn_cfg_set_tls(struct redisconn_cfg *c, const char *section,
                          const struct config_redis_tls *tls, struct jerr *err);
/* Wipes and frees the password; frees the TLS settings. */
void redisconn_cfg_clear(struct redisconn_cfg *c);

/* Connects to `t` (over TLS when `tls` is not NULL) within timeout_ms (also the timeout of
 * every later command), sends AUTH
 * `password` (NULL = none), SELECT db and checks ROLE master. Returns the context
 * (redisFree), or NULL with err: JERR_UNAVAILABLE when Redis cannot be reached, answers an
 * error or garbage, or is not the primary; JERR_AUTH when it refuses the password (or wants
 * one); the message names host:port. */
struct redisContext *redisconn_open(const struct redisconn_target *t, struct redistls *tls,
                                    const char *password, int timeout_ms, struct jerr *err);

/* The primary of `c`: asked of each sentinel in turn when there are any, else c->primary;
 * then as redisconn_open. With `where` (may be NULL), its "host:port" is written there. */
struct redisContext *redisconn_open_cfg(const struct redisconn_cfg *c, char *where,
                                        size_t where_size, struct jerr *err);

/* Checks the reply `r` of command `what` on `c` (r may be NULL: the connection failed) and
 * frees it: 0 when it is not an error, else -1 with err as redisconn_open describes. */
int redisconn_reply_ok(struct redisContext *c, const char *addr, const char *what,
                       struct redisReply *r, struct jerr *err);

/* The key contract's file hash (docs/ARCHITECTURE.md "Redis keys"): appends HSET KEY body etag
 * type last_modified [expires] to c's pipeline — and HDEL KEY expires when `expires` is 0, so
 * that no earlier value stays — adding the replies to collect to *pending. */
void redisconn_append_file(struct redisContext *c, const char *key, const void *body, size_t len,
                           const char *etag, const char *type, time_t last_modified,
                           time_t expires, size_t *pending);

/* Slack over a value's cap for the reply around it: type bytes, lengths, the other fields of a
 * hash. */
#define REDISCONN_REPLY_SLACK (64 * 1024)

/* redisGetReply with a bound: the next reply on the blocking context `c` (sending what is
 * queued first), refused as soon as more than `max_bytes` of it are buffered — so that a
 * server declaring a huge bulk string costs at most that much memory, not what it declares
 * (hiredis 0.14 has no such cap of its own). Returns 0 with *out (freeReplyObject), or -1
 * with err: JERR_TOO_LARGE (field "redis") for a reply over the bound, JERR_UNAVAILABLE for a
 * lost connection or a protocol error. After -1 the context is spent: close it. */
int redisconn_get_reply(struct redisContext *c, size_t max_bytes, struct redisReply **out,
                        struct jerr *err);

/* The address "host:port" of `t` for messages. */
const char *redisconn_addr(const struct redisconn_target *t, char *buf, size_t size);

#endif
