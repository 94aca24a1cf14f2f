/*
 * pki: the key ceremony and the loaded state of the two CAs (see pki.h).
 *
 * This module wires keys (keystore/signer) to certificates (ca/profile) and files; it holds
 * signers but never hands out a key. It does no lifecycle work: that is lifecycle.c.
 */
#include "ca/pki.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "ca/checkpoint.h"
#include "ca/profile.h"
#include "ca/rpca.h"
#include "base/fsutil.h"
#include "base/hex.h"
#include "base/jclock.h"
#include "keystore/adminkey.h"

/* An OCSP signer certificate is renewed when less than this remains (DESIGN §3: 1 y, renewed
 * automatically). */
#define PKI_OCSP_RENEW_BEFORE_S (30 * 86400)
#define PKI_ADMIN_TOKEN_BYTES 32
#define PKI_CARD_ADMIN_KEY_FILE "keys/card-admin.key"
#define PKI_AUDIT_KEY "audit" /* the store's name of the audit key */
#define PKI_AUDIT_PUB_FILE "certs/audit-key.pem"

/* A CA's generations, oldest first. A new one is filled completely, then counted (release):
 * readers load the count (acquire) and see only whole generations; none is ever removed
 * while the pki lives. */
struct pki_ca {
    struct pki_gen *gens[PKI_GENERATIONS_MAX];
    _Atomic int count;
};

struct pki {
    const struct jpki_config *cfg;
    struct signer_store *keys; /* where the keys are (files or a token); freed last */
    struct pki_ca ca[CA_KIND_COUNT];
    int partitions[CA_KIND_COUNT];
    struct adminkey *card_admin; /* the card-administration key (keystore/adminkey.h) */
    struct signer *audit;        /* the audit key (ca/checkpoint.h) */
    struct rpca *rpca;           /* the relying-party CA (ca/rpca.h); PKI_KEYS_ALL only */
};

/* DATA_DIR/<dir>/<ca><suffix>, e.g. keys/sign-ca.key. */
static char *pki_file(const struct jpki_config *cfg, enum ca_kind ca, const char *dir,
                      const char *suffix, char *buf, size_t size)
{
    char rel[128];
    snprintf(rel, sizeof(rel), "%s/%s%s", dir, ca_kind_name(ca), suffix);
    return config_path(cfg, rel, buf, size);
}

/* The store's name of a key: "sign-ca", "auth-ocsp", ... */
static const char *key_name(enum ca_kind ca, const char *purpose, char *buf, size_t size)
{
    snprintf(buf, size, "%s-%s", ca_kind_name(ca), purpose);
    return buf;
}

int pki_config_keyalg(const struct jpki_config *cfg, enum ca_kind ca, struct keyalg *out,
                      struct jerr *err)
{
    char field[48];
    snprintf(field, sizeof(field), "ca.%s.key_algorithm", ca_kind_name(ca));
    return keyalg_parse(cfg->ca[ca].key_algorithm, cfg->ca[ca].key_bits, field, out, err);
}

static int cert_write_pem(X509 *cert, const char *path, bool exclusive, struct jerr *err)
{
    int rc = -1;
    char *data = NULL;
    long len;
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_X509(bio, cert) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "encoding %s", path);
        goto out;
    }
    len = BIO_get_mem_data(bio, &data);
    rc = fsutil_write_atomic(path, data, (size_t)len, 0644, exclusive, err);
out:
    BIO_free(bio);
    return rc;
}

static X509 *cert_read_pem(const char *path, struct jerr *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        jerr_set(err, JERR_IO, NULL, "%s: cannot open", path);
        return NULL;
    }
    X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (cert == NULL)
        jerr_openssl(err, JERR_CRYPTO, NULL, "%s: not a PEM certificate", path);
    return cert;
}

int pki_fingerprint(X509 *cert, char out[96], struct jerr *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_digest(cert, EVP_sha256(), md, &len) != 1 || len != 32)
        return jerr_openssl(err, JERR_CRYPTO, NULL, "certificate fingerprint");
    if (OPENSSL_buf2hexstr_ex(out, 96, NULL, md, len, ':') != 1)
        return jerr_openssl(err, JERR_INTERNAL, NULL, "certificate fingerprint");
    return 0;
}

/* Creates the OCSP signer key of `ca` in the store (with `replace`: its next generation) and
 * writes its certificate, signed by the CA. */
int pki_ocsp_signer_create(const struct jpki_config *cfg, struct signer_store *keys,
                           enum ca_kind ca, const char *name, const char *cert_path,
                           const struct keyalg *alg, X509 *root, const struct signer *ca_signer,
                           bool replace, struct jerr *err)
{
    const struct config_ca *cc = &cfg->ca[ca];
    struct signer *s = NULL;
    EVP_PKEY *pub = NULL;
    X509 *cert = NULL;
    int rc = -1;

    s = signer_store_create(keys, name, alg, replace, err);
    if (s == NULL)
        goto out;
    pub = signer_get1_public_key(s);
    if (pub == NULL) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "OCSP signer public key");
        goto out;
    }
    cert = profile_ocsp_signer(cc, root, pub, jclock_now(), cc->ocsp_signer_validity_days, err);
    if (cert == NULL || signer_sign_cert(ca_signer, cert, err) == -1)
        goto out;
    if (cert_write_pem(cert, cert_path, !replace, err) == -1)
        goto out;
    rc = 0;
out:
    X509_free(cert);
    EVP_PKEY_free(pub);
    signer_free(s);
    return rc;
}

/* The OCSP signer's key is of the CA key's spec: an OCSP answer is signed as strongly as the
 * certificates it speaks for (and a relying party that accepts the CA's algorithm accepts the
 * signer's). */
static int ocsp_signer_create(const struct jpki_config *cfg, struct signer_store *keys,
                              enum ca_kind ca, const char *name, const char *cert_path,
                              X509 *root, const struct signer *ca_signer, bool replace,
                              struct jerr *err)
{
    struct keyalg alg = signer_keyalg(ca_signer);
    return pki_ocsp_signer_create(cfg, keys, ca, name, cert_path, &alg, root, ca_signer, replace,
                                  err);
}

static int ca_create(const struct jpki_config *cfg, struct signer_store *keys, enum ca_kind ca,
                     char fingerprint[96], char algorithm[32], struct jerr *err)
{
    const struct config_ca *cc = &cfg->ca[ca];
    char cert_path[PATH_MAX], name[32];
    struct signer *s = NULL;
    EVP_PKEY *pub = NULL;
    X509 *root = NULL;
    struct keyalg alg;
    int rc = -1;

    pki_file(cfg, ca, "certs", "-ca.pem", cert_path, sizeof(cert_path));
    if (pki_config_keyalg(cfg, ca, &alg, err) == -1)
        goto out;
    s = signer_store_create(keys, key_name(ca, "ca", name, sizeof(name)), &alg, false, err);
    if (s == NULL)
        goto out;
    pub = signer_get1_public_key(s);
    if (pub == NULL) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "CA public key");
        goto out;
    }
    root = profile_root(cc, pub, jclock_now(), err);
    if (root == NULL || signer_sign_cert(s, root, err) == -1)
        goto out;
    char ocsp_path[PATH_MAX], ocsp_name[32];
    pki_file(cfg, ca, "certs", "-ocsp.pem", ocsp_path, sizeof(ocsp_path));
    key_name(ca, "ocsp", ocsp_name, sizeof(ocsp_name));
    if (cert_write_pem(root, cert_path, true, err) == -1 ||
        ocsp_signer_create(cfg, keys, ca, ocsp_name, ocsp_path, root, s, false, err) == -1 ||
        pki_fingerprint(root, fingerprint, err) == -1)
        goto out;
    pki_key_algorithm_name(pub, algorithm, 32);
    rc = 0;
out:
    X509_free(root);
    EVP_PKEY_free(pub);
    signer_free(s);
    return rc;
}

/* Creates the card-administration key file (encrypted under the CA passphrase, 0600). */
static int card_admin_create(const struct jpki_config *cfg, const char *passphrase,
                             struct jerr *err)
{
    char path[PATH_MAX];
    if (config_path(cfg, PKI_CARD_ADMIN_KEY_FILE, path, sizeof(path)) == NULL)
        return jerr_set(err, JERR_CONFIG, "data_dir", "data_dir path too long");
    struct adminkey *ak = adminkey_generate(err);
    int rc = ak != NULL ? adminkey_save(ak, path, passphrase, err) : -1;
    adminkey_free(ak);
    return rc;
}

/* Loads the card-administration key; an instance made before card images has none yet, and
 * gets one now (another process creating it at the same moment wins, and its key is read). */
static struct adminkey *card_admin_load(const struct jpki_config *cfg, const char *passphrase,
                                        struct jerr *err)
{
    char path[PATH_MAX];
    struct jerr create_err = {0};
    if (config_path(cfg, PKI_CARD_ADMIN_KEY_FILE, path, sizeof(path)) == NULL) {
        jerr_set(err, JERR_CONFIG, "data_dir", "data_dir path too long");
        return NULL;
    }
    if (!fsutil_exists(path) && card_admin_create(cfg, passphrase, &create_err) == -1 &&
        create_err.code != JERR_CONFLICT) {
        jerr_set(err, create_err.code, create_err.field, "%s", create_err.msg);
        return NULL;
    }
    return adminkey_load(path, passphrase, err);
}

/* Writes the audit key's public half to certs/audit-key.pem, for auditors. */
static int audit_pub_write(const struct jpki_config *cfg, const struct signer *s, struct jerr *err)
{
    char pub_path[PATH_MAX];
    EVP_PKEY *pub = NULL;
    BIO *bio = NULL;
    char *pem = NULL;
    long pem_len;
    int rc = -1;

    if (config_path(cfg, PKI_AUDIT_PUB_FILE, pub_path, sizeof(pub_path)) == NULL)
        return jerr_set(err, JERR_CONFIG, "data_dir", "data_dir path too long");
    if ((pub = signer_get1_public_key(s)) == NULL || (bio = BIO_new(BIO_s_mem())) == NULL ||
        PEM_write_bio_PUBKEY(bio, pub) != 1 || (pem_len = BIO_get_mem_data(bio, &pem)) <= 0) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "audit public key");
        goto out;
    }
    rc = fsutil_write_atomic(pub_path, pem, (size_t)pem_len, 0644, false, err);
out:
    BIO_free(bio);
    EVP_PKEY_free(pub);
    return rc;
}

/* Creates the audit key in the store, as the CA keys, and its public key file; returns the
 * signer, or NULL. An existing key is refused (JERR_CONFLICT). */
static struct signer *audit_key_create(const struct jpki_config *cfg, struct signer_store *keys,
                                       struct jerr *err)
{
    struct keyalg alg;
    if (pki_config_keyalg(cfg, CA_SIGN, &alg, err) == -1)
        return NULL;
    struct signer *s = signer_store_create(keys, PKI_AUDIT_KEY, &alg, false, err);
    if (s != NULL && audit_pub_write(cfg, s, err) == -1) {
        signer_free(s);
        s = NULL;
    }
    return s;
}

/* Loads the audit key; an instance made before checkpoints has none yet and gets one now. The
 * public key file must hold this key (auditors check checkpoints with it); a key whose public
 * file was never written (a crash between the two) gets it now. */
static struct signer *audit_key_load(const struct jpki_config *cfg, struct signer_store *keys,
                                     struct jerr *err)
{
    struct signer *s = NULL;
    EVP_PKEY *pub = NULL, *file_pub = NULL;
    struct jerr pub_err = {0};

    if (!signer_store_has(keys, PKI_AUDIT_KEY))
        return audit_key_create(cfg, keys, err);
    if ((s = signer_store_load(keys, PKI_AUDIT_KEY, err)) == NULL)
        return NULL;
    file_pub = pki_audit_public_key(cfg, &pub_err);
    if (file_pub == NULL && pub_err.code == JERR_NOT_FOUND) {
        if (audit_pub_write(cfg, s, err) == -1) {
            signer_free(s);
            return NULL;
        }
        return s;
    }
    if (file_pub == NULL || (pub = signer_get1_public_key(s)) == NULL ||
        EVP_PKEY_eq(pub, file_pub) != 1) {
        jerr_set(err, JERR_CRYPTO, NULL, "the audit key does not match %s", PKI_AUDIT_PUB_FILE);
        signer_free(s);
        s = NULL;
    }
    EVP_PKEY_free(pub);
    EVP_PKEY_free(file_pub);
    return s;
}

EVP_PKEY *pki_audit_public_key(const struct jpki_config *cfg, struct jerr *err)
{
    char path[PATH_MAX];
    EVP_PKEY *pub = NULL;
    FILE *f;

    if (config_path(cfg, PKI_AUDIT_PUB_FILE, path, sizeof(path)) == NULL) {
        jerr_set(err, JERR_CONFIG, "data_dir", "data_dir path too long");
        return NULL;
    }
    if ((f = fopen(path, "r")) == NULL) {
        jerr_set(err, JERR_NOT_FOUND, NULL,
                 "%s: no audit key (the instance has not served since checkpoints were added)",
                 path);
        return NULL;
    }
    pub = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (pub == NULL)
        jerr_openssl(err, JERR_CRYPTO, NULL, "%s: not a PEM public key", path);
    return pub;
}

const struct signer *pki_get0_audit_signer(const struct pki *pki)
{
    return pki->audit;
}

/* Writes DATA_DIR/admin.token (0600) and records only its SHA-256 in the registry. */
static int admin_token_create(const struct jpki_config *cfg, struct store *st, char *path,
                              size_t path_size, struct jerr *err)
{
    unsigned char raw[PKI_ADMIN_TOKEN_BYTES], md[SHA256_DIGEST_LENGTH];
    char token[2 * PKI_ADMIN_TOKEN_BYTES + 2], hash_hex[2 * SHA256_DIGEST_LENGTH + 1];
    int rc = -1;

    if (config_path(cfg, "admin.token", path, path_size) == NULL)
        return jerr_set(err, JERR_IO, "data_dir", "data_dir path too long");
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "random token");
        goto out;
    }
    hex_encode(raw, sizeof(raw), token);
    SHA256((const unsigned char *)token, 2 * PKI_ADMIN_TOKEN_BYTES, md);
    hex_encode(md, sizeof(md), hash_hex);
    if (store_meta_set(st, "admin_token_sha256", hash_hex, err) == -1)
        goto out;
    token[2 * PKI_ADMIN_TOKEN_BYTES] = '\n';
    rc = fsutil_write_atomic(path, token, 2 * PKI_ADMIN_TOKEN_BYTES + 1, 0600, true, err);
out:
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(token, sizeof(token));
    return rc;
}

int pki_init(const struct jpki_config *cfg, const char *passphrase, struct pki_init_result *out,
             struct jerr *err)
{
    char path[PATH_MAX];
    struct store *st = NULL;
    struct signer *audit = NULL;
    struct signer_store *keys = NULL;
    EVP_PKEY *pub = NULL;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    const char *markers[] = {"jpki.db", "keys", "certs", "token"};
    for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++) {
        if (config_path(cfg, markers[i], path, sizeof(path)) == NULL)
            return jerr_set(err, JERR_CONFIG, "data_dir", "data_dir path too long");
        if (fsutil_exists(path))
            return jerr_set(err, JERR_CONFLICT, "data_dir",
                            "%s already holds an instance (%s exists); refusing to touch it",
                            cfg->data_dir, markers[i]);
    }
    /* The key store first: a token that is absent or refuses the PIN stops the ceremony
     * before anything is written. */
    if ((keys = signer_store_open(cfg, passphrase, err)) == NULL)
        return -1;
    const char *key_names[] = {"sign-ca",     "auth-ca",     "sign-ocsp",
                               "auth-ocsp",   PKI_AUDIT_KEY, RPCA_KEY_NAME};
    for (size_t i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++)
        if (signer_store_check_new(keys, key_names[i], err) == -1)
            goto out;
    if (fsutil_mkdirs(cfg->data_dir, 0755, err) == -1)
        goto out;
    const char *dirs[][2] = {{"keys", "0700"}, {"certs", "0755"}, {"crl", "0755"}};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        config_path(cfg, dirs[i][0], path, sizeof(path));
        if (fsutil_mkdirs(path, (mode_t)strtol(dirs[i][1], NULL, 8), err) == -1)
            goto out;
    }
    for (int ca = 0; ca < CA_KIND_COUNT; ca++)
        if (ca_create(cfg, keys, (enum ca_kind)ca, out->fingerprint[ca], out->algorithm[ca],
                      err) == -1)
            goto out;
    if (card_admin_create(cfg, passphrase, err) == -1)
        goto out;
    if (rpca_create(cfg, keys, err) == -1) /* relying parties' client certificates */
        goto out;
    if ((audit = audit_key_create(cfg, keys, err)) == NULL)
        goto out;
    pub = signer_get1_public_key(audit);
    if (checkpoint_key_fingerprint(pub, out->audit_fingerprint, err) == -1)
        goto out;

    config_path(cfg, "jpki.db", path, sizeof(path));
    st = store_open(path, true, err);
    if (st == NULL || store_begin(st, err) == -1)
        goto out;
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        char key[64], value[16];
        snprintf(key, sizeof(key), "crl_partitions.%s", ca_kind_name((enum ca_kind)ca));
        snprintf(value, sizeof(value), "%d", cfg->ca[ca].crl_partitions);
        if (store_meta_set(st, key, value, err) == -1 ||
            store_gen_set_algorithm(st, (enum ca_kind)ca, 1, out->algorithm[ca], err) == -1)
            goto out;
    }
    if (admin_token_create(cfg, st, out->admin_token_path, sizeof(out->admin_token_path), err) ==
        -1)
        goto out;
    struct audit_entry e = {.at = jclock_now()};
    snprintf(e.actor, sizeof(e.actor), "jpkid-init");
    snprintf(e.action, sizeof(e.action), "instance.init");
    snprintf(e.target, sizeof(e.target), "instance");
    snprintf(e.outcome, sizeof(e.outcome), "ok");
    snprintf(e.detail, sizeof(e.detail), "sign_fp=%s auth_fp=%s", out->fingerprint[CA_SIGN],
             out->fingerprint[CA_AUTH]);
    if (store_audit_append(st, &e, err) == -1 || store_commit(st, err) == -1)
        goto out;
    /* The first checkpoint: from now on, a registry without any was emptied. */
    bool written;
    if (checkpoint_write(st, audit, false, &written, err) == -1)
        goto out;
    rc = 0;
out:
    if (rc == -1 && st != NULL)
        store_rollback(st);
    store_close(st);
    EVP_PKEY_free(pub);
    signer_free(audit);
    signer_store_free(keys);
    return rc;
}

int pki_key_algorithm_name(EVP_PKEY *pub, char *out, size_t size)
{
    struct keyalg alg;
    struct jerr ignored = {0};
    if (keyalg_of_key(pub, "key", &alg, &ignored) == -1) {
        snprintf(out, size, "unknown");
        return -1;
    }
    keyalg_name(&alg, out, size);
    return 0;
}

void pki_gen_names(enum ca_kind ca, int number, struct pki_gen_names *out)
{
    const char *c = ca_kind_name(ca);
    memset(out, 0, sizeof(*out));
    if (number <= 1) {
        snprintf(out->ca_key, sizeof(out->ca_key), "%s-ca", c);
        snprintf(out->ocsp_key, sizeof(out->ocsp_key), "%s-ocsp", c);
        snprintf(out->root_file, sizeof(out->root_file), "certs/%s-ca.pem", c);
        snprintf(out->ocsp_file, sizeof(out->ocsp_file), "certs/%s-ocsp.pem", c);
        return;
    }
    snprintf(out->ca_key, sizeof(out->ca_key), "%s-ca-g%d", c, number);
    snprintf(out->ocsp_key, sizeof(out->ocsp_key), "%s-ocsp-g%d", c, number);
    snprintf(out->root_file, sizeof(out->root_file), "certs/%s-ca-g%d.pem", c, number);
    snprintf(out->ocsp_file, sizeof(out->ocsp_file), "certs/%s-ocsp-g%d.pem", c, number);
}

void pki_link_file(enum ca_kind ca, int from, int to, char *out, size_t size)
{
    snprintf(out, size, "certs/%s-link-%d-%d.pem", ca_kind_name(ca), from, to);
}

int pki_cert_write(const struct jpki_config *cfg, X509 *cert, const char *rel, struct jerr *err)
{
    char path[PATH_MAX];
    if (config_path(cfg, rel, path, sizeof(path)) == NULL)
        return jerr_set(err, JERR_CONFIG, "data_dir", "data_dir path too long");
    return cert_write_pem(cert, path, true, err);
}

static X509 *cert_read_rel(const struct jpki_config *cfg, const char *rel, struct jerr *err)
{
    char path[PATH_MAX];
    if (config_path(cfg, rel, path, sizeof(path)) == NULL) {
        jerr_set(err, JERR_CONFIG, "data_dir", "data_dir path too long");
        return NULL;
    }
    return cert_read_pem(path, err);
}

void pki_gen_validity(const struct pki *pki, const struct pki_gen *g, int *years,
                      int *years_minor, bool *recorded)
{
    /* Both are recorded together (jpkid rollover), or neither (migration 12). */
    bool own = g->validity_years > 0 && g->validity_years_minor > 0;
    *years = own ? g->validity_years : pki->cfg->subscriber_validity_years;
    *years_minor = own ? g->validity_years_minor : pki->cfg->subscriber_validity_years_minor;
    if (recorded != NULL)
        *recorded = own;
}

void pki_gen_free(struct pki_gen *g)
{
    if (g == NULL)
        return;
    X509_free(g->root);
    X509_free(g->ocsp_cert);
    X509_free(g->link_from_prev);
    X509_free(g->link_to_prev);
    signer_free(g->ca_signer);
    signer_free(g->ocsp_signer);
    free(g);
}

int pki_gen_complete(struct pki_gen *g, struct jerr *err)
{
    if (ocsp_issuer_init(&g->issuer, g->ca, g->root, err) == -1)
        return -1;
    g->issuer.generation = g->number;
    if (g->algorithm[0] == '\0')
        pki_key_algorithm_name(X509_get0_pubkey(g->root), g->algorithm, sizeof(g->algorithm));
    return 0;
}

/* Loads generation `rec` of a CA: its root and key (checked to match), its links with the
 * previous generation, and (PKI_KEYS_ALL) its OCSP signer, renewed within 30 days of its end. */
static struct pki_gen *gen_load(struct pki *pki, const struct ca_gen_rec *rec, enum pki_keys keys,
                                struct jerr *err)
{
    const struct jpki_config *cfg = pki->cfg;
    enum ca_kind ca = rec->ca;
    char path[PATH_MAX], rel[128];
    struct pki_gen *g = calloc(1, sizeof(*g));

    if (g == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    g->ca = ca;
    g->number = rec->generation;
    snprintf(g->algorithm, sizeof(g->algorithm), "%s", rec->algorithm);
    g->validity_years = rec->validity_years;
    g->validity_years_minor = rec->validity_years_minor;
    if ((g->root = cert_read_rel(cfg, rec->root_file, err)) == NULL)
        goto fail;
    if ((g->ca_signer = signer_store_load(pki->keys, rec->ca_key, err)) == NULL)
        goto fail;
    if (!signer_matches_cert(g->ca_signer, g->root)) {
        jerr_set(err, JERR_CRYPTO, NULL, "key %s does not match the %s root certificate %s",
                 rec->ca_key, ca_kind_name(ca), rec->root_file);
        goto fail;
    }
    if (pki_gen_complete(g, err) == -1)
        goto fail;
    if (g->number > 1) {
        pki_link_file(ca, g->number - 1, g->number, rel, sizeof(rel));
        if ((g->link_from_prev = cert_read_rel(cfg, rel, err)) == NULL)
            goto fail;
        pki_link_file(ca, g->number, g->number - 1, rel, sizeof(rel));
        if ((g->link_to_prev = cert_read_rel(cfg, rel, err)) == NULL)
            goto fail;
    }
    if (keys == PKI_KEYS_CA)
        return g;

    if (config_path(cfg, rec->ocsp_file, path, sizeof(path)) == NULL) {
        jerr_set(err, JERR_CONFIG, "data_dir", "data_dir path too long");
        goto fail;
    }
    if ((g->ocsp_cert = cert_read_pem(path, err)) == NULL)
        goto fail;
    const ASN1_TIME *end = X509_get0_notAfter(g->ocsp_cert);
    time_t renew_by = jclock_now() + PKI_OCSP_RENEW_BEFORE_S;
    if (X509_cmp_time(end, &renew_by) <= 0) {
        if (ocsp_signer_create(cfg, pki->keys, ca, rec->ocsp_key, path, g->root, g->ca_signer,
                               true, err) == -1)
            goto fail;
        X509_free(g->ocsp_cert);
        if ((g->ocsp_cert = cert_read_pem(path, err)) == NULL)
            goto fail;
    }
    if ((g->ocsp_signer = signer_store_load(pki->keys, rec->ocsp_key, err)) == NULL)
        goto fail;
    if (!signer_matches_cert(g->ocsp_signer, g->ocsp_cert)) {
        jerr_set(err, JERR_CRYPTO, NULL, "key %s does not match the %s OCSP certificate",
                 rec->ocsp_key, ca_kind_name(ca));
        goto fail;
    }
    return g;
fail:
    pki_gen_free(g);
    return NULL;
}

/* Loads every generation of `ca` (the registry's rows, read before). */
static int ca_load(struct pki *pki, enum ca_kind ca, const struct ca_gen_rec *recs, size_t n,
                   enum pki_keys keys, struct jerr *err)
{
    struct pki_ca *c = &pki->ca[ca];
    if (n == 0 || n > PKI_GENERATIONS_MAX)
        return jerr_set(err, JERR_IO, "generation", "registry: %zu generations of the %s CA", n,
                        ca_kind_name(ca));
    for (size_t i = 0; i < n; i++) {
        if (recs[i].generation != (int)i + 1)
            return jerr_set(err, JERR_IO, "generation",
                            "registry: the %s CA's generations are not numbered 1..%zu",
                            ca_kind_name(ca), n);
        struct pki_gen *g = gen_load(pki, &recs[i], keys, err);
        if (g == NULL)
            return -1;
        c->gens[i] = g;
        atomic_store_explicit(&c->count, (int)i + 1, memory_order_release);
    }
    return 0;
}

int pki_add_generation(struct pki *pki, struct pki_gen *g, struct jerr *err)
{
    struct pki_ca *c = &pki->ca[g->ca];
    int n = atomic_load_explicit(&c->count, memory_order_acquire);
    if (g->number != n + 1 || n >= PKI_GENERATIONS_MAX)
        return jerr_set(err, JERR_CONFLICT, "generation",
                        "generation %d of the %s CA does not follow generation %d", g->number,
                        ca_kind_name(g->ca), n);
    c->gens[n] = g;
    atomic_store_explicit(&c->count, n + 1, memory_order_release);
    return 0;
}

/* One CA's ca_load on a thread of its own: each key costs an scrypt derivation (tens of ms,
 * memory-hard), and the CAs' are independent. */
struct ca_load_job {
    struct pki *pki;
    enum ca_kind ca;
    const struct ca_gen_rec *recs;
    size_t n;
    enum pki_keys keys;
    int result;
    struct jerr err;
};

static void *ca_load_thread(void *arg)
{
    struct ca_load_job *job = arg;
    job->result = ca_load(job->pki, job->ca, job->recs, job->n, job->keys, &job->err);
    return NULL;
}

/* Loads every CA, in parallel; the first failure (in CA order) goes to err. */
static int ca_load_all(struct pki *pki, struct ca_gen_rec *const recs[CA_KIND_COUNT],
                       const size_t n[CA_KIND_COUNT], enum pki_keys keys, struct jerr *err)
{
    struct ca_load_job jobs[CA_KIND_COUNT];
    pthread_t threads[CA_KIND_COUNT];
    bool started[CA_KIND_COUNT] = {false};

    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        jobs[ca] = (struct ca_load_job){
            .pki = pki, .ca = (enum ca_kind)ca, .recs = recs[ca], .n = n[ca], .keys = keys};
        /* the last one runs here; the others, or all when a thread cannot start, in turn */
        if (ca + 1 < CA_KIND_COUNT)
            started[ca] = pthread_create(&threads[ca], NULL, ca_load_thread, &jobs[ca]) == 0;
        if (!started[ca])
            ca_load_thread(&jobs[ca]);
    }
    int ret = 0;
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        if (started[ca])
            pthread_join(threads[ca], NULL);
        if (jobs[ca].result == -1 && ret == 0) {
            *err = jobs[ca].err;
            ret = -1;
        }
    }
    return ret;
}

/* The audit key on a thread of its own, beside the CAs' (its scrypt derivation is as costly as
 * theirs, and a restart should not wait for it in turn). */
struct audit_load_job {
    const struct jpki_config *cfg;
    struct signer_store *keys;
    struct signer *signer;
    struct jerr err;
};

static void *audit_load_thread(void *arg)
{
    struct audit_load_job *job = arg;
    job->signer = audit_key_load(job->cfg, job->keys, &job->err);
    return NULL;
}

struct pki *pki_open(const struct jpki_config *cfg, const char *passphrase, struct jerr *err)
{
    return pki_open_keys(cfg, passphrase, PKI_KEYS_ALL, err);
}

struct pki *pki_open_keys(const struct jpki_config *cfg, const char *passphrase, enum pki_keys keys,
                          struct jerr *err)
{
    struct pki *pki = calloc(1, sizeof(*pki));
    struct store *st = NULL;
    struct ca_gen_rec *recs[CA_KIND_COUNT] = {NULL};
    size_t nrecs[CA_KIND_COUNT] = {0};
    if (pki == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    pki->cfg = cfg;
    /* A token that is absent or refuses the PIN: one sentence, before any key is read. */
    if ((pki->keys = signer_store_open(cfg, passphrase, err)) == NULL)
        goto fail;
    /* The generations of each CA (DESIGN §11), before any key is read. */
    if ((st = pki_store_open(pki, err)) == NULL)
        goto fail;
    for (int ca = 0; ca < CA_KIND_COUNT; ca++)
        if (store_gen_list(st, (enum ca_kind)ca, &recs[ca], &nrecs[ca], err) == -1)
            goto fail;
    struct audit_load_job audit_job = {.cfg = cfg, .keys = pki->keys};
    pthread_t audit_thread;
    bool audit_started = false;
    if (keys == PKI_KEYS_ALL) {
        audit_started = pthread_create(&audit_thread, NULL, audit_load_thread, &audit_job) == 0;
        if (!audit_started)
            audit_load_thread(&audit_job);
    }
    int loaded = ca_load_all(pki, recs, nrecs, keys, err);
    if (audit_started)
        pthread_join(audit_thread, NULL);
    pki->audit = audit_job.signer;
    if (loaded == -1)
        goto fail;
    if (keys == PKI_KEYS_ALL && pki->audit == NULL) {
        *err = audit_job.err;
        goto fail;
    }
    if (keys == PKI_KEYS_ALL && (pki->card_admin = card_admin_load(cfg, passphrase, err)) == NULL)
        goto fail;
    if (keys == PKI_KEYS_ALL && (pki->rpca = rpca_open(cfg, pki->keys, err)) == NULL)
        goto fail;
    /* Generation 1 of an instance made before generations learns its algorithm from its key
     * (best effort: a busy registry leaves it for the next start). */
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        struct jerr ignored = {0};
        if (recs[ca][0].algorithm[0] == '\0')
            store_gen_set_algorithm(st, (enum ca_kind)ca, 1, pki->ca[ca].gens[0]->algorithm,
                                    &ignored);
    }
    /* The partition count is fixed when the instance is created (DESIGN §5). */
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        char key[64], value[16];
        snprintf(key, sizeof(key), "crl_partitions.%s", ca_kind_name((enum ca_kind)ca));
        if (store_meta_get(st, key, value, sizeof(value), err) == -1)
            goto fail;
        pki->partitions[ca] = atoi(value);
        if (pki->partitions[ca] < 1) {
            jerr_set(err, JERR_IO, NULL, "registry: bad %s", key);
            goto fail;
        }
    }
    store_close(st);
    for (int ca = 0; ca < CA_KIND_COUNT; ca++)
        free(recs[ca]);
    return pki;
fail:
    store_close(st);
    for (int ca = 0; ca < CA_KIND_COUNT; ca++)
        free(recs[ca]);
    pki_free(pki);
    return NULL;
}

void pki_free(struct pki *pki)
{
    if (pki == NULL)
        return;
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        int n = atomic_load(&pki->ca[ca].count);
        for (int i = 0; i < n; i++)
            pki_gen_free(pki->ca[ca].gens[i]);
    }
    rpca_free(pki->rpca);
    adminkey_free(pki->card_admin);
    signer_free(pki->audit);
    signer_store_free(pki->keys); /* after every signer of it */
    free(pki);
}

const struct jpki_config *pki_config(const struct pki *pki)
{
    return pki->cfg;
}

int pki_gen_count(const struct pki *pki, enum ca_kind ca)
{
    return atomic_load_explicit(&pki->ca[ca].count, memory_order_acquire);
}

const struct pki_gen *pki_gen(const struct pki *pki, enum ca_kind ca, int number)
{
    int n = pki_gen_count(pki, ca);
    return number >= 1 && number <= n ? pki->ca[ca].gens[number - 1] : NULL;
}

const struct pki_gen *pki_newest(const struct pki *pki, enum ca_kind ca)
{
    return pki_gen(pki, ca, pki_gen_count(pki, ca));
}

const struct pki_gen *pki_gen_by_key_id(const struct pki *pki, enum ca_kind ca,
                                        const ASN1_OCTET_STRING *key_id)
{
    int n = pki_gen_count(pki, ca);
    for (int i = 0; key_id != NULL && i < n; i++) {
        const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(pki->ca[ca].gens[i]->root);
        if (ski != NULL && ASN1_OCTET_STRING_cmp(ski, key_id) == 0)
            return pki->ca[ca].gens[i];
    }
    return NULL;
}

struct signer_store *pki_keystore(struct pki *pki)
{
    return pki->keys;
}

X509 *pki_get0_root(const struct pki *pki, enum ca_kind ca)
{
    const struct pki_gen *g = pki_newest(pki, ca);
    return g != NULL ? g->root : NULL;
}

X509 *pki_get0_ocsp_cert(const struct pki *pki, enum ca_kind ca)
{
    const struct pki_gen *g = pki_newest(pki, ca);
    return g != NULL ? g->ocsp_cert : NULL;
}

const struct signer *pki_get0_ca_signer(const struct pki *pki, enum ca_kind ca)
{
    const struct pki_gen *g = pki_newest(pki, ca);
    return g != NULL ? g->ca_signer : NULL;
}

const struct signer *pki_get0_ocsp_signer(const struct pki *pki, enum ca_kind ca)
{
    const struct pki_gen *g = pki_newest(pki, ca);
    return g != NULL ? g->ocsp_signer : NULL;
}

const struct adminkey *pki_get0_card_admin(const struct pki *pki)
{
    return pki->card_admin;
}

int pki_keys_check(const struct pki *pki, struct jerr *err)
{
    return signer_store_check(pki->keys, err);
}

struct store *pki_store_open(const struct pki *pki, struct jerr *err)
{
    char path[PATH_MAX];
    if (config_path(pki->cfg, "jpki.db", path, sizeof(path)) == NULL) {
        jerr_set(err, JERR_CONFIG, "data_dir", "data_dir path too long");
        return NULL;
    }
    struct store *st = store_open(path, false, err);
    /* DESIGN §13: every connection of a publishing node queues what it signs for Redis. */
    if (st != NULL)
        store_set_publishing(st, pki->cfg->publish_redis_url[0] != '\0');
    return st;
}

int pki_crl_partitions(const struct pki *pki, enum ca_kind ca)
{
    return pki->partitions[ca];
}

/* The length of crl_url without its last path segment ("<ca>.crl"). */
static size_t crl_url_base_len(const char *url)
{
    const char *slash = strrchr(url, '/');
    return slash != NULL ? (size_t)(slash - url) : strlen(url);
}

char *pki_gen_crl_url(const struct pki *pki, enum ca_kind ca, int generation, int partition,
                      char *out, size_t size)
{
    if (generation <= 1)
        return pki_crl_url(pki, ca, partition, out, size);
    const char *url = pki->cfg->ca[ca].crl_url;
    int n = snprintf(out, size, "%.*s/%s/g%d.crl", (int)crl_url_base_len(url), url,
                     ca_kind_name(ca), generation);
    return n < 0 || (size_t)n >= size ? NULL : out;
}

char *pki_crl_url(const struct pki *pki, enum ca_kind ca, int partition, char *out, size_t size)
{
    const char *url = pki->cfg->ca[ca].crl_url;
    int n;
    if (pki->partitions[ca] <= 1) {
        n = snprintf(out, size, "%s", url);
    } else {
        /* "<base>/<ca>/<n>.crl" where <base> is crl_url without its trailing "<ca>.crl". */
        n = snprintf(out, size, "%.*s/%s/%d.crl", (int)crl_url_base_len(url), url,
                     ca_kind_name(ca), partition);
    }
    return n < 0 || (size_t)n >= size ? NULL : out;
}

int pki_write_cert_pem(X509 *cert, const char *path, bool exclusive, struct jerr *err)
{
    return cert_write_pem(cert, path, exclusive, err);
}

X509 *pki_read_cert_pem(const char *path, struct jerr *err)
{
    return cert_read_pem(path, err);
}

struct rpca *pki_get0_rpca(const struct pki *pki)
{
    return pki->rpca;
}
