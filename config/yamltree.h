/*
 * yamltree: YAML bytes -> a small tree of mappings, lists and scalars (libyaml), the one YAML
 * reader of jpki (the configuration file, batch files).
 *
 * Every node keeps its 1-based line and column, and a scalar whether it was plain (unquoted,
 * so that a schema may read it as a number, boolean or null) or quoted. The reader accepts one
 * document of mappings, lists and scalars and refuses what would make a key ambiguous or the
 * file mean more than it shows: duplicate keys, keys that are not scalars or hold a NUL,
 * anchors and aliases, tags, several documents, bytes that are not UTF-8, nesting deeper than
 * the caller's cap. What a value means is the caller's business (config.c's schema, batch.c's
 * JSON values).
 *
 * A refusal is reported as a struct yamltree_error rather than a message: the configuration
 * says "file:line:column: key: why" and a batch file "file: line L column C: why", so each
 * caller words it; `why` holds the common wording.
 */
#ifndef JPKI_YAMLTREE_H
#define JPKI_YAMLTREE_H

#include <stdbool.h>
#include <stddef.h>

#define YAMLTREE_PATH_MAX 256 /* a node's path as shown in messages */
#define YAMLTREE_SHOW_MAX 64  /* bytes of one key shown in a path; longer ones end in "..." */

enum yamltree_kind { YAMLTREE_SCALAR, YAMLTREE_MAP, YAMLTREE_SEQ };

struct yamltree_pair;

struct yamltree_node {
    enum yamltree_kind kind;
    unsigned line, col; /* 1-based; 0 = not from a file (made by the caller) */
    char *text;         /* scalar: the bytes, NUL-terminated; may hold a NUL from an escape */
    size_t len;         /* scalar: bytes in text */
    bool plain;         /* scalar: plain style (unquoted) */
    struct yamltree_pair *pairs; /* map: key/value pairs in file order; seq: items (key NULL) */
    size_t count, cap;
};

struct yamltree_pair {
    char *key; /* NULL in a list; never holds a NUL */
    unsigned line, col;
    struct yamltree_node *value;
};

enum yamltree_fault {
    YAMLTREE_OK = 0,
    YAMLTREE_NOMEM,              /* out of memory */
    YAMLTREE_UTF8,               /* not UTF-8 (RFC 3629): `offset`, `problem` */
    YAMLTREE_READER,             /* a character YAML does not allow (control characters) */
    YAMLTREE_SYNTAX,             /* libyaml's scanner or parser: `problem`, `context` */
    YAMLTREE_ALIAS,              /* *alias */
    YAMLTREE_ANCHOR,             /* &anchor */
    YAMLTREE_TAG,                /* !tag */
    YAMLTREE_KEY_NOT_SCALAR,     /* a mapping or a list used as a key */
    YAMLTREE_KEY_NUL,            /* a key holding a NUL ("data_dir\0x" is not data_dir) */
    YAMLTREE_DUPLICATE_KEY,      /* `key` again in the same mapping */
    YAMLTREE_TOO_DEEP,           /* mappings/lists nested deeper than the cap */
    YAMLTREE_MULTIPLE_DOCUMENTS, /* a second document ("---") */
};

struct yamltree_error {
    enum yamltree_fault fault;
    unsigned line, col;           /* 1-based character position of the fault (0 for NOMEM) */
    char path[YAMLTREE_PATH_MAX]; /* the node at fault: "ca.sign", "rows[2].key", "" = the top */
    char why[384];                /* the fault in words: "duplicate key", "invalid YAML: ..." */
    /* For callers that word it themselves: */
    size_t offset;       /* UTF8, READER: byte offset of the byte at fault */
    const char *problem; /* UTF8, READER, SYNTAX: libyaml's words (static text) */
    const char *context; /* SYNTAX: what libyaml was reading, or NULL */
    unsigned context_line, context_col;
    char key[YAMLTREE_SHOW_MAX + 1]; /* DUPLICATE_KEY: the key's first bytes, raw: escape them */
};

/* Parses one YAML document of `len` bytes (not necessarily NUL-terminated) into *root, NULL
 * when the stream holds no document (empty, or only comments). Mappings and lists may nest
 * `max_depth` deep (the top is depth 0). Returns 0, or -1 with *e filled and *root untouched.
 * The caller frees *root with yamltree_free. */
int yamltree_parse(const char *data, size_t len, int max_depth, struct yamltree_node **root,
                   struct yamltree_error *e);

/* Frees `n` and everything under it; scalar bytes are wiped first (they may be secrets, such
 * as a batch file's passwords). Accepts NULL, also as a pair's value. */
void yamltree_free(struct yamltree_node *n);

/* An empty mapping or list, or a scalar holding a copy of `text`. NULL when out of memory. */
struct yamltree_node *yamltree_new(enum yamltree_kind kind, unsigned line, unsigned col);
struct yamltree_node *yamltree_scalar(const char *text, size_t len, bool plain, unsigned line,
                                      unsigned col);

/* Appends a pair to a mapping (`key` set) or list (`key` NULL); takes ownership of key and
 * value only on success. Returns 0, or -1 when out of memory. Duplicates are not checked. */
int yamltree_append(struct yamltree_node *n, char *key, unsigned line, unsigned col,
                    struct yamltree_node *value);

/* The pair of mapping `map` with `key`, or NULL. */
struct yamltree_pair *yamltree_find(const struct yamltree_node *map, const char *key);

/* YAML 1.2 core schema (§10.3.2) on a plain scalar: null is "", "~", null/Null/NULL; a
 * boolean is true/True/TRUE or false/False/FALSE. Quoted scalars are neither. */
bool yamltree_is_null(const struct yamltree_node *n);
bool yamltree_is_bool(const struct yamltree_node *n, bool *value);

/* "a mapping", "a list" or "a scalar". */
const char *yamltree_kind_name(const struct yamltree_node *n);

/* out = prefix "." key (just key when prefix is empty), the key escaped and cut at
 * YAMLTREE_SHOW_MAX bytes: the paths of yamltree_error, for callers that name nodes alike. */
void yamltree_path_key(char *out, size_t size, const char *prefix, const char *key, size_t key_len);

/* Whether s[0..len) is UTF-8 as the reader accepts it (for text added to a tree by hand). */
bool yamltree_is_utf8(const char *s, size_t len);

#endif
