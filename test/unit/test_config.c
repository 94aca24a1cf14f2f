/*
 * test_config: the YAML loader and validator (config/config.c).
 *
 * Successes check the exact values filled in; refusals check the exact key (err->field) and the
 * "file:line:column: key:" prefix of the message, since operators find their mistake by it.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "base/limits.h"
#include "testutil.h"

#define TOKEN_A "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define TOKEN_B "60303AE22B998861BCE3B28F33EEC1BE758A213C86C93C076DBE9F558C11C752"

static struct jpki_config *load_set(const char *yaml, const char *const *overrides, size_t n,
                                    struct jerr *err)
{
    jerr_clear(err);
    return config_load_string("t.yaml", yaml, strlen(yaml), overrides, n, err);
}

static struct jpki_config *load(const char *yaml, struct jerr *err)
{
    return load_set(yaml, NULL, 0, err);
}

/* Asserts the exact refusal: JERR_CONFIG, the key, and the message (whole, or its prefix when
 * `prefix_only`). */
static void assert_refused_set(const char *yaml, const char *const *overrides, size_t n,
                               const char *field, const char *msg, bool prefix_only)
{
    struct jerr err;
    struct jpki_config *cfg = load_set(yaml, overrides, n, &err);
    ck_assert_msg(cfg == NULL, "accepted: %s", yaml);
    ck_assert_int_eq(err.code, JERR_CONFIG);
    ck_assert_str_eq(err.field, field);
    if (prefix_only)
        ck_assert_msg(strncmp(err.msg, msg, strlen(msg)) == 0, "message \"%s\" lacks \"%s\"",
                      err.msg, msg);
    else
        ck_assert_str_eq(err.msg, msg);
}

static void assert_refused(const char *yaml, const char *field, const char *msg)
{
    assert_refused_set(yaml, NULL, 0, field, msg, false);
}

static void assert_refused_prefix(const char *yaml, const char *field, const char *prefix)
{
    assert_refused_set(yaml, NULL, 0, field, prefix, true);
}

/* A table of refusals: the file, the key named, the message (its prefix when prefix_only). */
struct refusal {
    const char *yaml, *field, *msg;
    bool prefix_only;
};

static void assert_all_refused(const struct refusal *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_refused_set(r[i].yaml, NULL, 0, r[i].field, r[i].msg, r[i].prefix_only);
}
#define ASSERT_ALL_REFUSED(table) assert_all_refused(table, sizeof(table) / sizeof(table[0]))

static void assert_defaults(const struct jpki_config *cfg)
{
    ck_assert_str_eq(cfg->data_dir, "./var");
    ck_assert_str_eq(cfg->public_url, "http://127.0.0.1:8080");
    ck_assert_str_eq(cfg->agency, "Japan Agency for Local Authority Information Systems");
    ck_assert_str_eq(cfg->passphrase_env, "JPKI_CA_PASSPHRASE");
    ck_assert_str_eq(cfg->passphrase_file, "");
    ck_assert_str_eq(cfg->ca[CA_SIGN].subject,
                     "C=JP, O=JPKI, OU=JPKI for digital signature, OU=Japan Agency for Local "
                     "Authority Information Systems");
    ck_assert_str_eq(cfg->ca[CA_AUTH].subject,
                     "C=JP, O=JPKI, OU=JPKI for user authentication, OU=Japan Agency for Local "
                     "Authority Information Systems");
    for (int k = 0; k < CA_KIND_COUNT; k++) {
        ck_assert_str_eq(cfg->ca[k].key_algorithm, "rsa");
        ck_assert_int_eq(cfg->ca[k].key_bits, 2048);
        ck_assert_int_eq(cfg->ca[k].root_validity_years, 10);
        ck_assert_str_eq(cfg->ca[k].ocsp_url, "http://127.0.0.1:8080/ocsp");
        ck_assert_int_eq(cfg->ca[k].crl_partitions, 1);
        ck_assert_int_eq(cfg->ca[k].ocsp_signer_validity_days, 365);
    }
    ck_assert_str_eq(cfg->ca[CA_SIGN].policy_oid, "1.2.392.200149.8.5.1.1.20");
    ck_assert_str_eq(cfg->ca[CA_AUTH].policy_oid, "1.2.392.200149.8.5.1.3.30");
    ck_assert_str_eq(cfg->ca[CA_SIGN].crl_url, "http://127.0.0.1:8080/crl/sign.crl");
    ck_assert_str_eq(cfg->ca[CA_AUTH].crl_url, "http://127.0.0.1:8080/crl/auth.crl");
    ck_assert_int_eq(cfg->subscriber_validity_years, 5);
    ck_assert(cfg->cap_to_card_expiry);
    ck_assert_int_eq(cfg->subscriber_key_bits, 2048);
    ck_assert_int_eq(cfg->juki_validity_years, 3);
    ck_assert_str_eq(cfg->juki_issuance_end, "2015-12-31");
    ck_assert_int_eq(cfg->crl_period_s, 3600);
    ck_assert_int_eq(cfg->crl_next_update_s, 86400);
    ck_assert_int_eq(cfg->ocsp_validity_s, 86400);
    ck_assert_int_eq(cfg->ocsp_refresh_before_s, 43200);
    ck_assert_int_eq(cfg->ocsp_max_inflight_signs, 64);
    ck_assert_str_eq(cfg->listen_http, "127.0.0.1:8080");
    ck_assert_str_eq(cfg->listen_https, "");
    ck_assert_str_eq(cfg->tls_cert, "");
    ck_assert_str_eq(cfg->tls_key, "");
    ck_assert_str_eq(cfg->tls_operator_ca, "");
    ck_assert_int_eq(cfg->loops, 0);
    ck_assert_int_eq(cfg->workers, 0);
    ck_assert(cfg->metrics_public);
    ck_assert_uint_eq(cfg->operator_count, 0);
    ck_assert_str_eq(cfg->tls_relying_party_ca, "");
    ck_assert_int_eq(cfg->idle_timeout_s, 30);
    ck_assert_int_eq(cfg->max_connections, 0);
    ck_assert_int_eq(cfg->access_ocsp, ACCESS_OPEN);
    ck_assert_int_eq(cfg->access_crl, ACCESS_OPEN);
    ck_assert_int_eq(cfg->limits_api_per_minute, 3000);
    ck_assert_int_eq(cfg->limits_holder_per_minute, 30);
}

static char *example_path(void)
{
    static char path[4096];
    snprintf(path, sizeof(path), "%s/config/jpki.example.yaml", testutil_source_dir());
    return path;
}

/* ---- loading and defaults ---- */

START_TEST(example_file_loads_with_the_defaults)
{
    struct jerr err = {0};
    struct jpki_config *cfg = config_load(example_path(), NULL, 0, &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert_str_eq(cfg->source_path, example_path());
    /* The example documents the defaults: loading it equals loading nothing. */
    assert_defaults(cfg);
    config_free(cfg);
}
END_TEST

START_TEST(example_file_with_overrides)
{
    const char *const set[] = {"data_dir=var/t1", "listen.http=127.0.0.1:18080",
                               "public_url=https://pki.example.jp/"};
    struct jerr err = {0};
    struct jpki_config *cfg = config_load(example_path(), set, 3, &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert_str_eq(cfg->data_dir, "var/t1");
    ck_assert_str_eq(cfg->listen_http, "127.0.0.1:18080");
    ck_assert_str_eq(cfg->public_url, "https://pki.example.jp");
    /* The example leaves the derived URLs to their defaults, so they follow public_url. */
    ck_assert_str_eq(cfg->ca[CA_SIGN].crl_url, "https://pki.example.jp/crl/sign.crl");
    ck_assert_str_eq(cfg->ca[CA_AUTH].ocsp_url, "https://pki.example.jp/ocsp");
    config_free(cfg);
}
END_TEST

START_TEST(empty_inputs_mean_all_defaults)
{
    static const char *const inputs[] = {"{}",    "",    "# only a comment\n\n",
                                         "---\n", "~\n", "ca:\nlisten:\noperators:\n"};
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        struct jerr err;
        struct jpki_config *cfg = load(inputs[i], &err);
        ck_assert_msg(cfg != NULL, "input %zu: %s", i, err.msg);
        ck_assert_str_eq(cfg->source_path, "t.yaml");
        assert_defaults(cfg);
        config_free(cfg);
    }
}
END_TEST

START_TEST(almost_empty_file_keeps_other_defaults)
{
    struct jerr err;
    struct jpki_config *cfg = load("data_dir: /srv/jpki\n", &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert_str_eq(cfg->data_dir, "/srv/jpki");
    ck_assert_str_eq(cfg->public_url, "http://127.0.0.1:8080");
    ck_assert_int_eq(cfg->ca[CA_AUTH].key_bits, 2048);
    ck_assert_int_eq(cfg->crl_period_s, 3600);
    config_free(cfg);
}
END_TEST

START_TEST(values_are_read)
{
    const char *yaml = "data_dir: \"/var/lib/jpki\"\n"
                       "ca:\n"
                       "  sign:\n"
                       "    key_bits: 4096\n"
                       "    root_validity_years: 20\n"
                       "    policy_oid: 2.999.1\n"
                       "    crl_partitions: 16\n"
                       "  auth: {key_bits: 3072, ocsp_signer_validity_days: 30}\n"
                       "subscriber:\n"
                       "  cap_to_card_expiry: false\n"
                       "  juki_issuance_end: '2016-02-29'\n"
                       "crl: {period_s: 60, next_update_s: 300}\n"
                       "ocsp: {validity_s: 600, refresh_before_s: 599, max_inflight_signs: 1}\n"
                       "listen:\n"
                       "  http: \"\"\n"
                       "  https: '[::1]:8443'\n"
                       "tls: {cert: /etc/c.pem, key: /etc/k.pem, operator_ca: /etc/op.pem}\n"
                       "service: {loops: 64, workers: 256, metrics_public: FALSE}\n"
                       "operators:\n"
                       "  - name: alice\n"
                       "    role: admin\n"
                       "    token_sha256: " TOKEN_A "\n"
                       "  - {name: batch-1.x_y, role: batch, token_sha256: " TOKEN_B "}\n";
    struct jerr err;
    struct jpki_config *cfg = load(yaml, &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert_str_eq(cfg->data_dir, "/var/lib/jpki");
    ck_assert_int_eq(cfg->ca[CA_SIGN].key_bits, 4096);
    ck_assert_int_eq(cfg->ca[CA_SIGN].root_validity_years, 20);
    ck_assert_str_eq(cfg->ca[CA_SIGN].policy_oid, "2.999.1");
    ck_assert_int_eq(cfg->ca[CA_SIGN].crl_partitions, 16);
    ck_assert_int_eq(cfg->ca[CA_AUTH].key_bits, 3072);
    ck_assert_int_eq(cfg->ca[CA_AUTH].ocsp_signer_validity_days, 30);
    ck_assert_int_eq(cfg->ca[CA_AUTH].crl_partitions, 1);
    ck_assert(!cfg->cap_to_card_expiry);
    ck_assert_str_eq(cfg->juki_issuance_end, "2016-02-29");
    ck_assert_int_eq(cfg->crl_period_s, 60);
    ck_assert_int_eq(cfg->crl_next_update_s, 300);
    ck_assert_int_eq(cfg->ocsp_validity_s, 600);
    ck_assert_int_eq(cfg->ocsp_refresh_before_s, 599);
    ck_assert_int_eq(cfg->ocsp_max_inflight_signs, 1);
    ck_assert_str_eq(cfg->listen_http, "");
    ck_assert_str_eq(cfg->listen_https, "[::1]:8443");
    ck_assert_str_eq(cfg->tls_cert, "/etc/c.pem");
    ck_assert_str_eq(cfg->tls_key, "/etc/k.pem");
    ck_assert_str_eq(cfg->tls_operator_ca, "/etc/op.pem");
    ck_assert_int_eq(cfg->loops, 64);
    ck_assert_int_eq(cfg->workers, 256);
    ck_assert(!cfg->metrics_public);
    ck_assert_uint_eq(cfg->operator_count, 2);
    ck_assert_str_eq(cfg->operators[0].name, "alice");
    ck_assert_int_eq(cfg->operators[0].role, ROLE_ADMIN);
    ck_assert_str_eq(cfg->operators[0].token_sha256, TOKEN_A);
    ck_assert_str_eq(cfg->operators[1].name, "batch-1.x_y");
    ck_assert_int_eq(cfg->operators[1].role, ROLE_BATCH);
    ck_assert_str_eq(cfg->operators[1].token_sha256, TOKEN_B);
    config_free(cfg);
}
END_TEST

START_TEST(derived_defaults_follow_public_url_and_agency)
{
    struct jerr err;
    struct jpki_config *cfg = load("public_url: https://ca.example.jp/pki/\n"
                                   "agency: Test Agency\n"
                                   "ca:\n"
                                   "  auth:\n"
                                   "    crl_url: http://crl.example.jp/a.crl\n"
                                   "    subject: C=JP, O=Other, CN=Auth Root\n",
                                   &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    /* One trailing slash is stripped from the base URL. */
    ck_assert_str_eq(cfg->public_url, "https://ca.example.jp/pki");
    ck_assert_str_eq(cfg->ca[CA_SIGN].crl_url, "https://ca.example.jp/pki/crl/sign.crl");
    ck_assert_str_eq(cfg->ca[CA_SIGN].ocsp_url, "https://ca.example.jp/pki/ocsp");
    ck_assert_str_eq(cfg->ca[CA_AUTH].ocsp_url, "https://ca.example.jp/pki/ocsp");
    /* An explicit value wins over the derived default. */
    ck_assert_str_eq(cfg->ca[CA_AUTH].crl_url, "http://crl.example.jp/a.crl");
    ck_assert_str_eq(cfg->ca[CA_SIGN].subject,
                     "C=JP, O=JPKI, OU=JPKI for digital signature, OU=Test Agency");
    ck_assert_str_eq(cfg->ca[CA_AUTH].subject, "C=JP, O=Other, CN=Auth Root");
    config_free(cfg);
}
END_TEST

START_TEST(null_values)
{
    struct jerr err;
    struct jpki_config *cfg = load("listen:\n  http: ~\n  https:\ntls:\n  cert: null\n", &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert_str_eq(cfg->listen_http, "");
    ck_assert_str_eq(cfg->listen_https, "");
    ck_assert_str_eq(cfg->tls_cert, "");
    config_free(cfg);
    /* A quoted "null" is a string, not null. */
    cfg = load("agency: \"null\"\n", &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert_str_eq(cfg->agency, "null");
    ck_assert_str_eq(cfg->ca[CA_SIGN].subject,
                     "C=JP, O=JPKI, OU=JPKI for digital signature, OU=null");
    config_free(cfg);
    /* An integer key needs a value. */
    assert_refused("crl:\n  period_s:\n", "crl.period_s",
                   "t.yaml:2:12: crl.period_s: expected an integer, the value is empty");
    assert_refused("data_dir:\n", "data_dir", "t.yaml:1:10: data_dir: must not be empty");
}
END_TEST

START_TEST(passphrase_file_turns_env_default_off)
{
    struct jerr err;
    struct jpki_config *cfg = load("ca_passphrase:\n  file: /etc/jpki/ca.pass\n", &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert_str_eq(cfg->passphrase_env, "");
    ck_assert_str_eq(cfg->passphrase_file, "/etc/jpki/ca.pass");
    config_free(cfg);
    assert_refused("ca_passphrase:\n  env: MY_PASS\n  file: /etc/jpki/ca.pass\n",
                   "ca_passphrase.file",
                   "t.yaml:3:9: ca_passphrase.file: set either ca_passphrase.env or "
                   "ca_passphrase.file, not both");
    assert_refused("ca_passphrase:\n  env: \"\"\n", "ca_passphrase.env",
                   "t.yaml:2:8: ca_passphrase.env: one of ca_passphrase.env or "
                   "ca_passphrase.file must be set");
    assert_refused("ca_passphrase:\n  env: 1BAD\n", "ca_passphrase.env",
                   "t.yaml:2:8: ca_passphrase.env: not an environment variable name");
}
END_TEST

/* ---- --set overrides ---- */

START_TEST(overrides_int_string_nested_new)
{
    const char *const set[] = {
        "ca.sign.key_bits=4096",       /* int, existing key */
        "data_dir=var/t1",             /* string, existing key */
        "listen.http=127.0.0.1:18080", /* nested, absent key under an existing mapping */
        "ca.auth.crl_partitions=8",    /* new intermediate mapping (ca.auth) */
        "service.workers=4",           /* new top-level mapping (service) */
        "subscriber.cap_to_card_expiry=false",
        "crl.period_s=600",
        "crl.period_s=1200", /* the last one wins */
        "agency=A=B",        /* used alone below */
    };
    struct jerr err;
    struct jpki_config *cfg =
        load_set("data_dir: ./var\nca:\n  sign:\n    key_bits: 2048\nlisten: {}\n", set, 8, &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert_int_eq(cfg->ca[CA_SIGN].key_bits, 4096);
    ck_assert_str_eq(cfg->data_dir, "var/t1");
    ck_assert_str_eq(cfg->listen_http, "127.0.0.1:18080");
    ck_assert_int_eq(cfg->ca[CA_AUTH].crl_partitions, 8);
    ck_assert_int_eq(cfg->ca[CA_AUTH].key_bits, 2048);
    ck_assert_int_eq(cfg->workers, 4);
    ck_assert(!cfg->cap_to_card_expiry);
    ck_assert_int_eq(cfg->crl_period_s, 1200);
    config_free(cfg);

    /* Only the first '=' splits; the agency then refuses '=' since it goes into a subject. */
    assert_refused_set("{}", &set[8], 1, "agency",
                       "--set: agency: must not contain any of , = + \\ \" < > ; # (it goes "
                       "into a certificate subject)",
                       false);
    /* An override turns a null section into a mapping. */
    const char *const into_null[] = {"ca.sign.key_bits=3072"};
    cfg = load_set("ca:\n", into_null, 1, &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert_int_eq(cfg->ca[CA_SIGN].key_bits, 3072);
    config_free(cfg);
    /* An empty value is an empty string: turns a listener off. */
    const char *const off[] = {"listen.http="};
    cfg = load_set("{}", off, 1, &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert_str_eq(cfg->listen_http, "");
    config_free(cfg);
}
END_TEST

START_TEST(overrides_refused)
{
    const char *const no_eq[] = {"data_dir"};
    assert_refused_set("{}", no_eq, 1, "", "--set: expected key.path=value (got \"data_dir\")",
                       false);
    const char *const empty_key[] = {"=x"};
    assert_refused_set("{}", empty_key, 1, "", "--set: empty key in \"=x\"", false);
    const char *const empty_part[] = {"ca..key_bits=1"};
    assert_refused_set("{}", empty_part, 1, "ca..key_bits",
                       "--set: ca..key_bits: empty part in the key path", false);
    const char *const unknown_top[] = {"bogus=1"};
    assert_refused_set("{}", unknown_top, 1, "bogus", "--set: bogus: unknown key", false);
    const char *const unknown_nested[] = {"ca.sign.bogus=1"};
    assert_refused_set("ca:\n  sign:\n    key_bits: 2048\n", unknown_nested, 1, "ca.sign.bogus",
                       "--set: ca.sign.bogus: unknown key", false);
    const char *const bad_int[] = {"crl.period_s=abc"};
    assert_refused_set("crl:\n  period_s: 3600\n", bad_int, 1, "crl.period_s",
                       "--set: crl.period_s: expected an integer (got \"abc\")", false);
    const char *const range[] = {"ca.auth.key_bits=1024"};
    assert_refused_set("{}", range, 1, "ca.auth.key_bits",
                       "--set: ca.auth.key_bits: must be between 2048 and 8192 (got 1024)", false);
    const char *const through_scalar[] = {"data_dir.x=1"};
    assert_refused_set("data_dir: ./var\n", through_scalar, 1, "data_dir.x",
                       "--set: data_dir.x: data_dir is a scalar, not a mapping", false);
    const char *const section_scalar[] = {"ca=x"};
    assert_refused_set("{}", section_scalar, 1, "ca", "--set: ca: expected a mapping, got a scalar",
                       false);
    const char *const secret[] = {"ca_passphrase.value=hunter2"};
    struct jerr err;
    ck_assert_ptr_null(load_set("{}", secret, 1, &err));
    ck_assert_str_eq(err.field, "ca_passphrase.value");
    ck_assert_msg(strncmp(err.msg, "--set: ca_passphrase.value: secrets must not", 44) == 0, "%s",
                  err.msg);
    ck_assert_ptr_null(strstr(err.msg, "hunter2"));
    /* The file's own errors come first only when they are parse errors; a bad override is
     * reported even if the file is fine otherwise. */
    const char *const good_then_bad[] = {"data_dir=x", "nope"};
    assert_refused_set("{}", good_then_bad, 2, "", "--set: expected key.path=value", true);
}
END_TEST

/* ---- refusals with their location ---- */

static const struct refusal unknown_keys[] = {
    {"data_dir: ./v\nbogus: 1\n", "bogus", "t.yaml:2:1: bogus: unknown key", false},
    {"ca:\n  sign:\n    key_bitz: 2048\n", "ca.sign.key_bitz",
     "t.yaml:3:5: ca.sign.key_bitz: unknown key", false},
    {"ca:\n  root: {}\n", "ca.root", "t.yaml:2:3: ca.root: unknown key", false},
    /* A dotted key in the file is not a path. */
    {"ca.sign: {}\n", "ca.sign", "t.yaml:1:1: ca.sign: unknown key", false},
    /* A top-level key inside a section is unknown there. */
    {"crl:\n  data_dir: x\n", "crl.data_dir", "t.yaml:2:3: crl.data_dir: unknown key", false},
    {"operators:\n  - {name: a, role: admin, token_sha256: " TOKEN_A ", x: 1}\n", "operators[0].x",
     "t.yaml:2:108: operators[0].x: unknown key", false},
};

START_TEST(refused_unknown_keys)
{
    ASSERT_ALL_REFUSED(unknown_keys);
}
END_TEST

START_TEST(refused_wrong_types)
{
    assert_refused("crl:\n  period_s: abc\n", "crl.period_s",
                   "t.yaml:2:13: crl.period_s: expected an integer (got \"abc\")");
    assert_refused("crl:\n  period_s: \"3600\"\n", "crl.period_s",
                   "t.yaml:2:13: crl.period_s: expected an integer, not a quoted string");
    assert_refused("crl:\n  period_s: 36.5\n", "crl.period_s",
                   "t.yaml:2:13: crl.period_s: expected an integer (got \"36.5\")");
    assert_refused("service:\n  metrics_public: maybe\n", "service.metrics_public",
                   "t.yaml:2:19: service.metrics_public: expected true or false (got \"maybe\")");
    assert_refused("service:\n  metrics_public: yes\n", "service.metrics_public",
                   "t.yaml:2:19: service.metrics_public: expected true or false (got \"yes\")");
    assert_refused("data_dir:\n  x: 1\n", "data_dir",
                   "t.yaml:2:3: data_dir: expected a string, got a mapping");
    assert_refused("ca:\n  sign:\n    key_bits: [2048]\n", "ca.sign.key_bits",
                   "t.yaml:3:15: ca.sign.key_bits: expected an integer, got a list");
    assert_refused("ca: [1, 2]\n", "ca", "t.yaml:1:5: ca: expected a mapping, got a list");
    assert_refused("listen: 127.0.0.1:80\n", "listen",
                   "t.yaml:1:9: listen: expected a mapping, got a scalar");
    assert_refused("operators: {name: a}\n", "operators",
                   "t.yaml:1:12: operators: expected a list, got a mapping");
    assert_refused("operators:\n  - alice\n", "operators[0]",
                   "t.yaml:2:5: operators[0]: expected a mapping, got a scalar");
    assert_refused("hello\n", "",
                   "t.yaml:1:1: the top level must be a mapping of keys, not a scalar");
}
END_TEST

START_TEST(refused_out_of_range)
{
    /* The example of DESIGN: a 12-line file, the bad value on line 12. */
    const char *yaml = "# jpki\n"
                       "data_dir: ./var\n"
                       "\n"
                       "public_url: http://127.0.0.1:8080\n"
                       "listen:\n"
                       "  http: 127.0.0.1:8080\n"
                       "crl:\n"
                       "  period_s: 3600\n"
                       "\n"
                       "ca:\n"
                       "  sign:\n"
                       "    key_bits: 1024\n";
    struct jerr err;
    jerr_clear(&err);
    ck_assert_ptr_null(config_load_string("jpki.yaml", yaml, strlen(yaml), NULL, 0, &err));
    ck_assert_int_eq(err.code, JERR_CONFIG);
    ck_assert_str_eq(err.field, "ca.sign.key_bits");
    ck_assert_str_eq(err.msg,
                     "jpki.yaml:12:15: ca.sign.key_bits: must be between 2048 and 8192 (got 1024)");

    assert_refused("ca:\n  auth:\n    key_bits: 8193\n", "ca.auth.key_bits",
                   "t.yaml:3:15: ca.auth.key_bits: must be between 2048 and 8192 (got 8193)");
    assert_refused("subscriber:\n  validity_years: -1\n", "subscriber.validity_years",
                   "t.yaml:2:19: subscriber.validity_years: must be between 1 and 10 (got -1)");
    assert_refused("service:\n  loops: 99999999999999999999999\n", "service.loops",
                   "t.yaml:2:10: service.loops: must be between 0 and 64 (got "
                   "99999999999999999999999)");
    assert_refused("ca:\n  sign: {crl_partitions: 0}\n", "ca.sign.crl_partitions",
                   "t.yaml:2:26: ca.sign.crl_partitions: must be between 1 and 4096 (got 0)");
    assert_refused("ocsp:\n  max_inflight_signs: 100001\n", "ocsp.max_inflight_signs",
                   "t.yaml:2:23: ocsp.max_inflight_signs: must be between 1 and 100000 (got "
                   "100001)");
}
END_TEST

START_TEST(refused_bad_values)
{
    assert_refused("subscriber:\n  juki_issuance_end: 2015-02-30\n", "subscriber.juki_issuance_end",
                   "t.yaml:2:22: subscriber.juki_issuance_end: expected a calendar date "
                   "YYYY-MM-DD (got \"2015-02-30\")");
    assert_refused("ca:\n  auth:\n    policy_oid: 3.1.2\n", "ca.auth.policy_oid",
                   "t.yaml:3:17: ca.auth.policy_oid: the first arc of an OID must be 0, 1 or 2 "
                   "(got \"3.1.2\")");
    assert_refused_prefix("ca:\n  sign:\n    policy_oid: 1\n", "ca.sign.policy_oid",
                          "t.yaml:3:17: ca.sign.policy_oid: an OID has at least two arcs");
    assert_refused_prefix("ca:\n  sign:\n    policy_oid: 1.2.x\n", "ca.sign.policy_oid",
                          "t.yaml:3:17: ca.sign.policy_oid: not a dotted OID");
    assert_refused_prefix("ca:\n  sign:\n    policy_oid: 1.2..3\n", "ca.sign.policy_oid",
                          "t.yaml:3:17: ca.sign.policy_oid: not a dotted OID");
    assert_refused_prefix("ca:\n  sign:\n    policy_oid: 1.40.3\n", "ca.sign.policy_oid",
                          "t.yaml:3:17: ca.sign.policy_oid: the second arc must be below 40");
    assert_refused("ca:\n  sign:\n    key_algorithm: ec\n", "ca.sign.key_algorithm",
                   "t.yaml:3:20: ca.sign.key_algorithm: expected rsa, rsa2048, rsa3072, ecdsa-p384 "
                   "or ecdsa-p521 (got \"ec\")");
    assert_refused_prefix("ca:\n  sign:\n    subject: JPKI Root\n", "ca.sign.subject",
                          "t.yaml:3:14: ca.sign.subject: expected TYPE=value parts");
    assert_refused_prefix("ca:\n  sign:\n    subject: C=JP, XX=JPKI\n", "ca.sign.subject",
                          "t.yaml:3:14: ca.sign.subject: unknown attribute type \"XX\"");
    assert_refused_prefix("agency: Agency, Inc\n", "agency",
                          "t.yaml:1:9: agency: must not contain any of");
    assert_refused("data_dir: \"\"\n", "data_dir", "t.yaml:1:11: data_dir: must not be empty");
    assert_refused_prefix("agency: \"a\\x01b\"\n", "agency",
                          "t.yaml:1:9: agency: contains a control character");
    assert_refused_prefix("agency: \"a\\0b\"\n", "agency",
                          "t.yaml:1:9: agency: contains a NUL character");
}
END_TEST

START_TEST(refused_bad_listen)
{
    static const struct {
        const char *addr, *why;
    } bad[] = {
        {"127.0.0.1", "expected host:port or [ipv6]:port"},
        {"127.0.0.1:65536", "port must be a number between 0 and 65535"},
        {"127.0.0.1:http", "port must be a number between 0 and 65535"},
        {"999.1.1.1:80", "not an IPv4 address"},
        {"::1:8080", "bad host (an IPv6 address must be written [addr]:port)"},
        {"[zz]:80", "not an IPv6 address in brackets"},
        {"[::1]8080", "expected host:port or [ipv6]:port"},
        {":8080", "expected host:port or [ipv6]:port"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char yaml[128], msg[256];
        snprintf(yaml, sizeof(yaml), "listen:\n  http: \"%s\"\n", bad[i].addr);
        snprintf(msg, sizeof(msg), "t.yaml:2:9: listen.http: %s (got \"%s\")", bad[i].why,
                 bad[i].addr);
        assert_refused(yaml, "listen.http", msg);
    }
    static const char *const good[] = {"localhost:8080", "0.0.0.0:1", "[::1]:65535", "[::]:8443",
                                       "ocsp.example.jp:80"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char yaml[128];
        struct jerr err;
        snprintf(yaml, sizeof(yaml), "listen:\n  http: \"%s\"\n", good[i]);
        struct jpki_config *cfg = load(yaml, &err);
        ck_assert_msg(cfg != NULL, "%s: %s", good[i], err.msg);
        ck_assert_str_eq(cfg->listen_http, good[i]);
        config_free(cfg);
    }
}
END_TEST

START_TEST(refused_bad_urls)
{
    assert_refused("public_url: ftp://x\n", "public_url",
                   "t.yaml:1:13: public_url: must start with http:// or https:// (got "
                   "\"ftp://x\")");
    assert_refused("public_url: http://\n", "public_url",
                   "t.yaml:1:13: public_url: has no host (got \"http://\")");
    assert_refused("public_url: http://x//\n", "public_url",
                   "t.yaml:1:13: public_url: must not end with \"//\" (got \"http://x//\")");
    assert_refused("public_url: \"http://a b\"\n", "public_url",
                   "t.yaml:1:13: public_url: contains a character not allowed in a URL (got "
                   "\"http://a b\")");
    assert_refused("ca:\n  auth:\n    ocsp_url: ldap://x\n", "ca.auth.ocsp_url",
                   "t.yaml:3:15: ca.auth.ocsp_url: must start with http:// or https:// (got "
                   "\"ldap://x\")");
}
END_TEST

START_TEST(refused_cross_field)
{
    assert_refused("crl:\n  period_s: 7200\n  next_update_s: 3600\n", "crl.next_update_s",
                   "t.yaml:3:18: crl.next_update_s: must be greater than crl.period_s (3600 <= "
                   "7200)");
    /* Equal is refused too; without the key in the file the message has no line. */
    assert_refused("crl:\n  period_s: 86400\n", "crl.next_update_s",
                   "t.yaml: crl.next_update_s: must be greater than crl.period_s (86400 <= "
                   "86400)");
    assert_refused("ocsp:\n  validity_s: 3600\n  refresh_before_s: 3600\n", "ocsp.refresh_before_s",
                   "t.yaml:3:21: ocsp.refresh_before_s: must be less than ocsp.validity_s (3600 "
                   ">= 3600)");
    assert_refused("listen:\n  https: 127.0.0.1:8443\n", "tls.cert",
                   "t.yaml: tls.cert: required key is missing (listen.https is set)");
    assert_refused("listen:\n  https: 127.0.0.1:8443\ntls:\n  cert: c.pem\n", "tls.key",
                   "t.yaml: tls.key: required key is missing (listen.https is set)");
    assert_refused("listen:\n  https: 127.0.0.1:8443\ntls:\n  cert: \"\"\n  key: k.pem\n",
                   "tls.cert", "t.yaml:4:9: tls.cert: must not be empty when listen.https is set");
    const char *const https[] = {"listen.https=[::1]:8443"};
    assert_refused_set("{}", https, 1, "tls.cert",
                       "t.yaml: tls.cert: required key is missing (listen.https is set)", false);
}
END_TEST

START_TEST(refused_inline_secret)
{
    struct jerr err;
    ck_assert_ptr_null(load("ca_passphrase: hunter2\n", &err));
    ck_assert_int_eq(err.code, JERR_CONFIG);
    ck_assert_str_eq(err.field, "ca_passphrase");
    ck_assert_str_eq(err.msg, "t.yaml:1:16: ca_passphrase: secrets must not be written in the "
                              "configuration; name an environment variable (ca_passphrase.env) "
                              "or a file (ca_passphrase.file)");
    ck_assert_ptr_null(strstr(err.msg, "hunter2"));

    ck_assert_ptr_null(load("ca_passphrase:\n  value: hunter2\n", &err));
    ck_assert_int_eq(err.code, JERR_CONFIG);
    ck_assert_str_eq(err.field, "ca_passphrase.value");
    ck_assert_msg(strncmp(err.msg, "t.yaml:2:10: ca_passphrase.value: secrets must not", 50) == 0,
                  "%s", err.msg);
    ck_assert_ptr_null(strstr(err.msg, "hunter2"));
}
END_TEST

START_TEST(refused_operators)
{
    assert_refused("operators:\n"
                   "  - {name: alice, role: admin, token_sha256: " TOKEN_A "}\n"
                   "  - name: bob\n"
                   "    role: boss\n"
                   "    token_sha256: " TOKEN_B "\n",
                   "operators[1].role",
                   "t.yaml:4:11: operators[1].role: must be one of admin, operator, batch, "
                   "auditor (got \"boss\")");
    assert_refused("operators:\n  - name: bob\n    role: auditor\n", "operators[0].token_sha256",
                   "t.yaml: operators[0].token_sha256: required key is missing");
    assert_refused("operators:\n  - {name: bob, role: auditor, token_sha256: abc}\n",
                   "operators[0].token_sha256",
                   "t.yaml:2:46: operators[0].token_sha256: expected 64 hexadecimal digits (a "
                   "SHA-256)");
    assert_refused(
        "operators:\n  - {name: \"bob smith\", role: auditor, token_sha256: " TOKEN_A "}\n",
        "operators[0].name", "t.yaml:2:12: operators[0].name: may contain only A-Z a-z 0-9 . _ -");
    assert_refused("operators:\n"
                   "  - {name: bob, role: auditor, token_sha256: " TOKEN_A "}\n"
                   "  - {name: bob, role: admin, token_sha256: " TOKEN_B "}\n",
                   "operators[1].name",
                   "t.yaml:3:12: operators[1].name: duplicate operator name (also "
                   "operators[0].name)");
    assert_refused("operators:\n  - {name: \"\", role: admin, token_sha256: " TOKEN_A "}\n",
                   "operators[0].name", "t.yaml:2:12: operators[0].name: must not be empty");
}
END_TEST

static const struct refusal yaml_structure[] = {
    {"data_dir: a\ndata_dir: b\n", "data_dir", "t.yaml:2:1: data_dir: duplicate key", false},
    {"ca:\n  sign:\n    key_bits: 2048\n    key_bits: 4096\n", "ca.sign.key_bits",
     "t.yaml:4:5: ca.sign.key_bits: duplicate key", false},
    /* Invalid syntax: the message carries libyaml's position. */
    {"data_dir: ./var\npublic_url: a: b\n", "", "t.yaml:2:14: invalid YAML:", true},
    {"ca:\n  sign: [2048\n", "", "t.yaml:3:1: invalid YAML:", true},
    {"ca:\n  sign: &s {key_bits: 4096}\n  auth: *s\n", "ca.sign",
     "t.yaml:2:9: ca.sign: anchors are not supported", false},
    {"data_dir: *x\n", "data_dir", "t.yaml:1:11: data_dir: aliases are not supported", false},
    {"data_dir: !!str x\n", "data_dir", "t.yaml:1:11: data_dir: tags are not supported", false},
    {"data_dir: a\n---\ndata_dir: b\n", "", "t.yaml:2:1: only one YAML document is allowed", false},
    {"? [a, b]\n: c\n", "", "t.yaml:1:3: a key must be a scalar, not a list", false},
    {"\"data_dir\\0x\": a\n", "data_dir\\x00x",
     "t.yaml:1:1: data_dir\\x00x: a key must not contain a NUL character", false},
    {"agency: ok\nfoo: \"\xff\"\n", "", "t.yaml:2:7: not valid UTF-8", false},
    {"agency: \xc3\xa9\xed\xa0\x80\n", "", "t.yaml:1:10: not valid UTF-8", false},
    /* Deep nesting stops at the cap, with the path so far. */
    {"a: [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]\n",
     "a[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]", "t.yaml:1:19: a[0][0]", true},
};

START_TEST(refused_yaml_structure)
{
    ASSERT_ALL_REFUSED(yaml_structure);
}
END_TEST

START_TEST(size_limit)
{
    size_t len = JPKI_CONFIG_MAX_BYTES + 1;
    char *big = malloc(len + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, '#', len);
    big[len] = '\0';
    struct jerr err;
    jerr_clear(&err);
    ck_assert_ptr_null(config_load_string("t.yaml", big, len, NULL, 0, &err));
    ck_assert_int_eq(err.code, JERR_CONFIG);
    ck_assert_str_eq(err.msg, "t.yaml: larger than 1048576 bytes");

    /* The same through a file; one byte less is accepted (a comment: all defaults). */
    char *dir = testutil_mkdtemp();
    ck_assert_ptr_nonnull(dir);
    char path[4096];
    snprintf(path, sizeof(path), "%s/big.yaml", dir);
    ck_assert_int_eq(testutil_write_file(path, big, len), 0);
    jerr_clear(&err);
    ck_assert_ptr_null(config_load(path, NULL, 0, &err));
    ck_assert_int_eq(err.code, JERR_CONFIG);
    char want[4200];
    snprintf(want, sizeof(want), "%s: larger than 1048576 bytes", path);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(testutil_write_file(path, big, len - 1), 0);
    jerr_clear(&err);
    struct jpki_config *cfg = config_load(path, NULL, 0, &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    assert_defaults(cfg);
    config_free(cfg);

    snprintf(path, sizeof(path), "%s/missing.yaml", dir);
    jerr_clear(&err);
    ck_assert_ptr_null(config_load(path, NULL, 0, &err));
    ck_assert_int_eq(err.code, JERR_CONFIG);
    snprintf(want, sizeof(want), "%s: No such file or directory", path);
    ck_assert_str_eq(err.msg, want);
    jerr_clear(&err);
    ck_assert_ptr_null(config_load(dir, NULL, 0, &err));
    ck_assert_int_eq(err.code, JERR_CONFIG);
    testutil_rmtree(dir);
    free(dir);
    free(big);
}
END_TEST

/* ---- passphrase ---- */

static struct jpki_config *load_passphrase_cfg(const char *env, const char *file)
{
    char env_set[256], file_set[4200];
    snprintf(env_set, sizeof(env_set), "ca_passphrase.env=%s", env);
    snprintf(file_set, sizeof(file_set), "ca_passphrase.file=%s", file);
    const char *const set[] = {env_set, file_set};
    struct jerr err;
    struct jpki_config *cfg = load_set("{}", set, 2, &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    return cfg;
}

START_TEST(passphrase_from_env)
{
    struct jpki_config *cfg = load_passphrase_cfg("JPKI_TEST_PASS", "");
    struct jerr err = {0};
    setenv("JPKI_TEST_PASS", "s3cret pass", 1);
    char *p = config_read_passphrase(cfg, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    ck_assert_str_eq(p, "s3cret pass");
    config_passphrase_free(p);

    setenv("JPKI_TEST_PASS", "", 1);
    jerr_clear(&err);
    ck_assert_ptr_null(config_read_passphrase(cfg, &err));
    ck_assert_int_eq(err.code, JERR_CONFIG);
    ck_assert_str_eq(err.field, "ca_passphrase.env");
    ck_assert_str_eq(err.msg, "ca_passphrase.env: the environment variable JPKI_TEST_PASS is not "
                              "set or empty");

    unsetenv("JPKI_TEST_PASS");
    jerr_clear(&err);
    ck_assert_ptr_null(config_read_passphrase(cfg, &err));
    ck_assert_int_eq(err.code, JERR_CONFIG);
    ck_assert_str_eq(err.field, "ca_passphrase.env");
    ck_assert_ptr_nonnull(strstr(err.msg, "JPKI_TEST_PASS"));
    config_free(cfg);

    /* The default variable of the example. */
    jerr_clear(&err);
    cfg = load("{}", &err);
    setenv("JPKI_CA_PASSPHRASE", "from-default-env", 1);
    p = config_read_passphrase(cfg, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    ck_assert_str_eq(p, "from-default-env");
    config_passphrase_free(p);
    config_passphrase_free(NULL);
    config_free(cfg);
}
END_TEST

START_TEST(passphrase_from_file)
{
    char *dir = testutil_mkdtemp();
    ck_assert_ptr_nonnull(dir);
    char path[4096], want[4300];
    snprintf(path, sizeof(path), "%s/ca.pass", dir);
    struct jpki_config *cfg = load_passphrase_cfg("", path);
    struct jerr err;

    /* One trailing newline is stripped, only one. */
    ck_assert_int_eq(testutil_write_file(path, "file pass\n", 10), 0);
    jerr_clear(&err);
    char *p = config_read_passphrase(cfg, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    ck_assert_str_eq(p, "file pass");
    config_passphrase_free(p);

    ck_assert_int_eq(testutil_write_file(path, "two\n\n", 5), 0);
    p = config_read_passphrase(cfg, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    ck_assert_str_eq(p, "two\n");
    config_passphrase_free(p);

    ck_assert_int_eq(testutil_write_file(path, "crlf\r\n", 6), 0);
    p = config_read_passphrase(cfg, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    ck_assert_str_eq(p, "crlf");
    config_passphrase_free(p);

    /* Group- or world-readable: refused, naming the mode. */
    ck_assert_int_eq(chmod(path, 0644), 0);
    jerr_clear(&err);
    ck_assert_ptr_null(config_read_passphrase(cfg, &err));
    ck_assert_int_eq(err.code, JERR_CONFIG);
    ck_assert_str_eq(err.field, "ca_passphrase.file");
    snprintf(want, sizeof(want),
             "ca_passphrase.file: %s: mode 0644 lets group or others read or write it; use "
             "chmod 600",
             path);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(chmod(path, 0620), 0);
    jerr_clear(&err);
    ck_assert_ptr_null(config_read_passphrase(cfg, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "mode 0620"));
    ck_assert_int_eq(chmod(path, 0400), 0);
    jerr_clear(&err);
    p = config_read_passphrase(cfg, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    config_passphrase_free(p);
    ck_assert_int_eq(chmod(path, 0600), 0);

    /* Empty, or only a newline. */
    ck_assert_int_eq(testutil_write_file(path, "\n", 1), 0);
    jerr_clear(&err);
    ck_assert_ptr_null(config_read_passphrase(cfg, &err));
    snprintf(want, sizeof(want), "ca_passphrase.file: %s: empty", path);
    ck_assert_str_eq(err.msg, want);

    /* 1024 bytes (+ newline) is the most. */
    char big[1026];
    memset(big, 'p', sizeof(big));
    big[1024] = '\n';
    ck_assert_int_eq(testutil_write_file(path, big, 1025), 0);
    jerr_clear(&err);
    p = config_read_passphrase(cfg, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    ck_assert_uint_eq(strlen(p), 1024);
    config_passphrase_free(p);
    memset(big, 'p', sizeof(big));
    ck_assert_int_eq(testutil_write_file(path, big, 1025), 0);
    jerr_clear(&err);
    ck_assert_ptr_null(config_read_passphrase(cfg, &err));
    ck_assert_int_eq(err.code, JERR_CONFIG);
    snprintf(want, sizeof(want), "ca_passphrase.file: %s: longer than 1024 bytes", path);
    ck_assert_str_eq(err.msg, want);

    /* Missing file. */
    unlink(path);
    jerr_clear(&err);
    ck_assert_ptr_null(config_read_passphrase(cfg, &err));
    ck_assert_int_eq(err.code, JERR_CONFIG);
    ck_assert_str_eq(err.field, "ca_passphrase.file");
    snprintf(want, sizeof(want), "ca_passphrase.file: %s: No such file or directory", path);
    ck_assert_str_eq(err.msg, want);

    config_free(cfg);
    testutil_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- small helpers ---- */

START_TEST(paths_and_names)
{
    struct jerr err;
    struct jpki_config *cfg = load("data_dir: var/t1\n", &err);
    ck_assert_ptr_nonnull(cfg);
    char buf[64];
    ck_assert_ptr_eq(config_path(cfg, "keys/sign-ca.key", buf, sizeof(buf)), buf);
    ck_assert_str_eq(buf, "var/t1/keys/sign-ca.key");
    ck_assert_ptr_null(config_path(cfg, "keys/sign-ca.key", buf, 10));
    ck_assert_ptr_null(config_path(cfg, "/etc/passwd", buf, sizeof(buf)));
    config_free(cfg);
    cfg = load("data_dir: /srv/\n", &err);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_str_eq(config_path(cfg, "jpki.db", buf, sizeof(buf)), "/srv/jpki.db");
    config_free(cfg);
    config_free(NULL);

    enum ca_kind kind = CA_AUTH;
    ck_assert_int_eq(ca_kind_parse("sign", &kind), 0);
    ck_assert_int_eq(kind, CA_SIGN);
    ck_assert_int_eq(ca_kind_parse("auth", &kind), 0);
    ck_assert_int_eq(kind, CA_AUTH);
    ck_assert_int_eq(ca_kind_parse("Sign", &kind), -1);
    ck_assert_int_eq(ca_kind_parse("", &kind), -1);
    ck_assert_int_eq(kind, CA_AUTH);
    ck_assert_str_eq(ca_kind_name(CA_SIGN), "sign");
    ck_assert_str_eq(ca_kind_name(CA_AUTH), "auth");
    ck_assert_str_eq(operator_role_name(ROLE_ADMIN), "admin");
    ck_assert_str_eq(operator_role_name(ROLE_OPERATOR), "operator");
    ck_assert_str_eq(operator_role_name(ROLE_BATCH), "batch");
    ck_assert_str_eq(operator_role_name(ROLE_AUDITOR), "auditor");
}
END_TEST

/* The hardening keys: access control, abuse limits, connection handling. */
START_TEST(hardening_keys)
{
    struct jerr err;
    const char *yaml = "listen:\n  https: 127.0.0.1:8443\ntls:\n  cert: s.pem\n  key: s.key\n"
                       "access:\n  ocsp: registered\n"
                       "  crl: registered\nlimits:\n  api_per_minute: 0\n"
                       "  holder_per_minute: 5\nservice:\n  idle_timeout_s: 2\n"
                       "  max_connections: 8\n";
    struct jpki_config *cfg = load(yaml, &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert_int_eq(cfg->access_ocsp, ACCESS_REGISTERED);
    ck_assert_int_eq(cfg->access_crl, ACCESS_REGISTERED);
    ck_assert_int_eq(cfg->limits_api_per_minute, 0);
    ck_assert_int_eq(cfg->limits_holder_per_minute, 5);
    ck_assert_int_eq(cfg->idle_timeout_s, 2);
    ck_assert_int_eq(cfg->max_connections, 8);
    config_free(cfg);

    /* One group open, the other closed; through --set. */
    const char *const set[] = {"listen.https=127.0.0.1:0", "tls.cert=s.pem", "tls.key=s.key",
                               "access.crl=registered"};
    cfg = load_set("", set, 4, &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert_int_eq(cfg->access_ocsp, ACCESS_OPEN);
    ck_assert_int_eq(cfg->access_crl, ACCESS_REGISTERED);
    config_free(cfg);
    ck_assert_str_eq(access_mode_name(ACCESS_OPEN), "open");
    ck_assert_str_eq(access_mode_name(ACCESS_REGISTERED), "registered");

    assert_refused("access:\n  ocsp: certificate\n", "access.ocsp",
                   "t.yaml:2:9: access.ocsp: must be open or registered (got \"certificate\")");
    /* issue 15: the first form is gone, in words that name its successor */
    assert_refused("access:\n  crl: client_cert\n", "access.crl",
                   "t.yaml:2:8: access.crl: client_cert was replaced by registered: register "
                   "relying parties with POST /v1/relying-parties (docs/API.md)");
    assert_refused("access:\n  ocsp: registered\n", "access.ocsp",
                   "t.yaml:2:9: access.ocsp: registered needs listen.https");
    assert_refused("tls:\n  relying_party_ca: rp.pem\n", "tls.relying_party_ca",
                   "t.yaml:2:21: tls.relying_party_ca: removed: relying parties' client "
                   "certificates come from jpki's own relying-party CA (certs/rp-ca.pem); "
                   "register them with POST /v1/relying-parties and set access.* registered");
    assert_refused("limits:\n  api_per_minute: -1\n", "limits.api_per_minute",
                   "t.yaml:2:19: limits.api_per_minute: must be between 0 and 1000000 (got -1)");
    assert_refused("limits:\n  holder_per_minute: 1000001\n", "limits.holder_per_minute",
                   "t.yaml:2:22: limits.holder_per_minute: must be between 0 and 1000000 (got "
                   "1000001)");
    assert_refused("service:\n  idle_timeout_s: 0\n", "service.idle_timeout_s",
                   "t.yaml:2:19: service.idle_timeout_s: must be between 1 and 3600 (got 0)");
    assert_refused("service:\n  max_connections: -5\n", "service.max_connections",
                   "t.yaml:2:20: service.max_connections: must be between 0 and 1000000 (got -5)");
    assert_refused("limits:\n  rps: 5\n", "limits.rps", "t.yaml:2:3: limits.rps: unknown key");
}
END_TEST

/* keystore (DESIGN §10): file by default; pkcs11 needs module, token and one PIN source; the
 * PIN follows the passphrase's rules. */
START_TEST(publish_redis)
{
    struct jerr err;
    struct jpki_config *cfg = load("{}", &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert_str_eq(cfg->publish_redis_url, ""); /* unset: no publication */
    ck_assert_str_eq(cfg->publish_redis_key_prefix, "jpki:");
    ck_assert(!cfg->publish_redis_tls.on);
    ck_assert_ptr_null(config_read_redis_password(cfg, false, &err)); /* none configured */
    ck_assert(!jerr_is_set(&err));
    config_free(cfg);
    /* TLS: the files are the TLS module's to check (redistls_new, at start) */
    cfg = load("publish: {redis: {url: \"redis://h/0\", tls: true, tls_ca: /c.pem, "
               "tls_cert: /k.pem, tls_key: /k.key}}\n"
               "respond: {redis: {url: \"redis://h/0\", tls: true, tls_ca: /r.pem}}",
               &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert(cfg->publish_redis_tls.on && cfg->respond_redis_tls.on);
    ck_assert_str_eq(cfg->publish_redis_tls.ca, "/c.pem");
    ck_assert_str_eq(cfg->publish_redis_tls.cert, "/k.pem");
    ck_assert_str_eq(cfg->publish_redis_tls.key, "/k.key");
    ck_assert_str_eq(cfg->respond_redis_tls.ca, "/r.pem");
    ck_assert_str_eq(cfg->respond_redis_tls.cert, "");
    config_free(cfg);

    cfg = load("publish:\n  redis:\n    url: redis://127.0.0.1:6390/2\n"
               "    password: {env: JPKI_TEST_REDIS}\n    key_prefix: \"x:\"\n",
               &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert_str_eq(cfg->publish_redis_url, "redis://127.0.0.1:6390/2");
    ck_assert_str_eq(cfg->publish_redis_key_prefix, "x:");
    setenv("JPKI_TEST_REDIS", "pw", 1);
    char *pw = config_read_redis_password(cfg, false, &err);
    ck_assert_msg(pw != NULL, "%s", err.msg);
    ck_assert_str_eq(pw, "pw");
    config_passphrase_free(pw);
    unsetenv("JPKI_TEST_REDIS");
    ck_assert_ptr_null(config_read_redis_password(cfg, false, &err));
    ck_assert_str_eq(err.field, "publish.redis.password.env");
    config_free(cfg);

    static const struct {
        const char *yaml, *field, *msg;
    } refusals[] = {
        {"publish: {redis: {url: \"http://h/0\"}}", "publish.redis.url",
         "publish.redis.url: must be a redis://host:port/db URL"},
        {"publish: {redis: {url: \"redis://h/0\", password: {env: A, file: /f}}}",
         "publish.redis.password.file", "publish.redis.password.file: set either"},
        {"publish: {redis: {password: {value: x}}}", "publish.redis.password.value",
         "publish.redis.password.value"},
    };
    for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        ck_assert_ptr_null(load(refusals[i].yaml, &err));
        ck_assert_int_eq(err.code, JERR_CONFIG);
        ck_assert_str_eq(err.field, refusals[i].field);
        ck_assert_msg(strstr(err.msg, refusals[i].msg) != NULL, "%s", err.msg);
    }
}
END_TEST

START_TEST(keystore_backend)
{
    struct jerr err;
    struct jpki_config *cfg = load("{}", &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert_str_eq(cfg->keystore_backend, "file");
    ck_assert(!config_keystore_is_pkcs11(cfg));
    ck_assert_int_eq(cfg->p11_sessions, 4);
    config_free(cfg);

    const char *ok = "keystore:\n  backend: pkcs11\n  pkcs11:\n    module: /m.so\n"
                     "    token: jpki-ca\n    pin: {env: JPKI_TEST_PIN}\n    sessions: 8\n";
    cfg = load(ok, &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert(config_keystore_is_pkcs11(cfg));
    ck_assert_str_eq(cfg->p11_module, "/m.so");
    ck_assert_str_eq(cfg->p11_token, "jpki-ca");
    ck_assert_int_eq(cfg->p11_sessions, 8);
    setenv("JPKI_TEST_PIN", "123456", 1);
    char *pin = config_read_hsm_pin(cfg, &err);
    ck_assert_msg(pin != NULL, "%s", err.msg);
    ck_assert_str_eq(pin, "123456");
    config_passphrase_free(pin);
    unsetenv("JPKI_TEST_PIN");
    jerr_clear(&err);
    ck_assert_ptr_null(config_read_hsm_pin(cfg, &err));
    ck_assert_str_eq(err.field, "keystore.pkcs11.pin.env");
    ck_assert_str_eq(err.msg, "keystore.pkcs11.pin.env: the environment variable JPKI_TEST_PIN "
                              "is not set or empty");
    config_free(cfg);

    assert_refused("keystore:\n  backend: hsm\n", "keystore.backend",
                   "t.yaml:2:12: keystore.backend: must be file or pkcs11, not \"hsm\"");
    assert_refused("keystore:\n  backend: pkcs11\n", "keystore.pkcs11.module",
                   "t.yaml: keystore.pkcs11.module: keystore.backend pkcs11 needs the module's "
                   "path");
    assert_refused("keystore:\n  backend: pkcs11\n  pkcs11: {module: /m.so, token: t}\n",
                   "keystore.pkcs11.pin.env",
                   "t.yaml: keystore.pkcs11.pin.env: one of keystore.pkcs11.pin.env or "
                   "keystore.pkcs11.pin.file must be set");
    assert_refused("keystore:\n  pkcs11:\n    pin: {value: \"1234\"}\n",
                   "keystore.pkcs11.pin.value",
                   "t.yaml:3:18: keystore.pkcs11.pin.value: secrets must not be written in the "
                   "configuration; name an environment variable (keystore.pkcs11.pin.env) or a "
                   "file (keystore.pkcs11.pin.file)");
    assert_refused("keystore:\n  pkcs11:\n    sessions: 17\n", "keystore.pkcs11.sessions",
                   "t.yaml:3:15: keystore.pkcs11.sessions: must be between 1 and 16 (got 17)");
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, example_file_loads_with_the_defaults);
    tcase_add_test(tc, example_file_with_overrides);
    tcase_add_test(tc, empty_inputs_mean_all_defaults);
    tcase_add_test(tc, almost_empty_file_keeps_other_defaults);
    tcase_add_test(tc, values_are_read);
    tcase_add_test(tc, derived_defaults_follow_public_url_and_agency);
    tcase_add_test(tc, null_values);
    tcase_add_test(tc, passphrase_file_turns_env_default_off);
    suite_add_tcase(s, tc);

    tc = tcase_create("overrides");
    tcase_add_test(tc, overrides_int_string_nested_new);
    tcase_add_test(tc, overrides_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("refusals");
    tcase_add_test(tc, refused_unknown_keys);
    tcase_add_test(tc, refused_wrong_types);
    tcase_add_test(tc, refused_out_of_range);
    tcase_add_test(tc, refused_bad_values);
    tcase_add_test(tc, refused_bad_listen);
    tcase_add_test(tc, refused_bad_urls);
    tcase_add_test(tc, refused_cross_field);
    tcase_add_test(tc, refused_inline_secret);
    tcase_add_test(tc, refused_operators);
    tcase_add_test(tc, refused_yaml_structure);
    tcase_add_test(tc, size_limit);
    tcase_add_test(tc, hardening_keys);
    suite_add_tcase(s, tc);

    tc = tcase_create("passphrase");
    tcase_add_test(tc, passphrase_from_env);
    tcase_add_test(tc, keystore_backend);
    tcase_add_test(tc, publish_redis);
    tcase_add_test(tc, passphrase_from_file);
    tcase_add_test(tc, paths_and_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(config_suite());
}
