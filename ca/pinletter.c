/*
 * pinletter: see pinletter.h. OpenSSL builds the envelope (CMS_encrypt with CMS_PARTIAL, so
 * that the recipient's key-transport parameters can be set before CMS_final); no ASN.1 here.
 */
#include "ca/pinletter.h"

#include <stdio.h>
#include <string.h>
#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

/* The letter's plain text: a header, three ids of at most JPKI_ID_MAX and two passwords. */
#define PINLETTER_TEXT_MAX 512

/* Seals `text` to `recipient`. */
static int seal_text(X509 *recipient, const char *text, size_t len, unsigned char **der,
                     size_t *der_len, struct jerr *err)
{
    BIO *in = BIO_new_mem_buf(text, (int)len);
    CMS_ContentInfo *cms = NULL;
    unsigned char *out = NULL;
    int rc = -1;

    if (in == NULL)
        goto fail;
    cms = CMS_encrypt(NULL, NULL, EVP_aes_256_cbc(), CMS_BINARY | CMS_PARTIAL);
    if (cms == NULL)
        goto fail;
    CMS_RecipientInfo *ri = CMS_add1_recipient_cert(cms, recipient, CMS_KEY_PARAM);
    if (ri == NULL)
        goto fail;
    EVP_PKEY *pub = X509_get0_pubkey(recipient);
    if (pub != NULL && EVP_PKEY_is_a(pub, "RSA")) {
        /* RFC 8017 §7.1: OAEP, not PKCS#1 v1.5 key transport (Bleichenbacher). */
        EVP_PKEY_CTX *pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);
        if (pctx == NULL || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
            EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) <= 0)
            goto fail;
    }
    if (CMS_final(cms, in, NULL, CMS_BINARY) != 1)
        goto fail;
    int n = i2d_CMS_ContentInfo(cms, &out);
    if (n <= 0)
        goto fail;
    *der = out;
    *der_len = (size_t)n;
    out = NULL;
    rc = 0;
    goto out;
fail:
    jerr_openssl(err, JERR_CRYPTO, PINLETTER_CONFIG_KEY, "cannot seal a PIN letter");
out:
    OPENSSL_free(out);
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    return rc;
}

X509 *pinletter_recipient_load(const char *path, struct jerr *err)
{
    X509 *cert = NULL;
    unsigned char *probe = NULL;
    size_t probe_len = 0;
    struct jerr why = {0};

    if (path == NULL || path[0] == '\0') {
        jerr_set(err, JERR_CONFIG, PINLETTER_CONFIG_KEY, "%s: not configured",
                 PINLETTER_CONFIG_KEY);
        return NULL;
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        jerr_set(err, JERR_CONFIG, PINLETTER_CONFIG_KEY, "%s: cannot read %s", PINLETTER_CONFIG_KEY,
                 path);
        return NULL;
    }
    cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (cert == NULL) {
        jerr_openssl(err, JERR_CONFIG, PINLETTER_CONFIG_KEY, "%s: %s holds no PEM certificate",
                     PINLETTER_CONFIG_KEY, path);
        return NULL;
    }
    /* A certificate whose key OpenSSL cannot encrypt to (e.g. Ed25519) is found now, at
     * start, not at the first row of a batch. */
    if (seal_text(cert, "probe", 5, &probe, &probe_len, &why) == -1) {
        jerr_set(err, JERR_CONFIG, PINLETTER_CONFIG_KEY, "%s: cannot encrypt to the key of %s: %s",
                 PINLETTER_CONFIG_KEY, path, why.msg);
        X509_free(cert);
        return NULL;
    }
    OPENSSL_free(probe);
    return cert;
}

int pinletter_seal(X509 *recipient, const char *batch_key, const char *row_key, const char *card_id,
                   const struct cardissue_passwords *pw, unsigned char **der, size_t *der_len,
                   struct jerr *err)
{
    char text[PINLETTER_TEXT_MAX];
    int n = snprintf(text, sizeof(text), "jpki PIN letter\nbatch: %s\nrow: %s\ncard: %s\n",
                     batch_key, row_key, card_id);
    size_t used = n > 0 ? (size_t)n : 0;
    int generated = 0;
    int rc = -1;

    for (int ca = 0; ca < CA_KIND_COUNT && used < sizeof(text); ca++) {
        if (!pw->generated[ca])
            continue;
        n = snprintf(text + used, sizeof(text) - used, "%s: %s\n", ca_kind_name((enum ca_kind)ca),
                     pw->value[ca]);
        used += n > 0 ? (size_t)n : 0;
        generated++;
    }
    if (generated == 0) {
        jerr_set(err, JERR_INVALID, "passwords", "no generated password to send");
        goto out;
    }
    if (used >= sizeof(text)) { /* ids are bounded: never expected */
        jerr_set(err, JERR_INTERNAL, NULL, "PIN letter too long");
        goto out;
    }
    rc = seal_text(recipient, text, used, der, der_len, err);
out:
    OPENSSL_cleanse(text, sizeof(text));
    return rc;
}
