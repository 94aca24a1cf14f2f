/*
 * redisconn: one connection of jpkid respond to the Redis primary (DESIGN §13), through
 * hiredis: parsed from respond.redis, found through Redis Sentinel when sentinels are
 * configured (hiredis has no Sentinel support: SENTINEL get-master-addr-by-name is asked of
 * each sentinel in turn, and the answer is believed only when that server says ROLE master),
 * authenticated (AUTH) and on the configured database (SELECT). Every call blocks, bounded by
 * REDISCONN_TIMEOUT_MS: callers are worker threads or the subscriber thread, never a loop.
 */
#ifndef JPKI_REDISCONN_H
#define JPKI_REDISCONN_H

#include <hiredis/hiredis.h>

#include "config/config.h"
#include "base/jerr.h"

/* Connect, send and receive timeout of every Redis or Sentinel exchange. */
#define REDISCONN_TIMEOUT_MS 500
#define REDISCONN_MAX_SENTINELS 8
#define REDISCONN_HOST_MAX 256

struct redisconn_addr {
    char host[REDISCONN_HOST_MAX];
    int port;
};

struct redisconn_cfg {
    struct redisconn_addr primary; /* from url; unused with sentinels */
    int db;
    char *password; /* NULL = none; wiped at redisconn_cfg_clear */
    char prefix[65];
    struct redisconn_addr sentinels[REDISCONN_MAX_SENTINELS];
    size_t sentinel_count;
    char master[256];
};

/* Reads respond.redis of `cfg` (url or sentinels required). Returns 0, or -1 with err naming
 * the key at fault. */
int redisconn_cfg_load(struct redisconn_cfg *out, const struct jpki_config *cfg, struct jerr *err);
/* Wipes and frees the password. */
void redisconn_cfg_clear(struct redisconn_cfg *c);

/* Parses "host:port" ([v6]:port not supported). Returns 0 or -1. */
int redisconn_parse_addr(const char *text, struct redisconn_addr *out);

/* A connected, authenticated context on the current primary (redisFree), or NULL with err
 * (JERR_UNAVAILABLE): no server reachable, or none of the sentinels names a primary that says
 * it is one. With `where` (may be NULL), the primary's "host:port" is written there (64+). */
redisContext *redisconn_open(const struct redisconn_cfg *c, char *where, size_t where_size,
                             struct jerr *err);

#endif
