/*
 * jerr: the one error type of jpki.
 *
 * A function that can fail returns 0/-1 (or a pointer/NULL) and fills a struct jerr that the
 * caller passed in: a code (what kind of failure, which the HTTP layer maps to a status), the
 * field or configuration key at fault, and a message for humans. The first error wins: once a
 * code is set, later jerr_set calls leave the struct alone, so cleanup failures never hide the
 * root cause. Library code never prints; programs print err->msg.
 */
#ifndef JPKI_JERR_H
#define JPKI_JERR_H

#include <stdbool.h>
#include <stddef.h>

enum jerr_code {
    JERR_NONE = 0,
    JERR_INVALID,     /* malformed or invalid input (HTTP 400) */
    JERR_NOT_FOUND,   /* unknown id (404) */
    JERR_REFUSED,     /* a lifecycle rule refuses the event (409) */
    JERR_CONFLICT,    /* already exists / duplicate (409) */
    JERR_AUTH,        /* not authenticated (401) */
    JERR_FORBIDDEN,   /* authenticated, not allowed (403) */
    JERR_TOO_LARGE,   /* over a size cap (413) */
    JERR_UNAVAILABLE, /* registry busy, read-only or full (503) */
    JERR_CONFIG,      /* bad configuration */
    JERR_CRYPTO,      /* an OpenSSL operation failed */
    JERR_IO,          /* a file or database operation failed */
    JERR_INTERNAL,    /* a bug or resource exhaustion (500) */
};

struct jerr {
    int code;
    char field[64];
    char msg[512];
};

/* Sets err (unless already set: first error wins). Returns -1 so callers can
 * `return jerr_set(...)`. `field` may be NULL. err may be NULL. */
int jerr_set(struct jerr *err, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Like jerr_set, then appends OpenSSL's error queue (drained and cleared) to the message. */
int jerr_openssl(struct jerr *err, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* jerr_set(err, JERR_INTERNAL, NULL, "out of memory"): returns -1. */
int jerr_oom(struct jerr *err);

void jerr_clear(struct jerr *err);
bool jerr_is_set(const struct jerr *err);

/* Short stable name of a code ("invalid", "not_found", ...), used in JSON error bodies. */
const char *jerr_code_name(int code);

/* Copies `in` into `out` (size out_size, always NUL-terminated) with every byte outside
 * printable ASCII escaped as \xNN, so that outside bytes never reach a message raw. */
void jerr_escape(char *out, size_t out_size, const char *in, size_t in_len);

#endif
