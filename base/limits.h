/*
 * limits.h: every cap on outside sizes and counts, in one place.
 * Lengths are in bytes of UTF-8 and exclude the terminating NUL.
 */
#ifndef JPKI_LIMITS_H
#define JPKI_LIMITS_H

/* Identifiers chosen by operators: person id, card id, batch key, operator name. */
#define JPKI_ID_MAX 64
/* Basic facts of the resident register (UTF-8 bytes; ~100 and ~250 kanji). */
#define JPKI_NAME_MAX 300
#define JPKI_ADDRESS_MAX 750
/* Prefecture / municipality of the issuing window (subject L= values, UTF-8 bytes). */
#define JPKI_PLACE_MAX 120
/* Certificate serial as hex: 16 random bytes (DESIGN §3), at most 20 octets (RFC 5280 §4.1.2.2). */
#define JPKI_SERIAL_BYTES 16
#define JPKI_SERIAL_HEX_MAX 40
/* Configuration file size. */
#define JPKI_CONFIG_MAX_BYTES (1024 * 1024)
/* A certificate in DER. */
#define JPKI_CERT_DER_MAX (16 * 1024)

/* HTTP service (DESIGN §6); tighter before authentication. */
#define JPKI_HTTP_MAX_HEADERS_BYTES (8 * 1024)
#define JPKI_HTTP_MAX_URI_BYTES 4096
#define JPKI_HTTP_MAX_PUBLIC_BODY_BYTES (16 * 1024)
#define JPKI_HTTP_MAX_API_BODY_BYTES (64 * 1024)
#define JPKI_HTTP_MAX_BATCH_BODY_BYTES (16 * 1024 * 1024)
/* The body cap of a public listener, whatever its routes: no anonymous request makes the
 * service hold more (an operator API call fits; a batch file over it needs the operator
 * listener). */
#define JPKI_HTTP_MAX_PUBLIC_LISTENER_BODY_BYTES JPKI_HTTP_MAX_API_BODY_BYTES
/* Rows in one batch file (DESIGN §6). */
#define JPKI_BATCH_MAX_ROWS 100000
/* OCSP (RFC 6960): CertIDs per request; nonce octets (RFC 9654 §2.1: 1..32). */
#define JPKI_OCSP_MAX_CERTIDS 16
#define JPKI_OCSP_NONCE_MIN 1
#define JPKI_OCSP_NONCE_MAX 32
/* An OCSP request in DER, POST body or decoded GET path (a request of JPKI_OCSP_MAX_CERTIDS
 * SHA-256 CertIDs with a nonce is ~1.9 KB; a signed request with a certificate fits too). */
#define JPKI_OCSP_MAX_REQUEST_BYTES 8192
/* One CertID re-encoded in DER (RFC 6960 §4.1.1): SHA-256 hashes and a 20-octet serial take
 * ~110 bytes; beyond this the serial is far past RFC 5280 §4.1.2.2's 20 octets. */
#define JPKI_OCSP_CERTID_DER_MAX 128
/* Audit rows in one page of GET /v1/audit (?limit=), which jpkictl audit asks for too. */
#define JPKI_AUDIT_PAGE_MAX 1000

#endif
