/*
 * yamltree: see yamltree.h.
 *
 * The bytes are checked to be UTF-8 before libyaml sees them, so that the refusal names the
 * line and column (libyaml's reader only gives a byte offset) in libyaml's own words. Then
 * libyaml's events are read depth-first into nodes; each node's path ("ca.sign", "rows[3]") is
 * built on the way down so that a refusal can say where it is. Duplicate keys are found with
 * a hash of the keys of the mapping being read once it is larger than a handful, so that a
 * mapping of many keys costs linear time, not quadratic.
 */
#include "config/yamltree.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <yaml.h>

#include "base/jerr.h"

/* Mappings up to this many keys are searched for duplicates by a scan; larger ones by hash. */
#define YAMLTREE_SCAN_KEYS 16

/* ---------------------------------------------------------------------------------------- */
/* Nodes                                                                                    */

void yamltree_free(struct yamltree_node *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->count; i++) {
        free(n->pairs[i].key);
        yamltree_free(n->pairs[i].value);
    }
    free(n->pairs);
    if (n->text != NULL)
        OPENSSL_cleanse(n->text, n->len);
    free(n->text);
    free(n);
}

struct yamltree_node *yamltree_new(enum yamltree_kind kind, unsigned line, unsigned col)
{
    struct yamltree_node *n = calloc(1, sizeof(*n));
    if (n != NULL) {
        n->kind = kind;
        n->line = line;
        n->col = col;
    }
    return n;
}

struct yamltree_node *yamltree_scalar(const char *text, size_t len, bool plain, unsigned line,
                                      unsigned col)
{
    struct yamltree_node *n = yamltree_new(YAMLTREE_SCALAR, line, col);
    if (n == NULL)
        return NULL;
    n->text = malloc(len + 1);
    if (n->text == NULL) {
        free(n);
        return NULL;
    }
    memcpy(n->text, text, len);
    n->text[len] = '\0';
    n->len = len;
    n->plain = plain;
    return n;
}

int yamltree_append(struct yamltree_node *n, char *key, unsigned line, unsigned col,
                    struct yamltree_node *value)
{
    if (n->count == n->cap) {
        size_t cap = n->cap == 0 ? 8 : n->cap * 2;
        struct yamltree_pair *p = realloc(n->pairs, cap * sizeof(*p));
        if (p == NULL)
            return -1;
        n->pairs = p;
        n->cap = cap;
    }
    n->pairs[n->count++] = (struct yamltree_pair){key, line, col, value};
    return 0;
}

struct yamltree_pair *yamltree_find(const struct yamltree_node *map, const char *key)
{
    for (size_t i = 0; i < map->count; i++)
        if (strcmp(map->pairs[i].key, key) == 0)
            return &map->pairs[i];
    return NULL;
}

static bool is_one_of(const struct yamltree_node *n, const char *const *words)
{
    if (n->kind != YAMLTREE_SCALAR || !n->plain)
        return false;
    for (size_t i = 0; words[i] != NULL; i++)
        if (strlen(words[i]) == n->len && memcmp(n->text, words[i], n->len) == 0)
            return true;
    return false;
}

bool yamltree_is_null(const struct yamltree_node *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    return is_one_of(n, nulls);
}

bool yamltree_is_bool(const struct yamltree_node *n, bool *value)
{
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    if (is_one_of(n, trues))
        return *value = true, true;
    if (is_one_of(n, falses))
        return *value = false, true;
    return false;
}

const char *yamltree_kind_name(const struct yamltree_node *n)
{
    switch (n->kind) {
    case YAMLTREE_MAP:
        return "a mapping";
    case YAMLTREE_SEQ:
        return "a list";
    default:
        return "a scalar";
    }
}

void yamltree_path_key(char *out, size_t size, const char *prefix, const char *key, size_t key_len)
{
    char shown[YAMLTREE_SHOW_MAX * 4 + 8];
    bool cut = key_len > YAMLTREE_SHOW_MAX;
    jerr_escape(shown, sizeof(shown) - 4, key, cut ? YAMLTREE_SHOW_MAX : key_len);
    if (cut)
        strcat(shown, "...");
    if (prefix == NULL || prefix[0] == '\0')
        snprintf(out, size, "%s", shown);
    else
        snprintf(out, size, "%s.%s", prefix, shown);
}

/* ---------------------------------------------------------------------------------------- */
/* Encoding                                                                                 */

/* Returns len when s[0..len) is UTF-8; else the offset where the first invalid sequence
 * starts, with *bad the byte at fault and *problem the fault in libyaml's words, checked in
 * libyaml's order (RFC 3629 §3-4: no overlongs, no surrogates, nothing above U+10FFFF). */
static size_t utf8_check(const unsigned char *s, size_t len, size_t *bad, const char **problem)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t width = (c & 0x80) == 0x00   ? 1
                       : (c & 0xe0) == 0xc0 ? 2
                       : (c & 0xf0) == 0xe0 ? 3
                       : (c & 0xf8) == 0xf0 ? 4
                                            : 0;
        uint32_t cp = width == 1 ? c : width == 2 ? c & 0x1f : width == 3 ? c & 0x0f : c & 0x07;
        *bad = i;
        if (width == 0)
            return *problem = "invalid leading UTF-8 octet", i;
        if (width > len - i)
            return *problem = "incomplete UTF-8 octet sequence", i;
        for (size_t k = 1; k < width; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                *bad = i + k;
                return *problem = "invalid trailing UTF-8 octet", i;
            }
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((width == 2 && cp < 0x80) || (width == 3 && cp < 0x800) || (width == 4 && cp < 0x10000))
            return *problem = "invalid length of a UTF-8 sequence", i;
        if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return *problem = "invalid Unicode character", i;
        i += width;
    }
    return len;
}

bool yamltree_is_utf8(const char *s, size_t len)
{
    size_t bad;
    const char *problem;
    return utf8_check((const unsigned char *)s, len, &bad, &problem) == len;
}

/* 1-based line and column (in characters) of byte offset `off` of UTF-8 text. */
static void text_position(const char *s, size_t off, unsigned *line, unsigned *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (s[i] == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char)s[i] & 0xc0) != 0x80) {
            (*col)++;
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Events -> nodes                                                                          */

struct reader {
    yaml_parser_t parser;
    const char *data;
    size_t len;
    int max_depth;
    struct yamltree_error *e;
};

static int fault_at(struct yamltree_error *e, enum yamltree_fault fault, unsigned line,
                    unsigned col, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int fault_at(struct yamltree_error *e, enum yamltree_fault fault, unsigned line,
                    unsigned col, const char *path, const char *fmt, ...)
{
    va_list ap;
    if (e->fault != YAMLTREE_OK) /* the first fault wins */
        return -1;
    e->fault = fault;
    e->line = line;
    e->col = col;
    snprintf(e->path, sizeof(e->path), "%s", path);
    va_start(ap, fmt);
    vsnprintf(e->why, sizeof(e->why), fmt, ap);
    va_end(ap);
    return -1;
}

static int fault_nomem(struct yamltree_error *e)
{
    return fault_at(e, YAMLTREE_NOMEM, 0, 0, "", "out of memory");
}

static unsigned ev_line(const yaml_event_t *ev)
{
    return (unsigned)ev->start_mark.line + 1;
}

static unsigned ev_col(const yaml_event_t *ev)
{
    return (unsigned)ev->start_mark.column + 1;
}

#define fault_ev(r, fault, ev, path, ...)                                                          \
    fault_at((r)->e, (fault), ev_line(ev), ev_col(ev), (path), __VA_ARGS__)

/* An event libyaml does not send at this point (a defensive check): a syntax fault. */
static int fault_unexpected(struct reader *r, const yaml_event_t *ev, const char *path)
{
    if (r->e->fault == YAMLTREE_OK)
        r->e->problem = "unexpected YAML event";
    return fault_ev(r, YAMLTREE_SYNTAX, ev, path, "unexpected YAML event");
}

/* Next event, or -1 with the fault libyaml found. */
static int reader_next(struct reader *r, yaml_event_t *ev)
{
    const yaml_parser_t *p = &r->parser;
    if (yaml_parser_parse(&r->parser, ev) == 1)
        return 0;
    memset(ev, 0, sizeof(*ev));
    if (p->error == YAML_MEMORY_ERROR)
        return fault_nomem(r->e);
    const char *problem = p->problem != NULL ? p->problem : "syntax error";
    r->e->problem = problem;
    if (p->error == YAML_READER_ERROR) {
        /* libyaml gives a byte offset, not a mark. */
        unsigned line, col;
        text_position(r->data, p->problem_offset < r->len ? p->problem_offset : r->len, &line,
                      &col);
        r->e->offset = p->problem_offset;
        return fault_at(r->e, YAMLTREE_READER, line, col, "", "invalid YAML: %s", problem);
    }
    const yaml_mark_t *m = &p->problem_mark;
    if (p->context == NULL)
        return fault_at(r->e, YAMLTREE_SYNTAX, (unsigned)m->line + 1, (unsigned)m->column + 1, "",
                        "invalid YAML: %s", problem);
    r->e->context = p->context;
    r->e->context_line = (unsigned)p->context_mark.line + 1;
    r->e->context_col = (unsigned)p->context_mark.column + 1;
    return fault_at(r->e, YAMLTREE_SYNTAX, (unsigned)m->line + 1, (unsigned)m->column + 1, "",
                    "invalid YAML: %s %s", p->context, problem);
}

/* Refuses anchors, aliases and explicit tags: a value means what it shows. */
static int check_plain_event(struct reader *r, const yaml_event_t *ev, const char *path)
{
    const yaml_char_t *anchor = NULL, *tag = NULL;
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return fault_ev(r, YAMLTREE_ALIAS, ev, path, "aliases are not supported");
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
        return fault_ev(r, YAMLTREE_ANCHOR, ev, path, "anchors are not supported");
    if (tag != NULL)
        return fault_ev(r, YAMLTREE_TAG, ev, path, "tags are not supported");
    return 0;
}

/* The keys of the mapping being read, for duplicate detection: an open-addressing table of
 * pair indices + 1 (0 = empty), used once the mapping has more than YAMLTREE_SCAN_KEYS keys. */
struct keyset {
    size_t *slots;
    size_t size; /* a power of two, more than twice the keys it holds */
    size_t held; /* pairs 0..held-1 of the mapping are in the table */
};

static size_t key_hash(const char *key)
{
    size_t h = (size_t)14695981039346656037ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++)
        h = (h ^ *p) * (size_t)1099511628211ULL;
    return h;
}

/* Whether `key` is already a key of `map`. -1 when out of memory. */
static int keyset_has(struct keyset *ks, const struct yamltree_node *map, const char *key)
{
    if (map->count <= YAMLTREE_SCAN_KEYS)
        return yamltree_find(map, key) != NULL;
    if (2 * map->count >= ks->size) { /* (re)build at twice the size */
        size_t size = ks->size == 0 ? 4 * YAMLTREE_SCAN_KEYS : 2 * ks->size;
        size_t *slots = calloc(size, sizeof(*slots));
        if (slots == NULL)
            return -1;
        free(ks->slots);
        ks->slots = slots;
        ks->size = size;
        ks->held = 0;
    }
    for (; ks->held < map->count; ks->held++) { /* the keys appended since */
        size_t at = key_hash(map->pairs[ks->held].key) & (ks->size - 1);
        while (ks->slots[at] != 0)
            at = (at + 1) & (ks->size - 1);
        ks->slots[at] = ks->held + 1;
    }
    for (size_t at = key_hash(key) & (ks->size - 1); ks->slots[at] != 0;
         at = (at + 1) & (ks->size - 1))
        if (strcmp(map->pairs[ks->slots[at] - 1].key, key) == 0)
            return 1;
    return 0;
}

/* Reads one key event of a mapping: a scalar without NUL that the mapping does not have yet.
 * Sets *key (malloc'd) and `sub_path`. */
static int read_key(struct reader *r, const yaml_event_t *ev, const struct yamltree_node *map,
                    struct keyset *ks, const char *path, char *sub_path, char **key)
{
    if (check_plain_event(r, ev, path) == -1)
        return -1;
    if (ev->type != YAML_SCALAR_EVENT)
        return fault_ev(r, YAMLTREE_KEY_NOT_SCALAR, ev, path, "a key must be a scalar, not %s",
                        ev->type == YAML_MAPPING_START_EVENT ? "a mapping" : "a list");
    const char *text = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    yamltree_path_key(sub_path, YAMLTREE_PATH_MAX, path, text, len);
    if (strlen(text) != len)
        return fault_ev(r, YAMLTREE_KEY_NUL, ev, sub_path,
                        "a key must not contain a NUL character");
    int seen = keyset_has(ks, map, text);
    if (seen == -1)
        return fault_nomem(r->e);
    if (seen == 1) {
        snprintf(r->e->key, sizeof(r->e->key), "%.*s", YAMLTREE_SHOW_MAX, text);
        return fault_ev(r, YAMLTREE_DUPLICATE_KEY, ev, sub_path, "duplicate key");
    }
    *key = strndup(text, len);
    if (*key == NULL)
        return fault_nomem(r->e);
    return 0;
}

/* Builds the node that starts with `ev` (which it deletes) and everything inside it. */
static int read_node(struct reader *r, yaml_event_t *ev, const char *path, int depth,
                     struct yamltree_node **out)
{
    struct yamltree_node *n = NULL;
    struct keyset ks = {NULL, 0, 0};
    yaml_event_t sub;
    int rc = -1;
    memset(&sub, 0, sizeof(sub));

    if (check_plain_event(r, ev, path) == -1)
        goto out;
    if (ev->type == YAML_SCALAR_EVENT) {
        n = yamltree_scalar((const char *)ev->data.scalar.value, ev->data.scalar.length,
                            ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE, ev_line(ev),
                            ev_col(ev));
        if (n == NULL) {
            fault_nomem(r->e);
            goto out;
        }
        rc = 0;
        goto out;
    }
    if (ev->type != YAML_MAPPING_START_EVENT && ev->type != YAML_SEQUENCE_START_EVENT) {
        fault_unexpected(r, ev, path);
        goto out;
    }
    if (depth >= r->max_depth) {
        fault_ev(r, YAMLTREE_TOO_DEEP, ev, path, "nested deeper than %d levels", r->max_depth);
        goto out;
    }
    bool is_map = ev->type == YAML_MAPPING_START_EVENT;
    n = yamltree_new(is_map ? YAMLTREE_MAP : YAMLTREE_SEQ, ev_line(ev), ev_col(ev));
    if (n == NULL) {
        fault_nomem(r->e);
        goto out;
    }
    for (;;) {
        char sub_path[YAMLTREE_PATH_MAX];
        char *key = NULL;
        unsigned key_line = 0, key_col = 0;
        struct yamltree_node *value = NULL;

        if (reader_next(r, &sub) == -1)
            goto out;
        if (sub.type == YAML_MAPPING_END_EVENT || sub.type == YAML_SEQUENCE_END_EVENT)
            break;
        if (is_map) {
            if (read_key(r, &sub, n, &ks, path, sub_path, &key) == -1)
                goto out;
            key_line = ev_line(&sub);
            key_col = ev_col(&sub);
            yaml_event_delete(&sub);
            if (reader_next(r, &sub) == -1) {
                free(key);
                goto out;
            }
        } else {
            snprintf(sub_path, sizeof(sub_path), "%s[%zu]", path, n->count);
        }
        int child = read_node(r, &sub, sub_path, depth + 1, &value); /* deletes sub */
        memset(&sub, 0, sizeof(sub));
        if (child == -1 || yamltree_append(n, key, key_line, key_col, value) == -1) {
            if (child != -1)
                fault_nomem(r->e);
            free(key);
            yamltree_free(value);
            goto out;
        }
    }
    rc = 0;
out:
    free(ks.slots);
    yaml_event_delete(&sub);
    yaml_event_delete(ev);
    if (rc == 0)
        *out = n;
    else
        yamltree_free(n);
    return rc;
}

int yamltree_parse(const char *data, size_t len, int max_depth, struct yamltree_node **root,
                   struct yamltree_error *e)
{
    struct reader r = {.data = data, .len = len, .max_depth = max_depth, .e = e};
    yaml_event_t ev;
    struct yamltree_node *tree = NULL;
    int rc = -1;
    bool parser_ready = false;
    memset(&ev, 0, sizeof(ev));
    memset(e, 0, sizeof(*e));

    size_t bad;
    const char *problem;
    size_t start = utf8_check((const unsigned char *)data, len, &bad, &problem);
    if (start != len) {
        unsigned line, col;
        text_position(data, start, &line, &col);
        e->offset = bad;
        e->problem = problem;
        fault_at(e, YAMLTREE_UTF8, line, col, "", "not valid UTF-8");
        goto out;
    }
    if (yaml_parser_initialize(&r.parser) == 0) {
        fault_nomem(e);
        goto out;
    }
    parser_ready = true;
    yaml_parser_set_input_string(&r.parser, (const unsigned char *)data, len);
    yaml_parser_set_encoding(&r.parser, YAML_UTF8_ENCODING);

    if (reader_next(&r, &ev) == -1) /* STREAM-START */
        goto out;
    yaml_event_delete(&ev);
    if (reader_next(&r, &ev) == -1)
        goto out;
    if (ev.type == YAML_DOCUMENT_START_EVENT) {
        yaml_event_delete(&ev);
        if (reader_next(&r, &ev) == -1)
            goto out;
        if (read_node(&r, &ev, "", 0, &tree) == -1) /* deletes ev */
            goto out;
        if (reader_next(&r, &ev) == -1) /* DOCUMENT-END */
            goto out;
        yaml_event_delete(&ev);
        if (reader_next(&r, &ev) == -1)
            goto out;
        if (ev.type != YAML_STREAM_END_EVENT) { /* only DOCUMENT-START can come here */
            fault_ev(&r, YAMLTREE_MULTIPLE_DOCUMENTS, &ev, "", "only one YAML document is allowed");
            goto out;
        }
    }
    if (ev.type != YAML_STREAM_END_EVENT) {
        fault_unexpected(&r, &ev, "");
        goto out;
    }
    rc = 0;
out:
    yaml_event_delete(&ev);
    if (parser_ready)
        yaml_parser_delete(&r.parser);
    if (rc == 0)
        *root = tree;
    else
        yamltree_free(tree);
    return rc;
}
