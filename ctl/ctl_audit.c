/*
 * ctl_audit: see ctl_audit.h. The chain is recomputed with the service's own definition
 * (audit_hash) and the checkpoint checked with ca/checkpoint.h: one definition of each.
 */
#include "ctl/ctl_audit.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/bio.h>
#include <openssl/pem.h>

#include "ca/checkpoint.h"
#include "base/fsutil.h"
#include "base/hex.h"
#include "base/limits.h"
#include "ctl/ctl_out.h"

#define CTL_AUDIT_LIMIT_MAX JPKI_AUDIT_PAGE_MAX

static void print_row(FILE *f, const json_t *row)
{
    static const char *const keys[] = {"time", "actor", "action", "target", "outcome", "detail"};
    fprintf(f, "%lld", (long long)json_integer_value(json_object_get(row, "seq")));
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        fputc(' ', f);
        ctl_out_put(f, ctl_out_str(row, keys[i]));
    }
    fputc('\n', f);
}

int ctl_audit_show(struct ctl *ctl, const struct ctl_args *args)
{
    char path[CTL_PATH_MAX];
    long after = 0, limit = 100;
    json_t *answer = NULL, *row;
    size_t i;
    int rc;

    if (ctl_args_has(args, "after") &&
        ctl_args_number(ctl_args_get(args, "after"), 0, LONG_MAX, &after) == -1)
        return ctl_usage(ctl, "--after must be a row number (0 or more)");
    if (ctl_args_has(args, "limit") &&
        ctl_args_number(ctl_args_get(args, "limit"), 1, CTL_AUDIT_LIMIT_MAX, &limit) == -1)
        return ctl_usage(ctl, "--limit must be a number from 1 to %d", CTL_AUDIT_LIMIT_MAX);
    snprintf(path, sizeof(path), "/v1/audit?after=%ld&limit=%ld", after, limit);
    rc = ctl_api(ctl, "GET", path, NULL, &answer);
    if (rc == CTL_EXIT_OK && !ctl->json) {
        json_array_foreach(json_object_get(answer, "rows"), i, row) print_row(ctl->out, row);
        json_t *next = json_object_get(answer, "next_after");
        if (json_is_integer(next))
            fprintf(ctl->out, "more: --after %lld\n", (long long)json_integer_value(next));
    }
    json_decref(answer);
    return rc;
}

/* The checkpoint answer's audit key, its fingerprint checked against the answer's and the
 * pinned one (NULL: not pinned). Returns the key or NULL after printing why. */
static EVP_PKEY *answer_key(struct ctl *ctl, const json_t *answer, const char *pinned, char fp[96],
                            int *rc)
{
    const char *pem = ctl_out_str(answer, "audit_key");
    struct jerr err = {0};
    EVP_PKEY *pub = NULL;
    BIO *bio = pem != NULL ? BIO_new_mem_buf(pem, -1) : NULL;

    *rc = CTL_EXIT_FAILED;
    if (bio == NULL || (pub = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) == NULL) {
        ctl_fail(ctl, CTL_EXIT_FAILED, "the answer holds no audit public key");
        goto out;
    }
    if (checkpoint_key_fingerprint(pub, fp, &err) == -1) {
        ctl_fail(ctl, CTL_EXIT_FAILED, "%s", err.msg);
        goto fail;
    }
    if (pinned != NULL) {
        /* Compared without colons, in any case. */
        char want[96], *w = want;
        for (const char *p = pinned; *p != '\0' && w < want + sizeof(want) - 1; p++)
            if (*p != ':')
                *w++ = (char)toupper((unsigned char)*p);
        *w = '\0';
        char have[96], *h = have;
        for (const char *p = fp; *p != '\0'; p++)
            if (*p != ':')
                *h++ = *p;
        *h = '\0';
        if (strcmp(want, have) != 0) {
            ctl_fail(ctl, CTL_EXIT_FAILED,
                     "the service's audit key %s is not the pinned one (--key-sha256)", fp);
            goto fail;
        }
    }
    *rc = CTL_EXIT_OK;
    goto out;
fail:
    EVP_PKEY_free(pub);
    pub = NULL;
out:
    BIO_free(bio);
    return pub;
}

/* Fetches and verifies the newest checkpoint. On CTL_EXIT_OK, *cp, *answer and fp are set. */
static int fetch_checkpoint(struct ctl *ctl, const char *pinned, struct checkpoint *cp,
                            json_t **answer, char fp[96])
{
    struct jerr err = {0};
    unsigned char *der = NULL;
    size_t der_len = 0;
    EVP_PKEY *pub = NULL;
    int rc = ctl_api(ctl, "GET", "/v1/audit/checkpoint", NULL, answer);

    if (rc != CTL_EXIT_OK)
        return rc;
    if ((pub = answer_key(ctl, *answer, pinned, fp, &rc)) == NULL)
        goto out;
    const char *pem = ctl_out_str(*answer, "checkpoint");
    if (pem == NULL ||
        checkpoint_decode_file((const unsigned char *)pem, strlen(pem), &der, &der_len, &err) ==
            -1 ||
        checkpoint_verify(der, der_len, pub, cp, &err) == -1) {
        rc = ctl_fail(ctl, CTL_EXIT_FAILED, "the checkpoint does not verify: %s",
                      pem == NULL ? "none in the answer" : err.msg);
        goto out;
    }
    rc = CTL_EXIT_OK;
out:
    free(der);
    EVP_PKEY_free(pub);
    return rc;
}

static void time_text(int64_t at, char out[32])
{
    time_t t = (time_t)at;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%lld", (long long)at);
}

int ctl_audit_checkpoint(struct ctl *ctl, const struct ctl_args *args)
{
    const char *out_path = ctl_args_get(args, "out");
    const char *pinned = ctl_args_get(args, "key-sha256");
    struct checkpoint cp;
    struct jerr err = {0};
    json_t *answer = NULL;
    char fp[96], when[32], head[2 * AUDIT_HASH_LEN + 1];
    int rc;

    if (pinned == NULL)
        pinned = getenv("JPKI_AUDIT_KEY_SHA256");
    if ((rc = fetch_checkpoint(ctl, pinned, &cp, &answer, fp)) != CTL_EXIT_OK)
        goto out;
    if (out_path != NULL) {
        const char *pem = ctl_out_str(answer, "checkpoint");
        if (fsutil_write_atomic(out_path, pem, strlen(pem), 0644, true, &err) == -1) {
            rc = ctl_fail(ctl, CTL_EXIT_FAILED, "cannot write %s: %s", out_path, err.msg);
            goto out;
        }
    }
    if (!ctl->json) {
        time_text(cp.at, when);
        hex_encode(cp.head, AUDIT_HASH_LEN, head);
        fprintf(ctl->out, "checkpoint: %lld rows, signed %s\nhead: %s\naudit key SHA-256: %s%s\n",
                (long long)cp.rows, when, head, fp, pinned != NULL ? " (as pinned)" : "");
        if (out_path != NULL) {
            fputs("saved to ", ctl->out);
            ctl_out_put(ctl->out, out_path);
            fputs(" (check it later: jpkid audit-verify --against FILE)\n", ctl->out);
        }
    }
out:
    json_decref(answer);
    return rc;
}

/* A row of the answer as an audit entry; -1 when a field is missing or does not fit. */
static int row_entry(const json_t *row, struct audit_entry *e)
{
    struct {
        const char *key;
        char *out;
        size_t size;
    } fields[] = {
        {"actor", e->actor, sizeof(e->actor)},    {"action", e->action, sizeof(e->action)},
        {"target", e->target, sizeof(e->target)}, {"outcome", e->outcome, sizeof(e->outcome)},
        {"detail", e->detail, sizeof(e->detail)},
    };
    memset(e, 0, sizeof(*e));
    if (!json_is_integer(json_object_get(row, "seq")) ||
        !json_is_integer(json_object_get(row, "at")))
        return -1;
    e->seq = json_integer_value(json_object_get(row, "seq"));
    e->at = json_integer_value(json_object_get(row, "at"));
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const json_t *v = json_object_get(row, fields[i].key);
        if (!json_is_string(v) || json_string_length(v) >= fields[i].size ||
            strlen(json_string_value(v)) != json_string_length(v))
            return -1;
        memcpy(fields[i].out, json_string_value(v), json_string_length(v) + 1);
    }
    return 0;
}

int ctl_audit_verify(struct ctl *ctl, const struct ctl_args *args)
{
    const char *pinned = ctl_args_get(args, "key-sha256");
    struct checkpoint cp;
    json_t *answer = NULL, *page = NULL, *row;
    unsigned char prev[AUDIT_HASH_LEN] = {0}, hash[AUDIT_HASH_LEN];
    char fp[96], when[32], hex[2 * AUDIT_HASH_LEN + 1], path[CTL_PATH_MAX];
    int64_t seq = 0;
    size_t i;
    int rc;

    if (pinned == NULL)
        pinned = getenv("JPKI_AUDIT_KEY_SHA256");
    if ((rc = fetch_checkpoint(ctl, pinned, &cp, &answer, fp)) != CTL_EXIT_OK)
        goto out;
    /* From row 1 to the checkpoint's row, page by page; rows after it are not signed yet. */
    while (seq < cp.rows) {
        long limit =
            cp.rows - seq < CTL_AUDIT_LIMIT_MAX ? (long)(cp.rows - seq) : CTL_AUDIT_LIMIT_MAX;
        snprintf(path, sizeof(path), "/v1/audit?after=%lld&limit=%ld", (long long)seq, limit);
        json_decref(page);
        page = NULL;
        if ((rc = ctl_api(ctl, "GET", path, NULL, &page)) != CTL_EXIT_OK)
            goto out;
        json_t *rows = json_object_get(page, "rows");
        if (json_array_size(rows) == 0) {
            rc = ctl_fail(ctl, CTL_EXIT_FAILED,
                          "the service's log ends at row %lld, but its checkpoint covers %lld "
                          "rows: rows were deleted",
                          (long long)seq, (long long)cp.rows);
            goto out;
        }
        json_array_foreach(rows, i, row)
        {
            struct audit_entry e;
            if (row_entry(row, &e) == -1 || e.seq != seq + 1) {
                rc = ctl_fail(ctl, CTL_EXIT_FAILED, "row after %lld is malformed or out of order",
                              (long long)seq);
                goto out;
            }
            if (audit_hash(&e, prev, hash) == -1) {
                rc = ctl_fail(ctl, CTL_EXIT_FAILED, "cannot hash row %lld", (long long)e.seq);
                goto out;
            }
            hex_encode(hash, AUDIT_HASH_LEN, hex);
            const char *stored = ctl_out_str(row, "hash");
            if (stored == NULL || strcmp(stored, hex) != 0) {
                rc = ctl_fail(ctl, CTL_EXIT_FAILED,
                              "audit chain broken at row %lld: its hash is not the one "
                              "recomputed here",
                              (long long)e.seq);
                goto out;
            }
            memcpy(prev, hash, sizeof(prev));
            seq = e.seq;
            if (seq == cp.rows)
                break;
        }
    }
    if (memcmp(prev, cp.head, AUDIT_HASH_LEN) != 0) {
        rc = ctl_fail(ctl, CTL_EXIT_FAILED,
                      "row %lld's hash is not the head the checkpoint signed: the log was "
                      "rewritten",
                      (long long)cp.rows);
        goto out;
    }
    time_text(cp.at, when);
    if (!ctl->json) {
        fprintf(ctl->out,
                "audit log verified: rows 1..%lld recomputed, matching the checkpoint signed %s\n"
                "audit key SHA-256: %s\n",
                (long long)cp.rows, when, fp);
        if (pinned == NULL)
            fputs("warning: the audit key was not pinned (--key-sha256 or "
                  "JPKI_AUDIT_KEY_SHA256): compare it with the one jpkid init printed\n",
                  ctl->out);
    }
    rc = CTL_EXIT_OK;
out:
    json_decref(page);
    json_decref(answer);
    return rc;
}
