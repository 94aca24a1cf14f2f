/*
 * ctl_out: how jpkictl turns what the service sent into text for a terminal — bytes from the
 * network made safe to print (control characters and broken UTF-8 escaped, valid UTF-8 such as
 * names in kanji kept), API errors in words, and the small JSON readers the printers share.
 *
 * Pure functions over buffers, plus writers to a stream the caller gives.
 */
#ifndef JPKI_CTL_OUT_H
#define JPKI_CTL_OUT_H

#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

#include "base/jerr.h"

/* Room for one error line. */
#define CTL_OUT_LINE_MAX 1024

/* Copies `len` bytes of `in` into `out` (always NUL-terminated, cut on a character boundary)
 * with C0 controls, DEL, C1 controls (U+0080..U+009F) and bytes that are not valid UTF-8
 * written as \xNN, and a backslash as \\. Valid UTF-8 text passes unchanged. */
void ctl_out_sanitize(char *out, size_t size, const char *in, size_t len);

/* Writes the NUL-terminated `s`, sanitized the same way, to `f`. NULL writes "-". */
void ctl_out_put(FILE *f, const char *s);

/* "  label value\n", the label padded to 13 columns, the value sanitized (NULL shows "-"). */
void ctl_out_field(FILE *f, const char *label, const char *value);

/* `o` as one line of compact JSON (jpkictl --json); NULL (a failed json_pack) writes nothing. */
void ctl_out_json_line(FILE *f, const json_t *o);

/* `s` (a path or other outside text) sanitized into `buf` for a message. Returns buf. */
const char *ctl_out_shown(const char *s, char *buf, size_t size);

/* Where a new operator token went, shown once: "token written to FILE (mode 0600; …)" when it
 * was written to `token_out`, else the token itself. */
void ctl_out_new_token(FILE *f, const char *token_out, const char *token);

/* Writes a new `token` (an operator's, a relying party's) and a newline to `path` (0600, never
 * over an existing file) and wipes the copy. Returns 0, or -1 with err: JERR_TOO_LARGE for a
 * token over CTL_HTTP_MAX_TOKEN, else why the file was not written. */
int ctl_out_write_token(const char *path, const char *token, struct jerr *err);

/* Words for an error object of the API ({"code","message","field"}): "refused: card c1 is
 * already on hold (field: card)"; without a field, no parenthesis. Outside text sanitized.
 * An object without a code or message gives "(no error description)". */
void ctl_out_error_obj(char *out, size_t size, const json_t *error);

/* The line for a call the service refused, without a newline:
 * "jpkictl: card hold: 409 refused: card c1 is already on hold (field: card)". `body` (len
 * bytes, may be NULL) is the answer; when it is not a JSON {"error":{…}} the line names the
 * status and its reason phrase instead: "jpkictl: ocsp: 502 Bad Gateway". */
void ctl_out_api_error(char *out, size_t size, const char *cmd, long status, const char *body,
                       size_t len);

/* The string member `key` of `obj`; NULL when absent, null or not a string. */
const char *ctl_out_str(const json_t *obj, const char *key);

/* Writes the strings of the JSON array member `key` of `obj` separated by ", "; "none" when
 * the array is empty or absent. */
void ctl_out_list(FILE *f, const json_t *obj, const char *key);

#endif
