/*
 * pinletter: the recipient's refusals (none, unreadable, not a certificate, a key CMS cannot
 * encrypt to), and a letter: EnvelopedData with RSA-OAEP key transport that the recipient's
 * key opens, holding only the generated passwords.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/cms.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ca/pinletter.h"
#include "testutil.h"

static char *dir;
static char cert_path[PATH_MAX], key_path[PATH_MAX];

static void setup(void)
{
    dir = testutil_mkdtemp();
    ck_assert_ptr_nonnull(dir);
    snprintf(cert_path, sizeof(cert_path), "%s/pin.pem", dir);
    snprintf(key_path, sizeof(key_path), "%s/pin.key", dir);
    ck_assert_int_eq(testutil_self_signed(cert_path, key_path, true), 0);
}

static void teardown(void)
{
    testutil_rmtree(dir);
    free(dir);
}

static void assert_refused(const char *path, const char *part)
{
    struct jerr err = {0};
    ck_assert_ptr_null(pinletter_recipient_load(path, &err));
    ck_assert_int_eq(err.code, JERR_CONFIG);
    ck_assert_str_eq(err.field, "batch.pin_letter_recipient");
    ck_assert_msg(strstr(err.msg, part) != NULL, "'%s' not in '%s'", part, err.msg);
}

START_TEST(recipient_refusals)
{
    char path[PATH_MAX], key[PATH_MAX];
    assert_refused("", "not configured");
    snprintf(path, sizeof(path), "%s/missing.pem", dir);
    assert_refused(path, "cannot read");
    snprintf(path, sizeof(path), "%s/text.pem", dir);
    ck_assert_int_eq(testutil_write_file(path, "hello\n", 6), 0);
    assert_refused(path, "holds no PEM certificate");
    /* Ed25519 signs but cannot receive a content key. */
    snprintf(path, sizeof(path), "%s/ed.pem", dir);
    snprintf(key, sizeof(key), "%s/ed.key", dir);
    ck_assert_int_eq(testutil_self_signed(path, key, false), 0);
    assert_refused(path, "cannot encrypt to the key");
}
END_TEST

START_TEST(letter_is_sealed_to_the_recipient)
{
    struct jerr err = {0};
    struct cardissue_passwords pw;
    unsigned char *der = NULL;
    size_t len = 0;
    X509 *cert = pinletter_recipient_load(cert_path, &err);
    ck_assert_msg(cert != NULL, "%s", err.msg);

    memset(&pw, 0, sizeof(pw));
    snprintf(pw.value[CA_SIGN], sizeof(pw.value[CA_SIGN]), "HOLDERCHOSEN1");
    /* Nothing generated: no letter to send. */
    ck_assert_int_eq(pinletter_seal(cert, "b1", "r1", "C-1", &pw, &der, &len, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    jerr_clear(&err);
    snprintf(pw.value[CA_AUTH], sizeof(pw.value[CA_AUTH]), "5831");
    pw.generated[CA_AUTH] = true;
    ck_assert_msg(pinletter_seal(cert, "b1", "r1", "C-1", &pw, &der, &len, &err) == 0, "%s",
                  err.msg);

    const unsigned char *p = der;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
    ck_assert_ptr_nonnull(cms);
    ck_assert(p == der + len);
    ck_assert_int_eq(OBJ_obj2nid(CMS_get0_type(cms)), NID_pkcs7_enveloped);
    /* RFC 8017: the content key travels under RSA-OAEP, not PKCS#1 v1.5. */
    STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
    ck_assert_int_eq(sk_CMS_RecipientInfo_num(ris), 1);
    X509_ALGOR *alg = NULL;
    ck_assert_int_eq(
        CMS_RecipientInfo_ktri_get0_algs(sk_CMS_RecipientInfo_value(ris, 0), NULL, NULL, &alg), 1);
    const ASN1_OBJECT *oid = NULL;
    X509_ALGOR_get0(&oid, NULL, NULL, alg);
    ck_assert_int_eq(OBJ_obj2nid(oid), NID_rsaesOaep);

    FILE *f = fopen(key_path, "r");
    ck_assert_ptr_nonnull(f);
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    BIO *out = BIO_new(BIO_s_mem());
    ck_assert_int_eq(CMS_decrypt(cms, key, cert, NULL, out, CMS_BINARY), 1);
    char text[512] = "";
    ck_assert_int_gt(BIO_read(out, text, sizeof(text) - 1), 0);
    ck_assert_str_eq(text, "jpki PIN letter\nbatch: b1\nrow: r1\ncard: C-1\nauth: 5831\n");
    /* the holder's own password is not the service's to send */
    ck_assert_ptr_null(strstr(text, "HOLDERCHOSEN1"));

    BIO_free(out);
    EVP_PKEY_free(key);
    CMS_ContentInfo_free(cms);
    OPENSSL_free(der);
    X509_free(cert);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pinletter");
    TCase *tc = tcase_create("pinletter");
    tcase_add_checked_fixture(tc, setup, teardown);
    /* Each test's fixture generates an RSA key: past Check's 4 s default on a loaded machine. */
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, recipient_refusals);
    tcase_add_test(tc, letter_is_sealed_to_the_recipient);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
