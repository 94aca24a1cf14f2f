/*
 * keyalg: what kind of key a CA, an OCSP signer or a subscriber has (DESIGN §11): RSA of 2048..8192
 * bits, ECDSA on P-384 or on P-521 — and the one answer to "which digest does a signature by this
 * key use" (RSA: SHA-256, P-384: SHA-384, P-521: SHA-512; RFC 5758 §3.2, RFC 5480 §4).
 *
 * A struct keyalg is a plain value: no OpenSSL object, nothing to free. Its names are those of
 * the configuration (ca.<ca>.key_algorithm) and of `jpkid rollover --algorithm`:
 *   rsa          RSA of the configured size (ca.<ca>.key_bits / subscriber.key_bits)
 *   rsa2048      RSA-2048
 *   rsa3072      RSA-3072
 *   ecdsa-p384   ECDSA on NIST P-384 (secp384r1), signing with SHA-384
 *   ecdsa-p521   ECDSA on NIST P-521 (secp521r1), signing with SHA-512
 * keyalg_name gives "rsa<bits>" for any RSA size, so a name written down parses back to the same
 * spec (for sizes other than 2048/3072 only through "rsa" with the bits).
 */
#ifndef JPKI_KEYALG_H
#define JPKI_KEYALG_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/jerr.h"

enum keyalg_type {
    KEYALG_RSA = 1,
    KEYALG_ECDSA,
};

struct keyalg {
    enum keyalg_type type;
    int bits; /* RSA: modulus bits (2048..8192); ECDSA: the curve's size (384 or 521) */
};

#define KEYALG_RSA_BITS_MIN 2048
#define KEYALG_RSA_BITS_MAX 8192
/* Longest name keyalg_name writes, with its NUL ("ecdsa-p384", "rsa8192"). */
#define KEYALG_NAME_MAX 16

/* The spec named `name` (list above); "rsa" takes `rsa_bits`. Anything else, or RSA bits
 * outside 2048..8192, is JERR_INVALID naming `field` (e.g. "ca.sign.key_algorithm"), with the
 * accepted names in the message. Returns 0 or -1. */
int keyalg_parse(const char *name, int rsa_bits, const char *field, struct keyalg *out,
                 struct jerr *err);

/* An RSA spec of `bits` (not checked: keyalg_parse and keygen check). */
struct keyalg keyalg_rsa(int bits);

/* "rsa2048", "ecdsa-p384", ... into buf (KEYALG_NAME_MAX bytes); returns buf. */
const char *keyalg_name(const struct keyalg *a, char *buf, size_t size);

/* A readable name for messages and fingerprints: "RSA-2048", "ECDSA P-384". Into buf. */
const char *keyalg_display(const struct keyalg *a, char *buf, size_t size);

bool keyalg_equal(const struct keyalg *a, const struct keyalg *b);
bool keyalg_is_ec(const struct keyalg *a);

/* OpenSSL's NID of the curve (NID_secp384r1, NID_secp521r1); NID_undef for RSA. */
int keyalg_curve_nid(const struct keyalg *a);

/* The digest a signature by a key of this spec uses: "SHA256", "SHA384", "SHA512" (OpenSSL
 * fetch names), and its NID. */
const char *keyalg_digest(const struct keyalg *a);
int keyalg_digest_nid(const struct keyalg *a);

/* The signature algorithm of a key of this spec: NID_sha256WithRSAEncryption,
 * NID_ecdsa_with_SHA384, NID_ecdsa_with_SHA512; its name as OpenSSL and the receipts spell it
 * ("sha256WithRSAEncryption", "ecdsa-with-SHA384", ...); and its AlgorithmIdentifier as jpki
 * writes it (RFC 4055 §5: RSA with NULL parameters; RFC 5758 §3.2: ECDSA with none), a new
 * X509_ALGOR the caller frees (NULL when out of memory). */
int keyalg_signature_nid(const struct keyalg *a);
const char *keyalg_signature_name(const struct keyalg *a);
X509_ALGOR *keyalg_signature_algor(const struct keyalg *a);

/* The spec of `pkey` (a public or private key). JERR_INVALID naming `field` when it is neither
 * RSA of 2048..8192 bits nor ECDSA on a named P-384/P-521 curve (explicit curve parameters,
 * other curves and other key types are refused). Returns 0 or -1. */
int keyalg_of_key(const EVP_PKEY *pkey, const char *field, struct keyalg *out, struct jerr *err);

/* Checks that `pkey` is of spec `want` (for RSA: an RSA key of at least want->bits; for
 * ECDSA: exactly the curve). JERR_INVALID naming `field` with the key's and the wanted
 * algorithm otherwise. Returns 0 or -1. */
int keyalg_check_key(const EVP_PKEY *pkey, const struct keyalg *want, const char *field,
                     struct jerr *err);

/* THE digest choice for a signature by `pkey` (every certificate, CRL, OCSP response, receipt
 * and checkpoint signature goes through it): "SHA256" for RSA, "SHA384" for P-384, "SHA512"
 * for P-521; NULL for a key of no supported spec. */
const char *keyalg_key_digest(const EVP_PKEY *pkey);

/* The subscribers' key spec on a CA of spec `ca`: the same curve on an ECDSA CA (a card holds
 * one algorithm), RSA of `subscriber_rsa_bits` on an RSA CA. */
struct keyalg keyalg_for_subscriber(const struct keyalg *ca, int subscriber_rsa_bits);

#endif
