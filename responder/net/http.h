/*
 * http: what every HTTP handler of jpkid shares — JSON error bodies (DESIGN §6:
 * {"error":{"code":…,"message":…,"field":…}} with the right status), the jerr → status map,
 * replies of bytes, and the HTTP caching rules of RFC 7232 / RFC 7234 as pure functions
 * (ETag comparison, HTTP-date, 304 decisions, max-age) so that they are tested without a socket.
 *
 * It routes nothing and owns nothing: the server (server.h) dispatches, handlers answer with
 * these helpers. Every function that replies takes the request and leaves it answered.
 */
#ifndef JPKI_HTTP_H
#define JPKI_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "base/httpcode.h" /* http_status_for, http_reason */
#include "base/jerr.h"

struct evhttp_request;

/* ETag of a SHA-256: the quoted hex, 64 + 2 quotes + NUL. */
#define HTTP_ETAG_MAX 67
/* IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" + NUL. */
#define HTTP_DATE_MAX 30
/* Allow header of every method evhttp knows. */
#define HTTP_ALLOW_MAX 64

/* Answers `status` with a JSON error body. `code` is the stable error name ("not_found",
 * "method_not_allowed", …), `field` may be NULL (JSON null). The message is formatted; it must
 * not carry outside bytes unescaped (jerr_escape). */
void http_send_error(struct evhttp_request *req, int status, const char *code, const char *field,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Answers a failure: the status of err->code, its code name, field and message. For statuses
 * of 500 and above the message says only "internal error" (the detail goes to the log). */
void http_send_jerr(struct evhttp_request *req, const struct jerr *err);

/* 405 with an Allow header listing `allowed` (a mask of enum evhttp_cmd_type bits) and a JSON
 * error body. RFC 9110 §15.5.6. */
void http_send_method_not_allowed(struct evhttp_request *req, unsigned allowed);

/* Writes "GET, HEAD, POST" for a mask of enum evhttp_cmd_type bits into buf. Returns buf. */
char *http_allow_header(unsigned methods, char *buf, size_t size);

/* Answers `status` with `len` bytes of `content_type` (copied). A HEAD request gets the headers
 * (Content-Length included) and no body. */
void http_send_bytes(struct evhttp_request *req, int status, const char *content_type,
                     const void *data, size_t len);

/* Same with a NUL-terminated JSON text (application/json). */
void http_send_json_text(struct evhttp_request *req, int status, const char *json);

/* ---- caching (pure) ---- */

/* out = "\"<hex of digest>\"" (a strong validator: the bytes' SHA-256). */
void http_etag_sha256(const unsigned char digest[32], char out[HTTP_ETAG_MAX]);

/* RFC 7232 §3.2: true when If-None-Match `header` ("*" or a list of entity-tags, weak ones
 * included) matches `etag` under the weak comparison of §2.3.2. A malformed list matches
 * nothing. */
bool http_etag_match(const char *header, const char *etag);

/* RFC 7231 §7.1.1.1: parses an HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime
 * forms recipients must accept). Returns 0 and sets *out, or -1. */
int http_date_parse(const char *s, time_t *out);

/* IMF-fixdate of t into buf (at least HTTP_DATE_MAX). Returns buf. */
char *http_date_format(time_t t, char *buf, size_t size);

/* RFC 7232 §6: the answer is 304 when If-None-Match is present and matches `etag`; when it is
 * absent, when If-Modified-Since is a valid date not older than `last_modified`. Either header
 * may be NULL. */
bool http_is_not_modified(const char *if_none_match, const char *if_modified_since,
                          const char *etag, time_t last_modified);

/* Seconds a response may be cached: next_update - now, never negative; 0 when next_update is
 * unknown (0). */
long http_max_age(time_t next_update, time_t now);

/* RFC 5861 §4 stale-if-error: how long after `max_age_s` runs out a cache may still serve an
 * answer valid until `next_update` when the origin fails — up to next_update, never beyond
 * (then the answer itself is out of date). Never negative; 0 when next_update is unknown. */
long http_stale_if_error(time_t next_update, time_t now, long max_age_s);

/* Sets ETag, Last-Modified and "Cache-Control: public, max-age=N" on the reply, with
 * ", stale-if-error=S" when stale_if_error_s > 0. */
void http_set_cache_headers(struct evhttp_request *req, const char *etag, time_t last_modified,
                            long max_age_s, long stale_if_error_s);

/* A cacheable answer's first half: sets the cache headers (http_set_cache_headers) and, when
 * the request's If-None-Match or If-Modified-Since shows the client's copy is current
 * (http_is_not_modified), sends 304. Returns true when it has answered; else the caller sends
 * the body. */
bool http_answer_if_not_modified(struct evhttp_request *req, const char *etag,
                                 time_t last_modified, long max_age_s, long stale_if_error_s);

/* True when the request target is longer than JPKI_HTTP_MAX_URI_BYTES (answer 414). */
bool http_uri_is_too_long(const char *uri);

#endif
