/*
 * respconn: see respconn.h.
 */
#include "responder/respond/respconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <openssl/crypto.h>

static const struct timeval conn_timeout = {0, RESPCONN_TIMEOUT_MS * 1000};

int respconn_parse_addr(const char *text, struct respconn_addr *out)
{
    const char *colon = strrchr(text, ':');
    char *end = NULL;
    if (colon == NULL || colon == text || (size_t)(colon - text) >= sizeof(out->host))
        return -1;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || port < 1 || port > 65535)
        return -1;
    memcpy(out->host, text, (size_t)(colon - text));
    out->host[colon - text] = '\0';
    out->port = (int)port;
    return 0;
}

/* "redis://host:port[/db]" (userinfo is refused: the password comes from env or file). */
static int parse_url(const char *url, struct respconn_cfg *out, struct jerr *err)
{
    static const char scheme[] = "redis://";
    char hostport[RESPCONN_HOST_MAX + 8];
    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
        return jerr_set(err, JERR_CONFIG, "respond.redis.url",
                        "respond.redis.url: not a redis://host:port[/db] URL");
    const char *rest = url + sizeof(scheme) - 1;
    const char *slash = strchr(rest, '/');
    size_t n = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
    if (n == 0 || n >= sizeof(hostport) || memchr(rest, '@', n) != NULL)
        return jerr_set(err, JERR_CONFIG, "respond.redis.url",
                        "respond.redis.url: host:port missing or with a password (use "
                        "respond.redis.password)");
    memcpy(hostport, rest, n);
    hostport[n] = '\0';
    if (respconn_parse_addr(hostport, &out->primary) == -1)
        return jerr_set(err, JERR_CONFIG, "respond.redis.url",
                        "respond.redis.url: '%s' is not host:port", hostport);
    out->db = 0;
    if (slash != NULL && slash[1] != '\0') {
        char *end = NULL;
        long db = strtol(slash + 1, &end, 10);
        if (*end != '\0' || db < 0 || db > 65535)
            return jerr_set(err, JERR_CONFIG, "respond.redis.url",
                            "respond.redis.url: the database must be a number");
        out->db = (int)db;
    }
    return 0;
}

int respconn_cfg_load(struct respconn_cfg *out, const struct jpki_config *cfg, struct jerr *err)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->prefix, sizeof(out->prefix), "%s", cfg->respond_redis_key_prefix);
    if (cfg->respond_redis_url[0] != '\0' && parse_url(cfg->respond_redis_url, out, err) == -1)
        return -1;
    char list[4096];
    snprintf(list, sizeof(list), "%s", cfg->respond_redis_sentinels);
    char *save = NULL;
    for (char *item = strtok_r(list, ", ", &save); item != NULL;
         item = strtok_r(NULL, ", ", &save)) {
        if (out->sentinel_count == RESPCONN_MAX_SENTINELS)
            return jerr_set(err, JERR_CONFIG, "respond.redis.sentinel.addresses",
                            "respond.redis.sentinel.addresses: more than %d sentinels",
                            RESPCONN_MAX_SENTINELS);
        if (respconn_parse_addr(item, &out->sentinels[out->sentinel_count++]) == -1)
            return jerr_set(err, JERR_CONFIG, "respond.redis.sentinel.addresses",
                            "respond.redis.sentinel.addresses: '%s' is not host:port", item);
    }
    if (out->sentinel_count > 0 && cfg->respond_redis_sentinel_master[0] == '\0')
        return jerr_set(err, JERR_CONFIG, "respond.redis.sentinel.master",
                        "respond.redis.sentinel.master: required with sentinel addresses");
    snprintf(out->master, sizeof(out->master), "%s", cfg->respond_redis_sentinel_master);
    if (out->sentinel_count == 0 && cfg->respond_redis_url[0] == '\0')
        return jerr_set(err, JERR_CONFIG, "respond.redis.url",
                        "respond.redis.url (or respond.redis.sentinel.addresses) is required "
                        "by jpkid respond");
    struct jerr perr = {0};
    out->password = config_read_respond_redis_password(cfg, &perr);
    if (out->password == NULL && perr.code != JERR_NONE) {
        *err = perr;
        return -1;
    }
    return 0;
}

void respconn_cfg_clear(struct respconn_cfg *c)
{
    if (c->password != NULL) {
        OPENSSL_cleanse(c->password, strlen(c->password));
        free(c->password);
        c->password = NULL;
    }
}

static redisContext *connect_to(const struct respconn_addr *a, struct jerr *err)
{
    redisContext *c = redisConnectWithTimeout(a->host, a->port, conn_timeout);
    if (c == NULL || c->err != 0) {
        jerr_set(err, JERR_UNAVAILABLE, "redis", "Redis %s:%d: %s", a->host, a->port,
                 c != NULL ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, conn_timeout);
    /* A dead peer (a partition, not a closed socket) is noticed by TCP keepalive. */
    redisEnableKeepAlive(c);
    return c;
}

/* One command expecting a status or integer reply; 0 or -1 with err. */
static int command_ok(redisContext *c, const char *what, redisReply *r, struct jerr *err)
{
    int rc = 0;
    if (r == NULL)
        rc = jerr_set(err, JERR_UNAVAILABLE, "redis", "Redis %s: %s", what, c->errstr);
    else if (r->type == REDIS_REPLY_ERROR)
        rc = jerr_set(err, JERR_UNAVAILABLE, "redis", "Redis %s refused: %.100s", what, r->str);
    freeReplyObject(r);
    return rc;
}

/* AUTH, SELECT and ROLE on a fresh connection: 0, or -1 when it is unusable or no primary. */
static int prepare(redisContext *c, const struct respconn_cfg *cfg, struct jerr *err)
{
    if (cfg->password != NULL &&
        command_ok(c, "AUTH", redisCommand(c, "AUTH %s", cfg->password), err) == -1)
        return -1;
    if (cfg->db != 0 && command_ok(c, "SELECT", redisCommand(c, "SELECT %d", cfg->db), err) == -1)
        return -1;
    /* After a failover the old primary may come back as a replica (or a sentinel answer may be
     * stale): only a server that says it is the primary is used. */
    redisReply *r = redisCommand(c, "ROLE");
    int rc = 0;
    if (r == NULL)
        rc = jerr_set(err, JERR_UNAVAILABLE, "redis", "Redis ROLE: %s", c->errstr);
    else if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
             r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "master") != 0)
        rc = jerr_set(err, JERR_UNAVAILABLE, "redis", "the Redis server is not the primary");
    freeReplyObject(r);
    return rc;
}

/* Asks one sentinel for the primary's address. */
static int ask_sentinel(const struct respconn_addr *s, const char *master,
                        struct respconn_addr *out, struct jerr *err)
{
    redisContext *c = connect_to(s, err);
    if (c == NULL)
        return -1;
    redisReply *r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", master);
    int rc = -1;
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING &&
        strlen(r->element[0]->str) < sizeof(out->host)) {
        snprintf(out->host, sizeof(out->host), "%s", r->element[0]->str);
        out->port = atoi(r->element[1]->str);
        rc = out->port > 0 && out->port <= 65535 ? 0 : -1;
    }
    if (rc == -1)
        jerr_set(err, JERR_UNAVAILABLE, "redis", "sentinel %s:%d does not name primary '%s'",
                 s->host, s->port, master);
    freeReplyObject(r);
    redisFree(c);
    return rc;
}

redisContext *respconn_open(const struct respconn_cfg *cfg, char *where, size_t where_size,
                             struct jerr *err)
{
    size_t tries = cfg->sentinel_count > 0 ? cfg->sentinel_count : 1;
    for (size_t i = 0; i < tries; i++) {
        struct respconn_addr a = cfg->primary;
        if (cfg->sentinel_count > 0 && ask_sentinel(&cfg->sentinels[i], cfg->master, &a, err) == -1)
            continue;
        redisContext *c = connect_to(&a, err);
        if (c == NULL)
            continue;
        if (prepare(c, cfg, err) == -1) {
            redisFree(c);
            continue;
        }
        if (where != NULL)
            snprintf(where, where_size, "%s:%d", a.host, a.port);
        return c;
    }
    return NULL;
}
