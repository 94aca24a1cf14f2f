/*
 * cardtoken: a holder's card as a PKCS#11 token (DESIGN §10, docs/CARD.md "A card on a
 * PKCS#11 token") — the same card the image file plays (keystore/card.h), reached through a
 * module: OpenSC's opensc-pkcs11.so with a real My Number card in a reader, or any other module
 * (SoftHSM2 in the tests). Nothing here knows which module it is.
 *
 * Layout: the one OpenSC's JPKI driver (src/libopensc/pkcs15-jpki.c) exposes for a My Number
 * card. The card has two PINs, so OpenSC shows it as two tokens, one per PIN, labelled
 * "JPKI (Digital Signature PIN)" and "JPKI (User Authentication PIN)"; a card named LABEL here
 * is that pair, "LABEL (Digital Signature PIN)" and "LABEL (User Authentication PIN)"
 * (cardtoken_token_label: OpenSC's own rule, truncation included). Objects, by CKA_ID:
 *
 *   01  "User Authentication Key" / "User Authentication Certificate"     (auth token)
 *   02  "Digital Signature Key"   / "Digital Signature Certificate"       (sign token)
 *   03  "User Authentication Certificate CA"  (the auth CA root)          (auth token)
 *   04  "Digital Signature Certificate CA"    (the sign CA root)          (sign token)
 *
 * Objects are looked for on both tokens (a real card shows its public ones on each).
 *
 * The private keys never leave the token: cardtoken_generate makes the pair with
 * C_GenerateKeyPair (private, sensitive, not extractable: keystore/p11), and cardtoken_get_key
 * hands out an EVP_PKEY whose operations libp11 sends to the token (C_Sign); no key byte is read.
 * Wrong PINs are counted, and a PIN locked, by the token itself (a real card: 5 / 3 tries;
 * SoftHSM2: never).
 *
 * The module and its tokens are keystore/p11's (one load per module path in the process, shared
 * with any other user of it there). A struct cardtoken is not thread-safe.
 */
#ifndef JPKI_CARDTOKEN_H
#define JPKI_CARDTOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "config/config.h"
#include "base/jerr.h"
#include "keystore/keyalg.h"

/* PKCS#11 token labels are 32 bytes, blank-padded (PKCS#11 v2.40 §3.2 CK_TOKEN_INFO). */
#define CARDTOKEN_LABEL_BYTES 32
/* The longest card label jpkictl gives new tokens: "LABEL (User Authentication PIN)" must fit
 * in 32 bytes untruncated, so that the two tokens' labels stay apart and exact. */
#define CARDTOKEN_NEW_LABEL_MAX 6
/* The key size generated for a holder's RSA key pair (the My Number card's, RSA-2048); under
 * an ECDSA CA the pair is on the CA's curve (keyalg_for_subscriber). */
#define CARDTOKEN_KEY_BITS 2048

/* OpenSC's JPKI CKA_ID of a slot's key and certificate, and of a CA's root. */
unsigned char cardtoken_key_id(enum ca_kind slot);
unsigned char cardtoken_root_id(enum ca_kind ca);

/* The label OpenSC gives the token of `slot`'s PIN on a card labelled `card_label`, into `out`
 * (CARDTOKEN_LABEL_BYTES + 1): "card_label (Digital Signature PIN)", the card label cut short
 * when the whole does not fit in 32 bytes (framework-pkcs15.c, pkcs15_init_slot). */
void cardtoken_token_label(const char *card_label, enum ca_kind slot, char *out);

struct cardtoken;

/* Loads `module` (a PKCS#11 shared library) and finds the two tokens of the card labelled
 * `card_label`. Refuses, with one sentence naming the module, the token and the PKCS#11 return
 * code where there is one: a module that does not load (JERR_CONFIG, field "pkcs11"), a token
 * missing (JERR_NOT_FOUND, field "token"). Returns the card (cardtoken_free) or NULL. */
struct cardtoken *cardtoken_open(const char *module, const char *card_label, struct jerr *err);

/* Unloads the module and frees. NULL is a no-op. */
void cardtoken_free(struct cardtoken *ct);

/* The card label given to cardtoken_open (borrowed). */
const char *cardtoken_label(const struct cardtoken *ct);

/* Logs in to the token of `slot` with its PIN (the signing password or the authentication PIN).
 * A PIN outside the card's rule is refused without trying it (JERR_INVALID "password": it
 * cannot be right, and a try would count); a wrong PIN is JERR_AUTH "password", a locked one
 * JERR_FORBIDDEN "password" (the token's CKR code in the message). Returns 0 or -1. */
int cardtoken_login(struct cardtoken *ct, enum ca_kind slot, const char *pin, struct jerr *err);

/* Whether cardtoken_login(slot) succeeded on this card. */
bool cardtoken_is_logged_in(const struct cardtoken *ct, enum ca_kind slot);

/* The slot's certificate and a CA's root as the token shows them now (on a real card the
 * signing certificate is visible only after cardtoken_login(CA_SIGN)). Borrowed, valid until
 * the next call that changes objects; NULL when there is none. */
X509 *cardtoken_get0_cert(struct cardtoken *ct, enum ca_kind slot);
X509 *cardtoken_get0_root(struct cardtoken *ct, enum ca_kind ca);

/* The PIN state the token reports for `slot`: CARDTOKEN_PIN_* bits (CKF_USER_PIN_COUNT_LOW,
 * _FINAL_TRY, _LOCKED). A token without a counter (SoftHSM2) reports none, ever. */
#define CARDTOKEN_PIN_COUNT_LOW 1u
#define CARDTOKEN_PIN_FINAL_TRY 2u
#define CARDTOKEN_PIN_LOCKED 4u
unsigned cardtoken_pin_state(const struct cardtoken *ct, enum ca_kind slot);

/* The slot's private key, after cardtoken_login: an EVP_PKEY that signs on the token (the caller
 * frees it, before cardtoken_free). JERR_NOT_FOUND "slot" when the token holds none. */
EVP_PKEY *cardtoken_get_key(struct cardtoken *ct, enum ca_kind slot, struct jerr *err);

/* Whether the token of `slot` holds a certificate / a private key with the slot's id (a key is
 * visible only after login). */
bool cardtoken_has_cert(struct cardtoken *ct, enum ca_kind slot);

/* Issuance, after cardtoken_login(slot): generates a new key pair of spec `alg` (RSA or EC
 * on the issuing CA's curve) on the token of `slot`
 * through keystore/p11 (p11_generate: CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_EXTRACTABLE
 * false, CKA_SIGN only) with the slot's id and label, and returns a PKCS#10 request signed by
 * the new key (proof of possession, RFC 2986) in *csr (X509_REQ_free). A leftover key of an
 * interrupted issuance (a key without a certificate) is removed first; a slot that holds a
 * certificate is refused (JERR_CONFLICT "slot": a card is issued once). Returns 0 or -1. */
int cardtoken_generate(struct cardtoken *ct, enum ca_kind slot, const struct keyalg *alg,
                       const char *subject_cn, X509_REQ **csr, struct jerr *err);

/* After cardtoken_login(slot): writes `cert` as the slot's certificate (id and label of the
 * layout) on its token, after checking that it certifies the slot's key on the token
 * (JERR_INVALID "certificate"). Returns 0 or -1. */
int cardtoken_store_cert(struct cardtoken *ct, enum ca_kind slot, X509 *cert, struct jerr *err);

/* Writes `root` as CA `ca`'s root on the token of that slot, replacing a root already there.
 * Needs cardtoken_login(ca) on most tokens. Returns 0 or -1. */
int cardtoken_store_root(struct cardtoken *ct, enum ca_kind ca, X509 *root, struct jerr *err);

/* The holder's PIN change on the token of `slot` (C_SetPIN): `new_pin` must follow the card's
 * rule (checked first, JERR_INVALID "password", nothing tried). Returns 0 or -1 (a wrong old
 * PIN as cardtoken_login says). */
int cardtoken_change_pin(struct cardtoken *ct, enum ca_kind slot, const char *old_pin,
                         const char *new_pin, struct jerr *err);

/* Makes a blank card: initialises two fresh tokens of `module` (C_InitToken on uninitialised
 * ones, e.g. SoftHSM2's free slot) as the pair of `card_label` (1..CARDTOKEN_NEW_LABEL_MAX of
 * A-Z a-z 0-9 . _ -, JERR_INVALID "token"), each with security officer PIN `so_pin` and its
 * user PIN: `sign_pin` by the signing rule, `auth_pin` by the authentication rule (checked
 * before anything is done, JERR_INVALID "password"). A card of that label already present is
 * JERR_CONFLICT "token"; no uninitialised token JERR_NOT_FOUND "token". Returns 0 or -1. */
int cardtoken_init_card(const char *module, const char *card_label, const char *so_pin,
                        const char *sign_pin, const char *auth_pin, struct jerr *err);

#endif
