/*
 * test_cardtoken: the holder's card as a PKCS#11 token, against a real SoftHSM2 (no mock): each
 * test makes a throwaway token directory under a temporary SOFTHSM2_CONF. The module's path is
 * $JPKI_TEST_PKCS11_MODULE, else Debian's /usr/lib/softhsm/libsofthsm2.so (scripts/setup).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "keystore/card.h"
#include "keystore/cardtoken.h"
#include "keystore/keygen.h"
#include "keystore/p11.h"
#include "testutil.h"

static char *dir;
static const char *module;

#define SO_PIN "so-secret-1"
#define SIGN_PIN "K7Q2ZP0M"
#define AUTH_PIN "5831"

static void setup(void)
{
    char conf[4096], tokens[4096 + 16], text[8192];
    module = getenv("JPKI_TEST_PKCS11_MODULE");
    if (module == NULL)
        module = "/usr/lib/softhsm/libsofthsm2.so";
    dir = testutil_mkdtemp();
    ck_assert_ptr_nonnull(dir);
    snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
    ck_assert_int_eq(mkdir(tokens, 0700), 0);
    snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
    snprintf(text, sizeof(text),
             "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", tokens);
    ck_assert_int_eq(testutil_write_file(conf, text, strlen(text)), 0);
    setenv("SOFTHSM2_CONF", conf, 1);
}

static void teardown(void)
{
    testutil_rmtree(dir);
    free(dir);
}

/* A blank card "c1" with the test PINs, opened and logged in to both tokens. */
static struct cardtoken *new_card(void)
{
    struct jerr err = {0};
    struct cardtoken *ct;
    ck_assert_msg(cardtoken_init_card(module, "c1", SO_PIN, SIGN_PIN, AUTH_PIN, &err) == 0, "%s",
                  err.msg);
    ct = cardtoken_open(module, "c1", &err);
    ck_assert_msg(ct != NULL, "%s", err.msg);
    ck_assert_msg(cardtoken_login(ct, CA_SIGN, SIGN_PIN, &err) == 0, "%s", err.msg);
    ck_assert_msg(cardtoken_login(ct, CA_AUTH, AUTH_PIN, &err) == 0, "%s", err.msg);
    return ct;
}

/* A certificate for `pub` issued by `ca_key` (self-issued name "test CA"), serial `serial`. */
static X509 *issue(EVP_PKEY *ca_key, EVP_PKEY *pub, long serial, bool self)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    ck_assert_ptr_nonnull(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"test CA", -1, -1,
                               0);
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_set_issuer_name(x, name);
    X509_set_subject_name(x, self ? name : name);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, pub);
    ck_assert_int_gt(X509_sign(x, ca_key, EVP_sha256()), 0);
    X509_NAME_free(name);
    return x;
}

START_TEST(test_token_labels_follow_opensc)
{
    char out[CARDTOKEN_LABEL_BYTES + 1];
    cardtoken_token_label("JPKI", CA_SIGN, out);
    ck_assert_str_eq(out, "JPKI (Digital Signature PIN)");
    cardtoken_token_label("JPKI", CA_AUTH, out);
    ck_assert_str_eq(out, "JPKI (User Authentication PIN)");
    /* a long card label is cut to fit 32 bytes, as OpenSC cuts it */
    cardtoken_token_label("card-0123456789", CA_SIGN, out);
    ck_assert_str_eq(out, "card-012 (Digital Signature PIN)");
    cardtoken_token_label("card-0123456789", CA_AUTH, out);
    ck_assert_str_eq(out, "card-0 (User Authentication PIN)");
    ck_assert_int_eq(cardtoken_key_id(CA_SIGN), 2);
    ck_assert_int_eq(cardtoken_key_id(CA_AUTH), 1);
    ck_assert_int_eq(cardtoken_root_id(CA_SIGN), 4);
    ck_assert_int_eq(cardtoken_root_id(CA_AUTH), 3);
}
END_TEST

START_TEST(test_init_enforces_pin_rules_and_label)
{
    struct jerr err = {0};
    /* signing: 6-16 of A-Z 0-9 */
    ck_assert_int_eq(cardtoken_init_card(module, "c1", SO_PIN, "abc123", AUTH_PIN, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "password");
    jerr_clear(&err);
    ck_assert_int_eq(cardtoken_init_card(module, "c1", SO_PIN, "ABC12", AUTH_PIN, &err), -1);
    ck_assert_str_eq(err.field, "password");
    jerr_clear(&err);
    /* authentication: exactly 4 digits */
    ck_assert_int_eq(cardtoken_init_card(module, "c1", SO_PIN, SIGN_PIN, "12345", &err), -1);
    ck_assert_str_eq(err.field, "password");
    jerr_clear(&err);
    ck_assert_int_eq(cardtoken_init_card(module, "c1", SO_PIN, SIGN_PIN, "12a4", &err), -1);
    ck_assert_str_eq(err.field, "password");
    jerr_clear(&err);
    /* the label: short enough for both token labels to stay whole */
    ck_assert_int_eq(cardtoken_init_card(module, "card-01", SO_PIN, SIGN_PIN, AUTH_PIN, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "token");
    jerr_clear(&err);
    ck_assert_int_eq(cardtoken_init_card(module, "c 1", SO_PIN, SIGN_PIN, AUTH_PIN, &err), -1);
    ck_assert_str_eq(err.field, "token");
    jerr_clear(&err);
    /* nothing was made by the refusals */
    ck_assert_ptr_null(cardtoken_open(module, "c1", &err));
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
}
END_TEST

START_TEST(test_init_twice_refused)
{
    struct jerr err = {0};
    ck_assert_int_eq(cardtoken_init_card(module, "c1", SO_PIN, SIGN_PIN, AUTH_PIN, &err), 0);
    ck_assert_int_eq(cardtoken_init_card(module, "c1", SO_PIN, SIGN_PIN, AUTH_PIN, &err), -1);
    ck_assert_int_eq(err.code, JERR_CONFLICT);
    ck_assert_ptr_nonnull(strstr(err.msg, "c1 (Digital Signature PIN)"));
}
END_TEST

START_TEST(test_open_refusals_name_module_and_token)
{
    struct jerr err = {0};
    ck_assert_ptr_null(cardtoken_open("/nonexistent/pkcs11.so", "c1", &err));
    ck_assert_int_eq(err.code, JERR_CONFIG);
    ck_assert_str_eq(err.field, "pkcs11");
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/pkcs11.so"));
    jerr_clear(&err);
    ck_assert_ptr_null(cardtoken_open(module, "JPKI", &err));
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    ck_assert_str_eq(err.field, "token");
    ck_assert_ptr_nonnull(strstr(err.msg, module));
    ck_assert_ptr_nonnull(strstr(err.msg, "\"JPKI (Digital Signature PIN)\""));
}
END_TEST

START_TEST(test_login_wrong_and_outside_rule)
{
    struct jerr err = {0};
    struct cardtoken *ct;
    ck_assert_int_eq(cardtoken_init_card(module, "c1", SO_PIN, SIGN_PIN, AUTH_PIN, &err), 0);
    ct = cardtoken_open(module, "c1", &err);
    ck_assert_ptr_nonnull(ct);
    /* outside the rule: refused before the token is asked */
    ck_assert_int_eq(cardtoken_login(ct, CA_AUTH, "12", &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "password");
    jerr_clear(&err);
    /* by the rule but wrong: the token's answer, its code named */
    ck_assert_int_eq(cardtoken_login(ct, CA_AUTH, "9999", &err), -1);
    ck_assert_int_eq(err.code, JERR_AUTH);
    ck_assert_str_eq(err.field, "password");
    ck_assert_ptr_nonnull(strstr(err.msg, "CKR_PIN_INCORRECT"));
    ck_assert_ptr_nonnull(strstr(err.msg, "c1 (User Authentication PIN)"));
    jerr_clear(&err);
    /* each PIN opens its own token only */
    ck_assert_int_eq(cardtoken_login(ct, CA_SIGN, "ZZZZ9999", &err), -1);
    ck_assert_int_eq(err.code, JERR_AUTH);
    jerr_clear(&err);
    ck_assert_msg(cardtoken_login(ct, CA_SIGN, SIGN_PIN, &err) == 0, "%s", err.msg);
    ck_assert_msg(cardtoken_login(ct, CA_AUTH, AUTH_PIN, &err) == 0, "%s", err.msg);
    /* SoftHSM2 keeps no counter: the token reports no PIN state */
    ck_assert_uint_eq(cardtoken_pin_state(ct, CA_SIGN), 0);
    cardtoken_free(ct);
}
END_TEST

START_TEST(test_generate_csr_sign_on_token)
{
    struct jerr err = {0};
    struct cardtoken *ct = new_card();
    X509_REQ *csr = NULL;
    unsigned char sig[512], msg[] = "an application form";
    size_t sig_len = sizeof(sig);

    ck_assert_msg(cardtoken_generate(ct, CA_SIGN, TEST_RSA2048, "c1 sign", &csr, &err) == 0, "%s",
                  err.msg);
    /* the request carries the new key and is signed by it: proof of possession */
    EVP_PKEY *pub = X509_REQ_get0_pubkey(csr);
    ck_assert_int_eq(EVP_PKEY_get_base_id(pub), EVP_PKEY_RSA);
    ck_assert_int_eq(EVP_PKEY_get_bits(pub), CARDTOKEN_KEY_BITS);
    ck_assert_int_eq(X509_REQ_verify(csr, pub), 1);
    /* the token signs with it; OpenSSL verifies with the public key */
    EVP_PKEY *key = cardtoken_get_key(ct, CA_SIGN, &err);
    ck_assert_msg(key != NULL, "%s", err.msg);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ck_assert_int_eq(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
    ck_assert_int_eq(EVP_DigestSign(md, sig, &sig_len, msg, sizeof(msg)), 1);
    EVP_MD_CTX_free(md);
    md = EVP_MD_CTX_new();
    ck_assert_int_eq(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub), 1);
    ck_assert_int_eq(EVP_DigestVerify(md, sig, sig_len, msg, sizeof(msg)), 1);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    /* the authentication slot has no key yet */
    ck_assert_ptr_null(cardtoken_get_key(ct, CA_AUTH, &err));
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    ck_assert_str_eq(err.field, "slot");
    X509_REQ_free(csr);
    cardtoken_free(ct);
    /* the token says the key can never leave it (read back through keystore/p11) */
    struct p11_key_protection prot;
    struct p11 *p = p11_open(module, "c1 (Digital Signature PIN)", SIGN_PIN, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    ck_assert_int_eq(p11_key_protection(p, "Digital Signature Key", &prot, &err), 0);
    ck_assert(prot.sensitive);
    ck_assert(!prot.extractable);
    ck_assert(prot.never_extractable);
    ck_assert(prot.always_sensitive);
    p11_free(p);
}
END_TEST

/* Under an ECDSA P-384 CA the token makes a P-384 pair: the request is ecdsa-with-SHA384 and
 * verifies, the token signs with SHA-384, and a certificate for the key is taken. */
START_TEST(test_generate_ec_p384)
{
    struct jerr err = {0};
    struct cardtoken *ct = new_card();
    const struct keyalg p384 = {KEYALG_ECDSA, 384};
    X509_REQ *csr = NULL;
    unsigned char sig[256], msg[] = "an application form";
    size_t sig_len = sizeof(sig);

    ck_assert_msg(cardtoken_generate(ct, CA_SIGN, &p384, "c1", &csr, &err) == 0, "%s", err.msg);
    EVP_PKEY *pub = X509_REQ_get0_pubkey(csr);
    struct keyalg got;
    ck_assert_msg(keyalg_of_key(pub, NULL, &got, &err) == 0, "%s", err.msg);
    ck_assert(keyalg_equal(&got, &p384));
    ck_assert_int_eq(X509_REQ_get_signature_nid(csr), NID_ecdsa_with_SHA384);
    ck_assert_int_eq(X509_REQ_verify(csr, pub), 1);
    EVP_PKEY *key = cardtoken_get_key(ct, CA_SIGN, &err);
    ck_assert_msg(key != NULL, "%s", err.msg);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ck_assert_int_eq(EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, key), 1);
    ck_assert_int_eq(EVP_DigestSign(md, sig, &sig_len, msg, sizeof(msg)), 1);
    EVP_MD_CTX_free(md);
    md = EVP_MD_CTX_new();
    ck_assert_int_eq(EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, pub), 1);
    ck_assert_int_eq(EVP_DigestVerify(md, sig, sig_len, msg, sizeof(msg)), 1);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);

    EVP_PKEY *ca_key = keygen_generate(&p384, &err);
    X509 *cert = issue(ca_key, pub, 10, false);
    ck_assert_msg(cardtoken_store_cert(ct, CA_SIGN, cert, &err) == 0, "%s", err.msg);
    X509_free(cert);
    EVP_PKEY_free(ca_key);
    X509_REQ_free(csr);
    cardtoken_free(ct);
}
END_TEST

START_TEST(test_store_cert_and_roots_then_reopen)
{
    struct jerr err = {0};
    X509_REQ *csr[2] = {NULL, NULL};
    EVP_PKEY *ca_key = keygen_rsa(2048, &err), *other = keygen_rsa(2048, &err);
    ck_assert_ptr_nonnull(ca_key);
    ck_assert_msg(cardtoken_init_card(module, "c1", SO_PIN, SIGN_PIN, AUTH_PIN, &err) == 0, "%s",
                  err.msg);
    struct cardtoken *ct = cardtoken_open(module, "c1", &err);
    ck_assert_ptr_nonnull(ct);
    /* as an issuance does it: each slot logged in, then its key made */
    for (int s = 0; s < CA_KIND_COUNT; s++) {
        ck_assert_msg(
            cardtoken_login(ct, (enum ca_kind)s, s == CA_SIGN ? SIGN_PIN : AUTH_PIN, &err) == 0,
            "%s", err.msg);
        ck_assert_msg(cardtoken_generate(ct, (enum ca_kind)s, TEST_RSA2048, "c1", &csr[s], &err) ==
                          0,
                      "%s", err.msg);
    }
    X509 *sign = issue(ca_key, X509_REQ_get0_pubkey(csr[CA_SIGN]), 10, false);
    X509 *auth = issue(ca_key, X509_REQ_get0_pubkey(csr[CA_AUTH]), 11, false);
    X509 *wrong = issue(ca_key, other, 12, false);
    X509 *root = issue(ca_key, ca_key, 1, true), *root2 = issue(ca_key, ca_key, 2, true);

    /* a certificate for another key is refused: it would not be the card's */
    ck_assert_int_eq(cardtoken_store_cert(ct, CA_SIGN, wrong, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "certificate");
    /* the auth certificate does not certify the signing key either */
    jerr_clear(&err);
    ck_assert_int_eq(cardtoken_store_cert(ct, CA_SIGN, auth, &err), -1);
    jerr_clear(&err);
    ck_assert_ptr_null(cardtoken_get0_cert(ct, CA_SIGN));
    /* in the order an issuance writes them: each slot's certificate, then its root */
    ck_assert_msg(cardtoken_store_cert(ct, CA_SIGN, sign, &err) == 0, "%s", err.msg);
    ck_assert_msg(cardtoken_store_root(ct, CA_SIGN, root, &err) == 0, "%s", err.msg);
    ck_assert_msg(cardtoken_store_cert(ct, CA_AUTH, auth, &err) == 0, "%s", err.msg);
    ck_assert_msg(cardtoken_store_root(ct, CA_AUTH, root, &err) == 0, "%s", err.msg);
    /* a new root replaces the old one */
    ck_assert_msg(cardtoken_store_root(ct, CA_AUTH, root2, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(X509_cmp(cardtoken_get0_root(ct, CA_AUTH), root2), 0);
    /* a slot that holds a certificate is not generated again */
    X509_REQ *again = NULL;
    ck_assert_int_eq(cardtoken_generate(ct, CA_SIGN, TEST_RSA2048, "c1", &again, &err), -1);
    ck_assert_int_eq(err.code, JERR_CONFLICT);
    ck_assert_ptr_null(again);
    cardtoken_free(ct);

    /* a new process sees the same card: certificates and roots without a PIN */
    jerr_clear(&err);
    ct = cardtoken_open(module, "c1", &err);
    ck_assert_msg(ct != NULL, "%s", err.msg);
    ck_assert_int_eq(X509_cmp(cardtoken_get0_cert(ct, CA_SIGN), sign), 0);
    ck_assert_int_eq(X509_cmp(cardtoken_get0_cert(ct, CA_AUTH), auth), 0);
    ck_assert_int_eq(X509_cmp(cardtoken_get0_root(ct, CA_SIGN), root), 0);
    ck_assert_int_eq(X509_cmp(cardtoken_get0_root(ct, CA_AUTH), root2), 0);
    cardtoken_free(ct);

    for (int s = 0; s < CA_KIND_COUNT; s++)
        X509_REQ_free(csr[s]);
    X509_free(sign);
    X509_free(auth);
    X509_free(wrong);
    X509_free(root);
    X509_free(root2);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(other);
}
END_TEST

START_TEST(test_leftover_key_replaced)
{
    /* an issuance interrupted after the key was made: the next one starts again */
    struct jerr err = {0};
    struct cardtoken *ct = new_card();
    X509_REQ *a = NULL, *b = NULL;
    ck_assert_int_eq(cardtoken_generate(ct, CA_AUTH, TEST_RSA2048, "c1", &a, &err), 0);
    ck_assert_msg(cardtoken_generate(ct, CA_AUTH, TEST_RSA2048, "c1", &b, &err) == 0, "%s",
                  err.msg);
    ck_assert_int_ne(EVP_PKEY_eq(X509_REQ_get0_pubkey(a), X509_REQ_get0_pubkey(b)), 1);
    /* the token holds the new key only */
    EVP_PKEY *key = cardtoken_get_key(ct, CA_AUTH, &err);
    ck_assert_ptr_nonnull(key);
    ck_assert_int_eq(EVP_PKEY_eq(key, X509_REQ_get0_pubkey(b)), 1);
    EVP_PKEY_free(key);
    X509_REQ_free(a);
    X509_REQ_free(b);
    cardtoken_free(ct);
}
END_TEST

START_TEST(test_change_pin)
{
    struct jerr err = {0};
    struct cardtoken *ct = new_card();
    /* the new PIN's rule first: nothing tried */
    ck_assert_int_eq(cardtoken_change_pin(ct, CA_AUTH, AUTH_PIN, "123", &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    jerr_clear(&err);
    ck_assert_int_eq(cardtoken_change_pin(ct, CA_SIGN, SIGN_PIN, "short", &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    jerr_clear(&err);
    ck_assert_msg(cardtoken_change_pin(ct, CA_AUTH, AUTH_PIN, "2468", &err) == 0, "%s", err.msg);
    cardtoken_free(ct);
    ct = cardtoken_open(module, "c1", &err);
    ck_assert_ptr_nonnull(ct);
    ck_assert_int_eq(cardtoken_login(ct, CA_AUTH, AUTH_PIN, &err), -1);
    ck_assert_int_eq(err.code, JERR_AUTH);
    jerr_clear(&err);
    ck_assert_msg(cardtoken_login(ct, CA_AUTH, "2468", &err) == 0, "%s", err.msg);
    /* the signing PIN is the other token's and did not change */
    ck_assert_msg(cardtoken_login(ct, CA_SIGN, SIGN_PIN, &err) == 0, "%s", err.msg);
    cardtoken_free(ct);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cardtoken");
    TCase *tc = tcase_create("softhsm2");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_token_labels_follow_opensc);
    tcase_add_test(tc, test_init_enforces_pin_rules_and_label);
    tcase_add_test(tc, test_init_twice_refused);
    tcase_add_test(tc, test_open_refusals_name_module_and_token);
    tcase_add_test(tc, test_login_wrong_and_outside_rule);
    tcase_add_test(tc, test_generate_csr_sign_on_token);
    tcase_add_test(tc, test_generate_ec_p384);
    tcase_add_test(tc, test_store_cert_and_roots_then_reopen);
    tcase_add_test(tc, test_leftover_key_replaced);
    tcase_add_test(tc, test_change_pin);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
