/*
 * fuzz_crl_header: the CRL header reader the public endpoints serve CRLs with
 * (crlcache_read_times, responder/crl/crlcache.h): thisUpdate and nextUpdate found by walking the
 * TLVs of a DER CertificateList (RFC 5280 §5.1) without decoding the whole CRL.
 *
 * The reader sees the first head_len bytes of a file of total_len bytes. Each input is read
 * twice: whole (head = file), and with only its first half in `head` — as with a CRL longer
 * than CRLCACHE_HEAD_BYTES. The head is placed at the very end of a readable page that a
 * PROT_NONE guard page follows, so that a read past it faults in every build: the reads happen
 * inside libcrypto (ASN1_get_object, d2i_ASN1_TIME), which AddressSanitizer does not
 * instrument, so a heap buffer alone would let an over-read pass. Seeds: CRLs from `openssl ca -gencrl` and
 * headers built with `openssl asn1parse -genconf` (v1, no nextUpdate, GeneralizedTime, bad
 * times).
 */
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "responder/crl/crlcache.h"
#include "fuzz.h"

/* No Time decodes to this (years 0..9999 lie within +-2^38 s): "not written". */
#define NOT_WRITTEN (-((time_t)1 << 62))

/* Pages holding `len` bytes ending right before a PROT_NONE page; NULL when mmap fails. */
static unsigned char *guarded_copy(const uint8_t *data, size_t len, void **map, size_t *map_len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t readable = (len + page - 1) / page * page;
    if (readable == 0)
        readable = page;
    *map_len = readable + page;
    *map = mmap(NULL, *map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (*map == MAP_FAILED)
        return NULL;
    unsigned char *guard = (unsigned char *)*map + readable;
    if (mprotect(guard, page, PROT_NONE) != 0) {
        munmap(*map, *map_len);
        return NULL;
    }
    memcpy(guard - len, data, len);
    return guard - len;
}

static void read_and_check(const uint8_t *data, size_t head_len, size_t total_len)
{
    struct jerr err = {0};
    time_t this_update = NOT_WRITTEN, next_update = NOT_WRITTEN;
    void *map;
    size_t map_len;
    unsigned char *head = guarded_copy(data, head_len, &map, &map_len);
    if (head == NULL)
        return;
    if (crlcache_read_times(head, head_len, total_len, &this_update, &next_update, &err) == 0) {
        FUZZ_CHECK(err.code == JERR_NONE);
        FUZZ_CHECK(this_update != NOT_WRITTEN && next_update != NOT_WRITTEN);
    } else {
        FUZZ_CHECK(err.code == JERR_INVALID && strcmp(err.field, "crl") == 0);
    }
    munmap(map, map_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_and_check(data, size, size);
    read_and_check(data, size / 2, size);
    return 0;
}
