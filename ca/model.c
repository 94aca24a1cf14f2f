/*
 * model: the vocabularies of the registry records and the validation every outside value
 * passes before it reaches a rule or the registry (see model.h).
 *
 * Pure: no I/O, no allocation. The only outside state read is jclock_now() (a birth date may
 * not lie in the future). Outside bytes never reach an error message raw: they go through
 * jerr_escape.
 */
#include "ca/model.h"

#include <stdio.h>
#include <string.h>

#include "base/jclock.h"

/* The first day of the Meiji era in the Gregorian calendar: the earliest birth date the
 * JPKI era encoding can express (jpki-profile.md). */
#define MODEL_MEIJI_START "1868-01-25"

/* Era boundaries by Gregorian day (first day of each era), latest first. */
static const struct {
    const char *first_day;
    char code;
} model_eras[] = {
    {"2019-05-01", '5'}, /* Reiwa */
    {"1989-01-08", '4'}, /* Heisei */
    {"1926-12-25", '3'}, /* Showa */
    {"1912-07-30", '2'}, /* Taisho */
    {MODEL_MEIJI_START, '1'},
};

const char *gender_name(enum gender g)
{
    switch (g) {
    case GENDER_MALE:
        return "male";
    case GENDER_FEMALE:
        return "female";
    case GENDER_UNSTATED:
        return "unstated";
    }
    return "?";
}

int gender_parse(const char *s, enum gender *g)
{
    if (s == NULL)
        return -1;
    if (strcmp(s, "male") == 0 || strcmp(s, "1") == 0)
        *g = GENDER_MALE;
    else if (strcmp(s, "female") == 0 || strcmp(s, "2") == 0)
        *g = GENDER_FEMALE;
    else if (strcmp(s, "unstated") == 0 || strcmp(s, "3") == 0)
        *g = GENDER_UNSTATED;
    else
        return -1;
    return 0;
}

const char *card_type_name(enum card_type t)
{
    switch (t) {
    case CARD_MYNUMBER:
        return "mynumber";
    case CARD_JUKI:
        return "juki";
    }
    return "?";
}

int card_type_parse(const char *s, enum card_type *t)
{
    if (s == NULL)
        return -1;
    if (strcmp(s, "mynumber") == 0)
        *t = CARD_MYNUMBER;
    else if (strcmp(s, "juki") == 0)
        *t = CARD_JUKI;
    else
        return -1;
    return 0;
}

const char *card_state_name(enum card_state s)
{
    switch (s) {
    case CARD_ACTIVE:
        return "active";
    case CARD_SUSPENDED:
        return "suspended";
    case CARD_RETURNED:
        return "returned";
    }
    return "?";
}

const char *cert_status_name(enum cert_status s)
{
    switch (s) {
    case CERT_GOOD:
        return "good";
    case CERT_HOLD:
        return "hold";
    case CERT_REVOKED:
        return "revoked";
    }
    return "?";
}

/* RFC 5280 §5.3.1 CRLReason names, indexed by value (7 is not used). */
static const char *const model_reason_names[] = {
    "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
    "superseded",    "cessationOfOperation", "certificateHold", NULL,
    "removeFromCRL", "privilegeWithdrawn",   "aACompromise",
};

const char *crl_reason_name(int reason)
{
    if (reason == REASON_NONE)
        return "none";
    if (reason < 0 ||
        (size_t)reason >= sizeof(model_reason_names) / sizeof(model_reason_names[0]) ||
        model_reason_names[reason] == NULL)
        return "?";
    return model_reason_names[reason];
}

int crl_reason_parse(const char *s, int *reason)
{
    /* The reasons an operator may give (DESIGN §4 "revoke"): certificateHold is an event of
     * its own (hold), the others do not apply to end-entity certificates of this scheme. */
    static const int operator_reasons[] = {REASON_UNSPECIFIED, REASON_KEY_COMPROMISE,
                                           REASON_AFFILIATION_CHANGED, REASON_SUPERSEDED,
                                           REASON_CESSATION_OF_OPERATION};
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(operator_reasons) / sizeof(operator_reasons[0]); i++) {
        if (strcmp(s, model_reason_names[operator_reasons[i]]) == 0) {
            *reason = operator_reasons[i];
            return 0;
        }
    }
    return -1;
}

/* Escaped copy of an outside value for a message (bounded, printable ASCII only). */
static const char *model_escaped(char *buf, size_t size, const char *value, size_t len)
{
    jerr_escape(buf, size, value, len);
    return buf;
}

int model_check_id(const char *field, const char *value, struct jerr *err)
{
    char shown[96];
    if (value == NULL || value[0] == '\0')
        return jerr_set(err, JERR_INVALID, field, "%s: must not be empty", field);
    size_t len = strnlen(value, JPKI_ID_MAX + 1);
    if (len > JPKI_ID_MAX)
        return jerr_set(err, JERR_INVALID, field, "%s: longer than %d characters", field,
                        JPKI_ID_MAX);
    for (size_t i = 0; i < len; i++) {
        char c = value[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return jerr_set(err, JERR_INVALID, field,
                            "%s: \"%s\" has a character outside [A-Za-z0-9._-] at position %zu",
                            field, model_escaped(shown, sizeof(shown), value, len), i + 1);
    }
    return 0;
}

/*
 * Decodes one UTF-8 sequence at s[0..len) (RFC 3629 §4 syntax: no overlong forms, no
 * surrogates, nothing above U+10FFFF). Returns its length and sets *cp, or 0 when invalid.
 */
static size_t model_utf8_decode(const unsigned char *s, size_t len, unsigned long *cp)
{
    unsigned char b0 = s[0];
    size_t n;
    unsigned long min, v;
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    } else if (b0 >= 0xc2 && b0 <= 0xdf) { /* 0xc0, 0xc1 only start overlong forms */
        n = 2;
        min = 0x80;
        v = b0 & 0x1f;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
        n = 3;
        min = 0x800;
        v = b0 & 0x0f;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        n = 4;
        min = 0x10000;
        v = b0 & 0x07;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

int model_check_text(const char *field, const char *value, size_t max, struct jerr *err)
{
    if (value == NULL || value[0] == '\0')
        return jerr_set(err, JERR_INVALID, field, "%s: must not be empty", field);
    size_t len = strnlen(value, max + 1);
    if (len > max)
        return jerr_set(err, JERR_INVALID, field, "%s: longer than %zu bytes", field, max);
    const unsigned char *s = (const unsigned char *)value;
    for (size_t i = 0; i < len;) {
        unsigned long cp;
        size_t n = model_utf8_decode(s + i, len - i, &cp);
        if (n == 0)
            return jerr_set(err, JERR_INVALID, field, "%s: not valid UTF-8 at byte %zu", field,
                            i + 1);
        /* C0 controls, DEL and C1 controls have no place in a name, an address or a place. */
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
            return jerr_set(err, JERR_INVALID, field, "%s: control character U+%04lX at byte %zu",
                            field, cp, i + 1);
        i += n;
    }
    return 0;
}

int model_check_date(const char *field, const char *value, struct jerr *err)
{
    char shown[64];
    int y, m, d;
    if (value == NULL || jclock_parse_date(value, &y, &m, &d) == -1)
        return jerr_set(
            err, JERR_INVALID, field, "%s: \"%s\" is not a calendar day YYYY-MM-DD", field,
            value == NULL ? "" : model_escaped(shown, sizeof(shown), value, strnlen(value, 16)));
    return 0;
}

/* Is the fixed-size field NUL-terminated within its array? */
#define MODEL_TERMINATED(arr) (memchr((arr), '\0', sizeof(arr)) != NULL)

int model_check_person(const struct person *p, struct jerr *err)
{
    if (p == NULL)
        return jerr_set(err, JERR_INTERNAL, "person", "no person");
    if (!MODEL_TERMINATED(p->id) || !MODEL_TERMINATED(p->name) || !MODEL_TERMINATED(p->address) ||
        !MODEL_TERMINATED(p->birth_date))
        return jerr_set(err, JERR_INTERNAL, "person", "person record not terminated");
    if (model_check_id("id", p->id, err) == -1 ||
        model_check_text("name", p->name, JPKI_NAME_MAX, err) == -1 ||
        model_check_text("address", p->address, JPKI_ADDRESS_MAX, err) == -1 ||
        model_check_date("birth_date", p->birth_date, err) == -1)
        return -1;

    /* The register is Japanese: "today" is today's date in Japan (UTC+9). The dates are
     * YYYY-MM-DD, so byte order is calendar order. */
    char today[16];
    time_t now_jst = jclock_now() + 9 * 3600;
    struct tm tm;
    if (gmtime_r(&now_jst, &tm) == NULL || strftime(today, sizeof(today), "%Y-%m-%d", &tm) == 0)
        return jerr_set(err, JERR_INTERNAL, "birth_date", "cannot format today's date");
    if (strcmp(p->birth_date, today) > 0)
        return jerr_set(err, JERR_INVALID, "birth_date", "birth_date: %s is in the future",
                        p->birth_date);
    if (strcmp(p->birth_date, MODEL_MEIJI_START) < 0)
        return jerr_set(err, JERR_INVALID, "birth_date",
                        "birth_date: %s is before the Meiji era (%s), which the JPKI birth "
                        "date encoding cannot express",
                        p->birth_date, MODEL_MEIJI_START);
    if (p->gender != GENDER_MALE && p->gender != GENDER_FEMALE && p->gender != GENDER_UNSTATED)
        return jerr_set(err, JERR_INVALID, "gender", "gender: %d is not 1, 2 or 3", (int)p->gender);
    return 0;
}

int model_check_card(const struct card *c, struct jerr *err)
{
    if (c == NULL)
        return jerr_set(err, JERR_INTERNAL, "card", "no card");
    if (!MODEL_TERMINATED(c->id) || !MODEL_TERMINATED(c->person_id) ||
        !MODEL_TERMINATED(c->expiry) || !MODEL_TERMINATED(c->prefecture) ||
        !MODEL_TERMINATED(c->municipality))
        return jerr_set(err, JERR_INTERNAL, "card", "card record not terminated");
    if (model_check_id("id", c->id, err) == -1 ||
        model_check_id("person_id", c->person_id, err) == -1)
        return -1;
    if (c->type != CARD_MYNUMBER && c->type != CARD_JUKI)
        return jerr_set(err, JERR_INVALID, "type", "type: %d is not mynumber or juki",
                        (int)c->type);
    if (model_check_date("expiry", c->expiry, err) == -1)
        return -1;
    if (c->state != CARD_ACTIVE && c->state != CARD_SUSPENDED && c->state != CARD_RETURNED)
        return jerr_set(err, JERR_INVALID, "state", "state: %d is not a card state", (int)c->state);
    /* The window's place names are optional (empty leaves the subject L= out, DESIGN §3). */
    if (c->prefecture[0] != '\0' &&
        model_check_text("prefecture", c->prefecture, JPKI_PLACE_MAX, err) == -1)
        return -1;
    if (c->municipality[0] != '\0' &&
        model_check_text("municipality", c->municipality, JPKI_PLACE_MAX, err) == -1)
        return -1;
    return 0;
}

int model_jpki_birth_date(const char *birth_date, char out[10], struct jerr *err)
{
    if (model_check_date("birth_date", birth_date, err) == -1)
        return -1;
    for (size_t i = 0; i < sizeof(model_eras) / sizeof(model_eras[0]); i++) {
        if (strcmp(birth_date, model_eras[i].first_day) >= 0) {
            /* jpki-profile.md: era digit, then the Gregorian date as YYYYMMDD. */
            out[0] = model_eras[i].code;
            memcpy(out + 1, birth_date, 4);
            memcpy(out + 5, birth_date + 5, 2);
            memcpy(out + 7, birth_date + 8, 2);
            out[9] = '\0';
            return 0;
        }
    }
    return jerr_set(err, JERR_INVALID, "birth_date",
                    "birth_date: %s is before the Meiji era (%s), which the JPKI birth date "
                    "encoding cannot express",
                    birth_date, MODEL_MEIJI_START);
}
