/*
 * recjson: the one place where JSON (Jansson) maps to and from registry records. The operator
 * API and the batch parser (ca/batch.h) both read persons, cards, "which certificates" and
 * revocation reasons through these functions, so a field is named, typed and capped the same
 * way whichever door it came in by.
 *
 * Readers are strict: an input object carries exactly the fields listed (an unknown field is
 * refused, not ignored), strings only where strings are meant, no NUL characters, lengths
 * within base/limits.h; then the record passes model_check_* (ca/model.h), which owns the
 * rules of ids, texts and dates. A reader fills its output only on success.
 *
 * Field names in errors: every reader takes `prefix` (NULL or "" for none), prepended to the
 * field it names in err->field and to the message, e.g. prefix "rows[3].person." gives
 * err->field "rows[3].person.birth_date". An object that is not an object at all is named by
 * the prefix without its trailing '.' ("body" when the prefix is empty).
 *
 * Writers (recjson_*_to) build the JSON of operator responses. They carry personal data (name,
 * address, birth date, gender): they are for authenticated operator answers only and must
 * NEVER be written to a log.
 */
#ifndef JPKI_CA_RECJSON_H
#define JPKI_CA_RECJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "ca/model.h"
#include "base/jerr.h"

/* A person: exactly the fields id, name, address, birth_date ("YYYY-MM-DD"), gender ("male" |
 * "female" | "unstated"). deceased is false. Returns 0, or -1 with err (JERR_INVALID) naming
 * prefix + the field at fault. */
int recjson_person_from(const json_t *obj, const char *prefix, struct person *out,
                        struct jerr *err);

/* The four basic facts of a basic-info change: exactly name, address, birth_date, gender; the
 * id comes from elsewhere (the URL) and is checked like the rest (field prefix + "id"). */
int recjson_person_facts_from(const json_t *obj, const char *id, const char *prefix,
                              struct person *out, struct jerr *err);

/* A card: exactly id, person_id (only when `person_id` is NULL; otherwise `person_id` is used
 * and the field is refused as unknown), type ("mynumber" | "juki"), expiry ("YYYY-MM-DD"),
 * and the optional prefecture and municipality (absent or null = empty). state is active. */
int recjson_card_from(const json_t *obj, const char *person_id, const char *prefix,
                      struct card *out, struct jerr *err);

/* Which certificates: "sign" | "auth" | "both", or an array of distinct "sign"/"auth" (not
 * empty) → ISSUE_SIGN / ISSUE_AUTH / ISSUE_BOTH (ca/lifecycle.h). `field` is the full field
 * name for errors. */
int recjson_which(const json_t *v, const char *field, int *which, struct jerr *err);

/* A revocation reason an operator may give (crl_reason_parse, ca/model.h): "unspecified",
 * "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation". */
int recjson_reason(const json_t *v, const char *field, int *reason, struct jerr *err);

/* Copies the string `name` of `obj` into out (out_size bytes, so at most out_size - 1 bytes of
 * text): refuses a non-string, a NUL character and a longer text, naming prefix + name. A
 * missing member (or null, when !required) gives "" when !required and an error otherwise.
 * The building block of the readers above, for callers with records of their own. */
int recjson_string(const json_t *obj, const char *prefix, const char *name, bool required,
                   char *out, size_t out_size, struct jerr *err);

/* Refuses (JERR_INVALID, field prefix + key) any member of `obj` whose name is not in the
 * NULL-terminated list `allowed`. */
int recjson_only_fields(const json_t *obj, const char *prefix, const char *const *allowed,
                        struct jerr *err);

/* Operator responses (PERSONAL DATA: never log). Each returns a new reference, or NULL when
 * out of memory.
 * person: {id, name, address, birth_date, gender, deceased}
 * card:   {id, person_id, type, expiry, state, prefecture, municipality} (empty place = null)
 * cert:   {serial, ca, card_id, person_id, status, reason (RFC 5280 name or null when good),
 *          not_before, not_after, status_changed_at (RFC 3339 UTC "YYYY-MM-DDTHH:MM:SSZ";
 *          status_changed_at null when never changed), partition} */
json_t *recjson_person_to(const struct person *p);
json_t *recjson_card_to(const struct card *c);
json_t *recjson_cert_to(const struct cert_rec *r);

/* Parses an API request body: at most JPKI_HTTP_MAX_API_BODY_BYTES (else JERR_TOO_LARGE), one
 * JSON object and nothing after it, no duplicate keys, no \u0000. Returns a new reference, or
 * NULL with err (field "body"; syntax errors say line and column). */
json_t *recjson_parse_body(const char *buf, size_t len, struct jerr *err);

/* Base64 (RFC 4648 §4, no line breaks; EVP_EncodeBlock) as a JSON string; NULL when out of
 * memory. The encoded copy is wiped before it is freed (it may be a card image). Used by the
 * operator API's answers and by jpkictl's requests alike. */
json_t *recjson_base64(const unsigned char *data, size_t len);

#endif
