/*
 * respconn: one connection of jpkid respond to the Redis primary (DESIGN §13), through
 * hiredis: parsed from respond.redis, found through Redis Sentinel when sentinels are
 * configured (hiredis has no Sentinel support: SENTINEL get-master-addr-by-name is asked of
 * each sentinel in turn, and the answer is believed only when that server says ROLE master),
 * authenticated (AUTH) and on the configured database (SELECT). Every call blocks, bounded by
 * RESPCONN_TIMEOUT_MS: callers are worker threads or the subscriber thread, never a loop.
 */
#ifndef JPKI_RESPCONN_H
#define JPKI_RESPCONN_H

#include <hiredis/hiredis.h>

#include "config/config.h"
#include "base/jerr.h"

/* Connect, send and receive timeout of every Redis or Sentinel exchange. */
#define RESPCONN_TIMEOUT_MS 500
#define RESPCONN_MAX_SENTINELS 8
#define RESPCONN_HOST_MAX 256

struct respconn_addr {
    char host[RESPCONN_HOST_MAX];
    int port;
};

struct respconn_cfg {
    struct respconn_addr primary; /* from url; unused with sentinels */
    int db;
    char *password; /* NULL = none; wiped at respconn_cfg_clear */
    char prefix[65];
    struct respconn_addr sentinels[RESPCONN_MAX_SENTINELS];
    size_t sentinel_count;
    char master[256];
};

/* Reads respond.redis of `cfg` (url or sentinels required). Returns 0, or -1 with err naming
 * the key at fault. */
int respconn_cfg_load(struct respconn_cfg *out, const struct jpki_config *cfg, struct jerr *err);
/* Wipes and frees the password. */
void respconn_cfg_clear(struct respconn_cfg *c);

/* Parses "host:port" ([v6]:port not supported). Returns 0 or -1. */
int respconn_parse_addr(const char *text, struct respconn_addr *out);

/* A connected, authenticated context on the current primary (redisFree), or NULL with err
 * (JERR_UNAVAILABLE): no server reachable, or none of the sentinels names a primary that says
 * it is one. With `where` (may be NULL), the primary's "host:port" is written there (64+). */
redisContext *respconn_open(const struct respconn_cfg *c, char *where, size_t where_size,
                             struct jerr *err);

#endif
