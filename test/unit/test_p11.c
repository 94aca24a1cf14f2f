/*
 * test_p11: the PKCS#11 token layer against a real SoftHSM2 token (no mocks): opening, every
 * refusal as one sentence with module, token and CKR code, key generation inside the token
 * (sensitive, never extractable), signing through the EVP_PKEY libp11 hands out (verified by
 * OpenSSL with the public key), reopening.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "keystore/p11.h"
#include "testutil.h"

#define PIN "123456"
#define LABEL "jpki-test"
#define LABEL2 "jpki-test-2"

static char *g_dir;
static const char *g_module;

static struct p11 *open_ok(void)
{
    struct jerr err = {0};
    struct p11 *p = p11_open(g_module, LABEL, PIN, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    return p;
}

/* A public-only copy of a token key (through its SubjectPublicKeyInfo), to verify with. */
static EVP_PKEY *public_copy(EVP_PKEY *key)
{
    unsigned char *der = NULL;
    int der_len = i2d_PUBKEY(key, &der);
    ck_assert_int_gt(der_len, 0);
    const unsigned char *q = der;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &q, der_len);
    OPENSSL_free(der);
    ck_assert_ptr_nonnull(pub);
    return pub;
}

START_TEST(test_open_and_check)
{
    struct jerr err = {0};
    struct p11 *p = open_ok();
    ck_assert_str_eq(p11_module_path(p), g_module);
    ck_assert_str_eq(p11_token_label(p), LABEL);
    ck_assert_int_eq(p11_check(p, &err), 0);
    p11_free(p);
}
END_TEST

START_TEST(test_wrong_pin)
{
    struct jerr err = {0};
    char want[512];
    ck_assert_ptr_null(p11_open(g_module, LABEL, "999999", &err));
    snprintf(want, sizeof(want),
             "PKCS#11 module %s, token \"" LABEL "\": C_Login failed: CKR_PIN_INCORRECT", g_module);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(err.code, JERR_AUTH);
}
END_TEST

START_TEST(test_absent_token)
{
    struct jerr err = {0};
    char want[512];
    ck_assert_ptr_null(p11_open(g_module, "no-such-token", PIN, &err));
    snprintf(want, sizeof(want),
             "PKCS#11 module %s, token \"no-such-token\": no token with this label is present "
             "(CKR_TOKEN_NOT_PRESENT)",
             g_module);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(err.code, JERR_CONFIG);
}
END_TEST

START_TEST(test_bad_module)
{
    struct jerr err = {0};
    ck_assert_ptr_null(p11_open("/nonexistent/libpkcs11.so", LABEL, PIN, &err));
    ck_assert_str_eq(err.msg, "PKCS#11 module /nonexistent/libpkcs11.so, token \"" LABEL
                              "\": the module does not load: No such file or directory");
    /* a file that is no PKCS#11 module */
    memset(&err, 0, sizeof(err));
    ck_assert_ptr_null(p11_open("/etc/hostname", LABEL, PIN, &err));
    ck_assert_msg(strstr(err.msg, "PKCS#11 module /etc/hostname, token \"" LABEL "\": ") == err.msg,
                  "%s", err.msg);
    ck_assert_int_eq(err.code, JERR_CONFIG);
}
END_TEST

START_TEST(test_generate_sign_verify)
{
    struct jerr err = {0};
    struct p11 *p = open_ok();
    const unsigned char id[] = "k1";
    ck_assert_msg(p11_generate(p, "jpki k1", id, 2, TEST_RSA2048, &err) == 0, "%s", err.msg);
    ck_assert(p11_has_private_key(p, "jpki k1"));
    ck_assert(!p11_has_private_key(p, "jpki k2"));

    struct p11_key_protection prot;
    ck_assert_int_eq(p11_key_protection(p, "jpki k1", &prot, &err), 0);
    ck_assert(prot.sensitive);
    ck_assert(!prot.extractable);
    ck_assert(prot.never_extractable);
    ck_assert(prot.always_sensitive);

    /* a second key of the same label is refused */
    ck_assert_int_eq(p11_generate(p, "jpki k1", id, 2, TEST_RSA2048, &err), -1);
    ck_assert_int_eq(err.code, JERR_CONFLICT);
    ck_assert_msg(strstr(err.msg, "\"jpki k1\" already exists") != NULL, "%s", err.msg);

    EVP_PKEY *key = p11_get1_private_key(p, "jpki k1", &err);
    ck_assert_msg(key != NULL, "%s", err.msg);
    ck_assert_int_eq(EVP_PKEY_get_bits(key), 2048);

    /* sign SHA-256 PKCS#1 v1.5 through the token, verify with a public-only copy */
    static const unsigned char msg[] = "to be signed by the token";
    unsigned char sig[512];
    size_t sig_len = sizeof(sig);
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    ck_assert_int_eq(EVP_DigestSignInit(mctx, NULL, EVP_sha256(), NULL, key), 1);
    ck_assert_int_eq(EVP_DigestSign(mctx, sig, &sig_len, msg, sizeof(msg)), 1);
    EVP_MD_CTX_free(mctx);
    ck_assert_uint_eq(sig_len, 256);

    EVP_PKEY *pub = public_copy(key);
    mctx = EVP_MD_CTX_new();
    ck_assert_int_eq(EVP_DigestVerifyInit(mctx, NULL, EVP_sha256(), NULL, pub), 1);
    ck_assert_int_eq(EVP_DigestVerify(mctx, sig, sig_len, msg, sizeof(msg)), 1);
    sig[10] ^= 1;
    ck_assert_int_eq(EVP_DigestVerify(mctx, sig, sig_len, msg, sizeof(msg)), 0);
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(key);

    /* an unknown label */
    ck_assert_ptr_null(p11_get1_private_key(p, "jpki nothing", &err));
    p11_free(p);
}
END_TEST

/* An EC P-384 key made in the token (CKM_EC_KEY_PAIR_GEN: libp11 0.4.12 has no EC key
 * generation of its own) is protected as an RSA one and signs ECDSA with SHA-384 through libp11. */
START_TEST(test_generate_ec_sign_verify)
{
    struct jerr err = {0};
    struct p11 *p = open_ok();
    const struct keyalg p384 = {KEYALG_ECDSA, 384};
    ck_assert_msg(p11_generate(p, "jpki e1", (const unsigned char *)"e1", 2, &p384, &err) == 0,
                  "%s", err.msg);
    struct p11_key_protection prot;
    ck_assert_int_eq(p11_key_protection(p, "jpki e1", &prot, &err), 0);
    ck_assert(prot.sensitive && !prot.extractable && prot.never_extractable);

    EVP_PKEY *key = p11_get1_private_key(p, "jpki e1", &err);
    ck_assert_msg(key != NULL, "%s", err.msg);
    struct keyalg got;
    ck_assert_msg(keyalg_of_key(key, NULL, &got, &err) == 0, "%s", err.msg);
    ck_assert(keyalg_equal(&got, &p384));
    ck_assert_str_eq(keyalg_key_digest(key), "SHA384");

    static const unsigned char msg[] = "to be signed by the token";
    unsigned char sig[256];
    size_t sig_len = sizeof(sig);
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    ck_assert_int_eq(EVP_DigestSignInit_ex(mctx, NULL, "SHA384", NULL, NULL, key, NULL), 1);
    ck_assert_int_eq(EVP_DigestSign(mctx, sig, &sig_len, msg, sizeof(msg)), 1);
    EVP_MD_CTX_free(mctx);

    EVP_PKEY *pub = public_copy(key);
    mctx = EVP_MD_CTX_new();
    ck_assert_int_eq(EVP_DigestVerifyInit_ex(mctx, NULL, "SHA384", NULL, NULL, pub, NULL), 1);
    ck_assert_int_eq(EVP_DigestVerify(mctx, sig, sig_len, msg, sizeof(msg)), 1);
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(key);
    p11_free(p);
}
END_TEST

START_TEST(test_reopen)
{
    struct jerr err = {0};
    struct p11 *p = open_ok();
    ck_assert_msg(p11_generate(p, "jpki r1", (const unsigned char *)"r1", 2, TEST_RSA2048, &err) ==
                      0,
                  "%s", err.msg);
    ck_assert_msg(p11_reopen(p, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(p11_check(p, &err), 0);
    EVP_PKEY *key = p11_get1_private_key(p, "jpki r1", &err);
    ck_assert_msg(key != NULL, "%s", err.msg);
    EVP_PKEY_free(key);
    p11_free(p);
}
END_TEST

/* One load per module path, shared by its tokens: freeing one token (its logout, its module
 * reference) leaves another token of the module signing. */
START_TEST(test_module_shared_by_tokens)
{
    struct jerr err = {0};
    unsigned long rv = 0;
    struct p11_module *m = p11_module_get1(g_module, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    struct p11_module *again = p11_module_get1(g_module, &err);
    ck_assert_ptr_eq(again, m);
    p11_module_free(again);
    ck_assert_str_eq(p11_module_get0_path(m), g_module);
    ck_assert(p11_module_has_token(m, LABEL));
    ck_assert(p11_module_has_token(m, LABEL2));
    ck_assert(!p11_module_has_token(m, "no-such-token"));

    struct p11 *a = p11_token_open(m, LABEL, &err);
    ck_assert_msg(a != NULL, "%s", err.msg);
    ck_assert(!p11_is_logged_in(a));
    struct p11 *b = p11_open(g_module, LABEL2, PIN, &err); /* the same module, loaded once */
    ck_assert_msg(b != NULL, "%s", err.msg);
    ck_assert_int_eq(p11_login(a, "999999", false, &rv, &err), -1);
    ck_assert_uint_eq(rv, 0xA0); /* CKR_PIN_INCORRECT */
    ck_assert_int_eq(err.code, JERR_AUTH);
    jerr_clear(&err);
    ck_assert_msg(p11_login(a, PIN, false, &rv, &err) == 0, "%s", err.msg);
    ck_assert(p11_is_logged_in(a));
    /* the slot list is not listed again under a login (that would end it) */
    ck_assert_int_eq(p11_module_init_token(m, "x", "12345678", PIN, &err), -1);
    ck_assert_int_eq(err.code, JERR_INTERNAL);
    jerr_clear(&err);

    if (!p11_has_private_key(b, "jpki b1"))
        ck_assert_msg(
            p11_generate(b, "jpki b1", (const unsigned char *)"b1", 2, TEST_RSA2048, &err) == 0,
            "%s", err.msg);
    p11_free(a);
    p11_module_free(m); /* b holds the last reference */
    EVP_PKEY *key = p11_get1_private_key(b, "jpki b1", &err);
    ck_assert_msg(key != NULL, "%s", err.msg);
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    unsigned char sig[512];
    size_t sig_len = sizeof(sig);
    ck_assert_int_eq(EVP_DigestSignInit(mctx, NULL, EVP_sha256(), NULL, key), 1);
    ck_assert_int_eq(EVP_DigestSign(mctx, sig, &sig_len, (const unsigned char *)"m", 1), 1);
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_free(key);
    ck_assert_int_eq(p11_check(b, &err), 0);
    p11_free(b);
}
END_TEST

/* A new token on the module's free slot: found by its label after, logged in with its PIN. */
START_TEST(test_module_init_token)
{
    struct jerr err = {0};
    struct p11_module *m = p11_module_get1(g_module, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ck_assert_msg(p11_module_init_token(m, "jpki-new", "so-pin-1", "4321", &err) == 0, "%s",
                  err.msg);
    ck_assert(p11_module_has_token(m, "jpki-new"));
    struct p11 *p = p11_token_open(m, "jpki-new", &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    ck_assert_msg(p11_login(p, "4321", true, NULL, &err) == 0, "%s", err.msg);
    ck_assert_msg(p11_change_pin(p, "4321", "8765", &err) == 0, "%s", err.msg);
    ck_assert_msg(p11_relogin(p, &err) == 0, "%s", err.msg); /* with the new PIN */
    p11_free(p);
    /* an absent token through p11_token_open: JERR_NOT_FOUND, named */
    ck_assert_ptr_null(p11_token_open(m, "nowhere", &err));
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    ck_assert_msg(strstr(err.msg, "token \"nowhere\": no token with this label") != NULL, "%s",
                  err.msg);
    p11_module_free(m);
}
END_TEST

START_TEST(test_rv_names)
{
    char buf[32];
    ck_assert_str_eq(p11_rv_name(0xA0, buf, sizeof(buf)), "CKR_PIN_INCORRECT");
    ck_assert_str_eq(p11_rv_name(0x30, buf, sizeof(buf)), "CKR_DEVICE_ERROR");
    ck_assert_str_eq(p11_rv_name(0x80000001UL, buf, sizeof(buf)), "CKR_0x80000001");
    ck_assert(p11_rv_is_lost(0x30));
    ck_assert(!p11_rv_is_lost(0xA0));
}
END_TEST

int main(void)
{
    g_module = testutil_softhsm_module();
    if (g_module == NULL) {
        fprintf(stderr, "test_p11: SoftHSM2 is not installed (scripts/setup)\n");
        return 1;
    }
    g_dir = testutil_mkdtemp();
    if (g_dir == NULL || testutil_softhsm_token(g_dir, LABEL, PIN) == -1 ||
        testutil_softhsm_token(g_dir, LABEL2, PIN) == -1) {
        fprintf(stderr, "test_p11: cannot create a SoftHSM2 token\n");
        return 1;
    }
    Suite *s = suite_create("p11");
    TCase *tc = tcase_create("token");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_open_and_check);
    tcase_add_test(tc, test_wrong_pin);
    tcase_add_test(tc, test_absent_token);
    tcase_add_test(tc, test_bad_module);
    tcase_add_test(tc, test_generate_sign_verify);
    tcase_add_test(tc, test_generate_ec_sign_verify);
    tcase_add_test(tc, test_reopen);
    tcase_add_test(tc, test_module_shared_by_tokens);
    tcase_add_test(tc, test_module_init_token);
    tcase_add_test(tc, test_rv_names);
    suite_add_tcase(s, tc);
    int rc = testutil_run(s);
    testutil_rmtree(g_dir);
    free(g_dir);
    return rc;
}
