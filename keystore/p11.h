/*
 * p11: PKCS#11 modules and tokens, reached through libp11's own PKCS11_* interface (DESIGN §10).
 *
 * Two objects:
 *  - struct p11_module: a loaded PKCS#11 module (C_Initialize done) and its slot list. One per
 *    module path in the process, shared and reference-counted (p11_module_get1 /
 *    p11_module_free): PKCS#11 state (C_Initialize, the login) belongs to the application, so a
 *    second load of the same module would only share it, and its C_Finalize would end every
 *    other user's sessions. The last reference finalizes and unloads.
 *  - struct p11: one token of a module, found by its label, and the user's login on it. A
 *    token holds a reference to its module. Keys stay in the token: p11_get1_private_key hands
 *    out an EVP_PKEY whose private operations libp11 sends to the token (C_Sign), so OpenSSL's
 *    signing code works on it unchanged. libp11 keeps a pool of up to 16 sessions per slot and
 *    takes one per operation, so several threads may sign through one struct p11 at once.
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
 * Threads: p11_module_get1/p11_module_free may be called from any thread. A token's signing
 * (through its EVP_PKEYs) is thread-safe; everything else on a module and its tokens (login,
 * p11_module_init_token, p11_reopen) is done by one thread at a time — the signer serialises
 * it under its own lock, jpkictl is single-threaded.
 */
#ifndef JPKI_P11_H
#define JPKI_P11_H

#include <stdbool.h>
#include <stddef.h>
#include <libp11.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/jerr.h"
#include "keystore/keyalg.h"

struct p11_module;

/* The module loaded from `path`: loads and initialises it (C_Initialize) and lists its slots,
 * or takes another reference to the one this process already loaded from that path. The
 * caller frees it with p11_module_free. NULL with err (JERR_CONFIG) when it does not load:
 * "PKCS#11 module M does not load: <why>" (a missing file's errno text, or not a PKCS#11
 * library, or C_Initialize's return code). */
struct p11_module *p11_module_get1(const char *path, struct jerr *err);

/* Drops a reference; the last one releases the slots, finalizes (C_Finalize) and unloads the
 * module. Every token of it must have been freed before. NULL is a no-op. */
void p11_module_free(struct p11_module *m);

const char *p11_module_get0_path(const struct p11_module *m);

/* Whether the module shows an initialised token labelled `label` (as last listed). */
bool p11_module_has_token(const struct p11_module *m, const char *label);

/* Makes a new token: initialises one uninitialised token of the module (C_InitToken, e.g.
 * SoftHSM2's free slot) as `label` with security officer PIN `so_pin`, then sets its user PIN
 * (C_InitPIN as the security officer). The slot list is listed again around it (C_InitToken
 * may renumber slots). JERR_NOT_FOUND when there is no uninitialised token. Returns 0 or -1. */
int p11_module_init_token(struct p11_module *m, const char *label, const char *so_pin,
                          const char *user_pin, struct jerr *err);

struct p11;

/* The token labelled `label` on module `m`, not logged in (it takes its own reference to `m`).
 * NULL with err: JERR_NOT_FOUND "PKCS#11 module M, token "T": no token with this label is
 * present (CKR_TOKEN_NOT_PRESENT)". */
struct p11 *p11_token_open(struct p11_module *m, const char *label, struct jerr *err);

/* Logs in to the token as its user with `pin` (kept, wiped on free, for p11_relogin and
 * p11_reopen). `rw`: the sessions libp11 opens on the token from now on are read-write (to
 * write objects) instead of read-only. A token that reports its PIN locked is not tried. On
 * failure *rv (when not NULL) is the PKCS#11 return code (CKR_PIN_INCORRECT, CKR_PIN_LOCKED,
 * ...) and err says which: JERR_AUTH for a wrong or locked PIN, JERR_UNAVAILABLE otherwise.
 * Returns 0 or -1. */
int p11_login(struct p11 *p, const char *pin, bool rw, unsigned long *rv, struct jerr *err);

/* Whether p11_login succeeded on this token. */
bool p11_is_logged_in(const struct p11 *p);

/* Logs out and in again with the kept PIN. libp11 caches the objects it listed and does not
 * drop one that was destroyed (PKCS11_remove_*); a logout empties that cache. Returns 0 or -1;
 * 0 at once when not logged in. */
int p11_relogin(struct p11 *p, struct jerr *err);

/* The user's PIN change (C_SetPIN) after p11_login; the kept PIN becomes `new_pin`. Returns
 * 0 or -1. */
int p11_change_pin(struct p11 *p, const char *old_pin, const char *new_pin, struct jerr *err);

/* libp11's slot of the token, for keystore modules that work on a token's objects through
 * libp11 (certificates, keys by CKA_ID). Borrowed; valid until the next p11_module_init_token
 * or p11_reopen on its module. */
PKCS11_SLOT *p11_get0_slot(struct p11 *p);

/* p11_module_get1 + p11_token_open + p11_login (read-only sessions) in one: the signer's way
 * in. Errors as those, except that an absent token is JERR_CONFIG (a configuration names it). */
struct p11 *p11_open(const char *module, const char *token, const char *pin, struct jerr *err);

/* Logs out (when logged in), wipes the PIN and drops the module reference (the last one
 * unloads it). NULL is a no-op. Every EVP_PKEY from p11_get1_private_key must have been freed
 * before. */
void p11_free(struct p11 *p);

/* Reloads the token's module (C_Finalize, C_Initialize: every session and login of every token
 * of that module ends), finds the token again and logs in again (after the token was removed
 * and put back, or the module failed). Keys fetched before, from any token of the module, must
 * be freed first and fetched again; in jpkid the signer's token is its module's only user.
 * Returns 0, or -1 with err filled as p11_open. */
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

/* Destroys every object labelled `label` (C_DestroyObject: both halves of a key pair that
 * p11_generate made for a ceremony that then failed). None is no error. Returns 0 or -1. */
int p11_destroy_objects(struct p11 *p, const char *label, struct jerr *err);

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
