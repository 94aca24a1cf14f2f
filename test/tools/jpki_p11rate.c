/*
 * jpki_p11rate: the ceiling of a PKCS#11 module's RSA signing, below jpki, for scripts/bench/hsm
 * (issue 13): THREADS threads sign back to back for SECONDS with the private key labelled
 * LABEL on the token TOKEN, each on a session of its own, in one of two ways:
 *
 *   raw     the module's own functions: C_SignInit + C_Sign (CKM_RSA_PKCS over a SHA-256
 *           DigestInfo, what libp11 sends for an RSASSA-PKCS1-v1_5 signature) — the module alone;
 *   libp11  EVP_PKEY_sign on the EVP_PKEY libp11 makes for the key (libp11's session pool and
 *           locking, OpenSSL's EVP layer) — the module plus libp11, without jpki's signer.
 *
 *   jpki_p11rate MODULE TOKEN PIN LABEL SECONDS THREADS raw|libp11
 *
 * Prints "p11rate mode=M threads=T signatures=N seconds=X cpu_s=C per_cpu_s=P rate=R" (as
 * jpki_signrate). The key must exist (the
 * benchmark makes it with pkcs11-tool --keypairgen). This is a measuring tool: the raw mode
 * calls the module directly on purpose, to see what libp11 and jpki add on top of it.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libp11.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <p11-kit/pkcs11.h>

#include "ratetool.h"

#define P11RATE_MAX_THREADS RATETOOL_MAX_THREADS

struct p11rate_run {
    CK_FUNCTION_LIST_PTR fl; /* raw */
    CK_SLOT_ID slot;         /* raw */
    const char *label;
    EVP_PKEY *pkey; /* libp11 */
    double deadline;
    atomic_long signatures;
    atomic_int failed;
};

/* SHA-256 DigestInfo (RFC 8017 §9.2 note 1) over a digest of 0x5a bytes. */
static const unsigned char digest_info[51] = {
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
    0x02, 0x01, 0x05, 0x00, 0x04, 0x20, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
    0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
    0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a};

static void *raw_thread(void *arg)
{
    struct p11rate_run *run = arg;
    CK_SESSION_HANDLE session;
    CK_OBJECT_HANDLE key;
    CK_OBJECT_CLASS klass = CKO_PRIVATE_KEY;
    CK_ULONG count = 0;
    CK_MECHANISM mech = {CKM_RSA_PKCS, NULL, 0};
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &klass, sizeof(klass)},
                           {CKA_LABEL, (void *)run->label, strlen(run->label)}};

    if (run->fl->C_OpenSession(run->slot, CKF_SERIAL_SESSION, NULL, NULL, &session) != CKR_OK ||
        run->fl->C_FindObjectsInit(session, tmpl, 2) != CKR_OK ||
        run->fl->C_FindObjects(session, &key, 1, &count) != CKR_OK ||
        run->fl->C_FindObjectsFinal(session) != CKR_OK || count != 1) {
        fprintf(stderr, "jpki_p11rate: no session or no key \"%s\"\n", run->label);
        atomic_store(&run->failed, 1);
        return NULL;
    }
    while (ratetool_mono_s() < run->deadline) {
        unsigned char sig[1024];
        CK_ULONG sig_len = sizeof(sig);
        CK_RV rv = run->fl->C_SignInit(session, &mech, key);
        if (rv == CKR_OK)
            rv = run->fl->C_Sign(session, (CK_BYTE_PTR)digest_info, sizeof(digest_info), sig,
                                 &sig_len);
        if (rv != CKR_OK) {
            fprintf(stderr, "jpki_p11rate: C_Sign: 0x%lx\n", (unsigned long)rv);
            atomic_store(&run->failed, 1);
            break;
        }
        if (ratetool_mono_s() <= run->deadline)
            atomic_fetch_add(&run->signatures, 1);
    }
    run->fl->C_CloseSession(session);
    return NULL;
}

static void *libp11_thread(void *arg)
{
    struct p11rate_run *run = arg;
    while (ratetool_mono_s() < run->deadline) {
        unsigned char sig[1024];
        size_t sig_len = sizeof(sig);
        EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(run->pkey, NULL);
        int ok = pctx != NULL && EVP_PKEY_sign_init(pctx) == 1 &&
                 EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 &&
                 EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha256()) == 1 &&
                 EVP_PKEY_sign(pctx, sig, &sig_len, digest_info + 19, 32) == 1;
        EVP_PKEY_CTX_free(pctx);
        if (!ok) {
            fprintf(stderr, "jpki_p11rate: EVP_PKEY_sign through libp11 failed\n");
            atomic_store(&run->failed, 1);
            break;
        }
        if (ratetool_mono_s() <= run->deadline)
            atomic_fetch_add(&run->signatures, 1);
    }
    return NULL;
}

/* raw: the module's function list, initialised, logged in on the token's slot. */
static int raw_open(struct p11rate_run *run, const char *module, const char *token, const char *pin)
{
    CK_C_GetFunctionList get_list;
    CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
    CK_SLOT_ID slots[64];
    CK_ULONG n = 64;
    CK_SESSION_HANDLE login_session;
    void *dl = dlopen(module, RTLD_NOW | RTLD_LOCAL);

    if (dl == NULL || (get_list = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList")) == NULL ||
        get_list(&run->fl) != CKR_OK || run->fl->C_Initialize(&args) != CKR_OK ||
        run->fl->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
        return -1;
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO info;
        char label[33];
        if (run->fl->C_GetTokenInfo(slots[i], &info) != CKR_OK)
            continue;
        memcpy(label, info.label, 32);
        label[32] = '\0';
        for (int j = 31; j >= 0 && label[j] == ' '; j--)
            label[j] = '\0';
        if (strcmp(label, token) == 0) {
            run->slot = slots[i];
            /* PKCS#11 §5.6: one login for every session of the application */
            return run->fl->C_OpenSession(run->slot, CKF_SERIAL_SESSION, NULL, NULL,
                                          &login_session) == CKR_OK &&
                           run->fl->C_Login(login_session, CKU_USER, (CK_UTF8CHAR_PTR)pin,
                                            strlen(pin)) == CKR_OK
                       ? 0
                       : -1;
        }
    }
    return -1;
}

/* libp11: the key's EVP_PKEY, after loading, finding the token and logging in. */
static int libp11_open(struct p11rate_run *run, const char *module, const char *token,
                       const char *pin)
{
    PKCS11_CTX *ctx = PKCS11_CTX_new();
    PKCS11_SLOT *slots = NULL;
    PKCS11_KEY *keys = NULL;
    unsigned int nslots = 0, nkeys = 0;

    if (ctx == NULL || PKCS11_CTX_load(ctx, module) != 0 ||
        PKCS11_enumerate_slots(ctx, &slots, &nslots) != 0)
        return -1;
    for (unsigned int i = 0; i < nslots; i++) {
        PKCS11_TOKEN *t = slots[i].token;
        if (t == NULL || t->label == NULL || strcmp(t->label, token) != 0)
            continue;
        if (PKCS11_login(&slots[i], 0, pin) != 0 || PKCS11_enumerate_keys(t, &keys, &nkeys) != 0)
            return -1;
        for (unsigned int k = 0; k < nkeys; k++)
            if (keys[k].label != NULL && strcmp(keys[k].label, run->label) == 0)
                return (run->pkey = PKCS11_get_private_key(&keys[k])) != NULL ? 0 : -1;
    }
    return -1; /* the process ends after the run: the module stays loaded until then */
}

int main(int argc, char **argv)
{
    struct p11rate_run run = {0};
    double seconds;
    long threads;
    bool raw;

    if (argc != 8 || (seconds = atof(argv[5])) <= 0 || (threads = atol(argv[6])) < 1 ||
        threads > P11RATE_MAX_THREADS ||
        (strcmp(argv[7], "raw") != 0 && strcmp(argv[7], "libp11") != 0)) {
        fprintf(stderr,
                "usage: jpki_p11rate MODULE TOKEN PIN LABEL SECONDS THREADS(1..%d) "
                "raw|libp11\n",
                P11RATE_MAX_THREADS);
        return 2;
    }
    raw = strcmp(argv[7], "raw") == 0;
    run.label = argv[4];
    if ((raw ? raw_open : libp11_open)(&run, argv[1], argv[2], argv[3]) == -1) {
        fprintf(stderr, "jpki_p11rate: cannot open the key \"%s\" on token \"%s\" of %s\n", argv[4],
                argv[2], argv[1]);
        return 1;
    }
    struct ratetool_times times;
    long started = ratetool_run(raw ? raw_thread : libp11_thread, &run, threads, seconds,
                                &run.deadline, &times);
    double elapsed = times.wall_s, cpu = times.cpu_s;
    long n = atomic_load(&run.signatures);
    printf("p11rate mode=%s threads=%ld signatures=%ld seconds=%.2f cpu_s=%.2f per_cpu_s=%.1f "
           "rate=%.1f\n",
           argv[7], threads, n, elapsed, cpu, cpu > 0 ? (double)n / cpu : 0.0, (double)n / elapsed);
    return atomic_load(&run.failed) || started < threads ? 1 : 0;
}
