/*
 * aead: see aead.h. EVP's AES-256-GCM; GCM is a stream mode, so Final writes nothing (it
 * produces or checks the tag).
 */
#include "keystore/aead.h"

#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

int aead_seal(const unsigned char key[AEAD_KEY_BYTES], const unsigned char *aad, size_t aad_len,
              const unsigned char *pt, size_t pt_len, unsigned char iv[AEAD_IV_BYTES],
              unsigned char *ct, unsigned char tag[AEAD_TAG_BYTES], struct jerr *err)
{
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char final_block[16];
    int rc = -1, n = 0;

    if (aad_len > INT32_MAX || pt_len > INT32_MAX)
        return jerr_set(err, JERR_INTERNAL, NULL, "AES-GCM input too large");
    if (RAND_bytes(iv, AEAD_IV_BYTES) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot draw a random IV");
        goto out;
    }
    if ((ctx = EVP_CIPHER_CTX_new()) == NULL ||
        EVP_EncryptInit_ex2(ctx, EVP_aes_256_gcm(), key, iv, NULL) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1 ||
        (pt_len > 0 && EVP_EncryptUpdate(ctx, ct, &n, pt, (int)pt_len) != 1) ||
        EVP_EncryptFinal_ex(ctx, final_block, &n) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, AEAD_TAG_BYTES, tag) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "AES-256-GCM encryption failed");
        goto out;
    }
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int aead_open(const unsigned char key[AEAD_KEY_BYTES], const unsigned char *aad, size_t aad_len,
              const unsigned char iv[AEAD_IV_BYTES], const unsigned char *ct, size_t ct_len,
              const unsigned char tag[AEAD_TAG_BYTES], unsigned char *pt, struct jerr *err)
{
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char tag_copy[AEAD_TAG_BYTES]; /* the ctrl takes a non-const pointer */
    unsigned char final_block[16];
    int rc = -1, n = 0;

    if (aad_len > INT32_MAX || ct_len > INT32_MAX)
        return jerr_set(err, JERR_INTERNAL, NULL, "AES-GCM input too large");
    memcpy(tag_copy, tag, sizeof(tag_copy));
    if ((ctx = EVP_CIPHER_CTX_new()) == NULL ||
        EVP_DecryptInit_ex2(ctx, EVP_aes_256_gcm(), key, iv, NULL) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1 ||
        (ct_len > 0 && EVP_DecryptUpdate(ctx, pt, &n, ct, (int)ct_len) != 1) ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, AEAD_TAG_BYTES, tag_copy) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "AES-256-GCM decryption failed");
        goto out;
    }
    if (EVP_DecryptFinal_ex(ctx, final_block, &n) != 1) {
        ERR_clear_error();
        rc = AEAD_NOT_AUTHENTIC;
        goto out;
    }
    rc = AEAD_AUTHENTIC;
out:
    if (rc != AEAD_AUTHENTIC && ct_len > 0)
        OPENSSL_cleanse(pt, ct_len); /* nothing unauthenticated is handed out */
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}
