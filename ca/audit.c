/*
 * audit: the hash chain of the audit log (DESIGN §7). Pure: no I/O; the store calls
 * audit_hash when it appends a row and again when it verifies the chain.
 *
 * hash(row) = SHA-256(prev_hash || field_1 || ... || field_7), where each field is written as a
 * 4-byte big-endian length followed by its bytes, in this order: seq, at (each as 8 bytes,
 * big-endian two's complement), actor, action, target, outcome, detail (UTF-8 bytes, no NUL).
 * The length prefix keeps field boundaries unambiguous: moving bytes from one field into the
 * next ("ab","c" vs "a","bc") changes the hash.
 */
#include "ca/audit.h"

#include <string.h>
#include <openssl/evp.h>

static int put_bytes(EVP_MD_CTX *md, const void *data, size_t len)
{
    unsigned char prefix[4];

    if (len > UINT32_MAX)
        return -1;
    prefix[0] = (unsigned char)(len >> 24);
    prefix[1] = (unsigned char)(len >> 16);
    prefix[2] = (unsigned char)(len >> 8);
    prefix[3] = (unsigned char)len;
    if (EVP_DigestUpdate(md, prefix, sizeof(prefix)) != 1)
        return -1;
    if (len > 0 && EVP_DigestUpdate(md, data, len) != 1)
        return -1;
    return 0;
}

static int put_int64(EVP_MD_CTX *md, int64_t value)
{
    unsigned char be[8];
    uint64_t v = (uint64_t)value;

    for (int i = 7; i >= 0; i--) {
        be[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
    return put_bytes(md, be, sizeof(be));
}

/* A field of the fixed-size entry must hold its NUL: an unterminated one is refused rather
 * than hashed past its end. */
static int put_text(EVP_MD_CTX *md, const char *text, size_t size)
{
    size_t len = strnlen(text, size);

    if (len == size)
        return -1;
    return put_bytes(md, text, len);
}

int audit_hash(const struct audit_entry *e, const unsigned char prev[AUDIT_HASH_LEN],
               unsigned char out[AUDIT_HASH_LEN])
{
    EVP_MD_CTX *md = NULL;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    int ret = -1;

    if (e == NULL || prev == NULL || out == NULL)
        goto out;
    if ((md = EVP_MD_CTX_new()) == NULL)
        goto out;
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        goto out;
    if (EVP_DigestUpdate(md, prev, AUDIT_HASH_LEN) != 1)
        goto out;
    if (put_int64(md, e->seq) == -1 || put_int64(md, e->at) == -1 ||
        put_text(md, e->actor, sizeof(e->actor)) == -1 ||
        put_text(md, e->action, sizeof(e->action)) == -1 ||
        put_text(md, e->target, sizeof(e->target)) == -1 ||
        put_text(md, e->outcome, sizeof(e->outcome)) == -1 ||
        put_text(md, e->detail, sizeof(e->detail)) == -1)
        goto out;
    if (EVP_DigestFinal_ex(md, digest, &digest_len) != 1 || digest_len != AUDIT_HASH_LEN)
        goto out;
    memcpy(out, digest, AUDIT_HASH_LEN);
    ret = 0;
out:
    EVP_MD_CTX_free(md);
    return ret;
}
