/*
 * redisconn: see redisconn.h.
 */
#include "responder/publish/redisconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <hiredis/hiredis.h>

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
                 "publish.redis.password.env or .file",
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

/* Runs one command whose answer must be +OK; fills err (naming what) otherwise. */
static int expect_ok(redisContext *c, const char *addr, const char *what, int argc,
                     const char **argv, struct jerr *err)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    int ret = -1;

    if (r == NULL) {
        jerr_set(err, JERR_UNAVAILABLE, NULL, "redis %s: %s: %s", addr, what, c->errstr);
    } else if (r->type == REDIS_REPLY_ERROR) {
        /* NOAUTH (a password is wanted), WRONGPASS / "invalid password": the password. */
        bool auth = strstr(r->str, "NOAUTH") != NULL || strstr(r->str, "WRONGPASS") != NULL ||
                    strstr(r->str, "invalid password") != NULL ||
                    strstr(r->str, "no password is set") != NULL;
        jerr_set(err, auth ? JERR_AUTH : JERR_UNAVAILABLE, NULL, "redis %s: %s refused: %.120s",
                 addr, what, r->str);
    } else {
        ret = 0;
    }
    freeReplyObject(r);
    return ret;
}

struct redisContext *redisconn_open(const struct redisconn_target *t, const char *password,
                                    int timeout_ms, struct jerr *err)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    char addr[REDISCONN_HOST_MAX + 16], db[16];
    redisContext *c = redisConnectWithTimeout(t->host, t->port, tv);

    redisconn_addr(t, addr, sizeof(addr));
    if (c == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "redis %s: out of memory", addr);
        return NULL;
    }
    if (c->err != 0) {
        jerr_set(err, JERR_UNAVAILABLE, NULL, "redis %s: cannot connect: %s", addr, c->errstr);
        goto fail;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK || redisEnableKeepAlive(c) != REDIS_OK) {
        jerr_set(err, JERR_UNAVAILABLE, NULL, "redis %s: %s", addr, c->errstr);
        goto fail;
    }
    if (password != NULL) {
        const char *argv[] = {"AUTH", password};
        if (expect_ok(c, addr, "AUTH", 2, argv, err) == -1)
            goto fail;
    }
    snprintf(db, sizeof(db), "%d", t->db);
    const char *select_argv[] = {"SELECT", db};
    if (expect_ok(c, addr, "SELECT", 2, select_argv, err) == -1)
        goto fail;
    return c;
fail:
    redisFree(c);
    return NULL;
}
