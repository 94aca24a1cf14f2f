/*
 * ctl: see ctl.h. The client is made lazily so that a usage error or --help never needs a
 * service, and commands that speak only to public endpoints never read a token.
 */
#include "ctl/ctl.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl_out.h"

void ctl_init(struct ctl *ctl, const struct ctl_args *args, FILE *out, FILE *err)
{
    memset(ctl, 0, sizeof(*ctl));
    ctl->args = args;
    ctl->out = out;
    ctl->err = err;
    if (args->cmd != NULL)
        ctl_args_cmd_name(args->cmd, ctl->cmd_name, sizeof(ctl->cmd_name));
    else
        snprintf(ctl->cmd_name, sizeof(ctl->cmd_name), "jpkictl");
    ctl->json = ctl_args_has(args, "json");
    ctl->url = ctl_args_get(args, "url");
    if (ctl->url == NULL)
        ctl->url = getenv("JPKI_URL");
    ctl->token_file = ctl_args_get(args, "token-file");
    if (ctl->token_file == NULL)
        ctl->token_file = getenv("JPKI_TOKEN_FILE");
    ctl->cacert = ctl_args_get(args, "cacert");
    ctl->client_cert = ctl_args_get(args, "cert");
    if (ctl->client_cert == NULL)
        ctl->client_cert = getenv("JPKI_CLIENT_CERT");
    ctl->client_key = ctl_args_get(args, "key");
    if (ctl->client_key == NULL)
        ctl->client_key = getenv("JPKI_CLIENT_KEY");
    ctl->rp_token_file = ctl_args_get(args, "rp-token-file");
    if (ctl->rp_token_file == NULL)
        ctl->rp_token_file = getenv("JPKI_RP_TOKEN_FILE");
}

void ctl_cleanup(struct ctl *ctl)
{
    ctl_http_free(ctl->http);
    ctl->http = NULL;
}

static void vfail(struct ctl *ctl, const char *fmt, va_list ap)
{
    fprintf(ctl->err, "jpkictl: %s: ", ctl->cmd_name);
    vfprintf(ctl->err, fmt, ap);
    fputc('\n', ctl->err);
}

int ctl_fail(struct ctl *ctl, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(ctl, fmt, ap);
    va_end(ap);
    return code;
}

int ctl_usage(struct ctl *ctl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(ctl, fmt, ap);
    va_end(ap);
    fprintf(ctl->err, "Try 'jpkictl %s --help'.\n", ctl->cmd_name);
    return CTL_EXIT_USAGE;
}

/* Makes the client at the first request. Returns an exit code. */
static int ctl_connect(struct ctl *ctl, bool auth)
{
    struct jerr err = {0};
    if (ctl->http == NULL) {
        if (ctl->url == NULL || ctl->url[0] == '\0')
            return ctl_usage(ctl, "no service URL: give --url or set JPKI_URL");
        if ((ctl->http = ctl_http_new(ctl->url, ctl->cacert, &err)) == NULL)
            return err.code == JERR_INVALID ? ctl_usage(ctl, "%s", err.msg)
                                            : ctl_fail(ctl, CTL_EXIT_FAILED, "%s", err.msg);
        bool with_cert = (ctl->client_cert != NULL && ctl->client_cert[0] != '\0') ||
                         (ctl->client_key != NULL && ctl->client_key[0] != '\0');
        if ((with_cert &&
             ctl_http_set_client_cert(ctl->http, ctl->client_cert, ctl->client_key, &err) == -1) ||
            (ctl->rp_token_file != NULL && ctl->rp_token_file[0] != '\0' &&
             ctl_http_load_rp_token(ctl->http, ctl->rp_token_file, &err) == -1))
            return err.code == JERR_INVALID ? ctl_usage(ctl, "%s", err.msg)
                                            : ctl_fail(ctl, CTL_EXIT_FAILED, "%s", err.msg);
    }
    if (auth && !ctl_http_has_token(ctl->http)) {
        if (ctl->token_file == NULL || ctl->token_file[0] == '\0')
            return ctl_usage(ctl, "no operator token: give --token-file or set JPKI_TOKEN_FILE");
        if (ctl_http_load_token(ctl->http, ctl->token_file, &err) == -1)
            return ctl_usage(ctl, "%s", err.msg);
    }
    return CTL_EXIT_OK;
}

int ctl_request(struct ctl *ctl, const char *method, const char *path, bool auth,
                const char *content_type, const void *body, size_t len,
                struct ctl_http_reply *reply)
{
    struct jerr err = {0};
    int rc;
    memset(reply, 0, sizeof(*reply));
    if ((rc = ctl_connect(ctl, auth)) != CTL_EXIT_OK)
        return rc;
    if (ctl_http_request(ctl->http, method, path, auth, content_type, body, len, reply, &err) == -1)
        return ctl_fail(ctl, err.code == JERR_UNAVAILABLE ? CTL_EXIT_TRANSPORT : CTL_EXIT_FAILED,
                        "%s", err.msg);
    return CTL_EXIT_OK;
}

int ctl_api_bytes(struct ctl *ctl, const char *method, const char *path, const char *content_type,
                  const void *body, size_t len, json_t **answer)
{
    struct ctl_http_reply reply;
    char line[CTL_OUT_LINE_MAX];
    json_t *root = NULL;
    int rc;

    *answer = NULL;
    if ((rc = ctl_request(ctl, method, path, true, content_type, body, len, &reply)) != CTL_EXIT_OK)
        return rc;
    if (reply.status < 200 || reply.status > 299) {
        if (ctl->json && reply.len > 0) {
            fwrite(reply.body, 1, reply.len, ctl->out);
            fputc('\n', ctl->out);
        }
        ctl_out_api_error(line, sizeof(line), ctl->cmd_name, reply.status, reply.body, reply.len);
        fprintf(ctl->err, "%s\n", line);
        rc = CTL_EXIT_FAILED;
        goto out;
    }
    root = json_loadb(reply.body, reply.len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(root)) {
        rc = ctl_fail(ctl, CTL_EXIT_FAILED, "%ld answer is not a JSON object", reply.status);
        goto out;
    }
    if (ctl->json) {
        fwrite(reply.body, 1, reply.len, ctl->out);
        if (reply.len == 0 || reply.body[reply.len - 1] != '\n')
            fputc('\n', ctl->out);
    }
    *answer = root;
    root = NULL;
out:
    json_decref(root);
    ctl_http_reply_free(&reply);
    return rc;
}

int ctl_api(struct ctl *ctl, const char *method, const char *path, const json_t *body,
            json_t **answer)
{
    char *text = NULL;
    int rc;
    *answer = NULL;
    if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "out of memory");
    rc = ctl_api_bytes(ctl, method, path, text != NULL ? "application/json" : NULL, text,
                       text != NULL ? strlen(text) : 0, answer);
    free(text);
    return rc;
}

int ctl_path(char *out, size_t size, const char *prefix, const char *id, const char *suffix)
{
    char *escaped = ctl_http_escape(id);
    int n;
    if (escaped == NULL)
        return -1;
    n = snprintf(out, size, "%s%s%s", prefix, escaped, suffix != NULL ? suffix : "");
    free(escaped);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

int ctl_api_id(struct ctl *ctl, const char *method, const char *prefix, const char *id,
               const char *suffix, const char *what, const json_t *body, json_t **answer)
{
    char path[CTL_PATH_MAX];
    *answer = NULL;
    if (ctl_path(path, sizeof(path), prefix, id, suffix) == -1)
        return ctl_usage(ctl, "%s is too long", what);
    return ctl_api(ctl, method, path, body, answer);
}

int ctl_api_show(struct ctl *ctl, const char *prefix, const char *id,
                 void (*print)(FILE *f, const json_t *answer))
{
    json_t *answer = NULL;
    int rc = ctl_api_id(ctl, "GET", prefix, id, NULL, "the id", NULL, &answer);
    if (rc == CTL_EXIT_OK && !ctl->json)
        print(ctl->out, answer);
    json_decref(answer);
    return rc;
}
