/*
 * adminkey: the card-administration key (see adminkey.h for the file format).
 *
 * What it owns: 32 bytes in memory and their one encrypted file. What it never does: hand the
 * bytes to anyone but keystore/card.c (through the three wrappers at the end), write them
 * unencrypted, or put them (or the passphrase) into a message.
 */
#include "keystore/adminkey.h"
#include "keystore/aead.h"
#include "keystore/kdf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "base/fsutil.h"

#define ADMINKEY_VERSION 1
#define ADMINKEY_SALT_BYTES 16
#define ADMINKEY_AAD "jpki card-administration key v1"
#define ADMINKEY_PASSPHRASE_MAX 1024

struct adminkey {
    unsigned char key[CARD_ADMIN_KEY_BYTES];
};

/* The ASN.1 template macros confuse clang-format; keep them as OpenSSL writes them. */
/* clang-format off */
typedef struct {
    int32_t version;
    ASN1_OCTET_STRING *salt;
    ASN1_OCTET_STRING *iv;
    ASN1_OCTET_STRING *ciphertext;
    ASN1_OCTET_STRING *tag;
} ADMINKEY_FILE;

ASN1_SEQUENCE(ADMINKEY_FILE) = {
    ASN1_EMBED(ADMINKEY_FILE, version, INT32),
    ASN1_SIMPLE(ADMINKEY_FILE, salt, ASN1_OCTET_STRING),
    ASN1_SIMPLE(ADMINKEY_FILE, iv, ASN1_OCTET_STRING),
    ASN1_SIMPLE(ADMINKEY_FILE, ciphertext, ASN1_OCTET_STRING),
    ASN1_SIMPLE(ADMINKEY_FILE, tag, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END(ADMINKEY_FILE)

struct adminkey; /* a plain declaration: clang-format finds its footing again here */
/* clang-format on */

static int check_passphrase(const char *passphrase, struct jerr *err)
{
    /* Encrypted at rest: an empty passphrase would be encryption in name only. */
    if (passphrase == NULL || passphrase[0] == '\0')
        return jerr_set(err, JERR_INVALID, "passphrase", "an empty passphrase is not allowed");
    if (strlen(passphrase) > ADMINKEY_PASSPHRASE_MAX)
        return jerr_set(err, JERR_INVALID, "passphrase", "passphrase too long");
    return 0;
}

/* scrypt(passphrase, salt) -> the key-encryption key (keystore/kdf.h: the one cost). */
static int passphrase_kek(const char *passphrase, const unsigned char salt[ADMINKEY_SALT_BYTES],
                          unsigned char kek[AEAD_KEY_BYTES], struct jerr *err)
{
    return kdf_scrypt(passphrase, salt, ADMINKEY_SALT_BYTES, kek, AEAD_KEY_BYTES, err);
}

struct adminkey *adminkey_generate(struct jerr *err)
{
    struct adminkey *ak = OPENSSL_zalloc(sizeof(*ak));
    if (ak == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    if (RAND_priv_bytes(ak->key, sizeof(ak->key)) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot draw the card-administration key");
        adminkey_free(ak);
        return NULL;
    }
    return ak;
}

void adminkey_free(struct adminkey *ak)
{
    OPENSSL_clear_free(ak, sizeof(*ak));
}

bool adminkey_equals(const struct adminkey *a, const struct adminkey *b)
{
    return CRYPTO_memcmp(a->key, b->key, sizeof(a->key)) == 0;
}

static int set_octets(ASN1_OCTET_STRING *s, const unsigned char *data, size_t len)
{
    return ASN1_OCTET_STRING_set(s, data, (int)len) == 1 ? 0 : -1;
}

int adminkey_save(const struct adminkey *ak, const char *path, const char *passphrase,
                  struct jerr *err)
{
    unsigned char salt[ADMINKEY_SALT_BYTES], iv[AEAD_IV_BYTES], tag[AEAD_TAG_BYTES];
    unsigned char kek[AEAD_KEY_BYTES], ct[CARD_ADMIN_KEY_BYTES];
    ADMINKEY_FILE *file = NULL;
    unsigned char *der = NULL;
    int der_len = 0, rc = -1;

    if (check_passphrase(passphrase, err) == -1)
        return -1;
    if (fsutil_exists(path))
        return jerr_set(err, JERR_CONFLICT, NULL, "%s exists; refusing to overwrite it", path);
    if (RAND_bytes(salt, sizeof(salt)) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot draw a salt");
        goto out;
    }
    if (passphrase_kek(passphrase, salt, kek, err) == -1 ||
        aead_seal(kek, (const unsigned char *)ADMINKEY_AAD, strlen(ADMINKEY_AAD), ak->key,
                  sizeof(ak->key), iv, ct, tag, err) == -1)
        goto out;
    file = (ADMINKEY_FILE *)ASN1_item_new(ASN1_ITEM_rptr(ADMINKEY_FILE));
    if (file == NULL)
        goto encode_fail;
    file->version = ADMINKEY_VERSION;
    if (set_octets(file->salt, salt, sizeof(salt)) == -1 ||
        set_octets(file->iv, iv, sizeof(iv)) == -1 ||
        set_octets(file->ciphertext, ct, sizeof(ct)) == -1 ||
        set_octets(file->tag, tag, sizeof(tag)) == -1)
        goto encode_fail;
    if ((der_len = ASN1_item_i2d((ASN1_VALUE *)file, &der, ASN1_ITEM_rptr(ADMINKEY_FILE))) <= 0) {
        der = NULL;
        goto encode_fail;
    }
    rc = fsutil_write_atomic(path, der, (size_t)der_len, 0600, true, err);
    goto out;
encode_fail:
    jerr_openssl(err, JERR_INTERNAL, NULL, "cannot encode the card-administration key file");
out:
    ASN1_item_free((ASN1_VALUE *)file, ASN1_ITEM_rptr(ADMINKEY_FILE));
    OPENSSL_free(der);
    OPENSSL_cleanse(kek, sizeof(kek));
    return rc;
}

static bool octets_are(const ASN1_OCTET_STRING *s, int len)
{
    return s != NULL && ASN1_STRING_length(s) == len;
}

/* Exactly one CardAdminKeyFile in canonical DER with the lengths of version 1; NULL if not. */
static ADMINKEY_FILE *file_decode(const unsigned char *data, size_t len)
{
    const unsigned char *p = data;
    unsigned char *again = NULL;
    ADMINKEY_FILE *file = NULL;

    if (len == 0 || len > ADMINKEY_FILE_MAX_BYTES)
        return NULL;
    file = (ADMINKEY_FILE *)ASN1_item_d2i(NULL, &p, (long)len, ASN1_ITEM_rptr(ADMINKEY_FILE));
    if (file == NULL || p != data + len)
        goto fail;
    int again_len = ASN1_item_i2d((ASN1_VALUE *)file, &again, ASN1_ITEM_rptr(ADMINKEY_FILE));
    if (again_len <= 0 || (size_t)again_len != len || memcmp(again, data, len) != 0)
        goto fail;
    if (file->version != ADMINKEY_VERSION || !octets_are(file->salt, ADMINKEY_SALT_BYTES) ||
        !octets_are(file->iv, AEAD_IV_BYTES) ||
        !octets_are(file->ciphertext, CARD_ADMIN_KEY_BYTES) ||
        !octets_are(file->tag, AEAD_TAG_BYTES))
        goto fail;
    OPENSSL_free(again);
    return file;
fail:
    ERR_clear_error();
    OPENSSL_free(again);
    ASN1_item_free((ASN1_VALUE *)file, ASN1_ITEM_rptr(ADMINKEY_FILE));
    return NULL;
}

struct adminkey *adminkey_load(const char *path, const char *passphrase, struct jerr *err)
{
    unsigned char kek[AEAD_KEY_BYTES];
    struct adminkey *ak = NULL, *result = NULL;
    ADMINKEY_FILE *file = NULL;
    unsigned char *data = NULL;
    size_t len = 0;

    if (check_passphrase(passphrase, err) == -1)
        return NULL;
    if (fsutil_read_file(path, ADMINKEY_FILE_MAX_BYTES, &data, &len, err) == -1)
        goto out;
    /* The file is offline-guessable material against the CA passphrase: 0600 only. */
    if (fsutil_check_private(path, err) == -1)
        goto out;
    if ((file = file_decode(data, len)) == NULL) {
        jerr_set(err, JERR_CRYPTO, NULL,
                 "%s: not a card-administration key file (damaged key file)", path);
        goto out;
    }
    if ((ak = OPENSSL_zalloc(sizeof(*ak))) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    if (passphrase_kek(passphrase, ASN1_STRING_get0_data(file->salt), kek, err) == -1)
        goto out;
    int r = aead_open(kek, (const unsigned char *)ADMINKEY_AAD, strlen(ADMINKEY_AAD),
                      ASN1_STRING_get0_data(file->iv), ASN1_STRING_get0_data(file->ciphertext),
                      CARD_ADMIN_KEY_BYTES, ASN1_STRING_get0_data(file->tag), ak->key, err);
    if (r == -1)
        goto out;
    if (r == AEAD_NOT_AUTHENTIC) {
        jerr_set(err, JERR_CRYPTO, "passphrase", "%s: wrong passphrase or damaged key file", path);
        goto out;
    }
    result = ak;
    ak = NULL;
out:
    ASN1_item_free((ASN1_VALUE *)file, ASN1_ITEM_rptr(ADMINKEY_FILE));
    free(data);
    adminkey_free(ak);
    OPENSSL_cleanse(kek, sizeof(kek));
    return result;
}

/* ---- the card operations that need the key ---- */

struct card_image *adminkey_card_create(const struct adminkey *ak, const char *card_id,
                                        const char *expiry, X509 *sign_root, X509 *auth_root,
                                        struct jerr *err)
{
    return card_image_create(card_id, expiry, sign_root, auth_root, ak->key, err);
}

int adminkey_card_set_slot(const struct adminkey *ak, struct card_image *ci, enum ca_kind slot,
                           X509 *cert, EVP_PKEY *key, const char *password, struct jerr *err)
{
    return card_image_set_slot(ci, slot, cert, key, password, ak->key, err);
}

int adminkey_card_reset_password(const struct adminkey *ak, struct card_image *ci, const char *path,
                                 enum ca_kind slot, const char *new_password, struct jerr *err)
{
    return card_image_reset_password(ci, path, slot, ak->key, new_password, err);
}
