/*
 * presign_parse: the one reader of a pre-signed OCSPResponse that came from a store rather than
 * from our own signer — a registry row (ocsp_answer.h) or a Redis value (respond/redissrc.h).
 * It either returns a blob ready to serve for exactly the key it was stored under, or nothing
 * (rpki-client's rule: a parser returns a fully checked object or NULL).
 */
#ifndef JPKI_PRESIGN_PARSE_H
#define JPKI_PRESIGN_PARSE_H

#include <stddef.h>

#include <openssl/x509.h>

#include "ca/ocsp.h"
#include "base/jerr.h"
#include "responder/ocsp/presign.h"

/* How the signature of a response from outside is checked (NULL: it is not, e.g. a registry
 * row our own signer made). */
struct presign_trust {
    /* The issuer's root: the signer must chain to it and be the CA itself or its delegated,
     * id-kp-OCSPSigning signer (RFC 6960 §4.2.2.2; OCSP_basic_verify). */
    X509_STORE *roots;
    /* Signer certificates of this issuer that passed that full check before (may be NULL):
     * a response they signed needs only its signature checked, not the chain again. A signer
     * that passes the full check now is pushed here (a new reference). */
    STACK_OF(X509) *known_signers;
};

/* A blob of the `len` bytes of `der` for `key`, when they are one whole DER successful
 * OCSPResponse (nothing trailing) with exactly one SingleResponse whose CertID has the key's
 * hash algorithm, serial and `issuer`'s name and key hashes, with thisUpdate and nextUpdate,
 * and with `trust` a signature that passes it. Returns NULL with err filled (JERR_INVALID;
 * err->field says which check: "der", "certid", "issuer", "times", "signature"). */
struct presign_blob *presign_parse(const struct ocsp_issuer *issuer, const struct presign_key *key,
                                   const unsigned char *der, size_t len,
                                   const struct presign_trust *trust, struct jerr *err);

#endif
