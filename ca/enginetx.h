/*
 * enginetx: the one transaction of a CA-engine call that writes the registry for an outside
 * caller (operators, card password resets, batch submission): open it, and end it with the
 * caller's before_commit hook (lifecycle.h: e.g. the API's audit row of the call) and commit,
 * or roll everything back. The responder never opens a transaction itself (scripts/lint/layering).
 */
#ifndef JPKI_ENGINETX_H
#define JPKI_ENGINETX_H

#include "ca/lifecycle.h"
#include "base/jerr.h"

/* Opens the call's transaction on ctx->st. Returns 0, or -1 with err. */
int enginetx_begin(struct lifecycle_ctx *ctx, struct jerr *err);

/* Ends what enginetx_begin opened. When `rc` is 0: runs ctx->before_commit (if any) with
 * `result`, then commits; when `rc` is -1 or either step fails: rolls back, so that nothing of
 * the call (nor the caller's row) is kept. Returns 0 when committed, else -1 (err keeps the
 * first error). */
int enginetx_end(struct lifecycle_ctx *ctx, int rc, const void *result, struct jerr *err);

#endif
