/*
 * profile: builds the certificates of DESIGN §3 (and docs/PROFILES.md), unsigned. Pure over
 * its inputs apart from the CSPRNG serial; the caller signs with the right signer.
 *
 * OIDs (jpki-profile.md): SAN otherName 1.2.392.200149.8.5.5.1 name (UTF8String), .3 gender,
 * .4 birth date (era digit + YYYYMMDD), .5 address (UTF8String). Gender and birth date are
 * PrintableString (docs/PROFILES.md).
 *
 * The builders return a certificate the caller owns (X509_free) and that is NOT signed: its
 * signature algorithm and value are empty, so it cannot be encoded (i2d_X509) until the caller
 * has signed it (X509_sign / X509_sign_ctx, or the signer module). Errors: JERR_INVALID with
 * the input at fault in err->field ("subject", "serial", "cn", "crl_url", "ocsp_url",
 * "policy_oid", "not_after", "name", "address", "birth_date", "gender", "prefecture",
 * "municipality", "issuer" when the issuer has no SKI, ...), JERR_CRYPTO/JERR_INTERNAL when
 * OpenSSL fails.
 */
#ifndef JPKI_PROFILE_H
#define JPKI_PROFILE_H

#include <stdbool.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/model.h"
#include "config/config.h"
#include "base/jerr.h"

#define PROFILE_OID_NAME "1.2.392.200149.8.5.5.1"
#define PROFILE_OID_GENDER "1.2.392.200149.8.5.5.3"
#define PROFILE_OID_BIRTH_DATE "1.2.392.200149.8.5.5.4"
#define PROFILE_OID_ADDRESS "1.2.392.200149.8.5.5.5"

/* Fills out with JPKI_SERIAL_BYTES random bytes from the CSPRNG, positive and of full length
 * (first byte 0x01..0x7f), and hex (upper case) with its NUL. Returns 0 or -1. */
int profile_random_serial(unsigned char out[JPKI_SERIAL_BYTES],
                          char hex[JPKI_SERIAL_BYTES * 2 + 1], struct jerr *err);

/* Parses "C=JP, O=JPKI, OU=a, OU=b" (RDNs in order, UTF-8 values, "\," escapes a comma) into
 * an X509_NAME. Returns NULL with err (field "subject") on a bad string. */
X509_NAME *profile_parse_name(const char *subject, struct jerr *err);

/* Self-signed CA root: subject = issuer, keyUsage keyCertSign+cRLSign critical,
 * basicConstraints CA:true critical, SKI (and AKI = SKI). Valid from now-60 s for `years`. */
X509 *profile_root(const struct config_ca *cc, EVP_PKEY *pub, time_t now, struct jerr *err);
/* The same under `subject` instead of cc->subject. */
X509 *profile_root_named(const struct config_ca *cc, const X509_NAME *subject, EVP_PKEY *pub,
                         time_t now, struct jerr *err);

/* Link certificate between two generations of a CA (RFC 4210 §4.4, DESIGN §11): the name and
 * key of `subject_root` certified under `issuer_root`'s name, to be signed with the issuer
 * root's key; CA:true and keyUsage keyCertSign+cRLSign critical, SKI = the subject key's, AKI
 * = the issuer root's SKI. Valid from now-60 s to `not_after`. */
X509 *profile_link(X509 *issuer_root, X509 *subject_root, time_t now, time_t not_after,
                   struct jerr *err);

/* Delegated OCSP signer of `issuer`: subject = issuer's subject + CN=OCSP Responder,
 * keyUsage digitalSignature, EKU OCSPSigning, id-pkix-ocsp-nocheck, AKI, SKI. */
X509 *profile_ocsp_signer(const struct config_ca *cc, X509 *issuer, EVP_PKEY *pub, time_t now,
                          int validity_days, struct jerr *err);

struct profile_subscriber {
    enum ca_kind ca;
    const char *serial_hex;       /* from profile_random_serial */
    const char *cn;               /* opaque id, never personal data */
    const struct person *person;  /* signing certificate only: the four facts go in the SAN */
    const char *prefecture;       /* signing: subject L=, may be NULL */
    const char *municipality;     /* signing: subject L=, may be NULL */
    time_t not_before;
    time_t not_after;
    const char *crl_url;          /* CDP: the URL of the certificate's CRL partition */
    const char *ocsp_url;         /* AIA OCSP */
    const char *policy_oid;
    /* true: an RSA `pub` is written as its encoding only (rsaEncryption, n and e), without
     * OpenSSL 3.0's encoder and decoder round trip of X509_set_pubkey (a third of the CPU of
     * issuance with a supplied key, DESIGN §8); the certificate's DER is the same, but
     * X509_get0_pubkey of the returned object answers NULL (decode its DER for that). For
     * callers that only sign and encode it (lifecycle). */
    bool key_encoding_only;
};

/* Signing or authentication certificate for `pub`, issued by `issuer`: keyUsage critical
 * (signing: digitalSignature+nonRepudiation; auth: digitalSignature), CDP, AIA OCSP,
 * certificatePolicies, AKI, SKI; the signing certificate's SAN carries the four facts. */
X509 *profile_subscriber(const struct profile_subscriber *p, X509 *issuer, EVP_PKEY *pub,
                         struct jerr *err);

/* Reads the four facts back from a signing certificate's SAN (used by tests and by the card
 * holder's `show`). Fields not present are left empty. Returns 0 or -1. */
struct profile_facts {
    char name[JPKI_NAME_MAX + 1];
    char address[JPKI_ADDRESS_MAX + 1];
    char birth_date[10]; /* the 9-character JPKI encoding */
    char gender[4];
};
int profile_read_facts(X509 *cert, struct profile_facts *out, struct jerr *err);

#endif
