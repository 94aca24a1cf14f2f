/*
 * ctl_out: see ctl_out.h. The UTF-8 check follows RFC 3629 §4 (no overlongs, no surrogates,
 * nothing above U+10FFFF); a terminal must never receive escape sequences from the network,
 * so C0/C1 controls are escaped even when they are valid UTF-8.
 */
#include "ctl/ctl_out.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/fsutil.h"
#include "base/httpcode.h"
#include "ctl/ctl_http.h"

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0 when it is not one. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* bounds of the second byte, RFC 3629 §4 */
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

/* True when the sequence at s (of seq_len bytes) must be shown escaped. */
static bool is_control(const unsigned char *s, size_t seq_len)
{
    if (seq_len == 1)
        return s[0] < 0x20 || s[0] == 0x7F;
    return seq_len == 2 && s[0] == 0xC2 && s[1] < 0xA0; /* U+0080..U+009F */
}

/* Calls emit(piece, piece_len, ctx) for each safe piece of `in`; stops when emit returns false. */
static void sanitize_walk(const char *in, size_t len,
                          bool (*emit)(const char *piece, size_t n, void *ctx), void *ctx)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_seq_len(s + i, len - i);
        char esc[24];
        if (n == 0 || is_control(s + i, n)) {
            size_t count = n == 0 ? 1 : n;
            size_t w = 0;
            for (size_t k = 0; k < count; k++)
                w += (size_t)snprintf(esc + w, sizeof(esc) - w, "\\x%02X", s[i + k]);
            if (!emit(esc, w, ctx))
                return;
            i += count;
        } else if (s[i] == '\\') {
            if (!emit("\\\\", 2, ctx))
                return;
            i++;
        } else {
            if (!emit(in + i, n, ctx))
                return;
            i += n;
        }
    }
}

struct buf_sink {
    char *out;
    size_t size, used;
};

static bool emit_buf(const char *piece, size_t n, void *ctx)
{
    struct buf_sink *b = ctx;
    if (b->used + n + 1 > b->size)
        return false; /* a whole piece or nothing: never half a character */
    memcpy(b->out + b->used, piece, n);
    b->used += n;
    b->out[b->used] = '\0';
    return true;
}

static bool emit_file(const char *piece, size_t n, void *ctx)
{
    return fwrite(piece, 1, n, (FILE *)ctx) == n;
}

void ctl_out_sanitize(char *out, size_t size, const char *in, size_t len)
{
    struct buf_sink b = {out, size, 0};
    if (size == 0)
        return;
    out[0] = '\0';
    if (in != NULL)
        sanitize_walk(in, len, emit_buf, &b);
}

void ctl_out_put(FILE *f, const char *s)
{
    if (s == NULL)
        fputs("-", f);
    else
        sanitize_walk(s, strlen(s), emit_file, f);
}

const char *ctl_out_str(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

void ctl_out_error_obj(char *out, size_t size, const json_t *error)
{
    const char *code = ctl_out_str(error, "code");
    const char *message = ctl_out_str(error, "message");
    const char *field = ctl_out_str(error, "field");
    char code_s[64], message_s[CTL_OUT_LINE_MAX / 2], field_s[96];

    if (code == NULL || message == NULL) {
        snprintf(out, size, "(no error description)");
        return;
    }
    ctl_out_sanitize(code_s, sizeof(code_s), code, strlen(code));
    ctl_out_sanitize(message_s, sizeof(message_s), message, strlen(message));
    if (field != NULL && field[0] != '\0') {
        ctl_out_sanitize(field_s, sizeof(field_s), field, strlen(field));
        snprintf(out, size, "%s: %s (field: %s)", code_s, message_s, field_s);
    } else {
        snprintf(out, size, "%s: %s", code_s, message_s);
    }
}

void ctl_out_api_error(char *out, size_t size, const char *cmd, long status, const char *body,
                       size_t len)
{
    json_t *root = NULL;
    const json_t *error = NULL;
    char words[CTL_OUT_LINE_MAX];

    if (body != NULL && len > 0)
        root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    error = json_is_object(root) ? json_object_get(root, "error") : NULL;
    if (json_is_object(error) && ctl_out_str(error, "code") != NULL &&
        ctl_out_str(error, "message") != NULL) {
        ctl_out_error_obj(words, sizeof(words), error);
        snprintf(out, size, "jpkictl: %s: %ld %s", cmd, status, words);
    } else {
        snprintf(out, size, "jpkictl: %s: %ld %s", cmd, status, http_reason((int)status));
    }
    json_decref(root);
}

void ctl_out_list(FILE *f, const json_t *obj, const char *key)
{
    const json_t *arr = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    size_t i, shown = 0;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v))
            continue;
        fputs(shown++ > 0 ? ", " : "", f);
        ctl_out_put(f, json_string_value(v));
    }
    if (shown == 0)
        fputs("none", f);
}

void ctl_out_new_token(FILE *f, const char *token_out, const char *token)
{
    if (token_out != NULL) {
        fputs("token written to ", f);
        ctl_out_put(f, token_out);
        fputs(" (mode 0600; it is shown once)\n", f);
    } else {
        fputs("token (shown once): ", f);
        ctl_out_put(f, token);
        fputc('\n', f);
    }
}

void ctl_out_field(FILE *f, const char *label, const char *value)
{
    fprintf(f, "  %-13s ", label);
    ctl_out_put(f, value);
    fputc('\n', f);
}

void ctl_out_json_line(FILE *f, const json_t *o)
{
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    if (text != NULL)
        fprintf(f, "%s\n", text);
    free(text);
}

const char *ctl_out_shown(const char *s, char *buf, size_t size)
{
    ctl_out_sanitize(buf, size, s, strlen(s));
    return buf;
}

int ctl_out_write_token(const char *path, const char *token, struct jerr *err)
{
    char line[CTL_HTTP_MAX_TOKEN + 2];
    int rc;
    int n = snprintf(line, sizeof(line), "%s\n", token);
    if (n < 0 || (size_t)n >= sizeof(line))
        rc = jerr_set(err, JERR_TOO_LARGE, "token", "the token is over %d bytes",
                      CTL_HTTP_MAX_TOKEN);
    else
        rc = fsutil_write_atomic(path, line, (size_t)n, 0600, true, err);
    OPENSSL_cleanse(line, sizeof(line));
    return rc;
}
