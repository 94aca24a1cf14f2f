/*
 * auth: who is calling the operator API, and what that caller's role may do (docs/API.md,
 * "Authentication and roles"; DESIGN §6).
 *
 * Two kinds of credential:
 * - a bearer token (RFC 6750 §2.1, "Authorization: Bearer <token>"). Tokens are never kept:
 *   only their SHA-256, in three places — the configuration (operators[].token_sha256), the
 *   registry's operators table (created by POST /v1/operators) and the registry setting
 *   admin_token_sha256 (the first administrator token, written by jpkid init; operator name
 *   OPERATOR_ADMIN_NAME). Digests are compared with CRYPTO_memcmp, every configured one each time,
 *   so the time taken does not say how much of a digest matched.
 * - a TLS client certificate that the server verified against tls.operator_ca: the operator
 *   is the subject's CN, looked up among the operators (configured or in the registry; not the
 *   first administrator token's "admin"), which give the role — the OU is not trusted for it —
 *   and may be disabled; a certificate on tls.operator_crl is refused (auth_by_cert_registry).
 *
 * Pure except auth_by_token (reads the registry: call it on a worker) and auth_token_new
 * (the CSPRNG). Never logs; tokens are wiped from this module's buffers after use.
 */
#ifndef JPKI_AUTH_H
#define JPKI_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/x509.h>

#include "ca/operator.h"
#include "ca/store.h"
#include "config/config.h"
#include "base/jerr.h"
#include "base/limits.h"

/* Longest bearer token accepted, in bytes (a token made here is AUTH_NEW_TOKEN_HEX). */
#define AUTH_TOKEN_MAX 256
/* Random bytes of a token made by auth_token_new; it is written as lower-case hex. */
#define AUTH_NEW_TOKEN_BYTES 32
#define AUTH_NEW_TOKEN_HEX (2 * AUTH_NEW_TOKEN_BYTES)
#define AUTH_SHA256_BYTES 32
#define AUTH_SHA256_HEX 64
/* The actor of an audit row when no credential was accepted. */
#define AUTH_ANONYMOUS "anonymous"

enum auth_via { AUTH_VIA_NONE = 0, AUTH_VIA_TOKEN, AUTH_VIA_CERT };

/* An authenticated operator. */
struct auth_identity {
    char name[JPKI_ID_MAX + 1];
    enum operator_role role;
    enum auth_via via;
};

/* The roles' masks (OPERATOR_ROLES_*, operator_role_is_allowed) and the first administrator's
 * name (OPERATOR_ADMIN_NAME) are ca/operator.h's. */

/* "admin" | "operator" | "batch" | "auditor" (exactly, as the configuration spells them).
 * Returns 0 or -1. */
int auth_role_parse(const char *s, enum operator_role *role);

/* Reads an Authorization header value (NULL when the request had none). A credential is the
 * scheme "Bearer" (any case, RFC 7235 §2.1), one or more spaces, and a token of 1..
 * AUTH_TOKEN_MAX b64token characters (RFC 6750 §2.1: A-Z a-z 0-9 - . _ ~ + / then '='s).
 * Copies the token into `token` (size > AUTH_TOKEN_MAX). Returns 0, or -1 with err
 * (JERR_AUTH, field "authorization") saying what is wrong; the message never repeats it. */
int auth_bearer_parse(const char *header, char *token, size_t size, struct jerr *err);

/* SHA-256 of the token's bytes. */
void auth_token_sha256(const char *token, unsigned char out[AUTH_SHA256_BYTES]);

/* 64 hex digits (either case) → 32 bytes. Returns 0, or -1 for anything else. */
int auth_hex_decode(const char *hex, unsigned char out[AUTH_SHA256_BYTES]);
/* 32 bytes → 64 lower-case hex digits and a NUL. */
void auth_hex_encode(const unsigned char in[AUTH_SHA256_BYTES], char out[AUTH_SHA256_HEX + 1]);

/* Constant-time equality of two digests (CRYPTO_memcmp). */
bool auth_digest_is_equal(const unsigned char a[AUTH_SHA256_BYTES],
                          const unsigned char b[AUTH_SHA256_BYTES]);

/* A new random token (AUTH_NEW_TOKEN_HEX hex digits) and the hex SHA-256 of it. The caller
 * shows the token once and wipes it (OPENSSL_cleanse). Returns 0 or -1 (JERR_CRYPTO). */
int auth_token_new(char token[AUTH_NEW_TOKEN_HEX + 1], char hash_hex[AUTH_SHA256_HEX + 1],
                   struct jerr *err);

/* Finds the operator holding `token`: the configured operators (all compared), then the
 * administrator token, then the registry's operators table (a disabled one is refused).
 * Returns 0 with *out filled, or -1: JERR_AUTH (field "authorization") for an unknown
 * token, or the registry's error (e.g. JERR_UNAVAILABLE) when it cannot be read. Reads the
 * registry: on a worker. */
int auth_by_token(const struct jpki_config *cfg, struct store *st, const char *token,
                  struct auth_identity *out, struct jerr *err);

/* The operator of a client certificate already verified against the operator CA: exactly
 * one CN, a valid operator name ([A-Za-z0-9._-], 1..JPKI_ID_MAX), and a first OU naming a
 * role. Returns 0 with *out filled, or -1 with JERR_AUTH (field "certificate"). */
int auth_by_cert(X509 *cert, struct auth_identity *out, struct jerr *err);

/* The operator of a client certificate already verified against the operator CA, as the
 * API authenticates it: the subject's CN (as auth_by_cert checks it) names an operator of the
 * configuration or the registry's table (operator_lookup; the first administrator
 * "admin" is a token, never a certificate), which must not be disabled and gives the role;
 * when tls.operator_crl is set, that CRL (PEM or DER, read now) must be signed by a CA of
 * tls.operator_ca that issued the certificate, not be past its nextUpdate, and not list the
 * certificate. Returns 0 with *out filled (via AUTH_VIA_CERT), or -1: JERR_AUTH (field
 * "certificate") for an unknown, disabled or revoked certificate; JERR_UNAVAILABLE when the
 * CRL cannot be read, does not verify or is out of date (fail closed: an operator CA's
 * revocations are not skipped because its CRL is stale); the registry's error. */
int auth_by_cert_registry(const struct jpki_config *cfg, struct store *st, X509 *cert,
                          struct auth_identity *out, struct jerr *err);

#endif
