/*
 * test_auth: operator authentication (responder/api/auth.c) — the Authorization header, token
 * digests and their comparison, new tokens, the role matrix of docs/API.md, tokens looked up
 * in the configuration, the administrator setting and the registry's operators table (with
 * the store functions of migration 2), and client certificates' CN/OU.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "ca/store.h"
#include "base/jclock.h"
#include "responder/api/auth.h"
#include "testinst.h"

/* SHA-256("test"), the example hash of config/jpki.example.yaml. */
#define TEST_SHA256 "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

/* ---- the Authorization header ---- */

static void parse_ok(const char *header, const char *want)
{
    char token[AUTH_TOKEN_MAX + 1];
    struct jerr err = {0};
    ck_assert_msg(auth_bearer_parse(header, token, sizeof(token), &err) == 0, "%s: %s", header,
                  err.msg);
    ck_assert_str_eq(token, want);
}

static void parse_refused(const char *header, const char *why)
{
    char token[AUTH_TOKEN_MAX + 1] = "untouched";
    struct jerr err = {0};
    ck_assert_int_eq(auth_bearer_parse(header, token, sizeof(token), &err), -1);
    ck_assert_int_eq(err.code, JERR_AUTH);
    ck_assert_str_eq(err.field, "authorization");
    ck_assert_msg(strstr(err.msg, why) != NULL, "'%s' not in '%s'", why, err.msg);
    ck_assert_str_eq(token, "untouched");
}

START_TEST(bearer_accepted)
{
    parse_ok("Bearer x", "x");
    parse_ok("bearer abc", "abc");   /* RFC 7235 §2.1: scheme case-insensitive */
    parse_ok("BEARER   abc", "abc"); /* 1*SP */
    parse_ok("Bearer a-b.c_d~e+f/g==", "a-b.c_d~e+f/g=="); /* RFC 6750 b64token */
}
END_TEST

START_TEST(bearer_refused)
{
    parse_refused(NULL, "no credential");
    parse_refused("Basic dXNlcjpwYXNz", "unsupported authentication scheme");
    parse_refused("Bearerx abc", "unsupported authentication scheme");
    parse_refused("", "unsupported authentication scheme");
    parse_refused("Bearer", "empty bearer token");
    parse_refused("Bearer ", "empty bearer token");
    parse_refused("Bearer    ", "empty bearer token");
    parse_refused("Bearer a b", "outside RFC 6750 b64token");
    parse_refused("Bearer abc\t", "outside RFC 6750 b64token");
    parse_refused("Bearer ab=c", "outside RFC 6750 b64token");
    parse_refused("Bearer ===", "malformed bearer token");
    parse_refused("Bearer \xe5\xb1\xb1", "malformed bearer token");
}
END_TEST

START_TEST(bearer_length)
{
    char header[16 + AUTH_TOKEN_MAX + 2], want[AUTH_TOKEN_MAX + 1];
    memset(want, 'a', AUTH_TOKEN_MAX);
    want[AUTH_TOKEN_MAX] = '\0';
    snprintf(header, sizeof(header), "Bearer %s", want);
    parse_ok(header, want); /* exactly the cap */
    snprintf(header, sizeof(header), "Bearer %sb", want);
    parse_refused(header, "longer than 256 bytes");

    /* A caller's buffer too small is a bug, not the client's fault. */
    char small[4];
    struct jerr err = {0};
    ck_assert_int_eq(auth_bearer_parse("Bearer abcd", small, sizeof(small), &err), -1);
    ck_assert_int_eq(err.code, JERR_INTERNAL);
}
END_TEST

/* ---- digests ---- */

START_TEST(token_digest)
{
    unsigned char d[AUTH_SHA256_BYTES], known[AUTH_SHA256_BYTES];
    char hex[AUTH_SHA256_HEX + 1];
    auth_token_sha256("test", d);
    auth_hex_encode(d, hex);
    ck_assert_str_eq(hex, TEST_SHA256);
    ck_assert_int_eq(auth_hex_decode(TEST_SHA256, known), 0);
    ck_assert(auth_digest_is_equal(d, known));
    /* Upper-case hex decodes to the same digest. */
    char upper[AUTH_SHA256_HEX + 1];
    for (size_t i = 0; i <= AUTH_SHA256_HEX; i++)
        upper[i] = (char)(TEST_SHA256[i] >= 'a' && TEST_SHA256[i] <= 'f' ? TEST_SHA256[i] - 32
                                                                         : TEST_SHA256[i]);
    ck_assert_int_eq(auth_hex_decode(upper, known), 0);
    ck_assert(auth_digest_is_equal(d, known));
    /* One bit off anywhere, first or last byte: not equal. */
    known[0] ^= 1;
    ck_assert(!auth_digest_is_equal(d, known));
    known[0] ^= 1;
    known[AUTH_SHA256_BYTES - 1] ^= 0x80;
    ck_assert(!auth_digest_is_equal(d, known));
    /* Anything but 64 hex digits is refused. */
    ck_assert_int_eq(auth_hex_decode(TEST_SHA256 "0", known), -1);
    ck_assert_int_eq(auth_hex_decode("9f86", known), -1);
    ck_assert_int_eq(auth_hex_decode("", known), -1);
    ck_assert_int_eq(auth_hex_decode(NULL, known), -1);
    char bad[] = TEST_SHA256;
    bad[10] = 'g';
    ck_assert_int_eq(auth_hex_decode(bad, known), -1);
}
END_TEST

START_TEST(token_new)
{
    char t1[AUTH_NEW_TOKEN_HEX + 1], t2[AUTH_NEW_TOKEN_HEX + 1];
    char h1[AUTH_SHA256_HEX + 1], h2[AUTH_SHA256_HEX + 1], want[AUTH_SHA256_HEX + 1];
    unsigned char d[AUTH_SHA256_BYTES];
    struct jerr err = {0};
    ck_assert_int_eq(auth_token_new(t1, h1, &err), 0);
    ck_assert_int_eq(auth_token_new(t2, h2, &err), 0);
    ck_assert_uint_eq(strlen(t1), AUTH_NEW_TOKEN_HEX);
    ck_assert_uint_eq(strspn(t1, "0123456789abcdef"), AUTH_NEW_TOKEN_HEX);
    ck_assert_str_ne(t1, t2);
    SHA256((const unsigned char *)t1, strlen(t1), d);
    auth_hex_encode(d, want);
    ck_assert_str_eq(h1, want);
    /* A new token is a valid bearer token. */
    char header[80];
    snprintf(header, sizeof(header), "Bearer %s", t1);
    parse_ok(header, t1);
}
END_TEST

/* ---- roles (docs/API.md) ---- */

START_TEST(role_matrix)
{
    static const struct {
        unsigned mask;
        bool admin, operator_, batch, auditor;
    } rows[] = {
        {OPERATOR_ROLES_ADMIN, true, false, false, false},
        {OPERATOR_ROLES_LIFECYCLE, true, true, false, false},
        {OPERATOR_ROLES_BATCH, true, true, true, false},
        {OPERATOR_ROLES_ANY, true, true, true, true},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        ck_assert_int_eq(operator_role_is_allowed(ROLE_ADMIN, rows[i].mask), rows[i].admin);
        ck_assert_int_eq(operator_role_is_allowed(ROLE_OPERATOR, rows[i].mask), rows[i].operator_);
        ck_assert_int_eq(operator_role_is_allowed(ROLE_BATCH, rows[i].mask), rows[i].batch);
        ck_assert_int_eq(operator_role_is_allowed(ROLE_AUDITOR, rows[i].mask), rows[i].auditor);
    }
    ck_assert(!operator_role_is_allowed((enum operator_role)7, OPERATOR_ROLES_ANY));
    ck_assert(!operator_role_is_allowed((enum operator_role) - 1, ~0u));
    ck_assert(!operator_role_is_allowed(ROLE_ADMIN, 0));

    static const struct {
        const char *name;
        enum operator_role role;
    } roles[] = {{"admin", ROLE_ADMIN},
                 {"operator", ROLE_OPERATOR},
                 {"batch", ROLE_BATCH},
                 {"auditor", ROLE_AUDITOR}};
    enum operator_role r;
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        ck_assert_int_eq(auth_role_parse(roles[i].name, &r), 0);
        ck_assert_int_eq(r, roles[i].role);
    }
    static const char *const not_roles[] = {"Admin", "root", "", NULL};
    for (size_t i = 0; i < sizeof(not_roles) / sizeof(not_roles[0]); i++)
        ck_assert_int_eq(auth_role_parse(not_roles[i], &r), -1);
}
END_TEST

/* ---- tokens against the three sources ---- */

static struct testutil_registry registry;
static struct store *st; /* registry.st */

static void store_setup(void)
{
    testutil_registry_open(&registry, 0);
    st = registry.st;
}

static void store_teardown(void)
{
    testutil_registry_close(&registry);
    st = NULL;
}

static void hash_of(const char *token, char out[AUTH_SHA256_HEX + 1])
{
    unsigned char d[AUTH_SHA256_BYTES];
    auth_token_sha256(token, d);
    auth_hex_encode(d, out);
}

static struct operator_rec op_rec(const char *name, enum operator_role role, const char *token,
                                  bool disabled)
{
    struct operator_rec op;
    memset(&op, 0, sizeof(op));
    snprintf(op.name, sizeof(op.name), "%s", name);
    op.role = role;
    hash_of(token, op.token_sha256);
    snprintf(op.created_by, sizeof(op.created_by), "admin");
    op.disabled = disabled;
    return op;
}

START_TEST(operators_table)
{
    struct jerr err = {0};
    struct operator_rec op = op_rec("carol", ROLE_BATCH, "carol-token", false), got;
    ck_assert_int_ge(store_schema_version(st), 2);
    ck_assert_int_eq(store_operator_insert(st, &op, &err), 0);
    ck_assert_int_eq(store_operator_get(st, "carol", &got, &err), 0);
    ck_assert_str_eq(got.name, "carol");
    ck_assert_int_eq(got.role, ROLE_BATCH);
    ck_assert_str_eq(got.token_sha256, op.token_sha256);
    ck_assert_str_eq(got.created_by, "admin");
    ck_assert(got.created_at > 0);
    ck_assert(!got.disabled);
    ck_assert_int_eq(store_operator_by_token(st, op.token_sha256, &got, &err), 0);
    ck_assert_str_eq(got.name, "carol");

    /* The same name, or the same token under another name: conflicts. */
    struct operator_rec same_name = op_rec("carol", ROLE_ADMIN, "other", false);
    ck_assert_int_eq(store_operator_insert(st, &same_name, &err), -1);
    ck_assert_int_eq(err.code, JERR_CONFLICT);
    ck_assert_str_eq(err.field, "name");
    jerr_clear(&err);
    struct operator_rec same_token = op_rec("dave", ROLE_ADMIN, "carol-token", false);
    ck_assert_int_eq(store_operator_insert(st, &same_token, &err), -1);
    ck_assert_int_eq(err.code, JERR_CONFLICT);
    ck_assert_str_eq(err.field, "token_sha256");
    jerr_clear(&err);
    struct operator_rec bad_role = op_rec("erin", (enum operator_role)9, "erin-token", false);
    ck_assert_int_eq(store_operator_insert(st, &bad_role, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "role");
    jerr_clear(&err);
    ck_assert_int_eq(store_operator_get(st, "nobody", &got, &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
}
END_TEST

START_TEST(token_sources)
{
    char admin_hex[AUTH_SHA256_HEX + 1], upper[AUTH_SHA256_HEX + 1];
    struct auth_identity who;
    struct jerr err = {0};

    /* Configured operators: one in upper-case hex. */
    hash_of("bob-token", upper);
    for (char *p = upper; *p != '\0'; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 32);
    struct config_operator ops[] = {
        {"alice", ROLE_OPERATOR, TEST_SHA256},
        {"bob", ROLE_AUDITOR, upper},
    };
    struct jpki_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.operators = ops;
    cfg.operator_count = 2;

    /* No admin setting yet: configured tokens still work, others are unknown. */
    ck_assert_int_eq(auth_by_token(&cfg, st, "test", &who, &err), 0);
    ck_assert_str_eq(who.name, "alice");
    ck_assert_int_eq(who.role, ROLE_OPERATOR);
    ck_assert_int_eq(who.via, AUTH_VIA_TOKEN);
    ck_assert_int_eq(auth_by_token(&cfg, st, "bob-token", &who, &err), 0);
    ck_assert_str_eq(who.name, "bob");
    ck_assert_int_eq(who.role, ROLE_AUDITOR);
    ck_assert_int_eq(auth_by_token(&cfg, st, "admin-token", &who, &err), -1);
    ck_assert_int_eq(err.code, JERR_AUTH);
    ck_assert_str_eq(err.field, "authorization");
    ck_assert_str_eq(err.msg, "unknown or disabled credential");
    jerr_clear(&err);

    /* The first administrator token (registry setting written by jpkid init). */
    hash_of("admin-token", admin_hex);
    ck_assert_int_eq(store_meta_set(st, "admin_token_sha256", admin_hex, &err), 0);
    ck_assert_int_eq(auth_by_token(&cfg, st, "admin-token", &who, &err), 0);
    ck_assert_str_eq(who.name, OPERATOR_ADMIN_NAME);
    ck_assert_int_eq(who.role, ROLE_ADMIN);

    /* The registry's operators; a disabled one is refused like an unknown one. */
    struct operator_rec carol = op_rec("carol", ROLE_BATCH, "carol-token", false);
    struct operator_rec gone = op_rec("gone", ROLE_ADMIN, "gone-token", true);
    ck_assert_int_eq(store_operator_insert(st, &carol, &err), 0);
    ck_assert_int_eq(store_operator_insert(st, &gone, &err), 0);
    ck_assert_int_eq(auth_by_token(&cfg, st, "carol-token", &who, &err), 0);
    ck_assert_str_eq(who.name, "carol");
    ck_assert_int_eq(who.role, ROLE_BATCH);
    ck_assert_int_eq(auth_by_token(&cfg, st, "gone-token", &who, &err), -1);
    ck_assert_int_eq(err.code, JERR_AUTH);
    ck_assert_str_eq(err.msg, "unknown or disabled credential");
    jerr_clear(&err);

    /* Near misses: a prefix, a longer token, another case. */
    ck_assert_int_eq(auth_by_token(&cfg, st, "tes", &who, &err), -1);
    ck_assert_int_eq(err.code, JERR_AUTH);
    jerr_clear(&err);
    ck_assert_int_eq(auth_by_token(&cfg, st, "test0", &who, &err), -1);
    jerr_clear(&err);
    ck_assert_int_eq(auth_by_token(&cfg, st, "TEST", &who, &err), -1);
    jerr_clear(&err);
    /* No configuration at all: the registry still answers. */
    ck_assert_int_eq(auth_by_token(NULL, st, "carol-token", &who, &err), 0);
    ck_assert_str_eq(who.name, "carol");
}
END_TEST

/* ---- client certificates ---- */

/* A certificate whose subject has the given (type, value) entries in order; not signed: the
 * server has verified it before auth_by_cert sees it. */
static X509 *cert_with(const char *const *entries, size_t n)
{
    X509 *cert = X509_new();
    X509_NAME *name = X509_NAME_new();
    ck_assert_ptr_nonnull(cert);
    for (size_t i = 0; i < n; i++)
        /* V_ASN1_UTF8STRING, not MBSTRING_UTF8: no length table, so an over-long CN can be
         * made to see it refused. */
        ck_assert_int_eq(X509_NAME_add_entry_by_txt(name, entries[2 * i], V_ASN1_UTF8STRING,
                                                    (const unsigned char *)entries[2 * i + 1], -1,
                                                    -1, 0),
                         1);
    ck_assert_int_eq(X509_set_subject_name(cert, name), 1);
    X509_NAME_free(name);
    return cert;
}

static void cert_ok(const char *const *entries, size_t n, const char *name, enum operator_role role)
{
    struct auth_identity who;
    struct jerr err = {0};
    X509 *cert = cert_with(entries, n);
    ck_assert_msg(auth_by_cert(cert, &who, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(who.name, name);
    ck_assert_int_eq(who.role, role);
    ck_assert_int_eq(who.via, AUTH_VIA_CERT);
    X509_free(cert);
}

static void cert_refused(const char *const *entries, size_t n, const char *why)
{
    struct auth_identity who;
    struct jerr err = {0};
    X509 *cert = cert_with(entries, n);
    ck_assert_int_eq(auth_by_cert(cert, &who, &err), -1);
    ck_assert_int_eq(err.code, JERR_AUTH);
    ck_assert_str_eq(err.field, "certificate");
    ck_assert_msg(strstr(err.msg, why) != NULL, "'%s' not in '%s'", why, err.msg);
    X509_free(cert);
}

START_TEST(client_certificates)
{
    const char *plain[] = {"C", "JP", "O", "JPKI", "OU", "operator", "CN", "alice"};
    cert_ok(plain, 4, "alice", ROLE_OPERATOR);
    /* The first OU in subject order names the role. */
    const char *two_ou[] = {"OU", "auditor", "OU", "admin", "CN", "bob.x-1"};
    cert_ok(two_ou, 3, "bob.x-1", ROLE_AUDITOR);

    const char *no_cn[] = {"O", "JPKI", "OU", "operator"};
    cert_refused(no_cn, 2, "exactly one CN");
    const char *two_cn[] = {"OU", "operator", "CN", "alice", "CN", "mallory"};
    cert_refused(two_cn, 3, "exactly one CN");
    const char *space[] = {"OU", "operator", "CN", "Alice Smith"};
    cert_refused(space, 2, "not an operator name");
    const char *kanji[] = {"OU", "operator", "CN", "山田"};
    cert_refused(kanji, 2, "not an operator name");
    char long_cn[JPKI_ID_MAX + 2];
    memset(long_cn, 'a', JPKI_ID_MAX + 1);
    long_cn[JPKI_ID_MAX + 1] = '\0';
    const char *too_long[] = {"OU", "operator", "CN", long_cn};
    cert_refused(too_long, 2, "not an operator name");
    const char *no_ou[] = {"O", "JPKI", "CN", "alice"};
    cert_refused(no_ou, 2, "first OU must name a role");
    const char *bad_ou[] = {"OU", "root", "OU", "admin", "CN", "alice"};
    cert_refused(bad_ou, 3, "first OU must name a role");

    struct auth_identity who;
    struct jerr err = {0};
    ck_assert_int_eq(auth_by_cert(NULL, &who, &err), -1);
    ck_assert_int_eq(err.code, JERR_AUTH);
}
END_TEST

/* Issue 11 §2: a certificate's CN is looked up among the operators, which give the role (the
 * OU is not read); "admin" (the first administrator token) is never a certificate; a disabled
 * operator is refused. (The CRL check is tested end to end in test_operators.sh.) */
START_TEST(client_certificates_registry)
{
    struct config_operator ops[] = {{"alice", ROLE_OPERATOR, TEST_SHA256}};
    struct jpki_config cfg;
    struct auth_identity who;
    struct jerr err = {0};
    char admin_hex[AUTH_SHA256_HEX + 1], no_crl[] = "";
    bool disabled = true;

    memset(&cfg, 0, sizeof(cfg));
    cfg.operators = ops;
    cfg.operator_count = 1;
    cfg.tls_operator_crl = no_crl;
    hash_of("admin-token", admin_hex);
    ck_assert_int_eq(store_meta_set(st, "admin_token_sha256", admin_hex, &err), 0);
    struct operator_rec carol = op_rec("carol", ROLE_BATCH, "carol-token", false);
    struct operator_rec gone = op_rec("gone", ROLE_OPERATOR, "gone-token", true);
    ck_assert_int_eq(store_operator_insert(st, &carol, &err), 0);
    ck_assert_int_eq(store_operator_insert(st, &gone, &err), 0);

    const char *alice[] = {"OU", "admin", "CN", "alice"};
    X509 *cert = cert_with(alice, 2);
    ck_assert_msg(auth_by_cert_registry(&cfg, st, cert, &who, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(who.name, "alice");
    ck_assert_int_eq(who.role, ROLE_OPERATOR); /* the configuration's, not the OU's */
    ck_assert_int_eq(who.via, AUTH_VIA_CERT);
    X509_free(cert);

    const char *carol_no_ou[] = {"O", "JPKI", "CN", "carol"};
    cert = cert_with(carol_no_ou, 2);
    ck_assert_msg(auth_by_cert_registry(&cfg, st, cert, &who, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(who.role, ROLE_BATCH);
    X509_free(cert);

    const char *refused[][4] = {{"OU", "admin", "CN", "admin"},
                                {"OU", "admin", "CN", "gone"},
                                {"OU", "admin", "CN", "nobody"},
                                {"OU", "admin", "CN", "two words"}};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        jerr_clear(&err);
        cert = cert_with(refused[i], 2);
        ck_assert_int_eq(auth_by_cert_registry(&cfg, st, cert, &who, &err), -1);
        ck_assert_int_eq(err.code, JERR_AUTH);
        ck_assert_str_eq(err.field, "certificate");
        X509_free(cert);
    }

    /* operator_lookup: each source, and the first administrator once disabled. */
    enum operator_role role;
    jerr_clear(&err);
    ck_assert_int_eq(operator_lookup(&cfg, st, "admin", &role, &disabled, &err), 0);
    ck_assert(!disabled);
    ck_assert_int_eq(role, ROLE_ADMIN);
    ck_assert_int_eq(operator_lookup(&cfg, st, "gone", &role, &disabled, &err), 0);
    ck_assert(disabled);
    ck_assert_int_eq(operator_lookup(&cfg, st, "nobody", &role, &disabled, &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    jerr_clear(&err);
    ck_assert_int_eq(store_meta_set(st, "admin_token_sha256", "disabled", &err), 0);
    ck_assert_int_eq(operator_lookup(&cfg, st, "admin", &role, &disabled, &err), 0);
    ck_assert(disabled);
    ck_assert_int_eq(auth_by_token(&cfg, st, "admin-token", &who, &err), -1);
}
END_TEST

/* Disabling and rotating in the registry. */
START_TEST(operators_disable_rotate)
{
    struct jerr err = {0};
    struct operator_rec carol = op_rec("carol", ROLE_BATCH, "carol-token", false), got;
    struct operator_rec dave = op_rec("dave", ROLE_BATCH, "dave-token", false);
    char new_hex[AUTH_SHA256_HEX + 1];
    struct auth_identity who;

    ck_assert_int_eq(store_operator_insert(st, &carol, &err), 0);
    ck_assert_int_eq(store_operator_insert(st, &dave, &err), 0);
    hash_of("carol-new", new_hex);
    ck_assert_int_eq(store_operator_set_token(st, "carol", new_hex, &err), 0);
    ck_assert_int_eq(auth_by_token(NULL, st, "carol-token", &who, &err), -1);
    jerr_clear(&err);
    ck_assert_int_eq(auth_by_token(NULL, st, "carol-new", &who, &err), 0);
    ck_assert_int_eq(store_operator_set_token(st, "dave", new_hex, &err), -1);
    ck_assert_int_eq(err.code, JERR_CONFLICT);
    jerr_clear(&err);
    ck_assert_int_eq(store_operator_disable(st, "carol", &err), 0);
    ck_assert_int_eq(store_operator_get(st, "carol", &got, &err), 0);
    ck_assert(got.disabled);
    ck_assert_int_eq(auth_by_token(NULL, st, "carol-new", &who, &err), -1);
    jerr_clear(&err);
    ck_assert_int_eq(store_operator_disable(st, "nobody", &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    ck_assert_str_eq(err.field, "name");
}
END_TEST

static Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("pure");
    tcase_add_test(tc, bearer_accepted);
    tcase_add_test(tc, bearer_refused);
    tcase_add_test(tc, bearer_length);
    tcase_add_test(tc, token_digest);
    tcase_add_test(tc, token_new);
    tcase_add_test(tc, role_matrix);
    tcase_add_test(tc, client_certificates);
    suite_add_tcase(s, tc);
    TCase *reg = tcase_create("registry");
    tcase_add_checked_fixture(reg, store_setup, store_teardown);
    tcase_add_test(reg, operators_table);
    tcase_add_test(reg, token_sources);
    tcase_add_test(reg, client_certificates_registry);
    tcase_add_test(reg, operators_disable_rotate);
    suite_add_tcase(s, reg);
    return s;
}

int main(void)
{
    return testutil_run(auth_suite());
}
