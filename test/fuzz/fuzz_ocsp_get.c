/*
 * fuzz_ocsp_get: the OCSP GET path (RFC 6960 Appendix A.1): ocsp_get_path_decode on the path
 * component (URL-encoded base64), then ocsp_request_parse on what it decoded. Seeds: the
 * base64 of the fuzz_ocsp_request seeds, percent-escaped or raw, and broken escapes.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "ocsp_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The path reaches the decoder as a C string (evhttp's decoded URI): stop at a NUL. */
    char *path = malloc(size + 1);
    unsigned char *der = NULL;
    size_t der_len = 0;
    struct jerr err = {0};

    if (path == NULL)
        return 0;
    memcpy(path, data, size);
    path[size] = '\0';
    if (ocsp_get_path_decode(path, &der, &der_len, &err) == -1) {
        FUZZ_CHECK(err.code == JERR_INVALID || err.code == JERR_TOO_LARGE ||
                   err.code == JERR_INTERNAL);
        FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        ERR_clear_error();
    } else {
        FUZZ_CHECK(err.code == JERR_NONE);
        FUZZ_CHECK(der != NULL && der_len > 0 && der_len <= JPKI_OCSP_MAX_REQUEST_BYTES);
        ocsp_check_parse(der, der_len);
    }
    OPENSSL_free(der);
    free(path);
    return 0;
}
