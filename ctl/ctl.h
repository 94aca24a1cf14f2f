/*
 * ctl: what every jpkictl command shares while it runs — where the service is (--url or
 * JPKI_URL) and the token (--token-file or JPKI_TOKEN_FILE, DESIGN §2), the output streams,
 * --json, the exit codes, and calls to the operator API that turn every refusal into one line in
 * words on the error stream:
 *
 *   jpkictl: card hold: 409 refused: card c1 is already on hold (field: card)
 *
 * Exit codes: 0 ok; 1 the service refused, or a check failed (OCSP not good, a CRL that does not
 * verify, a file that cannot be written); 2 usage; 3 the service could not be reached.
 * Messages on the error stream carry only ids and what the service itself answered, never
 * personal data of our own making.
 */
#ifndef JPKI_CTL_H
#define JPKI_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

#include "ctl/ctl_args.h"
#include "ctl/ctl_http.h"

enum ctl_exit {
    CTL_EXIT_OK = 0,
    CTL_EXIT_FAILED = 1,
    CTL_EXIT_USAGE = 2,
    CTL_EXIT_TRANSPORT = 3,
};

/* Room for a request path with an escaped id. */
#define CTL_PATH_MAX 512

struct ctl {
    char cmd_name[64]; /* "card hold" */
    const struct ctl_args *args;
    bool json;
    FILE *out, *err;
    const char *url;        /* NULL when neither --url nor JPKI_URL */
    const char *token_file; /* NULL when neither --token-file nor JPKI_TOKEN_FILE */
    const char *cacert;
    const char *client_cert, *client_key; /* --cert/--key or JPKI_CLIENT_CERT/KEY; NULL = none */
    const char *rp_token_file;            /* --rp-token-file or JPKI_RP_TOKEN_FILE; NULL = none */
    struct ctl_http *http; /* made at the first request */
};

/* Fills ctl for running args->cmd: the options first, then the environment. */
void ctl_init(struct ctl *ctl, const struct ctl_args *args, FILE *out, FILE *err);

/* Frees the client (wiping the token). */
void ctl_cleanup(struct ctl *ctl);

/* Prints "jpkictl: CMD: message" on the error stream and returns `code`. */
int ctl_fail(struct ctl *ctl, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Same, followed by "Try 'jpkictl CMD --help'."; returns CTL_EXIT_USAGE. */
int ctl_usage(struct ctl *ctl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sends one request (the token when `auth`) and fills *reply with whatever HTTP answer came
 * back. Returns CTL_EXIT_OK, or the exit code after printing why: usage (no URL, bad URL, no
 * token) or transport. */
int ctl_request(struct ctl *ctl, const char *method, const char *path, bool auth,
                const char *content_type, const void *body, size_t len,
                struct ctl_http_reply *reply);

/* An operator API call with a JSON body (`body` borrowed, NULL for none) or raw bytes
 * (ctl_api_bytes). On a 2xx answer that is a JSON object, sets *answer (a new reference) and
 * returns CTL_EXIT_OK; with --json the answer is first printed as it came. Otherwise prints the
 * refusal in words (and with --json the answer's body on the output) and returns its exit code. */
int ctl_api(struct ctl *ctl, const char *method, const char *path, const json_t *body,
            json_t **answer);
int ctl_api_bytes(struct ctl *ctl, const char *method, const char *path, const char *content_type,
                  const void *body, size_t len, json_t **answer);

/* prefix + `id` percent-encoded + suffix ("/v1/cards/", "c1", "/hold") into out. Returns 0, or
 * -1 when it does not fit (or out of memory). */
int ctl_path(char *out, size_t size, const char *prefix, const char *id, const char *suffix);

/* ctl_api on prefix + `id` + suffix (ctl_path; suffix may be NULL). An id too long for a path
 * is a usage error "`what` is too long" (what: "the id", "the operator name"). */
int ctl_api_id(struct ctl *ctl, const char *method, const char *prefix, const char *id,
               const char *suffix, const char *what, const json_t *body, json_t **answer);

/* The `show` commands: GET prefix + `id` (ctl_api_id); on success and without --json, `print`
 * writes the answer in words to the output. Returns an exit code. */
int ctl_api_show(struct ctl *ctl, const char *prefix, const char *id,
                 void (*print)(FILE *f, const json_t *answer));

#endif
