/*
 * auth: see auth.h. Only digests are compared, always with CRYPTO_memcmp; the token itself
 * lives in the caller's buffer and in this file's stack frames, which are wiped.
 */
#include "responder/api/auth.h"

#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "ca/model.h"
#include "base/hex.h"
#include "base/jclock.h"

static const char *const role_names[] = {
    [ROLE_ADMIN] = "admin",
    [ROLE_OPERATOR] = "operator",
    [ROLE_BATCH] = "batch",
    [ROLE_AUDITOR] = "auditor",
};

int auth_role_parse(const char *s, enum operator_role *role)
{
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++) {
        if (strcmp(s, role_names[i]) == 0) {
            *role = (enum operator_role)i;
            return 0;
        }
    }
    return -1;
}

/* RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
static bool is_b64token_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

int auth_bearer_parse(const char *header, char *token, size_t size, struct jerr *err)
{
    static const char scheme[] = "Bearer";
    const size_t scheme_len = sizeof(scheme) - 1;

    if (header == NULL)
        return jerr_set(err, JERR_AUTH, "authorization",
                        "no credential: send "
                        "\"Authorization: Bearer <token>\"");
    /* RFC 7235 §2.1: the scheme is case-insensitive and followed by 1*SP. */
    if (strncasecmp(header, scheme, scheme_len) != 0 ||
        (header[scheme_len] != ' ' && header[scheme_len] != '\0'))
        return jerr_set(err, JERR_AUTH, "authorization",
                        "unsupported authentication scheme: only Bearer is accepted");
    const char *t = header + scheme_len;
    while (*t == ' ')
        t++;
    size_t len = strnlen(t, AUTH_TOKEN_MAX + 1);
    if (len == 0)
        return jerr_set(err, JERR_AUTH, "authorization", "empty bearer token");
    if (len > AUTH_TOKEN_MAX)
        return jerr_set(err, JERR_AUTH, "authorization", "bearer token longer than %d bytes",
                        AUTH_TOKEN_MAX);
    size_t i = 0;
    while (i < len && is_b64token_char(t[i]))
        i++;
    if (i == 0)
        return jerr_set(err, JERR_AUTH, "authorization", "malformed bearer token");
    while (i < len && t[i] == '=')
        i++;
    if (i != len)
        return jerr_set(err, JERR_AUTH, "authorization",
                        "malformed bearer token: a character outside RFC 6750 b64token");
    if (size <= len)
        return jerr_set(err, JERR_INTERNAL, "authorization", "token buffer too small");
    memcpy(token, t, len);
    token[len] = '\0';
    return 0;
}

void auth_token_sha256(const char *token, unsigned char out[AUTH_SHA256_BYTES])
{
    SHA256((const unsigned char *)token, strlen(token), out);
}

int auth_hex_decode(const char *hex, unsigned char out[AUTH_SHA256_BYTES])
{
    if (hex == NULL || strnlen(hex, AUTH_SHA256_HEX + 1) != AUTH_SHA256_HEX)
        return -1;
    for (size_t i = 0; i < AUTH_SHA256_BYTES; i++) {
        int hi = OPENSSL_hexchar2int((unsigned char)hex[2 * i]);
        int lo = OPENSSL_hexchar2int((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

void auth_hex_encode(const unsigned char in[AUTH_SHA256_BYTES], char out[AUTH_SHA256_HEX + 1])
{
    hex_encode(in, AUTH_SHA256_BYTES, out);
}

bool auth_digest_is_equal(const unsigned char a[AUTH_SHA256_BYTES],
                          const unsigned char b[AUTH_SHA256_BYTES])
{
    return CRYPTO_memcmp(a, b, AUTH_SHA256_BYTES) == 0;
}

int auth_token_new(char token[AUTH_NEW_TOKEN_HEX + 1], char hash_hex[AUTH_SHA256_HEX + 1],
                   struct jerr *err)
{
    unsigned char raw[AUTH_NEW_TOKEN_BYTES], digest[AUTH_SHA256_BYTES];

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return jerr_openssl(err, JERR_CRYPTO, NULL, "no random bytes for a token");
    hex_encode(raw, sizeof(raw), token);
    OPENSSL_cleanse(raw, sizeof(raw));
    auth_token_sha256(token, digest);
    auth_hex_encode(digest, hash_hex);
    return 0;
}

static void identity_set(struct auth_identity *out, const char *name, enum operator_role role,
                         enum auth_via via)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", name);
    out->role = role;
    out->via = via;
}

int auth_by_token(const struct jpki_config *cfg, struct store *st, const char *token,
                  struct auth_identity *out, struct jerr *err)
{
    unsigned char digest[AUTH_SHA256_BYTES], known[AUTH_SHA256_BYTES];
    char hex[AUTH_SHA256_HEX + 1], admin_hex[AUTH_SHA256_HEX + 1];
    const struct config_operator *found = NULL;
    struct operator_rec op;
    struct jerr lookup = {0};
    int rc = -1;

    auth_token_sha256(token, digest);
    /* Every configured digest is compared, a match or not, so the time does not depend on
     * which entry (if any) matched. */
    for (size_t i = 0; cfg != NULL && i < cfg->operator_count; i++) {
        const struct config_operator *c = &cfg->operators[i];
        if (auth_hex_decode(c->token_sha256, known) == 0 && auth_digest_is_equal(digest, known) &&
            found == NULL)
            found = c;
    }
    if (found != NULL) {
        identity_set(out, found->name, found->role, AUTH_VIA_TOKEN);
        rc = 0;
        goto out;
    }
    if (store_meta_get(st, OPERATOR_ADMIN_TOKEN_KEY, admin_hex, sizeof(admin_hex), &lookup) == 0) {
        if (auth_hex_decode(admin_hex, known) == 0 && auth_digest_is_equal(digest, known)) {
            identity_set(out, OPERATOR_ADMIN_NAME, ROLE_ADMIN, AUTH_VIA_TOKEN);
            rc = 0;
            goto out;
        }
    } else if (lookup.code != JERR_NOT_FOUND) {
        *err = lookup; /* the registry cannot say: not the caller's fault */
        goto out;
    }
    /* The registry's operators, by the digest (an index lookup: what its timing could tell is
     * about digests, which reveal nothing of a token). */
    auth_hex_encode(digest, hex);
    jerr_clear(&lookup);
    if (store_operator_by_token(st, hex, &op, &lookup) == 0) {
        if (auth_hex_decode(op.token_sha256, known) == 0 && auth_digest_is_equal(digest, known) &&
            !op.disabled) {
            identity_set(out, op.name, op.role, AUTH_VIA_TOKEN);
            rc = 0;
            goto out;
        }
    } else if (lookup.code != JERR_NOT_FOUND) {
        *err = lookup;
        goto out;
    }
    /* One answer for unknown and disabled: the caller learns nothing about other tokens. */
    jerr_set(err, JERR_AUTH, "authorization", "unknown or disabled credential");
out:
    OPENSSL_cleanse(digest, sizeof(digest));
    OPENSSL_cleanse(hex, sizeof(hex));
    return rc;
}

/* The UTF-8 text of the entry of `nid` at index `idx` of `name`, into out (size). */
static int name_entry_text(const X509_NAME *name, int idx, char *out, size_t size)
{
    const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, idx);
    unsigned char *utf8 = NULL;
    int len = e != NULL ? ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e)) : -1;
    int rc = -1;

    if (len < 0)
        goto out;
    if ((size_t)len >= size || memchr(utf8, '\0', (size_t)len) != NULL)
        goto out;
    memcpy(out, utf8, (size_t)len);
    out[len] = '\0';
    rc = 0;
out:
    OPENSSL_free(utf8);
    return rc;
}

/* The operator name of a client certificate: exactly one CN, a valid operator name. */
static int cert_cn(X509 *cert, char cn[JPKI_ID_MAX + 1], struct jerr *err)
{
    struct jerr why = {0};
    const X509_NAME *subject = cert != NULL ? X509_get_subject_name(cert) : NULL;

    if (subject == NULL)
        return jerr_set(err, JERR_AUTH, "certificate", "no client certificate");
    int cn_idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (cn_idx < 0 || X509_NAME_get_index_by_NID(subject, NID_commonName, cn_idx) >= 0)
        return jerr_set(err, JERR_AUTH, "certificate",
                        "client certificate subject must carry exactly one CN");
    if (name_entry_text(subject, cn_idx, cn, JPKI_ID_MAX + 1) == -1 ||
        model_check_id("certificate", cn, &why) == -1)
        return jerr_set(err, JERR_AUTH, "certificate",
                        "client certificate CN is not an operator name ([A-Za-z0-9._-], "
                        "1..%d characters)",
                        JPKI_ID_MAX);
    return 0;
}

int auth_by_cert(X509 *cert, struct auth_identity *out, struct jerr *err)
{
    char cn[JPKI_ID_MAX + 1], ou[32];
    enum operator_role role;

    if (cert_cn(cert, cn, err) == -1)
        return -1;
    const X509_NAME *subject = X509_get_subject_name(cert);
    /* The first OU in subject order names the role. */
    int ou_idx = X509_NAME_get_index_by_NID(subject, NID_organizationalUnitName, -1);
    if (ou_idx < 0 || name_entry_text(subject, ou_idx, ou, sizeof(ou)) == -1 ||
        auth_role_parse(ou, &role) == -1)
        return jerr_set(err, JERR_AUTH, "certificate",
                        "client certificate's first OU must name a role (admin, operator, "
                        "batch, auditor)");
    identity_set(out, cn, role, AUTH_VIA_CERT);
    return 0;
}

/* ---- client certificates looked up in the registry (issue 11 §2) ---- */

/* The CRL at `path`, PEM or DER. */
static X509_CRL *crl_read(const char *path)
{
    BIO *bio = BIO_new_file(path, "rb");
    X509_CRL *crl = NULL;

    if (bio == NULL)
        return NULL;
    crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
    if (crl == NULL && BIO_reset(bio) == 0)
        crl = d2i_X509_CRL_bio(bio, NULL);
    BIO_free(bio);
    return crl;
}

/* True when a certificate of the PEM file `ca_path` is the CRL's issuer and signed it. */
static bool crl_is_signed_by_ca_file(X509_CRL *crl, const char *ca_path)
{
    BIO *bio = BIO_new_file(ca_path, "r");
    X509 *ca = NULL;
    bool ok = false;

    while (bio != NULL && !ok && (ca = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        EVP_PKEY *key = X509_get0_pubkey(ca);
        ok = X509_NAME_cmp(X509_get_subject_name(ca), X509_CRL_get_issuer(crl)) == 0 &&
             key != NULL && X509_CRL_verify(crl, key) == 1;
        X509_free(ca);
    }
    BIO_free(bio);
    return ok;
}

/* RFC 5280 §6.3.3: the certificate's status from the operator CA's CRL. */
static int cert_crl_check(const struct jpki_config *cfg, X509 *cert, struct jerr *err)
{
    X509_CRL *crl = crl_read(cfg->tls_operator_crl);
    X509_REVOKED *revoked = NULL;
    time_t now = jclock_now();
    int rc = -1;

    if (crl == NULL) {
        jerr_openssl(err, JERR_UNAVAILABLE, "certificate",
                     "tls.operator_crl cannot be read as a CRL: client certificates are refused");
        goto out;
    }
    if (!crl_is_signed_by_ca_file(crl, cfg->tls_operator_ca)) {
        jerr_openssl(err, JERR_UNAVAILABLE, "certificate",
                     "tls.operator_crl is not signed by a CA of tls.operator_ca: client "
                     "certificates are refused");
        goto out;
    }
    const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
    if (next != NULL && X509_cmp_time(next, &now) < 0) {
        jerr_set(err, JERR_UNAVAILABLE, "certificate",
                 "tls.operator_crl is past its nextUpdate: client certificates are refused "
                 "until a current CRL is installed");
        goto out;
    }
    if (X509_NAME_cmp(X509_get_issuer_name(cert), X509_CRL_get_issuer(crl)) != 0) {
        jerr_set(err, JERR_AUTH, "certificate",
                 "client certificate's issuer is not the issuer of tls.operator_crl");
        goto out;
    }
    if (X509_CRL_get0_by_cert(crl, &revoked, cert) == 1) {
        jerr_set(err, JERR_AUTH, "certificate", "client certificate revoked");
        goto out;
    }
    rc = 0;
out:
    ERR_clear_error();
    X509_CRL_free(crl);
    return rc;
}

int auth_by_cert_registry(const struct jpki_config *cfg, struct store *st, X509 *cert,
                          struct auth_identity *out, struct jerr *err)
{
    char cn[JPKI_ID_MAX + 1];
    enum operator_role role = ROLE_AUDITOR;
    struct jerr why = {0};
    bool disabled = false;

    /* The subject's CN names the operator; its OU is not read (the registry gives the role). */
    if (cert_cn(cert, cn, err) == -1)
        return -1;
    if (cfg->tls_operator_crl[0] != '\0' && cert_crl_check(cfg, cert, err) == -1)
        return -1;
    if (strcmp(cn, OPERATOR_ADMIN_NAME) == 0 ||
        operator_lookup(cfg, st, cn, &role, &disabled, &why) == -1 || disabled) {
        if (jerr_is_set(&why) && why.code != JERR_NOT_FOUND) {
            *err = why;
            return -1;
        }
        /* One answer for unknown and disabled, as for tokens. */
        return jerr_set(err, JERR_AUTH, "certificate",
                        "client certificate names no enabled operator (CN is looked up in the "
                        "operators; create it with POST /v1/operators)");
    }
    identity_set(out, cn, role, AUTH_VIA_CERT);
    return 0;
}
