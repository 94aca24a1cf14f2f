/*
 * test_signer_pkcs11: the signer's PKCS#11 backend (keystore.backend pkcs11) against a real
 * SoftHSM2 token: keys generated in the token and named by a pkcs11: URI on disk, every
 * signing path verified by OpenSSL with the public key, concurrent signing from several
 * threads, and the faults — wrong PIN, absent token, the token's directory taken away while
 * signing (JERR_UNAVAILABLE, one sentence) and put back (the signer heals by itself).
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/fsutil.h"
#include "config/config.h"
#include "keystore/p11.h"
#include "keystore/signer.h"
#include "testutil.h"

#define PIN "123456"
#define LABEL "jpki-ca-test"

static char *g_dir;
static const char *g_module;
static char g_data[4096];

static struct jpki_config *cfg_with(const char *token, const char *pin_env, int sessions)
{
    char set[6][4200];
    snprintf(set[0], sizeof(set[0]), "data_dir=%s", g_data);
    snprintf(set[1], sizeof(set[1]), "keystore.backend=pkcs11");
    snprintf(set[2], sizeof(set[2]), "keystore.pkcs11.module=%s", g_module);
    snprintf(set[3], sizeof(set[3]), "keystore.pkcs11.token=%s", token);
    snprintf(set[4], sizeof(set[4]), "keystore.pkcs11.pin.env=%s", pin_env);
    snprintf(set[5], sizeof(set[5]), "keystore.pkcs11.sessions=%d", sessions);
    const char *const over[] = {set[0], set[1], set[2], set[3], set[4], set[5]};
    struct jerr err = {0};
    struct jpki_config *cfg = config_load_string("t.yaml", "{}", 2, over, 6, &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    return cfg;
}

static struct signer_store *store_ok(struct jpki_config *cfg)
{
    struct jerr err = {0};
    struct signer_store *st = signer_store_open(cfg, "unused passphrase", &err);
    ck_assert_msg(st != NULL, "%s", err.msg);
    return st;
}

static void verify_bytes(EVP_PKEY *pub, const unsigned char *tbs, size_t tbs_len,
                         const unsigned char *sig, size_t sig_len)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    ck_assert_int_eq(EVP_DigestVerifyInit(mctx, NULL, EVP_sha256(), NULL, pub), 1);
    ck_assert_int_eq(EVP_DigestVerify(mctx, sig, sig_len, tbs, tbs_len), 1);
    EVP_MD_CTX_free(mctx);
}

static void unique_data_dir(const char *tag)
{
    snprintf(g_data, sizeof(g_data), "%s/data-%s-%d", g_dir, tag, (int)getpid());
}

/* A store on the token (PIN from the environment) and a new key `<tag><pid>-<purpose>`. */
struct fixture {
    struct jpki_config *cfg;
    struct signer_store *st;
    struct signer *s;
    EVP_PKEY *pub;
    char name[64];
};

/* The store and the name alone (no key yet: s and pub NULL). */
static void fixture_store(struct fixture *fx, const char *tag, const char *purpose, int sessions)
{
    unique_data_dir(tag);
    setenv("JPKI_TEST_HSM_PIN", PIN, 1);
    fx->cfg = cfg_with(LABEL, "JPKI_TEST_HSM_PIN", sessions);
    fx->st = store_ok(fx->cfg);
    snprintf(fx->name, sizeof(fx->name), "%s%d-%s", tag, (int)getpid(), purpose);
    fx->s = NULL;
    fx->pub = NULL;
}

static void fixture_open(struct fixture *fx, const char *tag, const char *purpose, int sessions)
{
    struct jerr err = {0};
    fixture_store(fx, tag, purpose, sessions);
    fx->s = signer_store_create(fx->st, fx->name, TEST_RSA2048, false, &err);
    ck_assert_msg(fx->s != NULL, "%s", err.msg);
    fx->pub = signer_get1_public_key(fx->s);
    ck_assert_ptr_nonnull(fx->pub);
}

static void fixture_close(struct fixture *fx)
{
    EVP_PKEY_free(fx->pub);
    signer_free(fx->s);
    signer_store_free(fx->st);
    config_free(fx->cfg);
}

/* A P-384 key made in the token signs as a file key does: ecdsa-with-SHA384 certificates, and
 * streamed signatures (CRLs) of the announced size; loaded back from its reference. */
START_TEST(test_ec_p384_in_token)
{
    struct jerr err = {0};
    struct fixture fx;
    fixture_store(&fx, "ec", "ca", 4);
    const struct keyalg p384 = {KEYALG_ECDSA, 384};
    struct signer *s = signer_store_create(fx.st, fx.name, &p384, false, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    struct keyalg got = signer_keyalg(s);
    ck_assert(keyalg_equal(&got, &p384));
    EVP_PKEY *pub = signer_get1_public_key(s);
    static const unsigned char tbs[] = "a TBSCertList, say";
    for (int i = 0; i < 8; i++) {
        struct signer_stream *ss = signer_stream_begin(s, &err);
        ck_assert_msg(ss != NULL, "%s", err.msg);
        ck_assert_int_eq(signer_stream_update(ss, tbs, sizeof(tbs), &err), 0);
        unsigned char *sig = NULL;
        size_t sig_len = 0;
        ck_assert_msg(signer_stream_final(ss, &sig, &sig_len, &err) == 0, "%s", err.msg);
        ck_assert_uint_eq(sig_len, signer_signature_size(s));
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        ck_assert_int_eq(EVP_DigestVerifyInit_ex(m, NULL, "SHA384", NULL, NULL, pub, NULL), 1);
        ck_assert_int_eq(EVP_DigestVerify(m, sig, sig_len, tbs, sizeof(tbs)), 1);
        EVP_MD_CTX_free(m);
        OPENSSL_free(sig);
    }
    X509 *cert = X509_new();
    X509_set_pubkey(cert, pub);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 60);
    ck_assert_msg(signer_sign_cert(s, cert, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(X509_get_signature_nid(cert), NID_ecdsa_with_SHA384);
    ck_assert_int_eq(X509_verify(cert, pub), 1);
    signer_free(s);
    s = signer_store_load(fx.st, fx.name, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    ck_assert(signer_matches_cert(s, cert));
    X509_free(cert);
    EVP_PKEY_free(pub);
    signer_free(s);
    fixture_close(&fx);
}
END_TEST

/* A ceremony that failed removes its key: the token objects (both halves) with their
 * reference, so that the name — and its token label — is free for the next attempt. */
START_TEST(test_discard_destroys_the_object)
{
    struct jerr err = {0};
    struct fixture fx;
    fixture_store(&fx, "discard", "ca", 4);
    const struct keyalg p384 = {KEYALG_ECDSA, 384};
    for (int round = 0; round < 2; round++) {
        ck_assert_msg(signer_store_check_new(fx.st, fx.name, &err) == 0, "%s", err.msg);
        fx.s = signer_store_create(fx.st, fx.name, &p384, false, &err);
        ck_assert_msg(fx.s != NULL, "%s", err.msg);
        /* the key made again under the destroyed one's label signs (not a stale handle) */
        fx.pub = signer_get1_public_key(fx.s);
        X509 *cert = X509_new();
        X509_set_pubkey(cert, fx.pub);
        ck_assert_msg(signer_sign_cert(fx.s, cert, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(X509_verify(cert, fx.pub), 1);
        X509_free(cert);
        EVP_PKEY_free(fx.pub);
        signer_free(fx.s);
        fx.pub = NULL;
        fx.s = NULL;
        ck_assert(signer_store_has(fx.st, fx.name));
        ck_assert_int_eq(signer_store_check_new(fx.st, fx.name, &err), -1); /* label taken */
        jerr_clear(&err);
        ck_assert_msg(signer_store_discard(fx.st, fx.name, &err) == 0, "%s", err.msg);
        ck_assert(!signer_store_has(fx.st, fx.name));
    }
    ck_assert_int_eq(signer_store_discard(fx.st, fx.name, &err), 0); /* none: no error */
    ck_assert(signer_store_load(fx.st, fx.name, &err) == NULL);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    fixture_close(&fx);
}
END_TEST

START_TEST(test_create_load_sign)
{
    struct jerr err = {0};
    struct fixture fx;
    fixture_store(&fx, "cls", "ca", 4);

    ck_assert(!signer_store_has(fx.st, fx.name));
    ck_assert_int_eq(signer_store_check_new(fx.st, fx.name, &err), 0);
    struct signer *s = signer_store_create(fx.st, fx.name, TEST_RSA2048, false, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    ck_assert(signer_store_has(fx.st, fx.name));
    /* the token now holds generation 1: a new instance's ceremony would stop before writing */
    ck_assert_int_eq(signer_store_check_new(fx.st, fx.name, &err), -1);
    ck_assert_int_eq(err.code, JERR_CONFLICT);
    ck_assert_msg(strstr(err.msg, "already holds a key labelled") != NULL, "%s", err.msg);
    jerr_clear(&err);

    /* on disk: a pkcs11: URI naming the token object, nothing else */
    char path[4200];
    snprintf(path, sizeof(path), "%s/token/%s.uri", g_data, fx.name);
    unsigned char *uri = NULL;
    size_t uri_len = 0;
    ck_assert_int_eq(fsutil_read_file(path, 4096, &uri, &uri_len, &err), 0);
    char want[256];
    snprintf(want, sizeof(want), "object=jpki%%20%s%%20g1", fx.name);
    ck_assert_msg(strncmp((char *)uri, "pkcs11:", 7) == 0 && strstr((char *)uri, want) != NULL &&
                      strstr((char *)uri, "token=" LABEL) != NULL,
                  "%s", (char *)uri);
    ck_assert_ptr_null(strstr((char *)uri, "PRIVATE"));
    free(uri);

    /* raw bytes, verified by OpenSSL with the public half */
    EVP_PKEY *pub = signer_get1_public_key(s);
    ck_assert_ptr_nonnull(pub);
    static const unsigned char tbs[] = "a TBSCertList, say";
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    ck_assert_msg(signer_sign_bytes(s, tbs, sizeof(tbs), &sig, &sig_len, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(sig_len, signer_signature_size(s));
    verify_bytes(pub, tbs, sizeof(tbs), sig, sig_len);
    OPENSSL_free(sig);

    /* a certificate */
    X509 *cert = X509_new();
    X509_NAME *subject = X509_NAME_new();
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *)"t", -1, -1, 0);
    X509_set_subject_name(cert, subject);
    X509_set_issuer_name(cert, subject);
    X509_NAME_free(subject);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, pub);
    ck_assert_msg(signer_sign_cert(s, cert, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(X509_verify(cert, pub), 1);
    ck_assert(signer_matches_cert(s, cert));

    /* a stream */
    struct signer_stream *ss = signer_stream_begin(s, &err);
    ck_assert_ptr_nonnull(ss);
    ck_assert_int_eq(signer_stream_update(ss, tbs, 5, &err), 0);
    ck_assert_int_eq(signer_stream_update(ss, tbs + 5, sizeof(tbs) - 5, &err), 0);
    ck_assert_int_eq(signer_stream_final(ss, &sig, &sig_len, &err), 0);
    verify_bytes(pub, tbs, sizeof(tbs), sig, sig_len);
    OPENSSL_free(sig);

    /* a token key never goes to a file */
    snprintf(path, sizeof(path), "%s/never.key", g_data);
    ck_assert_int_eq(signer_save(s, path, "pass phrase", &err), -1);
    ck_assert(!fsutil_exists(path));

    /* a second key of the name is refused; a renewal makes generation 2 */
    signer_free(s);
    jerr_clear(&err);
    ck_assert_ptr_null(signer_store_create(fx.st, fx.name, TEST_RSA2048, false, &err));
    ck_assert_int_eq(err.code, JERR_CONFLICT);
    s = signer_store_create(fx.st, fx.name, TEST_RSA2048, true, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    ck_assert(!signer_matches_cert(s, cert)); /* a new key */
    signer_free(s);
    s = signer_store_load(fx.st, fx.name, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    ck_assert(!signer_matches_cert(s, cert));
    snprintf(path, sizeof(path), "%s/token/%s.uri", g_data, fx.name);
    ck_assert_int_eq(fsutil_read_file(path, 4096, &uri, &uri_len, &err), 0);
    snprintf(want, sizeof(want), "object=jpki%%20%s%%20g2", fx.name);
    ck_assert_msg(strstr((char *)uri, want) != NULL, "%s", (char *)uri);
    free(uri);

    X509_free(cert);
    EVP_PKEY_free(pub);
    signer_free(s);
    ck_assert_int_eq(signer_store_check(fx.st, &err), 0);
    fixture_close(&fx);

    /* the key is in the token, sensitive and never extractable (one module user at a time:
     * closing a p11 finalizes the module) */
    struct p11 *p = p11_open(g_module, LABEL, PIN, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    char label[128];
    for (int gen = 1; gen <= 2; gen++) {
        snprintf(label, sizeof(label), "jpki %s g%d", fx.name, gen);
        struct p11_key_protection prot;
        ck_assert_int_eq(p11_key_protection(p, label, &prot, &err), 0);
        ck_assert(prot.sensitive && !prot.extractable && prot.never_extractable);
    }
    p11_free(p);
}
END_TEST

/* ---- concurrency ---- */

struct sign_job {
    const struct signer *s;
    EVP_PKEY *pub;
    int count, ok;
};

static void *sign_thread(void *arg)
{
    struct sign_job *j = arg;
    for (int i = 0; i < j->count; i++) {
        struct jerr err = {0};
        unsigned char tbs[32], *sig = NULL;
        size_t sig_len = 0;
        memset(tbs, i, sizeof(tbs));
        if (signer_sign_bytes(j->s, tbs, sizeof(tbs), &sig, &sig_len, &err) == 0) {
            EVP_MD_CTX *mctx = EVP_MD_CTX_new();
            if (EVP_DigestVerifyInit(mctx, NULL, EVP_sha256(), NULL, j->pub) == 1 &&
                EVP_DigestVerify(mctx, sig, sig_len, tbs, sizeof(tbs)) == 1)
                j->ok++;
            EVP_MD_CTX_free(mctx);
        }
        OPENSSL_free(sig);
    }
    return NULL;
}

START_TEST(test_concurrent_signing)
{
    struct fixture fx;
    fixture_open(&fx, "conc", "ocsp", 3);

    enum { THREADS = 6, EACH = 25 };
    pthread_t th[THREADS];
    struct sign_job jobs[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (struct sign_job){.s = fx.s, .pub = fx.pub, .count = EACH};
        ck_assert_int_eq(pthread_create(&th[i], NULL, sign_thread, &jobs[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ok += jobs[i].ok;
    }
    ck_assert_int_eq(ok, THREADS * EACH);
    fixture_close(&fx);
}
END_TEST

/* ---- faults ---- */

START_TEST(test_wrong_pin_and_absent_token)
{
    struct jerr err = {0};
    char want[600];
    unique_data_dir("pin");
    setenv("JPKI_TEST_HSM_PIN", "000000", 1);
    struct jpki_config *cfg = cfg_with(LABEL, "JPKI_TEST_HSM_PIN", 4);
    ck_assert_ptr_null(signer_store_open(cfg, "p", &err));
    snprintf(want, sizeof(want),
             "PKCS#11 module %s, token \"" LABEL "\": C_Login failed: CKR_PIN_INCORRECT", g_module);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(err.code, JERR_AUTH);
    config_free(cfg);

    setenv("JPKI_TEST_HSM_PIN", PIN, 1);
    cfg = cfg_with("absent-token", "JPKI_TEST_HSM_PIN", 4);
    jerr_clear(&err);
    ck_assert_ptr_null(signer_store_open(cfg, "p", &err));
    snprintf(want, sizeof(want),
             "PKCS#11 module %s, token \"absent-token\": no token with this label is present "
             "(CKR_TOKEN_NOT_PRESENT)",
             g_module);
    ck_assert_str_eq(err.msg, want);
    config_free(cfg);

    /* an unset PIN variable: the config's sentence */
    unsetenv("JPKI_TEST_HSM_PIN");
    cfg = cfg_with(LABEL, "JPKI_TEST_HSM_PIN", 4);
    jerr_clear(&err);
    ck_assert_ptr_null(signer_store_open(cfg, "p", &err));
    ck_assert_str_eq(err.field, "keystore.pkcs11.pin.env");
    config_free(cfg);
}
END_TEST

/* The token's directory goes away while a signer holds a key: signing fails with one sentence
 * (JERR_UNAVAILABLE), the check fails; when the directory comes back, both recover without
 * reopening anything by hand. */
START_TEST(test_token_away_and_back)
{
    struct jerr err = {0};
    struct fixture fx;
    fixture_open(&fx, "away", "ca", 2);
    struct signer *s = fx.s;
    struct signer_store *st = fx.st;
    static const unsigned char tbs[] = "tbs";
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    ck_assert_int_eq(signer_sign_bytes(s, tbs, sizeof(tbs), &sig, &sig_len, &err), 0);
    OPENSSL_free(sig);
    sig = NULL;

    char tokens[4200], moved[4200];
    snprintf(tokens, sizeof(tokens), "%s/tokens", g_dir);
    snprintf(moved, sizeof(moved), "%s/tokens.away", g_dir);
    ck_assert_int_eq(rename(tokens, moved), 0);

    jerr_clear(&err);
    int rc = signer_sign_bytes(s, tbs, sizeof(tbs), &sig, &sig_len, &err);
    OPENSSL_free(sig);
    sig = NULL;
    if (rc == 0) { /* a module may still sign from memory; the check must see it gone */
        ck_assert_int_eq(signer_store_check(st, &err), -1);
        jerr_clear(&err);
        rc = signer_sign_bytes(s, tbs, sizeof(tbs), &sig, &sig_len, &err);
    }
    ck_assert_int_eq(rc, -1);
    ck_assert_int_eq(err.code, JERR_UNAVAILABLE);
    ck_assert_msg(strstr(err.msg, "PKCS#11 module ") == err.msg &&
                      strstr(err.msg, "token \"" LABEL "\": ") != NULL &&
                      strstr(err.msg, "CKR_") != NULL,
                  "%s", err.msg);
    jerr_clear(&err);
    ck_assert_int_eq(signer_store_check(st, &err), -1);
    ck_assert_int_eq(err.code, JERR_UNAVAILABLE);

    ck_assert_int_eq(rename(moved, tokens), 0);
    sleep(1); /* reconnections are tried at most once a second */
    jerr_clear(&err);
    ck_assert_msg(signer_store_check(st, &err) == 0, "%s", err.msg);
    ck_assert_msg(signer_sign_bytes(s, tbs, sizeof(tbs), &sig, &sig_len, &err) == 0, "%s", err.msg);
    verify_bytes(fx.pub, tbs, sizeof(tbs), sig, sig_len);
    OPENSSL_free(sig);
    fixture_close(&fx);
}
END_TEST

int main(void)
{
    g_module = testutil_softhsm_module();
    if (g_module == NULL) {
        fprintf(stderr, "test_signer_pkcs11: SoftHSM2 is not installed (scripts/setup)\n");
        return 1;
    }
    g_dir = testutil_mkdtemp();
    if (g_dir == NULL || testutil_softhsm_token(g_dir, LABEL, PIN) == -1) {
        fprintf(stderr, "test_signer_pkcs11: cannot create a SoftHSM2 token\n");
        return 1;
    }
    Suite *s = suite_create("signer_pkcs11");
    TCase *tc = tcase_create("token");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_create_load_sign);
    tcase_add_test(tc, test_ec_p384_in_token);
    tcase_add_test(tc, test_discard_destroys_the_object);
    tcase_add_test(tc, test_concurrent_signing);
    tcase_add_test(tc, test_wrong_pin_and_absent_token);
    tcase_add_test(tc, test_token_away_and_back);
    suite_add_tcase(s, tc);
    int rc = testutil_run(s);
    testutil_rmtree(g_dir);
    free(g_dir);
    return rc;
}
