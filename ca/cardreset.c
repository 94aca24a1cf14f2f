/*
 * cardreset: see cardreset.h. The slow part (scrypt over the new password) runs before the
 * transaction opens: the registry's write lock is held only for the audit rows.
 */
#include "ca/cardreset.h"

#include <stdio.h>
#include <stdlib.h>
#include <openssl/crypto.h>

#include "ca/cardissue.h"
#include "ca/enginetx.h"
#include "base/jclock.h"

static int reset_audit(struct lifecycle_ctx *ctx, const char *card_id, enum ca_kind slot,
                       struct jerr *err)
{
    struct audit_entry e = {.at = jclock_now()};
    snprintf(e.actor, sizeof(e.actor), "%s", ctx->actor != NULL ? ctx->actor : "system");
    snprintf(e.action, sizeof(e.action), "card.password_reset");
    snprintf(e.target, sizeof(e.target), "%s", card_id);
    snprintf(e.outcome, sizeof(e.outcome), "ok");
    snprintf(e.detail, sizeof(e.detail), "slot=%s", ca_kind_name(slot));
    return store_audit_append(ctx->st, &e, err);
}

int cardreset_password(struct lifecycle_ctx *ctx, const char *card_id, const unsigned char *image,
                       size_t image_len, enum ca_kind slot, const char *new_password,
                       unsigned char **out, size_t *out_len, struct jerr *err)
{
    unsigned char *reset = NULL;
    size_t reset_len = 0;

    if (cardissue_reset_password(ctx->pki, ctx->st, card_id, image, image_len, slot, new_password,
                                 &reset, &reset_len, err) == -1)
        return -1;
    if (enginetx_begin(ctx, err) == -1 ||
        enginetx_end(ctx, reset_audit(ctx, card_id, slot, err), NULL, err) == -1) {
        OPENSSL_cleanse(reset, reset_len);
        free(reset);
        return -1;
    }
    *out = reset;
    *out_len = reset_len;
    return 0;
}
