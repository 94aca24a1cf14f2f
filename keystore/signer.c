/*
 * signer: the one place that holds a CA (or delegated OCSP signer) private key.
 *
 * What it owns: one EVP_PKEY with its private half, and the DER of the AlgorithmIdentifier its
 * signatures carry (computed once at creation, so readers need no lock). What it never does:
 * hand the private key out or take one in (STYLE "Untrusted input": the code that talks to the
 * network never holds a CA key) — callers pass what is to be signed and get signatures back;
 * signer_get1_public_key returns a fresh public-only copy.
 *
 * At rest a key is encrypted PKCS#8 (RFC 5958 §3 EncryptedPrivateKeyInfo) under PBES2 (RFC 8018
 * §6.2) with the scrypt KDF (RFC 7914 §7) and AES-256-CBC, PEM-wrapped (RFC 7468 §11), in a file
 * of mode 0600 published atomically and never overwritten.
 *
 * Thread safety: after creation a signer is read-only but for its per-thread slots (below).
 * Every signing call works on an EVP_MD_CTX of its own, and OpenSSL 3 allows concurrent
 * read-only use of one EVP_PKEY (openssl-threads(7)), so worker threads may share one signer.
 *
 * Per-thread slots: OpenSSL 3.0 ties an RSA key's blinding factor to the first thread that
 * signs with it; every other thread signing with the same EVP_PKEY takes a second, shared
 * blinding under a lock (rsa_ossl.c, "mt_blinding"), and EVP_DigestSignInit fetches the
 * digest and the signature algorithm anew on every call. So each signing thread gets a slot
 * (threads are numbered on their first signature, modulo SIGNER_SLOTS): a copy of the key
 * (EVP_PKEY_dup, made on the slot's first use) and a digest-sign context initialised once over
 * it, which every signature copies (EVP_MD_CTX_copy_ex) under the slot's lock. Threads that
 * share a slot stay correct (they share the copy as they would the key). The copies belong
 * to the signer and are freed with it.
 *
 * A signer whose key is in a PKCS#11 token (signer_pkcs11.h) keeps only the public half in
 * `pkey`; each signature borrows the token key (an EVP_PKEY from libp11 whose RSA operation is
 * a C_Sign) for the time of one digest-sign context, made fresh (no slots: the key is the
 * token's, there is no blinding to share). A failed token operation becomes one sentence
 * naming module, token and CKR code (JERR_UNAVAILABLE).
 */
#include "keystore/signer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rsa.h>

#include "base/fsutil.h"
#include "base/jclock.h"
#include "keystore/keyalg.h"
#include "keystore/keygen.h"
#include "keystore/signer_pkcs11.h"

/*
 * scrypt cost (RFC 7914 §2): N = 2^14, r = 8, p = 1 — the scrypt paper's "interactive"
 * parameters and OpenSSL's own `pkcs8 -scrypt` default. Memory is ~128·r·N = 16 MiB and a
 * save or load takes ~50 ms, far under a second. N = 2^15 (r = 8) needs 128·r·(N+2) + 128·r·p
 * bytes, a few KiB over the 32 MiB scrypt memory ceiling OpenSSL 3.0 applies both when it
 * writes PBES2 parameters and when it decrypts (it passes no maxmem): PKCS5_pbe2_set_scrypt
 * refuses it ("memory limit exceeded"). 2^14 is the strongest N that round-trips.
 */
#define SIGNER_SCRYPT_N (UINT64_C(1) << 14)
#define SIGNER_SCRYPT_R 8
#define SIGNER_SCRYPT_P 1
/* RFC 8018 §4.1: at least 8 octets of salt; 16 puts collisions out of reach. */
#define SIGNER_SALT_BYTES 16
/* An encrypted RSA-8192 key in PEM is ~6.6 KB; anything far larger is not a key file. */
#define SIGNER_KEY_FILE_MAX_BYTES (64 * 1024)

/* Signing threads with a slot of their own (see the top of the file); more share slots. */
#define SIGNER_SLOTS 16

struct signer_slot {
    pthread_mutex_t lock; /* guards pkey and tmpl */
    EVP_PKEY *pkey;       /* EVP_PKEY_dup of the signer's key, NULL until first used */
    EVP_MD_CTX *tmpl;     /* digest-sign context over pkey (signer's digest and scheme) */
};

struct signer {
    EVP_PKEY *pkey; /* private key (public half only for a token key); never leaves
                     * this file */
    struct signer_token_key *token_key; /* the key in a PKCS#11 token, or NULL */
    struct keyalg alg;                  /* the key's spec */
    const char *digest;                 /* keyalg_key_digest: "SHA256", "SHA384" or "SHA512" */
    unsigned char *alg_der;             /* the signature AlgorithmIdentifier, DER */
    size_t alg_der_len;
    struct signer_slot *slots; /* SIGNER_SLOTS of them */
};

/* The calling thread's slot number, given on its first signature. */
static _Thread_local int signer_thread_slot = -1;
static atomic_uint signer_threads_seen;

struct signer_stream {
    const struct signer *s;
    EVP_MD_CTX *mctx; /* a digest-sign context; for ECDSA a plain digest context (prehash) */
    bool prehash;
};

/* Copies `path` into `out` with non-printable bytes escaped, for messages. */
static const char *path_for_msg(char *out, size_t size, const char *path)
{
    jerr_escape(out, size, path, strlen(path));
    return out;
}

static EVP_PKEY *public_only(EVP_PKEY *key);

/* Takes ownership of `pkey` (freed on failure too) and wraps it in a signer. */
static struct signer *signer_wrap(EVP_PKEY *pkey, struct jerr *err)
{
    struct signer *s = NULL;
    X509_ALGOR *alg = NULL;
    unsigned char *der = NULL;
    int der_len;
    struct keyalg spec;

    if (keyalg_of_key(pkey, "key_algorithm", &spec, err) == -1)
        goto out;
    /* RFC 4055 §5 / RFC 5754 §3.2: sha256WithRSAEncryption with parameters present and NULL;
     * RFC 5758 §3.2: ecdsa-with-SHA384/SHA512 with the parameters absent — exactly what
     * X509_sign writes into certificates. */
    alg = keyalg_signature_algor(&spec);
    if (alg == NULL) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "cannot build the signature AlgorithmIdentifier");
        goto out;
    }
    der_len = i2d_X509_ALGOR(alg, &der);
    if (der_len <= 0) {
        der = NULL;
        jerr_openssl(err, JERR_INTERNAL, NULL, "cannot encode the signature AlgorithmIdentifier");
        goto out;
    }
    s = OPENSSL_zalloc(sizeof(*s));
    if (s == NULL || (s->slots = OPENSSL_zalloc(SIGNER_SLOTS * sizeof(*s->slots))) == NULL) {
        OPENSSL_free(s);
        s = NULL;
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    for (int i = 0; i < SIGNER_SLOTS; i++)
        pthread_mutex_init(&s->slots[i].lock, NULL);
    s->pkey = pkey;
    s->alg = spec;
    s->digest = keyalg_digest(&spec);
    s->alg_der = der;
    s->alg_der_len = (size_t)der_len;
    pkey = NULL;
    der = NULL;

out:
    X509_ALGOR_free(alg);
    OPENSSL_free(der);
    EVP_PKEY_free(pkey);
    return s;
}

struct signer *signer_generate(const struct keyalg *alg, struct jerr *err)
{
    EVP_PKEY *pkey = keygen_generate(alg, err);
    if (pkey == NULL)
        return NULL;
    return signer_wrap(pkey, err);
}

struct signer *signer_wrap_token(struct signer_token_key *k, struct jerr *err)
{
    struct signer *s = NULL;
    EVP_PKEY *key = signer_token_key_acquire(k, err);
    if (key == NULL)
        goto out;
    EVP_PKEY *pub = public_only(key);
    signer_token_key_release(k);
    if (pub == NULL) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot read the public half of a token key");
        goto out;
    }
    s = signer_wrap(pub, err); /* takes pub */
out:
    if (s == NULL)
        signer_token_key_free(k);
    else
        s->token_key = k;
    return s;
}

void signer_free(struct signer *s)
{
    if (s == NULL)
        return;
    for (int i = 0; s->slots != NULL && i < SIGNER_SLOTS; i++) {
        EVP_MD_CTX_free(s->slots[i].tmpl);
        EVP_PKEY_free(s->slots[i].pkey);
        pthread_mutex_destroy(&s->slots[i].lock);
    }
    OPENSSL_free(s->slots);
    signer_token_key_free(s->token_key);
    EVP_PKEY_free(s->pkey); /* the provider's RSA key data is cleared on free */
    OPENSSL_free(s->alg_der);
    OPENSSL_clear_free(s, sizeof(*s));
}

/* ---- At rest ---- */

/* Checks the passphrase for key file `shown` and sets *len. Keys are encrypted at rest: an
 * empty passphrase would be encryption in name only. */
static int passphrase_check(const char *passphrase, const char *shown, int *len, struct jerr *err)
{
    if (passphrase == NULL || passphrase[0] == '\0')
        return jerr_set(err, JERR_INVALID, "passphrase", "%s: an empty passphrase is not allowed",
                        shown);
    size_t n = strlen(passphrase);
    if (n > INT_MAX)
        return jerr_set(err, JERR_INVALID, "passphrase", "passphrase too long");
    *len = (int)n;
    return 0;
}

int signer_save(const struct signer *s, const char *path, const char *passphrase, struct jerr *err)
{
    PKCS8_PRIV_KEY_INFO *p8inf = NULL;
    X509_ALGOR *pbe = NULL;
    X509_SIG *p8 = NULL;
    BIO *mem = NULL;
    char shown[PATH_MAX];
    int pass_len = 0, rc = -1;

    if (s == NULL || path == NULL || path[0] == '\0') {
        jerr_set(err, JERR_INVALID, NULL, "signer_save: no signer or no path");
        goto out;
    }
    path_for_msg(shown, sizeof(shown), path);
    if (s->token_key != NULL) {
        jerr_set(err, JERR_INVALID, NULL, "%s: a key in a PKCS#11 token never leaves it", shown);
        goto out;
    }
    if (passphrase_check(passphrase, shown, &pass_len, err) == -1)
        goto out;
    /* Fail before the scrypt work when the answer is already known; the exclusive write
     * (link(2)) still refuses if the file appears meanwhile. */
    struct stat st;
    if (lstat(path, &st) == 0) {
        jerr_set(err, JERR_CONFLICT, NULL, "%s: already exists; refusing to overwrite a key",
                 shown);
        goto out;
    }

    p8inf = EVP_PKEY2PKCS8(s->pkey);
    if (p8inf == NULL) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "%s: cannot encode the private key", shown);
        goto out;
    }
    /* RFC 8018 §6.2 PBES2 with RFC 7914 §7 scrypt; salt and IV are random. */
    pbe = PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), NULL, SIGNER_SALT_BYTES, NULL, SIGNER_SCRYPT_N,
                                SIGNER_SCRYPT_R, SIGNER_SCRYPT_P);
    if (pbe == NULL) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "%s: cannot set up scrypt PBES2", shown);
        goto out;
    }
    p8 = PKCS8_set0_pbe(passphrase, pass_len, p8inf, pbe);
    if (p8 == NULL) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "%s: cannot encrypt the private key", shown);
        goto out;
    }
    pbe = NULL; /* now owned by p8 */

    mem = BIO_new(BIO_s_mem());
    if (mem == NULL || PEM_write_bio_PKCS8(mem, p8) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "%s: cannot PEM-encode the encrypted key", shown);
        goto out;
    }
    char *pem;
    long pem_len = BIO_get_mem_data(mem, &pem);
    if (pem_len <= 0) {
        jerr_set(err, JERR_INTERNAL, NULL, "%s: empty PEM output", shown);
        goto out;
    }
    /* 0600, published atomically; exclusive: an existing file is never replaced. */
    if (fsutil_write_atomic(path, pem, (size_t)pem_len, 0600, true, err) == -1)
        goto out;
    rc = 0;

out:
    BIO_free(mem);
    X509_SIG_free(p8);
    X509_ALGOR_free(pbe);
    PKCS8_PRIV_KEY_INFO_free(p8inf); /* its ASN.1 callback clears the key octets */
    return rc;
}

/* Reads the whole key file through `fd`, after checking it is a small regular file that
 * nobody but the owner can read. *out is OPENSSL_malloc'd. */
static int read_key_file(int fd, const char *shown, unsigned char **out, size_t *out_len,
                         struct jerr *err)
{
    struct stat st;
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = -1;

    if (fstat(fd, &st) == -1) {
        jerr_set(err, JERR_IO, NULL, "%s: %s", shown, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        jerr_set(err, JERR_IO, NULL, "%s: not a regular file", shown);
        goto out;
    }
    /* A CA key readable by group or others is already compromised in spirit: refuse it
     * (ssh's rule for identity files), checked on the open descriptor, not the name. */
    if ((st.st_mode & 077) != 0) {
        jerr_set(err, JERR_IO, NULL, "%s: mode %04o is too open; must be 0600", shown,
                 (unsigned)(st.st_mode & 07777));
        goto out;
    }
    if (st.st_size <= 0 || st.st_size > SIGNER_KEY_FILE_MAX_BYTES) {
        jerr_set(err, JERR_IO, NULL, "%s: size %lld is not that of a key file (1..%d bytes)", shown,
                 (long long)st.st_size, SIGNER_KEY_FILE_MAX_BYTES);
        goto out;
    }
    /* One byte of slack detects a file that grew after fstat. */
    cap = (size_t)st.st_size + 1;
    buf = OPENSSL_malloc(cap);
    if (buf == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    while (len < cap) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            jerr_set(err, JERR_IO, NULL, "%s: %s", shown, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len != (size_t)st.st_size) {
        jerr_set(err, JERR_IO, NULL, "%s: file changed while being read", shown);
        goto out;
    }
    *out = buf;
    *out_len = len;
    buf = NULL;
    rc = 0;

out:
    OPENSSL_clear_free(buf, cap);
    return rc;
}

struct signer *signer_load(const char *path, const char *passphrase, struct jerr *err)
{
    unsigned char *file = NULL;
    size_t file_len = 0;
    char *pem_name = NULL, *pem_header = NULL;
    unsigned char *der = NULL;
    long der_len = 0;
    BIO *mem = NULL;
    X509_SIG *p8 = NULL;
    PKCS8_PRIV_KEY_INFO *p8inf = NULL;
    EVP_PKEY *pkey = NULL;
    struct signer *s = NULL;
    char shown[PATH_MAX];
    int pass_len = 0, fd = -1;

    if (path == NULL || path[0] == '\0') {
        jerr_set(err, JERR_INVALID, NULL, "signer_load: no path");
        goto out;
    }
    path_for_msg(shown, sizeof(shown), path);
    if (passphrase_check(passphrase, shown, &pass_len, err) == -1)
        goto out;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd == -1) {
        jerr_set(err, JERR_IO, NULL, "%s: %s", shown, strerror(errno));
        goto out;
    }
    if (read_key_file(fd, shown, &file, &file_len, err) == -1)
        goto out;

    /* RFC 7468 §11: the one acceptable label. "PRIVATE KEY" (plain PKCS#8) and "RSA PRIVATE
     * KEY" (PKCS#1, even with legacy Proc-Type encryption) are refused: keys rest encrypted
     * under PBES2 only. */
    mem = BIO_new_mem_buf(file, (int)file_len);
    if (mem == NULL) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    if (PEM_read_bio(mem, &pem_name, &pem_header, &der, &der_len) != 1) {
        der = NULL;
        jerr_openssl(err, JERR_CRYPTO, NULL, "%s: not a PEM key file", shown);
        goto out;
    }
    if (strcmp(pem_name, PEM_STRING_PKCS8) != 0) {
        char label[64];
        jerr_escape(label, sizeof(label), pem_name, strlen(pem_name));
        jerr_set(err, JERR_CRYPTO, NULL,
                 "%s: holds \"%s\", not an \"%s\"; keys must be encrypted at rest", shown, label,
                 PEM_STRING_PKCS8);
        goto out;
    }
    const unsigned char *p = der;
    p8 = d2i_X509_SIG(NULL, &p, der_len);
    if (p8 == NULL || p != der + der_len) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "%s: damaged EncryptedPrivateKeyInfo", shown);
        goto out;
    }
    /* A wrong passphrase shows as a bad CBC padding or, 1 time in 256, as undecodable
     * plaintext: OpenSSL cannot tell that from a corrupted file, and neither can we. */
    p8inf = PKCS8_decrypt(p8, passphrase, pass_len);
    if (p8inf == NULL) {
        jerr_openssl(err, JERR_CRYPTO, "passphrase", "%s: wrong passphrase or damaged key file",
                     shown);
        goto out;
    }
    pkey = EVP_PKCS82PKEY(p8inf);
    if (pkey == NULL) {
        jerr_openssl(err, JERR_CRYPTO, "passphrase", "%s: wrong passphrase or damaged key file",
                     shown);
        goto out;
    }
    s = signer_wrap(pkey, err);
    pkey = NULL; /* signer_wrap took it */

out:
    if (fd != -1)
        close(fd);
    EVP_PKEY_free(pkey);
    PKCS8_PRIV_KEY_INFO_free(p8inf);
    X509_SIG_free(p8);
    BIO_free(mem);
    OPENSSL_free(pem_name);
    OPENSSL_free(pem_header);
    OPENSSL_clear_free(der, der != NULL ? (size_t)der_len : 0);
    OPENSSL_clear_free(file, file_len);
    return s;
}

/* ---- Public half ---- */

/* A public-only copy of `key`, by a round-trip through SubjectPublicKeyInfo so that it cannot
 * carry the private half. NULL on failure. */
static EVP_PKEY *public_only(EVP_PKEY *key)
{
    unsigned char *der = NULL;
    EVP_PKEY *pub = NULL;

    int len = i2d_PUBKEY(key, &der);
    if (len > 0) {
        const unsigned char *p = der;
        pub = d2i_PUBKEY(NULL, &p, len);
        if (pub != NULL && p != der + len) {
            EVP_PKEY_free(pub);
            pub = NULL;
        }
    }
    OPENSSL_free(der);
    return pub;
}

EVP_PKEY *signer_get1_public_key(const struct signer *s)
{
    return s != NULL ? public_only(s->pkey) : NULL;
}

int signer_matches_cert(const struct signer *s, X509 *cert)
{
    if (s == NULL || cert == NULL)
        return 0;
    /* Keep the caller's error queue as it was: a mismatch is an answer, not an error. */
    ERR_set_mark();
    EVP_PKEY *cert_key = X509_get0_pubkey(cert);
    int same = cert_key != NULL && EVP_PKEY_eq(s->pkey, cert_key) == 1;
    ERR_pop_to_mark();
    return same;
}

struct keyalg signer_keyalg(const struct signer *s)
{
    return s->alg;
}

size_t signer_signature_size(const struct signer *s)
{
    if (s == NULL)
        return 0;
    int size = EVP_PKEY_get_size(s->pkey);
    return size > 0 ? (size_t)size : 0;
}

int signer_algorithm_der(const struct signer *s, const unsigned char **out, size_t *out_len,
                         struct jerr *err)
{
    if (s == NULL || out == NULL || out_len == NULL)
        return jerr_set(err, JERR_INVALID, NULL, "signer_algorithm_der: missing argument");
    *out = s->alg_der;
    *out_len = s->alg_der_len;
    return 0;
}

/* ---- Signing ---- */

/* A fresh digest-sign context over `pkey` (the key of `s`, or its copy or token handle) with
 * the signer's digest (keyalg_key_digest): RSASSA-PKCS1-v1_5 (RFC 8017 §8.2) for RSA, the
 * scheme sha256WithRSAEncryption names; ECDSA (FIPS 186-4 §6.4) for EC, the signature a DER
 * Ecdsa-Sig-Value (RFC 3279 §2.2.3). */
static EVP_MD_CTX *sign_ctx_init(const struct signer *s, EVP_PKEY *pkey, struct jerr *err)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;

    if (mctx == NULL) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    if (EVP_DigestSignInit_ex(mctx, &pctx, s->digest, NULL, NULL, pkey, NULL) != 1 ||
        (!keyalg_is_ec(&s->alg) && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)) {
        char shown[KEYALG_NAME_MAX + 8];
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot start a %s signature with %s",
                     keyalg_display(&s->alg, shown, sizeof(shown)), s->digest);
        EVP_MD_CTX_free(mctx);
        return NULL;
    }
    return mctx;
}

/* A digest-sign context of the calling thread's own (one per call: contexts are never shared
 * between threads), copied from its slot's; the slot's key copy and context are made on its
 * first use. The context signs once (EVP_MD_CTX_FLAG_FINALISE: no internal copy at the end). */
static EVP_MD_CTX *file_ctx_new(const struct signer *s, struct jerr *err)
{
    EVP_MD_CTX *mctx = NULL;

    if (signer_thread_slot < 0)
        signer_thread_slot = (int)(atomic_fetch_add(&signer_threads_seen, 1) % SIGNER_SLOTS);
    struct signer_slot *slot = &s->slots[signer_thread_slot];

    pthread_mutex_lock(&slot->lock);
    if (slot->tmpl == NULL) {
        if (slot->pkey == NULL && (slot->pkey = EVP_PKEY_dup(s->pkey)) == NULL) {
            jerr_openssl(err, JERR_CRYPTO, NULL, "cannot copy the signing key");
            goto out;
        }
        if ((slot->tmpl = sign_ctx_init(s, slot->pkey, err)) == NULL)
            goto out;
    }
    mctx = EVP_MD_CTX_new();
    if (mctx == NULL || EVP_MD_CTX_copy_ex(mctx, slot->tmpl) != 1) {
        jerr_openssl(err, JERR_INTERNAL, NULL, "cannot copy the signature context");
        EVP_MD_CTX_free(mctx);
        mctx = NULL;
        goto out;
    }
    EVP_MD_CTX_set_flags(mctx, EVP_MD_CTX_FLAG_FINALISE);
out:
    pthread_mutex_unlock(&slot->lock);
    return mctx;
}

/* A digest-sign context for one signature by `s`. For a token key it holds the borrowed key
 * until sign_ctx_free. */
static EVP_MD_CTX *sign_ctx_new(const struct signer *s, struct jerr *err)
{
    if (s->token_key == NULL)
        return file_ctx_new(s, err);
    EVP_PKEY *pkey = signer_token_key_acquire(s->token_key, err);
    if (pkey == NULL)
        return NULL;
    EVP_MD_CTX *mctx = sign_ctx_init(s, pkey, err);
    if (mctx == NULL)
        signer_token_key_release(s->token_key);
    return mctx;
}

static void sign_ctx_free(const struct signer *s, EVP_MD_CTX *mctx)
{
    if (mctx == NULL)
        return;
    EVP_MD_CTX_free(mctx);
    if (s->token_key != NULL)
        signer_token_key_release(s->token_key);
}

/* A failed signature (`what`): for a token key, the sentence with the CKR code first (and the
 * token marked lost), then OpenSSL's queue. Returns -1. */
static int sign_failed(const struct signer *s, struct jerr *err, const char *what)
{
    if (s->token_key != NULL)
        signer_token_key_failed(s->token_key, err, "C_Sign");
    return jerr_openssl(err, JERR_CRYPTO, NULL, "%s", what);
}

int signer_sign_cert(const struct signer *s, X509 *cert, struct jerr *err)
{
    EVP_MD_CTX *mctx = NULL;
    int rc = -1;

    if (s == NULL || cert == NULL) {
        jerr_set(err, JERR_INVALID, NULL, "signer_sign_cert: missing argument");
        goto out;
    }
    mctx = sign_ctx_new(s, err);
    if (mctx == NULL)
        goto out;
    /* Sets both signature AlgorithmIdentifiers (RFC 5280 §4.1.1.2 and §4.1.2.3) and signs. */
    if (X509_sign_ctx(cert, mctx) <= 0) {
        sign_failed(s, err, "cannot sign the certificate");
        goto out;
    }
    rc = 0;
out:
    sign_ctx_free(s, mctx);
    return rc;
}

int signer_sign_ocsp(const struct signer *s, OCSP_BASICRESP *resp, X509 *signer_cert,
                     struct jerr *err)
{
    EVP_MD_CTX *mctx = NULL;
    int rc = -1;

    if (s == NULL || resp == NULL || signer_cert == NULL) {
        jerr_set(err, JERR_INVALID, NULL, "signer_sign_ocsp: missing argument");
        goto out;
    }
    if (!signer_matches_cert(s, signer_cert)) {
        jerr_set(err, JERR_CRYPTO, NULL, "OCSP signer certificate does not match the signing key");
        goto out;
    }
    /* RFC 6960 §4.2.2.1: producedAt is when the responder signed, by jpki's one clock (so a
     * pinned test clock is honoured), hence OCSP_NOTIME below. OpenSSL allocates the field
     * with the response and only exposes it const; it is ours to fill, as OpenSSL itself
     * does inside OCSP_basic_sign_ctx. */
    ASN1_GENERALIZEDTIME *produced_at = (ASN1_GENERALIZEDTIME *)OCSP_resp_get0_produced_at(resp);
    if (produced_at == NULL || ASN1_GENERALIZEDTIME_set(produced_at, jclock_now()) == NULL) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot set the OCSP producedAt time");
        goto out;
    }
    mctx = sign_ctx_new(s, err);
    if (mctx == NULL)
        goto out;
    /* RFC 6960 §4.2.2.3 responderID byKey; §4.2.1 certs carries the delegated signer's
     * certificate (included unless OCSP_NOCERTS). */
    if (OCSP_basic_sign_ctx(resp, signer_cert, mctx, NULL, OCSP_RESPID_KEY | OCSP_NOTIME) != 1) {
        sign_failed(s, err, "cannot sign the OCSP response");
        goto out;
    }
    rc = 0;
out:
    sign_ctx_free(s, mctx);
    return rc;
}

/* Finishes the signature over what `mctx` has hashed: *sig is OPENSSL_malloc'd, written only
 * on success. */
static int sign_final(const struct signer *s, EVP_MD_CTX *mctx, unsigned char **sig,
                      size_t *sig_len, struct jerr *err)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = -1;

    if (EVP_DigestSignFinal(mctx, NULL, &len) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot size the signature");
        goto out;
    }
    buf = OPENSSL_malloc(len);
    if (buf == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    if (EVP_DigestSignFinal(mctx, buf, &len) != 1) {
        sign_failed(s, err, "signing failed");
        goto out;
    }
    *sig = buf;
    *sig_len = len;
    buf = NULL;
    rc = 0;
out:
    OPENSSL_free(buf);
    return rc;
}

int signer_sign_bytes(const struct signer *s, const unsigned char *tbs, size_t tbs_len,
                      unsigned char **sig, size_t *sig_len, struct jerr *err)
{
    EVP_MD_CTX *mctx = NULL;
    int rc = -1;

    if (s == NULL || (tbs == NULL && tbs_len != 0) || sig == NULL || sig_len == NULL) {
        jerr_set(err, JERR_INVALID, NULL, "signer_sign_bytes: missing argument");
        goto out;
    }
    mctx = sign_ctx_new(s, err);
    if (mctx == NULL)
        goto out;
    if (tbs_len > 0 && EVP_DigestSignUpdate(mctx, tbs, tbs_len) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot hash the data to sign");
        goto out;
    }
    rc = sign_final(s, mctx, sig, sig_len, err);
out:
    sign_ctx_free(s, mctx);
    return rc;
}

/* ECDSA over a digest already taken, retried until the DER Ecdsa-Sig-Value has the largest
 * size (signer_signature_size), so that a streamed signature's length is known before the
 * input is (a CRL's outer length precedes its signature). r and s each need their longest
 * INTEGER encoding about half the time: ~4 signatures on average; 64 tries fail once in
 * 2^26. The key is used read-only (no RSA blinding to share) or borrowed from the token. */
static int sign_digest_sized(const struct signer *s, const unsigned char *md, size_t md_len,
                             unsigned char **sig, size_t *sig_len, struct jerr *err)
{
    size_t want = signer_signature_size(s), len = 0;
    unsigned char *buf = OPENSSL_malloc(want);
    EVP_PKEY *key = s->token_key != NULL ? signer_token_key_acquire(s->token_key, err) : s->pkey;
    EVP_PKEY_CTX *pctx = NULL;
    int rc = -1;

    if (buf == NULL || key == NULL) {
        if (buf == NULL)
            jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    pctx = EVP_PKEY_CTX_new(key, NULL);
    if (pctx == NULL || EVP_PKEY_sign_init(pctx) <= 0 ||
        EVP_PKEY_CTX_set_signature_md(pctx, EVP_get_digestbyname(s->digest)) <= 0) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot start an ECDSA signature");
        goto out;
    }
    for (int i = 0; i < 64 && len != want; i++) {
        len = want;
        if (EVP_PKEY_sign(pctx, buf, &len, md, md_len) <= 0) {
            sign_failed(s, err, "signing failed");
            goto out;
        }
    }
    if (len != want) {
        jerr_set(err, JERR_CRYPTO, NULL, "no ECDSA signature of %zu bytes in 64 tries", want);
        goto out;
    }
    *sig = buf;
    *sig_len = len;
    buf = NULL;
    rc = 0;
out:
    EVP_PKEY_CTX_free(pctx);
    if (s->token_key != NULL && key != NULL)
        signer_token_key_release(s->token_key);
    OPENSSL_free(buf);
    return rc;
}

struct signer_stream *signer_stream_begin(const struct signer *s, struct jerr *err)
{
    struct signer_stream *ss = NULL;

    if (s == NULL) {
        jerr_set(err, JERR_INVALID, NULL, "signer_stream_begin: no signer");
        return NULL;
    }
    ss = OPENSSL_zalloc(sizeof(*ss));
    if (ss == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    ss->s = s;
    ss->prehash = keyalg_is_ec(&s->alg);
    if (!ss->prehash) {
        ss->mctx = sign_ctx_new(s, err);
    } else if ((ss->mctx = EVP_MD_CTX_new()) == NULL ||
               EVP_DigestInit_ex(ss->mctx, EVP_get_digestbyname(s->digest), NULL) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot start a %s digest", s->digest);
        EVP_MD_CTX_free(ss->mctx);
        ss->mctx = NULL;
    }
    if (ss->mctx == NULL) {
        OPENSSL_free(ss);
        return NULL;
    }
    return ss;
}

int signer_stream_update(struct signer_stream *ss, const unsigned char *data, size_t len,
                         struct jerr *err)
{
    if (ss == NULL || (data == NULL && len != 0))
        return jerr_set(err, JERR_INVALID, NULL, "signer_stream_update: missing argument");
    if (len == 0)
        return 0;
    if ((ss->prehash ? EVP_DigestUpdate(ss->mctx, data, len)
                     : EVP_DigestSignUpdate(ss->mctx, data, len)) != 1)
        return jerr_openssl(err, JERR_CRYPTO, NULL, "cannot hash the data to sign");
    return 0;
}

int signer_stream_final(struct signer_stream *ss, unsigned char **sig, size_t *sig_len,
                        struct jerr *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int rc = -1;
    if (ss == NULL || sig == NULL || sig_len == NULL)
        jerr_set(err, JERR_INVALID, NULL, "signer_stream_final: missing argument");
    else if (!ss->prehash)
        rc = sign_final(ss->s, ss->mctx, sig, sig_len, err);
    else if (EVP_DigestFinal_ex(ss->mctx, md, &md_len) != 1)
        jerr_openssl(err, JERR_CRYPTO, NULL, "cannot hash the data to sign");
    else
        rc = sign_digest_sized(ss->s, md, md_len, sig, sig_len, err);
    signer_stream_free(ss);
    return rc;
}

void signer_stream_free(struct signer_stream *ss)
{
    if (ss == NULL)
        return;
    if (ss->prehash)
        EVP_MD_CTX_free(ss->mctx);
    else
        sign_ctx_free(ss->s, ss->mctx);
    OPENSSL_free(ss);
}
