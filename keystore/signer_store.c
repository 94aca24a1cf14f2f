/*
 * signer_store: where an instance's named keys are kept — encrypted files or a PKCS#11 token
 * (see signer.h). The one place that knows keystore.backend.
 *
 * On a token, a key's name and generation make its CKA_LABEL and CKA_ID ("jpki sign-ocsp g2");
 * DATA_DIR/token/<name>.uri says which generation is current. A renewal generates the next
 * generation in the token first and then replaces the reference atomically, so a crash leaves
 * either the old reference (and an unused key object in the token) or the new one — never a
 * reference to nothing. Older generations stay in the token: signatures they made still
 * verify against certificates that name them, and deleting a CA key is an operator's act
 * (pkcs11-tool --delete-object), not a side effect.
 */
#include "keystore/signer.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/fsutil.h"
#include "keystore/p11.h"
#include "keystore/signer_pkcs11.h"

#define STORE_KEY_DIR "keys"
#define STORE_TOKEN_DIR "token"
/* A pkcs11: URI of a label of ~40 bytes, percent-encoded, is a few hundred bytes. */
#define STORE_URI_MAX 4096
#define STORE_LABEL_MAX 128

struct signer_store {
    const struct jpki_config *cfg;
    char *passphrase;           /* file backend; wiped on free */
    struct signer_token *token; /* pkcs11 backend */
};

struct signer_store *signer_store_open(const struct jpki_config *cfg, const char *passphrase,
                                       struct jerr *err)
{
    struct signer_store *st = OPENSSL_zalloc(sizeof(*st));
    char *pin = NULL;

    if (st == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    st->cfg = cfg;
    if (passphrase != NULL && (st->passphrase = OPENSSL_strdup(passphrase)) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto fail;
    }
    if (config_keystore_is_pkcs11(cfg)) {
        if ((pin = config_read_hsm_pin(cfg, err)) == NULL)
            goto fail;
        st->token = signer_token_open(cfg->p11_module, cfg->p11_token, pin, cfg->p11_sessions, err);
        config_passphrase_free(pin);
        if (st->token == NULL)
            goto fail;
    }
    return st;
fail:
    signer_store_free(st);
    return NULL;
}

void signer_store_free(struct signer_store *st)
{
    if (st == NULL)
        return;
    signer_token_free(st->token);
    if (st->passphrase != NULL)
        OPENSSL_clear_free(st->passphrase, strlen(st->passphrase));
    OPENSSL_free(st);
}

/* DATA_DIR/keys/<name>.key or DATA_DIR/token/<name>.uri. */
static int store_path(const struct signer_store *st, const char *name, char *buf, size_t size,
                      struct jerr *err)
{
    char rel[256];
    if (st->token != NULL)
        snprintf(rel, sizeof(rel), "%s/%s.uri", STORE_TOKEN_DIR, name);
    else
        snprintf(rel, sizeof(rel), "%s/%s.key", STORE_KEY_DIR, name);
    if (config_path(st->cfg, rel, buf, size) == NULL)
        return jerr_set(err, JERR_CONFIG, "data_dir", "data_dir path too long");
    return 0;
}

/* The reference file's URI (trailing newline dropped); malloc'd. */
static char *read_uri(const char *path, struct jerr *err)
{
    unsigned char *data = NULL;
    size_t len = 0;
    if (fsutil_read_file(path, STORE_URI_MAX, &data, &len, err) == -1)
        return NULL;
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        data[--len] = '\0';
    return (char *)data;
}

/* The CKA_LABEL the reference at `path` names (label: STORE_LABEL_MAX bytes). */
static int reference_label(const char *path, char *label, struct jerr *err)
{
    char token[64];
    char *uri = read_uri(path, err);
    int rc = uri != NULL && p11_key_uri_parse(uri, token, sizeof(token), label, STORE_LABEL_MAX,
                                              err) == 0
                 ? 0
                 : -1;
    free(uri);
    return rc;
}

int signer_store_discard(struct signer_store *st, const char *name, struct jerr *err)
{
    char path[PATH_MAX], label[STORE_LABEL_MAX];
    if (store_path(st, name, path, sizeof(path), err) == -1)
        return -1;
    /* On a token the key object goes first, then the reference: a failure in between leaves a
     * reference that a retry follows again, never an object nothing names. */
    if (st->token != NULL && fsutil_exists(path) &&
        (reference_label(path, label, err) == -1 ||
         signer_token_destroy(st->token, label, err) == -1))
        return -1;
    if (unlink(path) == -1 && errno != ENOENT)
        return jerr_set(err, JERR_IO, NULL, "%s: cannot remove: %s", path, strerror(errno));
    return 0;
}

bool signer_store_has(const struct signer_store *st, const char *name)
{
    char path[PATH_MAX];
    return store_path(st, name, path, sizeof(path), NULL) == 0 && fsutil_exists(path);
}

/* The token object label of generation `gen` of key `name`. */
static void token_label(const char *name, int gen, char *out, size_t size)
{
    snprintf(out, size, "jpki %s g%d", name, gen);
}


/* The generation of the key the reference at `path` names (0 when the label has none). */
static int current_generation(const char *path, const char *name, struct jerr *err)
{
    char label[STORE_LABEL_MAX], prefix[STORE_LABEL_MAX];
    if (reference_label(path, label, err) == -1)
        return -1;
    snprintf(prefix, sizeof(prefix), "jpki %s g", name);
    return strncmp(label, prefix, strlen(prefix)) == 0 ? atoi(label + strlen(prefix)) : 0;
}

static struct signer *token_create(struct signer_store *st, const char *name,
                                   const struct keyalg *alg, bool replace, const char *path,
                                   struct jerr *err)
{
    char label[STORE_LABEL_MAX], dir[PATH_MAX];
    char *uri = NULL;
    struct signer *s = NULL;
    int gen = 1;

    if (replace && fsutil_exists(path)) {
        if ((gen = current_generation(path, name, err)) < 0)
            return NULL;
        /* the next generation the token does not hold yet (a failed renewal may have left
         * one behind, unreferenced) */
        do
            token_label(name, ++gen, label, sizeof(label));
        while (signer_token_has(st->token, label));
    } else if (fsutil_exists(path)) {
        jerr_set(err, JERR_CONFLICT, NULL, "%s: already exists; refusing to replace a key", path);
        return NULL;
    }
    token_label(name, gen, label, sizeof(label));
    if (config_path(st->cfg, STORE_TOKEN_DIR, dir, sizeof(dir)) == NULL) {
        jerr_set(err, JERR_CONFIG, "data_dir", "data_dir path too long");
        return NULL;
    }
    if (fsutil_mkdirs(dir, 0755, err) == -1 ||
        signer_token_generate(st->token, label, alg, &uri, err) == -1)
        goto out;
    size_t len = strlen(uri);
    char *line = malloc(len + 2);
    if (line == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    memcpy(line, uri, len);
    line[len] = '\n';
    int written = fsutil_write_atomic(path, line, len + 1, 0644, !replace, err);
    free(line);
    if (written == -1) {
        /* No reference, no object: a key nothing names would block the next ceremony's
         * label (signer_store_check_new). */
        struct jerr ignored = {0};
        signer_token_destroy(st->token, label, &ignored);
        goto out;
    }
    s = signer_store_load(st, name, err);
out:
    free(uri);
    return s;
}

static struct signer *file_create(struct signer_store *st, const struct keyalg *alg, bool replace,
                                  const char *path, struct jerr *err)
{
    char tmp[PATH_MAX];
    struct signer *s = signer_generate(alg, err);
    if (s == NULL)
        return NULL;
    if (!replace) {
        if (signer_save(s, path, st->passphrase, err) == -1)
            goto fail;
        return s;
    }
    /* Renewal: the new key goes beside the old one, then is swapped in. */
    if (snprintf(tmp, sizeof(tmp), "%.4000s.new", path) >= (int)sizeof(tmp)) {
        jerr_set(err, JERR_IO, NULL, "key path too long");
        goto fail;
    }
    remove(tmp);
    if (signer_save(s, tmp, st->passphrase, err) == -1 || fsutil_publish(tmp, path, err) == -1)
        goto fail;
    return s;
fail:
    signer_free(s);
    return NULL;
}

struct signer *signer_store_create(struct signer_store *st, const char *name,
                                   const struct keyalg *alg, bool replace, struct jerr *err)
{
    char path[PATH_MAX];
    if (store_path(st, name, path, sizeof(path), err) == -1)
        return NULL;
    if (st->token == NULL)
        return file_create(st, alg, replace, path, err);
    return token_create(st, name, alg, replace, path, err);
}

int signer_store_check_new(struct signer_store *st, const char *name, struct jerr *err)
{
    char label[STORE_LABEL_MAX];
    if (st->token == NULL)
        return 0;
    token_label(name, 1, label, sizeof(label));
    if (!signer_token_has(st->token, label))
        return 0;
    return jerr_set(err, JERR_CONFLICT, "keystore.pkcs11.token",
                    "PKCS#11 module %s, token \"%s\": already holds a key labelled \"%s\" (another "
                    "instance's, or a failed init's); use another token or delete it with "
                    "pkcs11-tool --delete-object",
                    st->cfg->p11_module, st->cfg->p11_token, label);
}

struct signer *signer_store_load(struct signer_store *st, const char *name, struct jerr *err)
{
    char path[PATH_MAX];
    if (store_path(st, name, path, sizeof(path), err) == -1)
        return NULL;
    if (!fsutil_exists(path)) {
        jerr_set(err, JERR_NOT_FOUND, NULL, "%s: no such key", path);
        return NULL;
    }
    if (st->token == NULL)
        return signer_load(path, st->passphrase, err);

    char *uri = read_uri(path, err);
    if (uri == NULL)
        return NULL;
    struct signer_token_key *k = signer_token_key_open(st->token, uri, err);
    free(uri);
    if (k == NULL)
        return NULL;
    return signer_wrap_token(k, err);
}

int signer_store_check(struct signer_store *st, struct jerr *err)
{
    if (st->token == NULL)
        return 0;
    return signer_token_check(st->token, err);
}
