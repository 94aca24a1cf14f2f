/*
 * gen_card_seed: writes the seed corpus of fuzz_card_image — real card images made by
 * keystore/card.c, so the fuzzer starts from inputs that pass every check:
 *
 *   empty.card        no slot filled
 *   sign.card         the signing slot filled
 *   both.card         both slots filled
 *   locked-auth.card  both filled, the authentication slot locked by wrong PINs
 *   <each>.body       the CardImageBody alone (fuzz_card_image wraps it with its checksum)
 *
 *   gen_card_seed DIR
 *
 * Built only with JPKI_FUZZ=ON; run once by hand when the card format changes. Keys are
 * RSA-2048 made fresh on every run, so the files differ from run to run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/jerr.h"
#include "keystore/card.h"
#include "keystore/keygen.h"
#include "card_selfsigned.h"

/* Writes DIR/NAME.body: the body octets of the image file DIR/NAME.card. Returns 0 or -1. */
static int write_body(const char *dir, const char *name)
{
    char path[4096];
    unsigned char buf[64 * 1024];
    size_t len;
    int rc = -1;
    ASN1_SEQUENCE_ANY *seq = NULL;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s.card", dir, name);
    if ((f = fopen(path, "rb")) == NULL)
        return -1;
    len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    const unsigned char *p = buf;
    seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, (long)len);
    if (seq == NULL || sk_ASN1_TYPE_num(seq) != 2)
        goto out;
    const ASN1_TYPE *body = sk_ASN1_TYPE_value(seq, 0);
    if (ASN1_TYPE_get(body) != V_ASN1_OCTET_STRING)
        goto out;
    snprintf(path, sizeof(path), "%s/%s.body", dir, name);
    if ((f = fopen(path, "wb")) == NULL)
        goto out;
    const ASN1_OCTET_STRING *os = body->value.octet_string;
    if (fwrite(ASN1_STRING_get0_data(os), 1, (size_t)ASN1_STRING_length(os), f) ==
        (size_t)ASN1_STRING_length(os))
        rc = 0;
    if (fclose(f) != 0)
        rc = -1;
out:
    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
    return rc;
}

static int save(struct card_image *ci, const char *dir, const char *name, struct jerr *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.card", dir, name);
    if (card_image_save(ci, path, err) == -1)
        return -1;
    if (write_body(dir, name) == -1)
        return jerr_set(err, JERR_IO, NULL, "%s: cannot extract the body", path);
    return 0;
}

int main(int argc, char **argv)
{
    struct jerr err = {0};
    unsigned char admin[CARD_ADMIN_KEY_BYTES];
    EVP_PKEY *sign_key = NULL, *auth_key = NULL, *unlocked = NULL;
    X509 *sign_cert = NULL, *auth_cert = NULL, *sign_root = NULL, *auth_root = NULL;
    struct card_image *ci = NULL;
    char path[4096];
    int status = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    for (size_t i = 0; i < sizeof(admin); i++)
        admin[i] = (unsigned char)(0xA0 + i);
    if ((sign_key = keygen_rsa(2048, &err)) == NULL || (auth_key = keygen_rsa(2048, &err)) == NULL)
        goto out;
    sign_cert = card_selfsigned(sign_key, "sign holder");
    auth_cert = card_selfsigned(auth_key, "auth holder");
    sign_root = card_selfsigned(auth_key, "JPKI Sign Root");
    auth_root = card_selfsigned(sign_key, "JPKI Auth Root");
    if (sign_cert == NULL || auth_cert == NULL || sign_root == NULL || auth_root == NULL) {
        jerr_set(&err, JERR_CRYPTO, NULL, "cannot make the certificates");
        goto out;
    }
    ci = card_image_create("C-000123", "2034-03-31", sign_root, auth_root, admin, &err);
    if (ci == NULL || save(ci, argv[1], "empty", &err) == -1 ||
        card_image_set_slot(ci, CA_SIGN, sign_cert, sign_key, "ABC123", admin, &err) == -1 ||
        save(ci, argv[1], "sign", &err) == -1 ||
        card_image_set_slot(ci, CA_AUTH, auth_cert, auth_key, "1234", admin, &err) == -1 ||
        save(ci, argv[1], "both", &err) == -1)
        goto out;
    snprintf(path, sizeof(path), "%s/locked-auth.card", argv[1]);
    for (int i = 0; i < CARD_AUTH_MAX_TRIES; i++) {
        struct jerr wrong = {0};
        unlocked = card_image_unlock_key(ci, path, CA_AUTH, "9999", &wrong);
        if (unlocked != NULL || wrong.code != JERR_AUTH) {
            jerr_set(&err, JERR_INTERNAL, NULL, "a wrong PIN was not refused: %s", wrong.msg);
            goto out;
        }
    }
    if (!card_image_is_locked(ci, CA_AUTH) || write_body(argv[1], "locked-auth") == -1) {
        jerr_set(&err, JERR_INTERNAL, NULL, "the locked image was not written");
        goto out;
    }
    status = 0;
out:
    if (status != 0)
        fprintf(stderr, "gen_card_seed: %s\n", err.msg);
    card_image_free(ci);
    EVP_PKEY_free(unlocked);
    X509_free(sign_cert);
    X509_free(auth_cert);
    X509_free(sign_root);
    X509_free(auth_root);
    EVP_PKEY_free(sign_key);
    EVP_PKEY_free(auth_key);
    OPENSSL_cleanse(admin, sizeof(admin));
    return status;
}
