/*
 * fuzz_api_json: an operator API request body (DESIGN §6) through the readers of ca/recjson.h:
 * recjson_parse_body, then, on the object, every reader a handler may call — person, card
 * (person id from the body and from the URL), basic facts, and "which certificates" and the
 * revocation reason on every member. A record read successfully must pass model_check_* and
 * survive the trip through its writer and back. Seeds: bodies of each endpoint in docs/API.md,
 * valid and refused.
 */
#include <string.h>

#include "ca/lifecycle.h"
#include "ca/model.h"
#include "ca/recjson.h"
#include "fuzz.h"

/* A refusal says why; the output stays as it was. (The field is not checked for being
 * non-empty: a member named "" is refused as unknown with field "" — prefix + key.) */
static void check_refusal(const struct jerr *err, const void *out, const void *before, size_t size)
{
    FUZZ_CHECK(err->code == JERR_INVALID);
    FUZZ_CHECK(memchr(err->msg, '\0', sizeof(err->msg)) != NULL && err->msg[0] != '\0');
    FUZZ_CHECK(memcmp(out, before, size) == 0);
}

static void person_round_trip(const struct person *p)
{
    struct person again;
    struct jerr err = {0};
    json_t *obj = recjson_person_to(p);
    FUZZ_CHECK(obj != NULL);
    /* The reader refuses what the writer adds for answers only. */
    FUZZ_CHECK(json_object_del(obj, "deceased") == 0);
    FUZZ_CHECK(recjson_person_from(obj, "", &again, &err) == 0);
    FUZZ_CHECK(memcmp(&again, p, sizeof(again)) == 0);
    json_decref(obj);
}

static void card_round_trip(const struct card *c)
{
    struct card again;
    struct jerr err = {0};
    json_t *obj = recjson_card_to(c);
    FUZZ_CHECK(obj != NULL);
    FUZZ_CHECK(json_object_del(obj, "state") == 0);
    FUZZ_CHECK(recjson_card_from(obj, NULL, "", &again, &err) == 0);
    FUZZ_CHECK(memcmp(&again, c, sizeof(again)) == 0);
    json_decref(obj);
}

static void read_person(const json_t *obj)
{
    struct person p, before;
    struct jerr err = {0};
    memset(&p, 0x5A, sizeof(p));
    memcpy(&before, &p, sizeof(p));
    if (recjson_person_from(obj, "", &p, &err) == -1) {
        check_refusal(&err, &p, &before, sizeof(p));
        return;
    }
    FUZZ_CHECK(!p.deceased);
    FUZZ_CHECK(model_check_person(&p, &err) == 0);
    person_round_trip(&p);
}

static void read_facts(const json_t *obj)
{
    struct person p, before;
    struct jerr err = {0};
    memset(&p, 0x5A, sizeof(p));
    memcpy(&before, &p, sizeof(p));
    if (recjson_person_facts_from(obj, "P-0001", "person.", &p, &err) == -1) {
        check_refusal(&err, &p, &before, sizeof(p));
        FUZZ_CHECK(strncmp(err.field, "person.", 7) == 0);
        return;
    }
    FUZZ_CHECK(strcmp(p.id, "P-0001") == 0);
    FUZZ_CHECK(model_check_person(&p, &err) == 0);
}

static void read_card(const json_t *obj, const char *person_id)
{
    struct card c, before;
    struct jerr err = {0};
    memset(&c, 0x5A, sizeof(c));
    memcpy(&before, &c, sizeof(c));
    if (recjson_card_from(obj, person_id, "", &c, &err) == -1) {
        check_refusal(&err, &c, &before, sizeof(c));
        return;
    }
    FUZZ_CHECK(c.state == CARD_ACTIVE);
    FUZZ_CHECK(person_id == NULL || strcmp(c.person_id, person_id) == 0);
    FUZZ_CHECK(model_check_card(&c, &err) == 0);
    card_round_trip(&c);
}

/* "which" and "reason" on every member, whatever its name: each value type gets tried. */
static void read_members(const json_t *obj)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        struct jerr err = {0};
        int which = -7, reason = -7;
        if (recjson_which(v, key, &which, &err) == 0)
            FUZZ_CHECK(which == ISSUE_SIGN || which == ISSUE_AUTH || which == ISSUE_BOTH);
        else
            FUZZ_CHECK(err.code == JERR_INVALID && which == -7);
        jerr_clear(&err);
        if (recjson_reason(v, key, &reason, &err) == 0)
            /* Only the reasons an operator may give; never certificateHold (its own event). */
            FUZZ_CHECK(reason == REASON_UNSPECIFIED || reason == REASON_KEY_COMPROMISE ||
                       reason == REASON_AFFILIATION_CHANGED || reason == REASON_SUPERSEDED ||
                       reason == REASON_CESSATION_OF_OPERATION);
        else
            FUZZ_CHECK(err.code == JERR_INVALID && reason == -7);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jerr err = {0};
    json_t *body = recjson_parse_body((const char *)data, size, &err);
    if (body == NULL) {
        FUZZ_CHECK(err.code == JERR_INVALID || err.code == JERR_TOO_LARGE);
        FUZZ_CHECK(strcmp(err.field, "body") == 0);
        return 0;
    }
    FUZZ_CHECK(json_is_object(body));
    read_person(body);
    read_facts(body);
    read_card(body, NULL);
    read_card(body, "P-0001");
    read_members(body);
    /* A missing member is "required", not a crash. */
    struct jerr missing = {0};
    int which = 0;
    FUZZ_CHECK(recjson_which(json_object_get(body, "\x01"), "x", &which, &missing) == -1);
    json_decref(body);
    return 0;
}
