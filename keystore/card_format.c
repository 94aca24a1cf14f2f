/*
 * card_format: the one on-disk encoding of the card image (docs/CARD.md "Format") — the ASN.1
 * templates, the encoder (card_image_encode, card_image_save) and the one parser
 * (card_image_parse, card_image_load), and the DER of the additional data the ciphertexts are
 * bound to. What the image means and how its secrets open is keystore/card.c's.
 *
 * DER built with OpenSSL's ASN.1 templates (no hand-written encoder or parser). The file is
 * CardImage ::= SEQUENCE { body OCTET STRING, checksum OCTET STRING } where body holds the DER
 * of CardImageBody and checksum is its SHA-256: load detects any changed byte before it trusts
 * a field. The parser returns a fully checked image or nothing (rpki-client's rule).
 */
#include "keystore/card.h"
#include "keystore/card_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/safestack.h>
#include <openssl/x509.h>

#include "base/fsutil.h"

/* The layout version written in CardImageBody.version; also names the KDF costs. */
#define CARD_FORMAT_VERSION 1
#define CARD_CHECKSUM_BYTES 32
/* Four certificates and two keys at their caps, plus framing. */
#define CARD_IMAGE_MAX_BYTES (4 * JPKI_CERT_DER_MAX + 2 * CARD_KEY_DER_MAX + 8 * 1024)

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

/* ---- additional data (card_int.h) ---- */

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

int card_wrap_aad(const char *purpose, int slot, const char *card_id, unsigned char **aad,
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

int card_key_aad(const struct card_image *ci, enum ca_kind slot, X509 *cert, unsigned char **aad,
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
        return card_damaged(err, "a slot certificate does not decode");
    int key_len = ASN1_STRING_length(cs->private_key->ciphertext);
    if (key_len <= 0 || key_len > CARD_KEY_DER_MAX)
        return card_damaged(err, "a slot's encrypted private key has an impossible length");
    if ((s->key_ct = OPENSSL_malloc((size_t)key_len)) == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    s->key_ct_len = (size_t)key_len;
    if (box_get(cs->private_key, s->key_iv, s->key_ct, s->key_ct_len, s->key_tag) == -1 ||
        ASN1_STRING_length(cs->password_salt) != CARD_SALT_BYTES ||
        box_get(cs->password_wrap, s->pw_wrap.iv, s->pw_wrap.ct, CARD_KEY_BYTES, s->pw_wrap.tag) ==
            -1 ||
        box_get(cs->admin_wrap, s->admin_wrap.iv, s->admin_wrap.ct, CARD_KEY_BYTES,
                s->admin_wrap.tag) == -1)
        return card_damaged(err, "a slot's key material has impossible lengths");
    memcpy(s->pw_salt, ASN1_STRING_get0_data(cs->password_salt), CARD_SALT_BYTES);
    if (cs->failures < 0 || cs->failures > card_max_tries(slot))
        return card_damaged(err, "a retry counter is out of range");
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
        card_damaged(err, "the file is empty");
        goto out;
    }
    if (len > CARD_IMAGE_MAX_BYTES) {
        jerr_set(err, JERR_TOO_LARGE, "card_image", "card image is larger than %d bytes",
                 CARD_IMAGE_MAX_BYTES);
        goto out;
    }
    file = (CARD_FILE *)decode_exact(data, len, ASN1_ITEM_rptr(CARD_FILE));
    if (file == NULL) {
        card_damaged(err, "not a DER CardImage");
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
        card_damaged(err, "checksum mismatch");
        goto out;
    }
    body = (CARD_BODY *)decode_exact(body_der, (size_t)body_len, ASN1_ITEM_rptr(CARD_BODY));
    if (body == NULL) {
        card_damaged(err, "the body is not a DER CardImageBody");
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
    if (!card_id_is_valid(id, id_len) || !card_expiry_is_valid(expiry, expiry_len)) {
        card_damaged(err, "the card id or expiry is malformed");
        goto out;
    }
    memcpy(ci->id, id, id_len);
    memcpy(ci->expiry, expiry, expiry_len);
    if ((ci->root[CA_SIGN] = cert_decode(body->sign_root)) == NULL ||
        (ci->root[CA_AUTH] = cert_decode(body->auth_root)) == NULL) {
        card_damaged(err, "a root certificate does not decode");
        goto out;
    }
    if (box_get(body->admin_check, ci->admin_check_iv, NULL, 0, ci->admin_check_tag) == -1) {
        card_damaged(err, "the administration check has impossible lengths");
        goto out;
    }
    int n = sk_CARD_SLOT_num(body->slots);
    if (n > CA_KIND_COUNT) {
        card_damaged(err, "more than two slots");
        goto out;
    }
    int previous = -1;
    for (int i = 0; i < n; i++) {
        const CARD_SLOT *cs = sk_CARD_SLOT_value(body->slots, i);
        /* Slots appear once each, sign (0) before auth (1), as card_encode writes them. */
        if (cs->slot <= previous || !card_slot_is_valid((enum ca_kind)cs->slot)) {
            card_damaged(err, "unknown, repeated or unordered slot");
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
