/*
 * fuzz_holder_request: the holder's online revocation request parser (holderreq_parse,
 * ca/holderreq.h) on raw bytes, as the body of POST /v1/holder/revoke reaches it. Seeds
 * (test/fuzz/corpus/holder_request/): requests made by `openssl cms -sign -binary -nodetach
 * -outform DER` with a throwaway key — good ones, a detached one, one without the certificate,
 * one with a SHA-1 digest, one whose document is not JSON, one with an unknown member.
 *
 * Contract checked: a refusal fills err with one of the documented codes and leaves *out
 * zeroed (no certificate held); an acceptance gives a serial of 1..40 upper-case hex digits, a
 * reason a holder may give, a request id of 16..64 lower-case hex digits and the signer.
 */
#include <string.h>

#include <openssl/err.h>

#include "ca/holderreq.h"
#include "fuzz.h"

static bool all_of(const char *s, const char *set, size_t min, size_t max)
{
    size_t len = strlen(s);
    return len >= min && len <= max && strspn(s, set) == len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jerr err = {0};
    struct holder_request req;

    if (holderreq_parse(data, size, &req, &err) == -1) {
        FUZZ_CHECK(err.code == JERR_INVALID || err.code == JERR_FORBIDDEN ||
                   err.code == JERR_TOO_LARGE || err.code == JERR_INTERNAL);
        FUZZ_CHECK(err.field[0] != '\0');
        FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        FUZZ_CHECK(req.signer == NULL && req.serial[0] == '\0');
        FUZZ_CHECK(size <= HOLDERREQ_MAX_BYTES || err.code == JERR_TOO_LARGE);
        ERR_clear_error();
        return 0;
    }
    FUZZ_CHECK(err.code == JERR_NONE);
    FUZZ_CHECK(size <= HOLDERREQ_MAX_BYTES);
    FUZZ_CHECK(all_of(req.serial, "0123456789ABCDEF", 1, JPKI_SERIAL_HEX_MAX));
    FUZZ_CHECK(all_of(req.signer_serial, "0123456789ABCDEF", 1, JPKI_SERIAL_HEX_MAX));
    FUZZ_CHECK(all_of(req.request_id, "0123456789abcdef", HOLDERREQ_ID_MIN, HOLDERREQ_ID_MAX));
    FUZZ_CHECK(req.reason == REASON_KEY_COMPROMISE || req.reason == REASON_CESSATION_OF_OPERATION ||
               req.reason == REASON_UNSPECIFIED);
    FUZZ_CHECK(req.signer != NULL);
    holderreq_clear(&req);
    FUZZ_CHECK(req.signer == NULL);
    ERR_clear_error();
    return 0;
}
