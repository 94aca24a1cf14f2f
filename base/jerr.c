/*
 * jerr: see jerr.h. First error wins; OpenSSL's queue is drained into the message.
 */
#include "base/jerr.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <openssl/err.h>

static int jerr_vset(struct jerr *err, int code, const char *field, const char *fmt,
                     va_list ap)
{
    if (err == NULL || err->code != JERR_NONE)
        return -1;
    err->code = code;
    snprintf(err->field, sizeof(err->field), "%s", field != NULL ? field : "");
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    return -1;
}

int jerr_set(struct jerr *err, int code, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    jerr_vset(err, code, field, fmt, ap);
    va_end(ap);
    return -1;
}

int jerr_oom(struct jerr *err)
{
    return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
}

int jerr_openssl(struct jerr *err, int code, const char *field, const char *fmt, ...)
{
    bool was_set = jerr_is_set(err);
    va_list ap;
    va_start(ap, fmt);
    jerr_vset(err, code, field, fmt, ap);
    va_end(ap);

    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        if (err == NULL || was_set)
            continue; /* drain only: the first error stays */
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        size_t len = strlen(err->msg);
        if (len + 3 < sizeof(err->msg))
            snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", buf);
        was_set = true; /* one OpenSSL reason is enough */
    }
    ERR_clear_error();
    return -1;
}

void jerr_clear(struct jerr *err)
{
    if (err != NULL)
        memset(err, 0, sizeof(*err));
}

bool jerr_is_set(const struct jerr *err)
{
    return err != NULL && err->code != JERR_NONE;
}

const char *jerr_code_name(int code)
{
    switch (code) {
    case JERR_NONE: return "none";
    case JERR_INVALID: return "invalid";
    case JERR_NOT_FOUND: return "not_found";
    case JERR_REFUSED: return "refused";
    case JERR_CONFLICT: return "conflict";
    case JERR_AUTH: return "unauthenticated";
    case JERR_FORBIDDEN: return "forbidden";
    case JERR_TOO_LARGE: return "too_large";
    case JERR_UNAVAILABLE: return "unavailable";
    case JERR_CONFIG: return "config";
    case JERR_CRYPTO: return "crypto";
    case JERR_IO: return "io";
    default: return "internal";
    }
}

void jerr_escape(char *out, size_t out_size, const char *in, size_t in_len)
{
    size_t o = 0;
    if (out_size == 0)
        return;
    for (size_t i = 0; i < in_len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            if (o + 1 >= out_size)
                break;
            out[o++] = (char)c;
        } else {
            if (o + 4 >= out_size)
                break;
            snprintf(out + o, out_size - o, "\\x%02x", c);
            o += 4;
        }
    }
    out[o] = '\0';
}
