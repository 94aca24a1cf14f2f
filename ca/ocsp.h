/*
 * ocsp: the OCSP request parser and response builder (RFC 6960 with the RFC 5019 profile;
 * nonce per RFC 9654). DESIGN §5.
 *
 * ocsp_request_parse is the one parser of OCSP requests (STYLE "Untrusted input"): it returns
 * a fully checked struct ocsp_request or nothing, and everything after it works on that plain
 * struct. The builders turn answers the caller looked up into signed DER responses. This
 * module does no SQL and no HTTP; it never sees a private key (signing goes through
 * signer_sign_ocsp).
 *
 * Every DER buffer this module hands out is OPENSSL_malloc'd: free it with OPENSSL_free.
 */
#ifndef JPKI_OCSP_H
#define JPKI_OCSP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include "ca/model.h"
#include "config/config.h"
#include "base/jerr.h"
#include "base/limits.h"
#include "keystore/signer.h"

/* CertID hash algorithms (the values of ocsp_certid.hash; store.h's certid_hash). */
enum ocsp_certid_hash { OCSP_CERTID_SHA1 = 0, OCSP_CERTID_SHA256 = 1 };

/* One checked CertID (RFC 6960 §4.1.1). */
struct ocsp_certid {
    int hash; /* enum ocsp_certid_hash */
    unsigned char name_hash[32], key_hash[32];
    size_t hash_len;                      /* 20 (SHA-1) or 32 (SHA-256) */
    char serial[JPKI_SERIAL_HEX_MAX + 1]; /* upper hex as the registry stores it (BN_bn2hex) */
    bool serial_ok; /* false if the serial is zero, negative or over 20 octets: answer unknown */
    /* hashAlgorithm parameters are NULL (OpenSSL's form, and ocsp_certid_for_serial's), not
     * absent. A pre-signed response (built with NULL) echoes this CertID exactly only when
     * params_null; OpenSSL's client compares only the OID, stricter clients may not. */
    bool params_null;
    /* The CertID re-encoded, echoed as it is in the response: same algorithm (with its
     * parameters absent or NULL as the client sent them), hashes and serial. */
    unsigned char der[JPKI_OCSP_CERTID_DER_MAX];
    size_t der_len;
};

struct ocsp_request {
    struct ocsp_certid ids[JPKI_OCSP_MAX_CERTIDS];
    size_t count; /* 1..JPKI_OCSP_MAX_CERTIDS */
    bool has_nonce;
    unsigned char nonce[JPKI_OCSP_NONCE_MAX];
    size_t nonce_len; /* JPKI_OCSP_NONCE_MIN..JPKI_OCSP_NONCE_MAX when has_nonce */
};

/* Parses and checks a DER OCSPRequest of `len` bytes (all must be consumed, at most
 * JPKI_OCSP_MAX_REQUEST_BYTES). Returns 0 with *out filled, or -1: JERR_TOO_LARGE for too many
 * bytes or CertIDs, JERR_INVALID for anything malformed (answer malformedRequest),
 * JERR_INTERNAL when out of memory. A request signature is accepted and ignored (RFC 5019
 * §2.1.2). *out is written only on success. */
int ocsp_request_parse(const unsigned char *der, size_t len, struct ocsp_request *out,
                       struct jerr *err);

/* Decodes the GET form's path component, everything after "/ocsp/" (RFC 6960 Appendix A.1:
 * the URL-encoded base64 of the DER request; '+', '/', '=' raw or escaped). Returns 0 with
 * *der (OPENSSL_free) and *len, or -1: JERR_INVALID (bad escape, bad base64, empty),
 * JERR_TOO_LARGE (over JPKI_OCSP_MAX_REQUEST_BYTES). Does not parse the DER. */
int ocsp_get_path_decode(const char *path_component, unsigned char **der, size_t *len,
                         struct jerr *err);

/* The CertID hashes of one CA root, for matching requests to a CA (RFC 6960 §4.1.1). */
struct ocsp_issuer {
    enum ca_kind ca;
    int generation; /* the CA generation of the root (DESIGN §11); ocsp_issuer_init sets 1 */
    unsigned char name_sha1[20], key_sha1[20], name_sha256[32], key_sha256[32];
};

/* Computes the issuerNameHash (over the DER of root's subject) and issuerKeyHash (over the
 * value of its subjectPublicKey BIT STRING) with SHA-1 and SHA-256. Returns 0 or -1. */
int ocsp_issuer_init(struct ocsp_issuer *out, enum ca_kind ca, X509 *root, struct jerr *err);

/* Index into issuers[0..n) of the issuer `id` names (both hashes equal), or -1 for none. */
int ocsp_match_issuer(const struct ocsp_issuer *issuers, size_t n, const struct ocsp_certid *id);

/* The answer for one CertID. */
struct ocsp_single {
    const struct ocsp_certid *id;
    enum cert_status status; /* ignored when unknown */
    bool unknown;            /* never issued here (or serial_ok false) */
    int reason;              /* enum crl_reason, for CERT_REVOKED */
    time_t revoked_at;       /* revocation or hold time, for CERT_REVOKED and CERT_HOLD */
};

/* Builds, signs (signer_sign_ocsp: SHA-256, responderID by key, signer_cert included) and
 * encodes a successful OCSPResponse answering singles[0..n) (1..JPKI_OCSP_MAX_CERTIDS), each
 * CertID echoed as requested; good / revoked (reason unless unspecified) / hold as revoked
 * certificateHold (RFC 6960 §2.2) / unknown; thisUpdate/nextUpdate on each; the nonce echoed
 * when nonce_len > 0. Every CertID must name issuer_root (else JERR_INTERNAL: a caller bug).
 * Returns 0 with *der (OPENSSL_free) and *der_len, or -1. */
int ocsp_response_sign(X509 *issuer_root, X509 *signer_cert, const struct signer *signer,
                       const struct ocsp_single *singles, size_t n, const unsigned char *nonce,
                       size_t nonce_len, time_t this_update, time_t next_update,
                       unsigned char **der, size_t *der_len, struct jerr *err);

/* An unsigned error OCSPResponse (RFC 6960 §4.2.1) with no responseBytes: response_status is
 * OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, _INTERNALERROR, _TRYLATER, _SIGREQUIRED or
 * _UNAUTHORIZED. Returns 0 with *der (OPENSSL_free) and *len, or -1. */
int ocsp_error_response(int response_status, unsigned char **der, size_t *len, struct jerr *err);

/* The CertID a client would send for `serial_hex` (upper hex, as the registry stores it) under
 * issuer_root, with hash OCSP_CERTID_SHA1 or OCSP_CERTID_SHA256 (parameters NULL, as OpenSSL
 * sends them), for pre-signing responses no request asked for yet. Returns 0 or -1. */
int ocsp_certid_for_serial(X509 *issuer_root, const char *serial_hex, int hash,
                           struct ocsp_certid *out, struct jerr *err);

#endif
