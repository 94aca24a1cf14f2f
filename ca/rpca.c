/*
 * rpca: see rpca.h. Certificates and the CRL are built with OpenSSL's X509 / X509_CRL and
 * their extensions with X509V3_EXT_conf_nid; the signatures come from the signer (the only way
 * to the key).
 */
#include "ca/rpca.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "base/fsutil.h"
#include "base/jclock.h"
#include "ca/pki.h"
#include "ca/profile.h"
#include "keystore/keyalg.h"

#define RPCA_SUBJECT "O=JPKI, OU=jpki, CN=jpki Relying Party CA"
#define RPCA_ROOT_DAYS (20 * 365)
#define RPCA_KEY_BITS 2048

struct rpca {
    struct signer_store *keys; /* borrowed */
    X509 *cert;
    char cert_path[PATH_MAX];
    char crl_path[PATH_MAX];
    pthread_mutex_t lock;  /* the key's lazy load, and one publication at a time */
    struct signer *signer; /* NULL until the first signature */
};

/* Adds extension `nid` with OpenSSL's configuration text `value` ("critical,CA:TRUE"). */
static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value, struct jerr *err)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    int ok = ext != NULL && X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok ? 0 : jerr_openssl(err, JERR_CRYPTO, NULL, "extension %s", OBJ_nid2sn(nid));
}

/* A certificate of `pub` for `subject`, issued by `issuer` (NULL: itself), with a random
 * serial and `days` of validity from now; unsigned. */
static X509 *cert_new(X509_NAME *subject, X509 *issuer, EVP_PKEY *pub, long days, struct jerr *err)
{
    unsigned char raw[JPKI_SERIAL_BYTES];
    char hex[JPKI_SERIAL_BYTES * 2 + 1];
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial = NULL;
    X509 *cert = X509_new();
    time_t now = jclock_now();

    if (cert == NULL || profile_random_serial(raw, hex, err) == -1)
        goto fail;
    if ((bn = BN_bin2bn(raw, sizeof(raw), NULL)) == NULL ||
        (serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL || X509_set_version(cert, 2) != 1 ||
        X509_set_serialNumber(cert, serial) != 1 || X509_set_subject_name(cert, subject) != 1 ||
        X509_set_issuer_name(cert, issuer != NULL ? X509_get_subject_name(issuer) : subject) != 1 ||
        X509_time_adj_ex(X509_getm_notBefore(cert), 0, -300, &now) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(cert), (int)days, 0, &now) == NULL ||
        X509_set_pubkey(cert, pub) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "relying-party certificate");
        goto fail;
    }
    BN_free(bn);
    ASN1_INTEGER_free(serial);
    return cert;
fail:
    BN_free(bn);
    ASN1_INTEGER_free(serial);
    X509_free(cert);
    return NULL;
}

static int paths(const struct jpki_config *cfg, char cert_path[PATH_MAX], char crl_path[PATH_MAX],
                 struct jerr *err)
{
    if (config_path(cfg, RPCA_CERT_FILE, cert_path, PATH_MAX) == NULL ||
        config_path(cfg, RPCA_CRL_FILE, crl_path, PATH_MAX) == NULL)
        return jerr_set(err, JERR_CONFIG, "data_dir", "data_dir path too long");
    return 0;
}

/* The CRL of `issuer` listing `revoked`, signed by `s`, written to `path`. */
static int crl_write(X509 *issuer, const struct signer *s, const struct rpca_revoked *revoked,
                     size_t count, const char *path, struct jerr *err)
{
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *t = NULL;
    unsigned char *der = NULL;
    int len = 0, rc = -1;
    time_t now = jclock_now();

    /* RFC 5280 §5.1.2: version 2, the issuer, thisUpdate and nextUpdate. */
    if (crl == NULL || X509_CRL_set_version(crl, 1) != 1 ||
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) != 1 ||
        (t = X509_time_adj_ex(NULL, 0, 0, &now)) == NULL || X509_CRL_set1_lastUpdate(crl, t) != 1 ||
        X509_time_adj_ex(t, 0, RPCA_CRL_NEXT_UPDATE_S, &now) == NULL ||
        X509_CRL_set1_nextUpdate(crl, t) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "relying-party CRL");
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        X509_REVOKED *r = X509_REVOKED_new();
        BIGNUM *bn = NULL;
        ASN1_INTEGER *serial = NULL;
        time_t at = (time_t)revoked[i].at;
        ASN1_TIME *when = X509_time_adj_ex(NULL, 0, 0, &at);
        bool ok = r != NULL && when != NULL && BN_hex2bn(&bn, revoked[i].serial) > 0 &&
                  (serial = BN_to_ASN1_INTEGER(bn, NULL)) != NULL &&
                  X509_REVOKED_set_serialNumber(r, serial) == 1 &&
                  X509_REVOKED_set_revocationDate(r, when) == 1 &&
                  X509_CRL_add0_revoked(crl, r) == 1;
        BN_free(bn);
        ASN1_INTEGER_free(serial);
        ASN1_TIME_free(when);
        if (!ok) {
            X509_REVOKED_free(r);
            jerr_openssl(err, JERR_CRYPTO, NULL, "relying-party CRL entry");
            goto out;
        }
    }
    X509_CRL_sort(crl);
    if (signer_sign_crl(s, crl, err) == -1)
        goto out;
    if ((len = i2d_X509_CRL(crl, &der)) <= 0) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "relying-party CRL encoding");
        goto out;
    }
    rc = fsutil_write_atomic(path, der, (size_t)len, 0644, false, err);
out:
    OPENSSL_free(der);
    ASN1_TIME_free(t);
    X509_CRL_free(crl);
    return rc;
}

int rpca_create(const struct jpki_config *cfg, struct signer_store *keys, struct jerr *err)
{
    char cert_path[PATH_MAX], crl_path[PATH_MAX];
    struct signer *s = NULL;
    EVP_PKEY *pub = NULL;
    X509_NAME *name = NULL;
    X509 *root = NULL;
    int rc = -1;

    if (paths(cfg, cert_path, crl_path, err) == -1)
        return -1;
    if (fsutil_exists(cert_path))
        return jerr_set(err, JERR_CONFLICT, "data_dir", "%s exists already", cert_path);
    struct keyalg alg = keyalg_rsa(RPCA_KEY_BITS);
    if ((s = signer_store_create(keys, RPCA_KEY_NAME, &alg, false, err)) == NULL)
        goto out;
    if ((pub = signer_get1_public_key(s)) == NULL) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "relying-party CA public key");
        goto out;
    }
    if ((name = profile_parse_name(RPCA_SUBJECT, err)) == NULL ||
        (root = cert_new(name, NULL, pub, RPCA_ROOT_DAYS, err)) == NULL)
        goto out;
    /* RFC 5280 §4.2.1.9, §4.2.1.3, §4.2.1.2: a CA that certifies end entities only. */
    if (add_ext(root, root, NID_basic_constraints, "critical,CA:TRUE,pathlen:0", err) == -1 ||
        add_ext(root, root, NID_key_usage, "critical,keyCertSign,cRLSign", err) == -1 ||
        add_ext(root, root, NID_subject_key_identifier, "hash", err) == -1 ||
        signer_sign_cert(s, root, err) == -1)
        goto out;
    /* The CRL first: a root on disk means a complete CA. */
    if (crl_write(root, s, NULL, 0, crl_path, err) == -1 ||
        pki_write_cert_pem(root, cert_path, true, err) == -1)
        goto out;
    rc = 0;
out:
    X509_free(root);
    X509_NAME_free(name);
    EVP_PKEY_free(pub);
    signer_free(s);
    return rc;
}

struct rpca *rpca_open(const struct jpki_config *cfg, struct signer_store *keys, struct jerr *err)
{
    struct rpca *ca = calloc(1, sizeof(*ca));
    if (ca == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    ca->keys = keys;
    pthread_mutex_init(&ca->lock, NULL);
    if (paths(cfg, ca->cert_path, ca->crl_path, err) == -1)
        goto fail;
    /* An instance from before relying parties: its CA is made now, once. */
    if (!fsutil_exists(ca->cert_path) && rpca_create(cfg, keys, err) == -1)
        goto fail;
    if ((ca->cert = pki_read_cert_pem(ca->cert_path, err)) == NULL)
        goto fail;
    return ca;
fail:
    rpca_free(ca);
    return NULL;
}

void rpca_free(struct rpca *ca)
{
    if (ca == NULL)
        return;
    signer_free(ca->signer);
    X509_free(ca->cert);
    pthread_mutex_destroy(&ca->lock);
    free(ca);
}

X509 *rpca_get0_cert(const struct rpca *ca)
{
    return ca->cert;
}

const char *rpca_cert_path(const struct rpca *ca)
{
    return ca->cert_path;
}

const char *rpca_crl_path(const struct rpca *ca)
{
    return ca->crl_path;
}

/* The signer, loaded on first use. Under ca->lock. */
static const struct signer *signer_locked(struct rpca *ca, struct jerr *err)
{
    if (ca->signer != NULL)
        return ca->signer;
    ca->signer = signer_store_load(ca->keys, RPCA_KEY_NAME, err);
    if (ca->signer != NULL && !signer_matches_cert(ca->signer, ca->cert)) {
        signer_free(ca->signer);
        ca->signer = NULL;
        jerr_set(err, JERR_CRYPTO, NULL, "key %s does not match %s", RPCA_KEY_NAME, ca->cert_path);
    }
    return ca->signer;
}

X509 *rpca_issue(struct rpca *ca, const char *party_id, EVP_PKEY *pub, struct jerr *err)
{
    X509_NAME *name = X509_NAME_new();
    X509 *cert = NULL;

    if (name == NULL ||
        X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8,
                                   (const unsigned char *)"JPKI relying party", -1, -1, 0) != 1 ||
        X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                   (const unsigned char *)party_id, -1, -1, 0) != 1) {
        jerr_openssl(err, JERR_CRYPTO, "id", "relying-party certificate subject");
        goto fail;
    }
    if ((cert = cert_new(name, ca->cert, pub, RPCA_CLIENT_VALIDITY_DAYS, err)) == NULL)
        goto fail;
    /* RFC 5280 §4.2.1.9, §4.2.1.3, §4.2.1.12: an end entity for TLS client authentication. */
    if (add_ext(cert, ca->cert, NID_basic_constraints, "critical,CA:FALSE", err) == -1 ||
        add_ext(cert, ca->cert, NID_key_usage, "critical,digitalSignature", err) == -1 ||
        add_ext(cert, ca->cert, NID_ext_key_usage, "clientAuth", err) == -1 ||
        add_ext(cert, ca->cert, NID_subject_key_identifier, "hash", err) == -1 ||
        add_ext(cert, ca->cert, NID_authority_key_identifier, "keyid:always", err) == -1)
        goto fail;
    pthread_mutex_lock(&ca->lock);
    const struct signer *s = signer_locked(ca, err);
    int signed_ok = s != NULL && signer_sign_cert(s, cert, err) == 0;
    pthread_mutex_unlock(&ca->lock);
    if (!signed_ok)
        goto fail;
    X509_NAME_free(name);
    return cert;
fail:
    X509_NAME_free(name);
    X509_free(cert);
    return NULL;
}

int rpca_publish_crl(struct rpca *ca, const struct rpca_revoked *revoked, size_t count,
                     struct jerr *err)
{
    pthread_mutex_lock(&ca->lock);
    const struct signer *s = signer_locked(ca, err);
    int rc = s != NULL ? crl_write(ca->cert, s, revoked, count, ca->crl_path, err) : -1;
    pthread_mutex_unlock(&ca->lock);
    return rc;
}

bool rpca_crl_is_due(const struct rpca *ca)
{
    struct stat sb;
    if (stat(ca->crl_path, &sb) == -1)
        return true;
    return (int64_t)jclock_now() - (int64_t)sb.st_mtime >= RPCA_CRL_REPUBLISH_S;
}
