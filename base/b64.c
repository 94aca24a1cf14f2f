/*
 * b64: base64 text to bytes, the one decoder (see b64.h).
 */
#include "base/b64.h"

#include <limits.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

int b64_decode(const char *text, size_t len, unsigned char **out, size_t *out_len)
{
    EVP_ENCODE_CTX *ctx = NULL;
    unsigned char *buf = NULL;
    int n = 0, tail = 0, rc = -2;

    *out = NULL;
    if (len > INT_MAX)
        return -1;
    /* Every 4 characters ('=' included) give at most 3 bytes; the decoder writes no more. */
    if ((buf = OPENSSL_malloc(len / 4 * 3 + 3)) == NULL || (ctx = EVP_ENCODE_CTX_new()) == NULL)
        goto out;
    EVP_DecodeInit(ctx);
    rc = -1;
    if (EVP_DecodeUpdate(ctx, buf, &n, (const unsigned char *)text, (int)len) < 0 ||
        EVP_DecodeFinal(ctx, buf + n, &tail) != 1)
        goto out;
    *out = buf;
    *out_len = (size_t)n + (size_t)tail;
    buf = NULL;
    rc = 0;
out:
    EVP_ENCODE_CTX_free(ctx);
    OPENSSL_clear_free(buf, len / 4 * 3 + 3);
    return rc;
}
