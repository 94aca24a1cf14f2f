/*
 * fuzz_card_image: the card image parser (card_image_parse, keystore/card.h; format in
 * docs/CARD.md) on bytes as a card file holds them.
 *
 * The image is CardImage ::= SEQUENCE { body OCTET STRING, checksum OCTET STRING } with the
 * checksum the SHA-256 of the body: a mutated image almost never gets past it, and the body
 * parser behind it would go unfuzzed. So every input is parsed twice: once as a whole image,
 * once as a body wrapped here with its right checksum (built with OpenSSL's generic ASN.1
 * types, not by hand). Seeds (test/fuzz/gen_card_seed.c): images with no, one and two slots,
 * and their bodies alone.
 */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "base/limits.h"
#include "keystore/card.h"
#include "fuzz.h"

static void parse_and_check(const unsigned char *der, size_t len)
{
    struct jerr err = {0};
    struct card_image *ci = card_image_parse(der, len, &err);
    if (ci == NULL) {
        FUZZ_CHECK(err.code == JERR_INVALID || err.code == JERR_TOO_LARGE ||
                   err.code == JERR_INTERNAL);
        FUZZ_CHECK(err.code != JERR_INVALID || strcmp(err.field, "card_image") == 0);
        FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        ERR_clear_error();
        return;
    }
    FUZZ_CHECK(err.code == JERR_NONE);
    const char *id = card_image_id(ci), *expiry = card_image_expiry(ci);
    FUZZ_CHECK(id != NULL && id[0] != '\0' && strlen(id) <= JPKI_ID_MAX);
    FUZZ_CHECK(expiry != NULL && strlen(expiry) == 10);
    FUZZ_CHECK(card_image_get0_root(ci, CA_SIGN) != NULL);
    FUZZ_CHECK(card_image_get0_root(ci, CA_AUTH) != NULL);
    for (int slot = CA_SIGN; slot <= CA_AUTH; slot++) {
        int left = card_image_tries_left(ci, (enum ca_kind)slot);
        int max = slot == CA_SIGN ? CARD_SIGN_MAX_TRIES : CARD_AUTH_MAX_TRIES;
        if (card_image_get0_cert(ci, (enum ca_kind)slot) == NULL) {
            FUZZ_CHECK(left == -1 && !card_image_is_locked(ci, (enum ca_kind)slot));
        } else {
            FUZZ_CHECK(left >= 0 && left <= max);
            FUZZ_CHECK(card_image_is_locked(ci, (enum ca_kind)slot) == (left == 0));
        }
    }
    card_image_free(ci);
}

/* CardImage around `body` with its right checksum; OPENSSL_free the result. */
static unsigned char *wrap_body(const unsigned char *body, size_t len, int *out_len)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    ASN1_SEQUENCE_ANY *seq = sk_ASN1_TYPE_new_null();
    ASN1_OCTET_STRING *body_os = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING *sum_os = ASN1_OCTET_STRING_new();
    ASN1_TYPE *body_t = ASN1_TYPE_new(), *sum_t = ASN1_TYPE_new();
    unsigned char *der = NULL;

    *out_len = 0;
    if (seq == NULL || body_os == NULL || sum_os == NULL || body_t == NULL || sum_t == NULL ||
        len > INT32_MAX || EVP_Digest(body, len, digest, &digest_len, EVP_sha256(), NULL) != 1 ||
        ASN1_OCTET_STRING_set(body_os, body, (int)len) != 1 ||
        ASN1_OCTET_STRING_set(sum_os, digest, (int)digest_len) != 1)
        goto out;
    /* ASN1_TYPE_set takes the strings; the stack then takes the types. */
    ASN1_TYPE_set(body_t, V_ASN1_OCTET_STRING, body_os);
    body_os = NULL;
    ASN1_TYPE_set(sum_t, V_ASN1_OCTET_STRING, sum_os);
    sum_os = NULL;
    if (sk_ASN1_TYPE_push(seq, body_t) <= 0)
        goto out;
    body_t = NULL;
    if (sk_ASN1_TYPE_push(seq, sum_t) <= 0)
        goto out;
    sum_t = NULL;
    *out_len = i2d_ASN1_SEQUENCE_ANY(seq, &der);
    if (*out_len <= 0) {
        OPENSSL_free(der);
        der = NULL;
        *out_len = 0;
    }
out:
    ASN1_OCTET_STRING_free(body_os);
    ASN1_OCTET_STRING_free(sum_os);
    ASN1_TYPE_free(body_t);
    ASN1_TYPE_free(sum_t);
    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
    return der;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int wrapped_len = 0;
    parse_and_check(data, size);
    unsigned char *wrapped = wrap_body(data, size, &wrapped_len);
    if (wrapped != NULL)
        parse_and_check(wrapped, (size_t)wrapped_len);
    OPENSSL_free(wrapped);
    ERR_clear_error();
    return 0;
}
