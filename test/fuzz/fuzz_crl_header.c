/*
 * fuzz_crl_header: the CRL header reader the public endpoints serve CRLs with
 * (crl_read_times, ca/crl_read.h — the one CRL reader, also behind crl_verify_file):
 * thisUpdate and nextUpdate found by walking the TLVs of a DER CertificateList (RFC 5280 §5.1)
 * without decoding the whole CRL.
 *
 * The reader sees the first head_len bytes of a file of total_len bytes. Each input is read
 * twice: whole (head = file), and with only its first half in `head` — as with a CRL longer
 * than CRLCACHE_HEAD_BYTES. The head is placed at the very end of a readable page that a
 * PROT_NONE guard page follows (guardpage.h), so that a read past it faults in every build:
 * the reads happen inside libcrypto (ASN1_get_object, d2i_ASN1_TIME), which AddressSanitizer
 * does not instrument. A short head may be refused, but must never give other times than the
 * whole file. Seeds: CRLs from `openssl ca -gencrl` and headers built with `openssl asn1parse
 * -genconf` (v1, no nextUpdate, GeneralizedTime, bad times).
 */
#include <string.h>
#include <time.h>

#include "ca/crl_read.h"
#include "fuzz.h"
#include "guardpage.h"

/* No Time decodes to this (years 0..9999 lie within +-2^38 s): "not written". */
#define NOT_WRITTEN (-((time_t)1 << 62))

/* Reads the times from a guarded head; returns the reader's result. */
static int read_and_check(const uint8_t *data, size_t head_len, size_t total_len,
                          time_t *this_update, time_t *next_update)
{
    struct jerr err = {0};
    struct guardpage g;
    *this_update = NOT_WRITTEN;
    *next_update = NOT_WRITTEN;
    unsigned char *head = guardpage_copy(&g, data, head_len);
    if (head == NULL)
        return -1;
    int rc = crl_read_times(head, head_len, total_len, this_update, next_update, &err);
    if (rc == 0) {
        FUZZ_CHECK(err.code == JERR_NONE);
        FUZZ_CHECK(*this_update != NOT_WRITTEN && *next_update != NOT_WRITTEN);
    } else {
        FUZZ_CHECK(err.code == JERR_INVALID && err.field[0] != '\0');
        /* Written only on success. */
        FUZZ_CHECK(*this_update == NOT_WRITTEN && *next_update == NOT_WRITTEN);
    }
    guardpage_free(&g);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    time_t this_whole, next_whole, this_half, next_half;
    int whole = read_and_check(data, size, size, &this_whole, &next_whole);
    if (read_and_check(data, size / 2, size, &this_half, &next_half) == 0) {
        FUZZ_CHECK(whole == 0);
        FUZZ_CHECK(this_half == this_whole && next_half == next_whole);
    }
    return 0;
}
