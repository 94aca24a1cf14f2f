/*
 * rpca: jpki's relying-party CA (DESIGN §12) — a third, internal CA whose only job is the TLS
 * client certificates of registered relying parties. It issues nothing else, is trusted by
 * nothing but this instance's HTTPS listener, and its CRL lists the certificates of deleted
 * parties.
 *
 * Files under data_dir: the key "rp-ca" in the key store (keys/rp-ca.key or the token, as the
 * other CA keys: keystore/signer.h), certs/rp-ca.pem (the self-signed root the HTTPS listener
 * verifies client certificates against) and crl/rp.crl (its CRL, DER). Created by jpkid init;
 * an instance made before relying parties gets them when it is next opened to serve
 * (rpca_open), as the audit key. The key itself is loaded on the first signature only (an
 * scrypt derivation no start needs to wait for), under the CA's lock; signing is rare
 * (registrations, deletions).
 */
#ifndef JPKI_RPCA_H
#define JPKI_RPCA_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/jerr.h"
#include "base/limits.h"
#include "config/config.h"
#include "keystore/signer.h"

#define RPCA_KEY_NAME "rp-ca"
#define RPCA_CERT_FILE "certs/rp-ca.pem"
#define RPCA_CRL_FILE "crl/rp.crl"
/* A party's client certificate lasts this long (then it registers again, or gets a new one). */
#define RPCA_CLIENT_VALIDITY_DAYS 825
/* The root lasts twenty years; its CRL's nextUpdate is this far ahead, and the CRL is
 * published again once it is older than RPCA_CRL_REPUBLISH_S (rpca_crl_is_due). */
#define RPCA_CRL_NEXT_UPDATE_S (30 * 86400)
#define RPCA_CRL_REPUBLISH_S 86400

struct rpca;

/* A revoked client certificate: its serial (upper-case hex) and when it was revoked. */
struct rpca_revoked {
    char serial[JPKI_SERIAL_HEX_MAX + 1];
    int64_t at;
};

/* Creates the CA in `keys` (RSA-2048), its root and an empty CRL. JERR_CONFLICT when the
 * instance has its root already. Returns 0 or -1. */
int rpca_create(const struct jpki_config *cfg, struct signer_store *keys, struct jerr *err);

/* Opens the CA of the instance (creating it when the instance has none yet). `keys` is
 * borrowed and must outlive the result. NULL with err on failure. */
struct rpca *rpca_open(const struct jpki_config *cfg, struct signer_store *keys, struct jerr *err);
void rpca_free(struct rpca *ca); /* NULL is a no-op */

X509 *rpca_get0_cert(const struct rpca *ca);
/* certs/rp-ca.pem and crl/rp.crl under data_dir. */
const char *rpca_cert_path(const struct rpca *ca);
const char *rpca_crl_path(const struct rpca *ca);

/* A client certificate for relying party `party_id` (its CN) and key `pub`: clientAuth, not a
 * CA, RPCA_CLIENT_VALIDITY_DAYS. The caller frees it. Thread-safe. NULL with err. */
X509 *rpca_issue(struct rpca *ca, const char *party_id, EVP_PKEY *pub, struct jerr *err);

/* Publishes crl/rp.crl listing `revoked[0..count)`. Thread-safe. Returns 0 or -1. */
int rpca_publish_crl(struct rpca *ca, const struct rpca_revoked *revoked, size_t count,
                     struct jerr *err);

/* True when the CRL on disk is missing or older than RPCA_CRL_REPUBLISH_S. */
bool rpca_crl_is_due(const struct rpca *ca);

#endif
