/*
 * batch: the batch-file parser (see batch.h).
 *
 * A YAML file is first converted to the JSON values Jansson would have produced for the same
 * rows (batch_yaml_load), so that one row reader (batch_row_read, over ca/recjson.h) serves
 * both formats. The file is refused as a whole only for what makes it unreadable or
 * unbounded; a bad row becomes a problem and the rest go on. Passwords are secrets: they
 * never enter a message, and the copies this file makes (the JSON tree, the rows) are wiped.
 */
#include "ca/batch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <yaml.h>

#include "ca/lifecycle.h"
#include "ca/recjson.h"

/* Nesting a batch file needs: root → rows → row → person/card/passwords/certificates →
 * scalar is 5 levels; anything far deeper is not a batch file. */
#define BATCH_MAX_DEPTH 16

/* A row's field path prefix: "rows[99999]." and a little room. */
#define BATCH_PREFIX_MAX 32

/* ---------------------------------------------------------------------------------------- */
/* YAML → JSON values                                                                       */

struct yconv {
    yaml_parser_t parser;
    const char *data; /* the input, for the line of a reader error */
    size_t len;
};

static unsigned ev_line(const yaml_event_t *ev)
{
    return (unsigned)ev->start_mark.line + 1;
}

static unsigned ev_col(const yaml_event_t *ev)
{
    return (unsigned)ev->start_mark.column + 1;
}

/* Next event, or -1 with err holding libyaml's problem and where it was found. */
static int yconv_next(struct yconv *yc, yaml_event_t *ev, struct jerr *err)
{
    if (yaml_parser_parse(&yc->parser, ev) == 1)
        return 0;
    memset(ev, 0, sizeof(*ev));
    if (yc->parser.error == YAML_MEMORY_ERROR)
        return jerr_set(err, JERR_INTERNAL, "file", "file: out of memory reading YAML");
    if (yc->parser.error == YAML_READER_ERROR) {
        /* Bad encoding: libyaml gives a byte offset, not a mark. */
        size_t off = yc->parser.problem_offset, line = 1;
        for (size_t i = 0; i < off && i < yc->len; i++)
            line += yc->data[i] == '\n';
        return jerr_set(err, JERR_INVALID, "file", "file: invalid YAML at line %zu (byte %zu): %s",
                        line, off + 1,
                        yc->parser.problem != NULL ? yc->parser.problem : "cannot read");
    }
    const yaml_mark_t *pm = &yc->parser.problem_mark;
    const char *problem = yc->parser.problem != NULL ? yc->parser.problem : "syntax error";
    if (yc->parser.context != NULL) {
        const yaml_mark_t *cm = &yc->parser.context_mark;
        return jerr_set(err, JERR_INVALID, "file",
                        "file: invalid YAML at line %u column %u: %s (%s at line %u column %u)",
                        (unsigned)pm->line + 1, (unsigned)pm->column + 1, problem,
                        yc->parser.context, (unsigned)cm->line + 1, (unsigned)cm->column + 1);
    }
    return jerr_set(err, JERR_INVALID, "file", "file: invalid YAML at line %u column %u: %s",
                    (unsigned)pm->line + 1, (unsigned)pm->column + 1, problem);
}

/* Refuses what batch files never need: anchors, aliases and explicit tags. */
static int yconv_plain_event(const yaml_event_t *ev, struct jerr *err)
{
    const yaml_char_t *anchor = NULL, *tag = NULL;
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return jerr_set(err, JERR_INVALID, "file",
                        "file: line %u column %u: aliases are not supported", ev_line(ev),
                        ev_col(ev));
    case YAML_SCALAR_EVENT:
        anchor = ev->data.scalar.anchor;
        tag = ev->data.scalar.tag;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
        break;
    default:
        break;
    }
    if (anchor != NULL)
        return jerr_set(err, JERR_INVALID, "file",
                        "file: line %u column %u: anchors are not supported", ev_line(ev),
                        ev_col(ev));
    if (tag != NULL)
        return jerr_set(err, JERR_INVALID, "file",
                        "file: line %u column %u: tags are not supported", ev_line(ev), ev_col(ev));
    return 0;
}

static bool yconv_is_one_of(const char *s, size_t len, const char *const *words)
{
    for (size_t i = 0; words[i] != NULL; i++) {
        if (strlen(words[i]) == len && memcmp(s, words[i], len) == 0)
            return true;
    }
    return false;
}

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
static json_t *yconv_scalar(const yaml_event_t *ev)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        int base;
        size_t digits;
        if (yconv_is_one_of(s, len, nulls))
            return json_null();
        if (yconv_is_one_of(s, len, trues))
            return json_true();
        if (yconv_is_one_of(s, len, falses))
            return json_false();
        if (yconv_core_int(s, len, &base, &digits))
            return yconv_int(s, len, base, digits);
    }
    return json_stringn(s, len);
}

/* Builds the value that starts with `ev` (which it deletes) and everything inside it. */
static int yconv_node(struct yconv *yc, yaml_event_t *ev, int depth, json_t **out, struct jerr *err)
{
    json_t *node = NULL;
    yaml_event_t sub;
    int rc = -1;
    memset(&sub, 0, sizeof(sub));

    if (yconv_plain_event(ev, err) == -1)
        goto out;
    if (ev->type == YAML_SCALAR_EVENT) {
        node = yconv_scalar(ev);
        if (node == NULL) {
            jerr_set(err, JERR_INTERNAL, "file", "file: line %u: cannot store a value",
                     ev_line(ev));
            goto out;
        }
        rc = 0;
        goto out;
    }
    if (ev->type != YAML_MAPPING_START_EVENT && ev->type != YAML_SEQUENCE_START_EVENT) {
        jerr_set(err, JERR_INVALID, "file", "file: line %u column %u: unexpected YAML event",
                 ev_line(ev), ev_col(ev));
        goto out;
    }
    if (depth >= BATCH_MAX_DEPTH) {
        jerr_set(err, JERR_INVALID, "file", "file: line %u column %u: nested deeper than %d",
                 ev_line(ev), ev_col(ev), BATCH_MAX_DEPTH);
        goto out;
    }
    bool is_map = ev->type == YAML_MAPPING_START_EVENT;
    node = is_map ? json_object() : json_array();
    if (node == NULL) {
        jerr_set(err, JERR_INTERNAL, "file", "file: out of memory");
        goto out;
    }
    for (;;) {
        char *key = NULL;
        json_t *value = NULL;
        if (yconv_next(yc, &sub, err) == -1)
            goto out;
        if (sub.type == YAML_MAPPING_END_EVENT || sub.type == YAML_SEQUENCE_END_EVENT)
            break;
        if (is_map) {
            if (yconv_plain_event(&sub, err) == -1)
                goto out;
            if (sub.type != YAML_SCALAR_EVENT) {
                jerr_set(err, JERR_INVALID, "file",
                         "file: line %u column %u: a key must be a scalar", ev_line(&sub),
                         ev_col(&sub));
                goto out;
            }
            const char *k = (const char *)sub.data.scalar.value;
            size_t klen = sub.data.scalar.length;
            /* "key\0x" must not pass for "key". */
            if (strlen(k) != klen) {
                jerr_set(err, JERR_INVALID, "file",
                         "file: line %u column %u: a key must not contain a NUL character",
                         ev_line(&sub), ev_col(&sub));
                goto out;
            }
            if (json_object_get(node, k) != NULL) {
                char shown[64];
                jerr_escape(shown, sizeof(shown), k, klen < 32 ? klen : 32);
                jerr_set(err, JERR_INVALID, "file", "file: line %u column %u: duplicate key \"%s\"",
                         ev_line(&sub), ev_col(&sub), shown);
                goto out;
            }
            key = strndup(k, klen);
            if (key == NULL) {
                jerr_set(err, JERR_INTERNAL, "file", "file: out of memory");
                goto out;
            }
            yaml_event_delete(&sub);
            if (yconv_next(yc, &sub, err) == -1) {
                free(key);
                goto out;
            }
        }
        int child = yconv_node(yc, &sub, depth + 1, &value, err); /* deletes sub */
        memset(&sub, 0, sizeof(sub));
        if (child == -1) {
            free(key);
            goto out;
        }
        int added =
            is_map ? json_object_set_new(node, key, value) : json_array_append_new(node, value);
        free(key);
        if (added != 0) {
            jerr_set(err, JERR_INTERNAL, "file", "file: out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    yaml_event_delete(&sub);
    yaml_event_delete(ev);
    if (rc == 0)
        *out = node;
    else
        json_decref(node);
    return rc;
}

/* Parses one YAML document into the JSON value it means. */
static json_t *batch_yaml_load(const char *data, size_t len, struct jerr *err)
{
    struct yconv yc;
    yaml_event_t ev;
    json_t *root = NULL;
    bool ok = false;
    memset(&ev, 0, sizeof(ev));

    if (yaml_parser_initialize(&yc.parser) == 0) {
        jerr_set(err, JERR_INTERNAL, "file", "file: out of memory");
        return NULL;
    }
    yc.data = data;
    yc.len = len;
    yaml_parser_set_input_string(&yc.parser, (const unsigned char *)data, len);
    yaml_parser_set_encoding(&yc.parser, YAML_UTF8_ENCODING);

    if (yconv_next(&yc, &ev, err) == -1) /* STREAM-START */
        goto out;
    yaml_event_delete(&ev);
    if (yconv_next(&yc, &ev, err) == -1)
        goto out;
    if (ev.type != YAML_DOCUMENT_START_EVENT) {
        jerr_set(err, JERR_INVALID, "file", "file: empty");
        goto out;
    }
    yaml_event_delete(&ev);
    if (yconv_next(&yc, &ev, err) == -1)
        goto out;
    if (yconv_node(&yc, &ev, 0, &root, err) == -1) /* deletes ev */
        goto out;
    if (yconv_next(&yc, &ev, err) == -1) /* DOCUMENT-END */
        goto out;
    yaml_event_delete(&ev);
    if (yconv_next(&yc, &ev, err) == -1)
        goto out;
    if (ev.type != YAML_STREAM_END_EVENT) {
        jerr_set(err, JERR_INVALID, "file", "file: line %u: only one YAML document is allowed",
                 ev_line(&ev));
        goto out;
    }
    ok = true;
out:
    yaml_event_delete(&ev);
    yaml_parser_delete(&yc.parser);
    if (!ok) {
        json_decref(root);
        return NULL;
    }
    return root;
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
    row->has_passwords = true;
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
        model_check_id("batch", good.key, err) == -1)
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
