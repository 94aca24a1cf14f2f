/*
 * pubkey: a subscriber's public key handed to the service for certification (POST
 * /v1/cards/{id}/issue "public_keys"): outside input. The key comes only inside a PKCS#10
 * certification request (RFC 2986) signed by its private key: the signature is the proof of
 * possession (RFC 4210 §5.2.8.2 calls it POP) — without it the service would certify a key its
 * holder may not have (someone else's public key, under this holder's name). A bare
 * SubjectPublicKeyInfo is refused, in words that say what to send instead.
 *
 * The PEM is read by PEM_read_bio, the request by d2i_X509_REQ, its signature checked by
 * X509_REQ_verify; the key itself is rebuilt from n and e of the request's
 * SubjectPublicKeyInfo with OpenSSL's generic DER decoders (rsa_from_spki), so the size and
 * exponent rules are checked in one place; an EC key (P-384 or P-521 by OID) is read by
 * d2i_PUBKEY and checked by keyalg_of_key. Only the key is used: the request's subject and
 * attributes are ignored (the subject comes from the registry, DESIGN §3).
 */
#ifndef JPKI_KEYSTORE_PUBKEY_H
#define JPKI_KEYSTORE_PUBKEY_H

#include <stddef.h>
#include <openssl/evp.h>

#include "base/jerr.h"

/* The largest PEM text taken (a request for an RSA-8192 key is ~3 KB of PEM). */
#define PUBKEY_PEM_MAX 8192

/* The RSA or ECDSA key of `len` bytes of `pem`: one "-----BEGIN CERTIFICATE REQUEST-----" block
 * (RFC 7468 §7, a PKCS#10 CertificationRequest, RFC 2986), no PEM headers, nothing else
 * around it but white space, the whole DER consumed; its SubjectPublicKeyInfo rsaEncryption
 * with NULL parameters (RFC 3279 §2.3.1), a modulus of 2048..8192 bits (DESIGN §3), odd, an
 * odd exponent above 1 and below the modulus — or id-ecPublicKey with the namedCurve P-384
 * or P-521 (RFC 5480 §2.1.1); signed with SHA-256, -384 or -512 by that key (X509_REQ_verify).
 * Whether the key suits the issuing CA (its curve) is the issuer's check (keyalg_check_key). A bare
 * "PUBLIC KEY" block is refused with a message that asks for a request. Returns the key (the caller
 * frees it), or NULL with err JERR_INVALID naming `field` in words. Leaves no OpenSSL error queued.
 */
EVP_PKEY *pubkey_from_csr_pem(const char *pem, size_t len, const char *field, struct jerr *err);

#endif
