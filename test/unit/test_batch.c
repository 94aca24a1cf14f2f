/*
 * test_batch: the batch-file parser (ca/batch.c). YAML and JSON of the same rows give the same
 * rows; a file refused as a whole says why (and where, for syntax errors); each bad row is one
 * problem with its exact row number and field while the good rows come through; the caps
 * (bytes, rows) are enforced at their exact boundaries.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/batch.h"
#include "ca/lifecycle.h"
#include "testinst.h"

#define ASSERT_MSG_HAS(msg, part)                                                                  \
    ck_assert_msg(strstr((msg), (part)) != NULL, "message \"%s\" lacks \"%s\"", (msg), (part))

/* A growing text buffer for generated files. */
struct text {
    char *s;
    size_t len, cap;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(struct text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        size_t room = t->cap - t->len;
        va_start(ap, fmt);
        int n = vsnprintf(t->s != NULL ? t->s + t->len : NULL, room, fmt, ap);
        va_end(ap);
        ck_assert_int_ge(n, 0);
        if ((size_t)n < room) {
            t->len += (size_t)n;
            return;
        }
        t->cap = t->cap == 0 ? 4096 : t->cap * 2;
        while (t->cap - t->len <= (size_t)n)
            t->cap *= 2;
        t->s = realloc(t->s, t->cap);
        ck_assert_ptr_nonnull(t->s);
    }
}

/* What one generated row looks like; NULL members are left out. */
struct row_spec {
    const char *birth_date;
    const char *gender;
    const char *type;
};

static const struct row_spec good_spec = {"1980-04-01", "female", "mynumber"};

static void gen_json_row(struct text *t, int n, const struct row_spec *r)
{
    text_add(t,
             "%s{\"key\": \"r%d\", \"person\": {\"id\": \"P-%d\", \"name\": \"山田 花子%d\", "
             "\"address\": \"東京都千代田区霞が関%d\", \"birth_date\": \"%s\", \"gender\": "
             "\"%s\"}, \"card\": {\"id\": \"C-%d\"",
             n == 1 ? "" : ",\n", n, n, n, n, r->birth_date, r->gender, n);
    if (r->type != NULL)
        text_add(t, ", \"type\": \"%s\"", r->type);
    text_add(t, ", \"expiry\": \"2034-12-31\", \"prefecture\": \"東京都\"}, \"certificates\": "
                "\"both\"}");
}

static void gen_yaml_row(struct text *t, int n, const struct row_spec *r)
{
    text_add(t,
             "  - key: r%d\n"
             "    person:\n"
             "      id: P-%d\n"
             "      name: 山田 花子%d\n"
             "      address: \"東京都千代田区霞が関%d\"\n"
             "      birth_date: %s\n"
             "      gender: %s\n"
             "    card: {id: C-%d, %s%s%sexpiry: 2034-12-31, prefecture: 東京都}\n"
             "    certificates: both\n",
             n, n, n, n, r->birth_date, r->gender, n, r->type != NULL ? "type: " : "",
             r->type != NULL ? r->type : "", r->type != NULL ? ", " : "");
}

/* A file of `count` rows; rows named in `bad` (1-based, 0-terminated) use `bad_specs`. */
static char *gen_file(enum batch_format fmt, int count, const int *bad,
                      const struct row_spec *bad_specs, size_t *len)
{
    struct text t = {NULL, 0, 0};
    if (fmt == BATCH_JSON)
        text_add(&t, "{\"batch\": \"2026-11-25-chiyoda-001\", \"rows\": [\n");
    else
        text_add(&t, "batch: \"2026-11-25-chiyoda-001\"\nrows:\n");
    for (int n = 1; n <= count; n++) {
        const struct row_spec *r = &good_spec;
        for (size_t b = 0; bad != NULL && bad[b] != 0; b++) {
            if (bad[b] == n)
                r = &bad_specs[b];
        }
        if (fmt == BATCH_JSON)
            gen_json_row(&t, n, r);
        else
            gen_yaml_row(&t, n, r);
    }
    if (fmt == BATCH_JSON)
        text_add(&t, "\n]}\n");
    *len = t.len;
    return t.s;
}

struct parsed {
    int rc;
    struct batch b;
    struct batch_problem *probs;
    size_t nprobs;
    struct jerr err;
};

static void parse(struct parsed *p, const char *data, size_t len, enum batch_format fmt)
{
    memset(p, 0x5a, sizeof(*p));
    jerr_clear(&p->err);
    p->rc = batch_parse(data, len, fmt, &p->b, &p->probs, &p->nprobs, &p->err);
}

static void parsed_free(struct parsed *p)
{
    batch_free(&p->b);
    batch_problems_free(p->probs);
}

static void parse_text(struct parsed *p, const char *text, enum batch_format fmt)
{
    parse(p, text, strlen(text), fmt);
}

/* Asserts the file is refused as a whole, with empty outputs. */
static void assert_refused(const char *text, enum batch_format fmt, int code, const char *field,
                           const char *part)
{
    struct parsed p;
    parse_text(&p, text, fmt);
    ck_assert_msg(p.rc == -1, "accepted: %s", text);
    ck_assert_int_eq(p.err.code, code);
    ck_assert_str_eq(p.err.field, field);
    ASSERT_MSG_HAS(p.err.msg, part);
    ck_assert_ptr_null(p.b.rows);
    ck_assert_uint_eq(p.b.count, 0);
    ck_assert_ptr_null(p.probs);
    ck_assert_uint_eq(p.nprobs, 0);
    parsed_free(&p);
}

/* Files refused whole, JERR_INVALID: the text in its format, the field, part of the message. */
struct refusal {
    const char *text;
    enum batch_format fmt;
    const char *field, *part;
};

static void assert_all_refused(const struct refusal *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_refused(r[i].text, r[i].fmt, JERR_INVALID, r[i].field, r[i].part);
}
#define ASSERT_ALL_REFUSED(table) assert_all_refused(table, sizeof(table) / sizeof(table[0]))

/* Asserts the file parses with exactly one problem, on `row`, naming `field`. */
static void assert_one_problem(const char *text, enum batch_format fmt, size_t good_rows,
                               size_t row, const char *field, const char *part)
{
    struct parsed p;
    parse_text(&p, text, fmt);
    ck_assert_msg(p.rc == 0, "refused (%s): %s", p.err.msg, text);
    ck_assert_uint_eq(p.b.count, good_rows);
    ck_assert_uint_eq(p.nprobs, 1);
    ck_assert_uint_eq(p.probs[0].row, row);
    ck_assert_str_eq(p.probs[0].field, field);
    ASSERT_MSG_HAS(p.probs[0].msg, part);
    parsed_free(&p);
}

static void assert_same_rows(const struct batch *a, const struct batch *b)
{
    ck_assert_str_eq(a->key, b->key);
    ck_assert_uint_eq(a->count, b->count);
    for (size_t i = 0; i < a->count; i++) {
        const struct batch_row *x = &a->rows[i], *y = &b->rows[i];
        ck_assert_uint_eq(x->index, y->index);
        ck_assert_str_eq(x->key, y->key);
        testutil_assert_person(&x->person, &y->person);
        testutil_assert_card(&x->card, &y->card);
        ck_assert_int_eq(x->which, y->which);
        ck_assert_int_eq(x->has_passwords, y->has_passwords);
        ck_assert_str_eq(x->sign_password, y->sign_password);
        ck_assert_str_eq(x->auth_password, y->auth_password);
    }
}

static const char yaml_example[] =
    "# a batch\n"
    "batch: \"2026-11-25-chiyoda-001\"\n"
    "rows:\n"
    "  - key: \"r1\"\n"
    "    person:\n"
    "      id: \"P-0001\"\n"
    "      name: \"山田 太郎\"\n"
    "      address: 東京都千代田区霞が関2-1-2\n"
    "      birth_date: 1990-01-02\n"
    "      gender: male\n"
    "    card: {id: C-0001, type: mynumber, expiry: 2034-01-02, prefecture: 東京都,\n"
    "           municipality: 千代田区}\n"
    "    certificates: both\n"
    "    passwords: {sign: \"ABC123\", auth: \"5831\"}\n"
    "  - key: r2\n"
    "    person: {id: P-0002, name: 'Suzuki Ichiro', address: 'Osaka', birth_date: "
    "'1975-12-31', gender: unstated}\n"
    "    card:\n"
    "      id: C-0002\n"
    "      type: mynumber\n"
    "      expiry: 2031-05-05\n"
    "      prefecture: ~\n"
    "    certificates: [auth]\n"
    "  - key: r3\n"
    "    person: {id: P-0001, name: 山田 太郎, address: 東京都千代田区霞が関2-1-2, "
    "birth_date: 1990-01-02, gender: male}\n"
    "    card: {id: C-0003, type: mynumber, expiry: 2035-01-01}\n"
    "    certificates:\n"
    "      - sign\n"
    "    passwords:\n"
    "      sign: ZQ4K7M2P9X3B6N8R\n"
    "      auth: '0007'\n";

static const char json_example[] =
    "{\"batch\": \"2026-11-25-chiyoda-001\", \"rows\": [\n"
    " {\"key\": \"r1\", \"person\": {\"id\": \"P-0001\", \"name\": \"山田 太郎\", \"address\": "
    "\"東京都千代田区霞が関2-1-2\", \"birth_date\": \"1990-01-02\", \"gender\": \"male\"},\n"
    "  \"card\": {\"id\": \"C-0001\", \"type\": \"mynumber\", \"expiry\": \"2034-01-02\", "
    "\"prefecture\": \"東京都\", \"municipality\": \"千代田区\"},\n"
    "  \"certificates\": \"both\", \"passwords\": {\"sign\": \"ABC123\", \"auth\": \"5831\"}},\n"
    " {\"key\": \"r2\", \"person\": {\"id\": \"P-0002\", \"name\": \"Suzuki Ichiro\", "
    "\"address\": \"Osaka\", \"birth_date\": \"1975-12-31\", \"gender\": \"unstated\"},\n"
    "  \"card\": {\"id\": \"C-0002\", \"type\": \"mynumber\", \"expiry\": \"2031-05-05\", "
    "\"prefecture\": null}, \"certificates\": [\"auth\"]},\n"
    " {\"key\": \"r3\", \"person\": {\"id\": \"P-0001\", \"name\": \"山田 太郎\", \"address\": "
    "\"東京都千代田区霞が関2-1-2\", \"birth_date\": \"1990-01-02\", \"gender\": \"male\"},\n"
    "  \"card\": {\"id\": \"C-0003\", \"type\": \"mynumber\", \"expiry\": \"2035-01-01\"},\n"
    "  \"certificates\": [\"sign\"], \"passwords\": {\"sign\": \"ZQ4K7M2P9X3B6N8R\", "
    "\"auth\": \"0007\"}}\n"
    "]}\n";

START_TEST(yaml_and_json_agree)
{
    struct parsed y, j, ja, yf;
    parse_text(&y, yaml_example, BATCH_YAML);
    ck_assert_msg(y.rc == 0, "%s", y.err.msg);
    parse_text(&j, json_example, BATCH_JSON);
    ck_assert_msg(j.rc == 0, "%s", j.err.msg);
    ck_assert_uint_eq(y.nprobs, 0);
    ck_assert_uint_eq(j.nprobs, 0);
    ck_assert_ptr_null(y.probs);

    /* The exact contents, once. */
    ck_assert_str_eq(y.b.key, "2026-11-25-chiyoda-001");
    ck_assert_uint_eq(y.b.count, 3);
    const struct batch_row *r = &y.b.rows[0];
    ck_assert_uint_eq(r->index, 0);
    ck_assert_str_eq(r->key, "r1");
    ck_assert_str_eq(r->person.id, "P-0001");
    ck_assert_str_eq(r->person.name, "山田 太郎");
    ck_assert_str_eq(r->person.address, "東京都千代田区霞が関2-1-2");
    ck_assert_str_eq(r->person.birth_date, "1990-01-02");
    ck_assert_int_eq(r->person.gender, GENDER_MALE);
    ck_assert_str_eq(r->card.id, "C-0001");
    ck_assert_str_eq(r->card.person_id, "P-0001");
    ck_assert_int_eq(r->card.type, CARD_MYNUMBER);
    ck_assert_str_eq(r->card.expiry, "2034-01-02");
    ck_assert_int_eq(r->card.state, CARD_ACTIVE);
    ck_assert_str_eq(r->card.prefecture, "東京都");
    ck_assert_str_eq(r->card.municipality, "千代田区");
    ck_assert_int_eq(r->which, ISSUE_BOTH);
    ck_assert(r->has_passwords);
    ck_assert_str_eq(r->sign_password, "ABC123");
    ck_assert_str_eq(r->auth_password, "5831");
    r = &y.b.rows[1];
    ck_assert_uint_eq(r->index, 1);
    ck_assert_str_eq(r->card.person_id, "P-0002");
    ck_assert_int_eq(r->person.gender, GENDER_UNSTATED);
    ck_assert_str_eq(r->card.prefecture, "");
    ck_assert_str_eq(r->card.municipality, "");
    ck_assert_int_eq(r->which, ISSUE_AUTH);
    ck_assert(!r->has_passwords);
    ck_assert_str_eq(r->sign_password, "");
    ck_assert_str_eq(r->auth_password, "");
    r = &y.b.rows[2];
    ck_assert_int_eq(r->which, ISSUE_SIGN);
    ck_assert_str_eq(r->sign_password, "ZQ4K7M2P9X3B6N8R");
    ck_assert_str_eq(r->auth_password, "0007");

    assert_same_rows(&y.b, &j.b);

    /* BATCH_AUTO picks each format; JSON is also YAML (flow style) and reads the same. */
    parse_text(&ja, json_example, BATCH_AUTO);
    ck_assert_int_eq(ja.rc, 0);
    assert_same_rows(&ja.b, &j.b);
    parsed_free(&ja);
    parse_text(&ja, yaml_example, BATCH_AUTO);
    ck_assert_int_eq(ja.rc, 0);
    assert_same_rows(&ja.b, &j.b);
    parsed_free(&ja);
    parse_text(&yf, json_example, BATCH_YAML);
    ck_assert_int_eq(yf.rc, 0);
    assert_same_rows(&yf.b, &j.b);
    parsed_free(&yf);
    /* YAML is not JSON. */
    assert_refused(yaml_example, BATCH_JSON, JERR_INVALID, "file", "invalid JSON at line 1");

    parsed_free(&y);
    parsed_free(&j);
}
END_TEST

START_TEST(two_hundred_rows_three_bad)
{
    static const int bad[] = {17, 101, 200, 0};
    static const struct row_spec bad_specs[] = {
        {"1980-02-30", "female", "mynumber"}, /* row 17: no such day */
        {"1980-04-01", "female", NULL},       /* row 101: card type missing */
        {"1980-04-01", "other", "mynumber"},  /* row 200: gender */
    };
    static const char *const fields[] = {"rows[16].person.birth_date", "rows[100].card.type",
                                         "rows[199].person.gender"};
    static const char *const parts[] = {"rows[16].person.birth_date: \"1980-02-30\" is not",
                                        "rows[100].card.type: required",
                                        "rows[199].person.gender: \"other\" is not"};
    enum batch_format fmts[] = {BATCH_JSON, BATCH_YAML};
    struct parsed first;
    memset(&first, 0, sizeof(first));
    for (size_t f = 0; f < 2; f++) {
        size_t len;
        char *file = gen_file(fmts[f], 200, bad, bad_specs, &len);
        struct parsed p;
        parse(&p, file, len, BATCH_AUTO);
        free(file);
        ck_assert_msg(p.rc == 0, "%s", p.err.msg);
        ck_assert_uint_eq(p.b.count, 197);
        ck_assert_uint_eq(p.nprobs, 3);
        for (size_t i = 0; i < 3; i++) {
            ck_assert_uint_eq(p.probs[i].row, (size_t)bad[i]);
            ck_assert_str_eq(p.probs[i].field, fields[i]);
            ASSERT_MSG_HAS(p.probs[i].msg, parts[i]);
        }
        /* The good rows, in order, each knowing its place in the file. */
        size_t g = 0;
        for (int n = 1; n <= 200; n++) {
            if (n == 17 || n == 101 || n == 200)
                continue;
            char key[16], name[64];
            snprintf(key, sizeof(key), "r%d", n);
            snprintf(name, sizeof(name), "山田 花子%d", n);
            ck_assert_uint_eq(p.b.rows[g].index, (size_t)(n - 1));
            ck_assert_str_eq(p.b.rows[g].key, key);
            ck_assert_str_eq(p.b.rows[g].person.name, name);
            ck_assert_int_eq(p.b.rows[g].which, ISSUE_BOTH);
            g++;
        }
        if (f == 0) {
            first = p;
        } else {
            assert_same_rows(&first.b, &p.b);
            parsed_free(&p);
        }
    }
    parsed_free(&first);
}
END_TEST

static const struct refusal malformed[] = {
    /* Tab indentation: YAML forbids tabs for indentation. */
    {"batch: b1\nrows:\n  - key: r1\n\tperson: {}\n", BATCH_YAML, "file", "invalid YAML at line 4"},
    /* An unclosed quote: the message names where the scalar started. */
    {"batch: b1\nrows:\n  - key: \"r1\n    person: {}\n", BATCH_YAML, "file",
     "while scanning a quoted scalar at line 3"},
    {"batch: b1\nrows: [\n", BATCH_YAML, "file", "invalid YAML"},
    {"{\"batch\": \"b1\",\n \"rows\": [}\n", BATCH_JSON, "file", "invalid JSON at line 2"},
    {"{\"batch\": \"b1\", \"rows\": [{}]} trailing", BATCH_JSON, "file", "invalid JSON"},
    {"{\"batch\": \"b1\", \"batch\": \"b2\", \"rows\": [{}]}", BATCH_JSON, "file", "duplicate"},
    {"{\"batch\": \"b\\u0000\", \"rows\": [{}]}", BATCH_JSON, "file", "invalid JSON"},
    /* YAML rules jpki adds: unique keys, no anchors/aliases/tags, one document. */
    {"batch: b1\nbatch: b2\nrows: [{}]\n", BATCH_YAML, "file",
     "line 2 column 1: duplicate key \"batch\""},
    {"batch: &a b1\nrows: [{}]\n", BATCH_YAML, "file",
     "line 1 column 8: anchors are not supported"},
    {"batch: b1\nrows:\n  - &r {}\n  - *r\n", BATCH_YAML, "file",
     "line 3 column 5: anchors are not supported"},
    {"batch: b1\nrows:\n  - *r\n", BATCH_YAML, "file",
     "line 3 column 5: aliases are not supported"},
    {"batch: !!str b1\nrows: [{}]\n", BATCH_YAML, "file",
     "line 1 column 8: tags are not supported"},
    {"batch: b1\nrows: [{}]\n---\nbatch: b2\n", BATCH_YAML, "file",
     "line 3: only one YAML document"},
    {"? [a]\n: b\n", BATCH_YAML, "file", "a key must be a scalar"},
    {"\"batch\\0x\": b1\nrows: [{}]\n", BATCH_YAML, "file", "NUL"},
    {"", BATCH_AUTO, "file", "file: empty"},
    {"# only a comment\n", BATCH_YAML, "file", "file: empty"},
    {"", BATCH_JSON, "file", "invalid JSON"},
    {"batch: b1\nrows: [\xff]\n", BATCH_YAML, "file",
     "invalid YAML at line 2 (byte 18): invalid leading UTF-8 octet"},
};

START_TEST(malformed_files)
{
    ASSERT_ALL_REFUSED(malformed);
    /* Deeper than any batch file. */
    struct text t = {NULL, 0, 0};
    text_add(&t, "batch: b1\nrows: ");
    for (int i = 0; i < 40; i++)
        text_add(&t, "[");
    for (int i = 0; i < 40; i++)
        text_add(&t, "]");
    assert_refused(t.s, BATCH_YAML, JERR_INVALID, "file", "nested deeper than 16");
    free(t.s);
}
END_TEST

static const struct refusal shapes[] = {
    {"- a\n- b\n", BATCH_YAML, "file", "must be a mapping"},
    {"just text\n", BATCH_YAML, "file", "must be a mapping"},
    {"[1]", BATCH_JSON, "file", "must be a mapping"},
    /* The batch key. */
    {"rows: [{}]\n", BATCH_YAML, "batch", "batch: required"},
    {"{\"rows\": [{}]}", BATCH_JSON, "batch", "batch: required"},
    {"batch: 12\nrows: [{}]\n", BATCH_YAML, "batch", "batch: must be a string, not a number"},
    {"batch:\nrows: [{}]\n", BATCH_YAML, "batch", "must be a string, not null"},
    {"batch: \"a b\"\nrows: [{}]\n", BATCH_YAML, "batch", "outside [A-Za-z0-9._-]"},
    {"batch: \"\"\nrows: [{}]\n", BATCH_YAML, "batch", "must not be empty"},
    /* It names the directory of the batch's card images: no ".", "..", nor a hidden name. */
    {"batch: \"..\"\nrows: [{}]\n", BATCH_YAML, "batch", "batch: \"..\" starts with '.'"},
    {"batch: .\nrows: [{}]\n", BATCH_YAML, "batch", "starts with '.'"},
    {"{\"batch\": \".b1\", \"rows\": [{}]}", BATCH_JSON, "batch", "starts with '.'"},
    /* Unknown top-level keys. */
    {"batch: b1\nrows: [{}]\ncomment: x\n", BATCH_YAML, "comment", "comment: unknown field"},
    /* The rows. */
    {"batch: b1\n", BATCH_YAML, "rows", "rows: required"},
    {"batch: b1\nrows: []\n", BATCH_YAML, "rows", "rows: no rows"},
    {"{\"batch\": \"b1\", \"rows\": []}", BATCH_JSON, "rows", "rows: no rows"},
    {"batch: b1\nrows:\n", BATCH_YAML, "rows", "must be a list"},
    {"batch: b1\nrows: {a: 1}\n", BATCH_YAML, "rows", "must be a list"},
};

START_TEST(file_shape)
{
    ASSERT_ALL_REFUSED(shapes);
}
END_TEST

/* One good row as YAML, with `extra` lines appended to the row and `card`/`pw` overrides. */
static char *one_row_yaml(const char *key, const char *card_id, const char *certs,
                          const char *passwords)
{
    struct text t = {NULL, 0, 0};
    text_add(&t,
             "batch: b1\nrows:\n"
             "  - key: %s\n"
             "    person: {id: P-1, name: Taro, address: Tokyo, birth_date: 1990-01-02, gender: "
             "male}\n"
             "    card: {id: %s, type: mynumber, expiry: 2034-01-02}\n"
             "    certificates: %s\n",
             key, card_id, certs);
    if (passwords != NULL)
        text_add(&t, "    passwords: %s\n", passwords);
    return t.s;
}

static void assert_row_problem(const char *key, const char *card_id, const char *certs,
                               const char *passwords, const char *field, const char *part)
{
    char *text = one_row_yaml(key, card_id, certs, passwords);
    assert_one_problem(text, BATCH_YAML, 0, 1, field, part);
    free(text);
}

START_TEST(row_problems)
{
    /* Plain YAML scalars that are numbers or booleans are not strings. */
    assert_row_problem("1", "C-1", "both", NULL, "rows[0].key",
                       "rows[0].key: must be a string, not a number");
    assert_row_problem("0x1F", "C-1", "both", NULL, "rows[0].key", "not a number");
    assert_row_problem("-12", "C-1", "both", NULL, "rows[0].key", "not a number");
    assert_row_problem("123456789012345678901234567890", "C-1", "both", NULL, "rows[0].key",
                       "not a number");
    assert_row_problem("true", "C-1", "both", NULL, "rows[0].key", "not a boolean");
    assert_row_problem("~", "C-1", "both", NULL, "rows[0].key", "not null");
    assert_row_problem("\"r 1\"", "C-1", "both", NULL, "rows[0].key", "outside [A-Za-z0-9._-]");
    assert_row_problem("\"r\\0\"", "C-1", "both", NULL, "rows[0].key", "NUL");
    assert_row_problem("r1", "1234", "both", NULL, "rows[0].card.id", "not a number");
    /* A card id names its image file: no ".", "..", nor a hidden name; a row key names none. */
    assert_row_problem("r1", "\"..\"", "both", NULL, "rows[0].card.id",
                       "rows[0].card.id: \"..\" starts with '.'");
    assert_row_problem("r1", ".C-1", "both", NULL, "rows[0].card.id", "starts with '.'");
    char *dot_key = one_row_yaml(".r1", "C.1", "both", NULL);
    struct parsed dk;
    parse_text(&dk, dot_key, BATCH_YAML);
    free(dot_key);
    ck_assert_int_eq(dk.rc, 0);
    ck_assert_uint_eq(dk.b.count, 1);
    parsed_free(&dk);
    assert_row_problem("r1", "C-1", "signature", NULL, "rows[0].certificates",
                       "rows[0].certificates: must be sign, auth or both");
    assert_row_problem("r1", "C-1", "[]", NULL, "rows[0].certificates", "at least one");
    assert_row_problem("r1", "C-1", "[sign, sign]", NULL, "rows[0].certificates", "repeats");
    /* Quoted, the same texts are strings. */
    char *text = one_row_yaml("\"1\"", "\"1234\"", "[auth, sign]", NULL);
    struct parsed p;
    parse_text(&p, text, BATCH_YAML);
    free(text);
    ck_assert_int_eq(p.rc, 0);
    ck_assert_uint_eq(p.b.count, 1);
    ck_assert_str_eq(p.b.rows[0].key, "1");
    ck_assert_str_eq(p.b.rows[0].card.id, "1234");
    ck_assert_int_eq(p.b.rows[0].which, ISSUE_BOTH);
    parsed_free(&p);

    /* A row's shape. */
    assert_one_problem("batch: b1\nrows:\n  - just text\n", BATCH_YAML, 0, 1, "rows[0]",
                       "rows[0]: must be an object, not a string");
    assert_one_problem("batch: b1\nrows:\n  - key: r1\n", BATCH_YAML, 0, 1, "rows[0].person",
                       "rows[0].person: required");
    assert_one_problem("batch: b1\nrows:\n  - key: r1\n    person: P-1\n", BATCH_YAML, 0, 1,
                       "rows[0].person", "rows[0].person: must be an object, not a string");
    assert_one_problem("batch: b1\nrows:\n  - {key: r1, person: {id: P-1, name: T, address: A, "
                       "birth_date: 1990-01-02, gender: male}}\n",
                       BATCH_YAML, 0, 1, "rows[0].card", "rows[0].card: required");
    assert_one_problem("batch: b1\nrows:\n  - {key: r1, person: {id: P-1, name: T, address: A, "
                       "birth_date: 1990-01-02, gender: male}, card: {id: C-1, type: juki, "
                       "expiry: 2030-01-01}}\n",
                       BATCH_YAML, 0, 1, "rows[0].certificates", "rows[0].certificates: required");
    assert_one_problem("batch: b1\nrows:\n  - {key: r1, note: x}\n", BATCH_YAML, 0, 1,
                       "rows[0].note", "rows[0].note: unknown field");
    assert_one_problem("batch: b1\nrows:\n  - {person: {}}\n", BATCH_YAML, 0, 1, "rows[0].key",
                       "rows[0].key: required");
    /* The card's person is the row's person: person_id in the card is unknown. */
    assert_one_problem("batch: b1\nrows:\n  - {key: r1, person: {id: P-1, name: T, address: A, "
                       "birth_date: 1990-01-02, gender: male}, card: {id: C-1, person_id: P-1, "
                       "type: juki, expiry: 2030-01-01}, certificates: both}\n",
                       BATCH_YAML, 0, 1, "rows[0].card.person_id", "unknown field");
    /* NUL inside a double-quoted YAML value. */
    assert_one_problem("batch: b1\nrows:\n  - {key: r1, person: {id: P-1, name: \"T\\0\", "
                       "address: A, birth_date: 1990-01-02, gender: male}}\n",
                       BATCH_YAML, 0, 1, "rows[0].person.name",
                       "rows[0].person.name: must not contain a NUL character");
}
END_TEST

START_TEST(duplicates)
{
    /* The same row key twice: the later row is the problem. */
    const char *dup_key = "batch: b1\nrows:\n"
                          "  - {key: r1, person: {id: P-1, name: T, address: A, birth_date: "
                          "1990-01-02, gender: male}, card: {id: C-1, type: mynumber, expiry: "
                          "2034-01-01}, certificates: both}\n"
                          "  - {key: r2, person: {id: P-2, name: T, address: A, birth_date: "
                          "1990-01-02, gender: male}, card: {id: C-2, type: mynumber, expiry: "
                          "2034-01-01}, certificates: both}\n"
                          "  - {key: r1, person: {id: P-3, name: T, address: A, birth_date: "
                          "1990-01-02, gender: male}, card: {id: C-3, type: mynumber, expiry: "
                          "2034-01-01}, certificates: both}\n";
    assert_one_problem(dup_key, BATCH_YAML, 2, 3, "rows[2].key",
                       "rows[2].key: \"r1\" is already the key of row 1");
    /* A bad row still claims its key. */
    const char *dup_key_bad_first =
        "batch: b1\nrows:\n"
        "  - {key: r1, person: {id: P-1}}\n"
        "  - {key: r1, person: {id: P-3, name: T, address: A, birth_date: "
        "1990-01-02, gender: male}, card: {id: C-3, type: mynumber, expiry: "
        "2034-01-01}, certificates: both}\n";
    struct parsed p;
    parse_text(&p, dup_key_bad_first, BATCH_YAML);
    ck_assert_int_eq(p.rc, 0);
    ck_assert_uint_eq(p.b.count, 0);
    ck_assert_uint_eq(p.nprobs, 2);
    ck_assert_uint_eq(p.probs[0].row, 1);
    ck_assert_str_eq(p.probs[0].field, "rows[0].person.name");
    ck_assert_uint_eq(p.probs[1].row, 2);
    ck_assert_str_eq(p.probs[1].field, "rows[1].key");
    parsed_free(&p);

    /* The same card in two rows. */
    const char *dup_card = "{\"batch\": \"b1\", \"rows\": [\n"
                           "{\"key\": \"r1\", \"person\": {\"id\": \"P-1\", \"name\": \"T\", "
                           "\"address\": \"A\", \"birth_date\": \"1990-01-02\", \"gender\": "
                           "\"male\"}, \"card\": {\"id\": \"C-1\", \"type\": \"mynumber\", "
                           "\"expiry\": \"2034-01-01\"}, \"certificates\": \"sign\"},\n"
                           "{\"key\": \"r2\", \"person\": {\"id\": \"P-2\", \"name\": \"T\", "
                           "\"address\": \"A\", \"birth_date\": \"1990-01-02\", \"gender\": "
                           "\"male\"}, \"card\": {\"id\": \"C-1\", \"type\": \"mynumber\", "
                           "\"expiry\": \"2034-01-01\"}, \"certificates\": \"auth\"}]}";
    assert_one_problem(dup_card, BATCH_JSON, 1, 2, "rows[1].card.id",
                       "rows[1].card.id: card \"C-1\" is already in row 1");

    /* One person, two cards: fine when the facts agree, a problem when they differ. */
    const char *two_cards = "batch: b1\nrows:\n"
                            "  - {key: r1, person: {id: P-1, name: T, address: A, birth_date: "
                            "1990-01-02, gender: male}, card: {id: C-1, type: mynumber, expiry: "
                            "2034-01-01}, certificates: both}\n"
                            "  - {key: r2, person: {id: P-1, name: T, address: A, birth_date: "
                            "1990-01-02, gender: male}, card: {id: C-2, type: mynumber, expiry: "
                            "2034-01-01}, certificates: both}\n"
                            "  - {key: r3, person: {id: P-1, name: T, address: B, birth_date: "
                            "1990-01-02, gender: male}, card: {id: C-3, type: mynumber, expiry: "
                            "2034-01-01}, certificates: both}\n";
    assert_one_problem(two_cards, BATCH_YAML, 2, 3, "rows[2].person",
                       "rows[2].person: person \"P-1\" has other facts in row 1");
}
END_TEST

START_TEST(passwords)
{
    struct {
        const char *yaml;
        const char *field;
        const char *part;
    } bad[] = {
        {"{sign: \"abc123\", auth: \"1234\"}", "rows[0].passwords.sign", "upper-case"},
        {"{sign: \"ABC12\", auth: \"1234\"}", "rows[0].passwords.sign", "6 to 16"},
        {"{sign: \"ABCDEFGHIJ1234567\", auth: \"1234\"}", "rows[0].passwords.sign", "6 to 16"},
        {"{sign: \"ABC 123\", auth: \"1234\"}", "rows[0].passwords.sign", "6 to 16"},
        {"{sign: \"ÄBC123\", auth: \"1234\"}", "rows[0].passwords.sign", "6 to 16"},
        {"{sign: \"ABC123\", auth: \"12a4\"}", "rows[0].passwords.auth", "exactly 4 digits"},
        {"{sign: \"ABC123\", auth: \"12345\"}", "rows[0].passwords.auth", "exactly 4 digits"},
        {"{sign: \"ABC123\", auth: \"123\"}", "rows[0].passwords.auth", "exactly 4 digits"},
        {"{sign: \"ABC123\", auth: \"12\\0004\"}", "rows[0].passwords.auth", "exactly 4 digits"},
        {"{sign: \"ABC123\", auth: 1234}", "rows[0].passwords.auth", "quote"},
        {"{sign: 123456, auth: \"1234\"}", "rows[0].passwords.sign", "must be a string"},
        {"{sign: \"ABC123\"}", "rows[0].passwords.auth", "rows[0].passwords.auth: required"},
        {"{auth: \"1234\"}", "rows[0].passwords.sign", "required"},
        {"{sign: \"ABC123\", auth: \"1234\", puk: \"1\"}", "rows[0].passwords.puk",
         "unknown field"},
        /* RULE guide 4(7): easy guesses, refused at submission (the holder is born
         * 1990-01-02). */
        {"{sign: \"ABC123\", auth: \"0102\"}", "rows[0].passwords.auth", "birth date (MMDD)"},
        {"{sign: \"ABC123\", auth: \"0201\"}", "rows[0].passwords.auth", "birth date (DDMM)"},
        {"{sign: \"ABC123\", auth: \"1990\"}", "rows[0].passwords.auth", "birth date (YYYY)"},
        {"{sign: \"19900102\", auth: \"5831\"}", "rows[0].passwords.sign", "birth date (YYYYMMDD)"},
        {"{sign: \"900102\", auth: \"5831\"}", "rows[0].passwords.sign", "birth date (YYMMDD)"},
        {"{sign: \"ABC123\", auth: \"7777\"}", "rows[0].passwords.auth", "repeated"},
        {"{sign: \"ABC123\", auth: \"1234\"}", "rows[0].passwords.auth", "straight run"},
        {"{sign: \"ABC123\", auth: \"9876\"}", "rows[0].passwords.auth", "straight run"},
        {"{sign: \"FEDCBA\", auth: \"5831\"}", "rows[0].passwords.sign", "straight run"},
        {"\"ABC123\"", "rows[0].passwords", "must be an object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *text = one_row_yaml("r1", "C-1", "both", bad[i].yaml);
        struct parsed p;
        parse_text(&p, text, BATCH_YAML);
        ck_assert_msg(p.rc == 0, "%s", p.err.msg);
        ck_assert_uint_eq(p.b.count, 0);
        ck_assert_uint_eq(p.nprobs, 1);
        ck_assert_str_eq(p.probs[0].field, bad[i].field);
        ASSERT_MSG_HAS(p.probs[0].msg, bad[i].part);
        /* A password never reaches a message. */
        ck_assert_ptr_null(strstr(p.probs[0].msg, "abc123"));
        ck_assert_ptr_null(strstr(p.probs[0].msg, "ABC12"));
        ck_assert_ptr_null(strstr(p.probs[0].msg, "12a4"));
        ck_assert_ptr_null(strstr(p.probs[0].msg, "0102"));
        ck_assert_ptr_null(strstr(p.probs[0].msg, "7777"));
        parsed_free(&p);
        free(text);
    }
    /* The bounds that pass. */
    const char *good[][3] = {
        {"{sign: ABCDEX, auth: \"0007\"}", "ABCDEX", "0007"},
        {"{sign: \"0123456789ABCDEF\", auth: '9990'}", "0123456789ABCDEF", "9990"},
        {"{sign: \"123457\", auth: \"0001\"}", "123457", "0001"},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char *text = one_row_yaml("r1", "C-1", "both", good[i][0]);
        struct parsed p;
        parse_text(&p, text, BATCH_YAML);
        ck_assert_int_eq(p.rc, 0);
        ck_assert_uint_eq(p.nprobs, 0);
        ck_assert_uint_eq(p.b.count, 1);
        ck_assert(p.b.rows[0].has_passwords);
        ck_assert_str_eq(p.b.rows[0].sign_password, good[i][1]);
        ck_assert_str_eq(p.b.rows[0].auth_password, good[i][2]);
        parsed_free(&p);
        ck_assert_ptr_null(p.b.rows);
        ck_assert_uint_eq(p.b.count, 0);
        free(text);
    }
}
END_TEST

/* "{"batch": "b1", "rows": [{}, {}, ...]}" with n empty rows: each row is a problem, but the
 * count is judged first. */
static char *empty_rows_json(size_t n, size_t *len)
{
    const char head[] = "{\"batch\": \"b1\", \"rows\": [";
    size_t size = sizeof(head) + n * 3 + 8;
    char *s = malloc(size);
    ck_assert_ptr_nonnull(s);
    memcpy(s, head, sizeof(head) - 1);
    size_t o = sizeof(head) - 1;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            s[o++] = ',';
        s[o++] = '{';
        s[o++] = '}';
    }
    s[o++] = ']';
    s[o++] = '}';
    *len = o;
    return s;
}

START_TEST(row_cap)
{
    size_t len;
    char *file = empty_rows_json(JPKI_BATCH_MAX_ROWS + 1, &len);
    struct parsed p;
    parse(&p, file, len, BATCH_JSON);
    ck_assert_int_eq(p.rc, -1);
    ck_assert_int_eq(p.err.code, JERR_TOO_LARGE);
    ck_assert_str_eq(p.err.field, "rows");
    ASSERT_MSG_HAS(p.err.msg, "100001 rows, more than 100000");
    ck_assert_ptr_null(p.probs);
    parsed_free(&p);
    free(file);

    /* Exactly at the cap the file is read, and every (empty) row is a problem. */
    file = empty_rows_json(JPKI_BATCH_MAX_ROWS, &len);
    parse(&p, file, len, BATCH_JSON);
    ck_assert_int_eq(p.rc, 0);
    ck_assert_uint_eq(p.b.count, 0);
    ck_assert_uint_eq(p.nprobs, JPKI_BATCH_MAX_ROWS);
    ck_assert_uint_eq(p.probs[JPKI_BATCH_MAX_ROWS - 1].row, JPKI_BATCH_MAX_ROWS);
    ck_assert_str_eq(p.probs[JPKI_BATCH_MAX_ROWS - 1].field, "rows[99999].key");
    parsed_free(&p);
    free(file);

    /* The same cap in YAML. */
    struct text t = {NULL, 0, 0};
    text_add(&t, "batch: b1\nrows:\n");
    for (size_t i = 0; i <= JPKI_BATCH_MAX_ROWS; i++)
        text_add(&t, "- {}\n");
    parse(&p, t.s, t.len, BATCH_YAML);
    ck_assert_int_eq(p.rc, -1);
    ck_assert_int_eq(p.err.code, JERR_TOO_LARGE);
    ck_assert_str_eq(p.err.field, "rows");
    parsed_free(&p);
    free(t.s);
}
END_TEST

START_TEST(byte_cap)
{
    /* Refused by size before any parsing: the bytes need not even be a batch. */
    size_t cap = JPKI_HTTP_MAX_BATCH_BODY_BYTES;
    char *big = malloc(cap + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, ' ', cap + 1);
    struct parsed p;
    parse(&p, big, cap + 1, BATCH_AUTO);
    ck_assert_int_eq(p.rc, -1);
    ck_assert_int_eq(p.err.code, JERR_TOO_LARGE);
    ck_assert_str_eq(p.err.field, "file");
    ASSERT_MSG_HAS(p.err.msg, "larger than 16777216 bytes");
    parsed_free(&p);
    /* At the cap, a JSON file padded with spaces is read. */
    const char body[] = "{\"batch\": \"b1\", \"rows\": [{}]}";
    memcpy(big, body, sizeof(body) - 1);
    parse(&p, big, cap, BATCH_AUTO);
    ck_assert_int_eq(p.rc, 0);
    ck_assert_uint_eq(p.nprobs, 1);
    parsed_free(&p);
    free(big);
}
END_TEST

START_TEST(free_is_safe)
{
    batch_free(NULL);
    batch_problems_free(NULL);
    struct batch b;
    memset(&b, 0, sizeof(b));
    batch_free(&b);
    ck_assert_ptr_null(b.rows);
}
END_TEST

static Suite *batch_suite(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, yaml_and_json_agree);
    tcase_add_test(tc, two_hundred_rows_three_bad);
    tcase_add_test(tc, malformed_files);
    tcase_add_test(tc, file_shape);
    tcase_add_test(tc, row_problems);
    tcase_add_test(tc, duplicates);
    tcase_add_test(tc, passwords);
    tcase_add_test(tc, row_cap);
    tcase_add_test(tc, byte_cap);
    tcase_add_test(tc, free_is_safe);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(batch_suite());
}
