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

/* A blob of the `len` bytes of `der` for `key`, when they are one whole DER successful
 * OCSPResponse (nothing trailing) with exactly one SingleResponse whose CertID has the key's
 * hash algorithm, serial and `issuer`'s name and key hashes, with thisUpdate and nextUpdate.
 * With `verify` (may be NULL) the BasicOCSPResponse's signature must also verify to a root of
 * that store (RFC 6960 §3.2: the CA itself or its delegated, id-kp-OCSPSigning signer).
 * Returns NULL with err filled (JERR_INVALID; err->field says which check: "der", "certid",
 * "issuer", "times", "signature"). */
struct presign_blob *presign_parse(const struct ocsp_issuer *issuer, const struct presign_key *key,
                                   const unsigned char *der, size_t len, X509_STORE *verify,
                                   struct jerr *err);

#endif
