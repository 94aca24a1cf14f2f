/*
 * recjson: JSON <-> registry records (see recjson.h).
 *
 * This file knows field names, JSON types and length caps; the meaning of a value (what an id,
 * a text, a date may be) belongs to model_check_* in ca/model.c, whose errors are re-labelled
 * here with the caller's prefix. Outside bytes reach a message only through jerr_escape.
 * Nothing here logs: the writers produce personal data.
 */
#include "ca/recjson.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ca/lifecycle.h"
#include "base/jclock.h"
#include "base/limits.h"

/* Shown length of an outside name or value in a message. */
#define RJ_SHOW_MAX 48

/* prefix + name into out (truncated to fit). */
static const char *rj_join(char *out, size_t size, const char *prefix, const char *name)
{
    snprintf(out, size, "%s%s", prefix != NULL ? prefix : "", name != NULL ? name : "");
    return out;
}

/* Sets err with field prefix + name and the message "<prefix><name>: <what>". */
static int rj_fail(struct jerr *err, int code, const char *prefix, const char *name,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int rj_fail(struct jerr *err, int code, const char *prefix, const char *name,
                   const char *fmt, ...)
{
    char field[sizeof(err->field)];
    char what[sizeof(err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    rj_join(field, sizeof(field), prefix, name);
    return jerr_set(err, code, field, "%s: %s", field, what);
}

/* Re-labels an error of model_check_* (field "name", message "name: ...") with the prefix. */
static int rj_relabel(struct jerr *err, const char *prefix, const struct jerr *local)
{
    char field[sizeof(err->field)];
    rj_join(field, sizeof(field), prefix, local->field);
    size_t flen = strlen(local->field);
    if (flen > 0 && strncmp(local->msg, local->field, flen) == 0 && local->msg[flen] == ':')
        return jerr_set(err, local->code, field, "%s%s", prefix != NULL ? prefix : "", local->msg);
    return jerr_set(err, local->code, field, "%s", local->msg);
}

/* The name of the object itself: the prefix without its trailing '.', or "body". */
static const char *rj_self(char *out, size_t size, const char *prefix)
{
    if (prefix == NULL || prefix[0] == '\0') {
        snprintf(out, size, "body");
        return out;
    }
    snprintf(out, size, "%s", prefix);
    size_t len = strlen(out);
    if (len > 0 && out[len - 1] == '.')
        out[len - 1] = '\0';
    return out;
}

static const char *rj_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

static int rj_require_object(const json_t *obj, const char *prefix, struct jerr *err)
{
    char self[sizeof(err->field)];
    if (obj == NULL || !json_is_object(obj)) {
        rj_self(self, sizeof(self), prefix);
        return jerr_set(err, JERR_INVALID, self, "%s: must be an object, not %s", self,
                        obj == NULL ? "missing" : rj_type_name(obj));
    }
    return 0;
}

int recjson_only_fields(const json_t *obj, const char *prefix, const char *const *allowed,
                        struct jerr *err)
{
    const char *key;
    size_t key_len;
    json_t *value;
    if (rj_require_object(obj, prefix, err) == -1)
        return -1;
    /* json_object_keylen_foreach does not modify the object; the macro wants a non-const. */
    json_object_keylen_foreach((json_t *)obj, key, key_len, value)
    {
        bool known = false;
        /* A key with a NUL inside ("name\0x") must not pass for a known one. */
        if (strlen(key) == key_len) {
            for (size_t i = 0; allowed[i] != NULL && !known; i++)
                known = strcmp(key, allowed[i]) == 0;
        }
        if (!known) {
            char shown[RJ_SHOW_MAX * 4 + 1];
            jerr_escape(shown, sizeof(shown), key, key_len < RJ_SHOW_MAX ? key_len : RJ_SHOW_MAX);
            return rj_fail(err, JERR_INVALID, prefix, shown, "unknown field");
        }
    }
    return 0;
}

int recjson_string(const json_t *obj, const char *prefix, const char *name, bool required,
                   char *out, size_t out_size, struct jerr *err)
{
    if (rj_require_object(obj, prefix, err) == -1)
        return -1;
    const json_t *v = json_object_get(obj, name);
    if (v == NULL || (!required && json_is_null(v))) {
        if (required)
            return rj_fail(err, JERR_INVALID, prefix, name, "required");
        if (out_size > 0)
            out[0] = '\0';
        return 0;
    }
    if (!json_is_string(v))
        return rj_fail(err, JERR_INVALID, prefix, name, "must be a string, not %s",
                       rj_type_name(v));
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    /* Jansson keeps \u0000 when a value was built with a length (or parsed with
     * JSON_ALLOW_NUL); a C string would silently end there. */
    if (memchr(s, '\0', len) != NULL)
        return rj_fail(err, JERR_INVALID, prefix, name, "must not contain a NUL character");
    if (out_size == 0 || len > out_size - 1)
        return rj_fail(err, JERR_INVALID, prefix, name, "longer than %zu bytes",
                       out_size > 0 ? out_size - 1 : 0);
    memcpy(out, s, len);
    out[len] = '\0';
    return 0;
}

/* Reads a vocabulary word (a required string of at most size - 1 bytes); a longer string is
 * reported as not one of `expected` rather than as too long. */
static int rj_word(const json_t *obj, const char *prefix, const char *name, char *out, size_t size,
                   const char *expected, struct jerr *err)
{
    char shown[RJ_SHOW_MAX];
    const json_t *v = json_object_get(obj, name);
    if (v != NULL && json_is_string(v) && json_string_length(v) >= size) {
        jerr_escape(shown, sizeof(shown), json_string_value(v), size);
        return rj_fail(err, JERR_INVALID, prefix, name, "\"%s...\" is not %s", shown, expected);
    }
    return recjson_string(obj, prefix, name, true, out, size, err);
}

/* Reads gender as one of its names ("male" | "female" | "unstated"); gender_parse also
 * takes the profile's digits, which are not part of the JSON vocabulary. */
static int rj_gender(const json_t *obj, const char *prefix, enum gender *g, struct jerr *err)
{
    static const char expected[] = "male, female or unstated";
    char s[16];
    char shown[RJ_SHOW_MAX];
    if (rj_word(obj, prefix, "gender", s, sizeof(s), expected, err) == -1)
        return -1;
    if (gender_parse(s, g) == -1 || strcmp(gender_name(*g), s) != 0) {
        jerr_escape(shown, sizeof(shown), s, strlen(s));
        return rj_fail(err, JERR_INVALID, prefix, "gender", "\"%s\" is not %s", shown, expected);
    }
    return 0;
}

/* The four facts, shared by recjson_person_from and recjson_person_facts_from. */
static int rj_facts(const json_t *obj, const char *prefix, struct person *p, struct jerr *err)
{
    if (recjson_string(obj, prefix, "name", true, p->name, sizeof(p->name), err) == -1 ||
        recjson_string(obj, prefix, "address", true, p->address, sizeof(p->address), err) == -1 ||
        recjson_string(obj, prefix, "birth_date", true, p->birth_date, sizeof(p->birth_date),
                       err) == -1)
        return -1;
    return rj_gender(obj, prefix, &p->gender, err);
}

static int rj_check_person(const struct person *p, const char *prefix, struct jerr *err)
{
    struct jerr local;
    jerr_clear(&local);
    if (model_check_person(p, &local) == -1)
        return rj_relabel(err, prefix, &local);
    return 0;
}

int recjson_person_from(const json_t *obj, const char *prefix, struct person *out, struct jerr *err)
{
    static const char *const fields[] = {"id", "name", "address", "birth_date", "gender", NULL};
    struct person p;
    memset(&p, 0, sizeof(p));
    if (recjson_only_fields(obj, prefix, fields, err) == -1 ||
        recjson_string(obj, prefix, "id", true, p.id, sizeof(p.id), err) == -1 ||
        rj_facts(obj, prefix, &p, err) == -1 || rj_check_person(&p, prefix, err) == -1)
        return -1;
    *out = p;
    return 0;
}

int recjson_person_facts_from(const json_t *obj, const char *id, const char *prefix,
                              struct person *out, struct jerr *err)
{
    static const char *const fields[] = {"name", "address", "birth_date", "gender", NULL};
    struct person p;
    memset(&p, 0, sizeof(p));
    if (recjson_only_fields(obj, prefix, fields, err) == -1)
        return -1;
    if (id == NULL || strlen(id) > JPKI_ID_MAX) {
        char shown[RJ_SHOW_MAX * 4 + 1];
        jerr_escape(shown, sizeof(shown), id != NULL ? id : "",
                    id != NULL ? strnlen(id, RJ_SHOW_MAX) : 0);
        return rj_fail(err, JERR_INVALID, prefix, "id", "\"%s\" is not an id", shown);
    }
    snprintf(p.id, sizeof(p.id), "%s", id);
    if (rj_facts(obj, prefix, &p, err) == -1 || rj_check_person(&p, prefix, err) == -1)
        return -1;
    *out = p;
    return 0;
}

int recjson_card_from(const json_t *obj, const char *person_id, const char *prefix,
                      struct card *out, struct jerr *err)
{
    static const char *const with_person[] = {"id",         "person_id",    "type", "expiry",
                                              "prefecture", "municipality", NULL};
    static const char *const without_person[] = {"id",         "type",         "expiry",
                                                 "prefecture", "municipality", NULL};
    struct card c;
    char type[16];
    char shown[RJ_SHOW_MAX];
    memset(&c, 0, sizeof(c));
    c.state = CARD_ACTIVE;

    if (recjson_only_fields(obj, prefix, person_id == NULL ? with_person : without_person, err) ==
            -1 ||
        recjson_string(obj, prefix, "id", true, c.id, sizeof(c.id), err) == -1)
        return -1;
    if (person_id == NULL) {
        if (recjson_string(obj, prefix, "person_id", true, c.person_id, sizeof(c.person_id), err) ==
            -1)
            return -1;
    } else if (strlen(person_id) > JPKI_ID_MAX) {
        return rj_fail(err, JERR_INVALID, prefix, "person_id", "longer than %d bytes", JPKI_ID_MAX);
    } else {
        snprintf(c.person_id, sizeof(c.person_id), "%s", person_id);
    }

    if (rj_word(obj, prefix, "type", type, sizeof(type), "mynumber or juki", err) == -1)
        return -1;
    if (card_type_parse(type, &c.type) == -1) {
        jerr_escape(shown, sizeof(shown), type, strlen(type));
        return rj_fail(err, JERR_INVALID, prefix, "type", "\"%s\" is not mynumber or juki", shown);
    }
    if (recjson_string(obj, prefix, "expiry", true, c.expiry, sizeof(c.expiry), err) == -1 ||
        recjson_string(obj, prefix, "prefecture", false, c.prefecture, sizeof(c.prefecture), err) ==
            -1 ||
        recjson_string(obj, prefix, "municipality", false, c.municipality, sizeof(c.municipality),
                       err) == -1)
        return -1;

    struct jerr local;
    jerr_clear(&local);
    if (model_check_card(&c, &local) == -1)
        return rj_relabel(err, prefix, &local);
    *out = c;
    return 0;
}

/* "sign" / "auth" → ISSUE_SIGN / ISSUE_AUTH; 0 when neither. */
static int rj_which_one(const json_t *v)
{
    if (!json_is_string(v))
        return 0;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len == 4 && memcmp(s, "sign", 4) == 0)
        return ISSUE_SIGN;
    if (len == 4 && memcmp(s, "auth", 4) == 0)
        return ISSUE_AUTH;
    return 0;
}

int recjson_which(const json_t *v, const char *field, int *which, struct jerr *err)
{
    if (v == NULL)
        return rj_fail(err, JERR_INVALID, NULL, field, "required");
    if (json_is_string(v)) {
        int one = rj_which_one(v);
        if (one == 0 && json_string_length(v) == 4 && memcmp(json_string_value(v), "both", 4) == 0)
            one = ISSUE_BOTH;
        if (one == 0)
            return rj_fail(err, JERR_INVALID, NULL, field, "must be sign, auth or both");
        *which = one;
        return 0;
    }
    if (json_is_array(v)) {
        int acc = 0;
        size_t i;
        json_t *item;
        if (json_array_size(v) == 0)
            return rj_fail(err, JERR_INVALID, NULL, field, "must name at least one certificate");
        json_array_foreach(v, i, item)
        {
            int one = rj_which_one(item);
            if (one == 0)
                return rj_fail(err, JERR_INVALID, NULL, field,
                               "item %zu must be \"sign\" or \"auth\"", i);
            if ((acc & one) != 0)
                return rj_fail(err, JERR_INVALID, NULL, field, "item %zu repeats \"%s\"", i,
                               one == ISSUE_SIGN ? "sign" : "auth");
            acc |= one;
        }
        *which = acc;
        return 0;
    }
    return rj_fail(err, JERR_INVALID, NULL, field,
                   "must be sign, auth, both or a list of sign/auth, not %s", rj_type_name(v));
}

int recjson_reason(const json_t *v, const char *field, int *reason, struct jerr *err)
{
    char shown[RJ_SHOW_MAX];
    int r;
    if (v == NULL)
        return rj_fail(err, JERR_INVALID, NULL, field, "required");
    if (!json_is_string(v))
        return rj_fail(err, JERR_INVALID, NULL, field, "must be a string, not %s", rj_type_name(v));
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (memchr(s, '\0', len) != NULL || crl_reason_parse(s, &r) == -1) {
        jerr_escape(shown, sizeof(shown), s, len < 32 ? len : 32);
        return rj_fail(err, JERR_INVALID, NULL, field,
                       "\"%s\" is not one of unspecified, keyCompromise, affiliationChanged, "
                       "superseded, cessationOfOperation",
                       shown);
    }
    *reason = r;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Writers: operator responses (personal data, never logged).                                */

/* Sets obj[key] = v (taking v); returns -1 when v is NULL or setting fails. */
static int rj_set(json_t *obj, const char *key, json_t *v)
{
    if (v == NULL)
        return -1;
    return json_object_set_new(obj, key, v) == 0 ? 0 : -1;
}

static json_t *rj_time(int64_t t)
{
    char buf[32];
    return json_string(jclock_format((time_t)t, buf, sizeof(buf)));
}

json_t *recjson_person_to(const struct person *p)
{
    json_t *o = json_object();
    if (o == NULL || rj_set(o, "id", json_string(p->id)) == -1 ||
        rj_set(o, "name", json_string(p->name)) == -1 ||
        rj_set(o, "address", json_string(p->address)) == -1 ||
        rj_set(o, "birth_date", json_string(p->birth_date)) == -1 ||
        rj_set(o, "gender", json_string(gender_name(p->gender))) == -1 ||
        rj_set(o, "deceased", json_boolean(p->deceased)) == -1) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *recjson_card_to(const struct card *c)
{
    json_t *o = json_object();
    if (o == NULL || rj_set(o, "id", json_string(c->id)) == -1 ||
        rj_set(o, "person_id", json_string(c->person_id)) == -1 ||
        rj_set(o, "type", json_string(card_type_name(c->type))) == -1 ||
        rj_set(o, "expiry", json_string(c->expiry)) == -1 ||
        rj_set(o, "state", json_string(card_state_name(c->state))) == -1 ||
        rj_set(o, "prefecture",
               c->prefecture[0] != '\0' ? json_string(c->prefecture) : json_null()) == -1 ||
        rj_set(o, "municipality",
               c->municipality[0] != '\0' ? json_string(c->municipality) : json_null()) == -1) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *recjson_cert_to(const struct cert_rec *r)
{
    json_t *o = json_object();
    if (o == NULL || rj_set(o, "serial", json_string(r->serial)) == -1 ||
        rj_set(o, "ca", json_string(ca_kind_name(r->ca))) == -1 ||
        rj_set(o, "card_id", json_string(r->card_id)) == -1 ||
        rj_set(o, "person_id", json_string(r->person_id)) == -1 ||
        rj_set(o, "status", json_string(cert_status_name(r->status))) == -1 ||
        rj_set(o, "reason",
               r->reason == REASON_NONE ? json_null() : json_string(crl_reason_name(r->reason))) ==
            -1 ||
        rj_set(o, "not_before", rj_time(r->not_before)) == -1 ||
        rj_set(o, "not_after", rj_time(r->not_after)) == -1 ||
        rj_set(o, "status_changed_at",
               r->status_changed_at == 0 ? json_null() : rj_time(r->status_changed_at)) == -1 ||
        rj_set(o, "partition", json_integer(r->partition)) == -1 ||
        rj_set(o, "generation", json_integer(r->generation > 0 ? r->generation : 1)) == -1) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---------------------------------------------------------------------------------------- */

json_t *recjson_parse_body(const char *buf, size_t len, struct jerr *err)
{
    json_error_t jerror;
    char shown[JSON_ERROR_TEXT_LENGTH * 4 + 1];

    if (len > JPKI_HTTP_MAX_API_BODY_BYTES) {
        jerr_set(err, JERR_TOO_LARGE, "body", "body: larger than %d bytes",
                 JPKI_HTTP_MAX_API_BODY_BYTES);
        return NULL;
    }
    /* Not JSON_DISABLE_EOF_CHECK: anything after the value is refused. Not JSON_ALLOW_NUL:
     * \u0000 is refused. Not JSON_DECODE_ANY: the top level must be an array or object. */
    json_t *root = json_loadb(buf != NULL ? buf : "", len, JSON_REJECT_DUPLICATES, &jerror);
    if (root == NULL) {
        jerr_escape(shown, sizeof(shown), jerror.text, strnlen(jerror.text, sizeof(jerror.text)));
        jerr_set(err, JERR_INVALID, "body", "body: invalid JSON at line %d column %d: %s",
                 jerror.line, jerror.column, shown);
        return NULL;
    }
    if (!json_is_object(root)) {
        jerr_set(err, JERR_INVALID, "body", "body: must be a JSON object, not %s",
                 rj_type_name(root));
        json_decref(root);
        return NULL;
    }
    return root;
}

json_t *recjson_base64(const unsigned char *data, size_t len)
{
    if (len > (size_t)INT32_MAX / 2)
        return NULL;
    size_t cap = 4 * ((len + 2) / 3) + 1;
    unsigned char *text = malloc(cap);
    json_t *out = NULL;
    if (text != NULL) {
        int n = EVP_EncodeBlock(text, data, (int)len);
        if (n >= 0)
            out = json_stringn((const char *)text, (size_t)n);
        OPENSSL_cleanse(text, cap); /* a card image: encrypted, but no copy left about */
    }
    free(text);
    return out;
}
