/*
 * card: the card image (simulated IC card). See card.h for the interface and docs/CARD.md for
 * the format and the reasoning behind the key hierarchy.
 *
 * What it owns: the in-memory image (ids, roots, certificates, encrypted private keys, wrapped
 * slot keys, retry counters), the password and retry rules, and the key hierarchy. Its one
 * on-disk encoding (ASN.1 templates, encoder, parser) is keystore/card_format.c; the cipher is
 * keystore/aead.c. What it never does: write a private key, a slot key or a password-derived
 * key outside memory, or give an answer to a password try before the counter that try changed
 * is on disk.
 *
 * Every ciphertext is AES-256-GCM whose additional data names what it belongs to
 * (card_wrap_aad, card_key_aad), so a deliberate edit of the file that also recomputes its
 * checksum is caught when a secret opens it.
 *
 * Key hierarchy (per slot):
 *   slot key (random, 256 bits) --AES-256-GCM--> PKCS#8 private key
 *   scrypt(password, salt)      --AES-256-GCM--> slot key   (the holder's way in)
 *   HKDF(admin key, card id)    --AES-256-GCM--> slot key   (the window's way in)
 */
#include "keystore/card.h"
#include "keystore/card_int.h"
#include "keystore/kdf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "base/jclock.h"

/* HKDF salt: separates the admin-key use from any other use of the same key. */
#define CARD_ADMIN_HKDF_SALT "jpki card image v1 admin wrap key"

#define CARD_DAMAGED "card image is damaged or has been tampered with"

/* ---- the rules (card_int.h: the parser checks them too) ---- */

int card_max_tries(enum ca_kind slot)
{
    return slot == CA_SIGN ? CARD_SIGN_MAX_TRIES : CARD_AUTH_MAX_TRIES;
}

static const char *password_word(enum ca_kind slot)
{
    return slot == CA_SIGN ? "signing password" : "authentication PIN";
}

bool card_slot_is_valid(enum ca_kind slot)
{
    return slot == CA_SIGN || slot == CA_AUTH;
}

int card_damaged(struct jerr *err, const char *what)
{
    return jerr_set(err, JERR_INVALID, "card_image", CARD_DAMAGED ": %s", what);
}

void card_slot_clear(struct card_slot *s)
{
    X509_free(s->cert);
    OPENSSL_free(s->key_ct); /* ciphertext: nothing secret, but the wraps below are wiped */
    OPENSSL_cleanse(s, sizeof(*s));
}

/* Same character rule as model_check_id (ca/ sits above keystore/, so it is not called). */
bool card_id_is_valid(const char *id, size_t len)
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

bool card_expiry_is_valid(const char *expiry, size_t len)
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
    if (!card_slot_is_valid(slot))
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

/* ---- key derivation: scrypt, HKDF (the cipher is keystore/aead.h) ---- */

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
    return kdf_hkdf_sha256(admin_key, CARD_ADMIN_KEY_BYTES,
                           (const unsigned char *)CARD_ADMIN_HKDF_SALT, strlen(CARD_ADMIN_HKDF_SALT),
                           (const unsigned char *)card_id, strlen(card_id), kek, CARD_KEY_BYTES,
                           err);
}

/* The password wrap's context leaves the card id out on purpose: an edited card id then
 * shows as tampering (the key binding fails) rather than as a wrong password that would count
 * against the holder. */
static int password_wrap_aad(enum ca_kind slot, unsigned char **aad, size_t *aad_len,
                             struct jerr *err)
{
    return card_wrap_aad("password-wrap", (int)slot, "", aad, aad_len, err);
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
        card_wrap_aad("admin-check", -1, ci->id, &aad, &aad_len, err) == -1)
        goto out;
    int r =
        aead_open(kek, aad, aad_len, ci->admin_check_iv, NULL, 0, ci->admin_check_tag, NULL, err);
    if (r == -1)
        goto out;
    if (r == AEAD_NOT_AUTHENTIC) {
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
        aead_seal(kek, aad, aad_len, slot_key, CARD_KEY_BYTES, wrap->iv, wrap->ct, wrap->tag,
                  err) == -1)
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

    if (card_key_aad(ci, slot, s->cert, &aad, &aad_len, err) == -1)
        goto out;
    if ((der = OPENSSL_malloc(s->key_ct_len)) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    int r = aead_open(slot_key, aad, aad_len, s->key_iv, s->key_ct, s->key_ct_len, s->key_tag, der,
                      err);
    if (r == -1)
        goto out;
    if (r == AEAD_NOT_AUTHENTIC) {
        card_damaged(err, "the private key is not bound to this card, slot and certificate");
        goto out;
    }
    const unsigned char *p = der;
    p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)s->key_ct_len);
    if (p8 == NULL || p != der + s->key_ct_len || (key = EVP_PKCS82PKEY(p8)) == NULL) {
        ERR_clear_error();
        card_damaged(err, "the private key does not decode");
        goto out;
    }
    if (EVP_PKEY_eq(key, X509_get0_pubkey(s->cert)) != 1) {
        ERR_clear_error();
        card_damaged(err, "the private key does not match the certificate");
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
    if (expiry == NULL || !card_expiry_is_valid(expiry, strlen(expiry))) {
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
        card_wrap_aad("admin-check", -1, ci->id, &aad, &aad_len, err) == -1 ||
        aead_seal(kek, aad, aad_len, NULL, 0, ci->admin_check_iv, NULL, ci->admin_check_tag, err) ==
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
    if (!card_slot_is_valid(slot)) {
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
    if (card_key_aad(ci, slot, cert, &aad, &aad_len, err) == -1)
        goto out;
    if ((fresh.key_ct = OPENSSL_malloc((size_t)der_len)) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    fresh.key_ct_len = (size_t)der_len;
    if (aead_seal(slot_key, aad, aad_len, der, (size_t)der_len, fresh.key_iv, fresh.key_ct,
                  fresh.key_tag, err) == -1 ||
        wrap_under_password(slot, slot_key, password, fresh.pw_salt, &fresh.pw_wrap, err) == -1 ||
        card_wrap_aad("admin-wrap", (int)slot, ci->id, &wrap_ctx, &wrap_ctx_len, err) == -1 ||
        aead_seal(kek, wrap_ctx, wrap_ctx_len, slot_key, CARD_KEY_BYTES, fresh.admin_wrap.iv,
                  fresh.admin_wrap.ct, fresh.admin_wrap.tag, err) == -1)
        goto out;
    if (X509_up_ref(cert) != 1) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "cannot reference the certificate");
        goto out;
    }
    fresh.failures = 0;
    card_slot_clear(&ci->slot[slot]);
    ci->slot[slot] = fresh;
    memset(&fresh, 0, sizeof(fresh)); /* now owned by the image */
    rc = 0;
out:
    fresh.cert = NULL; /* borrowed until the up_ref above */
    card_slot_clear(&fresh);
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
        card_slot_clear(&ci->slot[k]);
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
    return card_slot_is_valid(slot) ? ci->slot[slot].cert : NULL;
}

X509 *card_image_get0_root(const struct card_image *ci, enum ca_kind ca)
{
    return card_slot_is_valid(ca) ? ci->root[ca] : NULL;
}

int card_image_tries_left(const struct card_image *ci, enum ca_kind slot)
{
    if (!card_slot_is_valid(slot) || ci->slot[slot].cert == NULL)
        return -1;
    int left = card_max_tries(slot) - ci->slot[slot].failures;
    return left > 0 ? left : 0;
}

bool card_image_is_locked(const struct card_image *ci, enum ca_kind slot)
{
    return card_image_tries_left(ci, slot) == 0;
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
    if (!card_slot_is_valid(slot))
        return jerr_set(err, JERR_INVALID, "slot", "unknown card slot %d", (int)slot);
    if (path == NULL)
        return jerr_set(err, JERR_INVALID, "path", "no card image path given");
    s = &ci->slot[slot];
    if (s->cert == NULL)
        return jerr_set(err, JERR_NOT_FOUND, "slot", "no %s certificate on card %s",
                        ca_kind_name(slot), ci->id);
    /* DESIGN §1: a locked slot answers nothing until the window resets it. */
    if (s->failures >= card_max_tries(slot))
        return jerr_set(err, JERR_FORBIDDEN, "password",
                        "slot locked: the %s slot locked after %d wrong tries; have the %s reset "
                        "at the municipal window",
                        ca_kind_name(slot), card_max_tries(slot), password_word(slot));
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
    int r = aead_open(kek, aad, aad_len, s->pw_wrap.iv, s->pw_wrap.ct, CARD_KEY_BYTES,
                      s->pw_wrap.tag, slot_key, err);
    if (r == -1)
        goto out;
    if (r == AEAD_NOT_AUTHENTIC) {
        int left = card_max_tries(slot) - s->failures;
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
    if (card_wrap_aad("admin-wrap", (int)slot, ci->id, &aad, &aad_len, err) == -1)
        goto out;
    int r = aead_open(kek, aad, aad_len, s->admin_wrap.iv, s->admin_wrap.ct, CARD_KEY_BYTES,
                      s->admin_wrap.tag, slot_key, err);
    if (r == -1)
        goto out;
    if (r == AEAD_NOT_AUTHENTIC) {
        /* The admin key was proven right by the admin check: the wrap itself was altered. */
        card_damaged(err, "the administration wrap of the slot key does not open");
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
