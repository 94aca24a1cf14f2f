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

#include "responder/ctl.h"

/* A certificate file, PEM or DER. */
#define CTL_RP_CERT_FILE_MAX (64 * 1024)
/* Seconds of clock skew allowed on OCSP thisUpdate/nextUpdate. */
#define CTL_RP_OCSP_SKEW_S 300

int ctl_rp_ocsp(struct ctl *ctl, const struct ctl_args *args);
int ctl_rp_crl_fetch(struct ctl *ctl, const struct ctl_args *args);
int ctl_rp_fingerprints(struct ctl *ctl, const struct ctl_args *args);

/* RFC 5280 §5.3.1 name of a CRLReason ("certificateHold"); "unknown" outside the list, and
 * "unspecified" for -1 (no reason given). */
const char *ctl_rp_reason_name(int reason);

#endif
