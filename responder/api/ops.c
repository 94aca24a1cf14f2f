/*
 * ops: see ops.h. Every run function has the same shape: read the path id and the body
 * (recjson), call one lifecycle event or store lookup, count what changed (metrics), build
 * the answer. The call's audit row is the frame's business (api.c): lifecycle events write it
 * inside their own transaction through api_lifecycle_ctx.
 */
#include "responder/api/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/lifecycle.h"
#include "ca/recjson.h"
#include "base/jclock.h"
#include "keystore/pubkey.h"
#include "responder/api/cardapi.h"
#include "responder/monitor/metrics.h"
#include "responder/api/receipt.h"

/* ---- small builders ---- */

/* A JSON array of items[0..count): item i is `one(items, i)`. NULL when out of memory. */
static json_t *array_json(const void *items, size_t count, json_t *(*one)(const void *, size_t))
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < count; i++) {
        if (json_array_append_new(a, one(items, i)) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *serial_at(const void *items, size_t i)
{
    return json_string(((const struct serial_list *)items)->items[i]);
}

static json_t *cert_at(const void *items, size_t i)
{
    return recjson_cert_to(&((const struct cert_list *)items)->items[i]);
}

static json_t *card_at(const void *items, size_t i)
{
    return recjson_card_to(&((const struct card_list *)items)->items[i]);
}

static json_t *card_id_at(const void *items, size_t i)
{
    return json_string(((const struct card_list *)items)->items[i].id);
}

static json_t *serials_json(const struct serial_list *l)
{
    return array_json(l, l->count, serial_at);
}

static json_t *certs_json(const struct cert_list *l)
{
    return array_json(l, l->count, cert_at);
}

/* {"…certificate", "pem"} of a stored certificate. */
static int cert_with_pem(struct store *st, const struct cert_rec *rec, json_t **out,
                         struct jerr *err)
{
    unsigned char *der = NULL;
    size_t der_len = 0;
    json_t *o = NULL;
    int rc = -1;

    if (store_cert_get_der(st, rec->serial, &der, &der_len, err) == -1)
        goto out;
    o = recjson_cert_to(rec);
    if (o == NULL || json_object_set_new(o, "pem", api_pem_json(der, der_len)) != 0) {
        api_oom(err);
        goto out;
    }
    *out = o;
    o = NULL;
    rc = 0;
out:
    json_decref(o);
    free(der);
    return rc;
}

/* One object {key: list} as the answer; the list is stolen. */
static int answer_with(struct api_call *call, const char *key, json_t *value, struct jerr *err)
{
    return api_answer(call, json_pack("{s:o}", key, value), err);
}

/* Counts the certificates an event moved (jpki_revocations_total by CA and reason). */
static void count_changes(struct store *st, const struct serial_list *l, int reason)
{
    for (size_t i = 0; i < l->count; i++) {
        struct cert_rec rec;
        struct jerr ignored = {0};
        if (store_cert_get(st, l->items[i], &rec, &ignored) == 0)
            metrics_revoked(rec.ca, reason);
    }
}

/* OCSP KICK: the one call site for "these certificates changed status in this process". The
 * store already marked their OCSP responses stale in the event's transaction, so the
 * responder's refresh picks them up anyway; telling it (ocsp_http_cert_changed, through
 * api_status_changed) makes the new status visible at once (DESIGN §8: p99 < 1 s). */
static void status_changed(struct api_call *call, const struct serial_list *l)
{
    api_status_changed(call, l);
}

/* A body that must be {} (hold, release, return, death). */
static int body_empty(const struct api_call *call, struct jerr *err)
{
    static const char *const none[] = {NULL};
    return recjson_only_fields(call->body, "", none, err);
}

/* ---- persons ---- */

static int person_create(struct api_call *call, struct jerr *err)
{
    struct person p;
    if (recjson_person_from(call->body, "", &p, err) == -1)
        return -1;
    snprintf(call->target, sizeof(call->target), "%s", p.id);
    struct lifecycle_ctx ctx = api_lifecycle_ctx(call);
    if (lifecycle_person_register(&ctx, &p, err) == -1)
        return -1;
    call->answer = recjson_person_to(&p);
    return call->answer != NULL ? 0 : api_oom(err);
}

static int person_get(struct api_call *call, struct jerr *err)
{
    struct person p;
    struct card_list cards = {0};
    struct cert_list certs = {0};
    int rc = -1;

    if (store_person_get(call->st, call->id, &p, err) == 0 &&
        store_cards_of_person(call->st, call->id, &cards, err) == 0 &&
        store_certs_of_person(call->st, call->id, &certs, err) == 0)
        rc = api_answer(call,
                        json_pack("{s:o, s:o, s:o}", "person", recjson_person_to(&p), "cards",
                                  array_json(&cards, cards.count, card_at), "certificates",
                                  certs_json(&certs)),
                        err);
    card_list_free(&cards);
    cert_list_free(&certs);
    return rc;
}

/* The optional place names of the person's new address in a basic-info change ("prefecture",
 * "municipality"), removed from `facts` (a copy of the body) so that the four facts are read
 * alone. *given is false when neither is there. */
static int basic_info_places(json_t *facts, struct place_names *places, bool *given,
                             struct jerr *err)
{
    static const char *const names[2] = {"prefecture", "municipality"};
    char *dest[2] = {places->prefecture, places->municipality};
    memset(places, 0, sizeof(*places));
    *given = false;
    for (size_t i = 0; i < 2; i++) {
        const json_t *v = json_object_get(facts, names[i]);
        if (v == NULL)
            continue;
        *given = true;
        if (!json_is_null(v) && recjson_string(facts, "", names[i], false, dest[i],
                                               sizeof(places->prefecture), err) == -1)
            return -1;
        json_object_del(facts, names[i]);
    }
    return 0;
}

static int person_basic_info(struct api_call *call, struct jerr *err)
{
    struct person p, fresh;
    struct place_names places;
    bool places_given;
    struct serial_list revoked = {0};
    json_t *facts = json_copy(call->body);
    int rc = -1;

    if (facts == NULL) {
        api_oom(err);
        goto out;
    }
    if (basic_info_places(facts, &places, &places_given, err) == -1 ||
        recjson_person_facts_from(facts, call->id, "", &p, err) == -1)
        goto out;
    struct lifecycle_ctx ctx = api_lifecycle_ctx(call);
    if (lifecycle_basic_info_change(&ctx, &p, places_given ? &places : NULL, &revoked, err) == -1)
        goto out;
    count_changes(call->st, &revoked, REASON_AFFILIATION_CHANGED);
    status_changed(call, &revoked);
    if (store_person_get(call->st, call->id, &fresh, err) == -1)
        goto out;
    rc = api_answer(call,
                    json_pack("{s:o, s:o}", "person", recjson_person_to(&fresh), "revoked",
                              serials_json(&revoked)),
                    err);
out:
    json_decref(facts);
    serial_list_free(&revoked);
    return rc;
}

/* A lifecycle event on the call's id that takes no body and changes certificates' status
 * (death, hold, card return). */
typedef int status_event_fn(struct lifecycle_ctx *ctx, const char *id, struct serial_list *changed,
                            struct jerr *err);

/* Adds the window's signed receipt (guide 4(5)A, receipt.h) of revocation event `event` to
 * `answer` as "receipt". */
static int add_receipt(struct api_call *call, json_t *answer, const char *event,
                       const struct serial_list *revoked, struct jerr *err)
{
    json_t *r =
        receipt_window_new(call->pki, call->st, event, call->id, call->who->name, revoked, err);
    if (r == NULL)
        return -1;
    return json_object_set_new(answer, "receipt", r) == 0 ? 0 : api_oom(err);
}

/* Runs `event` on the call's id and answers {"<key>": [the serials it changed]}, counting
 * them under `reason`; with the window's receipt when `receipt_event` is not NULL. */
static int status_event(struct api_call *call, status_event_fn *event, const char *key, int reason,
                        const char *receipt_event, struct jerr *err)
{
    struct serial_list changed = {0};
    int rc = -1;

    if (body_empty(call, err) == -1)
        return -1;
    struct lifecycle_ctx ctx = api_lifecycle_ctx(call);
    if (event(&ctx, call->id, &changed, err) == -1)
        goto out;
    count_changes(call->st, &changed, reason);
    status_changed(call, &changed);
    rc = answer_with(call, key, serials_json(&changed), err);
    if (rc == 0 && receipt_event != NULL &&
        add_receipt(call, call->answer, receipt_event, &changed, err) == -1) {
        json_decref(call->answer);
        call->answer = NULL;
        rc = -1;
    }
out:
    serial_list_free(&changed);
    return rc;
}

static int person_death(struct api_call *call, struct jerr *err)
{
    return status_event(call, lifecycle_death, "revoked", REASON_CESSATION_OF_OPERATION,
                        "person.death", err);
}

/* ---- cards ---- */

static int card_create(struct api_call *call, struct jerr *err)
{
    struct card c, fresh;
    struct card_register_result res = {0};
    int rc = -1;

    if (recjson_card_from(call->body, NULL, "", &c, err) == -1)
        return -1;
    snprintf(call->target, sizeof(call->target), "%s", c.id);
    struct lifecycle_ctx ctx = api_lifecycle_ctx(call);
    if (lifecycle_card_register(&ctx, &c, &res, err) == -1)
        return -1;
    count_changes(call->st, &res.revoked, REASON_CESSATION_OF_OPERATION);
    count_changes(call->st, &res.superseded, REASON_SUPERSEDED);
    status_changed(call, &res.revoked);
    status_changed(call, &res.superseded);
    if (store_card_get(call->st, c.id, &fresh, err) == -1)
        goto out;
    /* DESIGN §4: what the new My Number card did to the person's other cards. */
    rc = api_answer(
        call,
        api_object_merge(recjson_card_to(&fresh),
                         json_pack("{s:o, s:o, s:o}", "returned_cards",
                                   array_json(&res.returned, res.returned.count, card_id_at),
                                   "revoked", serials_json(&res.revoked), "superseded",
                                   serials_json(&res.superseded))),
        err);
out:
    card_register_result_free(&res);
    return rc;
}

/* PATCH /v1/cards/{id}: {"prefecture", "municipality"} — the signing subject's place names
 * (DESIGN §3), e.g. after a move; a member left out keeps its value, "" or null clears it.
 * Nothing else of a card can change: its id, holder, type and expiry are the card's own. */
static int card_update(struct api_call *call, struct jerr *err)
{
    static const char *const allowed[] = {"prefecture", "municipality", NULL};
    struct place_names places;
    struct card now;
    const char *names[2] = {"prefecture", "municipality"};

    if (recjson_only_fields(call->body, "", allowed, err) == -1)
        return -1;
    if (json_object_size(call->body) == 0)
        return jerr_set(err, JERR_INVALID, "prefecture",
                        "give prefecture and/or municipality: nothing else of a card can change");
    if (store_card_get(call->st, call->id, &now, err) == -1)
        return -1;
    snprintf(places.prefecture, sizeof(places.prefecture), "%s", now.prefecture);
    snprintf(places.municipality, sizeof(places.municipality), "%s", now.municipality);
    char *dest[2] = {places.prefecture, places.municipality};
    for (size_t i = 0; i < 2; i++) {
        const json_t *v = json_object_get(call->body, names[i]);
        if (v == NULL)
            continue;
        dest[i][0] = '\0';
        if (!json_is_null(v) && recjson_string(call->body, "", names[i], false, dest[i],
                                               sizeof(places.prefecture), err) == -1)
            return -1;
    }
    struct lifecycle_ctx ctx = api_lifecycle_ctx(call);
    if (lifecycle_card_set_places(&ctx, call->id, &places, &now, err) == -1)
        return -1;
    call->answer = recjson_card_to(&now);
    return call->answer != NULL ? 0 : api_oom(err);
}

static int card_get(struct api_call *call, struct jerr *err)
{
    struct card c;
    struct cert_list certs = {0};
    int rc = -1;

    if (store_card_get(call->st, call->id, &c, err) == 0 &&
        store_certs_of_card(call->st, call->id, &certs, err) == 0)
        rc = api_answer(call,
                        json_pack("{s:o, s:o}", "card", recjson_card_to(&c), "certificates",
                                  certs_json(&certs)),
                        err);
    cert_list_free(&certs);
    return rc;
}

/* A subscriber public key given as a JSON string: the PEM of a PKCS#10 request signed by the
 * key (keystore/pubkey.h: the signature is the proof of possession). */
static EVP_PKEY *pubkey_from_json(const json_t *v, const char *field, struct jerr *err)
{
    if (!json_is_string(v)) {
        jerr_set(err, JERR_INVALID, field,
                 "%s: must be a PEM certificate request (PKCS#10) as a string", field);
        return NULL;
    }
    return pubkey_from_csr_pem(json_string_value(v), json_string_length(v), field, err);
}

/* "public_keys": {"sign": PEM, "auth": PEM}, each only for a certificate being issued. */
static int issue_pubkeys(const json_t *v, int which, EVP_PKEY *keys[CA_KIND_COUNT],
                         struct jerr *err)
{
    static const char *const allowed[] = {"sign", "auth", NULL};
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return jerr_set(err, JERR_INVALID, "public_keys",
                        "public_keys: must be an object {\"sign\": PEM, \"auth\": PEM}");
    if (recjson_only_fields(v, "public_keys.", allowed, err) == -1)
        return -1;
    for (int ca = 0; ca < CA_KIND_COUNT; ca++) {
        char field[32];
        const char *name = ca_kind_name((enum ca_kind)ca);
        json_t *pem = json_object_get(v, name);
        if (pem == NULL)
            continue;
        snprintf(field, sizeof(field), "public_keys.%s", name);
        if (!(which & (1 << ca)))
            return jerr_set(err, JERR_INVALID, field, "%s: no %s certificate is requested", field,
                            name);
        if ((keys[ca] = pubkey_from_json(pem, field, err)) == NULL)
            return -1;
    }
    return 0;
}

static int card_issue(struct api_call *call, struct jerr *err)
{
    static const char *const allowed[] = {"certificates", "public_keys", "passwords", "card_image",
                                          NULL};
    EVP_PKEY *keys[CA_KIND_COUNT] = {NULL, NULL};
    struct issue_result res = {0};
    struct cardapi_issue image;
    json_t *o = NULL, *certs = NULL;
    int which = 0, rc = -1;

    memset(&image, 0, sizeof(image));
    if (recjson_only_fields(call->body, "", allowed, err) == -1 ||
        recjson_which(json_object_get(call->body, "certificates"), "certificates", &which, err) ==
            -1 ||
        issue_pubkeys(json_object_get(call->body, "public_keys"), which, keys, err) == -1)
        goto out;
    /* The card image (cardapi.h): passwords checked before any key is generated; the image is
     * built inside the issuance's transaction. */
    if (cardapi_issue_begin(&image, call, json_object_get(call->body, "passwords"),
                            json_object_get(call->body, "card_image"), which, keys, err) == -1)
        goto out;
    struct lifecycle_ctx ctx = api_lifecycle_ctx(call);
    cardapi_issue_hook(&image, &ctx);
    if (lifecycle_issue(&ctx, call->id, which, keys, &res, err) == -1)
        goto out;
    for (size_t i = 0; i < res.count; i++)
        metrics_issued(res.certs[i].rec.ca);
    count_changes(call->st, &res.superseded, REASON_SUPERSEDED);
    status_changed(call, &res.superseded);
    api_cert_issued(call, &res); /* DESIGN §13: answerable on Redis once this returns */

    o = json_object();
    certs = json_array();
    if (o == NULL || certs == NULL)
        goto fail;
    for (size_t i = 0; i < res.count; i++) {
        json_t *c = recjson_cert_to(&res.certs[i].rec);
        if (c == NULL ||
            json_object_set_new(c, "pem", api_pem_json(res.certs[i].der, res.certs[i].der_len)) != 0 ||
            json_array_append_new(certs, c) != 0) {
            json_decref(c);
            goto fail;
        }
    }
    if (json_object_set(o, "certificates", certs) != 0 ||
        json_object_set_new(o, "superseded", serials_json(&res.superseded)) != 0 ||
        cardapi_issue_answer(&image, o, err) == -1)
        goto fail;
    call->answer = o;
    o = NULL;
    rc = 0;
    goto out;
fail:
    api_oom(err);
out:
    json_decref(certs);
    json_decref(o);
    cardapi_issue_end(&image);
    issue_result_free(&res);
    for (int ca = 0; ca < CA_KIND_COUNT; ca++)
        EVP_PKEY_free(keys[ca]);
    return rc;
}

static int card_hold(struct api_call *call, struct jerr *err)
{
    return status_event(call, lifecycle_hold, "held", REASON_CERTIFICATE_HOLD, NULL, err);
}

static int card_release(struct api_call *call, struct jerr *err)
{
    struct serial_list released = {0}, still_held = {0};
    int rc = -1;

    if (body_empty(call, err) == -1)
        return -1;
    struct lifecycle_ctx ctx = api_lifecycle_ctx(call);
    if (lifecycle_release(&ctx, call->id, &released, &still_held, err) == -1)
        goto out;
    status_changed(call, &released);
    /* RULE guide 4(4): say plainly what the holder of a held signing certificate must do. */
    rc = api_answer(call,
                    json_pack("{s:o, s:o, s:s}", "released", serials_json(&released), "still_held",
                              serials_json(&still_held), "notice",
                              still_held.count > 0 ? OPS_RELEASE_NOTICE : OPS_RELEASE_NOTICE_NONE),
                    err);
out:
    serial_list_free(&released);
    serial_list_free(&still_held);
    return rc;
}

static int card_return(struct api_call *call, struct jerr *err)
{
    return status_event(call, lifecycle_card_return, "revoked", REASON_CESSATION_OF_OPERATION,
                        "card.return", err);
}

/* ---- certificates ---- */

static int cert_revoke(struct api_call *call, struct jerr *err)
{
    static const char *const allowed[] = {"reason", NULL};
    struct cert_rec rec;
    int reason;

    if (recjson_only_fields(call->body, "", allowed, err) == -1 ||
        recjson_reason(json_object_get(call->body, "reason"), "reason", &reason, err) == -1)
        return -1;
    struct lifecycle_ctx ctx = api_lifecycle_ctx(call);
    if (lifecycle_revoke(&ctx, call->id, reason, err) == -1 ||
        store_cert_get(call->st, call->id, &rec, err) == -1)
        return -1;
    metrics_revoked(rec.ca, reason);
    struct serial_list one = {.items = &rec.serial, .count = 1};
    status_changed(call, &one);
    json_t *o = recjson_cert_to(&rec);
    if (o == NULL)
        return api_oom(err);
    if (add_receipt(call, o, "cert.revoke", &one, err) == -1) {
        json_decref(o);
        return -1;
    }
    call->answer = o;
    return 0;
}

/* The status history: the lifecycle rows naming the certificate. The API's own rows (actions
 * "METHOD /v1/…", lookups included) record calls, not status changes, and are left out. */
static int history_row(void *arg, const struct audit_entry *e)
{
    json_t *history = arg;
    char at[32];
    if (strchr(e->action, ' ') != NULL)
        return 0;
    json_t *row =
        json_pack("{s:s, s:s, s:s, s:s}", "at", jclock_format((time_t)e->at, at, sizeof(at)),
                  "action", e->action, "outcome", e->outcome, "actor", e->actor);
    return row != NULL && json_array_append_new(history, row) == 0 ? 0 : -1;
}

static int cert_get(struct api_call *call, struct jerr *err)
{
    struct cert_rec rec;
    json_t *o = NULL;

    if (store_cert_get(call->st, call->id, &rec, err) == -1 ||
        cert_with_pem(call->st, &rec, &o, err) == -1)
        return -1;
    json_t *history = json_array();
    if (history != NULL &&
        store_audit_foreach_target(call->st, rec.serial, history_row, history, err) == -1) {
        json_decref(history);
        json_decref(o);
        return -1;
    }
    return api_answer(call, api_object_merge(o, json_pack("{s:o}", "history", history)), err);
}

static int certs_expiring(struct api_call *call, struct jerr *err)
{
    static const char *const allowed[] = {"expiring_within_days", "limit", NULL};
    struct cert_list certs = {0};
    long days, limit;
    int rc = -1;

    if (api_query_long(call, allowed, "expiring_within_days", false, 0, 0, OPS_EXPIRING_DAYS_MAX,
                       &days, err) == -1 ||
        api_query_long(call, allowed, "limit", true, OPS_EXPIRING_LIMIT_DEFAULT, 1,
                       OPS_EXPIRING_LIMIT_MAX, &limit, err) == -1)
        return -1;
    int64_t now = jclock_now();
    /* RFC 5280 §4.1.2.5: notAfter is inclusive, so a certificate whose notAfter is this very
     * second is still valid and listed. */
    if (store_certs_expiring(call->st, now, now + (int64_t)days * 86400 + 1, (size_t)limit, &certs,
                             err) == -1)
        goto out;
    rc = answer_with(call, "certificates", certs_json(&certs), err);
out:
    cert_list_free(&certs);
    return rc;
}

/* ---- the table ---- */

int ops_add_endpoints(struct api *api, struct jerr *err)
{
    const struct api_endpoint eps[] = {
        {EVHTTP_REQ_POST, "/v1/persons", OPERATOR_ROLES_LIFECYCLE, API_BODY_JSON, 0, 201,
         person_create, NULL},
        {EVHTTP_REQ_GET, "/v1/persons/{id}", OPERATOR_ROLES_ANY, API_BODY_NONE, 0, 200, person_get,
         NULL},
        {EVHTTP_REQ_PUT, "/v1/persons/{id}/basic-info", OPERATOR_ROLES_LIFECYCLE, API_BODY_JSON, 0,
         200, person_basic_info, NULL},
        {EVHTTP_REQ_POST, "/v1/persons/{id}/death", OPERATOR_ROLES_LIFECYCLE, API_BODY_JSON_OPT, 0,
         200, person_death, NULL},
        {EVHTTP_REQ_POST, "/v1/cards", OPERATOR_ROLES_LIFECYCLE, API_BODY_JSON, 0, 201, card_create,
         NULL},
        {EVHTTP_REQ_GET, "/v1/cards/{id}", OPERATOR_ROLES_ANY, API_BODY_NONE, 0, 200, card_get,
         NULL},
        {EVHTTP_REQ_PATCH, "/v1/cards/{id}", OPERATOR_ROLES_LIFECYCLE, API_BODY_JSON, 0, 200,
         card_update, NULL},
        {EVHTTP_REQ_POST, "/v1/cards/{id}/issue", OPERATOR_ROLES_LIFECYCLE, API_BODY_JSON, 0, 201,
         card_issue, NULL},
        {EVHTTP_REQ_POST, "/v1/cards/{id}/hold", OPERATOR_ROLES_LIFECYCLE, API_BODY_JSON_OPT, 0,
         200, card_hold, NULL},
        {EVHTTP_REQ_POST, "/v1/cards/{id}/release", OPERATOR_ROLES_LIFECYCLE, API_BODY_JSON_OPT, 0,
         200, card_release, NULL},
        {EVHTTP_REQ_POST, "/v1/cards/{id}/return", OPERATOR_ROLES_LIFECYCLE, API_BODY_JSON_OPT, 0,
         200, card_return, NULL},
        {EVHTTP_REQ_POST, "/v1/certificates/{serial}/revoke", OPERATOR_ROLES_LIFECYCLE,
         API_BODY_JSON, 0, 200, cert_revoke, NULL},
        {EVHTTP_REQ_GET, "/v1/certificates/{serial}", OPERATOR_ROLES_ANY, API_BODY_NONE, 0, 200,
         cert_get, NULL},
        {EVHTTP_REQ_GET, "/v1/certificates", OPERATOR_ROLES_ANY, API_BODY_NONE, 0, 200,
         certs_expiring, NULL},
    };
    return api_add_endpoints(api, eps, sizeof(eps) / sizeof(eps[0]), err);
}
