/*
 * linkage: see linkage.h.
 */
#include "ca/linkage.h"

#include <string.h>

#include "ca/enginetx.h"
#include "base/jclock.h"

#include <openssl/crypto.h>

int linkage_record_issue(struct store *st, const struct cert_rec *issued, struct jerr *err)
{
    return store_link_predecessor(st, issued->serial, issued->person_id, issued->ca,
                                  (int64_t)jclock_now(), err);
}

int linkage_follow(struct store *st, const char *serial, unsigned ca_mask, struct linkage *out,
                   struct jerr *err)
{
    char next[JPKI_SERIAL_HEX_MAX + 1];
    memset(out, 0, sizeof(*out));
    if (store_cert_get_of(st, serial, ca_mask, &out->cert, err) == -1)
        return -1;
    const char *at = out->cert.serial;
    while (out->count < LINKAGE_MAX_HOPS) {
        struct jerr none = {0};
        if (store_link_successor(st, at, next, sizeof(next), &none) == -1) {
            if (none.code == JERR_NOT_FOUND)
                return 0;
            *err = none;
            return -1;
        }
        if (store_cert_get(st, next, &out->chain[out->count], err) == -1)
            return -1;
        at = out->chain[out->count++].serial;
    }
    return jerr_set(err, JERR_INTERNAL, "serial", "linkage of %s longer than %d", serial,
                    LINKAGE_MAX_HOPS);
}

const struct cert_rec *linkage_current(const struct linkage *l)
{
    return l->count > 0 ? &l->chain[l->count - 1] : &l->cert;
}

int linkage_consent(struct lifecycle_ctx *ctx, const char *person_id, const char *party,
                    struct jerr *err)
{
    struct person p;
    if (model_check_id("id", person_id, err) == -1 || model_check_id("party", party, err) == -1)
        return -1;
    if (enginetx_begin(ctx, err) == -1)
        return -1;
    int rc = store_person_get(ctx->st, person_id, &p, err);
    if (rc == 0)
        rc = store_consent_put(ctx->st, person_id, party, (int64_t)jclock_now(), ctx->actor, err);
    OPENSSL_cleanse(&p, sizeof(p));
    return enginetx_end(ctx, rc, NULL, err);
}

int linkage_basic_info(struct store *st, const char *serial, const char *party,
                       struct person *out, struct jerr *err)
{
    struct linkage l;
    if (model_check_id("party", party, err) == -1 || linkage_follow(st, serial, LINKAGE_ANY_CA, &l, err) == -1)
        return -1;
    /* Basic information is in the signing certificate only (guide: the authentication
     * certificate carries none), and only the holder's consent opens it to a party. */
    if (l.cert.ca != CA_SIGN)
        return jerr_set(err, JERR_INVALID, "serial",
                        "%s is not a signing certificate: no basic information", serial);
    if (!store_consent_exists(st, l.cert.person_id, party))
        return jerr_set(err, JERR_FORBIDDEN, "consent",
                        "the holder has not consented to %s learning the basic information",
                        party);
    return store_person_get(st, l.cert.person_id, out, err);
}
