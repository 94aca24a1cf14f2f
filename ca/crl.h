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

/* Publishes the CRLs of `ca` as of `now` (nextUpdate = now + crl_next_update_s), each with a
 * fresh CRL number from the registry, and records them (store_crl_published): the complete
 * CRL DATA_DIR/crl/<ca>.crl (no IDP, whatever the partition count) and, with more than one
 * partition, DATA_DIR/crl/<ca>/<n>.crl each with a critical IDP naming its URL; and for each
 * later generation still serving (DESIGN §11), DATA_DIR/crl/<ca>/g<n>.crl. Creates the
 * directories. Holds the data directory's publication lock throughout (datalock.h), waiting
 * for another publisher (another process too) to finish first. Returns 0 or -1. */
int crl_publish(const struct pki *pki, struct store *st, enum ca_kind ca, time_t now,
                struct crl_info *complete, struct jerr *err);

/* The file of the CRL of `ca`, `partition` (a scope: -1 = the complete CRL, -g for g > 1 the
 * complete CRL of generation g) under data_dir, written
 * into buf. Returns buf, or NULL when it does not fit. */
char *crl_path(const struct jpki_config *cfg, enum ca_kind ca, int partition, char *buf,
               size_t size);

#endif
