/*
 * The card-administration key (keystore/adminkey.h) and its place in an instance (ca/pki.h):
 * round trip, refusals of the file (wrong passphrase, damaged or truncated bytes, group/other
 * permissions, an existing file, an empty passphrase), the 0600 mode, and that a card image
 * written under one key cannot be reset under another.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/pki.h"
#include "base/fsutil.h"
#include "keystore/adminkey.h"
#include "keystore/card.h"
#include "testutil.h"

#define PASS "correct horse battery staple"

/* A saved key at testutil_tmpdir/name, whose path is put in path; returns the key (caller
 * frees). */
static struct adminkey *saved_key(const char *name, char *path, size_t size)
{
    struct jerr err = {0};
    testutil_path(path, size, name);
    struct adminkey *ak = adminkey_generate(&err);
    ck_assert_msg(ak != NULL, "%s", err.msg);
    ck_assert_msg(adminkey_save(ak, path, PASS, &err) == 0, "%s", err.msg);
    return ak;
}

static unsigned char *read_all(const char *path, size_t *len)
{
    struct jerr err = {0};
    unsigned char *data = NULL;
    ck_assert_msg(fsutil_read_file(path, 1 << 20, &data, len, &err) == 0, "%s", err.msg);
    return data;
}

/* Asserts that loading the key file at path with pass fails with code; err holds the error. */
static void load_refused(const char *path, const char *pass, enum jerr_code code, struct jerr *err)
{
    jerr_clear(err);
    ck_assert_ptr_null(adminkey_load(path, pass, err));
    ck_assert_int_eq(err->code, code);
}

START_TEST(round_trip)
{
    struct jerr err = {0};
    char path[PATH_MAX];
    struct adminkey *ak = saved_key("k", path, sizeof(path));
    struct adminkey *again = adminkey_load(path, PASS, &err);
    ck_assert_msg(again != NULL, "%s", err.msg);
    ck_assert(adminkey_equals(ak, again));
    /* Two generated keys differ. */
    struct adminkey *other = adminkey_generate(&err);
    ck_assert_ptr_nonnull(other);
    ck_assert(!adminkey_equals(ak, other));
    adminkey_free(other);
    adminkey_free(again);
    adminkey_free(ak);
    adminkey_free(NULL); /* a no-op */
}
END_TEST

START_TEST(file_is_0600_with_fresh_salt_and_iv)
{
    char path[PATH_MAX];
    struct stat sb;
    struct adminkey *ak = saved_key("k", path, sizeof(path));
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    /* 5 DER headers + version + 16 + 12 + 32 + 16 bytes. */
    size_t len = 0;
    unsigned char *data = read_all(path, &len);
    ck_assert_uint_eq(len, 89);
    /* Saving twice under the same passphrase gives other bytes (fresh salt and IV). */
    char path2[PATH_MAX];
    struct jerr err = {0};
    testutil_path(path2, sizeof(path2), "k2");
    ck_assert_int_eq(adminkey_save(ak, path2, PASS, &err), 0);
    size_t len2 = 0;
    unsigned char *data2 = read_all(path2, &len2);
    ck_assert_uint_eq(len2, len);
    ck_assert(memcmp(data, data2, len) != 0);
    free(data);
    free(data2);
    adminkey_free(ak);
}
END_TEST

START_TEST(wrong_passphrase)
{
    struct jerr err = {0};
    char path[PATH_MAX];
    adminkey_free(saved_key("k", path, sizeof(path)));
    load_refused(path, "not the passphrase", JERR_CRYPTO, &err);
    ck_assert_str_eq(err.field, "passphrase");
    ck_assert_ptr_nonnull(strstr(err.msg, "wrong passphrase or damaged key file"));
    ck_assert_ptr_null(strstr(err.msg, "not the passphrase"));
    load_refused(path, "", JERR_INVALID, &err);
    ck_assert_str_eq(err.field, "passphrase");
}
END_TEST

START_TEST(save_refusals)
{
    struct jerr err = {0};
    char path[PATH_MAX];
    struct adminkey *ak = saved_key("k", path, sizeof(path));
    size_t len = 0;
    unsigned char *before = read_all(path, &len);
    ck_assert_int_eq(adminkey_save(ak, path, PASS, &err), -1);
    ck_assert_int_eq(err.code, JERR_CONFLICT);
    size_t len_after = 0;
    unsigned char *after = read_all(path, &len_after);
    ck_assert(len == len_after && memcmp(before, after, len) == 0); /* untouched */
    jerr_clear(&err);
    testutil_path(path, sizeof(path), "empty");
    ck_assert_int_eq(adminkey_save(ak, path, "", &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "passphrase");
    ck_assert(!fsutil_exists(path));
    free(before);
    free(after);
    adminkey_free(ak);
}
END_TEST

START_TEST(load_refusals)
{
    struct jerr err = {0};
    char path[PATH_MAX];
    adminkey_free(saved_key("k", path, sizeof(path)));

    ck_assert_int_eq(chmod(path, 0640), 0);
    load_refused(path, PASS, JERR_IO, &err);
    ck_assert_int_eq(chmod(path, 0600), 0);

    testutil_path(path, sizeof(path), "missing");
    load_refused(path, PASS, JERR_NOT_FOUND, &err);

    /* Not a key file at all. */
    testutil_path(path, sizeof(path), "garbage");
    ck_assert_int_eq(testutil_write_file(path, "hello, world", 12), 0);
    load_refused(path, PASS, JERR_CRYPTO, &err);
    ck_assert_ptr_nonnull(strstr(err.msg, "damaged key file"));

    /* Over the cap. */
    static unsigned char big[ADMINKEY_FILE_MAX_BYTES + 1];
    testutil_path(path, sizeof(path), "big");
    ck_assert_int_eq(testutil_write_file(path, big, sizeof(big)), 0);
    load_refused(path, PASS, JERR_TOO_LARGE, &err);
}
END_TEST

/* Every byte flipped, every truncation and an appended byte: never a key. */
/* Whether flipping the byte at `at` of the key file `der` is a check of its own: every byte
 * of the DER framing and of the version is, but inside an OCTET STRING (salt, iv, ciphertext,
 * tag) only the first and the last byte are — a flip anywhere in a field fails the same way,
 * and each of those loads costs a scrypt run. */
static bool flip_is_distinct(const unsigned char *der, size_t len, size_t at)
{
    const unsigned char *p = der;
    long n;
    int tag, cls;
    ck_assert_int_eq(ASN1_get_object(&p, &n, &tag, &cls, (long)len) & 0x80, 0);
    while (p < der + len) {
        ck_assert_int_eq(ASN1_get_object(&p, &n, &tag, &cls, (long)(der + len - p)) & 0x80, 0);
        size_t first = (size_t)(p - der), last = first + (size_t)n - 1;
        if (tag == V_ASN1_OCTET_STRING && at > first && at < last)
            return false;
        p += n;
    }
    return true;
}

START_TEST(damaged_files_never_load)
{
    char path[PATH_MAX], bad[PATH_MAX];
    adminkey_free(saved_key("k", path, sizeof(path)));
    testutil_path(bad, sizeof(bad), "bad");
    size_t len = 0;
    unsigned char *data = read_all(path, &len);
    unsigned char *copy = malloc(len + 1);
    ck_assert_ptr_nonnull(copy);
    for (size_t i = 0; i < len; i++) {
        struct jerr err = {0};
        if (!flip_is_distinct(data, len, i))
            continue;
        memcpy(copy, data, len);
        copy[i] ^= 0x01;
        ck_assert_int_eq(testutil_write_file(bad, copy, len), 0);
        ck_assert_msg(adminkey_load(bad, PASS, &err) == NULL, "byte %zu flipped loads", i);
        ck_assert_int_eq(err.code, JERR_CRYPTO);
    }
    for (size_t cut = 0; cut < len; cut++) {
        struct jerr err = {0};
        ck_assert_int_eq(testutil_write_file(bad, data, cut), 0);
        ck_assert_msg(adminkey_load(bad, PASS, &err) == NULL, "truncated at %zu loads", cut);
        ck_assert_int_eq(err.code, JERR_CRYPTO);
    }
    struct jerr err = {0};
    memcpy(copy, data, len);
    copy[len] = 0;
    ck_assert_int_eq(testutil_write_file(bad, copy, len + 1), 0);
    load_refused(bad, PASS, JERR_CRYPTO, &err);
    free(copy);
    free(data);
}
END_TEST

START_TEST(card_operations_need_the_cards_own_key)
{
    struct jerr err = {0};
    char image_path[PATH_MAX];
    EVP_PKEY *key = NULL;
    X509 *cert = testutil_self_signed_cert(&key);
    struct adminkey *ak = adminkey_generate(&err), *other = adminkey_generate(&err);
    ck_assert(ak != NULL && other != NULL);

    struct card_image *ci = adminkey_card_create(ak, "c1", "2035-06-30", cert, cert, &err);
    ck_assert_msg(ci != NULL, "%s", err.msg);
    ck_assert_int_eq(adminkey_card_set_slot(other, ci, CA_AUTH, cert, key, "1234", &err), -1);
    ck_assert_int_eq(err.code, JERR_FORBIDDEN);
    ck_assert_str_eq(err.field, "admin_key");
    jerr_clear(&err);
    ck_assert_msg(adminkey_card_set_slot(ak, ci, CA_AUTH, cert, key, "1234", &err) == 0, "%s",
                  err.msg);
    testutil_path(image_path, sizeof(image_path), "c1.card");
    ck_assert_int_eq(card_image_save(ci, image_path, &err), 0);
    ck_assert_int_eq(adminkey_card_reset_password(other, ci, image_path, CA_AUTH, "5678", &err),
                     -1);
    ck_assert_int_eq(err.code, JERR_FORBIDDEN);
    ck_assert_str_eq(err.field, "admin_key");
    jerr_clear(&err);
    ck_assert_msg(adminkey_card_reset_password(ak, ci, image_path, CA_AUTH, "5678", &err) == 0,
                  "%s", err.msg);
    EVP_PKEY *unlocked = card_image_unlock_key(ci, image_path, CA_AUTH, "5678", &err);
    ck_assert_msg(unlocked != NULL, "%s", err.msg);
    ck_assert_int_eq(EVP_PKEY_eq(unlocked, key), 1);
    EVP_PKEY_free(unlocked);
    card_image_free(ci);
    adminkey_free(ak);
    adminkey_free(other);
    EVP_PKEY_free(key);
    X509_free(cert);
}
END_TEST

/* pki_init writes keys/card-admin.key (0600); pki_open loads it, and creates it for an
 * instance made before card images. */
START_TEST(instance_key)
{
    struct jerr err = {0};
    char yaml[1024], path[PATH_MAX];
    struct stat sb;
    snprintf(yaml, sizeof(yaml), "data_dir: %s/inst\n", testutil_tmpdir);
    struct jpki_config *cfg = config_load_string("t.yaml", yaml, strlen(yaml), NULL, 0, &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    struct pki_init_result res;
    ck_assert_msg(pki_init(cfg, PASS, &res, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof(path), "%s/inst/keys/card-admin.key", testutil_tmpdir);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    struct adminkey *on_disk = adminkey_load(path, PASS, &err);
    ck_assert_msg(on_disk != NULL, "%s", err.msg);

    struct pki *pki = pki_open(cfg, PASS, &err);
    ck_assert_msg(pki != NULL, "%s", err.msg);
    ck_assert_ptr_nonnull(pki_get0_card_admin(pki));
    ck_assert(adminkey_equals(pki_get0_card_admin(pki), on_disk));
    pki_free(pki);

    /* An older instance: no key file yet. */
    ck_assert_int_eq(unlink(path), 0);
    pki = pki_open(cfg, PASS, &err);
    ck_assert_msg(pki != NULL, "%s", err.msg);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    struct adminkey *created = adminkey_load(path, PASS, &err);
    ck_assert_ptr_nonnull(created);
    ck_assert(adminkey_equals(pki_get0_card_admin(pki), created));
    ck_assert(!adminkey_equals(created, on_disk));
    pki_free(pki);

    /* A key file readable by others stops the instance from opening. */
    ck_assert_int_eq(chmod(path, 0644), 0);
    jerr_clear(&err);
    ck_assert_ptr_null(pki_open(cfg, PASS, &err));
    ck_assert_int_eq(err.code, JERR_IO);

    /* PKI_KEYS_CA (jpkid crl) leaves the card key (and the OCSP signers) alone: it opens
     * anyway, with only the roots and CA signers. */
    pki = pki_open_keys(cfg, PASS, PKI_KEYS_CA, &err);
    ck_assert_msg(pki != NULL, "%s", err.msg);
    ck_assert_ptr_null(pki_get0_card_admin(pki));
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        ck_assert_ptr_nonnull(pki_get0_root(pki, (enum ca_kind)ca));
        ck_assert_ptr_nonnull(pki_get0_ca_signer(pki, (enum ca_kind)ca));
        ck_assert_ptr_null(pki_get0_ocsp_signer(pki, (enum ca_kind)ca));
    }
    pki_free(pki);
    /* A wrong passphrase fails whichever CA's thread notices it. */
    jerr_clear(&err);
    ck_assert_ptr_null(pki_open_keys(cfg, "wrong passphrase", PKI_KEYS_CA, &err));
    ck_assert_msg(err.msg[0] != '\0', "no message");
    adminkey_free(created);
    adminkey_free(on_disk);
    config_free(cfg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("adminkey");
    TCase *tc = tcase_create("adminkey");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, testutil_tmpdir_setup, testutil_tmpdir_teardown);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, file_is_0600_with_fresh_salt_and_iv);
    tcase_add_test(tc, wrong_passphrase);
    tcase_add_test(tc, save_refusals);
    tcase_add_test(tc, load_refusals);
    tcase_add_test(tc, damaged_files_never_load);
    tcase_add_test(tc, card_operations_need_the_cards_own_key);
    tcase_add_test(tc, instance_key);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
