/*
 * b64: RFC 4648 §4 base64 text to bytes through OpenSSL's decoder — the one decoder of the
 * OCSP GET path, the API's card images and jpkictl's answers. The callers check what the
 * text may hold (an alphabet, a cap) and word the refusal; this only decodes.
 */
#ifndef JPKI_B64_H
#define JPKI_B64_H

#include <stddef.h>

/* Decodes the `len` characters at `text` (line breaks tolerated, as OpenSSL's decoder does)
 * into *out (OPENSSL_malloc'd: OPENSSL_free or OPENSSL_clear_free it) and *out_len. Returns 0;
 * -1 when the text is not base64 or longer than INT_MAX, -2 out of memory; on failure *out is
 * NULL. */
int b64_decode(const char *text, size_t len, unsigned char **out, size_t *out_len);

#endif
