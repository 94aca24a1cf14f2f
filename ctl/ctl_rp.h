/*
 * ctl_rp: jpkictl's relying-party commands — what anyone holding a certificate does with the
 * public endpoints (DESIGN §5, §6), trusting only the CA certificate they hold:
 *
 *   ocsp CERT --issuer ISSUER   OCSP request built with OpenSSL's OCSP_* functions (RFC 6960),
 *                               POSTed to URL/ocsp; the answer verified with the issuer as the
 *                               trust anchor (OCSP_basic_verify: the delegated signer must chain
 *                               to it and carry id-kp-OCSPSigning, RFC 6960 §4.2.2.2), the nonce
 *                               checked (RFC 9654), thisUpdate/nextUpdate checked; prints good,
 *                               revoked (time, reason) or unknown. Exit 0 only for good.
 *   crl fetch sign|auth         the CRL, verified with the CA certificate (--ca FILE, else the
 *                               one the service serves); prints number, thisUpdate, nextUpdate
 *                               and the entry count (--list: the entries); -o FILE saves it.
 *   fingerprints                the roots' SHA-256 fingerprints; --sign/--auth FILE compare.
 *
 * Each returns the process exit status (ctl.h).
 */
#ifndef JPKI_CTL_RP_H
#define JPKI_CTL_RP_H

#include <stdbool.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ctl/ctl.h"

/* A certificate file, PEM or DER. */
#define CTL_RP_CERT_FILE_MAX (64 * 1024)
/* Seconds of clock skew allowed on OCSP thisUpdate/nextUpdate. */
#define CTL_RP_OCSP_SKEW_S 300

int ctl_rp_ocsp(struct ctl *ctl, const struct ctl_args *args);
int ctl_rp_crl_fetch(struct ctl *ctl, const struct ctl_args *args);
int ctl_rp_fingerprints(struct ctl *ctl, const struct ctl_args *args);

/* A certificate's status as a verified OCSP response or CRL gave it (the card holder's
 * `card check` and the relying party's `verify` share these with `ocsp` and `crl fetch`). */
struct ctl_rp_status {
    int status;           /* V_OCSP_CERTSTATUS_GOOD, _REVOKED (a hold too) or _UNKNOWN */
    int reason;           /* RFC 5280 §5.3.1 CRLReason (certificateHold for a hold); -1 none */
    char revoked_at[32];  /* RFC 3339 UTC; "-" when not revoked */
    char this_update[32]; /* of the response or CRL */
    char next_update[32];
    char source[8]; /* "OCSP" or "CRL" */
};

/* A certificate from a PEM or DER file (`what` names it in messages). Returns an exit code
 * after printing why it failed; on CTL_EXIT_OK *out is the caller's to free. */
int ctl_rp_load_cert(struct ctl *ctl, const char *what, const char *path, X509 **out);

/* The CA certificate: `local` (a file) when given, else the one the service serves at
 * /ca/<ca>.cer. Returns an exit code; on CTL_EXIT_OK *out is the caller's. */
int ctl_rp_ca_cert(struct ctl *ctl, const char *ca, const char *local, X509 **out);

/* The issuer of `cert` as the service serves it: of every generation of both CAs that
 * /ca/fingerprints lists (DESIGN §11; /ca/{ca}/{n}.cer), the root that issued `cert` (name,
 * key identifier and signature, X509_check_issued: two generations share a name, never a key),
 * whose SHA-256 fingerprint must be the one published for it. Sets *ca_name ("sign"/"auth").
 * Returns an exit code; on CTL_EXIT_OK *out is the caller's. */
int ctl_rp_served_issuer(struct ctl *ctl, X509 *cert, X509 **out, const char **ca_name);

/* Whether `fp` ("AB:CD:…") is the SHA-256 of a root /ca/fingerprints (`served`) lists for CA
 * `ca`: the newest or any other generation still served. */
bool ctl_rp_fingerprint_served(const json_t *served, const char *ca, const char *fp);

/* Asks URL/ocsp about `cert` (CertID hash `md`, a fresh nonce when `nonce`), verifies the
 * answer with `issuer` as the trust anchor, checks the nonce and thisUpdate/nextUpdate, and
 * fills *st. Returns CTL_EXIT_OK, or an exit code after printing why no status was had. */
int ctl_rp_ocsp_status(struct ctl *ctl, X509 *cert, X509 *issuer, const EVP_MD *md, bool nonce,
                       struct ctl_rp_status *st);

/* Fetches the complete CRL of `ca` ("sign"/"auth", URL/crl/<ca>.crl), verifies it with
 * `issuer` (issuer name, signature, not past nextUpdate) and looks `cert`'s serial up: absent
 * is good, present is revoked with the entry's reason and date. Returns CTL_EXIT_OK with *st,
 * or an exit code after printing why. */
int ctl_rp_crl_status(struct ctl *ctl, const char *ca, X509 *cert, X509 *issuer,
                      struct ctl_rp_status *st);

/* The status of `cert` of CA `ca` ("sign"/"auth"), trusting `issuer`: OCSP (SHA-1 CertID,
 * a fresh nonce) first, and when that gives no verified answer, the CA's CRL. Says on the error
 * stream why OCSP failed and that the CRL is used. Returns CTL_EXIT_OK with *st, CTL_EXIT_USAGE
 * when there is no service URL, CTL_EXIT_TRANSPORT when neither could be reached, else
 * CTL_EXIT_FAILED. */
int ctl_rp_cert_status(struct ctl *ctl, const char *ca, X509 *cert, X509 *issuer,
                       struct ctl_rp_status *st);

/* Text of certificate fields, for printing: RFC 3339 UTC of an ASN.1 time into buf ("-" when
 * NULL or unreadable; returns buf); a name as "C=JP, O=JPKI, OU=…" (RFC 4514 escaping, UTF-8
 * kept, in the certificate's order; malloc'd, NULL when out of memory; sanitize before
 * printing); a serial as upper-case hex ("?" when unreadable). */
const char *ctl_rp_time_text(const ASN1_TIME *t, char *buf, size_t size);
char *ctl_rp_name_text(const X509_NAME *name);
void ctl_rp_serial_hex(const ASN1_INTEGER *serial, char *buf, size_t size);

/* RFC 5280 §5.3.1 name of a CRLReason ("certificateHold"); "unknown" outside the list, and
 * "unspecified" for -1 (no reason given). */
const char *ctl_rp_reason_name(int reason);

#endif
