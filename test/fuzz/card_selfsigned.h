/*
 * card_selfsigned.h: the stand-in certificates of the card-image tests — a self-signed v3
 * certificate over any key, valid for a year from now. Shared by test/fuzz/gen_card_seed.c
 * (the card_image seeds) and test/unit/test_card.c; header-only, as gen_card_seed links
 * nothing but libjpki.
 */
#ifndef JPKI_CARD_SELFSIGNED_H
#define JPKI_CARD_SELFSIGNED_H

#include <openssl/evp.h>
#include <openssl/x509.h>

/* A certificate named CN=`cn`, issued by itself and signed by `key` (SHA-256); NULL on
 * failure. The caller frees it with X509_free. */
static inline X509 *card_selfsigned(EVP_PKEY *key, const char *cn)
{
    X509 *cert = X509_new();
    X509_NAME *name = X509_NAME_new();
    if (cert == NULL || name == NULL ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                   0) != 1 ||
        X509_set_version(cert, X509_VERSION_3) != 1 ||
        ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) != 1 ||
        X509_set_subject_name(cert, name) != 1 || X509_set_issuer_name(cert, name) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(cert), 0) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(cert), 3600L * 24 * 365) == NULL ||
        X509_set_pubkey(cert, key) != 1 || X509_sign(cert, key, EVP_sha256()) <= 0) {
        X509_free(cert);
        cert = NULL;
    }
    X509_NAME_free(name);
    return cert;
}

#endif
