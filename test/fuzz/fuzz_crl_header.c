/*
 * fuzz_crl_header: the CRL header reader the public endpoints serve CRLs with
 * (crlcache_read_times, responder/crlcache.h): thisUpdate and nextUpdate found by walking the
 * TLVs of a DER CertificateList (RFC 5280 §5.1) without decoding the whole CRL.
 *
 * The reader sees the first head_len bytes of a file of total_len bytes. Each input is read
 * twice: whole (head = file), and with only its first half in `head` — as with a CRL longer
 * than CRLCACHE_HEAD_BYTES — each time from a buffer of exactly head_len bytes, so that a read
 * past the head is caught by AddressSanitizer. Seeds: CRLs from `openssl ca -gencrl` and
 * headers built with `openssl asn1parse -genconf` (v1, no nextUpdate, GeneralizedTime, bad
 * times).
 */
#include <string.h>
#include <time.h>

#include "responder/crlcache.h"
#include "fuzz.h"

/* No Time decodes to this (years 0..9999 lie within +-2^38 s): "not written". */
#define NOT_WRITTEN (-((time_t)1 << 62))

static void read_and_check(const uint8_t *data, size_t head_len, size_t total_len)
{
    struct jerr err = {0};
    time_t this_update = NOT_WRITTEN, next_update = NOT_WRITTEN;
    unsigned char *head = malloc(head_len > 0 ? head_len : 1);
    if (head == NULL)
        return;
    memcpy(head, data, head_len);
    if (crlcache_read_times(head, head_len, total_len, &this_update, &next_update, &err) == 0) {
        FUZZ_CHECK(err.code == JERR_NONE);
        FUZZ_CHECK(this_update != NOT_WRITTEN && next_update != NOT_WRITTEN);
    } else {
        FUZZ_CHECK(err.code == JERR_INVALID && strcmp(err.field, "crl") == 0);
    }
    free(head);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_and_check(data, size, size);
    read_and_check(data, size / 2, size);
    return 0;
}
