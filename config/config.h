/*
 * config: the YAML configuration (libyaml), loaded into typed structs and validated.
 *
 * The file is parsed into a tree that remembers each node's line and column; `--set
 * key.path=value` overrides are applied to that tree; then one schema table (config.c) walks
 * it: every key known, typed, in range, required ones present. An error reads
 * "file:line:column: key: what is wrong" (overrides say "--set" instead of file:line:column).
 * Secrets are never inline: the CA passphrase comes from an environment variable or a file
 * the configuration names (config_read_passphrase).
 */
#ifndef JPKI_CONFIG_H
#define JPKI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "base/jerr.h"

enum ca_kind { CA_SIGN = 0, CA_AUTH = 1 };
#define CA_KIND_COUNT 2

/* "sign" / "auth" */
const char *ca_kind_name(enum ca_kind kind);
/* Returns 0 and sets *kind for "sign"/"auth", -1 otherwise. */
int ca_kind_parse(const char *s, enum ca_kind *kind);

enum operator_role { ROLE_ADMIN = 0, ROLE_OPERATOR, ROLE_BATCH, ROLE_AUDITOR };

/* Who may ask a group of public endpoints (access.ocsp, access.crl): anyone, or only relying
 * parties registered in the registry (DESIGN §12), over HTTPS with their client certificate or
 * bearer token. */
enum access_mode { ACCESS_OPEN = 0, ACCESS_REGISTERED = 1 };

struct config_operator {
    char *name;
    enum operator_role role;
    char *token_sha256; /* hex SHA-256 of the bearer token, 64 chars */
};

struct config_ca {
    char *subject;           /* "C=JP, O=JPKI, OU=..., OU=..." (RFC 4514-like, in order) */
    char *key_algorithm;     /* rsa | rsa2048 | rsa3072 | ecdsa-p384 | ecdsa-p521 (keyalg.h) */
    int key_bits;            /* 2048..8192: the size "rsa" means */
    int root_validity_years; /* 1..30 */
    char *policy_oid;        /* dotted OID */
    char *crl_url;      /* CDP base: {crl_url} for 1 partition; default public_url/crl/<ca>.crl */
    char *ocsp_url;     /* AIA OCSP; default public_url/ocsp */
    int crl_partitions; /* 1..4096, fixed at init */
    int ocsp_signer_validity_days; /* 1..3650 */
};

/* A Redis section's TLS (publish.redis.tls*, respond.redis.tls*; responder/redis/redistls.h). */
struct config_redis_tls {
    bool on;    /* tls: over TLS */
    char *ca;   /* tls_ca: PEM CAs the server's certificate must chain to ("" = the system's) */
    char *cert; /* tls_cert: client certificate chain (PEM, "" = none) */
    char *key;  /* tls_key: and its key */
};

struct jpki_config {
    char *source_path;     /* the file it came from */
    char *data_dir;        /* registry, keys, CRLs */
    char *public_url;      /* base of CDP/AIA URLs, e.g. http://127.0.0.1:8080 */
    char *agency;          /* the second OU of the CA subjects */
    char *passphrase_env;  /* name of the env var holding the CA passphrase */
    char *passphrase_file; /* or a file holding it (0600) */

    /* where the CA keys are (DESIGN §10) */
    char *keystore_backend; /* "file" (encrypted PKCS#8 in DATA_DIR/keys) | "pkcs11" */
    char *p11_module;       /* PKCS#11 module path (pkcs11 only) */
    char *p11_token;        /* token label */
    char *p11_pin_env;      /* env var holding the user PIN ("" = use p11_pin_file) */
    char *p11_pin_file;     /* or a file holding it (0600) */
    int p11_sessions;       /* signing sessions used at once (1..16) */

    struct config_ca ca[CA_KIND_COUNT];

    /* subscriber certificates (DESIGN §3, §4) */
    int subscriber_validity_years;       /* 5 (the next card: 10) */
    int subscriber_validity_years_minor; /* 5: for a holder under 18 at issuance */
    bool cap_to_card_expiry;             /* true */
    int subscriber_key_bits;             /* 2048 */
    int juki_validity_years;             /* 3 */
    char *juki_issuance_end;             /* "2015-12-31" */

    /* revocation publishing (DESIGN §5) */
    int crl_period_s;            /* regenerate every ... (3600) */
    int crl_next_update_s;       /* nextUpdate - thisUpdate (86400) */
    int crl_after_change_s;      /* publish this long after a status change, 0 = off (60) */
    int crl_delta_period_s;      /* publish the delta CRLs every ..., 0 = no deltas (300) */
    int ocsp_validity_s;         /* pre-signed response nextUpdate - thisUpdate (86400) */
    int ocsp_refresh_before_s;   /* re-sign when less than this remains (43200) */
    int ocsp_max_inflight_signs; /* signings on a miss before tryLater (64) */

    /* HTTP caching of the public answers: max-age bounds (RFC 9111 §5.2.2.1) */
    int http_crl_max_age_s;  /* CRLs, also never past the next publication (300) */
    int http_ocsp_max_age_s; /* OCSP GET answers, also never past nextUpdate (300) */

    /* service (DESIGN §6) */
    char *listen_http;           /* "127.0.0.1:8080", "" = off */
    char *listen_https;          /* "" = off */
    char *listen_operator_http;  /* the operator API's own listener, "" = none */
    char *listen_operator_https; /* "" = none */
    char *tls_cert;              /* PEM files for HTTPS */
    char *tls_key;
    char *tls_operator_ca;      /* CA of operator client certificates ("" = none) */
    char *tls_relying_party_ca; /* removed (issue 15): refused unless "" */
    char *tls_operator_crl;     /* CRL of tls_operator_ca, checked on every call ("" = none) */
    int loops;                  /* event loops, 0 = one per core */
    int workers;                /* worker threads, 0 = one per core plus one */
    bool metrics_public;        /* /metrics without authentication */
    int idle_timeout_s;         /* idle or slow connections closed after this (30) */
    int max_connections;        /* connections at once, 0 = as descriptors allow */

    /* LDAPv3 publication of the CRLs (publish.ldap; "" url = off) */
    char *ldap_url;                 /* ldap://host:port */
    char *ldap_bind_dn;             /* "" = anonymous */
    char *ldap_base_dn;             /* the CA entries are cn=<ca>,<base_dn> */
    char *ldap_password_env;        /* the bind password: an env var... */
    char *ldap_password_file;       /* ...or a file (0600) */

    /* who may ask (relying-party access control) */
    enum access_mode access_ocsp; /* open */
    enum access_mode access_crl;  /* open */

    /* abuse limits: calls per client and minute, 0 = no limit */
    int limits_api_per_minute;          /* /v1 operator calls, per client address and credential */
    int limits_holder_per_minute;       /* holder calls (POST /v1/holder/revoke), per address */
    int limits_connections_per_address; /* open at once from one IPv4 address or IPv6 /64 (256) */
    int limits_header_timeout_ms;       /* a request must arrive whole within this (10000) */
    int limits_body_timeout_ms;         /* added on operator listeners, for batch files (120000) */
    int limits_ocsp_signatures_per_minute; /* OCSP answers signed live, per address (600) */
    char *limits_trusted_proxies;  /* proxies whose forwarding header names the client ("") */
    char *limits_forwarded_header; /* "x-forwarded-for" | "forwarded" */

    /* batches (docs/BATCH.md) */
    char *batch_pin_letter_recipient; /* PEM certificate PIN letters are encrypted to ("" = none) */

    /* audit log (DESIGN §7) */
    int audit_checkpoint_s; /* sign a checkpoint of the log every ... (60) */

    /* publish.redis (DESIGN §13): the CA node's copy of what it serves, for responders */
    char *publish_redis_url;          /* "redis://host:port/db", "" = no publication */
    char *publish_redis_password_env; /* env var holding the Redis password ("" = none) */
    char *publish_redis_password_file; /* or a file holding it (0600) */
    struct config_redis_tls publish_redis_tls;
    char *publish_redis_key_prefix;   /* every key starts with it ("jpki:") */
    /* jpkid respond (DESIGN §13): the Redis it answers from (config/jpki.example.yaml) */
    char *respond_redis_url;            /* redis://host:port[/db], "" = none */
    char *respond_redis_password_env;   /* env var holding the Redis password ("" = none) */
    char *respond_redis_password_file;  /* or a file holding it (0600) */
    char *respond_redis_key_prefix;     /* "jpki:" */
    struct config_redis_tls respond_redis_tls; /* primary and sentinels */
    char *respond_redis_sentinels;      /* "host:port,host:port": ask these for the primary */
    char *respond_redis_sentinel_master; /* the primary's name at the sentinels */
    int respond_cache_entries;          /* pre-signed responses kept in memory (65536) */
    char *respond_relying_party_ca;     /* the CA node's /ca/rp.pem, for mTLS ("" = tokens only) */

    struct config_operator *operators;
    size_t operator_count;
};

/* Loads and validates `path`, then applies `overrides` ("key.path=value", count n). Returns a
 * config the caller frees with config_free, or NULL with err filled (field = the key). */
struct jpki_config *config_load(const char *path, const char *const *overrides, size_t n,
                                struct jerr *err);

/* Same from a string already in memory; `name` is used in messages as the file name. */
struct jpki_config *config_load_string(const char *name, const char *yaml, size_t len,
                                       const char *const *overrides, size_t n, struct jerr *err);

void config_free(struct jpki_config *cfg);

/* Reads the CA passphrase from the configured env var or file. Returns a NUL-terminated
 * string the caller wipes and frees with config_passphrase_free, or NULL with err filled. */
char *config_read_passphrase(const struct jpki_config *cfg, struct jerr *err);
void config_passphrase_free(char *passphrase);

/* Reads the token's user PIN (keystore.pkcs11.pin) by the same rules as the passphrase; the
 * caller frees it with config_passphrase_free. */
char *config_read_hsm_pin(const struct jpki_config *cfg, struct jerr *err);
/* The LDAP bind password (publish.ldap.password), as config_read_passphrase. */
char *config_read_ldap_password(const struct jpki_config *cfg, struct jerr *err);


/* The Redis password of publish.redis (respond = false) or respond.redis (true), from its env
 * or 0600 file, or NULL: none configured (err->code JERR_NONE) or unreadable (err set,
 * naming the key). config_passphrase_free() it. */
char *config_read_redis_password(const struct jpki_config *cfg, bool respond, struct jerr *err);

/* True when keystore.backend is pkcs11. */
bool config_keystore_is_pkcs11(const struct jpki_config *cfg);

/* Path under data_dir: config_path(cfg, "keys/sign-ca.key", buf, size). Returns buf, or NULL
 * when it does not fit or when `rel` is absolute. */
char *config_path(const struct jpki_config *cfg, const char *rel, char *buf, size_t size);

const char *operator_role_name(enum operator_role role);

/* "open" / "registered" */
const char *access_mode_name(enum access_mode mode);

#endif
