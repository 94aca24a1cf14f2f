/*
 * checkpoint: see checkpoint.h. The ASN.1 is OpenSSL's templates (no hand-written DER); the
 * key stays in the signer (signer_sign_bytes over the DER of tbs). Verification needs only the
 * public key, so an auditor runs it without the CA passphrase.
 */
#include "ca/checkpoint.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/asn1t.h>
#include <openssl/crypto.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "base/jclock.h"
#include "base/membio.h"

#define CHECKPOINT_VERSION 1

typedef struct {
    ASN1_INTEGER *version;
    ASN1_INTEGER *rows;
    ASN1_OCTET_STRING *head;
    ASN1_GENERALIZEDTIME *time;
    ASN1_OCTET_STRING *key_id;
} CHECKPOINT_TBS;

typedef struct {
    CHECKPOINT_TBS *tbs;
    X509_ALGOR *algorithm;
    ASN1_BIT_STRING *signature;
} CHECKPOINT_SIGNED;

/* The ASN.1 template macros confuse clang-format; keep them as OpenSSL writes them. */
/* clang-format off */
ASN1_SEQUENCE(CHECKPOINT_TBS) = {
    ASN1_SIMPLE(CHECKPOINT_TBS, version, ASN1_INTEGER),
    ASN1_SIMPLE(CHECKPOINT_TBS, rows, ASN1_INTEGER),
    ASN1_SIMPLE(CHECKPOINT_TBS, head, ASN1_OCTET_STRING),
    ASN1_SIMPLE(CHECKPOINT_TBS, time, ASN1_GENERALIZEDTIME),
    ASN1_SIMPLE(CHECKPOINT_TBS, key_id, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END(CHECKPOINT_TBS)

ASN1_SEQUENCE(CHECKPOINT_SIGNED) = {
    ASN1_SIMPLE(CHECKPOINT_SIGNED, tbs, CHECKPOINT_TBS),
    ASN1_SIMPLE(CHECKPOINT_SIGNED, algorithm, X509_ALGOR),
    ASN1_SIMPLE(CHECKPOINT_SIGNED, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(CHECKPOINT_SIGNED)

struct checkpoint; /* a plain declaration: clang-format finds its footing again here */
/* clang-format on */

static void signed_free(CHECKPOINT_SIGNED *cs)
{
    ASN1_item_free((ASN1_VALUE *)cs, ASN1_ITEM_rptr(CHECKPOINT_SIGNED));
}

int checkpoint_key_id(EVP_PKEY *pub, unsigned char out[CHECKPOINT_KEY_ID_LEN], struct jerr *err)
{
    unsigned char *spki = NULL;
    unsigned int md_len = 0;
    int len = pub != NULL ? i2d_PUBKEY(pub, &spki) : -1;
    int rc = -1;

    if (len <= 0) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "audit key: cannot encode the public key");
        goto out;
    }
    if (EVP_Digest(spki, (size_t)len, out, &md_len, EVP_sha256(), NULL) != 1 ||
        md_len != CHECKPOINT_KEY_ID_LEN) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "audit key: cannot hash the public key");
        goto out;
    }
    rc = 0;
out:
    OPENSSL_free(spki);
    return rc;
}

int checkpoint_key_fingerprint(EVP_PKEY *pub, char out[96], struct jerr *err)
{
    unsigned char id[CHECKPOINT_KEY_ID_LEN];

    if (checkpoint_key_id(pub, id, err) == -1)
        return -1;
    if (OPENSSL_buf2hexstr_ex(out, 96, NULL, id, sizeof(id), ':') != 1)
        return jerr_openssl(err, JERR_INTERNAL, NULL, "key fingerprint");
    return 0;
}

int checkpoint_sign(const struct signer *audit, int64_t rows,
                    const unsigned char head[AUDIT_HASH_LEN], int64_t at, unsigned char **der,
                    size_t *der_len, struct jerr *err)
{
    CHECKPOINT_SIGNED *cs = NULL;
    EVP_PKEY *pub = NULL;
    unsigned char key_id[CHECKPOINT_KEY_ID_LEN];
    unsigned char *tbs = NULL, *sig = NULL, *out = NULL;
    const unsigned char *alg = NULL;
    size_t alg_len = 0, sig_len = 0;
    int tbs_len, out_len;
    int rc = -1;

    *der = NULL;
    *der_len = 0;
    if (rows < 0)
        return jerr_set(err, JERR_INVALID, "rows", "checkpoint: negative row count");
    if ((pub = signer_get1_public_key(audit)) == NULL) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "audit key: no public key");
        goto out;
    }
    if (checkpoint_key_id(pub, key_id, err) == -1)
        goto out;
    cs = (CHECKPOINT_SIGNED *)ASN1_item_new(ASN1_ITEM_rptr(CHECKPOINT_SIGNED));
    if (cs == NULL || ASN1_INTEGER_set(cs->tbs->version, CHECKPOINT_VERSION) != 1 ||
        ASN1_INTEGER_set_int64(cs->tbs->rows, rows) != 1 ||
        ASN1_OCTET_STRING_set(cs->tbs->head, head, AUDIT_HASH_LEN) != 1 ||
        ASN1_GENERALIZEDTIME_set(cs->tbs->time, (time_t)at) == NULL ||
        ASN1_OCTET_STRING_set(cs->tbs->key_id, key_id, sizeof(key_id)) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "checkpoint: cannot build");
        goto out;
    }
    tbs_len = ASN1_item_i2d((ASN1_VALUE *)cs->tbs, &tbs, ASN1_ITEM_rptr(CHECKPOINT_TBS));
    if (tbs_len <= 0) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "checkpoint: cannot encode");
        goto out;
    }
    if (signer_algorithm_der(audit, &alg, &alg_len, err) == -1 ||
        signer_sign_bytes(audit, tbs, (size_t)tbs_len, &sig, &sig_len, err) == -1)
        goto out;
    const unsigned char *p = alg;
    X509_ALGOR_free(cs->algorithm);
    cs->algorithm = d2i_X509_ALGOR(NULL, &p, (long)alg_len);
    if (cs->algorithm == NULL || sig_len > INT_MAX ||
        ASN1_BIT_STRING_set(cs->signature, sig, (int)sig_len) != 1) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "checkpoint: cannot set the signature");
        goto out;
    }
    /* A signature is a whole number of bytes: no unused bits (X.690 §8.6.2.2). */
    cs->signature->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
    cs->signature->flags |= ASN1_STRING_FLAG_BITS_LEFT;
    out_len = ASN1_item_i2d((ASN1_VALUE *)cs, &out, ASN1_ITEM_rptr(CHECKPOINT_SIGNED));
    if (out_len <= 0) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "checkpoint: cannot encode");
        goto out;
    }
    if ((*der = malloc((size_t)out_len)) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    memcpy(*der, out, (size_t)out_len);
    *der_len = (size_t)out_len;
    rc = 0;
out:
    OPENSSL_free(out);
    OPENSSL_free(tbs);
    OPENSSL_free(sig);
    signed_free(cs);
    EVP_PKEY_free(pub);
    return rc;
}

/* The one AlgorithmIdentifier the audit key `pub` signs with (keyalg_signature_algor), byte for
 * byte. */
static bool algorithm_is_expected(const X509_ALGOR *alg, EVP_PKEY *pub)
{
    struct keyalg spec;
    if (keyalg_of_key(pub, NULL, &spec, NULL) == -1)
        return false;
    X509_ALGOR *want = keyalg_signature_algor(&spec);
    bool same = want != NULL && X509_ALGOR_cmp(alg, want) == 0;
    X509_ALGOR_free(want);
    return same;
}

int checkpoint_verify(const unsigned char *der, size_t der_len, EVP_PKEY *pub,
                      struct checkpoint *out, struct jerr *err)
{
    CHECKPOINT_SIGNED *cs = NULL;
    const unsigned char *p = der;
    unsigned char key_id[CHECKPOINT_KEY_ID_LEN];
    struct checkpoint cp;
    time_t at;
    int64_t version = 0;
    int rc = -1;

    memset(&cp, 0, sizeof(cp));
    if (der == NULL || der_len == 0 || der_len > CHECKPOINT_DER_MAX)
        return jerr_set(err, JERR_INVALID, "checkpoint", "checkpoint: empty or too large");
    cs = (CHECKPOINT_SIGNED *)ASN1_item_d2i(NULL, &p, (long)der_len,
                                            ASN1_ITEM_rptr(CHECKPOINT_SIGNED));
    if (cs == NULL || p != der + der_len) {
        jerr_openssl(err, JERR_INVALID, "checkpoint", "not an audit checkpoint (DER)");
        goto out;
    }
    if (ASN1_INTEGER_get_int64(&version, cs->tbs->version) != 1 || version != CHECKPOINT_VERSION ||
        ASN1_INTEGER_get_int64(&cp.rows, cs->tbs->rows) != 1 || cp.rows < 0 ||
        ASN1_STRING_length(cs->tbs->head) != AUDIT_HASH_LEN ||
        ASN1_STRING_length(cs->tbs->key_id) != CHECKPOINT_KEY_ID_LEN ||
        jclock_from_asn1(cs->tbs->time, &at) == -1) {
        jerr_openssl(err, JERR_INVALID, "checkpoint", "audit checkpoint: malformed fields");
        goto out;
    }
    cp.at = (int64_t)at;
    memcpy(cp.head, ASN1_STRING_get0_data(cs->tbs->head), AUDIT_HASH_LEN);
    memcpy(cp.key_id, ASN1_STRING_get0_data(cs->tbs->key_id), CHECKPOINT_KEY_ID_LEN);
    if (checkpoint_key_id(pub, key_id, err) == -1)
        goto out;
    if (memcmp(key_id, cp.key_id, sizeof(key_id)) != 0) {
        jerr_set(err, JERR_CRYPTO, "checkpoint",
                 "audit checkpoint of %lld rows was signed by another key than the audit key",
                 (long long)cp.rows);
        goto out;
    }
    /* The algorithm is outside the signature: only the one signer.h signs with for this key
     * is taken, with its parameters as written (NULL for RSA, RFC 4055 §5; none for ECDSA,
     * RFC 5758 §3.2), so that no byte of a checkpoint is free. */
    if (!algorithm_is_expected(cs->algorithm, pub)) {
        jerr_set(err, JERR_INVALID, "checkpoint",
                 "audit checkpoint: signature algorithm is not the audit key's");
        goto out;
    }
    if (ASN1_item_verify(ASN1_ITEM_rptr(CHECKPOINT_TBS), cs->algorithm, cs->signature, cs->tbs,
                         pub) != 1) {
        jerr_openssl(err, JERR_CRYPTO, "checkpoint", "audit checkpoint of %lld rows: bad signature",
                     (long long)cp.rows);
        goto out;
    }
    *out = cp;
    rc = 0;
out:
    signed_free(cs);
    return rc;
}

int checkpoint_decode_file(const unsigned char *data, size_t len, unsigned char **der,
                           size_t *der_len, struct jerr *err)
{
    BIO *bio = NULL;
    char *name = NULL, *header = NULL;
    unsigned char *pem_der = NULL;
    long pem_len = 0;
    int rc = -1;

    *der = NULL;
    *der_len = 0;
    if (data == NULL || len == 0 || len > 4 * CHECKPOINT_DER_MAX)
        return jerr_set(err, JERR_INVALID, "checkpoint", "checkpoint file empty or too large");
    if (data[0] == 0x30) { /* a DER SEQUENCE */
        if ((*der = malloc(len)) == NULL)
            return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        memcpy(*der, data, len);
        *der_len = len;
        return 0;
    }
    if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL ||
        PEM_read_bio(bio, &name, &header, &pem_der, &pem_len) != 1 ||
        strcmp(name, CHECKPOINT_PEM_LABEL) != 0 || pem_len <= 0) {
        jerr_openssl(err, JERR_INVALID, "checkpoint",
                     "not a checkpoint file (PEM \"" CHECKPOINT_PEM_LABEL "\" or DER)");
        goto out;
    }
    if ((*der = malloc((size_t)pem_len)) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    memcpy(*der, pem_der, (size_t)pem_len);
    *der_len = (size_t)pem_len;
    rc = 0;
out:
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(pem_der);
    BIO_free(bio);
    return rc;
}

char *checkpoint_to_pem(const unsigned char *der, size_t der_len, struct jerr *err)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL;

    if (bio == NULL || der_len > CHECKPOINT_DER_MAX ||
        PEM_write_bio(bio, CHECKPOINT_PEM_LABEL, "", der, (long)der_len) <= 0) {
        jerr_openssl(err, JERR_CRYPTO, NULL, "checkpoint: cannot write PEM");
        goto out;
    }
    out = membio_to_string(bio, err);
out:
    BIO_free(bio);
    return out;
}

int checkpoint_write(struct store *st, const struct signer *audit, bool only_if_new, bool *written,
                     struct jerr *err)
{
    unsigned char head[AUDIT_HASH_LEN];
    unsigned char *der = NULL, *last_der = NULL;
    size_t der_len = 0, last_len = 0;
    int64_t rows = 0, last_rows = -1;
    int64_t at = (int64_t)jclock_now();
    struct jerr last_err = {0};
    int rc = -1;

    *written = false;
    if (store_begin(st, err) == -1)
        return -1;
    if (store_audit_head(st, &rows, head, err) == -1)
        goto out;
    if (store_checkpoint_last(st, &last_rows, &last_der, &last_len, &last_err) == -1) {
        if (last_err.code != JERR_NOT_FOUND) {
            *err = last_err;
            goto out;
        }
        last_rows = -1;
    }
    /* Never sign over a log shorter than an earlier checkpoint: that is a deletion to report,
     * not a state to vouch for. */
    if (last_rows > rows) {
        jerr_set(err, JERR_IO, "checkpoint",
                 "the audit log ends at row %lld but an earlier checkpoint covers %lld rows: "
                 "rows were deleted; no checkpoint signed",
                 (long long)rows, (long long)last_rows);
        goto out;
    }
    if (only_if_new && last_rows == rows) {
        rc = 0; /* nothing appended since the newest checkpoint */
        goto out;
    }
    if (checkpoint_sign(audit, rows, head, at, &der, &der_len, err) == -1 ||
        store_checkpoint_insert(st, rows, at, der, der_len, err) == -1 ||
        store_commit(st, err) == -1)
        goto out;
    *written = true;
    rc = 0;
out:
    if (!*written)
        store_rollback(st);
    free(der);
    free(last_der);
    return rc;
}

/* ---- verifying a registry ---- */

struct verify_state {
    EVP_PKEY *pub;
    struct checkpoint *cps; /* by rows */
    size_t count, cap;
    size_t next;          /* the first checkpoint whose row the walk has not reached */
    struct jerr mismatch; /* the first checkpoint the chain does not reach */
};

static int add_checkpoint(struct verify_state *vs, const struct checkpoint *cp, struct jerr *err)
{
    if (vs->count == vs->cap) {
        size_t cap = vs->cap == 0 ? 16 : vs->cap * 2;
        struct checkpoint *grown = realloc(vs->cps, cap * sizeof(*grown));
        if (grown == NULL)
            return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        vs->cps = grown;
        vs->cap = cap;
    }
    vs->cps[vs->count++] = *cp;
    return 0;
}

static int stored_checkpoint(void *ctx, int64_t rows, int64_t at, const unsigned char *der,
                             size_t der_len, struct jerr *err)
{
    struct verify_state *vs = ctx;
    struct checkpoint cp;

    if (checkpoint_verify(der, der_len, vs->pub, &cp, err) == -1)
        return -1;
    /* The columns are what the queries read: they must say what the signature covers. */
    if (cp.rows != rows || cp.at != at)
        return jerr_set(err, JERR_CRYPTO, "checkpoint",
                        "audit checkpoint table altered: a row says %lld rows at %lld, its "
                        "signed checkpoint %lld rows at %lld",
                        (long long)rows, (long long)at, (long long)cp.rows, (long long)cp.at);
    return add_checkpoint(vs, &cp, err);
}

static int cmp_rows(const void *a, const void *b)
{
    const struct checkpoint *x = a, *y = b;
    return x->rows < y->rows ? -1 : x->rows > y->rows;
}

static void mismatch(struct verify_state *vs, const struct checkpoint *cp, const char *why)
{
    char when[32];
    time_t t = (time_t)cp->at;
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(when, sizeof(when), "%lld", (long long)cp->at);
    jerr_set(&vs->mismatch, JERR_IO, "checkpoint",
             "the checkpoint signed at %s covers %lld rows, but %s", when, (long long)cp->rows,
             why);
}

/* Each intact row: the checkpoints ending at it must carry its hash. */
static void on_row(void *ctx, int64_t seq, const unsigned char *hash)
{
    struct verify_state *vs = ctx;

    while (vs->next < vs->count && vs->cps[vs->next].rows <= seq) {
        const struct checkpoint *cp = &vs->cps[vs->next++];
        if (cp->rows == seq && memcmp(cp->head, hash, AUDIT_HASH_LEN) != 0)
            mismatch(vs, cp, "the registry's row there has another hash: the log was rewritten");
    }
}

int checkpoint_verify_registry(struct store *st, EVP_PKEY *pub, const unsigned char *against,
                               size_t against_len, struct checkpoint_report *rep, struct jerr *err)
{
    static const unsigned char zeros[AUDIT_HASH_LEN];
    struct verify_state vs = {.pub = pub};
    int64_t bad_seq = 0, rows = 0;
    int rc = -1;

    memset(rep, 0, sizeof(*rep));
    if (store_checkpoint_foreach(st, stored_checkpoint, &vs, err) == -1)
        goto out;
    if (against != NULL) {
        struct checkpoint cp;
        if (checkpoint_verify(against, against_len, pub, &cp, err) == -1 ||
            add_checkpoint(&vs, &cp, err) == -1)
            goto out;
    }
    if (vs.count > 1) /* qsort of NULL, 0 is undefined */
        qsort(vs.cps, vs.count, sizeof(*vs.cps), cmp_rows);
    /* A checkpoint of an empty log holds all zeros. */
    while (vs.next < vs.count && vs.cps[vs.next].rows == 0) {
        if (memcmp(vs.cps[vs.next].head, zeros, AUDIT_HASH_LEN) != 0)
            mismatch(&vs, &vs.cps[vs.next], "its head is not that of an empty log");
        vs.next++;
    }
    if (store_audit_verify_each(st, on_row, &vs, &bad_seq, &rows, err) == -1) {
        rep->bad_seq = bad_seq;
        goto out;
    }
    if (jerr_is_set(&vs.mismatch)) {
        *err = vs.mismatch;
        goto out;
    }
    if (vs.next < vs.count) {
        char why[128];
        snprintf(why, sizeof(why), "the registry's log ends at row %lld: rows were deleted",
                 (long long)rows);
        mismatch(&vs, &vs.cps[vs.count - 1], why);
        *err = vs.mismatch;
        goto out;
    }
    rep->rows = rows;
    rep->checkpoints = vs.count;
    if (vs.count > 0) {
        rep->covered_rows = vs.cps[vs.count - 1].rows;
        rep->covered_at = vs.cps[vs.count - 1].at;
    }
    rc = 0;
out:
    free(vs.cps);
    return rc;
}
