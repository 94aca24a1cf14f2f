/*
 * p11: one PKCS#11 token through libp11 (see p11.h).
 *
 * What it owns: a libp11 context (the loaded module), its slot list, the one slot whose token
 * carries the configured label, and a copy of the user PIN (for p11_reopen). What it never
 * does: read a private key out of the token, or keep a session of its own open between calls
 * (libp11's pool holds the signing sessions).
 *
 * Why the module's function list is also used directly: libp11 0.4.12 generates keys without
 * CKA_EXTRACTABLE (the token's default then decides, and PKCS#11 lets that default be true)
 * and has no way to read an attribute back. Those two operations open a session of their own
 * with the module libp11 loaded; the login libp11 made covers it (PKCS#11 v2.40 §5.6: all the
 * sessions of an application share one login state).
 */
#include "keystore/p11.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libp11.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

/* PKCS#11 v2.40 §3.2: a token label is 32 bytes, blank-padded. */
#define P11_LABEL_MAX 32

struct p11 {
    char *module;
    char *token;
    char *pin; /* wiped on free */
    PKCS11_CTX *ctx;
    PKCS11_SLOT *slots;
    unsigned int nslots;
    PKCS11_SLOT *slot;       /* the one holding the token; in slots */
    void *dl;                /* our own reference to the module, for fl */
    CK_FUNCTION_LIST_PTR fl; /* the module's functions (see the top of the file) */
};

/* ---- Return codes ---- */

static const struct {
    unsigned long rv;
    const char *name;
} rv_names[] = {
    {CKR_OK, "CKR_OK"},
    {CKR_CANCEL, "CKR_CANCEL"},
    {CKR_HOST_MEMORY, "CKR_HOST_MEMORY"},
    {CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID"},
    {CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR"},
    {CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED"},
    {CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD"},
    {CKR_ATTRIBUTE_READ_ONLY, "CKR_ATTRIBUTE_READ_ONLY"},
    {CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE"},
    {CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID"},
    {CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID"},
    {CKR_DATA_INVALID, "CKR_DATA_INVALID"},
    {CKR_DATA_LEN_RANGE, "CKR_DATA_LEN_RANGE"},
    {CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR"},
    {CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY"},
    {CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED"},
    {CKR_FUNCTION_CANCELED, "CKR_FUNCTION_CANCELED"},
    {CKR_FUNCTION_NOT_SUPPORTED, "CKR_FUNCTION_NOT_SUPPORTED"},
    {CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID"},
    {CKR_KEY_SIZE_RANGE, "CKR_KEY_SIZE_RANGE"},
    {CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT"},
    {CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED"},
    {CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID"},
    {CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID"},
    {CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID"},
    {CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE"},
    {CKR_OPERATION_NOT_INITIALIZED, "CKR_OPERATION_NOT_INITIALIZED"},
    {CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT"},
    {CKR_PIN_INVALID, "CKR_PIN_INVALID"},
    {CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE"},
    {CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED"},
    {CKR_PIN_LOCKED, "CKR_PIN_LOCKED"},
    {CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED"},
    {CKR_SESSION_COUNT, "CKR_SESSION_COUNT"},
    {CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID"},
    {CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY"},
    {CKR_SIGNATURE_INVALID, "CKR_SIGNATURE_INVALID"},
    {CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE"},
    {CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT"},
    {CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT"},
    {CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED"},
    {CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED"},
    {CKR_USER_ALREADY_LOGGED_IN, "CKR_USER_ALREADY_LOGGED_IN"},
    {CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN"},
    {CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED"},
    {CKR_USER_TYPE_INVALID, "CKR_USER_TYPE_INVALID"},
    {CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL"},
    {CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED"},
    {CKR_CRYPTOKI_ALREADY_INITIALIZED, "CKR_CRYPTOKI_ALREADY_INITIALIZED"},
};

const char *p11_rv_name(unsigned long rv, char *buf, size_t size)
{
    for (size_t i = 0; i < sizeof(rv_names) / sizeof(rv_names[0]); i++)
        if (rv_names[i].rv == rv)
            return rv_names[i].name;
    snprintf(buf, size, "CKR_0x%08lX", rv);
    return buf;
}

bool p11_rv_is_lost(unsigned long rv)
{
    switch (rv) {
    case CKR_DEVICE_ERROR:
    case CKR_DEVICE_REMOVED:
    case CKR_DEVICE_MEMORY:
    case CKR_GENERAL_ERROR:
    case CKR_SESSION_CLOSED:
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_TOKEN_NOT_RECOGNIZED:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_KEY_HANDLE_INVALID:
    case CKR_OBJECT_HANDLE_INVALID:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
        return true;
    default:
        return false;
    }
}

/* libp11 puts a failed call's CK_RV in OpenSSL's error queue as the reason of an error of its
 * "CKR" library (p11_err.c: ERR_CKR_error). */
unsigned long p11_last_rv(void)
{
    unsigned long e, rv = CKR_OK;
    int lib = ERR_get_CKR_code();
    while ((e = ERR_get_error()) != 0)
        if (ERR_GET_LIB(e) == lib)
            rv = (unsigned long)ERR_GET_REASON(e);
    return rv;
}

/* The JERR code a return code maps to. */
static int rv_code(unsigned long rv, int code)
{
    if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_EXPIRED ||
        rv == CKR_PIN_INVALID || rv == CKR_PIN_LEN_RANGE || rv == CKR_USER_PIN_NOT_INITIALIZED)
        return JERR_AUTH;
    if (p11_rv_is_lost(rv))
        return JERR_UNAVAILABLE;
    return code;
}

/* One sentence for a failed call `what` with return code `rv` (CKR_OK: none known). */
static int fail_rv(const char *module, const char *token, struct jerr *err, int code,
                   const char *what, unsigned long rv)
{
    char m[256], t[2 * P11_LABEL_MAX + 8], buf[32];
    jerr_escape(m, sizeof(m), module, strlen(module));
    jerr_escape(t, sizeof(t), token, strlen(token));
    if (rv == CKR_OK)
        return jerr_set(err, code, "keystore.pkcs11", "PKCS#11 module %s, token \"%s\": %s", m, t,
                        what);
    return jerr_set(err, rv_code(rv, code), "keystore.pkcs11",
                    "PKCS#11 module %s, token \"%s\": %s failed: %s", m, t, what,
                    p11_rv_name(rv, buf, sizeof(buf)));
}

int p11_fail(const struct p11 *p, struct jerr *err, int code, const char *what)
{
    unsigned long rv = p11_last_rv();
    ERR_clear_error();
    if (rv == CKR_OK) {
        char why[200];
        snprintf(why, sizeof(why), "%s failed (no PKCS#11 return code)", what);
        return fail_rv(p->module, p->token, err, code, why, rv);
    }
    return fail_rv(p->module, p->token, err, code, what, rv);
}

/* ---- Opening ---- */

static void p11_disconnect(struct p11 *p)
{
    if (p->slots != NULL)
        PKCS11_release_all_slots(p->ctx, p->slots, p->nslots);
    p->slots = NULL;
    p->nslots = 0;
    p->slot = NULL;
    p->fl = NULL;
    if (p->dl != NULL)
        dlclose(p->dl);
    p->dl = NULL;
    if (p->ctx != NULL) {
        PKCS11_CTX_unload(p->ctx); /* C_Finalize: every session and the login end */
        PKCS11_CTX_free(p->ctx);
    }
    p->ctx = NULL;
}

/* Loads the module, finds the token and logs in. On failure everything is released again. */
static int p11_connect(struct p11 *p, struct jerr *err)
{
    struct stat st;
    int rc = -1;

    /* libp11 says only "cannot load"; the usual reason is a wrong path. */
    if (stat(p->module, &st) == -1) {
        char why[160];
        snprintf(why, sizeof(why), "cannot load the module: %s", strerror(errno));
        return fail_rv(p->module, p->token, err, JERR_CONFIG, why, CKR_OK);
    }
    p->ctx = PKCS11_CTX_new();
    if (p->ctx == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    if (PKCS11_CTX_load(p->ctx, p->module) != 0) {
        unsigned long rv = p11_last_rv();
        ERR_clear_error();
        fail_rv(p->module, p->token, err, JERR_CONFIG,
                rv != CKR_OK ? "C_Initialize" : "cannot load the module (not a PKCS#11 module?)",
                rv);
        PKCS11_CTX_free(p->ctx);
        p->ctx = NULL;
        goto out;
    }
    if (PKCS11_enumerate_slots(p->ctx, &p->slots, &p->nslots) != 0) {
        p11_fail(p, err, JERR_UNAVAILABLE, "C_GetSlotList");
        goto out;
    }
    for (unsigned int i = 0; i < p->nslots && p->slot == NULL; i++) {
        PKCS11_TOKEN *t = p->slots[i].token;
        if (t != NULL && t->initialized && t->label != NULL && strcmp(t->label, p->token) == 0)
            p->slot = &p->slots[i];
    }
    if (p->slot == NULL) {
        fail_rv(p->module, p->token, err, JERR_CONFIG,
                "no token with this label is present (CKR_TOKEN_NOT_PRESENT)", CKR_OK);
        goto out;
    }
    /* Say "locked" before trying: a wrong attempt on a locked token teaches nothing. */
    if (p->slot->token->userPinLocked) {
        fail_rv(p->module, p->token, err, JERR_AUTH, "C_Login", CKR_PIN_LOCKED);
        goto out;
    }
    if (PKCS11_login(p->slot, 0, p->pin) != 0) {
        p11_fail(p, err, JERR_AUTH, "C_Login");
        goto out;
    }

    /* Our own reference to the same module (dlopen returns libp11's instance). */
    CK_C_GetFunctionList get_list;
    p->dl = dlopen(p->module, RTLD_NOW | RTLD_LOCAL);
    if (p->dl == NULL ||
        (get_list = (CK_C_GetFunctionList)dlsym(p->dl, "C_GetFunctionList")) == NULL ||
        get_list(&p->fl) != CKR_OK || p->fl == NULL) {
        fail_rv(p->module, p->token, err, JERR_CONFIG, "C_GetFunctionList failed", CKR_OK);
        goto out;
    }
    rc = 0;
out:
    if (rc == -1)
        p11_disconnect(p);
    return rc;
}

struct p11 *p11_open(const char *module, const char *token, const char *pin, struct jerr *err)
{
    struct p11 *p = NULL;

    if (module == NULL || module[0] == '\0' || token == NULL || token[0] == '\0' || pin == NULL) {
        jerr_set(err, JERR_CONFIG, "keystore.pkcs11", "PKCS#11: module, token and PIN are needed");
        return NULL;
    }
    if (strlen(token) > P11_LABEL_MAX) {
        jerr_set(err, JERR_CONFIG, "keystore.pkcs11.token",
                 "PKCS#11: a token label has at most %d bytes", P11_LABEL_MAX);
        return NULL;
    }
    p = OPENSSL_zalloc(sizeof(*p));
    if (p == NULL || (p->module = OPENSSL_strdup(module)) == NULL ||
        (p->token = OPENSSL_strdup(token)) == NULL || (p->pin = OPENSSL_strdup(pin)) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        p11_free(p);
        return NULL;
    }
    if (p11_connect(p, err) == -1) {
        p11_free(p);
        return NULL;
    }
    return p;
}

void p11_free(struct p11 *p)
{
    if (p == NULL)
        return;
    if (p->slot != NULL)
        PKCS11_logout(p->slot);
    p11_disconnect(p);
    OPENSSL_free(p->module);
    OPENSSL_free(p->token);
    if (p->pin != NULL)
        OPENSSL_clear_free(p->pin, strlen(p->pin));
    OPENSSL_free(p);
}

int p11_reopen(struct p11 *p, struct jerr *err)
{
    p11_disconnect(p);
    ERR_clear_error();
    return p11_connect(p, err);
}

const char *p11_module_path(const struct p11 *p)
{
    return p->module;
}

const char *p11_token_label(const struct p11 *p)
{
    return p->token;
}

/* ---- Keys ---- */

/* The private key labelled `label` in libp11's list (re-read from the token), or NULL. */
static PKCS11_KEY *find_private_key(struct p11 *p, const char *label, struct jerr *err)
{
    PKCS11_KEY *keys = NULL;
    unsigned int n = 0;

    if (PKCS11_enumerate_keys(p->slot->token, &keys, &n) != 0) {
        p11_fail(p, err, JERR_UNAVAILABLE, "C_FindObjects");
        return NULL;
    }
    for (unsigned int i = 0; i < n; i++)
        if (keys[i].isPrivate && keys[i].label != NULL && strcmp(keys[i].label, label) == 0)
            return &keys[i];
    char what[160];
    snprintf(what, sizeof(what), "no private key labelled \"%.64s\"", label);
    fail_rv(p->module, p->token, err, JERR_NOT_FOUND, what, CKR_OK);
    return NULL;
}

EVP_PKEY *p11_get1_private_key(struct p11 *p, const char *label, struct jerr *err)
{
    PKCS11_KEY *key = find_private_key(p, label, err);
    if (key == NULL)
        return NULL;
    EVP_PKEY *pkey = PKCS11_get_private_key(key);
    if (pkey == NULL)
        p11_fail(p, err, JERR_UNAVAILABLE, "C_GetAttributeValue (reading the key)");
    return pkey;
}

bool p11_has_private_key(struct p11 *p, const char *label)
{
    struct jerr ignored = {0};
    ERR_set_mark();
    bool found = find_private_key(p, label, &ignored) != NULL;
    ERR_pop_to_mark();
    return found;
}

/* A read-write session of our own on the token's slot (see the top of the file). */
static int raw_session(struct p11 *p, CK_SESSION_HANDLE *session, struct jerr *err)
{
    CK_SLOT_ID slot_id = PKCS11_get_slotid_from_slot(p->slot);
    CK_RV rv =
        p->fl->C_OpenSession(slot_id, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, session);
    if (rv != CKR_OK)
        return fail_rv(p->module, p->token, err, JERR_UNAVAILABLE, "C_OpenSession", rv);
    return 0;
}

/* The handle of the object of `klass` labelled `label`; *found false when there is none. */
static int raw_find(struct p11 *p, CK_SESSION_HANDLE session, CK_OBJECT_CLASS klass,
                    const char *label, CK_OBJECT_HANDLE *obj, bool *found, struct jerr *err)
{
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &klass, sizeof(klass)},
        {CKA_LABEL, (void *)label, strlen(label)},
    };
    CK_ULONG count = 0;
    CK_RV rv = p->fl->C_FindObjectsInit(session, tmpl, 2);
    if (rv != CKR_OK)
        return fail_rv(p->module, p->token, err, JERR_UNAVAILABLE, "C_FindObjectsInit", rv);
    rv = p->fl->C_FindObjects(session, obj, 1, &count);
    p->fl->C_FindObjectsFinal(session);
    if (rv != CKR_OK)
        return fail_rv(p->module, p->token, err, JERR_UNAVAILABLE, "C_FindObjects", rv);
    *found = count == 1;
    return 0;
}

int p11_generate(struct p11 *p, const char *label, const unsigned char *id, size_t id_len,
                 const struct keyalg *alg, struct jerr *err)
{
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE pub, priv;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG modulus_bits = (CK_ULONG)alg->bits;
    CK_BYTE public_exponent[] = {0x01, 0x00, 0x01}; /* 65537 */
    CK_MECHANISM mech = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    unsigned char *ec_params = NULL; /* DER of the curve's OID (ECParameters namedCurve) */
    bool found = false;
    int rc = -1, ec_params_len = 0;

    if (!keyalg_is_ec(alg) && (alg->bits < KEYALG_RSA_BITS_MIN || alg->bits > KEYALG_RSA_BITS_MAX))
        return jerr_set(err, JERR_INVALID, "key_bits", "RSA key size %d is outside %d..%d",
                        alg->bits, KEYALG_RSA_BITS_MIN, KEYALG_RSA_BITS_MAX);
    if (keyalg_is_ec(alg)) {
        ec_params_len = i2d_ASN1_OBJECT(OBJ_nid2obj(keyalg_curve_nid(alg)), &ec_params);
        if (ec_params_len <= 0)
            return jerr_openssl(err, JERR_INTERNAL, NULL, "cannot encode the curve's OID");
        mech.mechanism = CKM_EC_KEY_PAIR_GEN;
    }
    if (raw_session(p, &session, err) == -1) {
        OPENSSL_free(ec_params);
        return -1;
    }
    if (raw_find(p, session, CKO_PRIVATE_KEY, label, &priv, &found, err) == -1)
        goto out;
    if (found) {
        char what[160];
        snprintf(what, sizeof(what),
                 "a key labelled \"%.64s\" already exists; refusing to add "
                 "another",
                 label);
        fail_rv(p->module, p->token, err, JERR_CONFLICT, what, CKR_OK);
        goto out;
    }
    /* The algorithm's own attributes come last: RSA's two, or EC's one (an EC public key
     * takes neither CKA_ENCRYPT nor CKA_WRAP: PKCS#11 v2.40 §2.3.3 has no such operations). */
    CK_ATTRIBUTE pub_tmpl[] = {
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &no, sizeof(no)},
        {CKA_VERIFY, &yes, sizeof(yes)},
        {CKA_LABEL, (void *)label, strlen(label)},
        {CKA_ID, (void *)id, id_len},
        {CKA_ENCRYPT, &no, sizeof(no)},
        {CKA_WRAP, &no, sizeof(no)},
        {CKA_MODULUS_BITS, &modulus_bits, sizeof(modulus_bits)},
        {CKA_PUBLIC_EXPONENT, public_exponent, sizeof(public_exponent)},
    };
    CK_ULONG pub_count = sizeof(pub_tmpl) / sizeof(pub_tmpl[0]);
    if (keyalg_is_ec(alg)) {
        pub_tmpl[5] = (CK_ATTRIBUTE){CKA_EC_PARAMS, ec_params, (CK_ULONG)ec_params_len};
        pub_count = 6;
    }
    /* PKCS#11 v2.40 §4.9: a sensitive, non-extractable key never leaves the token in the
     * clear nor wrapped; it signs and does nothing else. */
    CK_ATTRIBUTE priv_tmpl[] = {
        {CKA_TOKEN, &yes, sizeof(yes)},     {CKA_PRIVATE, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &yes, sizeof(yes)}, {CKA_EXTRACTABLE, &no, sizeof(no)},
        {CKA_SIGN, &yes, sizeof(yes)},      {CKA_LABEL, (void *)label, strlen(label)},
        {CKA_ID, (void *)id, id_len},       {CKA_DECRYPT, &no, sizeof(no)},
        {CKA_UNWRAP, &no, sizeof(no)},
    };
    /* EC private keys have no decrypt/unwrap either (ECDH would be CKA_DERIVE, left false). */
    CK_ULONG priv_count = sizeof(priv_tmpl) / sizeof(priv_tmpl[0]) - (keyalg_is_ec(alg) ? 2 : 0);
    CK_RV rv = p->fl->C_GenerateKeyPair(session, &mech, pub_tmpl, pub_count, priv_tmpl, priv_count,
                                        &pub, &priv);
    if (rv != CKR_OK) {
        fail_rv(p->module, p->token, err, JERR_UNAVAILABLE, "C_GenerateKeyPair", rv);
        goto out;
    }
    rc = 0;
out:
    p->fl->C_CloseSession(session);
    OPENSSL_free(ec_params);
    return rc;
}

int p11_key_protection(struct p11 *p, const char *label, struct p11_key_protection *out,
                       struct jerr *err)
{
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE priv;
    CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE, never = CK_FALSE, always = CK_FALSE;
    bool found = false;
    int rc = -1;

    if (raw_session(p, &session, err) == -1)
        return -1;
    if (raw_find(p, session, CKO_PRIVATE_KEY, label, &priv, &found, err) == -1)
        goto out;
    if (!found) {
        char what[160];
        snprintf(what, sizeof(what), "no private key labelled \"%.64s\"", label);
        fail_rv(p->module, p->token, err, JERR_NOT_FOUND, what, CKR_OK);
        goto out;
    }
    CK_ATTRIBUTE attrs[] = {
        {CKA_SENSITIVE, &sensitive, sizeof(sensitive)},
        {CKA_EXTRACTABLE, &extractable, sizeof(extractable)},
        {CKA_NEVER_EXTRACTABLE, &never, sizeof(never)},
        {CKA_ALWAYS_SENSITIVE, &always, sizeof(always)},
    };
    CK_RV rv = p->fl->C_GetAttributeValue(session, priv, attrs, 4);
    if (rv != CKR_OK) {
        fail_rv(p->module, p->token, err, JERR_UNAVAILABLE, "C_GetAttributeValue", rv);
        goto out;
    }
    out->sensitive = sensitive == CK_TRUE;
    out->extractable = extractable == CK_TRUE;
    out->never_extractable = never == CK_TRUE;
    out->always_sensitive = always == CK_TRUE;
    rc = 0;
out:
    p->fl->C_CloseSession(session);
    return rc;
}

int p11_check(struct p11 *p, struct jerr *err)
{
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    CK_SESSION_INFO info;
    CK_TOKEN_INFO token_info;
    CK_OBJECT_HANDLE obj;
    bool found = false;
    int rc = -1;

    if (p->fl == NULL || p->slot == NULL)
        return fail_rv(p->module, p->token, err, JERR_UNAVAILABLE, "not connected", CKR_OK);
    CK_RV rv = p->fl->C_GetTokenInfo(PKCS11_get_slotid_from_slot(p->slot), &token_info);
    if (rv != CKR_OK)
        return fail_rv(p->module, p->token, err, JERR_UNAVAILABLE, "C_GetTokenInfo", rv);
    if (raw_session(p, &session, err) == -1)
        return -1;
    if ((rv = p->fl->C_GetSessionInfo(session, &info)) != CKR_OK) {
        fail_rv(p->module, p->token, err, JERR_UNAVAILABLE, "C_GetSessionInfo", rv);
        goto out;
    }
    if (info.state != CKS_RW_USER_FUNCTIONS && info.state != CKS_RO_USER_FUNCTIONS) {
        fail_rv(p->module, p->token, err, JERR_UNAVAILABLE, "C_GetSessionInfo",
                CKR_USER_NOT_LOGGED_IN);
        goto out;
    }
    /* A search reaches the token's object store, which a cached token info may not. */
    if (raw_find(p, session, CKO_PRIVATE_KEY, "jpki check", &obj, &found, err) == -1)
        goto out;
    rc = 0;
out:
    p->fl->C_CloseSession(session);
    return rc;
}

/* ---- RFC 7512 URIs ---- */

char *p11_key_uri(const struct p11 *p, const char *label, const unsigned char *id, size_t id_len,
                  struct jerr *err)
{
    P11KitUri *uri = p11_kit_uri_new();
    CK_OBJECT_CLASS klass = CKO_PRIVATE_KEY;
    char *text = NULL, *out = NULL;

    if (uri == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    /* CK_TOKEN_INFO.label is blank-padded, not NUL-terminated (PKCS#11 v2.40 §3.2). */
    CK_TOKEN_INFO *ti = p11_kit_uri_get_token_info(uri);
    memset(ti->label, ' ', sizeof(ti->label));
    memcpy(ti->label, p->token, strlen(p->token));
    CK_ATTRIBUTE attrs[] = {
        {CKA_CLASS, &klass, sizeof(klass)},
        {CKA_LABEL, (void *)label, strlen(label)},
        {CKA_ID, (void *)id, id_len},
    };
    for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
        if (p11_kit_uri_set_attribute(uri, &attrs[i]) != P11_KIT_URI_OK)
            goto out;
    if (p11_kit_uri_format(uri, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, &text) != P11_KIT_URI_OK)
        goto out;
    out = strdup(text);
out:
    if (out == NULL)
        jerr_set(err, JERR_INTERNAL, NULL, "cannot format the pkcs11: URI of \"%.64s\"", label);
    free(text);
    p11_kit_uri_free(uri);
    return out;
}

int p11_key_uri_parse(const char *text, char *token, size_t token_size, char *label,
                      size_t label_size, struct jerr *err)
{
    P11KitUri *uri = p11_kit_uri_new();
    int rc = -1;

    if (uri == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    int res = p11_kit_uri_parse(text, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, uri);
    if (res != P11_KIT_URI_OK) {
        jerr_set(err, JERR_INVALID, NULL, "not a pkcs11: URI: %s", p11_kit_uri_message(res));
        goto out;
    }
    CK_TOKEN_INFO *ti = p11_kit_uri_get_token_info(uri);
    size_t n = sizeof(ti->label);
    while (n > 0 && (ti->label[n - 1] == ' ' || ti->label[n - 1] == '\0'))
        n--;
    CK_ATTRIBUTE *a = p11_kit_uri_get_attribute(uri, CKA_LABEL);
    if (n == 0 || a == NULL || a->ulValueLen == 0) {
        jerr_set(err, JERR_INVALID, NULL, "the pkcs11: URI names no token or no object");
        goto out;
    }
    if (n >= token_size || a->ulValueLen >= label_size ||
        memchr(a->pValue, '\0', a->ulValueLen) != NULL) {
        jerr_set(err, JERR_INVALID, NULL, "the pkcs11: URI's token or object is too long");
        goto out;
    }
    memcpy(token, ti->label, n);
    token[n] = '\0';
    memcpy(label, a->pValue, a->ulValueLen);
    label[a->ulValueLen] = '\0';
    rc = 0;
out:
    p11_kit_uri_free(uri);
    return rc;
}
