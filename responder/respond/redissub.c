/*
 * redissub: see redissub.h. The stop cuts the blocking read short by shutting the socket down
 * (under the lock that guards the context pointer), rather than by a read timeout, which would
 * leave a hiredis context unusable.
 */
#include "responder/respond/redissub.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include "responder/net/log.h"

struct redissub {
    const struct redisconn_cfg *cfg;
    struct redissrc *src;
    redissub_changed_fn *changed;
    void *arg;
    pthread_t thread;
    pthread_mutex_t lock; /* ctx, stopping */
    pthread_cond_t wake;
    redisContext *ctx;
    bool stopping;
};

static void reload_cas(struct redissub *sub)
{
    struct jerr err = {0};
    redisContext *c = redisconn_open_cfg(sub->cfg, NULL, 0, &err);
    if (c == NULL || redissrc_load_cas(sub->src, c, &err) == -1)
        log_error("respond: reading the CA set: %s", err.msg);
    redisFree(c);
}

/* Connects, loads the CA set and subscribes; the context, or NULL with err. */
static redisContext *subscribe(struct redissub *sub, char *where, size_t where_size,
                               struct jerr *err)
{
    redisContext *c = redisconn_open_cfg(sub->cfg, where, where_size, err);
    if (c == NULL)
        return NULL;
    /* Without a CA set nothing can be answered: wait (not ready) until the CA node has
     * published one. With an older set, go on with it. */
    if (redissrc_load_cas(sub->src, c, err) == -1 && !redissrc_has_cas(sub->src)) {
        redisFree(c);
        return NULL;
    }
    redisReply *r = redisCommand(c, "SUBSCRIBE %schanges", sub->cfg->prefix);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        jerr_set(err, JERR_UNAVAILABLE, "redis", "Redis SUBSCRIBE: %s",
                 r == NULL ? c->errstr : "unexpected reply");
        freeReplyObject(r);
        redisFree(c);
        return NULL;
    }
    freeReplyObject(r);
    /* Notices may be minutes apart: no read timeout; next_reply PINGs a silent connection. */
    struct timeval none = {0, 0};
    redisSetTimeout(c, none);
    return c;
}

static void wait_retry(struct redissub *sub)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)REDISSUB_RETRY_MS * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&sub->lock);
    if (!sub->stopping)
        pthread_cond_timedwait(&sub->wake, &sub->lock, &until);
    pthread_mutex_unlock(&sub->lock);
}

static bool is_stopping(struct redissub *sub)
{
    pthread_mutex_lock(&sub->lock);
    bool stopping = sub->stopping;
    pthread_mutex_unlock(&sub->lock);
    return stopping;
}

/* The next reply on `c`, waiting at most REDISSUB_PING_MS for data at a time: after a silent
 * period a PING goes out, and a second silent period with the PING unanswered is a lost
 * connection (a partition that TCP would notice only after its keepalive, ~30 s). 0 with *r,
 * or -1 with err. */
static int next_reply(redisContext *c, redisReply **r, struct jerr *err)
{
    bool pinged = false;
    for (;;) {
        *r = NULL;
        if (redisGetReplyFromReader(c, (void **)r) != REDIS_OK)
            return jerr_set(err, JERR_UNAVAILABLE, "redis", "Redis connection lost: %s",
                            c->errstr);
        if (*r != NULL)
            return 0;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int n = poll(&p, 1, REDISSUB_PING_MS);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0) {
            if (pinged)
                return jerr_set(err, JERR_UNAVAILABLE, "redis",
                                "Redis connection lost: no answer to PING in %d ms",
                                REDISSUB_PING_MS);
            int done = 0;
            if (redisAppendCommand(c, "PING") != REDIS_OK)
                return jerr_set(err, JERR_UNAVAILABLE, "redis", "Redis: %s", c->errstr);
            while (!done)
                if (redisBufferWrite(c, &done) != REDIS_OK)
                    return jerr_set(err, JERR_UNAVAILABLE, "redis", "Redis connection lost: %s",
                                    c->errstr);
            pinged = true;
            continue;
        }
        /* A notice is a key name: a server that sends more in one is not our Redis. */
        if (c->reader->len - c->reader->pos > REDISCONN_REPLY_SLACK)
            return jerr_set(err, JERR_TOO_LARGE, "redis", "Redis: a notice over %d bytes",
                            REDISCONN_REPLY_SLACK);
        if (n < 0 || redisBufferRead(c) != REDIS_OK)
            return jerr_set(err, JERR_UNAVAILABLE, "redis", "Redis connection lost: %s",
                            n < 0 ? strerror(errno) : c->errstr);
    }
}

/* Reads notices until the connection fails or the stop. */
static void listen_notices(struct redissub *sub, redisContext *c, struct jerr *err)
{
    char cas_key[128];
    snprintf(cas_key, sizeof(cas_key), "%scas", sub->cfg->prefix);
    for (;;) {
        redisReply *r = NULL;
        if (next_reply(c, &r, err) == -1)
            return;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
            r->element[0]->type == REDIS_REPLY_STRING &&
            strcmp(r->element[0]->str, "message") == 0 &&
            r->element[2]->type == REDIS_REPLY_STRING) {
            const char *key = r->element[2]->str;
            if (strcmp(key, cas_key) == 0)
                reload_cas(sub);
            sub->changed(sub->arg, key);
        }
        freeReplyObject(r);
    }
}

static void *run(void *arg)
{
    struct redissub *sub = arg;
    bool logged_down = false;
    while (!is_stopping(sub)) {
        struct jerr err = {0};
        char where[REDISCONN_ADDR_MAX] = "";
        redisContext *c = subscribe(sub, where, sizeof(where), &err);
        if (c == NULL) {
            redissrc_set_up(sub->src, false, err.msg);
            if (!logged_down)
                log_warn("respond: Redis unreachable, answering from memory: %s", err.msg);
            logged_down = true;
            wait_retry(sub);
            continue;
        }
        pthread_mutex_lock(&sub->lock);
        bool stopping = sub->stopping;
        if (!stopping)
            sub->ctx = c;
        pthread_mutex_unlock(&sub->lock);
        if (stopping) {
            redisFree(c);
            break;
        }
        /* Whatever was cached may have changed while we were not listening. */
        sub->changed(sub->arg, NULL);
        redissrc_set_up(sub->src, true, "");
        log_info("respond: subscribed to %schanges at %s", sub->cfg->prefix, where);
        logged_down = false;
        listen_notices(sub, c, &err);
        pthread_mutex_lock(&sub->lock);
        sub->ctx = NULL;
        pthread_mutex_unlock(&sub->lock);
        redisFree(c);
        redissrc_set_up(sub->src, false, err.msg);
        if (!is_stopping(sub)) {
            log_warn("respond: %s; reconnecting", err.msg);
            logged_down = true;
        }
    }
    return NULL;
}

struct redissub *redissub_start(const struct redisconn_cfg *cfg, struct redissrc *src,
                                redissub_changed_fn *changed, void *arg, struct jerr *err)
{
    struct redissub *sub = calloc(1, sizeof(*sub));
    if (sub == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    *sub = (struct redissub){.cfg = cfg, .src = src, .changed = changed, .arg = arg};
    pthread_mutex_init(&sub->lock, NULL);
    pthread_cond_init(&sub->wake, NULL);
    if (pthread_create(&sub->thread, NULL, run, sub) != 0) {
        pthread_cond_destroy(&sub->wake);
        pthread_mutex_destroy(&sub->lock);
        free(sub);
        jerr_set(err, JERR_INTERNAL, NULL, "cannot start the Redis subscriber thread");
        return NULL;
    }
    return sub;
}

void redissub_stop(struct redissub *sub)
{
    if (sub == NULL)
        return;
    pthread_mutex_lock(&sub->lock);
    sub->stopping = true;
    if (sub->ctx != NULL)
        shutdown(sub->ctx->fd, SHUT_RDWR);
    pthread_cond_signal(&sub->wake);
    pthread_mutex_unlock(&sub->lock);
    pthread_join(sub->thread, NULL);
    pthread_cond_destroy(&sub->wake);
    pthread_mutex_destroy(&sub->lock);
    free(sub);
}
