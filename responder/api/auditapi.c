/*
 * auditapi: see auditapi.h. Hashes are lower-case hex; times are both the integer the row
 * hash covers ("at") and its ISO 8601 form ("time").
 */
#include "responder/api/auditapi.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <openssl/bio.h>
#include <openssl/pem.h>

#include "ca/checkpoint.h"

static json_t *hex_json(const unsigned char *bytes, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    char hex[2 * 64 + 1];

    if (len > 64)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        hex[2 * i] = digits[bytes[i] >> 4];
        hex[2 * i + 1] = digits[bytes[i] & 0x0f];
    }
    hex[2 * len] = '\0';
    return json_string(hex);
}

static json_t *time_json(int64_t at)
{
    char text[32];
    time_t t = (time_t)at;
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return json_null();
    return json_string(text);
}

static int row_json(void *ctx, const struct audit_entry *e, const unsigned char *prev_hash,
                    const unsigned char *hash)
{
    json_t *row = json_pack(
        "{s:I, s:I, s:o, s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "seq", (json_int_t)e->seq, "at",
        (json_int_t)e->at, "time", time_json(e->at), "actor", e->actor, "action", e->action,
        "target", e->target, "outcome", e->outcome, "detail", e->detail, "prev_hash",
        hex_json(prev_hash, AUDIT_HASH_LEN), "hash", hex_json(hash, AUDIT_HASH_LEN));
    return row != NULL && json_array_append_new(ctx, row) == 0 ? 0 : -1;
}

static int audit_rows(struct api_call *call, struct jerr *err)
{
    static const char *const allowed[] = {"after", "limit", NULL};
    long after = 0, limit = 0;
    json_t *rows = NULL;

    if (api_query_long(call, allowed, "after", true, 0, 0, LONG_MAX, &after, err) == -1 ||
        api_query_long(call, allowed, "limit", true, AUDITAPI_LIMIT_DEFAULT, 1, AUDITAPI_LIMIT_MAX,
                       &limit, err) == -1)
        return -1;
    if ((rows = json_array()) == NULL)
        return jerr_oom(err);
    if (store_audit_page(call->st, after, (int)limit, row_json, rows, err) == -1) {
        json_decref(rows);
        return -1;
    }
    size_t n = json_array_size(rows);
    /* The next page starts after the last row given; null when this one was not full. */
    json_t *next = (long)n == limit ? json_object_get(json_array_get(rows, n - 1), "seq") : NULL;
    call->answer = json_pack("{s:o, s:O?}", "rows", rows, "next_after", next);
    return call->answer != NULL ? 0 : jerr_oom(err);
}

/* The audit public key as PEM text (SubjectPublicKeyInfo). */
static json_t *public_key_pem(EVP_PKEY *pub)
{
    BIO *bio = BIO_new(BIO_s_mem());
    json_t *out = NULL;
    char *text = NULL;
    long len;

    if (bio != NULL && PEM_write_bio_PUBKEY(bio, pub) == 1 &&
        (len = BIO_get_mem_data(bio, &text)) > 0)
        out = json_stringn(text, (size_t)len);
    BIO_free(bio);
    return out;
}

static int audit_checkpoint(struct api_call *call, struct jerr *err)
{
    unsigned char *der = NULL;
    size_t der_len = 0;
    int64_t rows = 0;
    struct checkpoint cp;
    char fingerprint[96];
    char *pem = NULL;
    EVP_PKEY *pub = signer_get1_public_key(pki_get0_audit_signer(call->pki));
    int rc = -1;

    if (pub == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "no audit key");
        goto out;
    }
    if (store_checkpoint_last(call->st, &rows, &der, &der_len, err) == -1)
        goto out;
    /* What is handed out must verify here first: a checkpoint signed by another key (the
     * registry of another instance copied in) is an error, not an answer. */
    if (checkpoint_verify(der, der_len, pub, &cp, err) == -1 ||
        checkpoint_key_fingerprint(pub, fingerprint, err) == -1 ||
        (pem = checkpoint_to_pem(der, der_len, err)) == NULL)
        goto out;
    call->answer = json_pack("{s:I, s:o, s:I, s:o, s:s, s:o, s:s}", "rows", (json_int_t)cp.rows,
                             "head", hex_json(cp.head, AUDIT_HASH_LEN), "at", (json_int_t)cp.at,
                             "time", time_json(cp.at), "checkpoint", pem, "audit_key",
                             public_key_pem(pub), "audit_key_sha256", fingerprint);
    rc = call->answer != NULL ? 0 : jerr_oom(err);
out:
    free(pem);
    free(der);
    EVP_PKEY_free(pub);
    return rc;
}

int auditapi_add_endpoints(struct api *api, struct jerr *err)
{
    const unsigned roles = OPERATOR_ROLES_ADMIN | OPERATOR_ROLE(ROLE_AUDITOR);
    const struct api_endpoint eps[] = {
        {EVHTTP_REQ_GET, "/v1/audit", roles, API_BODY_NONE, 0, 200, audit_rows, NULL},
        {EVHTTP_REQ_GET, "/v1/audit/checkpoint", roles, API_BODY_NONE, 0, 200, audit_checkpoint,
         NULL},
    };
    return api_add_endpoints(api, eps, sizeof(eps) / sizeof(eps[0]), err);
}
