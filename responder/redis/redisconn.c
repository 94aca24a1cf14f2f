/*
 * redisconn: see redisconn.h.
 */
#include "responder/redis/redisconn.h"

#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/http.h>
#include <hiredis/hiredis.h>

#include "responder/redis/redistls.h"

int redisconn_parse(const char *url, const char *field, struct redisconn_target *out,
                    struct jerr *err)
{
    struct evhttp_uri *uri = evhttp_uri_parse_with_flags(url, 0);
    struct redisconn_target t = {.port = 6379};
    int ret = -1;

    if (uri == NULL) {
        jerr_set(err, JERR_CONFIG, field, "%s: not a URL", field);
        goto out;
    }
    const char *scheme = evhttp_uri_get_scheme(uri), *host = evhttp_uri_get_host(uri);
    const char *path = evhttp_uri_get_path(uri);
    if (scheme == NULL || strcasecmp(scheme, "redis") != 0) {
        jerr_set(err, JERR_CONFIG, field, "%s: the scheme must be redis://", field);
        goto out;
    }
    if (evhttp_uri_get_userinfo(uri) != NULL) {
        jerr_set(err, JERR_CONFIG, field,
                 "%s: no user or password in the URL; the password goes in "
                 "password.env or password.file of the same section",
                 field);
        goto out;
    }
    if (evhttp_uri_get_query(uri) != NULL || evhttp_uri_get_fragment(uri) != NULL) {
        jerr_set(err, JERR_CONFIG, field, "%s: no query or fragment in a redis:// URL", field);
        goto out;
    }
    size_t host_len = host != NULL ? strlen(host) : 0;
    if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
        host++; /* an IPv6 literal */
        host_len -= 2;
    }
    if (host_len == 0 || host_len > REDISCONN_HOST_MAX) {
        jerr_set(err, JERR_CONFIG, field, "%s: no host", field);
        goto out;
    }
    memcpy(t.host, host, host_len);
    t.host[host_len] = '\0';
    int port = evhttp_uri_get_port(uri);
    if (port == 0) {
        jerr_set(err, JERR_CONFIG, field, "%s: port 0", field);
        goto out;
    }
    if (port > 0)
        t.port = port;
    if (path != NULL && path[0] != '\0' && strcmp(path, "/") != 0) {
        char *end = NULL;
        long db = strtol(path + 1, &end, 10);
        if (path[0] != '/' || path[1] < '0' || path[1] > '9' || *end != '\0' || db > 65535) {
            jerr_set(err, JERR_CONFIG, field, "%s: the path must be a database number (/0)", field);
            goto out;
        }
        t.db = (int)db;
    }
    *out = t;
    ret = 0;
out:
    if (uri != NULL)
        evhttp_uri_free(uri);
    return ret;
}

const char *redisconn_addr(const struct redisconn_target *t, char *buf, size_t size)
{
    snprintf(buf, size, strchr(t->host, ':') != NULL ? "[%s]:%d" : "%s:%d", t->host, t->port);
    return buf;
}

int redisconn_parse_addr(const char *text, struct redisconn_target *out)
{
    const char *colon = strrchr(text, ':');
    char *end = NULL;
    if (colon == NULL || colon == text)
        return -1;
    const char *host = text;
    size_t n = (size_t)(colon - text);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        host++;
        n -= 2;
    }
    if (n == 0 || n > REDISCONN_HOST_MAX)
        return -1;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || port < 1 || port > 65535)
        return -1;
    memcpy(out->host, host, n);
    out->host[n] = '\0';
    out->port = (int)port;
    out->db = 0;
    return 0;
}

int redisconn_cfg_init(struct redisconn_cfg *out, const char *section, const char *url,
                       const char *sentinels, const char *master, const char *prefix,
                       char *password, int timeout_ms, struct jerr *err)
{
    char key[64], list[4096];
    memset(out, 0, sizeof(*out));
    out->password = password;
    out->timeout_ms = timeout_ms;
    snprintf(out->prefix, sizeof(out->prefix), "%s", prefix);
    snprintf(key, sizeof(key), "%s.url", section);
    if (url[0] != '\0' && redisconn_parse(url, key, &out->primary, err) == -1)
        return -1;
    snprintf(key, sizeof(key), "%s.sentinel.addresses", section);
    snprintf(list, sizeof(list), "%s", sentinels);
    char *save = NULL;
    for (char *item = strtok_r(list, ", ", &save); item != NULL;
         item = strtok_r(NULL, ", ", &save)) {
        if (out->sentinel_count == REDISCONN_MAX_SENTINELS)
            return jerr_set(err, JERR_CONFIG, key, "%s: more than %d sentinels", key,
                            REDISCONN_MAX_SENTINELS);
        if (redisconn_parse_addr(item, &out->sentinels[out->sentinel_count++]) == -1)
            return jerr_set(err, JERR_CONFIG, key, "%s: '%s' is not host:port", key, item);
    }
    snprintf(out->master, sizeof(out->master), "%s", master);
    if (out->sentinel_count > 0 && master[0] == '\0') {
        snprintf(key, sizeof(key), "%s.sentinel.master", section);
        return jerr_set(err, JERR_CONFIG, key, "%s: required with sentinel addresses", key);
    }
    if (out->sentinel_count == 0 && url[0] == '\0') {
        snprintf(key, sizeof(key), "%s.url", section);
        return jerr_set(err, JERR_CONFIG, key, "%s (or %s.sentinel.addresses) is required", key,
                        section);
    }
    return 0;
}

int redisconn_cfg_set_tls(struct redisconn_cfg *c, const char *section,
                          const struct config_redis_tls *tls, struct jerr *err)
{
    redistls_free(c->tls);
    c->tls = NULL;
    if (!tls->on)
        return 0;
    c->tls = redistls_new(section, tls->ca, tls->cert, tls->key, err);
    return c->tls != NULL ? 0 : -1;
}

void redisconn_cfg_clear(struct redisconn_cfg *c)
{
    config_passphrase_free(c->password);
    c->password = NULL;
    redistls_free(c->tls);
    c->tls = NULL;
}

int redisconn_reply_ok(redisContext *c, const char *addr, const char *what, redisReply *r,
                       struct jerr *err)
{
    int ret = -1;

    if (r == NULL) {
        /* hiredis' reader refuses a malformed reply (REDIS_ERR_PROTOCOL) like a closed one. */
        jerr_set(err, JERR_UNAVAILABLE, "redis", "redis %s: %s: %s", addr, what, c->errstr);
    } else if (r->type == REDIS_REPLY_ERROR) {
        /* NOAUTH (a password is wanted), WRONGPASS / "invalid password": the password. */
        bool auth = strstr(r->str, "NOAUTH") != NULL || strstr(r->str, "WRONGPASS") != NULL ||
                    strstr(r->str, "invalid password") != NULL ||
                    strstr(r->str, "no password is set") != NULL;
        jerr_set(err, auth ? JERR_AUTH : JERR_UNAVAILABLE, "redis", "redis %s: %s refused: %.120s",
                 addr, what, r->str);
    } else {
        ret = 0;
    }
    freeReplyObject(r);
    return ret;
}

static redisContext *connect_to(const struct redisconn_target *t, struct redistls *tls,
                                int timeout_ms, char *addr, struct jerr *err)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c;
    if (tls != NULL) {
        /* hiredis gets the plaintext end of the tunnel; TCP keepalive is the tunnel's */
        int fd = redistls_connect(tls, t->host, t->port, timeout_ms, err);
        if (fd == -1)
            return NULL;
        if ((c = redisConnectFd(fd)) == NULL) {
            close(fd);
            jerr_set(err, JERR_INTERNAL, "redis", "redis %s: out of memory", addr);
            return NULL;
        }
        if (c->err == 0 && redisSetTimeout(c, tv) == REDIS_OK)
            return c;
        jerr_set(err, JERR_UNAVAILABLE, "redis", "redis %s: %s", addr, c->errstr);
        redisFree(c);
        return NULL;
    }
    c = redisConnectWithTimeout(t->host, t->port, tv);
    if (c == NULL) {
        jerr_set(err, JERR_INTERNAL, "redis", "redis %s: out of memory", addr);
        return NULL;
    }
    if (c->err != 0) {
        jerr_set(err, JERR_UNAVAILABLE, "redis", "redis %s: cannot connect: %s", addr, c->errstr);
        goto fail;
    }
    /* A dead peer (a partition, not a closed socket) is noticed by TCP keepalive. */
    if (redisSetTimeout(c, tv) != REDIS_OK || redisEnableKeepAlive(c) != REDIS_OK) {
        jerr_set(err, JERR_UNAVAILABLE, "redis", "redis %s: %s", addr, c->errstr);
        goto fail;
    }
    return c;
fail:
    redisFree(c);
    return NULL;
}

struct redisContext *redisconn_open(const struct redisconn_target *t, struct redistls *tls,
                                    const char *password, int timeout_ms, struct jerr *err)
{
    char addr[REDISCONN_ADDR_MAX], db[16];
    redisconn_addr(t, addr, sizeof(addr));
    redisContext *c = connect_to(t, tls, timeout_ms, addr, err);

    if (c == NULL)
        return NULL;
    if (password != NULL) {
        const char *argv[] = {"AUTH", password};
        if (redisconn_reply_ok(c, addr, "AUTH", redisCommandArgv(c, 2, argv, NULL), err) == -1)
            goto fail;
    }
    snprintf(db, sizeof(db), "%d", t->db);
    const char *select_argv[] = {"SELECT", db};
    if (redisconn_reply_ok(c, addr, "SELECT", redisCommandArgv(c, 2, select_argv, NULL), err) ==
        -1)
        goto fail;
    /* After a failover the old primary may come back as a replica (or a sentinel answer may be
     * stale): only a server that says it is the primary is used. */
    redisReply *r = redisCommand(c, "ROLE");
    if (r != NULL && (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
                      r->element[0]->type != REDIS_REPLY_STRING ||
                      strcmp(r->element[0]->str, "master") != 0)) {
        jerr_set(err, JERR_UNAVAILABLE, "redis", "redis %s: not the primary (ROLE)", addr);
        freeReplyObject(r);
        goto fail;
    }
    if (redisconn_reply_ok(c, addr, "ROLE", r, err) == -1)
        goto fail;
    return c;
fail:
    redisFree(c);
    return NULL;
}

/* Asks one sentinel for the primary's address (its db: the configured one). */
static int ask_sentinel(const struct redisconn_cfg *cfg, const struct redisconn_target *s,
                        struct redisconn_target *out, struct jerr *err)
{
    char addr[REDISCONN_ADDR_MAX];
    redisconn_addr(s, addr, sizeof(addr));
    redisContext *c = connect_to(s, cfg->tls, cfg->timeout_ms, addr, err);
    if (c == NULL)
        return -1;
    redisReply *r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", cfg->master);
    int rc = -1;
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING &&
        strlen(r->element[0]->str) <= REDISCONN_HOST_MAX) {
        snprintf(out->host, sizeof(out->host), "%s", r->element[0]->str);
        out->port = atoi(r->element[1]->str);
        out->db = cfg->primary.db;
        rc = out->port > 0 && out->port <= 65535 ? 0 : -1;
    }
    if (rc == -1)
        jerr_set(err, JERR_UNAVAILABLE, "redis", "sentinel %s does not name primary '%s'", addr,
                 cfg->master);
    freeReplyObject(r);
    redisFree(c);
    return rc;
}

struct redisContext *redisconn_open_cfg(const struct redisconn_cfg *cfg, char *where,
                                        size_t where_size, struct jerr *err)
{
    size_t tries = cfg->sentinel_count > 0 ? cfg->sentinel_count : 1;
    for (size_t i = 0; i < tries; i++) {
        struct redisconn_target t = cfg->primary;
        if (cfg->sentinel_count > 0 && ask_sentinel(cfg, &cfg->sentinels[i], &t, err) == -1)
            continue;
        redisContext *c = redisconn_open(&t, cfg->tls, cfg->password, cfg->timeout_ms, err);
        if (c == NULL)
            continue;
        if (where != NULL)
            redisconn_addr(&t, where, where_size);
        return c;
    }
    return NULL;
}

void redisconn_append_file(struct redisContext *c, const char *key, const void *body, size_t len,
                           const char *etag, const char *type, time_t last_modified,
                           time_t expires, size_t *pending)
{
    char lm[32], ex[32];
    snprintf(lm, sizeof(lm), "%lld", (long long)last_modified);
    snprintf(ex, sizeof(ex), "%lld", (long long)expires);
    const char *argv[] = {"HSET",          key, "body",    body != NULL ? body : "",
                          "etag",          etag, "type",   type,
                          "last_modified", lm,  "expires", ex};
    size_t lens[] = {4,  strlen(key), 4, body != NULL ? len : 0, 4, strlen(etag), 4, strlen(type),
                     13, strlen(lm),  7, strlen(ex)};
    redisAppendCommandArgv(c, expires != 0 ? 12 : 10, argv, lens);
    (*pending)++;
    if (expires == 0) {
        redisAppendCommand(c, "HDEL %s expires", key);
        (*pending)++;
    }
}

int redisconn_get_reply(redisContext *c, size_t max_bytes, redisReply **out, struct jerr *err)
{
    void *reply = NULL;
    int done = 0;
    *out = NULL;
    /* The loop of hiredis's redisGetReply for a blocking context, with the bound between
     * reads: a bulk string is parsed only once whole, so what waits in the reader's buffer is
     * the part of the reply read so far. */
    if (redisGetReplyFromReader(c, &reply) != REDIS_OK)
        goto lost;
    while (reply == NULL && !done)
        if (redisBufferWrite(c, &done) != REDIS_OK)
            goto lost;
    while (reply == NULL) {
        if (c->reader->len - c->reader->pos > max_bytes)
            return jerr_set(err, JERR_TOO_LARGE, "redis", "Redis: a reply over %zu bytes",
                            max_bytes);
        if (redisBufferRead(c) != REDIS_OK || redisGetReplyFromReader(c, &reply) != REDIS_OK)
            goto lost;
    }
    *out = reply;
    return 0;
lost:
    return jerr_set(err, JERR_UNAVAILABLE, "redis", "Redis: %s",
                    c->errstr[0] != '\0' ? c->errstr : "connection lost");
}
