/*
 * ctl_window: see ctl_window.h. Requests are built with json_pack; the image travels as base64
 * (OpenSSL's encoder and decoder); the image file is written with fsutil_write_atomic, which
 * writes a temp file beside it, fsyncs it, renames it over the old one and fsyncs the directory.
 */
#include "ctl/ctl_window.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "base/b64.h"
#include "base/fsutil.h"
#include "base/limits.h"
#include "keystore/card.h"
#include "ca/recjson.h"
#include "ctl/ctl_card.h"
#include "ctl/ctl_holdcard.h"
#include "ctl/ctl_tokencard.h"
#include "ctl/ctl_prompt.h"
#include "ctl/ctl_ops.h"
#include "ctl/ctl_out.h"

/* ---- pure parts ---- */

int ctl_window_which(const char *certs)
{
    if (certs == NULL)
        return -1;
    if (strcmp(certs, "sign") == 0)
        return 1 << CA_SIGN;
    if (strcmp(certs, "auth") == 0)
        return 1 << CA_AUTH;
    if (strcmp(certs, "both") == 0)
        return (1 << CA_SIGN) | (1 << CA_AUTH);
    return -1;
}

int ctl_window_check_dir(const char *dir, long min_free, struct jerr *err)
{
    struct stat st;
    struct statvfs vfs;
    char shown[256];

    ctl_out_sanitize(shown, sizeof(shown), dir, strlen(dir));
    if (stat(dir, &st) == -1)
        return jerr_set(err, JERR_IO, "--out", "%s: %s", shown, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return jerr_set(err, JERR_IO, "--out", "%s: not a directory", shown);
    /* access(2) answers for the real uid, as the write will be made */
    if (access(dir, W_OK | X_OK) == -1)
        return jerr_set(err, JERR_IO, "--out", "%s: cannot create files there: %s", shown,
                        strerror(errno));
    if (statvfs(dir, &vfs) == -1)
        return jerr_set(err, JERR_IO, "--out", "%s: %s", shown, strerror(errno));
    if (vfs.f_flag & ST_RDONLY)
        return jerr_set(err, JERR_IO, "--out", "%s: on a read-only file system", shown);
    if ((double)vfs.f_bavail * (double)vfs.f_frsize < (double)min_free)
        return jerr_set(err, JERR_IO, "--out", "%s: less than %ld KiB free", shown,
                        min_free / 1024);
    return 0;
}

char *ctl_window_pin_letter(const char *card_id, const json_t *initial)
{
    const char *sign = ctl_out_str(initial, "sign"), *auth = ctl_out_str(initial, "auth");
    const size_t cap = 1024;
    char *text;
    size_t used;

    if ((sign == NULL && auth == NULL) || (text = malloc(cap)) == NULL)
        return NULL;
    used = (size_t)snprintf(text, cap, "Card %.64s: initial passwords\n", card_id);
    if (sign != NULL)
        used += (size_t)snprintf(text + used, cap - used, "  signing password:   %.16s\n", sign);
    if (auth != NULL)
        used += (size_t)snprintf(text + used, cap - used, "  authentication PIN: %.16s\n", auth);
    /* guide 4(7): the holder changes them at first use; the letter is theirs alone */
    snprintf(text + used, cap - used,
             "Keep this letter apart from the card. Change the passwords at first use\n"
             "(jpkictl card passwd IMAGE --slot sign|auth); a forgotten or locked one is\n"
             "reset at the municipal window.\n");
    return text;
}

/* ---- helpers ---- */

bool ctl_window_is_file_safe_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > JPKI_ID_MAX || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= 'a' && s[i] <= 'z') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

/* Writes a base64 image to `path` (0600, atomic). Returns 0, or -1 with err. */
static int write_image(const char *path, const char *b64, struct jerr *err)
{
    unsigned char *raw = NULL;
    size_t len = 0;
    if (b64_decode(b64, strlen(b64), &raw, &len) != 0)
        return jerr_set(err, JERR_INVALID, "card_image", "the answer's card image is not base64");
    int rc = fsutil_write_atomic(path, raw, len, 0600, false, err);
    OPENSSL_clear_free(raw, len);
    return rc;
}

/* "PATH: why" without the path twice when `why` already starts with it (fsutil's messages). */
static const char *why_of(const char *path, const struct jerr *err)
{
    size_t n = strlen(path);
    if (strncmp(err->msg, path, n) == 0 && strncmp(err->msg + n, ": ", 2) == 0)
        return err->msg + n + 2;
    return err->msg;
}

/* ---- card issue ---- */

/* What the issuance writes, decided before the API is called. */
struct issue_plan {
    const char *card_id;
    const char *dir;        /* --out, or NULL */
    char image_path[4096];  /* DIR/ID.card when a slot is generated */
    unsigned which;         /* slots requested */
    unsigned generated;     /* slots whose keys the service generates (go on the image) */
    unsigned char *current; /* the holder's current image, sent to keep its other slot */
    size_t current_len;
    unsigned kept; /* slots of the current image kept as they are */
    bool replaces; /* an existing image is replaced whole (every slot re-issued) */
};

static void plan_free(struct issue_plan *plan)
{
    if (plan->current != NULL)
        OPENSSL_cleanse(plan->current, plan->current_len);
    free(plan->current);
    plan->current = NULL;
}

/* An existing DIR/ID.card: it must be this card's readable image. When it holds a slot that
 * is not re-issued, its bytes are sent so that the service keeps that slot. */
static int plan_current_image(struct ctl *ctl, struct issue_plan *plan)
{
    struct jerr err = {0};
    struct card_image *ci;
    char shown[256];
    struct stat st;

    ctl_out_sanitize(shown, sizeof(shown), plan->image_path, strlen(plan->image_path));
    if (stat(plan->image_path, &st) == -1 && errno == ENOENT)
        return CTL_EXIT_OK;
    if ((ci = card_image_load(plan->image_path, &err)) == NULL)
        return ctl_fail(ctl, CTL_EXIT_FAILED,
                        "%s exists but is not a readable card image (%s): move it away or give "
                        "another --out; nothing was issued",
                        shown, why_of(plan->image_path, &err));
    if (strcmp(card_image_id(ci), plan->card_id) != 0) {
        card_image_free(ci);
        return ctl_fail(ctl, CTL_EXIT_FAILED,
                        "%s is the image of another card: move it away or give another --out; "
                        "nothing was issued",
                        shown);
    }
    for (int ca = 0; ca < CA_KIND_COUNT; ca++)
        if (card_image_get0_cert(ci, (enum ca_kind)ca) != NULL && !(plan->which & (1u << ca)))
            plan->kept |= 1u << (unsigned)ca;
    card_image_free(ci);
    if (plan->kept == 0) {
        plan->replaces = true;
        return CTL_EXIT_OK;
    }
    if (fsutil_read_file(plan->image_path, CTL_WINDOW_IMAGE_MAX, &plan->current, &plan->current_len,
                         &err) == -1)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "cannot read %s: %s; nothing was issued", shown,
                        why_of(plan->image_path, &err));
    return CTL_EXIT_OK;
}

/* Everything about the output, checked before the API is called. */
static int plan_issue(struct ctl *ctl, const struct ctl_args *args, struct issue_plan *plan)
{
    const char *letter = ctl_args_get(args, "pin-letter");
    struct jerr err = {0};
    int which = ctl_window_which(ctl_args_get(args, "certs"));

    memset(plan, 0, sizeof(*plan));
    plan->card_id = args->pos[0];
    plan->dir = ctl_args_get(args, "out");
    if (which == -1)
        return ctl_usage(ctl, "--certs must be sign, auth or both");
    plan->which = plan->generated = (unsigned)which;
    if (ctl_args_has(args, "sign-csr"))
        plan->generated &= ~(1u << CA_SIGN);
    if (ctl_args_has(args, "auth-csr"))
        plan->generated &= ~(1u << CA_AUTH);
    if (plan->generated == 0 && (ctl_args_has(args, "passwords-file") || letter != NULL))
        return ctl_usage(ctl, "--passwords-file and --pin-letter are for a card image, and every "
                              "key is supplied: no image is written");
    if (plan->generated != 0 && plan->dir == NULL)
        /* the image is sent once: with nowhere to keep it, its keys would be lost */
        return ctl_usage(ctl, "--out DIR is required: the service generates the private keys "
                              "into a card image that it sends only once; nothing was issued");
    if (plan->generated != 0 && !ctl_window_is_file_safe_id(plan->card_id))
        return ctl_usage(ctl, "the card id cannot name the image file DIR/ID.card; nothing was "
                              "issued");
    if (plan->dir != NULL &&
        (fsutil_mkdirs(plan->dir, 0700, &err) == -1 ||
         ctl_window_check_dir(plan->dir, CTL_WINDOW_MIN_FREE_BYTES, &err) == -1))
        return ctl_fail(ctl, CTL_EXIT_FAILED, "--out %s; nothing was issued", err.msg);
    if (letter != NULL && access(letter, F_OK) == 0)
        return ctl_fail(ctl, CTL_EXIT_FAILED,
                        "--pin-letter: the file exists (a letter is never overwritten); nothing "
                        "was issued");
    if (plan->generated == 0)
        return CTL_EXIT_OK;
    int n = snprintf(plan->image_path, sizeof(plan->image_path), "%s/%s.card", plan->dir,
                     plan->card_id);
    if (n < 0 || (size_t)n >= sizeof(plan->image_path))
        return ctl_usage(ctl, "--out: path too long");
    return plan_current_image(ctl, plan);
}

/* Reads a small text file into a JSON string. */
static int file_string(struct ctl *ctl, const char *opt, const char *path, json_t **out)
{
    unsigned char *data = NULL;
    size_t len = 0;
    struct jerr err = {0};
    *out = NULL;
    if (fsutil_read_file(path, CTL_WINDOW_SMALL_FILE_MAX, &data, &len, &err) == -1)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "--%s: %s", opt, err.msg);
    *out = json_stringn((const char *)data, len);
    OPENSSL_cleanse(data, len);
    free(data);
    if (*out == NULL)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "--%s: not a text file", opt);
    return CTL_EXIT_OK;
}

int ctl_window_passwords_file(struct ctl *ctl, const char *file, json_t **out)
{
    struct jerr err = {0};
    unsigned char *data = NULL;
    size_t len = 0;
    json_t *o;

    *out = NULL;
    if (fsutil_read_file(file, CTL_WINDOW_SMALL_FILE_MAX, &data, &len, &err) == -1)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "--passwords-file: %s", err.msg);
    o = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, NULL);
    OPENSSL_cleanse(data, len);
    free(data);
    if (!json_is_object(o)) {
        json_decref(o);
        return ctl_fail(ctl, CTL_EXIT_FAILED,
                        "--passwords-file: not a JSON object {\"sign\": …, \"auth\": …}");
    }
    *out = o;
    return CTL_EXIT_OK;
}

/* The passwords: from --passwords-file (JSON {"sign": …, "auth": …}), else asked on the
 * terminal for each generated slot (twice, no echo; empty: generated), else none (the service
 * generates them). *out is NULL when there are none. */
static int issue_passwords(struct ctl *ctl, const struct ctl_args *args,
                           const struct issue_plan *plan, json_t **out)
{
    const char *file = ctl_args_get(args, "passwords-file");
    char pw[CTL_PASSWORD_MAX + 1], whose[JPKI_ID_MAX + 8];
    json_t *o = NULL;
    int rc = CTL_EXIT_OK;

    *out = NULL;
    if (file != NULL)
        return ctl_window_passwords_file(ctl, file, out);
    if (!isatty(STDIN_FILENO))
        return CTL_EXIT_OK; /* no one to ask: the service generates them */
    snprintf(whose, sizeof(whose), "card %s", plan->card_id);
    for (int ca = 0; ca < CA_KIND_COUNT && rc == CTL_EXIT_OK; ca++) {
        if (!(plan->generated & (1u << ca)))
            continue;
        rc = ctl_prompt_new_password(ctl, (enum ca_kind)ca, "passwords-file", NULL, NULL, whose,
                                     true, pw);
        if (rc == CTL_EXIT_OK && pw[0] != '\0') {
            if (o == NULL)
                o = json_object();
            if (o == NULL ||
                json_object_set_new(o, ca_kind_name((enum ca_kind)ca), json_string(pw)) != 0)
                rc = ctl_fail(ctl, CTL_EXIT_FAILED, "out of memory");
        }
        OPENSSL_cleanse(pw, sizeof(pw));
    }
    if (rc != CTL_EXIT_OK)
        json_decref(o);
    else
        *out = o;
    return rc;
}

/* The issue request: which certificates, the holder's CSRs, the passwords, the current image. */
static int issue_body(struct ctl *ctl, const struct ctl_args *args, const struct issue_plan *plan,
                      json_t **body)
{
    static const char *const csr_opt[] = {"sign-csr", "auth-csr"};
    json_t *b = NULL, *keys = NULL, *v = NULL;
    int rc = CTL_EXIT_FAILED;

    *body = NULL;
    if ((b = json_pack("{s:s}", "certificates", ctl_args_get(args, "certs"))) == NULL)
        goto oom;
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        const char *path = ctl_args_get(args, csr_opt[ca]);
        if (path == NULL)
            continue;
        if (keys == NULL && (keys = json_object()) == NULL)
            goto oom;
        if ((rc = file_string(ctl, csr_opt[ca], path, &v)) != CTL_EXIT_OK)
            goto out;
        rc = CTL_EXIT_FAILED;
        if (json_object_set_new(keys, ca_kind_name((enum ca_kind)ca), v) == -1)
            goto oom;
    }
    if (keys != NULL && json_object_set(b, "public_keys", keys) == -1)
        goto oom;
    if (plan->generated != 0) {
        if ((rc = issue_passwords(ctl, args, plan, &v)) != CTL_EXIT_OK)
            goto out;
        rc = CTL_EXIT_FAILED;
        if (v != NULL && json_object_set_new(b, "passwords", v) == -1)
            goto oom;
    }
    if (plan->current != NULL &&
        json_object_set_new(b, "card_image", recjson_base64(plan->current, plan->current_len)) ==
            -1)
        goto oom;
    *body = b;
    b = NULL;
    rc = CTL_EXIT_OK;
    goto out;
oom:
    rc = ctl_fail(ctl, CTL_EXIT_FAILED,
                  "cannot build the request (out of memory, or text that "
                  "is not UTF-8)");
out:
    json_decref(keys);
    json_decref(b);
    return rc;
}

void ctl_window_revoke_issued(struct ctl *ctl, const json_t *certs)
{
    size_t i;
    const json_t *c;
    json_array_foreach(certs, i, c)
    {
        const char *serial = ctl_out_str(c, "serial");
        char path[CTL_PATH_MAX];
        json_t *body = json_pack("{s:s}", "reason", "unspecified"), *answer = NULL;
        bool json = ctl->json;
        int rc = CTL_EXIT_FAILED;
        if (body != NULL && ctl_ops_is_serial(serial) &&
            ctl_path(path, sizeof(path), "/v1/certificates/", serial, "/revoke") == 0) {
            ctl->json = false; /* our own call: its answer is not the operator's output */
            rc = ctl_api(ctl, "POST", path, body, &answer);
            ctl->json = json;
        }
        if (rc == CTL_EXIT_OK)
            fprintf(ctl->err, "jpkictl: %s: certificate %s revoked (unspecified)\n", ctl->cmd_name,
                    serial);
        else
            fprintf(ctl->err,
                    "jpkictl: %s: certificate %s could NOT be revoked: revoke it now with "
                    "'jpkictl cert revoke %s --reason unspecified'\n",
                    ctl->cmd_name, serial != NULL ? serial : "?",
                    serial != NULL ? serial : "SERIAL");
        json_decref(body);
        json_decref(answer);
    }
}

/* Shows the generated passwords once: in the PIN letter when asked (mode 0600, never over an
 * existing file), else on the output. With --json they are in the answer already. */
static int deliver_passwords(struct ctl *ctl, const struct ctl_args *args, FILE *f,
                             const json_t *initial)
{
    const char *letter = ctl_args_get(args, "pin-letter");
    const char *sign = ctl_out_str(initial, "sign"), *auth = ctl_out_str(initial, "auth");
    struct jerr err = {0};
    int rc = CTL_EXIT_OK;

    if (sign == NULL && auth == NULL) {
        if (letter != NULL)
            fputs("no password was generated (the holder chose them): no PIN letter written\n", f);
        return CTL_EXIT_OK;
    }
    if (letter != NULL) {
        char *text = ctl_window_pin_letter(args->pos[0], initial);
        if (text != NULL &&
            fsutil_write_atomic(letter, text, strlen(text), 0600, true, &err) == 0) {
            fputs("initial passwords: in the PIN letter ", f);
            ctl_out_put(f, letter);
            fputs(" (mode 0600); they are shown nowhere else\n", f);
        } else {
            rc = ctl_fail(ctl, CTL_EXIT_FAILED, "cannot write the PIN letter: %s",
                          text != NULL ? err.msg : "out of memory");
            letter = NULL; /* the passwords must not be lost: shown below instead */
        }
        if (text != NULL)
            OPENSSL_cleanse(text, strlen(text));
        free(text);
    }
    if (letter == NULL && !ctl->json) {
        fputs("initial passwords (shown once, stored nowhere: hand them to the holder)\n",
              ctl->out);
        if (sign != NULL)
            fprintf(ctl->out, "  signing password:   %s\n", sign);
        if (auth != NULL)
            fprintf(ctl->out, "  authentication PIN: %s\n", auth);
    }
    return rc;
}

void ctl_window_print_issued(FILE *f, const json_t *cert)
{
    fputs("issued ", f);
    ctl_out_put(f, ctl_out_str(cert, "ca"));
    fputc(' ', f);
    ctl_out_put(f, ctl_out_str(cert, "serial"));
    fputs(" not after ", f);
    ctl_out_put(f, ctl_out_str(cert, "not_after"));
    fputc('\n', f);
}

int ctl_window_card_issue(struct ctl *ctl, const struct ctl_args *args)
{
    char path[CTL_PATH_MAX], shown[256];
    struct issue_plan plan;
    json_t *body = NULL, *answer = NULL;
    struct jerr err = {0};
    int rc;

    if (ctl_holdcard_is_token(args))
        return ctl_tokencard_issue(ctl, args); /* onto a token: keys generated there */
    if (ctl_path(path, sizeof(path), "/v1/cards/", args->pos[0], "/issue") == -1)
        return ctl_usage(ctl, "the id is too long");
    if ((rc = plan_issue(ctl, args, &plan)) != CTL_EXIT_OK)
        goto out;
    if ((rc = issue_body(ctl, args, &plan, &body)) != CTL_EXIT_OK)
        goto out;
    if ((rc = ctl_api(ctl, "POST", path, body, &answer)) != CTL_EXIT_OK)
        goto out;
    FILE *f = ctl->json ? ctl->err : ctl->out; /* --json keeps the output pure JSON */
    const json_t *certs = json_object_get(answer, "certificates");
    const char *image = ctl_out_str(answer, "card_image");
    ctl_out_sanitize(shown, sizeof(shown), plan.image_path, strlen(plan.image_path));
    /* the image first: it is the only copy of the keys */
    if (image != NULL && write_image(plan.image_path, image, &err) == -1) {
        ctl_fail(ctl, CTL_EXIT_FAILED,
                 "the certificates were issued, but the card image cannot be written to %s "
                 "(%s): its keys are lost, so the certificates just issued are revoked",
                 shown, why_of(plan.image_path, &err));
        ctl_window_revoke_issued(ctl, certs);
        rc = CTL_EXIT_FAILED;
        goto out;
    }
    if (image == NULL && plan.generated != 0) {
        rc = ctl_fail(ctl, CTL_EXIT_FAILED, "the answer holds no card image");
        ctl_window_revoke_issued(ctl, certs);
        goto out;
    }
    size_t i;
    const json_t *c;
    json_array_foreach(certs, i, c)
    {
        const char *serial = ctl_out_str(c, "serial"), *pem = ctl_out_str(c, "pem");
        ctl_window_print_issued(f, c);
        if (plan.dir == NULL)
            continue;
        char pem_path[4096 + 64];
        if (!ctl_ops_is_serial(serial) || pem == NULL) {
            rc = ctl_fail(ctl, CTL_EXIT_FAILED,
                          "a certificate without a serial or PEM; not "
                          "written");
            continue;
        }
        snprintf(pem_path, sizeof(pem_path), "%s/%s.pem", plan.dir, serial);
        /* a copy of a public certificate: its loss costs nothing, the issuance stands */
        if (fsutil_write_atomic(pem_path, pem, strlen(pem), 0644, false, &err) == -1)
            rc = ctl_fail(ctl, CTL_EXIT_FAILED, "cannot write the certificate copy: %s", err.msg);
        else {
            fputs("  certificate: ", f);
            ctl_out_put(f, pem_path);
            fputc('\n', f);
        }
    }
    fputs("superseded: ", f);
    ctl_out_list(f, answer, "superseded");
    fputc('\n', f);
    if (image != NULL) {
        fprintf(f, "card image: %s (mode 0600)", shown);
        if (plan.kept != 0)
            fprintf(f, "; updated in place, the %s slot kept",
                    plan.kept == (1u << CA_SIGN) ? "signing" : "authentication");
        else if (plan.replaces)
            fputs("; replaced", f);
        fputc('\n', f);
    }
    int prc = deliver_passwords(ctl, args, f, json_object_get(answer, "initial_passwords"));
    if (rc == CTL_EXIT_OK)
        rc = prc;
out:
    plan_free(&plan);
    json_decref(body);
    json_decref(answer);
    return rc;
}

/* ---- card reset-password ---- */

int ctl_window_reset_password(struct ctl *ctl, const struct ctl_args *args)
{
    const char *image_path = args->pos[0];
    char pw[CTL_PASSWORD_MAX + 1] = "", path[CTL_PATH_MAX], shown[256], card_id[JPKI_ID_MAX + 1];
    unsigned char *raw = NULL;
    size_t raw_len = 0;
    struct card_image *ci = NULL;
    json_t *body = NULL, *answer = NULL;
    struct jerr err = {0};
    enum ca_kind slot;
    int rc;

    ctl_out_sanitize(shown, sizeof(shown), image_path, strlen(image_path));
    if (ctl_args_get(args, "slot") == NULL ||
        ca_kind_parse(ctl_args_get(args, "slot"), &slot) == -1)
        return ctl_usage(ctl, "--slot must be sign or auth");
    /* the image is checked here first: a damaged one is not worth a trip to the service */
    if ((ci = card_image_load(image_path, &err)) == NULL)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "%s: %s", shown, why_of(image_path, &err));
    snprintf(card_id, sizeof(card_id), "%s", card_image_id(ci));
    bool empty = card_image_get0_cert(ci, slot) == NULL;
    card_image_free(ci);
    if (empty)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "%s: the card holds no %s certificate", shown,
                        ctl_card_slot_words(slot));
    if (ctl_path(path, sizeof(path), "/v1/cards/", card_id, "/reset-password") == -1)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "the card id is too long");
    if ((rc = ctl_prompt_new_password(ctl, slot, "new-file", ctl_args_get(args, "new-file"),
                                      CTL_CARD_ENV_NEW_PASSWORD, NULL, false, pw)) != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    if (fsutil_read_file(image_path, CTL_WINDOW_IMAGE_MAX, &raw, &raw_len, &err) == -1) {
        ctl_fail(ctl, rc, "%s: %s", shown, why_of(image_path, &err));
        goto out;
    }
    body = json_pack("{s:s, s:s, s:o}", "slot", ca_kind_name(slot), "new_password", pw,
                     "card_image", recjson_base64(raw, raw_len));
    if (body == NULL) {
        ctl_fail(ctl, rc, "out of memory");
        goto out;
    }
    if ((rc = ctl_api(ctl, "POST", path, body, &answer)) != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAILED;
    const char *image = ctl_out_str(answer, "card_image");
    if (image == NULL) {
        ctl_fail(ctl, rc, "the answer holds no card image; %s is unchanged", shown);
        goto out;
    }
    if (write_image(image_path, image, &err) == -1) {
        /* the old image still opens with the old key: nothing is lost, the reset is redone */
        ctl_fail(ctl, rc, "cannot write %s (%s); it is unchanged: reset again", shown,
                 why_of(image_path, &err));
        goto out;
    }
    if (!ctl->json) {
        fprintf(ctl->out, "the %s password of card ", ctl_card_slot_words(slot));
        ctl_out_put(ctl->out, card_id);
        fprintf(ctl->out, " was reset (%d tries, unlocked)\n  card image: %s (updated in place)\n",
                slot == CA_SIGN ? CARD_SIGN_MAX_TRIES : CARD_AUTH_MAX_TRIES, shown);
    }
    rc = CTL_EXIT_OK;
out:
    OPENSSL_cleanse(pw, sizeof(pw));
    if (raw != NULL)
        OPENSSL_cleanse(raw, raw_len);
    free(raw);
    json_decref(body); /* holds the password: freed, not cleansed (Jansson's copy) */
    json_decref(answer);
    return rc;
}
