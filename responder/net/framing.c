/*
 * framing: see framing.h. Every rule cites the RFC 9110 / RFC 9112 text it follows.
 */
#include "responder/net/framing.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

/* RFC 9110 §5.6.2: token = 1*tchar. */
static bool is_token(const char *s)
{
    static const char tchar_extra[] = "!#$%&'*+-.^_`|~";
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alnum && strchr(tchar_extra, c) == NULL)
            return false;
    }
    return true;
}

/* RFC 9110 §8.6: Content-Length = 1*DIGIT (no sign, no list, no spaces inside). */
static bool is_digits(const char *s)
{
    return *s != '\0' && strspn(s, "0123456789") == strlen(s);
}

const char *framing_problem(enum evhttp_cmd_type method, int major, int minor,
                            const struct evkeyvalq *headers)
{
    int lengths = 0, encodings = 0;
    bool nonzero_length = false;
    const struct evkeyval *h;

    TAILQ_FOREACH(h, headers, next) {
        /* RFC 9112 §5.1: no whitespace between the field name and the colon; a server
         * MUST reject such a message with 400. Any other non-token name is malformed too. */
        if (!is_token(h->key))
            return "malformed header field name";
        if (strcasecmp(h->key, "Content-Length") == 0) {
            lengths++;
            if (!is_digits(h->value))
                return "Content-Length is not a plain decimal number";
            if (strspn(h->value, "0") != strlen(h->value))
                nonzero_length = true;
        } else if (strcasecmp(h->key, "Transfer-Encoding") == 0) {
            encodings++;
            /* The only coding jpkid reads is chunked alone: "gzip, chunked" or an unknown
             * coding would leave the length to a guess (RFC 9112 §6.1: 501 or 400; a close
             * either way). */
            if (strcasecmp(h->value, "chunked") != 0)
                return "Transfer-Encoding other than chunked";
        }
    }
    /* RFC 9112 §6.3 item 5: several Content-Length values are an unrecoverable error. */
    if (lengths > 1)
        return "more than one Content-Length header";
    if (encodings > 1)
        return "more than one Transfer-Encoding header";
    /* RFC 9112 §6.1: both at once is a smuggling attempt; "ought to be handled as an error". */
    if (encodings > 0 && lengths > 0)
        return "both Transfer-Encoding and Content-Length";
    /* RFC 9112 §6.1: Transfer-Encoding came with HTTP/1.1. */
    if (encodings > 0 && (major < 1 || (major == 1 && minor < 1)))
        return "Transfer-Encoding in an HTTP/1.0 request";
    /* libevent reads no body for HEAD and TRACE: one sent with them would be parsed as the
     * next request (RFC 9110 §9.3.2, §9.3.8: content has no meaning there). */
    if ((method == EVHTTP_REQ_HEAD || method == EVHTTP_REQ_TRACE) &&
        (encodings > 0 || nonzero_length))
        return "a body with HEAD or TRACE";
    return NULL;
}
