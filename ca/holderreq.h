/*
 * holderreq: the card holder's online revocation request (guide 4(5)B; DESIGN §1, §6;
 * docs/CARD.md "Online revocation") — its one parser and the checks that make it an order the
 * service may carry out.
 *
 * The request is a CMS SignedData (RFC 5652 §5) in DER, made with the card's signing key, that
 * includes the signing certificate and carries, attached, a small JSON document:
 *
 *   {"serial": "<hex serial of the certificate to revoke>",
 *    "reason": "keyCompromise" | "cessationOfOperation" | "unspecified",
 *    "request_id": "<16..64 hex digits, random, never reused>",
 *    "time": "YYYY-MM-DDTHH:MM:SSZ"}
 *
 * holderreq_parse proves the request is well formed and that the included certificate's key
 * signed it; holderreq_check proves that certificate is one of ours, on the same card as the
 * certificate to revoke, and that the request is fresh and new. Only then does the caller
 * revoke (lifecycle_revoke), recording the request id in the same transaction
 * (store_holder_request_insert) so that a replay fails.
 */
#ifndef JPKI_HOLDERREQ_H
#define JPKI_HOLDERREQ_H

#include <stdint.h>
#include <openssl/x509.h>

#include "ca/model.h"
#include "ca/pki.h"
#include "ca/store.h"
#include "base/jerr.h"
#include "base/limits.h"

/* The whole request in DER, before anything is known of the sender (a request with a 2048-bit
 * signing certificate is ~2.5 KB). */
#define HOLDERREQ_MAX_BYTES (16 * 1024)
/* The JSON document inside. */
#define HOLDERREQ_CONTENT_MAX_BYTES 1024
/* request_id: hex digits (16 = 64 random bits at least). */
#define HOLDERREQ_ID_MIN 16
#define HOLDERREQ_ID_MAX STORE_HOLDER_REQUEST_ID_MAX
/* "time" may differ from the service's clock by this much either way. */
#define HOLDERREQ_MAX_SKEW_S 300

/* A parsed request whose signature verified with the included certificate. */
struct holder_request {
    char serial[JPKI_SERIAL_HEX_MAX + 1];  /* to revoke: upper-case hex as the registry keys it */
    int reason;                            /* REASON_KEY_COMPROMISE / _CESSATION_OF_OPERATION /
                                              _UNSPECIFIED */
    char request_id[HOLDERREQ_ID_MAX + 1]; /* lower-case hex */
    int64_t time;                          /* the request's "time", seconds since the epoch */
    char signer_serial[JPKI_SERIAL_HEX_MAX + 1]; /* the signing certificate's serial */
    X509 *signer; /* the included certificate whose key signed (owned: holderreq_clear) */
};

/* Frees what `r` owns and zeroes it. NULL is a no-op. */
void holderreq_clear(struct holder_request *r);

/* The one parser of a request. Refuses, in order:
 * - more than HOLDERREQ_MAX_BYTES: JERR_TOO_LARGE "request";
 * - anything but exactly one DER ContentInfo (all bytes consumed, BER refused) of type SignedData with
 *   attached id-data content of 1..HOLDERREQ_CONTENT_MAX_BYTES, exactly one SignerInfo, digest
 *   SHA-256, whose certificate is included: JERR_INVALID "request";
 * - a signature that does not verify with that certificate (content or signed attributes
 *   altered, another key): JERR_FORBIDDEN "signature";
 * - a document that is not the JSON object above (exactly those four strings): JERR_INVALID
 *   naming the member ("body" for the document as a whole).
 * Returns 0 with *out filled (release with holderreq_clear), or -1 (*out zeroed). */
int holderreq_parse(const unsigned char *der, size_t len, struct holder_request *out,
                    struct jerr *err);

/* Checks a parsed request against the instance at `now`, in this order:
 * - the signer is a certificate of the registry, DER-identical (JERR_FORBIDDEN "signer":
 *   unknown signer), of the signing CA ("signer": an authentication certificate cannot order a
 *   revocation), not revoked ("signer"; on hold is allowed, see docs/CARD.md), and it
 *   verifies against the signing CA's root at `now` ("signer": expired, not ours);
 * - the request id was never accepted (JERR_CONFLICT "request_id", "replayed request");
 * - "time" is within HOLDERREQ_MAX_SKEW_S of `now` (JERR_FORBIDDEN "time");
 * - the certificate to revoke is on the signer's card (JERR_FORBIDDEN "serial"; an unknown
 *   serial answers the same, so the check reveals nothing of other cards).
 * Whether it may still be revoked (not already revoked) is lifecycle_revoke's rule.
 * Returns 0 with *target (the certificate to revoke) and *signer_rec filled, or -1. */
int holderreq_check(const struct holder_request *req, const struct pki *pki, struct store *st,
                    int64_t now, struct cert_rec *target, struct cert_rec *signer_rec,
                    struct jerr *err);

#endif
