/*
 * config: see config.h. Three steps, each with one job:
 *
 *   1. tree_parse: the file (at most JPKI_CONFIG_MAX_BYTES) -> a tree of mappings, lists and
 *      scalars that keeps each node's 1-based line and column (config/yamltree.h, which also
 *      refuses duplicate keys, anchors/aliases, tags, several documents and non-UTF-8 bytes).
 *   2. tree_override: each `--set key.path=value` replaces or adds a scalar (line 0 = "--set").
 *   3. schema_walk: ONE table (`schema` below) types every key; the walk fills struct
 *      jpki_config, then defaults (some derived from other keys) fill what was absent, then the
 *      cross-field rules run. The first error stops everything and nothing is returned.
 *
 * A null value (nothing after the colon, `~`, `null`) means an empty string for string keys and
 * an empty section or list for mappings and lists; an integer or boolean key must have a value.
 * An empty file (or one with only comments) means every default.
 * The CA passphrase is never in the file: only the name of an environment variable or of a file.
 */
#include "config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "base/jclock.h"
#include "base/limits.h"
#include "config/config_value.h"
#include "config/yamltree.h"

#define CONFIG_MAX_DEPTH 16        /* nesting of mappings/lists; the schema needs 3 */
#define CONFIG_PATH_MAX 256        /* dotted key paths as shown in messages */
#define CONFIG_PASSPHRASE_MAX 1024 /* bytes of the CA passphrase */

/* ---------------------------------------------------------------------------------------- */
/* Messages                                                                                  */

struct loader {
    const char *name; /* file name as shown in messages */
    struct jerr *err;
};

/* "FILE:LINE:COL: KEY: why" at node `at` (line,col); "--set: KEY: why" when it came from an
 * override (line 0); "FILE: KEY: why" when there is no node (a key that is absent). */
static int cfg_error_at(struct loader *ld, bool located, unsigned line, unsigned col,
                        const char *key, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int cfg_error_at(struct loader *ld, bool located, unsigned line, unsigned col,
                        const char *key, const char *fmt, ...)
{
    char why[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    const char *sep = key[0] != '\0' ? ": " : "";
    if (!located)
        return jerr_set(ld->err, JERR_CONFIG, key, "%s: %s%s%s", ld->name, key, sep, why);
    if (line == 0)
        return jerr_set(ld->err, JERR_CONFIG, key, "--set: %s%s%s", key, sep, why);
    return jerr_set(ld->err, JERR_CONFIG, key, "%s:%u:%u: %s%s%s", ld->name, line, col, key, sep,
                    why);
}

#define cfg_error_node(ld, n, key, ...)                                                            \
    cfg_error_at((ld), true, (n)->line, (n)->col, (key), __VA_ARGS__)

static int cfg_oom(struct loader *ld)
{
    return jerr_set(ld->err, JERR_INTERNAL, NULL, "%s: out of memory", ld->name);
}

static void path_join(char *out, size_t size, const char *prefix, const char *key)
{
    if (prefix == NULL || prefix[0] == '\0')
        snprintf(out, size, "%s", key);
    else
        snprintf(out, size, "%s.%s", prefix, key);
}

/* ---------------------------------------------------------------------------------------- */
/* Step 1: YAML -> tree (config/yamltree.h)                                                  */

/* Parses one YAML document into *root (NULL for an empty stream). */
static int tree_parse(struct loader *ld, const char *yaml, size_t len, struct yamltree_node **root)
{
    struct yamltree_error e;
    if (len > JPKI_CONFIG_MAX_BYTES)
        return cfg_error_at(ld, false, 0, 0, "", "larger than %d bytes", JPKI_CONFIG_MAX_BYTES);
    if (yamltree_parse(yaml, len, CONFIG_MAX_DEPTH, root, &e) == 0)
        return 0;
    if (e.fault == YAMLTREE_NOMEM)
        return cfg_oom(ld);
    return cfg_error_at(ld, true, e.line, e.col, e.path, "%s", e.why);
}

/* ---------------------------------------------------------------------------------------- */
/* Step 2: --set overrides                                                                   */

/* Sets `key` of mapping `map` to `value`: into `pair` (its pair found by the caller, whose old
 * value is freed) or a new pair of line 0. Returns the pair, or NULL when out of memory (then
 * `value` is not taken). */
static struct yamltree_pair *map_set(struct yamltree_node *map, struct yamltree_pair *pair,
                                     const char *key, struct yamltree_node *value)
{
    if (pair != NULL) {
        yamltree_free(pair->value);
        pair->value = value;
        return pair;
    }
    char *k = strdup(key);
    if (k == NULL || yamltree_append(map, k, 0, 0, value) == -1) {
        free(k);
        return NULL;
    }
    return &map->pairs[map->count - 1];
}

/* Applies "key.path=value": intermediate mappings are created (or replace a null), the last key
 * gets a plain scalar. Nodes made here have line 0 so that messages say "--set". */
static int tree_override(struct loader *ld, struct yamltree_node *root, const char *override)
{
    char shown[CONFIG_SHOW_MAX * 4 + 8];
    char key[CONFIG_PATH_MAX];
    char *segs = NULL;
    struct yamltree_node *value = NULL;
    int rc = -1;

    const char *eq = strchr(override, '=');
    if (eq == NULL) {
        config_show(shown, sizeof(shown), override, strlen(override));
        jerr_set(ld->err, JERR_CONFIG, "", "--set: expected key.path=value (got \"%s\")", shown);
        goto out;
    }
    size_t key_len = (size_t)(eq - override);
    if (key_len == 0) {
        config_show(shown, sizeof(shown), override, strlen(override));
        jerr_set(ld->err, JERR_CONFIG, "", "--set: empty key in \"%s\"", shown);
        goto out;
    }
    config_show(key, sizeof(key) < sizeof(shown) ? sizeof(key) : sizeof(shown), override, key_len);
    const char *val = eq + 1;
    size_t val_len = strlen(val);
    if (!yamltree_is_utf8(override, key_len + 1 + val_len)) {
        jerr_set(ld->err, JERR_CONFIG, key, "--set: %s: not valid UTF-8", key);
        goto out;
    }
    segs = strndup(override, key_len);
    value = yamltree_scalar(val, val_len, true, 0, 0);
    if (segs == NULL || value == NULL) {
        cfg_oom(ld);
        goto out;
    }

    struct yamltree_node *map = root;
    char *seg = segs;
    for (;;) {
        char *dot = strchr(seg, '.');
        if (dot != NULL)
            *dot = '\0';
        if (seg[0] == '\0') {
            jerr_set(ld->err, JERR_CONFIG, key, "--set: %s: empty part in the key path", key);
            goto out;
        }
        struct yamltree_pair *pair = yamltree_find(map, seg);
        if (dot == NULL) { /* the last part: set the value */
            if (map_set(map, pair, seg, value) == NULL) {
                cfg_oom(ld);
                goto out;
            }
            value = NULL;
            break;
        }
        if (pair == NULL || yamltree_is_null(pair->value)) { /* a new (or empty) section */
            struct yamltree_node *sub = yamltree_new(YAMLTREE_MAP, 0, 0);
            if (sub == NULL || (pair = map_set(map, pair, seg, sub)) == NULL) {
                yamltree_free(sub);
                cfg_oom(ld);
                goto out;
            }
        } else if (pair->value->kind != YAMLTREE_MAP) {
            char prefix[CONFIG_SHOW_MAX * 4 + 8];
            config_show(prefix, sizeof(prefix), override, (size_t)(dot - segs));
            jerr_set(ld->err, JERR_CONFIG, key, "--set: %s: %s is %s, not a mapping", key, prefix,
                     yamltree_kind_name(pair->value));
            goto out;
        }
        map = pair->value;
        seg = dot + 1;
    }
    rc = 0;
out:
    free(segs);
    yamltree_free(value);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Step 3: the schema                                                                        */

enum ctype {
    T_SECTION,       /* a mapping of further keys */
    T_LIST,          /* operators: a list of mappings */
    T_STRING,        /* min/max = length in bytes */
    T_INT,           /* min/max = range */
    T_BOOL,          /* true | false */
    T_DATE,          /* YYYY-MM-DD, a real calendar day */
    T_URL,           /* http:// or https:// */
    T_LISTEN,        /* host:port, [v6]:port, or "" = off */
    T_OID,           /* dotted object identifier */
    T_SUBJECT,       /* "C=JP, O=..., OU=..." */
    T_ENVNAME,       /* environment variable name, or "" */
    T_KEY_ALGORITHM, /* rsa | rsa2048 | rsa3072 | ecdsa-p384 | ecdsa-p521 */
    T_ID,            /* [A-Za-z0-9._-], min..max bytes */
    T_HEX64,         /* 64 hex digits */
    T_ROLE,          /* admin | operator | batch | auditor */
    T_ACCESS,        /* open | registered */
    T_INLINE_SECRET, /* never accepted: secrets come from env or file */
};

#define F_REQUIRED 0x1    /* must be present */
#define F_OPERATOR 0x2    /* a key of an operators[] item; offset into struct config_operator */
#define F_STRIP_SLASH 0x4 /* URL: drop one trailing '/' (a base URL) */
#define F_DN_SAFE 0x8     /* string embedded in a subject: no DN special characters */

struct centry {
    const char *path;
    enum ctype type;
    const char *def; /* default as text; "{public_url}"/"{agency}" are replaced; NULL = none */
    long long min, max;
    unsigned flags;
    size_t offset;
};

#define CFG(member) offsetof(struct jpki_config, member)
#define OPR(member) offsetof(struct config_operator, member)

/* The keys of one CA ("ca.sign.*" or "ca.auth.*"). */
// clang-format off
#define CA_ENTRIES(kind, idx, purpose, oid)                                                     \
    {"ca." kind, T_SECTION, NULL, 0, 0, 0, 0},                                                  \
    {"ca." kind ".subject", T_SUBJECT, "C=JP, O=JPKI, OU=JPKI for " purpose ", OU={agency}",    \
     1, 1024, 0, CFG(ca[idx].subject)},                                                         \
    {"ca." kind ".key_algorithm", T_KEY_ALGORITHM, "rsa", 0, 0, 0, CFG(ca[idx].key_algorithm)}, \
    {"ca." kind ".key_bits", T_INT, "2048", 2048, 8192, 0, CFG(ca[idx].key_bits)},              \
    {"ca." kind ".root_validity_years", T_INT, "10", 1, 30, 0,                                  \
     CFG(ca[idx].root_validity_years)},                                                         \
    {"ca." kind ".policy_oid", T_OID, oid, 0, 128, 0, CFG(ca[idx].policy_oid)},                 \
    {"ca." kind ".crl_url", T_URL, "{public_url}/crl/" kind ".crl", 0, 2048, 0,                 \
     CFG(ca[idx].crl_url)},                                                                     \
    {"ca." kind ".ocsp_url", T_URL, "{public_url}/ocsp", 0, 2048, 0, CFG(ca[idx].ocsp_url)},    \
    {"ca." kind ".crl_partitions", T_INT, "1", 1, 4096, 0, CFG(ca[idx].crl_partitions)},        \
    {"ca." kind ".ocsp_signer_validity_days", T_INT, "365", 1, 3650, 0,                         \
     CFG(ca[idx].ocsp_signer_validity_days)}
// clang-format on

/* A secret (a passphrase, a PIN, a password): named by an environment variable or a file,
 * never written inline (T_INLINE_SECRET refuses "KEY.value"). */
// clang-format off
#define SECRET_ENTRIES(key, env_default, env_member, file_member)                               \
    {key, T_SECTION, NULL, 0, 0, 0, 0},                                                         \
    {key ".env", T_ENVNAME, env_default, 0, 255, 0, CFG(env_member)},                           \
    {key ".file", T_STRING, "", 0, 4096, 0, CFG(file_member)},                                  \
    {key ".value", T_INLINE_SECRET, NULL, 0, 0, 0, 0}
/* A Redis section's TLS keys into a struct config_redis_tls. */
#define REDIS_TLS_ENTRIES(section, member)                                                      \
    {section ".tls", T_BOOL, "false", 0, 0, 0, CFG(member.on)},                                 \
    {section ".tls_ca", T_STRING, "", 0, 4096, 0, CFG(member.ca)},                              \
    {section ".tls_cert", T_STRING, "", 0, 4096, 0, CFG(member.cert)},                          \
    {section ".tls_key", T_STRING, "", 0, 4096, 0, CFG(member.key)}
// clang-format on

/* Every key of the configuration, its type, default and bounds (config/jpki.example.yaml
 * documents the same list). */
static const struct centry schema[] = {
    {"data_dir", T_STRING, "./var", 1, 4096, 0, CFG(data_dir)},
    {"public_url", T_URL, "http://127.0.0.1:8080", 0, 1024, F_STRIP_SLASH, CFG(public_url)},
    {"agency", T_STRING, "Japan Agency for Local Authority Information Systems", 1, 256, F_DN_SAFE,
     CFG(agency)},
    SECRET_ENTRIES("ca_passphrase", "JPKI_CA_PASSPHRASE", passphrase_env, passphrase_file),
    {"keystore", T_SECTION, NULL, 0, 0, 0, 0},
    {"keystore.backend", T_STRING, "file", 1, 16, 0, CFG(keystore_backend)},
    {"keystore.pkcs11", T_SECTION, NULL, 0, 0, 0, 0},
    {"keystore.pkcs11.module", T_STRING, "", 0, 4096, 0, CFG(p11_module)},
    {"keystore.pkcs11.token", T_STRING, "", 0, 32, 0, CFG(p11_token)},
    SECRET_ENTRIES("keystore.pkcs11.pin", "", p11_pin_env, p11_pin_file),
    {"keystore.pkcs11.sessions", T_INT, "4", 1, 16, 0, CFG(p11_sessions)},
    {"ca", T_SECTION, NULL, 0, 0, 0, 0},
    CA_ENTRIES("sign", CA_SIGN, "digital signature", "1.2.392.200149.8.5.1.1.20"),
    CA_ENTRIES("auth", CA_AUTH, "user authentication", "1.2.392.200149.8.5.1.3.30"),
    {"subscriber", T_SECTION, NULL, 0, 0, 0, 0},
    {"subscriber.validity_years", T_INT, "5", 1, 10, 0, CFG(subscriber_validity_years)},
    {"subscriber.validity_years_minor", T_INT, "5", 1, 10, 0, CFG(subscriber_validity_years_minor)},
    {"subscriber.cap_to_card_expiry", T_BOOL, "true", 0, 0, 0, CFG(cap_to_card_expiry)},
    {"subscriber.key_bits", T_INT, "2048", 2048, 8192, 0, CFG(subscriber_key_bits)},
    {"subscriber.juki_validity_years", T_INT, "3", 1, 10, 0, CFG(juki_validity_years)},
    {"subscriber.juki_issuance_end", T_DATE, "2015-12-31", 0, 0, 0, CFG(juki_issuance_end)},
    {"crl", T_SECTION, NULL, 0, 0, 0, 0},
    {"crl.period_s", T_INT, "3600", 60, 86400, 0, CFG(crl_period_s)},
    {"crl.next_update_s", T_INT, "86400", 300, 2592000, 0, CFG(crl_next_update_s)},
    {"crl.after_change_s", T_INT, "60", 0, 86400, 0, CFG(crl_after_change_s)},
    {"crl.delta_period_s", T_INT, "300", 0, 86400, 0, CFG(crl_delta_period_s)},
    {"ocsp", T_SECTION, NULL, 0, 0, 0, 0},
    {"ocsp.validity_s", T_INT, "86400", 300, 604800, 0, CFG(ocsp_validity_s)},
    {"ocsp.refresh_before_s", T_INT, "43200", 60, 604800, 0, CFG(ocsp_refresh_before_s)},
    {"ocsp.max_inflight_signs", T_INT, "64", 1, 100000, 0, CFG(ocsp_max_inflight_signs)},
    {"http", T_SECTION, NULL, 0, 0, 0, 0},
    {"http.crl_max_age_s", T_INT, "300", 0, 86400, 0, CFG(http_crl_max_age_s)},
    {"http.ocsp_max_age_s", T_INT, "300", 0, 604800, 0, CFG(http_ocsp_max_age_s)},
    {"listen", T_SECTION, NULL, 0, 0, 0, 0},
    {"listen.http", T_LISTEN, "127.0.0.1:8080", 0, 0, 0, CFG(listen_http)},
    {"listen.https", T_LISTEN, "", 0, 0, 0, CFG(listen_https)},
    {"listen.operator_http", T_LISTEN, "", 0, 0, 0, CFG(listen_operator_http)},
    {"listen.operator_https", T_LISTEN, "", 0, 0, 0, CFG(listen_operator_https)},
    {"tls", T_SECTION, NULL, 0, 0, 0, 0},
    {"tls.cert", T_STRING, "", 0, 4096, 0, CFG(tls_cert)},
    {"tls.key", T_STRING, "", 0, 4096, 0, CFG(tls_key)},
    {"tls.operator_ca", T_STRING, "", 0, 4096, 0, CFG(tls_operator_ca)},
    {"tls.relying_party_ca", T_STRING, "", 0, 4096, 0, CFG(tls_relying_party_ca)},
    {"tls.operator_crl", T_STRING, "", 0, 4096, 0, CFG(tls_operator_crl)},
    {"service", T_SECTION, NULL, 0, 0, 0, 0},
    {"service.loops", T_INT, "0", 0, 64, 0, CFG(loops)},
    {"service.workers", T_INT, "0", 0, 256, 0, CFG(workers)},
    {"service.metrics_public", T_BOOL, "true", 0, 0, 0, CFG(metrics_public)},
    {"service.idle_timeout_s", T_INT, "30", 1, 3600, 0, CFG(idle_timeout_s)},
    {"service.max_connections", T_INT, "0", 0, 1000000, 0, CFG(max_connections)},
    {"publish", T_SECTION, NULL, 0, 0, 0, 0},
    {"publish.ldap", T_SECTION, NULL, 0, 0, 0, 0},
    {"publish.ldap.url", T_STRING, "", 0, 1024, 0, CFG(ldap_url)},
    {"publish.ldap.bind_dn", T_STRING, "", 0, 1024, 0, CFG(ldap_bind_dn)},
    {"publish.ldap.base_dn", T_STRING, "", 0, 1024, 0, CFG(ldap_base_dn)},
    SECRET_ENTRIES("publish.ldap.password", "", ldap_password_env, ldap_password_file),
    {"publish.redis", T_SECTION, NULL, 0, 0, 0, 0},
    {"publish.redis.url", T_STRING, "", 0, 1024, 0, CFG(publish_redis_url)},
    SECRET_ENTRIES("publish.redis.password", "", publish_redis_password_env,
                   publish_redis_password_file),
    REDIS_TLS_ENTRIES("publish.redis", publish_redis_tls),
    {"publish.redis.key_prefix", T_STRING, "jpki:", 0, 64, 0, CFG(publish_redis_key_prefix)},
    {"access", T_SECTION, NULL, 0, 0, 0, 0},
    {"access.ocsp", T_ACCESS, "open", 0, 0, 0, CFG(access_ocsp)},
    {"access.crl", T_ACCESS, "open", 0, 0, 0, CFG(access_crl)},
    {"limits", T_SECTION, NULL, 0, 0, 0, 0},
    {"limits.api_per_minute", T_INT, "3000", 0, 1000000, 0, CFG(limits_api_per_minute)},
    {"limits.holder_per_minute", T_INT, "30", 0, 1000000, 0, CFG(limits_holder_per_minute)},
    {"limits.connections_per_address", T_INT, "256", 1, 1000000, 0,
     CFG(limits_connections_per_address)},
    {"limits.header_timeout_ms", T_INT, "10000", 100, 3600000, 0, CFG(limits_header_timeout_ms)},
    {"limits.body_timeout_ms", T_INT, "120000", 100, 3600000, 0, CFG(limits_body_timeout_ms)},
    {"limits.ocsp_signatures_per_minute", T_INT, "600", 0, 1000000, 0,
     CFG(limits_ocsp_signatures_per_minute)},
    {"limits.trusted_proxies", T_STRING, "", 0, 4096, 0, CFG(limits_trusted_proxies)},
    {"limits.forwarded_header", T_STRING, "x-forwarded-for", 1, 32, 0,
     CFG(limits_forwarded_header)},
    {"batch", T_SECTION, NULL, 0, 0, 0, 0},
    {"batch.pin_letter_recipient", T_STRING, "", 0, 4096, 0, CFG(batch_pin_letter_recipient)},
    {"audit", T_SECTION, NULL, 0, 0, 0, 0},
    {"audit.checkpoint_s", T_INT, "60", 1, 86400, 0, CFG(audit_checkpoint_s)},
    {"respond", T_SECTION, NULL, 0, 0, 0, 0},
    {"respond.cache_entries", T_INT, "65536", 1024, 100000000, 0, CFG(respond_cache_entries)},
    {"respond.relying_party_ca", T_STRING, "", 0, 4096, 0, CFG(respond_relying_party_ca)},
    {"respond.redis", T_SECTION, NULL, 0, 0, 0, 0},
    {"respond.redis.url", T_STRING, "", 0, 1024, 0, CFG(respond_redis_url)},
    SECRET_ENTRIES("respond.redis.password", "", respond_redis_password_env,
                   respond_redis_password_file),
    {"respond.redis.key_prefix", T_STRING, "jpki:", 1, 64, 0, CFG(respond_redis_key_prefix)},
    REDIS_TLS_ENTRIES("respond.redis", respond_redis_tls),
    {"respond.redis.sentinel", T_SECTION, NULL, 0, 0, 0, 0},
    {"respond.redis.sentinel.addresses", T_STRING, "", 0, 4096, 0, CFG(respond_redis_sentinels)},
    {"respond.redis.sentinel.master", T_STRING, "", 0, 255, 0, CFG(respond_redis_sentinel_master)},
    {"operators", T_LIST, NULL, 0, 0, 0, 0},
    {"operators[].name", T_ID, NULL, 1, JPKI_ID_MAX, F_OPERATOR | F_REQUIRED, OPR(name)},
    {"operators[].role", T_ROLE, NULL, 0, 0, F_OPERATOR | F_REQUIRED, OPR(role)},
    {"operators[].token_sha256", T_HEX64, NULL, 0, 0, F_OPERATOR | F_REQUIRED, OPR(token_sha256)},
};

#define SCHEMA_COUNT (sizeof(schema) / sizeof(schema[0]))

static int schema_find(const char *path)
{
    for (size_t i = 0; i < SCHEMA_COUNT; i++)
        if (strcmp(schema[i].path, path) == 0)
            return (int)i;
    return -1;
}

static const char *const role_names[] = {"admin", "operator", "batch", "auditor"};
static const char *const access_names[] = {"open", "registered"};

static const char *type_noun(enum ctype t)
{
    switch (t) {
    case T_SECTION:
        return "a mapping";
    case T_LIST:
        return "a list";
    case T_INT:
        return "an integer";
    case T_BOOL:
        return "true or false";
    case T_DATE:
        return "a date YYYY-MM-DD";
    case T_URL:
        return "a URL";
    case T_LISTEN:
        return "an address host:port";
    case T_OID:
        return "an OID";
    default:
        return "a string";
    }
}

/* Parses scalar text for entry `e` into `dst` (its field). On failure returns -1 with the
 * reason in `why` (-2: out of memory); nothing is stored. */
static int value_parse(const struct centry *e, const struct yamltree_node *n, void *dst, char *why,
                       size_t why_size)
{
    char shown[CONFIG_SHOW_MAX * 4 + 8];
    const char *s = n->text;
    size_t len = n->len;
    bool null = yamltree_is_null(n);
    config_show(shown, sizeof(shown), s, len);

    if (strlen(s) != len)
        return config_why(why, why_size, "contains a NUL character");

    switch (e->type) {
    case T_INT: {
        if (!n->plain)
            return config_why(why, why_size, "expected an integer, not a quoted string");
        if (null)
            return config_why(why, why_size, "expected an integer, the value is empty");
        const char *digits = s[0] == '-' || s[0] == '+' ? s + 1 : s;
        if (!config_all_digits(digits, strlen(digits)))
            return config_why(why, why_size, "expected an integer (got \"%s\")", shown);
        errno = 0;
        long long v = strtoll(s, NULL, 10);
        if (errno == ERANGE || v < e->min || v > e->max)
            return config_why(why, why_size, "must be between %lld and %lld (got %s)", e->min,
                              e->max, shown);
        *(int *)dst = (int)v;
        return 0;
    }
    case T_BOOL: {
        /* YAML 1.2 core schema booleans only: "yes"/"on" are not booleans there. */
        bool value;
        if (yamltree_is_bool(n, &value))
            return *(bool *)dst = value, 0;
        return config_why(why, why_size, "expected true or false (got %s\"%s\")",
                          n->plain ? "" : "the quoted string ", shown);
    }
    case T_ROLE:
        for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++)
            if (strcmp(s, role_names[i]) == 0)
                return *(enum operator_role *)dst = (enum operator_role)i, 0;
        return config_why(why, why_size,
                          "must be one of admin, operator, batch, auditor (got \"%s\")", shown);
    case T_ACCESS:
        for (size_t i = 0; i < sizeof(access_names) / sizeof(access_names[0]); i++)
            if (strcmp(s, access_names[i]) == 0)
                return *(enum access_mode *)dst = (enum access_mode)i, 0;
        if (strcmp(s, "client_cert") == 0) /* issue 15 replaced it */
            return config_why(why, why_size,
                              "client_cert was replaced by registered: register relying parties "
                              "with POST /v1/relying-parties (docs/API.md)");
        return config_why(why, why_size, "must be open or registered (got \"%s\")", shown);
    default:
        break;
    }

    /* Everything else is text; null means "". */
    if (null)
        len = 0;
    char *text = strndup(s, len);
    if (text == NULL)
        return -2; /* out of memory */
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
            rc = config_why(why, why_size, "contains a control character");
    if (rc == 0) {
        long long min = e->min, max = e->max;
        switch (e->type) {
        case T_STRING:
        case T_SUBJECT:
        case T_ID:
        case T_ENVNAME:
            if (min > 0 && len == 0)
                rc = config_why(why, why_size, "must not be empty");
            else if (max > 0 && (long long)len > max)
                rc = config_why(why, why_size, "must be at most %lld bytes", max);
            else if ((e->flags & F_DN_SAFE) && strpbrk(text, ",=+\\\"<>;#") != NULL)
                rc = config_why(why, why_size,
                                "must not contain any of , = + \\ \" < > ; # (it goes into a "
                                "certificate subject)");
            else if (e->type == T_SUBJECT)
                rc = config_check_subject(text, why, why_size);
            else if (e->type == T_ID)
                rc = config_check_id(text, why, why_size);
            else if (e->type == T_ENVNAME)
                rc = config_check_envname(text, why, why_size);
            break;
        case T_URL:
        case T_LISTEN:
        case T_OID:
            if (e->type != T_LISTEN && (long long)len > max)
                rc = config_why(why, why_size, "must be at most %lld bytes", max);
            else if (e->type == T_URL)
                rc = config_check_url(text, why, why_size);
            else if (e->type == T_LISTEN)
                rc = config_check_listen(text, why, why_size);
            else
                rc = config_check_oid(text, why, why_size);
            /* A base URL: "http://host/" means "http://host"; one slash only. */
            if (rc == 0 && (e->flags & F_STRIP_SLASH) && text[len - 1] == '/') {
                text[--len] = '\0';
                if (text[len - 1] == '/')
                    rc = config_why(why, why_size, "must not end with \"//\"");
            }
            if (rc == -1) {
                size_t w = strlen(why);
                snprintf(why + w, why_size - w, " (got \"%s\")", shown);
            }
            break;
        case T_DATE: {
            int y, m, d;
            if (jclock_parse_date(text, &y, &m, &d) == -1)
                rc = config_why(why, why_size, "expected a calendar date YYYY-MM-DD (got \"%s\")",
                                shown);
            break;
        }
        case T_KEY_ALGORITHM: {
            /* The names keystore/keyalg.h parses (config/ sits below keystore/, so the list is
             * repeated here; test_keyalg checks that every name accepted here parses there). */
            static const char *const names[] = {"rsa", "rsa2048", "rsa3072", "ecdsa-p384",
                                                "ecdsa-p521"};
            bool known = false;
            for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                known = known || strcmp(text, names[i]) == 0;
            if (!known)
                rc = config_why(why, why_size,
                                "expected rsa, rsa2048, rsa3072, ecdsa-p384 or ecdsa-p521 (got "
                                "\"%s\")",
                                shown);
            break;
        }
        case T_HEX64:
            if (len != 64 || strspn(text, "0123456789abcdefABCDEF") != 64)
                rc = config_why(why, why_size, "expected 64 hexadecimal digits (a SHA-256)");
            break;
        default:
            rc = config_why(why, why_size, "internal: unhandled type");
        }
    }
    if (rc == -1) {
        free(text);
        return -1;
    }
    free(*(char **)dst);
    *(char **)dst = text;
    return 0;
}

/* ---- the walk ---- */

struct walk {
    struct loader *ld;
    struct jpki_config *cfg;
    const struct yamltree_node *found[SCHEMA_COUNT]; /* value node of each top-level entry seen */
};

static int walk_map(struct walk *w, const struct yamltree_node *map, const char *schema_prefix,
                    const char *shown_prefix, void *base, const struct yamltree_node **found);

static int walk_operators(struct walk *w, const struct yamltree_node *seq)
{
    struct config_operator *ops = calloc(seq->count > 0 ? seq->count : 1, sizeof(*ops));
    if (ops == NULL)
        return cfg_oom(w->ld);
    w->cfg->operators = ops;
    for (size_t i = 0; i < seq->count; i++) {
        const struct yamltree_node *item = seq->pairs[i].value;
        const struct yamltree_node *found[SCHEMA_COUNT] = {0};
        char shown[CONFIG_PATH_MAX];
        snprintf(shown, sizeof(shown), "operators[%zu]", i);
        w->cfg->operator_count = i + 1; /* so that config_free releases what was filled */
        if (item->kind != YAMLTREE_MAP)
            return cfg_error_node(w->ld, item, shown, "expected a mapping, got %s",
                                  yamltree_kind_name(item));
        if (walk_map(w, item, "operators[]", shown, &ops[i], found) == -1)
            return -1;
        for (size_t k = 0; k < SCHEMA_COUNT; k++) {
            if ((schema[k].flags & (F_OPERATOR | F_REQUIRED)) != (F_OPERATOR | F_REQUIRED) ||
                found[k] != NULL)
                continue;
            char key[CONFIG_PATH_MAX];
            path_join(key, sizeof(key), shown, schema[k].path + strlen("operators[]."));
            return cfg_error_at(w->ld, false, 0, 0, key, "required key is missing");
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(ops[j].name, ops[i].name) != 0)
                continue;
            char key[CONFIG_PATH_MAX];
            path_join(key, sizeof(key), shown, "name");
            const struct yamltree_pair *name = yamltree_find(item, "name");
            return cfg_error_node(w->ld, name->value, key,
                                  "duplicate operator name (also operators[%zu].name)", j);
        }
    }
    return 0;
}

static int walk_map(struct walk *w, const struct yamltree_node *map, const char *schema_prefix,
                    const char *shown_prefix, void *base, const struct yamltree_node **found)
{
    for (size_t i = 0; i < map->count; i++) {
        const struct yamltree_pair *pair = &map->pairs[i];
        const struct yamltree_node *v = pair->value;
        char spath[CONFIG_PATH_MAX], key[CONFIG_PATH_MAX];
        size_t klen = strlen(pair->key);
        yamltree_path_key(key, sizeof(key), shown_prefix, pair->key, klen);

        /* A key holding '.' or '[' would alias a dotted path: it is simply unknown. */
        int idx = -1;
        if (strpbrk(pair->key, ".[]") == NULL && klen <= CONFIG_SHOW_MAX) {
            path_join(spath, sizeof(spath), schema_prefix, pair->key);
            idx = schema_find(spath);
        }
        if (idx == -1)
            return cfg_error_at(w->ld, true, pair->line, pair->col, key, "unknown key");
        const struct centry *e = &schema[idx];
        found[idx] = v;

        switch (e->type) {
        case T_SECTION:
            if (yamltree_is_null(v))
                continue;
            if (v->kind != YAMLTREE_MAP) {
                if ((strcmp(e->path, "ca_passphrase") == 0 ||
                     strcmp(e->path, "keystore.pkcs11.pin") == 0) &&
                    v->kind == YAMLTREE_SCALAR)
                    return cfg_error_node(w->ld, v, key,
                                          "secrets must not be written in the configuration; "
                                          "name an environment variable (%s.env) or a file "
                                          "(%s.file)",
                                          e->path, e->path);
                return cfg_error_node(w->ld, v, key, "expected a mapping, got %s",
                                      yamltree_kind_name(v));
            }
            if (walk_map(w, v, spath, key, base, found) == -1)
                return -1;
            continue;
        case T_LIST:
            if (yamltree_is_null(v))
                continue;
            if (v->kind != YAMLTREE_SEQ)
                return cfg_error_node(w->ld, v, key, "expected a list, got %s",
                                      yamltree_kind_name(v));
            if (walk_operators(w, v) == -1)
                return -1;
            continue;
        case T_INLINE_SECRET: {
            /* e->path is "<section>.value": name the section's env and file keys. */
            int section_len = (int)(strlen(e->path) - strlen(".value"));
            return cfg_error_node(w->ld, v, key,
                                  "secrets must not be written in the configuration; name an "
                                  "environment variable (%.*s.env) or a file (%.*s.file)",
                                  section_len, e->path, section_len, e->path);
        }
        default:
            break;
        }
        if (v->kind != YAMLTREE_SCALAR)
            return cfg_error_node(w->ld, v, key, "expected %s, got %s", type_noun(e->type),
                                  yamltree_kind_name(v));
        char why[320];
        int rc = value_parse(e, v, (char *)base + e->offset, why, sizeof(why));
        if (rc == -2)
            return cfg_oom(w->ld);
        if (rc == -1)
            return cfg_error_node(w->ld, v, key, "%s", why);
    }
    return 0;
}

/* Expands "{public_url}" and "{agency}" in a default. Returns a malloc'd string or NULL. */
static char *default_expand(const char *def, const struct jpki_config *cfg)
{
    const char *names[] = {"{public_url}", "{agency}"};
    const char *values[] = {cfg->public_url, cfg->agency};
    for (size_t i = 0; i < 2; i++) {
        const char *at = strstr(def, names[i]);
        if (at == NULL)
            continue;
        size_t size = strlen(def) + strlen(values[i]) + 1;
        char *out = malloc(size);
        if (out != NULL)
            snprintf(out, size, "%.*s%s%s", (int)(at - def), def, values[i], at + strlen(names[i]));
        return out;
    }
    return strdup(def);
}

/* Fills every absent key: plain defaults first, then the ones derived from other keys. */
static int apply_defaults(struct walk *w)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < SCHEMA_COUNT; i++) {
            const struct centry *e = &schema[i];
            if (w->found[i] != NULL || e->def == NULL || (e->flags & F_OPERATOR))
                continue;
            bool derived = strchr(e->def, '{') != NULL;
            if (derived != (pass == 1))
                continue;
            char *text = default_expand(e->def, w->cfg);
            struct yamltree_node *n =
                text != NULL ? yamltree_scalar(text, strlen(text), false, 0, 0) : NULL;
            free(text);
            if (n == NULL)
                return cfg_oom(w->ld);
            /* Quoted style so that "" stays a string; ints and bools are plain. */
            n->plain = e->type == T_INT || e->type == T_BOOL;
            char why[320];
            int rc = value_parse(e, n, (char *)w->cfg + e->offset, why, sizeof(why));
            yamltree_free(n);
            if (rc == -2)
                return cfg_oom(w->ld);
            if (rc == -1) /* a derived default can fail (e.g. too long): name the key */
                return cfg_error_at(w->ld, false, 0, 0, e->path, "default value: %s", why);
        }
    }
    return 0;
}

static const struct yamltree_node *found_of(const struct walk *w, const char *path)
{
    int i = schema_find(path);
    return i >= 0 ? w->found[i] : NULL;
}

/* An error on `key`, at its node when the key was given, else at the file. */
#define cfg_error_key(w, key, ...)                                                                 \
    (found_of((w), (key)) != NULL                                                                  \
         ? cfg_error_node((w)->ld, found_of((w), (key)), (key), __VA_ARGS__)                       \
         : cfg_error_at((w)->ld, false, 0, 0, (key), __VA_ARGS__))

/* A secret's source (SECRET_ENTRIES `key`): its env or its file, not both; when `required`,
 * one of them. */
static int check_secret_source(struct walk *w, const char *key, const char *env, const char *file,
                               bool required)
{
    char at[64];
    if (env[0] != '\0' && file[0] != '\0') {
        snprintf(at, sizeof(at), "%s.file", key);
        return cfg_error_key(w, at, "set either %s.env or %s.file, not both", key, key);
    }
    if (required && env[0] == '\0' && file[0] == '\0') {
        snprintf(at, sizeof(at), "%s.env", key);
        return cfg_error_key(w, at, "one of %s.env or %s.file must be set", key, key);
    }
    return 0;
}

/* publish.redis and respond.redis (DESIGN §13): a redis:// URL and one password source. */
static int check_redis_section(struct walk *w, const char *section, const char *url,
                               const char *password_env, const char *password_file)
{
    char key[64];
    snprintf(key, sizeof(key), "%s.url", section);
    if (url[0] != '\0' && strncmp(url, "redis://", 8) != 0)
        return cfg_error_key(w, key, "must be a redis://host:port/db URL, not \"%s\"", url);
    snprintf(key, sizeof(key), "%s.password", section);
    return check_secret_source(w, key, password_env, password_file, false);
}

static int cross_checks(struct walk *w)
{
    struct jpki_config *cfg = w->cfg;

    /* The passphrase source: exactly one of env and file. A file given without an env turns
     * the env default off. */
    if (found_of(w, "ca_passphrase.env") == NULL && cfg->passphrase_file[0] != '\0') {
        char *empty = strdup("");
        if (empty == NULL)
            return cfg_oom(w->ld);
        free(cfg->passphrase_env);
        cfg->passphrase_env = empty;
    }
    if (check_secret_source(w, "ca_passphrase", cfg->passphrase_env, cfg->passphrase_file, true) ==
        -1)
        return -1;

    /* DESIGN §10: the key backend, and for pkcs11 where the token is and how to log in. */
    if (strcmp(cfg->keystore_backend, "file") != 0 && strcmp(cfg->keystore_backend, "pkcs11") != 0)
        return cfg_error_key(w, "keystore.backend", "must be file or pkcs11, not \"%s\"",
                             cfg->keystore_backend);
    if (config_keystore_is_pkcs11(cfg)) {
        if (cfg->p11_module[0] == '\0')
            return cfg_error_key(w, "keystore.pkcs11.module",
                                 "keystore.backend pkcs11 needs the module's path");
        if (cfg->p11_token[0] == '\0')
            return cfg_error_key(w, "keystore.pkcs11.token",
                                 "keystore.backend pkcs11 needs the token's label");
        if (check_secret_source(w, "keystore.pkcs11.pin", cfg->p11_pin_env, cfg->p11_pin_file,
                                true) == -1)
            return -1;
    }

    /* DESIGN §13: publish.redis and respond.redis. The URL itself is parsed when the
     * publisher or responder starts (responder/redis/redisconn.h); here only what needs no
     * parser. */
    if (check_redis_section(w, "publish.redis", cfg->publish_redis_url,
                            cfg->publish_redis_password_env, cfg->publish_redis_password_file) ==
            -1 ||
        check_redis_section(w, "respond.redis", cfg->respond_redis_url,
                            cfg->respond_redis_password_env, cfg->respond_redis_password_file) == -1)
        return -1;

    /* LDAPv3 publication of the CRLs (docs/API.md "LDAP"): a URL libldap takes, a base DN,
     * and a password only with a bind DN, from one place. */
    if (cfg->ldap_url[0] != '\0') {
        if (strncmp(cfg->ldap_url, "ldap://", 7) != 0 && strncmp(cfg->ldap_url, "ldaps://", 8) != 0)
            return cfg_error_key(w, "publish.ldap.url", "must start with ldap:// or ldaps://");
        if (cfg->ldap_base_dn[0] == '\0')
            return cfg_error_key(w, "publish.ldap.base_dn",
                                 "publish.ldap.url needs the base DN of the CA entries");
        if (check_secret_source(w, "publish.ldap.password", cfg->ldap_password_env,
                                cfg->ldap_password_file, false) == -1)
            return -1;
        bool has_password = cfg->ldap_password_env[0] != '\0' || cfg->ldap_password_file[0] != '\0';
        if ((cfg->ldap_bind_dn[0] != '\0') != has_password)
            return cfg_error_key(w, has_password ? "publish.ldap.bind_dn" : "publish.ldap.password",
                                 "a bind DN and a password go together (neither: anonymous)");
    }

    /* RFC 5280 §5.1.2.5: nextUpdate must leave room for the next regeneration. */
    if (cfg->crl_next_update_s <= cfg->crl_period_s)
        return cfg_error_key(w, "crl.next_update_s", "must be greater than crl.period_s (%d <= %d)",
                             cfg->crl_next_update_s, cfg->crl_period_s);
    /* RFC 5019 §6.2: responses are refreshed before they expire. */
    if (cfg->ocsp_refresh_before_s >= cfg->ocsp_validity_s)
        return cfg_error_key(w, "ocsp.refresh_before_s",
                             "must be less than ocsp.validity_s (%d >= %d)",
                             cfg->ocsp_refresh_before_s, cfg->ocsp_validity_s);

    /* Relying parties prove who they are over HTTPS (a client certificate of jpki's own
     * relying-party CA, or a bearer token): registered needs the HTTPS listener. */
    if (cfg->tls_relying_party_ca[0] != '\0')
        return cfg_error_key(w, "tls.relying_party_ca",
                             "removed: relying parties' client certificates come from jpki's own "
                             "relying-party CA (certs/rp-ca.pem); register them with POST "
                             "/v1/relying-parties and set access.* registered");
    static const char *const access_keys[] = {"access.ocsp", "access.crl"};
    const enum access_mode access[] = {cfg->access_ocsp, cfg->access_crl};
    for (size_t i = 0; i < 2; i++)
        if (access[i] == ACCESS_REGISTERED && cfg->listen_https[0] == '\0')
            return cfg_error_key(w, access_keys[i], "registered needs listen.https");

    /* A CRL of operator certificates is checked against their CA. */
    if (cfg->tls_operator_crl[0] != '\0' && cfg->tls_operator_ca[0] == '\0')
        return cfg_error_key(w, "tls.operator_crl", "tls.operator_crl needs tls.operator_ca");

    const char *tls_listener = cfg->listen_https[0] != '\0'            ? "listen.https"
                               : cfg->listen_operator_https[0] != '\0' ? "listen.operator_https"
                                                                       : NULL;
    if (tls_listener != NULL) {
        static const char *const tls_keys[] = {"tls.cert", "tls.key"};
        const char *const values[] = {cfg->tls_cert, cfg->tls_key};
        for (size_t i = 0; i < 2; i++) {
            if (values[i][0] != '\0')
                continue;
            if (found_of(w, tls_keys[i]) == NULL)
                return cfg_error_at(w->ld, false, 0, 0, tls_keys[i],
                                    "required key is missing (%s is set)", tls_listener);
            return cfg_error_key(w, tls_keys[i], "must not be empty when %s is set", tls_listener);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Public interface                                                                          */

struct jpki_config *config_load_string(const char *name, const char *yaml, size_t len,
                                       const char *const *overrides, size_t n, struct jerr *err)
{
    struct loader ld = {.name = name != NULL ? name : "(config)", .err = err};
    struct walk *w = NULL;
    struct yamltree_node *root = NULL;
    struct jpki_config *cfg = NULL;
    int rc = -1;

    if (tree_parse(&ld, yaml != NULL ? yaml : "", yaml != NULL ? len : 0, &root) == -1)
        goto out;
    if (root == NULL || yamltree_is_null(root)) { /* empty file: every default */
        yamltree_free(root);
        root = yamltree_new(YAMLTREE_MAP, 1, 1);
        if (root == NULL) {
            cfg_oom(&ld);
            goto out;
        }
    }
    if (root->kind != YAMLTREE_MAP) {
        cfg_error_node(&ld, root, "", "the top level must be a mapping of keys, not %s",
                       yamltree_kind_name(root));
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (tree_override(&ld, root, overrides[i]) == -1)
            goto out;

    cfg = calloc(1, sizeof(*cfg));
    w = calloc(1, sizeof(*w));
    if (cfg == NULL || w == NULL || (cfg->source_path = strdup(ld.name)) == NULL) {
        cfg_oom(&ld);
        goto out;
    }
    w->ld = &ld;
    w->cfg = cfg;
    if (walk_map(w, root, "", "", cfg, w->found) == -1)
        goto out;
    if (apply_defaults(w) == -1)
        goto out;
    if (cross_checks(w) == -1)
        goto out;
    rc = 0;
out:
    free(w);
    yamltree_free(root);
    if (rc == -1) {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

struct jpki_config *config_load(const char *path, const char *const *overrides, size_t n,
                                struct jerr *err)
{
    struct jpki_config *cfg = NULL;
    char *buf = NULL;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        jerr_set(err, JERR_CONFIG, "", "%s: %s", path, strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        jerr_set(err, JERR_CONFIG, "", "%s: not a regular file", path);
        goto out;
    }
    /* Read at most one byte past the cap, so a file that grows is still refused. */
    buf = malloc(JPKI_CONFIG_MAX_BYTES + 1);
    if (buf == NULL) {
        jerr_set(err, JERR_INTERNAL, "", "%s: out of memory", path);
        goto out;
    }
    while (len < JPKI_CONFIG_MAX_BYTES + 1) {
        ssize_t r = read(fd, buf + len, JPKI_CONFIG_MAX_BYTES + 1 - len);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1) {
            jerr_set(err, JERR_CONFIG, "", "%s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (len > JPKI_CONFIG_MAX_BYTES) {
        jerr_set(err, JERR_CONFIG, "", "%s: larger than %d bytes", path, JPKI_CONFIG_MAX_BYTES);
        goto out;
    }
    cfg = config_load_string(path, buf, len, overrides, n, err);
out:
    if (fd != -1)
        close(fd);
    free(buf);
    return cfg;
}

void config_free(struct jpki_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < SCHEMA_COUNT; i++) {
        const struct centry *e = &schema[i];
        bool text = e->type != T_SECTION && e->type != T_LIST && e->type != T_INT &&
                    e->type != T_BOOL && e->type != T_ROLE && e->type != T_ACCESS &&
                    e->type != T_INLINE_SECRET;
        if (!text)
            continue;
        if (e->flags & F_OPERATOR) {
            for (size_t k = 0; cfg->operators != NULL && k < cfg->operator_count; k++)
                free(*(char **)((char *)&cfg->operators[k] + e->offset));
        } else {
            free(*(char **)((char *)cfg + e->offset));
        }
    }
    free(cfg->operators);
    free(cfg->source_path);
    free(cfg);
}

/* Reads a secret from the environment variable `env` (when not "") or else from the file
 * `file`, for the configuration section `key` ("ca_passphrase", "keystore.pkcs11.pin"); `noun`
 * names it in messages. The same rules for every secret: set, not empty, at most
 * CONFIG_PASSPHRASE_MAX bytes, a file of mode 0600 or stricter. */
static char *read_secret(const char *env, const char *file, const char *key, const char *noun,
                         struct jerr *err)
{
    char field_env[64], field_file[64];
    snprintf(field_env, sizeof(field_env), "%s.env", key);
    snprintf(field_file, sizeof(field_file), "%s.file", key);

    char buf[CONFIG_PASSPHRASE_MAX + 3]; /* passphrase, "\r\n", and one byte to see overflow */
    char *out = NULL;
    size_t len = 0;
    int fd = -1;

    if (env[0] != '\0') {
        const char *v = getenv(env);
        if (v == NULL || v[0] == '\0') {
            jerr_set(err, JERR_CONFIG, field_env,
                     "%s: the environment variable %s is not set or empty", field_env, env);
            goto out;
        }
        len = strlen(v);
        if (len > CONFIG_PASSPHRASE_MAX) {
            jerr_set(err, JERR_CONFIG, field_env, "%s: the %s in %s is longer than %d bytes",
                     field_env, noun, env, CONFIG_PASSPHRASE_MAX);
            goto out;
        }
        out = strdup(v);
        if (out == NULL)
            jerr_set(err, JERR_INTERNAL, field_env, "out of memory");
        goto out;
    }

    const char *path = file;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd == -1) {
        jerr_set(err, JERR_CONFIG, field_file, "%s: %s: %s", field_file, path, strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        jerr_set(err, JERR_CONFIG, field_file, "%s: %s: not a regular file", field_file, path);
        goto out;
    }
    /* A secret others can read (or replace) protects nothing. */
    if (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) {
        jerr_set(err, JERR_CONFIG, field_file,
                 "%s: %s: mode %04o lets group or others read or write it; "
                 "use chmod 600",
                 field_file, path, (unsigned)(st.st_mode & 07777));
        goto out;
    }
    while (len < sizeof(buf)) {
        ssize_t r = read(fd, buf + len, sizeof(buf) - len);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1) {
            jerr_set(err, JERR_CONFIG, field_file, "%s: %s: %s", field_file, path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    /* One trailing newline is how editors and `echo` end a file; it is not part of it. */
    if (len > 0 && buf[len - 1] == '\n') {
        len--;
        if (len > 0 && buf[len - 1] == '\r')
            len--;
    }
    if (len > CONFIG_PASSPHRASE_MAX) {
        jerr_set(err, JERR_CONFIG, field_file, "%s: %s: longer than %d bytes", field_file, path,
                 CONFIG_PASSPHRASE_MAX);
        goto out;
    }
    if (len == 0 || memchr(buf, '\0', len) != NULL) {
        jerr_set(err, JERR_CONFIG, field_file, "%s: %s: %s", field_file, path,
                 len == 0 ? "empty" : "contains a NUL byte");
        goto out;
    }
    out = malloc(len + 1);
    if (out == NULL) {
        jerr_set(err, JERR_INTERNAL, field_file, "out of memory");
        goto out;
    }
    memcpy(out, buf, len);
    out[len] = '\0';
out:
    OPENSSL_cleanse(buf, sizeof(buf));
    if (fd != -1)
        close(fd);
    return out;
}

char *config_read_passphrase(const struct jpki_config *cfg, struct jerr *err)
{
    return read_secret(cfg->passphrase_env, cfg->passphrase_file, "ca_passphrase", "passphrase",
                       err);
}

char *config_read_ldap_password(const struct jpki_config *cfg, struct jerr *err)
{
    return read_secret(cfg->ldap_password_env, cfg->ldap_password_file, "publish.ldap.password",
                       "password", err);
}

char *config_read_respond_redis_password(const struct jpki_config *cfg, struct jerr *err)
{
    if (cfg->respond_redis_password_env[0] == '\0' && cfg->respond_redis_password_file[0] == '\0') {
        err->code = JERR_NONE;
        return NULL;
    }
    return read_secret(cfg->respond_redis_password_env, cfg->respond_redis_password_file,
                       "respond.redis.password", "Redis password", err);
}

char *config_read_hsm_pin(const struct jpki_config *cfg, struct jerr *err)
{
    return read_secret(cfg->p11_pin_env, cfg->p11_pin_file, "keystore.pkcs11.pin", "PIN", err);
}

char *config_read_redis_password(const struct jpki_config *cfg, bool respond, struct jerr *err)
{
    const char *env = respond ? cfg->respond_redis_password_env : cfg->publish_redis_password_env;
    const char *file = respond ? cfg->respond_redis_password_file : cfg->publish_redis_password_file;
    err->code = JERR_NONE;
    if (env[0] == '\0' && file[0] == '\0')
        return NULL;
    return read_secret(env, file, respond ? "respond.redis.password" : "publish.redis.password",
                       "Redis password", err);
}

bool config_keystore_is_pkcs11(const struct jpki_config *cfg)
{
    return strcmp(cfg->keystore_backend, "pkcs11") == 0;
}

void config_passphrase_free(char *passphrase)
{
    if (passphrase == NULL)
        return;
    OPENSSL_cleanse(passphrase, strlen(passphrase));
    free(passphrase);
}

char *config_path(const struct jpki_config *cfg, const char *rel, char *buf, size_t size)
{
    if (rel[0] == '/')
        return NULL;
    size_t dlen = strlen(cfg->data_dir);
    const char *sep = dlen > 0 && cfg->data_dir[dlen - 1] == '/' ? "" : "/";
    int n = snprintf(buf, size, "%s%s%s", cfg->data_dir, sep, rel);
    return n < 0 || (size_t)n >= size ? NULL : buf;
}

const char *ca_kind_name(enum ca_kind kind)
{
    switch (kind) {
    case CA_SIGN:
        return "sign";
    case CA_AUTH:
        return "auth";
    default:
        return "?";
    }
}

int ca_kind_parse(const char *s, enum ca_kind *kind)
{
    if (s != NULL && strcmp(s, "sign") == 0)
        return *kind = CA_SIGN, 0;
    if (s != NULL && strcmp(s, "auth") == 0)
        return *kind = CA_AUTH, 0;
    return -1;
}

const char *access_mode_name(enum access_mode mode)
{
    if ((size_t)mode < sizeof(access_names) / sizeof(access_names[0]))
        return access_names[mode];
    return "?";
}

const char *operator_role_name(enum operator_role role)
{
    if ((size_t)role < sizeof(role_names) / sizeof(role_names[0]))
        return role_names[role];
    return "?";
}
