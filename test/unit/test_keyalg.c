/*
 * test_keyalg: key specs (names, parse errors naming the field, digests), ECDSA key generation
 * on named curves, and file-backend signers of every spec signing with their own digest.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "config/config.h"
#include "keystore/keyalg.h"
#include "keystore/keygen.h"
#include "keystore/signer.h"
#include "testutil.h"

START_TEST(test_parse_names)
{
    struct jerr err = {0};
    struct keyalg a;
    char name[KEYALG_NAME_MAX];

    ck_assert_int_eq(keyalg_parse("rsa", 4096, "f", &a, &err), 0);
    ck_assert(a.type == KEYALG_RSA && a.bits == 4096);
    ck_assert_str_eq(keyalg_name(&a, name, sizeof(name)), "rsa4096");
    ck_assert_str_eq(keyalg_digest(&a), "SHA256");
    ck_assert_int_eq(keyalg_curve_nid(&a), NID_undef);

    ck_assert_int_eq(keyalg_parse("rsa2048", 4096, "f", &a, &err), 0);
    ck_assert(a.type == KEYALG_RSA && a.bits == 2048);
    ck_assert_int_eq(keyalg_parse("rsa3072", 2048, "f", &a, &err), 0);
    ck_assert(a.type == KEYALG_RSA && a.bits == 3072);
    ck_assert_str_eq(keyalg_name(&a, name, sizeof(name)), "rsa3072");

    ck_assert_int_eq(keyalg_parse("ecdsa-p384", 2048, "f", &a, &err), 0);
    ck_assert(keyalg_is_ec(&a) && a.bits == 384);
    ck_assert_str_eq(keyalg_name(&a, name, sizeof(name)), "ecdsa-p384");
    ck_assert_str_eq(keyalg_digest(&a), "SHA384");
    ck_assert_int_eq(keyalg_digest_nid(&a), NID_sha384);
    ck_assert_int_eq(keyalg_curve_nid(&a), NID_secp384r1);

    ck_assert_int_eq(keyalg_parse("ecdsa-p521", 2048, "f", &a, &err), 0);
    ck_assert(keyalg_is_ec(&a) && a.bits == 521);
    ck_assert_str_eq(keyalg_name(&a, name, sizeof(name)), "ecdsa-p521");
    ck_assert_str_eq(keyalg_digest(&a), "SHA512");
    ck_assert_int_eq(keyalg_curve_nid(&a), NID_secp521r1);
    ck_assert_str_eq(keyalg_display(&a, name, sizeof(name)), "ECDSA P-521");

    /* every name round-trips */
    const char *names[] = {"rsa2048", "rsa3072", "ecdsa-p384", "ecdsa-p521"};
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(keyalg_parse(names[i], 2048, "f", &a, &err), 0);
        ck_assert_str_eq(keyalg_name(&a, name, sizeof(name)), names[i]);
    }
}
END_TEST

START_TEST(test_parse_refusals)
{
    struct jerr err = {0};
    struct keyalg a = {0};
    const char *bad[] = {"", "RSA", "ec", "ecdsa-p256", "ecdsa", "rsa1024", "ed25519", "rsa\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        jerr_clear(&err);
        ck_assert_int_eq(keyalg_parse(bad[i], 2048, "ca.sign.key_algorithm", &a, &err), -1);
        ck_assert_int_eq(err.code, JERR_INVALID);
        ck_assert_str_eq(err.field, "ca.sign.key_algorithm");
        ck_assert_msg(strstr(err.msg, "expected rsa, rsa2048, rsa3072, ecdsa-p384 or ecdsa-p521") !=
                          NULL,
                      "%s", err.msg);
    }
    jerr_clear(&err);
    ck_assert_int_eq(keyalg_parse("ecdsa-p256", 2048, "--algorithm", &a, &err), -1);
    ck_assert_str_eq(err.msg, "--algorithm: unknown key algorithm \"ecdsa-p256\" (expected rsa, "
                              "rsa2048, rsa3072, ecdsa-p384 or ecdsa-p521)");
    /* escaped */
    jerr_clear(&err);
    ck_assert_int_eq(keyalg_parse("rsa\n", 2048, "f", &a, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "\"rsa\\x0a\""));
    /* "rsa" with bits out of range */
    jerr_clear(&err);
    ck_assert_int_eq(keyalg_parse("rsa", 1024, "ca.auth.key_algorithm", &a, &err), -1);
    ck_assert_str_eq(err.field, "ca.auth.key_algorithm");
    ck_assert_ptr_nonnull(strstr(err.msg, "outside 2048..8192"));
}
END_TEST

/* Every name the configuration accepts parses as a key spec (config.c repeats the list). */
START_TEST(test_config_names_parse)
{
    const char *names[] = {"rsa", "rsa2048", "rsa3072", "ecdsa-p384", "ecdsa-p521"};
    for (size_t i = 0; i < 5; i++) {
        struct jerr err = {0};
        char set[64];
        snprintf(set, sizeof(set), "ca.auth.key_algorithm=%s", names[i]);
        const char *sets[] = {set};
        struct jpki_config *cfg = config_load_string("-", "{}", 2, sets, 1, &err);
        ck_assert_msg(cfg != NULL, "%s: %s", names[i], err.msg);
        struct keyalg a;
        ck_assert_int_eq(
            keyalg_parse(cfg->ca[CA_AUTH].key_algorithm, cfg->ca[CA_AUTH].key_bits, "f", &a, &err),
            0);
        config_free(cfg);
    }
    struct jerr err = {0};
    const char *sets[] = {"ca.sign.key_algorithm=ecdsa-p256"};
    ck_assert_ptr_null(config_load_string("-", "{}", 2, sets, 1, &err));
    ck_assert_msg(strstr(err.msg, "ca.sign.key_algorithm") != NULL, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "ecdsa-p384") != NULL, "%s", err.msg);
}
END_TEST

/* The curve of a generated key is named in its SPKI (RFC 5480 §2.1.1), never explicit. */
static void assert_named_curve(EVP_PKEY *pkey, int nid)
{
    X509_PUBKEY *xp = NULL;
    X509_ALGOR *alg = NULL;
    const ASN1_OBJECT *aobj;
    const void *pval;
    int ptype;
    ck_assert_int_eq(X509_PUBKEY_set(&xp, pkey), 1);
    ck_assert_int_eq(X509_PUBKEY_get0_param(NULL, NULL, NULL, &alg, xp), 1);
    X509_ALGOR_get0(&aobj, &ptype, &pval, alg);
    ck_assert_int_eq(OBJ_obj2nid(aobj), NID_X9_62_id_ecPublicKey);
    ck_assert_int_eq(ptype, V_ASN1_OBJECT);
    ck_assert_int_eq(OBJ_obj2nid(pval), nid);
    X509_PUBKEY_free(xp);
}

START_TEST(test_keygen_ec)
{
    struct jerr err = {0};
    const struct keyalg p384 = {KEYALG_ECDSA, 384}, p521 = {KEYALG_ECDSA, 521};
    EVP_PKEY *a = keygen_generate(&p384, &err);
    ck_assert_msg(a != NULL, "%s", err.msg);
    assert_named_curve(a, NID_secp384r1);
    struct keyalg got;
    ck_assert_int_eq(keyalg_of_key(a, NULL, &got, &err), 0);
    ck_assert(keyalg_equal(&got, &p384));
    ck_assert_str_eq(keyalg_key_digest(a), "SHA384");
    ck_assert_int_eq(keyalg_check_key(a, &p384, "csr", &err), 0);
    /* a P-384 key on a P-521 CA, or on an RSA CA, is refused, naming the field */
    ck_assert_int_eq(keyalg_check_key(a, &p521, "csr", &err), -1);
    ck_assert_str_eq(err.field, "csr");
    ck_assert_str_eq(err.msg, "key is ECDSA P-384; this CA needs ECDSA P-521");
    jerr_clear(&err);
    ck_assert_int_eq(keyalg_check_key(a, TEST_RSA2048, "csr", &err), -1);
    ck_assert_str_eq(err.msg, "key is ECDSA P-384; this CA needs RSA-2048 or larger");

    EVP_PKEY *b = keygen_generate(&p521, &err);
    ck_assert_ptr_nonnull(b);
    assert_named_curve(b, NID_secp521r1);
    ck_assert_str_eq(keyalg_key_digest(b), "SHA512");
    ck_assert_int_eq(EVP_PKEY_eq(a, b), 0);

    EVP_PKEY *r = keygen_generate(TEST_RSA2048, &err);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(keyalg_key_digest(r), "SHA256");
    jerr_clear(&err);
    ck_assert_int_eq(keyalg_check_key(r, &p384, "csr", &err), -1);
    ck_assert_str_eq(err.msg, "key is RSA-2048; this CA needs ECDSA P-384");
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    EVP_PKEY_free(r);
}
END_TEST

/* Other curves and explicit parameters are refused. */
START_TEST(test_other_curves_refused)
{
    struct jerr err = {0};
    struct keyalg got;
    EVP_PKEY *p256 = EVP_EC_gen("P-256");
    ck_assert_ptr_nonnull(p256);
    ck_assert_int_eq(keyalg_of_key(p256, "csr", &got, &err), -1);
    ck_assert_str_eq(err.field, "csr");
    ck_assert_msg(strstr(err.msg, "prime256v1") != NULL, "%s", err.msg);
    ck_assert_ptr_null(keyalg_key_digest(p256));

    /* the same P-384 key with explicit parameters */
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *expl = NULL;
    ck_assert_int_eq(EVP_PKEY_keygen_init(ctx), 1);
    ck_assert_int_eq(EVP_PKEY_CTX_set_group_name(ctx, "P-384"), 1);
    ck_assert_int_eq(EVP_PKEY_CTX_set_ec_param_enc(ctx, OPENSSL_EC_EXPLICIT_CURVE), 1);
    ck_assert_int_eq(EVP_PKEY_generate(ctx, &expl), 1);
    EVP_PKEY_CTX_free(ctx);
    jerr_clear(&err);
    ck_assert_int_eq(keyalg_of_key(expl, "csr", &got, &err), -1);
    ck_assert_msg(strstr(err.msg, "explicit") != NULL, "%s", err.msg);

    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    jerr_clear(&err);
    ck_assert_int_eq(keyalg_of_key(ed, "csr", &got, &err), -1);
    ck_assert_msg(strstr(err.msg, "only RSA and ECDSA P-384/P-521") != NULL, "%s", err.msg);
    EVP_PKEY_free(p256);
    EVP_PKEY_free(expl);
    EVP_PKEY_free(ed);
}
END_TEST

/* A signer of each ECDSA spec signs a certificate with its digest, and survives a save/load. */
static void check_signer(const struct keyalg *alg, int sig_nid)
{
    struct jerr err = {0};
    struct signer *s = signer_generate(alg, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    struct keyalg got = signer_keyalg(s);
    ck_assert(keyalg_equal(&got, alg));

    EVP_PKEY *pub = signer_get1_public_key(s);
    X509 *cert = X509_new();
    X509_set_version(cert, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"t", -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, pub);
    ck_assert_msg(signer_sign_cert(s, cert, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(X509_get_signature_nid(cert), sig_nid);
    ck_assert_int_eq(X509_verify(cert, pub), 1);
    /* the signature AlgorithmIdentifier has no parameters (RFC 5758 §3.2) */
    const X509_ALGOR *salg = NULL;
    const ASN1_OBJECT *aobj;
    int ptype;
    const void *pval;
    X509_get0_signature(NULL, &salg, cert);
    X509_ALGOR_get0(&aobj, &ptype, &pval, salg);
    ck_assert_int_eq(ptype, V_ASN1_UNDEF);

    /* signer_algorithm_der says the same */
    const unsigned char *der;
    size_t der_len;
    ck_assert_int_eq(signer_algorithm_der(s, &der, &der_len, &err), 0);
    unsigned char *want = NULL;
    int want_len = i2d_X509_ALGOR(salg, &want);
    ck_assert_int_eq((int)der_len, want_len);
    ck_assert_mem_eq(der, want, der_len);
    OPENSSL_free(want);

    /* raw bytes: verify with the digest */
    static const unsigned char msg[] = "tbs";
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    ck_assert_int_eq(signer_sign_bytes(s, msg, sizeof(msg), &sig, &sig_len, &err), 0);
    ck_assert_uint_le(sig_len, signer_signature_size(s));
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    ck_assert_int_eq(EVP_DigestVerifyInit_ex(m, NULL, keyalg_digest(alg), NULL, NULL, pub, NULL),
                     1);
    ck_assert_int_eq(EVP_DigestVerify(m, sig, sig_len, msg, sizeof(msg)), 1);
    EVP_MD_CTX_free(m);
    OPENSSL_free(sig);

    /* streamed (a CRL): always the announced size, though ECDSA signatures vary */
    for (int i = 0; i < 16; i++) {
        struct signer_stream *ss = signer_stream_begin(s, &err);
        ck_assert_ptr_nonnull(ss);
        ck_assert_int_eq(signer_stream_update(ss, msg, 2, &err), 0);
        ck_assert_int_eq(signer_stream_update(ss, msg + 2, sizeof(msg) - 2, &err), 0);
        ck_assert_msg(signer_stream_final(ss, &sig, &sig_len, &err) == 0, "%s", err.msg);
        ck_assert_uint_eq(sig_len, signer_signature_size(s));
        m = EVP_MD_CTX_new();
        ck_assert_int_eq(
            EVP_DigestVerifyInit_ex(m, NULL, keyalg_digest(alg), NULL, NULL, pub, NULL), 1);
        ck_assert_int_eq(EVP_DigestVerify(m, sig, sig_len, msg, sizeof(msg)), 1);
        EVP_MD_CTX_free(m);
        OPENSSL_free(sig);
    }

    /* at rest and back */
    char dir[] = "/tmp/test_keyalg.XXXXXX", path[128];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/k.key", dir);
    ck_assert_int_eq(signer_save(s, path, "pass", &err), 0);
    struct signer *back = signer_load(path, "pass", &err);
    ck_assert_msg(back != NULL, "%s", err.msg);
    ck_assert(signer_matches_cert(back, cert));
    got = signer_keyalg(back);
    ck_assert(keyalg_equal(&got, alg));
    signer_free(back);
    unlink(path);
    rmdir(dir);

    X509_free(cert);
    EVP_PKEY_free(pub);
    signer_free(s);
}

START_TEST(test_signer_p384)
{
    check_signer(&(struct keyalg){KEYALG_ECDSA, 384}, NID_ecdsa_with_SHA384);
}
END_TEST

START_TEST(test_signer_p521)
{
    check_signer(&(struct keyalg){KEYALG_ECDSA, 521}, NID_ecdsa_with_SHA512);
}
END_TEST

START_TEST(test_for_subscriber)
{
    const struct keyalg p384 = {KEYALG_ECDSA, 384};
    struct keyalg sub = keyalg_for_subscriber(&p384, 2048);
    ck_assert(keyalg_equal(&sub, &p384));
    sub = keyalg_for_subscriber(&(struct keyalg){KEYALG_RSA, 4096}, 3072);
    ck_assert(sub.type == KEYALG_RSA && sub.bits == 3072);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("keyalg");
    TCase *tc = tcase_create("keyalg");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_parse_names);
    tcase_add_test(tc, test_parse_refusals);
    tcase_add_test(tc, test_config_names_parse);
    tcase_add_test(tc, test_keygen_ec);
    tcase_add_test(tc, test_other_curves_refused);
    tcase_add_test(tc, test_signer_p384);
    tcase_add_test(tc, test_signer_p521);
    tcase_add_test(tc, test_for_subscriber);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
