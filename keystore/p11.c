/*
 * p11: PKCS#11 modules and their tokens through libp11 (see p11.h).
 *
 * What it owns: the process's list of loaded modules (a libp11 context each, its slot list, a
 * reference count), and per token the slot id holding it and a copy of the user PIN (for
 * p11_relogin and p11_reopen). What it never does: read a private key out of a token, or keep a
 * session of its own open between calls (libp11's pool holds the signing sessions).
 *
 * Why one list per process: C_Initialize/C_Finalize and the login belong to the application
 * (PKCS#11 v2.40 §5.4, §5.6), and libp11 closes every session of a slot (C_CloseAllSessions)
 * when the last PKCS11_SLOT of it is released. Two loads of one module, or two slot lists of
 * one slot, would end each other's sessions; so a module is loaded once and its one slot list
 * is shared by its tokens, which find their slot in it by id (the list is re-read in place by
 * PKCS11_update_slots, which keeps libp11's per-slot state: sessions, login).
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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

/* PKCS#11 v2.40 §3.2: a token label is 32 bytes, blank-padded. */
#define P11_LABEL_MAX 32
/* p11_open looks for a token missing from a fresh load this many times in all, in a new load
 * each time, this far apart: SoftHSM2's file object store rewrites a token's file on every
 * C_Login (its PIN flags), and a process that initialises the module meanwhile leaves that token
 * out of its slot list (two `jpkid crl` started together: one saw no token). */
#define P11_OPEN_TRIES 3
#define P11_OPEN_RETRY_MS 200

struct p11_module {
    char *path;
    int refs; /* under modules_lock */
    PKCS11_CTX *ctx;
    PKCS11_SLOT *slots;
    unsigned int nslots;
    int logins;              /* tokens of it logged in now (module_rescan ends their logins) */
    void *dl;                /* our own reference to the module, for fl */
    CK_FUNCTION_LIST_PTR fl; /* the module's functions (see the top of the file) */
    struct p11_module *next;
};

/* The process's loaded modules (see the top of the file). */
static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER;
static struct p11_module *modules;

struct p11 {
    struct p11_module *mod; /* a reference */
    char *token;
    char *pin;      /* of the last successful login, wiped on free (p11_relogin, p11_reopen) */
    bool logged_in; /* counted in mod->logins */
    CK_SLOT_ID slot_id;
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
        return fail_rv(p->mod->path, p->token, err, code, why, rv);
    }
    return fail_rv(p->mod->path, p->token, err, code, what, rv);
}

/* Fills err for a failure of the module itself: "PKCS#11 module M: `what` failed: CKR_..."
 * (CKR_OK: "PKCS#11 module M `what`"); with `token` (the one a caller was opening, or NULL),
 * "PKCS#11 module M, token "T": `what` failed: CKR_..." ("...: the module `what`"). */
static int module_fail_rv(const char *path, const char *token, struct jerr *err, int code,
                          const char *what, unsigned long rv)
{
    char m[256], buf[32];
    if (token != NULL) {
        char why[200];
        if (rv != CKR_OK)
            return fail_rv(path, token, err, code, what, rv);
        snprintf(why, sizeof(why), "the module %s", what);
        return fail_rv(path, token, err, code, why, rv);
    }
    jerr_escape(m, sizeof(m), path, strlen(path));
    if (rv == CKR_OK)
        return jerr_set(err, code, "keystore.pkcs11", "PKCS#11 module %s %s", m, what);
    return jerr_set(err, rv_code(rv, code), "keystore.pkcs11", "PKCS#11 module %s: %s failed: %s",
                    m, what, p11_rv_name(rv, buf, sizeof(buf)));
}

/* ---- Modules ---- */

/* Releases what module_load took; the struct itself stays. */
static void module_unload(struct p11_module *m)
{
    if (m->slots != NULL)
        PKCS11_release_all_slots(m->ctx, m->slots, m->nslots);
    m->slots = NULL;
    m->nslots = 0;
    m->fl = NULL;
    if (m->dl != NULL)
        dlclose(m->dl);
    m->dl = NULL;
    if (m->ctx != NULL) {
        PKCS11_CTX_unload(m->ctx); /* C_Finalize: every session and the login end */
        PKCS11_CTX_free(m->ctx);
    }
    m->ctx = NULL;
}

/* Loads and initialises the module and lists its slots; `token` (or NULL) is named in the
 * messages. On failure everything is released again. */
static int module_load(struct p11_module *m, const char *token, struct jerr *err)
{
    struct stat st;
    CK_C_GetFunctionList get_list;
    int rc = -1;

    /* libp11 says only "cannot load"; the usual reason is a wrong path. */
    if (stat(m->path, &st) == -1) {
        char why[160];
        snprintf(why, sizeof(why), "does not load: %s", strerror(errno));
        return module_fail_rv(m->path, token, err, JERR_CONFIG, why, CKR_OK);
    }
    if ((m->ctx = PKCS11_CTX_new()) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    if (PKCS11_CTX_load(m->ctx, m->path) != 0) {
        unsigned long rv = p11_last_rv();
        ERR_clear_error();
        if (rv != CKR_OK)
            module_fail_rv(m->path, token, err, JERR_CONFIG, "C_Initialize", rv);
        else
            module_fail_rv(m->path, token, err, JERR_CONFIG,
                           "does not load (not a PKCS#11 library?)", CKR_OK);
        PKCS11_CTX_free(m->ctx);
        m->ctx = NULL;
        goto out;
    }
    if (PKCS11_enumerate_slots(m->ctx, &m->slots, &m->nslots) != 0) {
        unsigned long rv = p11_last_rv();
        ERR_clear_error();
        module_fail_rv(m->path, token, err, JERR_UNAVAILABLE, "C_GetSlotList", rv);
        goto out;
    }
    /* Our own reference to the same module (dlopen returns libp11's instance). */
    m->dl = dlopen(m->path, RTLD_NOW | RTLD_LOCAL);
    if (m->dl == NULL ||
        (get_list = (CK_C_GetFunctionList)dlsym(m->dl, "C_GetFunctionList")) == NULL ||
        get_list(&m->fl) != CKR_OK || m->fl == NULL) {
        module_fail_rv(m->path, token, err, JERR_CONFIG, "has no usable C_GetFunctionList", CKR_OK);
        goto out;
    }
    rc = 0;
out:
    if (rc == -1)
        module_unload(m);
    return rc;
}

/* p11_module_get1, naming `token` (or NULL) in the messages. */
static struct p11_module *module_get1(const char *path, const char *token, struct jerr *err)
{
    struct p11_module *m;

    if (path == NULL || path[0] == '\0') {
        jerr_set(err, JERR_CONFIG, "keystore.pkcs11", "PKCS#11: no module path given");
        return NULL;
    }
    pthread_mutex_lock(&modules_lock);
    for (m = modules; m != NULL; m = m->next)
        if (strcmp(m->path, path) == 0) {
            m->refs++;
            goto out;
        }
    if ((m = OPENSSL_zalloc(sizeof(*m))) == NULL || (m->path = OPENSSL_strdup(path)) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto fail;
    }
    if (module_load(m, token, err) == -1)
        goto fail;
    m->refs = 1;
    m->next = modules;
    modules = m;
out:
    pthread_mutex_unlock(&modules_lock);
    return m;
fail:
    if (m != NULL)
        OPENSSL_free(m->path);
    OPENSSL_free(m);
    pthread_mutex_unlock(&modules_lock);
    return NULL;
}

struct p11_module *p11_module_get1(const char *path, struct jerr *err)
{
    return module_get1(path, NULL, err);
}

void p11_module_free(struct p11_module *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&modules_lock);
    if (--m->refs > 0) {
        pthread_mutex_unlock(&modules_lock);
        return;
    }
    for (struct p11_module **pp = &modules; *pp != NULL; pp = &(*pp)->next)
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    pthread_mutex_unlock(&modules_lock);
    module_unload(m);
    OPENSSL_free(m->path);
    OPENSSL_free(m);
}

const char *p11_module_get0_path(const struct p11_module *m)
{
    return m->path;
}

/* The initialised token labelled `label` in the module's slot list, or NULL. */
static PKCS11_SLOT *module_find_label(const struct p11_module *m, const char *label)
{
    for (unsigned int i = 0; i < m->nslots; i++) {
        PKCS11_TOKEN *t = m->slots[i].token;
        if (t != NULL && t->initialized && t->label != NULL && strcmp(t->label, label) == 0)
            return &m->slots[i];
    }
    return NULL;
}

bool p11_module_has_token(const struct p11_module *m, const char *label)
{
    return module_find_label(m, label) != NULL;
}

/* Lists the slots again. libp11 0.4.12's PKCS11_update_slots, meant to keep the state of known
 * slots, reads past its slot array (p11_slot.c indexes `slotp[i]` for `(*slotp)[i]`), so the
 * list is made anew and the old one released — which closes every session of every slot
 * (C_CloseAllSessions) and so ends the logins: refused while a token of the module is logged
 * in. */
static int module_rescan(struct p11_module *m, struct jerr *err)
{
    PKCS11_SLOT *slots = NULL;
    unsigned int nslots = 0;

    if (m->logins > 0)
        return module_fail_rv(m->path, NULL, err, JERR_INTERNAL,
                              "cannot list its slots again while a token of it is logged in",
                              CKR_OK);
    if (PKCS11_enumerate_slots(m->ctx, &slots, &nslots) != 0) {
        unsigned long rv = p11_last_rv();
        ERR_clear_error();
        return module_fail_rv(m->path, NULL, err, JERR_UNAVAILABLE, "C_GetSlotList", rv);
    }
    PKCS11_release_all_slots(m->ctx, m->slots, m->nslots);
    m->slots = slots;
    m->nslots = nslots;
    return 0;
}

int p11_module_init_token(struct p11_module *m, const char *label, const char *so_pin,
                          const char *user_pin, struct jerr *err)
{
    PKCS11_SLOT *s = NULL;

    if (strlen(label) > P11_LABEL_MAX)
        return jerr_set(err, JERR_INVALID, "keystore.pkcs11.token",
                        "PKCS#11: a token label has at most %d bytes", P11_LABEL_MAX);
    if (module_rescan(m, err) == -1)
        return -1;
    for (unsigned int i = 0; i < m->nslots && s == NULL; i++)
        if (m->slots[i].token != NULL && !m->slots[i].token->initialized)
            s = &m->slots[i];
    if (s == NULL) {
        char mp[256], t[2 * P11_LABEL_MAX + 8];
        jerr_escape(mp, sizeof(mp), m->path, strlen(m->path));
        jerr_escape(t, sizeof(t), label, strlen(label));
        return jerr_set(err, JERR_NOT_FOUND, "keystore.pkcs11.token",
                        "PKCS#11 module %s has no uninitialised token to make the token \"%s\"", mp,
                        t);
    }
    /* PKCS#11 v2.40 §5.6 C_InitToken: the label is 32 bytes, blank-padded (libp11 passes the
     * pointer on as it is) */
    char padded[P11_LABEL_MAX + 1];
    memset(padded, ' ', P11_LABEL_MAX);
    memcpy(padded, label, strlen(label));
    padded[P11_LABEL_MAX] = '\0';
    if (PKCS11_init_token(s->token, so_pin, padded) != 0) {
        unsigned long rv = p11_last_rv();
        ERR_clear_error();
        return fail_rv(m->path, label, err, JERR_UNAVAILABLE, "C_InitToken", rv);
    }
    /* C_InitToken may have moved the token to another slot id: find it by its new label */
    if (module_rescan(m, err) == -1)
        return -1;
    if ((s = module_find_label(m, label)) == NULL)
        return fail_rv(m->path, label, err, JERR_UNAVAILABLE,
                       "is not shown by the module after C_InitToken", CKR_OK);
    if (PKCS11_open_session(s, 1) != 0 || PKCS11_login(s, 1, so_pin) != 0) {
        unsigned long rv = p11_last_rv();
        ERR_clear_error();
        return fail_rv(m->path, label, err, JERR_UNAVAILABLE, "C_Login (security officer)", rv);
    }
    int rc = 0;
    if (PKCS11_init_pin(s->token, user_pin) != 0) {
        unsigned long rv = p11_last_rv();
        ERR_clear_error();
        rc = fail_rv(m->path, label, err, JERR_UNAVAILABLE, "C_InitPIN", rv);
    }
    if (PKCS11_logout(s) != 0)
        ERR_clear_error();
    return rc;
}

/* ---- Tokens ---- */

/* The token's slot in its module's current slot list, or NULL when it is gone. */
static PKCS11_SLOT *token_slot(const struct p11 *p)
{
    const struct p11_module *m = p->mod;
    if (m->ctx == NULL)
        return NULL;
    for (unsigned int i = 0; i < m->nslots; i++)
        if (PKCS11_get_slotid_from_slot(&m->slots[i]) == p->slot_id)
            return &m->slots[i];
    return NULL;
}

PKCS11_SLOT *p11_get0_slot(struct p11 *p)
{
    return token_slot(p);
}

/* Finds the token's slot by label; `absent` is the code for a token that is not there. */
static int token_find(struct p11 *p, int absent, struct jerr *err)
{
    PKCS11_SLOT *s = module_find_label(p->mod, p->token);
    if (s == NULL)
        return fail_rv(p->mod->path, p->token, err, absent,
                       "no token with this label is present (CKR_TOKEN_NOT_PRESENT)", CKR_OK);
    p->slot_id = PKCS11_get_slotid_from_slot(s);
    return 0;
}

static struct p11 *token_new(struct p11_module *m, const char *label, int absent, struct jerr *err)
{
    struct p11 *p = NULL;

    if (label == NULL || label[0] == '\0') {
        jerr_set(err, JERR_CONFIG, "keystore.pkcs11.token", "PKCS#11: no token label given");
        return NULL;
    }
    if (strlen(label) > P11_LABEL_MAX) {
        jerr_set(err, JERR_CONFIG, "keystore.pkcs11.token",
                 "PKCS#11: a token label has at most %d bytes", P11_LABEL_MAX);
        return NULL;
    }
    if ((p = OPENSSL_zalloc(sizeof(*p))) == NULL || (p->token = OPENSSL_strdup(label)) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        OPENSSL_free(p);
        return NULL;
    }
    pthread_mutex_lock(&modules_lock);
    m->refs++;
    pthread_mutex_unlock(&modules_lock);
    p->mod = m;
    if (token_find(p, absent, err) == -1) {
        p11_free(p);
        return NULL;
    }
    return p;
}

struct p11 *p11_token_open(struct p11_module *m, const char *label, struct jerr *err)
{
    return token_new(m, label, JERR_NOT_FOUND, err);
}

int p11_login(struct p11 *p, const char *pin, bool rw, unsigned long *rv_out, struct jerr *err)
{
    PKCS11_SLOT *s = token_slot(p);
    unsigned long rv = CKR_OK;
    int rc = -1;

    if (s == NULL || s->token == NULL) {
        rv = CKR_TOKEN_NOT_PRESENT;
        fail_rv(p->mod->path, p->token, err, JERR_UNAVAILABLE, "C_Login", rv);
        goto out;
    }
    /* Say "locked" before trying: a wrong attempt on a locked token teaches nothing. */
    if (s->token->userPinLocked) {
        rv = CKR_PIN_LOCKED;
        fail_rv(p->mod->path, p->token, err, JERR_AUTH, "C_Login", rv);
        goto out;
    }
    if (PKCS11_open_session(s, rw ? 1 : 0) != 0 || PKCS11_login(s, 0, pin) != 0) {
        rv = p11_last_rv();
        ERR_clear_error();
        fail_rv(p->mod->path, p->token, err, JERR_AUTH,
                rv != CKR_OK ? "C_Login" : "C_Login failed (no PKCS#11 return code)", rv);
        goto out;
    }
    char *copy = OPENSSL_strdup(pin);
    if (copy == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    if (p->pin != NULL)
        OPENSSL_clear_free(p->pin, strlen(p->pin));
    p->pin = copy;
    if (!p->logged_in)
        p->mod->logins++;
    p->logged_in = true;
    rc = 0;
out:
    if (rv_out != NULL)
        *rv_out = rv;
    return rc;
}

bool p11_is_logged_in(const struct p11 *p)
{
    return p->logged_in;
}

int p11_relogin(struct p11 *p, struct jerr *err)
{
    PKCS11_SLOT *s = token_slot(p);
    if (!p->logged_in)
        return 0;
    if (s == NULL || PKCS11_logout(s) != 0 || PKCS11_login(s, 0, p->pin) != 0)
        return p11_fail(p, err, JERR_UNAVAILABLE, "C_Logout/C_Login (logging in again)");
    return 0;
}

int p11_change_pin(struct p11 *p, const char *old_pin, const char *new_pin, struct jerr *err)
{
    PKCS11_SLOT *s = token_slot(p);
    char *copy;
    if (s == NULL || PKCS11_change_pin(s, old_pin, new_pin) != 0)
        return p11_fail(p, err, JERR_UNAVAILABLE, "C_SetPIN");
    if ((copy = OPENSSL_strdup(new_pin)) == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    if (p->pin != NULL)
        OPENSSL_clear_free(p->pin, strlen(p->pin));
    p->pin = copy;
    return 0;
}

struct p11 *p11_open(const char *module, const char *token, const char *pin, struct jerr *err)
{
    struct p11_module *m;
    struct p11 *p;

    if (module == NULL || module[0] == '\0' || token == NULL || token[0] == '\0' || pin == NULL) {
        jerr_set(err, JERR_CONFIG, "keystore.pkcs11", "PKCS#11: module, token and PIN are needed");
        return NULL;
    }
    for (int attempt = 1;; attempt++) {
        if ((m = module_get1(module, token, err)) == NULL)
            return NULL;
        pthread_mutex_lock(&modules_lock);
        bool fresh = m->refs == 1; /* loaded by this call: its slot list is new */
        pthread_mutex_unlock(&modules_lock);
        if (p11_module_has_token(m, token) || !fresh || attempt == P11_OPEN_TRIES)
            break;
        /* Not there in a fresh load: look again in a new one (see P11_OPEN_TRIES). */
        p11_module_free(m);
        nanosleep(&(struct timespec){0, P11_OPEN_RETRY_MS * 1000000L}, NULL);
    }
    p = token_new(m, token, JERR_CONFIG, err);
    p11_module_free(m); /* the token holds its own reference */
    if (p != NULL && p11_login(p, pin, false, NULL, err) == -1) {
        p11_free(p);
        p = NULL;
    }
    return p;
}

void p11_free(struct p11 *p)
{
    if (p == NULL)
        return;
    if (p->logged_in) {
        PKCS11_SLOT *s = token_slot(p);
        if (s != NULL && PKCS11_logout(s) != 0)
            ERR_clear_error();
        p->mod->logins--;
    }
    if (p->pin != NULL)
        OPENSSL_clear_free(p->pin, strlen(p->pin));
    p11_module_free(p->mod);
    OPENSSL_free(p->token);
    OPENSSL_free(p);
}

int p11_reopen(struct p11 *p, struct jerr *err)
{
    char *pin = NULL;
    int rc = -1;

    if (p->pin == NULL)
        return fail_rv(p->mod->path, p->token, err, JERR_INTERNAL, "reopened before a login",
                       CKR_OK);
    if (p->logged_in) { /* the login ends with the module */
        p->logged_in = false;
        p->mod->logins--;
    }
    module_unload(p->mod);
    ERR_clear_error();
    if ((pin = OPENSSL_strdup(p->pin)) == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    if (module_load(p->mod, p->token, err) == 0 && token_find(p, JERR_CONFIG, err) == 0 &&
        p11_login(p, pin, false, NULL, err) == 0)
        rc = 0;
    OPENSSL_clear_free(pin, strlen(pin));
    return rc;
}

const char *p11_module_path(const struct p11 *p)
{
    return p->mod->path;
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

    PKCS11_SLOT *s = token_slot(p);
    if (s == NULL || s->token == NULL) {
        fail_rv(p->mod->path, p->token, err, JERR_UNAVAILABLE, "C_FindObjects",
                CKR_TOKEN_NOT_PRESENT);
        return NULL;
    }
    if (PKCS11_enumerate_keys(s->token, &keys, &n) != 0) {
        p11_fail(p, err, JERR_UNAVAILABLE, "C_FindObjects");
        return NULL;
    }
    /* From the end: libp11 appends the objects it finds to the list it keeps and never drops
     * one, so after a key of this label was destroyed (p11_destroy_objects) and made again,
     * the stale entry comes first and the live one last. */
    for (unsigned int i = n; i-- > 0;)
        if (keys[i].isPrivate && keys[i].label != NULL && strcmp(keys[i].label, label) == 0)
            return &keys[i];
    char what[160];
    snprintf(what, sizeof(what), "no private key labelled \"%.64s\"", label);
    fail_rv(p->mod->path, p->token, err, JERR_NOT_FOUND, what, CKR_OK);
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

static int raw_session(struct p11 *p, CK_SESSION_HANDLE *session, struct jerr *err);
static int raw_find(struct p11 *p, CK_SESSION_HANDLE session, CK_OBJECT_CLASS klass,
                    const char *label, CK_OBJECT_HANDLE *obj, bool *found, struct jerr *err);

bool p11_has_private_key(struct p11 *p, const char *label)
{
    /* Asked of the token itself: libp11's list keeps destroyed keys (find_private_key). */
    struct jerr ignored = {0};
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE obj;
    bool found = false;
    if (raw_session(p, &session, &ignored) == -1)
        return false;
    if (raw_find(p, session, CKO_PRIVATE_KEY, label, &obj, &found, &ignored) == -1)
        found = false;
    p->mod->fl->C_CloseSession(session);
    return found;
}

/* A read-write session of our own on the token's slot (see the top of the file). */
static int raw_session(struct p11 *p, CK_SESSION_HANDLE *session, struct jerr *err)
{
    if (p->mod->fl == NULL)
        return fail_rv(p->mod->path, p->token, err, JERR_UNAVAILABLE, "not connected", CKR_OK);
    CK_SLOT_ID slot_id = p->slot_id;
    CK_RV rv = p->mod->fl->C_OpenSession(slot_id, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
                                         session);
    if (rv != CKR_OK)
        return fail_rv(p->mod->path, p->token, err, JERR_UNAVAILABLE, "C_OpenSession", rv);
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
    CK_RV rv = p->mod->fl->C_FindObjectsInit(session, tmpl, 2);
    if (rv != CKR_OK)
        return fail_rv(p->mod->path, p->token, err, JERR_UNAVAILABLE, "C_FindObjectsInit", rv);
    rv = p->mod->fl->C_FindObjects(session, obj, 1, &count);
    p->mod->fl->C_FindObjectsFinal(session);
    if (rv != CKR_OK)
        return fail_rv(p->mod->path, p->token, err, JERR_UNAVAILABLE, "C_FindObjects", rv);
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
        fail_rv(p->mod->path, p->token, err, JERR_CONFLICT, what, CKR_OK);
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
    CK_RV rv = p->mod->fl->C_GenerateKeyPair(session, &mech, pub_tmpl, pub_count, priv_tmpl,
                                             priv_count, &pub, &priv);
    if (rv != CKR_OK) {
        fail_rv(p->mod->path, p->token, err, JERR_UNAVAILABLE, "C_GenerateKeyPair", rv);
        goto out;
    }
    rc = 0;
out:
    p->mod->fl->C_CloseSession(session);
    OPENSSL_free(ec_params);
    return rc;
}

int p11_destroy_objects(struct p11 *p, const char *label, struct jerr *err)
{
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE objs[8];
    CK_ATTRIBUTE tmpl[] = {{CKA_LABEL, (void *)label, strlen(label)}};
    CK_ULONG count = 0;
    int rc = -1;

    if (raw_session(p, &session, err) == -1)
        return -1;
    /* A key pair is two objects; more of one label would be another tool's doing, and a
     * later call removes what this one left. */
    CK_RV rv = p->mod->fl->C_FindObjectsInit(session, tmpl, 1);
    if (rv != CKR_OK) {
        fail_rv(p->mod->path, p->token, err, JERR_UNAVAILABLE, "C_FindObjectsInit", rv);
        goto out;
    }
    rv = p->mod->fl->C_FindObjects(session, objs, sizeof(objs) / sizeof(objs[0]), &count);
    p->mod->fl->C_FindObjectsFinal(session);
    if (rv != CKR_OK) {
        fail_rv(p->mod->path, p->token, err, JERR_UNAVAILABLE, "C_FindObjects", rv);
        goto out;
    }
    for (CK_ULONG i = 0; i < count; i++)
        if ((rv = p->mod->fl->C_DestroyObject(session, objs[i])) != CKR_OK) {
            fail_rv(p->mod->path, p->token, err, JERR_UNAVAILABLE, "C_DestroyObject", rv);
            goto out;
        }
    rc = 0;
out:
    p->mod->fl->C_CloseSession(session);
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
        fail_rv(p->mod->path, p->token, err, JERR_NOT_FOUND, what, CKR_OK);
        goto out;
    }
    CK_ATTRIBUTE attrs[] = {
        {CKA_SENSITIVE, &sensitive, sizeof(sensitive)},
        {CKA_EXTRACTABLE, &extractable, sizeof(extractable)},
        {CKA_NEVER_EXTRACTABLE, &never, sizeof(never)},
        {CKA_ALWAYS_SENSITIVE, &always, sizeof(always)},
    };
    CK_RV rv = p->mod->fl->C_GetAttributeValue(session, priv, attrs, 4);
    if (rv != CKR_OK) {
        fail_rv(p->mod->path, p->token, err, JERR_UNAVAILABLE, "C_GetAttributeValue", rv);
        goto out;
    }
    out->sensitive = sensitive == CK_TRUE;
    out->extractable = extractable == CK_TRUE;
    out->never_extractable = never == CK_TRUE;
    out->always_sensitive = always == CK_TRUE;
    rc = 0;
out:
    p->mod->fl->C_CloseSession(session);
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

    if (p->mod->fl == NULL || token_slot(p) == NULL)
        return fail_rv(p->mod->path, p->token, err, JERR_UNAVAILABLE, "not connected", CKR_OK);
    CK_RV rv = p->mod->fl->C_GetTokenInfo(p->slot_id, &token_info);
    if (rv != CKR_OK)
        return fail_rv(p->mod->path, p->token, err, JERR_UNAVAILABLE, "C_GetTokenInfo", rv);
    if (raw_session(p, &session, err) == -1)
        return -1;
    if ((rv = p->mod->fl->C_GetSessionInfo(session, &info)) != CKR_OK) {
        fail_rv(p->mod->path, p->token, err, JERR_UNAVAILABLE, "C_GetSessionInfo", rv);
        goto out;
    }
    if (info.state != CKS_RW_USER_FUNCTIONS && info.state != CKS_RO_USER_FUNCTIONS) {
        fail_rv(p->mod->path, p->token, err, JERR_UNAVAILABLE, "C_GetSessionInfo",
                CKR_USER_NOT_LOGGED_IN);
        goto out;
    }
    /* A search reaches the token's object store, which a cached token info may not. */
    if (raw_find(p, session, CKO_PRIVATE_KEY, "jpki check", &obj, &found, err) == -1)
        goto out;
    rc = 0;
out:
    p->mod->fl->C_CloseSession(session);
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
