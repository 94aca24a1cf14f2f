/*
 * signer_pkcs11: a shared token, its keys, the signing-concurrency cap and the reconnection
 * after a lost token (see signer_pkcs11.h).
 *
 * What it owns: one struct p11 and, per key, the EVP_PKEY libp11 made for it. Lock order: the
 * token's mutex only (there is no other lock here). The mutex is never held during a
 * signature; it is held while the module is reloaded, which only happens when no key is
 * borrowed (users == 0), so no EVP_PKEY is freed under a signer's feet.
 */
#include "keystore/signer_pkcs11.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "base/jclock.h"
#include "keystore/p11.h"

/* A lost token is tried again at most this often (a reload re-reads the token). */
#define SIGNER_TOKEN_RETRY_MS 1000
#define SIGNER_TOKEN_LABEL_MAX 128

struct signer_token_key {
    struct signer_token *token;
    char label[SIGNER_TOKEN_LABEL_MAX];
    EVP_PKEY *pkey; /* libp11's, NULL while the token is lost */
    struct signer_token_key *next;
};

struct signer_token {
    struct p11 *p11;
    pthread_mutex_t lock;
    pthread_cond_t cond;   /* a borrower left */
    int sessions;          /* borrowers allowed at once */
    int users;             /* borrowers now */
    bool lost;             /* a token operation failed; reconnect before the next use */
    long long retry_at_ms; /* the earliest reconnection attempt */
    struct jerr lost_err;  /* why, for the refusals meanwhile */
    struct signer_token_key *keys;
};

struct signer_token *signer_token_open(const char *module, const char *token, const char *pin,
                                       int sessions, struct jerr *err)
{
    struct signer_token *t = OPENSSL_zalloc(sizeof(*t));
    if (t == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    t->p11 = p11_open(module, token, pin, err);
    if (t->p11 == NULL) {
        OPENSSL_free(t);
        return NULL;
    }
    t->sessions = sessions < 1 ? 1 : sessions;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    return t;
}

void signer_token_free(struct signer_token *t)
{
    if (t == NULL)
        return;
    p11_free(t->p11);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->cond);
    OPENSSL_free(t);
}

/* Reloads the module and every key. Called with the lock held and users == 0. */
static int reconnect_locked(struct signer_token *t, struct jerr *err)
{
    for (struct signer_token_key *k = t->keys; k != NULL; k = k->next) {
        EVP_PKEY_free(k->pkey);
        k->pkey = NULL;
    }
    if (p11_reopen(t->p11, err) == -1)
        return -1;
    for (struct signer_token_key *k = t->keys; k != NULL; k = k->next)
        if ((k->pkey = p11_get1_private_key(t->p11, k->label, err)) == NULL)
            return -1;
    return 0;
}

/* Makes the token usable if it was lost and a retry is due; with the lock held. Returns 0
 * when usable, -1 with err (the reason) when not. */
static int heal_locked(struct signer_token *t, struct jerr *err)
{
    if (!t->lost)
        return 0;
    if (t->users > 0 || jclock_mono_ms() < t->retry_at_ms) {
        *err = t->lost_err;
        return -1;
    }
    struct jerr why = {0};
    if (reconnect_locked(t, &why) == -1) {
        t->lost_err = why;
        t->retry_at_ms = jclock_mono_ms() + SIGNER_TOKEN_RETRY_MS;
        *err = why;
        return -1;
    }
    t->lost = false;
    return 0;
}

static void mark_lost_locked(struct signer_token *t, const struct jerr *why)
{
    if (!t->lost) {
        t->lost = true;
        t->lost_err = *why;
        t->retry_at_ms = jclock_mono_ms(); /* the next borrower after the last one leaves */
    }
}

int signer_token_check(struct signer_token *t, struct jerr *err)
{
    pthread_mutex_lock(&t->lock);
    if (heal_locked(t, err) == -1) {
        pthread_mutex_unlock(&t->lock);
        return -1;
    }
    t->users++; /* keeps a reconnection away while the check runs unlocked */
    pthread_mutex_unlock(&t->lock);

    struct jerr why = {0};
    int rc = p11_check(t->p11, &why);

    pthread_mutex_lock(&t->lock);
    t->users--;
    if (rc == -1) {
        mark_lost_locked(t, &why);
        *err = why;
    }
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
    return rc;
}

int signer_token_generate(struct signer_token *t, const char *label, const struct keyalg *alg,
                          char **uri, struct jerr *err)
{
    int rc = -1;
    pthread_mutex_lock(&t->lock);
    if (heal_locked(t, err) == 0 &&
        p11_generate(t->p11, label, (const unsigned char *)label, strlen(label), alg, err) == 0 &&
        (*uri = p11_key_uri(t->p11, label, (const unsigned char *)label, strlen(label), err)) !=
            NULL)
        rc = 0;
    pthread_mutex_unlock(&t->lock);
    return rc;
}

int signer_token_destroy(struct signer_token *t, const char *label, struct jerr *err)
{
    int rc = -1;
    pthread_mutex_lock(&t->lock);
    if (heal_locked(t, err) == 0)
        rc = p11_destroy_objects(t->p11, label, err);
    pthread_mutex_unlock(&t->lock);
    return rc;
}

bool signer_token_has(struct signer_token *t, const char *label)
{
    pthread_mutex_lock(&t->lock);
    bool has = !t->lost && p11_has_private_key(t->p11, label);
    pthread_mutex_unlock(&t->lock);
    return has;
}

struct signer_token_key *signer_token_key_open(struct signer_token *t, const char *uri,
                                               struct jerr *err)
{
    char token[64], label[SIGNER_TOKEN_LABEL_MAX];
    struct signer_token_key *k = NULL;

    if (p11_key_uri_parse(uri, token, sizeof(token), label, sizeof(label), err) == -1)
        return NULL;
    if (strcmp(token, p11_token_label(t->p11)) != 0) {
        jerr_set(err, JERR_CONFIG, "keystore.pkcs11.token",
                 "key \"%s\" is in token \"%s\", but keystore.pkcs11.token is \"%s\"", label, token,
                 p11_token_label(t->p11));
        return NULL;
    }
    if ((k = OPENSSL_zalloc(sizeof(*k))) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    k->token = t;
    snprintf(k->label, sizeof(k->label), "%s", label);

    pthread_mutex_lock(&t->lock);
    int ok =
        heal_locked(t, err) == 0 && (k->pkey = p11_get1_private_key(t->p11, k->label, err)) != NULL;
    if (ok) {
        k->next = t->keys;
        t->keys = k;
    }
    pthread_mutex_unlock(&t->lock);
    if (!ok) {
        EVP_PKEY_free(k->pkey);
        OPENSSL_free(k);
        return NULL;
    }
    return k;
}

void signer_token_key_free(struct signer_token_key *k)
{
    if (k == NULL)
        return;
    struct signer_token *t = k->token;
    pthread_mutex_lock(&t->lock);
    for (struct signer_token_key **pp = &t->keys; *pp != NULL; pp = &(*pp)->next)
        if (*pp == k) {
            *pp = k->next;
            break;
        }
    pthread_mutex_unlock(&t->lock);
    EVP_PKEY_free(k->pkey);
    OPENSSL_free(k);
}

EVP_PKEY *signer_token_key_acquire(struct signer_token_key *k, struct jerr *err)
{
    struct signer_token *t = k->token;
    EVP_PKEY *pkey = NULL;

    pthread_mutex_lock(&t->lock);
    while (!t->lost && t->users >= t->sessions)
        pthread_cond_wait(&t->cond, &t->lock);
    if (heal_locked(t, err) == 0) {
        t->users++;
        pkey = k->pkey;
    }
    pthread_mutex_unlock(&t->lock);
    return pkey;
}

void signer_token_key_release(struct signer_token_key *k)
{
    struct signer_token *t = k->token;
    pthread_mutex_lock(&t->lock);
    t->users--;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

int signer_token_key_failed(struct signer_token_key *k, struct jerr *err, const char *what)
{
    struct signer_token *t = k->token;
    struct jerr why = {0};
    p11_fail(t->p11, &why, JERR_UNAVAILABLE, what);
    /* Any failure of a signature by the token is treated as a lost token: reloading costs
     * milliseconds, and a wrong answer from a half-working token is worse. */
    if (why.code != JERR_UNAVAILABLE)
        why.code = JERR_UNAVAILABLE;
    pthread_mutex_lock(&t->lock);
    mark_lost_locked(t, &why);
    pthread_mutex_unlock(&t->lock);
    return jerr_set(err, why.code, why.field, "%s", why.msg);
}
