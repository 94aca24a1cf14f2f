/*
 * test_model: vocabularies and field validation of ca/model.c — every refusal with its exact
 * code and field, the UTF-8 edge cases, calendar days, and the JPKI era codes at each boundary.
 */
#include <string.h>

#include "ca/model.h"
#include "base/jclock.h"
#include "testinst.h"

/* Asserts a refusal: -1, the code and the field. */
#define ASSERT_REFUSED(call, err, want_code, want_field)                                           \
    do {                                                                                           \
        jerr_clear(&(err));                                                                        \
        ck_assert_int_eq((call), -1);                                                              \
        ck_assert_int_eq((err).code, (want_code));                                                 \
        ck_assert_str_eq((err).field, (want_field));                                               \
    } while (0)

#define ASSERT_OK(call, err)                                                                       \
    do {                                                                                           \
        jerr_clear(&(err));                                                                        \
        ck_assert_int_eq((call), 0);                                                               \
        ck_assert_int_eq((err).code, JERR_NONE);                                                   \
    } while (0)

static void fill(char *buf, char c, size_t n)
{
    memset(buf, c, n);
    buf[n] = '\0';
}

static struct person good_person(void)
{
    return testutil_person("P-0001", "山田 太郎", "東京都千代田区霞が関2-1-2", "1990-01-02",
                           GENDER_MALE);
}

static struct card good_card(void)
{
    return testutil_card("C-0001", "P-0001", CARD_MYNUMBER, "2034-01-02", CARD_ACTIVE, "東京都",
                         "千代田区");
}

START_TEST(vocabulary)
{
    static const struct {
        const char *name;
        enum gender gender;
    } genders[] = {{"male", GENDER_MALE},
                   {"2", GENDER_FEMALE},
                   {"unstated", GENDER_UNSTATED},
                   {"3", GENDER_UNSTATED}};
    enum gender g;
    for (size_t i = 0; i < sizeof(genders) / sizeof(genders[0]); i++) {
        ck_assert_int_eq(gender_parse(genders[i].name, &g), 0);
        ck_assert_int_eq(g, genders[i].gender);
    }
    g = GENDER_MALE;
    static const char *const not_genders[] = {"4", "Male", "", NULL};
    for (size_t i = 0; i < sizeof(not_genders) / sizeof(not_genders[0]); i++)
        ck_assert_int_eq(gender_parse(not_genders[i], &g), -1);
    ck_assert_int_eq(g, GENDER_MALE); /* left as it was */
    ck_assert_str_eq(gender_name(GENDER_FEMALE), "female");
    ck_assert_str_eq(gender_name(GENDER_UNSTATED), "unstated");

    enum card_type t;
    ck_assert_int_eq(card_type_parse("juki", &t), 0);
    ck_assert_int_eq(t, CARD_JUKI);
    ck_assert_int_eq(card_type_parse("mynumber", &t), 0);
    ck_assert_int_eq(t, CARD_MYNUMBER);
    ck_assert_int_eq(card_type_parse("MyNumber", &t), -1);
    ck_assert_str_eq(card_type_name(CARD_JUKI), "juki");
    ck_assert_str_eq(card_state_name(CARD_SUSPENDED), "suspended");
    ck_assert_str_eq(card_state_name(CARD_RETURNED), "returned");
    ck_assert_str_eq(cert_status_name(CERT_HOLD), "hold");
    ck_assert_str_eq(cert_status_name(CERT_REVOKED), "revoked");

    static const struct {
        const char *name;
        int reason;
    } ok[] = {{"unspecified", 0},
              {"keyCompromise", 1},
              {"affiliationChanged", 3},
              {"superseded", 4},
              {"cessationOfOperation", 5}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int r = -7;
        ck_assert_int_eq(crl_reason_parse(ok[i].name, &r), 0);
        ck_assert_int_eq(r, ok[i].reason);
        ck_assert_str_eq(crl_reason_name(ok[i].reason), ok[i].name);
    }
    static const char *const refused[] = {"certificateHold",
                                          "cACompromise",
                                          "removeFromCRL",
                                          "aACompromise",
                                          "privilegeWithdrawn",
                                          "KEYCOMPROMISE",
                                          "",
                                          "6"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        int r = -7;
        ck_assert_int_eq(crl_reason_parse(refused[i], &r), -1);
        ck_assert_int_eq(r, -7);
    }
    ck_assert_int_eq(crl_reason_parse(NULL, &(int){0}), -1);
    ck_assert_str_eq(crl_reason_name(REASON_CERTIFICATE_HOLD), "certificateHold");
    ck_assert_str_eq(crl_reason_name(2), "cACompromise");
    ck_assert_str_eq(crl_reason_name(REASON_NONE), "none");
    ck_assert_str_eq(crl_reason_name(7), "?");
    ck_assert_str_eq(crl_reason_name(11), "?");
}
END_TEST

START_TEST(ids)
{
    struct jerr err;
    char id[JPKI_ID_MAX + 2];

    ASSERT_OK(model_check_id("id", "a", &err), err);
    ASSERT_OK(model_check_id("id", "Az09._-", &err), err);
    fill(id, 'x', JPKI_ID_MAX);
    ASSERT_OK(model_check_id("id", id, &err), err);
    fill(id, 'x', JPKI_ID_MAX + 1);
    ASSERT_REFUSED(model_check_id("id", id, &err), err, JERR_INVALID, "id");

    ASSERT_REFUSED(model_check_id("id", "", &err), err, JERR_INVALID, "id");
    ASSERT_REFUSED(model_check_id("person_id", NULL, &err), err, JERR_INVALID, "person_id");
    static const char *const bad[] = {"a b", "a/b",  "a:b",   "a\nb", "a+b",
                                      "é",   "山田", "a\x7f", "a@b",  "~x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ASSERT_REFUSED(model_check_id("card_id", bad[i], &err), err, JERR_INVALID, "card_id");
    /* The message escapes what came from outside. */
    ASSERT_REFUSED(model_check_id("id", "a\nb", &err), err, JERR_INVALID, "id");
    ck_assert_ptr_null(strchr(err.msg, '\n'));
    ck_assert_ptr_nonnull(strstr(err.msg, "a\\x0ab"));
}
END_TEST

START_TEST(text_utf8)
{
    struct jerr err;

    static const char *const good[] = {
        "Yamada Taro",
        "山田 太郎",
        "東京都千代田区霞が関２丁目１番２号",
        "\xC2\xA0",         /* U+00A0, first after C1 */
        "\xDF\xBF",         /* U+07FF */
        "\xE0\xA0\x80",     /* U+0800, smallest 3-byte */
        "\xED\x9F\xBF",     /* U+D7FF, just below the surrogates */
        "\xEE\x80\x80",     /* U+E000, just above */
        "\xEF\xBF\xBD",     /* U+FFFD */
        "\xF0\x90\x80\x80", /* U+10000, smallest 4-byte */
        "\xF0\xA0\xAE\x9F", /* U+20B9F 𠮟, a real name kanji outside the BMP */
        "\xF4\x8F\xBF\xBF", /* U+10FFFF, the last code point */
        "~",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ASSERT_OK(model_check_text("name", good[i], 100, &err), err);

    static const char *const bad[] = {
        "\xC0\x80",         /* overlong NUL */
        "\xC1\xBF",         /* overlong 0x7F */
        "\xE0\x80\x80",     /* overlong 3-byte */
        "\xE0\x9F\xBF",     /* overlong U+07FF */
        "\xF0\x80\x80\x80", /* overlong 4-byte */
        "\xF0\x8F\xBF\xBF", /* overlong U+FFFF */
        "\xED\xA0\x80",     /* U+D800 surrogate */
        "\xED\xBF\xBF",     /* U+DFFF surrogate */
        "\xF4\x90\x80\x80", /* U+110000 */
        "\xF5\x80\x80\x80", /* lead byte beyond U+10FFFF */
        "\xFE",             /* never valid */
        "\xFF",             /* never valid */
        "\x80",             /* lone continuation */
        "a\xBF",            /* stray continuation */
        "\xE5\xB1",         /* truncated 3-byte */
        "\xE5\xB1\x71",     /* bad continuation */
        "\xF0\xA0\xAE",     /* truncated 4-byte */
        "\x01",             /* C0 */
        "a\tb",             /* TAB is a control */
        "a\nb",             /* LF */
        "a\rb",             /* CR */
        "\x1F",             /* last C0 */
        "\x7F",             /* DEL */
        "\xC2\x80",         /* U+0080, first C1 */
        "\xC2\x85",         /* U+0085 NEL */
        "\xC2\x9F",         /* U+009F, last C1 */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ASSERT_REFUSED(model_check_text("address", bad[i], 100, &err), err, JERR_INVALID,
                       "address");

    ASSERT_REFUSED(model_check_text("name", "", 100, &err), err, JERR_INVALID, "name");
    ASSERT_REFUSED(model_check_text("name", NULL, 100, &err), err, JERR_INVALID, "name");

    /* Length is in bytes: three 3-byte kanji are 9 bytes. */
    ASSERT_OK(model_check_text("name", "山田太", 9, &err), err);
    ASSERT_REFUSED(model_check_text("name", "山田太", 8, &err), err, JERR_INVALID, "name");
    char big[JPKI_NAME_MAX + 2];
    fill(big, 'a', JPKI_NAME_MAX);
    ASSERT_OK(model_check_text("name", big, JPKI_NAME_MAX, &err), err);
    fill(big, 'a', JPKI_NAME_MAX + 1);
    ASSERT_REFUSED(model_check_text("name", big, JPKI_NAME_MAX, &err), err, JERR_INVALID, "name");
}
END_TEST

START_TEST(dates)
{
    struct jerr err;
    static const char *const good[] = {"2024-02-29", "2000-02-29", "2023-02-28",
                                       "1999-12-31", "2024-04-30", "1868-01-25"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ASSERT_OK(model_check_date("expiry", good[i], &err), err);
    static const char *const bad[] = {
        "2023-02-29", "1900-02-29", "2024-04-31", "2024-13-01", "2024-00-10",
        "2024-01-00", "2024-1-01",  "24-01-01",   "2024/01/01", "2024-01-01T00:00:00Z",
        "",           "0000-01-01", "abcd-ef-gh", "2024-01-32"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ASSERT_REFUSED(model_check_date("birth_date", bad[i], &err), err, JERR_INVALID,
                       "birth_date");
    ASSERT_REFUSED(model_check_date("expiry", NULL, &err), err, JERR_INVALID, "expiry");
}
END_TEST

START_TEST(era_codes)
{
    struct jerr err;
    static const struct {
        const char *date;
        const char *jpki;
    } cases[] = {
        {"1868-01-25", "118680125"},                              /* first day of Meiji */
        {"1912-07-29", "119120729"},                              /* last day of Meiji */
        {"1912-07-30", "219120730"},                              /* Taisho */
        {"1926-12-24", "219261224"}, {"1926-12-25", "319261225"}, /* Showa */
        {"1989-01-07", "319890107"}, {"1989-01-08", "419890108"}, /* Heisei */
        {"1990-01-02", "419900102"},                              /* jpki-profile.md's example */
        {"2019-04-30", "420190430"}, {"2019-05-01", "520190501"}, /* Reiwa */
        {"2024-02-29", "520240229"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[10];
        memset(out, 'x', sizeof(out));
        ASSERT_OK(model_jpki_birth_date(cases[i].date, out, &err), err);
        ck_assert_str_eq(out, cases[i].jpki);
    }
    char out[10] = "untouched";
    ASSERT_REFUSED(model_jpki_birth_date("1868-01-24", out, &err), err, JERR_INVALID, "birth_date");
    ck_assert_str_eq(out, "untouched");
    ASSERT_REFUSED(model_jpki_birth_date("1800-01-01", out, &err), err, JERR_INVALID, "birth_date");
    ASSERT_REFUSED(model_jpki_birth_date("1990-02-30", out, &err), err, JERR_INVALID, "birth_date");
    ASSERT_REFUSED(model_jpki_birth_date(NULL, out, &err), err, JERR_INVALID, "birth_date");
    ck_assert_str_eq(out, "untouched");
}
END_TEST

START_TEST(person)
{
    struct jerr err;
    struct person p;

    /* 2024-06-01 15:30 UTC is 2024-06-02 00:30 in Japan. */
    jclock_set(jclock_utc(2024, 6, 1, 15, 30, 0));

    p = good_person();
    ASSERT_OK(model_check_person(&p, &err), err);
    p.gender = GENDER_FEMALE;
    ASSERT_OK(model_check_person(&p, &err), err);
    p.gender = GENDER_UNSTATED;
    ASSERT_OK(model_check_person(&p, &err), err);

    /* Born today in Japan (already 2 June there) is fine; tomorrow is in the future. */
    p = good_person();
    strcpy(p.birth_date, "2024-06-02");
    ASSERT_OK(model_check_person(&p, &err), err);
    strcpy(p.birth_date, "2024-06-03");
    ASSERT_REFUSED(model_check_person(&p, &err), err, JERR_INVALID, "birth_date");
    ck_assert_ptr_nonnull(strstr(err.msg, "future"));
    strcpy(p.birth_date, "2099-01-01");
    ASSERT_REFUSED(model_check_person(&p, &err), err, JERR_INVALID, "birth_date");
    /* Meiji starts 1868-01-25. */
    strcpy(p.birth_date, "1868-01-25");
    ASSERT_OK(model_check_person(&p, &err), err);
    strcpy(p.birth_date, "1868-01-24");
    ASSERT_REFUSED(model_check_person(&p, &err), err, JERR_INVALID, "birth_date");
    ck_assert_ptr_nonnull(strstr(err.msg, "Meiji"));
    strcpy(p.birth_date, "2023-02-29");
    ASSERT_REFUSED(model_check_person(&p, &err), err, JERR_INVALID, "birth_date");
    strcpy(p.birth_date, "");
    ASSERT_REFUSED(model_check_person(&p, &err), err, JERR_INVALID, "birth_date");

    p = good_person();
    strcpy(p.id, "bad id");
    ASSERT_REFUSED(model_check_person(&p, &err), err, JERR_INVALID, "id");
    p = good_person();
    p.id[0] = '\0';
    ASSERT_REFUSED(model_check_person(&p, &err), err, JERR_INVALID, "id");

    p = good_person();
    p.name[0] = '\0';
    ASSERT_REFUSED(model_check_person(&p, &err), err, JERR_INVALID, "name");
    strcpy(p.name, "山田\x01太郎");
    ASSERT_REFUSED(model_check_person(&p, &err), err, JERR_INVALID, "name");
    strcpy(p.name, "\xED\xA0\x80");
    ASSERT_REFUSED(model_check_person(&p, &err), err, JERR_INVALID, "name");
    fill(p.name, 'n', JPKI_NAME_MAX);
    ASSERT_OK(model_check_person(&p, &err), err);

    p = good_person();
    p.address[0] = '\0';
    ASSERT_REFUSED(model_check_person(&p, &err), err, JERR_INVALID, "address");
    strcpy(p.address, "東京都\xC2\x85");
    ASSERT_REFUSED(model_check_person(&p, &err), err, JERR_INVALID, "address");
    fill(p.address, 'a', JPKI_ADDRESS_MAX);
    ASSERT_OK(model_check_person(&p, &err), err);

    p = good_person();
    p.gender = (enum gender)0;
    ASSERT_REFUSED(model_check_person(&p, &err), err, JERR_INVALID, "gender");
    p.gender = (enum gender)4;
    ASSERT_REFUSED(model_check_person(&p, &err), err, JERR_INVALID, "gender");

    /* An unterminated fixed field is a caller bug, not outside input. */
    p = good_person();
    memset(p.name, 'x', sizeof(p.name));
    ASSERT_REFUSED(model_check_person(&p, &err), err, JERR_INTERNAL, "person");
    jclock_set(0);
}
END_TEST

START_TEST(card)
{
    struct jerr err;
    struct card c;

    c = good_card();
    ASSERT_OK(model_check_card(&c, &err), err);
    c.type = CARD_JUKI;
    c.state = CARD_RETURNED;
    ASSERT_OK(model_check_card(&c, &err), err);
    /* The place names are optional. */
    c = good_card();
    c.prefecture[0] = '\0';
    c.municipality[0] = '\0';
    ASSERT_OK(model_check_card(&c, &err), err);

    c = good_card();
    strcpy(c.id, "card#1");
    ASSERT_REFUSED(model_check_card(&c, &err), err, JERR_INVALID, "id");
    c = good_card();
    c.person_id[0] = '\0';
    ASSERT_REFUSED(model_check_card(&c, &err), err, JERR_INVALID, "person_id");
    c = good_card();
    c.type = (enum card_type)2;
    ASSERT_REFUSED(model_check_card(&c, &err), err, JERR_INVALID, "type");
    c = good_card();
    strcpy(c.expiry, "2023-02-29");
    ASSERT_REFUSED(model_check_card(&c, &err), err, JERR_INVALID, "expiry");
    c = good_card();
    c.expiry[0] = '\0';
    ASSERT_REFUSED(model_check_card(&c, &err), err, JERR_INVALID, "expiry");
    c = good_card();
    c.state = (enum card_state)3;
    ASSERT_REFUSED(model_check_card(&c, &err), err, JERR_INVALID, "state");
    c = good_card();
    fill(c.prefecture, 'p', JPKI_PLACE_MAX);
    ASSERT_OK(model_check_card(&c, &err), err);
    strcpy(c.prefecture, "東京\x7f");
    ASSERT_REFUSED(model_check_card(&c, &err), err, JERR_INVALID, "prefecture");
    c = good_card();
    strcpy(c.municipality, "\xC0\xAF");
    ASSERT_REFUSED(model_check_card(&c, &err), err, JERR_INVALID, "municipality");
}
END_TEST

static Suite *model_suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_add_test(tc, vocabulary);
    tcase_add_test(tc, ids);
    tcase_add_test(tc, text_utf8);
    tcase_add_test(tc, dates);
    tcase_add_test(tc, era_codes);
    tcase_add_test(tc, person);
    tcase_add_test(tc, card);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(model_suite());
}
