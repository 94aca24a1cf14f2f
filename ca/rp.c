/*
 * rp: see rp.h. Key pairs and certificates are made before the transaction opens; every write
 * is one transaction (enginetx.h) that ends with the caller's own row.
 */
#include "ca/rp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "base/jclock.h"
#include "base/membio.h"
#include "ca/enginetx.h"
#include "ca/pki.h"
#include "ca/rpca.h"
#include "ca/statusq.h"
#include "keystore/pubkey.h"

static const char *const kind_names[] = {"signature", "authentication", "platform"};
static const char *const state_names[] = {"active", "suspended", "deleted"};

const char *rp_kind_name(enum rp_kind kind)
{
    return (unsigned)kind < 3 ? kind_names[kind] : "unknown";
}

int rp_kind_parse(const char *text, enum rp_kind *kind)
{
    for (int k = 0; k < 3; k++)
        if (text != NULL && strcmp(text, kind_names[k]) == 0)
            return *kind = (enum rp_kind)k, 0;
    return -1;
}

const char *rp_state_name(enum rp_state state)
{
    return (unsigned)state < 3 ? state_names[state] : "unknown";
}

int rp_access_format(const struct rp_rec *rp, char *out, size_t size)
{
    int n = snprintf(out, size, "1 %lld %s %s %s %s", (long long)rp->pk, rp_kind_name(rp->kind),
                     rp_state_name(rp->state), rp->token_sha256[0] != '\0' ? rp->token_sha256 : "-",
                     rp->cert_serial[0] != '\0' ? rp->cert_serial : "-");
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/* True when s is `min`..`max` characters of `set`. */
static bool all_of(const char *s, const char *set, size_t min, size_t max)
{
    size_t n = strlen(s);
    return n >= min && n <= max && strspn(s, set) == n;
}

int rp_access_parse(const char *id, const char *text, size_t len, struct rp_rec *out,
                    struct jerr *err)
{
    char buf[RP_ACCESS_TEXT_MAX + 1], kind[24], state[24], token[80], serial[64];
    long long pk = 0;
    int end = 0;

    memset(out, 0, sizeof(*out));
    if (model_check_id("id", id, err) == -1)
        return -1;
    if (len > RP_ACCESS_TEXT_MAX || memchr(text, '\0', len) != NULL)
        return jerr_set(err, JERR_INVALID, "rp", "party %s: not an access record", id);
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (sscanf(buf, "1 %lld %23s %23s %79s %63s%n", &pk, kind, state, token, serial, &end) != 5 ||
        buf[end] != '\0' || pk <= 0 || rp_kind_parse(kind, &out->kind) == -1)
        return jerr_set(err, JERR_INVALID, "rp", "party %s: not an access record", id);
    int s = 0;
    while (s < 3 && strcmp(state, state_names[s]) != 0)
        s++;
    bool token_ok = strcmp(token, "-") == 0 ||
                    all_of(token, "0123456789abcdef", STORE_TOKEN_SHA256_HEX, STORE_TOKEN_SHA256_HEX);
    bool serial_ok = strcmp(serial, "-") == 0 ||
                     all_of(serial, "0123456789ABCDEF", 1, JPKI_SERIAL_HEX_MAX);
    if (s == 3 || !token_ok || !serial_ok)
        return jerr_set(err, JERR_INVALID, "rp", "party %s: not an access record", id);
    out->pk = pk;
    out->state = (enum rp_state)s;
    snprintf(out->id, sizeof(out->id), "%s", id);
    if (token[0] != '-')
        memcpy(out->token_sha256, token, STORE_TOKEN_SHA256_HEX + 1);
    if (serial[0] != '-')
        snprintf(out->cert_serial, sizeof(out->cert_serial), "%s", serial);
    return 0;
}

bool rp_kind_allows(enum rp_kind kind, enum ca_kind ca)
{
    switch (kind) {
    case RP_KIND_PLATFORM:
        return ca == CA_SIGN || ca == CA_AUTH;
    case RP_KIND_SIGNATURE:
        return ca == CA_SIGN;
    case RP_KIND_AUTHENTICATION:
        return ca == CA_AUTH;
    }
    return false;
}

void rp_issued_clear(struct rp_issued *issued)
{
    free(issued->cert_pem);
    if (issued->key_pem != NULL) {
        OPENSSL_cleanse(issued->key_pem, strlen(issued->key_pem));
        free(issued->key_pem);
    }
    issued->cert_pem = issued->key_pem = NULL;
}

/* PEM of `cert`, or of `key` (PKCS#8, unencrypted) when cert is NULL, as a malloc'd string. */
static char *pem_of(X509 *cert, EVP_PKEY *key, struct jerr *err)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *text = NULL;
    int ok = bio != NULL &&
             (cert != NULL ? PEM_write_bio_X509(bio, cert)
                           : PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL));
    if (ok == 1)
        text = membio_to_string(bio, err);
    else
        jerr_openssl(err, JERR_CRYPTO, NULL, "PEM encoding");
    BIO_free(bio);
    return text;
}

/* The key the certificate is for: the request's, or a new P-256 pair (*made, to return). */
static EVP_PKEY *party_key(const char *csr_pem, size_t csr_len, EVP_PKEY **made, struct jerr *err)
{
    *made = NULL;
    if (csr_pem != NULL)
        return pubkey_from_csr_pem(csr_pem, csr_len, "csr", err);
    *made = EVP_EC_gen("P-256");
    if (*made == NULL) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "relying-party key generation");
        return NULL;
    }
    EVP_PKEY_up_ref(*made);
    return *made;
}

int rp_create(struct lifecycle_ctx *ctx, struct rp_rec *rp, const char *csr_pem, size_t csr_len,
              struct rp_issued *out, struct jerr *err)
{
    struct rpca *ca = pki_get0_rpca(ctx->pki);
    struct rp_issued issued = {NULL, NULL};
    EVP_PKEY *made = NULL, *pub = NULL;
    X509 *cert = NULL;
    BIGNUM *bn = NULL;
    char *hex = NULL;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (ca == NULL)
        return jerr_set(err, JERR_UNAVAILABLE, NULL, "the relying-party CA is not loaded");
    if ((pub = party_key(csr_pem, csr_len, &made, err)) == NULL ||
        (cert = rpca_issue(ca, rp->id, pub, err)) == NULL ||
        (issued.cert_pem = pem_of(cert, NULL, err)) == NULL ||
        (made != NULL && (issued.key_pem = pem_of(NULL, made, err)) == NULL))
        goto out;
    if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL)) == NULL ||
        (hex = BN_bn2hex(bn)) == NULL || strlen(hex) >= sizeof(rp->cert_serial)) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "relying-party certificate serial");
        goto out;
    }
    snprintf(rp->cert_serial, sizeof(rp->cert_serial), "%s", hex);
    time_t end;
    if (jclock_from_asn1(X509_get0_notAfter(cert), &end) == -1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "relying-party certificate notAfter");
        goto out;
    }
    rp->cert_not_after = (int64_t)end;
    rp->state = RP_STATE_ACTIVE;
    rp->created_at = 0;
    snprintf(rp->created_by, sizeof(rp->created_by), "%s", ctx->actor);
    if (enginetx_begin(ctx, err) == -1)
        goto out;
    if (enginetx_end(ctx, store_rp_insert(ctx->st, rp, err), rp, err) == -1)
        goto out;
    *out = issued;
    issued.cert_pem = issued.key_pem = NULL;
    rc = 0;
out:
    rp_issued_clear(&issued);
    OPENSSL_free(hex);
    BN_free(bn);
    X509_free(cert);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(made);
    return rc;
}

/* Moves party `id` to `to` (from a state other than deleted). */
static int set_state(struct lifecycle_ctx *ctx, const char *id, enum rp_state to,
                     struct rp_rec *out, struct jerr *err)
{
    if (store_rp_get(ctx->st, id, out, err) == -1)
        return -1;
    if (out->state == RP_STATE_DELETED)
        return jerr_set(err, JERR_REFUSED, "id", "relying party %s is deleted", out->id);
    if (out->state == to)
        return 0;
    if (enginetx_begin(ctx, err) == -1)
        return -1;
    int rc = store_rp_set_state(ctx->st, id, to, err);
    if (rc == 0)
        rc = store_rp_get(ctx->st, id, out, err);
    return enginetx_end(ctx, rc, out, err);
}

int rp_suspend(struct lifecycle_ctx *ctx, const char *id, struct rp_rec *out, struct jerr *err)
{
    return set_state(ctx, id, RP_STATE_SUSPENDED, out, err);
}

int rp_resume(struct lifecycle_ctx *ctx, const char *id, struct rp_rec *out, struct jerr *err)
{
    return set_state(ctx, id, RP_STATE_ACTIVE, out, err);
}

int rp_delete(struct lifecycle_ctx *ctx, const char *id, struct rp_rec *out, bool *crl_failed,
              struct jerr *err)
{
    *crl_failed = false;
    if (store_rp_get(ctx->st, id, out, err) == -1)
        return -1;
    if (out->state == RP_STATE_DELETED)
        return jerr_set(err, JERR_REFUSED, "id", "relying party %s is deleted already", out->id);
    if (set_state(ctx, id, RP_STATE_DELETED, out, err) == -1)
        return -1;
    struct jerr crl_err = {0};
    if (rp_crl_publish(ctx->pki, ctx->st, &crl_err) == -1) {
        *crl_failed = true;
        *err = crl_err;
    }
    return 0;
}

/* ---- the CRL ---- */

struct revoked_list {
    struct rpca_revoked *items;
    size_t count, cap;
};

static int collect_revoked(void *arg, const struct rp_rec *rp)
{
    struct revoked_list *list = arg;
    if (rp->state != RP_STATE_DELETED || rp->cert_serial[0] == '\0')
        return 0;
    if (list->count == list->cap) {
        size_t cap = list->cap == 0 ? 16 : 2 * list->cap;
        struct rpca_revoked *more = realloc(list->items, cap * sizeof(*more));
        if (more == NULL)
            return -1;
        list->items = more;
        list->cap = cap;
    }
    struct rpca_revoked *r = &list->items[list->count++];
    snprintf(r->serial, sizeof(r->serial), "%s", rp->cert_serial);
    r->at = rp->updated_at;
    return 0;
}

int rp_crl_publish(struct pki *pki, struct store *st, struct jerr *err)
{
    struct rpca *ca = pki_get0_rpca(pki);
    struct revoked_list list = {NULL, 0, 0};
    int rc = -1;

    if (ca == NULL)
        return jerr_set(err, JERR_UNAVAILABLE, NULL, "the relying-party CA is not loaded");
    if (store_rp_foreach(st, collect_revoked, &list, err) == 0)
        rc = rpca_publish_crl(ca, list.items, list.count, err);
    free(list.items);
    return rc;
}

/* ---- usage ---- */

int rp_usage_record(struct store *st, const struct rp_usage_count *counts, size_t n,
                    const struct rp_cert_seen *seen, size_t m, const char *mark,
                    struct jerr *err)
{
    char last[64] = "";
    if (n == 0 && m == 0 && mark == NULL)
        return 0;
    if (store_begin(st, err) == -1)
        return -1;
    if (mark != NULL) {
        struct jerr none = {0};
        if (store_meta_get(st, RP_USAGE_MARK_KEY, last, sizeof(last), &none) == -1) {
            if (none.code != JERR_NOT_FOUND) {
                *err = none;
                goto fail;
            }
            last[0] = '\0'; /* nothing folded yet */
        }
        if (!statusq_mark_newer(mark, last)) { /* folded before */
            store_rollback(st);
            return 0;
        }
        if (store_meta_set(st, RP_USAGE_MARK_KEY, mark, err) == -1)
            goto fail;
    }
    for (size_t i = 0; i < n; i++)
        if (store_rp_usage_add(st, counts[i].party, counts[i].day, counts[i].ca, counts[i].what,
                               counts[i].calls, err) == -1)
            goto fail;
    for (size_t i = 0; i < m; i++)
        if (store_rp_cert_seen(st, seen[i].party, seen[i].month, seen[i].ca, seen[i].serial, err) ==
            -1)
            goto fail;
    return store_commit(st, err);
fail:
    store_rollback(st);
    return -1;
}
