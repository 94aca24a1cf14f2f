/*
 * adminsock: see adminsock.h. Plain POSIX sockets and a thread: a handful of requests in an
 * instance's life, each waiting for a key ceremony, need no event loop.
 */
#define _GNU_SOURCE /* struct ucred, SO_PEERCRED */
#include "responder/adminsock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "responder/net/log.h"

/* One request line at most this long (a subject DN and a few names). */
#define ADMINSOCK_LINE_MAX 4096
/* A client that connects and says nothing is dropped after this. */
#define ADMINSOCK_READ_TIMEOUT_MS 10000

struct adminsock {
    const struct jpki_config *cfg;
    struct pki *pki;
    adminsock_done_fn done;
    void *done_arg;
    int fd;
    int stop_pipe[2];
    char path[PATH_MAX];
    pthread_t thread;
    bool started;
};

static int sock_path(const struct jpki_config *cfg, struct sockaddr_un *sa, char *path,
                     size_t size, struct jerr *err)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (config_path(cfg, ADMINSOCK_FILE, path, size) == NULL ||
        strlen(path) >= sizeof(sa->sun_path))
        return jerr_set(err, JERR_CONFIG, "data_dir",
                        "data_dir too long for a Unix socket path (%zu bytes at most)",
                        sizeof(sa->sun_path) - 1 - strlen(ADMINSOCK_FILE) - 1);
    memcpy(sa->sun_path, path, strlen(path) + 1);
    return 0;
}

/* Reads one line (up to '\n' or EOF) within the deadline. Returns its length or -1. */
static ssize_t read_line(int fd, char *buf, size_t size, int timeout_ms)
{
    size_t len = 0;
    while (len + 1 < size) {
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, timeout_ms);
        if (r <= 0)
            return -1;
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (memchr(buf, '\n', len) != NULL)
            break;
    }
    buf[len] = '\0';
    char *nl = strchr(buf, '\n');
    if (nl != NULL)
        *nl = '\0';
    return (ssize_t)strlen(buf);
}

static void write_all(int fd, const char *text)
{
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        off += (size_t)n;
    }
}

/* Writes `o` as one JSON line and drops it. */
static void send_line(int fd, json_t *o)
{
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    if (text != NULL) {
        write_all(fd, text);
        write_all(fd, "\n");
    }
    free(text);
    json_decref(o);
}

static void answer_error(int fd, const struct jerr *e)
{
    send_line(fd, json_pack("{s:b, s:s, s:s, s:s}", "ok", 0, "code", jerr_code_name(e->code),
                            "field", e->field, "error", e->msg));
}

static void answer_ok(int fd, const struct rollover_result *r)
{
    send_line(fd, json_pack("{s:b, s:i, s:s, s:s, s:s, s:s, s:s, s:i, s:i}", "ok", 1,
                            "generation", r->generation, "algorithm", r->algorithm, "sha256",
                            r->fingerprint, "subject", r->subject, "not_after", r->not_after,
                            "warning", r->warning, "validity_years", r->validity_years,
                            "validity_years_minor", r->validity_years_minor));
}

/* Copies a string member of `o` into out (size bytes); absent or null is "". */
static int member(const json_t *o, const char *name, char *out, size_t size, struct jerr *err)
{
    const json_t *v = json_object_get(o, name);
    out[0] = '\0';
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) >= size)
        return jerr_set(err, JERR_INVALID, name, "%s: a string of fewer than %zu bytes", name,
                        size);
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

/* An integer member of `o` (absent or null: 0); rollover_run checks its range. */
static int years_member(const json_t *o, const char *name, int *out, struct jerr *err)
{
    const json_t *v = json_object_get(o, name);
    *out = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100)
        return jerr_set(err, JERR_INVALID, name, "%s: a number of years", name);
    *out = (int)json_integer_value(v);
    return 0;
}

static void serve_one(struct adminsock *a, int fd)
{
    struct ucred cred;
    socklen_t cred_len = sizeof(cred);
    char line[ADMINSOCK_LINE_MAX], command[32], ca[8];
    struct rollover_request req;
    struct rollover_result res;
    struct jerr err = {0};
    json_t *o = NULL;

    memset(&req, 0, sizeof(req));
    /* Owner-only: the socket file is 0600, and the peer must run as this process's user. */
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == -1 || cred.uid != getuid()) {
        jerr_set(&err, JERR_FORBIDDEN, NULL, "only the user running jpkid serve may use it");
        goto out;
    }
    if (read_line(fd, line, sizeof(line), ADMINSOCK_READ_TIMEOUT_MS) <= 0) {
        jerr_set(&err, JERR_INVALID, NULL, "no request line");
        goto out;
    }
    json_error_t jerror;
    if ((o = json_loads(line, 0, &jerror)) == NULL || !json_is_object(o)) {
        jerr_set(&err, JERR_INVALID, NULL, "the request is not a JSON object");
        goto out;
    }
    if (member(o, "command", command, sizeof(command), &err) == -1 ||
        member(o, "ca", ca, sizeof(ca), &err) == -1 ||
        member(o, "algorithm", req.algorithm, sizeof(req.algorithm), &err) == -1 ||
        member(o, "subject", req.subject, sizeof(req.subject), &err) == -1 ||
        years_member(o, "validity_years", &req.validity_years, &err) == -1 ||
        years_member(o, "validity_years_minor", &req.validity_years_minor, &err) == -1)
        goto out;
    if (strcmp(command, "rollover") != 0) {
        jerr_set(&err, JERR_INVALID, "command", "unknown command (rollover)");
        goto out;
    }
    if (ca_kind_parse(ca, &req.ca) == -1) {
        jerr_set(&err, JERR_INVALID, "ca", "unknown CA (sign or auth)");
        goto out;
    }
    snprintf(req.actor, sizeof(req.actor), "jpkid-rollover uid=%u pid=%ld", (unsigned)cred.uid,
             (long)cred.pid);
    log_info("rollover of the %s CA asked over the admin socket (pid %ld)", ca, (long)cred.pid);
    if (rollover_run(a->pki, &req, &res, &err) == -1) {
        log_error("rollover of the %s CA refused: %s", ca, err.msg);
        goto out;
    }
    log_info("the %s CA rolled over to generation %d (%s, root SHA-256 %s)%s%s", ca,
             res.generation, res.algorithm, res.fingerprint, res.warning[0] ? ": " : "",
             res.warning);
    if (a->done != NULL)
        a->done(a->done_arg, &res);
    answer_ok(fd, &res);
    json_decref(o);
    return;
out:
    answer_error(fd, &err);
    json_decref(o);
}

static void *admin_main(void *arg)
{
    struct adminsock *a = arg;
    for (;;) {
        struct pollfd p[2] = {{a->fd, POLLIN, 0}, {a->stop_pipe[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents != 0)
            break;
        int fd = accept4(a->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        serve_one(a, fd);
        close(fd);
    }
    return NULL;
}

struct adminsock *adminsock_start(const struct jpki_config *cfg, struct pki *pki,
                                  adminsock_done_fn done, void *done_arg, struct jerr *err)
{
    struct adminsock *a = calloc(1, sizeof(*a));
    struct sockaddr_un sa;

    if (a == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    *a = (struct adminsock){.cfg = cfg, .pki = pki, .done = done, .done_arg = done_arg,
                            .fd = -1, .stop_pipe = {-1, -1}};
    if (sock_path(cfg, &sa, a->path, sizeof(a->path), err) == -1)
        goto fail;
    if (pipe2(a->stop_pipe, O_CLOEXEC) == -1 ||
        (a->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
        jerr_set(err, JERR_IO, NULL, "admin socket: %s", strerror(errno));
        goto fail;
    }
    /* A file left by a service that died: this process owns the directory now. */
    unlink(a->path);
    mode_t old = umask(0177); /* created 0600: owner-only */
    int bound = bind(a->fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (bound == -1 || chmod(a->path, 0600) == -1 || listen(a->fd, 4) == -1) {
        jerr_set(err, JERR_IO, "data_dir", "%s: %s", a->path, strerror(errno));
        goto fail;
    }
    if (pthread_create(&a->thread, NULL, admin_main, a) != 0) {
        jerr_set(err, JERR_INTERNAL, NULL, "cannot start the admin socket thread");
        goto fail;
    }
    a->started = true;
    return a;
fail:
    adminsock_stop(a);
    return NULL;
}

void adminsock_stop(struct adminsock *a)
{
    if (a == NULL)
        return;
    if (a->started) {
        ssize_t n = write(a->stop_pipe[1], "x", 1);
        (void)n;
        pthread_join(a->thread, NULL);
    }
    if (a->fd >= 0) {
        close(a->fd);
        unlink(a->path);
    }
    for (int i = 0; i < 2; i++)
        if (a->stop_pipe[i] >= 0)
            close(a->stop_pipe[i]);
    free(a);
}

/* ---- client ---- */

static int code_of(const char *name)
{
    for (int c = JERR_INVALID; c <= JERR_INTERNAL; c++)
        if (strcmp(jerr_code_name(c), name) == 0)
            return c;
    return JERR_INTERNAL;
}

int adminsock_rollover(const struct jpki_config *cfg, const struct rollover_request *req,
                       int timeout_s, struct rollover_result *res, struct jerr *err)
{
    struct sockaddr_un sa;
    char path[PATH_MAX], *text = NULL, line[ADMINSOCK_LINE_MAX];
    json_t *o = NULL, *answer = NULL;
    int fd = -1, rc = -1;

    memset(res, 0, sizeof(*res));
    if (sock_path(cfg, &sa, path, sizeof(path), err) == -1)
        return -1;
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
        jerr_set(err, JERR_UNAVAILABLE, NULL, "cannot reach jpkid serve over %s: %s", path,
                 strerror(errno));
        goto out;
    }
    o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i}", "command", "rollover", "ca",
                  ca_kind_name(req->ca), "algorithm", req->algorithm, "subject", req->subject,
                  "validity_years", req->validity_years, "validity_years_minor",
                  req->validity_years_minor);
    if (o == NULL || (text = json_dumps(o, JSON_COMPACT)) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    write_all(fd, text);
    write_all(fd, "\n");
    if (read_line(fd, line, sizeof(line), timeout_s * 1000) <= 0) {
        jerr_set(err, JERR_UNAVAILABLE, NULL, "jpkid serve did not answer within %d s", timeout_s);
        goto out;
    }
    json_error_t jerror;
    if ((answer = json_loads(line, 0, &jerror)) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "jpkid serve answered something that is not JSON");
        goto out;
    }
    if (!json_is_true(json_object_get(answer, "ok"))) {
        const char *code = json_string_value(json_object_get(answer, "code"));
        const char *field = json_string_value(json_object_get(answer, "field"));
        const char *msg = json_string_value(json_object_get(answer, "error"));
        jerr_set(err, code_of(code != NULL ? code : ""), field != NULL && *field ? field : NULL,
                 "%s", msg != NULL ? msg : "refused");
        goto out;
    }
    res->generation = (int)json_integer_value(json_object_get(answer, "generation"));
    struct jerr ignored = {0};
    member(answer, "algorithm", res->algorithm, sizeof(res->algorithm), &ignored);
    member(answer, "sha256", res->fingerprint, sizeof(res->fingerprint), &ignored);
    member(answer, "subject", res->subject, sizeof(res->subject), &ignored);
    member(answer, "not_after", res->not_after, sizeof(res->not_after), &ignored);
    member(answer, "warning", res->warning, sizeof(res->warning), &ignored);
    years_member(answer, "validity_years", &res->validity_years, &ignored);
    years_member(answer, "validity_years_minor", &res->validity_years_minor, &ignored);
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(text);
    json_decref(o);
    json_decref(answer);
    return rc;
}
