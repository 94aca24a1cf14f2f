/*
 * test_ctl_card: the card holder's and relying party's jpkictl commands (ctl_card.c,
 * ctl_verify.c). The pure parts — birth-date decoding, gender words, the 3-month warning at its
 * boundaries, status words, verify's verdict order and reasons, the receipt's text — and the
 * commands themselves run against real card images (keystore/card.h) built here with real
 * RSA keys and certificates of the real profiles (ca/profile.c), signed by stand-in roots:
 * show, export, fingerprints, passwd (the rule, the counter, the lock), sign (checked offline
 * with OpenSSL's CMS_verify), and verify's offline refusals (bad signature, unknown issuer,
 * expired, malformed). What needs the service (OCSP, CRL, revocation) is in
 * test/integration/test_holder.sh.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "ca/pki.h"
#include "ca/profile.h"
#include "base/jclock.h"
#include "keystore/card.h"
#include "keystore/keygen.h"
#include "ctl/ctl.h"
#include "ctl/ctl_args.h"
#include "ctl/ctl_card.h"
#include "ctl/ctl_card_print.h"
#include "ctl/ctl_cmds.h"
#include "ctl/ctl_verify.h"
#include "testinst.h"

#define SIGN_PW "ABC123"
#define AUTH_PIN "2580"
#define NAME_JA "山田 花子"
#define ADDRESS_JA "東京都千代田区霞が関2-1-2"
#define DAY 86400L

/* ---- fixture: keys and roots, made once before the tests fork ---- */

static EVP_PKEY *g_root_key[CA_KIND_COUNT], *g_leaf_key[CA_KIND_COUNT];
static X509 *g_root[CA_KIND_COUNT];
static unsigned char g_admin[CARD_ADMIN_KEY_BYTES];
static time_t g_nb, g_na; /* validity of the default certificates: now-1 day .. now+5 years */

static struct config_ca ca_conf(enum ca_kind ca)
{
    struct config_ca cc;
    memset(&cc, 0, sizeof(cc));
    cc.subject = ca == CA_SIGN ? "C=JP, O=JPKI, OU=JPKI for digital signature, OU=Test Agency"
                               : "C=JP, O=JPKI, OU=JPKI for user authentication, OU=Test Agency";
    cc.key_algorithm = "rsa";
    cc.key_bits = 2048;
    cc.root_validity_years = 10;
    cc.policy_oid = ca == CA_SIGN ? "1.2.392.200149.8.5.1.1.20" : "1.2.392.200149.8.5.1.3.30";
    cc.crl_url =
        ca == CA_SIGN ? "http://127.0.0.1:1/crl/sign.crl" : "http://127.0.0.1:1/crl/auth.crl";
    cc.ocsp_url = "http://127.0.0.1:1/ocsp";
    cc.crl_partitions = 1;
    cc.ocsp_signer_validity_days = 365;
    return cc;
}

static void keys_setup(void)
{
    struct jerr err = {0};
    time_t now = time(NULL);
    for (int ca = CA_SIGN; ca <= CA_AUTH; ca++) {
        struct config_ca cc = ca_conf((enum ca_kind)ca);
        g_root_key[ca] = keygen_rsa(2048, &err);
        g_leaf_key[ca] = keygen_rsa(2048, &err);
        if (g_root_key[ca] == NULL || g_leaf_key[ca] == NULL)
            abort();
        g_root[ca] = profile_root(&cc, g_root_key[ca], now - 2 * DAY, &err);
        if (g_root[ca] == NULL || X509_sign(g_root[ca], g_root_key[ca], EVP_sha256()) <= 0)
            abort();
    }
    for (size_t i = 0; i < sizeof(g_admin); i++)
        g_admin[i] = (unsigned char)(0x5A ^ i);
    g_nb = now - DAY;
    g_na = now + 5 * 365 * DAY;
}

static void keys_teardown(void)
{
    for (int ca = CA_SIGN; ca <= CA_AUTH; ca++) {
        X509_free(g_root[ca]);
        EVP_PKEY_free(g_root_key[ca]);
        EVP_PKEY_free(g_leaf_key[ca]);
    }
}

/* A subscriber certificate of the real profile for the slot's key, valid nb..na. */
static X509 *make_leaf(enum ca_kind ca, time_t nb, time_t na, const char *serial_hex)
{
    struct config_ca cc = ca_conf(ca);
    struct person p = testutil_person("p1", NAME_JA, ADDRESS_JA, "1990-01-02", GENDER_FEMALE);
    struct jerr err = {0};
    struct profile_subscriber ps = {
        .ca = ca,
        .serial_hex = serial_hex,
        .cn = serial_hex,
        .person = ca == CA_SIGN ? &p : NULL,
        .not_before = nb,
        .not_after = na,
        .crl_url = cc.crl_url,
        .ocsp_url = cc.ocsp_url,
        .policy_oid = cc.policy_oid,
    };
    X509 *x = profile_subscriber(&ps, g_root[ca], g_leaf_key[ca], &err);
    ck_assert_msg(x != NULL, "%s", err.msg);
    ck_assert_int_gt(X509_sign(x, g_root_key[ca], EVP_sha256()), 0);
    return x;
}

#define SIGN_SERIAL "11223344556677889900AABBCCDDEEFF"
#define AUTH_SERIAL "7F00000000000000000000000000AA01"

static char *g_dir;
static char g_image[4096], g_file[4096];

static void dir_setup(void)
{
    g_dir = testutil_mkdtemp();
    ck_assert_ptr_nonnull(g_dir);
    snprintf(g_image, sizeof(g_image), "%s/c1.card", g_dir);
    snprintf(g_file, sizeof(g_file), "%s/application.txt", g_dir);
    ck_assert_int_eq(testutil_write_file(g_file, "application form\n", 17), 0);
    jclock_set(0);
    unsetenv(CTL_CARD_ENV_PASSWORD);
    unsetenv(CTL_CARD_ENV_NEW_PASSWORD);
    unsetenv("JPKI_URL");
}

static void dir_teardown(void)
{
    jclock_set(0);
    testutil_rmtree(g_dir);
    free(g_dir);
    g_dir = NULL;
}

/* Writes the image at g_image: the signing slot valid sign_nb..sign_na (0: the defaults) and,
 * when `with_auth`, the authentication slot. */
static void write_image(time_t sign_nb, time_t sign_na, bool with_auth)
{
    struct jerr err = {0};
    struct card_image *ci =
        card_image_create("c1", "2035-06-30", g_root[CA_SIGN], g_root[CA_AUTH], g_admin, &err);
    ck_assert_msg(ci != NULL, "%s", err.msg);
    X509 *sign = make_leaf(CA_SIGN, sign_nb != 0 ? sign_nb : g_nb, sign_na != 0 ? sign_na : g_na,
                           SIGN_SERIAL);
    ck_assert_msg(
        card_image_set_slot(ci, CA_SIGN, sign, g_leaf_key[CA_SIGN], SIGN_PW, g_admin, &err) == 0,
        "%s", err.msg);
    if (with_auth) {
        X509 *auth = make_leaf(CA_AUTH, g_nb, g_na, AUTH_SERIAL);
        ck_assert_int_eq(
            card_image_set_slot(ci, CA_AUTH, auth, g_leaf_key[CA_AUTH], AUTH_PIN, g_admin, &err),
            0);
        X509_free(auth);
    }
    ck_assert_msg(card_image_save(ci, g_image, &err) == 0, "%s", err.msg);
    X509_free(sign);
    card_image_free(ci);
}

static struct card_image *load_image(void)
{
    struct jerr err = {0};
    struct card_image *ci = card_image_load(g_image, &err);
    ck_assert_msg(ci != NULL, "%s", err.msg);
    return ci;
}

static int tries_left(enum ca_kind slot)
{
    struct card_image *ci = load_image();
    int n = card_image_tries_left(ci, slot);
    card_image_free(ci);
    return n;
}

/* ---- running a command as jpkictl's main does ---- */

static char *g_out, *g_err;

static void free_outputs(void)
{
    free(g_out);
    free(g_err);
    g_out = g_err = NULL;
}

/* Runs the NULL-terminated words after "jpkictl"; the outputs land in g_out / g_err. */
static int run(const char *first, ...)
{
    char *argv[32];
    int argc = 0, next = 1, rc;
    struct ctl_args args;
    struct jerr err = {0};
    struct ctl ctl;
    size_t out_len = 0, err_len = 0;
    va_list ap;

    free_outputs();
    argv[argc++] = "jpkictl";
    argv[argc++] = (char *)first;
    va_start(ap, first);
    for (char *w = va_arg(ap, char *); w != NULL && argc < 31; w = va_arg(ap, char *))
        argv[argc++] = w;
    va_end(ap);
    argv[argc] = NULL;
    ck_assert_int_eq(ctl_args_parse_globals(argc, argv, 1, &args, &next, &err), 0);
    const struct ctl_cmd *cmd =
        ctl_args_find(ctl_cmds, ctl_cmds_count, argc, argv, next, &next, &err);
    ck_assert_msg(cmd != NULL, "%s", err.msg);
    ck_assert_msg(ctl_args_parse(cmd, argc, argv, next, &args, &err) == 0, "%s", err.msg);
    FILE *out = open_memstream(&g_out, &out_len);
    FILE *errf = open_memstream(&g_err, &err_len);
    ck_assert_ptr_nonnull(out);
    ck_assert_ptr_nonnull(errf);
    ctl_init(&ctl, &args, out, errf);
    rc = cmd->run(&ctl, &args);
    ctl_cleanup(&ctl);
    fclose(out);
    fclose(errf);
    return rc;
}

#define RUN(...) run(__VA_ARGS__, (char *)NULL)

static void assert_has(const char *hay, const char *needle)
{
    ck_assert_msg(strstr(hay, needle) != NULL, "\"%s\" not in:\n%s", needle, hay);
}

static void assert_lacks(const char *hay, const char *needle)
{
    ck_assert_msg(strstr(hay, needle) == NULL, "\"%s\" unexpectedly in:\n%s", needle, hay);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char *buf = malloc(1 << 20);
    ck_assert_ptr_nonnull(buf);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static void write_text(const char *path, const char *text)
{
    ck_assert_int_eq(testutil_write_file(path, text, strlen(text)), 0);
}

/* ---- pure parts ---- */

START_TEST(test_birth_date)
{
    char out[11];
    /* docs/PROFILES.md: era digit + YYYYMMDD, the era by the day it began */
    ck_assert_int_eq(ctl_card_birth_date("419900102", out), 0);
    ck_assert_str_eq(out, "1990-01-02");
    ck_assert_int_eq(ctl_card_birth_date("118680125", out), 0); /* Meiji's first day */
    ck_assert_str_eq(out, "1868-01-25");
    ck_assert_int_eq(ctl_card_birth_date("319890107", out), 0); /* Showa's last day */
    ck_assert_str_eq(out, "1989-01-07");
    ck_assert_int_eq(ctl_card_birth_date("419890108", out), 0); /* Heisei's first */
    ck_assert_str_eq(out, "1989-01-08");
    ck_assert_int_eq(ctl_card_birth_date("420190430", out), 0);
    ck_assert_int_eq(ctl_card_birth_date("520190501", out), 0);
    ck_assert_str_eq(out, "2019-05-01");
    ck_assert_int_eq(ctl_card_birth_date("220000229", out), -1); /* Taisho in 2000: wrong era */
    strcpy(out, "untouched");
    /* refusals: wrong era for the day, not a day, wrong length, not digits */
    ck_assert_int_eq(ctl_card_birth_date("419890107", out), -1);
    ck_assert_int_eq(ctl_card_birth_date("319890108", out), -1);
    ck_assert_int_eq(ctl_card_birth_date("420190501", out), -1);
    ck_assert_int_eq(ctl_card_birth_date("519900102", out), -1);
    ck_assert_int_eq(ctl_card_birth_date("118680124", out), -1); /* before Meiji */
    ck_assert_int_eq(ctl_card_birth_date("419900230", out), -1); /* 30 February */
    ck_assert_int_eq(ctl_card_birth_date("419901301", out), -1);
    ck_assert_int_eq(ctl_card_birth_date("41990010", out), -1);
    ck_assert_int_eq(ctl_card_birth_date("4199001020", out), -1);
    ck_assert_int_eq(ctl_card_birth_date("4199001x2", out), -1);
    ck_assert_int_eq(ctl_card_birth_date("4-1990-01", out), -1);
    ck_assert_int_eq(ctl_card_birth_date("", out), -1);
    ck_assert_int_eq(ctl_card_birth_date(NULL, out), -1);
    ck_assert_str_eq(out, "untouched");
}
END_TEST

START_TEST(test_gender_words)
{
    ck_assert_str_eq(ctl_card_gender_words("1"), "male");
    ck_assert_str_eq(ctl_card_gender_words("2"), "female");
    ck_assert_str_eq(ctl_card_gender_words("3"), "not stated");
    ck_assert_ptr_null(ctl_card_gender_words("0"));
    ck_assert_ptr_null(ctl_card_gender_words("4"));
    ck_assert_ptr_null(ctl_card_gender_words("12"));
    ck_assert_ptr_null(ctl_card_gender_words("male"));
    ck_assert_ptr_null(ctl_card_gender_words(""));
    ck_assert_ptr_null(ctl_card_gender_words(NULL));
}
END_TEST

START_TEST(test_validity_boundaries)
{
    time_t nb = jclock_utc(2026, 1, 1, 0, 0, 0);
    /* 31 January + 3 months is 30 April (the day clamped) */
    time_t now = jclock_utc(2026, 1, 31, 9, 30, 0);
    time_t edge = jclock_utc(2026, 4, 30, 9, 30, 0);
    ck_assert_int_eq(ctl_card_validity_at(nb, edge + 1, now), CTL_CARD_VALID);
    ck_assert_int_eq(ctl_card_validity_at(nb, edge, now), CTL_CARD_VALID); /* exactly 3 months */
    ck_assert_int_eq(ctl_card_validity_at(nb, edge - 1, now), CTL_CARD_EXPIRING);
    ck_assert_int_eq(ctl_card_validity_at(nb, now + 1, now), CTL_CARD_EXPIRING);
    ck_assert_int_eq(ctl_card_validity_at(nb, now, now), CTL_CARD_EXPIRING); /* notAfter counts */
    ck_assert_int_eq(ctl_card_validity_at(nb, now - 1, now), CTL_CARD_EXPIRED);
    ck_assert_int_eq(ctl_card_validity_at(now, now + 400 * DAY, now), CTL_CARD_VALID);
    ck_assert_int_eq(ctl_card_validity_at(now + 1, now + 400 * DAY, now), CTL_CARD_NOT_YET_VALID);
    /* across a year, and into a leap February */
    now = jclock_utc(2025, 11, 15, 12, 0, 0);
    edge = jclock_utc(2026, 2, 15, 12, 0, 0);
    ck_assert_int_eq(ctl_card_validity_at(nb - 400 * DAY, edge, now), CTL_CARD_VALID);
    ck_assert_int_eq(ctl_card_validity_at(nb - 400 * DAY, edge - 1, now), CTL_CARD_EXPIRING);
    now = jclock_utc(2027, 11, 30, 0, 0, 0);
    edge = jclock_utc(2028, 2, 29, 0, 0, 0);
    ck_assert_int_eq(ctl_card_validity_at(nb, edge, now), CTL_CARD_VALID);
    ck_assert_int_eq(ctl_card_validity_at(nb, edge - 1, now), CTL_CARD_EXPIRING);
    now = jclock_utc(2026, 10, 31, 0, 0, 0);
    edge = jclock_utc(2027, 1, 31, 0, 0, 0);
    ck_assert_int_eq(ctl_card_validity_at(nb, edge, now), CTL_CARD_VALID);
    ck_assert_int_eq(ctl_card_validity_at(nb, edge - 1, now), CTL_CARD_EXPIRING);
    /* into a common February: 30 November + 3 months is 28 February */
    now = jclock_utc(2026, 11, 30, 8, 0, 0);
    edge = jclock_utc(2027, 2, 28, 8, 0, 0);
    ck_assert_int_eq(ctl_card_validity_at(nb, edge, now), CTL_CARD_VALID);
    ck_assert_int_eq(ctl_card_validity_at(nb, edge - 1, now), CTL_CARD_EXPIRING);
}
END_TEST

START_TEST(test_days_left)
{
    time_t now = jclock_utc(2026, 3, 1, 0, 0, 0);
    ck_assert_int_eq(ctl_card_days_left(now, now), 0);
    ck_assert_int_eq(ctl_card_days_left(now + DAY - 1, now), 0);
    ck_assert_int_eq(ctl_card_days_left(now + DAY, now), 1);
    ck_assert_int_eq(ctl_card_days_left(now + 90 * DAY + 5, now), 90);
    ck_assert_int_eq(ctl_card_days_left(now - 1, now), -1);
    ck_assert_int_eq(ctl_card_days_left(now - DAY, now), -1);
    ck_assert_int_eq(ctl_card_days_left(now - DAY - 1, now), -2);
}
END_TEST

static struct ctl_rp_status status_of(int status, int reason, const char *at)
{
    struct ctl_rp_status st;
    memset(&st, 0, sizeof(st));
    st.status = status;
    st.reason = reason;
    snprintf(st.revoked_at, sizeof(st.revoked_at), "%s", at);
    snprintf(st.source, sizeof(st.source), "OCSP");
    snprintf(st.this_update, sizeof(st.this_update), "2026-03-01T00:00:00Z");
    return st;
}

START_TEST(test_status_words)
{
    char w[128];
    struct ctl_rp_status st = status_of(V_OCSP_CERTSTATUS_GOOD, -1, "-");
    ctl_card_status_words(&st, w, sizeof(w));
    ck_assert_str_eq(w, "good");
    st = status_of(V_OCSP_CERTSTATUS_REVOKED, OCSP_REVOKED_STATUS_CERTIFICATEHOLD,
                   "2026-03-01T10:00:00Z");
    ctl_card_status_words(&st, w, sizeof(w));
    ck_assert_str_eq(w, "on hold since 2026-03-01T10:00:00Z");
    st = status_of(V_OCSP_CERTSTATUS_REVOKED, 3, "2026-03-02T10:00:00Z");
    ctl_card_status_words(&st, w, sizeof(w));
    ck_assert_str_eq(w, "revoked since 2026-03-02T10:00:00Z (affiliationChanged)");
    st = status_of(V_OCSP_CERTSTATUS_REVOKED, -1, "2026-03-02T10:00:00Z");
    ctl_card_status_words(&st, w, sizeof(w));
    ck_assert_str_eq(w, "revoked since 2026-03-02T10:00:00Z (unspecified)");
    st = status_of(V_OCSP_CERTSTATUS_UNKNOWN, -1, "-");
    ctl_card_status_words(&st, w, sizeof(w));
    ck_assert_str_eq(w, "unknown to the responder");
}
END_TEST

static struct ctl_verify_findings all_good(void)
{
    struct ctl_verify_findings f;
    memset(&f, 0, sizeof(f));
    f.well_formed = f.signature_ok = f.chain_ok = f.status_known = true;
    f.validity = CTL_CARD_VALID;
    f.status = status_of(V_OCSP_CERTSTATUS_GOOD, -1, "-");
    return f;
}

START_TEST(test_verdict_order)
{
    struct ctl_verify_findings f = all_good();
    ck_assert_int_eq(ctl_verify_judge(&f), CTL_VERIFY_VALID);
    f.validity = CTL_CARD_EXPIRING; /* less than 3 months left is still valid */
    ck_assert_int_eq(ctl_verify_judge(&f), CTL_VERIFY_VALID);

    /* each status, everything before it holding */
    f = all_good();
    f.status = status_of(V_OCSP_CERTSTATUS_REVOKED, 3, "T");
    ck_assert_int_eq(ctl_verify_judge(&f), CTL_VERIFY_REVOKED);
    f.status = status_of(V_OCSP_CERTSTATUS_REVOKED, OCSP_REVOKED_STATUS_CERTIFICATEHOLD, "T");
    ck_assert_int_eq(ctl_verify_judge(&f), CTL_VERIFY_ON_HOLD);
    f.status = status_of(V_OCSP_CERTSTATUS_UNKNOWN, -1, "-");
    ck_assert_int_eq(ctl_verify_judge(&f), CTL_VERIFY_UNKNOWN_CERT);
    f.status_known = false; /* whatever the (stale) struct says */
    f.status = status_of(V_OCSP_CERTSTATUS_GOOD, -1, "-");
    ck_assert_int_eq(ctl_verify_judge(&f), CTL_VERIFY_NO_STATUS);

    /* the validity period comes before the status, even a revoked one */
    f = all_good();
    f.status = status_of(V_OCSP_CERTSTATUS_REVOKED, 1, "T");
    f.validity = CTL_CARD_EXPIRED;
    ck_assert_int_eq(ctl_verify_judge(&f), CTL_VERIFY_EXPIRED);
    f.validity = CTL_CARD_NOT_YET_VALID;
    ck_assert_int_eq(ctl_verify_judge(&f), CTL_VERIFY_NOT_YET_VALID);
    /* the chain comes before the validity */
    f.chain_ok = false;
    ck_assert_int_eq(ctl_verify_judge(&f), CTL_VERIFY_UNKNOWN_ISSUER);
    /* the signature before the chain */
    f.signature_ok = false;
    ck_assert_int_eq(ctl_verify_judge(&f), CTL_VERIFY_BAD_SIGNATURE);
    /* the shape before everything */
    f.well_formed = false;
    ck_assert_int_eq(ctl_verify_judge(&f), CTL_VERIFY_MALFORMED);

    /* one failing check alone gives its own verdict */
    f = all_good();
    f.signature_ok = false;
    ck_assert_int_eq(ctl_verify_judge(&f), CTL_VERIFY_BAD_SIGNATURE);
    f = all_good();
    f.chain_ok = false;
    ck_assert_int_eq(ctl_verify_judge(&f), CTL_VERIFY_UNKNOWN_ISSUER);
}
END_TEST

/* The reason `verify` gives for findings `f` (its certificate's notAfter `until`) is `want`. */
static void reason_is(const struct ctl_verify_findings *f, const char *until, const char *want)
{
    char r[512];
    ctl_verify_reason(f, ctl_verify_judge(f), until, r, sizeof(r));
    ck_assert_str_eq(r, want);
}

START_TEST(test_verdict_reasons)
{
    struct ctl_verify_findings f = all_good();
    f.status = status_of(V_OCSP_CERTSTATUS_REVOKED, 3, "2026-03-02T10:00:00Z");
    reason_is(&f, "2031-01-01T00:00:00Z",
              "revoked: the signer's certificate was revoked on 2026-03-02T10:00:00Z "
              "(affiliationChanged) [OCSP]");
    f.status = status_of(V_OCSP_CERTSTATUS_REVOKED, OCSP_REVOKED_STATUS_CERTIFICATEHOLD,
                         "2026-03-01T10:00:00Z");
    snprintf(f.status.source, sizeof(f.status.source), "CRL");
    reason_is(&f, "-",
              "on hold: the signer's certificate is on hold since 2026-03-01T10:00:00Z "
              "[CRL]");
    f = all_good();
    f.validity = CTL_CARD_EXPIRED;
    reason_is(&f, "2026-01-01T00:00:00Z",
              "expired: the signer's certificate expired on 2026-01-01T00:00:00Z");
    f = all_good();
    f.signature_ok = false;
    reason_is(&f, "-",
              "bad signature: the signature does not match the content (the file was "
              "altered, or it is not the file that was signed)");
    f = all_good();
    f.chain_ok = false;
    reason_is(&f, "-",
              "unknown issuer: the signer's certificate does not chain to the signing "
              "CA root");
    f = all_good();
    f.status = status_of(V_OCSP_CERTSTATUS_UNKNOWN, -1, "-");
    reason_is(&f, "-",
              "unknown certificate: the responder does not know the signer's certificate "
              "[OCSP]");
    ck_assert_str_eq(ctl_verify_verdict_name(CTL_VERIFY_VALID), "valid");
    ck_assert_str_eq(ctl_verify_verdict_name(CTL_VERIFY_NO_STATUS), "no status");
    ck_assert_str_eq(ctl_verify_verdict_name(CTL_VERIFY_ON_HOLD), "on hold");
}
END_TEST

START_TEST(test_receipt_format)
{
    char *text = NULL;
    size_t len = 0;
    /* the members in holder.c's order, plus one this client does not know */
    json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "receipt_id", "r1", "serial",
                          "0A1B", "status", "revoked", "reason", "keyCompromise", "revoked_at",
                          "2026-03-01T10:00:00Z", "request_id", "00ff", "note",
                          "a\x01"
                          "b");
    ck_assert_ptr_nonnull(r);
    FILE *f = open_memstream(&text, &len);
    ctl_card_print_receipt(f, r);
    fclose(f);
    ck_assert_str_eq(text, "revocation receipt\n"
                           "  receipt:      r1\n"
                           "  request:      00ff\n"
                           "  serial:       0A1B\n"
                           "  status:       revoked\n"
                           "  reason:       keyCompromise\n"
                           "  revoked at:   2026-03-01T10:00:00Z\n"
                           "  note:         \"a\\\\u0001b\"\n");
    free(text);
    json_decref(r);
}
END_TEST

START_TEST(test_arg_is_image)
{
    char cwd[4096];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    ck_assert_int_eq(chdir(g_dir), 0);
    ck_assert(!ctl_card_arg_is_image("c1"));
    ck_assert(ctl_card_arg_is_image("./c1")); /* a '/' is never in a card id */
    ck_assert(ctl_card_arg_is_image("/nonexistent/c1.card"));
    /* a missing "c1.card" is a missing image file, not card id "c1.card" */
    ck_assert(ctl_card_arg_is_image("c1.card"));
    ck_assert(!ctl_card_arg_is_image("c1.cardx"));
    ck_assert(!ctl_card_arg_is_image(".card"));
    write_text("c1.card", "x");
    ck_assert(ctl_card_arg_is_image("c1.card"));
    ck_assert_int_eq(mkdir("c2", 0700), 0);
    ck_assert(!ctl_card_arg_is_image("c2")); /* a directory is not an image */
    ck_assert_int_eq(chdir(cwd), 0);
}
END_TEST

/* ---- show, fingerprints, export ---- */

static void fingerprint(X509 *cert, char fp[96])
{
    struct jerr err = {0};
    ck_assert_int_eq(pki_fingerprint(cert, fp, &err), 0);
}

START_TEST(test_show_both_slots)
{
    char fp[96], line[256];
    write_image(0, 0, true);
    jclock_set(g_na - 1825 * DAY);
    ck_assert_int_eq(RUN("card", "show", g_image), CTL_EXIT_OK);
    ck_assert_str_eq(g_err, "");
    assert_has(g_out, "card c1  expiry 2035-06-30\n");
    assert_has(g_out, "signing certificate (sign slot)\n"
                      "  subject:      C=JP, CN=" SIGN_SERIAL "\n"
                      "  name:         " NAME_JA "\n"
                      "  address:      " ADDRESS_JA "\n"
                      "  birth date:   1990-01-02\n"
                      "  gender:       female\n");
    assert_has(g_out, "  serial:       " SIGN_SERIAL "\n"
                      "  issuer:       C=JP, O=JPKI, OU=JPKI for digital signature, OU=Test "
                      "Agency\n");
    assert_has(g_out, "(1825 days left)\n");
    assert_has(g_out, "  password:     5 of 5 tries left\n");
    assert_has(g_out, "authentication certificate (auth slot)\n"
                      "  subject:      C=JP, CN=" AUTH_SERIAL "\n"
                      "  valid from:");
    assert_has(g_out, "  password:     3 of 3 tries left\n");
    struct card_image *ci = load_image();
    fingerprint(card_image_get0_cert(ci, CA_SIGN), fp);
    snprintf(line, sizeof(line), "  SHA-256:      %s\n", fp);
    assert_has(g_out, line);
    fingerprint(g_root[CA_SIGN], fp);
    snprintf(line, sizeof(line), "  sign  SHA-256 %s\n", fp);
    assert_has(g_out, line);
    fingerprint(g_root[CA_AUTH], fp);
    snprintf(line, sizeof(line), "  auth  SHA-256 %s\n", fp);
    assert_has(g_out, line);
    card_image_free(ci);
    /* the authentication certificate carries no facts, and nothing warns */
    const char *auth = strstr(g_out, "authentication certificate");
    assert_lacks(auth, "name:");
    assert_lacks(g_out, "WARNING");
    assert_lacks(g_out, "EXPIRED");

    /* `card fingerprints` prints the same roots without asking the service */
    ck_assert_int_eq(RUN("card", "fingerprints", g_image), CTL_EXIT_OK);
    assert_has(g_out, line);
    assert_has(g_out, "roots in the card");
}
END_TEST

START_TEST(test_show_warning_boundaries)
{
    /* notAfter 2031-06-30T14:59:59Z: the warning starts when less than 3 months remain */
    time_t na = jclock_utc(2031, 6, 30, 14, 59, 59);
    write_image(g_nb, na, true);
    jclock_set(jclock_utc(2031, 3, 30, 14, 59, 59)); /* exactly 3 months left */
    ck_assert_int_eq(RUN("card", "show", g_image), CTL_EXIT_OK);
    assert_lacks(g_out, "WARNING");
    assert_has(g_out, "  valid until:  2031-06-30T14:59:59Z (92 days left)\n");
    jclock_set(jclock_utc(2031, 3, 30, 15, 0, 0)); /* one second less */
    ck_assert_int_eq(RUN("card", "show", g_image), CTL_EXIT_OK);
    assert_has(g_out, "  valid until:  2031-06-30T14:59:59Z (91 days left)\n"
                      "  WARNING: less than 3 months left (91 days): renew it at the municipal "
                      "window\n");
    /* only the signing certificate is that close */
    ck_assert_ptr_null(strstr(strstr(g_out, "WARNING") + 1, "WARNING"));
    jclock_set(na); /* the last second of validity */
    ck_assert_int_eq(RUN("card", "show", g_image), CTL_EXIT_OK);
    assert_has(g_out, "(0 days left)\n  WARNING: less than 3 months left (0 days)");
    jclock_set(na + 1);
    ck_assert_int_eq(RUN("card", "show", g_image), CTL_EXIT_OK);
    assert_has(g_out, "  valid until:  2031-06-30T14:59:59Z (expired)\n"
                      "  EXPIRED: this certificate can no longer be used; a new one is issued at "
                      "the municipal window\n");
    assert_lacks(g_out, "WARNING");
}
END_TEST

START_TEST(test_show_empty_slot_and_locked)
{
    struct jerr err = {0};
    write_image(0, 0, false);
    struct card_image *ci = load_image();
    for (int i = 0; i < CARD_SIGN_MAX_TRIES; i++)
        ck_assert_ptr_null(card_image_unlock_key(ci, g_image, CA_SIGN, "WRONG1", &err));
    card_image_free(ci);
    ck_assert_int_eq(RUN("card", "show", g_image), CTL_EXIT_OK);
    assert_has(g_out, "  password:     LOCKED after 5 wrong tries: have it reset at the municipal "
                      "window\n");
    assert_has(g_out, "authentication certificate (auth slot)\n"
                      "  (none: the slot is empty)\n"
                      "roots in the card");
}
END_TEST

START_TEST(test_show_refusals)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/missing.card", g_dir);
    ck_assert_int_eq(RUN("card", "show", path), CTL_EXIT_FAILED);
    assert_has(g_err, "jpkictl: card show: ");
    assert_has(g_err, "missing.card: ");
    ck_assert_str_eq(g_out, "");
    /* one byte changed: damaged */
    write_image(0, 0, true);
    size_t len;
    unsigned char *data = slurp(g_image, &len);
    data[len / 2] ^= 0x01;
    ck_assert_int_eq(testutil_write_file(g_image, data, len), 0);
    free(data);
    ck_assert_int_eq(RUN("card", "show", g_image), CTL_EXIT_FAILED);
    assert_has(g_err, "card image is damaged or has been tampered with");
    ck_assert_str_eq(g_out, "");
    /* readable by others: refused as the keystore refuses it */
    write_image(0, 0, true);
    ck_assert_int_eq(chmod(g_image, 0644), 0);
    ck_assert_int_eq(RUN("card", "show", g_image), CTL_EXIT_FAILED);
    ck_assert_str_eq(g_out, "");
}
END_TEST

START_TEST(test_export)
{
    char pem_path[4096], der_path[4096];
    write_image(0, 0, true);
    struct card_image *ci = load_image();
    snprintf(pem_path, sizeof(pem_path), "%s/sign.pem", g_dir);
    snprintf(der_path, sizeof(der_path), "%s/auth.der", g_dir);

    ck_assert_int_eq(RUN("card", "export", g_image, "--slot", "sign", "-o", pem_path), 0);
    assert_has(g_err, "the signing certificate (PEM) written to");
    FILE *f = fopen(pem_path, "r");
    ck_assert_ptr_nonnull(f);
    X509 *back = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(back);
    ck_assert_int_eq(X509_cmp(back, card_image_get0_cert(ci, CA_SIGN)), 0);
    X509_free(back);

    ck_assert_int_eq(RUN("card", "export", g_image, "--slot", "auth", "--der", "-o", der_path), 0);
    size_t len;
    unsigned char *der = slurp(der_path, &len);
    const unsigned char *p = der;
    back = d2i_X509(NULL, &p, (long)len);
    ck_assert_ptr_nonnull(back);
    ck_assert_ptr_eq(p, der + len);
    ck_assert_int_eq(X509_cmp(back, card_image_get0_cert(ci, CA_AUTH)), 0);
    X509_free(back);
    free(der);

    /* PEM to the output by default */
    ck_assert_int_eq(RUN("card", "export", g_image, "--slot", "auth"), 0);
    ck_assert_int_eq(strncmp(g_out, "-----BEGIN CERTIFICATE-----\n", 28), 0);
    card_image_free(ci);
}
END_TEST

START_TEST(test_export_refusals)
{
    write_image(0, 0, false);
    ck_assert_int_eq(RUN("card", "export", g_image, "--slot", "auth"), CTL_EXIT_FAILED);
    ck_assert_str_eq(g_err, "jpkictl: card export: the card holds no authentication "
                            "certificate\n");
    ck_assert_str_eq(g_out, "");
    ck_assert_int_eq(RUN("card", "export", g_image, "--slot", "both"), CTL_EXIT_USAGE);
    assert_has(g_err, "--slot must be sign or auth");
    ck_assert_int_eq(RUN("card", "export", g_image, "--slot", "sign", "--der", "--pem"),
                     CTL_EXIT_USAGE);
    assert_has(g_err, "give --der or --pem, not both");
}
END_TEST

/* ---- passwd ---- */

START_TEST(test_passwd_env)
{
    struct jerr err = {0};
    write_image(0, 0, true);
    setenv(CTL_CARD_ENV_PASSWORD, SIGN_PW, 1);
    setenv(CTL_CARD_ENV_NEW_PASSWORD, "NEWPASS42", 1);
    ck_assert_int_eq(RUN("card", "passwd", g_image, "--slot", "sign"), CTL_EXIT_OK);
    ck_assert_str_eq(g_out, "the signing password of card c1 was changed\n");
    ck_assert_str_eq(g_err, "");
    struct card_image *ci = load_image();
    EVP_PKEY *key = card_image_unlock_key(ci, g_image, CA_SIGN, SIGN_PW, &err);
    ck_assert_ptr_null(key); /* the old one no longer opens it */
    ck_assert_int_eq(err.code, JERR_AUTH);
    jerr_clear(&err);
    key = card_image_unlock_key(ci, g_image, CA_SIGN, "NEWPASS42", &err);
    ck_assert_msg(key != NULL, "%s", err.msg);
    EVP_PKEY_free(key);
    card_image_free(ci);
}
END_TEST

START_TEST(test_passwd_files_auth)
{
    char old_file[4096], new_file[4096];
    struct jerr err = {0};
    write_image(0, 0, true);
    snprintf(old_file, sizeof(old_file), "%s/old", g_dir);
    snprintf(new_file, sizeof(new_file), "%s/new", g_dir);
    write_text(old_file, AUTH_PIN "\r\n");
    write_text(new_file, "5831\nsecond line ignored\n");
    /* files win over the environment */
    setenv(CTL_CARD_ENV_PASSWORD, "0000", 1);
    ck_assert_int_eq(RUN("card", "passwd", g_image, "--slot", "auth", "--old-file", old_file,
                         "--new-file", new_file),
                     CTL_EXIT_OK);
    ck_assert_str_eq(g_out, "the authentication password of card c1 was changed\n");
    struct card_image *ci = load_image();
    EVP_PKEY *key = card_image_unlock_key(ci, g_image, CA_AUTH, "5831", &err);
    ck_assert_msg(key != NULL, "%s", err.msg);
    EVP_PKEY_free(key);
    card_image_free(ci);
    /* a missing file is said, nothing is tried */
    ck_assert_int_eq(RUN("card", "passwd", g_image, "--slot", "auth", "--old-file", "/nonexistent",
                         "--new-file", new_file),
                     CTL_EXIT_FAILED);
    assert_has(g_err, "jpkictl: card passwd: --old-file /nonexistent: ");
    ck_assert_int_eq(tries_left(CA_AUTH), 3);
}
END_TEST

START_TEST(test_passwd_wrong_old_counts)
{
    write_image(0, 0, true);
    setenv(CTL_CARD_ENV_PASSWORD, "WRONG9", 1);
    setenv(CTL_CARD_ENV_NEW_PASSWORD, "NEWPASS42", 1);
    ck_assert_int_eq(RUN("card", "passwd", g_image, "--slot", "sign"), CTL_EXIT_FAILED);
    ck_assert_str_eq(g_err, "jpkictl: card passwd: wrong signing password: 4 tries left\n");
    ck_assert_str_eq(g_out, "");
    ck_assert_int_eq(tries_left(CA_SIGN), 4); /* the try is on disk */
    for (int left = 3; left >= 1; left--)
        ck_assert_int_eq(RUN("card", "passwd", g_image, "--slot", "sign"), CTL_EXIT_FAILED);
    ck_assert_int_eq(tries_left(CA_SIGN), 1);
    ck_assert_int_eq(RUN("card", "passwd", g_image, "--slot", "sign"), CTL_EXIT_FAILED);
    assert_has(g_err, "jpkictl: card passwd: wrong signing password: 0 tries left, the sign slot "
                      "is now locked; ");
    /* locked: refused before any password is read, the right one included */
    setenv(CTL_CARD_ENV_PASSWORD, SIGN_PW, 1);
    ck_assert_int_eq(RUN("card", "passwd", g_image, "--slot", "sign"), CTL_EXIT_FAILED);
    ck_assert_str_eq(g_err, "jpkictl: card passwd: the signing password is locked after too many "
                            "wrong tries; it must be reset at the municipal window\n");
    ck_assert_int_eq(tries_left(CA_SIGN), 0);
    /* the other slot has its own counter */
    ck_assert_int_eq(tries_left(CA_AUTH), 3);
    /* never a password on either stream */
    assert_lacks(g_err, "WRONG9");
    assert_lacks(g_err, SIGN_PW);
    assert_lacks(g_err, "NEWPASS42");
}
END_TEST

START_TEST(test_passwd_new_rule_not_counted)
{
    write_image(0, 0, true);
    setenv(CTL_CARD_ENV_PASSWORD, SIGN_PW, 1);
    static const char *const bad_sign[] = {"abc123", "ABC12", "ABCDEFGHIJKLMNOPQ", "ABC-123", ""};
    for (size_t i = 0; i < sizeof(bad_sign) / sizeof(bad_sign[0]); i++) {
        setenv(CTL_CARD_ENV_NEW_PASSWORD, bad_sign[i], 1);
        ck_assert_int_eq(RUN("card", "passwd", g_image, "--slot", "sign"), CTL_EXIT_FAILED);
        assert_has(g_err, "jpkictl: card passwd: the new password is refused: ");
        ck_assert_str_eq(g_out, "");
    }
    ck_assert_int_eq(tries_left(CA_SIGN), 5);
    setenv(CTL_CARD_ENV_PASSWORD, AUTH_PIN, 1);
    static const char *const bad_auth[] = {"123", "12345", "12a4", "ABCD"};
    for (size_t i = 0; i < sizeof(bad_auth) / sizeof(bad_auth[0]); i++) {
        setenv(CTL_CARD_ENV_NEW_PASSWORD, bad_auth[i], 1);
        ck_assert_int_eq(RUN("card", "passwd", g_image, "--slot", "auth"), CTL_EXIT_FAILED);
        assert_has(g_err, "the new password is refused");
    }
    ck_assert_int_eq(tries_left(CA_AUTH), 3);
    /* RULE guide 4(7): easy guesses, the birth date read from the card's signing certificate
     * (1990-01-02); refused with the reason, no try counted */
    static const char *const guess_auth[][2] = {
        {"0102", "birth date (MMDD)"},
        {"1990", "birth date (YYYY)"},
        {"4444", "repeated"},
        {"2345", "straight run"},
    };
    for (size_t i = 0; i < sizeof(guess_auth) / sizeof(guess_auth[0]); i++) {
        setenv(CTL_CARD_ENV_NEW_PASSWORD, guess_auth[i][0], 1);
        ck_assert_int_eq(RUN("card", "passwd", g_image, "--slot", "auth"), CTL_EXIT_FAILED);
        assert_has(g_err, "jpkictl: card passwd: the new password: ");
        assert_has(g_err, guess_auth[i][1]);
        assert_has(g_err, "guide 4(7)");
        assert_lacks(g_err, guess_auth[i][0]);
    }
    setenv(CTL_CARD_ENV_PASSWORD, SIGN_PW, 1);
    setenv(CTL_CARD_ENV_NEW_PASSWORD, "900102", 1);
    ck_assert_int_eq(RUN("card", "passwd", g_image, "--slot", "sign"), CTL_EXIT_FAILED);
    assert_has(g_err, "birth date (YYMMDD)");
    ck_assert_int_eq(tries_left(CA_AUTH), 3);
    ck_assert_int_eq(tries_left(CA_SIGN), 5);
    /* an over-long password from the environment is refused before anything */
    setenv(CTL_CARD_ENV_NEW_PASSWORD,
           "A123456789012345678901234567890123456789012345678901234567890123456789", 1);
    ck_assert_int_eq(RUN("card", "passwd", g_image, "--slot", "auth"), CTL_EXIT_FAILED);
    assert_has(g_err, "JPKI_CARD_NEW_PASSWORD: the password is longer than 64 characters");
    ck_assert_int_eq(tries_left(CA_AUTH), 3);
}
END_TEST

START_TEST(test_passwd_refusals)
{
    write_image(0, 0, false);
    setenv(CTL_CARD_ENV_PASSWORD, AUTH_PIN, 1);
    setenv(CTL_CARD_ENV_NEW_PASSWORD, "5555", 1);
    ck_assert_int_eq(RUN("card", "passwd", g_image, "--slot", "auth"), CTL_EXIT_FAILED);
    ck_assert_str_eq(g_err, "jpkictl: card passwd: the card holds no authentication "
                            "certificate\n");
    ck_assert_int_eq(RUN("card", "passwd", g_image, "--slot", "x"), CTL_EXIT_USAGE);
    /* no password anywhere and no terminal: a usage error naming the sources */
    unsetenv(CTL_CARD_ENV_PASSWORD);
    int tty = open("/dev/tty", O_RDWR | O_NOCTTY);
    if (tty == -1) {
        ck_assert_int_eq(RUN("card", "passwd", g_image, "--slot", "sign"), CTL_EXIT_USAGE);
        assert_has(g_err, "no password: give --old-file FILE or set JPKI_CARD_PASSWORD (there is "
                          "no terminal to ask on)");
        ck_assert_int_eq(tries_left(CA_SIGN), 5);
    } else {
        close(tty);
    }
}
END_TEST

/* ---- sign ---- */

static CMS_ContentInfo *read_cms(const char *path, bool pem)
{
    size_t len;
    unsigned char *data = slurp(path, &len);
    CMS_ContentInfo *cms = NULL;
    if (pem) {
        BIO *b = BIO_new_mem_buf(data, (int)len);
        cms = PEM_read_bio_CMS(b, NULL, NULL, NULL);
        BIO_free(b);
    } else {
        const unsigned char *p = data;
        cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
        ck_assert_ptr_eq(p, data + len);
    }
    free(data);
    ck_assert_ptr_nonnull(cms);
    return cms;
}

/* CMS_verify against the signing root over `content_path`: 1 verified, 0 not. */
static int cms_verifies(CMS_ContentInfo *cms, const char *content_path)
{
    X509_STORE *store = X509_STORE_new();
    BIO *content = BIO_new_file(content_path, "rb");
    ck_assert_ptr_nonnull(content);
    ck_assert_int_eq(X509_STORE_add_cert(store, g_root[CA_SIGN]), 1);
    int ok = CMS_verify(cms, NULL, store, content, NULL, CMS_BINARY);
    ERR_clear_error();
    BIO_free(content);
    X509_STORE_free(store);
    return ok == 1;
}

START_TEST(test_sign_verifies_offline)
{
    char sig[4096];
    write_image(0, 0, true);
    snprintf(sig, sizeof(sig), "%s.p7s", g_file);
    setenv(CTL_CARD_ENV_PASSWORD, SIGN_PW, 1);
    ck_assert_int_eq(RUN("card", "sign", g_image, g_file), CTL_EXIT_OK);
    ck_assert_str_eq(g_err, "");
    assert_has(g_out, "signature (CMS, DER, detached): ");
    assert_has(g_out, sig);
    CMS_ContentInfo *cms = read_cms(sig, false);
    ck_assert_int_eq(OBJ_obj2nid(CMS_get0_type(cms)), NID_pkcs7_signed);
    ck_assert_int_eq(CMS_is_detached(cms), 1);
    STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
    ck_assert_int_eq(sk_CMS_SignerInfo_num(sis), 1);
    X509_ALGOR *digest = NULL;
    CMS_SignerInfo_get0_algs(sk_CMS_SignerInfo_value(sis, 0), NULL, NULL, &digest, NULL);
    ck_assert_int_eq(OBJ_obj2nid(digest->algorithm), NID_sha256);
    /* the signer certificate is included: it is the card's signing certificate */
    STACK_OF(X509) *certs = CMS_get1_certs(cms);
    ck_assert_int_eq(sk_X509_num(certs), 1);
    struct card_image *ci = load_image();
    ck_assert_int_eq(X509_cmp(sk_X509_value(certs, 0), card_image_get0_cert(ci, CA_SIGN)), 0);
    card_image_free(ci);
    sk_X509_pop_free(certs, X509_free);
    /* OpenSSL accepts it with the root as the only trust anchor */
    ck_assert(cms_verifies(cms, g_file));
    /* and refuses it over altered content */
    write_text(g_file, "application form, altered\n");
    ck_assert(!cms_verifies(cms, g_file));
    CMS_ContentInfo_free(cms);
    ck_assert_int_eq(tries_left(CA_SIGN), 5); /* the right password cleared the count */
}
END_TEST

START_TEST(test_sign_pem_and_out)
{
    char sig[4096];
    write_image(0, 0, true);
    snprintf(sig, sizeof(sig), "%s/app.sig.pem", g_dir);
    setenv(CTL_CARD_ENV_PASSWORD, SIGN_PW, 1);
    ck_assert_int_eq(RUN("card", "sign", g_image, g_file, "--pem", "-o", sig), CTL_EXIT_OK);
    assert_has(g_out, "signature (CMS, PEM, detached): ");
    CMS_ContentInfo *cms = read_cms(sig, true);
    ck_assert(cms_verifies(cms, g_file));
    CMS_ContentInfo_free(cms);
}
END_TEST

START_TEST(test_sign_refusals)
{
    char sig[4096], pw_file[4096];
    write_image(0, 0, true);
    snprintf(sig, sizeof(sig), "%s.p7s", g_file);
    snprintf(pw_file, sizeof(pw_file), "%s/pw", g_dir);
    /* a wrong password: counted, no signature written */
    write_text(pw_file, "WRONG1\n");
    ck_assert_int_eq(RUN("card", "sign", g_image, g_file, "--password-file", pw_file),
                     CTL_EXIT_FAILED);
    ck_assert_str_eq(g_err, "jpkictl: card sign: wrong signing password: 4 tries left\n");
    ck_assert_int_eq(access(sig, F_OK), -1);
    ck_assert_int_eq(tries_left(CA_SIGN), 4);
    /* a password outside the rule: refused, not counted */
    write_text(pw_file, "abc\n");
    ck_assert_int_eq(RUN("card", "sign", g_image, g_file, "--password-file", pw_file),
                     CTL_EXIT_FAILED);
    assert_has(g_err, "jpkictl: card sign: ");
    ck_assert_int_eq(tries_left(CA_SIGN), 4);
    /* a file that cannot be read: nothing tried */
    write_text(pw_file, SIGN_PW "\n");
    ck_assert_int_eq(RUN("card", "sign", g_image, "/nonexistent/file", "--password-file", pw_file),
                     CTL_EXIT_FAILED);
    assert_has(g_err, "cannot read /nonexistent/file");
    ck_assert_int_eq(tries_left(CA_SIGN), 4);
    /* the right one signs and clears the count */
    ck_assert_int_eq(RUN("card", "sign", g_image, g_file, "--password-file", pw_file), CTL_EXIT_OK);
    ck_assert_int_eq(tries_left(CA_SIGN), 5);
    /* an image without the signing slot */
    write_image(0, 0, false);
    struct jerr err = {0};
    struct card_image *ci =
        card_image_create("c1", "2035-06-30", g_root[CA_SIGN], g_root[CA_AUTH], g_admin, &err);
    ck_assert_int_eq(card_image_save(ci, g_image, &err), 0);
    card_image_free(ci);
    ck_assert_int_eq(RUN("card", "sign", g_image, g_file, "--password-file", pw_file),
                     CTL_EXIT_FAILED);
    ck_assert_str_eq(g_err, "jpkictl: card sign: the card holds no signing certificate\n");
}
END_TEST

START_TEST(test_sign_validity)
{
    char sig[4096];
    time_t na = jclock_utc(2031, 6, 30, 14, 59, 59);
    write_image(g_nb, na, true);
    snprintf(sig, sizeof(sig), "%s.p7s", g_file);
    setenv(CTL_CARD_ENV_PASSWORD, SIGN_PW, 1);
    /* expired: refused before the password is tried */
    jclock_set(na + 1);
    ck_assert_int_eq(RUN("card", "sign", g_image, g_file), CTL_EXIT_FAILED);
    ck_assert_str_eq(g_err, "jpkictl: card sign: the signing certificate expired on "
                            "2031-06-30T14:59:59Z: nothing signed with it would be accepted; a "
                            "new one is issued at the municipal window\n");
    ck_assert_int_eq(access(sig, F_OK), -1);
    ck_assert_int_eq(tries_left(CA_SIGN), 5);
    /* less than 3 months left: signed, with the warning */
    jclock_set(na - 10 * DAY);
    ck_assert_int_eq(RUN("card", "sign", g_image, g_file), CTL_EXIT_OK);
    ck_assert_str_eq(g_err, "jpkictl: card sign: warning: the signing certificate expires on "
                            "2031-06-30T14:59:59Z (10 days, less than 3 months): renew it at the "
                            "municipal window\n");
    ck_assert_int_eq(access(sig, F_OK), 0);
}
END_TEST

/* ---- verify, offline refusals (the status needs the service: test_holder.sh) ---- */

static char g_sig[4096], g_root_pem[4096], g_auth_root_pem[4096];

static void signed_file(void)
{
    write_image(0, 0, true);
    snprintf(g_sig, sizeof(g_sig), "%s.p7s", g_file);
    snprintf(g_root_pem, sizeof(g_root_pem), "%s/sign-root.pem", g_dir);
    snprintf(g_auth_root_pem, sizeof(g_auth_root_pem), "%s/auth-root.pem", g_dir);
    setenv(CTL_CARD_ENV_PASSWORD, SIGN_PW, 1);
    ck_assert_int_eq(RUN("card", "sign", g_image, g_file), CTL_EXIT_OK);
    for (int ca = CA_SIGN; ca <= CA_AUTH; ca++) {
        FILE *f = fopen(ca == CA_SIGN ? g_root_pem : g_auth_root_pem, "w");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(PEM_write_X509(f, g_root[ca]), 1);
        fclose(f);
    }
}

START_TEST(test_verify_bad_signature)
{
    signed_file();
    write_text(g_file, "application form\n "); /* one byte added */
    ck_assert_int_eq(RUN("verify", g_file, g_sig, "--issuer", g_root_pem), CTL_EXIT_FAILED);
    ck_assert_str_eq(g_out, "NOT VALID: bad signature: the signature does not match the content "
                            "(the file was altered, or it is not the file that was signed)\n");
    assert_lacks(g_out, NAME_JA);
    ck_assert_str_eq(g_err, "");
}
END_TEST

START_TEST(test_verify_unknown_issuer)
{
    signed_file();
    ck_assert_int_eq(RUN("verify", g_file, g_sig, "--issuer", g_auth_root_pem), CTL_EXIT_FAILED);
    ck_assert_str_eq(g_out, "NOT VALID: unknown issuer: the signer's certificate does not chain "
                            "to the signing CA root\n");
    assert_lacks(g_out, NAME_JA);
}
END_TEST

START_TEST(test_verify_expired)
{
    char until[32];
    signed_file();
    struct card_image *ci = load_image();
    time_t nb, na;
    ck_assert_int_eq(ctl_card_cert_times(card_image_get0_cert(ci, CA_SIGN), &nb, &na), 0);
    card_image_free(ci);
    jclock_set(na + 1);
    ck_assert_int_eq(RUN("verify", g_file, g_sig, "--issuer", g_root_pem), CTL_EXIT_FAILED);
    char want[256];
    snprintf(want, sizeof(want), "NOT VALID: expired: the signer's certificate expired on %s\n",
             jclock_format(na, until, sizeof(until)));
    ck_assert_str_eq(g_out, want);
    /* and the status is not even asked: there is no service here, and no usage error */
    ck_assert_str_eq(g_err, "");
}
END_TEST

START_TEST(test_verify_malformed)
{
    signed_file();
    write_text(g_sig, "not a signature");
    ck_assert_int_eq(RUN("verify", g_file, g_sig, "--issuer", g_root_pem), CTL_EXIT_FAILED);
    ck_assert_str_eq(g_out, "NOT VALID: malformed: not one detached CMS signature with one signer "
                            "and its certificate\n");
    assert_has(g_err, "it is neither a DER nor a PEM CMS");
    /* an attached signature (the content inside) is not what verify takes */
    struct card_image *ci = load_image();
    struct jerr err = {0};
    EVP_PKEY *key = card_image_unlock_key(ci, g_image, CA_SIGN, SIGN_PW, &err);
    ck_assert_ptr_nonnull(key);
    BIO *in = BIO_new_file(g_file, "rb");
    CMS_ContentInfo *cms = CMS_sign(card_image_get0_cert(ci, CA_SIGN), key, NULL, in, CMS_BINARY);
    ck_assert_ptr_nonnull(cms);
    BIO *out = BIO_new_file(g_sig, "wb");
    ck_assert_int_eq(i2d_CMS_bio(out, cms), 1);
    BIO_free(out);
    BIO_free(in);
    CMS_ContentInfo_free(cms);
    EVP_PKEY_free(key);
    card_image_free(ci);
    ck_assert_int_eq(RUN("verify", g_file, g_sig, "--issuer", g_root_pem), CTL_EXIT_FAILED);
    assert_has(g_out, "NOT VALID: malformed");
    assert_has(g_err, "it carries its content: a detached signature is expected");
}
END_TEST

START_TEST(test_verify_needs_service_for_status)
{
    signed_file();
    /* every offline check holds; the status cannot be asked without a service */
    ck_assert_int_eq(RUN("verify", g_file, g_sig, "--issuer", g_root_pem), CTL_EXIT_USAGE);
    assert_has(g_err, "no service URL: give --url or set JPKI_URL");
    assert_has(g_out, "NOT VALID: no status: ");
    assert_lacks(g_out, NAME_JA);
    /* unreachable: exit 3, still no facts */
    ck_assert_int_eq(
        RUN("--url", "http://127.0.0.1:1", "verify", g_file, g_sig, "--issuer", g_root_pem),
        CTL_EXIT_TRANSPORT);
    assert_has(g_err, "no OCSP answer; checking the sign CRL instead");
    assert_lacks(g_out, NAME_JA);
}
END_TEST

START_TEST(test_service_commands_usage)
{
    write_image(0, 0, true);
    ck_assert_int_eq(RUN("card", "check", g_image), CTL_EXIT_USAGE);
    assert_has(g_err, "no service URL: give --url or set JPKI_URL");
    ck_assert_int_eq(RUN("card", "revoke", g_image, "--reason", "affiliationChanged"),
                     CTL_EXIT_USAGE);
    assert_has(g_err, "--reason must be keyCompromise, cessationOfOperation or unspecified");
    ck_assert_int_eq(RUN("card", "revoke", g_image, "--reason", "keyCompromise"), CTL_EXIT_USAGE);
    assert_has(g_err, "no service URL");
    ck_assert_int_eq(tries_left(CA_SIGN), 5);
    /* unreachable: exit 3 for check (nothing could be asked) */
    ck_assert_int_eq(RUN("--url", "http://127.0.0.1:1", "card", "check", g_image),
                     CTL_EXIT_TRANSPORT);
    assert_has(g_out, "NOT all good\n");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ctl_card");
    TCase *pure = tcase_create("pure");
    tcase_add_test(pure, test_birth_date);
    tcase_add_test(pure, test_gender_words);
    tcase_add_test(pure, test_validity_boundaries);
    tcase_add_test(pure, test_days_left);
    tcase_add_test(pure, test_status_words);
    tcase_add_test(pure, test_verdict_order);
    tcase_add_test(pure, test_verdict_reasons);
    tcase_add_test(pure, test_receipt_format);
    suite_add_tcase(s, pure);

    TCase *image = tcase_create("image");
    tcase_set_timeout(image, 60);
    tcase_add_unchecked_fixture(image, keys_setup, keys_teardown);
    tcase_add_checked_fixture(image, dir_setup, dir_teardown);
    tcase_add_test(image, test_arg_is_image);
    tcase_add_test(image, test_show_both_slots);
    tcase_add_test(image, test_show_warning_boundaries);
    tcase_add_test(image, test_show_empty_slot_and_locked);
    tcase_add_test(image, test_show_refusals);
    tcase_add_test(image, test_export);
    tcase_add_test(image, test_export_refusals);
    tcase_add_test(image, test_passwd_env);
    tcase_add_test(image, test_passwd_files_auth);
    tcase_add_test(image, test_passwd_wrong_old_counts);
    tcase_add_test(image, test_passwd_new_rule_not_counted);
    tcase_add_test(image, test_passwd_refusals);
    tcase_add_test(image, test_sign_verifies_offline);
    tcase_add_test(image, test_sign_pem_and_out);
    tcase_add_test(image, test_sign_refusals);
    tcase_add_test(image, test_sign_validity);
    tcase_add_test(image, test_verify_bad_signature);
    tcase_add_test(image, test_verify_unknown_issuer);
    tcase_add_test(image, test_verify_expired);
    tcase_add_test(image, test_verify_malformed);
    tcase_add_test(image, test_verify_needs_service_for_status);
    tcase_add_test(image, test_service_commands_usage);
    suite_add_tcase(s, image);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = testutil_run(s);
    curl_global_cleanup();
    return rc;
}
