/*
 * Card images written at the window (ca/cardissue.h) against a real instance: initial passwords
 * (given, generated, refused), the image of an issuance (both slots, a supplied key leaves its
 * slot empty), the batch's image files, the window's password reset and each of its refusals,
 * and that no private key byte reaches the registry.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/cardissue.h"
#include "ca/rules.h"
#include "ca/lifecycle.h"
#include "base/fsutil.h"
#include "base/jclock.h"
#include "keystore/keygen.h"
#include "testinst.h"

/* Registers person `id`-p and card `id` (expiring 2035-06-30) and issues `which`; pubkeys may
 * be NULL. */
static void issue(struct testutil_fixture *fx, const char *id, int which,
                  EVP_PKEY *const pubkeys[2], struct issue_result *res)
{
    struct jerr err = {0};
    char person_id[64];
    snprintf(person_id, sizeof(person_id), "%s-p", id);
    struct person p = testutil_person(person_id, "山田 花子", "東京都千代田区霞が関2-1-2",
                                      "1990-01-02", GENDER_FEMALE);
    testinst_register_card(fx, &p, id, "2035-06-30");
    ck_assert_msg(lifecycle_issue(&fx->ctx, id, which, pubkeys, res, &err) == 0, "%s", err.msg);
}

static const struct issued_cert *issued(const struct issue_result *res, enum ca_kind ca)
{
    for (size_t i = 0; i < res->count; i++)
        if (res->certs[i].rec.ca == ca)
            return &res->certs[i];
    return NULL;
}

/* Writes image bytes to dir/name (0600) and loads them. */
static struct card_image *image_file(const unsigned char *der, size_t len, const char *name,
                                     char *path, size_t size)
{
    struct jerr err = {0};
    snprintf(path, size, "%s/%s", testinst.dir, name);
    ck_assert_int_eq(testutil_write_file(path, der, len), 0);
    struct card_image *ci = card_image_load(path, &err);
    ck_assert_msg(ci != NULL, "%s", err.msg);
    return ci;
}

static void assert_cert_is(X509 *cert, const struct issued_cert *ic)
{
    unsigned char *der = NULL;
    ck_assert_ptr_nonnull(cert);
    int len = i2d_X509(cert, &der);
    ck_assert_int_eq(len, (int)ic->der_len);
    ck_assert(memcmp(der, ic->der, ic->der_len) == 0);
    OPENSSL_free(der);
}

static bool contains(const unsigned char *hay, size_t hay_len, const unsigned char *needle,
                     size_t needle_len)
{
    for (size_t i = 0; needle_len > 0 && i + needle_len <= hay_len; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, needle_len) == 0)
            return true;
    return false;
}

/* True when d, p or q of `key` (big-endian bytes) occur in the file at `path`. */
static bool file_has_private_part(const char *path, EVP_PKEY *key)
{
    static const char *const parts[] = {OSSL_PKEY_PARAM_RSA_D, OSSL_PKEY_PARAM_RSA_FACTOR1,
                                        OSSL_PKEY_PARAM_RSA_FACTOR2};
    struct jerr err = {0};
    unsigned char *data = NULL;
    size_t len = 0;
    bool found = false;
    if (!fsutil_exists(path))
        return false;
    ck_assert_msg(fsutil_read_file(path, 256u << 20, &data, &len, &err) == 0, "%s", err.msg);
    for (size_t i = 0; i < 3 && !found; i++) {
        BIGNUM *bn = NULL;
        ck_assert_int_eq(EVP_PKEY_get_bn_param(key, parts[i], &bn), 1);
        int n = BN_num_bytes(bn);
        unsigned char *bin = malloc((size_t)n);
        ck_assert_ptr_nonnull(bin);
        BN_bn2bin(bn, bin);
        found = contains(data, len, bin, (size_t)n);
        free(bin);
        BN_clear_free(bn);
    }
    free(data);
    return found;
}

static int files_in(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    if (d == NULL)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* The files in the instance's scratch directory (inst/tmp), -1 when there is none. */
static int scratch_files(void)
{
    char scratch[PATH_MAX];
    snprintf(scratch, sizeof(scratch), "%s/inst/tmp", testinst.dir);
    return files_in(scratch);
}

/* ---- passwords ---- */

START_TEST(generated_passwords_follow_the_rules)
{
    struct jerr err = {0};
    char seen[40][CARDISSUE_PASSWORD_MAX + 1];
    for (int i = 0; i < 40; i++) {
        struct cardissue_passwords pw;
        memset(&pw, 0, sizeof(pw));
        ck_assert_msg(cardissue_passwords_fill(&pw, 3, NULL, "passwords.", &err) == 0, "%s",
                      err.msg);
        ck_assert(pw.generated[CA_SIGN] && pw.generated[CA_AUTH]);
        ck_assert_uint_eq(strlen(pw.value[CA_SIGN]), CARDISSUE_SIGN_PASSWORD_GENERATED);
        ck_assert_uint_eq(strspn(pw.value[CA_SIGN], "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
                          CARDISSUE_SIGN_PASSWORD_GENERATED);
        ck_assert_uint_eq(strlen(pw.value[CA_AUTH]), 4);
        ck_assert_uint_eq(strspn(pw.value[CA_AUTH], "0123456789"), 4);
        ck_assert_int_eq(card_image_check_password(CA_SIGN, pw.value[CA_SIGN], &err), 0);
        ck_assert_int_eq(card_image_check_password(CA_AUTH, pw.value[CA_AUTH], &err), 0);
        snprintf(seen[i], sizeof(seen[i]), "%s", pw.value[CA_SIGN]);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(seen[i], seen[j]);
        cardissue_passwords_wipe(&pw);
        ck_assert_str_eq(pw.value[CA_SIGN], "");
    }
    /* RULE guide 4(7): a drawn PIN is never an easy guess (about 1 draw in 370 would be one
     * of them for this holder; 3000 draws see several without the redraw). */
    for (int i = 0; i < 3000; i++) {
        struct cardissue_passwords guess;
        memset(&guess, 0, sizeof(guess));
        ck_assert_int_eq(cardissue_passwords_fill(&guess, 1u << CA_AUTH, "1990-01-02", "", &err),
                         0);
        ck_assert_msg(rules_check_password(guess.value[CA_AUTH], "1990-01-02", "auth", &err) == 0,
                      "generated %s", guess.value[CA_AUTH]);
        cardissue_passwords_wipe(&guess);
    }
    /* Only the slots asked for. */
    struct cardissue_passwords pw;
    memset(&pw, 0, sizeof(pw));
    ck_assert_int_eq(cardissue_passwords_fill(&pw, 1u << CA_AUTH, NULL, "", &err), 0);
    ck_assert_str_eq(pw.value[CA_SIGN], "");
    ck_assert(!pw.generated[CA_SIGN] && pw.generated[CA_AUTH]);
}
END_TEST

/* Passwords as a holder gives them: `sign` and `auth`, "" for none. */
static struct cardissue_passwords given(const char *sign, const char *auth)
{
    struct cardissue_passwords pw;
    memset(&pw, 0, sizeof(pw));
    snprintf(pw.value[CA_SIGN], sizeof(pw.value[CA_SIGN]), "%s", sign);
    snprintf(pw.value[CA_AUTH], sizeof(pw.value[CA_AUTH]), "%s", auth);
    return pw;
}

START_TEST(given_passwords_are_checked)
{
    static const struct {
        const char *sign, *auth;
        unsigned slots;
        const char *birth_date, *field;
        const char *why; /* NULL: a rule of form, whose message must not echo the password */
    } cases[] = {
        {"abc123", "", 3, NULL, "passwords.sign", NULL},             /* lower case */
        {"ABC12", "", 3, NULL, "passwords.sign", NULL},              /* too short */
        {"ABC 123", "", 3, NULL, "passwords.sign", NULL},            /* a space */
        {"", "123", 3, NULL, "passwords.auth", NULL},                /* 3 digits */
        {"", "12a4", 3, NULL, "passwords.auth", NULL},               /* not a digit */
        {"ABC123", "", 1u << CA_AUTH, NULL, "passwords.sign", NULL}, /* no sign slot written */
        {"", "2580", 1u << CA_SIGN, NULL, "passwords.auth", NULL},   /* no auth slot written */
        /* RULE guide 4(7): easy guesses for a holder born 1990-01-02, refused with the reason. */
        {"", "0102", 3, "1990-01-02", "passwords.auth", "birth date (MMDD)"},
        {"", "0201", 3, "1990-01-02", "passwords.auth", "birth date (DDMM)"},
        {"", "1990", 3, "1990-01-02", "passwords.auth", "birth date (YYYY)"},
        {"900102", "", 3, "1990-01-02", "passwords.sign", "birth date (YYMMDD)"},
        {"19900102", "", 3, "1990-01-02", "passwords.sign", "birth date (YYYYMMDD)"},
        {"", "1111", 3, "1990-01-02", "passwords.auth", "repeated"},
        {"", "6789", 3, "1990-01-02", "passwords.auth", "straight run"},
        {"", "3210", 3, "1990-01-02", "passwords.auth", "straight run"},
        {"QQQQQQ", "", 3, "1990-01-02", "passwords.sign", "repeated"},
        {"456789", "", 3, "1990-01-02", "passwords.sign", "straight run"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct jerr err = {0};
        struct cardissue_passwords pw = given(cases[i].sign, cases[i].auth);
        ck_assert_int_eq(
            cardissue_passwords_fill(&pw, cases[i].slots, cases[i].birth_date, "passwords.", &err),
            -1);
        ck_assert_int_eq(err.code, JERR_INVALID);
        ck_assert_str_eq(err.field, cases[i].field);
        if (cases[i].why == NULL && cases[i].sign[0] != '\0')
            ck_assert_ptr_null(strstr(err.msg, cases[i].sign));
        if (cases[i].why != NULL) {
            ck_assert_msg(strstr(err.msg, cases[i].why) != NULL, "%s", err.msg);
            ck_assert_msg(strstr(err.msg, "guide 4(7)") != NULL, "%s", err.msg);
        }
    }
    /* The same PIN is fine for someone born another day. */
    struct jerr err = {0};
    struct cardissue_passwords pw = given("", "0102");
    ck_assert_msg(cardissue_passwords_fill(&pw, 3, "1985-07-30", "passwords.", &err) == 0, "%s",
                  err.msg);
    /* Good ones are kept and not reported as generated. */
    pw = given("ABC123", "");
    ck_assert_int_eq(cardissue_passwords_fill(&pw, 3, NULL, "passwords.", &err), 0);
    ck_assert_str_eq(pw.value[CA_SIGN], "ABC123");
    ck_assert(!pw.generated[CA_SIGN] && pw.generated[CA_AUTH]);
}
END_TEST

/* ---- the image of an issuance ---- */

/* The instance opened around each test of the "issuance" case (testinst_fx_tcase). */
#define fix testinst_fx

/* What each test of the "issuance" case issues, the passwords of its image, the image's bytes
 * and file: zeroed before the test and freed after it (issuance_open, issuance_close). */
static struct {
    struct issue_result res;
    struct cardissue_passwords pw;
    struct jerr err;
    unsigned char *der;
    size_t len;
    char path[PATH_MAX];
} it;

static void issuance_open(void)
{
    testinst_fx_open();
    memset(&it, 0, sizeof(it));
}

static void issuance_close(void)
{
    free(it.der);
    cardissue_passwords_wipe(&it.pw);
    issue_result_free(&it.res);
    testinst_fx_close();
}

START_TEST(image_holds_both_slots)
{
    issue(&fix, "both1", ISSUE_BOTH, NULL, &it.res);
    ck_assert_uint_eq(cardissue_slots(&it.res), 3);
    snprintf(it.pw.value[CA_SIGN], sizeof(it.pw.value[CA_SIGN]), "SIGN2035");
    ck_assert_int_eq(
        cardissue_passwords_fill(&it.pw, cardissue_slots(&it.res), NULL, "passwords.", &it.err), 0);
    ck_assert_msg(
        cardissue_image_bytes(fix.pki, fix.st, &it.res, &it.pw, &it.der, &it.len, &it.err) == 0,
        "%s", it.err.msg);

    struct card_image *ci = image_file(it.der, it.len, "both1.card", it.path, sizeof(it.path));
    ck_assert_str_eq(card_image_id(ci), "both1");
    ck_assert_str_eq(card_image_expiry(ci), "2035-06-30");
    ck_assert_int_eq(X509_cmp(card_image_get0_root(ci, CA_SIGN), pki_get0_root(fix.pki, CA_SIGN)),
                     0);
    ck_assert_int_eq(X509_cmp(card_image_get0_root(ci, CA_AUTH), pki_get0_root(fix.pki, CA_AUTH)),
                     0);
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        const struct issued_cert *ic = issued(&it.res, (enum ca_kind)ca);
        assert_cert_is(card_image_get0_cert(ci, (enum ca_kind)ca), ic);
        ck_assert_int_eq(card_image_tries_left(ci, (enum ca_kind)ca),
                         ca == CA_SIGN ? CARD_SIGN_MAX_TRIES : CARD_AUTH_MAX_TRIES);
        EVP_PKEY *key =
            card_image_unlock_key(ci, it.path, (enum ca_kind)ca, it.pw.value[ca], &it.err);
        ck_assert_msg(key != NULL, "%s", it.err.msg);
        ck_assert_int_eq(EVP_PKEY_eq(key, ic->key), 1);
        EVP_PKEY_free(key);
        /* No private key byte in the image, nor in the registry (the search itself finds a
         * key where there is one). */
        char control[PATH_MAX];
        unsigned char *plain = NULL;
        int plain_len = i2d_PrivateKey(ic->key, &plain);
        snprintf(control, sizeof(control), "%s/control.der", testinst.dir);
        ck_assert_int_eq(testutil_write_file(control, plain, (size_t)plain_len), 0);
        ck_assert(file_has_private_part(control, ic->key));
        OPENSSL_clear_free(plain, (size_t)plain_len);
        unlink(control);
        ck_assert(!file_has_private_part(it.path, ic->key));
        char db[PATH_MAX];
        static const char *const suffixes[] = {"", "-wal", "-shm"};
        for (size_t i = 0; i < 3; i++) {
            snprintf(db, sizeof(db), "%s/inst/jpki.db%s", testinst.dir, suffixes[i]);
            ck_assert_msg(!file_has_private_part(db, ic->key), "key material in %s", db);
        }
    }
    /* A wrong password is what the holder gets from a wrong guess. */
    EVP_PKEY *none = card_image_unlock_key(ci, it.path, CA_AUTH, "0000", &it.err);
    if (none == NULL)
        ck_assert_int_eq(it.err.code, JERR_AUTH);
    EVP_PKEY_free(none); /* 1 in 10^4 that the generated PIN was 0000 */
    /* Issuance encodes in memory: no scratch file (the directory need not even exist). */
    ck_assert_int_le(scratch_files(), 0);

    card_image_free(ci);
}
END_TEST

START_TEST(supplied_key_leaves_its_slot_empty)
{
    EVP_PKEY *own = keygen_rsa(2048, &it.err);
    ck_assert_ptr_nonnull(own);
    EVP_PKEY *pubkeys[2] = {NULL, own};
    issue(&fix, "own1", ISSUE_BOTH, pubkeys, &it.res);
    ck_assert_uint_eq(cardissue_slots(&it.res), 1u << CA_SIGN);
    /* A password for the slot that is not written is refused. */
    snprintf(it.pw.value[CA_AUTH], sizeof(it.pw.value[CA_AUTH]), "2580");
    ck_assert_int_eq(
        cardissue_passwords_fill(&it.pw, cardissue_slots(&it.res), NULL, "passwords.", &it.err),
        -1);
    ck_assert_str_eq(it.err.field, "passwords.auth");
    jerr_clear(&it.err);
    it.pw.value[CA_AUTH][0] = '\0';
    ck_assert_int_eq(
        cardissue_passwords_fill(&it.pw, cardissue_slots(&it.res), NULL, "passwords.", &it.err), 0);
    ck_assert_int_eq(
        cardissue_image_bytes(fix.pki, fix.st, &it.res, &it.pw, &it.der, &it.len, &it.err), 0);
    struct card_image *ci = image_file(it.der, it.len, "own1.card", it.path, sizeof(it.path));
    assert_cert_is(card_image_get0_cert(ci, CA_SIGN), issued(&it.res, CA_SIGN));
    ck_assert_ptr_null(card_image_get0_cert(ci, CA_AUTH));
    ck_assert_int_eq(card_image_tries_left(ci, CA_AUTH), -1);
    card_image_free(ci);

    /* Every key supplied: nothing to write. */
    EVP_PKEY *only[2] = {NULL, own};
    struct issue_result res2 = {0};
    issue(&fix, "own2", ISSUE_AUTH, only, &res2);
    ck_assert_uint_eq(cardissue_slots(&res2), 0);
    ck_assert_ptr_null(cardissue_image_new(fix.pki, fix.st, &res2, &it.pw, &it.err));
    ck_assert_int_eq(it.err.code, JERR_INVALID);
    issue_result_free(&res2);
    EVP_PKEY_free(own);
}
END_TEST

START_TEST(batch_stages_one_file_per_card)
{
    char tmp[PATH_MAX], want[PATH_MAX];
    struct stat sb;

    issue(&fix, "batchcard1", ISSUE_BOTH, NULL, &it.res);
    snprintf(it.pw.value[CA_AUTH], sizeof(it.pw.value[CA_AUTH]), "2468");
    ck_assert_msg(cardissue_stage_batch(fix.pki, fix.st, "b-2026-001", &it.res, &it.pw, it.path,
                                        tmp, sizeof(it.path), &it.err) == 0,
                  "%s", it.err.msg);
    snprintf(want, sizeof(want), "%s/inst/cards/b-2026-001/batchcard1.card", testinst.dir);
    ck_assert_str_eq(it.path, want);
    /* Staged only: a temp file beside its place (0600), the place itself still empty. */
    ck_assert(!fsutil_exists(it.path));
    ck_assert_int_eq(strncmp(tmp, it.path, strlen(it.path)), 0);
    ck_assert_int_eq(stat(tmp, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    ck_assert_msg(fsutil_publish(tmp, it.path, &it.err) == 0, "%s", it.err.msg);
    ck_assert(!fsutil_exists(tmp));
    ck_assert_int_eq(stat(it.path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    snprintf(want, sizeof(want), "%s/inst/cards/b-2026-001", testinst.dir);
    ck_assert_int_eq(stat(want, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0700);
    /* The given PIN is kept, the signing password generated (to be reported once). */
    ck_assert(it.pw.generated[CA_SIGN] && !it.pw.generated[CA_AUTH]);
    struct card_image *ci = card_image_load(it.path, &it.err);
    ck_assert_msg(ci != NULL, "%s", it.err.msg);
    ck_assert_str_eq(card_image_id(ci), "batchcard1");
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        EVP_PKEY *key =
            card_image_unlock_key(ci, it.path, (enum ca_kind)ca, it.pw.value[ca], &it.err);
        ck_assert_msg(key != NULL, "%s", it.err.msg);
        EVP_PKEY_free(key);
    }
    card_image_free(ci);

    /* Names that would leave the directory or hide the file are refused; nothing is written. */
    struct cardissue_passwords pw2;
    memset(&pw2, 0, sizeof(pw2));
    ck_assert_int_eq(cardissue_stage_batch(fix.pki, fix.st, "..", &it.res, &pw2, it.path, tmp,
                                           sizeof(it.path), &it.err),
                     -1);
    ck_assert_int_eq(it.err.code, JERR_INVALID);
    ck_assert_str_eq(it.err.field, "batch");
    jerr_clear(&it.err);
    ck_assert_int_eq(cardissue_stage_batch(fix.pki, fix.st, "a/b", &it.res, &pw2, it.path, tmp,
                                           sizeof(it.path), &it.err),
                     -1);
    ck_assert_str_eq(it.err.field, "batch");
    jerr_clear(&it.err);
    ck_assert_int_eq(cardissue_batch_path(fix.pki, "b-1", ".hidden", ".card", false, it.path,
                                          sizeof(it.path), &it.err),
                     -1);
    ck_assert_str_eq(it.err.field, "card_id");
    snprintf(want, sizeof(want), "%s/inst/batchcard1.card", testinst.dir);
    ck_assert(!fsutil_exists(want));
    /* A bad given password: refused before anything is written. */
    jerr_clear(&it.err);
    snprintf(pw2.value[CA_SIGN], sizeof(pw2.value[CA_SIGN]), "short");
    ck_assert_int_eq(cardissue_stage_batch(fix.pki, fix.st, "b-2026-002", &it.res, &pw2, it.path,
                                           tmp, sizeof(it.path), &it.err),
                     -1);
    ck_assert_str_eq(it.err.field, "passwords.sign");
    snprintf(want, sizeof(want), "%s/inst/cards/b-2026-002/batchcard1.card", testinst.dir);
    ck_assert(!fsutil_exists(want));
}
END_TEST

/* ---- the window's reset ---- */

/* An image of card `id` (both slots, sign "SIGN2035", auth "2580") as bytes. */
static unsigned char *image_of(struct testutil_fixture *fx, const char *id,
                               struct issue_result *res, size_t *len)
{
    struct jerr err = {0};
    struct cardissue_passwords pw;
    unsigned char *der = NULL;
    issue(fx, id, ISSUE_BOTH, NULL, res);
    memset(&pw, 0, sizeof(pw));
    snprintf(pw.value[CA_SIGN], sizeof(pw.value[CA_SIGN]), "SIGN2035");
    snprintf(pw.value[CA_AUTH], sizeof(pw.value[CA_AUTH]), "2580");
    ck_assert_int_eq(cardissue_image_bytes(fx->pki, fx->st, res, &pw, &der, len, &err), 0);
    return der;
}

START_TEST(reset_clears_a_lock)
{
    size_t reset_len = 0;
    unsigned char *reset = NULL;

    it.der = image_of(&fix, "reset1", &it.res, &it.len);
    struct card_image *ci = image_file(it.der, it.len, "reset1.card", it.path, sizeof(it.path));
    for (int i = 0; i < CARD_AUTH_MAX_TRIES; i++) {
        ck_assert_ptr_null(card_image_unlock_key(ci, it.path, CA_AUTH, "9999", &it.err));
        jerr_clear(&it.err);
    }
    ck_assert(card_image_is_locked(ci, CA_AUTH));
    card_image_free(ci);
    free(it.der);
    it.der = NULL;
    ck_assert_int_eq(fsutil_read_file(it.path, 1 << 20, &it.der, &it.len, &it.err), 0);

    ck_assert_msg(cardissue_reset_password(fix.pki, fix.st, "reset1", it.der, it.len, CA_AUTH,
                                           "5831", &reset, &reset_len, &it.err) == 0,
                  "%s", it.err.msg);
    ci = image_file(reset, reset_len, "reset1b.card", it.path, sizeof(it.path));
    ck_assert(!card_image_is_locked(ci, CA_AUTH));
    ck_assert_int_eq(card_image_tries_left(ci, CA_AUTH), CARD_AUTH_MAX_TRIES);
    ck_assert_ptr_null(card_image_unlock_key(ci, it.path, CA_AUTH, "2580", &it.err)); /* old one */
    ck_assert_int_eq(it.err.code, JERR_AUTH);
    EVP_PKEY *key = card_image_unlock_key(ci, it.path, CA_AUTH, "5831", &it.err);
    ck_assert_msg(key != NULL, "%s", it.err.msg);
    ck_assert_int_eq(EVP_PKEY_eq(key, issued(&it.res, CA_AUTH)->key), 1);
    EVP_PKEY_free(key);
    /* The other slot is untouched. */
    key = card_image_unlock_key(ci, it.path, CA_SIGN, "SIGN2035", &it.err);
    ck_assert_msg(key != NULL, "%s", it.err.msg);
    EVP_PKEY_free(key);
    card_image_free(ci);
    ck_assert_int_eq(scratch_files(), 0);
    free(reset);
}
END_TEST

static void expect_reset_refused(struct testutil_fixture *fx, const char *card_id,
                                 const unsigned char *der, size_t len, enum ca_kind slot,
                                 const char *pw, int code, const char *field, const char *part)
{
    struct jerr err = {0};
    unsigned char *out = NULL;
    size_t out_len = 0;
    ck_assert_int_eq(cardissue_reset_password(fx->pki, fx->st, card_id, der, len, slot, pw, &out,
                                              &out_len, &err),
                     -1);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(err.code, code);
    ck_assert_str_eq(err.field, field);
    ck_assert_msg(strstr(err.msg, part) != NULL, "'%s' not in '%s'", part, err.msg);
}

/* The encoded image of a card that claims to be "reset2", written with the administration key
 * `ak`, whose one slot `slot` holds `cert` and `key` under password `pw`. */
static unsigned char *reset2_image(const struct adminkey *ak, enum ca_kind slot, X509 *cert,
                                   EVP_PKEY *key, const char *pw, size_t *len)
{
    struct jerr err = {0};
    unsigned char *der = NULL;
    struct card_image *ci =
        adminkey_card_create(ak, "reset2", "2035-06-30", pki_get0_root(fix.pki, CA_SIGN),
                             pki_get0_root(fix.pki, CA_AUTH), &err);
    ck_assert_msg(ci != NULL, "%s", err.msg);
    ck_assert_int_eq(adminkey_card_set_slot(ak, ci, slot, cert, key, pw, &err), 0);
    ck_assert_int_eq(cardissue_image_encode(fix.pki, ci, &der, len, &err), 0);
    card_image_free(ci);
    return der;
}

/* The certificate of an issuance's `ca` slot, decoded. */
static X509 *issued_x509(const struct issue_result *res, enum ca_kind ca)
{
    const struct issued_cert *ic = issued(res, ca);
    const unsigned char *p = ic->der;
    X509 *cert = d2i_X509(NULL, &p, (long)ic->der_len);
    ck_assert_ptr_nonnull(cert);
    return cert;
}

START_TEST(reset_refusals)
{
    struct issue_result other = {0};

    it.der = image_of(&fix, "reset2", &it.res, &it.len);
    static const struct {
        const char *card_id;
        enum ca_kind slot;
        const char *new_password, *field, *part;
    } asked[] = {
        {"reset3", CA_AUTH, "5831", "card_image", "belongs to card reset2, not to card reset3"},
        {"reset2", CA_AUTH, "58310", "new_password", "4 digits"},
        {"reset2", CA_SIGN, "short", "new_password", "new_password"},
        /* RULE guide 4(7): the holder (born 1990-01-02) cannot be given an easy guess either. */
        {"reset2", CA_AUTH, "0102", "new_password", "birth date (MMDD)"},
        {"reset2", CA_AUTH, "9876", "new_password", "straight run"},
        {"reset2", CA_SIGN, "19900102", "new_password", "birth date (YYYYMMDD)"},
    };
    for (size_t i = 0; i < sizeof(asked) / sizeof(asked[0]); i++)
        expect_reset_refused(&fix, asked[i].card_id, it.der, it.len, asked[i].slot,
                             asked[i].new_password, JERR_INVALID, asked[i].field, asked[i].part);
    /* Tampered: one byte changed anywhere. */
    unsigned char *bad = malloc(it.len);
    ck_assert_ptr_nonnull(bad);
    memcpy(bad, it.der, it.len);
    bad[it.len / 2] ^= 0x20;
    expect_reset_refused(&fix, "reset2", bad, it.len, CA_AUTH, "5831", JERR_INVALID, "card_image",
                         "damaged or has been tampered with");
    expect_reset_refused(&fix, "reset2", it.der, it.len / 2, CA_AUTH, "5831", JERR_INVALID,
                         "card_image", "damaged");
    expect_reset_refused(&fix, "reset2", (const unsigned char *)"", 0, CA_AUTH, "5831",
                         JERR_INVALID, "card_image", "damaged");
    free(bad);

    /* An image of this card written under another administration key. */
    struct adminkey *stranger = adminkey_generate(&it.err);
    ck_assert_ptr_nonnull(stranger);
    X509 *cert = issued_x509(&it.res, CA_AUTH);
    size_t foreign_len = 0;
    unsigned char *foreign =
        reset2_image(stranger, CA_AUTH, cert, issued(&it.res, CA_AUTH)->key, "2580", &foreign_len);
    expect_reset_refused(&fix, "reset2", foreign, foreign_len, CA_AUTH, "5831", JERR_INVALID,
                         "card_image", "not written by this service");
    /* Its empty sign slot. */
    expect_reset_refused(&fix, "reset2", foreign, foreign_len, CA_SIGN, "ABC123", JERR_INVALID,
                         "slot", "no sign certificate");
    free(foreign);

    /* A certificate of another card in the slot (the image claims to be reset2's). */
    unsigned char *other_der = image_of(&fix, "reset4", &other, &it.len);
    free(other_der);
    X509 *other_cert = issued_x509(&other, CA_AUTH);
    foreign = reset2_image(stranger, CA_AUTH, other_cert, issued(&other, CA_AUTH)->key, "2580",
                           &foreign_len);
    expect_reset_refused(&fix, "reset2", foreign, foreign_len, CA_AUTH, "5831", JERR_INVALID,
                         "card_image", "is not the one issued to card reset2");
    free(foreign);

    /* A certificate this service never issued. */
    EVP_PKEY *k;
    X509 *self = testutil_self_signed_cert(&k);
    foreign = reset2_image(pki_get0_card_admin(fix.pki), CA_SIGN, self, k, "ABC123", &foreign_len);
    expect_reset_refused(&fix, "reset2", foreign, foreign_len, CA_SIGN, "XYZ789", JERR_INVALID,
                         "card_image", "was not issued by this service");
    free(foreign);
    X509_free(self);
    EVP_PKEY_free(k);

    X509_free(cert);
    X509_free(other_cert);
    adminkey_free(stranger);
    issue_result_free(&other);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cardissue");
    TCase *tc = tcase_create("passwords"); /* no instance needed */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, generated_passwords_follow_the_rules);
    tcase_add_test(tc, given_passwords_are_checked);
    suite_add_tcase(s, tc);

    tc = testinst_tcase("issuance", 120);
    tcase_add_checked_fixture(tc, issuance_open, issuance_close);
    tcase_add_test(tc, image_holds_both_slots);
    tcase_add_test(tc, supplied_key_leaves_its_slot_empty);
    tcase_add_test(tc, batch_stages_one_file_per_card);
    tcase_add_test(tc, reset_clears_a_lock);
    tcase_add_test(tc, reset_refusals);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
