/*
 * pki: the two certificate authorities of one instance (DESIGN §2, §3) — the key ceremony that
 * creates them, and the loaded state the service signs with: for each CA its root
 * certificate, its CA signer, its delegated OCSP signer certificate and key.
 *
 * Files under data_dir (all keys encrypted PKCS#8, 0600):
 *   jpki.db                       the registry
 *   keys/{sign,auth}-ca.key       CA keys
 *   keys/{sign,auth}-ocsp.key     OCSP signer keys
 *   token/<key>.uri               with keystore.backend pkcs11, instead of keys/<key>.key for
 *                                 the CA, OCSP and audit keys: the RFC 7512 URI of the key in
 *                                 the token (keystore/signer.h, signer_store); no key on disk
 *   keys/card-admin.key           the card-administration key (keystore/adminkey.h: AES-256-GCM
 *                                 under scrypt of the CA passphrase; created by pki_init, or by
 *                                 pki_open for an instance made before card images)
 *   keys/audit.key                the audit key: signs the audit log's checkpoints
 *                                 (ca/checkpoint.h; created by pki_init, or by pki_open for an
 *                                 instance made before checkpoints)
 *   certs/audit-key.pem           its public key (PEM SubjectPublicKeyInfo), for auditors
 *   certs/{sign,auth}-ca.pem      self-signed roots
 *   certs/{sign,auth}-ocsp.pem    OCSP signer certificates
 *   keys/rp-ca.key, certs/rp-ca.pem, crl/rp.crl
 *                                 the relying-party CA (ca/rpca.h)
 *   admin.token                   the first administrator token (0600)
 *   crl/                          published CRLs
 */
#ifndef JPKI_PKI_H
#define JPKI_PKI_H

#include <stdbool.h>
#include <openssl/x509.h>

#include "ca/ocsp.h"
#include "ca/store.h"
#include "config/config.h"
#include "base/jerr.h"
#include "keystore/adminkey.h"
#include "keystore/signer.h"

struct pki;

struct pki_init_result {
    char fingerprint[CA_KIND_COUNT][96]; /* SHA-256 of each root, "AB:CD:..." */
    char algorithm[CA_KIND_COUNT][32];   /* each CA key's, "rsa2048", ... */
    char admin_token_path[4096];
    char audit_fingerprint[96]; /* SHA-256 of the audit public key (SubjectPublicKeyInfo) */
};

/* The key spec ca.<ca>.key_algorithm (with ca.<ca>.key_bits for "rsa") names: what `jpkid init`
 * creates. JERR_INVALID naming the field for an unknown name. Returns 0 or -1. */
int pki_config_keyalg(const struct jpki_config *cfg, enum ca_kind ca, struct keyalg *out,
                      struct jerr *err);

/* The key ceremony: creates data_dir, both CA keys, self-signed roots, an OCSP signer per CA,
 * an empty registry (recording crl_partitions), and the first administrator token. Refuses
 * (JERR_CONFLICT) when data_dir already holds an instance; touches nothing then. */
int pki_init(const struct jpki_config *cfg, const char *passphrase, struct pki_init_result *out,
             struct jerr *err);

/* Loads an instance: keys (with the passphrase), certificates; checks each key matches its
 * certificate. Renews an OCSP signer certificate within 30 days of its end. The CAs load in
 * parallel (each key is an scrypt derivation). */
struct pki *pki_open(const struct jpki_config *cfg, const char *passphrase, struct jerr *err);

/* Which keys pki_open_keys decrypts. */
enum pki_keys {
    PKI_KEYS_ALL, /* everything the service needs (pki_open) */
    PKI_KEYS_CA,  /* the roots and CA keys only, enough to publish CRLs: the OCSP signers and
                   * the card-administration key stay encrypted, and their getters return NULL */
};
struct pki *pki_open_keys(const struct jpki_config *cfg, const char *passphrase, enum pki_keys keys,
                          struct jerr *err);
void pki_free(struct pki *pki);

const struct jpki_config *pki_config(const struct pki *pki);

/* ---- CA generations (DESIGN §11) ----
 * Each CA is a sequence of generations, recorded in the registry (store_gen_*): generation 1
 * is the key of `jpkid init` (keys and files named as before generations), generation n > 1
 * was made by a rollover (ca/rollover.h) with keys "<ca>-ca-g<n>", "<ca>-ocsp-g<n>" and files
 * certs/<ca>-ca-g<n>.pem, certs/<ca>-ocsp-g<n>.pem and the links certs/<ca>-link-<a>-<b>.pem.
 * The newest generation issues; every loaded one answers OCSP and publishes its CRL. A
 * generation, once visible, never changes nor goes away while the pki lives: readers may keep
 * the pointer without a lock. */
#define PKI_GENERATIONS_MAX STORE_CA_GENERATIONS_MAX
struct pki_gen {
    enum ca_kind ca;
    int number;                 /* 1.. */
    char algorithm[32];         /* "rsa2048", "ecdsa-p384", ... (pki_key_algorithm_name) */
    X509 *root;                 /* self-signed */
    struct signer *ca_signer;
    X509 *ocsp_cert;            /* NULL with PKI_KEYS_CA */
    struct signer *ocsp_signer; /* NULL with PKI_KEYS_CA */
    X509 *link_from_prev;       /* link <number-1>-<number>: the previous key certifies this
                                 * root, so a trust anchor on the previous root reaches it */
    X509 *link_to_prev;         /* link <number>-<number-1>: this key certifies the previous
                                 * root; both NULL for generation 1 */
    struct ocsp_issuer issuer;  /* the CertID hashes of root, generation set */
    int validity_years;         /* the subscriber validity it issues for (registry, migration
                                 * 12); 0 = the configuration's (pki_gen_validity) */
    int validity_years_minor;   /* the same for a holder under 18 */
};
int pki_gen_count(const struct pki *pki, enum ca_kind ca);
/* Generation `number` of `ca`, or NULL when there is none. */
const struct pki_gen *pki_gen(const struct pki *pki, enum ca_kind ca, int number);
/* The newest generation: the one that issues. */
const struct pki_gen *pki_newest(const struct pki *pki, enum ca_kind ca);
/* The subscriber validity generation `g` issues for, in years, and for a holder under 18: its
 * own when recorded, else the configuration's (subscriber.validity_years, _minor). *recorded
 * (may be NULL) says which. */
void pki_gen_validity(const struct pki *pki, const struct pki_gen *g, int *years,
                      int *years_minor, bool *recorded);
/* The generation whose root's subjectKeyIdentifier is `key_id` (a certificate's AKI), or
 * NULL. */
const struct pki_gen *pki_gen_by_key_id(const struct pki *pki, enum ca_kind ca,
                                        const ASN1_OCTET_STRING *key_id);
/* "rsa2048", "rsa3072", "ecdsa-p384", "ecdsa-p521" ... of a public key; -1 ("unknown") for
 * another type. */
int pki_key_algorithm_name(EVP_PKEY *pub, char *out, size_t size);

/* For the rollover ceremony (ca/rollover.c) only. */
struct pki_gen_names {
    char ca_key[64], ocsp_key[64], root_file[128], ocsp_file[128];
};
void pki_gen_names(enum ca_kind ca, int number, struct pki_gen_names *out);
void pki_link_file(enum ca_kind ca, int from, int to, char *out, size_t size);
/* Writes `cert` as PEM to data_dir/`rel` (0644), refusing an existing file. */
int pki_cert_write(const struct jpki_config *cfg, X509 *cert, const char *rel, struct jerr *err);
struct signer_store *pki_keystore(struct pki *pki);
/* Creates OCSP signer key `name` of spec `alg` and writes its certificate, issued by `root`
 * and signed by `ca_signer`, to `cert_path`. */
int pki_ocsp_signer_create(const struct jpki_config *cfg, struct signer_store *keys,
                           enum ca_kind ca, const char *name, const char *cert_path,
                           const struct keyalg *alg, X509 *root, const struct signer *ca_signer,
                           bool replace, struct jerr *err);
/* Fills the issuer hashes and (when empty) the algorithm of a generation whose root is set. */
int pki_gen_complete(struct pki_gen *g, struct jerr *err);
/* Makes `g` (number = count + 1; the pki takes it) visible to every thread. One writer at a
 * time. Returns 0, or -1 (JERR_CONFLICT) when its number does not follow. */
int pki_add_generation(struct pki *pki, struct pki_gen *g, struct jerr *err);
void pki_gen_free(struct pki_gen *g); /* NULL is a no-op */

/* The newest generation's root, OCSP signer certificate and keys. */
X509 *pki_get0_root(const struct pki *pki, enum ca_kind ca);
X509 *pki_get0_ocsp_cert(const struct pki *pki, enum ca_kind ca);
const struct signer *pki_get0_ca_signer(const struct pki *pki, enum ca_kind ca);
const struct signer *pki_get0_ocsp_signer(const struct pki *pki, enum ca_kind ca);
/* The card-administration key: the only way to it, for filling card images and resetting
 * their passwords through adminkey_card_* (keystore/adminkey.h); never log or copy it. */
const struct adminkey *pki_get0_card_admin(const struct pki *pki);

/* Can the keys sign now (a PKCS#11 token present and logged in; always for key files)?
 * Returns 0, or -1 with err naming module, token and CKR code. For /readyz. */
int pki_keys_check(const struct pki *pki, struct jerr *err);

/* The audit key (PKI_KEYS_ALL only; NULL otherwise): signs checkpoints through checkpoint.h. */
const struct signer *pki_get0_audit_signer(const struct pki *pki);
/* The audit public key from certs/audit-key.pem (no passphrase needed), or NULL with err:
 * JERR_NOT_FOUND when the instance has none yet. The caller frees it with EVP_PKEY_free. */
EVP_PKEY *pki_audit_public_key(const struct jpki_config *cfg, struct jerr *err);

/* The relying-party CA (ca/rpca.h; PKI_KEYS_ALL only, NULL otherwise). */
struct rpca *pki_get0_rpca(const struct pki *pki);

/* A certificate as a PEM file (atomically; with `exclusive`, never over an existing file), and
 * read back. Return 0 / the certificate (X509_free), or -1 / NULL with err. */
int pki_write_cert_pem(X509 *cert, const char *path, bool exclusive, struct jerr *err);
X509 *pki_read_cert_pem(const char *path, struct jerr *err);

/* Opens a new registry connection for the calling thread (publishing, store.h, when
 * publish.redis is set). */
struct store *pki_store_open(const struct pki *pki, struct jerr *err);

/* SHA-256 fingerprint of a certificate as "AB:CD:..." (95 chars + NUL). */
int pki_fingerprint(X509 *cert, char out[96], struct jerr *err);

/* The CRL distribution point URL of `partition` of `ca` (what goes into the certificates' CDP
 * and the partition CRL's issuingDistributionPoint). With one partition it is the CA's crl_url;
 * with more, "<base>/<ca>/<n>.crl". Returns out, or NULL when it does not fit. */
char *pki_crl_url(const struct pki *pki, enum ca_kind ca, int partition, char *out, size_t size);
int pki_crl_partitions(const struct pki *pki, enum ca_kind ca);
/* The CDP URL of a certificate of generation `generation`: pki_crl_url for generation 1 (its
 * URLs predate generations); "<base>/<ca>/g<n>.crl" (one complete CRL) for a later one. */
char *pki_gen_crl_url(const struct pki *pki, enum ca_kind ca, int generation, int partition,
                      char *out, size_t size);

#endif
