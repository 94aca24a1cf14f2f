/*
 * batch_exec: see batch_exec.h. A row's request is stored as the JSON of ca/recjson.h (the
 * writers' output without the fields a row does not give) and read back through the same
 * readers that checked it at submission, so a row means the same thing when it is resumed
 * after a restart as when it was submitted.
 */
#include "ca/batch_exec.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ca/cardissue.h"
#include "ca/enginetx.h"
#include "ca/operator.h"
#include "ca/pinletter.h"
#include "ca/recjson.h"
#include "base/fsutil.h"
#include "base/hex.h"
#include "base/jclock.h"

/* Version tag of the canonical form the digest is taken over: change it with the form. */
#define BATCH_EXEC_DIGEST_TAG "jpki batch rows v1"

void batch_exec_result_free(struct batch_exec_result *r)
{
    if (r == NULL)
        return;
    serial_list_free(&r->superseded);
    memset(r, 0, sizeof(*r));
}

/* Copies a local error into the caller's (first error wins). Returns -1. */
static int pass_err(struct jerr *err, const struct jerr *local)
{
    if (err != NULL && !jerr_is_set(err))
        *err = *local;
    return -1;
}

static bool is_refusal(int code)
{
    return code == JERR_INVALID || code == JERR_NOT_FOUND || code == JERR_REFUSED ||
           code == JERR_CONFLICT;
}

/* ---- the digest ---- */

static int feed_bytes(EVP_MD_CTX *md, const void *data, size_t len)
{
    unsigned char be[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16),
                           (unsigned char)(len >> 8), (unsigned char)len};
    return EVP_DigestUpdate(md, be, sizeof(be)) == 1 &&
                   (len == 0 || EVP_DigestUpdate(md, data, len) == 1)
               ? 0
               : -1;
}

/* Every field is length-prefixed, so that no two different row lists share a byte stream. */
static int feed_str(EVP_MD_CTX *md, const char *s)
{
    return feed_bytes(md, s, strlen(s));
}

static int feed_num(EVP_MD_CTX *md, uint64_t v)
{
    unsigned char be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (unsigned char)(v >> (56 - 8 * i));
    return feed_bytes(md, be, sizeof(be));
}

static int feed_row(EVP_MD_CTX *md, const struct batch_row *r)
{
    const struct person *p = &r->person;
    const struct card *c = &r->card;
    /* The passwords are left out: a digest of a 4-digit PIN would give the PIN away. */
    if (feed_str(md, "row") == -1 || feed_num(md, r->index) == -1 || feed_str(md, r->key) == -1 ||
        feed_str(md, p->id) == -1 || feed_str(md, p->name) == -1 ||
        feed_str(md, p->address) == -1 || feed_str(md, p->birth_date) == -1 ||
        feed_num(md, (uint64_t)p->gender) == -1 || feed_str(md, c->id) == -1 ||
        feed_num(md, (uint64_t)c->type) == -1 || feed_str(md, c->expiry) == -1 ||
        feed_str(md, c->prefecture) == -1 || feed_str(md, c->municipality) == -1 ||
        feed_num(md, (uint64_t)r->which) == -1)
        return -1;
    return 0;
}

int batch_exec_digest(const struct batch *b, const struct batch_problem *problems,
                      size_t problem_count, char out[STORE_BATCH_DIGEST_HEX + 1], struct jerr *err)
{
    unsigned char md_value[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int rc = -1;
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
        feed_str(md, BATCH_EXEC_DIGEST_TAG) == -1 || feed_str(md, b->key) == -1 ||
        feed_num(md, b->count) == -1 || feed_num(md, problem_count) == -1)
        goto fail;
    for (size_t i = 0; i < b->count; i++)
        if (feed_row(md, &b->rows[i]) == -1)
            goto fail;
    for (size_t i = 0; i < problem_count; i++)
        if (feed_str(md, "problem") == -1 || feed_num(md, problems[i].row) == -1 ||
            feed_str(md, problems[i].field) == -1 || feed_str(md, problems[i].msg) == -1)
            goto fail;
    if (EVP_DigestFinal_ex(md, md_value, &md_len) != 1 || md_len * 2 > STORE_BATCH_DIGEST_HEX)
        goto fail;
    hex_encode(md_value, md_len, out);
    rc = 0;
    goto out;
fail:
    jerr_openssl(err, JERR_CRYPTO, NULL, "cannot digest the batch rows");
out:
    EVP_MD_CTX_free(md);
    return rc;
}

/* ---- the stored request of a row ---- */

static const char *which_name(int which)
{
    return which == ISSUE_SIGN ? "sign" : which == ISSUE_AUTH ? "auth" : "both";
}

/* {"person":{id,name,address,birth_date,gender},"card":{id,type,expiry,prefecture,
 * municipality},"certificates":"sign|auth|both"}: malloc'd text, or NULL (out of memory). */
static char *request_text(const struct batch_row *r)
{
    json_t *o = json_object(), *person = recjson_person_to(&r->person),
           *card = recjson_card_to(&r->card);
    char *text = NULL;

    if (o == NULL || person == NULL || card == NULL || json_object_del(person, "deceased") != 0 ||
        json_object_del(card, "person_id") != 0 || json_object_del(card, "state") != 0 ||
        json_object_set(o, "person", person) != 0 || json_object_set(o, "card", card) != 0 ||
        json_object_set_new(o, "certificates", json_string(which_name(r->which))) != 0)
        goto out;
    /* Initial card passwords given in the file ride with the pending request only: the
     * request is deleted in the transaction that finishes the row (never in a digest). */
    if (r->has_passwords &&
        json_object_set_new(o, "passwords",
                            json_pack("{s:s, s:s}", "sign", r->sign_password, "auth",
                                      r->auth_password)) != 0)
        goto out;
    text = json_dumps(o, JSON_COMPACT);
out:
    json_decref(card);
    json_decref(person);
    json_decref(o);
    return text;
}

static int request_read(const char *text, struct person *p, struct card *c, int *which,
                        struct cardissue_passwords *pw, struct jerr *err)
{
    static const char *const allowed[] = {"person", "card", "certificates", "passwords", NULL};
    json_error_t jerror;
    int rc = -1;
    json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &jerror);

    if (o == NULL || !json_is_object(o)) {
        jerr_set(err, JERR_INVALID, "request", "the stored row cannot be read");
        goto out;
    }
    if (recjson_only_fields(o, "", allowed, err) == -1 ||
        recjson_person_from(json_object_get(o, "person"), "person.", p, err) == -1 ||
        recjson_card_from(json_object_get(o, "card"), p->id, "card.", c, err) == -1 ||
        recjson_which(json_object_get(o, "certificates"), "certificates", which, err) == -1)
        goto out;
    json_t *given = json_object_get(o, "passwords");
    for (int ca = 0; given != NULL && ca < CA_KIND_COUNT; ca++) {
        const char *v = json_string_value(json_object_get(given, ca_kind_name((enum ca_kind)ca)));
        if (v != NULL)
            snprintf(pw->value[ca], sizeof(pw->value[ca]), "%s", v);
    }
    rc = 0;
out:
    if (o != NULL && json_object_get(o, "passwords") != NULL)
        json_object_clear(json_object_get(o, "passwords"));
    json_decref(o);
    return rc;
}

/* ---- recording a file ---- */

static int insert_good_row(struct store *st, int64_t batch_id, const struct batch_row *r,
                           struct jerr *err)
{
    struct batch_row_rec rec;
    memset(&rec, 0, sizeof(rec));
    rec.row = (int64_t)r->index + 1;
    rec.state = BATCH_ROW_PENDING;
    snprintf(rec.key, sizeof(rec.key), "%s", r->key);
    char *text = request_text(r);
    if (text == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    int rc = store_batch_row_insert(st, batch_id, &rec, text, err);
    free(text);
    return rc;
}

static int insert_problem_row(struct store *st, int64_t batch_id, const struct batch_problem *p,
                              struct jerr *err)
{
    struct batch_row_rec rec;
    memset(&rec, 0, sizeof(rec));
    rec.row = (int64_t)p->row;
    rec.state = BATCH_ROW_INVALID;
    snprintf(rec.error_code, sizeof(rec.error_code), "%s", jerr_code_name(JERR_INVALID));
    snprintf(rec.error_field, sizeof(rec.error_field), "%s", p->field);
    snprintf(rec.error_message, sizeof(rec.error_message), "%s", p->msg);
    return store_batch_row_insert(st, batch_id, &rec, NULL, err);
}

/* Records a parsed file inside the open transaction (batch_exec_submit). */
static int batch_record(struct store *st, const char *actor, const struct batch *b,
                        const struct batch_problem *problems, size_t problem_count,
                        struct batch_rec *out, bool *existing, struct jerr *err)
{
    struct batch_rec rec, found;
    struct jerr lookup = {0};

    *existing = false;
    memset(&rec, 0, sizeof(rec));
    if (batch_exec_digest(b, problems, problem_count, rec.digest, err) == -1)
        return -1;
    if (store_batch_get_by_key(st, b->key, &found, &lookup) == 0) {
        /* docs/API.md: the same key again is the same batch when its rows are the same. */
        if (strcmp(found.digest, rec.digest) != 0)
            return jerr_set(err, JERR_CONFLICT, "batch",
                            "batch: %s was submitted before (id %lld) with other rows; "
                            "use a new batch key for a new file",
                            b->key, (long long)found.id);
        *existing = true;
        *out = found;
        return 0;
    }
    if (lookup.code != JERR_NOT_FOUND)
        return pass_err(err, &lookup);
    snprintf(rec.key, sizeof(rec.key), "%s", b->key);
    snprintf(rec.submitted_by, sizeof(rec.submitted_by), "%s", actor);
    rec.total = (int64_t)(b->count + problem_count);
    rec.accepted = (int64_t)b->count;
    if (store_batch_insert(st, &rec, err) == -1)
        return -1;
    /* In file order: good rows and problems are each in row order; merge them. */
    size_t i = 0, j = 0;
    while (i < b->count || j < problem_count) {
        bool take_good =
            j == problem_count || (i < b->count && b->rows[i].index + 1 < problems[j].row);
        if (!take_good && problems[j].row == 0)
            return jerr_set(err, JERR_INTERNAL, "row", "a problem of the whole file");
        int rc = take_good ? insert_good_row(st, rec.id, &b->rows[i++], err)
                           : insert_problem_row(st, rec.id, &problems[j++], err);
        if (rc == -1)
            return -1;
    }
    return store_batch_get(st, rec.id, out, err);
}

int batch_exec_submit(struct lifecycle_ctx *ctx, const struct batch *b,
                      const struct batch_problem *problems, size_t problem_count,
                      struct batch_rec *out, bool *existing, struct jerr *err)
{
    if (enginetx_begin(ctx, err) == -1)
        return -1;
    int rc = batch_record(ctx->st, ctx->actor, b, problems, problem_count, out, existing, err);
    if (rc == 0 && *existing) {
        store_rollback(ctx->st); /* nothing was written */
        return 0;
    }
    return enginetx_end(ctx, rc, out, err);
}

/* ---- one row ---- */

/* The four basic facts of `have` that differ from `want`, as "name, address". */
static void facts_differing(const struct person *want, const struct person *have, char *out,
                            size_t size)
{
    const char *names[4];
    size_t n = 0;
    if (strcmp(want->name, have->name) != 0)
        names[n++] = "name";
    if (strcmp(want->address, have->address) != 0)
        names[n++] = "address";
    if (strcmp(want->birth_date, have->birth_date) != 0)
        names[n++] = "birth_date";
    if (want->gender != have->gender)
        names[n++] = "gender";
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        snprintf(out + strlen(out), size - strlen(out), "%s%s", i > 0 ? ", " : "", names[i]);
}

/* The row's person: registered when absent; when present, it must have the same four facts
 * (a batch registers and issues, it does not change basic facts: that revokes signing
 * certificates and is an operator's decision, PUT /v1/persons/{id}/basic-info). */
static int ensure_person(struct lifecycle_ctx *ctx, const struct person *want, struct jerr *err)
{
    struct person have;
    char differ[64];

    /* Twice: when another writer registers the person between our read and our insert, the
     * insert answers conflict and the second read finds it. */
    for (int attempt = 0; attempt < 2; attempt++) {
        struct jerr e = {0};
        if (store_person_get(ctx->st, want->id, &have, &e) == 0) {
            facts_differing(want, &have, differ, sizeof(differ));
            if (differ[0] == '\0')
                return 0;
            return jerr_set(err, JERR_REFUSED, "person",
                            "person %s is registered with other basic facts (%s): correct the "
                            "row, or change the facts first (PUT /v1/persons/{id}/basic-info)",
                            want->id, differ);
        }
        if (e.code != JERR_NOT_FOUND)
            return pass_err(err, &e);
        jerr_clear(&e);
        if (lifecycle_person_register(ctx, want, &e) == 0)
            return 0;
        if (e.code != JERR_CONFLICT)
            return pass_err(err, &e);
    }
    return jerr_set(err, JERR_CONFLICT, "person", "person %s: registration raced", want->id);
}

/* The row's card: registered when absent; when present it must be the same person's. */
static int ensure_card(struct lifecycle_ctx *ctx, const struct card *want, struct jerr *err)
{
    struct card have;

    for (int attempt = 0; attempt < 2; attempt++) {
        struct jerr e = {0};
        if (store_card_get(ctx->st, want->id, &have, &e) == 0) {
            if (strcmp(have.person_id, want->person_id) == 0)
                return 0;
            return jerr_set(err, JERR_REFUSED, "card", "card %s is registered to another person",
                            want->id);
        }
        if (e.code != JERR_NOT_FOUND)
            return pass_err(err, &e);
        jerr_clear(&e);
        if (lifecycle_card_register(ctx, want, NULL, &e) == 0)
            return 0;
        if (e.code != JERR_CONFLICT)
            return pass_err(err, &e);
    }
    return jerr_set(err, JERR_CONFLICT, "card", "card %s: registration raced", want->id);
}

/* A row's work across its issuance (the lifecycle hooks, lifecycle.h). Its files — the card
 * image and, when the service generated a password, the PIN letter — are staged (written to
 * temp files and fsync'd) before the transaction opens, and published (renamed, directory
 * fsync'd) inside it once the row is known to be still pending, just before the commit: so a
 * row is done only with its image on disk, and a run of a row that is no longer pending never
 * replaces the files of the run that did it. A crash between the publication and the commit
 * leaves files of certificates that never committed beside a pending row: the row's next run
 * replaces them, or its failure removes them (remove_row_files). */
struct row_work {
    struct pki *pki;
    const struct batch_rec *b;
    struct batch_row_rec rec;      /* the row as it is to be recorded done */
    struct cardissue_passwords pw; /* SECRET: wiped by batch_exec_row */
    char image[PATH_MAX], image_tmp[PATH_MAX];
    char letter[PATH_MAX], letter_tmp[PATH_MAX];
    bool image_staged, letter_staged; /* the temp files exist */
    bool no_longer_pending;
    bool files_failed; /* the failure was writing the image or the letter */
};

/* Issue 11 §2: a batch may register persons and cards and issue onto new cards, but
 * re-issuing onto a card that already holds certificates revokes them (superseded): that is an
 * operator's decision, so a batch submitted with the batch role is refused such a row. The
 * role is the submitter's as the operators say now (operator_lookup). */
static int check_card_untouched(struct pki *pki, struct store *st, const struct batch_rec *b,
                                const char *card_id, struct jerr *err)
{
    enum operator_role role;
    struct cert_list certs = {0};
    struct jerr e = {0};
    bool disabled = false, held;

    if (operator_lookup(pki_config(pki), st, b->submitted_by, &role, &disabled, &e) == 0 &&
        !disabled && operator_role_is_allowed(role, OPERATOR_ROLES_LIFECYCLE))
        return 0;
    if (jerr_is_set(&e) && e.code != JERR_NOT_FOUND)
        return pass_err(err, &e);
    if (store_certs_of_card(st, card_id, &certs, err) == -1)
        return -1;
    held = certs.count > 0;
    cert_list_free(&certs);
    if (held)
        return jerr_set(err, JERR_REFUSED, "card",
                        "card %s already holds certificates: issuing onto it revokes them, which "
                        "needs the operator role (POST /v1/cards/{id}/issue); a batch may only "
                        "issue onto new cards",
                        card_id);
    return 0;
}

static void unstage(struct row_work *w)
{
    if (w->image_staged)
        unlink(w->image_tmp);
    if (w->letter_staged)
        unlink(w->letter_tmp);
    w->image_staged = w->letter_staged = false;
}

/* Removes the published files of a row that is recorded failed: they can only be those of a
 * run whose issuance never committed. */
static void remove_row_files(const struct row_work *w)
{
    if (w->image[0] != '\0')
        unlink(w->image);
    if (w->letter[0] != '\0')
        unlink(w->letter);
}

static bool any_generated(const struct cardissue_passwords *pw)
{
    for (int ca = 0; ca < CA_KIND_COUNT; ca++)
        if (pw->generated[ca])
            return true;
    return false;
}

/* Seals the generated passwords to the configured recipient into the letter's temp file. */
static int stage_letter(struct row_work *w, const char *card_id, struct jerr *err)
{
    unsigned char *der = NULL;
    size_t der_len = 0;
    int rc = -1;
    X509 *recipient = pinletter_recipient_load(pki_config(w->pki)->batch_pin_letter_recipient, err);

    if (recipient == NULL ||
        pinletter_seal(recipient, w->b->key, w->rec.key, card_id, &w->pw, &der, &der_len, err) ==
            -1 ||
        fsutil_write_temp(w->letter, der, der_len, 0600, w->letter_tmp, sizeof(w->letter_tmp),
                          err) == -1)
        goto out;
    w->letter_staged = true;
    rc = 0;
out:
    OPENSSL_free(der);
    X509_free(recipient);
    return rc;
}

/* before_begin: the keys exist and the certificates are signed; nothing is committed. The slow
 * part (scrypt for each slot, the fsyncs) runs here, outside the registry's write lock. */
static int stage_files(void *arg, struct store *st, const void *result, struct jerr *err)
{
    struct row_work *w = arg;
    const struct issue_result *res = result;

    if (cardissue_stage_batch(w->pki, st, w->b->key, res, &w->pw, w->image, w->image_tmp,
                              sizeof(w->image), err) == -1)
        goto fail;
    w->image_staged = true;
    if (any_generated(&w->pw) && stage_letter(w, res->certs[0].rec.card_id, err) == -1)
        goto fail;
    return 0;
fail:
    w->files_failed = !is_refusal(err->code);
    unstage(w);
    return -1;
}

/* before_commit: marks the row done with its serials inside the issuance's transaction, then
 * publishes its files. A row no longer pending makes the issuance roll back, its files unused. */
static int mark_done(void *arg, struct store *st, const void *result, struct jerr *err)
{
    struct row_work *w = arg;
    const struct issue_result *res = result;
    bool changed = false;

    w->rec.state = BATCH_ROW_DONE;
    w->rec.serials[0] = '\0';
    for (size_t i = 0; res != NULL && i < res->count; i++)
        snprintf(w->rec.serials + strlen(w->rec.serials),
                 sizeof(w->rec.serials) - strlen(w->rec.serials), "%s%s", i > 0 ? "," : "",
                 res->certs[i].rec.serial);
    w->rec.finished_at = jclock_now();
    if (store_batch_row_finish(st, w->b->id, w->rec.row, &w->rec, &changed, err) == -1)
        return -1;
    if (!changed) {
        w->no_longer_pending = true;
        return jerr_set(err, JERR_CONFLICT, "row", "row %lld of batch %lld is no longer pending",
                        (long long)w->rec.row, (long long)w->b->id);
    }
    /* Both files are in one directory: the image's publication fsyncs it for both. */
    if (w->letter_staged) {
        if (rename(w->letter_tmp, w->letter) == -1) {
            w->files_failed = true;
            return jerr_set(err, JERR_IO, "card_image", "rename %s: %s", w->letter,
                            strerror(errno));
        }
        w->letter_staged = false;
    }
    if (w->image_staged) {
        w->image_staged = false; /* fsutil_publish removes the temp file when it fails */
        if (fsutil_publish(w->image_tmp, w->image, err) == -1) {
            w->files_failed = true;
            return -1;
        }
    }
    return 0;
}

/* Records the row's failure `why`; `files` says it was the image or the letter that could not
 * be written (nothing was issued then). */
static int row_fail(struct store *st, const struct batch_rec *b, const struct batch_row_rec *row,
                    const struct jerr *why, bool files, struct batch_exec_result *out,
                    struct jerr *err)
{
    struct batch_row_rec rec;
    bool changed = false;

    memset(&rec, 0, sizeof(rec));
    rec.row = row->row;
    snprintf(rec.key, sizeof(rec.key), "%s", row->key);
    rec.state = BATCH_ROW_FAILED;
    if (is_refusal(why->code)) {
        snprintf(rec.error_code, sizeof(rec.error_code), "%s", jerr_code_name(why->code));
        snprintf(rec.error_field, sizeof(rec.error_field), "%s", why->field);
        snprintf(rec.error_message, sizeof(rec.error_message), "%s", why->msg);
    } else {
        /* As the API answers a 5xx: the detail goes to the service log, not to the row. */
        snprintf(rec.error_code, sizeof(rec.error_code), "%s",
                 files ? jerr_code_name(why->code) : "internal");
        if (files) {
            snprintf(rec.error_field, sizeof(rec.error_field), "card_image");
            snprintf(rec.error_message, sizeof(rec.error_message),
                     "the card image or its PIN letter could not be written, so nothing was "
                     "issued for this row (the service log has the detail)");
        } else {
            snprintf(rec.error_message, sizeof(rec.error_message),
                     "internal error (the service log has the detail)");
        }
        snprintf(out->internal, sizeof(out->internal), "%s: %s", jerr_code_name(why->code),
                 why->msg);
    }
    rec.finished_at = jclock_now();
    if (store_batch_row_finish(st, b->id, row->row, &rec, &changed, err) == -1)
        return -1;
    out->outcome = changed ? BATCH_EXEC_ROW_FAILED : BATCH_EXEC_ROW_SKIPPED;
    if (changed)
        out->rec = rec;
    return 0;
}

/* The passwords of the row before any key is made: the file's, for the slots it asks for, checked
 * against the card's rule; the others generated — which needs a PIN-letter recipient. */
static int row_passwords(const struct pki *pki, int which, const char *birth_date,
                         struct cardissue_passwords *pw, struct jerr *err)
{
    /* A file gives both passwords of the card (BATCH.md); only the written slots use them. */
    for (int ca = 0; ca < CA_KIND_COUNT; ca++)
        if (!(which & (1 << ca)))
            OPENSSL_cleanse(pw->value[ca], sizeof(pw->value[ca]));
    if (cardissue_passwords_fill(pw, (unsigned)which, birth_date, "passwords.", err) == -1)
        return -1;
    if (any_generated(pw) && pki_config(pki)->batch_pin_letter_recipient[0] == '\0')
        return jerr_set(err, JERR_REFUSED, "passwords",
                        "passwords: required: no %s is configured to receive the passwords the "
                        "service would generate",
                        PINLETTER_CONFIG_KEY);
    return 0;
}

int batch_exec_row(struct pki *pki, struct store *st, const struct batch_rec *b,
                   const struct batch_row_rec *row, const char *request,
                   struct batch_exec_result *out, struct jerr *err)
{
    struct person person;
    struct card card;
    struct issue_result res = {0};
    struct jerr why = {0};
    struct row_work *w = calloc(1, sizeof(*w)); /* four paths: off the worker's stack */
    int which = 0, rc = -1;

    memset(out, 0, sizeof(*out));
    out->row = row->row;
    if (w == NULL)
        return jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
    w->pki = pki;
    w->b = b;
    w->rec.row = row->row;
    snprintf(w->rec.key, sizeof(w->rec.key), "%s", row->key);

    struct lifecycle_ctx ctx = {.pki = pki, .st = st, .actor = b->submitted_by};
    if (request_read(request, &person, &card, &which, &w->pw, &why) == -1 ||
        /* The files' places first: an id that cannot name a file fails the row here. */
        cardissue_batch_path(pki, b->key, card.id, CARDISSUE_BATCH_IMAGE_SUFFIX, false, w->image,
                             sizeof(w->image), &why) == -1 ||
        cardissue_batch_path(pki, b->key, card.id, PINLETTER_SUFFIX, false, w->letter,
                             sizeof(w->letter), &why) == -1 ||
        row_passwords(pki, which, person.birth_date, &w->pw, &why) == -1 ||
        ensure_person(&ctx, &person, &why) == -1 || ensure_card(&ctx, &card, &why) == -1 ||
        check_card_untouched(pki, st, b, card.id, &why) == -1)
        goto failed;
    ctx.before_begin = stage_files;
    ctx.before_begin_arg = w;
    ctx.before_commit = mark_done;
    ctx.before_commit_arg = w;
    if (lifecycle_issue(&ctx, card.id, which, NULL, &res, &why) == -1) {
        unstage(w);
        if (w->no_longer_pending) {
            out->outcome = BATCH_EXEC_ROW_SKIPPED; /* rolled back: nothing issued twice */
            rc = 0;
            goto out;
        }
        goto failed;
    }

    for (size_t i = 0; i < res.count; i++)
        out->issued[res.certs[i].rec.ca]++;
    out->superseded = res.superseded; /* handed over, so not freed with res */
    res.superseded = (struct serial_list){0};
    out->rec = w->rec;
    out->outcome = BATCH_EXEC_ROW_DONE;
    rc = 0;
    goto out;

failed:
    /* A full disk under the card images fails the row (nothing was issued); a busy or full
     * registry leaves it pending for a later try. */
    if (why.code == JERR_UNAVAILABLE && !w->files_failed) {
        rc = pass_err(err, &why);
        goto out;
    }
    rc = row_fail(st, b, row, &why, w->files_failed, out, err);
    if (rc == 0 && out->outcome == BATCH_EXEC_ROW_FAILED)
        remove_row_files(w);
out:
    issue_result_free(&res); /* wipes the generated keys */
    cardissue_passwords_wipe(&w->pw);
    free(w);
    return rc;
}

int batch_exec_sweep(struct pki *pki, const char *batch_key, int64_t *removed, struct jerr *err)
{
    char dir[PATH_MAX];
    struct dirent *e;

    if (cardissue_batch_dir(pki, batch_key, dir, sizeof(dir), err) == -1)
        return -1;
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : jerr_set(err, JERR_IO, NULL, "%s: %s", dir, strerror(errno));
    while ((e = readdir(d)) != NULL)
        if ((fsutil_is_temp_of(e->d_name, CARDISSUE_BATCH_IMAGE_SUFFIX) ||
             fsutil_is_temp_of(e->d_name, PINLETTER_SUFFIX)) &&
            unlinkat(dirfd(d), e->d_name, 0) == 0)
            (*removed)++;
    closedir(d);
    return 0;
}

/* ---- a step ---- */

static int batch_finish(struct store *st, int64_t batch_id, bool *changed, struct jerr *err)
{
    struct batch_rec b;
    char target[32];

    if (store_begin(st, err) == -1)
        return -1;
    if (store_batch_finish(st, batch_id, changed, err) == -1)
        goto fail;
    if (*changed) {
        if (store_batch_get(st, batch_id, &b, err) == -1)
            goto fail;
        struct audit_entry e = {.at = jclock_now()};
        snprintf(target, sizeof(target), "%lld", (long long)batch_id);
        snprintf(e.actor, sizeof(e.actor), "%s", b.submitted_by);
        snprintf(e.action, sizeof(e.action), "batch.finish");
        snprintf(e.target, sizeof(e.target), "%s", target);
        snprintf(e.outcome, sizeof(e.outcome), "ok");
        snprintf(e.detail, sizeof(e.detail), "key=%s total=%lld done=%lld failed=%lld", b.key,
                 (long long)b.total, (long long)b.done_rows, (long long)b.failed_rows);
        if (store_audit_append(st, &e, err) == -1)
            goto fail;
    }
    if (store_commit(st, err) == -1)
        goto fail;
    return 0;
fail:
    store_rollback(st);
    *changed = false;
    return -1;
}

int batch_exec_step(struct pki *pki, struct store *st, int64_t batch_id,
                    struct batch_exec_result *out, struct jerr *err)
{
    struct batch_rec b;
    struct batch_row_rec row;
    struct jerr none = {0};
    char *request = NULL;
    bool changed = false;

    memset(out, 0, sizeof(*out));
    if (store_batch_get(st, batch_id, &b, err) == -1)
        return -1;
    if (b.finished) {
        out->outcome = BATCH_EXEC_IDLE;
        out->batch = b;
        return 0;
    }
    int64_t now = (int64_t)jclock_now();
    if (store_batch_claim_next(st, batch_id, now, now + BATCH_EXEC_CLAIM_S, &row, &request,
                               &none) == 0) {
        int rc = batch_exec_row(pki, st, &b, &row, request, out, err);
        free(request);
        if (rc == -1) {
            /* The row stays pending: give it back for the next try (else the claim lapses). */
            struct jerr ignored = {0};
            store_batch_row_unclaim(st, batch_id, row.row, &ignored);
        }
        return rc;
    }
    if (none.code != JERR_NOT_FOUND)
        return pass_err(err, &none);
    /* Nothing to claim: pending rows left are other steps' (they finish the batch). */
    jerr_clear(&none);
    if (store_batch_next_pending(st, batch_id, &row, &request, &none) == 0) {
        free(request);
        out->outcome = BATCH_EXEC_WAITING;
        return 0;
    }
    if (none.code != JERR_NOT_FOUND)
        return pass_err(err, &none);
    if (batch_finish(st, batch_id, &changed, err) == -1 ||
        store_batch_get(st, batch_id, &out->batch, err) == -1)
        return -1;
    if (!out->batch.finished)
        /* No row pending, yet the counters say otherwise: never expected (both change in one
         * transaction); refused rather than looping over the batch. */
        return jerr_set(err, JERR_INTERNAL, "batch_id",
                        "batch %lld: no row pending but %lld of %lld rows counted",
                        (long long)batch_id, (long long)(b.done_rows + b.failed_rows),
                        (long long)b.total);
    out->outcome = changed ? BATCH_EXEC_FINISHED : BATCH_EXEC_IDLE;
    return 0;
}
