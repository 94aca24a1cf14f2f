/*
 * ctl_ops: see ctl_ops.h. Requests are built with json_pack, never by hand; the service checks
 * every value (ids, dates, reasons) and its refusal is printed in words, so the client checks
 * only what it must to build a URL or name a file.
 */
#include "ctl/ctl_ops.h"

#include <stdlib.h>
#include <string.h>

#include "base/fsutil.h"
#include "base/limits.h"
#include "ctl/ctl_out.h"
#include "ctl/ctl_window.h"

/* cert expiring: days and rows, at most. */
#define CTL_OPS_MAX_DAYS 36500
#define CTL_OPS_EXPIRING_DEFAULT_DAYS 90
#define CTL_OPS_MAX_LIMIT 10000

bool ctl_ops_is_serial(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > JPKI_SERIAL_HEX_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F') ||
              (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* A member of an answer and the text written before it: a label ("name:") in a record, a
 * separator ("  ") in a row. */
struct member_text {
    const char *text, *member;
};
#define MEMBERS(a) (a), sizeof(a) / sizeof((a)[0])

/* "<kind> <obj[id_key]>", then one ctl_out_field line per member. */
static void print_record(FILE *f, const char *kind, const char *id_key, const json_t *obj,
                         const struct member_text *fields, size_t n)
{
    fprintf(f, "%s ", kind);
    ctl_out_put(f, ctl_out_str(obj, id_key));
    fputc('\n', f);
    for (size_t i = 0; i < n; i++)
        ctl_out_field(f, fields[i].text, ctl_out_str(obj, fields[i].member));
}

static void print_person(FILE *f, const json_t *p)
{
    static const struct member_text fields[] = {
        {"name:", "name"},
        {"address:", "address"},
        {"birth date:", "birth_date"},
        {"gender:", "gender"},
    };
    print_record(f, "person", "id", p, MEMBERS(fields));
    ctl_out_field(f, "deceased:", json_is_true(json_object_get(p, "deceased")) ? "yes" : "no");
}

static void print_card(FILE *f, const json_t *c)
{
    static const struct member_text fields[] = {
        {"person:", "person_id"},      {"type:", "type"},
        {"expiry:", "expiry"},         {"state:", "state"},
        {"prefecture:", "prefecture"}, {"municipality:", "municipality"},
    };
    print_record(f, "card", "id", c, MEMBERS(fields));
}

/* Writes each member of `obj` after its separator, sanitized ("-" when absent). */
static void put_members(FILE *f, const json_t *obj, const struct member_text *cols, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fputs(cols[i].text, f);
        ctl_out_put(f, ctl_out_str(obj, cols[i].member));
    }
}

/* "title (N):", then one line per member of the array `rows`, written by put_members. */
static void print_rows(FILE *f, const char *title, const json_t *rows,
                       const struct member_text *cols, size_t n)
{
    size_t i;
    const json_t *row;
    fprintf(f, "%s (%zu):\n", title, json_array_size(rows));
    json_array_foreach(rows, i, row)
    {
        put_members(f, row, cols, n);
        fputc('\n', f);
    }
}

/* One line per certificate: serial, CA, status (reason, since), card, notAfter. */
static void print_cert_line(FILE *f, const json_t *c)
{
    static const struct member_text head[] = {{"  ", "serial"}, {"  ", "ca"}, {"  ", "status"}};
    static const struct member_text tail[] = {{"  card ", "card_id"},
                                              {"  not after ", "not_after"}};
    const char *reason = ctl_out_str(c, "reason");
    const char *changed = ctl_out_str(c, "status_changed_at");
    put_members(f, c, MEMBERS(head));
    if (reason != NULL) {
        fputs(" (", f);
        ctl_out_put(f, reason);
        if (changed != NULL) {
            fputs(" since ", f);
            ctl_out_put(f, changed);
        }
        fputc(')', f);
    }
    put_members(f, c, MEMBERS(tail));
    fputc('\n', f);
}

static void print_cert_list(FILE *f, const char *title, const json_t *arr)
{
    size_t i;
    const json_t *c;
    fprintf(f, "%s (%zu):\n", title, json_array_size(arr));
    json_array_foreach(arr, i, c)
    {
        print_cert_line(f, c);
    }
}

/* "label: a, b\n" for the array member `key` of `answer`. */
static void serial_list_line(FILE *f, const char *label, const json_t *answer, const char *key)
{
    fprintf(f, "%s: ", label);
    ctl_out_list(f, answer, key);
    fputc('\n', f);
}

/* The path of the first positional id under prefix, with suffix. Returns an exit code. */
static int id_path(struct ctl *ctl, char *path, const char *prefix, const char *id,
                   const char *suffix)
{
    if (ctl_path(path, CTL_PATH_MAX, prefix, id, suffix) == -1)
        return ctl_usage(ctl, "the id is too long");
    return CTL_EXIT_OK;
}

/* Saves the window's signed receipt of a revocation (guide 4(5)A: 電子証明書失効申請等受理通知書;
 * the answer's "receipt", responder/api/receipt.h) to --receipt FILE, else to
 * ./revocation-receipt-<what>-<id>.json, and says where. The receipt is the holder's proof and
 * cannot be asked for again: when it cannot be written it is printed instead. Returns an exit
 * code. */
static int save_receipt(struct ctl *ctl, const struct ctl_args *args, const json_t *answer,
                        const char *what, const char *id)
{
    char default_path[JPKI_ID_MAX + 64];
    const char *path = ctl_args_get(args, "receipt");
    const json_t *receipt = json_object_get(answer, "receipt");
    FILE *f = ctl->json ? ctl->err : ctl->out;
    struct jerr err = {0};
    char *text = NULL;
    int rc = CTL_EXIT_OK;

    if (!json_is_object(receipt))
        return ctl_fail(ctl, CTL_EXIT_FAILED, "done, but the answer carries no receipt");
    if (path == NULL) {
        if (!ctl_window_is_file_safe_id(id))
            return ctl_fail(ctl, CTL_EXIT_FAILED,
                            "done, but the id cannot name a receipt file: give --receipt FILE");
        snprintf(default_path, sizeof(default_path), "revocation-receipt-%s-%s.json", what, id);
        path = default_path;
    }
    if ((text = json_dumps(receipt, JSON_INDENT(2))) == NULL)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "out of memory");
    if (fsutil_write_atomic(path, text, strlen(text), 0600, false, &err) == -1) {
        rc = ctl_fail(ctl, CTL_EXIT_FAILED,
                      "done, but the receipt cannot be written to %s: %s; here it is:", path,
                      err.msg);
        fputs(text, ctl->out);
        fputc('\n', ctl->out);
    } else {
        fputs("receipt ", f);
        ctl_out_put(f, ctl_out_str(receipt, "receipt_id"));
        fputs(" (signed) saved to ", f);
        ctl_out_put(f, path);
        fputc('\n', f);
    }
    free(text);
    return rc;
}

/* A lifecycle event without a body on a person or card: POST `{}` to /v1/<kind>s/ID<suffix>,
 * then "<kind> ID <done>" and the serials the answer lists under `list_key`. */
struct event_cmd {
    const char *kind;   /* "person" or "card": the path, the lines, the receipt's file name */
    const char *suffix; /* "/death", "/hold", ... */
    const char *done;   /* "recorded deceased", "suspended", ... */
    const char *list_label, *list_key;
    bool receipt; /* a revocation: the window's signed receipt is saved (save_receipt) */
};

/* Runs `e` on the first positional id; `more` (may be NULL) adds its lines to the text output.
 * Returns an exit code. */
static int run_event(struct ctl *ctl, const struct ctl_args *args, const struct event_cmd *e,
                     void (*more)(struct ctl *ctl, const char *id, const json_t *answer))
{
    const char *id = args->pos[0];
    char prefix[32];
    json_t *empty = NULL, *answer = NULL;
    int rc;
    snprintf(prefix, sizeof(prefix), "/v1/%ss/", e->kind);
    if ((empty = json_object()) == NULL)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "out of memory");
    rc = ctl_api_id(ctl, "POST", prefix, id, e->suffix, "the id", empty, &answer);
    if (rc == CTL_EXIT_OK && !ctl->json) {
        fprintf(ctl->out, "%s ", e->kind);
        ctl_out_put(ctl->out, id);
        fprintf(ctl->out, " %s\n", e->done);
        serial_list_line(ctl->out, e->list_label, answer, e->list_key);
        if (more != NULL)
            more(ctl, id, answer);
    }
    if (rc == CTL_EXIT_OK && e->receipt)
        rc = save_receipt(ctl, args, answer, e->kind, id);
    json_decref(empty);
    json_decref(answer);
    return rc;
}

/* ---- persons ---- */

int ctl_ops_person_add(struct ctl *ctl, const struct ctl_args *args)
{
    json_t *body = NULL, *answer = NULL;
    int rc;
    body = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", ctl_args_get(args, "id"), "name",
                     ctl_args_get(args, "name"), "address", ctl_args_get(args, "address"),
                     "birth_date", ctl_args_get(args, "birth-date"), "gender",
                     ctl_args_get(args, "gender"));
    if (body == NULL)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "cannot build the request (text not UTF-8?)");
    rc = ctl_api(ctl, "POST", "/v1/persons", body, &answer);
    if (rc == CTL_EXIT_OK && !ctl->json) {
        fputs("registered ", ctl->out);
        print_person(ctl->out, answer);
    }
    json_decref(body);
    json_decref(answer);
    return rc;
}

/* GET /v1/persons/ID in words: the record, its cards, its certificates. */
static void print_person_answer(FILE *f, const json_t *answer)
{
    static const struct member_text card_row[] = {
        {"  ", "id"}, {"  ", "type"}, {"  ", "state"}, {"  expiry ", "expiry"}};
    print_person(f, json_object_get(answer, "person"));
    print_rows(f, "cards", json_object_get(answer, "cards"), MEMBERS(card_row));
    print_cert_list(f, "certificates", json_object_get(answer, "certificates"));
}

int ctl_ops_person_show(struct ctl *ctl, const struct ctl_args *args)
{
    return ctl_api_show(ctl, "/v1/persons/", args->pos[0], print_person_answer);
}

/* The facts not given on the command line come from the current record. */
static int person_facts(struct ctl *ctl, const struct ctl_args *args, json_t **facts)
{
    static const char *const opt[] = {"name", "address", "birth-date", "gender"};
    static const char *const key[] = {"name", "address", "birth_date", "gender"};
    json_t *current = NULL, *out = NULL;
    const json_t *person = NULL;
    bool all = true, any = false;
    int rc = CTL_EXIT_OK;

    *facts = NULL;
    for (size_t i = 0; i < 4; i++) {
        all = all && ctl_args_has(args, opt[i]);
        any = any || ctl_args_has(args, opt[i]);
    }
    if (!any)
        return ctl_usage(ctl, "give at least one of --name, --address, --birth-date, --gender");
    if (!all) {
        bool json = ctl->json;
        ctl->json = false; /* the read is ours, not the answer the operator asked for */
        rc = ctl_api_id(ctl, "GET", "/v1/persons/", args->pos[0], NULL, "the id", NULL, &current);
        ctl->json = json;
        if (rc != CTL_EXIT_OK)
            goto out;
        person = json_object_get(current, "person");
    }
    if ((out = json_object()) == NULL) {
        rc = ctl_fail(ctl, CTL_EXIT_FAILED, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < 4; i++) {
        const char *v = ctl_args_get(args, opt[i]);
        if (v == NULL)
            v = ctl_out_str(person, key[i]);
        if (v == NULL) {
            rc = ctl_fail(ctl, CTL_EXIT_FAILED, "the service's record has no %s", key[i]);
            goto out;
        }
        json_t *s = json_string(v);
        if (s == NULL || json_object_set_new(out, key[i], s) == -1) {
            rc = ctl_fail(ctl, CTL_EXIT_FAILED, "--%s: not valid UTF-8", opt[i]);
            goto out;
        }
    }
    *facts = out;
    out = NULL;
out:
    json_decref(current);
    json_decref(out);
    return rc;
}

int ctl_ops_person_change(struct ctl *ctl, const struct ctl_args *args)
{
    char path[CTL_PATH_MAX];
    json_t *facts = NULL, *answer = NULL;
    int rc;
    if ((rc = id_path(ctl, path, "/v1/persons/", args->pos[0], "/basic-info")) != CTL_EXIT_OK)
        return rc;
    if ((rc = person_facts(ctl, args, &facts)) != CTL_EXIT_OK)
        goto out;
    rc = ctl_api(ctl, "PUT", path, facts, &answer);
    if (rc == CTL_EXIT_OK && !ctl->json) {
        fputs("changed ", ctl->out);
        print_person(ctl->out, json_object_get(answer, "person"));
        serial_list_line(ctl->out, "signing certificates revoked (affiliationChanged)", answer,
                         "revoked");
    }
out:
    json_decref(facts);
    json_decref(answer);
    return rc;
}

int ctl_ops_person_death(struct ctl *ctl, const struct ctl_args *args)
{
    static const struct event_cmd death = {
        "person", "/death", "recorded deceased", "revoked (cessationOfOperation)", "revoked", true};
    return run_event(ctl, args, &death, NULL);
}

/* ---- cards ---- */

int ctl_ops_card_add(struct ctl *ctl, const struct ctl_args *args)
{
    json_t *body = NULL, *answer = NULL;
    int rc;
    body = json_pack("{s:s, s:s, s:s, s:s}", "id", ctl_args_get(args, "id"), "person_id",
                     ctl_args_get(args, "person"), "type", ctl_args_get(args, "type"), "expiry",
                     ctl_args_get(args, "expiry"));
    if (body == NULL)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "cannot build the request (text not UTF-8?)");
    static const char *const places[] = {"prefecture", "municipality"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = ctl_args_get(args, places[i]);
        json_t *s = v != NULL ? json_string(v) : NULL;
        if (v != NULL && (s == NULL || json_object_set_new(body, places[i], s) == -1)) {
            rc = ctl_fail(ctl, CTL_EXIT_FAILED, "--%s: not valid UTF-8", places[i]);
            goto out;
        }
    }
    rc = ctl_api(ctl, "POST", "/v1/cards", body, &answer);
    if (rc == CTL_EXIT_OK && !ctl->json) {
        fputs("registered ", ctl->out);
        print_card(ctl->out, answer);
    }
out:
    json_decref(body);
    json_decref(answer);
    return rc;
}

/* GET /v1/cards/ID in words: the card and its certificates. */
static void print_card_answer(FILE *f, const json_t *answer)
{
    print_card(f, json_object_get(answer, "card"));
    print_cert_list(f, "certificates", json_object_get(answer, "certificates"));
}

int ctl_ops_card_show(struct ctl *ctl, const struct ctl_args *args)
{
    return ctl_api_show(ctl, "/v1/cards/", args->pos[0], print_card_answer);
}

int ctl_ops_card_hold(struct ctl *ctl, const struct ctl_args *args)
{
    static const struct event_cmd hold = {"card", "/hold", "suspended", "held (certificateHold)",
                                          "held", false};
    return run_event(ctl, args, &hold, NULL);
}

/* After a release: what stays held, and what to do about it. */
static void release_notice(struct ctl *ctl, const char *id, const json_t *answer)
{
    const char *notice = ctl_out_str(answer, "notice");
    serial_list_line(ctl->out, "still held", answer, "still_held");
    /* RULE guide 4(4): only the auth certificate leaves hold; say so every time one stays,
     * with the commands that do what the notice asks */
    const json_t *held = json_object_get(answer, "still_held");
    size_t i;
    const json_t *serial;
    if (json_array_size(held) > 0) {
        fputs("notice: " CTL_OPS_RELEASE_NOTICE "\n", ctl->out);
        json_array_foreach(held, i, serial)
        {
            if (!ctl_ops_is_serial(json_string_value(serial)))
                continue;
            fprintf(ctl->out, "  jpkictl cert revoke %s --reason unspecified\n",
                    json_string_value(serial));
        }
        fputs("  jpkictl card issue ", ctl->out);
        ctl_out_put(ctl->out, id);
        fputs(" --certs sign --out DIR\n", ctl->out);
    } else if (notice != NULL && notice[0] != '\0') {
        fputs("notice: ", ctl->out);
        ctl_out_put(ctl->out, notice);
        fputc('\n', ctl->out);
    }
}

int ctl_ops_card_release(struct ctl *ctl, const struct ctl_args *args)
{
    static const struct event_cmd release = {"card",     "/release", "active again",
                                             "released", "released", false};
    return run_event(ctl, args, &release, release_notice);
}

int ctl_ops_card_return(struct ctl *ctl, const struct ctl_args *args)
{
    static const struct event_cmd ret = {
        "card", "/return", "returned", "revoked (cessationOfOperation)", "revoked", true};
    return run_event(ctl, args, &ret, NULL);
}

/* ---- certificates ---- */

static void print_cert(FILE *f, const json_t *c)
{
    char part[32] = "-";
    const json_t *p = json_object_get(c, "partition");
    if (json_is_integer(p))
        snprintf(part, sizeof(part), "%lld", (long long)json_integer_value(p));
    static const struct member_text fields[] = {
        {"ca:", "ca"},
        {"status:", "status"},
        {"reason:", "reason"},
        {"changed at:", "status_changed_at"},
        {"card:", "card_id"},
        {"person:", "person_id"},
        {"not before:", "not_before"},
        {"not after:", "not_after"},
    };
    print_record(f, "certificate", "serial", c, MEMBERS(fields));
    ctl_out_field(f, "partition:", part);
}

static int serial_path(struct ctl *ctl, char *path, const char *serial, const char *suffix)
{
    if (!ctl_ops_is_serial(serial))
        return ctl_usage(ctl, "SERIAL must be 1 to %d hex digits", JPKI_SERIAL_HEX_MAX);
    return id_path(ctl, path, "/v1/certificates/", serial, suffix);
}

int ctl_ops_cert_show(struct ctl *ctl, const struct ctl_args *args)
{
    char path[CTL_PATH_MAX];
    json_t *answer = NULL;
    const char *out_file = ctl_args_get(args, "out");
    int rc;
    if ((rc = serial_path(ctl, path, args->pos[0], NULL)) != CTL_EXIT_OK)
        return rc;
    if ((rc = ctl_api(ctl, "GET", path, NULL, &answer)) != CTL_EXIT_OK)
        goto out;
    if (!ctl->json) {
        static const struct member_text history_row[] = {
            {"  ", "at"}, {"  ", "action"}, {"  ", "outcome"}, {"  by ", "actor"}};
        print_cert(ctl->out, answer);
        print_rows(ctl->out, "history", json_object_get(answer, "history"), MEMBERS(history_row));
    }
    if (out_file != NULL) {
        const char *pem = ctl_out_str(answer, "pem");
        struct jerr err = {0};
        if (pem == NULL)
            rc = ctl_fail(ctl, CTL_EXIT_FAILED, "the answer holds no PEM; nothing written");
        else if (fsutil_write_atomic(out_file, pem, strlen(pem), 0644, false, &err) == -1)
            rc = ctl_fail(ctl, CTL_EXIT_FAILED, "cannot write %s: %s", out_file, err.msg);
    }
out:
    json_decref(answer);
    return rc;
}

int ctl_ops_cert_revoke(struct ctl *ctl, const struct ctl_args *args)
{
    char path[CTL_PATH_MAX];
    json_t *body = NULL, *answer = NULL;
    int rc;
    if ((rc = serial_path(ctl, path, args->pos[0], "/revoke")) != CTL_EXIT_OK)
        return rc;
    if ((body = json_pack("{s:s}", "reason", ctl_args_get(args, "reason"))) == NULL)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "--reason: not valid UTF-8");
    rc = ctl_api(ctl, "POST", path, body, &answer);
    if (rc == CTL_EXIT_OK && !ctl->json) {
        fputs("revoked ", ctl->out);
        print_cert(ctl->out, answer);
    }
    if (rc == CTL_EXIT_OK)
        rc = save_receipt(ctl, args, answer, "cert", args->pos[0]);
    json_decref(body);
    json_decref(answer);
    return rc;
}

int ctl_ops_cert_expiring(struct ctl *ctl, const struct ctl_args *args)
{
    char path[CTL_PATH_MAX];
    long days, limit = 100;
    json_t *answer = NULL;
    int rc;
    /* guide 4(12) warns a holder 3 months ahead: the window looks a little further */
    if (!ctl_args_has(args, "days"))
        days = CTL_OPS_EXPIRING_DEFAULT_DAYS;
    else if (ctl_args_number(ctl_args_get(args, "days"), 0, CTL_OPS_MAX_DAYS, &days) == -1)
        return ctl_usage(ctl, "--days must be a number of days from 0 to %d", CTL_OPS_MAX_DAYS);
    if (ctl_args_has(args, "limit") &&
        ctl_args_number(ctl_args_get(args, "limit"), 1, CTL_OPS_MAX_LIMIT, &limit) == -1)
        return ctl_usage(ctl, "--limit must be a number from 1 to %d", CTL_OPS_MAX_LIMIT);
    snprintf(path, sizeof(path), "/v1/certificates?expiring_within_days=%ld&limit=%ld", days,
             limit);
    rc = ctl_api(ctl, "GET", path, NULL, &answer);
    if (rc == CTL_EXIT_OK && !ctl->json) {
        char title[64];
        snprintf(title, sizeof(title), "good certificates expiring within %ld days", days);
        print_cert_list(ctl->out, title, json_object_get(answer, "certificates"));
    }
    json_decref(answer);
    return rc;
}
