/*
 * test_yamltree: the YAML reader shared by the configuration and batch files
 * (config/yamltree.c). Trees are checked node by node (kind, text, style, line and column);
 * every refusal is checked for its exact fault, position, path and wording, and for the extra
 * facts callers word their own messages with (libyaml's problem and context, the byte offset,
 * the duplicate key).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/yamltree.h"
#include "testutil.h"

static struct yamltree_node *parse_ok(const char *text, size_t len)
{
    struct yamltree_node *root = NULL;
    struct yamltree_error e;
    int rc = yamltree_parse(text, len, 16, &root, &e);
    ck_assert_msg(rc == 0, "refused (%d) at %u:%u %s: %s", e.fault, e.line, e.col, e.path, e.why);
    ck_assert_int_eq(e.fault, YAMLTREE_OK);
    return root;
}

/* Parses `text` (NUL-terminated) with nesting cap `depth` and asserts the exact refusal. */
static void assert_fault_depth(const char *text, int depth, enum yamltree_fault fault,
                               unsigned line, unsigned col, const char *path, const char *why,
                               struct yamltree_error *out)
{
    struct yamltree_node *root = (struct yamltree_node *)&root; /* must stay untouched */
    struct yamltree_error e;
    ck_assert_int_eq(yamltree_parse(text, strlen(text), depth, &root, &e), -1);
    ck_assert_ptr_eq(root, (struct yamltree_node *)&root);
    ck_assert_msg(e.fault == fault, "fault %d, not %d (%s)", e.fault, fault, e.why);
    ck_assert_uint_eq(e.line, line);
    ck_assert_uint_eq(e.col, col);
    ck_assert_str_eq(e.path, path);
    ck_assert_str_eq(e.why, why);
    if (out != NULL)
        *out = e;
}

static void assert_fault(const char *text, enum yamltree_fault fault, unsigned line, unsigned col,
                         const char *path, const char *why, struct yamltree_error *out)
{
    assert_fault_depth(text, 16, fault, line, col, path, why, out);
}

static void assert_scalar(const struct yamltree_node *n, const char *text, bool plain,
                          unsigned line, unsigned col)
{
    ck_assert_ptr_nonnull(n);
    ck_assert_int_eq(n->kind, YAMLTREE_SCALAR);
    ck_assert_uint_eq(n->len, strlen(text));
    ck_assert_str_eq(n->text, text);
    ck_assert_int_eq(n->plain, plain);
    ck_assert_uint_eq(n->line, line);
    ck_assert_uint_eq(n->col, col);
}

static void assert_pair(const struct yamltree_pair *p, const char *key, unsigned line, unsigned col)
{
    ck_assert_str_eq(p->key, key);
    ck_assert_uint_eq(p->line, line);
    ck_assert_uint_eq(p->col, col);
}

/* ---- trees ---- */

START_TEST(tree_of_a_document)
{
    const char *text = "# comment\n"
                       "name: 山田\n"
                       "quoted: \"12\"\n"
                       "list:\n"
                       "  - 1\n"
                       "  - {a: 'x', b: [~]}\n"
                       "empty:\n";
    struct yamltree_node *root = parse_ok(text, strlen(text));
    ck_assert_int_eq(root->kind, YAMLTREE_MAP);
    ck_assert_uint_eq(root->line, 2);
    ck_assert_uint_eq(root->col, 1);
    ck_assert_uint_eq(root->count, 4);

    assert_pair(&root->pairs[0], "name", 2, 1);
    assert_scalar(root->pairs[0].value, "山田", true, 2, 7);
    assert_pair(&root->pairs[1], "quoted", 3, 1);
    assert_scalar(root->pairs[1].value, "12", false, 3, 9);

    assert_pair(&root->pairs[2], "list", 4, 1);
    const struct yamltree_node *list = root->pairs[2].value;
    ck_assert_int_eq(list->kind, YAMLTREE_SEQ);
    ck_assert_uint_eq(list->line, 5);
    ck_assert_uint_eq(list->col, 3);
    ck_assert_uint_eq(list->count, 2);
    ck_assert_ptr_null(list->pairs[0].key);
    assert_scalar(list->pairs[0].value, "1", true, 5, 5);
    const struct yamltree_node *flow = list->pairs[1].value;
    ck_assert_int_eq(flow->kind, YAMLTREE_MAP);
    ck_assert_uint_eq(flow->line, 6);
    ck_assert_uint_eq(flow->col, 5);
    ck_assert_uint_eq(flow->count, 2);
    assert_pair(&flow->pairs[0], "a", 6, 6);
    assert_scalar(flow->pairs[0].value, "x", false, 6, 9);
    assert_pair(&flow->pairs[1], "b", 6, 14);
    ck_assert_int_eq(flow->pairs[1].value->kind, YAMLTREE_SEQ);
    ck_assert_uint_eq(flow->pairs[1].value->count, 1);
    assert_scalar(flow->pairs[1].value->pairs[0].value, "~", true, 6, 18);

    /* Nothing after the colon: an empty plain scalar, which is null. */
    assert_pair(&root->pairs[3], "empty", 7, 1);
    assert_scalar(root->pairs[3].value, "", true, 7, 7);
    ck_assert(yamltree_is_null(root->pairs[3].value));

    ck_assert_ptr_eq(yamltree_find(root, "list"), &root->pairs[2]);
    ck_assert_ptr_null(yamltree_find(root, "lis"));
    ck_assert_ptr_null(yamltree_find(root, "List"));
    yamltree_free(root);
}
END_TEST

START_TEST(scalars_keep_their_bytes)
{
    /* An escape may put a NUL into a value: len tells, text stays terminated. */
    const char *text = "a: \"x\\0y\"\nb: |\n  line1\n  line2\n";
    struct yamltree_node *root = parse_ok(text, strlen(text));
    const struct yamltree_node *a = root->pairs[0].value;
    ck_assert_uint_eq(a->len, 3);
    ck_assert_int_eq(memcmp(a->text, "x\0y", 4), 0);
    ck_assert(!a->plain);
    assert_scalar(root->pairs[1].value, "line1\nline2\n", false, 2, 4);
    yamltree_free(root);

    /* The input need not be NUL-terminated: only `len` bytes are read. */
    root = parse_ok("k: v\nGARBAGE: [", 5);
    ck_assert_uint_eq(root->count, 1);
    assert_scalar(root->pairs[0].value, "v", true, 1, 4);
    yamltree_free(root);
}
END_TEST

START_TEST(empty_streams)
{
    /* No document at all: no tree. */
    const char *none[] = {"", "# only a comment\n", "\n\n   \n"};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        struct yamltree_node *root = (struct yamltree_node *)&root;
        struct yamltree_error e;
        ck_assert_int_eq(yamltree_parse(none[i], strlen(none[i]), 16, &root, &e), 0);
        ck_assert_ptr_null(root);
    }
    /* An explicit empty document is one null scalar. */
    struct yamltree_node *root = parse_ok("---\n", 4);
    assert_scalar(root, "", true, 2, 1);
    ck_assert(yamltree_is_null(root));
    yamltree_free(root);
}
END_TEST

START_TEST(core_schema_words)
{
    const char *nulls[] = {"", "~", "null", "Null", "NULL"};
    const char *not_null[] = {"nul", "NUll", "none", "0", "~~"};
    bool b = false;
    for (size_t i = 0; i < 5; i++) {
        struct yamltree_node *plain = yamltree_scalar(nulls[i], strlen(nulls[i]), true, 1, 1);
        struct yamltree_node *quoted = yamltree_scalar(nulls[i], strlen(nulls[i]), false, 1, 1);
        struct yamltree_node *other = yamltree_scalar(not_null[i], strlen(not_null[i]), true, 1, 1);
        ck_assert(yamltree_is_null(plain));
        ck_assert(!yamltree_is_null(quoted));
        ck_assert(!yamltree_is_null(other));
        ck_assert(!yamltree_is_bool(plain, &b));
        yamltree_free(plain);
        yamltree_free(quoted);
        yamltree_free(other);
    }
    const char *trues[] = {"true", "True", "TRUE"};
    const char *falses[] = {"false", "False", "FALSE"};
    for (size_t i = 0; i < 3; i++) {
        struct yamltree_node *t = yamltree_scalar(trues[i], strlen(trues[i]), true, 1, 1);
        struct yamltree_node *f = yamltree_scalar(falses[i], strlen(falses[i]), true, 1, 1);
        struct yamltree_node *q = yamltree_scalar(trues[i], strlen(trues[i]), false, 1, 1);
        b = false;
        ck_assert(yamltree_is_bool(t, &b));
        ck_assert(b);
        ck_assert(yamltree_is_bool(f, &b));
        ck_assert(!b);
        b = true;
        ck_assert(!yamltree_is_bool(q, &b)); /* "true" in quotes is a string */
        ck_assert(b);
        yamltree_free(t);
        yamltree_free(f);
        yamltree_free(q);
    }
    /* YAML 1.1 words are not booleans in the core schema; a NUL does not hide in a word. */
    const char *words[] = {"yes", "no", "on", "off", "tRUE", "true "};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        struct yamltree_node *n = yamltree_scalar(words[i], strlen(words[i]), true, 1, 1);
        ck_assert(!yamltree_is_bool(n, &b));
        yamltree_free(n);
    }
    struct yamltree_node *nul = yamltree_scalar("true\0x", 6, true, 1, 1);
    ck_assert(!yamltree_is_bool(nul, &b));
    yamltree_free(nul);
    struct yamltree_node *map = yamltree_new(YAMLTREE_MAP, 1, 1);
    ck_assert(!yamltree_is_null(map));
    ck_assert(!yamltree_is_bool(map, &b));
    yamltree_free(map);
}
END_TEST

START_TEST(building_by_hand)
{
    struct yamltree_node *map = yamltree_new(YAMLTREE_MAP, 0, 0);
    struct yamltree_node *seq = yamltree_new(YAMLTREE_SEQ, 0, 0);
    ck_assert_ptr_nonnull(map);
    ck_assert_ptr_nonnull(seq);
    ck_assert_str_eq(yamltree_kind_name(map), "a mapping");
    ck_assert_str_eq(yamltree_kind_name(seq), "a list");
    for (int i = 0; i < 20; i++) { /* past the first growth of the pairs */
        char key[8];
        snprintf(key, sizeof(key), "k%d", i);
        struct yamltree_node *v = yamltree_scalar(key, strlen(key), true, 0, 0);
        ck_assert_str_eq(yamltree_kind_name(v), "a scalar");
        ck_assert_int_eq(yamltree_append(map, strdup(key), 0, 0, v), 0);
        ck_assert_int_eq(yamltree_append(seq, NULL, 0, 0, yamltree_scalar("x", 1, true, 0, 0)), 0);
    }
    ck_assert_uint_eq(map->count, 20);
    ck_assert_uint_eq(seq->count, 20);
    ck_assert_str_eq(yamltree_find(map, "k19")->value->text, "k19");
    ck_assert_ptr_eq(yamltree_find(map, "k7"), &map->pairs[7]);
    ck_assert_int_eq(yamltree_append(map, strdup("seq"), 0, 0, seq), 0);
    struct yamltree_node *taken = map->pairs[0].value;
    map->pairs[0].value = NULL; /* a value taken out (as batch.c does): free skips it */
    yamltree_free(map);
    assert_scalar(taken, "k0", true, 0, 0);
    yamltree_free(taken);
    yamltree_free(NULL);
}
END_TEST

START_TEST(paths_and_utf8)
{
    char out[YAMLTREE_PATH_MAX];
    yamltree_path_key(out, sizeof(out), "", "data_dir", 8);
    ck_assert_str_eq(out, "data_dir");
    yamltree_path_key(out, sizeof(out), NULL, "a", 1);
    ck_assert_str_eq(out, "a");
    yamltree_path_key(out, sizeof(out), "ca.sign", "key_bits", 8);
    ck_assert_str_eq(out, "ca.sign.key_bits");
    yamltree_path_key(out, sizeof(out), "x", "a\0b\n", 4);
    ck_assert_str_eq(out, "x.a\\x00b\\x0a");
    char long_key[100];
    memset(long_key, 'k', sizeof(long_key));
    yamltree_path_key(out, sizeof(out), "p", long_key, sizeof(long_key));
    char want[80];
    snprintf(want, sizeof(want), "p.%.64s...", long_key);
    ck_assert_str_eq(out, want);
    yamltree_path_key(out, sizeof(out), "p", long_key, 64); /* exactly the cap: no "..." */
    snprintf(want, sizeof(want), "p.%.64s", long_key);
    ck_assert_str_eq(out, want);

    ck_assert(yamltree_is_utf8("", 0));
    const char *good = "ascii é 山 \xf0\x9f\x98\x80 \xef\xbf\xbd \xf4\x8f\xbf\xbf";
    ck_assert(yamltree_is_utf8(good, strlen(good)));
    ck_assert(yamltree_is_utf8("a\0b", 3));
    const char *bad[] = {"\xff",
                         "\x80",
                         "\xc3",
                         "\xc3(",
                         "\xc0\x80",
                         "\xe0\x80\x80",
                         "\xed\xa0\x80",
                         "\xf4\x90\x80\x80",
                         "\xf5\x80\x80\x80",
                         "\xf8\x88\x80\x80\x80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!yamltree_is_utf8(bad[i], strlen(bad[i])), "accepted bad[%zu]", i);
}
END_TEST

/* ---- refusals ---- */

START_TEST(refused_not_utf8)
{
    /* Each fault in libyaml's words; the position is the character where the bad sequence
     * starts, the offset the byte libyaml would name. */
    static const struct {
        const char *text;
        unsigned line, col;
        size_t offset;
        const char *problem;
    } cases[] = {
        {"a: ok\nb: \"\xff\"\n", 2, 5, 10, "invalid leading UTF-8 octet"},
        {"a: \xc3\xa9\x80\n", 1, 5, 5, "invalid leading UTF-8 octet"},
        {"a: \xc3(\n", 1, 4, 4, "invalid trailing UTF-8 octet"},
        {"a: \xc3", 1, 4, 3, "incomplete UTF-8 octet sequence"},
        {"a: \xc0\x80\n", 1, 4, 3, "invalid length of a UTF-8 sequence"},
        {"a: \xe0\x80\x80\n", 1, 4, 3, "invalid length of a UTF-8 sequence"},
        {"\xc3\xa9: \xed\xa0\x80\n", 1, 4, 4, "invalid Unicode character"},
        {"a: \xf4\x90\x80\x80\n", 1, 4, 3, "invalid Unicode character"},
        {"a: \xf5\x80\x80\x80\n", 1, 4, 3, "invalid Unicode character"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct yamltree_error e;
        assert_fault(cases[i].text, YAMLTREE_UTF8, cases[i].line, cases[i].col, "",
                     "not valid UTF-8", &e);
        ck_assert_uint_eq(e.offset, cases[i].offset);
        ck_assert_str_eq(e.problem, cases[i].problem);
    }
    /* Checked before any syntax: the bad byte wins over an earlier syntax error. */
    assert_fault("a: [\nb: \xff\n", YAMLTREE_UTF8, 2, 4, "", "not valid UTF-8", NULL);
}
END_TEST

START_TEST(refused_by_libyaml)
{
    struct yamltree_error e;
    /* A character YAML forbids: libyaml's reader names a byte; the position is worked out. */
    assert_fault("a: ok\nb: x\x01y\n", YAMLTREE_READER, 2, 5, "",
                 "invalid YAML: control characters are not allowed", &e);
    ck_assert_uint_eq(e.offset, 10);
    ck_assert_str_eq(e.problem, "control characters are not allowed");
    ck_assert_ptr_null(e.context);

    /* Syntax without a context. */
    assert_fault("a: ok\nb: c: d\n", YAMLTREE_SYNTAX, 2, 5, "",
                 "invalid YAML: mapping values are not allowed in this context", &e);
    ck_assert_str_eq(e.problem, "mapping values are not allowed in this context");
    ck_assert_ptr_null(e.context);

    /* Syntax with a context and where it began. */
    assert_fault("ca:\n  sign: [2048\n", YAMLTREE_SYNTAX, 3, 1, "",
                 "invalid YAML: while parsing a flow sequence did not find expected ',' or ']'",
                 &e);
    ck_assert_str_eq(e.problem, "did not find expected ',' or ']'");
    ck_assert_str_eq(e.context, "while parsing a flow sequence");
    ck_assert_uint_eq(e.context_line, 2);
    ck_assert_uint_eq(e.context_col, 9);
}
END_TEST

START_TEST(refused_anchors_aliases_tags)
{
    assert_fault("a: &x 1\n", YAMLTREE_ANCHOR, 1, 4, "a", "anchors are not supported", NULL);
    assert_fault("a:\n  b: &m {c: 1}\n", YAMLTREE_ANCHOR, 2, 6, "a.b", "anchors are not supported",
                 NULL);
    assert_fault("a:\n  - &s [1]\n", YAMLTREE_ANCHOR, 2, 5, "a[0]", "anchors are not supported",
                 NULL);
    assert_fault("a: *x\n", YAMLTREE_ALIAS, 1, 4, "a", "aliases are not supported", NULL);
    assert_fault("a: [1, *x]\n", YAMLTREE_ALIAS, 1, 8, "a[1]", "aliases are not supported", NULL);
    assert_fault("a: !!str 1\n", YAMLTREE_TAG, 1, 4, "a", "tags are not supported", NULL);
    assert_fault("a: !!seq [1]\n", YAMLTREE_TAG, 1, 4, "a", "tags are not supported", NULL);
    assert_fault("!!map {a: 1}\n", YAMLTREE_TAG, 1, 1, "", "tags are not supported", NULL);
    /* On a key, the path is the mapping's. */
    assert_fault("a:\n  &k b: 1\n", YAMLTREE_ANCHOR, 2, 3, "a", "anchors are not supported", NULL);
}
END_TEST

START_TEST(refused_keys)
{
    struct yamltree_error e;
    assert_fault("? [a, b]\n: c\n", YAMLTREE_KEY_NOT_SCALAR, 1, 3, "",
                 "a key must be a scalar, not a list", NULL);
    assert_fault("x:\n  ? {a: b}\n  : c\n", YAMLTREE_KEY_NOT_SCALAR, 2, 5, "x",
                 "a key must be a scalar, not a mapping", NULL);
    /* "data_dir\0x" must not pass for data_dir; the path shows the NUL escaped. */
    assert_fault("\"data_dir\\0x\": a\n", YAMLTREE_KEY_NUL, 1, 1, "data_dir\\x00x",
                 "a key must not contain a NUL character", NULL);

    assert_fault("a: 1\nb: 2\na: 3\n", YAMLTREE_DUPLICATE_KEY, 3, 1, "a", "duplicate key", &e);
    ck_assert_str_eq(e.key, "a");
    assert_fault("m:\n  - {k: 1, k: 2}\n", YAMLTREE_DUPLICATE_KEY, 2, 12, "m[0].k", "duplicate key",
                 &e);
    ck_assert_str_eq(e.key, "k");
    /* Quoting does not make another key. */
    assert_fault("k: 1\n\"k\": 2\n", YAMLTREE_DUPLICATE_KEY, 2, 1, "k", "duplicate key", &e);
    /* A long key: the path ends in "...", `key` holds its first 64 bytes raw. */
    char text[400], key[101], want_path[80];
    memset(key, 'k', 100);
    key[100] = '\0';
    snprintf(text, sizeof(text), "%s: 1\n%s: 2\n", key, key);
    snprintf(want_path, sizeof(want_path), "%.64s...", key);
    assert_fault(text, YAMLTREE_DUPLICATE_KEY, 2, 1, want_path, "duplicate key", &e);
    ck_assert_uint_eq(strlen(e.key), 64);
    ck_assert_int_eq(memcmp(e.key, key, 64), 0);
    /* Keys that differ only in case or by a prefix are different keys. */
    struct yamltree_node *root = parse_ok("k: 1\nK: 2\nkk: 3\n", 15);
    ck_assert_uint_eq(root->count, 3);
    yamltree_free(root);
}
END_TEST

/* A mapping of `count` keys k0.., with key `dup` (if >= 0) written again at the end. */
static char *wide_mapping(int count, int dup)
{
    size_t size = (size_t)count * 24 + 64;
    char *text = malloc(size);
    size_t len = 0;
    ck_assert_ptr_nonnull(text);
    len += (size_t)snprintf(text + len, size - len, "top:\n");
    for (int i = 0; i < count; i++)
        len += (size_t)snprintf(text + len, size - len, "  k%d: %d\n", i, i);
    if (dup >= 0)
        snprintf(text + len, size - len, "  k%d: again\n", dup);
    return text;
}

START_TEST(duplicates_in_large_mappings)
{
    /* Past the scan threshold the keys are hashed: every key is still found, and the table
     * is rebuilt as it grows. */
    char *text = wide_mapping(5000, -1);
    struct yamltree_node *root = parse_ok(text, strlen(text));
    const struct yamltree_node *top = root->pairs[0].value;
    ck_assert_uint_eq(top->count, 5000);
    assert_pair(&top->pairs[4999], "k4999", 5001, 3);
    assert_scalar(top->pairs[4999].value, "4999", true, 5001, 10);
    yamltree_free(root);
    free(text);

    const int dups[] = {0, 15, 16, 17, 1000, 4999};
    for (size_t i = 0; i < sizeof(dups) / sizeof(dups[0]); i++) {
        struct yamltree_error e;
        char path[32];
        text = wide_mapping(5000, dups[i]);
        snprintf(path, sizeof(path), "top.k%d", dups[i]);
        assert_fault(text, YAMLTREE_DUPLICATE_KEY, 5002, 3, path, "duplicate key", &e);
        ck_assert_str_eq(e.key, path + 4);
        free(text);
    }
    /* Right at the threshold, in both directions. */
    for (int count = 15; count <= 18; count++) {
        char path[32];
        text = wide_mapping(count, count - 1);
        snprintf(path, sizeof(path), "top.k%d", count - 1);
        assert_fault(text, YAMLTREE_DUPLICATE_KEY, (unsigned)count + 2, 3, path, "duplicate key",
                     NULL);
        free(text);
    }
}
END_TEST

START_TEST(refused_depth_and_documents)
{
    /* Depth counts mappings and lists from the top (depth 0). */
    struct yamltree_node *root = NULL;
    struct yamltree_error e;
    ck_assert_int_eq(yamltree_parse("[[[1]]]", 7, 3, &root, &e), 0);
    yamltree_free(root);
    assert_fault_depth("[[[[1]]]]", 3, YAMLTREE_TOO_DEEP, 1, 4, "[0][0][0]",
                       "nested deeper than 3 levels", NULL);
    assert_fault("a: [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]\n", YAMLTREE_TOO_DEEP, 1, 19,
                 "a[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]", "nested deeper than 16 levels",
                 NULL);
    assert_fault_depth("a:\n  b:\n    c: 1\n", 2, YAMLTREE_TOO_DEEP, 3, 5, "a.b",
                       "nested deeper than 2 levels", NULL);

    assert_fault("a: 1\n---\nb: 2\n", YAMLTREE_MULTIPLE_DOCUMENTS, 2, 1, "",
                 "only one YAML document is allowed", NULL);
    assert_fault("a: 1\n...\n---\nb: 2\n", YAMLTREE_MULTIPLE_DOCUMENTS, 3, 1, "",
                 "only one YAML document is allowed", NULL);
    /* One document with its explicit markers is fine. */
    root = parse_ok("---\na: 1\n...\n", 13);
    ck_assert_uint_eq(root->count, 1);
    yamltree_free(root);
}
END_TEST

static Suite *yamltree_suite(void)
{
    Suite *s = suite_create("yamltree");
    TCase *tc = tcase_create("trees");
    tcase_add_test(tc, tree_of_a_document);
    tcase_add_test(tc, scalars_keep_their_bytes);
    tcase_add_test(tc, empty_streams);
    tcase_add_test(tc, core_schema_words);
    tcase_add_test(tc, building_by_hand);
    tcase_add_test(tc, paths_and_utf8);
    suite_add_tcase(s, tc);

    tc = tcase_create("refusals");
    tcase_add_test(tc, refused_not_utf8);
    tcase_add_test(tc, refused_by_libyaml);
    tcase_add_test(tc, refused_anchors_aliases_tags);
    tcase_add_test(tc, refused_keys);
    tcase_add_test(tc, duplicates_in_large_mappings);
    tcase_add_test(tc, refused_depth_and_documents);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(yamltree_suite());
}
