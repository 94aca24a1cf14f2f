/*
 * cardtoken: see cardtoken.h. The module and its two tokens are keystore/p11's (p11_module_get1,
 * p11_token_open, p11_login): loading, finding a token by label, logging in, making a blank
 * token and generating a key are done there once for jpkid and jpkictl. What is here is the
 * card: OpenSC's JPKI layout, its PIN rules, and its objects, found by CKA_ID through libp11's
 * PKCS11_* interface (no ENGINE) on the slot p11 hands out. libp11 caches the objects it has
 * listed and does not drop one it destroyed (PKCS11_remove_*), so after a removal the cache is
 * rebuilt by logging in again (p11_relogin). No function here ever reads a private key's bytes;
 * a key's EVP_PKEY signs through the token.
 */
#include "keystore/cardtoken.h"

#include <stdio.h>
#include <string.h>

#include <libp11.h>
#include <p11-kit/pkcs11.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "keystore/card.h"
#include "keystore/p11.h"

/* OpenSC's JPKI layout (src/libopensc/pkcs15-jpki.c): ids, labels, PIN labels. */
static const unsigned char key_ids[CA_KIND_COUNT] = {0x02, 0x01};  /* sign, auth */
static const unsigned char root_ids[CA_KIND_COUNT] = {0x04, 0x03}; /* sign CA, auth CA */
static const char *const key_labels[CA_KIND_COUNT] = {"Digital Signature Key",
                                                      "User Authentication Key"};
static const char *const cert_labels[CA_KIND_COUNT] = {"Digital Signature Certificate",
                                                       "User Authentication Certificate"};
static const char *const root_labels[CA_KIND_COUNT] = {"Digital Signature Certificate CA",
                                                       "User Authentication Certificate CA"};
static const char *const pin_labels[CA_KIND_COUNT] = {"Digital Signature PIN",
                                                      "User Authentication PIN"};

struct cardtoken {
    struct p11_module *mod;
    struct p11 *tok[CA_KIND_COUNT]; /* the token of each PIN */
    char token_label[CA_KIND_COUNT][CARDTOKEN_LABEL_BYTES + 1];
    char label[CARDTOKEN_LABEL_BYTES + 1];
    char module[256]; /* for messages, escaped */
};

unsigned char cardtoken_key_id(enum ca_kind slot)
{
    return key_ids[slot];
}

unsigned char cardtoken_root_id(enum ca_kind ca)
{
    return root_ids[ca];
}

void cardtoken_token_label(const char *card_label, enum ca_kind slot, char *out)
{
    /* framework-pkcs15.c, pkcs15_init_slot: "<token label> (<PIN label>)", the token label cut
     * to fit 32 bytes; only the PIN label when not even 4 characters of it would fit */
    size_t pin_len = strlen(pin_labels[slot]), card_len = strlen(card_label);
    if (card_len == 0 || pin_len + strlen("L... ()") > CARDTOKEN_LABEL_BYTES) {
        snprintf(out, CARDTOKEN_LABEL_BYTES + 1, "%s", pin_labels[slot]);
        return;
    }
    size_t keep = CARDTOKEN_LABEL_BYTES - pin_len - strlen(" ()");
    if (keep > card_len)
        keep = card_len;
    snprintf(out, CARDTOKEN_LABEL_BYTES + 1, "%.*s (%s)", (int)keep, card_label, pin_labels[slot]);
}

/* ---- errors ---- */

/* Fills err with "PKCS#11 module M, token T: <what>: CKR_X" (p11.h's names for `rv`; CKR_OK:
 * none known) and drains OpenSSL's error queue. */
static int token_fail_rv(const struct cardtoken *ct, enum ca_kind slot, int code, const char *field,
                         const char *what, unsigned long rv, struct jerr *err)
{
    char text[64] = "", name[32];
    if (rv != CKR_OK)
        snprintf(text, sizeof(text), ": %s", p11_rv_name(rv, name, sizeof(name)));
    ERR_clear_error();
    return jerr_set(err, code, field, "PKCS#11 module %s, token \"%s\": %s%s", ct->module,
                    ct->token_label[slot], what, text);
}

/* token_fail_rv with the return code libp11 left in the error queue (p11_last_rv). */
static int token_fail(const struct cardtoken *ct, enum ca_kind slot, int code, const char *field,
                      const char *what, struct jerr *err)
{
    return token_fail_rv(ct, slot, code, field, what, p11_last_rv(), err);
}

/* p11's sentence under this module's code and field (the card's callers tell a missing card
 * from a wrong PIN by them). */
static int rewrap(struct jerr *err, int code, const char *field, const struct jerr *from)
{
    return jerr_set(err, code, field, "%s", from->msg);
}

/* libp11's slot of `slot`'s token (p11_get0_slot). */
static PKCS11_SLOT *slot_of(struct cardtoken *ct, enum ca_kind slot)
{
    return p11_get0_slot(ct->tok[slot]);
}

/* ---- the module and its tokens ---- */

/* The module, or NULL with err (JERR_CONFIG "pkcs11"). */
static struct p11_module *load_module(const char *module, struct jerr *err)
{
    struct jerr why = {0};
    struct p11_module *m = p11_module_get1(module, &why);
    if (m == NULL)
        rewrap(err, JERR_CONFIG, "pkcs11", &why);
    return m;
}

void cardtoken_free(struct cardtoken *ct)
{
    if (ct == NULL)
        return;
    for (int s = 0; s < CA_KIND_COUNT; s++)
        p11_free(ct->tok[s]); /* logs out, wipes the PIN */
    p11_module_free(ct->mod);
    OPENSSL_cleanse(ct, sizeof(*ct));
    OPENSSL_free(ct);
}

struct cardtoken *cardtoken_open(const char *module, const char *card_label, struct jerr *err)
{
    struct cardtoken *ct = OPENSSL_zalloc(sizeof(*ct));
    if (ct == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    snprintf(ct->label, sizeof(ct->label), "%s", card_label);
    if (strlen(card_label) > CARDTOKEN_LABEL_BYTES) {
        jerr_set(err, JERR_INVALID, "token", "a token label has at most %d bytes",
                 CARDTOKEN_LABEL_BYTES);
        goto fail;
    }
    jerr_escape(ct->module, sizeof(ct->module), module, strlen(module));
    if ((ct->mod = load_module(module, err)) == NULL)
        goto fail;
    for (int s = 0; s < CA_KIND_COUNT; s++) {
        struct jerr why = {0};
        cardtoken_token_label(card_label, (enum ca_kind)s, ct->token_label[s]);
        if ((ct->tok[s] = p11_token_open(ct->mod, ct->token_label[s], &why)) == NULL) {
            char shown[CARDTOKEN_LABEL_BYTES * 4 + 1];
            if (why.code != JERR_NOT_FOUND) {
                rewrap(err, why.code, "token", &why);
                goto fail;
            }
            jerr_escape(shown, sizeof(shown), ct->token_label[s], strlen(ct->token_label[s]));
            jerr_set(err, JERR_NOT_FOUND, "token",
                     "PKCS#11 module %s has no token \"%s\" (is the card in the reader? "
                     "the card shows one token per PIN)",
                     ct->module, shown);
            goto fail;
        }
    }
    return ct;
fail:
    cardtoken_free(ct);
    return NULL;
}

const char *cardtoken_label(const struct cardtoken *ct)
{
    return ct->label;
}

unsigned cardtoken_pin_state(const struct cardtoken *ct, enum ca_kind slot)
{
    const PKCS11_SLOT *s = p11_get0_slot(ct->tok[slot]);
    const PKCS11_TOKEN *t = s != NULL ? s->token : NULL;
    if (t == NULL)
        return 0;
    return (t->userPinCountLow ? CARDTOKEN_PIN_COUNT_LOW : 0u) |
           (t->userPinFinalTry ? CARDTOKEN_PIN_FINAL_TRY : 0u) |
           (t->userPinLocked ? CARDTOKEN_PIN_LOCKED : 0u);
}

/* ---- login ---- */

int cardtoken_login(struct cardtoken *ct, enum ca_kind slot, const char *pin, struct jerr *err)
{
    const char *which = slot == CA_SIGN ? "signing password" : "authentication PIN";
    PKCS11_SLOT *s = slot_of(ct, slot);
    struct jerr why = {0};
    unsigned long rv;

    /* DESIGN §1: a PIN outside the rule cannot be right; trying it would cost a try */
    if (card_image_check_password(slot, pin, err) == -1)
        return -1;
    /* read-write where the token allows it: issuance writes objects */
    if (p11_login(ct->tok[slot], pin, s != NULL && !s->token->readOnly, &rv, &why) == 0)
        return 0;
    if (rv == CKR_PIN_INCORRECT)
        return token_fail_rv(ct, slot, JERR_AUTH, "password",
                             slot == CA_SIGN
                                 ? "wrong signing password (the token counts the try)"
                                 : "wrong authentication PIN (the token counts the try)",
                             rv, err);
    if (rv == CKR_PIN_LOCKED)
        return jerr_set(err, JERR_FORBIDDEN, "password",
                        "slot locked: the token \"%s\" has locked its %s after too many wrong "
                        "tries (CKR_PIN_LOCKED)",
                        ct->token_label[slot], which);
    return rewrap(err, JERR_IO, "token", &why);
}

bool cardtoken_is_logged_in(const struct cardtoken *ct, enum ca_kind slot)
{
    return p11_is_logged_in(ct->tok[slot]);
}

/* Rebuilds libp11's object cache of `slot`'s token after a removal (see the file comment). */
static int refresh(struct cardtoken *ct, enum ca_kind slot, struct jerr *err)
{
    struct jerr why = {0};
    if (p11_relogin(ct->tok[slot], &why) == -1)
        return rewrap(err, JERR_IO, "token", &why);
    return 0;
}

/* ---- objects ---- */

static PKCS11_CERT *find_cert_on(struct cardtoken *ct, PKCS11_SLOT *s, unsigned char id)
{
    PKCS11_CERT *certs = NULL;
    unsigned int n = 0;
    if (s == NULL || PKCS11_enumerate_certs(s->token, &certs, &n) != 0) {
        ERR_clear_error();
        return NULL;
    }
    (void)ct;
    for (unsigned int i = 0; i < n; i++)
        if (certs[i].id_len == 1 && certs[i].id[0] == id && certs[i].x509 != NULL)
            return &certs[i];
    return NULL;
}

/* A certificate with `id`: on `home`'s token first, then on the other (OpenSC shows a real
 * card's public objects on each of its tokens). */
static X509 *find_cert(struct cardtoken *ct, enum ca_kind home, unsigned char id)
{
    PKCS11_CERT *c = find_cert_on(ct, slot_of(ct, home), id);
    if (c == NULL)
        c = find_cert_on(ct, slot_of(ct, home == CA_SIGN ? CA_AUTH : CA_SIGN), id);
    return c != NULL ? c->x509 : NULL;
}

X509 *cardtoken_get0_cert(struct cardtoken *ct, enum ca_kind slot)
{
    return find_cert(ct, slot, key_ids[slot]);
}

X509 *cardtoken_get0_root(struct cardtoken *ct, enum ca_kind ca)
{
    return find_cert(ct, ca, root_ids[ca]);
}

bool cardtoken_has_cert(struct cardtoken *ct, enum ca_kind slot)
{
    return find_cert_on(ct, slot_of(ct, slot), key_ids[slot]) != NULL;
}

static PKCS11_KEY *find_key(struct cardtoken *ct, enum ca_kind slot, bool private_key)
{
    PKCS11_KEY *keys = NULL;
    unsigned int n = 0;
    PKCS11_SLOT *s = slot_of(ct, slot);
    int rc = s == NULL     ? -1
             : private_key ? PKCS11_enumerate_keys(s->token, &keys, &n)
                           : PKCS11_enumerate_public_keys(s->token, &keys, &n);
    if (rc != 0) {
        ERR_clear_error();
        return NULL;
    }
    for (unsigned int i = 0; i < n; i++)
        if (keys[i].id_len == 1 && keys[i].id[0] == key_ids[slot])
            return &keys[i];
    return NULL;
}

EVP_PKEY *cardtoken_get_key(struct cardtoken *ct, enum ca_kind slot, struct jerr *err)
{
    PKCS11_KEY *key = find_key(ct, slot, true);
    EVP_PKEY *pkey;
    if (key == NULL) {
        jerr_set(err, JERR_NOT_FOUND, "slot", "the token \"%s\" holds no %s (CKA_ID %02X)",
                 ct->token_label[slot], key_labels[slot], key_ids[slot]);
        return NULL;
    }
    if ((pkey = PKCS11_get_private_key(key)) == NULL)
        token_fail(ct, slot, JERR_IO, "token", "the private key cannot be used", err);
    return pkey;
}

/* Removes every key (private and public) with the slot's id; rebuilds the cache after. */
static int remove_keys(struct cardtoken *ct, enum ca_kind slot, struct jerr *err)
{
    bool removed = false;
    for (int pass = 0; pass < 2; pass++) {
        PKCS11_KEY *k = find_key(ct, slot, pass == 0);
        if (k == NULL)
            continue;
        if (PKCS11_remove_key(k) != 0)
            return token_fail(ct, slot, JERR_IO, "token", "C_DestroyObject failed", err);
        removed = true;
    }
    return removed ? refresh(ct, slot, err) : 0;
}

/* A plain copy of `key`'s public half, tied to no token: an X509_REQ keeps a reference to the
 * key it is given, and a libp11 key must not outlive its module (p11.h), so the request gets
 * this copy. Returns the key or NULL. */
static EVP_PKEY *public_copy(EVP_PKEY *key)
{
    unsigned char *der = NULL;
    const unsigned char *p;
    EVP_PKEY *pub = NULL;
    int len = i2d_PUBKEY(key, &der);
    if (len > 0) {
        p = der;
        pub = d2i_PUBKEY(NULL, &p, len);
    }
    OPENSSL_free(der);
    return pub;
}

/* A PKCS#10 request for `key`'s public half signed by `key`. The subject is a CN only: the
 * service ignores it (docs/API.md). */
static int make_csr(EVP_PKEY *key, const char *cn, X509_REQ **out, struct jerr *err)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = NULL;
    EVP_PKEY *pub = public_copy(key);
    int rc = -1;

    if (req == NULL || pub == NULL || X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
        (name = X509_NAME_new()) == NULL ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                   0) != 1 ||
        X509_REQ_set_subject_name(req, name) != 1 || X509_REQ_set_pubkey(req, pub) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot build the certificate request");
        goto out;
    }
    /* RFC 2986 §3: the request is signed by the key it carries — the proof of possession —
     * with the key's digest (SHA-256 for RSA, SHA-384 for P-384, SHA-512 for P-521) */
    const char *digest = keyalg_key_digest(pub);
    if (digest == NULL || X509_REQ_sign(req, key, EVP_get_digestbyname(digest)) <= 0) {
        jerr_openssl(err, JERR_CRYPTO, "token", "the token did not sign the certificate request");
        goto out;
    }
    if (X509_REQ_verify(req, pub) != 1) {
        jerr_openssl(err, JERR_CRYPTO, "token",
                     "the token's signature over the request does not verify");
        goto out;
    }
    *out = req;
    req = NULL;
    rc = 0;
out:
    EVP_PKEY_free(pub);
    X509_NAME_free(name);
    X509_REQ_free(req);
    return rc;
}

/* Generates the slot's pair through keystore/p11 — libp11 0.4.12 alone cannot set
 * CKA_EXTRACTABLE; p11_generate sets it false, and CKA_SIGN only — and signs the request
 * with it. */
static int generate_on_token(struct cardtoken *ct, enum ca_kind slot, const struct keyalg *alg,
                             const char *subject_cn, X509_REQ **csr, struct jerr *err)
{
    unsigned char id = key_ids[slot];
    struct jerr why = {0};
    EVP_PKEY *key = NULL;
    int rc = -1;

    if (p11_generate(ct->tok[slot], key_labels[slot], &id, 1, alg, &why) == -1 ||
        (key = p11_get1_private_key(ct->tok[slot], key_labels[slot], &why)) == NULL) {
        rewrap(err, why.code == JERR_CONFLICT ? JERR_CONFLICT : JERR_IO, "token", &why);
        goto out;
    }
    rc = make_csr(key, subject_cn, csr, err);
out:
    EVP_PKEY_free(key); /* nothing else holds it (public_copy) */
    return rc;
}

int cardtoken_generate(struct cardtoken *ct, enum ca_kind slot, const struct keyalg *alg,
                       const char *subject_cn, X509_REQ **csr, struct jerr *err)
{
    *csr = NULL;
    if (!p11_is_logged_in(ct->tok[slot]))
        return jerr_set(err, JERR_INTERNAL, "token", "cardtoken_generate before the login");
    if (cardtoken_has_cert(ct, slot))
        return jerr_set(err, JERR_CONFLICT, "slot",
                        "the token \"%s\" already holds a %s: a card is issued once; initialise "
                        "a new card",
                        ct->token_label[slot], cert_labels[slot]);
    /* a key without its certificate: an issuance that did not finish */
    if (remove_keys(ct, slot, err) == -1)
        return -1;
    if (generate_on_token(ct, slot, alg, subject_cn, csr, err) == -1) {
        X509_REQ_free(*csr);
        *csr = NULL;
        return -1;
    }
    return 0;
}

int cardtoken_store_cert(struct cardtoken *ct, enum ca_kind slot, X509 *cert, struct jerr *err)
{
    unsigned char id = key_ids[slot];
    /* the private key object's EVP_PKEY carries the public half; libp11 0.4.12 leaks the
     * object behind a public key object's EVP_PKEY (PKCS11_get_public_key), so that is not
     * used */
    PKCS11_KEY *k = find_key(ct, slot, true);
    EVP_PKEY *pub = k != NULL ? PKCS11_get_private_key(k) : NULL;
    int rc = -1;

    ERR_clear_error();
    /* the certificate must certify the key the token holds for this slot */
    if (pub == NULL || EVP_PKEY_eq(pub, X509_get0_pubkey(cert)) != 1) {
        jerr_set(err, JERR_INVALID, "certificate",
                 "the %s does not certify the key on the token \"%s\"", cert_labels[slot],
                 ct->token_label[slot]);
        goto out;
    }
    if (PKCS11_store_certificate(slot_of(ct, slot)->token, cert, (char *)cert_labels[slot], &id, 1,
                                 NULL) != 0) {
        token_fail(ct, slot, JERR_IO, "token", "C_CreateObject of the certificate failed", err);
        goto out;
    }
    rc = 0;
out:
    ERR_clear_error();
    EVP_PKEY_free(pub);
    return rc;
}

int cardtoken_store_root(struct cardtoken *ct, enum ca_kind ca, X509 *root, struct jerr *err)
{
    unsigned char id = root_ids[ca];
    PKCS11_CERT *old = find_cert_on(ct, slot_of(ct, ca), id);
    if (old != NULL && X509_cmp(old->x509, root) == 0)
        return 0;
    if (old != NULL) {
        if (PKCS11_remove_certificate(old) != 0)
            return token_fail(ct, ca, JERR_IO, "token", "C_DestroyObject of the old root failed",
                              err);
        if (refresh(ct, ca, err) == -1)
            return -1;
    }
    if (PKCS11_store_certificate(slot_of(ct, ca)->token, root, (char *)root_labels[ca], &id, 1,
                                 NULL) != 0)
        return token_fail(ct, ca, JERR_IO, "token", "C_CreateObject of the root failed", err);
    return 0;
}

int cardtoken_change_pin(struct cardtoken *ct, enum ca_kind slot, const char *old_pin,
                         const char *new_pin, struct jerr *err)
{
    if (card_image_check_password(slot, new_pin, err) == -1)
        return -1;
    if (cardtoken_login(ct, slot, old_pin, err) == -1)
        return -1;
    struct jerr why = {0};
    if (p11_change_pin(ct->tok[slot], old_pin, new_pin, &why) == -1)
        return rewrap(err, JERR_IO, "token", &why);
    return 0;
}

/* ---- a blank card ---- */

static bool is_label_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '.' ||
           c == '_' || c == '-';
}

int cardtoken_init_card(const char *module, const char *card_label, const char *so_pin,
                        const char *sign_pin, const char *auth_pin, struct jerr *err)
{
    char token_label[CA_KIND_COUNT][CARDTOKEN_LABEL_BYTES + 1];
    const char *pins[CA_KIND_COUNT] = {sign_pin, auth_pin};
    struct p11_module *mod = NULL;
    struct jerr why = {0};
    size_t n = strlen(card_label);
    int rc = -1;

    if (n == 0 || n > CARDTOKEN_NEW_LABEL_MAX)
        return jerr_set(err, JERR_INVALID, "token",
                        "a new card's label has 1 to %d characters, so that its tokens' labels "
                        "fit PKCS#11's 32 bytes whole",
                        CARDTOKEN_NEW_LABEL_MAX);
    for (size_t i = 0; i < n; i++)
        if (!is_label_char(card_label[i]))
            return jerr_set(err, JERR_INVALID, "token",
                            "a new card's label is made of A-Z a-z 0-9 . _ -");
    /* DESIGN §1: the card's PIN rules, before anything is written */
    if (card_image_check_password(CA_SIGN, sign_pin, err) == -1 ||
        card_image_check_password(CA_AUTH, auth_pin, err) == -1)
        return -1;
    if (so_pin == NULL || so_pin[0] == '\0')
        return jerr_set(err, JERR_INVALID, "so_pin", "the security officer PIN is empty");
    if ((mod = load_module(module, err)) == NULL)
        return -1;
    for (int s = 0; s < CA_KIND_COUNT; s++) {
        cardtoken_token_label(card_label, (enum ca_kind)s, token_label[s]);
        if (p11_module_has_token(mod, token_label[s])) {
            char shown[256];
            jerr_escape(shown, sizeof(shown), module, strlen(module));
            jerr_set(err, JERR_CONFLICT, "token",
                     "PKCS#11 module %s already has a token \"%s\": the card exists", shown,
                     token_label[s]);
            goto out;
        }
    }
    for (int s = 0; s < CA_KIND_COUNT; s++)
        if (p11_module_init_token(mod, token_label[s], so_pin, pins[s], &why) == -1) {
            rewrap(err, why.code == JERR_NOT_FOUND ? JERR_NOT_FOUND : JERR_IO, "token", &why);
            goto out;
        }
    rc = 0;
out:
    p11_module_free(mod);
    return rc;
}
