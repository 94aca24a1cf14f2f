/*
 * jpki_cardtool: a small driver the integration tests use to look into a card image written
 * by the service (keystore/card.h), until the holder's `jpkictl card …` commands exist. Not
 * installed; never used by holders or operators.
 *
 *   jpki_cardtool info IMAGE                      card id, expiry, slots (serial, tries left)
 *   jpki_cardtool unlock IMAGE sign|auth PASSWORD  checks the password (counts a wrong try)
 *   jpki_cardtool export IMAGE sign|auth PASSWORD KEY.pem CERT.pem
 *                                                 unlocks and writes the key (0600) and cert
 *
 * Exit status: 0 done; 5 wrong password; 6 slot locked; 4 empty slot; 2 usage; 1 other.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/pem.h>

#include "keystore/card.h"
#include "test/unit/testpem.h"

static int usage(void)
{
    fprintf(stderr, "usage: jpki_cardtool info IMAGE\n"
                    "       jpki_cardtool unlock IMAGE sign|auth PASSWORD\n"
                    "       jpki_cardtool export IMAGE sign|auth PASSWORD KEY.pem CERT.pem\n");
    return 2;
}

static int status_for(const struct jerr *err)
{
    switch (err->code) {
    case JERR_AUTH:
        return 5;
    case JERR_FORBIDDEN:
        return 6;
    case JERR_NOT_FOUND:
        return 4;
    default:
        return 1;
    }
}

static void print_serial(X509 *cert)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    printf("%s", hex != NULL ? hex : "?");
    OPENSSL_free(hex);
    BN_free(bn);
}

static int info(struct card_image *ci)
{
    printf("card %s\nexpiry %s\n", card_image_id(ci), card_image_expiry(ci));
    for (int k = 0; k < CA_KIND_COUNT; k++) {
        X509 *cert = card_image_get0_cert(ci, (enum ca_kind)k);
        printf("slot %s ", ca_kind_name((enum ca_kind)k));
        if (cert == NULL) {
            printf("empty\n");
            continue;
        }
        print_serial(cert);
        printf(" tries_left %d%s\n", card_image_tries_left(ci, (enum ca_kind)k),
               card_image_is_locked(ci, (enum ca_kind)k) ? " locked" : "");
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct jerr err = {0};
    enum ca_kind slot;
    int rc = 1;

    if (argc < 3)
        return usage();
    struct card_image *ci = card_image_load(argv[2], &err);
    if (ci == NULL) {
        fprintf(stderr, "jpki_cardtool: %s\n", err.msg);
        return 1;
    }
    if (strcmp(argv[1], "info") == 0 && argc == 3) {
        rc = info(ci);
    } else if ((strcmp(argv[1], "unlock") == 0 && argc == 5) ||
               (strcmp(argv[1], "export") == 0 && argc == 7)) {
        if (ca_kind_parse(argv[3], &slot) == -1) {
            rc = usage();
            goto out;
        }
        EVP_PKEY *key = card_image_unlock_key(ci, argv[2], slot, argv[4], &err);
        if (key == NULL) {
            fprintf(stderr, "jpki_cardtool: %s\n", err.msg);
            rc = status_for(&err);
            goto out;
        }
        rc = 0;
        if (argc == 7 && (testpem_write(argv[5], NULL, key) == -1 ||
                          testpem_write(argv[6], card_image_get0_cert(ci, slot), NULL) == -1)) {
            fprintf(stderr, "jpki_cardtool: cannot write %s / %s\n", argv[5], argv[6]);
            rc = 1;
        }
        if (rc == 0)
            printf("unlocked %s\n", argv[3]);
        EVP_PKEY_free(key);
    } else {
        rc = usage();
    }
out:
    card_image_free(ci);
    return rc;
}
