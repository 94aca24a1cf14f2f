/*
 * ctl_http: jpkictl's HTTP client (libcurl) — one connection kept alive to one service, requests
 * of bytes, answers of bytes with their status. It knows no endpoint and no JSON.
 *
 * Only http:// and https:// are spoken, redirects are never followed (a bearer token must not
 * travel to another host), https verifies the server against the system's CAs or --cacert, and
 * an answer larger than CTL_HTTP_MAX_REPLY_BYTES is cut off with an error. The token is sent only
 * on requests that ask for it and is wiped when the client is freed.
 *
 * Failures of the transport (no connection, timeout, TLS, oversized answer) return -1 with err
 * JERR_UNAVAILABLE; any HTTP status is a successful transfer and is the caller's to judge.
 */
#ifndef JPKI_CTL_HTTP_H
#define JPKI_CTL_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "base/jerr.h"

/* An answer in memory (a complete CRL of a million entries is ~49 MB, DESIGN §5). */
#define CTL_HTTP_MAX_REPLY_BYTES (512L * 1024 * 1024)
/* A base URL, and a token read from a file. */
#define CTL_HTTP_MAX_URL 2048
#define CTL_HTTP_MAX_TOKEN 512
/* Seconds to connect; seconds an answer may stall (below one byte a second) before giving up. */
#define CTL_HTTP_CONNECT_TIMEOUT_S 10
#define CTL_HTTP_STALL_TIMEOUT_S 120

struct ctl_http;

struct ctl_http_reply {
    long status;
    char *body; /* NUL-terminated for convenience; len excludes the NUL */
    size_t len;
    char content_type[128];
};

/* Checks a base URL: http:// or https://, a host, at most CTL_HTTP_MAX_URL bytes, no control
 * characters or spaces. Returns 0, or -1 with err (JERR_INVALID, field "--url"). */
int ctl_http_check_url(const char *url, struct jerr *err);

/* A client of the service at `base_url` (trailing slashes dropped). `cacert` may be NULL.
 * Returns NULL with err. */
struct ctl_http *ctl_http_new(const char *base_url, const char *cacert, struct jerr *err);

/* Reads the bearer token from `path`: the first line, surrounding white space trimmed; it must
 * be 1..CTL_HTTP_MAX_TOKEN printable ASCII characters. Returns 0, or -1 with err
 * (field "--token-file"). */
int ctl_http_load_token(struct ctl_http *h, const char *path, struct jerr *err);

bool ctl_http_has_token(const struct ctl_http *h);

/* A relying party's bearer token from `path` (as ctl_http_load_token; field "--rp-token-file"),
 * sent on the requests that carry no operator token: OCSP, CRLs (DESIGN §12). */
int ctl_http_load_rp_token(struct ctl_http *h, const char *path, struct jerr *err);

/* A TLS client certificate and key (PEM files; both needed, JERR_INVALID naming "--cert" or
 * "--key") presented on https:// connections: a relying party's, of jpki's relying-party CA,
 * or an operator's. Returns 0 or -1. */
int ctl_http_set_client_cert(struct ctl_http *h, const char *cert, const char *key,
                             struct jerr *err);

/* Sends `method` `path` (starting with '/', appended to the base URL) with `body` (len bytes,
 * may be NULL) of `content_type` (may be NULL), the bearer token when `auth`. Fills *reply
 * (caller frees with ctl_http_reply_free) on any HTTP answer. Returns 0, or -1 with err. */
int ctl_http_request(struct ctl_http *h, const char *method, const char *path, bool auth,
                     const char *content_type, const void *body, size_t len,
                     struct ctl_http_reply *reply, struct jerr *err);

void ctl_http_reply_free(struct ctl_http_reply *reply);

/* `s` percent-encoded as one path segment (RFC 3986 §2.1: everything but unreserved
 * characters). malloc'd; NULL when out of memory. */
char *ctl_http_escape(const char *s);

/* The base URL the client was made with (trailing slashes dropped). */
const char *ctl_http_base_url(const struct ctl_http *h);

/* Wipes the token and frees. NULL is a no-op. */
void ctl_http_free(struct ctl_http *h);

#endif
