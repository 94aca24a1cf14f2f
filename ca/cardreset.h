/*
 * cardreset: the window's password reset of a card slot (guide 4(8)) as one CA-engine call —
 * the new image (cardissue.h) and the registry's record that the window reset it, in one
 * transaction with the caller's own row.
 */
#ifndef JPKI_CARDRESET_H
#define JPKI_CARDRESET_H

#include <stddef.h>

#include "ca/lifecycle.h"
#include "ca/model.h"
#include "base/jerr.h"

/* Resets slot `slot` of card `card_id`'s image (cardissue_reset_password: every check and
 * refusal is its) to `new_password`, then appends the audit row "card.password_reset" (actor
 * ctx->actor, target the card, detail the slot) and ctx's before_commit in one transaction.
 * The image is the holder's: the registry records only that the window reset it. The new
 * image's bytes go to *out (wipe, then free) only when everything committed. Returns 0 or -1. */
int cardreset_password(struct lifecycle_ctx *ctx, const char *card_id, const unsigned char *image,
                       size_t image_len, enum ca_kind slot, const char *new_password,
                       unsigned char **out, size_t *out_len, struct jerr *err);

#endif
