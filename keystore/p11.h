/*
 * p11: one PKCS#11 token, reached through libp11's own PKCS11_* interface (DESIGN §10).
 *
 * A struct p11 is a loaded module, the slot holding the token with a given label, and a user
 * login. Keys stay in the token: p11_get1_private_key hands out an EVP_PKEY whose private
 * operations libp11 sends to the token (C_Sign), so OpenSSL's signing code works on it
 * unchanged. libp11 keeps a pool of up to 16 sessions per slot and takes one per operation,
 * so several threads may sign through one struct p11 at once.
 *
 * Every failure is one sentence naming the module path, the token label, the PKCS#11 call and
 * its return code name, e.g.
 *   PKCS#11 module /usr/lib/softhsm/libsofthsm2.so, token "jpki-ca": C_Login failed:
 * CKR_PIN_INCORRECT
 *
 * libp11 0.4.12 cannot set CKA_EXTRACTABLE when it generates a key, generates RSA keys only
 * (PKCS11_generate_key; it has no PKCS11_keygen yet) and cannot read attributes back: those
 * jobs (p11_generate, p11_key_protection) call the module's own function list,
 * on the session and login libp11 opened (PKCS#11 login state is per application, §5.6).
 *
 * Only one struct p11 per module may be open in a process at a time: closing it finalizes the
 * module (C_Finalize), which would end every other user's sessions.
 */
#ifndef JPKI_P11_H
#define JPKI_P11_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/jerr.h"
#include "keystore/keyalg.h"

struct p11;

/* Loads `module`, finds the token labelled `token` and logs in as user with `pin`. Returns
 * the token, or NULL with err filled: JERR_CONFIG for a module that cannot be loaded or a
 * token that is absent, JERR_AUTH for a wrong or locked PIN (message names the CKR code),
 * JERR_UNAVAILABLE for other token errors. The PIN is kept (wiped on free) for p11_reopen. */
struct p11 *p11_open(const char *module, const char *token, const char *pin, struct jerr *err);

/* Logs out, finalizes and unloads the module, wipes the PIN. NULL is a no-op. Every EVP_PKEY
 * from p11_get1_private_key must have been freed before. */
void p11_free(struct p11 *p);

/* Unloads and reloads the module, finds the token and logs in again (after the token was
 * removed and put back, or the module failed). Keys fetched before must be freed first and
 * fetched again. Returns 0, or -1 with err filled as p11_open. */
int p11_reopen(struct p11 *p, struct jerr *err);

const char *p11_module_path(const struct p11 *p);
const char *p11_token_label(const struct p11 *p);

/* The private key labelled `label` (CKA_LABEL), as an EVP_PKEY whose private operations go to
 * the token; the caller frees it with EVP_PKEY_free (before p11_free/p11_reopen). Its public
 * half (modulus, exponent) is read from the token. NULL with err: JERR_NOT_FOUND when the
 * token holds no such key. */
EVP_PKEY *p11_get1_private_key(struct p11 *p, const char *label, struct jerr *err);

/* True when the token holds a private key labelled `label`. */
bool p11_has_private_key(struct p11 *p, const char *label);

/* Generates a key pair of spec `alg` inside the token (C_GenerateKeyPair): RSA of alg->bits
 * (public exponent 65537, CKM_RSA_PKCS_KEY_PAIR_GEN) or EC on alg's named curve
 * (CKM_EC_KEY_PAIR_GEN, CKA_EC_PARAMS the curve's OID, RFC 5480 §2.1.1). The private key is
 * CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not CKA_EXTRACTABLE, usable for CKA_SIGN only; both
 * halves carry `label` and `id`. Refuses (JERR_CONFLICT) a label already in use. libp11 reads
 * an EC key back as an EVP_PKEY whose ECDSA signatures are C_Sign(CKM_ECDSA) calls, so
 * p11_get1_private_key serves both kinds. Returns 0 or -1. */
int p11_generate(struct p11 *p, const char *label, const unsigned char *id, size_t id_len,
                 const struct keyalg *alg, struct jerr *err);

/* How the private key `label` is protected, as the token reports it. */
struct p11_key_protection {
    bool sensitive;         /* CKA_SENSITIVE */
    bool extractable;       /* CKA_EXTRACTABLE */
    bool never_extractable; /* CKA_NEVER_EXTRACTABLE */
    bool always_sensitive;  /* CKA_ALWAYS_SENSITIVE */
};
int p11_key_protection(struct p11 *p, const char *label, struct p11_key_protection *out,
                       struct jerr *err);

/* Asks the token whether it is still there and the login still holds (C_GetTokenInfo,
 * C_GetSessionInfo on a fresh session). Returns 0, or -1 with err (JERR_UNAVAILABLE). */
int p11_check(struct p11 *p, struct jerr *err);

/* The RFC 7512 URI naming the private key `label` (with `id`) on this token, e.g.
 * "pkcs11:token=jpki-ca;id=%73...;object=jpki%20sign-ca%20g1;type=private" (p11-kit's
 * formatter). malloc'd, the caller frees it; NULL with err on failure. */
char *p11_key_uri(const struct p11 *p, const char *label, const unsigned char *id, size_t id_len,
                  struct jerr *err);

/* Parses an RFC 7512 URI (p11-kit's parser) into the token label and the object label, both
 * required. Returns 0, or -1 with err (JERR_INVALID). */
int p11_key_uri_parse(const char *uri, char *token, size_t token_size, char *label,
                      size_t label_size, struct jerr *err);

/* Fills err with "PKCS#11 module M, token "T": `what` failed: CKR_..." from the PKCS#11
 * return code libp11 left in OpenSSL's error queue (which is drained), or "`what` failed"
 * alone when there is none. The code is JERR_AUTH for PIN errors, JERR_UNAVAILABLE for a
 * token or device that is gone, `code` otherwise. Returns -1. */
int p11_fail(const struct p11 *p, struct jerr *err, int code, const char *what);

/* The most recent PKCS#11 return code libp11 put in OpenSSL's error queue, or 0 (CKR_OK) when
 * there is none. Reading it empties the queue (OpenSSL has no way to walk the queue without
 * taking its entries), so call it once and pass the code on. */
unsigned long p11_last_rv(void);

/* "CKR_PIN_INCORRECT" for 0xA0, ...; "CKR_0x<hex>" for a code it does not know (vendor). The
 * string is static, or written into `buf` for an unknown code. */
const char *p11_rv_name(unsigned long rv, char *buf, size_t size);

/* True when `rv` says the token, its device or the session is gone (removed, device error,
 * closed session, lost login): the module should be reopened. */
bool p11_rv_is_lost(unsigned long rv);

#endif
