/*
 * test_card: the card image — password rules, the round trip through the file, retry counters
 * and locks (written before the answer, surviving a reload), the holder's change and the
 * window's reset, tamper detection (every byte flipped, every truncation, and deliberate edits
 * that recompute the checksum), and that no private key byte ever reaches the file.
 *
 * Two 2048-bit RSA keys and four self-signed certificates are made once, in main, before
 * Check forks; each scrypt derivation costs ~50 ms, so tests count their password tries.
 */
#define _GNU_SOURCE /* memmem */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/jerr.h"
#include "keystore/card.h"
#include "keystore/keygen.h"
#include "test/fuzz/card_selfsigned.h"
#include "testutil.h"

#define CARD_ID "C-000123"
#define EXPIRY "2034-03-31"
#define SIGN_PW "ABC123"
#define AUTH_PIN "1234"
#define DAMAGED "card image is damaged or has been tampered with"

static EVP_PKEY *g_sign_key, *g_auth_key;
static X509 *g_sign_cert, *g_auth_cert; /* subscriber certificates of the two keys */
static X509 *g_sign_root, *g_auth_root; /* stand-ins for the CA roots */
static unsigned char g_admin[CARD_ADMIN_KEY_BYTES];
static unsigned char g_other_admin[CARD_ADMIN_KEY_BYTES];
static char *g_dir;
static char g_path[4096];

/* ---- fixtures ---- */

static int keys_setup(void)
{
    struct jerr err = {0};
    g_sign_key = keygen_rsa(2048, &err);
    g_auth_key = keygen_rsa(2048, &err);
    if (g_sign_key == NULL || g_auth_key == NULL)
        return -1;
    g_sign_cert = card_selfsigned(g_sign_key, "sign holder");
    g_auth_cert = card_selfsigned(g_auth_key, "auth holder");
    g_sign_root = card_selfsigned(g_auth_key, "JPKI Sign Root");
    g_auth_root = card_selfsigned(g_sign_key, "JPKI Auth Root");
    for (size_t i = 0; i < sizeof(g_admin); i++) {
        g_admin[i] = (unsigned char)(0xA0 + i);
        g_other_admin[i] = (unsigned char)(0xA0 + i);
    }
    g_other_admin[31] ^= 0x01; /* one bit away */
    return g_sign_cert != NULL && g_auth_cert != NULL && g_sign_root != NULL && g_auth_root != NULL
               ? 0
               : -1;
}

static void keys_teardown(void)
{
    X509_free(g_sign_cert);
    X509_free(g_auth_cert);
    X509_free(g_sign_root);
    X509_free(g_auth_root);
    EVP_PKEY_free(g_sign_key);
    EVP_PKEY_free(g_auth_key);
}

static void dir_setup(void)
{
    g_dir = testutil_mkdtemp();
    ck_assert_ptr_nonnull(g_dir);
    snprintf(g_path, sizeof(g_path), "%s/card.img", g_dir);
}

static void dir_teardown(void)
{
    testutil_rmtree(g_dir);
    free(g_dir);
    g_dir = NULL;
}

/* ---- helpers ---- */

static void assert_err(const struct jerr *err, int code, const char *field, const char *needle)
{
    ck_assert_msg(err->code == code, "code %s, wanted %s (%s)", jerr_code_name(err->code),
                  jerr_code_name(code), err->msg);
    ck_assert_str_eq(err->field, field);
    ck_assert_msg(strstr(err->msg, needle) != NULL, "\"%s\" not in \"%s\"", needle, err->msg);
}

static struct card_image *empty_card(void)
{
    struct jerr err = {0};
    struct card_image *ci =
        card_image_create(CARD_ID, EXPIRY, g_sign_root, g_auth_root, g_admin, &err);
    ck_assert_msg(ci != NULL, "%s", err.msg);
    return ci;
}

/* Both slots filled (two scrypt derivations). */
static struct card_image *full_card(void)
{
    struct jerr err = {0};
    struct card_image *ci = empty_card();
    ck_assert_int_eq(
        card_image_set_slot(ci, CA_SIGN, g_sign_cert, g_sign_key, SIGN_PW, g_admin, &err), 0);
    ck_assert_int_eq(
        card_image_set_slot(ci, CA_AUTH, g_auth_cert, g_auth_key, AUTH_PIN, g_admin, &err), 0);
    return ci;
}

static struct card_image *saved_full_card(void)
{
    struct jerr err = {0};
    struct card_image *ci = full_card();
    ck_assert_msg(card_image_save(ci, g_path, &err) == 0, "%s", err.msg);
    return ci;
}

static struct card_image *load_ok(void)
{
    struct jerr err = {0};
    struct card_image *ci = card_image_load(g_path, &err);
    ck_assert_msg(ci != NULL, "%s", err.msg);
    return ci;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char *buf = malloc(1024 * 1024);
    ck_assert_ptr_nonnull(buf);
    *len = fread(buf, 1, 1024 * 1024, f);
    fclose(f);
    return buf;
}

/* One wrong try, asserted to be answered as such with `left` tries left. */
static void wrong_try(struct card_image *ci, enum ca_kind slot, const char *wrong, int left)
{
    struct jerr err = {0};
    ck_assert_ptr_null(card_image_unlock_key(ci, g_path, slot, wrong, &err));
    char want[64];
    if (left == 0)
        snprintf(want, sizeof(want), "0 tries left, the %s slot is now locked",
                 slot == CA_SIGN ? "sign" : "auth");
    else
        snprintf(want, sizeof(want), ": %d %s left", left, left == 1 ? "try" : "tries");
    assert_err(&err, JERR_AUTH, "password", want);
    ck_assert_int_eq(card_image_tries_left(ci, slot), left);
}

/* Wrong tries from `from` tries left down to `to`, each asserted by wrong_try: "WRONG1".. on
 * the signing slot, "0000".. on the auth slot, numbered by the tries already spent. */
static void wrong_tries(struct card_image *ci, enum ca_kind slot, int from, int to)
{
    int max = slot == CA_SIGN ? CARD_SIGN_MAX_TRIES : CARD_AUTH_MAX_TRIES;
    ck_assert_int_eq(card_image_tries_left(ci, slot), from);
    for (int now = from; now > to; now--) {
        char wrong[16];
        if (slot == CA_SIGN)
            snprintf(wrong, sizeof(wrong), "WRONG%d", max - now + 1);
        else
            snprintf(wrong, sizeof(wrong), "%04d", max - now);
        wrong_try(ci, slot, wrong, now - 1);
    }
}

static void unlock_ok(struct card_image *ci, enum ca_kind slot, const char *password)
{
    struct jerr err = {0};
    EVP_PKEY *key = card_image_unlock_key(ci, g_path, slot, password, &err);
    ck_assert_msg(key != NULL, "%s", err.msg);
    ck_assert_int_eq(EVP_PKEY_eq(key, slot == CA_SIGN ? g_sign_key : g_auth_key), 1);
    EVP_PKEY_free(key);
}

static void locked_refusal(struct card_image *ci, enum ca_kind slot, const char *right)
{
    struct jerr err = {0};
    ck_assert_ptr_null(card_image_unlock_key(ci, g_path, slot, right, &err));
    assert_err(&err, JERR_FORBIDDEN, "password", "slot locked");
    ck_assert(card_image_is_locked(ci, slot));
}

/* ---- password rules ---- */

START_TEST(test_password_rules)
{
    const char *sign_ok[] = {"ABC123", "A1B2C3D4E5F6G7H8", "000000", "ZZZZZZ"};
    const char *sign_bad[] = {"abc123",  "ABC12", "A1B2C3D4E5F6G7H8X", "ABC-123", "",
                              "ABC 123", "1234"};
    const char *auth_ok[] = {"0000", "1234", "9999"};
    const char *auth_bad[] = {"123", "12345", "12a4", "", "ABCD", "12 4"};

    for (size_t i = 0; i < sizeof(sign_ok) / sizeof(sign_ok[0]); i++) {
        struct jerr err = {0};
        ck_assert_msg(card_image_check_password(CA_SIGN, sign_ok[i], &err) == 0, "%s refused",
                      sign_ok[i]);
    }
    for (size_t i = 0; i < sizeof(sign_bad) / sizeof(sign_bad[0]); i++) {
        struct jerr err = {0};
        ck_assert_msg(card_image_check_password(CA_SIGN, sign_bad[i], &err) == -1,
                      "\"%s\" accepted", sign_bad[i]);
        assert_err(&err, JERR_INVALID, "password", "6 to 16 characters of A-Z and 0-9");
        if (sign_bad[i][0] != '\0')
            ck_assert_ptr_null(strstr(err.msg, sign_bad[i])); /* never echoed */
    }
    for (size_t i = 0; i < sizeof(auth_ok) / sizeof(auth_ok[0]); i++) {
        struct jerr err = {0};
        ck_assert_msg(card_image_check_password(CA_AUTH, auth_ok[i], &err) == 0, "%s refused",
                      auth_ok[i]);
    }
    for (size_t i = 0; i < sizeof(auth_bad) / sizeof(auth_bad[0]); i++) {
        struct jerr err = {0};
        ck_assert_msg(card_image_check_password(CA_AUTH, auth_bad[i], &err) == -1,
                      "\"%s\" accepted", auth_bad[i]);
        assert_err(&err, JERR_INVALID, "password", "exactly 4 digits");
    }
    /* A signing password is no PIN. */
    struct jerr err = {0};
    ck_assert_int_eq(card_image_check_password(CA_AUTH, "ABC123", &err), -1);
    assert_err(&err, JERR_INVALID, "password", "exactly 4 digits");
    jerr_clear(&err);
    ck_assert_int_eq(card_image_check_password(CA_SIGN, NULL, &err), -1);
    assert_err(&err, JERR_INVALID, "password", "6 to 16");
}
END_TEST

/* ---- creation and slots ---- */

START_TEST(test_create_refusals)
{
    struct {
        const char *id, *expiry;
        int null_root;
        const char *field;
    } cases[] = {
        {"", EXPIRY, 0, "card_id"},
        {"has space", EXPIRY, 0, "card_id"},
        {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", EXPIRY, 0,
         "card_id"}, /* 65 */
        {CARD_ID, "2030-02-30", 0, "expiry"},
        {CARD_ID, "2030/01/01", 0, "expiry"},
        {CARD_ID, "", 0, "expiry"},
        {CARD_ID, EXPIRY, 1, "root"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct jerr err = {0};
        struct card_image *ci =
            card_image_create(cases[i].id, cases[i].expiry, g_sign_root,
                              cases[i].null_root ? NULL : g_auth_root, g_admin, &err);
        ck_assert_ptr_null(ci);
        ck_assert_int_eq(err.code, JERR_INVALID);
        ck_assert_str_eq(err.field, cases[i].field);
    }
    struct jerr err = {0};
    ck_assert_ptr_null(card_image_create(CARD_ID, EXPIRY, g_sign_root, g_auth_root, NULL, &err));
    ck_assert_str_eq(err.field, "admin_key");
}
END_TEST

START_TEST(test_set_slot_refusals)
{
    struct card_image *ci = empty_card();
    const char *bad[] = {"abc123", "ABC12", "ABCDEFGHIJKLMNOPQ", "ABC-123", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct jerr err = {0};
        ck_assert_int_eq(
            card_image_set_slot(ci, CA_SIGN, g_sign_cert, g_sign_key, bad[i], g_admin, &err), -1);
        assert_err(&err, JERR_INVALID, "password", "6 to 16");
    }
    const char *bad_pin[] = {"123", "12345", "12a4"};
    for (size_t i = 0; i < sizeof(bad_pin) / sizeof(bad_pin[0]); i++) {
        struct jerr err = {0};
        ck_assert_int_eq(
            card_image_set_slot(ci, CA_AUTH, g_auth_cert, g_auth_key, bad_pin[i], g_admin, &err),
            -1);
        assert_err(&err, JERR_INVALID, "password", "4 digits");
    }
    struct jerr err = {0};
    /* The key of the other certificate. */
    ck_assert_int_eq(
        card_image_set_slot(ci, CA_SIGN, g_sign_cert, g_auth_key, SIGN_PW, g_admin, &err), -1);
    assert_err(&err, JERR_INVALID, "key", "does not match the certificate");
    /* The public half only (from a re-decoded copy: X509_set_pubkey keeps a reference to the
     * whole key in the original): nothing to put on the card. */
    X509 *decoded = X509_dup(g_sign_cert);
    ck_assert_ptr_nonnull(decoded);
    jerr_clear(&err);
    ck_assert_int_eq(card_image_set_slot(ci, CA_SIGN, g_sign_cert, X509_get0_pubkey(decoded),
                                         SIGN_PW, g_admin, &err),
                     -1);
    assert_err(&err, JERR_INVALID, "key", "no (valid) private part");
    X509_free(decoded);
    /* Another administration key than the card's. */
    jerr_clear(&err);
    ck_assert_int_eq(
        card_image_set_slot(ci, CA_SIGN, g_sign_cert, g_sign_key, SIGN_PW, g_other_admin, &err),
        -1);
    assert_err(&err, JERR_FORBIDDEN, "admin_key", "does not open card " CARD_ID);
    jerr_clear(&err);
    ck_assert_int_eq(
        card_image_set_slot(ci, (enum ca_kind)7, g_sign_cert, g_sign_key, SIGN_PW, g_admin, &err),
        -1);
    ck_assert_str_eq(err.field, "slot");
    /* Every refusal left the slots empty. */
    ck_assert_ptr_null(card_image_get0_cert(ci, CA_SIGN));
    ck_assert_ptr_null(card_image_get0_cert(ci, CA_AUTH));
    ck_assert_int_eq(card_image_tries_left(ci, CA_SIGN), -1);
    card_image_free(ci);
}
END_TEST

START_TEST(test_round_trip)
{
    struct card_image *ci = saved_full_card();
    struct card_image *back = load_ok();
    ck_assert_str_eq(card_image_id(back), CARD_ID);
    ck_assert_str_eq(card_image_expiry(back), EXPIRY);
    ck_assert_int_eq(X509_cmp(card_image_get0_cert(back, CA_SIGN), g_sign_cert), 0);
    ck_assert_int_eq(X509_cmp(card_image_get0_cert(back, CA_AUTH), g_auth_cert), 0);
    ck_assert_int_eq(X509_cmp(card_image_get0_root(back, CA_SIGN), g_sign_root), 0);
    ck_assert_int_eq(X509_cmp(card_image_get0_root(back, CA_AUTH), g_auth_root), 0);
    ck_assert_int_eq(card_image_tries_left(back, CA_SIGN), CARD_SIGN_MAX_TRIES);
    ck_assert_int_eq(card_image_tries_left(back, CA_AUTH), CARD_AUTH_MAX_TRIES);
    ck_assert(!card_image_is_locked(back, CA_SIGN));
    ck_assert(!card_image_is_locked(back, CA_AUTH));

    /* Saving what was loaded gives the same bytes back (only fresh IVs would differ, and
     * nothing was re-encrypted). */
    size_t len1, len2;
    unsigned char *first = slurp(g_path, &len1);
    struct jerr err = {0};
    ck_assert_int_eq(card_image_save(back, g_path, &err), 0);
    unsigned char *second = slurp(g_path, &len2);
    ck_assert_uint_eq(len1, len2);
    ck_assert_int_eq(memcmp(first, second, len1), 0);
    free(first);
    free(second);
    card_image_free(back);
    card_image_free(ci);
}
END_TEST

START_TEST(test_empty_slot)
{
    struct jerr err = {0};
    struct card_image *ci = empty_card();
    ck_assert_int_eq(
        card_image_set_slot(ci, CA_SIGN, g_sign_cert, g_sign_key, SIGN_PW, g_admin, &err), 0);
    ck_assert_int_eq(card_image_save(ci, g_path, &err), 0);
    struct card_image *back = load_ok();
    ck_assert_ptr_null(card_image_get0_cert(back, CA_AUTH));
    ck_assert_int_eq(card_image_tries_left(back, CA_AUTH), -1);
    ck_assert(!card_image_is_locked(back, CA_AUTH));
    ck_assert_int_eq(X509_cmp(card_image_get0_cert(back, CA_SIGN), g_sign_cert), 0);

    ck_assert_ptr_null(card_image_unlock_key(back, g_path, CA_AUTH, AUTH_PIN, &err));
    assert_err(&err, JERR_NOT_FOUND, "slot", "no auth certificate on card " CARD_ID);
    jerr_clear(&err);
    ck_assert_int_eq(card_image_change_password(back, g_path, CA_AUTH, AUTH_PIN, "4321", &err), -1);
    assert_err(&err, JERR_NOT_FOUND, "slot", "no auth certificate");
    jerr_clear(&err);
    ck_assert_int_eq(card_image_reset_password(back, g_path, CA_AUTH, g_admin, "4321", &err), -1);
    assert_err(&err, JERR_NOT_FOUND, "slot", "no auth certificate");
    card_image_free(back);
    card_image_free(ci);
}
END_TEST

START_TEST(test_set_slot_replaces)
{
    struct jerr err = {0};
    struct card_image *ci = saved_full_card();
    wrong_try(ci, CA_SIGN, "WRONG1", 4);
    /* Renewal at the window: the slot is rewritten with a new password, the count starts over. */
    ck_assert_int_eq(
        card_image_set_slot(ci, CA_SIGN, g_sign_cert, g_sign_key, "NEWPW1", g_admin, &err), 0);
    ck_assert_int_eq(card_image_tries_left(ci, CA_SIGN), CARD_SIGN_MAX_TRIES);
    ck_assert_int_eq(card_image_save(ci, g_path, &err), 0);
    wrong_try(ci, CA_SIGN, SIGN_PW, 4);
    unlock_ok(ci, CA_SIGN, "NEWPW1");
    card_image_free(ci);
}
END_TEST

START_TEST(test_file_mode)
{
    struct jerr err = {0};
    mode_t old = umask(0);
    struct card_image *ci = saved_full_card();
    umask(old);
    struct stat st;
    ck_assert_int_eq(stat(g_path, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0600);
    /* A wrong try rewrites the file: still 0600. */
    wrong_try(ci, CA_AUTH, "0000", 2);
    ck_assert_int_eq(stat(g_path, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0600);
    /* Readable by others: refused. */
    ck_assert_int_eq(chmod(g_path, 0644), 0);
    ck_assert_ptr_null(card_image_load(g_path, &err));
    assert_err(&err, JERR_IO, "", "too open");
    card_image_free(ci);
}
END_TEST

/* ---- unlocking and counters ---- */

START_TEST(test_unlock_returns_the_key)
{
    struct card_image *ci = saved_full_card();
    struct card_image *back = load_ok();
    struct jerr err = {0};
    EVP_PKEY *key = card_image_unlock_key(back, g_path, CA_SIGN, SIGN_PW, &err);
    ck_assert_msg(key != NULL, "%s", err.msg);
    ck_assert_int_eq(EVP_PKEY_eq(key, X509_get0_pubkey(card_image_get0_cert(back, CA_SIGN))), 1);
    /* The private half itself, not just a matching public key: the whole private key's DER
     * (every CRT parameter) is the one put in. */
    unsigned char *got = NULL, *put = NULL;
    int got_len = i2d_PrivateKey(key, &got), put_len = i2d_PrivateKey(g_sign_key, &put);
    ck_assert_int_gt(got_len, 0);
    ck_assert_int_eq(got_len, put_len);
    ck_assert_mem_eq(got, put, (size_t)got_len);
    OPENSSL_clear_free(got, (size_t)got_len);
    OPENSSL_clear_free(put, (size_t)put_len);
    EVP_PKEY_free(key);
    unlock_ok(back, CA_AUTH, AUTH_PIN);
    ck_assert_int_eq(card_image_tries_left(back, CA_SIGN), CARD_SIGN_MAX_TRIES);
    card_image_free(back);
    card_image_free(ci);
}
END_TEST

START_TEST(test_sign_locks_after_five)
{
    struct card_image *ci = saved_full_card();
    wrong_tries(ci, CA_SIGN, CARD_SIGN_MAX_TRIES, 1);
    ck_assert(!card_image_is_locked(ci, CA_SIGN));
    wrong_try(ci, CA_SIGN, "WRONG5", 0);
    ck_assert(card_image_is_locked(ci, CA_SIGN));
    locked_refusal(ci, CA_SIGN, SIGN_PW);
    /* The other slot has its own counter. */
    ck_assert_int_eq(card_image_tries_left(ci, CA_AUTH), CARD_AUTH_MAX_TRIES);
    /* And the lock is on disk. */
    struct card_image *back = load_ok();
    locked_refusal(back, CA_SIGN, SIGN_PW);
    ck_assert_int_eq(card_image_tries_left(back, CA_SIGN), 0);
    card_image_free(back);
    card_image_free(ci);
}
END_TEST

START_TEST(test_auth_locks_after_three)
{
    struct card_image *ci = saved_full_card();
    wrong_try(ci, CA_AUTH, "0000", 2);
    wrong_try(ci, CA_AUTH, "9999", 1);
    wrong_try(ci, CA_AUTH, "1235", 0);
    locked_refusal(ci, CA_AUTH, AUTH_PIN);
    ck_assert_int_eq(card_image_tries_left(ci, CA_SIGN), CARD_SIGN_MAX_TRIES);
    unlock_ok(ci, CA_SIGN, SIGN_PW); /* signing still works */
    struct card_image *back = load_ok();
    locked_refusal(back, CA_AUTH, AUTH_PIN);
    card_image_free(back);
    card_image_free(ci);
}
END_TEST

START_TEST(test_right_password_resets_counter)
{
    struct card_image *ci = saved_full_card();
    wrong_tries(ci, CA_SIGN, CARD_SIGN_MAX_TRIES, 1);
    unlock_ok(ci, CA_SIGN, SIGN_PW);
    ck_assert_int_eq(card_image_tries_left(ci, CA_SIGN), CARD_SIGN_MAX_TRIES);
    /* The cleared counter is on disk too. */
    struct card_image *back = load_ok();
    ck_assert_int_eq(card_image_tries_left(back, CA_SIGN), CARD_SIGN_MAX_TRIES);
    card_image_free(back);
    wrong_tries(ci, CA_SIGN, CARD_SIGN_MAX_TRIES, 1);
    ck_assert(!card_image_is_locked(ci, CA_SIGN));
    unlock_ok(ci, CA_SIGN, SIGN_PW);
    card_image_free(ci);
}
END_TEST

START_TEST(test_counter_survives_reload)
{
    struct card_image *ci = saved_full_card();
    wrong_tries(ci, CA_SIGN, CARD_SIGN_MAX_TRIES, 3);
    card_image_free(ci); /* the process "ends" here */
    ci = load_ok();
    wrong_tries(ci, CA_SIGN, 3, 0); /* asserts the 3 left first */
    locked_refusal(ci, CA_SIGN, SIGN_PW);
    card_image_free(ci);
}
END_TEST

START_TEST(test_counter_written_before_answer)
{
    struct card_image *ci = saved_full_card();
    for (int left = CARD_AUTH_MAX_TRIES - 1; left >= 0; left--) {
        wrong_try(ci, CA_AUTH, "5555", left);
        /* What another process sees the moment the answer came back. */
        struct card_image *other = load_ok();
        ck_assert_int_eq(card_image_tries_left(other, CA_AUTH), left);
        card_image_free(other);
    }
    card_image_free(ci);

    /* The try is written before the password is even checked (a smart card's decrement-first
     * counter): when it cannot be written, no verdict is given — not even to the right
     * password, and not even to a change of password — and nothing is counted. */
    const char *nowhere = "/nonexistent-jpki-dir/card.img";
    struct jerr err = {0};
    ci = saved_full_card();
    ck_assert_ptr_null(card_image_unlock_key(ci, nowhere, CA_AUTH, "5555", &err));
    ck_assert_int_eq(err.code, JERR_IO);
    ck_assert_ptr_null(strstr(err.msg, "wrong"));
    jerr_clear(&err);
    ck_assert_ptr_null(card_image_unlock_key(ci, nowhere, CA_AUTH, AUTH_PIN, &err));
    ck_assert_int_eq(err.code, JERR_IO);
    jerr_clear(&err);
    ck_assert_int_eq(card_image_change_password(ci, nowhere, CA_SIGN, SIGN_PW, "NEWPW3", &err), -1);
    ck_assert_int_eq(err.code, JERR_IO);
    ck_assert_int_eq(card_image_tries_left(ci, CA_AUTH), CARD_AUTH_MAX_TRIES);
    ck_assert_int_eq(card_image_tries_left(ci, CA_SIGN), CARD_SIGN_MAX_TRIES);
    unlock_ok(ci, CA_SIGN, SIGN_PW); /* the old password still holds */
    card_image_free(ci);
}
END_TEST

START_TEST(test_malformed_password_not_counted)
{
    struct jerr err = {0};
    struct card_image *ci = saved_full_card();
    ck_assert_ptr_null(card_image_unlock_key(ci, g_path, CA_SIGN, "abc", &err));
    assert_err(&err, JERR_INVALID, "password", "6 to 16");
    jerr_clear(&err);
    ck_assert_ptr_null(card_image_unlock_key(ci, g_path, CA_AUTH, "12345", &err));
    assert_err(&err, JERR_INVALID, "password", "4 digits");
    ck_assert_int_eq(card_image_tries_left(ci, CA_SIGN), CARD_SIGN_MAX_TRIES);
    ck_assert_int_eq(card_image_tries_left(ci, CA_AUTH), CARD_AUTH_MAX_TRIES);
    card_image_free(ci);
}
END_TEST

/* ---- the window's reset and the holder's change ---- */

START_TEST(test_reset_password)
{
    struct jerr err = {0};
    struct card_image *ci = saved_full_card();
    wrong_tries(ci, CA_SIGN, CARD_SIGN_MAX_TRIES, 0);
    card_image_free(ci);

    ci = load_ok(); /* the holder brings the card to the window */
    ck_assert(card_image_is_locked(ci, CA_SIGN));
    ck_assert_int_eq(card_image_reset_password(ci, g_path, CA_SIGN, g_admin, "NEW999", &err), 0);
    ck_assert(!card_image_is_locked(ci, CA_SIGN));
    ck_assert_int_eq(card_image_tries_left(ci, CA_SIGN), CARD_SIGN_MAX_TRIES);
    card_image_free(ci);

    ci = load_ok(); /* on disk */
    ck_assert_int_eq(card_image_tries_left(ci, CA_SIGN), CARD_SIGN_MAX_TRIES);
    wrong_try(ci, CA_SIGN, SIGN_PW, 4); /* the old password is gone */
    unlock_ok(ci, CA_SIGN, "NEW999");
    ck_assert_int_eq(card_image_tries_left(ci, CA_SIGN), CARD_SIGN_MAX_TRIES);

    /* The PIN as well; the signing slot is untouched by it. */
    ck_assert_int_eq(card_image_reset_password(ci, g_path, CA_AUTH, g_admin, "0000", &err), 0);
    unlock_ok(ci, CA_AUTH, "0000");
    card_image_free(ci);
}
END_TEST

START_TEST(test_reset_refusals)
{
    struct jerr err = {0};
    struct card_image *ci = saved_full_card();
    wrong_tries(ci, CA_AUTH, CARD_AUTH_MAX_TRIES, 0);

    ck_assert_int_eq(card_image_reset_password(ci, g_path, CA_AUTH, g_other_admin, "4321", &err),
                     -1);
    assert_err(&err, JERR_FORBIDDEN, "admin_key", "does not open card " CARD_ID);
    jerr_clear(&err);
    ck_assert_int_eq(card_image_reset_password(ci, g_path, CA_AUTH, NULL, "4321", &err), -1);
    ck_assert_int_eq(err.code, JERR_FORBIDDEN);
    jerr_clear(&err);
    ck_assert_int_eq(card_image_reset_password(ci, g_path, CA_AUTH, g_admin, "43210", &err), -1);
    assert_err(&err, JERR_INVALID, "password", "4 digits");
    jerr_clear(&err);
    ck_assert_int_eq(card_image_reset_password(ci, g_path, CA_SIGN, g_admin, "abcdef", &err), -1);
    assert_err(&err, JERR_INVALID, "password", "6 to 16");
    /* Nothing changed, in memory or on disk. */
    ck_assert(card_image_is_locked(ci, CA_AUTH));
    struct card_image *back = load_ok();
    locked_refusal(back, CA_AUTH, AUTH_PIN);
    card_image_free(back);
    card_image_free(ci);
}
END_TEST

START_TEST(test_change_password)
{
    struct jerr err = {0};
    struct card_image *ci = saved_full_card();
    /* A wrong old password counts. */
    ck_assert_int_eq(card_image_change_password(ci, g_path, CA_SIGN, "WRONG1", "NEWPW2", &err), -1);
    assert_err(&err, JERR_AUTH, "password", "4 tries left");
    ck_assert_int_eq(card_image_tries_left(ci, CA_SIGN), 4);
    /* A new password outside the rule is refused without a try. */
    const char *bad[] = {"newpw2", "NEW12", "A1B2C3D4E5F6G7H8X", "NEW-12", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        jerr_clear(&err);
        ck_assert_int_eq(card_image_change_password(ci, g_path, CA_SIGN, SIGN_PW, bad[i], &err),
                         -1);
        assert_err(&err, JERR_INVALID, "password", "6 to 16");
    }
    ck_assert_int_eq(card_image_tries_left(ci, CA_SIGN), 4);
    jerr_clear(&err);
    ck_assert_int_eq(card_image_change_password(ci, g_path, CA_AUTH, AUTH_PIN, "12a4", &err), -1);
    assert_err(&err, JERR_INVALID, "password", "4 digits");
    /* Success: new works, old refused, counter cleared, all on disk. */
    jerr_clear(&err);
    ck_assert_int_eq(card_image_change_password(ci, g_path, CA_SIGN, SIGN_PW, "NEWPW2", &err), 0);
    ck_assert_int_eq(card_image_tries_left(ci, CA_SIGN), CARD_SIGN_MAX_TRIES);
    card_image_free(ci);
    ci = load_ok();
    ck_assert_int_eq(card_image_tries_left(ci, CA_SIGN), CARD_SIGN_MAX_TRIES);
    wrong_try(ci, CA_SIGN, SIGN_PW, 4);
    unlock_ok(ci, CA_SIGN, "NEWPW2");
    card_image_free(ci);
}
END_TEST

START_TEST(test_change_password_locked)
{
    struct jerr err = {0};
    struct card_image *ci = saved_full_card();
    wrong_tries(ci, CA_AUTH, CARD_AUTH_MAX_TRIES, 1);
    /* The last try spent through a change. */
    ck_assert_int_eq(card_image_change_password(ci, g_path, CA_AUTH, "0002", "4321", &err), -1);
    assert_err(&err, JERR_AUTH, "password", "now locked");
    jerr_clear(&err);
    ck_assert_int_eq(card_image_change_password(ci, g_path, CA_AUTH, AUTH_PIN, "4321", &err), -1);
    assert_err(&err, JERR_FORBIDDEN, "password", "slot locked");
    card_image_free(ci);
}
END_TEST

/* ---- integrity ---- */

static void assert_load_damaged(const char *what)
{
    struct jerr err = {0};
    struct card_image *ci = card_image_load(g_path, &err);
    if (ci != NULL)
        card_image_free(ci);
    ck_assert_msg(ci == NULL, "%s: loaded", what);
    ck_assert_msg(err.code == JERR_INVALID && strcmp(err.field, "card_image") == 0 &&
                      strstr(err.msg, DAMAGED) != NULL,
                  "%s: %s %s %s", what, jerr_code_name(err.code), err.field, err.msg);
}

START_TEST(test_every_byte_flip_detected)
{
    struct card_image *ci = saved_full_card();
    size_t len;
    unsigned char *orig = slurp(g_path, &len);
    ck_assert_uint_gt(len, 4000);
    unsigned char *copy = malloc(len);
    ck_assert_ptr_nonnull(copy);
    const unsigned char masks[] = {0x01, 0xFF};
    for (size_t m = 0; m < sizeof(masks); m++) {
        for (size_t i = 0; i < len; i++) {
            memcpy(copy, orig, len);
            copy[i] ^= masks[m];
            ck_assert_int_eq(testutil_write_file(g_path, copy, len), 0);
            char what[64];
            snprintf(what, sizeof(what), "byte %zu ^ 0x%02x", i, masks[m]);
            assert_load_damaged(what);
        }
    }
    /* A handful of flips through an image already in memory: the in-memory image is the truth
     * and a flip on disk does not leak into it, while the rewritten file is whole again. */
    memcpy(copy, orig, len);
    copy[len / 2] ^= 0x01;
    ck_assert_int_eq(testutil_write_file(g_path, copy, len), 0);
    unlock_ok(ci, CA_AUTH, AUTH_PIN);
    wrong_try(ci, CA_AUTH, "0000", 2);
    struct card_image *back = load_ok();
    ck_assert_int_eq(card_image_tries_left(back, CA_AUTH), 2);
    card_image_free(back);
    free(copy);
    free(orig);
    card_image_free(ci);
}
END_TEST

START_TEST(test_every_truncation_and_extension_detected)
{
    struct card_image *ci = saved_full_card();
    size_t len;
    unsigned char *orig = slurp(g_path, &len);
    for (size_t n = 0; n < len; n++) {
        ck_assert_int_eq(testutil_write_file(g_path, orig, n), 0);
        char what[64];
        snprintf(what, sizeof(what), "first %zu bytes", n);
        assert_load_damaged(what);
    }
    unsigned char *longer = malloc(len + 1);
    ck_assert_ptr_nonnull(longer);
    memcpy(longer, orig, len);
    longer[len] = 0;
    ck_assert_int_eq(testutil_write_file(g_path, longer, len + 1), 0);
    assert_load_damaged("one byte appended");
    free(longer);
    free(orig);
    card_image_free(ci);
}
END_TEST

START_TEST(test_parse_in_memory)
{
    struct jerr err = {0};
    struct card_image *ci = saved_full_card();
    size_t len;
    unsigned char *orig = slurp(g_path, &len);
    struct card_image *back = card_image_parse(orig, len, &err);
    ck_assert_msg(back != NULL, "%s", err.msg);
    ck_assert_str_eq(card_image_id(back), CARD_ID);
    card_image_free(back);

    /* Several bytes changed at once and cut at random places (a fixed seed: reproducible). */
    unsigned char *copy = malloc(len);
    ck_assert_ptr_nonnull(copy);
    unsigned int seed = 20240401;
    for (int round = 0; round < 3000; round++) {
        memcpy(copy, orig, len);
        int changes = 1 + (int)(rand_r(&seed) % 8);
        for (int c = 0; c < changes; c++)
            copy[rand_r(&seed) % len] ^= (unsigned char)(1 + rand_r(&seed) % 255);
        size_t cut = round % 3 == 0 ? rand_r(&seed) % len : len;
        if (cut == len && memcmp(copy, orig, len) == 0)
            continue; /* two changes cancelled out */
        jerr_clear(&err);
        back = card_image_parse(copy, cut, &err);
        ck_assert_msg(back == NULL, "round %d accepted", round);
        ck_assert_int_eq(err.code, JERR_INVALID);
        ck_assert_str_eq(err.field, "card_image");
        ck_assert_ptr_nonnull(strstr(err.msg, DAMAGED));
    }
    free(copy);

    size_t big = 200 * 1024;
    unsigned char *huge = calloc(1, big);
    ck_assert_ptr_nonnull(huge);
    jerr_clear(&err);
    ck_assert_ptr_null(card_image_parse(huge, big, &err));
    assert_err(&err, JERR_TOO_LARGE, "card_image", "larger than");
    free(huge);
    free(orig);
    card_image_free(ci);
}
END_TEST

START_TEST(test_bad_files)
{
    struct jerr err = {0};
    ck_assert_ptr_null(card_image_load(g_path, &err)); /* not there yet */
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);

    ck_assert_int_eq(testutil_write_file(g_path, "", 0), 0);
    assert_load_damaged("empty");
    jerr_clear(&err);
    ck_assert_ptr_null(card_image_load(g_path, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "empty"));

    unsigned char garbage[3000];
    for (size_t i = 0; i < sizeof(garbage); i++)
        garbage[i] = (unsigned char)(i * 131 + 7);
    ck_assert_int_eq(testutil_write_file(g_path, garbage, sizeof(garbage)), 0);
    assert_load_damaged("garbage");
    ck_assert_int_eq(testutil_write_file(g_path, "hello, card\n", 12), 0);
    assert_load_damaged("text");

    /* Valid DER, but another structure: a certificate. */
    unsigned char *der = NULL;
    int der_len = i2d_X509(g_sign_cert, &der);
    testutil_write_der(g_path, der, der_len);
    assert_load_damaged("a certificate");

    /* A SEQUENCE with a huge length claim. */
    const unsigned char claim[] = {0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x04, 0x00};
    ck_assert_int_eq(testutil_write_file(g_path, claim, sizeof(claim)), 0);
    assert_load_damaged("length claim");

    size_t big = 1024 * 1024;
    unsigned char *huge = calloc(1, big);
    ck_assert_ptr_nonnull(huge);
    huge[0] = 0x30;
    ck_assert_int_eq(testutil_write_file(g_path, huge, big), 0);
    jerr_clear(&err);
    ck_assert_ptr_null(card_image_load(g_path, &err));
    assert_err(&err, JERR_TOO_LARGE, "card_image", "is larger than");
    free(huge);

    jerr_clear(&err);
    ck_assert_ptr_null(card_image_load(g_dir, &err)); /* a directory */
    ck_assert_int_eq(err.code, JERR_IO);
}
END_TEST

/*
 * Deliberate edits: what an attacker who knows the format does — decode the file with generic
 * DER, change a field, re-encode, recompute the SHA-256 checksum. Such a file loads (the
 * checksum is no secret); the AEAD bindings must then refuse it when a secret opens a slot.
 */
enum edit {
    EDIT_EXPIRY,
    EDIT_CARD_ID,
    EDIT_SWAP_ROOTS,
    EDIT_SIGN_CERT_FROM_AUTH,
    EDIT_SWAP_PRIVATE_KEYS,
    EDIT_SWAP_ADMIN_WRAPS,
    EDIT_SIGN_FAILURES_ZERO,
};

/* Body elements (docs/CARD.md): 0 version, 1 cardId, 2 expiry, 3 signRoot, 4 authRoot,
 * 5 adminCheck, 6 slots. Slot elements: 0 slot, 1 certificate, 2 privateKey, 3 passwordSalt,
 * 4 passwordWrap, 5 adminWrap, 6 failures. */
static STACK_OF(ASN1_TYPE) * seq_open(const unsigned char *der, long len)
{
    const unsigned char *p = der;
    STACK_OF(ASN1_TYPE) *sk = d2i_ASN1_SEQUENCE_ANY(NULL, &p, len);
    ck_assert_ptr_nonnull(sk);
    ck_assert_ptr_eq(p, der + len);
    return sk;
}

static STACK_OF(ASN1_TYPE) * seq_of_type(ASN1_TYPE *t)
{
    ck_assert_int_eq(ASN1_TYPE_get(t), V_ASN1_SEQUENCE);
    return seq_open(t->value.sequence->data, t->value.sequence->length);
}

static void seq_store(ASN1_TYPE *t, STACK_OF(ASN1_TYPE) * sk)
{
    unsigned char *der = NULL;
    int len = i2d_ASN1_SEQUENCE_ANY(sk, &der);
    ck_assert_int_gt(len, 0);
    ck_assert_int_eq(ASN1_STRING_set(t->value.sequence, der, len), 1);
    OPENSSL_free(der);
    sk_ASN1_TYPE_pop_free(sk, ASN1_TYPE_free);
}

static void swap_elements(STACK_OF(ASN1_TYPE) * a, STACK_OF(ASN1_TYPE) * b, int i)
{
    ASN1_TYPE *x = sk_ASN1_TYPE_value(a, i), *y = sk_ASN1_TYPE_value(b, i);
    sk_ASN1_TYPE_set(a, i, y);
    sk_ASN1_TYPE_set(b, i, x);
}

static void reseal(enum edit what)
{
    size_t len;
    unsigned char *orig = slurp(g_path, &len);
    STACK_OF(ASN1_TYPE) *file = seq_open(orig, (long)len);
    ck_assert_int_eq(sk_ASN1_TYPE_num(file), 2);
    ASN1_TYPE *body_t = sk_ASN1_TYPE_value(file, 0);
    ck_assert_int_eq(ASN1_TYPE_get(body_t), V_ASN1_OCTET_STRING);
    STACK_OF(ASN1_TYPE) *body =
        seq_open(body_t->value.octet_string->data, body_t->value.octet_string->length);
    ck_assert_int_eq(sk_ASN1_TYPE_num(body), 7);
    ASN1_TYPE *slots_t = sk_ASN1_TYPE_value(body, 6);
    STACK_OF(ASN1_TYPE) *slots = seq_of_type(slots_t);
    ck_assert_int_eq(sk_ASN1_TYPE_num(slots), 2);
    STACK_OF(ASN1_TYPE) *sign = seq_of_type(sk_ASN1_TYPE_value(slots, 0));
    STACK_OF(ASN1_TYPE) *auth = seq_of_type(sk_ASN1_TYPE_value(slots, 1));

    switch (what) {
    case EDIT_EXPIRY:
        ck_assert_int_eq(
            ASN1_STRING_set(sk_ASN1_TYPE_value(body, 2)->value.utf8string, "2099-12-31", -1), 1);
        break;
    case EDIT_CARD_ID:
        ck_assert_int_eq(
            ASN1_STRING_set(sk_ASN1_TYPE_value(body, 1)->value.utf8string, "C-000124", -1), 1);
        break;
    case EDIT_SWAP_ROOTS: {
        ASN1_TYPE *x = sk_ASN1_TYPE_value(body, 3), *y = sk_ASN1_TYPE_value(body, 4);
        sk_ASN1_TYPE_set(body, 3, y);
        sk_ASN1_TYPE_set(body, 4, x);
        break;
    }
    case EDIT_SIGN_CERT_FROM_AUTH: {
        ASN1_TYPE *copy = ASN1_TYPE_new();
        ck_assert_ptr_nonnull(copy);
        ASN1_OCTET_STRING *os =
            ASN1_OCTET_STRING_dup(sk_ASN1_TYPE_value(auth, 1)->value.octet_string);
        ASN1_TYPE_set(copy, V_ASN1_OCTET_STRING, os);
        ASN1_TYPE_free(sk_ASN1_TYPE_value(sign, 1)); /* sk_set returns the new value */
        sk_ASN1_TYPE_set(sign, 1, copy);
        break;
    }
    case EDIT_SWAP_PRIVATE_KEYS:
        swap_elements(sign, auth, 2);
        break;
    case EDIT_SWAP_ADMIN_WRAPS:
        swap_elements(sign, auth, 5);
        break;
    case EDIT_SIGN_FAILURES_ZERO:
        ck_assert_int_eq(ASN1_INTEGER_set(sk_ASN1_TYPE_value(sign, 6)->value.integer, 0), 1);
        break;
    }

    seq_store(sk_ASN1_TYPE_value(slots, 0), sign);
    seq_store(sk_ASN1_TYPE_value(slots, 1), auth);
    seq_store(slots_t, slots);
    unsigned char *body_der = NULL;
    int body_len = i2d_ASN1_SEQUENCE_ANY(body, &body_der);
    ck_assert_int_gt(body_len, 0);
    ck_assert_int_eq(ASN1_OCTET_STRING_set(body_t->value.octet_string, body_der, body_len), 1);
    unsigned char digest[32];
    unsigned int digest_len = 0;
    ck_assert_int_eq(
        EVP_Digest(body_der, (size_t)body_len, digest, &digest_len, EVP_sha256(), NULL), 1);
    ck_assert_int_eq(
        ASN1_OCTET_STRING_set(sk_ASN1_TYPE_value(file, 1)->value.octet_string, digest, 32), 1);
    unsigned char *out = NULL;
    int out_len = i2d_ASN1_SEQUENCE_ANY(file, &out);
    testutil_write_der(g_path, out, out_len);
    OPENSSL_free(body_der);
    sk_ASN1_TYPE_pop_free(body, ASN1_TYPE_free);
    sk_ASN1_TYPE_pop_free(file, ASN1_TYPE_free);
    free(orig);
}

/* The right password over an edited image: refused as tampering, and not counted. */
static void assert_unlock_damaged(struct card_image *ci, enum ca_kind slot, const char *password)
{
    struct jerr err = {0};
    int before = card_image_tries_left(ci, slot);
    ck_assert_ptr_null(card_image_unlock_key(ci, g_path, slot, password, &err));
    assert_err(&err, JERR_INVALID, "card_image", DAMAGED);
    ck_assert_int_eq(card_image_tries_left(ci, slot), before);
}

START_TEST(test_resealed_edits_refused_by_secrets)
{
    struct jerr err = {0};
    const enum edit bound[] = {EDIT_EXPIRY, EDIT_CARD_ID, EDIT_SWAP_ROOTS, EDIT_SIGN_CERT_FROM_AUTH,
                               EDIT_SWAP_PRIVATE_KEYS};
    for (size_t i = 0; i < sizeof(bound) / sizeof(bound[0]); i++) {
        struct card_image *orig = saved_full_card();
        reseal(bound[i]);
        struct card_image *ci = load_ok(); /* the checksum is no secret */
        assert_unlock_damaged(ci, CA_SIGN, SIGN_PW);
        /* The window's reset refuses it as well, and writes nothing. */
        jerr_clear(&err);
        ck_assert_int_eq(card_image_reset_password(ci, g_path, CA_SIGN, g_admin, "NEW999", &err),
                         -1);
        if (bound[i] == EDIT_CARD_ID)
            assert_err(&err, JERR_FORBIDDEN, "admin_key", "does not open card C-000124");
        else
            assert_err(&err, JERR_INVALID, "card_image", DAMAGED);
        /* And so does the holder's change. */
        jerr_clear(&err);
        ck_assert_int_eq(card_image_change_password(ci, g_path, CA_SIGN, SIGN_PW, "NEW999", &err),
                         -1);
        assert_err(&err, JERR_INVALID, "card_image", DAMAGED);
        ck_assert_int_eq(card_image_tries_left(ci, CA_SIGN), CARD_SIGN_MAX_TRIES);
        card_image_free(ci);
        card_image_free(orig);
    }

    /* Admin wraps exchanged between the slots: the window sees it. */
    struct card_image *orig = saved_full_card();
    reseal(EDIT_SWAP_ADMIN_WRAPS);
    struct card_image *ci = load_ok();
    jerr_clear(&err);
    ck_assert_int_eq(card_image_reset_password(ci, g_path, CA_AUTH, g_admin, "4321", &err), -1);
    assert_err(&err, JERR_INVALID, "card_image", "administration wrap");
    unlock_ok(ci, CA_AUTH, AUTH_PIN); /* the holder's path does not use them */
    card_image_free(ci);
    card_image_free(orig);
}
END_TEST

/* The documented limit (docs/CARD.md "What the counters can and cannot do"): a counter cannot
 * be raised without a secret yet lowered only with one, so whoever can rewrite the file and
 * recompute the checksum can clear it — as they could by keeping an old copy. This test pins
 * that behaviour so the documentation stays true; it is not a guarantee. */
START_TEST(test_limitation_resealed_counter_reset)
{
    struct card_image *ci = saved_full_card();
    wrong_tries(ci, CA_SIGN, CARD_SIGN_MAX_TRIES, 0);
    reseal(EDIT_SIGN_FAILURES_ZERO);
    struct card_image *back = load_ok();
    ck_assert_int_eq(card_image_tries_left(back, CA_SIGN), CARD_SIGN_MAX_TRIES);
    unlock_ok(back, CA_SIGN, SIGN_PW);
    card_image_free(back);
    card_image_free(ci);
}
END_TEST

/* ---- secrets never at rest ---- */

static void assert_bn_absent(const unsigned char *file, size_t len, EVP_PKEY *key,
                             const char *param)
{
    BIGNUM *bn = NULL;
    ck_assert_int_eq(EVP_PKEY_get_bn_param(key, param, &bn), 1);
    int n = BN_num_bytes(bn);
    unsigned char *bytes = malloc((size_t)n);
    ck_assert_ptr_nonnull(bytes);
    ck_assert_int_eq(BN_bn2bin(bn, bytes), n);
    ck_assert_msg(memmem(file, len, bytes, (size_t)n) == NULL, "%s found in the file", param);
    /* Not even a 16-byte window of it. */
    for (int off = 0; off + 16 <= n; off += 16)
        ck_assert_msg(memmem(file, len, bytes + off, 16) == NULL, "%s[%d..] found", param, off);
    free(bytes);
    BN_clear_free(bn);
}

static void assert_no_private_key_bytes(void)
{
    size_t len;
    unsigned char *file = slurp(g_path, &len);
    EVP_PKEY *keys[] = {g_sign_key, g_auth_key};
    for (int k = 0; k < 2; k++) {
        assert_bn_absent(file, len, keys[k], OSSL_PKEY_PARAM_RSA_D);
        assert_bn_absent(file, len, keys[k], OSSL_PKEY_PARAM_RSA_FACTOR1);
        assert_bn_absent(file, len, keys[k], OSSL_PKEY_PARAM_RSA_FACTOR2);
        PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(keys[k]);
        ck_assert_ptr_nonnull(p8);
        unsigned char *der = NULL;
        int der_len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
        ck_assert_int_gt(der_len, 600);
        ck_assert(memmem(file, len, der, (size_t)der_len) == NULL);
        ck_assert(memmem(file, len, der + der_len / 2, 64) == NULL); /* nor a slice of it */
        OPENSSL_clear_free(der, (size_t)der_len);
        PKCS8_PRIV_KEY_INFO_free(p8);
    }
    /* Nor the passwords. */
    ck_assert(memmem(file, len, SIGN_PW, strlen(SIGN_PW)) == NULL);
    free(file);
}

START_TEST(test_private_key_never_in_file)
{
    struct jerr err = {0};
    struct card_image *ci = saved_full_card();
    assert_no_private_key_bytes();
    wrong_try(ci, CA_SIGN, "WRONG1", 4); /* a rewrite after a try */
    assert_no_private_key_bytes();
    ck_assert_int_eq(card_image_change_password(ci, g_path, CA_AUTH, AUTH_PIN, "8642", &err), 0);
    assert_no_private_key_bytes();
    ck_assert_int_eq(card_image_reset_password(ci, g_path, CA_SIGN, g_admin, "RESET1", &err), 0);
    assert_no_private_key_bytes();
    card_image_free(ci);
}
END_TEST

/* A test case of the suite over a fresh directory per test (CK_FORK: each test in its own
 * process). */
static TCase *dir_tcase(Suite *s, const char *name, int timeout_s)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
    tcase_set_timeout(tc, timeout_s);
    suite_add_tcase(s, tc);
    return tc;
}

int main(void)
{
    /* RSA keys are slow to make: once, before the tests fork. */
    int rc = 1;
    Suite *s = suite_create("card");
    if (keys_setup() == -1) {
        fprintf(stderr, "test_card: cannot make the test keys and certificates\n");
        goto out;
    }

    TCase *rules = dir_tcase(s, "rules", 60);
    tcase_add_test(rules, test_password_rules);
    tcase_add_test(rules, test_create_refusals);
    tcase_add_test(rules, test_set_slot_refusals);

    TCase *file = dir_tcase(s, "file", 120);
    tcase_add_test(file, test_round_trip);
    tcase_add_test(file, test_empty_slot);
    tcase_add_test(file, test_set_slot_replaces);
    tcase_add_test(file, test_file_mode);
    tcase_add_test(file, test_bad_files);
    tcase_add_test(file, test_parse_in_memory);
    tcase_add_test(file, test_private_key_never_in_file);

    TCase *tries = dir_tcase(s, "tries", 120);
    tcase_add_test(tries, test_unlock_returns_the_key);
    tcase_add_test(tries, test_sign_locks_after_five);
    tcase_add_test(tries, test_auth_locks_after_three);
    tcase_add_test(tries, test_right_password_resets_counter);
    tcase_add_test(tries, test_counter_survives_reload);
    tcase_add_test(tries, test_counter_written_before_answer);
    tcase_add_test(tries, test_malformed_password_not_counted);
    tcase_add_test(tries, test_reset_password);
    tcase_add_test(tries, test_reset_refusals);
    tcase_add_test(tries, test_change_password);
    tcase_add_test(tries, test_change_password_locked);

    TCase *integrity = dir_tcase(s, "integrity", 300);
    tcase_add_test(integrity, test_every_byte_flip_detected);
    tcase_add_test(integrity, test_every_truncation_and_extension_detected);
    tcase_add_test(integrity, test_resealed_edits_refused_by_secrets);
    tcase_add_test(integrity, test_limitation_resealed_counter_reset);

    rc = testutil_run(s);
out:
    keys_teardown();
    return rc;
}
