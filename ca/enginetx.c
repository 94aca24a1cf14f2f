/*
 * enginetx: see enginetx.h. The caller's hook runs last, just before the commit, so that its
 * row follows the engine's own rows, as in a lifecycle event (lifecycle.c, event_end_with).
 */
#include "ca/enginetx.h"

int enginetx_begin(struct lifecycle_ctx *ctx, struct jerr *err)
{
    return store_begin(ctx->st, err);
}

int enginetx_end(struct lifecycle_ctx *ctx, int rc, const void *result, struct jerr *err)
{
    if (rc == 0 &&
        (ctx->before_commit == NULL ||
         ctx->before_commit(ctx->before_commit_arg, ctx->st, result, err) == 0) &&
        store_commit(ctx->st, err) == 0)
        return 0;
    store_rollback(ctx->st);
    return -1;
}
