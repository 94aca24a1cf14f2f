/*
 * holder: see holder.h. One run function: parse and check the request (ca/holderreq.c),
 * revoke through the lifecycle with the request id recorded in the same transaction, then
 * answer with the signed receipt.
 */
#include "responder/api/holder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/holderreq.h"
#include "ca/lifecycle.h"
#include "base/jclock.h"
#include "responder/monitor/metrics.h"
#include "responder/api/receipt.h"

/* What the revocation's transaction records besides the event itself. */
struct holder_commit {
    struct holder_request_rec rec;
    int (*next)(void *arg, struct store *st, const void *result, struct jerr *err);
    void *next_arg;
};

/* Inside the revocation's transaction: the signer is checked again against fresh state (it
 * may have been revoked since holderreq_check; a request revoking its own signer is fine),
 * the request id is recorded (a replay racing this one fails here, undoing the revocation),
 * then the API's audit row. */
static int holder_before_commit(void *arg, struct store *st, const void *result, struct jerr *err)
{
    struct holder_commit *hc = arg;

    if (strcmp(hc->rec.signer_serial, hc->rec.serial) != 0) {
        struct cert_rec signer;
        if (store_cert_get(st, hc->rec.signer_serial, &signer, err) == -1)
            return -1;
        if (signer.status == CERT_REVOKED)
            return jerr_set(err, JERR_FORBIDDEN, "signer",
                            "signer: the signing certificate is "
                            "revoked");
    }
    if (store_holder_request_insert(st, &hc->rec, err) == -1)
        return -1;
    return hc->next != NULL ? hc->next(hc->next_arg, st, result, err) : 0;
}

/* The receipt (receipt.h): {receipt_id, serial, status, reason, revoked_at, request_id}, signed
 * by the OCSP signer of the revoked certificate's CA (docs/CARD.md "Online revocation" says
 * how to check it). */
static int receipt_answer(struct api_call *call, const struct holder_commit *hc,
                          const struct cert_rec *rec, struct jerr *err)
{
    char at[32];
    json_t *fields = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "receipt_id", hc->rec.receipt_id,
                               "serial", rec->serial, "status", cert_status_name(rec->status),
                               "reason", crl_reason_name(rec->reason), "revoked_at",
                               jclock_format((time_t)rec->status_changed_at, at, sizeof(at)),
                               "request_id", hc->rec.request_id);
    if (fields == NULL)
        return jerr_oom(err);
    call->answer = receipt_new(call->pki, rec->ca, fields, err);
    json_decref(fields);
    return call->answer != NULL ? 0 : -1;
}

static int holder_revoke(struct api_call *call, struct jerr *err)
{
    struct holder_request req;
    struct holder_commit hc;
    struct cert_rec target, signer, fresh;
    char actor[JPKI_ID_MAX + 1];
    int rc = -1;

    memset(&hc, 0, sizeof(hc));
    if (holderreq_parse(call->raw, call->raw_len, &req, err) == -1)
        return -1;
    snprintf(call->target, sizeof(call->target), "%s", req.serial);
    if (holderreq_check(&req, call->pki, call->st, jclock_now(), &target, &signer, err) == -1)
        goto out;

    snprintf(hc.rec.request_id, sizeof(hc.rec.request_id), "%s", req.request_id);
    snprintf(hc.rec.serial, sizeof(hc.rec.serial), "%s", target.serial);
    snprintf(hc.rec.signer_serial, sizeof(hc.rec.signer_serial), "%s", signer.serial);
    hc.rec.request_time = req.time;
    if (receipt_id_new(hc.rec.receipt_id, err) == -1)
        goto out;

    snprintf(actor, sizeof(actor), "%s%s", HOLDER_ACTOR_PREFIX, signer.serial);
    struct lifecycle_ctx ctx = api_lifecycle_ctx(call);
    ctx.actor = actor;
    hc.next = ctx.before_commit;
    hc.next_arg = ctx.before_commit_arg;
    ctx.before_commit = holder_before_commit;
    ctx.before_commit_arg = &hc;
    if (lifecycle_revoke(&ctx, target.serial, req.reason, err) == -1)
        goto out;
    if (store_cert_get(call->st, target.serial, &fresh, err) == -1)
        goto out;
    metrics_revoked(fresh.ca, req.reason);
    struct serial_list one = {.items = &fresh.serial, .count = 1};
    api_status_changed(call, &one); /* OCSP answers the new status at once */
    rc = receipt_answer(call, &hc, &fresh, err);
out:
    holderreq_clear(&req);
    return rc;
}

int holder_add_endpoints(struct api *api, struct jerr *err)
{
    const struct api_endpoint ep = {
        .method = EVHTTP_REQ_POST,
        .path = "/v1/holder/revoke",
        .roles = API_ROLES_NO_CREDENTIAL,
        .body = API_BODY_RAW,
        .max_body_bytes = HOLDERREQ_MAX_BYTES,
        .status = 200,
        .run = holder_revoke,
    };
    return api_add_endpoint(api, &ep, err);
}
