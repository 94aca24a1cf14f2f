/*
 * batch: the batch-file parser (see batch.h).
 *
 * A YAML file is read into a tree by config/yamltree.h, which is then converted to the JSON
 * values Jansson would have produced for the same rows (batch_yaml_load), so that one row
 * reader (batch_row_read, over ca/recjson.h) serves both formats. The file is refused as a
 * whole only for what makes it unreadable or unbounded; a bad row becomes a problem and the
 * rest go on. Passwords are secrets: they never enter a message, and the copies this file
 * makes (the YAML tree, the JSON tree, the rows) are wiped.
 */
#include "ca/batch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "ca/lifecycle.h"
#include "ca/recjson.h"
#include "ca/rules.h"
#include "config/yamltree.h"

/* Nesting a batch file needs: root → rows → row → person/card/passwords/certificates →
 * scalar is 5 levels; anything far deeper is not a batch file. */
#define BATCH_MAX_DEPTH 16

/* A row's field path prefix: "rows[99999]." and a little room. */
#define BATCH_PREFIX_MAX 32

/* ---------------------------------------------------------------------------------------- */
/* YAML → JSON values                                                                       */

/* Is s[0..len) a YAML 1.2 core-schema integer (§10.3.2): [-+]?[0-9]+ | 0o[0-7]+ |
 * 0x[0-9a-fA-F]+ ? Sets *base and *digits (where the digits start). */
static bool yconv_core_int(const char *s, size_t len, int *base, size_t *digits)
{
    size_t i = 0;
    *base = 10;
    if (len > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
        *base = s[1] == 'o' ? 8 : 16;
        i = 2;
    } else if (len > 1 && (s[0] == '-' || s[0] == '+')) {
        i = 1;
    }
    if (i >= len)
        return false;
    *digits = i;
    for (; i < len; i++) {
        char c = s[i];
        bool ok = *base == 8    ? (c >= '0' && c <= '7')
                  : *base == 10 ? (c >= '0' && c <= '9')
                                : ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                                   (c >= 'A' && c <= 'F'));
        if (!ok)
            return false;
    }
    return true;
}

/* The JSON value of a plain integer scalar: an integer, or a real when it does not fit (it is
 * then as wrong as an over-long number in JSON: a number where a string belongs). */
static json_t *yconv_int(const char *s, size_t len, int base, size_t digits)
{
    char buf[80];
    if (len >= sizeof(buf)) /* far past any json_int_t */
        return json_real(1e300);
    memcpy(buf, s + digits, len - digits);
    buf[len - digits] = '\0';
    errno = 0;
    char *end = NULL;
    long long v = strtoll(buf, &end, base);
    bool negative = digits == 1 && s[0] == '-';
    if (errno == ERANGE || end == NULL || *end != '\0')
        return json_real(negative ? -1e300 : 1e300);
    return json_integer(negative ? -v : v);
}

/* A scalar's JSON value: plain null/bool/int per the YAML 1.2 core schema, else a string. */
static json_t *yconv_scalar(const struct yamltree_node *n)
{
    int base;
    size_t digits;
    bool b;
    if (yamltree_is_null(n))
        return json_null();
    if (yamltree_is_bool(n, &b))
        return json_boolean(b);
    if (n->plain && yconv_core_int(n->text, n->len, &base, &digits))
        return yconv_int(n->text, n->len, base, digits);
    return json_stringn(n->text, n->len);
}

/* The JSON value of node `n`. Each part of the tree is freed (and its bytes wiped) as soon as
 * it is converted, so that a large file is not held twice. Frees `n` in all cases. */
static json_t *yconv_node(struct yamltree_node *n, struct jerr *err)
{
    json_t *node = NULL;
    bool ok = false;

    if (n->kind == YAMLTREE_SCALAR) {
        node = yconv_scalar(n);
        if (node == NULL)
            jerr_set(err, JERR_INTERNAL, "file", "file: line %u: cannot store a value", n->line);
        ok = node != NULL;
        goto out;
    }
    node = n->kind == YAMLTREE_MAP ? json_object() : json_array();
    if (node == NULL) {
        jerr_set(err, JERR_INTERNAL, "file", "file: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n->count; i++) {
        struct yamltree_pair *pair = &n->pairs[i];
        json_t *value = yconv_node(pair->value, err);
        pair->value = NULL;
        if (value == NULL)
            goto out;
        int added = pair->key != NULL ? json_object_set_new(node, pair->key, value)
                                      : json_array_append_new(node, value);
        if (added != 0) {
            jerr_set(err, JERR_INTERNAL, "file", "file: out of memory");
            goto out;
        }
    }
    ok = true;
out:
    yamltree_free(n);
    if (!ok) {
        json_decref(node);
        return NULL;
    }
    return node;
}

/* A refusal of the YAML reader in the words of this file: "file: line L column C: why". */
static void batch_yaml_error(const struct yamltree_error *e, struct jerr *err)
{
    char shown[64];
    switch (e->fault) {
    case YAMLTREE_NOMEM:
        jerr_set(err, JERR_INTERNAL, "file", "file: out of memory reading YAML");
        break;
    case YAMLTREE_UTF8:
    case YAMLTREE_READER: /* a byte, not a character: name the byte */
        jerr_set(err, JERR_INVALID, "file", "file: invalid YAML at line %u (byte %zu): %s", e->line,
                 e->offset + 1, e->problem);
        break;
    case YAMLTREE_SYNTAX:
        if (e->context != NULL)
            jerr_set(err, JERR_INVALID, "file",
                     "file: invalid YAML at line %u column %u: %s (%s at line %u column %u)",
                     e->line, e->col, e->problem, e->context, e->context_line, e->context_col);
        else
            jerr_set(err, JERR_INVALID, "file", "file: invalid YAML at line %u column %u: %s",
                     e->line, e->col, e->problem);
        break;
    case YAMLTREE_DUPLICATE_KEY:
        jerr_escape(shown, sizeof(shown), e->key, strnlen(e->key, 32));
        jerr_set(err, JERR_INVALID, "file", "file: line %u column %u: duplicate key \"%s\"",
                 e->line, e->col, shown);
        break;
    case YAMLTREE_MULTIPLE_DOCUMENTS:
        jerr_set(err, JERR_INVALID, "file", "file: line %u: %s", e->line, e->why);
        break;
    default:
        jerr_set(err, JERR_INVALID, "file", "file: line %u column %u: %s", e->line, e->col, e->why);
    }
}

/* Parses one YAML document into the JSON value it means. */
static json_t *batch_yaml_load(const char *data, size_t len, struct jerr *err)
{
    struct yamltree_error e;
    struct yamltree_node *tree = NULL;
    if (yamltree_parse(data, len, BATCH_MAX_DEPTH, &tree, &e) == -1) {
        batch_yaml_error(&e, err);
        return NULL;
    }
    if (tree == NULL) {
        jerr_set(err, JERR_INVALID, "file", "file: empty");
        return NULL;
    }
    return yconv_node(tree, err);
}

static json_t *batch_json_load(const char *data, size_t len, struct jerr *err)
{
    json_error_t jerror;
    char shown[JSON_ERROR_TEXT_LENGTH * 4 + 1];
    /* Trailing bytes, duplicate keys and \u0000 are refused (Jansson's defaults + flag). */
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerror);
    if (root == NULL) {
        jerr_escape(shown, sizeof(shown), jerror.text, strnlen(jerror.text, sizeof(jerror.text)));
        jerr_set(err, JERR_INVALID, "file", "file: invalid JSON at line %d column %d: %s",
                 jerror.line, jerror.column, shown);
    }
    return root;
}

/* ---------------------------------------------------------------------------------------- */
/* Rows                                                                                     */

/* What the rows seen so far claim: row keys, card ids, person ids (JSON objects used as hash
 * sets: name → 0-based row index, or index into the good rows for persons). */
struct batch_seen {
    json_t *keys;
    json_t *cards;
    json_t *persons;
};

static int batch_member(const json_t *obj, const char *prefix, const char *name, const json_t **out,
                        struct jerr *err)
{
    char field[BATCH_PREFIX_MAX + 32];
    *out = json_object_get(obj, name);
    if (*out != NULL)
        return 0;
    snprintf(field, sizeof(field), "%s%s", prefix, name);
    return jerr_set(err, JERR_INVALID, field, "%s: required", field);
}

/* A password of `min`..`max` characters from A-Z0-9 (or 0-9 only). The value never enters a
 * message. */
static int batch_password(const json_t *pw, const char *prefix, const char *name, size_t min,
                          size_t max, bool digits_only, char *out, struct jerr *err)
{
    char field[BATCH_PREFIX_MAX + 32];
    const json_t *v;
    snprintf(field, sizeof(field), "%s%s", prefix, name);
    if (batch_member(pw, prefix, name, &v, err) == -1)
        return -1;
    if (!json_is_string(v))
        return jerr_set(err, JERR_INVALID, field,
                        "%s: must be a string (in YAML, quote a password of digits)", field);
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    bool ok = len >= min && len <= max;
    for (size_t i = 0; ok && i < len; i++)
        ok = (s[i] >= '0' && s[i] <= '9') || (!digits_only && s[i] >= 'A' && s[i] <= 'Z');
    if (!ok) {
        if (min == max)
            return jerr_set(err, JERR_INVALID, field, "%s: must be exactly %zu digits", field, min);
        return jerr_set(err, JERR_INVALID, field,
                        "%s: must be %zu to %zu upper-case letters (A-Z) and digits", field, min,
                        max);
    }
    memcpy(out, s, len);
    out[len] = '\0';
    return 0;
}

static int batch_passwords(const json_t *pw, const char *prefix, struct batch_row *row,
                           struct jerr *err)
{
    static const char *const fields[] = {"sign", "auth", NULL};
    char pw_prefix[BATCH_PREFIX_MAX + 16];
    snprintf(pw_prefix, sizeof(pw_prefix), "%spasswords.", prefix);
    if (recjson_only_fields(pw, pw_prefix, fields, err) == -1 ||
        batch_password(pw, pw_prefix, "sign", BATCH_SIGN_PASSWORD_MIN, BATCH_SIGN_PASSWORD_MAX,
                       false, row->sign_password, err) == -1 ||
        batch_password(pw, pw_prefix, "auth", BATCH_AUTH_PIN_LEN, BATCH_AUTH_PIN_LEN, true,
                       row->auth_password, err) == -1)
        return -1;
    /* RULE guide 4(7): refused at submission, not after the row's certificates are issued. */
    char field[BATCH_PREFIX_MAX + 32];
    snprintf(field, sizeof(field), "%ssign", pw_prefix);
    if (rules_check_password(row->sign_password, row->person.birth_date, field, err) == -1)
        return -1;
    snprintf(field, sizeof(field), "%sauth", pw_prefix);
    if (rules_check_password(row->auth_password, row->person.birth_date, field, err) == -1)
        return -1;
    row->has_passwords = true;
    return 0;
}

/* The batch key and the card ids name files (DATA_DIR/cards/<batch>/<card>.card): a leading
 * '.' would name "." or ".." — a directory, not a file in one — or hide the file. */
static int batch_file_id(const char *field, const char *id, struct jerr *err)
{
    if (id[0] == '.')
        return jerr_set(err, JERR_INVALID, field,
                        "%s: \"%s\" starts with '.': it names a card image file, so it must "
                        "start with a letter, a digit, '_' or '-'",
                        field, id);
    return 0;
}

/* Looks `name` up in `set`: returns the index stored there, or -1 when absent. */
static long long batch_seen_get(const json_t *set, const char *name)
{
    const json_t *v = json_object_get(set, name);
    return v != NULL ? json_integer_value(v) : -1;
}

static int batch_seen_add(json_t *set, const char *name, size_t index, struct jerr *err)
{
    if (json_object_set_new(set, name, json_integer((json_int_t)index)) != 0)
        return jerr_set(err, JERR_INTERNAL, "rows", "rows: out of memory");
    return 0;
}

static bool batch_same_person(const struct person *a, const struct person *b)
{
    return strcmp(a->name, b->name) == 0 && strcmp(a->address, b->address) == 0 &&
           strcmp(a->birth_date, b->birth_date) == 0 && a->gender == b->gender;
}

/* Reads row `index` into *row (wiped by the caller on failure); checks it against the rows
 * before it. -1 with err naming the first fault. */
static int batch_row_read(const json_t *item, size_t index, struct batch_seen *seen,
                          const struct batch *good, struct batch_row *row, struct jerr *err)
{
    static const char *const fields[] = {"key",          "person",    "card",
                                         "certificates", "passwords", NULL};
    char prefix[BATCH_PREFIX_MAX];
    char field[BATCH_PREFIX_MAX + 32];
    const json_t *v;
    long long earlier;

    snprintf(prefix, sizeof(prefix), "rows[%zu].", index);
    memset(row, 0, sizeof(*row));
    row->index = index;

    if (recjson_only_fields(item, prefix, fields, err) == -1 ||
        recjson_string(item, prefix, "key", true, row->key, sizeof(row->key), err) == -1)
        return -1;
    snprintf(field, sizeof(field), "%skey", prefix);
    if (model_check_id(field, row->key, err) == -1)
        return -1;
    /* Idempotency is per row key: a second row with the same key would be skipped as done. */
    earlier = batch_seen_get(seen->keys, row->key);
    if (earlier >= 0)
        return jerr_set(err, JERR_INVALID, field, "%s: \"%s\" is already the key of row %lld",
                        field, row->key, earlier + 1);
    if (batch_seen_add(seen->keys, row->key, index, err) == -1)
        return -1;

    snprintf(field, sizeof(field), "%sperson.", prefix);
    if (batch_member(item, prefix, "person", &v, err) == -1 ||
        recjson_person_from(v, field, &row->person, err) == -1)
        return -1;
    snprintf(field, sizeof(field), "%scard.", prefix);
    if (batch_member(item, prefix, "card", &v, err) == -1 ||
        recjson_card_from(v, row->person.id, field, &row->card, err) == -1)
        return -1;
    snprintf(field, sizeof(field), "%scard.id", prefix);
    if (batch_file_id(field, row->card.id, err) == -1)
        return -1;
    snprintf(field, sizeof(field), "%scertificates", prefix);
    if (recjson_which(json_object_get(item, "certificates"), field, &row->which, err) == -1)
        return -1;
    v = json_object_get(item, "passwords");
    if (v != NULL && batch_passwords(v, prefix, row, err) == -1)
        return -1;

    /* One card, one row: two rows issuing onto the same card would supersede each other. */
    earlier = batch_seen_get(seen->cards, row->card.id);
    if (earlier >= 0) {
        snprintf(field, sizeof(field), "%scard.id", prefix);
        return jerr_set(err, JERR_INVALID, field, "%s: card \"%s\" is already in row %lld", field,
                        row->card.id, earlier + 1);
    }
    /* Rows may share a person (several cards) but not disagree about the person's facts. */
    earlier = batch_seen_get(seen->persons, row->person.id);
    if (earlier >= 0 && !batch_same_person(&good->rows[earlier].person, &row->person)) {
        snprintf(field, sizeof(field), "%sperson", prefix);
        return jerr_set(err, JERR_INVALID, field, "%s: person \"%s\" has other facts in row %zu",
                        field, row->person.id, good->rows[earlier].index + 1);
    }
    if (batch_seen_add(seen->cards, row->card.id, index, err) == -1 ||
        (earlier < 0 && batch_seen_add(seen->persons, row->person.id, good->count, err) == -1))
        return -1;
    return 0;
}

static void batch_row_wipe(struct batch_row *row)
{
    OPENSSL_cleanse(row->sign_password, sizeof(row->sign_password));
    OPENSSL_cleanse(row->auth_password, sizeof(row->auth_password));
}

/* Appends to a growing array of `size`-byte elements. */
static void *batch_grow(void *array, size_t count, size_t *cap, size_t size)
{
    if (count < *cap)
        return array;
    size_t next = *cap == 0 ? 64 : *cap * 2;
    void *grown = realloc(array, next * size);
    if (grown != NULL)
        *cap = next;
    return grown;
}

/* Overwrites the passwords left in the JSON tree before it is freed. */
static void batch_wipe_tree(json_t *rows)
{
    size_t i;
    json_t *item;
    json_array_foreach(rows, i, item)
    {
        json_t *pw = json_object_get(item, "passwords");
        const char *key;
        json_t *v;
        if (!json_is_object(pw))
            continue;
        json_object_foreach(pw, key, v)
        {
            if (json_is_string(v))
                OPENSSL_cleanse((void *)json_string_value(v), json_string_length(v));
        }
    }
}

/* ---------------------------------------------------------------------------------------- */

static enum batch_format batch_sniff(const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        return c == '{' ? BATCH_JSON : BATCH_YAML;
    }
    return BATCH_YAML;
}

int batch_parse(const char *data, size_t len, enum batch_format fmt, struct batch *out,
                struct batch_problem **problems, size_t *problem_count, struct jerr *err)
{
    static const char *const top_fields[] = {"batch", "rows", NULL};
    struct batch good;
    struct batch_seen seen = {NULL, NULL, NULL};
    struct batch_problem *probs = NULL;
    size_t nprobs = 0, probs_cap = 0, rows_cap = 0;
    json_t *root = NULL;
    const json_t *rows = NULL;
    int rc = -1;

    memset(&good, 0, sizeof(good));
    memset(out, 0, sizeof(*out));
    *problems = NULL;
    *problem_count = 0;

    if (len > JPKI_HTTP_MAX_BATCH_BODY_BYTES) {
        jerr_set(err, JERR_TOO_LARGE, "file", "file: larger than %d bytes",
                 JPKI_HTTP_MAX_BATCH_BODY_BYTES);
        goto out;
    }
    if (data == NULL)
        data = "";
    if (fmt == BATCH_AUTO)
        fmt = batch_sniff(data, len);
    root = fmt == BATCH_JSON ? batch_json_load(data, len, err) : batch_yaml_load(data, len, err);
    if (root == NULL)
        goto out;

    /* The file as a whole. */
    if (!json_is_object(root)) {
        jerr_set(err, JERR_INVALID, "file", "file: must be a mapping with batch and rows");
        goto out;
    }
    if (recjson_only_fields(root, "", top_fields, err) == -1 ||
        recjson_string(root, "", "batch", true, good.key, sizeof(good.key), err) == -1 ||
        model_check_id("batch", good.key, err) == -1 || batch_file_id("batch", good.key, err) == -1)
        goto out;
    rows = json_object_get(root, "rows");
    if (rows == NULL) {
        jerr_set(err, JERR_INVALID, "rows", "rows: required");
        goto out;
    }
    if (!json_is_array(rows)) {
        jerr_set(err, JERR_INVALID, "rows", "rows: must be a list of rows");
        goto out;
    }
    if (json_array_size(rows) == 0) {
        jerr_set(err, JERR_INVALID, "rows", "rows: no rows");
        goto out;
    }
    if (json_array_size(rows) > JPKI_BATCH_MAX_ROWS) {
        jerr_set(err, JERR_TOO_LARGE, "rows", "rows: %zu rows, more than %d", json_array_size(rows),
                 JPKI_BATCH_MAX_ROWS);
        goto out;
    }

    seen.keys = json_object();
    seen.cards = json_object();
    seen.persons = json_object();
    if (seen.keys == NULL || seen.cards == NULL || seen.persons == NULL) {
        jerr_set(err, JERR_INTERNAL, "rows", "rows: out of memory");
        goto out;
    }

    /* Row by row: a bad row is a problem, not a refusal of the file. */
    for (size_t i = 0; i < json_array_size(rows); i++) {
        struct batch_row row;
        struct jerr row_err;
        jerr_clear(&row_err);
        if (batch_row_read(json_array_get(rows, i), i, &seen, &good, &row, &row_err) == 0) {
            struct batch_row *grown = batch_grow(good.rows, good.count, &rows_cap, sizeof(row));
            if (grown == NULL) {
                batch_row_wipe(&row);
                jerr_set(err, JERR_INTERNAL, "rows", "rows: out of memory");
                goto out;
            }
            good.rows = grown;
            good.rows[good.count++] = row;
            OPENSSL_cleanse(&row, sizeof(row));
            continue;
        }
        batch_row_wipe(&row);
        if (row_err.code == JERR_INTERNAL) { /* out of memory: not the row's fault */
            jerr_set(err, row_err.code, row_err.field, "%s", row_err.msg);
            goto out;
        }
        struct batch_problem *grown = batch_grow(probs, nprobs, &probs_cap, sizeof(*probs));
        if (grown == NULL) {
            jerr_set(err, JERR_INTERNAL, "rows", "rows: out of memory");
            goto out;
        }
        probs = grown;
        probs[nprobs].row = i + 1;
        snprintf(probs[nprobs].field, sizeof(probs[nprobs].field), "%s", row_err.field);
        /* Truncated to the problem's size (messages are escaped ASCII). */
        size_t msg_len = strnlen(row_err.msg, sizeof(probs[nprobs].msg) - 1);
        memcpy(probs[nprobs].msg, row_err.msg, msg_len);
        probs[nprobs].msg[msg_len] = '\0';
        nprobs++;
    }
    rc = 0;
out:
    if (rows != NULL)
        batch_wipe_tree((json_t *)rows);
    json_decref(root);
    json_decref(seen.keys);
    json_decref(seen.cards);
    json_decref(seen.persons);
    if (rc == 0) {
        *out = good;
        *problems = probs;
        *problem_count = nprobs;
    } else {
        batch_free(&good);
        free(probs);
    }
    return rc;
}

void batch_free(struct batch *b)
{
    if (b == NULL)
        return;
    if (b->rows != NULL) {
        for (size_t i = 0; i < b->count; i++)
            batch_row_wipe(&b->rows[i]);
        free(b->rows);
    }
    memset(b, 0, sizeof(*b));
}

void batch_problems_free(struct batch_problem *problems)
{
    free(problems);
}
