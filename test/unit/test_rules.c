/*
 * test_rules: the lifecycle table of DESIGN §4 (ca/rules.c) — each event's effect on each kind
 * of certificate, and each refusal with its exact code, field and words.
 */
#include <string.h>

#include "ca/rules.h"
#include "ca/validity.h"
#include "base/jclock.h"
#include "testinst.h"

static struct rules_policy policy(void)
{
    struct rules_policy pol = {.juki_issuance_end = validity_card_end("2015-12-31")};
    return pol;
}

static struct person alive(void)
{
    return testutil_person("P1", "山田 花子", "大阪府大阪市北区1-1", "1985-04-01", GENDER_FEMALE);
}

static struct card active_card(enum card_type type, const char *expiry)
{
    struct card c;
    memset(&c, 0, sizeof(c));
    strcpy(c.id, "C1");
    strcpy(c.person_id, "P1");
    c.type = type;
    strcpy(c.expiry, expiry);
    c.state = CARD_ACTIVE;
    return c;
}

static struct cert_rec cert(enum ca_kind ca, enum cert_status status, int reason)
{
    struct cert_rec c;
    memset(&c, 0, sizeof(c));
    strcpy(c.serial, ca == CA_SIGN ? "1A2B" : "3C4D");
    c.ca = ca;
    strcpy(c.card_id, "C1");
    strcpy(c.person_id, "P1");
    c.status = status;
    c.reason = reason;
    return c;
}

static void issue_ok(const struct person *p, const struct card *c, time_t now)
{
    struct rules_policy pol = policy();
    struct jerr err;
    for (int ca = CA_SIGN; ca <= CA_AUTH; ca++) {
        jerr_clear(&err);
        ck_assert_int_eq(rules_check_issue(&pol, p, c, (enum ca_kind)ca, now, &err), 0);
        ck_assert_int_eq(err.code, JERR_NONE);
    }
}

/* Refused for both CAs with the same code, field and words. */
static void issue_refused(const struct person *p, const struct card *c, time_t now, int want_code,
                          const char *want_field, const char *const *words)
{
    struct rules_policy pol = policy();
    struct jerr err;
    for (int ca = CA_SIGN; ca <= CA_AUTH; ca++) {
        jerr_clear(&err);
        ck_assert_int_eq(rules_check_issue(&pol, p, c, (enum ca_kind)ca, now, &err), -1);
        ck_assert_int_eq(err.code, want_code);
        ck_assert_str_eq(err.field, want_field);
        for (size_t i = 0; words[i] != NULL; i++)
            ck_assert_msg(strstr(err.msg, words[i]) != NULL, "\"%s\" not in \"%s\"", words[i],
                          err.msg);
    }
}

START_TEST(issue_allowed)
{
    struct person p = alive();
    struct card c = active_card(CARD_MYNUMBER, "2034-04-01");
    issue_ok(&p, &c, jclock_utc(2025, 6, 1, 0, 0, 0));
    /* The card's expiry day, one second before its end (23:59:58 JST). */
    c = active_card(CARD_MYNUMBER, "2025-06-01");
    issue_ok(&p, &c, jclock_utc(2025, 6, 1, 14, 59, 58));
}
END_TEST

START_TEST(issue_juki)
{
    struct person p = alive();
    struct card c = active_card(CARD_JUKI, "2024-03-31");
    /* Before the end of Juki issuance, and at its very last second (23:59:59 JST), allowed. */
    issue_ok(&p, &c, jclock_utc(2015, 6, 1, 0, 0, 0));
    issue_ok(&p, &c, jclock_utc(2015, 12, 31, 14, 59, 59));
    /* One second later: refused, naming the date. */
    const char *const words[] = {"Juki", "ended on 2015-12-31", NULL};
    issue_refused(&p, &c, jclock_utc(2015, 12, 31, 15, 0, 0), JERR_REFUSED, "card", words);
    issue_refused(&p, &c, jclock_utc(2020, 1, 1, 0, 0, 0), JERR_REFUSED, "card", words);
    /* A My Number card at the same moment is fine. */
    c.type = CARD_MYNUMBER;
    issue_ok(&p, &c, jclock_utc(2020, 1, 1, 0, 0, 0));
}
END_TEST

START_TEST(issue_suspended_returned)
{
    time_t now = jclock_utc(2025, 6, 1, 0, 0, 0);
    struct person p = alive();
    struct card c = active_card(CARD_MYNUMBER, "2034-04-01");
    c.state = CARD_SUSPENDED;
    const char *const suspended[] = {"C1", "suspended", NULL};
    issue_refused(&p, &c, now, JERR_REFUSED, "card", suspended);
    c.state = CARD_RETURNED;
    const char *const returned[] = {"C1", "returned", NULL};
    issue_refused(&p, &c, now, JERR_REFUSED, "card", returned);
}
END_TEST

START_TEST(issue_expired_card)
{
    struct person p = alive();
    struct card c = active_card(CARD_MYNUMBER, "2024-12-31");
    /* 2025-01-01 00:00Z is 09:00 JST on 1 January: the card ended at 23:59:59 JST the day
     * before. */
    const char *const words[] = {"C1", "expired on 2024-12-31", NULL};
    issue_refused(&p, &c, jclock_utc(2025, 1, 1, 0, 0, 0), JERR_REFUSED, "card", words);
    issue_refused(&p, &c, jclock_utc(2024, 12, 31, 14, 59, 59), JERR_REFUSED, "card", words);
    issue_ok(&p, &c, jclock_utc(2024, 12, 31, 14, 59, 58));
    /* A corrupt expiry is not a refusal but invalid data. */
    strcpy(c.expiry, "2024-02-30");
    const char *const none[] = {NULL};
    issue_refused(&p, &c, jclock_utc(2024, 1, 1, 0, 0, 0), JERR_INVALID, "expiry", none);
}
END_TEST

START_TEST(issue_deceased)
{
    struct person p = alive();
    p.deceased = true;
    struct card c = active_card(CARD_MYNUMBER, "2034-04-01");
    const char *const words[] = {"P1", "deceased", NULL};
    issue_refused(&p, &c, jclock_utc(2025, 6, 1, 0, 0, 0), JERR_REFUSED, "person", words);
}
END_TEST

START_TEST(issue_refusals_distinct)
{
    /* Each rule speaks for itself: the five refusals carry five different messages. */
    struct rules_policy pol = policy();
    time_t now = jclock_utc(2025, 6, 1, 0, 0, 0);
    struct person p = alive(), dead = alive();
    dead.deceased = true;
    struct card cards[4];
    cards[0] = active_card(CARD_JUKI, "2034-04-01");
    cards[1] = active_card(CARD_MYNUMBER, "2034-04-01");
    cards[1].state = CARD_SUSPENDED;
    cards[2] = active_card(CARD_MYNUMBER, "2034-04-01");
    cards[2].state = CARD_RETURNED;
    cards[3] = active_card(CARD_MYNUMBER, "2025-05-31");
    struct jerr errs[5];
    for (int i = 0; i < 4; i++) {
        jerr_clear(&errs[i]);
        ck_assert_int_eq(rules_check_issue(&pol, &p, &cards[i], CA_SIGN, now, &errs[i]), -1);
    }
    struct card ok = active_card(CARD_MYNUMBER, "2034-04-01");
    jerr_clear(&errs[4]);
    ck_assert_int_eq(rules_check_issue(&pol, &dead, &ok, CA_AUTH, now, &errs[4]), -1);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(errs[i].code, JERR_REFUSED);
        for (int j = i + 1; j < 5; j++)
            ck_assert_str_ne(errs[i].msg, errs[j].msg);
    }
}
END_TEST

START_TEST(issue_bad_input)
{
    struct rules_policy pol = policy();
    struct person p = alive();
    struct card c = active_card(CARD_MYNUMBER, "2034-04-01");
    struct jerr err;
    time_t now = jclock_utc(2025, 6, 1, 0, 0, 0);

    jerr_clear(&err);
    ck_assert_int_eq(rules_check_issue(&pol, &p, &c, (enum ca_kind)2, now, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "ca");
    /* A card of someone else is a caller bug. */
    strcpy(c.person_id, "P2");
    jerr_clear(&err);
    ck_assert_int_eq(rules_check_issue(&pol, &p, &c, CA_SIGN, now, &err), -1);
    ck_assert_int_eq(err.code, JERR_INTERNAL);
}
END_TEST

/* Expectation for one decision: changed or not, and if so the new status and reason. */
struct decision {
    enum ca_kind ca;
    enum cert_status from;
    int from_reason;
    bool changes;
    enum cert_status to;
    int to_reason;
};

typedef bool (*decide_fn)(const struct cert_rec *, enum cert_status *, int *);

static void check_decisions(decide_fn fn, const struct decision *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct cert_rec c = cert(d[i].ca, d[i].from, d[i].from_reason);
        enum cert_status status = (enum cert_status)99;
        int reason = 99;
        bool changed = fn(&c, &status, &reason);
        ck_assert_msg(changed == d[i].changes, "row %zu: changed=%d", i, changed);
        if (d[i].changes) {
            ck_assert_int_eq(status, d[i].to);
            ck_assert_int_eq(reason, d[i].to_reason);
        } else {
            /* Nothing written when nothing changes. */
            ck_assert_int_eq(status, 99);
            ck_assert_int_eq(reason, 99);
        }
    }
}

START_TEST(supersede)
{
    for (int issued = CA_SIGN; issued <= CA_AUTH; issued++) {
        enum ca_kind other = issued == CA_SIGN ? CA_AUTH : CA_SIGN;
        const struct {
            enum ca_kind ca;
            enum cert_status from;
            int from_reason;
            bool changes;
        } rows[] = {
            {(enum ca_kind)issued, CERT_GOOD, REASON_NONE, true},
            {(enum ca_kind)issued, CERT_HOLD, REASON_CERTIFICATE_HOLD, true},
            {(enum ca_kind)issued, CERT_REVOKED, REASON_KEY_COMPROMISE, false},
            {other, CERT_GOOD, REASON_NONE, false},
            {other, CERT_HOLD, REASON_CERTIFICATE_HOLD, false},
            {other, CERT_REVOKED, REASON_SUPERSEDED, false},
        };
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
            struct cert_rec c = cert(rows[i].ca, rows[i].from, rows[i].from_reason);
            enum cert_status status = (enum cert_status)99;
            int reason = 99;
            bool changed = rules_on_supersede(&c, (enum ca_kind)issued, &status, &reason);
            ck_assert_msg(changed == rows[i].changes, "issued %d row %zu", issued, i);
            ck_assert_int_eq(status, rows[i].changes ? CERT_REVOKED : 99);
            ck_assert_int_eq(reason, rows[i].changes ? REASON_SUPERSEDED : 99);
        }
    }
}
END_TEST

START_TEST(basic_info_change)
{
    static const struct decision d[] = {
        {CA_SIGN, CERT_GOOD, REASON_NONE, true, CERT_REVOKED, REASON_AFFILIATION_CHANGED},
        {CA_SIGN, CERT_HOLD, REASON_CERTIFICATE_HOLD, true, CERT_REVOKED,
         REASON_AFFILIATION_CHANGED},
        {CA_SIGN, CERT_REVOKED, REASON_KEY_COMPROMISE, false, 0, 0},
        {CA_AUTH, CERT_GOOD, REASON_NONE, false, 0, 0},
        {CA_AUTH, CERT_HOLD, REASON_CERTIFICATE_HOLD, false, 0, 0},
        {CA_AUTH, CERT_REVOKED, REASON_UNSPECIFIED, false, 0, 0},
    };
    check_decisions(rules_on_basic_info_change, d, sizeof(d) / sizeof(d[0]));
}
END_TEST

START_TEST(basic_info_changed)
{
    struct person a = alive(), b;
    b = a;
    ck_assert(!rules_basic_info_changed(&a, &b));
    /* Not one of the four facts. */
    b.deceased = true;
    strcpy(b.id, "P9");
    ck_assert(!rules_basic_info_changed(&a, &b));
    b = a;
    strcpy(b.name, "鈴木 花子"); /* marriage */
    ck_assert(rules_basic_info_changed(&a, &b));
    b = a;
    strcpy(b.address, "大阪府大阪市北区1-2"); /* a move */
    ck_assert(rules_basic_info_changed(&a, &b));
    b = a;
    strcpy(b.birth_date, "1985-04-02");
    ck_assert(rules_basic_info_changed(&a, &b));
    b = a;
    b.gender = GENDER_UNSTATED;
    ck_assert(rules_basic_info_changed(&a, &b));
}
END_TEST

START_TEST(hold)
{
    static const struct decision d[] = {
        {CA_SIGN, CERT_GOOD, REASON_NONE, true, CERT_HOLD, REASON_CERTIFICATE_HOLD},
        {CA_AUTH, CERT_GOOD, REASON_NONE, true, CERT_HOLD, REASON_CERTIFICATE_HOLD},
        {CA_SIGN, CERT_HOLD, REASON_CERTIFICATE_HOLD, false, 0, 0},
        {CA_AUTH, CERT_HOLD, REASON_CERTIFICATE_HOLD, false, 0, 0},
        {CA_SIGN, CERT_REVOKED, REASON_SUPERSEDED, false, 0, 0},
        {CA_AUTH, CERT_REVOKED, REASON_KEY_COMPROMISE, false, 0, 0},
    };
    check_decisions(rules_on_hold, d, sizeof(d) / sizeof(d[0]));
    ck_assert_int_eq(REASON_CERTIFICATE_HOLD, 6);
}
END_TEST

START_TEST(release)
{
    static const struct decision d[] = {
        {CA_AUTH, CERT_HOLD, REASON_CERTIFICATE_HOLD, true, CERT_GOOD, REASON_NONE},
        /* RULE guide 4(4): the signing certificate stays held. */
        {CA_SIGN, CERT_HOLD, REASON_CERTIFICATE_HOLD, false, 0, 0},
        {CA_AUTH, CERT_GOOD, REASON_NONE, false, 0, 0},
        {CA_SIGN, CERT_GOOD, REASON_NONE, false, 0, 0},
        {CA_AUTH, CERT_REVOKED, REASON_KEY_COMPROMISE, false, 0, 0},
        {CA_SIGN, CERT_REVOKED, REASON_AFFILIATION_CHANGED, false, 0, 0},
    };
    check_decisions(rules_on_release, d, sizeof(d) / sizeof(d[0]));
}
END_TEST

START_TEST(card_return_and_death)
{
    static const struct decision d[] = {
        {CA_SIGN, CERT_GOOD, REASON_NONE, true, CERT_REVOKED, REASON_CESSATION_OF_OPERATION},
        {CA_AUTH, CERT_GOOD, REASON_NONE, true, CERT_REVOKED, REASON_CESSATION_OF_OPERATION},
        {CA_SIGN, CERT_HOLD, REASON_CERTIFICATE_HOLD, true, CERT_REVOKED,
         REASON_CESSATION_OF_OPERATION},
        {CA_AUTH, CERT_HOLD, REASON_CERTIFICATE_HOLD, true, CERT_REVOKED,
         REASON_CESSATION_OF_OPERATION},
        {CA_SIGN, CERT_REVOKED, REASON_KEY_COMPROMISE, false, 0, 0},
        {CA_AUTH, CERT_REVOKED, REASON_SUPERSEDED, false, 0, 0},
    };
    check_decisions(rules_on_card_return, d, sizeof(d) / sizeof(d[0]));
    check_decisions(rules_on_death, d, sizeof(d) / sizeof(d[0]));
}
END_TEST

static void card_check(int (*fn)(const struct card *, struct jerr *), enum card_state state,
                       int want, const char *word)
{
    struct card c = active_card(CARD_MYNUMBER, "2034-04-01");
    struct jerr err;
    c.state = state;
    jerr_clear(&err);
    ck_assert_int_eq(fn(&c, &err), want);
    if (want == 0) {
        ck_assert_int_eq(err.code, JERR_NONE);
        return;
    }
    ck_assert_int_eq(err.code, JERR_REFUSED);
    ck_assert_str_eq(err.field, "card");
    ck_assert_msg(strstr(err.msg, word) != NULL, "\"%s\" not in \"%s\"", word, err.msg);
    ck_assert_ptr_nonnull(strstr(err.msg, "C1"));
}

START_TEST(card_checks)
{
    card_check(rules_check_hold, CARD_ACTIVE, 0, NULL);
    card_check(rules_check_hold, CARD_SUSPENDED, -1, "already on hold");
    card_check(rules_check_hold, CARD_RETURNED, -1, "returned");

    card_check(rules_check_release, CARD_SUSPENDED, 0, NULL);
    card_check(rules_check_release, CARD_ACTIVE, -1, "not on hold");
    card_check(rules_check_release, CARD_RETURNED, -1, "returned");

    card_check(rules_check_return, CARD_ACTIVE, 0, NULL);
    card_check(rules_check_return, CARD_SUSPENDED, 0, NULL);
    card_check(rules_check_return, CARD_RETURNED, -1, "already been returned");
}
END_TEST

START_TEST(revoke)
{
    struct jerr err;
    static const int allowed[] = {REASON_UNSPECIFIED, REASON_KEY_COMPROMISE,
                                  REASON_AFFILIATION_CHANGED, REASON_SUPERSEDED,
                                  REASON_CESSATION_OF_OPERATION};
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        for (int ca = CA_SIGN; ca <= CA_AUTH; ca++) {
            struct cert_rec good = cert((enum ca_kind)ca, CERT_GOOD, REASON_NONE);
            jerr_clear(&err);
            ck_assert_int_eq(rules_check_revoke(&good, allowed[i], &err), 0);
            /* Hold first, then revoke (guide): a held certificate may be revoked. */
            struct cert_rec held = cert((enum ca_kind)ca, CERT_HOLD, REASON_CERTIFICATE_HOLD);
            ck_assert_int_eq(rules_check_revoke(&held, allowed[i], &err), 0);
            ck_assert_int_eq(err.code, JERR_NONE);
        }
    }

    struct cert_rec revoked = cert(CA_SIGN, CERT_REVOKED, REASON_KEY_COMPROMISE);
    jerr_clear(&err);
    ck_assert_int_eq(rules_check_revoke(&revoked, REASON_UNSPECIFIED, &err), -1);
    ck_assert_int_eq(err.code, JERR_REFUSED);
    ck_assert_str_eq(err.field, "serial");
    ck_assert_ptr_nonnull(strstr(err.msg, "1A2B"));
    ck_assert_ptr_nonnull(strstr(err.msg, "already revoked"));

    static const int refused[] = {REASON_CERTIFICATE_HOLD, 2, 7, 8, 9, 10, REASON_NONE, 99};
    struct cert_rec good = cert(CA_AUTH, CERT_GOOD, REASON_NONE);
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        jerr_clear(&err);
        ck_assert_int_eq(rules_check_revoke(&good, refused[i], &err), -1);
        ck_assert_int_eq(err.code, JERR_INVALID);
        ck_assert_str_eq(err.field, "reason");
    }
}
END_TEST

/* ---- a card's registration, a new My Number card, a signing certificate alone ---- */

static void expiry_refused(const char *expiry, time_t now, const char *part)
{
    struct jerr err;
    jerr_clear(&err);
    ck_assert_int_eq(rules_check_card_expiry(expiry, now, &err), -1);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "expiry");
    ck_assert_msg(strstr(err.msg, part) != NULL, "'%s' not in '%s'", part, err.msg);
}

START_TEST(card_expiry)
{
    struct jerr err;
    /* 2026-11-25 21:00 JST (12:00 UTC). */
    time_t now = jclock_utc(2026, 11, 25, 12, 0, 0);
    jclock_set(now);
    jerr_clear(&err);
    ck_assert_int_eq(rules_check_card_expiry("2026-11-25", now, &err), 0); /* ends tonight */
    ck_assert_int_eq(rules_check_card_expiry("2037-11-25", now, &err), 0); /* 11 years */
    ck_assert_int_eq(rules_check_card_expiry("2031-05-05", now, &err), 0);
    expiry_refused("2026-11-24", now, "2026-11-24 is in the past");
    expiry_refused("2015-12-31", now, "in the past");
    expiry_refused("2037-11-26", now, "more than 11 years ahead (at most 2037-11-25)");
    expiry_refused("2099-01-01", now, "more than 11 years ahead");
    expiry_refused("2030-02-30", now, "not a day");
    expiry_refused(NULL, now, "not a day");
    /* The days are Japanese: at 15:00 UTC it is already 26 November in Japan. */
    time_t late = jclock_utc(2026, 11, 25, 15, 0, 0);
    expiry_refused("2026-11-25", late, "in the past");
    ck_assert_int_eq(rules_check_card_expiry("2037-11-26", late, &err), 0);
    jclock_set(0);
}
END_TEST

START_TEST(new_mynumber_card)
{
    int reason = REASON_NONE;
    struct card juki = active_card(CARD_JUKI, "2030-01-01");
    struct card old = active_card(CARD_MYNUMBER, "2030-01-01");
    ck_assert(rules_on_new_mynumber_card(&juki, &reason));
    ck_assert_int_eq(reason, REASON_CESSATION_OF_OPERATION); /* guide 3(1): returned */
    ck_assert(rules_on_new_mynumber_card(&old, &reason));
    ck_assert_int_eq(reason, REASON_SUPERSEDED); /* one active My Number card */
    old.state = CARD_SUSPENDED;
    ck_assert(rules_on_new_mynumber_card(&old, &reason));
    old.state = CARD_RETURNED;
    ck_assert(!rules_on_new_mynumber_card(&old, &reason));

    enum cert_status st;
    struct cert_rec good = cert(CA_AUTH, CERT_GOOD, REASON_NONE);
    struct cert_rec held = cert(CA_SIGN, CERT_HOLD, REASON_CERTIFICATE_HOLD);
    struct cert_rec gone = cert(CA_SIGN, CERT_REVOKED, REASON_KEY_COMPROMISE);
    ck_assert(rules_on_card_superseded(&good, &st, &reason));
    ck_assert_int_eq(st, CERT_REVOKED);
    ck_assert_int_eq(reason, REASON_SUPERSEDED);
    ck_assert(rules_on_card_superseded(&held, &st, &reason));
    ck_assert_int_eq(reason, REASON_SUPERSEDED);
    ck_assert(!rules_on_card_superseded(&gone, &st, &reason));
}
END_TEST

START_TEST(sign_alone_ends_with_auth)
{
    time_t now = jclock_utc(2027, 11, 25, 12, 0, 0);
    time_t five = validity_add_years(now, 5);
    time_t auth_end = jclock_utc(2031, 11, 25, 12, 0, 0);
    ck_assert_int_eq(rules_sign_alone_not_after(five, auth_end, now), auth_end);
    ck_assert_int_eq(rules_sign_alone_not_after(five, 0, now), five);        /* no auth cert */
    ck_assert_int_eq(rules_sign_alone_not_after(five, now, now), five);      /* auth ended */
    ck_assert_int_eq(rules_sign_alone_not_after(five, five + 9, now), five); /* ends later */
}
END_TEST

/* ---- RULE guide 4(7): passwords others can guess ---- */

static void guess_refused(const char *pw, const char *birth, const char *part)
{
    struct jerr err;
    jerr_clear(&err);
    ck_assert_msg(rules_check_password(pw, birth, "passwords.auth", &err) == -1, "%s accepted", pw);
    ck_assert_int_eq(err.code, JERR_INVALID);
    ck_assert_str_eq(err.field, "passwords.auth");
    ck_assert_msg(strstr(err.msg, part) != NULL, "'%s' not in '%s'", part, err.msg);
    ck_assert_msg(strstr(err.msg, "guide 4(7)") != NULL, "%s", err.msg);
    ck_assert_msg(strncmp(err.msg, "passwords.auth: ", 16) == 0, "%s", err.msg);
    ck_assert_msg(strstr(err.msg + 16, pw) == NULL || strlen(pw) < 4, "%s repeated", pw);
}

START_TEST(guessable_passwords)
{
    struct jerr err;
    /* The issue's case: 0401 for a holder born on 1 April. */
    guess_refused("0401", "1985-04-01", "birth date (MMDD)");
    guess_refused("0104", "1985-04-01", "birth date (DDMM)");
    guess_refused("1985", "1985-04-01", "birth date (YYYY)");
    guess_refused("850401", "1985-04-01", "birth date (YYMMDD)");
    guess_refused("19850401", "1985-04-01", "birth date (YYYYMMDD)");
    guess_refused("0102", "1990-01-02", "birth date (MMDD)");
    guess_refused("000229", "2000-02-29", "birth date (YYMMDD)");
    /* One repeated character. */
    static const char *const repeated[] = {"0000", "1111", "9999", "AAAAAA", "777777777"};
    for (size_t i = 0; i < sizeof(repeated) / sizeof(repeated[0]); i++)
        guess_refused(repeated[i], NULL, "one repeated character");
    /* Straight runs of any length from 4, either way. */
    static const char *const runs[] = {"1234",   "0123",   "6789",   "9876",
                                       "3210",   "123456", "987654", "0123456789",
                                       "ABCDEF", "FEDCBA", "abcd",   "UVWXYZ"};
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++)
        guess_refused(runs[i], "1985-04-01", "straight run");
    /* Not guesses by these rules. */
    static const char *const fine[] = {"0402",   "4010", "1986", "5831",   "1235",
                                       "2468",   "7890", "1243", "ABC123", "QWERTY7890",
                                       "123457", "0011", "9899"};
    for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
        jerr_clear(&err);
        ck_assert_msg(rules_check_password(fine[i], "1985-04-01", "f", &err) == 0, "%s: %s",
                      fine[i], err.msg);
    }
    /* Without a birth date only the date rule is skipped. */
    jerr_clear(&err);
    ck_assert_int_eq(rules_check_password("0401", NULL, "f", &err), 0);
    ck_assert_int_eq(rules_check_password("0401", "", "f", &err), 0);
    ck_assert_int_eq(rules_check_password("0401", "not a date", "f", &err), 0);
    guess_refused("4321", NULL, "straight run");
    /* The empty password is the card rule's to refuse. */
    ck_assert_int_eq(rules_check_password("", NULL, "f", &err), 0);
}
END_TEST

static Suite *rules_suite(void)
{
    Suite *s = suite_create("rules");
    TCase *tc = tcase_create("issue");
    tcase_add_test(tc, issue_allowed);
    tcase_add_test(tc, issue_juki);
    tcase_add_test(tc, issue_suspended_returned);
    tcase_add_test(tc, issue_expired_card);
    tcase_add_test(tc, issue_deceased);
    tcase_add_test(tc, issue_refusals_distinct);
    tcase_add_test(tc, issue_bad_input);
    suite_add_tcase(s, tc);
    tc = tcase_create("events");
    tcase_add_test(tc, supersede);
    tcase_add_test(tc, basic_info_change);
    tcase_add_test(tc, basic_info_changed);
    tcase_add_test(tc, hold);
    tcase_add_test(tc, release);
    tcase_add_test(tc, card_return_and_death);
    tcase_add_test(tc, card_checks);
    tcase_add_test(tc, revoke);
    suite_add_tcase(s, tc);
    tc = tcase_create("cards_and_passwords");
    tcase_add_test(tc, card_expiry);
    tcase_add_test(tc, new_mynumber_card);
    tcase_add_test(tc, sign_alone_ends_with_auth);
    tcase_add_test(tc, guessable_passwords);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(rules_suite());
}
