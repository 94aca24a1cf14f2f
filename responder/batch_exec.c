/*
 * batch_exec: see batch_exec.h. A row's request is stored as the JSON of ca/recjson.h (the
 * writers' output without the fields a row does not give) and read back through the same
 * readers that checked it at submission, so a row means the same thing when it is resumed
 * after a restart as when it was submitted.
 */
#include "responder/batch_exec.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "ca/cardissue.h"
#include "ca/recjson.h"
#include "config/fsutil.h"
#include "config/jclock.h"
#include "responder/auth.h"

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
    for (unsigned int i = 0; i < md_len; i++)
        snprintf(out + 2 * i, 3, "%02x", md_value[i]);
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

int batch_exec_create(struct store *st, const char *actor, const struct batch *b,
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
        if (lifecycle_card_register(ctx, want, &e) == 0)
            return 0;
        if (e.code != JERR_CONFLICT)
            return pass_err(err, &e);
    }
    return jerr_set(err, JERR_CONFLICT, "card", "card %s: registration raced", want->id);
}

/* Issue 11 §2: a batch may register persons and cards and issue onto new cards, but
 * re-issuing onto a card that already holds certificates revokes them (superseded): that is an
 * operator's decision, so a batch submitted with the batch role is refused such a row. The
 * role is the submitter's as the operators say now (auth_operator_lookup). */
static int check_card_untouched(struct pki *pki, struct store *st, const struct batch_rec *b,
                                const char *card_id, struct jerr *err)
{
    struct auth_identity who;
    struct cert_list certs = {0};
    struct jerr e = {0};
    bool disabled = false, held;

    if (auth_operator_lookup(pki_config(pki), st, b->submitted_by, &who, &disabled, &e) == 0 &&
        !disabled && auth_role_is_allowed(who.role, AUTH_ROLES_LIFECYCLE))
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

/* The before_commit hook of a row's issuance: marks the row done with its serials inside the
 * issuance's transaction. A row no longer pending makes the issuance roll back. */
struct row_mark {
    int64_t batch_id;
    struct batch_row_rec rec;
    bool no_longer_pending;
};

static int mark_done(void *arg, struct store *st, const void *result, struct jerr *err)
{
    struct row_mark *m = arg;
    const struct issue_result *res = result;
    bool changed = false;

    m->rec.state = BATCH_ROW_DONE;
    m->rec.serials[0] = '\0';
    for (size_t i = 0; res != NULL && i < res->count; i++)
        snprintf(m->rec.serials + strlen(m->rec.serials),
                 sizeof(m->rec.serials) - strlen(m->rec.serials), "%s%s", i > 0 ? "," : "",
                 res->certs[i].rec.serial);
    m->rec.finished_at = jclock_now();
    if (store_batch_row_finish(st, m->batch_id, m->rec.row, &m->rec, &changed, err) == -1)
        return -1;
    if (!changed) {
        m->no_longer_pending = true;
        return jerr_set(err, JERR_CONFLICT, "row", "row %lld of batch %lld is no longer pending",
                        (long long)m->rec.row, (long long)m->batch_id);
    }
    return 0;
}

/* Records the row's failure `why`. */
static int row_fail(struct store *st, const struct batch_rec *b, const struct batch_row_rec *row,
                    const struct jerr *why, struct batch_exec_result *out, struct jerr *err)
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
        snprintf(rec.error_code, sizeof(rec.error_code), "internal");
        snprintf(rec.error_message, sizeof(rec.error_message),
                 "internal error (the service log has the detail)");
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

/* Writes the PIN mailer of the image at `image_path`: "<card>.passwords" beside it. */
static int write_pin_mailer(const char *image_path, const struct cardissue_passwords *pw,
                            struct jerr *err)
{
    char path[PATH_MAX], text[128];
    size_t len = strlen(image_path);
    const char *suffix = ".card";
    if (len < strlen(suffix) || len - strlen(suffix) + sizeof(".passwords") > sizeof(path))
        return jerr_set(err, JERR_IO, NULL, "card image path too long");
    snprintf(path, sizeof(path), "%.*s.passwords", (int)(len - strlen(suffix)), image_path);
    int n = 0;
    for (int ca = 0; ca < CA_KIND_COUNT; ca++)
        if (pw->value[ca][0] != '\0')
            n += snprintf(text + n, sizeof(text) - (size_t)n, "%s: %s\n",
                          ca_kind_name((enum ca_kind)ca), pw->value[ca]);
    int rc = fsutil_write_atomic(path, text, (size_t)n, 0600, false, err);
    OPENSSL_cleanse(text, sizeof(text));
    return rc;
}

/* Writes the row's card image with the passwords given in the file, generating the missing
 * ones; the mailer lists the passwords of the image (given ones too, so the window has one
 * sheet per card). */
static void write_card_image(struct pki *pki, struct store *st, const char *batch_key,
                             const struct issue_result *res, struct cardissue_passwords *pw,
                             struct batch_exec_result *out)
{
    struct jerr err = {0};
    char image[PATH_MAX];
    if (cardissue_write_batch(pki, st, batch_key, res, pw, image, sizeof(image), &err) == -1 ||
        write_pin_mailer(image, pw, &err) == -1)
        snprintf(out->internal, sizeof(out->internal), "card image not written: %s", err.msg);
}

int batch_exec_row(struct pki *pki, struct store *st, const struct batch_rec *b,
                   const struct batch_row_rec *row, const char *request,
                   struct batch_exec_result *out, struct jerr *err)
{
    struct person person;
    struct card card;
    struct issue_result res = {0};
    struct jerr why = {0};
    struct row_mark mark;
    struct cardissue_passwords pw;
    int which = 0;

    memset(&pw, 0, sizeof(pw));

    memset(out, 0, sizeof(*out));
    out->row = row->row;
    memset(&mark, 0, sizeof(mark));
    mark.batch_id = b->id;
    mark.rec.row = row->row;
    snprintf(mark.rec.key, sizeof(mark.rec.key), "%s", row->key);

    struct lifecycle_ctx ctx = {.pki = pki, .st = st, .actor = b->submitted_by};
    if (request_read(request, &person, &card, &which, &pw, &why) == -1 ||
        ensure_person(&ctx, &person, &why) == -1 || ensure_card(&ctx, &card, &why) == -1 ||
        check_card_untouched(pki, st, b, card.id, &why) == -1)
        goto failed;
    ctx.before_commit = mark_done;
    ctx.before_commit_arg = &mark;
    if (lifecycle_issue(&ctx, card.id, which, NULL, &res, &why) == -1) {
        if (mark.no_longer_pending) {
            out->outcome = BATCH_EXEC_ROW_SKIPPED; /* rolled back: nothing issued twice */
            cardissue_passwords_wipe(&pw);
            return 0;
        }
        goto failed;
    }

    /* The card image (DESIGN §1): after the issuance committed, so that an image is written
     * only for certificates that exist, the row's generated keys go onto
     * DATA_DIR/cards/<batch>/<card>.card, under the passwords given in the file or, where
     * none was given, generated here; they are written once to a PIN mailer beside the image
     * (0600), for the window to hand over with the card and then destroy. The keys are wiped
     * by issue_result_free below; a failure here leaves the certificates issued and is
     * logged. */
    if (cardissue_slots(&res) != 0)
        write_card_image(pki, st, b->key, &res, &pw, out);

    for (size_t i = 0; i < res.count; i++)
        out->issued[res.certs[i].rec.ca]++;
    out->superseded = res.superseded; /* handed over, so not freed with res */
    res.superseded = (struct serial_list){0};
    out->rec = mark.rec;
    out->outcome = BATCH_EXEC_ROW_DONE;
    issue_result_free(&res);
    cardissue_passwords_wipe(&pw);
    return 0;

failed:
    cardissue_passwords_wipe(&pw);
    if (why.code == JERR_UNAVAILABLE)
        return pass_err(err, &why); /* the registry is busy: the row stays pending */
    return row_fail(st, b, row, &why, out, err);
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
