/*
 * cardissue: card images written at the window (see cardissue.h).
 *
 * What it owns: the initial-password rule's generator, the assembly of an issuance into an
 * image, its encoding, the batch's image files and the checks of the window's
 * reset. What it never does: keep a password, a private key or an image beyond the call, or
 * touch the administration key other than through adminkey_card_*.
 */
#include "ca/cardissue.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "ca/rules.h"
#include "base/fsutil.h"
#include "keystore/adminkey.h"

#define CARDISSUE_SCRATCH_DIR "tmp"
#define CARDISSUE_CARDS_DIR "cards"

void cardissue_passwords_wipe(struct cardissue_passwords *pw)
{
    if (pw != NULL)
        OPENSSL_cleanse(pw, sizeof(*pw));
}

unsigned cardissue_slots(const struct issue_result *res)
{
    unsigned slots = 0;
    for (size_t i = 0; i < res->count; i++)
        if (res->certs[i].key != NULL)
            slots |= 1u << (unsigned)res->certs[i].rec.ca;
    return slots;
}

/* `len` characters of `alphabet` (at most 64 symbols), uniformly: a random byte is used only
 * below the largest multiple of the alphabet's size (rejection sampling, no modulo bias). */
static int random_text(const char *alphabet, size_t len, char *out, struct jerr *err)
{
    size_t n = strlen(alphabet);
    unsigned limit = 256 - 256 % (unsigned)n;
    unsigned char pool[64];
    size_t used = sizeof(pool), made = 0;
    int rc = -1;

    while (made < len) {
        if (used == sizeof(pool)) {
            if (RAND_priv_bytes(pool, sizeof(pool)) != 1) {
                jerr_openssl(err, JERR_CRYPTO, NULL, "cannot draw a random password");
                goto out;
            }
            used = 0;
        }
        unsigned b = pool[used++];
        if (b < limit)
            out[made++] = alphabet[b % n];
    }
    out[len] = '\0';
    rc = 0;
out:
    OPENSSL_cleanse(pool, sizeof(pool));
    return rc;
}

int cardissue_passwords_fill(struct cardissue_passwords *pw, unsigned slots, const char *birth_date,
                             const char *prefix, struct jerr *err)
{
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        char field[96];
        const char *name = ca_kind_name((enum ca_kind)ca);
        bool wanted = (slots & (1u << (unsigned)ca)) != 0;
        snprintf(field, sizeof(field), "%s%s", prefix != NULL ? prefix : "", name);
        if (pw->value[ca][0] != '\0') {
            struct jerr rule = {0};
            if (!wanted)
                return jerr_set(err, JERR_INVALID, field,
                                "%s: no %s slot is written on the card image (the certificate is "
                                "not requested, or its public key was supplied)",
                                field, name);
            if (card_image_check_password((enum ca_kind)ca, pw->value[ca], &rule) == -1)
                return jerr_set(err, JERR_INVALID, field, "%s: %s", field, rule.msg);
            if (rules_check_password(pw->value[ca], birth_date, field, err) == -1)
                return -1;
            continue;
        }
        if (!wanted)
            continue;
        /* DESIGN §1: signing 6..16 of A-Z0-9 (12 drawn), authentication exactly 4 digits;
         * RULE guide 4(7): never one of the easy guesses (for a PIN, about 1 draw in 40). */
        struct jerr guess = {0};
        do {
            int rc = ca == CA_SIGN
                         ? random_text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
                                       CARDISSUE_SIGN_PASSWORD_GENERATED, pw->value[ca], err)
                         : random_text("0123456789", 4, pw->value[ca], err);
            if (rc == -1)
                return -1;
            jerr_clear(&guess);
        } while (rules_check_password(pw->value[ca], birth_date, field, &guess) == -1);
        pw->generated[ca] = true;
    }
    return 0;
}

/* Writes every generated key pair of `res` into its slot of `ci` under the password of `pw`.
 * An image written under another administration key is JERR_INVALID "card_image". */
static int fill_slots(const struct adminkey *ak, struct card_image *ci,
                      const struct issue_result *res, const struct cardissue_passwords *pw,
                      struct jerr *err)
{
    for (size_t i = 0; i < res->count; i++) {
        const struct issued_cert *ic = &res->certs[i];
        enum ca_kind ca = ic->rec.ca;
        struct jerr sub = {0};
        if (ic->key == NULL)
            continue;
        if (pw->value[ca][0] == '\0')
            return jerr_set(err, JERR_INVALID, "passwords", "no password for the %s slot",
                            ca_kind_name(ca));
        const unsigned char *p = ic->der;
        X509 *cert = d2i_X509(NULL, &p, (long)ic->der_len);
        if (cert == NULL || p != ic->der + ic->der_len) {
            X509_free(cert);
            return jerr_openssl(err, JERR_INTERNAL, NULL, "issued certificate %s does not decode",
                                ic->rec.serial);
        }
        int rc = adminkey_card_set_slot(ak, ci, ca, cert, ic->key, pw->value[ca], &sub);
        X509_free(cert);
        if (rc == -1 && sub.code == JERR_FORBIDDEN && strcmp(sub.field, "admin_key") == 0)
            return jerr_set(err, JERR_INVALID, "card_image",
                            "this card image was not written by this service (its "
                            "administration key is another)");
        if (rc == -1)
            return jerr_set(err, sub.code, sub.field, "%s", sub.msg);
    }
    return 0;
}

struct card_image *cardissue_image_new(const struct pki *pki, struct store *st,
                                       const struct issue_result *res,
                                       const struct cardissue_passwords *pw, struct jerr *err)
{
    const struct adminkey *ak = pki_get0_card_admin(pki);
    struct card_image *ci = NULL;
    struct card card;

    if (res->count == 0 || cardissue_slots(res) == 0) {
        jerr_set(err, JERR_INVALID, "card_image", "no generated key pair to write on a card");
        return NULL;
    }
    if (store_card_get(st, res->certs[0].rec.card_id, &card, err) == -1)
        return NULL;
    ci = adminkey_card_create(ak, card.id, card.expiry, pki_get0_root(pki, CA_SIGN),
                              pki_get0_root(pki, CA_AUTH), err);
    if (ci == NULL)
        return NULL;
    if (fill_slots(ak, ci, res, pw, err) == -1) {
        card_image_free(ci);
        return NULL;
    }
    return ci;
}

int cardissue_image_update(const struct pki *pki, struct card_image *ci,
                           const struct issue_result *res, const struct cardissue_passwords *pw,
                           struct jerr *err)
{
    if (res->count == 0 || cardissue_slots(res) == 0)
        return jerr_set(err, JERR_INVALID, "card_image",
                        "no generated key pair to write on the card image");
    return fill_slots(pki_get0_card_admin(pki), ci, res, pw, err);
}

/* A fresh scratch file DATA_DIR/tmp/card-XXXXXX (0600, empty) for one encoding. */
static int scratch_file(const struct pki *pki, char *path, size_t size, struct jerr *err)
{
    char dir[PATH_MAX];
    if (config_path(pki_config(pki), CARDISSUE_SCRATCH_DIR, dir, sizeof(dir)) == NULL)
        return jerr_set(err, JERR_CONFIG, "data_dir", "data_dir path too long");
    if (fsutil_mkdirs(dir, 0700, err) == -1)
        return -1;
    if (snprintf(path, size, "%s/card-XXXXXX", dir) >= (int)size)
        return jerr_set(err, JERR_CONFIG, "data_dir", "data_dir path too long");
    int fd = mkstemp(path); /* mode 0600 */
    if (fd == -1) {
        /* A full or read-only disk is a passing condition (503), not a bug. */
        bool passing = errno == ENOSPC || errno == EROFS || errno == EDQUOT || errno == EIO;
        return jerr_set(err, passing ? JERR_UNAVAILABLE : JERR_IO, NULL,
                        "cannot create a scratch file in %s: %s", dir, strerror(errno));
    }
    close(fd);
    return 0;
}

/* Reads the image written at `path` and removes the file (whatever the outcome). */
static int read_and_remove(const char *path, unsigned char **der, size_t *der_len, struct jerr *err)
{
    int rc = fsutil_read_file(path, CARDISSUE_IMAGE_MAX_BYTES, der, der_len, err);
    unlink(path);
    return rc;
}

int cardissue_image_encode(const struct pki *pki, const struct card_image *ci, unsigned char **der,
                           size_t *der_len, struct jerr *err)
{
    (void)pki;
    unsigned char *encoded = NULL;
    size_t len = 0;
    if (card_image_encode(ci, &encoded, &len, err) == -1)
        return -1;
    /* The caller frees with free(): hand over a malloc'd copy. */
    *der = malloc(len);
    if (*der == NULL) {
        OPENSSL_free(encoded);
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    }
    memcpy(*der, encoded, len);
    *der_len = len;
    OPENSSL_free(encoded);
    return 0;
}

int cardissue_image_bytes(const struct pki *pki, struct store *st, const struct issue_result *res,
                          const struct cardissue_passwords *pw, unsigned char **der,
                          size_t *der_len, struct jerr *err)
{
    struct card_image *ci = cardissue_image_new(pki, st, res, pw, err);
    if (ci == NULL)
        return -1;
    int rc = cardissue_image_encode(pki, ci, der, der_len, err);
    card_image_free(ci);
    return rc;
}

/* "." and ".." are valid ids but would name a directory, not a name in one; a leading '.'
 * would hide the file. */
static int batch_file_id(const char *field, const char *id, struct jerr *err)
{
    if (model_check_id(field, id, err) == -1)
        return -1;
    if (id[0] == '.')
        return jerr_set(err, JERR_INVALID, field,
                        "an id starting with '.' cannot name a card image file");
    return 0;
}

int cardissue_batch_dir(const struct pki *pki, const char *batch_key, char *path, size_t size,
                        struct jerr *err)
{
    char rel[PATH_MAX];

    if (batch_file_id("batch", batch_key, err) == -1)
        return -1;
    snprintf(rel, sizeof(rel), "%s/%s", CARDISSUE_CARDS_DIR, batch_key);
    if (config_path(pki_config(pki), rel, path, size) == NULL)
        return jerr_set(err, JERR_CONFIG, "data_dir", "data_dir path too long");
    return 0;
}

int cardissue_batch_path(const struct pki *pki, const char *batch_key, const char *card_id,
                         const char *suffix, bool create, char *path, size_t size, struct jerr *err)
{
    char file[PATH_MAX];

    if (cardissue_batch_dir(pki, batch_key, file, sizeof(file), err) == -1 ||
        batch_file_id("card_id", card_id, err) == -1)
        return -1;
    if (create && fsutil_mkdirs(file, 0700, err) == -1)
        return -1;
    size_t dir_len = strlen(file);
    if (snprintf(file + dir_len, sizeof(file) - dir_len, "/%s%s", card_id, suffix) >=
            (int)(sizeof(file) - dir_len) ||
        strlen(file) >= size)
        return jerr_set(err, JERR_CONFIG, "data_dir", "data_dir path too long");
    memcpy(path, file, strlen(file) + 1); /* written only on success */
    return 0;
}

int cardissue_stage_batch(const struct pki *pki, struct store *st, const char *batch_key,
                          const struct issue_result *res, struct cardissue_passwords *pw,
                          char *path, char *tmp, size_t size, struct jerr *err)
{
    unsigned char *der = NULL;
    size_t der_len = 0;
    int rc = -1;

    if (res->count == 0)
        return jerr_set(err, JERR_INVALID, "card_image", "nothing was issued");
    struct person holder; /* its birth date: the PIN rules refuse it (guide 4(7)) */
    if (cardissue_batch_path(pki, batch_key, res->certs[0].rec.card_id,
                             CARDISSUE_BATCH_IMAGE_SUFFIX, true, path, size, err) == -1 ||
        store_person_get(st, res->certs[0].rec.person_id, &holder, err) == -1 ||
        cardissue_passwords_fill(pw, cardissue_slots(res), holder.birth_date, "passwords.",
                                 err) == -1 ||
        cardissue_image_bytes(pki, st, res, pw, &der, &der_len, err) == -1)
        goto out;
    rc = fsutil_write_temp(path, der, der_len, 0600, tmp, size, err);
out:
    if (der != NULL) /* malloc'd by cardissue_image_encode */
        OPENSSL_cleanse(der, der_len);
    free(der);
    return rc;
}

/* BN_bn2hex of a certificate's serial, as the registry keys it. */
static int cert_serial_hex(X509 *cert, char out[JPKI_SERIAL_HEX_MAX + 1], struct jerr *err)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    int rc = -1;
    if (hex == NULL) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "cannot read a certificate's serial");
        goto out;
    }
    if (hex[0] == '-' || strlen(hex) > JPKI_SERIAL_HEX_MAX) {
        jerr_set(err, JERR_INVALID, "card_image",
                 "a certificate on the card image has a serial "
                 "this service never issues");
        goto out;
    }
    snprintf(out, JPKI_SERIAL_HEX_MAX + 1, "%s", hex);
    rc = 0;
out:
    OPENSSL_free(hex);
    BN_free(bn);
    return rc;
}

/* The slot's certificate must be one this service issued to `card_id`, byte for byte. */
static int slot_cert_is_ours(struct store *st, const char *card_id, enum ca_kind slot, X509 *cert,
                             struct jerr *err)
{
    char serial[JPKI_SERIAL_HEX_MAX + 1];
    unsigned char *stored = NULL, *der = NULL;
    size_t stored_len = 0;
    struct cert_rec rec;
    struct jerr lookup = {0};
    int der_len, rc = -1;

    if (cert_serial_hex(cert, serial, err) == -1)
        return -1;
    if (store_cert_get(st, serial, &rec, &lookup) == -1 ||
        store_cert_get_der(st, serial, &stored, &stored_len, &lookup) == -1) {
        if (lookup.code != JERR_NOT_FOUND) {
            jerr_set(err, lookup.code, lookup.field, "%s", lookup.msg);
            goto out;
        }
        jerr_set(err, JERR_INVALID, "card_image",
                 "the %s certificate on this card image (serial %s) was not issued by this "
                 "service",
                 ca_kind_name(slot), serial);
        goto out;
    }
    if ((der_len = i2d_X509(cert, &der)) <= 0) {
        der = NULL;
        jerr_openssl(err, JERR_INTERNAL, NULL, "cannot encode a certificate");
        goto out;
    }
    if (rec.ca != slot || strcmp(rec.card_id, card_id) != 0 || (size_t)der_len != stored_len ||
        memcmp(der, stored, stored_len) != 0) {
        jerr_set(err, JERR_INVALID, "card_image",
                 "the %s certificate on this card image (serial %s) is not the one issued to "
                 "card %s",
                 ca_kind_name(slot), serial, card_id);
        goto out;
    }
    rc = 0;
out:
    OPENSSL_free(der);
    free(stored);
    return rc;
}

struct card_image *cardissue_image_current(struct store *st, const char *card_id,
                                           const unsigned char *image, size_t image_len,
                                           unsigned keep, struct jerr *err)
{
    char shown[3 * JPKI_ID_MAX + 1];
    struct card_image *ci = card_image_parse(image, image_len, err);
    if (ci == NULL)
        return NULL;
    if (strcmp(card_image_id(ci), card_id) != 0) {
        jerr_escape(shown, sizeof(shown), card_image_id(ci), strlen(card_image_id(ci)));
        jerr_set(err, JERR_INVALID, "card_image",
                 "this card image belongs to card %s, not to card %s", shown, card_id);
        goto fail;
    }
    /* The slots kept must hold what this service issued to this card, byte for byte: an image
     * is not a way to get a foreign certificate and key re-wrapped by the window. */
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        X509 *cert = card_image_get0_cert(ci, (enum ca_kind)ca);
        if ((keep & (1u << (unsigned)ca)) && cert != NULL &&
            slot_cert_is_ours(st, card_id, (enum ca_kind)ca, cert, err) == -1)
            goto fail;
    }
    return ci;
fail:
    card_image_free(ci);
    return NULL;
}

int cardissue_reset_password(const struct pki *pki, struct store *st, const char *card_id,
                             const unsigned char *image, size_t image_len, enum ca_kind slot,
                             const char *new_password, unsigned char **out, size_t *out_len,
                             struct jerr *err)
{
    char path[PATH_MAX] = "", shown[3 * JPKI_ID_MAX + 1];
    struct card_image *ci = NULL;
    struct card card;
    struct person holder;
    struct jerr sub = {0};
    int rc = -1;

    /* The new password first: a refused reset touches nothing. */
    if (card_image_check_password(slot, new_password, &sub) == -1)
        return jerr_set(err, JERR_INVALID, "new_password", "new_password: %s", sub.msg);
    if ((ci = card_image_parse(image, image_len, err)) == NULL)
        goto out;
    if (strcmp(card_image_id(ci), card_id) != 0) {
        jerr_escape(shown, sizeof(shown), card_image_id(ci), strlen(card_image_id(ci)));
        jerr_set(err, JERR_INVALID, "card_image",
                 "this card image belongs to card %s, not to card %s", shown, card_id);
        goto out;
    }
    /* RULE guide 4(7): not one others can guess, from the holder's birth date say. */
    if (store_card_get(st, card_id, &card, err) == -1 ||
        store_person_get(st, card.person_id, &holder, err) == -1 ||
        rules_check_password(new_password, holder.birth_date, "new_password", err) == -1)
        goto out;
    X509 *cert = card_image_get0_cert(ci, slot);
    if (cert == NULL) {
        jerr_set(err, JERR_INVALID, "slot", "slot: no %s certificate on this card image",
                 ca_kind_name(slot));
        goto out;
    }
    if (slot_cert_is_ours(st, card_id, slot, cert, err) == -1 ||
        scratch_file(pki, path, sizeof(path), err) == -1)
        goto out;
    if (adminkey_card_reset_password(pki_get0_card_admin(pki), ci, path, slot, new_password,
                                     &sub) == -1) {
        if (sub.code == JERR_FORBIDDEN && strcmp(sub.field, "admin_key") == 0)
            jerr_set(err, JERR_INVALID, "card_image",
                     "this card image was not written by this service (its administration key "
                     "is another)");
        else
            jerr_set(err, sub.code, sub.field, "%s", sub.msg);
        goto out;
    }
    rc = read_and_remove(path, out, out_len, err);
    path[0] = '\0';
out:
    if (path[0] != '\0')
        unlink(path);
    card_image_free(ci);
    return rc;
}
