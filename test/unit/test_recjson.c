/*
 * test_recjson: JSON <-> records (ca/recjson.c). Every refusal is asserted with its exact code
 * and field (with and without a prefix); writers are compared byte for byte (sorted keys);
 * request bodies are refused for each malformation with the right code.
 */
#include <stdlib.h>
#include <string.h>

#include "ca/lifecycle.h"
#include "ca/recjson.h"
#include "base/jclock.h"
#include "testinst.h"

#define ASSERT_FIELD(err, want_code, want_field)                                                   \
    do {                                                                                           \
        ck_assert_int_eq((err).code, (want_code));                                                 \
        ck_assert_str_eq((err).field, (want_field));                                               \
    } while (0)

#define ASSERT_MSG_HAS(err, part)                                                                  \
    ck_assert_msg(strstr((err).msg, (part)) != NULL, "message \"%s\" lacks \"%s\"", (err).msg,     \
                  (part))

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    ck_assert_msg(v != NULL, "test JSON does not parse: %s: %s", text, je.text);
    return v;
}

static json_t *good_person_json(void)
{
    return load("{\"id\": \"P-0001\", \"name\": \"山田 太郎\", \"address\": "
                "\"東京都千代田区霞が関2-1-2\", \"birth_date\": \"1990-01-02\", \"gender\": "
                "\"male\"}");
}

static json_t *good_card_json(void)
{
    return load("{\"id\": \"C-0001\", \"person_id\": \"P-0001\", \"type\": \"mynumber\", "
                "\"expiry\": \"2034-01-02\", \"prefecture\": \"東京都\", \"municipality\": "
                "\"千代田区\"}");
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* `o` with member `key` set to `value` (consumed), or removed when `value` is NULL. */
static json_t *json_with(json_t *o, const char *key, json_t *value)
{
    if (value == NULL)
        json_object_del(o, key);
    else
        json_object_set_new(o, key, value);
    return o;
}

/* Runs recjson_person_from on `obj` (consumed) and asserts the refusal. */
static void person_refused(json_t *obj, const char *prefix, const char *field, const char *part)
{
    struct person p;
    struct jerr err;
    memset(&p, 0x5a, sizeof(p));
    struct person before = p;
    jerr_clear(&err);
    ck_assert_int_eq(recjson_person_from(obj, prefix, &p, &err), -1);
    ASSERT_FIELD(err, JERR_INVALID, field);
    ASSERT_MSG_HAS(err, part);
    /* Output is written only on success. */
    ck_assert_int_eq(memcmp(&p, &before, sizeof(p)), 0);
    json_decref(obj);
}

static json_t *person_with(const char *key, json_t *value)
{
    return json_with(good_person_json(), key, value);
}

START_TEST(person_good)
{
    struct person p;
    struct jerr err;
    jerr_clear(&err);
    json_t *o = good_person_json();
    ck_assert_int_eq(recjson_person_from(o, NULL, &p, &err), 0);
    ck_assert_int_eq(err.code, JERR_NONE);
    struct person want = testutil_person("P-0001", "山田 太郎", "東京都千代田区霞が関2-1-2",
                                         "1990-01-02", GENDER_MALE); /* alive */
    testutil_assert_person(&p, &want);
    json_decref(o);

    o = person_with("gender", json_string("female"));
    ck_assert_int_eq(recjson_person_from(o, "", &p, &err), 0);
    ck_assert_int_eq(p.gender, GENDER_FEMALE);
    json_decref(o);
    o = person_with("gender", json_string("unstated"));
    ck_assert_int_eq(recjson_person_from(o, "", &p, &err), 0);
    ck_assert_int_eq(p.gender, GENDER_UNSTATED);
    json_decref(o);

    /* Exactly at the caps. */
    char *name = repeat('n', JPKI_NAME_MAX), *addr = repeat('a', JPKI_ADDRESS_MAX),
         *id = repeat('i', JPKI_ID_MAX);
    o = person_with("name", json_string(name));
    json_object_set_new(o, "address", json_string(addr));
    json_object_set_new(o, "id", json_string(id));
    ck_assert_int_eq(recjson_person_from(o, NULL, &p, &err), 0);
    ck_assert_str_eq(p.name, name);
    ck_assert_str_eq(p.address, addr);
    ck_assert_str_eq(p.id, id);
    json_decref(o);
    free(name);
    free(addr);
    free(id);
}
END_TEST

START_TEST(person_missing_fields)
{
    static const char *const fields[] = {"id", "name", "address", "birth_date", "gender"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        char want_msg[64];
        snprintf(want_msg, sizeof(want_msg), "%s: required", fields[i]);
        person_refused(person_with(fields[i], NULL), NULL, fields[i], want_msg);
    }
}
END_TEST

START_TEST(person_wrong_types)
{
    static const char *const fields[] = {"id", "name", "address", "birth_date", "gender"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        person_refused(person_with(fields[i], json_integer(12)), NULL, fields[i],
                       "must be a string, not a number");
        person_refused(person_with(fields[i], json_null()), NULL, fields[i],
                       "must be a string, not null");
        person_refused(person_with(fields[i], json_true()), NULL, fields[i],
                       "must be a string, not a boolean");
        person_refused(person_with(fields[i], json_object()), NULL, fields[i],
                       "must be a string, not an object");
        person_refused(person_with(fields[i], json_array()), NULL, fields[i],
                       "must be a string, not an array");
    }
    /* The object itself. */
    person_refused(load("[1]"), NULL, "body", "body: must be an object, not an array");
    person_refused(load("\"x\""), "rows[2].person.", "rows[2].person",
                   "rows[2].person: must be an object, not a string");
    struct person p;
    struct jerr err;
    jerr_clear(&err);
    ck_assert_int_eq(recjson_person_from(NULL, "person.", &p, &err), -1);
    ASSERT_FIELD(err, JERR_INVALID, "person");
}
END_TEST

START_TEST(person_unknown_fields)
{
    person_refused(person_with("nickname", json_string("x")), NULL, "nickname",
                   "nickname: unknown field");
    person_refused(person_with("deceased", json_false()), NULL, "deceased", "unknown field");
    /* Reported before a missing field. */
    json_t *o = person_with("name", NULL);
    json_object_set_new(o, "Name", json_string("x"));
    person_refused(o, NULL, "Name", "unknown field");
    /* A key with a NUL inside does not pass for "name"; it is shown escaped. */
    o = person_with("name", NULL);
    json_object_setn_new(o, "name\0x", 6, json_string("x"));
    person_refused(o, NULL, "name\\x00x", "unknown field");
}
END_TEST

START_TEST(person_too_long)
{
    char *s = repeat('n', JPKI_NAME_MAX + 1);
    person_refused(person_with("name", json_string(s)), NULL, "name", "longer than 300 bytes");
    free(s);
    s = repeat('a', JPKI_ADDRESS_MAX + 1);
    person_refused(person_with("address", json_string(s)), NULL, "address",
                   "longer than 750 bytes");
    free(s);
    s = repeat('i', JPKI_ID_MAX + 1);
    person_refused(person_with("id", json_string(s)), NULL, "id", "longer than 64 bytes");
    free(s);
    person_refused(person_with("birth_date", json_string("1990-01-022")), NULL, "birth_date",
                   "longer than 10 bytes");
    person_refused(person_with("gender", json_string("unstated-and-more")), NULL, "gender",
                   "is not male, female or unstated");
}
END_TEST

START_TEST(person_bad_values)
{
    person_refused(person_with("birth_date", json_string("1990-02-30")), NULL, "birth_date",
                   "birth_date: \"1990-02-30\" is not a calendar day");
    person_refused(person_with("birth_date", json_string("1990/01/02")), NULL, "birth_date",
                   "not a calendar day");
    person_refused(person_with("birth_date", json_string("1868-01-24")), NULL, "birth_date",
                   "before the Meiji era");
    jclock_set(jclock_utc(2026, 3, 1, 0, 0, 0));
    person_refused(person_with("birth_date", json_string("2026-03-02")), NULL, "birth_date",
                   "in the future");
    jclock_set(0);
    person_refused(person_with("gender", json_string("other")), NULL, "gender",
                   "gender: \"other\" is not male, female or unstated");
    /* The profile's digits are not part of the JSON vocabulary. */
    person_refused(person_with("gender", json_string("1")), NULL, "gender",
                   "is not male, female or unstated");
    person_refused(person_with("gender", json_string("Male")), NULL, "gender",
                   "is not male, female or unstated");
    person_refused(person_with("id", json_string("P 1")), NULL, "id", "outside [A-Za-z0-9._-]");
    person_refused(person_with("id", json_string("")), NULL, "id", "must not be empty");
    person_refused(person_with("name", json_string("")), NULL, "name", "must not be empty");
    person_refused(person_with("address", json_string("a\tb")), NULL, "address",
                   "control character");
    /* \u0000: Jansson keeps it when asked to; a C string would end there. */
    person_refused(person_with("name", json_stringn("山田\0太郎", 13)), NULL, "name",
                   "name: must not contain a NUL character");
    person_refused(load("{\"id\": \"P-0001\", \"name\": \"a\\u0000b\", \"address\": \"x\", "
                        "\"birth_date\": \"1990-01-02\", \"gender\": \"male\"}"),
                   NULL, "name", "NUL");
    person_refused(person_with("gender", json_stringn("male\0", 5)), NULL, "gender", "NUL");
    person_refused(person_with("id", json_stringn("P\0", 2)), NULL, "id", "NUL");
}
END_TEST

START_TEST(person_prefix)
{
    const char *pre = "rows[2].person.";
    person_refused(person_with("name", NULL), pre, "rows[2].person.name",
                   "rows[2].person.name: required");
    person_refused(person_with("name", json_integer(1)), pre, "rows[2].person.name",
                   "rows[2].person.name: must be a string");
    person_refused(person_with("x", json_integer(1)), pre, "rows[2].person.x",
                   "rows[2].person.x: unknown field");
    /* Errors of model_check_person are re-labelled too. */
    person_refused(person_with("birth_date", json_string("2001-13-01")), pre,
                   "rows[2].person.birth_date", "rows[2].person.birth_date: \"2001-13-01\"");
    person_refused(person_with("id", json_string("a/b")), pre, "rows[2].person.id",
                   "rows[2].person.id: ");
    person_refused(person_with("gender", json_string("x")), pre, "rows[2].person.gender",
                   "rows[2].person.gender: \"x\" is not");
}
END_TEST

START_TEST(person_facts)
{
    struct person p;
    struct jerr err;
    jerr_clear(&err);
    json_t *o = good_person_json();
    json_object_del(o, "id");
    ck_assert_int_eq(recjson_person_facts_from(o, "P-0042", NULL, &p, &err), 0);
    ck_assert_str_eq(p.id, "P-0042");
    ck_assert_str_eq(p.name, "山田 太郎");
    ck_assert_str_eq(p.birth_date, "1990-01-02");
    ck_assert_int_eq(p.gender, GENDER_MALE);

    /* The id comes from the URL: in the body it is an unknown field. */
    json_object_set_new(o, "id", json_string("P-0042"));
    jerr_clear(&err);
    ck_assert_int_eq(recjson_person_facts_from(o, "P-0042", NULL, &p, &err), -1);
    ASSERT_FIELD(err, JERR_INVALID, "id");
    ASSERT_MSG_HAS(err, "unknown field");
    json_object_del(o, "id");

    /* All four facts are required. */
    json_object_del(o, "address");
    jerr_clear(&err);
    ck_assert_int_eq(recjson_person_facts_from(o, "P-0042", "", &p, &err), -1);
    ASSERT_FIELD(err, JERR_INVALID, "address");
    ASSERT_MSG_HAS(err, "required");
    json_object_set_new(o, "address", json_string("大阪府"));

    /* A bad id from the URL. */
    jerr_clear(&err);
    ck_assert_int_eq(recjson_person_facts_from(o, "P 1", NULL, &p, &err), -1);
    ASSERT_FIELD(err, JERR_INVALID, "id");
    char *long_id = repeat('i', JPKI_ID_MAX + 1);
    jerr_clear(&err);
    ck_assert_int_eq(recjson_person_facts_from(o, long_id, NULL, &p, &err), -1);
    ASSERT_FIELD(err, JERR_INVALID, "id");
    free(long_id);
    jerr_clear(&err);
    ck_assert_int_eq(recjson_person_facts_from(o, NULL, NULL, &p, &err), -1);
    ASSERT_FIELD(err, JERR_INVALID, "id");
    json_decref(o);
}
END_TEST

static void card_refused(json_t *obj, const char *person_id, const char *prefix, const char *field,
                         const char *part)
{
    struct card c;
    struct jerr err;
    memset(&c, 0x5a, sizeof(c));
    struct card before = c;
    jerr_clear(&err);
    ck_assert_int_eq(recjson_card_from(obj, person_id, prefix, &c, &err), -1);
    ASSERT_FIELD(err, JERR_INVALID, field);
    ASSERT_MSG_HAS(err, part);
    ck_assert_int_eq(memcmp(&c, &before, sizeof(c)), 0);
    json_decref(obj);
}

static json_t *card_with(const char *key, json_t *value)
{
    return json_with(good_card_json(), key, value);
}

START_TEST(card_good)
{
    struct card c;
    struct jerr err;
    jerr_clear(&err);
    json_t *o = good_card_json();
    ck_assert_int_eq(recjson_card_from(o, NULL, NULL, &c, &err), 0);
    struct card want = testutil_card("C-0001", "P-0001", CARD_MYNUMBER, "2034-01-02", CARD_ACTIVE,
                                     "東京都", "千代田区");
    testutil_assert_card(&c, &want);
    json_decref(o);

    /* person_id given by the caller; the place names optional (absent or null). */
    o = card_with("person_id", NULL);
    json_object_del(o, "prefecture");
    json_object_set_new(o, "municipality", json_null());
    json_object_set_new(o, "type", json_string("juki"));
    ck_assert_int_eq(recjson_card_from(o, "P-0009", "rows[0].card.", &c, &err), 0);
    ck_assert_str_eq(c.person_id, "P-0009");
    ck_assert_int_eq(c.type, CARD_JUKI);
    ck_assert_str_eq(c.prefecture, "");
    ck_assert_str_eq(c.municipality, "");
    json_decref(o);
}
END_TEST

START_TEST(card_refusals)
{
    static const char *const required[] = {"id", "person_id", "type", "expiry"};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        card_refused(card_with(required[i], NULL), NULL, NULL, required[i], "required");
        card_refused(card_with(required[i], json_integer(7)), NULL, NULL, required[i],
                     "must be a string, not a number");
        card_refused(card_with(required[i], json_stringn("a\0", 2)), NULL, NULL, required[i],
                     "NUL");
    }
    card_refused(card_with("prefecture", json_integer(7)), NULL, NULL, "prefecture",
                 "must be a string");
    card_refused(card_with("municipality", json_false()), NULL, NULL, "municipality",
                 "must be a string");
    card_refused(card_with("state", json_string("active")), NULL, NULL, "state", "unknown field");
    /* person_id given: in the object it is unknown. */
    card_refused(good_card_json(), "P-0001", "rows[4].card.", "rows[4].card.person_id",
                 "rows[4].card.person_id: unknown field");
    card_refused(card_with("type", json_string("passport")), NULL, NULL, "type",
                 "\"passport\" is not mynumber or juki");
    card_refused(card_with("type", json_string("mynumbermynumbermynumber")), NULL, NULL, "type",
                 "is not mynumber or juki");
    card_refused(card_with("expiry", json_string("2034-02-29")), NULL, NULL, "expiry",
                 "not a calendar day");
    card_refused(card_with("expiry", json_string("2034-01-022")), NULL, NULL, "expiry",
                 "longer than 10 bytes");
    char *s = repeat('p', JPKI_PLACE_MAX + 1);
    card_refused(card_with("prefecture", json_string(s)), NULL, NULL, "prefecture",
                 "longer than 120 bytes");
    card_refused(card_with("municipality", json_string(s)), NULL, "c.", "c.municipality",
                 "c.municipality: longer than 120 bytes");
    free(s);
    card_refused(card_with("municipality", json_string("a\nb")), NULL, "rows[1].card.",
                 "rows[1].card.municipality", "rows[1].card.municipality: control character");
    card_refused(card_with("id", json_string("C 1")), NULL, "rows[1].card.", "rows[1].card.id",
                 "rows[1].card.id: ");
    /* A bad person_id given by the caller is named as the field. */
    card_refused(card_with("person_id", NULL), "P 1", "rows[1].card.", "rows[1].card.person_id",
                 "outside [A-Za-z0-9._-]");
    card_refused(load("[]"), NULL, "rows[1].card.", "rows[1].card",
                 "rows[1].card: must be an object, not an array");
}
END_TEST

START_TEST(which_parsing)
{
    struct {
        const char *json;
        int which;
    } good[] = {
        {"\"sign\"", ISSUE_SIGN},
        {"\"auth\"", ISSUE_AUTH},
        {"\"both\"", ISSUE_BOTH},
        {"[\"sign\"]", ISSUE_SIGN},
        {"[\"auth\"]", ISSUE_AUTH},
        {"[\"sign\", \"auth\"]", ISSUE_BOTH},
        {"[\"auth\", \"sign\"]", ISSUE_BOTH},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct jerr err;
        int which = -1;
        jerr_clear(&err);
        json_t *v = load(good[i].json);
        ck_assert_int_eq(recjson_which(v, "certificates", &which, &err), 0);
        ck_assert_int_eq(which, good[i].which);
        json_decref(v);
    }
    struct {
        const char *json;
        const char *part;
    } bad[] = {
        {"\"Sign\"", "must be sign, auth or both"},
        {"\"\"", "must be sign, auth or both"},
        {"\"signature\"", "must be sign, auth or both"},
        {"\"sign\\u0000\"", "must be sign, auth or both"},
        {"[]", "at least one"},
        {"[\"both\"]", "item 0 must be"},
        {"[\"sign\", \"sign\"]", "item 1 repeats \"sign\""},
        {"[\"auth\", 1]", "item 1 must be"},
        {"3", "not a number"},
        {"null", "not null"},
        {"{}", "not an object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct jerr err;
        int which = 77;
        jerr_clear(&err);
        json_t *v = load(bad[i].json);
        ck_assert_int_eq(recjson_which(v, "rows[5].certificates", &which, &err), -1);
        ASSERT_FIELD(err, JERR_INVALID, "rows[5].certificates");
        ASSERT_MSG_HAS(err, bad[i].part);
        ck_assert_int_eq(which, 77);
        json_decref(v);
    }
    struct jerr err;
    int which = 77;
    jerr_clear(&err);
    ck_assert_int_eq(recjson_which(NULL, "certificates", &which, &err), -1);
    ASSERT_FIELD(err, JERR_INVALID, "certificates");
    ASSERT_MSG_HAS(err, "certificates: required");
}
END_TEST

START_TEST(reason_parsing)
{
    struct {
        const char *name;
        int reason;
    } good[] = {
        {"unspecified", REASON_UNSPECIFIED},
        {"keyCompromise", REASON_KEY_COMPROMISE},
        {"affiliationChanged", REASON_AFFILIATION_CHANGED},
        {"superseded", REASON_SUPERSEDED},
        {"cessationOfOperation", REASON_CESSATION_OF_OPERATION},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct jerr err;
        int reason = -5;
        jerr_clear(&err);
        json_t *v = json_string(good[i].name);
        ck_assert_int_eq(recjson_reason(v, "reason", &reason, &err), 0);
        ck_assert_int_eq(reason, good[i].reason);
        json_decref(v);
    }
    json_t *bad[] = {json_string("certificateHold"),
                     json_string("removeFromCRL"),
                     json_string("keycompromise"),
                     json_string(""),
                     json_stringn("superseded\0", 11),
                     json_integer(1),
                     json_null()};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct jerr err;
        int reason = -5;
        jerr_clear(&err);
        ck_assert_int_eq(recjson_reason(bad[i], "reason", &reason, &err), -1);
        ASSERT_FIELD(err, JERR_INVALID, "reason");
        ck_assert_int_eq(reason, -5);
        json_decref(bad[i]);
    }
    struct jerr err;
    int reason = -5;
    jerr_clear(&err);
    json_t *v = json_string("certificateHold");
    ck_assert_int_eq(recjson_reason(v, "reason", &reason, &err), -1);
    ASSERT_MSG_HAS(err, "reason: \"certificateHold\" is not one of unspecified");
    json_decref(v);
    jerr_clear(&err);
    ck_assert_int_eq(recjson_reason(NULL, "reason", &reason, &err), -1);
    ASSERT_FIELD(err, JERR_INVALID, "reason");
    ASSERT_MSG_HAS(err, "required");
}
END_TEST

static void assert_dump(json_t *v, const char *want)
{
    ck_assert_ptr_nonnull(v);
    char *got = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENSURE_ASCII);
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got, want);
    free(got);
    json_decref(v);
}

START_TEST(writers)
{
    struct person p =
        testutil_person("P-0001", "山田 太郎", "東京都 \"1\"", "1990-01-02", GENDER_UNSTATED);
    p.deceased = true;
    assert_dump(recjson_person_to(&p),
                "{\"address\":\"\\u6771\\u4EAC\\u90FD \\\"1\\\"\",\"birth_date\":\"1990-01-02\","
                "\"deceased\":true,\"gender\":\"unstated\",\"id\":\"P-0001\","
                "\"name\":\"\\u5C71\\u7530 \\u592A\\u90CE\"}");

    struct card c = testutil_card("C-1", "P-0001", CARD_JUKI, "2030-12-31", CARD_SUSPENDED, "", "");
    assert_dump(recjson_card_to(&c),
                "{\"expiry\":\"2030-12-31\",\"id\":\"C-1\",\"municipality\":null,"
                "\"person_id\":\"P-0001\",\"prefecture\":null,\"state\":\"suspended\","
                "\"type\":\"juki\"}");
    strcpy(c.prefecture, "Tokyo");
    strcpy(c.municipality, "Chiyoda");
    c.type = CARD_MYNUMBER;
    c.state = CARD_RETURNED;
    assert_dump(recjson_card_to(&c),
                "{\"expiry\":\"2030-12-31\",\"id\":\"C-1\",\"municipality\":\"Chiyoda\","
                "\"person_id\":\"P-0001\",\"prefecture\":\"Tokyo\",\"state\":\"returned\","
                "\"type\":\"mynumber\"}");

    struct cert_rec r;
    memset(&r, 0, sizeof(r));
    strcpy(r.serial, "0A1B2C3D4E5F60718293A4B5C6D7E8F9");
    r.ca = CA_SIGN;
    strcpy(r.card_id, "C-1");
    strcpy(r.person_id, "P-0001");
    strcpy(r.subject_cn, "opaque");
    r.not_before = jclock_utc(2026, 1, 2, 3, 4, 5);
    r.not_after = jclock_utc(2030, 12, 31, 14, 59, 59);
    r.status = CERT_GOOD;
    r.reason = REASON_NONE;
    r.status_changed_at = 0;
    r.partition = 3;
    assert_dump(recjson_cert_to(&r),
                "{\"ca\":\"sign\",\"card_id\":\"C-1\",\"generation\":1,\"not_after\":\"2030-12-"
                "31T14:59:59Z\","
                "\"not_before\":\"2026-01-02T03:04:05Z\",\"partition\":3,\"person_id\":"
                "\"P-0001\",\"reason\":null,\"serial\":\"0A1B2C3D4E5F60718293A4B5C6D7E8F9\","
                "\"status\":\"good\",\"status_changed_at\":null}");
    r.ca = CA_AUTH;
    r.status = CERT_REVOKED;
    r.reason = REASON_KEY_COMPROMISE;
    r.status_changed_at = jclock_utc(2027, 6, 7, 8, 9, 10);
    r.partition = 0;
    assert_dump(recjson_cert_to(&r),
                "{\"ca\":\"auth\",\"card_id\":\"C-1\",\"generation\":1,\"not_after\":\"2030-12-"
                "31T14:59:59Z\","
                "\"not_before\":\"2026-01-02T03:04:05Z\",\"partition\":0,\"person_id\":"
                "\"P-0001\",\"reason\":\"keyCompromise\",\"serial\":"
                "\"0A1B2C3D4E5F60718293A4B5C6D7E8F9\",\"status\":\"revoked\","
                "\"status_changed_at\":\"2027-06-07T08:09:10Z\"}");
    r.status = CERT_HOLD;
    r.reason = REASON_CERTIFICATE_HOLD;
    json_t *held = recjson_cert_to(&r);
    ck_assert_str_eq(json_string_value(json_object_get(held, "status")), "hold");
    ck_assert_str_eq(json_string_value(json_object_get(held, "reason")), "certificateHold");
    json_decref(held);
}
END_TEST

/* A round trip: what the writer produces for a person, the reader takes back (minus the
 * deceased flag, which is not operator input). */
START_TEST(person_round_trip)
{
    struct person p, back;
    struct jerr err;
    jerr_clear(&err);
    json_t *o = good_person_json();
    ck_assert_int_eq(recjson_person_from(o, NULL, &p, &err), 0);
    json_decref(o);
    o = recjson_person_to(&p);
    json_object_del(o, "deceased");
    ck_assert_int_eq(recjson_person_from(o, NULL, &back, &err), 0);
    ck_assert_str_eq(back.id, p.id);
    ck_assert_str_eq(back.name, p.name);
    ck_assert_str_eq(back.address, p.address);
    ck_assert_str_eq(back.birth_date, p.birth_date);
    ck_assert_int_eq(back.gender, p.gender);
    ck_assert_int_eq(back.deceased, p.deceased);
    json_decref(o);
}
END_TEST

static void body_refused(const char *buf, size_t len, int code, const char *part)
{
    struct jerr err;
    jerr_clear(&err);
    ck_assert_ptr_null(recjson_parse_body(buf, len, &err));
    ASSERT_FIELD(err, code, "body");
    ASSERT_MSG_HAS(err, part);
}

START_TEST(body_parsing)
{
    struct jerr err;
    jerr_clear(&err);
    const char *ok = "  {\"reason\": \"superseded\", \"n\": [1, 2]}\n";
    json_t *v = recjson_parse_body(ok, strlen(ok), &err);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(err.code, JERR_NONE);
    ck_assert_str_eq(json_string_value(json_object_get(v, "reason")), "superseded");
    json_decref(v);
    /* Not NUL-terminated: only `len` bytes are read. */
    const char *part = "{}garbage";
    v = recjson_parse_body(part, 2, &err);
    ck_assert_ptr_nonnull(v);
    json_decref(v);

    body_refused("{\"a\": }", 7, JERR_INVALID, "line 1 column 7");
    body_refused("{\n\"a\": 1,\n\"b\" 2}", 16, JERR_INVALID, "invalid JSON at line 3");
    body_refused("{} {}", 5, JERR_INVALID, "end of file expected");
    body_refused("{}x", 3, JERR_INVALID, "invalid JSON");
    body_refused("[1, 2]", 6, JERR_INVALID, "body: must be a JSON object, not an array");
    body_refused("\"s\"", 3, JERR_INVALID, "invalid JSON");
    body_refused("{\"a\": 1, \"a\": 2}", 16, JERR_INVALID, "duplicate");
    body_refused("{\"a\": \"x\\u0000y\"}", 17, JERR_INVALID, "invalid JSON");
    body_refused("{\"a\": \"\xff\"}", 10, JERR_INVALID, "invalid JSON");
    body_refused("", 0, JERR_INVALID, "invalid JSON");
    body_refused(NULL, 0, JERR_INVALID, "invalid JSON");

    /* The cap: exactly at it parses, one byte more is too large. */
    size_t cap = JPKI_HTTP_MAX_API_BODY_BYTES;
    char *big = malloc(cap + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, ' ', cap + 1);
    memcpy(big, "{\"a\": 1}", 8);
    v = recjson_parse_body(big, cap, &err);
    ck_assert_ptr_nonnull(v);
    json_decref(v);
    body_refused(big, cap + 1, JERR_TOO_LARGE, "larger than 65536 bytes");
    free(big);
}
END_TEST

static Suite *recjson_suite(void)
{
    Suite *s = suite_create("recjson");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, person_good);
    tcase_add_test(tc, person_missing_fields);
    tcase_add_test(tc, person_wrong_types);
    tcase_add_test(tc, person_unknown_fields);
    tcase_add_test(tc, person_too_long);
    tcase_add_test(tc, person_bad_values);
    tcase_add_test(tc, person_prefix);
    tcase_add_test(tc, person_facts);
    tcase_add_test(tc, card_good);
    tcase_add_test(tc, card_refusals);
    tcase_add_test(tc, which_parsing);
    tcase_add_test(tc, reason_parsing);
    tcase_add_test(tc, writers);
    tcase_add_test(tc, person_round_trip);
    tcase_add_test(tc, body_parsing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(recjson_suite());
}
