/*
 * card: the card image (simulated IC card). See card.h for the interface and docs/CARD.md for
 * the format and the reasoning behind the key hierarchy.
 *
 * What it owns: the in-memory image (ids, roots, certificates, encrypted private keys, wrapped
 * slot keys, retry counters) and its one on-disk encoding. What it never does: write a private
 * key, a slot key or a password-derived key outside memory, or give an answer to a password
 * try before the counter that try changed is on disk.
 *
 * Format: DER built with OpenSSL's ASN.1 templates (no hand-written encoder or parser). The file
 * is CardImage ::= SEQUENCE { body OCTET STRING, checksum OCTET STRING } where body holds the
 * DER of CardImageBody and checksum is its SHA-256: load detects any changed byte before it
 * trusts a field. Every ciphertext is AES-256-GCM whose additional data names what it belongs
 * to, so a deliberate edit that also recomputes the checksum is caught when a secret opens it.
 *
 * Key hierarchy (per slot):
 *   slot key (random, 256 bits) --AES-256-GCM--> PKCS#8 private key
 *   scrypt(password, salt)      --AES-256-GCM--> slot key   (the holder's way in)
 *   HKDF(admin key, card id)    --AES-256-GCM--> slot key   (the window's way in)
 */
#include "keystore/card.h"
#include "keystore/kdf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/safestack.h>
#include <openssl/x509.h>

#include "base/fsutil.h"
#include "base/jclock.h"
#include "base/limits.h"

/* The layout version written in CardImageBody.version; also names the KDF costs below. */
#define CARD_FORMAT_VERSION 1
/* AES-256-GCM: 96-bit IV (NIST SP 800-38D §8.2.2, random IVs under keys used a handful of
 * times), full 128-bit tag. */
#define CARD_IV_BYTES 12
#define CARD_TAG_BYTES 16
#define CARD_KEY_BYTES 32
#define CARD_SALT_BYTES 16
#define CARD_CHECKSUM_BYTES 32
/* PKCS#8 of an RSA-8192 key is ~4.9 KB. */
#define CARD_KEY_DER_MAX (16 * 1024)
/* Four certificates and two keys at their caps, plus framing. */
#define CARD_IMAGE_MAX_BYTES (4 * JPKI_CERT_DER_MAX + 2 * CARD_KEY_DER_MAX + 8 * 1024)
/* HKDF salt: separates the admin-key use from any other use of the same key. */
#define CARD_ADMIN_HKDF_SALT "jpki card image v1 admin wrap key"

#define CARD_DAMAGED "card image is damaged or has been tampered with"

/* ---- the DER layout (docs/CARD.md "Format") ---- */

/* The ASN.1 template macros confuse clang-format; keep them as OpenSSL writes them. */
/* clang-format off */

/* GcmBox ::= SEQUENCE { iv OCTET STRING, ciphertext OCTET STRING, tag OCTET STRING } */
typedef struct {
    ASN1_OCTET_STRING *iv;
    ASN1_OCTET_STRING *ciphertext;
    ASN1_OCTET_STRING *tag;
} CARD_BOX;

ASN1_SEQUENCE(CARD_BOX) = {
    ASN1_SIMPLE(CARD_BOX, iv, ASN1_OCTET_STRING),
    ASN1_SIMPLE(CARD_BOX, ciphertext, ASN1_OCTET_STRING),
    ASN1_SIMPLE(CARD_BOX, tag, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END(CARD_BOX)

/* CardSlot ::= SEQUENCE { slot INTEGER, certificate OCTET STRING, privateKey GcmBox,
 *     passwordSalt OCTET STRING, passwordWrap GcmBox, adminWrap GcmBox, failures INTEGER } */
typedef struct {
    int32_t slot;
    ASN1_OCTET_STRING *certificate;
    CARD_BOX *private_key;
    ASN1_OCTET_STRING *password_salt;
    CARD_BOX *password_wrap;
    CARD_BOX *admin_wrap;
    int32_t failures;
} CARD_SLOT;

ASN1_SEQUENCE(CARD_SLOT) = {
    ASN1_EMBED(CARD_SLOT, slot, INT32),
    ASN1_SIMPLE(CARD_SLOT, certificate, ASN1_OCTET_STRING),
    ASN1_SIMPLE(CARD_SLOT, private_key, CARD_BOX),
    ASN1_SIMPLE(CARD_SLOT, password_salt, ASN1_OCTET_STRING),
    ASN1_SIMPLE(CARD_SLOT, password_wrap, CARD_BOX),
    ASN1_SIMPLE(CARD_SLOT, admin_wrap, CARD_BOX),
    ASN1_EMBED(CARD_SLOT, failures, INT32),
} static_ASN1_SEQUENCE_END(CARD_SLOT)

DEFINE_STACK_OF(CARD_SLOT)

/* CardImageBody ::= SEQUENCE { version INTEGER, cardId UTF8String, expiry UTF8String,
 *     signRoot OCTET STRING, authRoot OCTET STRING, adminCheck GcmBox,
 *     slots SEQUENCE OF CardSlot } */
typedef struct {
    int32_t version;
    ASN1_UTF8STRING *card_id;
    ASN1_UTF8STRING *expiry;
    ASN1_OCTET_STRING *sign_root;
    ASN1_OCTET_STRING *auth_root;
    CARD_BOX *admin_check;
    STACK_OF(CARD_SLOT) *slots;
} CARD_BODY;

ASN1_SEQUENCE(CARD_BODY) = {
    ASN1_EMBED(CARD_BODY, version, INT32),
    ASN1_SIMPLE(CARD_BODY, card_id, ASN1_UTF8STRING),
    ASN1_SIMPLE(CARD_BODY, expiry, ASN1_UTF8STRING),
    ASN1_SIMPLE(CARD_BODY, sign_root, ASN1_OCTET_STRING),
    ASN1_SIMPLE(CARD_BODY, auth_root, ASN1_OCTET_STRING),
    ASN1_SIMPLE(CARD_BODY, admin_check, CARD_BOX),
    ASN1_SEQUENCE_OF(CARD_BODY, slots, CARD_SLOT),
} static_ASN1_SEQUENCE_END(CARD_BODY)

/* CardImage ::= SEQUENCE { body OCTET STRING, checksum OCTET STRING } */
typedef struct {
    ASN1_OCTET_STRING *body;
    ASN1_OCTET_STRING *checksum;
} CARD_FILE;

ASN1_SEQUENCE(CARD_FILE) = {
    ASN1_SIMPLE(CARD_FILE, body, ASN1_OCTET_STRING),
    ASN1_SIMPLE(CARD_FILE, checksum, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END(CARD_FILE)

/* Additional data of a slot-key wrap or of the admin check (never stored, rebuilt):
 * WrapContext ::= SEQUENCE { purpose UTF8String, slot INTEGER, cardId UTF8String } */
typedef struct {
    ASN1_UTF8STRING *purpose;
    int32_t slot;
    ASN1_UTF8STRING *card_id;
} CARD_WRAP_AAD;

ASN1_SEQUENCE(CARD_WRAP_AAD) = {
    ASN1_SIMPLE(CARD_WRAP_AAD, purpose, ASN1_UTF8STRING),
    ASN1_EMBED(CARD_WRAP_AAD, slot, INT32),
    ASN1_SIMPLE(CARD_WRAP_AAD, card_id, ASN1_UTF8STRING),
} static_ASN1_SEQUENCE_END(CARD_WRAP_AAD)

/* Additional data of a private-key encryption: everything the key must stay bound to.
 * KeyBinding ::= SEQUENCE { purpose UTF8String, cardId UTF8String, expiry UTF8String,
 *     signRoot OCTET STRING, authRoot OCTET STRING, slot INTEGER, certificate OCTET STRING } */
typedef struct {
    ASN1_UTF8STRING *purpose;
    ASN1_UTF8STRING *card_id;
    ASN1_UTF8STRING *expiry;
    ASN1_OCTET_STRING *sign_root;
    ASN1_OCTET_STRING *auth_root;
    int32_t slot;
    ASN1_OCTET_STRING *certificate;
} CARD_KEY_AAD;

ASN1_SEQUENCE(CARD_KEY_AAD) = {
    ASN1_SIMPLE(CARD_KEY_AAD, purpose, ASN1_UTF8STRING),
    ASN1_SIMPLE(CARD_KEY_AAD, card_id, ASN1_UTF8STRING),
    ASN1_SIMPLE(CARD_KEY_AAD, expiry, ASN1_UTF8STRING),
    ASN1_SIMPLE(CARD_KEY_AAD, sign_root, ASN1_OCTET_STRING),
    ASN1_SIMPLE(CARD_KEY_AAD, auth_root, ASN1_OCTET_STRING),
    ASN1_EMBED(CARD_KEY_AAD, slot, INT32),
    ASN1_SIMPLE(CARD_KEY_AAD, certificate, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END(CARD_KEY_AAD)

struct card_wrap; /* a plain declaration: clang-format finds its footing again here */
/* clang-format on */

/* ---- the in-memory image ---- */

struct card_wrap {
    unsigned char iv[CARD_IV_BYTES];
    unsigned char ct[CARD_KEY_BYTES];
    unsigned char tag[CARD_TAG_BYTES];
};

struct card_slot {
    X509 *cert; /* NULL: slot empty (certificate not issued) */
    unsigned char key_iv[CARD_IV_BYTES];
    unsigned char *key_ct; /* PKCS#8 under the slot key */
    size_t key_ct_len;
    unsigned char key_tag[CARD_TAG_BYTES];
    unsigned char pw_salt[CARD_SALT_BYTES];
    struct card_wrap pw_wrap;    /* slot key under scrypt(password) */
    struct card_wrap admin_wrap; /* slot key under the card's admin KEK */
    int failures;                /* wrong tries in a row */
};

struct card_image {
    char id[JPKI_ID_MAX + 1];
    char expiry[11];
    X509 *root[CA_KIND_COUNT];
    unsigned char admin_check_iv[CARD_IV_BYTES];
    unsigned char admin_check_tag[CARD_TAG_BYTES];
    struct card_slot slot[CA_KIND_COUNT];
};

/* gcm_open's answers besides -1 (an OpenSSL failure, err filled). */
enum { GCM_AUTHENTIC = 0, GCM_NOT_AUTHENTIC = 1 };

static int max_tries(enum ca_kind slot)
{
    return slot == CA_SIGN ? CARD_SIGN_MAX_TRIES : CARD_AUTH_MAX_TRIES;
}

static const char *password_word(enum ca_kind slot)
{
    return slot == CA_SIGN ? "signing password" : "authentication PIN";
}

static bool slot_is_valid(enum ca_kind slot)
{
    return slot == CA_SIGN || slot == CA_AUTH;
}

static int damaged(struct jerr *err, const char *what)
{
    return jerr_set(err, JERR_INVALID, "card_image", CARD_DAMAGED ": %s", what);
}

static void slot_clear(struct card_slot *s)
{
    X509_free(s->cert);
    OPENSSL_free(s->key_ct); /* ciphertext: nothing secret, but the wraps below are wiped */
    OPENSSL_cleanse(s, sizeof(*s));
}

/* Same character rule as model_check_id (ca/ sits above keystore/, so it is not called). */
static bool card_id_is_valid(const char *id, size_t len)
{
    if (len == 0 || len > JPKI_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool expiry_is_valid(const char *expiry, size_t len)
{
    char copy[11];
    int y, m, d;
    if (len != 10)
        return false;
    memcpy(copy, expiry, 10);
    copy[10] = '\0';
    return jclock_parse_date(copy, &y, &m, &d) == 0;
}

int card_image_check_password(enum ca_kind slot, const char *password, struct jerr *err)
{
    if (!slot_is_valid(slot))
        return jerr_set(err, JERR_INVALID, "slot", "unknown card slot %d", (int)slot);
    size_t len = password != NULL ? strlen(password) : 0;
    bool ok;
    if (slot == CA_SIGN) {
        /* DESIGN §1: signing password, 6-16 characters of upper-case letters and digits. */
        ok = len >= 6 && len <= 16;
        for (size_t i = 0; ok && i < len; i++)
            ok = (password[i] >= 'A' && password[i] <= 'Z') ||
                 (password[i] >= '0' && password[i] <= '9');
        if (!ok)
            return jerr_set(err, JERR_INVALID, "password",
                            "the signing password must be 6 to 16 characters of A-Z and 0-9");
    } else {
        /* DESIGN §1: authentication PIN, 4 digits. */
        ok = len == 4;
        for (size_t i = 0; ok && i < len; i++)
            ok = password[i] >= '0' && password[i] <= '9';
        if (!ok)
            return jerr_set(err, JERR_INVALID, "password",
                            "the authentication PIN must be exactly 4 digits 0-9");
    }
    return 0;
}

/* ---- primitives: AES-256-GCM, scrypt, HKDF ---- */

/* Encrypts `pt` under `key` with a fresh random IV. `ct` holds pt_len bytes. */
static int gcm_seal(const unsigned char key[CARD_KEY_BYTES], const unsigned char *aad,
                    size_t aad_len, const unsigned char *pt, size_t pt_len,
                    unsigned char iv[CARD_IV_BYTES], unsigned char *ct,
                    unsigned char tag[CARD_TAG_BYTES], struct jerr *err)
{
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char final_block[16];
    int rc = -1, n = 0;

    if (aad_len > INT32_MAX || pt_len > INT32_MAX)
        return jerr_set(err, JERR_INTERNAL, NULL, "AES-GCM input too large");
    if (RAND_bytes(iv, CARD_IV_BYTES) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot draw a random IV");
        goto out;
    }
    if ((ctx = EVP_CIPHER_CTX_new()) == NULL ||
        EVP_EncryptInit_ex2(ctx, EVP_aes_256_gcm(), key, iv, NULL) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1 ||
        (pt_len > 0 && EVP_EncryptUpdate(ctx, ct, &n, pt, (int)pt_len) != 1) ||
        EVP_EncryptFinal_ex(ctx, final_block, &n) != 1 || /* GCM: writes nothing */
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, CARD_TAG_BYTES, tag) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "AES-256-GCM encryption failed");
        goto out;
    }
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

/* Decrypts into `pt` (ct_len bytes). Returns GCM_AUTHENTIC, GCM_NOT_AUTHENTIC (wrong key or
 * altered data; `pt` wiped), or -1 with err filled. */
static int gcm_open(const unsigned char key[CARD_KEY_BYTES], const unsigned char *aad,
                    size_t aad_len, const unsigned char iv[CARD_IV_BYTES], const unsigned char *ct,
                    size_t ct_len, const unsigned char tag[CARD_TAG_BYTES], unsigned char *pt,
                    struct jerr *err)
{
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char tag_copy[CARD_TAG_BYTES];
    unsigned char final_block[16];
    int rc = -1, n = 0;

    if (aad_len > INT32_MAX || ct_len > INT32_MAX)
        return jerr_set(err, JERR_INTERNAL, NULL, "AES-GCM input too large");
    memcpy(tag_copy, tag, sizeof(tag_copy));
    if ((ctx = EVP_CIPHER_CTX_new()) == NULL ||
        EVP_DecryptInit_ex2(ctx, EVP_aes_256_gcm(), key, iv, NULL) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1 ||
        (ct_len > 0 && EVP_DecryptUpdate(ctx, pt, &n, ct, (int)ct_len) != 1) ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, CARD_TAG_BYTES, tag_copy) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "AES-256-GCM decryption failed");
        goto out;
    }
    /* GCM is a stream mode: Final writes nothing; it only checks the tag. */
    if (EVP_DecryptFinal_ex(ctx, final_block, &n) != 1) {
        ERR_clear_error();
        if (ct_len > 0)
            OPENSSL_cleanse(pt, ct_len);
        rc = GCM_NOT_AUTHENTIC;
        goto out;
    }
    rc = GCM_AUTHENTIC;
out:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

/* scrypt(password, salt) -> the key-encryption key (keystore/kdf.h: the one cost). */
static int password_kek(const char *password, const unsigned char salt[CARD_SALT_BYTES],
                        unsigned char kek[CARD_KEY_BYTES], struct jerr *err)
{
    return kdf_scrypt(password, salt, CARD_SALT_BYTES, kek, CARD_KEY_BYTES, err);
}

/* RFC 5869 HKDF-SHA256(admin key, info = card id): one wrap key per card, so the service-wide
 * admin key itself never encrypts anything and per-key GCM invocation counts stay tiny. */
static int admin_kek(const unsigned char admin_key[CARD_ADMIN_KEY_BYTES], const char *card_id,
                     unsigned char kek[CARD_KEY_BYTES], struct jerr *err)
{
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *kctx = NULL;
    int rc = -1;

    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)admin_key,
                                          CARD_ADMIN_KEY_BYTES),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)CARD_ADMIN_HKDF_SALT,
                                          strlen(CARD_ADMIN_HKDF_SALT)),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)card_id, strlen(card_id)),
        OSSL_PARAM_construct_end(),
    };
    if ((kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL)) == NULL ||
        (kctx = EVP_KDF_CTX_new(kdf)) == NULL ||
        EVP_KDF_derive(kctx, kek, CARD_KEY_BYTES, params) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "HKDF key derivation failed");
        goto out;
    }
    rc = 0;
out:
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return rc;
}

/* ---- additional data ---- */

static int set_utf8(ASN1_UTF8STRING *s, const char *value)
{
    return ASN1_STRING_set(s, value, (int)strlen(value)) == 1 ? 0 : -1;
}

static int set_octets(ASN1_OCTET_STRING *s, const unsigned char *data, size_t len)
{
    if (len > INT32_MAX)
        return -1;
    return ASN1_OCTET_STRING_set(s, data, (int)len) == 1 ? 0 : -1;
}

static int set_cert(ASN1_OCTET_STRING *s, X509 *cert)
{
    unsigned char *der = NULL;
    int len = i2d_X509(cert, &der);
    if (len <= 0)
        return -1;
    int rc = set_octets(s, der, (size_t)len);
    OPENSSL_free(der);
    return rc;
}

/* DER of WrapContext { purpose, slot, cardId } into *aad (OPENSSL_free). */
static int wrap_aad(const char *purpose, int slot, const char *card_id, unsigned char **aad,
                    size_t *aad_len, struct jerr *err)
{
    CARD_WRAP_AAD *w = (CARD_WRAP_AAD *)ASN1_item_new(ASN1_ITEM_rptr(CARD_WRAP_AAD));
    int rc = -1, len;

    *aad = NULL;
    if (w == NULL || set_utf8(w->purpose, purpose) == -1 || set_utf8(w->card_id, card_id) == -1) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "cannot build the wrap context");
        goto out;
    }
    w->slot = slot;
    if ((len = ASN1_item_i2d((ASN1_VALUE *)w, aad, ASN1_ITEM_rptr(CARD_WRAP_AAD))) <= 0) {
        *aad = NULL;
        jerr_openssl(err, JERR_INTERNAL, NULL, "cannot encode the wrap context");
        goto out;
    }
    *aad_len = (size_t)len;
    rc = 0;
out:
    ASN1_item_free((ASN1_VALUE *)w, ASN1_ITEM_rptr(CARD_WRAP_AAD));
    return rc;
}

/* The password wrap's context leaves the card id out on purpose: an edited card id then
 * shows as tampering (the key binding below fails) rather than as a wrong password that
 * would count against the holder. */
static int password_wrap_aad(enum ca_kind slot, unsigned char **aad, size_t *aad_len,
                             struct jerr *err)
{
    return wrap_aad("password-wrap", (int)slot, "", aad, aad_len, err);
}

/* DER of KeyBinding for `slot` holding `cert` on this card, into *aad (OPENSSL_free). */
static int key_aad(const struct card_image *ci, enum ca_kind slot, X509 *cert, unsigned char **aad,
                   size_t *aad_len, struct jerr *err)
{
    CARD_KEY_AAD *b = (CARD_KEY_AAD *)ASN1_item_new(ASN1_ITEM_rptr(CARD_KEY_AAD));
    int rc = -1, len;

    *aad = NULL;
    if (b == NULL || set_utf8(b->purpose, "private-key") == -1 ||
        set_utf8(b->card_id, ci->id) == -1 || set_utf8(b->expiry, ci->expiry) == -1 ||
        set_cert(b->sign_root, ci->root[CA_SIGN]) == -1 ||
        set_cert(b->auth_root, ci->root[CA_AUTH]) == -1 || set_cert(b->certificate, cert) == -1) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "cannot build the key binding");
        goto out;
    }
    b->slot = (int32_t)slot;
    if ((len = ASN1_item_i2d((ASN1_VALUE *)b, aad, ASN1_ITEM_rptr(CARD_KEY_AAD))) <= 0) {
        *aad = NULL;
        jerr_openssl(err, JERR_INTERNAL, NULL, "cannot encode the key binding");
        goto out;
    }
    *aad_len = (size_t)len;
    rc = 0;
out:
    ASN1_item_free((ASN1_VALUE *)b, ASN1_ITEM_rptr(CARD_KEY_AAD));
    return rc;
}

/* ---- the key hierarchy ---- */

/* Derives this card's admin KEK and proves it is the one the card was made with (the admin
 * check: a GCM tag over nothing). Another key: JERR_FORBIDDEN "admin_key". */
static int admin_open(const struct card_image *ci, const unsigned char *admin_key,
                      unsigned char kek[CARD_KEY_BYTES], struct jerr *err)
{
    unsigned char *aad = NULL;
    size_t aad_len = 0;
    int rc = -1;

    if (admin_key == NULL)
        return jerr_set(err, JERR_FORBIDDEN, "admin_key", "no card-administration key given");
    if (admin_kek(admin_key, ci->id, kek, err) == -1 ||
        wrap_aad("admin-check", -1, ci->id, &aad, &aad_len, err) == -1)
        goto out;
    int r =
        gcm_open(kek, aad, aad_len, ci->admin_check_iv, NULL, 0, ci->admin_check_tag, NULL, err);
    if (r == -1)
        goto out;
    if (r == GCM_NOT_AUTHENTIC) {
        jerr_set(err, JERR_FORBIDDEN, "admin_key",
                 "the card-administration key does not open card %s", ci->id);
        goto out;
    }
    rc = 0;
out:
    if (rc == -1)
        OPENSSL_cleanse(kek, CARD_KEY_BYTES);
    OPENSSL_free(aad);
    return rc;
}

/* Wraps `slot_key` under a fresh salt and `password` into `salt`/`wrap`. */
static int wrap_under_password(enum ca_kind slot, const unsigned char slot_key[CARD_KEY_BYTES],
                               const char *password, unsigned char salt[CARD_SALT_BYTES],
                               struct card_wrap *wrap, struct jerr *err)
{
    unsigned char kek[CARD_KEY_BYTES];
    unsigned char *aad = NULL;
    size_t aad_len = 0;
    int rc = -1;

    if (RAND_bytes(salt, CARD_SALT_BYTES) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot draw a random salt");
        goto out;
    }
    if (password_kek(password, salt, kek, err) == -1 ||
        password_wrap_aad(slot, &aad, &aad_len, err) == -1 ||
        gcm_seal(kek, aad, aad_len, slot_key, CARD_KEY_BYTES, wrap->iv, wrap->ct, wrap->tag, err) ==
            -1)
        goto out;
    rc = 0;
out:
    OPENSSL_cleanse(kek, sizeof(kek));
    OPENSSL_free(aad);
    return rc;
}

/* Decrypts the slot's PKCS#8 under `slot_key` and checks it against the certificate. Any
 * failure here follows a key that opened correctly, so it means altered contents. */
static EVP_PKEY *slot_private_key(const struct card_image *ci, enum ca_kind slot,
                                  const unsigned char slot_key[CARD_KEY_BYTES], struct jerr *err)
{
    const struct card_slot *s = &ci->slot[slot];
    unsigned char *aad = NULL, *der = NULL;
    size_t aad_len = 0;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    EVP_PKEY *key = NULL, *result = NULL;

    if (key_aad(ci, slot, s->cert, &aad, &aad_len, err) == -1)
        goto out;
    if ((der = OPENSSL_malloc(s->key_ct_len)) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    int r =
        gcm_open(slot_key, aad, aad_len, s->key_iv, s->key_ct, s->key_ct_len, s->key_tag, der, err);
    if (r == -1)
        goto out;
    if (r == GCM_NOT_AUTHENTIC) {
        damaged(err, "the private key is not bound to this card, slot and certificate");
        goto out;
    }
    const unsigned char *p = der;
    p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)s->key_ct_len);
    if (p8 == NULL || p != der + s->key_ct_len || (key = EVP_PKCS82PKEY(p8)) == NULL) {
        ERR_clear_error();
        damaged(err, "the private key does not decode");
        goto out;
    }
    if (EVP_PKEY_eq(key, X509_get0_pubkey(s->cert)) != 1) {
        ERR_clear_error();
        damaged(err, "the private key does not match the certificate");
        goto out;
    }
    result = key;
    key = NULL;
out:
    PKCS8_PRIV_KEY_INFO_free(p8); /* wipes its copy of the key octets */
    EVP_PKEY_free(key);
    OPENSSL_clear_free(der, s->key_ct_len);
    OPENSSL_free(aad);
    return result;
}

/* ---- create, set, free, accessors ---- */

struct card_image *card_image_create(const char *card_id, const char *expiry, X509 *sign_root,
                                     X509 *auth_root, const unsigned char admin_key[32],
                                     struct jerr *err)
{
    struct card_image *ci = NULL, *result = NULL;
    unsigned char kek[CARD_KEY_BYTES];
    unsigned char *aad = NULL;
    size_t aad_len = 0;

    if (card_id == NULL || !card_id_is_valid(card_id, strlen(card_id))) {
        jerr_set(err, JERR_INVALID, "card_id",
                 "card id must be 1..%d characters of A-Z a-z 0-9 . _ -", JPKI_ID_MAX);
        goto out;
    }
    if (expiry == NULL || !expiry_is_valid(expiry, strlen(expiry))) {
        jerr_set(err, JERR_INVALID, "expiry", "card expiry must be a real day YYYY-MM-DD");
        goto out;
    }
    X509 *roots[CA_KIND_COUNT] = {sign_root, auth_root};
    for (int k = 0; k < CA_KIND_COUNT; k++) {
        int len = roots[k] != NULL ? i2d_X509(roots[k], NULL) : 0;
        if (len <= 0 || len > JPKI_CERT_DER_MAX) {
            ERR_clear_error();
            jerr_set(err, JERR_INVALID, "root", "the %s root is missing or not encodable",
                     ca_kind_name((enum ca_kind)k));
            goto out;
        }
    }
    if (admin_key == NULL) {
        jerr_set(err, JERR_INVALID, "admin_key", "no card-administration key given");
        goto out;
    }
    if ((ci = OPENSSL_zalloc(sizeof(*ci))) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    snprintf(ci->id, sizeof(ci->id), "%s", card_id);
    snprintf(ci->expiry, sizeof(ci->expiry), "%s", expiry);
    for (int k = 0; k < CA_KIND_COUNT; k++) {
        if (X509_up_ref(roots[k]) != 1) {
            jerr_openssl(err, JERR_INTERNAL, NULL, "cannot reference the root");
            goto out;
        }
        ci->root[k] = roots[k];
    }
    /* The admin check: later calls prove they hold this card's admin key before using it. */
    if (admin_kek(admin_key, ci->id, kek, err) == -1 ||
        wrap_aad("admin-check", -1, ci->id, &aad, &aad_len, err) == -1 ||
        gcm_seal(kek, aad, aad_len, NULL, 0, ci->admin_check_iv, NULL, ci->admin_check_tag, err) ==
            -1)
        goto out;
    result = ci;
    ci = NULL;
out:
    OPENSSL_cleanse(kek, sizeof(kek));
    OPENSSL_free(aad);
    card_image_free(ci);
    return result;
}

int card_image_set_slot(struct card_image *ci, enum ca_kind slot, X509 *cert, EVP_PKEY *key,
                        const char *password, const unsigned char admin_key[32], struct jerr *err)
{
    struct card_slot fresh;
    unsigned char slot_key[CARD_KEY_BYTES], kek[CARD_KEY_BYTES];
    unsigned char *der = NULL, *aad = NULL, *wrap_ctx = NULL;
    size_t aad_len = 0, wrap_ctx_len = 0;
    int der_len = 0, rc = -1;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    EVP_PKEY_CTX *pctx = NULL;

    memset(&fresh, 0, sizeof(fresh));
    if (!slot_is_valid(slot)) {
        jerr_set(err, JERR_INVALID, "slot", "unknown card slot %d", (int)slot);
        goto out;
    }
    if (cert == NULL || key == NULL) {
        jerr_set(err, JERR_INVALID, cert == NULL ? "certificate" : "key",
                 "a slot needs a certificate and its private key");
        goto out;
    }
    if (card_image_check_password(slot, password, err) == -1)
        goto out;
    int cert_len = i2d_X509(cert, NULL);
    if (cert_len <= 0 || cert_len > JPKI_CERT_DER_MAX) {
        ERR_clear_error();
        jerr_set(err, JERR_INVALID, "certificate", "certificate is not encodable or over %d bytes",
                 JPKI_CERT_DER_MAX);
        goto out;
    }
    if (EVP_PKEY_eq(X509_get0_pubkey(cert), key) != 1) {
        ERR_clear_error();
        jerr_set(err, JERR_INVALID, "key", "the private key does not match the certificate");
        goto out;
    }
    /* A public key would encode as a PrivateKeyInfo with nothing private in it. */
    pctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    if (pctx == NULL || EVP_PKEY_private_check(pctx) != 1) {
        ERR_clear_error();
        jerr_set(err, JERR_INVALID, "key", "the key has no (valid) private part");
        goto out;
    }
    if (admin_open(ci, admin_key, kek, err) == -1)
        goto out;
    /* RFC 5958 §2 OneAsymmetricKey (PKCS#8), encrypted at once and wiped. */
    if ((p8 = EVP_PKEY2PKCS8(key)) == NULL || (der_len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der)) <= 0) {
        der = NULL;
        der_len = 0;
        jerr_openssl(err, JERR_INVALID, "key", "cannot encode the private key (no private part?)");
        goto out;
    }
    if (der_len > CARD_KEY_DER_MAX) {
        jerr_set(err, JERR_INVALID, "key", "private key over %d bytes", CARD_KEY_DER_MAX);
        goto out;
    }
    if (RAND_priv_bytes(slot_key, sizeof(slot_key)) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot draw a slot key");
        goto out;
    }
    fresh.cert = cert;
    if (key_aad(ci, slot, cert, &aad, &aad_len, err) == -1)
        goto out;
    if ((fresh.key_ct = OPENSSL_malloc((size_t)der_len)) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    fresh.key_ct_len = (size_t)der_len;
    if (gcm_seal(slot_key, aad, aad_len, der, (size_t)der_len, fresh.key_iv, fresh.key_ct,
                 fresh.key_tag, err) == -1 ||
        wrap_under_password(slot, slot_key, password, fresh.pw_salt, &fresh.pw_wrap, err) == -1 ||
        wrap_aad("admin-wrap", (int)slot, ci->id, &wrap_ctx, &wrap_ctx_len, err) == -1 ||
        gcm_seal(kek, wrap_ctx, wrap_ctx_len, slot_key, CARD_KEY_BYTES, fresh.admin_wrap.iv,
                 fresh.admin_wrap.ct, fresh.admin_wrap.tag, err) == -1)
        goto out;
    if (X509_up_ref(cert) != 1) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "cannot reference the certificate");
        goto out;
    }
    fresh.failures = 0;
    slot_clear(&ci->slot[slot]);
    ci->slot[slot] = fresh;
    memset(&fresh, 0, sizeof(fresh)); /* now owned by the image */
    rc = 0;
out:
    fresh.cert = NULL; /* borrowed until the up_ref above */
    slot_clear(&fresh);
    PKCS8_PRIV_KEY_INFO_free(p8);
    EVP_PKEY_CTX_free(pctx);
    OPENSSL_clear_free(der, (size_t)der_len);
    OPENSSL_free(aad);
    OPENSSL_free(wrap_ctx);
    OPENSSL_cleanse(slot_key, sizeof(slot_key));
    OPENSSL_cleanse(kek, sizeof(kek));
    return rc;
}

void card_image_free(struct card_image *ci)
{
    if (ci == NULL)
        return;
    for (int k = 0; k < CA_KIND_COUNT; k++) {
        X509_free(ci->root[k]);
        slot_clear(&ci->slot[k]);
    }
    OPENSSL_clear_free(ci, sizeof(*ci));
}

const char *card_image_id(const struct card_image *ci)
{
    return ci->id;
}

const char *card_image_expiry(const struct card_image *ci)
{
    return ci->expiry;
}

X509 *card_image_get0_cert(const struct card_image *ci, enum ca_kind slot)
{
    return slot_is_valid(slot) ? ci->slot[slot].cert : NULL;
}

X509 *card_image_get0_root(const struct card_image *ci, enum ca_kind ca)
{
    return slot_is_valid(ca) ? ci->root[ca] : NULL;
}

int card_image_tries_left(const struct card_image *ci, enum ca_kind slot)
{
    if (!slot_is_valid(slot) || ci->slot[slot].cert == NULL)
        return -1;
    int left = max_tries(slot) - ci->slot[slot].failures;
    return left > 0 ? left : 0;
}

bool card_image_is_locked(const struct card_image *ci, enum ca_kind slot)
{
    return card_image_tries_left(ci, slot) == 0;
}

/* ---- encoding ---- */

static int box_set(CARD_BOX *b, const unsigned char *iv, const unsigned char *ct, size_t ct_len,
                   const unsigned char *tag)
{
    if (set_octets(b->iv, iv, CARD_IV_BYTES) == -1 || set_octets(b->ciphertext, ct, ct_len) == -1 ||
        set_octets(b->tag, tag, CARD_TAG_BYTES) == -1)
        return -1;
    return 0;
}

static int slot_encode(const struct card_slot *s, enum ca_kind slot, CARD_SLOT *cs)
{
    cs->slot = (int32_t)slot;
    cs->failures = s->failures;
    if (set_cert(cs->certificate, s->cert) == -1 ||
        box_set(cs->private_key, s->key_iv, s->key_ct, s->key_ct_len, s->key_tag) == -1 ||
        set_octets(cs->password_salt, s->pw_salt, CARD_SALT_BYTES) == -1 ||
        box_set(cs->password_wrap, s->pw_wrap.iv, s->pw_wrap.ct, CARD_KEY_BYTES, s->pw_wrap.tag) ==
            -1 ||
        box_set(cs->admin_wrap, s->admin_wrap.iv, s->admin_wrap.ct, CARD_KEY_BYTES,
                s->admin_wrap.tag) == -1)
        return -1;
    return 0;
}

/* The whole file: DER of CardImage, into *out (OPENSSL_free). */
static int card_encode(const struct card_image *ci, unsigned char **out, size_t *out_len,
                       struct jerr *err)
{
    CARD_BODY *body = (CARD_BODY *)ASN1_item_new(ASN1_ITEM_rptr(CARD_BODY));
    CARD_FILE *file = (CARD_FILE *)ASN1_item_new(ASN1_ITEM_rptr(CARD_FILE));
    CARD_SLOT *cs = NULL;
    unsigned char *body_der = NULL, *der = NULL;
    unsigned char checksum[CARD_CHECKSUM_BYTES];
    unsigned int checksum_len = 0;
    int body_len, len, rc = -1;

    if (body == NULL || file == NULL)
        goto fail;
    body->version = CARD_FORMAT_VERSION;
    if (set_utf8(body->card_id, ci->id) == -1 || set_utf8(body->expiry, ci->expiry) == -1 ||
        set_cert(body->sign_root, ci->root[CA_SIGN]) == -1 ||
        set_cert(body->auth_root, ci->root[CA_AUTH]) == -1 ||
        box_set(body->admin_check, ci->admin_check_iv, NULL, 0, ci->admin_check_tag) == -1)
        goto fail;
    for (int k = 0; k < CA_KIND_COUNT; k++) {
        if (ci->slot[k].cert == NULL)
            continue;
        if ((cs = (CARD_SLOT *)ASN1_item_new(ASN1_ITEM_rptr(CARD_SLOT))) == NULL ||
            slot_encode(&ci->slot[k], (enum ca_kind)k, cs) == -1 ||
            sk_CARD_SLOT_push(body->slots, cs) <= 0)
            goto fail;
        cs = NULL;
    }
    if ((body_len = ASN1_item_i2d((ASN1_VALUE *)body, &body_der, ASN1_ITEM_rptr(CARD_BODY))) <= 0) {
        body_der = NULL;
        goto fail;
    }
    if (EVP_Digest(body_der, (size_t)body_len, checksum, &checksum_len, EVP_sha256(), NULL) != 1 ||
        checksum_len != CARD_CHECKSUM_BYTES ||
        set_octets(file->body, body_der, (size_t)body_len) == -1 ||
        set_octets(file->checksum, checksum, CARD_CHECKSUM_BYTES) == -1)
        goto fail;
    if ((len = ASN1_item_i2d((ASN1_VALUE *)file, &der, ASN1_ITEM_rptr(CARD_FILE))) <= 0) {
        der = NULL;
        goto fail;
    }
    *out = der;
    *out_len = (size_t)len;
    rc = 0;
    goto out;
fail:
    jerr_openssl(err, JERR_INTERNAL, NULL, "cannot encode the card image");
out:
    ASN1_item_free((ASN1_VALUE *)cs, ASN1_ITEM_rptr(CARD_SLOT));
    ASN1_item_free((ASN1_VALUE *)body, ASN1_ITEM_rptr(CARD_BODY));
    ASN1_item_free((ASN1_VALUE *)file, ASN1_ITEM_rptr(CARD_FILE));
    OPENSSL_free(body_der);
    return rc;
}

int card_image_encode(const struct card_image *ci, unsigned char **der, size_t *der_len,
                      struct jerr *err)
{
    return card_encode(ci, der, der_len, err);
}

int card_image_save(const struct card_image *ci, const char *path, struct jerr *err)
{
    unsigned char *der = NULL;
    size_t len = 0;
    int rc = -1;

    if (path == NULL)
        return jerr_set(err, JERR_INVALID, "path", "no card image path given");
    if (card_encode(ci, &der, &len, err) == -1)
        goto out;
    rc = fsutil_write_atomic(path, der, len, 0600, false, err);
out:
    OPENSSL_free(der);
    return rc;
}

/* ---- decoding: the one parser of the format ---- */

/* d2i of `item` from exactly `len` bytes that must be canonical DER (re-encoding gives the same
 * bytes back), so that no two files decode to the same image. NULL when not. */
static ASN1_VALUE *decode_exact(const unsigned char *data, size_t len, const ASN1_ITEM *item)
{
    const unsigned char *p = data;
    unsigned char *again = NULL;
    ASN1_VALUE *v = NULL;
    int again_len;

    if (len == 0 || len > INT32_MAX)
        return NULL;
    v = ASN1_item_d2i(NULL, &p, (long)len, item);
    if (v == NULL || p != data + len)
        goto fail;
    again_len = ASN1_item_i2d(v, &again, item);
    if (again_len <= 0 || (size_t)again_len != len || memcmp(again, data, len) != 0)
        goto fail;
    OPENSSL_free(again);
    return v;
fail:
    ERR_clear_error();
    OPENSSL_free(again);
    ASN1_item_free(v, item);
    return NULL;
}

static X509 *cert_decode(const ASN1_OCTET_STRING *s)
{
    int len = ASN1_STRING_length(s);
    const unsigned char *der = ASN1_STRING_get0_data(s);
    const unsigned char *p = der;

    if (len <= 0 || len > JPKI_CERT_DER_MAX)
        return NULL;
    X509 *cert = d2i_X509(NULL, &p, len);
    if (cert == NULL || p != der + len) {
        ERR_clear_error();
        X509_free(cert);
        return NULL;
    }
    return cert;
}

/* Copies a GcmBox whose ciphertext must be exactly `ct_len` bytes. */
static int box_get(const CARD_BOX *b, unsigned char iv[CARD_IV_BYTES], unsigned char *ct,
                   size_t ct_len, unsigned char tag[CARD_TAG_BYTES])
{
    if (ASN1_STRING_length(b->iv) != CARD_IV_BYTES ||
        (size_t)ASN1_STRING_length(b->ciphertext) != ct_len ||
        ASN1_STRING_length(b->tag) != CARD_TAG_BYTES)
        return -1;
    memcpy(iv, ASN1_STRING_get0_data(b->iv), CARD_IV_BYTES);
    if (ct_len > 0)
        memcpy(ct, ASN1_STRING_get0_data(b->ciphertext), ct_len);
    memcpy(tag, ASN1_STRING_get0_data(b->tag), CARD_TAG_BYTES);
    return 0;
}

static int slot_decode(const CARD_SLOT *cs, struct card_slot *s, struct jerr *err)
{
    enum ca_kind slot = (enum ca_kind)cs->slot;

    if ((s->cert = cert_decode(cs->certificate)) == NULL)
        return damaged(err, "a slot certificate does not decode");
    int key_len = ASN1_STRING_length(cs->private_key->ciphertext);
    if (key_len <= 0 || key_len > CARD_KEY_DER_MAX)
        return damaged(err, "a slot's encrypted private key has an impossible length");
    if ((s->key_ct = OPENSSL_malloc((size_t)key_len)) == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    s->key_ct_len = (size_t)key_len;
    if (box_get(cs->private_key, s->key_iv, s->key_ct, s->key_ct_len, s->key_tag) == -1 ||
        ASN1_STRING_length(cs->password_salt) != CARD_SALT_BYTES ||
        box_get(cs->password_wrap, s->pw_wrap.iv, s->pw_wrap.ct, CARD_KEY_BYTES, s->pw_wrap.tag) ==
            -1 ||
        box_get(cs->admin_wrap, s->admin_wrap.iv, s->admin_wrap.ct, CARD_KEY_BYTES,
                s->admin_wrap.tag) == -1)
        return damaged(err, "a slot's key material has impossible lengths");
    memcpy(s->pw_salt, ASN1_STRING_get0_data(cs->password_salt), CARD_SALT_BYTES);
    if (cs->failures < 0 || cs->failures > max_tries(slot))
        return damaged(err, "a retry counter is out of range");
    s->failures = cs->failures;
    return 0;
}

/* The one parser of the format (rpki-client's sense: a fully checked image or NULL). Order:
 * size, framing, checksum, then every field of the body. */
struct card_image *card_image_parse(const unsigned char *data, size_t len, struct jerr *err)
{
    CARD_FILE *file = NULL;
    CARD_BODY *body = NULL;
    struct card_image *ci = NULL, *result = NULL;
    unsigned char digest[CARD_CHECKSUM_BYTES];
    unsigned int digest_len = 0;

    if (len == 0) {
        damaged(err, "the file is empty");
        goto out;
    }
    if (len > CARD_IMAGE_MAX_BYTES) {
        jerr_set(err, JERR_TOO_LARGE, "card_image", "card image is larger than %d bytes",
                 CARD_IMAGE_MAX_BYTES);
        goto out;
    }
    file = (CARD_FILE *)decode_exact(data, len, ASN1_ITEM_rptr(CARD_FILE));
    if (file == NULL) {
        damaged(err, "not a DER CardImage");
        goto out;
    }
    const unsigned char *body_der = ASN1_STRING_get0_data(file->body);
    int body_len = ASN1_STRING_length(file->body);
    if (EVP_Digest(body_der, (size_t)body_len, digest, &digest_len, EVP_sha256(), NULL) != 1) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "SHA-256 failed");
        goto out;
    }
    if (ASN1_STRING_length(file->checksum) != CARD_CHECKSUM_BYTES ||
        CRYPTO_memcmp(ASN1_STRING_get0_data(file->checksum), digest, CARD_CHECKSUM_BYTES) != 0) {
        damaged(err, "checksum mismatch");
        goto out;
    }
    body = (CARD_BODY *)decode_exact(body_der, (size_t)body_len, ASN1_ITEM_rptr(CARD_BODY));
    if (body == NULL) {
        damaged(err, "the body is not a DER CardImageBody");
        goto out;
    }
    if (body->version != CARD_FORMAT_VERSION) {
        jerr_set(err, JERR_INVALID, "card_image", "card image format version %d is not supported",
                 (int)body->version);
        goto out;
    }
    if ((ci = OPENSSL_zalloc(sizeof(*ci))) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    const char *id = (const char *)ASN1_STRING_get0_data(body->card_id);
    const char *expiry = (const char *)ASN1_STRING_get0_data(body->expiry);
    size_t id_len = (size_t)ASN1_STRING_length(body->card_id);
    size_t expiry_len = (size_t)ASN1_STRING_length(body->expiry);
    if (!card_id_is_valid(id, id_len) || !expiry_is_valid(expiry, expiry_len)) {
        damaged(err, "the card id or expiry is malformed");
        goto out;
    }
    memcpy(ci->id, id, id_len);
    memcpy(ci->expiry, expiry, expiry_len);
    if ((ci->root[CA_SIGN] = cert_decode(body->sign_root)) == NULL ||
        (ci->root[CA_AUTH] = cert_decode(body->auth_root)) == NULL) {
        damaged(err, "a root certificate does not decode");
        goto out;
    }
    if (box_get(body->admin_check, ci->admin_check_iv, NULL, 0, ci->admin_check_tag) == -1) {
        damaged(err, "the administration check has impossible lengths");
        goto out;
    }
    int n = sk_CARD_SLOT_num(body->slots);
    if (n > CA_KIND_COUNT) {
        damaged(err, "more than two slots");
        goto out;
    }
    int previous = -1;
    for (int i = 0; i < n; i++) {
        const CARD_SLOT *cs = sk_CARD_SLOT_value(body->slots, i);
        /* Slots appear once each, sign (0) before auth (1), as card_encode writes them. */
        if (cs->slot <= previous || !slot_is_valid((enum ca_kind)cs->slot)) {
            damaged(err, "unknown, repeated or unordered slot");
            goto out;
        }
        previous = cs->slot;
        if (slot_decode(cs, &ci->slot[cs->slot], err) == -1)
            goto out;
    }
    result = ci;
    ci = NULL;
out:
    ASN1_item_free((ASN1_VALUE *)body, ASN1_ITEM_rptr(CARD_BODY));
    ASN1_item_free((ASN1_VALUE *)file, ASN1_ITEM_rptr(CARD_FILE));
    card_image_free(ci);
    return result;
}

struct card_image *card_image_load(const char *path, struct jerr *err)
{
    unsigned char *data = NULL;
    size_t len = 0;
    struct card_image *ci = NULL;
    char shown[256];

    if (path == NULL) {
        jerr_set(err, JERR_INVALID, "path", "no card image path given");
        return NULL;
    }
    jerr_escape(shown, sizeof(shown), path, strlen(path));
    struct jerr read_err = {0};
    if (fsutil_read_file(path, CARD_IMAGE_MAX_BYTES, &data, &len, &read_err) == -1) {
        if (read_err.code == JERR_TOO_LARGE)
            jerr_set(err, JERR_TOO_LARGE, "card_image", "card image %s is larger than %d bytes",
                     shown, CARD_IMAGE_MAX_BYTES);
        else
            jerr_set(err, read_err.code, "card_image", "%s", read_err.msg);
        goto out;
    }
    /* The wrapped keys are offline-guessable material: keep them the holder's alone. */
    if (fsutil_check_private(path, err) == -1)
        goto out;
    ci = card_image_parse(data, len, err);
out:
    free(data);
    return ci;
}

/* ---- the holder's and the window's operations ---- */

/* Checks `password` against the slot's wrap and, when right, puts the slot key in `slot_key`.
 *
 * The try is counted and written to `path` BEFORE the password is checked, as a smart card
 * decrements its PIN counter before comparing: whatever moment the process is killed at, and
 * whatever an observer learns from timing or from watching the file, the try is already on
 * disk. A wrong password leaves it counted (JERR_AUTH, tries left in the message); a right one
 * leaves it counted too, in memory and on disk, until the caller settles it (settle_right_try)
 * together with whatever else it writes. When the count cannot be written, nothing is checked.
 * Locked: JERR_FORBIDDEN, no try. */
static int open_with_password(struct card_image *ci, const char *path, enum ca_kind slot,
                              const char *password, unsigned char slot_key[CARD_KEY_BYTES],
                              struct jerr *err)
{
    struct card_slot *s;
    unsigned char kek[CARD_KEY_BYTES];
    unsigned char *aad = NULL;
    size_t aad_len = 0;
    int rc = -1;

    OPENSSL_cleanse(slot_key, CARD_KEY_BYTES);
    if (!slot_is_valid(slot))
        return jerr_set(err, JERR_INVALID, "slot", "unknown card slot %d", (int)slot);
    if (path == NULL)
        return jerr_set(err, JERR_INVALID, "path", "no card image path given");
    s = &ci->slot[slot];
    if (s->cert == NULL)
        return jerr_set(err, JERR_NOT_FOUND, "slot", "no %s certificate on card %s",
                        ca_kind_name(slot), ci->id);
    /* DESIGN §1: a locked slot answers nothing until the window resets it. */
    if (s->failures >= max_tries(slot))
        return jerr_set(err, JERR_FORBIDDEN, "password",
                        "slot locked: the %s slot locked after %d wrong tries; have the %s reset "
                        "at the municipal window",
                        ca_kind_name(slot), max_tries(slot), password_word(slot));
    /* Cannot be right, so it is refused like the card's client would, before any try. */
    if (card_image_check_password(slot, password, err) == -1)
        return -1;
    s->failures++;
    if (card_image_save(ci, path, err) == -1) {
        s->failures--; /* not on disk: the try did not happen */
        return -1;
    }
    if (password_kek(password, s->pw_salt, kek, err) == -1 ||
        password_wrap_aad(slot, &aad, &aad_len, err) == -1)
        goto out;
    int r = gcm_open(kek, aad, aad_len, s->pw_wrap.iv, s->pw_wrap.ct, CARD_KEY_BYTES,
                     s->pw_wrap.tag, slot_key, err);
    if (r == -1)
        goto out;
    if (r == GCM_NOT_AUTHENTIC) {
        int left = max_tries(slot) - s->failures;
        if (left == 0)
            jerr_set(err, JERR_AUTH, "password",
                     "wrong %s: 0 tries left, the %s slot is now locked; have it reset at the "
                     "municipal window",
                     password_word(slot), ca_kind_name(slot));
        else
            jerr_set(err, JERR_AUTH, "password", "wrong %s: %d %s left", password_word(slot), left,
                     left == 1 ? "try" : "tries");
        goto out;
    }
    rc = 0;
out:
    OPENSSL_cleanse(kek, sizeof(kek));
    OPENSSL_free(aad);
    if (rc == -1)
        OPENSSL_cleanse(slot_key, CARD_KEY_BYTES);
    return rc;
}

/* DESIGN §1: the counter counts wrong tries in a row, so a right password clears it (on disk).
 * If that write fails the count stays raised: the safe side. */
static int settle_right_try(struct card_image *ci, const char *path, enum ca_kind slot,
                            struct jerr *err)
{
    int counted = ci->slot[slot].failures;
    ci->slot[slot].failures = 0;
    if (card_image_save(ci, path, err) == -1) {
        ci->slot[slot].failures = counted;
        return -1;
    }
    return 0;
}

EVP_PKEY *card_image_unlock_key(struct card_image *ci, const char *path, enum ca_kind slot,
                                const char *password, struct jerr *err)
{
    unsigned char slot_key[CARD_KEY_BYTES];
    EVP_PKEY *key = NULL;

    if (open_with_password(ci, path, slot, password, slot_key, err) == -1)
        goto out;
    /* NULL here means altered contents (err says so); the password was right all the same. */
    key = slot_private_key(ci, slot, slot_key, err);
    if (settle_right_try(ci, path, slot, err) == -1) {
        EVP_PKEY_free(key);
        key = NULL;
    }
out:
    OPENSSL_cleanse(slot_key, sizeof(slot_key));
    return key;
}

/* Re-wraps the open slot key under `new_password`, clears the counter and writes the image;
 * on failure the image in memory is left as it was. */
static int rewrap_and_save(struct card_image *ci, const char *path, enum ca_kind slot,
                           const unsigned char slot_key[CARD_KEY_BYTES], const char *new_password,
                           struct jerr *err)
{
    struct card_slot *s = &ci->slot[slot];
    unsigned char old_salt[CARD_SALT_BYTES], new_salt[CARD_SALT_BYTES];
    struct card_wrap old_wrap, new_wrap;
    int old_failures = s->failures;
    int rc = -1;

    if (wrap_under_password(slot, slot_key, new_password, new_salt, &new_wrap, err) == -1)
        goto out;
    memcpy(old_salt, s->pw_salt, sizeof(old_salt));
    old_wrap = s->pw_wrap;
    memcpy(s->pw_salt, new_salt, sizeof(new_salt));
    s->pw_wrap = new_wrap;
    s->failures = 0;
    if (card_image_save(ci, path, err) == -1) {
        memcpy(s->pw_salt, old_salt, sizeof(old_salt));
        s->pw_wrap = old_wrap;
        s->failures = old_failures;
        goto out;
    }
    rc = 0;
out:
    OPENSSL_cleanse(&old_wrap, sizeof(old_wrap));
    OPENSSL_cleanse(&new_wrap, sizeof(new_wrap));
    return rc;
}

int card_image_change_password(struct card_image *ci, const char *path, enum ca_kind slot,
                               const char *old_password, const char *new_password, struct jerr *err)
{
    unsigned char slot_key[CARD_KEY_BYTES];
    EVP_PKEY *key = NULL;
    int rc = -1;

    /* The new password is checked first: a refused change costs no try. */
    if (card_image_check_password(slot, new_password, err) == -1)
        return -1;
    if (open_with_password(ci, path, slot, old_password, slot_key, err) == -1)
        goto out;
    /* Only a slot whose key still opens and matches gets a new password. */
    if ((key = slot_private_key(ci, slot, slot_key, err)) == NULL) {
        settle_right_try(ci, path, slot, err); /* err keeps the first failure */
        goto out;
    }
    rc = rewrap_and_save(ci, path, slot, slot_key, new_password, err);
out:
    EVP_PKEY_free(key);
    OPENSSL_cleanse(slot_key, sizeof(slot_key));
    return rc;
}

int card_image_reset_password(struct card_image *ci, const char *path, enum ca_kind slot,
                              const unsigned char admin_key[32], const char *new_password,
                              struct jerr *err)
{
    unsigned char slot_key[CARD_KEY_BYTES], kek[CARD_KEY_BYTES];
    unsigned char *aad = NULL;
    size_t aad_len = 0;
    EVP_PKEY *key = NULL;
    int rc = -1;

    if (card_image_check_password(slot, new_password, err) == -1)
        return -1;
    if (path == NULL)
        return jerr_set(err, JERR_INVALID, "path", "no card image path given");
    struct card_slot *s = &ci->slot[slot];
    if (s->cert == NULL)
        return jerr_set(err, JERR_NOT_FOUND, "slot", "no %s certificate on card %s",
                        ca_kind_name(slot), ci->id);
    if (admin_open(ci, admin_key, kek, err) == -1)
        goto out;
    if (wrap_aad("admin-wrap", (int)slot, ci->id, &aad, &aad_len, err) == -1)
        goto out;
    int r = gcm_open(kek, aad, aad_len, s->admin_wrap.iv, s->admin_wrap.ct, CARD_KEY_BYTES,
                     s->admin_wrap.tag, slot_key, err);
    if (r == -1)
        goto out;
    if (r == GCM_NOT_AUTHENTIC) {
        /* The admin key was proven right by the admin check: the wrap itself was altered. */
        damaged(err, "the administration wrap of the slot key does not open");
        goto out;
    }
    if ((key = slot_private_key(ci, slot, slot_key, err)) == NULL)
        goto out;
    rc = rewrap_and_save(ci, path, slot, slot_key, new_password, err);
out:
    EVP_PKEY_free(key);
    OPENSSL_free(aad);
    OPENSSL_cleanse(slot_key, sizeof(slot_key));
    OPENSSL_cleanse(kek, sizeof(kek));
    return rc;
}
