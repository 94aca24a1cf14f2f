/*
 * crl: builds and publishes the CRLs of a CA (DESIGN §5, RFC 5280 §5) — streaming from the
 * registry, so a CRL of millions of entries needs neither millions of OpenSSL objects in
 * memory nor minutes: memory stays flat whatever the entry count. Files are published
 * atomically (temp file, fsync, rename, fsync of the directory): a reader never sees half a
 * file. Knows nothing of HTTP; never sees a key (signs through keystore/signer.h). Reading a
 * CRL back (crl_verify_file, the header times) is ca/crl_read.h's job.
 */
#ifndef JPKI_CA_CRL_H
#define JPKI_CA_CRL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <openssl/x509.h>

#include "ca/crl_read.h" /* struct crl_info, crl_verify_file */
#include "ca/pki.h"
#include "ca/store.h"
#include "config/config.h"
#include "base/jerr.h"
#include "keystore/signer.h"

/* crl_path's partition of the delta CRL (DATA_DIR/crl/<ca>-delta.crl) and of the ARL
 * (DATA_DIR/crl/<ca>-arl.crl): below the generations' scopes (-1 .. -STORE_CA_GENERATIONS_MAX,
 * store.h "CRL scopes"). */
#define CRL_DELTA (-(STORE_CA_GENERATIONS_MAX + 1))
#define CRL_ARL STORE_CRL_ARL

/* What a CRL covers and names beyond its entries. */
struct crl_scope {
    int partition;            /* -1 = every partition (the complete CRL, or a delta) */
    const char *idp_url;      /* a critical issuingDistributionPoint naming it; NULL = none */
    const char *freshest_url; /* a freshestCRL naming the delta CRL (RFC 5280 §5.2.6); NULL */
    int64_t delta_base;       /* > 0: a delta CRL (§5.2.4) whose BaseCRLNumber this is... */
    int64_t delta_base_seq;   /* ...listing the certificates changed after this counter */
    bool authority;           /* an ARL: critical IDP onlyContainsCACerts, the revoked CA
                                 certificates (none: see crl_publish_arl) */
};

/* Builds the CRL of `ca` signed by `signer` for `root` (issuer name, AKI), with the held and
 * revoked certificates of `partition` (a CRL scope, store.h: -1 = every partition of generation
 * 1, -g the complete CRL of generation g) not expired at `this_update`,
 * CRL number `number`, and a critical issuingDistributionPoint naming `idp_url` (NULL = no
 * IDP); checks the signature with `root`'s key, then writes it to `out_path` atomically
 * (mode 0644; read back and compared with the SHA-256 of what was written, before the
 * rename). Fills *info (may be NULL) on success. Returns 0, or -1 with err filled; on
 * failure `out_path` is untouched and no temp file remains. */
int crl_build(struct store *st, X509 *root, const struct signer *signer, enum ca_kind ca,
              int partition, const char *idp_url, int64_t number, time_t this_update,
              time_t next_update, const char *out_path, struct crl_info *info, struct jerr *err);

/* crl_build for any scope: a complete or partition CRL, with a freshestCRL, or a delta CRL
 * (entries: store_crl_delta_foreach over scope->delta_base_seq; a critical deltaCRLIndicator
 * naming scope->delta_base, which must be below `number`). */
int crl_build_scoped(struct store *st, X509 *root, const struct signer *signer, enum ca_kind ca,
                     const struct crl_scope *scope, int64_t number, time_t this_update,
                     time_t next_update, const char *out_path, struct crl_info *info,
                     struct jerr *err);

/* Publishes the CRLs of `ca` as of `now` (nextUpdate = now + crl_next_update_s), each with a
 * fresh CRL number from the registry, and records them (store_crl_published): the complete
 * CRL DATA_DIR/crl/<ca>.crl (no IDP, whatever the partition count) and, with more than one
 * partition, DATA_DIR/crl/<ca>/<n>.crl each with a critical IDP naming its URL; and for each
 * later generation still serving (DESIGN §11), DATA_DIR/crl/<ca>/g<n>.crl. Creates the
 * directories. Holds the data directory's publication lock throughout (datalock.h), waiting
 * for another publisher (another process too) to finish first. Returns 0 or -1. */
int crl_publish(const struct pki *pki, struct store *st, enum ca_kind ca, time_t now,
                struct crl_info *complete, struct jerr *err);

/* Publishes the delta CRL of `ca` as of `now` (RFC 5280 §5.2.4; crl.delta_period_s > 0):
 * DATA_DIR/crl/<ca>-delta.crl over the oldest complete CRL still valid (store_crl_delta_base),
 * numbered from the complete CRL's series, nextUpdate = now + 2 × delta_period_s (at most
 * crl.next_update_s), and records it. Under the publication lock like crl_publish.
 * JERR_NOT_FOUND when no complete CRL is valid yet. Returns 0 or -1. */
int crl_publish_delta(const struct pki *pki, struct store *st, enum ca_kind ca, time_t now,
                      struct crl_info *delta, struct jerr *err);

/* Publishes the ARL of `ca` as of `now` (for the directory: authorityRevocationList, RFC 4523
 * §2.3): DATA_DIR/crl/<ca>-arl.crl, a CRL of the CA with a critical issuingDistributionPoint
 * whose only field is onlyContainsCACerts (RFC 5280 §5.2.5), its own number series, the
 * complete CRL's nextUpdate. It lists the CA certificates the root revoked — the root issues
 * only its OCSP signers' certificates, which jpki replaces and never revokes, so it is empty.
 * Records it (partition STORE_CRL_ARL). Returns 0 or -1. */
int crl_publish_arl(const struct pki *pki, struct store *st, enum ca_kind ca, time_t now,
                    struct crl_info *arl, struct jerr *err);

/* The delta CRL's URL for the complete CRL's `crl_url`: ".../auth.crl" -> ".../auth-delta.crl"
 * ("-delta.crl" appended when it does not end in ".crl"). Returns out, or NULL when it does
 * not fit. */
char *crl_delta_url(const char *crl_url, char *out, size_t size);

/* The file of the CRL of `ca`, `partition` (a scope: -1 = the complete CRL, -g for g > 1 the
 * complete CRL of generation g, CRL_DELTA = the delta, CRL_ARL = the ARL) under data_dir,
 * written into buf. Returns buf, or NULL when it does not fit. */
char *crl_path(const struct jpki_config *cfg, enum ca_kind ca, int partition, char *buf,
               size_t size);

#endif
