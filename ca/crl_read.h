/*
 * crl_read: the one reader of DER CRLs (RFC 5280 §5.1) — the full check of a published file
 * (crl_verify_file, `jpkid crl --verify`) and the header times the service serves a CRL with
 * (crl_read_times: thisUpdate/nextUpdate from the head of a file, responder/crl/crlcache.c).
 * Both walk the same TLVs the same way: tags and lengths by ASN1_get_object, values by d2i_*,
 * over a window that never reaches past the bytes it holds — a file read in bounded chunks, or
 * the caller's buffer, whose last byte is the last one read. Streams: flat memory whatever the
 * entry count. Knows nothing of the registry, HTTP or keys.
 */
#ifndef JPKI_CA_CRL_READ_H
#define JPKI_CA_CRL_READ_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <openssl/x509.h>

#include "base/jerr.h"

/* What was written (crl_build, crl_publish) or read back (crl_verify_file). */
struct crl_info {
    int64_t number; /* cRLNumber */
    time_t this_update;
    time_t next_update;
    size_t entries;           /* revokedCertificates entries */
    size_t der_size;          /* bytes of the file */
    unsigned char sha256[32]; /* SHA-256 of the file (an ETag) */
};

/* Reads the CRL at `path` back and checks it: a DER CertificateList ending the file, v2, issued
 * by `root`'s subject, with nextUpdate and a cRLNumber, every entry a valid X509_REVOKED, the
 * signature verifying with `root`'s key (and both signature algorithm fields equal). Streams
 * like crl_build (flat memory, one entry at a time). Fills *out (may be NULL) with what it
 * read. Returns 0, or -1 with err filled (field "version", "issuer", "next_update", "number",
 * "signature", or "path" for the structure). */
int crl_verify_file(const char *path, X509 *root, struct crl_info *out, struct jerr *err);

/* thisUpdate and nextUpdate (0 when absent) of a DER CRL of `total_len` bytes whose first
 * `head_len` bytes are in `head`: the outer SEQUENCE must span exactly total_len, and the TBS
 * up to nextUpdate must lie within the head (v1 and v2 CRLs; nothing is verified). Never reads
 * head[head_len] or beyond: a head cut short is an error, not an over-read. Returns 0, or -1
 * with err (JERR_INVALID; field "crl" for the structure, "this_update"/"next_update" for a
 * bad time). The outputs are written only on success. */
int crl_read_times(const unsigned char *head, size_t head_len, size_t total_len,
                   time_t *this_update, time_t *next_update, struct jerr *err);

#endif
