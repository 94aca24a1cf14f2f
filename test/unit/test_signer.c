/*
 * test_signer: the CA key holder — key files at rest (scrypt PBES2, 0600, atomic, never
 * overwritten, refusals on load), and every signing path (certificates, OCSP, raw bytes,
 * streams, concurrent use). Two 2048-bit signers are generated once, in main, and shared.
 */
#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/asn1t.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/jclock.h"
#include "keystore/keygen.h"
#include "keystore/signer.h"
#include "testutil.h"

#define PASS "correct horse battery staple"

static struct signer *g_signer; /* shared, read-only */
static struct signer *g_other;  /* a second key, for mismatches */
static EVP_PKEY *g_pub;         /* g_signer's public half */
static char *g_dir;             /* per-test scratch directory */

/* Run once in main, before the forks: every test inherits the same two keys. */
static int keys_setup(void)
{
    struct jerr err = {0};
    g_signer = signer_generate(TEST_RSA2048, &err);
    g_other = signer_generate(TEST_RSA2048, &err);
    g_pub = signer_get1_public_key(g_signer);
    return g_signer != NULL && g_other != NULL && g_pub != NULL ? 0 : -1;
}

static void keys_teardown(void)
{
    EVP_PKEY_free(g_pub);
    signer_free(g_signer);
    signer_free(g_other);
}

static void dir_setup(void)
{
    g_dir = testutil_mkdtemp();
    ck_assert_ptr_nonnull(g_dir);
}

static void dir_teardown(void)
{
    testutil_rmtree(g_dir);
    free(g_dir);
    g_dir = NULL;
}

static void path_in_dir(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", g_dir, name);
}

/* Saves g_signer as "sign-ca.key" in the test directory (asserted to succeed cleanly); `path`
 * receives the file's path. */
static void save_signer(char *path, size_t size)
{
    struct jerr err = {0};
    path_in_dir(path, size, "sign-ca.key");
    ck_assert_msg(signer_save(g_signer, path, PASS, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(err.code, JERR_NONE);
}

/* Asserts that loading the key file at `path` with `pass` fails with `code`; err holds why. */
static void load_refused(const char *path, const char *pass, enum jerr_code code, struct jerr *err)
{
    jerr_clear(err);
    ck_assert_ptr_null(signer_load(path, pass, err));
    ck_assert_int_eq(err->code, code);
}

/* Asserts that the key file at `path` loads with PASS. */
static void assert_loads(const char *path)
{
    struct jerr err = {0};
    struct signer *s = signer_load(path, PASS, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    signer_free(s);
}

/* Reads a whole file into a malloc'd NUL-terminated buffer. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char *buf = malloc(1024 * 1024);
    ck_assert_ptr_nonnull(buf);
    size_t n = fread(buf, 1, 1024 * 1024 - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

static int count_dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static bool contains(const unsigned char *hay, size_t hay_len, const unsigned char *needle,
                     size_t needle_len)
{
    for (size_t i = 0; i + needle_len <= hay_len; i++)
        if (memcmp(hay + i, needle, needle_len) == 0)
            return true;
    return false;
}

static int verify_sha256(EVP_PKEY *pub, const unsigned char *data, size_t len,
                         const unsigned char *sig, size_t sig_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ck_assert_ptr_nonnull(ctx);
    ck_assert_int_eq(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub), 1);
    int rc = EVP_DigestVerify(ctx, sig, sig_len, data, len);
    EVP_MD_CTX_free(ctx);
    return rc;
}

static X509_NAME *cn_name(const char *cn)
{
    X509_NAME *name = X509_NAME_new();
    ck_assert_ptr_nonnull(name);
    ck_assert_int_eq(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0),
        1);
    return name;
}

/* A certificate for `pub`, named `cn`, issued under `issuer_cn` and signed by `s`. */
static X509 *make_issued_cert(const struct signer *s, EVP_PKEY *pub, const char *cn,
                              const char *issuer_cn, bool is_ca)
{
    struct jerr err = {0};
    X509 *cert = X509_new();
    X509_NAME *name = cn_name(cn), *issuer = cn_name(issuer_cn);
    ck_assert_ptr_nonnull(cert);
    ck_assert_int_eq(X509_set_version(cert, 2), 1);
    ck_assert_int_eq(ASN1_INTEGER_set(X509_get_serialNumber(cert), 4242), 1);
    ck_assert_int_eq(X509_set_subject_name(cert, name), 1);
    ck_assert_int_eq(X509_set_issuer_name(cert, issuer), 1);
    ck_assert_ptr_nonnull(X509_time_adj_ex(X509_getm_notBefore(cert), 0, 0, NULL));
    ck_assert_ptr_nonnull(X509_time_adj_ex(X509_getm_notAfter(cert), 1, 0, NULL));
    ck_assert_int_eq(X509_set_pubkey(cert, pub), 1);
    if (is_ca) {
        X509_EXTENSION *bc =
            X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:TRUE");
        ck_assert_ptr_nonnull(bc);
        ck_assert_int_eq(X509_add_ext(cert, bc, -1), 1);
        X509_EXTENSION_free(bc);
    }
    ck_assert_int_eq(signer_sign_cert(s, cert, &err), 0);
    ck_assert_int_eq(err.code, JERR_NONE);
    X509_NAME_free(issuer);
    X509_NAME_free(name);
    return cert;
}

/* A self-issued CA certificate (a root, when s holds pub). */
static X509 *make_cert(const struct signer *s, EVP_PKEY *pub, const char *cn)
{
    return make_issued_cert(s, pub, cn, cn, true);
}

/* Writes `pkey` to `path` as PBES2/PBKDF2 encrypted PKCS#8 (not the signer's own format). */
static void write_pbkdf2_pkcs8(const char *path, EVP_PKEY *pkey)
{
    PKCS8_PRIV_KEY_INFO *p8inf = EVP_PKEY2PKCS8(pkey);
    ck_assert_ptr_nonnull(p8inf);
    X509_SIG *p8 =
        PKCS8_encrypt(-1, EVP_aes_256_cbc(), PASS, (int)strlen(PASS), NULL, 0, 2048, p8inf);
    ck_assert_ptr_nonnull(p8);
    BIO *mem = BIO_new(BIO_s_mem());
    ck_assert_int_eq(PEM_write_bio_PKCS8(mem, p8), 1);
    char *pem;
    long len = BIO_get_mem_data(mem, &pem);
    ck_assert_int_eq(testutil_write_file(path, pem, (size_t)len), 0);
    BIO_free(mem);
    X509_SIG_free(p8);
    PKCS8_PRIV_KEY_INFO_free(p8inf);
}

/* ---- generation ---- */

START_TEST(test_generate_refusals)
{
    struct jerr err = {0};
    ck_assert_ptr_null(signer_generate(NULL, &err));
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "key_algorithm");

    jerr_clear(&err);
    ck_assert_ptr_null(signer_generate(&(struct keyalg){KEYALG_RSA, 1024}, &err));
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "key_bits");

    jerr_clear(&err);
    ck_assert_ptr_null(signer_generate(&(struct keyalg){KEYALG_RSA, 8193}, &err));
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "key_bits");
}
END_TEST

START_TEST(test_public_key_is_public_only)
{
    BIGNUM *n = NULL, *d = NULL;
    ck_assert_int_eq(EVP_PKEY_is_a(g_pub, "RSA"), 1);
    ck_assert_int_eq(EVP_PKEY_get_bits(g_pub), 2048);
    ck_assert_int_eq(EVP_PKEY_get_bn_param(g_pub, OSSL_PKEY_PARAM_RSA_N, &n), 1);
    /* The private exponent must not come along. */
    ck_assert_int_eq(EVP_PKEY_get_bn_param(g_pub, OSSL_PKEY_PARAM_RSA_D, &d), 0);
    ck_assert_ptr_null(d);
    BN_free(n);
    ck_assert_uint_eq(signer_signature_size(g_signer), 256);

    EVP_PKEY *other_pub = signer_get1_public_key(g_other);
    ck_assert_int_ne(EVP_PKEY_eq(g_pub, other_pub), 1);
    EVP_PKEY_free(other_pub);
    ck_assert_ptr_null(signer_get1_public_key(NULL));
    signer_free(NULL);
    signer_stream_free(NULL);
}
END_TEST

/* ---- at rest ---- */

START_TEST(test_save_load_round_trip)
{
    struct jerr err = {0};
    char path[4096];
    save_signer(path, sizeof(path));

    struct signer *loaded = signer_load(path, PASS, &err);
    ck_assert_ptr_nonnull(loaded);
    ck_assert_int_eq(err.code, JERR_NONE);

    EVP_PKEY *loaded_pub = signer_get1_public_key(loaded);
    ck_assert_int_eq(EVP_PKEY_eq(loaded_pub, g_pub), 1);

    static const unsigned char msg[] = "TBSCertList stand-in";
    unsigned char *sig = NULL, *sig_orig = NULL;
    size_t sig_len = 0, sig_orig_len = 0;
    ck_assert_int_eq(signer_sign_bytes(loaded, msg, sizeof(msg), &sig, &sig_len, &err), 0);
    ck_assert_uint_eq(sig_len, 256);
    ck_assert_int_eq(verify_sha256(g_pub, msg, sizeof(msg), sig, sig_len), 1);
    /* PKCS#1 v1.5 is deterministic: the same key signs the same bytes identically. */
    ck_assert_int_eq(signer_sign_bytes(g_signer, msg, sizeof(msg), &sig_orig, &sig_orig_len, &err),
                     0);
    ck_assert_uint_eq(sig_orig_len, sig_len);
    ck_assert_mem_eq(sig, sig_orig, sig_len);

    /* The loaded signer matches a certificate issued for the original key. */
    X509 *cert = make_cert(g_signer, g_pub, "round trip");
    ck_assert_int_eq(signer_matches_cert(loaded, cert), 1);

    X509_free(cert);
    OPENSSL_free(sig);
    OPENSSL_free(sig_orig);
    EVP_PKEY_free(loaded_pub);
    signer_free(loaded);
}
END_TEST

START_TEST(test_saved_file_format)
{
    char path[4096];
    save_signer(path, sizeof(path));

    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(S_ISREG(st.st_mode), 1);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    /* The temp file was renamed away: the key file is the directory's only entry. */
    ck_assert_int_eq(count_dir_entries(g_dir), 1);

    size_t len;
    char *pem = slurp(path, &len);
    const char *begin = "-----BEGIN ENCRYPTED PRIVATE KEY-----\n";
    ck_assert_int_eq(strncmp(pem, begin, strlen(begin)), 0);
    ck_assert_ptr_nonnull(strstr(pem, "-----END ENCRYPTED PRIVATE KEY-----\n"));
    ck_assert_ptr_null(strstr(pem, "BEGIN PRIVATE KEY"));

    /* RFC 5958 §3 EncryptedPrivateKeyInfo, RFC 8018 §A.4 PBES2-params. */
    BIO *mem = BIO_new_mem_buf(pem, (int)len);
    X509_SIG *p8 = PEM_read_bio_PKCS8(mem, NULL, NULL, NULL);
    ck_assert_ptr_nonnull(p8);
    const X509_ALGOR *alg = NULL;
    const ASN1_OCTET_STRING *enc = NULL;
    X509_SIG_get0(p8, &alg, &enc);
    ck_assert_int_eq(OBJ_obj2nid(alg->algorithm), NID_pbes2);
    PBE2PARAM *pbe2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), alg->parameter);
    ck_assert_ptr_nonnull(pbe2);
    char oid[64];
    ck_assert_int_gt(OBJ_obj2txt(oid, sizeof(oid), pbe2->keyfunc->algorithm, 1), 0);
    ck_assert_str_eq(oid, "1.3.6.1.4.1.11591.4.11"); /* id-scrypt, RFC 7914 §7 */
    ck_assert_int_eq(OBJ_obj2nid(pbe2->encryption->algorithm), NID_aes_256_cbc);
    /* AES-256-CBC parameters are the 16-byte IV (RFC 8018 §B.2.5 analogue, RFC 3565). */
    ck_assert_int_eq(pbe2->encryption->parameter->type, V_ASN1_OCTET_STRING);
    ck_assert_int_eq(ASN1_STRING_length(pbe2->encryption->parameter->value.octet_string), 16);

    /* RFC 7914 §7 scrypt-params: salt, N, r, p (and no fixed key length needed). */
    SCRYPT_PARAMS *sp =
        ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(SCRYPT_PARAMS), pbe2->keyfunc->parameter);
    ck_assert_ptr_nonnull(sp);
    ck_assert_int_eq(ASN1_STRING_length(sp->salt), 16);
    uint64_t v;
    ck_assert_int_eq(ASN1_INTEGER_get_uint64(&v, sp->costParameter), 1);
    ck_assert_uint_eq(v, 16384);
    ck_assert_int_eq(ASN1_INTEGER_get_uint64(&v, sp->blockSize), 1);
    ck_assert_uint_eq(v, 8);
    ck_assert_int_eq(ASN1_INTEGER_get_uint64(&v, sp->parallelizationParameter), 1);
    ck_assert_uint_eq(v, 1);
    ck_assert_int_gt(ASN1_STRING_length(enc), 1000); /* a whole RSA-2048 key, encrypted */

    /* And the scrypt OID really sits in the DER (a belt to the braces above). */
    unsigned char *der = NULL;
    int der_len = i2d_X509_SIG(p8, &der);
    static const unsigned char scrypt_oid[] = {0x06, 0x09, 0x2b, 0x06, 0x01, 0x04,
                                               0x01, 0xda, 0x47, 0x04, 0x0b};
    ck_assert(contains(der, (size_t)der_len, scrypt_oid, sizeof(scrypt_oid)));

    OPENSSL_free(der);
    SCRYPT_PARAMS_free(sp);
    PBE2PARAM_free(pbe2);
    X509_SIG_free(p8);
    BIO_free(mem);
    free(pem);
}
END_TEST

START_TEST(test_save_refuses_existing_file)
{
    struct jerr err = {0};
    char path[4096];
    save_signer(path, sizeof(path));
    size_t before_len;
    char *before = slurp(path, &before_len);

    /* Another key over it: refused, the original untouched, no temp file left. */
    ck_assert_int_eq(signer_save(g_other, path, PASS, &err), -1);
    ck_assert_int_eq(err.code, JERR_CONFLICT);
    ck_assert_ptr_nonnull(strstr(err.msg, "already exists"));
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    size_t after_len;
    char *after = slurp(path, &after_len);
    ck_assert_uint_eq(after_len, before_len);
    ck_assert_mem_eq(after, before, before_len);
    ck_assert_int_eq(count_dir_entries(g_dir), 1);

    /* Any existing file counts, not just key files. */
    char other[4096];
    path_in_dir(other, sizeof(other), "notes.txt");
    ck_assert_int_eq(testutil_write_file(other, "x", 1), 0);
    jerr_clear(&err);
    ck_assert_int_eq(signer_save(g_signer, other, PASS, &err), -1);
    ck_assert_int_eq(err.code, JERR_CONFLICT);
    ck_assert_int_eq(count_dir_entries(g_dir), 2);
    free(before);
    free(after);
}
END_TEST

START_TEST(test_save_refusals)
{
    struct jerr err = {0};
    char path[4096];
    path_in_dir(path, sizeof(path), "sign-ca.key");

    ck_assert_int_eq(signer_save(g_signer, path, "", &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "passphrase");
    jerr_clear(&err);
    ck_assert_int_eq(signer_save(g_signer, path, NULL, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "passphrase");
    ck_assert_int_eq(count_dir_entries(g_dir), 0);

    jerr_clear(&err);
    path_in_dir(path, sizeof(path), "no-such-dir/sign-ca.key");
    ck_assert_int_eq(signer_save(g_signer, path, PASS, &err), -1);
    ck_assert_int_eq(err.code, JERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "No such file or directory"));
    ck_assert_int_eq(count_dir_entries(g_dir), 0);
}
END_TEST

START_TEST(test_load_wrong_passphrase)
{
    struct jerr err = {0};
    char path[4096];
    save_signer(path, sizeof(path));

    load_refused(path, "Correct horse battery staple", JERR_CRYPTO, &err);
    ck_assert_str_eq(err.field, "passphrase");
    char expect[4200];
    snprintf(expect, sizeof(expect), "%s: wrong passphrase or damaged key file", path);
    ck_assert_int_eq(strncmp(err.msg, expect, strlen(expect)), 0);

    load_refused(path, "", JERR_INVALID, &err);
    ck_assert_str_eq(err.field, "passphrase");

    /* The right one still works: the refusal was about the passphrase. */
    assert_loads(path);
}
END_TEST

START_TEST(test_load_refuses_open_modes)
{
    struct jerr err = {0};
    char path[4096], expect[4200];
    save_signer(path, sizeof(path));

    static const mode_t modes[] = {0644, 0640, 0604, 0660, 0601, 0610, 0666};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        ck_assert_int_eq(chmod(path, modes[i]), 0);
        load_refused(path, PASS, JERR_IO, &err);
        snprintf(expect, sizeof(expect), "%s: mode %04o is too open; must be 0600", path,
                 (unsigned)modes[i]);
        ck_assert_str_eq(err.msg, expect);
    }
    /* Owner-only modes narrower than 0600 are fine. */
    ck_assert_int_eq(chmod(path, 0400), 0);
    assert_loads(path);
}
END_TEST

START_TEST(test_load_missing_and_not_regular)
{
    struct jerr err = {0};
    char path[4096], expect[4200];
    path_in_dir(path, sizeof(path), "missing.key");
    load_refused(path, PASS, JERR_IO, &err);
    snprintf(expect, sizeof(expect), "%s: No such file or directory", path);
    ck_assert_str_eq(err.msg, expect);

    load_refused(g_dir, PASS, JERR_IO, &err);
    snprintf(expect, sizeof(expect), "%s: not a regular file", g_dir);
    ck_assert_str_eq(err.msg, expect);

    jerr_clear(&err);
    path_in_dir(path, sizeof(path), "empty.key");
    ck_assert_int_eq(testutil_write_file(path, "", 0), 0);
    load_refused(path, PASS, JERR_IO, &err);
    ck_assert_ptr_nonnull(strstr(err.msg, "is not that of a key file"));
}
END_TEST

START_TEST(test_load_refuses_unencrypted)
{
    struct jerr err = {0};
    char path[4096];
    EVP_PKEY *pkey = keygen_rsa(2048, &err);
    ck_assert_ptr_nonnull(pkey);

    /* Plain PKCS#8 ("PRIVATE KEY"). */
    BIO *mem = BIO_new(BIO_s_mem());
    ck_assert_int_eq(PEM_write_bio_PrivateKey(mem, pkey, NULL, NULL, 0, NULL, NULL), 1);
    char *pem;
    long len = BIO_get_mem_data(mem, &pem);
    path_in_dir(path, sizeof(path), "plain.key");
    ck_assert_int_eq(testutil_write_file(path, pem, (size_t)len), 0);
    BIO_free(mem);
    load_refused(path, PASS, JERR_CRYPTO, &err);
    ck_assert_ptr_nonnull(strstr(err.msg, "holds \"PRIVATE KEY\""));
    ck_assert_ptr_nonnull(strstr(err.msg, "keys must be encrypted at rest"));

    /* PKCS#1 ("RSA PRIVATE KEY"), even with legacy PEM encryption. */
    mem = BIO_new(BIO_s_mem());
    ck_assert_int_eq(PEM_write_bio_PrivateKey_traditional(mem, pkey, EVP_aes_256_cbc(),
                                                          (unsigned char *)PASS, (int)strlen(PASS),
                                                          NULL, NULL),
                     1);
    len = BIO_get_mem_data(mem, &pem);
    path_in_dir(path, sizeof(path), "traditional.key");
    ck_assert_int_eq(testutil_write_file(path, pem, (size_t)len), 0);
    BIO_free(mem);
    load_refused(path, PASS, JERR_CRYPTO, &err);
    ck_assert_ptr_nonnull(strstr(err.msg, "holds \"RSA PRIVATE KEY\""));

    /* Not PEM at all. */
    path_in_dir(path, sizeof(path), "garbage.key");
    ck_assert_int_eq(testutil_write_file(path, "hello\n", 6), 0);
    load_refused(path, PASS, JERR_CRYPTO, &err);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a PEM key file"));
    EVP_PKEY_free(pkey);
}
END_TEST

START_TEST(test_load_damaged_ciphertext)
{
    struct jerr err = {0};
    char path[4096], damaged[4096];
    save_signer(path, sizeof(path));

    /* Flip a byte of the first ciphertext block: the decrypted DER header is garbage. */
    size_t len;
    char *pem = slurp(path, &len);
    BIO *mem = BIO_new_mem_buf(pem, (int)len);
    X509_SIG *p8 = PEM_read_bio_PKCS8(mem, NULL, NULL, NULL);
    ck_assert_ptr_nonnull(p8);
    ASN1_OCTET_STRING *enc = NULL;
    X509_SIG_getm(p8, NULL, &enc);
    ((unsigned char *)ASN1_STRING_get0_data(enc))[3] ^= 0x5a;
    BIO *out = BIO_new(BIO_s_mem());
    ck_assert_int_eq(PEM_write_bio_PKCS8(out, p8), 1);
    char *out_pem;
    long out_len = BIO_get_mem_data(out, &out_pem);
    path_in_dir(damaged, sizeof(damaged), "damaged.key");
    ck_assert_int_eq(testutil_write_file(damaged, out_pem, (size_t)out_len), 0);

    load_refused(damaged, PASS, JERR_CRYPTO, &err);
    ck_assert_ptr_nonnull(strstr(err.msg, "wrong passphrase or damaged key file"));

    /* Trailing bytes after the DER inside the PEM are refused too. */
    unsigned char *der = NULL;
    int der_len = i2d_X509_SIG(p8, &der);
    unsigned char *longer = OPENSSL_malloc((size_t)der_len + 1);
    memcpy(longer, der, (size_t)der_len);
    longer[der_len] = 0;
    BIO *out2 = BIO_new(BIO_s_mem());
    ck_assert_int_gt(PEM_write_bio(out2, "ENCRYPTED PRIVATE KEY", "", longer, der_len + 1), 0);
    out_len = BIO_get_mem_data(out2, &out_pem);
    path_in_dir(damaged, sizeof(damaged), "trailing.key");
    ck_assert_int_eq(testutil_write_file(damaged, out_pem, (size_t)out_len), 0);
    load_refused(damaged, PASS, JERR_CRYPTO, &err);
    ck_assert_ptr_nonnull(strstr(err.msg, "damaged EncryptedPrivateKeyInfo"));

    OPENSSL_free(longer);
    OPENSSL_free(der);
    BIO_free(out2);
    BIO_free(out);
    BIO_free(mem);
    X509_SIG_free(p8);
    free(pem);
}
END_TEST

START_TEST(test_load_refuses_weak_or_foreign_keys)
{
    /* Properly encrypted (PBES2 with PBKDF2 — load accepts any PBES2) but not a usable CA
     * key: RSA under 2048 bits, and a non-RSA key. */
    struct jerr err = {0};
    char path[4096];
    EVP_PKEY *small = EVP_RSA_gen(1024);
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    ck_assert_ptr_nonnull(small);
    ck_assert_ptr_nonnull(ec);

    path_in_dir(path, sizeof(path), "small.key");
    write_pbkdf2_pkcs8(path, small);
    load_refused(path, PASS, JERR_INVALID, &err);
    ck_assert_str_eq(err.field, "key_bits");

    path_in_dir(path, sizeof(path), "ec.key");
    write_pbkdf2_pkcs8(path, ec);
    load_refused(path, PASS, JERR_INVALID, &err);
    ck_assert_str_eq(err.field, "key_algorithm");

    /* A PBKDF2-encrypted 2048-bit RSA key is accepted. */
    EVP_PKEY *ok = keygen_rsa(2048, &err);
    path_in_dir(path, sizeof(path), "pbkdf2.key");
    write_pbkdf2_pkcs8(path, ok);
    jerr_clear(&err);
    struct signer *s = signer_load(path, PASS, &err);
    ck_assert_ptr_nonnull(s);
    EVP_PKEY *pub = signer_get1_public_key(s);
    ck_assert_int_eq(EVP_PKEY_eq(pub, ok), 1);

    EVP_PKEY_free(pub);
    signer_free(s);
    EVP_PKEY_free(ok);
    EVP_PKEY_free(small);
    EVP_PKEY_free(ec);
}
END_TEST

/* ---- signing ---- */

START_TEST(test_sign_bytes_equals_stream)
{
    struct jerr err = {0};
    size_t data_len = 10000;
    unsigned char *data = malloc(data_len);
    for (size_t i = 0; i < data_len; i++)
        data[i] = (unsigned char)(i * 31 + 7);

    unsigned char *one = NULL, *streamed = NULL;
    size_t one_len = 0, streamed_len = 0;
    ck_assert_int_eq(signer_sign_bytes(g_signer, data, data_len, &one, &one_len, &err), 0);
    ck_assert_uint_eq(one_len, signer_signature_size(g_signer));
    ck_assert_int_eq(verify_sha256(g_pub, data, data_len, one, one_len), 1);

    struct signer_stream *ss = signer_stream_begin(g_signer, &err);
    ck_assert_ptr_nonnull(ss);
    static const size_t chunks[] = {1, 0, 7, 4096, 1000};
    size_t off = 0;
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        ck_assert_int_eq(signer_stream_update(ss, data + off, chunks[i], &err), 0);
        off += chunks[i];
    }
    ck_assert_int_eq(signer_stream_update(ss, data + off, data_len - off, &err), 0);
    ck_assert_int_eq(signer_stream_final(ss, &streamed, &streamed_len, &err), 0);
    ck_assert_int_eq(err.code, JERR_NONE);
    ck_assert_uint_eq(streamed_len, one_len);
    ck_assert_mem_eq(streamed, one, one_len);

    /* A different key gives a different signature that g_pub rejects; so does other data. */
    unsigned char *foreign = NULL;
    size_t foreign_len = 0;
    ck_assert_int_eq(signer_sign_bytes(g_other, data, data_len, &foreign, &foreign_len, &err), 0);
    ck_assert_int_ne(verify_sha256(g_pub, data, data_len, foreign, foreign_len), 1);
    data[0] ^= 1;
    ck_assert_int_ne(verify_sha256(g_pub, data, data_len, one, one_len), 1);

    /* Empty input, both ways. */
    unsigned char *e1 = NULL, *e2 = NULL;
    size_t e1_len = 0, e2_len = 0;
    ck_assert_int_eq(signer_sign_bytes(g_signer, NULL, 0, &e1, &e1_len, &err), 0);
    ss = signer_stream_begin(g_signer, &err);
    ck_assert_int_eq(signer_stream_final(ss, &e2, &e2_len, &err), 0);
    ck_assert_uint_eq(e1_len, e2_len);
    ck_assert_mem_eq(e1, e2, e1_len);
    ck_assert_int_eq(verify_sha256(g_pub, (const unsigned char *)"", 0, e1, e1_len), 1);

    /* An abandoned stream is simply freed. */
    ss = signer_stream_begin(g_signer, &err);
    ck_assert_int_eq(signer_stream_update(ss, data, 10, &err), 0);
    signer_stream_free(ss);
    ck_assert_int_eq(err.code, JERR_NONE);

    OPENSSL_free(e1);
    OPENSSL_free(e2);
    OPENSSL_free(foreign);
    OPENSSL_free(one);
    OPENSSL_free(streamed);
    free(data);
}
END_TEST

START_TEST(test_algorithm_der)
{
    struct jerr err = {0};
    const unsigned char *der = NULL;
    size_t der_len = 0;
    ck_assert_int_eq(signer_algorithm_der(g_signer, &der, &der_len, &err), 0);
    /* SEQUENCE { OID 1.2.840.113549.1.1.11, NULL } */
    static const unsigned char expect[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                           0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00};
    ck_assert_uint_eq(der_len, sizeof(expect));
    ck_assert_mem_eq(der, expect, sizeof(expect));

    const unsigned char *p = der;
    X509_ALGOR *alg = d2i_X509_ALGOR(NULL, &p, (long)der_len);
    ck_assert_ptr_nonnull(alg);
    ck_assert_ptr_eq(p, der + der_len);
    ck_assert_int_eq(OBJ_obj2nid(alg->algorithm), NID_sha256WithRSAEncryption);
    ck_assert_ptr_nonnull(alg->parameter);
    ck_assert_int_eq(alg->parameter->type, V_ASN1_NULL);

    /* Byte for byte what signer_sign_cert puts into a certificate. */
    X509 *cert = make_cert(g_signer, g_pub, "alg");
    const X509_ALGOR *cert_alg = NULL;
    X509_get0_signature(NULL, &cert_alg, cert);
    unsigned char *cert_alg_der = NULL;
    int cert_alg_len = i2d_X509_ALGOR(cert_alg, &cert_alg_der);
    ck_assert_int_eq(cert_alg_len, (int)der_len);
    ck_assert_mem_eq(cert_alg_der, der, der_len);

    /* Lives in the signer: the same pointer every time. */
    const unsigned char *again = NULL;
    size_t again_len = 0;
    ck_assert_int_eq(signer_algorithm_der(g_signer, &again, &again_len, &err), 0);
    ck_assert_ptr_eq(again, der);

    OPENSSL_free(cert_alg_der);
    X509_free(cert);
    X509_ALGOR_free(alg);
}
END_TEST

START_TEST(test_sign_cert)
{
    X509 *cert = make_cert(g_signer, g_pub, "Signing CA");
    ck_assert_int_eq(X509_verify(cert, g_pub), 1);
    ck_assert_int_eq(X509_get_signature_nid(cert), NID_sha256WithRSAEncryption);
    /* The TBS signature field agrees with the outer one (RFC 5280 §4.1.1.2). */
    ck_assert_int_eq(OBJ_obj2nid(X509_get0_tbs_sigalg(cert)->algorithm),
                     NID_sha256WithRSAEncryption);
    EVP_PKEY *other_pub = signer_get1_public_key(g_other);
    ck_assert_int_ne(X509_verify(cert, other_pub), 1);

    ck_assert_int_eq(signer_matches_cert(g_signer, cert), 1);
    ck_assert_int_eq(signer_matches_cert(g_other, cert), 0);
    ck_assert_int_eq(signer_matches_cert(g_signer, NULL), 0);

    /* A subordinate cert for the other key, issued by g_signer. */
    X509 *sub = make_issued_cert(g_signer, other_pub, "OCSP signer", "Signing CA", false);
    ck_assert_int_eq(X509_verify(sub, g_pub), 1);
    ck_assert_int_eq(signer_matches_cert(g_other, sub), 1);
    ck_assert_int_eq(signer_matches_cert(g_signer, sub), 0);

    struct jerr err = {0};
    ck_assert_int_eq(signer_sign_cert(g_signer, NULL, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);

    X509_free(sub);
    X509_free(cert);
    EVP_PKEY_free(other_pub);
}
END_TEST

START_TEST(test_sign_ocsp)
{
    struct jerr err = {0};
    X509 *ca = make_cert(g_signer, g_pub, "Signing CA");
    EVP_PKEY *other_pub = signer_get1_public_key(g_other);
    X509 *responder = make_issued_cert(g_signer, other_pub, "OCSP signer", "Signing CA", false);

    OCSP_BASICRESP *resp = OCSP_BASICRESP_new();
    OCSP_CERTID *id = OCSP_cert_to_id(NULL, ca, ca);
    ASN1_TIME *this_update = ASN1_TIME_set(NULL, 1900000000);
    ck_assert_ptr_nonnull(
        OCSP_basic_add1_status(resp, id, V_OCSP_CERTSTATUS_GOOD, 0, NULL, this_update, NULL));
    jclock_set(1900000123);
    ck_assert_int_eq(signer_sign_ocsp(g_other, resp, responder, &err), 0);
    jclock_set(0);
    ck_assert_int_eq(err.code, JERR_NONE);

    /* producedAt comes from jpki's clock (RFC 6960 §4.2.2.1). */
    ck_assert_int_eq(ASN1_TIME_cmp_time_t(OCSP_resp_get0_produced_at(resp), 1900000123), 0);
    ck_assert_int_eq(OBJ_obj2nid(OCSP_resp_get0_tbs_sigalg(resp)->algorithm),
                     NID_sha256WithRSAEncryption);

    /* The signer certificate is included, and only it. */
    const STACK_OF(X509) *certs = OCSP_resp_get0_certs(resp);
    ck_assert_int_eq(sk_X509_num(certs), 1);
    ck_assert_int_eq(X509_cmp(sk_X509_value(certs, 0), responder), 0);

    /* responderID byKey: SHA-1 of the signer's subjectPublicKey (RFC 6960 §4.2.2.3). */
    const ASN1_OCTET_STRING *key_hash = NULL;
    const X509_NAME *by_name = NULL;
    ck_assert_int_eq(OCSP_resp_get0_id(resp, &key_hash, &by_name), 1);
    ck_assert_ptr_nonnull(key_hash);
    ck_assert_ptr_null(by_name);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    ck_assert_int_eq(X509_pubkey_digest(responder, EVP_sha1(), md, &md_len), 1);
    ck_assert_int_eq(ASN1_STRING_length(key_hash), (int)md_len);
    ck_assert_mem_eq(ASN1_STRING_get0_data(key_hash), md, md_len);

    /* Verifies against the responder cert (trusted directly; chain building is not what is
     * under test here). */
    STACK_OF(X509) *trusted = sk_X509_new_null();
    sk_X509_push(trusted, responder);
    X509_STORE *store = X509_STORE_new();
    ck_assert_int_eq(OCSP_basic_verify(resp, trusted, store, OCSP_TRUSTOTHER), 1);
    /* ... and the full chain responder -> CA verifies too. */
    X509_STORE *ca_store = X509_STORE_new();
    ck_assert_int_eq(X509_STORE_add_cert(ca_store, ca), 1);
    ck_assert_int_eq(OCSP_basic_verify(resp, NULL, ca_store, OCSP_NOCHECKS), 1);

    /* A flipped signature bit is caught: the signature really is checked. */
    unsigned char *resp_der = NULL;
    int resp_der_len = i2d_OCSP_BASICRESP(resp, &resp_der);
    const unsigned char *rp = resp_der;
    OCSP_BASICRESP *tampered = d2i_OCSP_BASICRESP(NULL, &rp, resp_der_len);
    ck_assert_ptr_nonnull(tampered);
    ASN1_BIT_STRING *sig = (ASN1_BIT_STRING *)OCSP_resp_get0_signature(tampered);
    ((unsigned char *)ASN1_STRING_get0_data(sig))[100] ^= 0x01;
    ERR_set_mark();
    ck_assert_int_ne(OCSP_basic_verify(tampered, trusted, store, OCSP_TRUSTOTHER), 1);
    ERR_pop_to_mark();

    /* A certificate that is not this signer's is refused before signing. */
    OCSP_BASICRESP *resp2 = OCSP_BASICRESP_new();
    jerr_clear(&err);
    ck_assert_int_eq(signer_sign_ocsp(g_signer, resp2, responder, &err), -1);
    ck_assert_int_eq(err.code, JERR_CRYPTO);
    ck_assert_str_eq(err.msg, "OCSP signer certificate does not match the signing key");
    jerr_clear(&err);
    ck_assert_int_eq(signer_sign_ocsp(g_signer, resp2, NULL, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);

    OCSP_BASICRESP_free(resp2);
    OCSP_BASICRESP_free(tampered);
    OPENSSL_free(resp_der);
    X509_STORE_free(ca_store);
    X509_STORE_free(store);
    sk_X509_free(trusted);
    ASN1_TIME_free(this_update);
    OCSP_CERTID_free(id);
    OCSP_BASICRESP_free(resp);
    X509_free(responder);
    X509_free(ca);
    EVP_PKEY_free(other_pub);
}
END_TEST

/* ---- concurrency ---- */

/* More threads than the signer's per-thread slots (16, signer.c), so that some share one. */
#define THREADS 20
#define SIGS_PER_THREAD 8

struct thread_work {
    int index;
    unsigned char *sig[SIGS_PER_THREAD];
    size_t sig_len[SIGS_PER_THREAD];
    int failed;
};

static void message_for(int thread, int i, unsigned char out[32])
{
    for (int k = 0; k < 32; k++)
        out[k] = (unsigned char)(thread * 97 + i * 13 + k);
}

static void *sign_worker(void *arg)
{
    struct thread_work *w = arg;
    for (int i = 0; i < SIGS_PER_THREAD; i++) {
        struct jerr err = {0};
        unsigned char msg[32];
        message_for(w->index, i, msg);
        if (i % 2 == 0) {
            if (signer_sign_bytes(g_signer, msg, sizeof(msg), &w->sig[i], &w->sig_len[i], &err) ==
                -1)
                w->failed++;
        } else {
            struct signer_stream *ss = signer_stream_begin(g_signer, &err);
            if (ss == NULL || signer_stream_update(ss, msg, 10, &err) == -1 ||
                signer_stream_update(ss, msg + 10, sizeof(msg) - 10, &err) == -1 ||
                signer_stream_final(ss, &w->sig[i], &w->sig_len[i], &err) == -1)
                w->failed++;
        }
    }
    return NULL;
}

START_TEST(test_concurrent_signing)
{
    pthread_t tid[THREADS];
    struct thread_work work[THREADS];
    memset(work, 0, sizeof(work));
    for (int t = 0; t < THREADS; t++) {
        work[t].index = t;
        ck_assert_int_eq(pthread_create(&tid[t], NULL, sign_worker, &work[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        ck_assert_int_eq(pthread_join(tid[t], NULL), 0);

    for (int t = 0; t < THREADS; t++) {
        ck_assert_int_eq(work[t].failed, 0);
        for (int i = 0; i < SIGS_PER_THREAD; i++) {
            unsigned char msg[32];
            message_for(t, i, msg);
            ck_assert_uint_eq(work[t].sig_len[i], 256);
            ck_assert_int_eq(
                verify_sha256(g_pub, msg, sizeof(msg), work[t].sig[i], work[t].sig_len[i]), 1);
            /* Deterministic: the same as a single-threaded signature. */
            struct jerr err = {0};
            unsigned char *ref = NULL;
            size_t ref_len = 0;
            ck_assert_int_eq(signer_sign_bytes(g_signer, msg, sizeof(msg), &ref, &ref_len, &err),
                             0);
            ck_assert_mem_eq(ref, work[t].sig[i], ref_len);
            OPENSSL_free(ref);
            OPENSSL_free(work[t].sig[i]);
        }
    }
}
END_TEST

int main(void)
{
    if (keys_setup() == -1) {
        fprintf(stderr, "test_signer: cannot generate the test keys\n");
        return 1;
    }
    Suite *s = suite_create("signer");

    TCase *gen = tcase_create("generate");
    tcase_set_timeout(gen, 60);
    tcase_add_test(gen, test_generate_refusals);
    tcase_add_test(gen, test_public_key_is_public_only);
    suite_add_tcase(s, gen);

    TCase *rest = tcase_create("at_rest");
    tcase_set_timeout(rest, 60);
    tcase_add_checked_fixture(rest, dir_setup, dir_teardown);
    tcase_add_test(rest, test_save_load_round_trip);
    tcase_add_test(rest, test_saved_file_format);
    tcase_add_test(rest, test_save_refuses_existing_file);
    tcase_add_test(rest, test_save_refusals);
    tcase_add_test(rest, test_load_wrong_passphrase);
    tcase_add_test(rest, test_load_refuses_open_modes);
    tcase_add_test(rest, test_load_missing_and_not_regular);
    tcase_add_test(rest, test_load_refuses_unencrypted);
    tcase_add_test(rest, test_load_damaged_ciphertext);
    tcase_add_test(rest, test_load_refuses_weak_or_foreign_keys);
    suite_add_tcase(s, rest);

    TCase *sign = tcase_create("signing");
    tcase_set_timeout(sign, 60);
    tcase_add_test(sign, test_sign_bytes_equals_stream);
    tcase_add_test(sign, test_algorithm_der);
    tcase_add_test(sign, test_sign_cert);
    tcase_add_test(sign, test_sign_ocsp);
    tcase_add_test(sign, test_concurrent_signing);
    suite_add_tcase(s, sign);

    int rc = testutil_run(s);
    keys_teardown();
    return rc;
}
