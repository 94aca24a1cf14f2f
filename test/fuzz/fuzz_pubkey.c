/*
 * fuzz_pubkey: a subscriber public key as an issue request carries it ("public_keys": the PEM
 * of a PKCS#10 request signed by the key) through keystore/pubkey.h. A key read must be RSA of
 * 2048..8192 bits whose DER re-encoding (OpenSSL's own encoder) reads back as the same key;
 * a refusal is JERR_INVALID naming the field, in words, with no OpenSSL error left queued.
 * Seeds: requests for RSA keys of 2048 and 3072 bits, for an RSA-PSS, an EC and a 1024-bit
 * key, a SHA-1 signed one, one whose signature is broken, a bare public key (refused), a PEM
 * block with headers, text around a block.
 */
#include <string.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "fuzz.h"
#include "keystore/pubkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jerr err = {0};
    EVP_PKEY *key = pubkey_from_csr_pem((const char *)data, size, "public_keys.sign", &err);
    FUZZ_CHECK(ERR_peek_error() == 0);
    if (key == NULL) {
        FUZZ_CHECK(err.code == JERR_INVALID);
        FUZZ_CHECK(strcmp(err.field, "public_keys.sign") == 0);
        FUZZ_CHECK(err.msg[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA);
    FUZZ_CHECK(EVP_PKEY_get_bits(key) >= 2048 && EVP_PKEY_get_bits(key) <= 8192);
    /* what OpenSSL encodes for the key is a SubjectPublicKeyInfo it reads back as the same key */
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(key, &der);
    FUZZ_CHECK(len > 0);
    const unsigned char *p = der;
    EVP_PKEY *again = d2i_PUBKEY(NULL, &p, len);
    FUZZ_CHECK(again != NULL && EVP_PKEY_eq(key, again) == 1);
    EVP_PKEY_free(again);
    OPENSSL_free(der);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return 0;
}
