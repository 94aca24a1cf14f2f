/*
 * linkapi: see linkapi.h.
 */
#include "responder/api/linkapi.h"

#include <string.h>

#include <openssl/crypto.h>

#include "ca/linkage.h"
#include "ca/rp.h"
#include "ca/recjson.h"
#include "base/jclock.h"

/* {"serial","status"} of one certificate. */
static json_t *link_json(const struct cert_rec *c)
{
    json_t *o = recjson_cert_to(c);
    if (o == NULL)
        return NULL;
    json_t *slim = json_pack("{s:O, s:O, s:O}", "serial", json_object_get(o, "serial"), "ca",
                             json_object_get(o, "ca"), "status", json_object_get(o, "status"));
    json_decref(o);
    return slim;
}

static int linkage_get(struct api_call *call, struct jerr *err)
{
    struct linkage *l = malloc(sizeof(*l));
    if (l == NULL)
        return api_oom(err);
    int rc = -1;
    /* A party may learn only of its kind's CA's certificates: another CA's serial is answered
     * as one never issued (404), so that an authentication verifier cannot probe which signing
     * serials exist (docs/API.md). */
    unsigned ca_mask = 0;
    for (int ca = 0; ca < CA_KIND_COUNT; ca++)
        if (call->party == NULL || rp_kind_allows(call->party->kind, (enum ca_kind)ca))
            ca_mask |= 1u << ca;
    if (linkage_follow(call->st, call->id, ca_mask, l, err) == -1)
        goto out;
    json_t *chain = json_array();
    for (size_t i = 0; chain != NULL && i < l->count; i++)
        if (json_array_append_new(chain, link_json(&l->chain[i])) != 0) {
            json_decref(chain);
            chain = NULL;
        }
    json_t *self = link_json(&l->cert);
    /* Only certificates of the asked one's CA are ever linked to it (a successor is issued by
     * the same CA to the same holder): an authentication verifier learns no signing serial. */
    rc = api_answer(call,
                    api_object_merge(self, json_pack("{s:o, s:o, s:o}", "superseded_by",
                                                     l->count > 0 ? json_string(l->chain[0].serial)
                                                                  : json_null(),
                                                     "chain", chain, "current",
                                                     link_json(linkage_current(l)))),
                    err);
out:
    free(l);
    return rc;
}

static int consent_post(struct api_call *call, struct jerr *err)
{
    const char *party = json_string_value(json_object_get(call->body, "party"));
    if (json_object_size(call->body) != 1 || party == NULL)
        return jerr_set(err, JERR_INVALID, "party", "body must be {\"party\":ID}");
    struct lifecycle_ctx ctx = api_lifecycle_ctx(call);
    if (linkage_consent(&ctx, call->id, party, err) == -1)
        return -1;
    char at[32];
    return api_answer(call,
                      json_pack("{s:s, s:s, s:s}", "person_id", call->id, "party", party,
                                "granted_at", jclock_format(jclock_now(), at, sizeof(at))),
                      err);
}

static int basic_info_get(struct api_call *call, struct jerr *err)
{
    struct person p;
    if (call->party == NULL || call->party->kind != RP_KIND_PLATFORM)
        return jerr_set(err, JERR_FORBIDDEN, "party",
                        "basic information is for platform operator parties only");
    if (call->query != NULL && call->query[0] != '\0')
        return jerr_set(err, JERR_INVALID, "query",
                        "basic-info takes no query parameter: the party is the caller");
    if (linkage_basic_info(call->st, call->id, call->party->id, &p, err) == -1)
        return -1;
    json_t *facts = recjson_person_to(&p);
    OPENSSL_cleanse(&p, sizeof(p));
    if (facts != NULL) {
        json_object_del(facts, "id"); /* the registry's person id is not for the party */
        json_object_del(facts, "deceased");
    }
    return api_answer(call,
                      json_pack("{s:s, s:s, s:o}", "serial", call->id, "party", call->party->id,
                                "basic_info", facts),
                      err);
}

int linkapi_add_endpoints(struct api *api, struct jerr *err)
{
    const struct api_endpoint eps[] = {
        {EVHTTP_REQ_GET, "/v1/linkage/{serial}", OPERATOR_ROLES_ANY | API_ROLES_RELYING_PARTY, API_BODY_NONE, 0, 200,
         linkage_get, NULL},
        {EVHTTP_REQ_GET, "/v1/linkage/{serial}/basic-info", API_ROLES_RELYING_PARTY,
         API_BODY_NONE, 0, 200, basic_info_get, NULL},
        {EVHTTP_REQ_POST, "/v1/persons/{id}/consents", OPERATOR_ROLES_LIFECYCLE, API_BODY_JSON, 0,
         201, consent_post, NULL},
    };
    return api_add_endpoints(api, eps, sizeof(eps) / sizeof(eps[0]), err);
}
