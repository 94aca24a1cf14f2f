/*
 * http: see http.h. Error bodies are built with Jansson, never by hand; dates go through
 * strptime/strftime in the C locale; entity-tag lists are read per RFC 7232 §2.3 and §3.2.
 */
#define _XOPEN_SOURCE 700 /* strptime */
#include "responder/net/http.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#include "base/hex.h"
#include "base/limits.h"
#include "responder/net/log.h"

static bool request_is_head(struct evhttp_request *req)
{
    return evhttp_request_get_command(req) == EVHTTP_REQ_HEAD;
}

void http_send_bytes(struct evhttp_request *req, int status, const char *content_type,
                     const void *data, size_t len)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    char length[32];

    evhttp_add_header(out, "Content-Type", content_type);
    /* Set here, not by evhttp: it leaves Content-Length out of HEAD answers, and RFC 9110 §9.3.2
     * wants the same header fields as for GET. */
    snprintf(length, sizeof(length), "%zu", len);
    evhttp_remove_header(out, "Content-Length");
    evhttp_add_header(out, "Content-Length", length);
    if (!request_is_head(req) && len > 0)
        evbuffer_add(evhttp_request_get_output_buffer(req), data, len);
    evhttp_send_reply(req, status, http_reason(status), NULL);
}

void http_send_json_text(struct evhttp_request *req, int status, const char *json)
{
    http_send_bytes(req, status, "application/json", json, strlen(json));
}

static json_t *json_text(const char *s)
{
    json_t *j = json_string(s);
    if (j == NULL) { /* not UTF-8: send it escaped rather than not at all */
        char escaped[1024];
        jerr_escape(escaped, sizeof(escaped), s, strlen(s));
        j = json_string(escaped);
    }
    return j;
}

static void send_error_text(struct evhttp_request *req, int status, const char *code,
                            const char *field, const char *message)
{
    json_t *inner = json_object();
    json_t *body = json_object();
    char *text = NULL;

    if (inner != NULL && body != NULL && json_object_set_new(inner, "code", json_text(code)) == 0 &&
        json_object_set_new(inner, "message", json_text(message)) == 0 &&
        json_object_set_new(inner, "field",
                            field != NULL && *field != '\0' ? json_text(field) : json_null()) ==
            0 &&
        json_object_set(body, "error", inner) == 0)
        text = json_dumps(body, JSON_COMPACT);
    if (text != NULL) {
        http_send_json_text(req, status, text);
    } else {
        /* Out of memory: still a JSON body, fixed text. */
        http_send_json_text(req, status,
                            "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\","
                            "\"field\":null}}");
    }
    free(text);
    json_decref(inner);
    json_decref(body);
}

void http_send_error(struct evhttp_request *req, int status, const char *code, const char *field,
                     const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    send_error_text(req, status, code, field, message);
}

void http_send_jerr(struct evhttp_request *req, const struct jerr *err)
{
    int code = err != NULL && err->code != JERR_NONE ? err->code : JERR_INTERNAL;
    int status = http_status_for(code);
    if (err == NULL || (status >= 500 && status != 503)) {
        log_error("%s %s: %s", jerr_code_name(code), err != NULL ? err->field : "",
                  err != NULL ? err->msg : "(no error detail)");
        send_error_text(req, status, "internal", NULL, "internal error");
        return;
    }
    send_error_text(req, status, jerr_code_name(code), err->field, err->msg);
}

static const struct {
    unsigned bit;
    const char *name;
} http_methods[] = {
    {EVHTTP_REQ_GET, "GET"},     {EVHTTP_REQ_HEAD, "HEAD"},     {EVHTTP_REQ_POST, "POST"},
    {EVHTTP_REQ_PUT, "PUT"},     {EVHTTP_REQ_DELETE, "DELETE"}, {EVHTTP_REQ_OPTIONS, "OPTIONS"},
    {EVHTTP_REQ_PATCH, "PATCH"}, {EVHTTP_REQ_TRACE, "TRACE"},   {EVHTTP_REQ_CONNECT, "CONNECT"},
};

char *http_allow_header(unsigned methods, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return buf;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(http_methods) / sizeof(http_methods[0]); i++) {
        if ((methods & http_methods[i].bit) == 0)
            continue;
        int n =
            snprintf(buf + used, size - used, "%s%s", used > 0 ? ", " : "", http_methods[i].name);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

void http_send_method_not_allowed(struct evhttp_request *req, unsigned allowed)
{
    char allow[HTTP_ALLOW_MAX];
    http_allow_header(allowed, allow, sizeof(allow));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
    http_send_error(req, 405, "method_not_allowed", NULL, "method not allowed; allowed: %s", allow);
}

/* ---- caching ---- */

void http_etag_sha256(const unsigned char digest[32], char out[HTTP_ETAG_MAX])
{
    out[0] = '"';
    hex_encode(digest, 32, out + 1);
    out[65] = '"';
    out[66] = '\0';
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 7232 §2.3: etagc = %x21 / %x23-7E / obs-text. */
static bool is_etagc(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80;
}

bool http_etag_match(const char *header, const char *etag)
{
    if (header == NULL || etag == NULL)
        return false;
    /* Weak comparison (§2.3.2): the opaque-tags are compared, W/ ignored on both sides. */
    if (strncmp(etag, "W/", 2) == 0)
        etag += 2;
    size_t etag_len = strlen(etag);

    const char *p = header;
    while (is_ows(*p))
        p++;
    if (*p == '*') {
        p++;
        while (is_ows(*p))
            p++;
        return *p == '\0';
    }
    bool matched = false, any = false;
    for (;;) {
        while (is_ows(*p) || *p == ',') /* 1#element allows empty elements */
            p++;
        if (*p == '\0')
            break;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        if (*p != '"')
            return false; /* malformed: match nothing */
        const char *start = p++;
        while (is_etagc((unsigned char)*p))
            p++;
        if (*p != '"')
            return false;
        p++;
        any = true;
        if ((size_t)(p - start) == etag_len && memcmp(start, etag, etag_len) == 0)
            matched = true;
        while (is_ows(*p))
            p++;
        if (*p != ',' && *p != '\0')
            return false;
    }
    return any && matched;
}

int http_date_parse(const char *s, time_t *out)
{
    /* IMF-fixdate, then the obsolete RFC 850 and asctime forms (RFC 7231 §7.1.1.1). */
    static const char *const formats[] = {
        "%a, %d %b %Y %H:%M:%S GMT",
        "%A, %d-%b-%y %H:%M:%S GMT",
        "%a %b %e %H:%M:%S %Y",
    };
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        const char *end = strptime(s, formats[i], &tm);
        if (end == NULL || *end != '\0')
            continue;
        time_t t = timegm(&tm);
        if (t == (time_t)-1)
            return -1;
        *out = t;
        return 0;
    }
    return -1;
}

char *http_date_format(time_t t, char *buf, size_t size)
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, size, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
        snprintf(buf, size, "Thu, 01 Jan 1970 00:00:00 GMT");
    return buf;
}

bool http_is_not_modified(const char *if_none_match, const char *if_modified_since,
                          const char *etag, time_t last_modified)
{
    /* §6 step 3: If-None-Match decides when present; If-Modified-Since is then ignored. */
    if (if_none_match != NULL)
        return http_etag_match(if_none_match, etag);
    time_t since;
    if (if_modified_since != NULL && http_date_parse(if_modified_since, &since) == 0)
        return last_modified <= since;
    return false;
}

long http_max_age(time_t next_update, time_t now)
{
    if (next_update == 0 || next_update <= now)
        return 0;
    return (long)(next_update - now);
}

long http_stale_if_error(time_t next_update, time_t now, long max_age_s)
{
    long left = http_max_age(next_update, now) - (max_age_s > 0 ? max_age_s : 0);
    return left > 0 ? left : 0;
}

void http_set_cache_headers(struct evhttp_request *req, const char *etag, time_t last_modified,
                            long max_age_s, long stale_if_error_s)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    char date[HTTP_DATE_MAX], cache[96];

    if (etag != NULL)
        evhttp_add_header(out, "ETag", etag);
    if (last_modified > 0)
        evhttp_add_header(out, "Last-Modified",
                          http_date_format(last_modified, date, sizeof(date)));
    int n = snprintf(cache, sizeof(cache), "public, max-age=%ld", max_age_s < 0 ? 0 : max_age_s);
    if (stale_if_error_s > 0 && n > 0 && (size_t)n < sizeof(cache))
        snprintf(cache + n, sizeof(cache) - (size_t)n, ", stale-if-error=%ld", stale_if_error_s);
    evhttp_add_header(out, "Cache-Control", cache);
}

bool http_answer_if_not_modified(struct evhttp_request *req, const char *etag,
                                 time_t last_modified, long max_age_s, long stale_if_error_s)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    http_set_cache_headers(req, etag, last_modified, max_age_s, stale_if_error_s);
    if (!http_is_not_modified(evhttp_find_header(in, "If-None-Match"),
                              evhttp_find_header(in, "If-Modified-Since"), etag, last_modified))
        return false;
    evhttp_send_reply(req, 304, http_reason(304), NULL);
    return true;
}

bool http_uri_is_too_long(const char *uri)
{
    return uri != NULL && strnlen(uri, JPKI_HTTP_MAX_URI_BYTES + 1) > JPKI_HTTP_MAX_URI_BYTES;
}
