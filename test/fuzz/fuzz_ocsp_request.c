/*
 * fuzz_ocsp_request: the OCSP request parser (ocsp_request_parse, ca/ocsp.h) on raw bytes, as
 * a POST body reaches it (RFC 6960 Appendix A.1). Seeds: requests made by `openssl ocsp
 * -reqout` (SHA-1 and SHA-256 CertIDs, with and without nonce, several CertIDs, signed) and a
 * few built with `openssl asn1parse -genconf` (nonce lengths, hash parameters, version 2).
 */
#include "ocsp_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ocsp_check_parse(data, size);
    return 0;
}
